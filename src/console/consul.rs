//! The Consul HTTP API on the console's own origin: `/nacre/v1/consul/<path>` is `/<path>` of
//! the Consul port, handled in-process by the same router (its ACL guard included), so the
//! browser needs neither a second port nor CORS, and what works here works on port 8500 too.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt as _;

use crate::nacos::AppState;

const MOUNT: &str = "/nacre/v1/consul";

pub async fn proxy(State(app): State<AppState>, request: Request) -> Response {
    let Some((_, router)) = app.core.console.consul.get() else {
        return (
            StatusCode::NOT_FOUND,
            "the Consul API is off on this node (server.consul-port: 0)",
        )
            .into_response();
    };
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path()
        .strip_prefix(MOUNT)
        .filter(|p| p.starts_with('/'))
        .unwrap_or("/")
        .to_owned();
    let target = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let Ok(uri) = target.parse::<Uri>() else {
        return (StatusCode::BAD_REQUEST, "invalid path").into_response();
    };
    parts.uri = uri;
    // The Nacos side's token means nothing to Consul: Consul tokens come as X-Consul-Token
    // (or ?token=).
    parts.headers.remove(header::AUTHORIZATION);
    // Only the connection's address goes along: the Consul side decides the client's address
    // from it (and trusted proxies' headers) exactly as on its own port.
    let connection = parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned();
    parts.extensions = Default::default();
    if let Some(connection) = connection {
        parts.extensions.insert(connection);
    }
    match router
        .clone()
        .oneshot(Request::from_parts(parts, body))
        .await
    {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
