//! Config export and import as ZIP files (seed 004's v3 routes): `GROUP/dataId` holds the
//! content and `GROUP/dataId.meta` its metadata as YAML.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};

use axum::extract::{Multipart, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::error::{ApiError, Style, success};
use super::params::Params;
use crate::core::configs::{ImportPolicy, PublishConfig};
use crate::core::state::{ConfigKey, normalize_namespace};

/// The `.meta` file beside each exported config.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Meta {
    data_id: String,
    group: String,
    namespace_id: String,
    content_type: String,
    app_name: String,
    desc: String,
    config_tags: String,
    md5: String,
    create_time: i64,
    modify_time: i64,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(Style::V2, StatusCode::BAD_REQUEST, 100004, message)
}

/// `GET .../cs/config/export?namespaceId&group&dataIds&appName` → a ZIP of the matching configs.
pub async fn export(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let namespace = normalize_namespace(p.first(&["namespaceId", "tenant"]).trim()).to_owned();
    if !app.core.model.read().namespace_exists(&namespace) {
        return Err(ApiError::from_core(
            Style::V2,
            crate::core::CoreError::NamespaceNotFound(namespace),
        ));
    }
    let group = p.first(&["groupName", "group"]);
    let app_name = p.str("appName");
    let ids: Vec<&str> = p
        .str("dataIds")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let entries: Vec<_> = app
        .core
        .model
        .read()
        .live_configs()
        .filter(|e| e.key.namespace == namespace)
        .filter(|e| group.is_empty() || e.key.group == group)
        .filter(|e| app_name.is_empty() || e.app_name == app_name)
        .filter(|e| ids.is_empty() || ids.contains(&e.key.data_id.as_str()))
        .cloned()
        .collect();
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let fail = |e: &dyn std::fmt::Display| {
        ApiError::new(
            Style::V2,
            StatusCode::INTERNAL_SERVER_ERROR,
            30000,
            e.to_string(),
        )
    };
    for e in &entries {
        let path = format!("{}/{}", e.key.group, e.key.data_id);
        let meta = Meta {
            data_id: e.key.data_id.clone(),
            group: e.key.group.clone(),
            namespace_id: e.key.namespace.clone(),
            content_type: e.config_type.clone(),
            app_name: e.app_name.clone(),
            desc: e.desc.clone(),
            config_tags: e.tags.clone(),
            md5: e.md5.clone(),
            create_time: e.create_time,
            modify_time: e.modify_time,
        };
        let meta = serde_yaml::to_string(&meta).map_err(|e| fail(&e))?;
        zip.start_file(&path, options).map_err(|e| fail(&e))?;
        zip.write_all(e.content.as_bytes()).map_err(|e| fail(&e))?;
        zip.start_file(format!("{path}.meta"), options)
            .map_err(|e| fail(&e))?;
        zip.write_all(meta.as_bytes()).map_err(|e| fail(&e))?;
    }
    let bytes = zip.finish().map_err(|e| fail(&e))?.into_inner();
    let name = format!(
        "attachment;filename=nacos_config_export_{}.zip",
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        bytes,
    )
        .into_response())
}

/// Reads an export ZIP into publish requests for `namespace`.
fn read_zip(bytes: &[u8], namespace: &str) -> Result<Vec<PublishConfig>, ApiError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| invalid(format!("not a ZIP file: {e}")))?;
    let mut files: HashMap<String, String> = HashMap::new();
    for i in 0..archive.len() {
        let mut file = archive
            .by_index(i)
            .map_err(|e| invalid(format!("unreadable ZIP entry: {e}")))?;
        if file.is_dir() {
            continue;
        }
        let name = file
            .name()
            .map_err(|e| invalid(format!("unreadable ZIP entry name: {e}")))?
            .into_owned();
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|_| invalid(format!("{name} is not UTF-8 text")))?;
        files.insert(name, text);
    }
    let mut items = Vec::new();
    let mut names: Vec<&String> = files.keys().filter(|n| !n.ends_with(".meta")).collect();
    names.sort();
    for name in names {
        let Some((group, data_id)) = name.split_once('/') else {
            return Err(invalid(format!("{name}: expected GROUP/dataId")));
        };
        let meta: Meta = match files.get(&format!("{name}.meta")) {
            Some(text) => {
                serde_yaml::from_str(text).map_err(|e| invalid(format!("{name}.meta: {e}")))?
            }
            None => Meta::default(),
        };
        items.push(PublishConfig {
            key: ConfigKey::new(namespace, group, data_id),
            content: files.get(name).cloned().unwrap_or_default(),
            config_type: meta.content_type,
            app_name: meta.app_name,
            desc: meta.desc,
            tags: meta.config_tags,
            encrypted_data_key: String::new(),
            cas_md5: None,
        });
    }
    Ok(items)
}

