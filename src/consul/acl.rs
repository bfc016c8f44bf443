//! `/v1/acl/*`: Consul's ACL API over the core's policies and tokens — bootstrap, policies,
//! tokens, and `token/self`. Reads need `acl = "read"`, writes `acl = "write"`. SecretIDs are
//! kept only as hashes, so reads answer `<hidden>`; a secret is shown once, when it is made.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::fields::{Fields, bad, body_fields};
use super::kv::actor;
use super::{ConsulError, ConsulState, authorizer};
use crate::core::CoreError;
use crate::core::acl::{
    ANONYMOUS_ID, AclState, GLOBAL_MANAGEMENT_ID, GLOBAL_MANAGEMENT_NAME, Global, Need,
    PolicyInput, TokenInput,
};

const HIDDEN: &str = "<hidden>";

/// Every ACL route answers this while access control is off, as Consul does.
fn enabled(s: &ConsulState) -> Result<(), ConsulError> {
    if s.core.access.enabled {
        Ok(())
    } else {
        Err(ConsulError(
            StatusCode::UNAUTHORIZED,
            "ACL support disabled".into(),
        ))
    }
}

fn allowed(s: &ConsulState, request: &Request, need: Need) -> Result<(), ConsulError> {
    enabled(s)?;
    authorizer(request)
        .check_global(Global::Acl, need)
        .map_err(ConsulError::denied)
}

fn not_found(what: &str) -> ConsulError {
    ConsulError(
        StatusCode::NOT_FOUND,
        format!("Requested {what} does not exist: ACL not found"),
    )
}

