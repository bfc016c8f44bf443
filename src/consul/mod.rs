//! The Consul HTTP API, on its own port (`server.consul-port`, 8500): a thin translator onto the
//! same core as the Nacos adapter. So far: KV with blocking queries and locks, sessions, and the
//! status/agent routes clients probe first. Errors are Consul's: plain text with its status codes.

pub mod acl;
pub mod agent;
pub mod catalog;
mod fields;
pub mod kv;
pub mod probes;
pub mod session;
pub mod txn;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, put};
use serde_json::json;

use crate::core::Core;

/// The Consul release whose HTTP API this adapter speaks, as `/v1/agent/self` reports it:
/// clients and tools compare it against the features they need, so it is a Consul version,
/// not Nacre's (which `Meta.nacre-version` carries).
pub const CONSUL_VERSION: &str = "1.21.0";
use crate::core::acl::Authorizer;

#[derive(Clone)]
pub struct ConsulState {
    pub core: Arc<Core>,
    /// This node's address as Consul clients see it (`/v1/status/leader`).
    pub address: String,
}

/// Every route of the Consul port: what the router serves and what the access tests enumerate.
pub fn routes() -> Vec<(&'static str, MethodRouter<ConsulState>)> {
    vec![
        ("/v1/kv/", get(kv::get).put(kv::put).delete(kv::delete)),
        (
            "/v1/kv/{*key}",
            get(kv::get).put(kv::put).delete(kv::delete),
        ),
        ("/v1/txn", put(txn::txn)),
        ("/v1/session/create", put(session::create)),
        ("/v1/session/destroy/{id}", put(session::destroy)),
        ("/v1/session/info/{id}", get(session::info)),
        ("/v1/session/list", get(session::list)),
        ("/v1/session/renew/{id}", put(session::renew)),
        ("/v1/agent/service/register", put(agent::register)),
        ("/v1/agent/service/deregister/{id}", put(agent::deregister)),
        ("/v1/agent/services", get(agent::services)),
        ("/v1/agent/service/{id}", get(agent::service)),
        ("/v1/agent/checks", get(agent::checks)),
        ("/v1/agent/check/update/{id}", put(agent::update)),
        ("/v1/agent/check/{verb}/{id}", put(agent::ttl)),
        ("/v1/health/service/{name}", get(catalog::health_service)),
        ("/v1/health/checks/{name}", get(catalog::health_checks)),
        ("/v1/health/state/{state}", get(catalog::health_state)),
        ("/v1/catalog/services", get(catalog::catalog_services)),
        ("/v1/catalog/service/{name}", get(catalog::catalog_service)),
        ("/v1/catalog/datacenters", get(catalog::datacenters)),
        ("/v1/catalog/register", put(catalog::register)),
        ("/v1/catalog/deregister", put(catalog::deregister)),
        ("/v1/catalog/nodes", get(catalog::nodes)),
        ("/v1/catalog/node/{name}", get(catalog::node)),
        ("/v1/acl/bootstrap", put(acl::bootstrap)),
        ("/v1/acl/policy", put(acl::create_policy)),
        ("/v1/acl/policy/name/{name}", get(acl::read_policy_by_name)),
        (
            "/v1/acl/policy/{id}",
            get(acl::read_policy)
                .put(acl::update_policy)
                .delete(acl::delete_policy),
        ),
        ("/v1/acl/policies", get(acl::list_policies)),
        ("/v1/acl/token", put(acl::create_token)),
        ("/v1/acl/token/self", get(acl::read_self)),
        (
            "/v1/acl/token/{id}",
            get(acl::read_token)
                .put(acl::update_token)
                .delete(acl::delete_token),
        ),
        ("/v1/acl/tokens", get(acl::list_tokens)),
        ("/v1/status/leader", get(leader)),
        ("/v1/status/peers", get(peers)),
        ("/v1/agent/self", get(agent_self)),
    ]
}

pub fn router(core: Core, address: String) -> Router {
    let state = ConsulState {
        core: Arc::new(core),
        address,
    };
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .route_layer(axum::middleware::from_fn(read_body))
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not found") })
        // Values are limited to 512 KiB; leave room for the request around them.
        .layer(DefaultBodyLimit::max(kv::MAX_BODY))
        .with_state(state)
}

