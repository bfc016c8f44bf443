//! The live event feed (`GET /nacre/v1/events/stream`, server-sent events) and one stored event
//! (`GET /nacre/v1/events/{seq}`).
//!
//! Live events come from the model's change feed, which carries each event's type, time, actor
//! and traceparent beside what it changed, so the feed reads nothing from NATS per event. A
//! client that reconnects (`Last-Event-ID`, or `since=`) or asks for a `backlog=` first gets the
//! stored events it missed, read from the stream, then the live ones, without gap or repeat.
//! Credential events (users, roles, permissions, ACLs) change nothing the feed announces, so
//! they never appear on it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::access::Viewer;
use super::{ConsoleError, Hub};
use crate::core::Core;
use crate::core::configs::ConfigKey;
use crate::core::event::{Envelope, Event};
use crate::core::packages::PackageKey;
use crate::core::registry::ServiceKey;
use crate::core::state::{Change, normalize_namespace};
use crate::nacos::AppState;

/// The most stored events one request replays before going live.
const MAX_BACKLOG: u64 = 1000;

/// Who made a change, from the event's `nacreactor` (`user@ip`, `anonymous@ip`, ...).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActorView {
    pub user: String,
    pub ip: String,
}

impl ActorView {
    pub fn parse(actor: &str) -> Self {
        let (user, ip) = match actor.rsplit_once('@') {
            Some((user, ip)) => (user, ip),
            None => (actor, ""),
        };
        Self {
            user: if user == "anonymous" { "" } else { user }.to_owned(),
            ip: ip.to_owned(),
        }
    }
}

/// One event as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub seq: u64,
    /// Epoch milliseconds.
    pub time: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `config`, `service`, `namespace`, `kv`, `session` or `package`.
    pub kind: &'static str,
    pub namespace: String,
    pub group: String,
    pub name: String,
    /// Every key a Consul transaction wrote (one for a plain KV write).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    pub actor: ActorView,
    pub trace_id: Option<String>,
}

/// The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`).
pub fn trace_id(traceparent: Option<&str>) -> Option<String> {
    let id = traceparent?.split('-').nth(1)?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
}

impl EventView {
    pub fn new(
        seq: u64,
        change: &Change,
        event_type: &str,
        time: i64,
        actor: &str,
        traceparent: Option<&str>,
    ) -> Self {
        let (kind, namespace, group, name, keys) = match change {
            Change::Config(k) => (
                "config",
                k.namespace.clone(),
                k.group.clone(),
                k.data_id.clone(),
                vec![],
            ),
            Change::Service(k) => (
                "service",
                k.namespace.clone(),
                k.group.clone(),
                k.service.clone(),
                vec![],
            ),
            Change::Namespace(ns) => ("namespace", ns.clone(), String::new(), ns.clone(), vec![]),
            Change::Package(k) => ("package", String::new(), String::new(), k.path(), vec![]),
            Change::Kv(keys) => (
                "kv",
                String::new(),
                String::new(),
                keys.first().cloned().unwrap_or_default(),
                keys.clone(),
            ),
            Change::Session(id) => ("session", String::new(), String::new(), id.clone(), vec![]),
        };
        Self {
            seq,
            time,
            event_type: event_type.to_owned(),
            kind,
            namespace,
            group,
            name,
            keys,
            actor: ActorView::parse(actor),
            trace_id: trace_id(traceparent),
        }
    }
}