fn hash(parts: &[&str]) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(parts.join("\u{0}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

fn policy_json(acl: &AclState, id: &str, with_rules: bool) -> Option<Value> {
    if id == GLOBAL_MANAGEMENT_ID {
        let mut v = json!({
            "ID": GLOBAL_MANAGEMENT_ID, "Name": GLOBAL_MANAGEMENT_NAME,
            "Description": "Builtin Policy that grants unlimited access",
            "Datacenters": [], "Hash": hash(&[GLOBAL_MANAGEMENT_NAME]),
            "CreateIndex": 1, "ModifyIndex": 1,
        });
        if with_rules {
            v["Rules"] = json!(
                "acl = \"write\"\nkey_prefix \"\" { policy = \"write\" }\nservice_prefix \"\" { policy = \"write\" }\nnode_prefix \"\" { policy = \"write\" }\nsession_prefix \"\" { policy = \"write\" }\nagent_prefix \"\" { policy = \"write\" }\nevent_prefix \"\" { policy = \"write\" }\nquery_prefix \"\" { policy = \"write\" }\noperator = \"write\"\nkeyring = \"write\""
            );
        }
        return Some(v);
    }
    let p = acl.policies.get(id)?;
    let d = &p.data;
    let mut v = json!({
        "ID": d.id, "Name": d.name, "Description": d.description, "Datacenters": d.datacenters,
        "Hash": hash(&[&d.name, &d.description, &d.rules]),
        "CreateIndex": p.create_index, "ModifyIndex": p.modify_index,
    });
    if with_rules {
        v["Rules"] = json!(d.rules);
    }
    Some(v)
}

fn token_json(acl: &AclState, accessor: &str, secret: Option<&str>) -> Option<Value> {
    let t = if accessor == ANONYMOUS_ID {
        acl.anonymous()
    } else {
        acl.tokens.get(accessor)?.clone()
    };
    let d = &t.data;
    let secret = if accessor == ANONYMOUS_ID {
        crate::core::acl::ANONYMOUS_SECRET
    } else {
        secret.unwrap_or(HIDDEN)
    };
    let policies: Vec<Value> = d
        .policies
        .iter()
        .filter_map(|id| policy_json(acl, id, false))
        .map(|p| json!({"ID": p["ID"], "Name": p["Name"]}))
        .collect();
    let mut v = json!({
        "AccessorID": d.accessor_id, "SecretID": secret, "Description": d.description,
        "Policies": policies, "Local": d.local,
        "CreateTime": d.create_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "Hash": hash(&[&d.accessor_id, &d.description, &d.policies.join(",")]),
        "CreateIndex": t.create_index, "ModifyIndex": t.modify_index,
    });
    if let Some(expires) = d.expiration_time {
        v["ExpirationTime"] = json!(expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    Some(v)
}

pub async fn bootstrap(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    enabled(&s)?;
    let (accessor, secret) = match s.core.bootstrap_acl(&actor(&request)).await {
        Err(CoreError::Conflict(m)) => {
            return Err(ConsulError::denied(format!("Permission denied: {m}")));
        }
        other => other?,
    };
    let acl = &s.core.model.read().acl;
    let mut v = token_json(acl, &accessor, Some(&secret)).unwrap_or_default();
    v["ID"] = json!(secret);
    Ok(axum::Json(v).into_response())
}

fn policy_input(f: &Fields) -> Result<PolicyInput, ConsulError> {
    let datacenters = match f.get("Datacenters") {
        None => Vec::new(),
        Some(Value::Array(dcs)) => dcs
            .iter()
            .map(|d| d.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("Policy decoding failed: Datacenters must be strings".into()))?,
        Some(other) => {
            return Err(bad(format!(
                "Policy decoding failed: Datacenters must be a list, not {other}"
            )));
        }
    };
    Ok(PolicyInput {
        name: f.text("Name")?,
        description: f.text("Description")?,
        rules: f.text("Rules")?,
        datacenters,
    })
}

pub async fn create_policy(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    allowed(&s, &request, Need::Write)?;
    let actor = actor(&request);
    let f = body_fields(request).await?;
    if !f.text("ID")?.is_empty() {
        return Err(bad(
            "Cannot specify the ID when creating a new policy".into()
        ));
    }
    let id = s
        .core
        .save_acl_policy(&actor, None, policy_input(&f)?)
        .await?;
    let acl = &s.core.model.read().acl;
    Ok(axum::Json(policy_json(acl, &id, true)).into_response())
}

pub async fn read_policy(
    State(s): State<ConsulState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    allowed(&s, &request, Need::Read)?;
    let acl = &s.core.model.read().acl;
    let policy = policy_json(acl, &id, true).ok_or_else(|| not_found("policy"))?;
    Ok(axum::Json(policy).into_response())
}

pub async fn read_policy_by_name(
    State(s): State<ConsulState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    allowed(&s, &request, Need::Read)?;
    let acl = &s.core.model.read().acl;
    let id = if name == GLOBAL_MANAGEMENT_NAME {
        GLOBAL_MANAGEMENT_ID.to_owned()
    } else {
        acl.policy_by_name(&name)
            .map(|p| p.data.id.clone())
            .ok_or_else(|| not_found("policy"))?
    };
    let policy = policy_json(acl, &id, true).ok_or_else(|| not_found("policy"))?;
    Ok(axum::Json(policy).into_response())
}

pub async fn update_policy(
    State(s): State<ConsulState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    allowed(&s, &request, Need::Write)?;
    let actor = actor(&request);
    let f = body_fields(request).await?;
    let given = f.text("ID")?;
    if !given.is_empty() && given != id {
        return Err(bad("Policy ID in URL and payload do not match".into()));
    }
    s.core
        .save_acl_policy(&actor, Some(&id), policy_input(&f)?)
        .await?;
    let acl = &s.core.model.read().acl;
    Ok(axum::Json(policy_json(acl, &id, true)).into_response())
}

pub async fn delete_policy(
    State(s): State<ConsulState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    allowed(&s, &request, Need::Write)?;
    s.core.delete_acl_policy(&actor(&request), &id).await?;
    Ok(axum::Json(true).into_response())
}

pub async fn list_policies(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    allowed(&s, &request, Need::Read)?;
    let acl = &s.core.model.read().acl;
    let list: Vec<Value> = std::iter::once(GLOBAL_MANAGEMENT_ID)
        .chain(acl.policies.keys().map(String::as_str))
        .filter_map(|id| policy_json(acl, id, false))
        .collect();
    Ok(axum::Json(list).into_response())
}

fn token_input(f: &Fields) -> Result<TokenInput, ConsulError> {
    for unsupported in [
        "Roles",
        "ServiceIdentities",
        "NodeIdentities",
        "TemplatedPolicies",
    ] {
        if f.get(unsupported)
            .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()))
        {
            return Err(bad(format!(
                "Token decoding failed: {unsupported} are not supported by Nacre; use Policies"
            )));
        }
    }
    let policies = f
        .objects("Policies")?
        .iter()
        .map(|p| {
            let id = p.text("ID")?;
            let name = p.text("Name")?;
            Ok((
                Some(id).filter(|i| !i.is_empty()),
                Some(name).filter(|n| !n.is_empty()),
            ))
        })
        .collect::<Result<Vec<_>, ConsulError>>()?;
    // An absolute ExpirationTime is the time left until it (the core checks 1 minute to 24 h).
    let ttl = f.text("ExpirationTTL")?;
    let at = f.text("ExpirationTime")?;
    let expiration_ttl = match (ttl.as_str(), at.as_str()) {
        ("", "") => None,
        (ttl, "") => Some(
            humantime::parse_duration(ttl)
                .map_err(|e| bad(format!("Token decoding failed: ExpirationTTL {ttl:?}: {e}")))?,
        ),
        ("", at) => {
            let at = chrono::DateTime::parse_from_rfc3339(at)
                .map_err(|e| bad(format!("Token decoding failed: ExpirationTime {at:?}: {e}")))?;
            let left = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
            Some(left.to_std().unwrap_or_default())
        }
        _ => {
            return Err(bad(
                "Token Expiration TTL and Expiration Time cannot both be set".into(),
            ));
        }
    };
    Ok(TokenInput {
        accessor_id: Some(f.text("AccessorID")?).filter(|a| !a.is_empty()),
        secret_id: Some(f.text("SecretID")?).filter(|s| !s.is_empty()),
        description: f.text("Description")?,
        policies,
        local: f.boolean("Local")?,
        expiration_ttl,
    })
}

pub async fn create_token(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    allowed(&s, &request, Need::Write)?;
    let actor = actor(&request);
    let f = body_fields(request).await?;
    let (accessor, secret) = s
        .core
        .save_acl_token(&actor, None, token_input(&f)?)
        .await?;
    let acl = &s.core.model.read().acl;
    Ok(axum::Json(token_json(acl, &accessor, secret.as_deref())).into_response())
}

pub async fn read_token(
    State(s): State<ConsulState>,
    Path(accessor): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    allowed(&s, &request, Need::Read)?;
    let acl = &s.core.model.read().acl;
    let token = token_json(acl, &accessor, None).ok_or_else(|| not_found("token"))?;
    Ok(axum::Json(token).into_response())
}

/// The token the request presented: no permission needed beyond holding it.
pub async fn read_self(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    enabled(&s)?;
    let accessor = authorizer(&request).accessor;
    let acl = &s.core.model.read().acl;
    let token = token_json(acl, &accessor, None).ok_or_else(|| {
        ConsulError(
            StatusCode::NOT_FOUND,
            "Supplied token does not exist".into(),
        )
    })?;
    Ok(axum::Json(token).into_response())
}

pub async fn update_token(
    State(s): State<ConsulState>,
    Path(accessor): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    allowed(&s, &request, Need::Write)?;
    let actor = actor(&request);
    let f = body_fields(request).await?;
    let given = f.text("AccessorID")?;
    if !given.is_empty() && given != accessor {
        return Err(bad(
            "Token Accessor ID in URL and payload do not match".into()
        ));
    }
    s.core
        .save_acl_token(&actor, Some(&accessor), token_input(&f)?)
        .await?;
    let acl = &s.core.model.read().acl;
    Ok(axum::Json(token_json(acl, &accessor, None)).into_response())
}

pub async fn delete_token(
    State(s): State<ConsulState>,
    Path(accessor): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    allowed(&s, &request, Need::Write)?;
    s.core.delete_acl_token(&actor(&request), &accessor).await?;
    Ok(axum::Json(true).into_response())
}

pub async fn list_tokens(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    allowed(&s, &request, Need::Read)?;
    let policy = super::Query::parse(request.uri().query())
        .get("policy")
        .map(str::to_owned);
    let acl = &s.core.model.read().acl;
    let list: Vec<Value> = std::iter::once(ANONYMOUS_ID)
        .chain(
            acl.tokens
                .keys()
                .map(String::as_str)
                .filter(|a| *a != ANONYMOUS_ID),
        )
        .filter_map(|accessor| token_json(acl, accessor, None))
        .filter(|t| {
            policy.as_ref().is_none_or(|p| {
                t["Policies"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|x| x["ID"] == p.as_str()))
            })
        })
        .collect();
    Ok(axum::Json(list).into_response())
}
