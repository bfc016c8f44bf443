//! `POST /nacos/v1/cs/configs/listener`: HTTP long polling as Nacos clients speak it.
//!
//! `Listening-Configs` holds lines `dataId␂group␂md5[␂tenant]␁`. The answer lists, URL-encoded,
//! the keys whose md5 differs (`dataId␂group[␂tenant]␁`); it comes at once if any already differ,
//! otherwise when one changes or after `max(10 s, Long-Pulling-Timeout - 500 ms)` with an empty
//! body. The waiter subscribes to the change feed before comparing, so no change slips between.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::error::{ApiError, Style};
use super::guard::Checked;
use super::params::Params;
use crate::core::configs::ConfigKey;
use crate::core::state::{Change, State as CoreState};

const WORD_SEPARATOR: char = '\u{2}';
const LINE_SEPARATOR: char = '\u{1}';
const MIN_TIMEOUT_MS: u64 = 10_000;
const TIMEOUT_SLACK_MS: u64 = 500;
const MAX_TIMEOUT_MS: u64 = crate::core::limits::LONG_POLL_MAX.as_millis() as u64;

/// One line of `Listening-Configs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The config it names (what the access check saw).
    pub key: ConfigKey,
    pub md5: String,
    /// The tenant as the client sent it; echoed back only when present.
    pub tenant: Option<String>,
}

impl Probe {
    fn new(data_id: &str, group: &str, md5: &str, tenant: Option<&str>) -> Self {
        Probe {
            key: ConfigKey::new(tenant.unwrap_or("").trim(), group, data_id),
            md5: md5.to_owned(),
            tenant: tenant.map(str::to_owned),
        }
    }
}

fn invalid() -> ApiError {
    ApiError::invalid(Style::V1, "invalid probeModify")
}

/// Parses `Listening-Configs`; anything malformed is `invalid probeModify`, as Nacos answers.
pub fn parse(raw: &str) -> Result<Vec<Probe>, ApiError> {
    if raw.trim().is_empty() {
        return Err(invalid());
    }
    // Nacos decodes the parameter a second time; names cannot hold '%', so this is safe.
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| invalid())?;
    let mut probes = Vec::new();
    for line in decoded.split(LINE_SEPARATOR).filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(WORD_SEPARATOR).collect();
        let probe = match fields.as_slice() {
            [data_id, group, md5] => Probe::new(data_id, group, md5, None),
            [data_id, group, md5, tenant] => Probe::new(data_id, group, md5, Some(tenant)),
            _ => return Err(invalid()),
        };
        if probe.key.data_id.trim().is_empty() || probe.key.group.trim().is_empty() {
            return Err(invalid());
        }
        probes.push(probe);
        if probes.len() > crate::core::limits::LISTEN_KEYS {
            return Err(invalid());
        }
    }
    if probes.is_empty() {
        return Err(invalid());
    }
    Ok(probes)
}

/// The probes whose md5 differs from the current config ("" when it does not exist).
fn changed<'a>(state: &CoreState, probes: &'a [Probe]) -> Vec<&'a Probe> {
    probes
        .iter()
        .filter(|p| state.config(&p.key).map_or("", |e| e.md5.as_str()) != p.md5)
        .collect()
}

/// The URL-encoded list of changed keys, with Nacos' trailing newline.
pub fn encode_changed(probes: &[&Probe]) -> String {
    let mut plain = String::new();
    for p in probes {
        plain.push_str(&p.key.data_id);
        plain.push(WORD_SEPARATOR);
        plain.push_str(&p.key.group);
        if let Some(tenant) = p.tenant.as_deref().filter(|t| !t.trim().is_empty()) {
            plain.push(WORD_SEPARATOR);
            plain.push_str(tenant);
        }
        plain.push(LINE_SEPARATOR);
    }
    let mut body: String = url_encode(&plain);
    body.push('\n');
    body
}

/// Java's URLEncoder: form encoding, space as '+'.
fn url_encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