/// What a stored event changed (the fold's answer, without folding): `None` for credential
/// and cluster events.
pub fn change_of(event: &Event) -> Option<Change> {
    Some(match event {
        Event::ConfigPublished(c) => {
            Change::Config(ConfigKey::new(&c.namespace, &c.group, &c.data_id))
        }
        Event::ConfigDeleted(c) => {
            Change::Config(ConfigKey::new(&c.namespace, &c.group, &c.data_id))
        }
        Event::NamespaceCreated(n) | Event::NamespaceUpdated(n) => {
            Change::Namespace(n.namespace.clone())
        }
        Event::NamespaceDeleted(n) => Change::Namespace(n.namespace.clone()),
        Event::ServiceCreated(s) | Event::ServiceUpdated(s) => {
            Change::Service(ServiceKey::new(&s.namespace, &s.group, &s.service))
        }
        Event::ServiceDeleted(s) => {
            Change::Service(ServiceKey::new(&s.namespace, &s.group, &s.service))
        }
        Event::InstanceRegistered(i) | Event::InstanceUpdated(i) => {
            Change::Service(ServiceKey::new(&i.namespace, &i.group, &i.service))
        }
        Event::InstanceDeregistered(i) => {
            Change::Service(ServiceKey::new(&i.namespace, &i.group, &i.service))
        }
        Event::InstanceHealth(i) => {
            Change::Service(ServiceKey::new(&i.namespace, &i.group, &i.service))
        }
        Event::PackageUploaded(p) => {
            Change::Package(package_key(&p.os, &p.object, &p.version, &p.name))
        }
        Event::PackageDeleted(p) => {
            Change::Package(package_key(&p.os, &p.object, &p.version, &p.name))
        }
        Event::KvSet(k) => Change::Kv(vec![k.key.clone()]),
        Event::KvDeleted(k) => Change::Kv(vec![k.key.clone()]),
        Event::KvTxn(t) => Change::Kv(t.writes.iter().map(|w| w.key().to_owned()).collect()),
        Event::SessionCreated(s) => Change::Session(s.id.clone()),
        Event::SessionDestroyed(s) => Change::Session(s.id.clone()),
        _ => return None,
    })
}

fn package_key(os: &str, object: &str, version: &str, name: &str) -> PackageKey {
    PackageKey {
        os: os.to_owned(),
        object: object.to_owned(),
        version: version.to_owned(),
        name: name.to_owned(),
    }
}

/// The feed's filters: exact namespace and group, and a comma-separated list of kinds.
#[derive(Debug, Default, Deserialize)]
pub struct FeedQuery {
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    /// Replay stored events after this sequence first (as `Last-Event-ID` does).
    #[serde(default)]
    pub since: Option<String>,
    /// Replay this many of the latest stored events first.
    #[serde(default)]
    pub backlog: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    namespace: Option<String>,
    group: Option<String>,
    kinds: Vec<String>,
}

const KINDS: &[&str] = &["config", "service", "namespace", "kv", "session", "package"];

impl Filter {
    pub fn parse(q: &FeedQuery) -> Result<Self, ConsoleError> {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let kinds: Vec<String> = given(&q.kind)
            .map(|k| {
                k.split(',')
                    .map(|k| k.trim().to_owned())
                    .filter(|k| !k.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(bad) = kinds.iter().find(|k| !KINDS.contains(&k.as_str())) {
            return Err(ConsoleError::bad_request(format!(
                "kind must be among {}, not {bad}",
                KINDS.join(", ")
            )));
        }
        Ok(Self {
            namespace: given(&q.namespace).map(|n| normalize_namespace(n).to_owned()),
            group: given(&q.group).map(str::to_owned),
            kinds,
        })
    }

    pub fn matches(&self, view: &EventView) -> bool {
        let namespaced = matches!(view.kind, "config" | "service" | "namespace");
        self.namespace
            .as_deref()
            .is_none_or(|ns| namespaced && view.namespace == ns)
            && self.group.as_deref().is_none_or(|g| view.group == g)
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == view.kind))
    }
}

fn number(name: &str, raw: Option<&str>) -> Result<Option<u64>, ConsoleError> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ConsoleError::bad_request(format!("{name} must be a non-negative integer, not {v}"))
        }),
    }
}

fn sse(view: &EventView) -> SseEvent {
    SseEvent::default()
        .id(view.seq.to_string())
        .event("change")
        .json_data(view)
        .unwrap_or_else(|_| SseEvent::default().comment("unencodable event"))
}

