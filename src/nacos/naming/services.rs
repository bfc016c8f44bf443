//! Services: create, update, delete, detail and the paged list.

use super::*;
use crate::core::naming::ServiceInput;
use crate::core::registry::{DEFAULT_GROUP, ServiceKey};
use crate::nacos::AppState;
use crate::nacos::error::{ApiError, Style, success};
use crate::nacos::guard::{Caller, ServiceScope};
use crate::nacos::params::Params;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub(super) fn service_input(
    p: &Params,
    style: Style,
    threshold_required: bool,
) -> Result<ServiceInput, ApiError> {
    let threshold = number(p, "protectThreshold", style)?;
    if threshold_required && threshold.is_none() {
        return Err(ApiError::new(
            style,
            StatusCode::BAD_REQUEST,
            10000,
            "Param 'protectThreshold' is required.",
        ));
    }
    let selector = p.str("selector").trim();
    if !selector.is_empty() {
        let parsed: Value = serde_json::from_str(selector).map_err(|_| {
            ApiError::new(
                style,
                StatusCode::BAD_REQUEST,
                21006,
                "not match any type of selector!",
            )
        })?;
        if !matches!(
            parsed.get("type").and_then(Value::as_str),
            Some("none" | "label")
        ) {
            return Err(ApiError::new(
                style,
                StatusCode::BAD_REQUEST,
                21006,
                "not match any type of selector!",
            ));
        }
    }
    Ok(ServiceInput {
        protect_threshold: threshold.unwrap_or(0.0),
        metadata: metadata(p.str("metadata"), style)?,
        selector: selector.to_owned(),
    })
}

pub(super) async fn service_create(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let input = service_input(p, style, false)?;
    app.core
        .create_service(&p.actor(), &service, input)
        .await
        .map_err(naming_error(style))?;
    Ok(ok(style))
}

pub(super) async fn service_update(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let input = service_input(p, style, style != Style::V2)?;
    app.core
        .update_service(&p.actor(), &service, input)
        .await
        .map_err(naming_error(style))?;
    Ok(ok(style))
}

pub(super) async fn service_delete(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    app.core
        .delete_service(&p.actor(), &service)
        .await
        .map_err(naming_error(style))?;
    Ok(ok(style))
}

pub(super) async fn service_detail(
    app: &AppState,
    service: ServiceKey,
    _: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let entry = app
        .core
        .get_service(&service)
        .map_err(naming_error(style))?
        .ok_or_else(|| naming_error(style)(crate::core::naming::service_not_found(&service)))?;
    let selector: Value =
        serde_json::from_str(&entry.selector).unwrap_or_else(|_| json!({"type": "none"}));
    let clusters: std::collections::BTreeSet<&str> = entry
        .instances
        .values()
        .map(|i| i.spec.cluster.as_str())
        .collect();
    let body = json!({
        "namespaceId": service.namespace, "namespace": service.namespace, "groupName": service.group,
        "name": service.service, "serviceName": service.service, "protectThreshold": entry.protect_threshold,
        "metadata": entry.metadata, "selector": selector,
        "clusters": clusters.iter().map(|c| json!({"name": c, "healthChecker": {"type": "TCP"}, "metadata": {}})).collect::<Vec<_>>(),
        "ephemeral": entry.instances.values().all(|i| i.spec.ephemeral),
    });
    Ok(if style == Style::V2 {
        success(body)
    } else {
        axum::Json(body).into_response()
    })
}

pub(super) async fn service_list(
    app: &AppState,
    scope: &ServiceScope,
    caller: &Caller,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let page_no = p.number("pageNo", 1, style)?;
    let page_size = p.number("pageSize", if style == Style::V2 { 20 } else { 10 }, style)?;
    let group = scope.group.as_deref().unwrap_or(DEFAULT_GROUP);
    let page = app
        .core
        .list_services(&scope.namespace, group, &caller.reader, page_no, page_size)
        .map_err(naming_error(style))?;
    let names: Vec<&str> = page.items.iter().map(|k| k.service.as_str()).collect();
    Ok(if style == Style::V2 {
        success(json!({"count": page.total_count, "services": names}))
    } else {
        axum::Json(json!({"count": page.total_count, "doms": names})).into_response()
    })
}
