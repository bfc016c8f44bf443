//! `/v1/kv/<key>`: GET (recurse, keys, separator, raw, blocking index/wait), PUT (flags, cas),
//! DELETE (recurse, cas).

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ConsulError, ConsulState, Query, authorizer, block_until, index_headers};
use crate::core::acl::{Need, Scope};
use crate::core::kv::{KvEntry, LockOp};
use crate::core::limits::KV_VALUE_BYTES;
use crate::core::state::Change;
use crate::core::{Actor, Core};

/// Largest request body: a 512 KiB value.
pub const MAX_BODY: usize = KV_VALUE_BYTES;

/// The key a request names. A key that is not UTF-8 once decoded is refused: decoding it
/// lossily would make `c%FF` and `c%FE` one key.
fn key_of(request: &Request) -> Result<String, ConsulError> {
    let path = request.uri().path();
    let raw = path
        .strip_prefix("/v1/kv/")
        .or_else(|| path.strip_prefix("/v1/kv"))
        .unwrap_or("");
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| {
            ConsulError(
                StatusCode::BAD_REQUEST,
                "Invalid key: it is not UTF-8 once decoded".into(),
            )
        })
}

pub(super) fn entry_json(e: &KvEntry) -> Value {
    let mut v = json!({
        "LockIndex": e.lock_index, "Key": e.key, "Flags": e.flags,
        "Value": if e.value.is_empty() { Value::Null } else { Value::from(e.value.clone()) },
        "CreateIndex": e.create_index, "ModifyIndex": e.modify_index,
    });
    // Consul shows Session only while the key is locked.
    if let (Some(session), Some(map)) = (&e.session, v.as_object_mut()) {
        map.insert("Session".into(), Value::from(session.clone()));
    }
    v
}

/// The resource's index, as Consul's state store computes it: a present key's is the sequence of
/// its last change; a prefix's is the highest sequence of any event under it, deletions included
/// (Consul's entries and tombstones); a missing key, or a prefix nothing was ever written under,
/// has the whole KV table's index. A blocking query on those returns at the next KV write, as
/// Consul's does for writes near it: Spring Cloud Consul watches its config contexts one after
/// the other, so an empty one must not hold the others up for a whole wait.
fn resource_index(core: &Core, key: &str, prefix: bool) -> u64 {
    let state = core.model.read();
    let own = if prefix {
        state
            .kv
            .seqs
            .range(key.to_owned()..)
            .take_while(|(k, _)| k.starts_with(key))
            .map(|(_, s)| *s)
            .max()
    } else if state.kv.entries.contains_key(key) {
        state.kv.seqs.get(key).copied()
    } else {
        None
    };
    own.filter(|s| *s > 0).unwrap_or(state.kv.index)
}

pub async fn get(State(s): State<ConsulState>, request: Request) -> Result<Response, ConsulError> {
    let key = key_of(&request)?;
    let q = Query::parse(request.uri().query());
    let keys_only = q.has("keys");
    let prefix = q.has("recurse") || keys_only;
    let acl = authorizer(&request);
    if !prefix {
        acl.check(Scope::Key, &key, Need::Read)
            .map_err(ConsulError::denied)?;
    }
    // A listing shows only the keys the token may read.
    let readable = |e: &KvEntry| acl.allows(Scope::Key, &e.key, Need::Read);
    if let Some(index) = q.number("index")?.filter(|i| *i > 0) {
        // Any KV write moves the table's index, which a missing key or an empty prefix answers
        // with; `block_until` returns only once the resource's own index has passed the client's.
        let relevant = |c: &Change| matches!(c, Change::Kv(_));
        block_until(&s.core, index, q.wait()?, relevant, || {
            resource_index(&s.core, &key, prefix)
        })
        .await;
    }
    let index = resource_index(&s.core, &key, prefix);
    let mut response = if keys_only {
        let separator = q.get("separator");
        let mut keys: Vec<String> = Vec::new();
        for e in s.core.kv_list(&key).iter().filter(|&e| readable(e)) {
            let rest = e.key.strip_prefix(key.as_str()).unwrap_or_default();
            let shown = match separator
                .and_then(|sep| rest.find(sep).map(|at| at + sep.len()))
                .and_then(|end| rest.get(..end))
            {
                Some(head) => format!("{key}{head}"),
                None => e.key.clone(),
            };
            if keys.last() != Some(&shown) {
                keys.push(shown);
            }
        }
        if keys.is_empty() {
            StatusCode::NOT_FOUND.into_response()
        } else {
            axum::Json(keys).into_response()
        }
    } else if prefix {
        let mut entries = s.core.kv_list(&key);
        entries.retain(readable);
        if entries.is_empty() {
            StatusCode::NOT_FOUND.into_response()
        } else {
            axum::Json(entries.iter().map(entry_json).collect::<Vec<_>>()).into_response()
        }
    } else {
        match s.core.kv_get(&key) {
            None => StatusCode::NOT_FOUND.into_response(),
            Some(e) if q.has("raw") => (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                e.raw(),
            )
                .into_response(),
            Some(e) => axum::Json(vec![entry_json(&e)]).into_response(),
        }
    };
    index_headers(response.headers_mut(), index);
    Ok(response)
}

