//! Instances: register, deregister, update, detail, the list (encoded once per change of the
//! service, see [`ListCache`]) and heartbeats.

use super::*;
use crate::core::CoreError;
use crate::core::naming::{InstanceInput, Selection, order_by_locality};
use crate::core::registry::{DEFAULT_CLUSTER, Instance, InstanceKey, ServiceKey};
use crate::nacos::AppState;
use crate::nacos::error::{ApiError, Style, success};
use crate::nacos::params::Params;
use crate::nacos::views::ServiceInfoView;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Encoded `ServiceInfo` bodies, keyed by what selects them and valid while the service's
/// sequence is unchanged, so polling clients cost a lookup rather than an encoding.
#[derive(Default)]
pub struct ListCache {
    entries: Mutex<HashMap<ListKey, (u64, Bytes)>>,
}

/// What selects a list body: service, clusters as requested, healthyOnly, v2 envelope.
pub(super) type ListKey = (ServiceKey, String, bool, bool);

impl ListCache {
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, key: &ListKey, seq: u64) -> Option<Bytes> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(s, _)| *s == seq)
            .map(|(_, b)| b.clone())
    }

    /// Bounded: when full, one entry makes room (never the whole cache at once, which a
    /// client sending ever new `clusters` strings could otherwise force on everyone).
    fn put(&self, key: ListKey, seq: u64, body: Bytes) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Self::MAX_ENTRIES
            && !entries.contains_key(&key)
            && let Some(evicted) = entries.keys().next().cloned()
        {
            entries.remove(&evicted);
        }
        entries.insert(key, (seq, body));
    }
}

pub(super) fn instance_key(p: &Params, style: Style) -> Result<InstanceKey, ApiError> {
    let ip = required(p, "ip", style)?.trim().to_owned();
    let port = port(required(p, "port", style)?, style)?;
    let cluster = p.first(&["clusterName", "cluster"]).trim();
    Ok(InstanceKey {
        cluster: if cluster.is_empty() {
            DEFAULT_CLUSTER.into()
        } else {
            cluster.into()
        },
        ip,
        port,
    })
}

pub(super) fn instance_input(p: &Params, style: Style) -> Result<InstanceInput, ApiError> {
    let key = instance_key(p, style)?;
    Ok(InstanceInput {
        ip: key.ip,
        port: key.port,
        cluster: key.cluster,
        weight: number(p, "weight", style)?.unwrap_or(1.0),
        enabled: boolean(p, &["enabled", "enable"], true),
        healthy: boolean(p, &["healthy"], true),
        ephemeral: boolean(p, &["ephemeral"], true),
        metadata: metadata(p.str("metadata"), style)?,
    })
}

pub(super) async fn register(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let input = instance_input(p, style)?;
    app.core
        .register_instance(&p.actor(), &service, input)
        .await
        .map_err(naming_error(style))?;
    Ok(ok(style))
}

