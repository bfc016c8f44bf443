//! History routes: v1 `/nacos/v1/cs/history`, v2 `/nacos/v2/cs/history`, v3 admin history, and
//! Nacre's rollback (`POST /nacos/v1/cs/history/rollback?nid=`; Nacos has none, its console
//! re-publishes, which this does in one call).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::configs::{Names, V1, V2, V3, key};
use super::error::{ApiError, Style, success};
use super::params::Params;
use crate::core::Page;
use crate::core::history::HistoryItem;
use crate::core::state::PUBLIC_NAMESPACE;

/// ISO-8601 with milliseconds and offset, as Nacos' Jackson writes timestamps.
fn iso(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string())
        .unwrap_or_default()
}

/// `ConfigHistoryInfo`; list rows leave md5 and content null, as Nacos does.
fn row_json(row: &HistoryItem, detail: bool, millis: bool) -> Value {
    let tenant = if row.key.namespace == PUBLIC_NAMESPACE && !millis {
        ""
    } else {
        row.key.namespace.as_str()
    };
    let time = if millis {
        Value::from(row.time)
    } else {
        Value::from(iso(row.time))
    };
    let c = &row.config;
    json!({
        "id": row.id.to_string(), "lastId": -1, "dataId": row.key.data_id, "group": row.key.group,
        "groupName": row.key.group, "tenant": tenant, "namespaceId": row.key.namespace,
        "appName": c.app_name, "type": c.config_type,
        "md5": if detail { Value::from(c.md5.clone()) } else { Value::Null },
        "content": if detail { Value::from(c.content.clone()) } else { Value::Null },
        "encryptedDataKey": if detail { Value::from(c.encrypted_data_key.clone()) } else { Value::Null },
        "srcIp": row.src_ip, "srcUser": row.src_user, "opType": row.op.letter(),
        "publishType": "formal", "grayName": null, "extInfo": null,
        "createdTime": time, "lastModifiedTime": time, "createTime": row.time, "modifyTime": row.time,
    })
}

fn page_json(page: Page<HistoryItem>, millis: bool) -> Value {
    json!({
        "totalCount": page.total_count, "pageNumber": page.page_number,
        "pagesAvailable": page.pages_available,
        "pageItems": page.items.iter().map(|r| row_json(r, false, millis)).collect::<Vec<_>>(),
    })
}

async fn list(app: &AppState, p: &Params, names: Names) -> Result<Page<HistoryItem>, ApiError> {
    let key = key(p, names)?;
    let page_no = p.number("pageNo", 1, names.style)?;
    let page_size = p.number("pageSize", 100, names.style)?;
    let rows = app
        .core
        .config_history(&key)
        .await
        .map_err(|e| ApiError::from_core(names.style, e))?;
    Ok(Page::of(rows, page_no, page_size))
}

/// The row at `nid`, checked against the dataId/group/namespace the request names.
async fn detail(app: &AppState, p: &Params, names: Names) -> Result<Option<HistoryItem>, ApiError> {
    let nid: u64 = p
        .required("nid", names.style)?
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid(names.style, "nid must be a number"))?;
    let row = app
        .core
        .history_item(nid)
        .await
        .map_err(|e| ApiError::from_core(names.style, e))?;
    if let Some(row) = &row
        && p.get("dataId").is_some()
        && key(p, names)? != row.key
    {
        return Err(ApiError::new(
            names.style,
            StatusCode::FORBIDDEN,
            10001,
            "Please check dataId, group or namespaceId.",
        ));
    }
    Ok(row)
}

/// The latest row of a config: the content before its last change.
async fn previous(
    app: &AppState,
    p: &Params,
    names: Names,
) -> Result<Option<HistoryItem>, ApiError> {
    let key = if p.get("dataId").is_some() {
        key(p, names)?
    } else {
        let id: u64 = p
            .required("id", names.style)?
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid(names.style, "id must be a number"))?;
        let found = app
            .core
            .model
            .read()
            .live_configs()
            .find(|e| e.create_seq == id)
            .map(|e| e.key.clone());
        found.ok_or_else(|| {
            ApiError::new(
                names.style,
                StatusCode::NOT_FOUND,
                20004,
                format!("previous config history for id = {id} not exist"),
            )
        })?
    };
    let rows = app
        .core
        .config_history(&key)
        .await
        .map_err(|e| ApiError::from_core(names.style, e))?;
    Ok(rows.into_iter().next())
}

fn configs_in(app: &AppState, namespace: &str, style: Style) -> Result<Value, ApiError> {
    let namespace = crate::core::state::normalize_namespace(namespace).to_owned();
    if !app.core.model.read().namespace_exists(&namespace) {
        return Err(ApiError::from_core(
            style,
            crate::core::CoreError::NamespaceNotFound(namespace),
        ));
    }
    let state = app.core.model.read();
    let items: Vec<Value> = state
        .live_configs()
        .filter(|e| e.key.namespace == namespace)
        .map(|e| json!({"id": "0", "dataId": e.key.data_id, "group": e.key.group, "content": null, "md5": null,
            "encryptedDataKey": null, "tenant": if namespace == PUBLIC_NAMESPACE { "" } else { namespace.as_str() },
            "appName": e.app_name, "type": e.config_type, "lastModified": 0}))
        .collect();
    Ok(Value::from(items))
}

fn body_or_empty(row: Option<HistoryItem>, millis: bool) -> Response {
    match row {
        Some(r) => axum::Json(row_json(&r, true, millis)).into_response(),
        None => StatusCode::OK.into_response(),
    }
}

// ---- v1 ----

pub async fn v1_history(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    if p.get("nid").is_some() {
        return Ok(body_or_empty(detail(&app, &p, V1).await?, false));
    }
    Ok(axum::Json(page_json(list(&app, &p, V1).await?, false)).into_response())
}

pub async fn v1_previous(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    Ok(body_or_empty(previous(&app, &p, V1).await?, false))
}

pub async fn v1_configs(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let tenant = p.required("tenant", Style::V1)?;
    Ok(axum::Json(configs_in(&app, tenant, Style::V1)?).into_response())
}

pub async fn v1_rollback(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let nid: u64 = p
        .required("nid", Style::V1)?
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid(Style::V1, "nid must be a number"))?;
    app.core
        .rollback_config(&p.actor(), nid)
        .await
        .map_err(|e| ApiError::from_core(Style::V1, e))?;
    Ok(axum::Json(true).into_response())
}

// ---- v2 and v3 ----

pub async fn v2_list(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    Ok(success(page_json(list(&app, &p, V2).await?, false)))
}

pub async fn v2_detail(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    Ok(success(
        detail(&app, &p, V2)
            .await?
            .map(|r| row_json(&r, true, false)),
    ))
}

pub async fn v2_previous(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    Ok(success(
        previous(&app, &p, V2)
            .await?
            .map(|r| row_json(&r, true, false)),
    ))
}

pub async fn v2_configs(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    Ok(success(configs_in(&app, p.str("namespaceId"), Style::V2)?))
}

pub async fn v3_list(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    Ok(success(page_json(list(&app, &p, V3).await?, true)))
}

pub async fn v3_detail(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    Ok(success(
        detail(&app, &p, V3)
            .await?
            .map(|r| row_json(&r, true, true)),
    ))
}

pub async fn v3_previous(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    Ok(success(
        previous(&app, &p, V3)
            .await?
            .map(|r| row_json(&r, true, true)),
    ))
}
