//! Config routes: v1 `/nacos/v1/cs/configs`, v2 `/nacos/v2/cs/config`, and the v3 admin, client and
//! console-style routes. All are thin translations onto `core::configs`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, Style, success};
use super::guard::{Caller, Checked, ConfigOp, ConfigScope};
use super::params::Params;
use crate::core::configs::{ConfigEntry, ConfigKey};
use crate::core::configs::{ConfigQuery, PublishConfig};
use crate::core::state::PUBLIC_NAMESPACE;

/// The v1 spelling of a namespace in bodies: Nacos 2.x writes the public namespace as "".
fn tenant_v1(namespace: &str) -> &str {
    if namespace == PUBLIC_NAMESPACE {
        ""
    } else {
        namespace
    }
}

/// Content-Type Nacos serves for a config type.
fn content_type(config_type: &str) -> &'static str {
    match config_type {
        "json" => "application/json;charset=UTF-8",
        "xml" => "application/xml;charset=UTF-8",
        "html" => "text/html;charset=UTF-8",
        _ => "text/plain;charset=UTF-8",
    }
}

/// Nacos' no-cache headers plus the config's md5, type and modification time.
fn config_headers(response: &mut Response, entry: &ConfigEntry, body_type: &'static str) {
    // The hot read path: fixed values are static, the others are copied once, not formatted.
    const CONFIG_TYPE: HeaderName = HeaderName::from_static("config-type");
    const CONTENT_MD5: HeaderName = HeaderName::from_static("content-md5");
    const ENCRYPTED_DATA_KEY: HeaderName = HeaderName::from_static("encrypted-data-key");
    let h = response.headers_mut();
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(CONFIG_TYPE, &entry.config_type);
    set(CONTENT_MD5, &entry.md5);
    if !entry.encrypted_data_key.is_empty() {
        set(ENCRYPTED_DATA_KEY, &entry.encrypted_data_key);
    }
    if let Ok(millis) = u64::try_from(entry.modify_time) {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis);
        set(header::LAST_MODIFIED, &httpdate::fmt_http_date(time));
    }
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::EXPIRES,
        HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache,no-store"),
    );
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(body_type));
}

/// `ConfigAllInfo` as `show=all` returns it.
pub fn detail_json(e: &ConfigEntry) -> Value {
    json!({
        "id": e.create_seq.to_string(), "dataId": e.key.data_id, "group": e.key.group,
        "content": e.content, "md5": e.md5, "encryptedDataKey": e.encrypted_data_key,
        "tenant": tenant_v1(&e.key.namespace), "appName": e.app_name, "type": e.config_type,
        "createTime": e.create_time, "modifyTime": e.modify_time, "createUser": e.src_user,
        "createIp": e.src_ip, "desc": e.desc, "use": null, "effect": null, "schema": null,
        "configTags": if e.tags.is_empty() { Value::Null } else { Value::from(e.tags.clone()) },
    })
}

/// The v3 `ConfigDetailInfo`.
fn detail_json_v3(e: &ConfigEntry) -> Value {
    json!({
        "id": e.create_seq.to_string(), "namespaceId": e.key.namespace, "groupName": e.key.group,
        "dataId": e.key.data_id, "md5": e.md5, "type": e.config_type, "appName": e.app_name,
        "createTime": e.create_time, "modifyTime": e.modify_time, "content": e.content,
        "desc": e.desc, "encryptedDataKey": e.encrypted_data_key, "createUser": e.src_user,
        "createIp": e.src_ip, "configTags": e.tags,
    })
}

/// A search result item (`ConfigInfo`).
fn item_json(e: &ConfigEntry) -> Value {
    json!({
        "id": e.create_seq.to_string(), "dataId": e.key.data_id, "group": e.key.group,
        "content": e.content, "md5": e.md5, "encryptedDataKey": e.encrypted_data_key,
        "tenant": tenant_v1(&e.key.namespace), "appName": e.app_name, "type": e.config_type,
    })
}

