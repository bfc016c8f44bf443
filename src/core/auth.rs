//! Users, roles and permissions as Nacos models them, folded from events like everything else.
//! Passwords are stored as bcrypt hashes; no event carries a password. A permission is a role's
//! `r`, `w` or `rw` on a resource `namespace:group:name`, where `*` matches anything; the
//! `ROLE_ADMIN` role may do everything.

use std::collections::{BTreeMap, BTreeSet};

use super::event::{Event, Permission, RoleBinding, UserData, UserRef};
use super::log::Expect;
use super::state::normalize_namespace;
use super::{Actor, Core, CoreError};

pub const ADMIN_ROLE: &str = "ROLE_ADMIN";
/// The user a one-time admin initialisation creates, as Nacos names it.
pub const DEFAULT_ADMIN: &str = "nacos";
/// bcrypt's work factor: ~50 ms a hash on one core, which also paces password guessing.
const BCRYPT_COST: u32 = 10;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthState {
    /// username → (bcrypt hash, sequence of its last event).
    pub users: BTreeMap<String, (String, u64)>,
    /// The last sequence on each user's subject, deletions included (what a creation expects).
    pub user_seqs: BTreeMap<String, u64>,
    pub bindings: BTreeSet<RoleBinding>,
    pub permissions: BTreeSet<Permission>,
}

/// What a request wants to do in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
}

impl AuthState {
    pub fn apply(&mut self, seq: u64, event: &Event) {
        match event {
            Event::UserSaved(u) => {
                self.users
                    .insert(u.username.clone(), (u.password_hash.clone(), seq));
                self.user_seqs.insert(u.username.clone(), seq);
            }
            Event::UserDeleted(u) => {
                self.users.remove(&u.username);
                self.user_seqs.insert(u.username.clone(), seq);
                self.bindings.retain(|b| b.username != u.username);
            }
            Event::RoleBound(b) => {
                self.bindings.insert(b.clone());
            }
            Event::RoleUnbound(b) => {
                self.bindings.remove(b);
            }
            Event::PermissionGranted(p) => {
                self.permissions.insert(p.clone());
            }
            Event::PermissionRevoked(p) => {
                self.permissions.remove(p);
            }
            _ => {}
        }
    }

    pub fn roles_of<'a>(&'a self, username: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.bindings
            .iter()
            .filter(move |b| b.username == username)
            .map(|b| b.role.as_str())
    }

    pub fn is_admin(&self, username: &str) -> bool {
        self.users.contains_key(username) && self.roles_of(username).any(|r| r == ADMIN_ROLE)
    }

    /// Whether `username` may do `action` in `namespace`.
    pub fn allows(&self, username: &str, namespace: &str, action: Action) -> bool {
        if !self.users.contains_key(username) {
            return false;
        }
        if self.is_admin(username) {
            return true;
        }
        let namespace = normalize_namespace(namespace);
        let roles: BTreeSet<&str> = self.roles_of(username).collect();
        self.permissions.iter().any(|p| {
            roles.contains(p.role.as_str())
                && resource_namespace_matches(&p.resource, namespace)
                && match action {
                    Action::Read => p.action.contains('r'),
                    Action::Write => p.action.contains('w'),
                }
        })
    }
}

/// `namespace:group:name`: the namespace part (or `*`) against a namespace.
fn resource_namespace_matches(resource: &str, namespace: &str) -> bool {
    let granted = resource.split(':').next().unwrap_or("");
    granted == "*" || normalize_namespace(granted) == namespace
}

fn validate_name(field: &'static str, value: &str) -> Result<(), CoreError> {
    if value.is_empty()
        || value.len() > 128
        || value.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(CoreError::invalid(
            field,
            format!("invalid {field}: {value:?}"),
        ));
    }
    Ok(())
}

fn validate_password(password: &str) -> Result<(), CoreError> {
    if password.chars().count() < 8 || password.len() > 72 {
        return Err(CoreError::invalid(
            "password",
            "a password needs 8 to 72 bytes",
        ));
    }
    Ok(())
}

async fn hash(password: &str) -> Result<String, CoreError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || bcrypt::hash(password, BCRYPT_COST))
        .await
        .map_err(|e| CoreError::Unavailable(e.to_string()))?
        .map_err(|e| CoreError::Unavailable(format!("cannot hash the password: {e}")))
}

