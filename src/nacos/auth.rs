//! `/nacos/v1/auth/*` (and the v3 login): logging in, users, roles and permissions, and the
//! one-time admin initialisation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::error::{ApiError, Style};
use super::params::Params;
use crate::core::Page;
use crate::core::event::Permission;

fn done(message: &str) -> Response {
    axum::Json(json!({"code": 200, "message": message, "data": null})).into_response()
}

fn core_error(e: crate::core::CoreError) -> ApiError {
    ApiError::from_core(Style::V1, e)
}

/// Logs in: an access token for a username and password. Failures are throttled per user and
/// source address.
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

/// Creates the `nacos` admin with the given password, only while no user exists.
pub async fn init_admin(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let password = p.required("password", Style::V1)?.to_owned();
    app.core
        .init_admin(&p.actor(), &password)
        .await
        .map_err(core_error)?;
    Ok(axum::Json(json!({"username": crate::core::auth::DEFAULT_ADMIN})).into_response())
}

pub async fn users(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let names: Vec<String> = app.core.model.read().auth.users.keys().cloned().collect();
    let page = Page::of(
        names,
        p.number("pageNo", 1, Style::V1)?,
        p.number("pageSize", 100, Style::V1)?,
    );
    Ok(axum::Json(json!({
        "totalCount": page.total_count, "pageNumber": page.page_number,
        "pagesAvailable": page.pages_available,
        "pageItems": page.items.iter().map(|u| json!({"username": u, "password": ""})).collect::<Vec<_>>(),
    }))
    .into_response())
}

pub async fn create_user(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let username = p.required("username", Style::V1)?;
    let password = p.required("password", Style::V1)?;
    app.core
        .create_user(&p.actor(), username, password)
        .await
        .map_err(core_error)?;
    Ok(done("create user ok!"))
}

pub async fn change_password(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let username = p.required("username", Style::V1)?;
    let password = p.required("newPassword", Style::V1)?;
    app.core
        .change_password(&p.actor(), username, password)
        .await
        .map_err(core_error)?;
    Ok(done("update user ok!"))
}

pub async fn delete_user(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let username = p.required("username", Style::V1)?;
    app.core
        .delete_user(&p.actor(), username)
        .await
        .map_err(core_error)?;
    Ok(done("delete user ok!"))
}

pub async fn roles(State(app): State<AppState>) -> Response {
    let auth = app.core.model.read().auth.clone();
    let items: Vec<_> = auth
        .bindings
        .iter()
        .map(|b| json!({"role": b.role, "username": b.username}))
        .collect();
    axum::Json(json!({"totalCount": items.len(), "pageNumber": 1, "pagesAvailable": 1, "pageItems": items}))
        .into_response()
}

pub async fn bind_role(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let role = p.required("role", Style::V1)?;
    let username = p.required("username", Style::V1)?;
    app.core
        .bind_role(&p.actor(), role, username)
        .await
        .map_err(core_error)?;
    Ok(done("add role ok!"))
}

pub async fn unbind_role(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let role = p.required("role", Style::V1)?;
    let username = p.required("username", Style::V1)?;
    app.core
        .unbind_role(&p.actor(), role, username)
        .await
        .map_err(core_error)?;
    Ok(done("delete role of user ok!"))
}

pub async fn permissions(State(app): State<AppState>) -> Response {
    let auth = app.core.model.read().auth.clone();
    let items: Vec<_> = auth
        .permissions
        .iter()
        .map(|p| json!({"role": p.role, "resource": p.resource, "action": p.action}))
        .collect();
    axum::Json(json!({"totalCount": items.len(), "pageNumber": 1, "pagesAvailable": 1, "pageItems": items}))
        .into_response()
}

fn permission(p: &Params) -> Result<Permission, ApiError> {
    Ok(Permission {
        role: p.required("role", Style::V1)?.to_owned(),
        resource: p.required("resource", Style::V1)?.to_owned(),
        action: p.required("action", Style::V1)?.to_owned(),
    })
}

pub async fn grant(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    app.core
        .grant(&p.actor(), permission(&p)?)
        .await
        .map_err(core_error)?;
    Ok(done("add permission ok!"))
}

pub async fn revoke(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    app.core
        .revoke(&p.actor(), permission(&p)?)
        .await
        .map_err(core_error)?;
    Ok(done("delete permission ok!"))
}