fn publish_request(p: &Params, style: Style, key: ConfigKey) -> Result<PublishConfig, ApiError> {
    let content = p.required("content", style)?.to_owned();
    Ok(PublishConfig {
        key,
        content,
        config_type: p.str("type").to_owned(),
        app_name: p.str("appName").to_owned(),
        desc: p.str("desc").to_owned(),
        tags: if style == Style::V1 {
            p.str("config_tags")
        } else {
            p.first(&["configTags", "config_tags"])
        }
        .to_owned(),
        encrypted_data_key: p.str("encryptedDataKey").to_owned(),
        cas_md5: p
            .header("casMd5")
            .or_else(|| p.get("casMd5"))
            .map(str::to_owned),
    })
}

/// A search of the configs the scope names; the patterns are the scope's dataId and group.
fn search_query(
    p: &Params,
    scope: &ConfigScope,
    style: Style,
    blur: bool,
) -> Result<ConfigQuery, ApiError> {
    Ok(ConfigQuery {
        namespace: scope.namespace.clone(),
        data_id: scope.data_id.clone().unwrap_or_default(),
        group: scope.group.clone().unwrap_or_default(),
        app_name: p.str("appName").to_owned(),
        tags: p.first(&["config_tags", "configTags"]).to_owned(),
        content: p.first(&["config_detail", "configDetail"]).to_owned(),
        blur,
        page_no: p.number("pageNo", 1, style)?,
        page_size: p.number("pageSize", 100, style)?,
    })
}

fn page_json(page: crate::core::Page<Arc<ConfigEntry>>, item: fn(&ConfigEntry) -> Value) -> Value {
    json!({
        "totalCount": page.total_count, "pageNumber": page.page_number,
        "pagesAvailable": page.pages_available,
        "pageItems": page.items.iter().map(|e| item(e)).collect::<Vec<_>>(),
    })
}

fn core_err(style: Style) -> impl Fn(crate::core::CoreError) -> ApiError {
    move |e| ApiError::from_core(style, e)
}

// ---- v1 ----

pub async fn v1_get(
    State(app): State<AppState>,
    op: Checked<ConfigOp>,
    caller: Caller,
    p: Params,
) -> Result<Response, ApiError> {
    let style = Style::V1;
    let key = match op.into_inner() {
        ConfigOp::Search(scope) => {
            let blur = match p.str("search") {
                "blur" => true,
                "accurate" => false,
                other => {
                    return Err(ApiError::invalid(
                        style,
                        format!("search must be accurate or blur, not {other}"),
                    ));
                }
            };
            let page = app
                .core
                .search_configs(&search_query(&p, &scope, style, blur)?, &caller.reader)
                .map_err(core_err(style))?;
            return Ok(axum::Json(page_json(page, item_json)).into_response());
        }
        ConfigOp::One(key) => key,
        ConfigOp::Ids(_) => return Err(ApiError::invalid(style, "delType applies to DELETE")),
    };
    let entry = app.core.get_config(&key).map_err(core_err(style))?;
    if p.get("show") == Some("all") {
        // Nacos answers an empty 200 for a missing config here.
        return Ok(match entry {
            Some(e) => axum::Json(detail_json(&e)).into_response(),
            None => StatusCode::OK.into_response(),
        });
    }
    match entry {
        Some(e) => {
            let mut response = e.content.clone().into_response();
            config_headers(&mut response, &e, content_type(&e.config_type));
            Ok(response)
        }
        None => Ok((
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
            "config data not exist\n",
        )
            .into_response()),
    }
}

pub async fn v1_post(
    State(app): State<AppState>,
    op: Checked<ConfigOp>,
    p: Params,
) -> Result<Response, ApiError> {
    let ConfigOp::One(key) = op.into_inner() else {
        return Err(ApiError::invalid(
            Style::V1,
            "dataId and group name one config",
        ));
    };
    let req = publish_request(&p, Style::V1, key)?;
    app.core
        .publish_config(&p.actor(), req)
        .await
        .map_err(cas_v1)?;
    Ok(axum::Json(true).into_response())
}

/// Nacos v1 answers a lost compare-and-set with 500 and this text.
fn cas_v1(e: crate::core::CoreError) -> ApiError {
    match e {
        crate::core::CoreError::Conflict(_) => ApiError::new(
            Style::V1,
            StatusCode::INTERNAL_SERVER_ERROR,
            20005,
            "Cas publish fail, server md5 may have changed.",
        ),
        other => ApiError::from_core(Style::V1, other),
    }
}