impl Core {
    /// Checks a username and password; bcrypt runs off the async threads.
    pub async fn authenticate(&self, username: &str, password: &str) -> bool {
        let stored = self
            .model
            .read()
            .auth
            .users
            .get(username)
            .map(|(h, _)| h.clone());
        let Some(stored) = stored else {
            return false;
        };
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || bcrypt::verify(password, &stored).unwrap_or(false))
            .await
            .unwrap_or(false)
    }

    /// Creates a user; a conflict if it exists (compare-and-set on its subject).
    pub async fn create_user(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
    ) -> Result<(), CoreError> {
        validate_name("username", username)?;
        validate_password(password)?;
        if self.model.read().auth.users.contains_key(username) {
            return Err(CoreError::Conflict(format!(
                "user '{username}' already exist!"
            )));
        }
        let last = self.subject_seq_of_user(username);
        let event = Event::UserSaved(UserData {
            username: username.to_owned(),
            password_hash: hash(password).await?,
        });
        match self
            .commit(actor, event, Expect::LastSubjectSequence(last))
            .await
        {
            Err(CoreError::Conflict(_)) => Err(CoreError::Conflict(format!(
                "user '{username}' already exist!"
            ))),
            other => other.map(|_| ()),
        }
    }

    pub async fn change_password(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
    ) -> Result<(), CoreError> {
        validate_password(password)?;
        let Some((_, seq)) = self.model.read().auth.users.get(username).cloned() else {
            return Err(CoreError::NotFound(format!("user {username} not exist!")));
        };
        let event = Event::UserSaved(UserData {
            username: username.to_owned(),
            password_hash: hash(password).await?,
        });
        self.commit(actor, event, Expect::LastSubjectSequence(seq))
            .await
            .map(|_| ())
    }

    pub async fn delete_user(&self, actor: &Actor, username: &str) -> Result<(), CoreError> {
        if !self.model.read().auth.users.contains_key(username) {
            return Err(CoreError::NotFound(format!("user {username} not exist!")));
        }
        let event = Event::UserDeleted(UserRef {
            username: username.to_owned(),
        });
        self.commit(actor, event, Expect::Anything)
            .await
            .map(|_| ())
    }

    /// The one-time admin initialisation: only while no user exists at all.
    pub async fn init_admin(&self, actor: &Actor, password: &str) -> Result<(), CoreError> {
        if !self.model.read().auth.users.is_empty() {
            return Err(CoreError::Conflict("the admin user already exists".into()));
        }
        // Two nodes racing: the user subject's compare-and-set lets one win.
        self.create_user(actor, DEFAULT_ADMIN, password).await?;
        self.bind_role(actor, ADMIN_ROLE, DEFAULT_ADMIN).await
    }

    pub async fn bind_role(
        &self,
        actor: &Actor,
        role: &str,
        username: &str,
    ) -> Result<(), CoreError> {
        validate_name("role", role)?;
        if !self.model.read().auth.users.contains_key(username) {
            return Err(CoreError::NotFound(format!("user {username} not exist!")));
        }
        let binding = RoleBinding {
            role: role.to_owned(),
            username: username.to_owned(),
        };
        self.commit(actor, Event::RoleBound(binding), Expect::Anything)
            .await
            .map(|_| ())
    }

    pub async fn unbind_role(
        &self,
        actor: &Actor,
        role: &str,
        username: &str,
    ) -> Result<(), CoreError> {
        let binding = RoleBinding {
            role: role.to_owned(),
            username: username.to_owned(),
        };
        self.commit(actor, Event::RoleUnbound(binding), Expect::Anything)
            .await
            .map(|_| ())
    }

    pub async fn grant(&self, actor: &Actor, permission: Permission) -> Result<(), CoreError> {
        validate_name("role", &permission.role)?;
        if permission.resource.split(':').count() != 3 {
            return Err(CoreError::invalid(
                "resource",
                "a resource is namespace:group:name (each may be *)",
            ));
        }
        if !matches!(permission.action.as_str(), "r" | "w" | "rw") {
            return Err(CoreError::invalid("action", "action must be r, w or rw"));
        }
        self.commit(
            actor,
            Event::PermissionGranted(permission),
            Expect::Anything,
        )
        .await
        .map(|_| ())
    }

    pub async fn revoke(&self, actor: &Actor, permission: Permission) -> Result<(), CoreError> {
        self.commit(
            actor,
            Event::PermissionRevoked(permission),
            Expect::Anything,
        )
        .await
        .map(|_| ())
    }

    /// The sequence a new user's creation expects on its subject: 0, or its last event.
    fn subject_seq_of_user(&self, username: &str) -> u64 {
        self.model
            .read()
            .auth
            .user_seqs
            .get(username)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> AuthState {
        let mut s = AuthState::default();
        for (seq, user) in [(1, "admin"), (2, "dev"), (3, "nobody")] {
            s.apply(
                seq,
                &Event::UserSaved(UserData {
                    username: user.into(),
                    password_hash: "x".into(),
                }),
            );
        }
        s.apply(
            4,
            &Event::RoleBound(RoleBinding {
                role: ADMIN_ROLE.into(),
                username: "admin".into(),
            }),
        );
        s.apply(
            5,
            &Event::RoleBound(RoleBinding {
                role: "devs".into(),
                username: "dev".into(),
            }),
        );
        s.apply(
            6,
            &Event::PermissionGranted(Permission {
                role: "devs".into(),
                resource: "dev:*:*".into(),
                action: "rw".into(),
            }),
        );
        s.apply(
            7,
            &Event::PermissionGranted(Permission {
                role: "devs".into(),
                resource: "public:*:*".into(),
                action: "r".into(),
            }),
        );
        s
    }

    #[test]
    fn permissions_follow_roles_and_namespaces() {
        let s = state();
        assert!(s.allows("admin", "anything", Action::Write));
        assert!(s.allows("dev", "dev", Action::Write));
        assert!(
            s.allows("dev", "", Action::Read),
            "the empty namespace is public"
        );
        assert!(!s.allows("dev", "public", Action::Write));
        assert!(!s.allows("dev", "prod", Action::Read));
        assert!(!s.allows("nobody", "public", Action::Read));
        assert!(!s.allows("ghost", "public", Action::Read));
    }

    #[test]
    fn deleting_a_user_takes_its_roles() {
        let mut s = state();
        s.apply(
            8,
            &Event::UserDeleted(UserRef {
                username: "admin".into(),
            }),
        );
        assert!(!s.is_admin("admin"));
        assert!(s.roles_of("admin").next().is_none());
    }
}
