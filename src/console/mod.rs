//! The web console: its assets (built from `console/`, embedded in the binary) and the read
//! endpoints only it needed — the live event feed, time travel, who listens and subscribes
//! across nodes, the cluster's state — plus the Consul API on the console's own origin.
//!
//! Everything the console does goes through public routes, listed in [`routes`] (part of the
//! Nacos port's `routes()`, so the access tests enumerate them). Access decisions made here are
//! the per-item filters of [`access`]; the route-level decision stays the Nacos guard's.

pub mod access;
pub mod assets;
pub mod catalog;
pub mod cluster;
pub mod consul;
pub mod events;
pub mod peers;
pub mod travel;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, get, on};
use serde_json::json;

use crate::core::configs::ConfigKey;
use crate::nacos::AppState;
use crate::nacos::guard::Rule::{Config, Delegated, Open, Service, Services, SignedIn, Timeline};
use crate::nacos::guard::{Route, route};

/// The console's routes, served on the Nacos port behind the Nacos guard, each with its rule.
/// Open: the console's files (the login page is among them) and what it needs to know before a
/// login. The Consul API mount is delegated: Consul's ACLs decide exactly as on the Consul port.
pub fn routes() -> Vec<Route<AppState>> {
    vec![
        route("/", Open, get(assets::index)),
        route("/nacos", Open, get(assets::to_nacos)),
        route("/nacos/", Open, get(assets::index)),
        route("/assets/{*path}", Open, get(assets::file)),
        route("/nacos/assets/{*path}", Open, get(assets::file)),
        route("/nacre/v1/console", Open, get(info)),
        route("/nacre/v1/consul/{*path}", Delegated, consul_methods()),
        // The feed is filtered event by event (`access::Viewer`).
        route("/nacre/v1/events/stream", SignedIn, get(events::stream)),
        route("/nacre/v1/events/{seq}", SignedIn, get(events::one)),
        route("/nacre/v1/cluster", SignedIn, get(cluster::cluster)),
        route("/nacre/v1/configs/at", Config, get(travel::config_at)),
        route("/nacre/v1/services/at", Service, get(travel::service_at)),
        route("/nacre/v1/timeline", Timeline, get(travel::timeline)),
        route(
            "/nacre/v1/configs/listeners",
            Config,
            get(catalog::listeners),
        ),
        route(
            "/nacos/v1/cs/configs/listener",
            Config,
            get(catalog::nacos_listeners),
        ),
        route(
            "/nacos/v1/ns/service/subscribers",
            Service,
            get(catalog::subscribers),
        ),
        route(
            "/nacos/v1/ns/catalog/services",
            Services,
            get(catalog::services),
        ),
        route(
            "/nacos/v1/ns/catalog/instances",
            Service,
            get(catalog::instances),
        ),
    ]
}

/// Every method the Consul API answers, passed through to it.
fn consul_methods() -> MethodRouter<AppState> {
    let methods = [
        MethodFilter::PUT,
        MethodFilter::POST,
        MethodFilter::DELETE,
        MethodFilter::HEAD,
        MethodFilter::PATCH,
        MethodFilter::OPTIONS,
    ];
    on(
        methods
            .into_iter()
            .fold(MethodFilter::GET, MethodFilter::or),
        consul::proxy,
    )
}

/// What the console needs from `nacre serve`, given once at start.
pub struct Setup {
    pub node: String,
    pub js: async_nats::jetstream::Context,
    pub stream_name: String,
    pub replicas: usize,
    pub tracing: bool,
}

/// What the console gathers from the adapters: one per process, shared through `Core`.
#[derive(Default)]
pub struct Hub {
    setup: OnceLock<Setup>,
    consul: OnceLock<(u16, axum::Router)>,
    grpc: OnceLock<Arc<crate::nacos::grpc::connections::Connections>>,
    udp: OnceLock<Arc<crate::nacos::udp_push::UdpPush>>,
    /// HTTP long-polling listeners waiting on this node, by an id of their own.
    http_listeners: Mutex<HashMap<u64, HttpListener>>,
    next_listener: AtomicU64,
    /// The last backup this node knows of (set by whatever makes backups), shown as is.
    last_backup: RwLock<Option<serde_json::Value>>,
    /// Nodes that answered a question lately: a question waits for them too, so a node that
    /// NATS presence does not list yet (or any more) is not skipped.
    peers: Mutex<HashMap<String, std::time::Instant>>,
    /// Set when the node stops: open event streams end, so a graceful shutdown does not wait
    /// for browsers to close them.
    stopping: tokio::sync::watch::Sender<bool>,
}

