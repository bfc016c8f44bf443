//! Namespace routes: v1 `/nacos/v1/console/namespaces`, v2 `/nacos/v2/console/namespace`, v3
//! `/nacos/v3/admin/core/namespace`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, Style, success};
use super::guard::{Caller, Checked, NamespaceRead};
use super::params::Params;
use crate::core::CoreError;
use crate::core::namespaces::NamespaceInfo;

fn namespace_json(n: &NamespaceInfo) -> Value {
    json!({
        "namespace": n.id, "namespaceShowName": n.name, "namespaceDesc": n.desc,
        "quota": 200, "configCount": n.config_count, "type": n.kind,
    })
}

fn not_found(style: Style, id: &str) -> ApiError {
    ApiError::new(
        style,
        StatusCode::NOT_FOUND,
        22001,
        format!("namespaceId [ {id} ] not exist"),
    )
}

fn err(style: Style) -> impl Fn(CoreError) -> ApiError {
    move |e| match e {
        CoreError::NamespaceNotFound(id) => not_found(style, &id),
        CoreError::Conflict(m) => ApiError::new(style, StatusCode::BAD_REQUEST, 22002, m),
        CoreError::Invalid { message, .. } => {
            ApiError::new(style, StatusCode::BAD_REQUEST, 22000, message)
        }
        other => ApiError::from_core(style, other),
    }
}

fn list_json(app: &AppState, caller: &Caller) -> Vec<Value> {
    app.core
        .list_namespaces(&caller.reader)
        .iter()
        .map(namespace_json)
        .collect()
}

// ---- v1 ----

/// The list, one namespace (`show=all`), or whether an id is taken (`checkNamespaceIdExist`).
pub async fn v1_get(
    State(app): State<AppState>,
    read: Checked<NamespaceRead>,
    caller: Caller,
) -> Result<Response, ApiError> {
    match read.into_inner() {
        NamespaceRead::Exists(id) => {
            Ok(axum::Json(app.core.model.read().namespace_exists(&id)).into_response())
        }
        NamespaceRead::One(id) => {
            let info = app
                .core
                .get_namespace(&id, &caller.reader)
                .map_err(err(Style::V1))?;
            Ok(axum::Json(namespace_json(&info)).into_response())
        }
        NamespaceRead::List => Ok(axum::Json(
            json!({"code": 200, "message": null, "data": list_json(&app, &caller)}),
        )
        .into_response()),
    }
}

/// Answers `true`, or `false` for an id that already exists, as Nacos v1 does.
pub async fn v1_post(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let id = p.required("customNamespaceId", Style::V1)?;
    let name = p.required("namespaceName", Style::V1)?;
    match app
        .core
        .create_namespace(&p.actor(), id, name, p.str("namespaceDesc"))
        .await
    {
        Ok(_) => Ok(axum::Json(true).into_response()),
        Err(CoreError::Conflict(_)) => Ok(axum::Json(false).into_response()),
        Err(e) => Err(err(Style::V1)(e)),
    }
}

pub async fn v1_put(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let id = p.required("namespace", Style::V1)?;
    let name = p.required("namespaceShowName", Style::V1)?;
    app.core
        .update_namespace(&p.actor(), id, name, p.str("namespaceDesc"))
        .await
        .map_err(err(Style::V1))?;
    Ok(axum::Json(true).into_response())
}

pub async fn v1_delete(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let id = p.required("namespaceId", Style::V1)?;
    app.core
        .delete_namespace(&p.actor(), id)
        .await
        .map_err(err(Style::V1))?;
    Ok(axum::Json(true).into_response())
}

// ---- v2 and v3 (same shapes) ----

pub async fn list(State(app): State<AppState>, caller: Caller) -> Response {
    success(list_json(&app, &caller))
}

pub async fn get(
    State(app): State<AppState>,
    read: Checked<NamespaceRead>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let NamespaceRead::One(id) = read.into_inner() else {
        return Err(ApiError::missing(Style::V2, "namespaceId"));
    };
    let info = app
        .core
        .get_namespace(&id, &caller.reader)
        .map_err(err(Style::V2))?;
    Ok(success(namespace_json(&info)))
}

pub async fn post(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let id = p.required("namespaceId", Style::V2)?;
    let name = p.required("namespaceName", Style::V2)?;
    app.core
        .create_namespace(&p.actor(), id, name, p.str("namespaceDesc"))
        .await
        .map_err(err(Style::V2))?;
    Ok(success(true))
}

pub async fn put(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let id = p.required("namespaceId", Style::V2)?;
    let name = p.required("namespaceName", Style::V2)?;
    app.core
        .update_namespace(&p.actor(), id, name, p.str("namespaceDesc"))
        .await
        .map_err(err(Style::V2))?;
    Ok(success(true))
}

pub async fn delete(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let id = p.required("namespaceId", Style::V2)?;
    app.core
        .delete_namespace(&p.actor(), id)
        .await
        .map_err(err(Style::V2))?;
    Ok(success(true))
}
