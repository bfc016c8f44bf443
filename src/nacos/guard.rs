//! Access control on the Nacos HTTP port (and the package routes beside it): one decision per
//! request, from its method and matched route, before any handler runs. Routes not named here
//! are readable by any user and writable by admins only, so a new route is never left open.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::access::{Denied, Need};
use crate::core::Core;
use crate::core::auth::Action;

/// The user a request's token named, for handlers to record as the actor.
#[derive(Debug, Clone)]
pub struct AuthenticatedUser(pub String);

/// Routes anyone may call: logging in, the one-time admin initialisation, probes and metrics.
const OPEN: &[&str] = &[
    "/nacos/v1/auth/login",
    "/nacos/v1/auth/users/login",
    "/nacos/v3/auth/user/login",
    "/nacos/v1/auth/users/admin",
    "/nacos/v1/ns/operator/metrics",
    "/nacos/metrics",
    "/metrics",
];

/// What a request on `route` needs; `namespace` reads the request's namespace parameter.
pub fn need(method: &Method, route: &str, namespace: impl FnOnce() -> String) -> Need {
    let reads = method == Method::GET || method == Method::HEAD;
    if OPEN.contains(&route) || route.contains("/health") || route.contains("/core/state") {
        Need::Open
    } else if route.contains("/auth/") {
        Need::Admin
    } else if route.contains("namespace") {
        if reads {
            Need::Authenticated
        } else {
            Need::Admin
        }
    } else if namespaced(route) {
        // A long-polling listener only reads.
        let action = if reads || route.ends_with("/listener") {
            Action::Read
        } else {
            Action::Write
        };
        Need::Namespace(namespace(), action)
    } else if reads {
        Need::Authenticated
    } else {
        Need::Admin
    }
}

/// Config, naming and Consul-style config routes: permissions are per namespace.
fn namespaced(route: &str) -> bool {
    route.contains("/cs/") || route.contains("/ns/") || route.starts_with("/v1/kv/")
}

/// The token a Nacos client sends: `accessToken` (query or form), or `Authorization: Bearer`.
fn token_of(request: &Request, form: &std::collections::HashMap<String, String>) -> Option<String> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    bearer
        .or_else(|| {
            request
                .headers()
                .get("accessToken")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .or_else(|| form.get("accessToken").cloned())
}

fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    super::params::form_urlencoded(raw)
}

pub async fn guard(
    State((core, max_body)): State<(Arc<Core>, usize)>,
    request: Request,
    next: Next,
) -> Response {
    if !core.access.enabled {
        return next.run(request).await;
    }
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |m| m.as_str().to_owned(),
    );
    let method = request.method().clone();
    let mut params: std::collections::HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| pairs(q.as_bytes()).into_iter().collect())
        .unwrap_or_default();
    // Form bodies carry parameters too (the namespace, the token): read them, then hand the
    // same bytes on. Only form bodies, so package uploads stream untouched.
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let request = if is_form {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, max_body).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
        };
        for (k, v) in pairs(&bytes) {
            params.entry(k).or_insert(v);
        }
        Request::from_parts(parts, axum::body::Body::from(bytes))
    } else {
        request
    };
    let need = need(&method, &route, || {
        ["tenant", "namespaceId", "namespace"]
            .iter()
            .find_map(|n| params.get(*n).filter(|v| !v.is_empty()).cloned())
            .unwrap_or_default()
    });
    let token = token_of(&request, &params);
    let decision = core
        .access
        .check(&core.model.read().auth, token.as_deref(), &need);
    match decision {
        Ok(user) => {
            let mut request = request;
            if let Some(user) = user {
                request.extensions_mut().insert(AuthenticatedUser(user));
            }
            next.run(request).await
        }
        Err(Denied::Unauthenticated(why)) => (StatusCode::FORBIDDEN, why).into_response(),
        Err(Denied::Forbidden) => (StatusCode::FORBIDDEN, "authorization failed!").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_need_write_permission_on_their_namespace_and_unknown_routes_are_admin_only() {
        let ns = || "dev".to_owned();
        assert_eq!(
            need(&Method::POST, "/nacos/v1/cs/configs", ns),
            Need::Namespace("dev".into(), Action::Write)
        );
        assert_eq!(
            need(&Method::GET, "/nacos/v1/cs/configs", ns),
            Need::Namespace("dev".into(), Action::Read)
        );
        assert_eq!(
            need(&Method::POST, "/nacos/v1/cs/configs/listener", ns),
            Need::Namespace("dev".into(), Action::Read)
        );
        assert_eq!(
            need(&Method::DELETE, "/nacos/v1/ns/instance", ns),
            Need::Namespace("dev".into(), Action::Write)
        );
        assert_eq!(
            need(&Method::POST, "/nacos/v1/console/namespaces", ns),
            Need::Admin
        );
        assert_eq!(need(&Method::POST, "/nacos/v1/auth/users", ns), Need::Admin);
        assert_eq!(need(&Method::POST, "/nacos/v1/auth/login", ns), Need::Open);
        assert_eq!(
            need(
                &Method::PUT,
                "/nacre/v1/packages/{os}/{object}/{version}/{name}",
                ns
            ),
            Need::Admin
        );
        assert_eq!(need(&Method::POST, "/some/future/route", ns), Need::Admin);
        assert_eq!(need(&Method::GET, "/health/ready", ns), Need::Open);
    }
}
