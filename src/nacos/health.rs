//! Liveness and readiness. Ready means this node's read model has caught up with the stream.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::success;
use crate::core::model::Health;

pub async fn liveness() -> Response {
    "OK".into_response()
}

/// Events a node may trail the stream by and still call itself ready.
const MAX_READY_LAG: u64 = 10_000;

/// Why the node is not ready, in Nacos' words, or None when it is: NATS must be reachable and the
/// model caught up with the stream.
pub fn not_ready(app: &AppState) -> Option<String> {
    if !app.core.nats_connected() {
        return Some("config and naming not in readiness: NATS is unreachable".into());
    }
    match app.core.model.health() {
        Health::Live => {}
        Health::Loading => return Some("config not in readiness".into()),
        Health::Stuck(reason) => return Some(format!("config not in readiness: {reason}")),
    }
    if let Some(problem) = app.core.readiness.problem() {
        return Some(format!("config and naming not in readiness: {problem}"));
    }
    let lag = app.core.projection_lag();
    (lag > MAX_READY_LAG)
        .then(|| format!("config not in readiness: {lag} events behind the stream"))
}

pub async fn readiness(State(app): State<AppState>) -> Response {
    match not_ready(&app) {
        // Notes (a late backup) do not fail readiness; they travel with the answer.
        None => {
            let notes = app.core.readiness.notes();
            if notes.is_empty() {
                "OK".into_response()
            } else {
                format!("OK ({})", notes.join("; ")).into_response()
            }
        }
        Some(reason) => (StatusCode::INTERNAL_SERVER_ERROR, reason).into_response(),
    }
}

pub async fn v2_liveness() -> Response {
    success("ok")
}

pub async fn v2_readiness(State(app): State<AppState>) -> Response {
    match not_ready(&app) {
        None => success("ok"),
        Some(reason) => {
            axum::Json(serde_json::json!({"code": 30000, "message": reason, "data": null}))
                .into_response()
        }
    }
}