pub async fn v1_delete(
    State(app): State<AppState>,
    op: Checked<ConfigOp>,
    p: Params,
) -> Result<Response, ApiError> {
    match op.into_inner() {
        ConfigOp::Ids(keys) => {
            for key in keys {
                if let Err(e) = app.core.remove_config(&p.actor(), &key).await {
                    return Ok(axum::Json(
                        json!({"code": 500, "message": e.to_string(), "data": null}),
                    )
                    .into_response());
                }
            }
            Ok(axum::Json(json!({"code": 200, "message": null, "data": true})).into_response())
        }
        ConfigOp::One(key) => {
            app.core
                .remove_config(&p.actor(), &key)
                .await
                .map_err(core_err(Style::V1))?;
            Ok(axum::Json(true).into_response())
        }
        ConfigOp::Search(_) => Err(ApiError::invalid(Style::V1, "search applies to GET")),
    }
}

// ---- v2 ----

pub async fn v2_get(
    State(app): State<AppState>,
    key: Checked<ConfigKey>,
) -> Result<Response, ApiError> {
    match app.core.get_config(&key).map_err(core_err(Style::V2))? {
        Some(e) => {
            let mut response = success(&e.content);
            config_headers(&mut response, &e, "application/json;charset=UTF-8");
            Ok(response)
        }
        None => Err(ApiError::new(
            Style::V2,
            StatusCode::NOT_FOUND,
            20004,
            "config data not exist",
        )),
    }
}

/// v2 and v3 publish: `{code: 0, data: true}`.
pub async fn publish(
    State(app): State<AppState>,
    key: Checked<ConfigKey>,
    p: Params,
) -> Result<Response, ApiError> {
    let req = publish_request(&p, Style::V2, key.into_inner())?;
    app.core
        .publish_config(&p.actor(), req)
        .await
        .map_err(core_err(Style::V2))?;
    Ok(success(true))
}

/// v2 and v3 delete.
pub async fn remove(
    State(app): State<AppState>,
    key: Checked<ConfigKey>,
    p: Params,
) -> Result<Response, ApiError> {
    app.core
        .remove_config(&p.actor(), &key)
        .await
        .map_err(core_err(Style::V2))?;
    Ok(success(true))
}

// ---- v3 ----

/// Admin and console: `ConfigDetailInfo` in the envelope; 404 when missing.
pub async fn v3_get(
    State(app): State<AppState>,
    key: Checked<ConfigKey>,
) -> Result<Response, ApiError> {
    match app.core.get_config(&key).map_err(core_err(Style::V2))? {
        Some(e) => Ok(success(detail_json_v3(&e))),
        None => Err(ApiError::new(
            Style::V2,
            StatusCode::NOT_FOUND,
            20004,
            "Config not exist, please publish Config first.",
        )),
    }
}

pub async fn v3_list(
    State(app): State<AppState>,
    scope: Checked<ConfigScope>,
    caller: Caller,
    p: Params,
) -> Result<Response, ApiError> {
    let blur = p.get("search").is_none_or(|s| s == "blur");
    let page = app
        .core
        .search_configs(&search_query(&p, &scope, Style::V2, blur)?, &caller.reader)
        .map_err(core_err(Style::V2))?;
    Ok(success(page_json(page, detail_json_v3)))
}

/// The client open API answers a `ConfigQueryResponse` inside the envelope, and 200 with
/// code 20004 when the config is missing.
pub async fn v3_client_get(
    State(app): State<AppState>,
    key: Checked<ConfigKey>,
) -> Result<Response, ApiError> {
    match app.core.get_config(&key).map_err(core_err(Style::V1))? {
        Some(e) => Ok(success(json!({
            "resultCode": 200, "errorCode": 0, "message": null, "requestId": null,
            "content": e.content, "encryptedDataKey": e.encrypted_data_key,
            "contentType": e.config_type, "md5": e.md5, "lastModified": e.modify_time,
            "beta": false, "tag": null, "success": true,
        }))),
        None => Ok(axum::Json(
            json!({"code": 20004, "message": "resource not found", "data": null}),
        )
        .into_response()),
    }
}
