//! The HTTP listeners (Nacos port, Consul port), with the limits `axum::serve` leaves out: a
//! client must send a request's headers within `server.header-read-timeout` (which also closes a
//! keep-alive connection idle that long between requests), and each chunk of a body within
//! `server.body-read-timeout`. A request in flight — a long poll, a blocking query — is never
//! idle: it is the server that is waiting. Shutdown is graceful: connections finish their
//! requests, then close. [`track`] counts and times every request of both ports.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::time::Instant;

use crate::client_addr::{ClientAddr, TrustedProxies};
use crate::metrics::{HttpLabels, Metrics, RouteLabels};

/// What the edge middleware needs.
#[derive(Clone)]
pub struct Edge {
    pub metrics: Arc<Metrics>,
    pub trusted: Arc<TrustedProxies>,
}

/// The one middleware in front of both HTTP ports (each layer costs every request a boxed
/// future): decides the request's [`ClientAddr`] once, for every handler after it, and counts
/// and times the request by its route pattern (`unmatched` when no route matched).
pub async fn edge(State(edge): State<Edge>, mut request: Request, next: Next) -> Response {
    let client = ClientAddr::decide(&request, &edge.trusted);
    request.extensions_mut().insert(client);
    let metrics = &edge.metrics;
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().to_string();
    let in_flight = InFlight::new(&metrics.active_connections);
    let started = Instant::now();
    let response = next.run(request).await;
    drop(in_flight);
    metrics
        .http_duration
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .http_requests
        .get_or_create(&HttpLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// Counts a request in flight until it is dropped: answered, or abandoned by a client that went
/// away (the handler's future is then dropped, and so is this).
struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl<'a> InFlight<'a> {
    fn new(gauge: &'a prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// How long a client may keep the server waiting.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// To send a request's headers, counted from the end of the previous request on the
    /// connection (so also the keep-alive idle limit).
    pub header_read: Duration,
    /// Between two chunks of a request body.
    pub body_read: Duration,
}

/// How long shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send,
) {
    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        timeouts.body_read,
    ));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                Ok::<_, Infallible>(
                    router
                        .oneshot(request.map(axum::body::Body::new))
                        .await
                        .unwrap_or_else(|never| match never {}),
                )
            }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // The protocol is told by the first bytes, which hyper waits for without a timer:
            // a client that sends none is let go after the header-read timeout.
            let mut first = [0u8; 1];
            match tokio::time::timeout(timeouts.header_read, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN:?}; closing them");
    }
}
