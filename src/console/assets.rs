//! The console's files, built by Vite into `console/dist` and embedded in the binary (in every
//! profile), served from `/` and `/nacos/`. Hashed files under `assets/` never change, so they
//! are cached for a year; `index.html` is revalidated each time (`no-cache`, ETag). Each file is
//! embedded as built and precompressed (`.br`, `.gz`); the smallest the client accepts is sent.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

#[derive(rust_embed::Embed)]
#[folder = "console/dist/"]
#[exclude = "source-hash.txt"]
struct Dist;

/// The hash of the console's sources the embedded build was made from (see [`source_hash`]).
pub const SOURCE_HASH_FILE: &str = "console/dist/source-hash.txt";

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map_or("", |(_, ext)| ext) {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|c| {
            let mut parts = c.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|q| q.trim().replace(' ', "") == "q=0");
            name.eq_ignore_ascii_case(coding) && !refused
        })
}

/// Serves one embedded file, compressed when the client takes it.
pub fn serve(path: &str, request_headers: &HeaderMap) -> Response {
    let Some(file) = Dist::get(path) else {
        return if path == "index.html" {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "This nacre was built without its console (console/dist is empty): run `make console`.",
            )
                .into_response()
        } else {
            (StatusCode::NOT_FOUND, "No such console file").into_response()
        };
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    let matches_etag = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches_etag {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    for (coding, suffix) in [("br", ".br"), ("gzip", ".gz")] {
        if accepts(request_headers, coding)
            && let Some(packed) = Dist::get(&format!("{path}{suffix}"))
        {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
            return (headers, packed.data.into_owned()).into_response();
        }
    }
    (headers, file.data.into_owned()).into_response()
}

/// `/` and `/nacos/`: the console's page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `/nacos` → `/nacos/` (the page's asset paths are relative).
pub async fn to_nacos() -> Redirect {
    Redirect::permanent("/nacos/")
}

/// `/assets/<file>` and `/nacos/assets/<file>`.
pub async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    if path.contains("..") || path.ends_with(".gz") || path.ends_with(".br") {
        return (StatusCode::NOT_FOUND, "No such console file").into_response();
    }
    serve(&format!("assets/{path}"), &headers)
}

/// The hash `console/scripts/stamp.mjs` records when it builds: SHA-256 over each source file's
/// path (relative to `console/`, sorted) and the SHA-256 of its content. Sources are
/// `index.html`, `package.json`, `package-lock.json`, `vite.config.ts`, `tsconfig.json` and
/// everything under `src/` except unit tests (`*.test.ts`).
pub fn source_hash(console_dir: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    fn walk(dir: &std::path::Path, rel: &str, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{rel}/{name}");
            if entry.file_type()?.is_dir() {
                walk(&entry.path(), &path, out)?;
            } else if !name.ends_with(".test.ts") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files: Vec<String> = [
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    walk(&console_dir.join("src"), "src", &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        let content = std::fs::read(console_dir.join(&file))?;
        hasher.update(format!(
            "{file}\n{}\n",
            hex::encode(Sha256::digest(&content))
        ));
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed build must come from the committed sources: edit the console, then run
    /// `make console` and commit `console/dist` with it.
    #[test]
    fn the_embedded_console_is_built_from_the_current_sources() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let recorded = std::fs::read_to_string(root.join(SOURCE_HASH_FILE))
            .expect("console/dist/source-hash.txt: run `make console`");
        let current = source_hash(&root.join("console")).expect("console sources");
        assert_eq!(
            recorded.trim(),
            current,
            "console/dist is stale: run `make console` and commit console/dist"
        );
    }

    #[test]
    fn the_index_is_revalidated_and_hashed_assets_are_immutable_and_compressed() {
        let none = HeaderMap::new();
        let index = serve("index.html", &none);
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(index.headers()[header::CACHE_CONTROL], "no-cache");
        let etag = index.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            serve("index.html", &again).status(),
            StatusCode::NOT_MODIFIED
        );
        let asset = Dist::iter()
            .find(|p| p.starts_with("assets/") && p.ends_with(".js"))
            .expect("a built script");
        let mut gzip = HeaderMap::new();
        gzip.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate"),
        );
        let packed = serve(&asset, &gzip);
        assert_eq!(packed.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(
            packed.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert!(accepts(&gzip, "gzip") && !accepts(&gzip, "br"));
        let mut refused = HeaderMap::new();
        refused.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0"),
        );
        assert!(!accepts(&refused, "gzip"));
        assert_eq!(serve("nope.js", &none).status(), StatusCode::NOT_FOUND);
    }
}
