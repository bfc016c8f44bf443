//! The Nacos HTTP open API (v1, v2, v3): a thin translator from Nacos' routes, parameters and
//! error formats onto the core.

pub mod auth;
pub mod configs;
pub mod error;
pub mod grpc;
pub mod guard;
pub mod health;
pub mod history;
pub mod listener;
pub mod namespaces;
pub mod naming;
pub mod observe;
pub mod params;
pub mod target;
pub mod transfer;
pub mod udp_push;
pub mod views;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;

use crate::core::Core;
use guard::{Route, route};

#[derive(Clone)]
pub struct AppState {
    /// Shared, not copied: axum clones the state for every request.
    pub core: std::sync::Arc<Core>,
    pub list_cache: std::sync::Arc<naming::ListCache>,
    /// UDP pushes to 1.x-style HTTP subscribers.
    pub udp_push: std::sync::Arc<udp_push::UdpPush>,
}

/// Every route of the Nacos port with its access rule: what the router serves, what the guard
/// enforces, and what the access tests enumerate.
pub fn routes() -> Vec<Route<AppState>> {
    use guard::HistoryOp as H;
    use guard::Rule::*;
    let config_v3 = || {
        get(configs::v3_get)
            .post(configs::publish)
            .delete(configs::remove)
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
    let permissions = || {
        get(auth::permissions)
            .post(auth::grant)
            .delete(auth::revoke)
    };
    let mut all = vec![
        // access control
        route("/nacos/v1/auth/login", Open, post(auth::login)),
        route("/nacos/v1/auth/users/login", Open, post(auth::login)),
        route("/nacos/v3/auth/user/login", Open, post(auth::login)),
        route("/nacos/v1/auth/users/admin", Open, post(auth::init_admin)),
        route("/nacos/v3/auth/user/admin", Open, post(auth::init_admin)),
        // PUT changes a password: the user's own, or any for an admin.
        route("/nacos/v3/auth/user", OwnPassword, users()),
        route(
            "/nacos/v1/auth/users",
            OwnPassword,
            users().get(auth::users),
        ),
        route("/nacos/v3/auth/user/list", Admin, get(auth::users)),
        route("/nacos/v3/auth/user/search", Admin, get(auth::search_users)),
        route(
            "/nacos/v1/auth/users/search",
            Admin,
            get(auth::search_users),
        ),
        route(
            "/nacos/v3/auth/role",
            Admin,
            post(auth::bind_role).delete(auth::unbind_role),
        ),
        route("/nacos/v3/auth/role/list", Admin, get(auth::roles)),
        route("/nacos/v3/auth/role/search", Admin, get(auth::search_roles)),
        route(
            "/nacos/v1/auth/roles/search",
            Admin,
            get(auth::search_roles),
        ),
        route("/nacos/v3/auth/permission", Admin, permissions()),
        route(
            "/nacos/v3/auth/permission/list",
            Admin,
            get(auth::permissions),
        ),
        route(
            "/nacos/v1/auth/roles",
            Admin,
            get(auth::roles)
                .post(auth::bind_role)
                .delete(auth::unbind_role),
        ),
        route("/nacos/v1/auth/permissions", Admin, permissions()),
        // configs
        route(
            "/nacos/v1/cs/configs",
            ConfigV1,
            get(configs::v1_get)
                .post(configs::v1_post)
                .delete(configs::v1_delete),
        ),
        route(
            "/nacos/v1/cs/configs/listener",
            Listener,
            post(listener::listen),
        ),
        route(
            "/nacos/v2/cs/config",
            Config,
            get(configs::v2_get)
                .post(configs::publish)
                .delete(configs::remove),
        ),
        route("/nacos/v3/admin/cs/config", Config, config_v3()),
        route("/nacos/v3/console/cs/config", Config, config_v3()),
        route("/nacos/v3/cs/config", Config, config_v3()),
        route(
            "/nacos/v3/client/cs/config",
            Config,
            get(configs::v3_client_get),
        ),
        route(
            "/nacos/v3/admin/cs/config/list",
            Configs,
            get(configs::v3_list),
        ),
        route(
            "/nacos/v3/console/cs/config/list",
            Configs,
            get(configs::v3_list),
        ),
        // export and import (seed 004)
        route("/nacos/v3/cs/config/export", Configs, get(transfer::export)),
        route(
            "/nacos/v3/console/cs/config/export",
            Configs,
            get(transfer::export),
        ),
        route(
            "/nacos/v3/cs/config/import",
            ZipImport,
            post(transfer::import),
        ),
        route(
            "/nacos/v3/console/cs/config/import",
            ZipImport,
            post(transfer::import),
        ),
        route("/v1/kv/export", KvExport, get(transfer::kv_export)),
        route("/v1/kv/import", KvImport, put(transfer::import)),
        // history
        route(
            "/nacos/v1/cs/history",
            History(H::RowOrList),
            get(history::v1_history),
        ),
        route(
            "/nacos/v1/cs/history/previous",
            History(H::Previous),
            get(history::v1_previous),
        ),
        route(
            "/nacos/v1/cs/history/configs",
            Configs,
            get(history::v1_configs),
        ),
        route(
            "/nacos/v1/cs/history/rollback",
            History(H::Rollback),
            post(history::v1_rollback),
        ),
        route(
            "/nacos/v2/cs/history",
            History(H::Row),
            get(history::v2_detail),
        ),
        route(
            "/nacos/v2/cs/history/list",
            History(H::List),
            get(history::v2_list),
        ),
        route(
            "/nacos/v2/cs/history/previous",
            History(H::Previous),
            get(history::v2_previous),
        ),
        route(
            "/nacos/v2/cs/history/configs",
            Configs,
            get(history::v2_configs),
        ),
        route(
            "/nacos/v3/admin/cs/history",
            History(H::Row),
            get(history::v3_detail),
        ),
        route(
            "/nacos/v3/admin/cs/history/list",
            History(H::List),
            get(history::v3_list),
        ),
        route(
            "/nacos/v3/admin/cs/history/previous",
            History(H::Previous),
            get(history::v3_previous),
        ),
        route(
            "/nacos/v3/console/cs/history",
            History(H::Row),
            get(history::v3_detail),
        ),
        route(
            "/nacos/v3/console/cs/history/list",
            History(H::List),
            get(history::v3_list),
        ),
        route(
            "/nacos/v3/console/cs/history/previous",
            History(H::Previous),
            get(history::v3_previous),
        ),
        // namespaces
        route(
            "/nacos/v1/console/namespaces",
            Namespaces,
            get(namespaces::v1_get)
                .post(namespaces::v1_post)
                .put(namespaces::v1_put)
                .delete(namespaces::v1_delete),
        ),
        route("/nacos/v2/console/namespace", Namespaces, namespace_v2()),
        route(
            "/nacos/v2/console/namespace/list",
            Namespaces,
            get(namespaces::list),
        ),
        route("/nacos/v3/admin/core/namespace", Namespaces, namespace_v2()),
        route(
            "/nacos/v3/admin/core/namespace/list",
            Namespaces,
            get(namespaces::list),
        ),
        route(
            "/nacos/v3/console/core/namespace",
            Namespaces,
            namespace_v2(),
        ),
        route(
            "/nacos/v3/console/core/namespace/list",
            Namespaces,
            get(namespaces::list),
        ),
        // naming v1 and v2
        route(
            "/nacos/v1/ns/instance",
            Service,
            post(naming::v1_register)
                .delete(naming::v1_deregister)
                .put(naming::v1_update)
                .get(naming::v1_detail),
        ),
        route(
            "/nacos/v1/ns/instance/list",
            Service,
            get(naming::v1_list).layer(large_lists_gzipped()),
        ),
        route("/nacos/v1/ns/instance/beat", Service, put(naming::v1_beat)),
        route(
            "/nacos/v1/ns/service",
            Service,
            post(naming::v1_service_create)
                .delete(naming::v1_service_delete)
                .put(naming::v1_service_update)
                .get(naming::v1_service_detail),
        ),
        route(
            "/nacos/v1/ns/service/list",
            Services,
            get(naming::v1_service_list),
        ),
        route(
            "/nacos/v2/ns/instance",
            Service,
            post(naming::v2_register)
                .delete(naming::v2_deregister)
                .put(naming::v2_update)
                .get(naming::v2_detail),
        ),
        route(
            "/nacos/v2/ns/instance/list",
            Service,
            get(naming::v2_list).layer(large_lists_gzipped()),
        ),
        route("/nacos/v2/ns/instance/beat", Service, put(naming::v2_beat)),
        route(
            "/nacos/v2/ns/service",
            Service,
            post(naming::v2_service_create)
                .delete(naming::v2_service_delete)
                .put(naming::v2_service_update)
                .get(naming::v2_service_detail),
        ),
        route(
            "/nacos/v2/ns/service/list",
            Services,
            get(naming::v2_service_list),
        ),
        // health, metrics and membership
        route(
            "/nacos/v1/console/health/liveness",
            Open,
            get(health::liveness),
        ),
        route(
            "/nacos/v1/console/health/readiness",
            Open,
            get(health::readiness),
        ),
        route(
            "/nacos/v2/console/health/liveness",
            Open,
            get(health::v2_liveness),
        ),
        route(
            "/nacos/v2/console/health/readiness",
            Open,
            get(health::v2_readiness),
        ),
        route(
            "/nacos/v3/admin/core/state/liveness",
            Open,
            get(health::v2_liveness),
        ),
        route(
            "/nacos/v3/admin/core/state/readiness",
            Open,
            get(health::v2_readiness),
        ),
        route(
            "/nacos/v3/console/health/liveness",
            Open,
            get(health::v2_liveness),
        ),
        route(
            "/nacos/v3/console/health/readiness",
            Open,
            get(health::v2_readiness),
        ),
        route("/health/live", Open, get(health::liveness)),
        route("/health/ready", Open, get(health::readiness)),
        route("/nacos/v1/ns/operator/metrics", Open, get(naming::metrics)),
        route("/nacos/metrics", Open, get(observe::prometheus)),
        route("/metrics", Open, get(observe::prometheus)),
        route(
            "/nacos/v1/core/cluster/nodes",
            SignedIn,
            get(observe::cluster_nodes),
        ),
        route(
            "/nacos/v2/core/cluster/node/list",
            SignedIn,
            get(observe::cluster_nodes_v2),
        ),
        route(
            "/nacos/v3/admin/core/cluster/node/list",
            SignedIn,
            get(observe::cluster_nodes_v2),
        ),
    ];
    all.extend(crate::console::routes());
    all
}

pub fn router(core: std::sync::Arc<Core>, max_body_bytes: usize) -> Router {
    let guard = guard::GuardState {
        core: core.clone(),
        max_body: max_body_bytes,
    };
    guard::router(routes(), &guard)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(AppState {
            udp_push: core.console.udp_push(),
            core,
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

/// A service's instance list is the one answer that grows without bound (20,000 instances with
/// metadata are megabytes): gzipped for clients that accept it, from 8 KiB on. Smaller answers
/// go as they are: compressing them costs more than it saves.
fn large_lists_gzipped() -> tower_http::compression::CompressionLayer<
    tower_http::compression::predicate::And<
        tower_http::compression::DefaultPredicate,
        tower_http::compression::predicate::SizeAbove,
    >,
> {
    use tower_http::compression::predicate::{Predicate, SizeAbove};
    tower_http::compression::CompressionLayer::new()
        .gzip(true)
        .compress_when(tower_http::compression::DefaultPredicate::new().and(SizeAbove::new(8192)))
}
