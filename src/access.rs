//! Who may do what: access tokens (JWT, HS256), login throttling, and the one decision every
//! adapter asks — may this token do this? The model (users, roles, permissions) is the core's
//! `auth` fold; this is the part that turns a request's token into an answer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::core::auth::{Action, AuthState, Resource};
use crate::settings::AuthSettings;

/// What a request needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    Open,
    /// Any valid token.
    Authenticated,
    /// An action on a config or service (or a whole group or namespace of them).
    Resource(Resource, Action),
    /// Some read grant reaching into a namespace: what a namespace-wide list needs before the
    /// namespace's existence is even looked at (its answer is then filtered item by item).
    Enter(String),
    /// The named user themself (changing their own password), or an admin.
    UserOrAdmin(String),
    Admin,
}

/// Whether an authenticated `user` may do what `need` says.
pub fn permits(auth: &AuthState, user: &str, need: &Need) -> bool {
    match need {
        Need::Open | Need::Authenticated => true,
        Need::Resource(resource, action) => auth.allows(user, resource, *action),
        Need::Enter(namespace) => auth.reaches_namespace(user, namespace, Action::Read),
        Need::UserOrAdmin(named) => named == user || auth.is_admin(user),
        Need::Admin => auth.is_admin(user),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Denied {
    /// No token, or one that is expired, forged or of a deleted user.
    Unauthenticated(&'static str),
    /// A valid token without the permission.
    Forbidden,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

pub struct Access {
    pub enabled: bool,
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub ttl: Duration,
    attempts: u32,
    failures: Mutex<HashMap<(String, String), Vec<Instant>>>,
    consul_management_token: String,
}

impl Default for Access {
    fn default() -> Self {
        Self::new(&AuthSettings::default())
    }
}

impl Access {
    pub fn new(settings: &AuthSettings) -> Self {
        let secret = settings.token_secret.as_bytes();
        Self {
            enabled: settings.enabled,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl: settings.token_ttl,
            attempts: settings.login_attempts_per_minute.max(1),
            failures: Mutex::default(),
            consul_management_token: settings.consul_management_token.clone(),
        }
    }

    pub fn issue(&self, username: &str) -> Result<String, String> {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs()
            + self.ttl.as_secs();
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: username.to_owned(),
                exp,
            },
            &self.encoding,
        )
        .map_err(|e| e.to_string())
    }

    /// The user a token names, if it is genuine and unexpired.
    pub fn verify(&self, token: &str) -> Result<String, Denied> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation) {
            Ok(data) => Ok(data.claims.sub),
            Err(e) => Err(Denied::Unauthenticated(match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "token expired!",
                _ => "token invalid!",
            })),
        }
    }

    /// The user a request's token names: genuine, unexpired, and still a user.
    pub fn authenticate(&self, auth: &AuthState, token: Option<&str>) -> Result<String, Denied> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(Denied::Unauthenticated("user not found!"))?;
        let user = self.verify(token)?;
        if !auth.users.contains_key(&user) {
            return Err(Denied::Unauthenticated("user not found!"));
        }
        Ok(user)
    }

    /// Decides a request with one need: Ok with the user (if any) or why not.
    pub fn check(
        &self,
        auth: &AuthState,
        token: Option<&str>,
        need: &Need,
    ) -> Result<Option<String>, Denied> {
        if !self.enabled || *need == Need::Open {
            return Ok(None);
        }
        let user = self.authenticate(auth, token)?;
        if permits(auth, &user, need) {
            Ok(Some(user))
        } else {
            Err(Denied::Forbidden)
        }
    }

    /// Whether `token` is the Consul management token from the settings.
    pub fn is_consul_management_token(&self, token: &str) -> bool {
        !self.consul_management_token.is_empty()
            && crate::core::acl::secret_hash(token)
                == crate::core::acl::secret_hash(&self.consul_management_token)
    }

    /// Whether `username` from `source` may try to log in now.
    pub fn login_allowed(&self, username: &str, source: &str) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let key = (username.to_owned(), source.to_owned());
        failures.get(&key).is_none_or(|recent| {
            recent
                .iter()
                .filter(|t| t.elapsed() < THROTTLE_WINDOW)
                .count()
                < self.attempts as usize
        })
    }

    /// Counts a failed login. The table is bounded: when full, entries whose failures have all
    /// aged out go first, then the not-yet-blocking one that failed longest ago, so a spray of
    /// usernames neither grows it nor lifts a block.
    pub fn login_failed(&self, username: &str, source: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let key = (username.to_owned(), source.to_owned());
        if !failures.contains_key(&key) && failures.len() >= MAX_THROTTLED {
            failures.retain(|_, recent| recent.iter().any(|t| t.elapsed() < THROTTLE_WINDOW));
            let blocking = |recent: &Vec<Instant>| recent.len() >= self.attempts as usize;
            if failures.len() >= MAX_THROTTLED
                && let Some(evicted) = failures
                    .iter()
                    .min_by_key(|(_, recent)| (blocking(recent), recent.last().copied()))
                    .map(|(k, _)| k.clone())
            {
                failures.remove(&evicted);
            }
        }
        let recent = failures.entry(key).or_default();
        recent.retain(|t| t.elapsed() < THROTTLE_WINDOW);
        recent.push(Instant::now());
    }
}

/// How long a failed login counts against its user and source.
const THROTTLE_WINDOW: Duration = Duration::from_secs(60);
/// Most (user, source) pairs the login throttle tracks.
const MAX_THROTTLED: usize = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn access(secret: &str, ttl: u64) -> Access {
        Access::new(&AuthSettings {
            enabled: true,
            token_secret: secret.into(),
            token_ttl: Duration::from_secs(ttl),
            ..AuthSettings::default()
        })
    }

    #[test]
    fn tokens_are_checked_for_signature_and_expiry() {
        let a = access("0123456789abcdef0123456789abcdef", 60);
        let token = a.issue("dev").unwrap();
        assert_eq!(a.verify(&token), Ok("dev".into()));
        let other = access("another secret of at least 32 bytes!", 60);
        assert_eq!(
            other.verify(&token),
            Err(Denied::Unauthenticated("token invalid!"))
        );
        let expired = access("0123456789abcdef0123456789abcdef", 0)
            .issue("dev")
            .unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(
            a.verify(&expired),
            Err(Denied::Unauthenticated("token expired!"))
        );
    }

    #[test]
    fn failed_logins_are_throttled_per_user_and_source() {
        let a = access("0123456789abcdef0123456789abcdef", 60);
        for _ in 0..5 {
            assert!(a.login_allowed("nacos", "10.0.0.1"));
            a.login_failed("nacos", "10.0.0.1");
        }
        assert!(!a.login_allowed("nacos", "10.0.0.1"));
        assert!(
            a.login_allowed("nacos", "10.0.0.2"),
            "another source is not blocked"
        );
    }

    #[test]
    fn a_spray_of_usernames_does_not_unblock_a_throttled_source() {
        let a = access("0123456789abcdef0123456789abcdef", 60);
        for _ in 0..5 {
            a.login_failed("nacos", "10.0.0.1");
        }
        for i in 0..MAX_THROTTLED + 10 {
            a.login_failed(&format!("spray-{i}"), "10.6.6.6");
        }
        assert!(
            a.failures.lock().unwrap().len() <= MAX_THROTTLED,
            "the table stays bounded"
        );
        assert!(
            !a.login_allowed("nacos", "10.0.0.1"),
            "the blocked source stays blocked"
        );
    }
}
