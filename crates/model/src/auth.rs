//! Users, roles and permissions as Nacos models them, folded from events like everything else.
//! Passwords are stored as bcrypt hashes; no event carries a password. A permission is a role's
//! `r`, `w` or `rw` on a resource `namespace:group:name`, where `*` matches anything; the
//! `ROLE_ADMIN` role may do everything.

use std::collections::{BTreeMap, BTreeSet};

use super::CoreError;
use super::event::{Event, Permission, RoleBinding};
use super::state::normalize_namespace;

pub const ADMIN_ROLE: &str = "ROLE_ADMIN";
/// The user a one-time admin initialisation creates, as Nacos names it.
pub const DEFAULT_ADMIN: &str = "nacos";

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

    /// Whether `username` may do `action` on `resource`.
    pub fn allows(&self, username: &str, resource: &Resource, action: Action) -> bool {
        if !self.users.contains_key(username) {
            return false;
        }
        if self.is_admin(username) {
            return true;
        }
        let requested = resource.to_string();
        let roles: BTreeSet<&str> = self.roles_of(username).collect();
        self.permissions.iter().any(|p| {
            roles.contains(p.role.as_str())
                && granted_resource_matches(&p.resource, &requested)
                && match action {
                    Action::Read => p.action.contains('r'),
                    Action::Write => p.action.contains('w'),
                }
        })
    }
}

impl AuthState {
    /// Whether some grant of `username` for `action` covers anything in `namespace`.
    pub fn reaches_namespace(&self, username: &str, namespace: &str, action: Action) -> bool {
        if !self.users.contains_key(username) {
            return false;
        }
        if self.is_admin(username) {
            return true;
        }
        let namespace = normalize_namespace(namespace);
        let roles: BTreeSet<&str> = self.roles_of(username).collect();
        self.permissions.iter().any(|p| {
            let granted_namespace = p.resource.split_once(':').map_or("*", |(ns, _)| ns);
            roles.contains(p.role.as_str())
                && wildcard_matches(
                    normalize_namespace(granted_namespace).as_bytes(),
                    namespace.as_bytes(),
                )
                && match action {
                    Action::Read => p.action.contains('r'),
                    Action::Write => p.action.contains('w'),
                }
        })
    }
}

/// What a request touches, as Nacos names it: `namespace:group:kind/name`, where a group or
/// name the request does not give is `*` (so only a grant of the whole namespace covers it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub namespace: String,
    pub group: String,
    pub kind: ResourceKind,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Config,
    Naming,
}

impl Resource {
    pub fn config(namespace: &str, group: &str, data_id: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            group: group.to_owned(),
            kind: ResourceKind::Config,
            name: data_id.to_owned(),
        }
    }

    /// A service, named as the one request parser resolved it (its group already split
    /// from a `group@@name` spelling; empty parts are `*`).
    pub fn naming(namespace: &str, group: &str, service: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            group: group.to_owned(),
            kind: ResourceKind::Naming,
            name: service.to_owned(),
        }
    }

    pub fn of_config(key: &super::configs::ConfigKey) -> Self {
        Self::config(&key.namespace, &key.group, &key.data_id)
    }

    pub fn of_service(key: &super::registry::ServiceKey) -> Self {
        Self::naming(&key.namespace, &key.group, &key.service)
    }
}

/// Who is reading a list: everything a list or search answers is filtered through this, so a
/// caller learns nothing (content, md5, existence) of what it may not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    /// Access control is off.
    Anyone,
    /// A signed-in user: sees what its grants allow.
    User(String),
}

impl Reader {
    pub fn may_read(&self, auth: &AuthState, resource: &Resource) -> bool {
        match self {
            Reader::Anyone => true,
            Reader::User(user) => auth.allows(user, resource, Action::Read),
        }
    }

