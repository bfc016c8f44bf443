//! Consul's ACL system: policies (rules over keys, services, nodes, ...) and tokens that carry
//! them, folded from events like everything else. A token's secret is kept as its SHA-256 only;
//! a request's secret is resolved to an [`Authorizer`] that answers every check.

pub mod rules;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::CoreError;
use super::event::{AclPolicyData, AclTokenData, Event};
pub use rules::{Global, Need, Rules, Scope};

/// The built-in policy that allows everything.
pub const GLOBAL_MANAGEMENT_ID: &str = "00000000-0000-0000-0000-000000000001";
pub const GLOBAL_MANAGEMENT_NAME: &str = "global-management";
/// The token of requests that carry none.
pub const ANONYMOUS_ID: &str = "00000000-0000-0000-0000-000000000002";
pub const ANONYMOUS_SECRET: &str = "anonymous";
/// Consul's reserved range of IDs.
pub const RESERVED_PREFIX: &str = "00000000-0000-0000-0000-0000000000";

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub data: AclPolicyData,
    pub rules: Rules,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub data: AclTokenData,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AclState {
    pub policies: BTreeMap<String, Policy>,
    pub tokens: BTreeMap<String, Token>,
    /// SHA-256 of a secret → its token's AccessorID.
    by_secret: HashMap<String, String>,
    /// The last sequence on each policy's and token's subject, deletions included.
    pub subject_seqs: BTreeMap<String, u64>,
}

/// What a request's token may do.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorizer {
    pub accessor: String,
    management: bool,
    /// Shared: handlers take copies of the request's authorizer.
    rules: std::sync::Arc<Rules>,
}

impl Authorizer {
    /// Allowed everything (ACLs off, or a management token).
    pub fn management(accessor: &str) -> Self {
        Self {
            accessor: accessor.to_owned(),
            management: true,
            rules: Default::default(),
        }
    }

    /// Allowed nothing.
    pub fn denying(accessor: &str) -> Self {
        Self {
            accessor: accessor.to_owned(),
            management: false,
            rules: Default::default(),
        }
    }

    pub fn allows(&self, scope: Scope, name: &str, need: Need) -> bool {
        self.management || self.rules.allows(scope, name, need)
    }

    pub fn allows_global(&self, global: Global, need: Need) -> bool {
        self.management || self.rules.allows_global(global, need)
    }

    pub fn allows_key_write_prefix(&self, prefix: &str) -> bool {
        self.management || self.rules.allows_key_write_prefix(prefix)
    }

    /// `Ok`, or Consul's refusal text.
    pub fn check(&self, scope: Scope, name: &str, need: Need) -> Result<(), String> {
        if self.allows(scope, name, need) {
            Ok(())
        } else {
            Err(rules::denied(
                &self.accessor,
                scope.as_str(),
                need,
                Some(name),
            ))
        }
    }

    pub fn check_key_write_prefix(&self, prefix: &str) -> Result<(), String> {
        if self.allows_key_write_prefix(prefix) {
            Ok(())
        } else {
            Err(rules::denied(
                &self.accessor,
                "key",
                Need::Write,
                Some(prefix),
            ))
        }
    }

    pub fn check_global(&self, global: Global, need: Need) -> Result<(), String> {
        if self.allows_global(global, need) {
            Ok(())
        } else {
            Err(rules::denied(&self.accessor, global.as_str(), need, None))
        }
    }
}

pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl AclState {
    pub fn apply(&mut self, seq: u64, event: &Event) {
        match event {
            Event::AclPolicySaved(p) => {
                // Rules were validated before the event was written; a policy whose rules no
                // longer parse (a newer dialect) grants nothing rather than stopping the fold.
                let rules = Rules::parse(&p.rules).unwrap_or_default();
                let create_index = self.policies.get(&p.id).map_or(seq, |old| old.create_index);
                self.policies.insert(
                    p.id.clone(),
                    Policy {
                        data: p.clone(),
                        rules,
                        create_index,
                        modify_index: seq,
                    },
                );
                self.subject_seqs
                    .insert(super::event::acl_subject("policy", &p.id), seq);
            }
            Event::AclPolicyDeleted(p) => {
                self.policies.remove(&p.id);
                self.subject_seqs
                    .insert(super::event::acl_subject("policy", &p.id), seq);
            }
            Event::AclTokenSaved(t) => {
                let create_index = match self.tokens.get(&t.accessor_id) {
                    Some(old) => {
                        self.by_secret.remove(&old.data.secret_sha256);
                        old.create_index
                    }
                    None => seq,
                };
                self.by_secret
                    .insert(t.secret_sha256.clone(), t.accessor_id.clone());
                self.tokens.insert(
                    t.accessor_id.clone(),
                    Token {
                        data: t.clone(),
                        create_index,
                        modify_index: seq,
                    },
                );
                self.subject_seqs
                    .insert(super::event::acl_subject("token", &t.accessor_id), seq);
            }
            Event::AclTokenDeleted(t) => {
                if let Some(old) = self.tokens.remove(&t.id) {
                    self.by_secret.remove(&old.data.secret_sha256);
                }
                self.subject_seqs
                    .insert(super::event::acl_subject("token", &t.id), seq);
            }
            _ => {}
        }
    }

    pub fn bootstrapped(&self) -> bool {
        self.tokens.values().any(|t| t.data.bootstrap)
    }

    pub fn policy_by_name(&self, name: &str) -> Option<&Policy> {
        self.policies.values().find(|p| p.data.name == name)
    }

    pub fn token_by_secret(&self, secret: &str) -> Option<&Token> {
        self.by_secret
            .get(&secret_hash(secret))
            .and_then(|accessor| self.tokens.get(accessor))
    }

    /// The anonymous token: as stored once changed, else built in with no policies.
    pub fn anonymous(&self) -> Token {
        self.tokens.get(ANONYMOUS_ID).cloned().unwrap_or(Token {
            data: AclTokenData {
                accessor_id: ANONYMOUS_ID.into(),
                secret_sha256: secret_hash(ANONYMOUS_SECRET),
                description: "Anonymous Token".into(),
                policies: Vec::new(),
                local: false,
                create_time: DateTime::<Utc>::UNIX_EPOCH,
                expiration_time: None,
                bootstrap: false,
            },
            create_index: 1,
            modify_index: 1,
        })
    }

    /// What a request's secret may do: no secret is the anonymous token; an unknown or expired
    /// secret is refused (`None`, Consul's "ACL not found").
    pub fn resolve(&self, secret: Option<&str>, now: DateTime<Utc>) -> Option<Authorizer> {
        let anonymous;
        let token = match secret.filter(|s| !s.is_empty() && *s != ANONYMOUS_SECRET) {
            None => {
                anonymous = self.anonymous();
                &anonymous
            }
            Some(secret) => self.token_by_secret(secret)?,
        };
        if token.data.expiration_time.is_some_and(|t| t <= now) {
            return None;
        }
        let accessor = token.data.accessor_id.as_str();
        if token
            .data
            .policies
            .iter()
            .any(|p| p == GLOBAL_MANAGEMENT_ID)
        {
            return Some(Authorizer::management(accessor));
        }
        let mut rules = Rules::default();
        for id in &token.data.policies {
            if let Some(policy) = self.policies.get(id) {
                rules.merge(&policy.rules);
            }
        }
        Some(Authorizer {
            accessor: accessor.to_owned(),
            management: false,
            rules: std::sync::Arc::new(rules),
        })
    }
}

