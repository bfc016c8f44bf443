//! auth: the operations (reads from the read model, writes as events). Its
//! types and its part of the fold are `nacre_model::auth`.

pub use nacre_model::auth::*;

/// bcrypt's work factor: ~50 ms a hash on one core, which also paces password guessing.
const BCRYPT_COST: u32 = 10;
/// A bcrypt hash (of a random string, cost 10) checked when the username is unknown.
const UNKNOWN_USER_HASH: &str = "$2b$10$t9W9XzF3htbGF4SkTdXnWODTX9FvuQKdRP/JcsQscO4/1kCuTLYJO";
use super::event::{Event, Permission, RoleBinding, UserData, UserRef};
use super::log::Expect;
use super::{Actor, Core, CoreError};

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
        // An unknown user costs the same bcrypt work as a wrong password, so the answer's
        // timing does not tell which usernames exist.
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| UNKNOWN_USER_HASH.to_owned());
        let password = password.to_owned();
        let matches =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &stored).unwrap_or(false))
                .await
                .unwrap_or(false);
        known && matches
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

    /// Deletes a user; never an admin, so the registry cannot be locked out of itself.
    pub async fn delete_user(&self, actor: &Actor, username: &str) -> Result<(), CoreError> {
        let is_admin = {
            let model = self.model.read();
            if !model.auth.users.contains_key(username) {
                return Err(CoreError::NotFound(format!("user {username} not exist!")));
            }
            model.auth.is_admin(username)
        };
        if is_admin {
            return Err(CoreError::invalid(
                "username",
                format!("cannot delete admin: {username}"),
            ));
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