#[derive(Debug, Clone)]
struct HttpListener {
    ip: String,
    keys: Vec<(ConfigKey, String)>,
}

/// Keeps a long-polling listener visible while it waits.
pub struct Listening<'a> {
    hub: &'a Hub,
    id: u64,
}

impl Drop for Listening<'_> {
    fn drop(&mut self) {
        lock(&self.hub.http_listeners).remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    pub fn setup(&self, setup: Setup) {
        let _ = self.setup.set(setup);
    }

    pub fn attach_consul(&self, port: u16, router: axum::Router) {
        let _ = self.consul.set((port, router));
    }

    pub fn attach_grpc(&self, connections: Arc<crate::nacos::grpc::connections::Connections>) {
        let _ = self.grpc.set(connections);
    }

    /// The node's UDP pusher (the Nacos router's), shared so subscriber lists can be read.
    pub fn udp_push(&self) -> Arc<crate::nacos::udp_push::UdpPush> {
        self.udp.get_or_init(Default::default).clone()
    }

    /// Records a long-polling listener (its address, and each key with the md5 it holds)
    /// until the returned guard drops.
    pub fn http_listening(&self, ip: String, keys: Vec<(ConfigKey, String)>) -> Listening<'_> {
        let id = self.next_listener.fetch_add(1, Ordering::Relaxed);
        lock(&self.http_listeners).insert(id, HttpListener { ip, keys });
        Listening { hub: self, id }
    }

    /// Ends every open event stream (the node is stopping).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Records the last backup, for the cluster page (`{time, ...}` as the backup tells it).
    pub fn record_backup(&self, backup: serde_json::Value) {
        if let Ok(mut last) = self.last_backup.write() {
            *last = Some(backup);
        }
    }

    pub fn last_backup(&self) -> Option<serde_json::Value> {
        self.last_backup.read().ok().and_then(|b| b.clone())
    }

    fn setup_ref(&self) -> Option<&Setup> {
        self.setup.get()
    }

    fn node_name(&self) -> String {
        self.setup
            .get()
            .map_or_else(|| "unknown".to_owned(), |s| s.node.clone())
    }
}

/// An error of the `/nacre/v1` console routes: `{"error": message}` with its status, as the
/// package API answers.
#[derive(Debug)]
pub struct ConsoleError(pub StatusCode, pub String);

impl ConsoleError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self(StatusCode::NOT_FOUND, message.into())
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self(StatusCode::SERVICE_UNAVAILABLE, message.into())
    }

    pub fn forbidden() -> Self {
        Self(StatusCode::FORBIDDEN, "authorization failed!".into())
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"error": self.1}))).into_response()
    }
}

impl From<crate::core::CoreError> for ConsoleError {
    fn from(e: crate::core::CoreError) -> Self {
        use crate::core::CoreError as E;
        let status = match &e {
            E::Invalid { .. } | E::NamespaceNotFound(_) => StatusCode::BAD_REQUEST,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Conflict(_) => StatusCode::CONFLICT,
            E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self(status, e.to_string())
    }
}

/// `GET /nacre/v1/console`: what the console needs before anything else (open: it decides
/// whether to show the login).
async fn info(State(app): State<AppState>) -> Response {
    let hub = &app.core.console;
    let consul = hub.consul.get().map(|(port, _)| *port);
    axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "node": hub.node_name(),
        "authEnabled": app.core.access.enabled,
        "consul": {"enabled": consul.is_some(), "port": consul.unwrap_or(0), "mount": "/nacre/v1/consul"},
        "tracing": hub.setup_ref().is_some_and(|s| s.tracing),
        "maxContentBytes": app.core.limits.max_content_bytes,
    }))
    .into_response()
}