fn answer(body: String) -> Response {
    (
        StatusCode::OK,
        [
            ("pragma", "no-cache"),
            ("expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
            ("cache-control", "no-cache,no-store"),
        ],
        body,
    )
        .into_response()
}

/// The probes arrive parsed and checked: every config they name may be read by the caller.
pub async fn listen(
    State(app): State<AppState>,
    probes: Checked<Vec<Probe>>,
    p: Params,
) -> Result<Response, ApiError> {
    let probes = probes.into_inner();
    for probe in &probes {
        let namespace = &probe.key.namespace;
        if !app.core.model.read().namespace_exists(namespace) {
            let tenant = probe.tenant.as_deref().unwrap_or("").trim();
            return Err(ApiError::new(
                Style::V1,
                StatusCode::BAD_REQUEST,
                22001,
                format!("namespaceId [ {tenant} ] not exist"),
            ));
        }
    }
    let mut feed = app.core.model.subscribe();
    let now_changed = encode_if_changed(&app, &probes);
    if let Some(body) = now_changed {
        return Ok(answer(body));
    }
    let Some(timeout) = p.header("Long-Pulling-Timeout") else {
        return Ok(answer(String::new()));
    };
    let timeout: u64 = timeout.trim().parse().map_err(|_| {
        ApiError::invalid(
            Style::V1,
            format!("invalid Long-Pulling-Timeout: {timeout}"),
        )
    })?;
    if p.header("Long-Pulling-Timeout-No-Hangup") == Some("true") {
        return Ok(answer(String::new()));
    }
    // Counted while it waits (the guard drops when the answer is sent or the client leaves).
    let _waiting = Waiting::new(&app.core.metrics);
    let wait = hold_for(timeout);
    let watched: HashSet<ConfigKey> = probes.iter().map(|p| p.key.clone()).collect();
    // Visible to the console (who listens to a config) while it waits.
    let _listening = app.core.console.http_listening(
        p.actor().ip,
        probes
            .iter()
            .map(|p| (p.key.clone(), p.md5.clone()))
            .collect(),
    );
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return Ok(answer(String::new())),
            received = feed.recv() => {
                let (relevant, trace) = match received {
                    Ok(applied) => (
                        matches!(&applied.change, Change::Config(key) if watched.contains(key)),
                        applied.trace.clone(),
                    ),
                    Err(RecvError::Lagged(_)) => (true, None),
                    Err(RecvError::Closed) => return Ok(answer(String::new())),
                };
                if relevant && let Some(body) = encode_if_changed(&app, &probes) {
                    // The answer is the change's doing: it belongs to the change's trace.
                    let span = tracing::info_span!("listener notify", otel.name = "listener notify", trace_id = tracing::field::Empty);
                    crate::telemetry::continue_event(&span, trace.as_deref());
                    let _entered = span.enter();
                    return Ok(answer(body));
                }
            }
        }
    }
}

/// How long a request asking for `timeout_ms` is held: a little less than asked, so the answer
/// beats the client's own timer, within [10 s, 120 s].
fn hold_for(timeout_ms: u64) -> Duration {
    Duration::from_millis(
        timeout_ms
            .saturating_sub(TIMEOUT_SLACK_MS)
            .clamp(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS),
    )
}

struct Waiting(std::sync::Arc<crate::metrics::Metrics>);

impl Waiting {
    fn new(metrics: &std::sync::Arc<crate::metrics::Metrics>) -> Self {
        metrics.listeners.inc();
        Self(metrics.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.listeners.dec();
    }
}

fn encode_if_changed(app: &AppState, probes: &[Probe]) -> Option<String> {
    let state = app.core.model.read();
    let changed = changed(&state, probes);
    (!changed.is_empty()).then(|| encode_changed(&changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_with_and_without_tenant() {
        let probes = parse("a.yaml\u{2}G\u{2}abc\u{1}b\u{2}G\u{2}\u{2}dev\u{1}").unwrap();
        assert_eq!(probes.len(), 2);
        assert_eq!(probes[0], Probe::new("a.yaml", "G", "abc", None));
        assert_eq!(probes[1].key, ConfigKey::new("dev", "G", "b"));
        assert_eq!(probes[1].tenant.as_deref(), Some("dev"));
        assert_eq!(probes[1].md5, "");
    }

    #[test]
    fn a_request_is_held_a_little_less_than_asked_within_bounds() {
        assert_eq!(hold_for(30_000), Duration::from_millis(29_500));
        assert_eq!(hold_for(0), Duration::from_secs(10));
        assert_eq!(hold_for(u64::MAX), Duration::from_secs(120));
    }

    #[test]
    fn accepts_a_second_url_encoding() {
        let probes = parse("a%02G%02abc%01").unwrap();
        assert_eq!(probes[0].key.group, "G");
    }

    #[test]
    fn malformed_strings_are_invalid_probe_modify() {
        for bad in [
            "",
            "   ",
            "a\u{2}G\u{1}",
            "a\u{2}G\u{2}m\u{2}t\u{2}x\u{1}",
            "\u{2}G\u{2}m\u{1}",
            "\u{1}\u{1}",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(
                (err.status, err.message.as_str()),
                (StatusCode::BAD_REQUEST, "invalid probeModify"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn changed_keys_are_url_encoded_lines() {
        let a = Probe::new("app.yaml", "DEFAULT_GROUP", "", None);
        let b = Probe::new("db", "G", "", Some("ns1"));
        assert_eq!(
            encode_changed(&[&a, &b]),
            "app.yaml%02DEFAULT_GROUP%01db%02G%02ns1%01\n"
        );
    }
}
