//! The Nacos HTTP open API (v1, v2, v3): a thin translator from Nacos' routes, parameters and
//! error formats onto the core.

pub mod auth;
pub mod configs;
pub mod error;
pub mod guard;
pub mod health;
pub mod history;
pub mod listener;
pub mod namespaces;
pub mod naming;
pub mod observe;
pub mod params;
pub mod transfer;
pub mod udp_push;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use serde_json::json;

use crate::core::Core;

#[derive(Clone)]
pub struct AppState {
    /// Shared, not copied: axum clones the state for every request.
    pub core: std::sync::Arc<Core>,
    pub list_cache: std::sync::Arc<naming::ListCache>,
    /// UDP pushes to 1.x-style HTTP subscribers.
    pub udp_push: std::sync::Arc<udp_push::UdpPush>,
}

/// Every route of the Nacos port: what the router serves and what the access tests enumerate.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    let config_v3 = || {
        get(configs::v3_get)
            .post(configs::v3_post)
            .delete(configs::v3_delete)
    };
    let users = || {
        post(auth::create_user)
            .put(auth::change_password)
            .delete(auth::delete_user)
    };
    let namespace_v2 = || {
        get(namespaces::get)
            .post(namespaces::post)
            .put(namespaces::put)
            .delete(namespaces::delete)
    };
    let mut all = vec![
        // access control
        ("/nacos/v1/auth/login", post(auth::login)),
        ("/nacos/v1/auth/users/login", post(auth::login)),
        ("/nacos/v3/auth/user/login", post(auth::login)),
        ("/nacos/v1/auth/users/admin", post(auth::init_admin)),
        ("/nacos/v3/auth/user/admin", post(auth::init_admin)),
        ("/nacos/v3/auth/user", users()),
        ("/nacos/v3/auth/user/list", get(auth::users)),
        ("/nacos/v3/auth/user/search", get(auth::search_users)),
        ("/nacos/v1/auth/users/search", get(auth::search_users)),
        (
            "/nacos/v3/auth/role",
            post(auth::bind_role).delete(auth::unbind_role),
        ),
        ("/nacos/v3/auth/role/list", get(auth::roles)),
        ("/nacos/v3/auth/role/search", get(auth::search_roles)),
        ("/nacos/v1/auth/roles/search", get(auth::search_roles)),
        (
            "/nacos/v3/auth/permission",
            get(auth::permissions)
                .post(auth::grant)
                .delete(auth::revoke),
        ),
        ("/nacos/v3/auth/permission/list", get(auth::permissions)),
        ("/nacos/v1/auth/users", users().get(auth::users)),
        (
            "/nacos/v1/auth/roles",
            get(auth::roles)
                .post(auth::bind_role)
                .delete(auth::unbind_role),
        ),
        (
            "/nacos/v1/auth/permissions",
            get(auth::permissions)
                .post(auth::grant)
                .delete(auth::revoke),
        ),
        // v1
        (
            "/nacos/v1/cs/configs",
            get(configs::v1_get)
                .post(configs::v1_post)
                .delete(configs::v1_delete),
        ),
        ("/nacos/v1/cs/configs/listener", post(listener::listen)),
        ("/nacos/v1/cs/history", get(history::v1_history)),
        ("/nacos/v1/cs/history/previous", get(history::v1_previous)),
        ("/nacos/v1/cs/history/configs", get(history::v1_configs)),
        ("/nacos/v1/cs/history/rollback", post(history::v1_rollback)),
        (
            "/nacos/v1/console/namespaces",
            get(namespaces::v1_get)
                .post(namespaces::v1_post)
                .put(namespaces::v1_put)
                .delete(namespaces::v1_delete),
        ),
        ("/nacos/v1/console/health/liveness", get(health::liveness)),
        ("/nacos/v1/console/health/readiness", get(health::readiness)),
        // v2
        (
            "/nacos/v2/cs/config",
            get(configs::v2_get)
                .post(configs::v2_post)
                .delete(configs::v2_delete),
        ),
        ("/nacos/v2/cs/history", get(history::v2_detail)),
        ("/nacos/v2/cs/history/list", get(history::v2_list)),
        ("/nacos/v2/cs/history/previous", get(history::v2_previous)),
        ("/nacos/v2/cs/history/configs", get(history::v2_configs)),
        ("/nacos/v2/console/namespace", namespace_v2()),
        ("/nacos/v2/console/namespace/list", get(namespaces::list)),
        (
            "/nacos/v2/console/health/liveness",
            get(health::v2_liveness),
        ),
        (
            "/nacos/v2/console/health/readiness",
            get(health::v2_readiness),
        ),
        // v3: admin API, client API, console-style paths, and the short paths seed 004 lists
        ("/nacos/v3/admin/cs/config", config_v3()),
        ("/nacos/v3/admin/cs/config/list", get(configs::v3_list)),
        ("/nacos/v3/console/cs/config", config_v3()),
        ("/nacos/v3/console/cs/config/list", get(configs::v3_list)),
        ("/nacos/v3/cs/config", config_v3()),
        ("/nacos/v3/client/cs/config", get(configs::v3_client_get)),
        ("/nacos/v3/cs/config/export", get(transfer::export)),
        ("/v1/kv/export", get(transfer::kv_export)),
        ("/v1/kv/import", put(transfer::kv_import)),
        ("/nacos/v3/cs/config/import", post(transfer::import)),
        ("/nacos/v3/console/cs/config/export", get(transfer::export)),
        ("/nacos/v3/console/cs/config/import", post(transfer::import)),
        ("/nacos/v3/admin/cs/history", get(history::v3_detail)),
        ("/nacos/v3/admin/cs/history/list", get(history::v3_list)),
        (
            "/nacos/v3/admin/cs/history/previous",
            get(history::v3_previous),
        ),
        ("/nacos/v3/console/cs/history", get(history::v3_detail)),
        ("/nacos/v3/console/cs/history/list", get(history::v3_list)),
        (
            "/nacos/v3/console/cs/history/previous",
            get(history::v3_previous),
        ),
        ("/nacos/v3/admin/core/namespace", namespace_v2()),
        ("/nacos/v3/admin/core/namespace/list", get(namespaces::list)),
        ("/nacos/v3/console/core/namespace", namespace_v2()),
        (
            "/nacos/v3/console/core/namespace/list",
            get(namespaces::list),
        ),
        (
            "/nacos/v3/admin/core/state/liveness",
            get(health::v2_liveness),
        ),
        (
            "/nacos/v3/admin/core/state/readiness",
            get(health::v2_readiness),
        ),
        (
            "/nacos/v3/console/health/liveness",
            get(health::v2_liveness),
        ),
        (
            "/nacos/v3/console/health/readiness",
            get(health::v2_readiness),
        ),
        // naming v1 and v2
        (
            "/nacos/v1/ns/instance",
            post(naming::v1_register)
                .delete(naming::v1_deregister)
                .put(naming::v1_update)
                .get(naming::v1_detail),
        ),
        ("/nacos/v1/ns/instance/list", get(naming::v1_list)),
        ("/nacos/v1/ns/instance/beat", put(naming::v1_beat)),
        (
            "/nacos/v1/ns/service",
            post(naming::v1_service_create)
                .delete(naming::v1_service_delete)
                .put(naming::v1_service_update)
                .get(naming::v1_service_detail),
        ),
        ("/nacos/v1/ns/service/list", get(naming::v1_service_list)),
        ("/nacos/v1/ns/operator/metrics", get(naming::metrics)),
        (
            "/nacos/v2/ns/instance",
            post(naming::v2_register)
                .delete(naming::v2_deregister)
                .put(naming::v2_update)
                .get(naming::v2_detail),
        ),
        ("/nacos/v2/ns/instance/list", get(naming::v2_list)),
        ("/nacos/v2/ns/instance/beat", put(naming::v2_beat)),
        (
            "/nacos/v2/ns/service",
            post(naming::v2_service_create)
                .delete(naming::v2_service_delete)
                .put(naming::v2_service_update)
                .get(naming::v2_service_detail),
        ),
        ("/nacos/v2/ns/service/list", get(naming::v2_service_list)),
        // metrics and membership
        ("/nacos/metrics", get(observe::prometheus)),
        ("/metrics", get(observe::prometheus)),
        ("/nacos/v1/core/cluster/nodes", get(observe::cluster_nodes)),
        (
            "/nacos/v2/core/cluster/node/list",
            get(observe::cluster_nodes_v2),
        ),
        (
            "/nacos/v3/admin/core/cluster/node/list",
            get(observe::cluster_nodes_v2),
        ),
        // plain probes for orchestrators
        ("/health/live", get(health::liveness)),
        ("/health/ready", get(health::readiness)),
    ];
    all.extend(crate::console::routes());
    all
}

pub fn router(core: Core, max_body_bytes: usize) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(AppState {
            udp_push: core.console.udp_push(),
            core: std::sync::Arc::new(core),
            list_cache: Default::default(),
        })
}

/// Spring Boot's error body, which Nacos answers for unknown routes and wrong methods.
fn spring_error(status: StatusCode, message: String, path: &str) -> Response {
    let body = json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "status": status.as_u16(),
        "error": status.canonical_reason().unwrap_or(""),
        "message": message,
        "path": path,
    });
    (status, axum::Json(body)).into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    let message = format!("Request method '{}' is not supported", req.method());
    spring_error(StatusCode::METHOD_NOT_ALLOWED, message, req.uri().path())
}

async fn not_found(req: Request) -> Response {
    spring_error(
        StatusCode::NOT_FOUND,
        "No static resource found".into(),
        req.uri().path(),
    )
}
