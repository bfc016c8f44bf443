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
use crate::core::auth::{Action, Resource};
use std::collections::HashMap;

/// The user a request's token named, for handlers to record as the actor.
#[derive(Debug, Clone)]
pub struct AuthenticatedUser(pub String);

/// Routes anyone may call: logging in, the one-time admin initialisation, probes and metrics.
const OPEN: &[&str] = &[
    "/nacos/v1/auth/login",
    "/nacos/v1/auth/users/login",
    "/nacos/v3/auth/user/login",
    "/nacos/v1/auth/users/admin",
    "/nacos/v3/auth/user/admin",
    "/nacos/v1/ns/operator/metrics",
    "/nacos/metrics",
    "/metrics",
];

/// What a request on `route` needs, from its parameters (query and form).
pub fn need(method: &Method, route: &str, params: &HashMap<String, String>) -> Need {
    let reads = method == Method::GET || method == Method::HEAD;
    let param = |names: &[&str]| param(params, names);
    if OPEN.contains(&route)
        || crate::console::OPEN_ROUTES.contains(&route)
        || route.contains("/health")
        || route.contains("/core/state")
    {
        Need::Open
    } else if method == Method::PUT
        && (route.ends_with("/auth/users") || route.ends_with("/auth/user"))
    {
        // Users may change their own password.
        Need::UserOrAdmin(param(&["username"]).to_owned())
    } else if route.contains("/auth/") {
        Need::Admin
    } else if route.contains("namespace") {
        if reads {
            Need::Authenticated
        } else {
            Need::Admin
        }
    } else if let Some(resource) = resource(route, params) {
        // A long-polling listener only reads.
        let action = if reads || route.ends_with("/listener") {
            Action::Read
        } else {
            Action::Write
        };
        Need::Resource(resource, action)
    } else if reads {
        Need::Authenticated
    } else {
        Need::Admin
    }
}

/// The first of `names` the request gives (empty if none).
fn param<'a>(params: &'a HashMap<String, String>, names: &[&str]) -> &'a str {
    names
        .iter()
        .find_map(|n| params.get(*n).filter(|v| !v.is_empty()))
        .map_or("", String::as_str)
}

/// The config or service a config, naming or Consul-style config route acts on.
fn resource(route: &str, params: &HashMap<String, String>) -> Option<Resource> {
    let param = |names: &[&str]| param(params, names);
    let namespace = param(&["namespaceId", "tenant", "namespace"]);
    if route.contains("/cs/") || route.starts_with("/v1/kv/") {
        Some(Resource::config(
            namespace,
            param(&["groupName", "group"]),
            param(&["dataId"]),
        ))
    } else if route.contains("/ns/") {
        Some(Resource::naming(
            namespace,
            param(&["groupName"]),
            param(&["serviceName"]),
        ))
    } else {
        None
    }
}

/// The token a Nacos client sends: `accessToken` (query or form), or `Authorization: Bearer`.
fn token_of(request: &Request, form: &HashMap<String, String>) -> Option<String> {
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
    let mut params: HashMap<String, String> = request
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
    let need = need(&method, &route, &params);
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
    fn writes_need_write_permission_on_their_resource_and_unknown_routes_are_admin_only() {
        let p: HashMap<String, String> = [
            ("tenant", "dev"),
            ("group", "G"),
            ("dataId", "d"),
            ("serviceName", "S@@svc"),
            ("username", "me"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let config = Resource::config("dev", "G", "d");
        assert_eq!(
            need(&Method::POST, "/nacos/v1/cs/configs", &p),
            Need::Resource(config.clone(), Action::Write)
        );
        assert_eq!(
            need(&Method::GET, "/nacos/v1/cs/configs", &p),
            Need::Resource(config.clone(), Action::Read)
        );
        assert_eq!(
            need(&Method::POST, "/nacos/v1/cs/configs/listener", &p),
            Need::Resource(config, Action::Read)
        );
        let ns: HashMap<String, String> = [("namespaceId", "dev"), ("serviceName", "S@@svc")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(
            need(&Method::DELETE, "/nacos/v1/ns/instance", &ns),
            Need::Resource(Resource::naming("dev", "S", "svc"), Action::Write)
        );
        assert_eq!(
            need(&Method::POST, "/nacos/v1/console/namespaces", &p),
            Need::Admin
        );
        assert_eq!(need(&Method::POST, "/nacos/v1/auth/users", &p), Need::Admin);
        assert_eq!(
            need(&Method::PUT, "/nacos/v3/auth/user", &p),
            Need::UserOrAdmin("me".into())
        );
        assert_eq!(need(&Method::POST, "/nacos/v1/auth/login", &p), Need::Open);
        assert_eq!(
            need(
                &Method::PUT,
                "/nacre/v1/packages/{os}/{object}/{version}/{name}",
                &p
            ),
            Need::Admin
        );
        assert_eq!(need(&Method::POST, "/some/future/route", &p), Need::Admin);
        assert_eq!(need(&Method::GET, "/health/ready", &p), Need::Open);
    }
}