/// Reads every request body before its handler runs: most Consul routes ignore their body, and
/// bytes left unread would spoil the next request on a keep-alive connection.
async fn read_body(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, kv::MAX_BODY).await {
        Ok(bytes) => {
            next.run(axum::extract::Request::from_parts(parts, bytes.into()))
                .await
        }
        Err(_) => (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").into_response(),
    }
}

/// ACLs: the request's token (`?token=`, `X-Consul-Token`, or `Authorization: Bearer`, in that
/// order; none is the anonymous token) becomes the [`Authorizer`] every handler checks against.
/// An unknown secret is refused here. With access control off, everything is allowed.
async fn guard(
    State(s): State<ConsulState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let authorizer = if s.core.access.enabled {
        let headers = request.headers();
        let token = Query::parse(request.uri().query())
            .get("token")
            .map(str::to_owned)
            .or_else(|| {
                headers
                    .get("x-consul-token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .or_else(|| {
                headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .and_then(|v| v.split_whitespace().next())
                    .map(str::to_owned)
            });
        let resolved = match &token {
            Some(t) if s.core.access.is_consul_management_token(t) => {
                Some(Authorizer::management("management"))
            }
            _ => s
                .core
                .model
                .read()
                .acl
                .resolve(token.as_deref(), chrono::Utc::now()),
        };
        let Some(authorizer) = resolved else {
            return (StatusCode::FORBIDDEN, "ACL not found").into_response();
        };
        authorizer
    } else {
        Authorizer::management("")
    };
    request.extensions_mut().insert(authorizer);
    next.run(request).await
}

/// What the request's token may do (placed by the guard; nothing if it is missing).
pub fn authorizer(request: &axum::extract::Request) -> Authorizer {
    request
        .extensions()
        .get::<Authorizer>()
        .cloned()
        .unwrap_or_else(|| Authorizer::denying(""))
}

/// A Consul error: plain text and a status.
pub struct ConsulError(pub StatusCode, pub String);

impl ConsulError {
    /// An ACL refusal: 403 with Consul's "Permission denied: ..." text.
    pub fn denied(message: String) -> Self {
        Self(StatusCode::FORBIDDEN, message)
    }
}

impl IntoResponse for ConsulError {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

impl From<crate::core::CoreError> for ConsulError {
    fn from(e: crate::core::CoreError) -> Self {
        use crate::core::CoreError::*;
        match e {
            Invalid { message, .. } => Self(StatusCode::BAD_REQUEST, message),
            NamespaceNotFound(m) | NotFound(m) => Self(StatusCode::NOT_FOUND, m),
            Conflict(m) => Self(StatusCode::CONFLICT, m),
            Unavailable(m) => Self(StatusCode::INTERNAL_SERVER_ERROR, m),
        }
    }
}

/// Query parameters as Consul reads them: a parameter counts as set when present, with or
/// without a value; given twice, the first counts (Go's `url.Values.Get`).
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or(""))
                .unwrap_or_default(),
        )
    }

    pub fn has(&self, name: &str) -> bool {
        self.present(name).is_some()
    }

    /// The value of a present parameter, empty included.
    pub fn present(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty value: what Consul's `query.Get(name) != ""` reads (`index`, `wait`, ...).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.present(name).filter(|v| !v.is_empty())
    }

    /// A number read as Consul's blocking parameters read it: absent or empty is none.
    pub fn number(&self, name: &str) -> Result<Option<u64>, ConsulError> {
        self.get(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ConsulError(StatusCode::BAD_REQUEST, format!("Invalid {name}: {v}"))
                })
            })
            .transpose()
    }

    /// A number read as Consul's KV writes read `cas` and `flags`: present means given, and an
    /// empty or malformed value fails the request (Consul's own words and status, 500), so
    /// `?cas=` is never an unconditional write.
    pub fn number_if_present(&self, name: &str) -> Result<Option<u64>, ConsulError> {
        self.present(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ConsulError(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("strconv.ParseUint: parsing {v:?}: invalid syntax"),
                    )
                })
            })
            .transpose()
    }

    /// `?wait=`: Consul's durations (`10s`, `5m`, `1h`), default 5 min, at most 10 min.
    pub fn wait(&self) -> Result<Duration, ConsulError> {
        match self.get("wait") {
            None => Ok(Duration::from_secs(300)),
            Some(v) => {
                let d = humantime::parse_duration(v).map_err(|_| {
                    ConsulError(StatusCode::BAD_REQUEST, "Invalid wait time".into())
                })?;
                Ok(d.min(crate::core::limits::BLOCKING_WAIT_MAX))
            }
        }
    }
}