/// `POST .../cs/config/import?namespaceId&policy=SKIP|OVERWRITE|ABORT`, multipart `file`.
pub async fn import(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    mut multipart: Multipart,
) -> Result<Response, ApiError> {
    let namespace = query
        .get("namespaceId")
        .or_else(|| query.get("tenant"))
        .map_or("", |s| s.trim())
        .to_owned();
    let policy: ImportPolicy = query
        .get("policy")
        .map_or("", String::as_str)
        .parse()
        .map_err(|e| ApiError::from_core(Style::V2, e))?;
    let mut zip_bytes = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| invalid(format!("bad multipart body: {e}")))?
    {
        if field.name() == Some("file") {
            zip_bytes = Some(
                field
                    .bytes()
                    .await
                    .map_err(|e| invalid(format!("cannot read the file: {e}")))?,
            );
        }
    }
    let zip_bytes = zip_bytes.ok_or_else(|| ApiError::missing(Style::V2, "file"))?;
    let items = read_zip(&zip_bytes, &namespace)?;
    if items.is_empty() {
        return Err(ApiError::new(
            Style::V2,
            StatusCode::BAD_REQUEST,
            100005,
            "imported file data is empty",
        ));
    }
    let actor = crate::core::Actor::default();
    let report = app
        .core
        .import_configs(&actor, items, policy)
        .await
        .map_err(|e| ApiError::from_core(Style::V2, e))?;
    Ok(report_json(&report))
}

/// The answer to an import, as seed 004 shows it.
fn report_json(report: &crate::core::configs::ImportReport) -> Response {
    let fail_data: Vec<_> = report
        .failed
        .iter()
        .map(|(d, g, reason)| json!({"dataId": d, "group": g, "reason": reason}))
        .chain(report.aborted_at.iter().map(
            |k| json!({"dataId": k.data_id, "group": k.group, "reason": "exists; import aborted"}),
        ))
        .collect();
    success(json!({
        "successCount": report.success,
        "skipCount": report.skipped,
        "failCount": fail_data.len(),
        "failData": fail_data,
    }))
}

/// One entry of the Consul-style JSON export: `Key` is `namespace/group/dataId`.
#[derive(Debug, Serialize, Deserialize)]
pub struct KvItem {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Flags", default)]
    flags: u64,
    #[serde(rename = "Value", default)]
    value: Option<String>,
}

/// `GET /v1/kv/export?namespaceId&prefix` → `[{Key, Flags, Value(base64)}]` of the configs.
pub async fn kv_export(State(app): State<AppState>, p: Params) -> Result<Response, ApiError> {
    use base64::Engine;
    let namespace = p
        .get("namespaceId")
        .map(|n| normalize_namespace(n.trim()).to_owned());
    let prefix = p.str("prefix");
    let items: Vec<KvItem> = app
        .core
        .model
        .read()
        .live_configs()
        .filter(|e| namespace.as_ref().is_none_or(|n| *n == e.key.namespace))
        .map(|e| KvItem {
            key: format!("{}/{}/{}", e.key.namespace, e.key.group, e.key.data_id),
            flags: 0,
            value: Some(base64::engine::general_purpose::STANDARD.encode(e.content.as_bytes())),
        })
        .filter(|i| i.key.starts_with(prefix))
        .collect();
    Ok(axum::Json(items).into_response())
}

/// `PUT /v1/kv/import?namespaceId&policy` with a JSON array as the export writes it.
pub async fn kv_import(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    use base64::Engine;
    let policy: ImportPolicy = query
        .get("policy")
        .map_or("", String::as_str)
        .parse()
        .map_err(|e| ApiError::from_core(Style::V2, e))?;
    let items: Vec<KvItem> = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("not a JSON array of {{Key, Flags, Value}}: {e}")))?;
    if items.is_empty() {
        return Err(ApiError::new(
            Style::V2,
            StatusCode::BAD_REQUEST,
            100005,
            "imported file data is empty",
        ));
    }
    let target = query
        .get("namespaceId")
        .map(|n| n.trim())
        .filter(|n| !n.is_empty());
    let mut configs = Vec::new();
    for item in items {
        let parts: Vec<&str> = item.key.splitn(3, '/').collect();
        let [namespace, group, data_id] = parts.as_slice() else {
            return Err(invalid(format!(
                "{}: expected namespace/group/dataId",
                item.key
            )));
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(item.value.unwrap_or_default())
            .map_err(|_| invalid(format!("{}: Value is not base64", item.key)))?;
        let content = String::from_utf8(bytes)
            .map_err(|_| invalid(format!("{}: Value is not UTF-8 text", item.key)))?;
        configs.push(PublishConfig {
            key: ConfigKey::new(target.unwrap_or(namespace), group, data_id),
            content,
            ..Default::default()
        });
    }
    let report = app
        .core
        .import_configs(&crate::core::Actor::default(), configs, policy)
        .await
        .map_err(|e| ApiError::from_core(Style::V2, e))?;
    Ok(report_json(&report))
}