/// Who made a change: the client's address (Consul has no user names).
pub(super) fn actor(request: &Request) -> Actor {
    Actor {
        user: String::new(),
        ip: crate::client_addr::ClientAddr::of(request).text(),
    }
}

pub async fn put(State(s): State<ConsulState>, request: Request) -> Result<Response, ConsulError> {
    let key = key_of(&request)?;
    let q = Query::parse(request.uri().query());
    // As Consul: cas, acquire and release do not compose; present-but-empty still counts.
    if ["cas", "acquire", "release"]
        .iter()
        .filter(|f| q.has(f))
        .count()
        > 1
    {
        return Err(ConsulError(
            StatusCode::BAD_REQUEST,
            "Conflicting flags: cas, acquire and release do not compose".into(),
        ));
    }
    let lock = match (q.present("acquire"), q.present("release")) {
        (Some(""), _) | (_, Some("")) => {
            return Err(ConsulError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "missing session".into(),
            ));
        }
        (Some(id), _) => Some(LockOp::Acquire(id.to_owned())),
        (_, Some(id)) => Some(LockOp::Release(id.to_owned())),
        (None, None) => None,
    };
    let flags = q.number_if_present("flags")?.unwrap_or(0);
    let cas = q.number_if_present("cas")?;
    authorizer(&request)
        .check(Scope::Key, &key, Need::Write)
        .map_err(ConsulError::denied)?;
    let actor = actor(&request);
    let body: Bytes = axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| {
            ConsulError(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body too large, max size: {KV_VALUE_BYTES} bytes"),
            )
        })?;
    let done = s.core.kv_put(&actor, &key, &body, flags, cas, lock).await?;
    Ok(axum::Json(done).into_response())
}

pub async fn delete(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    let key = key_of(&request)?;
    let q = Query::parse(request.uri().query());
    let actor = actor(&request);
    let acl = authorizer(&request);
    if q.has("recurse") && q.has("cas") {
        return Err(ConsulError(
            StatusCode::BAD_REQUEST,
            "Conflicting flags: recurse and cas".into(),
        ));
    }
    if q.has("recurse") {
        acl.check_key_write_prefix(&key)
            .map_err(ConsulError::denied)?;
        s.core.kv_delete_tree(&actor, &key).await?;
        return Ok(axum::Json(true).into_response());
    }
    let cas = q.number_if_present("cas")?;
    if cas == Some(0) {
        return Err(ConsulError(
            StatusCode::BAD_REQUEST,
            "Invalid cas: a delete's cas must be greater than 0".into(),
        ));
    }
    acl.check(Scope::Key, &key, Need::Write)
        .map_err(ConsulError::denied)?;
    Ok(axum::Json(s.core.kv_delete(&actor, &key, cas).await?).into_response())
}