/// A policy as a request gives it.
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub name: String,
    pub description: String,
    pub rules: String,
    pub datacenters: Vec<String>,
}

/// A token as a request gives it. Policies are named by ID or by name.
#[derive(Debug, Clone, Default)]
pub struct TokenInput {
    pub accessor_id: Option<String>,
    pub secret_id: Option<String>,
    pub description: String,
    pub policies: Vec<(Option<String>, Option<String>)>,
    pub local: bool,
    pub expiration_ttl: Option<std::time::Duration>,
}

pub fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::invalid("acl", message)
}

pub fn validate_policy_name(name: &str) -> Result<(), CoreError> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(format!(
            "Invalid Policy: invalid Name {name:?}. Only alphanumeric characters, '-' and '_' are allowed"
        )));
    }
    Ok(())
}

pub fn validate_uuid(field: &str, value: &str) -> Result<(), CoreError> {
    uuid::Uuid::parse_str(value)
        .map(|_| ())
        .map_err(|_| invalid(format!("Invalid Token: {field} is not a valid UUID")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::AclRef;

    fn token(accessor: &str, secret: &str, policies: &[&str]) -> Event {
        Event::AclTokenSaved(AclTokenData {
            accessor_id: accessor.into(),
            secret_sha256: secret_hash(secret),
            description: String::new(),
            policies: policies.iter().map(|p| p.to_string()).collect(),
            local: false,
            create_time: Utc::now(),
            expiration_time: None,
            bootstrap: false,
        })
    }

    fn state() -> AclState {
        let mut s = AclState::default();
        s.apply(
            1,
            &Event::AclPolicySaved(AclPolicyData {
                id: "p1".into(),
                name: "app".into(),
                description: String::new(),
                rules: r#"key_prefix "app/" { policy = "write" }"#.into(),
                datacenters: vec![],
            }),
        );
        s.apply(2, &token("a1", "secret-1", &["p1"]));
        s.apply(3, &token("a2", "secret-2", &[GLOBAL_MANAGEMENT_ID]));
        s
    }

    #[test]
    fn a_secret_resolves_to_its_policies_and_an_unknown_one_to_nothing() {
        let s = state();
        let now = Utc::now();
        let app = s.resolve(Some("secret-1"), now).unwrap();
        assert_eq!(app.accessor, "a1");
        assert!(app.allows(Scope::Key, "app/x", Need::Write));
        assert!(!app.allows(Scope::Key, "other", Need::Read));
        let manager = s.resolve(Some("secret-2"), now).unwrap();
        assert!(manager.allows(Scope::Service, "anything", Need::Write));
        assert_eq!(s.resolve(Some("nope"), now), None);
        let anonymous = s.resolve(None, now).unwrap();
        assert_eq!(anonymous.accessor, ANONYMOUS_ID);
        assert!(!anonymous.allows(Scope::Key, "app/x", Need::Read));
    }

    #[test]
    fn a_changed_secret_or_deleted_token_no_longer_resolves() {
        let mut s = state();
        s.apply(4, &token("a1", "secret-3", &["p1"]));
        assert_eq!(s.resolve(Some("secret-1"), Utc::now()), None);
        assert!(s.resolve(Some("secret-3"), Utc::now()).is_some());
        s.apply(5, &Event::AclTokenDeleted(AclRef { id: "a1".into() }));
        assert_eq!(s.resolve(Some("secret-3"), Utc::now()), None);
        assert_eq!(s.tokens.get("a2").map(|t| t.create_index), Some(3));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let mut s = state();
        let mut expiring = token("a9", "secret-9", &["p1"]);
        if let Event::AclTokenSaved(t) = &mut expiring {
            t.expiration_time = Some(Utc::now() - chrono::Duration::seconds(1));
        }
        s.apply(6, &expiring);
        assert_eq!(s.resolve(Some("secret-9"), Utc::now()), None);
    }
}
