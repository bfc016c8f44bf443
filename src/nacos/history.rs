//! History routes: v1 `/nacos/v1/cs/history`, v2 `/nacos/v2/cs/history`, v3 admin history, and
//! Nacre's rollback (`POST /nacos/v1/cs/history/rollback?nid=`; Nacos has none, its console
//! re-publishes, which this does in one call).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, Style, success};
use super::guard::{Caller, Checked, ConfigScope, HistoryTarget};
use super::params::Params;
use crate::core::Page;
use crate::core::auth::Resource;
use crate::core::configs::ConfigKey;
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

async fn rows(
    app: &AppState,
    key: &ConfigKey,
    p: &Params,
    style: Style,
) -> Result<Page<HistoryItem>, ApiError> {
    let page_no = p.number("pageNo", 1, style)?;
    let page_size = p.number("pageSize", 100, style)?;
    let rows = app
        .core
        .config_history(key)
        .await
        .map_err(|e| ApiError::from_core(style, e))?;
    Ok(Page::of(rows, page_no, page_size))
}

/// The row the guard fetched and checked (`None`: no config change at that sequence).
fn row(target: HistoryTarget) -> Option<HistoryItem> {
    match target {
        HistoryTarget::Row(row) => row.ok().map(|r| *r),
        _ => None,
    }
}

/// The latest row of the config the guard checked: the content before its last change.
async fn previous(
    app: &AppState,
    target: HistoryTarget,
    style: Style,
) -> Result<Option<HistoryItem>, ApiError> {
    let key = match target {
        HistoryTarget::Previous(Ok(key)) | HistoryTarget::List(key) => key,
        HistoryTarget::Previous(Err(id)) => {
            return Err(ApiError::new(
                style,
                StatusCode::NOT_FOUND,
                20004,
                format!("previous config history for id = {id} not exist"),
            ));
        }
        HistoryTarget::Row(_) => return Ok(None),
    };
    let rows = app
        .core
        .config_history(&key)
        .await
        .map_err(|e| ApiError::from_core(style, e))?;
    Ok(rows.into_iter().next())
}

/// The configs of a namespace the caller may read (with `id` 0 and no content, as Nacos).
fn configs_in(
    app: &AppState,
    scope: &ConfigScope,
    caller: &Caller,
    style: Style,
) -> Result<Value, ApiError> {
    let namespace = scope.namespace.as_str();
    let state = app.core.model.read();
    if !state.namespace_exists(namespace) {
        return Err(ApiError::from_core(
            style,
            crate::core::CoreError::NamespaceNotFound(namespace.to_owned()),
        ));
    }
    let items: Vec<Value> = state
        .live_configs()
        .filter(|e| e.key.namespace == namespace)
        .filter(|e| caller.reader.may_read(&state.auth, &Resource::of_config(&e.key)))
        .map(|e| json!({"id": "0", "dataId": e.key.data_id, "group": e.key.group, "content": null, "md5": null,
            "encryptedDataKey": null, "tenant": if namespace == PUBLIC_NAMESPACE { "" } else { namespace },
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

pub async fn v1_history(
    State(app): State<AppState>,
    target: Checked<HistoryTarget>,
    p: Params,
) -> Result<Response, ApiError> {
    match target.into_inner() {
        HistoryTarget::List(key) => Ok(axum::Json(page_json(
            rows(&app, &key, &p, Style::V1).await?,
            false,
        ))
        .into_response()),
        other => Ok(body_or_empty(row(other), false)),
    }
}

pub async fn v1_previous(
    State(app): State<AppState>,
    target: Checked<HistoryTarget>,
) -> Result<Response, ApiError> {
    Ok(body_or_empty(
        previous(&app, target.into_inner(), Style::V1).await?,
        false,
    ))
}

pub async fn v1_configs(
    State(app): State<AppState>,
    scope: Checked<ConfigScope>,
    caller: Caller,
) -> Result<Response, ApiError> {
    Ok(axum::Json(configs_in(&app, &scope, &caller, Style::V1)?).into_response())
}

pub async fn v1_rollback(
    State(app): State<AppState>,
    target: Checked<HistoryTarget>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let row = match target.into_inner() {
        HistoryTarget::Row(Ok(row)) => *row,
        HistoryTarget::Row(Err(nid)) => {
            return Err(ApiError::from_core(
                Style::V1,
                crate::core::CoreError::NotFound(format!(
                    "certain config history for nid = {nid} not exist"
                )),
            ));
        }
        _ => return Err(ApiError::missing(Style::V1, "nid")),
    };
    app.core
        .rollback_config(&caller.actor(), row)
        .await
        .map_err(|e| ApiError::from_core(Style::V1, e))?;
    Ok(axum::Json(true).into_response())
}

// ---- v2 and v3 ----

async fn list(
    app: &AppState,
    target: HistoryTarget,
    p: &Params,
) -> Result<Page<HistoryItem>, ApiError> {
    match target {
        HistoryTarget::List(key) => rows(app, &key, p, Style::V2).await,
        _ => Err(ApiError::missing(Style::V2, "dataId")),
    }
}

pub async fn v2_list(
    State(app): State<AppState>,
    target: Checked<HistoryTarget>,
    p: Params,
) -> Result<Response, ApiError> {
    Ok(success(page_json(
        list(&app, target.into_inner(), &p).await?,
        false,
    )))
}

pub async fn v2_detail(target: Checked<HistoryTarget>) -> Response {
    success(row(target.into_inner()).map(|r| row_json(&r, true, false)))
}

pub async fn v2_previous(
    State(app): State<AppState>,
    target: Checked<HistoryTarget>,
) -> Result<Response, ApiError> {
    Ok(success(
        previous(&app, target.into_inner(), Style::V2)
            .await?
            .map(|r| row_json(&r, true, false)),
    ))
}

pub async fn v2_configs(
    State(app): State<AppState>,
    scope: Checked<ConfigScope>,
    caller: Caller,
) -> Result<Response, ApiError> {
    Ok(success(configs_in(&app, &scope, &caller, Style::V2)?))
}

pub async fn v3_list(
    State(app): State<AppState>,
    target: Checked<HistoryTarget>,
    p: Params,
) -> Result<Response, ApiError> {
    Ok(success(page_json(
        list(&app, target.into_inner(), &p).await?,
        true,
    )))
}

pub async fn v3_detail(target: Checked<HistoryTarget>) -> Response {
    success(row(target.into_inner()).map(|r| row_json(&r, true, true)))
}

pub async fn v3_previous(
    State(app): State<AppState>,
    target: Checked<HistoryTarget>,
) -> Result<Response, ApiError> {
    Ok(success(
        previous(&app, target.into_inner(), Style::V2)
            .await?
            .map(|r| row_json(&r, true, true)),
    ))
}
