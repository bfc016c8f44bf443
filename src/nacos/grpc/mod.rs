//! The Nacos gRPC SDK protocol (HTTP port + 1000): a thin adapter over the core, as the HTTP
//! adapters are. `wire` reads and writes Nacos payloads, `connections` keeps what each SDK
//! connection owns, `config` and `naming` translate requests, and pushes come from the core's
//! change feed, the same one the HTTP listener follows.

pub mod config;
pub mod connections;
pub mod naming;
pub mod wire;

/// The generated protocol (the `nacre-nacos-proto` crate).
pub use nacre_nacos_proto as proto;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument as _;

use self::connections::{Connection, Connections};
use self::proto::Payload;
use self::proto::bi_request_stream_server::{BiRequestStream, BiRequestStreamServer};
use self::proto::request_server::{Request, RequestServer};
use self::wire::{Body, code};
use crate::core::auth::{Action, Reader, Resource};
use crate::core::configs::ConfigKey;
use crate::core::limits;
use crate::core::registry::ServiceKey;
use crate::core::state::Change;
use crate::core::{Actor, Core, CoreError};
use crate::nacos::target::{self, TargetError};

/// Largest message a client may send (configs are bounded far lower by `config.max-content-bytes`).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// A connection silent this long (SDKs send a health check every ~5 s when idle) is asked
/// whether it is still there (ClientDetectionRequest)...
const PROBE_AFTER: Duration = Duration::from_secs(10);
/// ...and one silent this long is gone.
const IDLE_LIMIT: Duration = Duration::from_secs(20);
/// How many pushes may wait for a slow client before further ones are dropped.
const PUSH_BUFFER: usize = 1024;

/// The request types this server handles; anything else is answered with NO_HANDLER. The
/// access tests enumerate it.
pub const HANDLED: &[&str] = &[
    "HealthCheckRequest",
    "ConfigQueryRequest",
    "ConfigPublishRequest",
    "ConfigRemoveRequest",
    "ConfigBatchListenRequest",
    "InstanceRequest",
    "PersistentInstanceRequest",
    "BatchInstanceRequest",
    "ServiceQueryRequest",
    "SubscribeServiceRequest",
    "ServiceListRequest",
];

/// What a request touches, parsed once from its body by the parser the HTTP adapter uses
/// (`nacos::target`); the access check and the handler both act on this value.
pub enum Target {
    /// Touches nothing (health checks).
    None,
    /// A type without a parser here: for admins only, never open by omission.
    Unscoped,
    Config(ConfigKey),
    /// A batch listen: each context's config, with the context.
    Configs(Vec<(ConfigKey, Body)>),
    Service(ServiceKey),
    /// A list of the services of a namespace (and group), answered filtered.
    Services {
        namespace: String,
        group: Option<String>,
    },
}

impl Target {
    fn parse(kind: &str, body: &Body) -> Result<Self, TargetError> {
        Ok(match kind {
            "ConfigQueryRequest" | "ConfigPublishRequest" | "ConfigRemoveRequest" => {
                Target::Config(target::config_key(body, "group")?)
            }
            "ConfigBatchListenRequest" => {
                let contexts = body.list("configListenContexts");
                if contexts.len() > limits::LISTEN_KEYS {
                    return Err(TargetError::Illegal(format!(
                        "{} configs in one listen; at most {}",
                        contexts.len(),
                        limits::LISTEN_KEYS
                    )));
                }
                Target::Configs(
                    contexts
                        .into_iter()
                        .map(|ctx| Ok((target::config_key(&ctx, "group")?, ctx)))
                        .collect::<Result<_, TargetError>>()?,
                )
            }
            "InstanceRequest"
            | "PersistentInstanceRequest"
            | "BatchInstanceRequest"
            | "ServiceQueryRequest"
            | "SubscribeServiceRequest" => Target::Service(target::service_key(body)?),
            "ServiceListRequest" => {
                let (namespace, group) = target::service_scope(body)?;
                Target::Services { namespace, group }
            }
            "HealthCheckRequest" => Target::None,
            _ => Target::Unscoped,
        })
    }
}

