//! `/nacos/v1/auth/*` and `/nacos/v3/auth/*`: logging in, users, roles and permissions, and the
//! one-time admin initialisation. v1 answers `{code: 200, message, data}` for writes and bare pages
//! for lists; v3 wraps everything but the login in the `{code: 0, message, data}` result.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, Style, success};
use super::params::Params;
use crate::core::Page;
use crate::core::event::Permission;

/// Which generation of the auth API a route belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V1,
    V3,
}

/// Told by the path: `/nacos/v3/...` routes are v3.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Api {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(if parts.uri.path().starts_with("/nacos/v3/") {
            Api::V3
        } else {
            Api::V1
        })
    }
}

impl Api {
    fn style(self) -> Style {
        match self {
            Api::V1 => Style::V1,
            Api::V3 => Style::V2,
        }
    }

    /// A write's answer.
    fn done(self, message: &str) -> Response {
        match self {
            Api::V1 => axum::Json(json!({"code": 200, "message": message, "data": message}))
                .into_response(),
            Api::V3 => success(message),
        }
    }

    /// A read's answer.
    fn data(self, data: Value) -> Response {
        match self {
            Api::V1 => axum::Json(data).into_response(),
            Api::V3 => success(data),
        }
    }

    fn error(self, e: crate::core::CoreError) -> ApiError {
        ApiError::from_core(self.style(), e)
    }
}

/// Logs in: an access token for a username and password. Failures are throttled per user and
/// source address. Every generation answers the same bare object.
pub async fn login(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let username = p.str("username").to_owned();
    let password = p.str("password").to_owned();
    let source = p.actor().ip;
    let access = &app.core.access;
    if !access.login_allowed(&username, &source) {
        return Err(ApiError::new(
            Style::V1,
            StatusCode::FORBIDDEN,
            403,
            "too many failed logins: retry in a minute",
        ));
    }
    if !app.core.authenticate(&username, &password).await {
        access.login_failed(&username, &source);
        return Err(ApiError::new(
            Style::V1,
            StatusCode::FORBIDDEN,
            403,
            "unknown user!",
        ));
    }
    let token = access
        .issue(&username)
        .map_err(|e| ApiError::new(Style::V1, StatusCode::INTERNAL_SERVER_ERROR, 500, e))?;
    let admin = app.core.model.read().auth.is_admin(&username);
    Ok(axum::Json(json!({
        "accessToken": token,
        "tokenTtl": access.ttl.as_secs(),
        "globalAdmin": admin,
        "username": username,
    }))
    .into_response())
}

/// Creates the `nacos` admin, only while no user exists. Without a password one is generated
/// and answered once, as Nacos does.
pub async fn init_admin(
    State(app): State<AppState>,
    api: Api,
    p: Params,
) -> Result<Response, ApiError> {
    let password = match p.str("password") {
        "" => uuid::Uuid::new_v4().simple().to_string(),
        given => given.to_owned(),
    };
    app.core
        .init_admin(&p.actor(), &password)
        .await
        .map_err(|e| api.error(e))?;
    Ok(api.data(json!({"username": crate::core::auth::DEFAULT_ADMIN, "password": password})))
}

/// `search=blur` matches a part of the name, anything else the whole name; empty matches all.
fn matches(p: &Params, name: &str, value: &str) -> bool {
    let wanted = p.str(name);
    wanted.is_empty()
        || if p.str("search") == "blur" {
            value.contains(wanted)
        } else {
            value == wanted
        }
}

fn page(api: Api, p: &Params, items: Vec<Value>) -> Result<Response, ApiError> {
    let page = Page::of(
        items,
        p.number("pageNo", 1, api.style())?,
        p.number("pageSize", 100, api.style())?,
    );
    Ok(api.data(json!({
        "totalCount": page.total_count, "pageNumber": page.page_number,
        "pagesAvailable": page.pages_available, "pageItems": page.items,
    })))
}

pub async fn users(State(app): State<AppState>, api: Api, p: Params) -> Result<Response, ApiError> {
    let items = app
        .core
        .model
        .read()
        .auth
        .users
        .keys()
        .filter(|u| matches(&p, "username", u))
        .map(|u| json!({"username": u, "password": ""}))
        .collect();
    page(api, &p, items)
}

/// Names of users that contain `username` (the console's type-ahead).
pub async fn search_users(State(app): State<AppState>, api: Api, p: Params) -> Response {
    let part = p.str("username");
    let names: Vec<String> = app
        .core
        .model
        .read()
        .auth
        .users
        .keys()
        .filter(|u| u.contains(part))
        .cloned()
        .collect();
    api.data(json!(names))
}