/// Consul's blocking query: waits until `current()` passes `index` (checked when a `relevant`
/// change is applied) or `wait` runs out, plus up to wait/16 of jitter as Consul adds.
pub async fn block_until(
    core: &crate::core::Core,
    index: u64,
    wait: Duration,
    relevant: impl Fn(&crate::core::state::Change) -> bool,
    current: impl Fn() -> u64,
) {
    use tokio::sync::broadcast::error::RecvError;
    // Subscribe before the first look, so no change slips in between.
    let mut feed = core.model.subscribe();
    if current() > index {
        return;
    }
    let jitter = Duration::from_millis(
        uuid::Uuid::new_v4().as_u128() as u64 % (wait.as_millis() as u64 / 16 + 1),
    );
    let deadline = tokio::time::sleep(wait + jitter);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            received = feed.recv() => {
                let check = match received {
                    Ok(applied) => relevant(&applied.change),
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => return,
                };
                if check && current() > index {
                    return;
                }
            }
        }
    }
}

/// The headers every blocking-capable read carries, 404s included.
pub fn index_headers(headers: &mut HeaderMap, index: u64) {
    headers.insert("x-consul-index", HeaderValue::from(index.max(1)));
    headers.insert("x-consul-knownleader", HeaderValue::from_static("true"));
    headers.insert("x-consul-lastcontact", HeaderValue::from_static("0"));
}

impl ConsulState {
    /// This node's datacenter (`node.datacenter`).
    /// This node's host, as services registered without an address get it.
    pub fn host(&self) -> String {
        self.address
            .rsplit_once(':')
            .map_or("127.0.0.1".to_owned(), |(h, _)| h.to_owned())
    }

    pub fn datacenter(&self) -> String {
        let dc = &self.core.locality.datacenter;
        if dc.is_empty() {
            "dc1".into()
        } else {
            dc.clone()
        }
    }
}

async fn leader(State(s): State<ConsulState>) -> Response {
    axum::Json(s.address).into_response()
}

async fn peers(State(s): State<ConsulState>) -> Response {
    let mut peers: Vec<String> = s.core.nodes().into_iter().map(|n| n.address).collect();
    if peers.is_empty() {
        peers.push(s.address.clone());
    }
    axum::Json(peers).into_response()
}

async fn agent_self(
    State(s): State<ConsulState>,
    request: axum::extract::Request,
) -> Result<Response, ConsulError> {
    authorizer(&request)
        .check(
            crate::core::acl::Scope::Agent,
            &crate::settings::hostname(),
            crate::core::acl::Need::Read,
        )
        .map_err(ConsulError::denied)?;
    let locality = &s.core.locality;
    let datacenter = if locality.datacenter.is_empty() {
        "dc1"
    } else {
        locality.datacenter.as_str()
    };
    let node = crate::settings::hostname();
    Ok(axum::Json(json!({
        "Config": {
            "Datacenter": datacenter, "NodeName": node, "NodeID": "", "Revision": crate::COMMIT,
            "Server": true, "Version": CONSUL_VERSION,
        },
        "DebugConfig": {"Datacenter": datacenter, "NodeName": node},
        "Member": {"Name": node, "Addr": s.address, "Port": 8301, "Tags": {"dc": datacenter, "role": "consul"}, "Status": 1},
        "Meta": {"nacre-version": crate::VERSION},
    }))
    .into_response())
}
