//! Time travel: a config or a service as it was at a stream sequence or a moment, replayed from
//! its own subject (`nacre.evt.cfg.…`, `nacre.evt.svc.…`) through the same pure fold the model
//! uses; and an entity's timeline, the events that made each of its versions.

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::events::{ActorView, EventView, change_of, trace_id};
use super::{ConsoleError, Hub};
use crate::core::configs::ConfigKey;
use crate::core::event::{Event, config_subject, service_subject};
use crate::core::registry::ServiceKey;
use crate::core::state::State as Fold;
pub use crate::core::stored::Stored;
use crate::nacos::AppState;
use crate::nacos::guard::{Checked, Entity};
use crate::nacos::params::Params;

/// How long reading one entity's events may take.
const READ_WITHIN: Duration = Duration::from_secs(20);

/// The newest events a timeline lists.
const TIMELINE_LIMIT: usize = 1000;

/// Every event stored on `subject`, oldest first.
pub async fn subject_events(hub: &Hub, subject: &str) -> Result<Vec<Stored>, ConsoleError> {
    let setup = hub
        .setup_ref()
        .ok_or_else(|| ConsoleError::unavailable("the event stream is not open yet"))?;
    crate::core::stored::on_subject(&setup.js, &setup.stream_name, subject, READ_WITHIN)
        .await
        .map_err(|e| ConsoleError::unavailable(format!("cannot read the event stream: {e}")))
}

/// The point asked for: a stream sequence, or a time (epoch ms or RFC 3339); neither is now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Point {
    Now,
    Seq(u64),
    /// Epoch milliseconds.
    Time(i64),
}

impl Point {
    /// From the `seq` and `time` parameters.
    pub fn parse(seq: Option<&str>, time: Option<&str>) -> Result<Self, ConsoleError> {
        fn given(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|v| !v.is_empty())
        }
        match (given(seq), given(time)) {
            (Some(_), Some(_)) => Err(ConsoleError::bad_request("give seq or time, not both")),
            (Some(seq), None) => seq.parse().map(Point::Seq).map_err(|_| {
                ConsoleError::bad_request(format!("seq must be a non-negative integer, not {seq}"))
            }),
            (None, Some(time)) => parse_time(time).map(Point::Time),
            (None, None) => Ok(Point::Now),
        }
    }

    fn of(p: &Params) -> Result<Self, ConsoleError> {
        Self::parse(p.get("seq"), p.get("time"))
    }

    fn includes(&self, stored: &Stored) -> bool {
        match *self {
            Point::Now => true,
            Point::Seq(seq) => stored.seq <= seq,
            Point::Time(t) => stored.envelope.time_millis() <= t,
        }
    }

    fn json(&self) -> Value {
        match *self {
            Point::Now => json!({"now": true}),
            Point::Seq(seq) => json!({"seq": seq}),
            Point::Time(t) => json!({"time": t}),
        }
    }
}

/// Epoch milliseconds, or an RFC 3339 time.
pub fn parse_time(raw: &str) -> Result<i64, ConsoleError> {
    if let Ok(ms) = raw.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ConsoleError::bad_request(format!(
                "time must be epoch milliseconds or RFC 3339 (2026-11-22T03:50:00Z), not {raw}"
            ))
        })
}

fn version_json(stored: &Stored) -> Value {
    json!({
        "seq": stored.seq,
        "time": stored.envelope.time_millis(),
        "type": stored.envelope.body.type_name(),
        "actor": ActorView::parse(&stored.envelope.nacreactor),
        "traceId": trace_id(stored.traceparent.as_deref()),
    })
}

/// `GET /nacre/v1/configs/at?namespaceId&group&dataId&seq=|time=`.
pub async fn config_at(
    State(app): State<AppState>,
    key: Checked<ConfigKey>,
    p: Params,
) -> Result<Response, ConsoleError> {
    let key = key.into_inner();
    let point = Point::of(&p)?;
    crate::core::configs::validate_key(&app.core, &key)?;
    let events = subject_events(
        &app.core.console,
        &config_subject(&key.namespace, &key.group, &key.data_id),
    )
    .await?;
    let count = events.len();
    let version = events.iter().rev().find(|e| point.includes(e));
    let config = version.and_then(|v| match &v.envelope.body {
        Event::ConfigPublished(c) => Some(json!({
            "content": c.content, "md5": c.md5, "type": c.config_type, "appName": c.app_name,
            "desc": c.desc, "tags": c.tags,
        })),
        _ => None,
    });
    Ok(axum::Json(json!({
        "namespaceId": key.namespace, "group": key.group, "dataId": key.data_id,
        "at": point.json(),
        "exists": config.is_some(),
        "config": config,
        "version": version.map(version_json),
        "versions": count,
    }))
    .into_response())
}