/// The response type Nacos answers a request type with (its handler's response class), and the
/// fields that class always writes (primitives and initialised lists). A request the filter
/// refuses, as access control does, is answered in this type, not as an ErrorResponse.
pub fn response_of(request: &str) -> (&'static str, serde_json::Value) {
    match request {
        "HealthCheckRequest" => ("HealthCheckResponse", json!({})),
        "ConfigQueryRequest" => (
            "ConfigQueryResponse",
            json!({"lastModified": 0, "beta": false}),
        ),
        "ConfigPublishRequest" => ("ConfigPublishResponse", json!({})),
        "ConfigRemoveRequest" => ("ConfigRemoveResponse", json!({})),
        "ConfigBatchListenRequest" => (
            "ConfigChangeBatchListenResponse",
            json!({"changedConfigs": []}),
        ),
        "InstanceRequest" | "PersistentInstanceRequest" => ("InstanceResponse", json!({})),
        "BatchInstanceRequest" => ("BatchInstanceResponse", json!({})),
        "ServiceQueryRequest" => ("QueryServiceResponse", json!({})),
        "SubscribeServiceRequest" => ("SubscribeServiceResponse", json!({})),
        "ServiceListRequest" => ("ServiceListResponse", json!({"count": 0})),
        _ => ("ErrorResponse", json!({})),
    }
}

#[derive(Clone)]
pub struct Grpc {
    pub core: Arc<Core>,
    pub connections: Arc<Connections>,
}

impl Grpc {
    pub fn new(core: Core) -> Self {
        Self {
            core: Arc::new(core),
            connections: Arc::default(),
        }
    }

    /// Serves until `shutdown` resolves; the push, keepalive and sweep tasks end with it.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), tonic::transport::Error> {
        let tasks = [
            tokio::spawn(self.clone().push_changes()),
            tokio::spawn(self.clone().keep_instances_alive()),
            tokio::spawn(self.clone().sweep_idle()),
        ];
        // Draining: tell every client to reconnect (elsewhere), then end their streams, so no
        // SDK waits out a timeout on a node that is going away.
        let connections = self.connections.clone();
        let shutdown = async move {
            shutdown.await;
            for conn in connections.all() {
                conn.send(wire::push(
                    "ConnectResetRequest",
                    connections.next_push_id(),
                    "internal",
                    json!({"serverIp": "", "serverPort": "", "connectionId": conn.id}),
                ));
                conn.disconnect();
            }
        };
        let result = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .add_service(
                RequestServer::new(self.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                BiRequestStreamServer::new(self.clone())
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await;
        for task in tasks {
            task.abort();
        }
        for conn in self.connections.all() {
            self.close(&conn).await;
        }
        result
    }

    /// Answers one unary request. Never fails: every problem is a Nacos error payload.
    async fn dispatch(&self, remote: Option<SocketAddr>, payload: Payload) -> Payload {
        let kind = wire::kind(&payload).to_owned();
        let span = tracing::info_span!(
            "grpc",
            otel.name = %kind,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.method = %kind,
            trace_id = tracing::field::Empty,
        );
        // SDKs carry request headers in the payload's metadata.
        if let Some(metadata) = &payload.metadata {
            crate::telemetry::continue_remote(&span, &metadata.headers);
        }
        self.answer(remote, kind, payload).instrument(span).await
    }

    async fn answer(&self, remote: Option<SocketAddr>, kind: String, payload: Payload) -> Payload {
        self.core.metrics.grpc_requests.inc();
        let Some(remote) = remote else {
            return wire::error(500, code::SERVER_ERROR, "no remote address");
        };
        if kind == "ServerCheckRequest" {
            let conn = self.connections.of(remote);
            conn.touch();
            return wire::ok(
                "ServerCheckResponse",
                json!({"connectionId": conn.id, "supportAbilityNegotiation": true}),
            );
        }
        if !HANDLED.contains(&kind.as_str()) {
            return wire::error(500, code::NO_HANDLER, "RequestHandler Not Found");
        }
        let Some(conn) = self.connections.get(&remote).filter(|c| c.is_set_up()) else {
            return wire::error(500, code::UN_REGISTER, "Connection is unregistered.");
        };
        conn.touch();
        let body = match Body::parse(&payload) {
            Ok(body) => body,
            Err(e) => return wire::error(500, code::BAD_GATEWAY, &e),
        };
        let token = payload
            .metadata
            .as_ref()
            .and_then(|m| m.headers.get("accessToken"))
            .map(String::as_str);
        let target = match Target::parse(&kind, &body) {
            Ok(target) => target,
            Err(e) => return wire::error(code::INVALID_PARAM, code::INVALID_PARAM, &e.to_string()),
        };
        let reader = match self.authorize(&kind, &target, token) {
            Ok(reader) => reader,
            // As Nacos' RemoteRequestAuthFilter: the handler's own response type, FAIL with
            // NO_RIGHT. (An ErrorResponse makes the Java SDK retry, then drop the connection.)
            Err(why) => {
                let (response, fields) = response_of(&kind);
                return wire::failed(response, 500, 403, why, fields);
            }
        };
        let actor = Actor {
            user: match &reader {
                Reader::User(user) => user.clone(),
                Reader::Anyone => String::new(),
            },
            ip: conn.client_ip.clone(),
        };
        match (kind.as_str(), target) {
            ("HealthCheckRequest", _) => wire::ok("HealthCheckResponse", json!({})),
            ("ConfigQueryRequest", Target::Config(key)) => config::query(self, &key),
            ("ConfigPublishRequest", Target::Config(key)) => {
                config::publish(self, &actor, key, &body, &conn).await
            }
            ("ConfigRemoveRequest", Target::Config(key)) => {
                config::remove(self, &actor, &key).await
            }
            ("ConfigBatchListenRequest", Target::Configs(items)) => {
                config::batch_listen(self, &body, items, &conn)
            }
            ("InstanceRequest", Target::Service(service)) => {
                naming::instance(self, &actor, service, &body, &conn, true).await
            }
            ("PersistentInstanceRequest", Target::Service(service)) => {
                naming::instance(self, &actor, service, &body, &conn, false).await
            }
            ("BatchInstanceRequest", Target::Service(service)) => {
                naming::batch(self, &actor, service, &body, &conn).await
            }
            ("ServiceQueryRequest", Target::Service(service)) => {
                naming::query(self, &service, &body)
            }
            ("SubscribeServiceRequest", Target::Service(service)) => {
                naming::subscribe(self, service, &body, &conn)
            }
            ("ServiceListRequest", Target::Services { namespace, group }) => {
                naming::list(self, &namespace, group.as_deref(), &reader, &body)
            }
            _ => wire::error(500, code::NO_HANDLER, "RequestHandler Not Found"),
        }
    }

    /// The access decision for a request's parsed target (token from the SDK's `accessToken`
    /// header); a refusal is answered as Nacos does, with 403 and this reason. Ok with who reads.
    fn authorize(
        &self,
        kind: &str,
        target: &Target,
        token: Option<&str>,
    ) -> Result<Reader, &'static str> {
        use crate::access::{Denied, Need, permits};
        if !self.core.access.enabled || matches!(target, Target::None) {
            return Ok(Reader::Anyone);
        }
        let config = |key: &ConfigKey, action| Need::Resource(Resource::of_config(key), action);
        let writes = matches!(
            kind,
            "ConfigPublishRequest"
                | "ConfigRemoveRequest"
                | "InstanceRequest"
                | "PersistentInstanceRequest"
                | "BatchInstanceRequest"
        );
        let action = if writes { Action::Write } else { Action::Read };
        let needs: Vec<Need> = match target {
            Target::None => vec![],
            Target::Unscoped => vec![Need::Admin],
            Target::Config(key) => vec![config(key, action)],
            Target::Configs(items) => items
                .iter()
                .map(|(key, _)| config(key, Action::Read))
                .collect(),
            Target::Service(service) => {
                vec![Need::Resource(Resource::of_service(service), action)]
            }
            Target::Services { namespace, .. } => vec![Need::Enter(namespace.clone())],
        };
        // Decided under the read lock (no await here): no copy of the auth state per request.
        let state = self.core.model.read();
        let user = match self.core.access.authenticate(&state.auth, token) {
            Ok(user) => user,
            Err(Denied::Unauthenticated(why)) => return Err(why),
            Err(Denied::Forbidden) => return Err("authorization failed!"),
        };
        if needs.iter().all(|need| permits(&state.auth, &user, need)) {
            Ok(Reader::User(user))
        } else {
            Err("authorization failed!")
        }
    }

