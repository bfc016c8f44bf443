//! acl: the operations (reads from the read model, writes as events). Its
//! types and its part of the fold are `nacre_model::acl`.

use super::event::{AclPolicyData, AclRef, AclTokenData, Event};
use super::log::Expect;
use super::{Actor, Core, CoreError};
use chrono::Utc;
pub use nacre_model::acl::*;

impl Core {
    /// Creates (`id` None) or replaces a policy; the answer is its ID.
    pub async fn save_acl_policy(
        &self,
        actor: &Actor,
        id: Option<&str>,
        input: PolicyInput,
    ) -> Result<String, CoreError> {
        validate_policy_name(&input.name)?;
        Rules::parse(&input.rules).map_err(invalid)?;
        if id == Some(GLOBAL_MANAGEMENT_ID) {
            return Err(invalid(
                "Changing the Rules for the builtin global-management policy is not permitted",
            ));
        }
        let (id, expect) = {
            let model = self.model.read();
            let acl = &model.acl;
            let clash = acl
                .policy_by_name(&input.name)
                .is_some_and(|other| Some(other.data.id.as_str()) != id);
            if clash || input.name == GLOBAL_MANAGEMENT_NAME {
                return Err(invalid(format!(
                    "Invalid Policy: A Policy with Name {:?} already exists",
                    input.name
                )));
            }
            match id {
                Some(id) => {
                    let Some(existing) = acl.policies.get(id) else {
                        return Err(CoreError::NotFound(format!("Cannot find policy {id:?}")));
                    };
                    (
                        id.to_owned(),
                        Expect::LastSubjectSequence(existing.modify_index),
                    )
                }
                None => (
                    uuid::Uuid::new_v4().to_string(),
                    Expect::LastSubjectSequence(0),
                ),
            }
        };
        let event = Event::AclPolicySaved(AclPolicyData {
            id: id.clone(),
            name: input.name,
            description: input.description,
            rules: input.rules,
            datacenters: input.datacenters,
        });
        self.commit(actor, event, expect).await?;
        Ok(id)
    }

    pub async fn delete_acl_policy(&self, actor: &Actor, id: &str) -> Result<(), CoreError> {
        if id == GLOBAL_MANAGEMENT_ID {
            return Err(invalid(
                "Cannot delete the builtin global-management policy",
            ));
        }
        if !self.model.read().acl.policies.contains_key(id) {
            return Err(CoreError::NotFound("Cannot find policy to delete".into()));
        }
        let event = Event::AclPolicyDeleted(AclRef { id: id.to_owned() });
        self.commit(actor, event, Expect::Anything)
            .await
            .map(|_| ())
    }