pub async fn create_user(
    State(app): State<AppState>,
    api: Api,
    p: Params,
) -> Result<Response, ApiError> {
    let username = p.required("username", api.style())?;
    let password = p.required("password", api.style())?;
    app.core
        .create_user(&p.actor(), username, password)
        .await
        .map_err(|e| api.error(e))?;
    Ok(api.done("create user ok!"))
}

pub async fn change_password(
    State(app): State<AppState>,
    api: Api,
    p: Params,
) -> Result<Response, ApiError> {
    let username = p.required("username", api.style())?;
    let password = p.required("newPassword", api.style())?;
    app.core
        .change_password(&p.actor(), username, password)
        .await
        .map_err(|e| api.error(e))?;
    Ok(api.done("update user ok!"))
}

pub async fn delete_user(
    State(app): State<AppState>,
    api: Api,
    p: Params,
) -> Result<Response, ApiError> {
    let username = p.required("username", api.style())?;
    app.core
        .delete_user(&p.actor(), username)
        .await
        .map_err(|e| api.error(e))?;
    Ok(api.done("delete user ok!"))
}

pub async fn roles(State(app): State<AppState>, api: Api, p: Params) -> Result<Response, ApiError> {
    let items = app
        .core
        .model
        .read()
        .auth
        .bindings
        .iter()
        .filter(|b| matches(&p, "username", &b.username) && matches(&p, "role", &b.role))
        .map(|b| json!({"role": b.role, "username": b.username}))
        .collect();
    page(api, &p, items)
}

/// Role names that contain `role`.
pub async fn search_roles(State(app): State<AppState>, api: Api, p: Params) -> Response {
    let part = p.str("role");
    let mut names: Vec<String> = app
        .core
        .model
        .read()
        .auth
        .bindings
        .iter()
        .map(|b| b.role.clone())
        .filter(|r| r.contains(part))
        .collect();
    names.dedup();
    api.data(json!(names))
}

pub async fn bind_role(
    State(app): State<AppState>,
    api: Api,
    p: Params,
) -> Result<Response, ApiError> {
    let role = p.required("role", api.style())?;
    let username = p.required("username", api.style())?;
    app.core
        .bind_role(&p.actor(), role, username)
        .await
        .map_err(|e| api.error(e))?;
    Ok(api.done("add role ok!"))
}

/// Takes a role from one user, or (without `username`) from everyone.
pub async fn unbind_role(
    State(app): State<AppState>,
    api: Api,
    p: Params,
) -> Result<Response, ApiError> {
    let role = p.required("role", api.style())?;
    let username = p.str("username");
    let users: Vec<String> = if username.is_empty() {
        app.core
            .model
            .read()
            .auth
            .bindings
            .iter()
            .filter(|b| b.role == role)
            .map(|b| b.username.clone())
            .collect()
    } else {
        vec![username.to_owned()]
    };
    for user in &users {
        app.core
            .unbind_role(&p.actor(), role, user)
            .await
            .map_err(|e| api.error(e))?;
    }
    Ok(api.done(&format!("delete role of user {username} ok!")))
}

/// The list of grants; with `resource` and no `search`, whether that grant exists already (the
/// console's duplicate check).
pub async fn permissions(
    State(app): State<AppState>,
    api: Api,
    p: Params,
) -> Result<Response, ApiError> {
    // Read under the lock (no await below): no copy of the users, roles and grants.
    let model = app.core.model.read();
    let auth = &model.auth;
    if p.str("search").is_empty() && !p.str("resource").is_empty() {
        let duplicate = auth.permissions.iter().any(|g| {
            g.role == p.str("role")
                && g.resource == p.str("resource")
                && (g.action == p.str("action") || g.action == "rw")
        });
        return Ok(success(duplicate));
    }
    let items = auth
        .permissions
        .iter()
        .filter(|g| matches(&p, "role", &g.role))
        .map(|g| json!({"role": g.role, "resource": g.resource, "action": g.action}))
        .collect();
    page(api, &p, items)
}

fn permission(api: Api, p: &Params) -> Result<Permission, ApiError> {
    Ok(Permission {
        role: p.required("role", api.style())?.to_owned(),
        resource: p.required("resource", api.style())?.to_owned(),
        action: p.required("action", api.style())?.to_owned(),
    })
}

pub async fn grant(State(app): State<AppState>, api: Api, p: Params) -> Result<Response, ApiError> {
    app.core
        .grant(&p.actor(), permission(api, &p)?)
        .await
        .map_err(|e| api.error(e))?;
    Ok(api.done("add permission ok!"))
}

pub async fn revoke(
    State(app): State<AppState>,
    api: Api,
    p: Params,
) -> Result<Response, ApiError> {
    app.core
        .revoke(&p.actor(), permission(api, &p)?)
        .await
        .map_err(|e| api.error(e))?;
    Ok(api.done("delete permission ok!"))
}