    /// Releases what a closed connection owned: its ephemeral instances are deregistered (one
    /// event each, by this node only, which alone held the connection).
    async fn close(&self, conn: &Connection) {
        conn.disconnect();
        let actor = Actor {
            user: "nacre-grpc".into(),
            ip: conn.client_ip.clone(),
        };
        for (service, key) in conn.owned_instances() {
            match self
                .core
                .deregister_instance(&actor, &service, &key, "connection closed")
                .await
            {
                Ok(_) | Err(CoreError::NotFound(_)) => {}
                Err(e) => {
                    tracing::warn!(error = %e, connection = %conn.id, "cannot release an instance; liveness will expire it")
                }
            }
        }
        let metrics = &self.core.metrics;
        metrics
            .grpc_connections
            .set(self.connections.count() as i64);
        metrics
            .subscribers
            .dec_by(conn.subscriptions().len() as i64);
        metrics.listeners.dec_by(conn.listens().len() as i64);
    }

    /// Pushes each applied change to the connections listening to or subscribed to it.
    async fn push_changes(self) {
        let mut feed = self.core.model.subscribe();
        loop {
            match feed.recv().await {
                Ok(applied) => {
                    let name = match &applied.change {
                        Change::Config(_) => "push ConfigChangeNotifyRequest",
                        Change::Service(_) => "push NotifySubscriberRequest",
                        _ => continue,
                    };
                    let span = tracing::info_span!(
                        "push",
                        otel.name = name,
                        trace_id = tracing::field::Empty
                    );
                    crate::telemetry::continue_event(&span, applied.trace.as_deref());
                    let _entered = span.enter();
                    match &applied.change {
                        Change::Config(key) => config::notify(&self, key),
                        Change::Service(key) => naming::notify(&self, key),
                        _ => {}
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Changes were missed: tell everyone everything they follow.
                    for conn in self.connections.all() {
                        for (key, _) in conn.listens() {
                            config::notify(&self, &key);
                        }
                        for service in conn.subscriptions() {
                            naming::notify(&self, &service);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Beats for the ephemeral instances of live connections, so they stay healthy while their
    /// connection lives (and expire through liveness if this node dies with it).
    async fn keep_instances_alive(self) {
        let mut tick = tokio::time::interval(self.core.timeouts.beat_interval);
        loop {
            tick.tick().await;
            for conn in self.connections.all() {
                for (service, key) in conn.owned_instances() {
                    self.core.record_beat(&service, &key).await;
                }
            }
        }
    }

    /// Closes connections that stopped answering.
    async fn sweep_idle(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            for conn in self.connections.all() {
                let idle = conn.idle_for();
                if idle > IDLE_LIMIT {
                    tracing::info!(connection = %conn.id, "closing a silent gRPC connection");
                    self.forget(&conn).await;
                } else if idle > PROBE_AFTER {
                    // Its answer (any response on the stream) counts as activity.
                    conn.send(wire::push(
                        "ClientDetectionRequest",
                        self.next_push_id(),
                        "internal",
                        json!({}),
                    ));
                }
            }
        }
    }

    async fn forget(&self, conn: &Connection) {
        if let Some(conn) = self.connections.remove_id(&conn.id) {
            self.close(&conn).await;
        }
    }

    fn next_push_id(&self) -> u64 {
        self.connections.next_push_id()
    }
}

#[tonic::async_trait]
impl Request for Grpc {
    async fn request(
        &self,
        request: tonic::Request<Payload>,
    ) -> Result<tonic::Response<Payload>, tonic::Status> {
        let remote = request.remote_addr();
        Ok(tonic::Response::new(
            self.dispatch(remote, request.into_inner()).await,
        ))
    }
}

#[tonic::async_trait]
impl BiRequestStream for Grpc {
    type requestBiStreamStream = ReceiverStream<Result<Payload, tonic::Status>>;

    async fn request_bi_stream(
        &self,
        request: tonic::Request<tonic::Streaming<Payload>>,
    ) -> Result<tonic::Response<Self::requestBiStreamStream>, tonic::Status> {
        let remote = request
            .remote_addr()
            .ok_or_else(|| tonic::Status::internal("no remote address"))?;
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(PUSH_BUFFER);
        let grpc = self.clone();
        tokio::spawn(async move {
            let mut outbound = Some(tx);
            while let Ok(Some(payload)) = inbound.message().await {
                if wire::kind(&payload) != "ConnectionSetupRequest" {
                    // An acknowledgement of a push: the client is alive.
                    if let Some(conn) = grpc.connections.get(&remote) {
                        conn.touch();
                    }
                    continue;
                }
                let Some(tx) = outbound.take() else {
                    continue; // set up already
                };
                let body = Body::parse(&payload).unwrap_or_else(|_| Body::empty());
                let conn = grpc.connections.set_up(remote, tx, &body.strings("labels"));
                grpc.core
                    .metrics
                    .grpc_connections
                    .set(grpc.connections.count() as i64);
                // Java and Python clients that send an ability table wait for this, 5 s at most.
                if body.value("abilityTable").is_some() {
                    conn.send(wire::push(
                        "SetupAckRequest",
                        grpc.next_push_id(),
                        "internal",
                        json!({"abilityTable": {"supportPersistentInstanceByGrpc": true}}),
                    ));
                }
            }
            // The stream ended: so did the client's connection.
            if let Some(conn) = grpc.connections.remove(&remote) {
                grpc.close(&conn).await;
            }
        });
        Ok(tonic::Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handled_request_has_its_own_response_type() {
        for kind in HANDLED {
            let (response, _) = response_of(kind);
            assert!(
                response.ends_with("Response") && response != "ErrorResponse",
                "{kind} → {response}"
            );
        }
    }
}