/// `GET /nacre/v1/services/at?namespaceId&groupName&serviceName&seq=|time=`.
pub async fn service_at(
    State(app): State<AppState>,
    key: Checked<ServiceKey>,
    p: Params,
) -> Result<Response, ConsoleError> {
    let key = key.into_inner();
    let point = Point::of(&p)?;
    let events = subject_events(
        &app.core.console,
        &service_subject(&key.namespace, &key.group, &key.service),
    )
    .await?;
    let count = events.len();
    // The same fold the model runs, over this service's events up to the point.
    let mut fold = Fold::default();
    let mut version = None;
    for stored in events.iter().filter(|e| point.includes(e)) {
        fold.apply(stored.seq, &stored.envelope);
        version = Some(stored);
    }
    let service = fold.registry.get(&key).filter(|e| e.visible()).map(|e| {
        let instances: Vec<Value> = e
            .instances
            .values()
            .map(|i| {
                json!({
                    "ip": i.spec.ip, "port": i.spec.port, "clusterName": i.spec.cluster,
                    "weight": i.spec.weight, "healthy": i.spec.healthy, "enabled": i.spec.enabled,
                    "ephemeral": i.spec.ephemeral, "metadata": i.spec.metadata,
                    "instanceId": i.spec.instance_id, "registerTime": i.register_time,
                })
            })
            .collect();
        json!({
            "protectThreshold": e.protect_threshold, "metadata": e.metadata,
            "selector": e.selector, "instances": instances,
        })
    });
    Ok(axum::Json(json!({
        "namespaceId": key.namespace, "groupName": key.group, "serviceName": key.service,
        "at": point.json(),
        "exists": service.is_some(),
        "service": service,
        "version": version.map(version_json),
        "versions": count,
    }))
    .into_response())
}

/// `GET /nacre/v1/timeline?kind=config&namespaceId&group&dataId` (or
/// `kind=service&namespaceId&groupName&serviceName`): the events of one config or service,
/// newest first (at most 1000).
pub async fn timeline(
    State(app): State<AppState>,
    entity: Checked<Entity>,
) -> Result<Response, ConsoleError> {
    let subject = match &*entity {
        Entity::Config(key) => {
            crate::core::configs::validate_key(&app.core, key)?;
            config_subject(&key.namespace, &key.group, &key.data_id)
        }
        Entity::Service(key) => service_subject(&key.namespace, &key.group, &key.service),
    };
    let events = subject_events(&app.core.console, &subject).await?;
    let total = events.len();
    let items: Vec<EventView> = events
        .iter()
        .rev()
        .take(TIMELINE_LIMIT)
        .filter_map(|s| {
            let change = change_of(&s.envelope.body)?;
            Some(EventView::new(
                s.seq,
                &change,
                s.envelope.body.type_name(),
                s.envelope.time_millis(),
                &s.envelope.nacreactor,
                s.traceparent.as_deref(),
            ))
        })
        .collect();
    Ok(axum::Json(json!({"total": total, "items": items})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_a_sequence_a_time_or_now() {
        assert_eq!(Point::parse(None, Some(" ")).unwrap(), Point::Now);
        assert_eq!(Point::parse(Some("12"), None).unwrap(), Point::Seq(12));
        assert_eq!(
            Point::parse(None, Some("1700000000000")).unwrap(),
            Point::Time(1_700_000_000_000)
        );
        assert_eq!(
            Point::parse(None, Some("2023-11-14T22:13:20Z")).unwrap(),
            Point::Time(1_700_000_000_000)
        );
        for bad in [
            (Some("-1"), None),
            (None, Some("yesterday")),
            (Some("1"), Some("2")),
        ] {
            let e = Point::parse(bad.0, bad.1).unwrap_err();
            assert_eq!(e.0, axum::http::StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }
}