/// `GET /nacre/v1/events/stream`: server-sent events, one `change` per applied event the
/// viewer may see and the filters select.
pub async fn stream(
    State(app): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(q): Query<FeedQuery>,
) -> Result<Response, ConsoleError> {
    let filter = Filter::parse(&q)?;
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let since = match number("since", q.since.as_deref())? {
        Some(since) => Some(since),
        None => number("Last-Event-ID", last_event_id)?,
    };
    let backlog = number("backlog", q.backlog.as_deref())?.unwrap_or(0);
    let core = app.core.clone();
    // Subscribe before reading what is stored, so nothing falls between the two.
    let feed = core.model.subscribe();
    let applied = core.model.applied();
    let start = match since {
        Some(since) => since
            .saturating_add(1)
            .max(applied.saturating_sub(MAX_BACKLOG) + 1),
        None if backlog > 0 => applied.saturating_sub(backlog.min(MAX_BACKLOG)) + 1,
        None => applied + 1,
    };
    let (tx, rx) = mpsc::channel::<Result<SseEvent, Infallible>>(256);
    tokio::spawn(async move {
        let mut last = start.saturating_sub(1);
        if start <= applied {
            match stored_events(&core.console, start, applied).await {
                Ok(events) => {
                    for view in events {
                        last = view.seq;
                        if visible(&core, &viewer, &filter, &view)
                            && tx.send(Ok(sse(&view))).await.is_err()
                        {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let note = SseEvent::default().event("error").data(e.1);
                    if tx.send(Ok(note)).await.is_err() {
                        return;
                    }
                }
            }
            last = last.max(applied);
        }
        follow(core, viewer, filter, feed, last, tx).await;
    });
    let mut response = Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// Whether one event goes to this client. The access decision is `Viewer::may_see`.
fn visible(core: &Core, viewer: &Viewer, filter: &Filter, view: &EventView) -> bool {
    filter.matches(view) && viewer.may_see(core, &change_from_view(view))
}

/// The change a view describes (what the access decision is about).
fn change_from_view(view: &EventView) -> Change {
    match view.kind {
        "config" => Change::Config(ConfigKey::new(&view.namespace, &view.group, &view.name)),
        "service" => Change::Service(ServiceKey::new(&view.namespace, &view.group, &view.name)),
        "namespace" => Change::Namespace(view.namespace.clone()),
        "package" => {
            let mut parts = view.name.splitn(4, '/');
            let mut next = || parts.next().unwrap_or_default().to_owned();
            Change::Package(PackageKey {
                os: next(),
                object: next(),
                version: next(),
                name: next(),
            })
        }
        "session" => Change::Session(view.name.clone()),
        _ => Change::Kv(view.keys.clone()),
    }
}

async fn follow(
    core: Arc<Core>,
    viewer: Viewer,
    filter: Filter,
    mut feed: broadcast::Receiver<Arc<crate::core::model::Applied>>,
    mut last: u64,
    tx: mpsc::Sender<Result<SseEvent, Infallible>>,
) {
    let mut stopping = core.console.stopping();
    loop {
        let applied = tokio::select! {
            received = feed.recv() => received,
            () = tx.closed() => return,
            _ = stopping.wait_for(|s| *s) => return,
        };
        match applied {
            Ok(applied) => {
                if applied.seq <= last {
                    continue;
                }
                last = applied.seq;
                let view = EventView::new(
                    applied.seq,
                    &applied.change,
                    applied.meta.event_type,
                    applied.meta.time,
                    &applied.meta.actor,
                    applied.trace.as_deref(),
                );
                if visible(&core, &viewer, &filter, &view) && tx.send(Ok(sse(&view))).await.is_err()
                {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // The client may reconnect with Last-Event-ID to read what it missed.
                let note = SseEvent::default()
                    .event("lagged")
                    .data(json!({"missed": missed, "after": last}).to_string());
                if tx.send(Ok(note)).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The stored events from `start` to `end` (inclusive) that change something, in order.
async fn stored_events(hub: &Hub, start: u64, end: u64) -> Result<Vec<EventView>, ConsoleError> {
    let setup = hub
        .setup_ref()
        .ok_or_else(|| ConsoleError::unavailable("the event stream is not open yet"))?;
    let unavailable = |e: &dyn std::fmt::Display| {
        ConsoleError::unavailable(format!("cannot read the event stream: {e}"))
    };
    let stream = setup
        .js
        .get_stream_no_info(&setup.stream_name)
        .await
        .map_err(|e| unavailable(&e))?;
    let mut messages = crate::core::stored::from_sequence(&stream, start)
        .await
        .map_err(|e| unavailable(&e))?;
    let mut out = Vec::new();
    let read = async {
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| unavailable(&e))?;
            let info = message.info().map_err(|e| unavailable(&e))?;
            let seq = info.stream_sequence;
            if seq > end {
                break;
            }
            if let Ok(envelope) = serde_json::from_slice::<Envelope>(&message.payload)
                && let Some(change) = change_of(&envelope.body)
            {
                let trace = crate::telemetry::traceparent_of(message.headers.as_ref());
                out.push(EventView::new(
                    seq,
                    &change,
                    envelope.body.type_name(),
                    envelope.time_millis(),
                    &envelope.nacreactor,
                    trace.as_deref(),
                ));
            }
            if seq >= end || info.pending == 0 {
                break;
            }
        }
        Ok::<(), ConsoleError>(())
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| ConsoleError::unavailable("the event stream did not answer within 10 s"))??;
    Ok(out)
}

/// `GET /nacre/v1/events/{seq}`: one stored event as it is, with what the console shows of it.
/// Credential events are shown to admins only, without their data (hashes stay inside).
pub async fn one(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(seq): Path<String>,
) -> Result<Response, ConsoleError> {
    let seq: u64 = seq.trim().parse().ok().filter(|s| *s > 0).ok_or_else(|| {
        ConsoleError::bad_request(format!("seq must be a positive integer, not {seq}"))
    })?;
    let setup = app
        .core
        .console
        .setup_ref()
        .ok_or_else(|| ConsoleError::unavailable("the event stream is not open yet"))?;
    let stream = setup
        .js
        .get_stream_no_info(&setup.stream_name)
        .await
        .map_err(|e| ConsoleError::unavailable(format!("cannot read the event stream: {e}")))?;
    let message = stream
        .get_raw_message(seq)
        .await
        .map_err(|_| ConsoleError::not_found(format!("no event at sequence {seq}")))?;
    let envelope: Envelope = serde_json::from_slice(&message.payload).map_err(|e| {
        ConsoleError::unavailable(format!(
            "the event at {seq} cannot be read by this Nacre: {e}"
        ))
    })?;
    let traceparent = crate::telemetry::traceparent_of(Some(&message.headers));
    let mut event: Value = serde_json::to_value(&envelope).unwrap_or(Value::Null);
    let view = match change_of(&envelope.body) {
        Some(change) => {
            if !viewer.may_see(&app.core, &change) {
                return Err(ConsoleError::forbidden());
            }
            Some(EventView::new(
                seq,
                &change,
                envelope.body.type_name(),
                envelope.time_millis(),
                &envelope.nacreactor,
                traceparent.as_deref(),
            ))
        }
        None => {
            if !viewer.is_admin(&app.core) {
                return Err(ConsoleError::forbidden());
            }
            if let Some(data) = event.get_mut("data") {
                *data = json!({"redacted": "credential and cluster events are not shown"});
            }
            None
        }
    };
    Ok(axum::Json(json!({
        "seq": seq,
        "subject": message.subject.to_string(),
        "time": envelope.time_millis(),
        "type": envelope.body.type_name(),
        "actor": ActorView::parse(&envelope.nacreactor),
        "traceparent": traceparent.as_deref(),
        "traceId": trace_id(traceparent.as_deref()),
        "view": view,
        "event": event,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_and_trace_ids_are_read_from_what_events_carry() {
        assert_eq!(
            ActorView::parse("alice@10.0.0.1"),
            ActorView {
                user: "alice".into(),
                ip: "10.0.0.1".into()
            }
        );
        assert_eq!(ActorView::parse("anonymous@::1").user, "");
        assert_eq!(ActorView::parse("anonymous@::1").ip, "::1");
        assert_eq!(ActorView::parse("bob").user, "bob");
        assert_eq!(
            trace_id(Some(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            ))
            .as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id(Some("garbage")), None);
        assert_eq!(trace_id(None), None);
    }

    #[test]
    fn filters_select_by_namespace_group_and_kind() {
        let q = |ns: &str, group: &str, kind: &str| FeedQuery {
            namespace: Some(ns.into()),
            group: Some(group.into()),
            kind: Some(kind.into()),
            ..FeedQuery::default()
        };
        let config = EventView::new(
            7,
            &Change::Config(ConfigKey::new("", "G", "a")),
            "nacre.config.published.v1",
            0,
            "x@y",
            None,
        );
        let kv = EventView::new(
            8,
            &Change::Kv(vec!["k".into()]),
            "nacre.kv.set.v1",
            0,
            "",
            None,
        );
        assert!(
            Filter::parse(&q("public", "G", "config"))
                .unwrap()
                .matches(&config)
        );
        assert!(Filter::parse(&q("", "", "")).unwrap().matches(&kv));
        assert!(!Filter::parse(&q("public", "", "")).unwrap().matches(&kv));
        assert!(!Filter::parse(&q("dev", "", "")).unwrap().matches(&config));
        assert!(!Filter::parse(&q("", "H", "")).unwrap().matches(&config));
        assert!(Filter::parse(&q("", "", "kv,config")).unwrap().matches(&kv));
        assert!(Filter::parse(&q("", "", "secrets")).is_err());
        assert_eq!(
            change_from_view(&config),
            Change::Config(ConfigKey::new("public", "G", "a"))
        );
    }
}