    /// Policy links by ID or name → IDs, each of which must exist.
    fn policy_ids(
        &self,
        links: &[(Option<String>, Option<String>)],
    ) -> Result<Vec<String>, CoreError> {
        let model = self.model.read();
        let acl = &model.acl;
        let mut ids = Vec::new();
        for (id, name) in links {
            let found = match (id.as_deref().filter(|i| !i.is_empty()), name.as_deref()) {
                (Some(GLOBAL_MANAGEMENT_ID), _) | (None, Some(GLOBAL_MANAGEMENT_NAME)) => {
                    Some(GLOBAL_MANAGEMENT_ID.to_owned())
                }
                (Some(id), _) => acl.policies.get(id).map(|p| p.data.id.clone()),
                (None, Some(name)) => acl.policy_by_name(name).map(|p| p.data.id.clone()),
                (None, None) => None,
            };
            let id = found.ok_or_else(|| {
                invalid(format!(
                    "cannot find policy {}",
                    id.clone().or(name.clone()).unwrap_or_default()
                ))
            })?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Creates a token (`accessor` None) or updates one; the answer is its AccessorID and, on
    /// creation, its SecretID (updates never change a secret).
    pub async fn save_acl_token(
        &self,
        actor: &Actor,
        accessor: Option<&str>,
        input: TokenInput,
    ) -> Result<(String, Option<String>), CoreError> {
        let policies = self.policy_ids(&input.policies)?;
        let now = Utc::now();
        let (data, secret, expect) = match accessor {
            Some(accessor) => {
                let existing = if accessor == ANONYMOUS_ID {
                    self.model.read().acl.anonymous()
                } else {
                    self.model
                        .read()
                        .acl
                        .tokens
                        .get(accessor)
                        .cloned()
                        .ok_or_else(|| {
                            CoreError::NotFound(format!("Cannot find token {accessor:?}"))
                        })?
                };
                if input
                    .secret_id
                    .as_deref()
                    .is_some_and(|s| secret_hash(s) != existing.data.secret_sha256)
                {
                    return Err(invalid("Changing a token's SecretID is not permitted"));
                }
                let seq = self.acl_subject_seq("token", accessor);
                let data = AclTokenData {
                    description: input.description,
                    policies,
                    bootstrap: false,
                    ..existing.data
                };
                (data, None, Expect::LastSubjectSequence(seq))
            }
            None => {
                let accessor_id = input
                    .accessor_id
                    .filter(|a| !a.is_empty())
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                let secret = input
                    .secret_id
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                validate_uuid("AccessorID", &accessor_id)?;
                validate_uuid("SecretID", &secret)?;
                if accessor_id.starts_with(RESERVED_PREFIX) || secret.starts_with(RESERVED_PREFIX) {
                    return Err(invalid(
                        "Invalid Token: UUIDs with the prefix \"00000000-0000-0000-0000-0000000000\" are reserved",
                    ));
                }
                {
                    let model = self.model.read();
                    if model.acl.tokens.contains_key(&accessor_id) {
                        return Err(invalid("Invalid Token: AccessorID is already in use"));
                    }
                    if model.acl.token_by_secret(&secret).is_some() {
                        return Err(invalid("Invalid Token: SecretID is already in use"));
                    }
                }
                let expiration_time = match input.expiration_ttl {
                    None => None,
                    Some(ttl)
                        if ttl < std::time::Duration::from_secs(60)
                            || ttl > std::time::Duration::from_secs(86_400) =>
                    {
                        return Err(invalid(
                            "Invalid Token: ExpirationTTL must be between 1m and 24h",
                        ));
                    }
                    Some(ttl) => chrono::Duration::from_std(ttl).ok().map(|d| now + d),
                };
                let seq = self.acl_subject_seq("token", &accessor_id);
                let data = AclTokenData {
                    accessor_id,
                    secret_sha256: secret_hash(&secret),
                    description: input.description,
                    policies,
                    local: input.local,
                    create_time: now,
                    expiration_time,
                    bootstrap: false,
                };
                (data, Some(secret), Expect::LastSubjectSequence(seq))
            }
        };
        let accessor = data.accessor_id.clone();
        self.commit(actor, Event::AclTokenSaved(data), expect)
            .await?;
        Ok((accessor, secret))
    }

    pub async fn delete_acl_token(&self, actor: &Actor, accessor: &str) -> Result<(), CoreError> {
        if accessor == ANONYMOUS_ID {
            return Err(invalid(
                "Deletion of the builtin anonymous token is not permitted",
            ));
        }
        if !self.model.read().acl.tokens.contains_key(accessor) {
            return Err(CoreError::NotFound("Cannot find token to delete".into()));
        }
        let event = Event::AclTokenDeleted(AclRef {
            id: accessor.to_owned(),
        });
        self.commit(actor, event, Expect::Anything)
            .await
            .map(|_| ())
    }

    /// The one-time bootstrap: a global-management token, once per cluster (compare-and-set on
    /// the bootstrap subject). The answer is its AccessorID and SecretID.
    pub async fn bootstrap_acl(&self, actor: &Actor) -> Result<(String, String), CoreError> {
        if self.model.read().acl.bootstrapped() {
            return Err(CoreError::Conflict(
                "ACL bootstrap no longer allowed".into(),
            ));
        }
        let accessor = uuid::Uuid::new_v4().to_string();
        let secret = uuid::Uuid::new_v4().to_string();
        let event = Event::AclTokenSaved(AclTokenData {
            accessor_id: accessor.clone(),
            secret_sha256: secret_hash(&secret),
            description: "Bootstrap Token (Global Management)".into(),
            policies: vec![GLOBAL_MANAGEMENT_ID.into()],
            local: false,
            create_time: Utc::now(),
            expiration_time: None,
            bootstrap: true,
        });
        match self
            .commit(actor, event, Expect::LastSubjectSequence(0))
            .await
        {
            Err(CoreError::Conflict(_)) => Err(CoreError::Conflict(
                "ACL bootstrap no longer allowed".into(),
            )),
            Err(e) => Err(e),
            Ok(_) => Ok((accessor, secret)),
        }
    }

    fn acl_subject_seq(&self, kind: &str, id: &str) -> u64 {
        self.model
            .read()
            .acl
            .subject_seqs
            .get(&super::event::acl_subject(kind, id))
            .copied()
            .unwrap_or(0)
    }
}