    /// Whether any read grant of the user reaches into `namespace` (or it is an admin): what a
    /// namespace-wide list needs before its existence is even looked at.
    pub fn may_enter(&self, auth: &AuthState, namespace: &str) -> bool {
        match self {
            Reader::Anyone => true,
            Reader::User(user) => auth.reaches_namespace(user, namespace, Action::Read),
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or_any = |s: &str| {
            if s.is_empty() {
                "*".to_owned()
            } else {
                s.to_owned()
            }
        };
        let kind = match self.kind {
            ResourceKind::Config => "config",
            ResourceKind::Naming => "naming",
        };
        write!(
            f,
            "{}:{}:{kind}/{}",
            normalize_namespace(&self.namespace),
            or_any(&self.group),
            or_any(&self.name)
        )
    }
}

/// A granted resource (`*` matches any run of characters, everything else itself; an empty
/// namespace is `public`) against a requested one.
fn granted_resource_matches(granted: &str, requested: &str) -> bool {
    let granted = match granted.split_once(':') {
        Some((namespace, rest)) => format!("{}:{rest}", normalize_namespace(namespace)),
        None => granted.to_owned(),
    };
    wildcard_matches(granted.as_bytes(), requested.as_bytes())
}

/// Whole-string match with `*` as the only wildcard (iterative, no backtracking blow-up).
fn wildcard_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while let Some(&c) = text.get(t) {
        match pattern.get(p) {
            Some(b'*') => {
                resume = Some((p, t));
                p += 1;
            }
            Some(&want) if want == c => {
                p += 1;
                t += 1;
            }
            _ => match resume {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    resume = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern.iter().skip(p).all(|&c| c == b'*')
}

pub fn validate_name(field: &'static str, value: &str) -> Result<(), CoreError> {
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

pub fn validate_password(password: &str) -> Result<(), CoreError> {
    if password.chars().count() < 8 || password.len() > 72 {
        return Err(CoreError::invalid(
            "password",
            "a password needs 8 to 72 bytes",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{UserData, UserRef};

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

    fn config(namespace: &str) -> Resource {
        Resource::config(namespace, "G", "app.yaml")
    }

    #[test]
    fn permissions_follow_roles_and_namespaces() {
        let s = state();
        assert!(s.allows("admin", &config("anything"), Action::Write));
        assert!(s.allows("dev", &config("dev"), Action::Write));
        assert!(
            s.allows("dev", &config(""), Action::Read),
            "the empty namespace is public"
        );
        assert!(!s.allows("dev", &config("public"), Action::Write));
        assert!(!s.allows("dev", &config("prod"), Action::Read));
        assert!(!s.allows("nobody", &config("public"), Action::Read));
        assert!(!s.allows("ghost", &config("public"), Action::Read));
    }

    #[test]
    fn a_grant_can_name_a_group_a_kind_or_one_config() {
        let mut s = state();
        for (seq, resource) in [
            (8, "prod:PAY:*"),
            (9, "prod:*:naming/*"),
            (10, ":*:config/shared.*"),
        ] {
            s.apply(
                seq,
                &Event::PermissionGranted(Permission {
                    role: "devs".into(),
                    resource: resource.into(),
                    action: "w".into(),
                }),
            );
        }
        let w = Action::Write;
        assert!(s.allows("dev", &Resource::config("prod", "PAY", "db"), w));
        assert!(!s.allows("dev", &Resource::config("prod", "OPS", "db"), w));
        assert!(
            !s.allows("dev", &Resource::config("prod", "", ""), w),
            "a whole-namespace request needs a whole-namespace grant"
        );
        assert!(s.allows("dev", &Resource::naming("prod", "OPS", "svc"), w));
        assert!(s.allows("dev", &Resource::config("", "X", "shared.yaml"), w));
        assert!(!s.allows("dev", &Resource::config("", "X", "other.yaml"), w));
        assert_eq!(
            Resource::naming("", "DEFAULT_GROUP", "svc").to_string(),
            "public:DEFAULT_GROUP:naming/svc"
        );
        assert!(s.reaches_namespace("dev", "prod", w));
        assert!(!s.reaches_namespace("dev", "other", w));
    }

    #[test]
    fn wildcards_match_whole_strings() {
        for (pattern, text, expected) in [
            ("a*c", "abbbc", true),
            ("a*c", "abbbcd", false),
            ("*", "", true),
            ("a.b", "axb", false),
            ("*:*:config/*", "ns:G:config/x", true),
            ("**a", "bbba", true),
        ] {
            assert_eq!(
                wildcard_matches(pattern.as_bytes(), text.as_bytes()),
                expected,
                "{pattern} ~ {text}"
            );
        }
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