pub(super) async fn deregister(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let mut key = instance_key(p, style)?;
    // Clients may omit the cluster: a unique ip:port in the service is the instance meant.
    if app.core.get_instance(&service, &key).is_none()
        && p.first(&["clusterName", "cluster"]).is_empty()
    {
        let state = app.core.model.read();
        let matching: Vec<_> = state
            .registry
            .get(&service)
            .map(|e| {
                e.instances
                    .keys()
                    .filter(|k| k.ip == key.ip && k.port == key.port)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if let [only] = matching.as_slice() {
            key = only.clone();
        }
    }
    app.core
        .deregister_instance(&p.actor(), &service, &key, "client")
        .await
        .map_err(naming_error(style))?;
    Ok(ok(style))
}

/// Changes weight, enabled and metadata (merged) of a registered instance; health is the
/// server's business and ephemerality is fixed at registration.
pub(super) async fn update(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let key = instance_key(p, style)?;
    let current = app.core.get_instance(&service, &key).ok_or_else(|| {
        naming_error(style)(CoreError::NotFound(format!(
            "instance {}:{} not found in {}",
            key.ip,
            key.port,
            service.grouped()
        )))
    })?;
    let mut merged = current.spec.metadata.clone();
    merged.extend(metadata(p.str("metadata"), style)?);
    metadata_fits(&merged, style)?;
    let input = InstanceInput {
        ip: key.ip,
        port: key.port,
        cluster: key.cluster,
        weight: number(p, "weight", style)?.unwrap_or(current.spec.weight),
        enabled: boolean(p, &["enabled", "enable"], current.spec.enabled),
        healthy: current.spec.healthy,
        ephemeral: current.spec.ephemeral,
        metadata: merged,
    };
    app.core
        .update_instance(&p.actor(), &service, input)
        .await
        .map_err(naming_error(style))?;
    Ok(ok(style))
}

pub(super) async fn detail(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let key = instance_key(p, style)?;
    app.core
        .get_service(&service)
        .map_err(naming_error(style))?;
    let instance = app.core.get_instance(&service, &key).ok_or_else(|| {
        ApiError::new(style, StatusCode::NOT_FOUND, 20004, "no matched ip found!")
    })?;
    let body = json!({
        "service": service.grouped(), "serviceName": service.grouped(), "ip": instance.spec.ip,
        "port": instance.spec.port, "clusterName": instance.spec.cluster, "weight": instance.spec.weight,
        "healthy": instance.spec.healthy, "enabled": instance.spec.enabled, "ephemeral": instance.spec.ephemeral,
        "instanceId": instance.spec.instance_id, "metadata": instance.spec.metadata,
    });
    Ok(if style == Style::V2 {
        success(body)
    } else {
        axum::Json(body).into_response()
    })
}

/// `localityFirst=true` (Nacre's extension) orders hosts nearest this node first, weighted within a tier.
pub(super) async fn list(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let clusters_param = p.first(&["clusters", "clusterName"]).to_owned();
    let clusters = crate::core::naming::clusters_of(&clusters_param);
    let healthy_only = boolean(p, &["healthyOnly"], false);
    let locality_first = boolean(p, &["localityFirst"], false);
    // A 1.x-style client that gives its UDP port wants pushes of this service. They go to
    // the address the request came from, whatever `clientIP` says: Nacre is no UDP reflector.
    if let (Some(ip), Some(port)) = (p.client, p.get("udpPort"))
        && let Ok(port) = port.trim().parse::<u16>()
        && port != 0
    {
        let to = std::net::SocketAddr::new(ip, port);
        app.udp_push
            .subscribe(&app.core, &service, to, &clusters_param)
            .await;
    }
    let selected = app
        .core
        .select_instances(&service, &clusters, healthy_only)
        .map_err(naming_error(style))?;
    let cache_key = (
        service.clone(),
        clusters_param.clone(),
        healthy_only,
        style == Style::V2,
    );
    if let Some((_, seq, _)) = &selected
        && !locality_first
        && let Some(body) = app.list_cache.get(&cache_key, *seq)
    {
        return Ok(json_response(body));
    }
    let (mut selection, seq, last_ref_time) =
        selected.unwrap_or_else(|| (Selection::empty(), 0, chrono::Utc::now().timestamp_millis()));
    if locality_first {
        order_by_locality(&mut selection.hosts, &app.core.locality, random_unit());
    }
    let grouped = service.grouped();
    let info = ServiceInfoView::new(
        &service,
        &grouped,
        &grouped,
        &selection,
        &clusters_param,
        last_ref_time,
        &app.core.timeouts,
    );
    let encoded = if style == Style::V2 {
        serde_json::to_vec(&json!({"code": 0, "message": "success", "data": info}))
    } else {
        serde_json::to_vec(&info)
    };
    let body = Bytes::from(encoded.map_err(|e| {
        ApiError::new(
            style,
            StatusCode::INTERNAL_SERVER_ERROR,
            30000,
            e.to_string(),
        )
    })?);
    if seq != 0 && !locality_first {
        app.list_cache.put(cache_key, seq, body.clone());
    }
    Ok(json_response(body))
}

pub(super) fn json_response(body: Bytes) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Uniform numbers in (0, 1) for weighted ordering (SplitMix64 seeded per request).
pub(super) fn random_unit() -> impl FnMut() -> f64 {
    let mut state = uuid::Uuid::new_v4().as_u128() as u64;
    move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// The beat: refreshes liveness (no event), revives an unhealthy instance (an event), or
/// re-registers a lost one when the beat carries it (an event); 20404 otherwise.
pub(super) async fn beat(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let beat: Option<Value> = match p.get("beat").map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(raw) => Some(
            serde_json::from_str(raw)
                .map_err(|_| ApiError::invalid(style, format!("beat is not valid JSON: {raw}")))?,
        ),
    };
    let field = |name: &str| beat.as_ref().and_then(|b| b.get(name));
    let ip = field("ip")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| p.get("ip").map(str::to_owned));
    let ip = ip.filter(|i| !i.is_empty()).ok_or_else(|| {
        ApiError::new(
            style,
            StatusCode::BAD_REQUEST,
            10000,
            "Param 'ip' is required.",
        )
    })?;
    let port = match field("port").and_then(Value::as_u64) {
        Some(n) => u16::try_from(n).map_err(|_| port("x", style).unwrap_err())?,
        None => port(p.get("port").unwrap_or("0"), style)?,
    };
    let cluster = field("cluster")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            p.get("clusterName")
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| DEFAULT_CLUSTER.to_owned());
    let key = InstanceKey { cluster, ip, port };

    let mut instance = app.core.get_instance(&service, &key);
    if instance.is_none() {
        let Some(b) = &beat else {
            return Ok(beat_answer(app, None, 20404));
        };
        let meta = match b.get("metadata") {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        metadata_fits(&meta, style)?;
        let input = InstanceInput {
            ip: key.ip.clone(),
            port: key.port,
            cluster: key.cluster.clone(),
            weight: b
                .get("weight")
                .and_then(Value::as_f64)
                .filter(|w| *w > 0.0)
                .unwrap_or(1.0),
            enabled: true,
            healthy: true,
            ephemeral: b.get("ephemeral").and_then(Value::as_bool).unwrap_or(true),
            metadata: meta,
        };
        app.core
            .register_instance(&p.actor(), &service, input)
            .await
            .map_err(naming_error(style))?;
        instance = app.core.get_instance(&service, &key);
    }
    app.core.record_beat(&service, &key).await;
    if let Some(i) = &instance
        && !i.spec.healthy
    {
        app.core
            .revive_instance(&service, &key)
            .await
            .map_err(naming_error(style))?;
    }
    Ok(beat_answer(app, instance.as_deref(), 10200))
}

pub(super) fn beat_answer(app: &AppState, instance: Option<&Instance>, code: u32) -> Response {
    let interval = instance.map_or(app.core.timeouts.beat_interval, |i| {
        app.core.timeouts.beat_interval(i)
    });
    axum::Json(json!({"clientBeatInterval": interval.as_millis() as u64, "code": code, "lightBeatEnabled": true})).into_response()
}
