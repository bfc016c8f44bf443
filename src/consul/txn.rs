//! `/v1/txn`: transactions of KV operations, all or nothing (the core's `txn` module runs them).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::fields::{Fields, bad};
use super::kv::{actor, entry_json};
use super::{ConsulError, ConsulState, authorizer, index_headers};
use crate::core::acl::{Authorizer, Need, Scope};
use crate::core::limits::KV_VALUE_BYTES;
use crate::core::limits::TXN_OPS;
use crate::core::txn::{TxnError, TxnOp, TxnOutcome};

pub async fn txn(State(s): State<ConsulState>, request: Request) -> Result<Response, ConsulError> {
    let actor = actor(&request);
    let acl = authorizer(&request);
    let body = axum::body::to_bytes(request.into_body(), super::kv::MAX_BODY)
        .await
        .map_err(|_| {
            ConsulError(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Request body too large, max size: {} bytes",
                    super::kv::MAX_BODY
                ),
            )
        })?;
    let parsed = parse(&body)?;
    let mut ops = Vec::with_capacity(parsed.len());
    let mut refused = Vec::new();
    for (op_index, op) in parsed.into_iter().enumerate() {
        match op {
            Ok(op) if !permitted(&acl, &op) => refused.push(TxnError {
                op_index,
                what: "Permission denied".into(),
            }),
            Ok(op) => ops.push(op),
            Err(what) => refused.push(TxnError { op_index, what }),
        }
    }
    let outcome = if refused.is_empty() {
        s.core.kv_transact(&actor, ops).await?
    } else {
        TxnOutcome::Failed(refused)
    };
    let mut response = match outcome {
        TxnOutcome::Committed(entries) => {
            // Reads answer only what the token may read, as Consul filters them.
            let results: Vec<Value> = entries
                .iter()
                .filter(|e| acl.allows(Scope::Key, &e.key, Need::Read))
                .map(|e| json!({"KV": entry_json(e)}))
                .collect();
            axum::Json(json!({"Results": results, "Errors": null})).into_response()
        }
        TxnOutcome::Failed(errors) => {
            let errors: Vec<Value> = errors
                .iter()
                .map(|e| json!({"OpIndex": e.op_index, "What": e.what}))
                .collect();
            (
                StatusCode::CONFLICT,
                axum::Json(json!({"Results": null, "Errors": errors})),
            )
                .into_response()
        }
    };
    index_headers(response.headers_mut(), s.core.model.applied());
    Ok(response)
}

/// Consul's per-operation ACL check; `get` and `get-tree` are filtered afterwards instead.
/// A transaction body: each operation parsed, or why it cannot be (Consul reports those by
/// index); a body that is not a list of operations, or holds too many, fails whole.
pub fn parse(body: &[u8]) -> Result<Vec<Result<TxnOp, String>>, ConsulError> {
    let raw: Vec<Value> =
        serde_json::from_slice(body).map_err(|e| bad(format!("Failed to parse body: {e}")))?;
    if raw.len() > TXN_OPS {
        return Err(ConsulError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Transaction contains too many operations ({} > {TXN_OPS})",
                raw.len()
            ),
        ));
    }
    raw.into_iter().map(parse_op).collect()
}

fn permitted(acl: &Authorizer, op: &TxnOp) -> bool {
    match op {
        TxnOp::Get { .. } | TxnOp::GetTree { .. } => true,
        TxnOp::CheckIndex { key, .. }
        | TxnOp::CheckSession { key, .. }
        | TxnOp::CheckNotExists { key } => acl.allows(Scope::Key, key, Need::Read),
        TxnOp::DeleteTree { key } => acl.allows_key_write_prefix(key),
        other => acl.allows(Scope::Key, other.key(), Need::Write),
    }
}

/// One `{"KV": {...}}` operation. The outer error is a malformed request (400, nothing runs);
/// the inner one an operation Consul refuses with 409 (an unknown verb, a non-KV operation).
fn parse_op(value: Value) -> Result<Result<TxnOp, String>, ConsulError> {
    let Value::Object(map) = value else {
        return Err(bad(
            "Failed to parse body: an operation must be an object".into()
        ));
    };
    let Some(kv) = Fields(map).object("KV")? else {
        return Ok(Err("Nacre runs KV operations only in transactions".into()));
    };
    let verb = kv.text("Verb")?;
    let key = kv.text("Key")?;
    let value = STANDARD
        .decode(kv.text("Value")?)
        .map_err(|e| bad(format!("Failed to parse body: illegal base64 data: {e}")))?;
    if value.len() > KV_VALUE_BYTES {
        return Err(ConsulError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Value for key {key:?} is too large ({} > {KV_VALUE_BYTES} bytes)",
                value.len()
            ),
        ));
    }
    let (flags, index, session) = (
        kv.number("Flags")?,
        kv.number("Index")?,
        kv.text("Session")?,
    );
    Ok(Ok(match verb.as_str() {
        "set" => TxnOp::Set { key, value, flags },
        "cas" => TxnOp::Cas {
            key,
            value,
            flags,
            index,
        },
        "lock" => TxnOp::Lock {
            key,
            value,
            flags,
            session,
        },
        "unlock" => TxnOp::Unlock {
            key,
            value,
            flags,
            session,
        },
        "get" => TxnOp::Get { key },
        "get-tree" => TxnOp::GetTree { key },
        "check-index" => TxnOp::CheckIndex { key, index },
        "check-session" => TxnOp::CheckSession { key, session },
        "check-not-exists" => TxnOp::CheckNotExists { key },
        "delete" => TxnOp::Delete { key },
        "delete-tree" => TxnOp::DeleteTree { key },
        "delete-cas" => TxnOp::DeleteCas { key, index },
        other => return Ok(Err(format!("unknown KV verb {other:?}"))),
    }))
}
