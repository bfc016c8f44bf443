//! Nacre's package API (`/nacre/v1/packages`) and the `nacre package` command line. A thin
//! adapter over `core::packages`; see docs/packages-openapi.yaml for the description.

pub mod cli;
pub mod spool;

use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use crate::core::packages::{PackageEntry, PackageKey, Spooled, Upload};
use crate::core::{Actor, Core, CoreError};
use crate::nacos::guard::{Caller, GuardState, Route, Rule, route};
use spool::{SpoolError, SpoolFile, spool};

#[derive(Clone)]
pub struct PackagesState {
    /// Shared, not copied: axum clones the state for every request.
    pub core: std::sync::Arc<Core>,
    pub spool_dir: PathBuf,
    pub max_bytes: u64,
}

/// Every package route with its access rule (signed-in users read, admins write): what the
/// router serves and what the access tests enumerate.
pub fn routes() -> Vec<Route<PackagesState>> {
    vec![
        route(
            "/nacre/v1/packages",
            Rule::Packages,
            get(list).post(upload_multipart),
        ),
        route(
            "/nacre/v1/packages/{os}/{object}/{version}/{name}",
            Rule::Packages,
            get(download).put(upload_raw).delete(remove),
        ),
        route(
            "/nacre/v1/packages/{os}/{object}/{version}/{name}/info",
            Rule::Packages,
            get(info),
        ),
    ]
}

pub fn router(
    core: std::sync::Arc<Core>,
    spool_dir: PathBuf,
    max_bytes: u64,
    max_body: usize,
) -> Router {
    let guard = GuardState {
        core: core.clone(),
        max_body,
    };
    crate::nacos::guard::router(routes(), &guard)
        // Uploads stream to disk under their own limit (packages.max-bytes).
        .layer(DefaultBodyLimit::disable())
        .with_state(PackagesState {
            core,
            spool_dir,
            max_bytes,
        })
}

/// A package API error: JSON `{"error": ...}` with the fitting status.
pub struct PackageError(StatusCode, String);

impl IntoResponse for PackageError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"error": self.1}))).into_response()
    }
}

