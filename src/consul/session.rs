//! `/v1/session/create|destroy|info|list|renew`.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::kv::actor;
use super::{ConsulError, ConsulState, authorizer, index_headers};
use crate::core::acl::{Need, Scope};
use crate::core::event::SessionData;
use crate::core::sessions::SessionEntry;

fn session_json(s: &SessionEntry) -> Value {
    json!({
        "ID": s.data.id, "Name": s.data.name, "Node": s.data.node, "LockDelay": s.data.lock_delay_ns,
        "Behavior": s.data.behavior, "TTL": s.data.ttl, "NodeChecks": ["serfHealth"], "ServiceChecks": null,
        "CreateIndex": s.create_index, "ModifyIndex": s.modify_index,
    })
}

/// The session index: the highest sequence among sessions (never 0 in the header).
fn index(s: &ConsulState) -> u64 {
    s.core
        .sessions()
        .iter()
        .map(|x| x.modify_index)
        .max()
        .unwrap_or(0)
        .max(s.core.model.applied().min(1))
}

fn with_index(s: &ConsulState, body: Value) -> Response {
    let mut response = axum::Json(body).into_response();
    index_headers(response.headers_mut(), index(s));
    response
}

pub async fn create(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    let actor = actor(&request);
    let authorizer = authorizer(&request);
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .map_err(|_| ConsulError(StatusCode::BAD_REQUEST, "Request decode failed".into()))?;
    let fields: serde_json::Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ConsulError(
                StatusCode::BAD_REQUEST,
                format!("Request decode failed: {e}"),
            )
        })?
    };
    // Keys arrive in any case from clients.
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let text = |name: &str| -> Result<String, ConsulError> {
        match field(name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(ConsulError(
                StatusCode::BAD_REQUEST,
                format!("Request decode failed: {name} must be a string, not {other}"),
            )),
        }
    };
    let lock_delay = match field("LockDelay") {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => humantime::parse_duration(s)
            .map_err(|_| {
                ConsulError(
                    StatusCode::BAD_REQUEST,
                    format!("Request decode failed: invalid LockDelay {s}"),
                )
            })?
            .as_nanos() as u64,
        _ => 15_000_000_000,
    };
    let node = text("Node")?;
    let node = if node.is_empty() {
        crate::settings::hostname()
    } else {
        node
    };
    authorizer
        .check(Scope::Session, &node, Need::Write)
        .map_err(ConsulError::denied)?;
    let data = SessionData {
        id: String::new(),
        name: text("Name")?,
        node,
        ttl: text("TTL")?,
        behavior: text("Behavior")?,
        lock_delay_ns: lock_delay,
    };
    let id = s.core.create_session(&actor, data).await?;
    Ok(axum::Json(json!({"ID": id})).into_response())
}

pub async fn destroy(
    State(s): State<ConsulState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    may_write(&s, &request, &id)?;
    s.core
        .destroy_session(&actor(&request), &id, "client")
        .await?;
    Ok(axum::Json(true).into_response())
}

/// A session's node must be writable to end or renew it; for an unknown session, this node
/// (so whether a refusal comes does not tell what exists).
fn may_write(s: &ConsulState, request: &Request, id: &str) -> Result<(), ConsulError> {
    let node = s
        .core
        .session(id)
        .map_or_else(crate::settings::hostname, |entry| entry.data.node);
    authorizer(request)
        .check(Scope::Session, &node, Need::Write)
        .map_err(ConsulError::denied)
}

/// Sessions show only where the token may read sessions of their node.
fn readable(request: &Request) -> impl Fn(&&SessionEntry) -> bool {
    let acl = authorizer(request);
    move |e| acl.allows(Scope::Session, &e.data.node, Need::Read)
}

pub async fn info(
    State(s): State<ConsulState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let found: Vec<Value> = s
        .core
        .session(&id)
        .iter()
        .filter(readable(&request))
        .map(session_json)
        .collect();
    with_index(&s, Value::from(found))
}

pub async fn list(State(s): State<ConsulState>, request: Request) -> Response {
    let all: Vec<Value> = s
        .core
        .sessions()
        .iter()
        .filter(readable(&request))
        .map(session_json)
        .collect();
    with_index(&s, Value::from(all))
}

pub async fn renew(
    State(s): State<ConsulState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    may_write(&s, &request, &id)?;
    match s.core.renew_session(&id).await {
        Some(entry) => Ok(with_index(&s, json!([session_json(&entry)]))),
        None => Err(ConsulError(
            StatusCode::NOT_FOUND,
            format!("Session id '{id}' not found"),
        )),
    }
}
