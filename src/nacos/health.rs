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

/// Why the node is not ready, in Nacos' words, or None when it is.
fn not_ready(app: &AppState) -> Option<String> {
    match app.core.model.health() {
        Health::Live => None,
        Health::Loading => Some("config not in readiness".into()),
        Health::Stuck(reason) => Some(format!("config not in readiness: {reason}")),
    }
}

pub async fn readiness(State(app): State<AppState>) -> Response {
    match not_ready(&app) {
        None => "OK".into_response(),
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