impl From<CoreError> for PackageError {
    fn from(e: CoreError) -> Self {
        let status = match &e {
            CoreError::Invalid { .. } | CoreError::NamespaceNotFound(_) => StatusCode::BAD_REQUEST,
            CoreError::NotFound(_) => StatusCode::NOT_FOUND,
            CoreError::Conflict(_) => StatusCode::CONFLICT,
            CoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self(status, e.to_string())
    }
}

impl From<SpoolError> for PackageError {
    fn from(e: SpoolError) -> Self {
        let status = match e {
            SpoolError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            SpoolError::Interrupted(_) => StatusCode::BAD_REQUEST,
            SpoolError::Disk(_) => StatusCode::INSUFFICIENT_STORAGE,
        };
        Self(status, e.to_string())
    }
}

fn bad(message: impl Into<String>) -> PackageError {
    PackageError(StatusCode::BAD_REQUEST, message.into())
}

/// The JSON a listing and `info` show for a package.
pub fn entry_json(p: &PackageEntry) -> serde_json::Value {
    json!({
        "key": p.key().path(), "os": p.info.os, "object": p.info.object, "version": p.info.version,
        "name": p.info.name, "type": p.info.kind, "size": p.info.size, "sha256": p.info.sha256,
        "contentType": p.info.content_type, "description": p.info.description,
        "uploader": p.info.uploader,
        "uploadedAt": chrono::DateTime::from_timestamp_millis(p.uploaded_at).map(|t| t.to_rfc3339()),
        "seq": p.seq,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    os: Option<String>,
    object: Option<String>,
    version: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn list(State(s): State<PackagesState>, Query(f): Query<Filter>) -> Response {
    let matches = |want: &Option<String>, have: &str| {
        want.as_deref().is_none_or(|w| w.is_empty() || w == have)
    };
    let found = s.core.list_packages(|p| {
        matches(&f.os, &p.info.os)
            && matches(&f.object, &p.info.object)
            && matches(&f.version, &p.info.version)
            && matches(&f.kind, &p.info.kind)
    });
    axum::Json(
        json!({"count": found.len(), "packages": found.iter().map(entry_json).collect::<Vec<_>>()}),
    )
    .into_response()
}

async fn info(
    State(s): State<PackagesState>,
    Path((os, object, version, name)): Path<(String, String, String, String)>,
) -> Result<Response, PackageError> {
    let key = PackageKey::new(&os, &object, &version, &name)?;
    let entry = s.core.get_package(&key).ok_or_else(|| {
        PackageError::from(CoreError::NotFound(format!(
            "package {} not found",
            key.path()
        )))
    })?;
    Ok(axum::Json(entry_json(&entry)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct UploadQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    description: Option<String>,
    overwrite: Option<String>,
    sha256: Option<String>,
}

/// The type a package is stored and served as: what the client said, unless it said nothing
/// meaningful — no header, or curl's `--data-binary` default `application/x-www-form-urlencoded`
/// (a package is never a form) — then by the file name's extension, else
/// `application/octet-stream`.
fn content_type(given: Option<String>, name: &str) -> String {
    let meaningless = |t: &str| {
        t.is_empty()
            || t.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
    };
    if let Some(t) = given.filter(|t| !meaningless(t)) {
        return t;
    }
    let name = name.to_ascii_lowercase();
    const BY_EXTENSION: &[(&str, &str)] = &[
        (".tar.gz", "application/gzip"),
        (".tgz", "application/gzip"),
        (".gz", "application/gzip"),
        (".zip", "application/zip"),
        (".jar", "application/java-archive"),
        (".tar", "application/x-tar"),
        (".json", "application/json"),
        (".yaml", "application/yaml"),
        (".yml", "application/yaml"),
        (".txt", "text/plain"),
    ];
    BY_EXTENSION
        .iter()
        .find(|(ext, _)| name.ends_with(ext))
        .map_or("application/octet-stream", |(_, t)| t)
        .to_owned()
}

fn truthy(v: Option<&str>) -> bool {
    matches!(
        v.map(str::to_ascii_lowercase).as_deref(),
        Some("true" | "1" | "yes" | "on")
    )
}

/// `PUT /nacre/v1/packages/{os}/{object}/{version}/{name}` with the raw bytes as the body.
async fn upload_raw(
    State(s): State<PackagesState>,
    Path((os, object, version, name)): Path<(String, String, String, String)>,
    Query(q): Query<UploadQuery>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PackageError> {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let upload = Upload {
        key: PackageKey::new(&os, &object, &version, &name)?,
        kind: q.kind.unwrap_or_else(|| "collector".into()),
        content_type: content_type(header("content-type"), &name),
        description: q.description.unwrap_or_default(),
        overwrite: truthy(q.overwrite.as_deref()),
        expected_sha256: q.sha256.or_else(|| header("x-checksum-sha256")),
    };
    // Refuse before reading a byte when the answer is already known.
    s.core.check_upload(&upload)?;
    let file = spool(&s.spool_dir, body.into_data_stream(), s.max_bytes).await?;
    store(&s, &caller.actor(), upload, &file).await
}

/// `POST /nacre/v1/packages`, multipart: `os`, `object`, `version`, `type`, `description`,
/// `overwrite`, `sha256`, optional `name` (else the file's name), and the `file`.
async fn upload_multipart(
    State(s): State<PackagesState>,
    caller: Caller,
    mut form: Multipart,
) -> Result<Response, PackageError> {
    let mut fields = std::collections::HashMap::new();
    let mut file: Option<(SpoolFile, String, String)> = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| bad(format!("bad multipart body: {e}")))?
    {
        let field_name = field.name().unwrap_or_default().to_owned();
        if field_name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_owned();
            let spooled = spool(&s.spool_dir, field, s.max_bytes).await?;
            file = Some((spooled, file_name, content_type));
        } else {
            let value = field
                .text()
                .await
                .map_err(|e| bad(format!("bad field {field_name}: {e}")))?;
            fields.insert(field_name, value);
        }
    }
    let (spooled, file_name, content_type) =
        file.ok_or_else(|| bad("the multipart body has no `file` part"))?;
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let name = if get("name").is_empty() {
        file_name.as_str()
    } else {
        get("name")
    };
    let upload = Upload {
        key: PackageKey::new(get("os"), get("object"), get("version"), name)?,
        kind: if get("type").is_empty() {
            "collector".into()
        } else {
            get("type").to_owned()
        },
        content_type,
        description: get("description").to_owned(),
        overwrite: truthy(fields.get("overwrite").map(String::as_str)),
        expected_sha256: fields.get("sha256").filter(|v| !v.is_empty()).cloned(),
    };
    store(&s, &caller.actor(), upload, &spooled).await
}

async fn store(
    s: &PackagesState,
    actor: &Actor,
    upload: Upload,
    file: &SpoolFile,
) -> Result<Response, PackageError> {
    let spooled = Spooled {
        path: &file.path,
        size: file.size,
        sha256: file.sha256.clone(),
    };
    let entry = s.core.store_package(actor, upload, spooled).await?;
    Ok((StatusCode::CREATED, axum::Json(entry_json(&entry))).into_response())
}

async fn remove(
    State(s): State<PackagesState>,
    Path((os, object, version, name)): Path<(String, String, String, String)>,
    caller: Caller,
) -> Result<Response, PackageError> {
    let key = PackageKey::new(&os, &object, &version, &name)?;
    s.core.delete_package(&caller.actor(), &key).await?;
    Ok(axum::Json(json!({"deleted": key.path()})).into_response())
}

/// One byte range of a `Range: bytes=...` header, resolved against the size.
pub fn parse_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (size.saturating_sub(n), size - 1)
        }
        (start, "") => (start.parse().ok()?, size - 1),
        (start, end) => (start.parse().ok()?, end.parse::<u64>().ok()?.min(size - 1)),
    };
    (start <= end && start < size).then_some((start, end))
}

/// Streams a package; `Range` gives 206 with the requested bytes.
async fn download(
    State(s): State<PackagesState>,
    Path((os, object, version, name)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, PackageError> {
    let key = PackageKey::new(&os, &object, &version, &name)?;
    let (entry, mut reader) = s.core.open_package(&key).await?;
    let size = entry.info.size;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(h) => match parse_range(h, size) {
            Some(r) => Some(r),
            None => {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{size}"))],
                )
                    .into_response());
            }
        },
    };
    let (status, start, len) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, size),
    };
    if start > 0 {
        // The Object Store reads sequentially: skip up to the range start.
        tokio::io::copy(&mut (&mut reader).take(start), &mut tokio::io::sink())
            .await
            .map_err(|e| PackageError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    }
    let body = Body::from_stream(ReaderStream::with_capacity(reader.take(len), 256 * 1024));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    let digest = base64::engine::general_purpose::STANDARD
        .encode(hex::decode(&entry.info.sha256).unwrap_or_default());
    for (name, value) in [
        (header::CONTENT_LENGTH, len.to_string()),
        (header::CONTENT_TYPE, entry.info.content_type.clone()),
        (header::ETAG, format!("\"{}\"", entry.info.sha256)),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", entry.info.name),
        ),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    for (name, value) in [
        ("digest", format!("sha-256={digest}")),
        ("x-checksum-sha256", entry.info.sha256.clone()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    if let Some((start, end)) = range
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        for bad in [
            "bytes=100-",
            "bytes=9-3",
            "items=0-1",
            "bytes=0-1,4-5",
            "bytes=x-1",
        ] {
            assert_eq!(parse_range(bad, 100), None, "{bad}");
        }
    }
}
