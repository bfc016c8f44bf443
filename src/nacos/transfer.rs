//! Config export and import as ZIP files (seed 004's v3 routes): `GROUP/dataId` holds the
//! content and `GROUP/dataId.meta` its metadata as YAML.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::error::{ApiError, Style, success};
use super::guard::{Caller, Checked, ConfigScope, Import, KvExportScope};
use super::params::Params;
use crate::core::auth::Resource;
use crate::core::configs::ConfigKey;
use crate::core::configs::PublishConfig;
use crate::core::limits;

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

/// `GET .../cs/config/export?namespaceId&group&dataIds&appName` → a ZIP of the matching configs
/// the caller may read.
pub async fn export(
    State(app): State<AppState>,
    scope: Checked<ConfigScope>,
    caller: Caller,
    p: Params,
) -> Result<Response, ApiError> {
    let namespace = scope.namespace.clone();
    if !app.core.model.read().namespace_exists(&namespace) {
        return Err(ApiError::from_core(
            Style::V2,
            crate::core::CoreError::NamespaceNotFound(namespace),
        ));
    }
    let group = scope.group.as_deref().unwrap_or("");
    let app_name = p.str("appName");
    let ids: Vec<&str> = p
        .str("dataIds")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let entries: Vec<_> = {
        let state = app.core.model.read();
        state
            .live_configs()
            .filter(|e| e.key.namespace == namespace)
            .filter(|e| group.is_empty() || e.key.group == group)
            .filter(|e| app_name.is_empty() || e.app_name == app_name)
            .filter(|e| ids.is_empty() || ids.contains(&e.key.data_id.as_str()))
            .filter(|e| {
                caller
                    .reader
                    .may_read(&state.auth, &Resource::of_config(&e.key))
            })
            .cloned()
            .collect()
    };
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

/// Reads an export ZIP into publish requests for `namespace`. What it inflates is bounded
/// (`limits::IMPORT`), so an archive that would inflate past the bounds (a ZIP bomb) is refused
/// with nothing written.
pub fn read_zip(bytes: &[u8], namespace: &str) -> Result<Vec<PublishConfig>, ApiError> {
    let bounds = limits::IMPORT;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| invalid(format!("not a ZIP file: {e}")))?;
    if archive.len() > bounds.max_entries {
        return Err(invalid(format!(
            "the archive holds {} entries; at most {} may be imported at once",
            archive.len(),
            bounds.max_entries
        )));
    }
    let mut files: HashMap<String, String> = HashMap::new();
    let mut inflated: u64 = 0;
    for i in 0..archive.len() {
        let file = archive
            .by_index(i)
            .map_err(|e| invalid(format!("unreadable ZIP entry: {e}")))?;
        if file.is_dir() {
            continue;
        }
        let name = file
            .name()
            .map_err(|e| invalid(format!("unreadable ZIP entry name: {e}")))?
            .into_owned();
        // Read at most one byte past each bound: declared sizes can lie.
        let room = bounds
            .max_entry_bytes
            .min(bounds.max_total_bytes - inflated);
        let mut raw = Vec::new();
        file.take(room + 1)
            .read_to_end(&mut raw)
            .map_err(|e| invalid(format!("{name}: cannot inflate: {e}")))?;
        if raw.len() as u64 > room {
            return Err(invalid(format!(
                "{name} inflates past the import bounds ({} bytes an entry, {} in all): refused, nothing imported",
                bounds.max_entry_bytes, bounds.max_total_bytes
            )));
        }
        inflated += raw.len() as u64;
        let text =
            String::from_utf8(raw).map_err(|_| invalid(format!("{name} is not UTF-8 text")))?;
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

/// Imports what the guard read: `POST .../cs/config/import?namespaceId&policy=SKIP|OVERWRITE|ABORT`
/// with a multipart `file` (`namespaceId` and `policy` may also be form fields), or
/// `PUT /v1/kv/import?namespaceId&policy` with the JSON array the export writes. Every entry
/// arrives checked for write.
pub async fn import(
    State(app): State<AppState>,
    import: Checked<Import>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let Import { items, policy } = import.into_inner();
    if items.is_empty() {
        return Err(ApiError::new(
            Style::V2,
            StatusCode::BAD_REQUEST,
            100005,
            "imported file data is empty",
        ));
    }
    let report = app
        .core
        .import_configs(&caller.actor(), items, policy)
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

/// `GET /v1/kv/export?namespaceId&prefix` → `[{Key, Flags, Value(base64)}]` of the configs the
/// caller may read.
pub async fn kv_export(
    State(app): State<AppState>,
    scope: Checked<KvExportScope>,
    caller: Caller,
    p: Params,
) -> Result<Response, ApiError> {
    use base64::Engine;
    let namespace = scope.0.as_deref();
    let prefix = p.str("prefix");
    let state = app.core.model.read();
    let items: Vec<KvItem> = state
        .live_configs()
        .filter(|e| namespace.is_none_or(|n| n == e.key.namespace))
        .filter(|e| {
            caller
                .reader
                .may_read(&state.auth, &Resource::of_config(&e.key))
        })
        .map(|e| KvItem {
            key: format!("{}/{}/{}", e.key.namespace, e.key.group, e.key.data_id),
            flags: 0,
            value: Some(base64::engine::general_purpose::STANDARD.encode(e.content.as_bytes())),
        })
        .filter(|i| i.key.starts_with(prefix))
        .collect();
    drop(state);
    Ok(axum::Json(items).into_response())
}

/// Reads the Consul-style JSON import (`Key` is `namespace/group/dataId`) into publish requests;
/// `namespace`, when given, replaces every entry's.
pub fn read_kv_items(body: &[u8], namespace: Option<&str>) -> Result<Vec<PublishConfig>, ApiError> {
    use base64::Engine;
    let items: Vec<KvItem> = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("not a JSON array of {{Key, Flags, Value}}: {e}")))?;
    if items.len() > limits::IMPORT.max_entries {
        return Err(invalid(format!(
            "{} entries; at most {} may be imported at once",
            items.len(),
            limits::IMPORT.max_entries
        )));
    }
    let mut configs = Vec::new();
    for item in items {
        let parts: Vec<&str> = item.key.splitn(3, '/').collect();
        let [own_namespace, group, data_id] = parts.as_slice() else {
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
            key: ConfigKey::new(namespace.unwrap_or(own_namespace), group, data_id),
            content,
            ..Default::default()
        });
    }
    Ok(configs)
}
