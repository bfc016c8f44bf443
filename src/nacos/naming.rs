//! Naming routes: v1 `/nacos/v1/ns/instance{,/list,/beat}`, `/nacos/v1/ns/service{,/list}`,
//! `/nacos/v1/ns/operator/metrics`, their v2 equivalents, and the Nacos JSON shapes
//! (ServiceInfo, hosts) that the gRPC adapter shares.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;
use serde::Serialize;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, Style, success};
use super::guard::{Caller, Checked, ServiceScope};
use super::params::Params;
use crate::core::CoreError;
use crate::core::liveness::Timeouts;
use crate::core::naming::{InstanceInput, Selection, ServiceInput, order_by_locality};
use crate::core::registry::{DEFAULT_CLUSTER, DEFAULT_GROUP, Instance, InstanceKey, ServiceKey};

/// Nacos' `cacheMillis`: how long clients may cache a list.
pub const CACHE_MILLIS: u64 = 10_000;

// ---- JSON shapes ----

/// One host as Nacos clients parse it; every primitive always present.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostView<'a> {
    instance_id: &'a str,
    ip: &'a str,
    port: u16,
    weight: f64,
    healthy: bool,
    enabled: bool,
    ephemeral: bool,
    cluster_name: &'a str,
    service_name: &'a str,
    metadata: &'a BTreeMap<String, String>,
    instance_heart_beat_interval: u64,
    #[serde(rename = "instanceHeartBeatTimeOut")]
    instance_heart_beat_timeout: u64,
    ip_delete_timeout: u64,
    instance_id_generator: &'a str,
}

impl<'a> HostView<'a> {
    pub fn new(i: &'a Instance, grouped_name: &'a str, timeouts: &Timeouts) -> Self {
        Self {
            instance_id: &i.spec.instance_id,
            ip: &i.spec.ip,
            port: i.spec.port,
            weight: i.spec.weight,
            healthy: i.spec.healthy,
            enabled: i.spec.enabled,
            ephemeral: i.spec.ephemeral,
            cluster_name: &i.spec.cluster,
            service_name: grouped_name,
            metadata: &i.spec.metadata,
            instance_heart_beat_interval: timeouts.beat_interval(i).as_millis() as u64,
            instance_heart_beat_timeout: timeouts.unhealthy_after(i).as_millis() as u64,
            ip_delete_timeout: timeouts.delete_after(i).as_millis() as u64,
            instance_id_generator: i
                .spec
                .metadata
                .get("preserved.instance.id.generator")
                .map_or("simple", String::as_str),
        }
    }
}

/// `ServiceInfo`: over HTTP `name` is the grouped name and `clusters` echoes the request, which
/// clients use as their cache key; over gRPC `name` is the plain service name.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfoView<'a> {
    name: &'a str,
    group_name: &'a str,
    clusters: &'a str,
    cache_millis: u64,
    hosts: Vec<HostView<'a>>,
    last_ref_time: i64,
    checksum: &'a str,
    #[serde(rename = "allIPs")]
    all_ips: bool,
    reach_protection_threshold: bool,
    valid: bool,
}

impl<'a> ServiceInfoView<'a> {
    pub fn new(
        service: &'a ServiceKey,
        name: &'a str,
        grouped_name: &'a str,
        selection: &'a Selection,
        clusters: &'a str,
        last_ref_time: i64,
        timeouts: &Timeouts,
    ) -> Self {
        Self {
            name,
            group_name: &service.group,
            clusters,
            cache_millis: CACHE_MILLIS,
            hosts: selection
                .hosts
                .iter()
                .map(|h| HostView::new(h, grouped_name, timeouts))
                .collect(),
            last_ref_time,
            checksum: "",
            all_ips: false,
            reach_protection_threshold: selection.reach_protection_threshold,
            valid: true,
        }
    }
}

/// Encoded `ServiceInfo` bodies, keyed by what selects them and valid while the service's
/// sequence is unchanged, so polling clients cost a lookup rather than an encoding.
#[derive(Default)]
pub struct ListCache {
    entries: Mutex<HashMap<ListKey, (u64, Bytes)>>,
}

/// What selects a list body: service, clusters as requested, healthyOnly, v2 envelope.
type ListKey = (ServiceKey, String, bool, bool);

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

// ---- parameters ----

fn required<'a>(p: &'a Params, name: &str, style: Style) -> Result<&'a str, ApiError> {
    p.get(name).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
        ApiError::new(
            style,
            StatusCode::BAD_REQUEST,
            10000,
            format!("Param '{name}' is required."),
        )
    })
}

fn port(raw: &str, style: Style) -> Result<u16, ApiError> {
    raw.trim().parse::<u16>().map_err(|_| {
        ApiError::new(
            style,
            StatusCode::BAD_REQUEST,
            20002,
            "Param 'port' is illegal, the value should be between 0 and 65535.",
        )
    })
}

/// Nacos booleans: true/on/yes/y/t in any case.
fn boolean(p: &Params, names: &[&str], default: bool) -> bool {
    match names
        .iter()
        .find_map(|n| p.get(n))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => default,
        Some(v) => ["true", "on", "yes", "y", "t", "1"].contains(&v.to_ascii_lowercase().as_str()),
    }
}

fn number(p: &Params, name: &str, style: Style) -> Result<Option<f64>, ApiError> {
    match p.get(name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse::<f64>().map(Some).map_err(|_| {
            ApiError::new(
                style,
                StatusCode::BAD_REQUEST,
                20002,
                format!("For input string: \"{v}\""),
            )
        }),
    }
}

/// Metadata as JSON object or `k1=v1,k2=v2`, within Nacos' length (`limits::nacos_metadata`).
pub fn metadata(raw: &str, style: Style) -> Result<BTreeMap<String, String>, ApiError> {
    let bad = || {
        ApiError::new(
            style,
            StatusCode::BAD_REQUEST,
            21002,
            format!("metadata format incorrect:{raw}"),
        )
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(BTreeMap::new());
    }
    let map: BTreeMap<String, String> = if raw.starts_with('{') {
        let value: serde_json::Map<String, Value> = serde_json::from_str(raw).map_err(|_| bad())?;
        value
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                Value::Number(n) => Ok((k, n.to_string())),
                Value::Bool(b) => Ok((k, b.to_string())),
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()?
    } else {
        raw.split(',')
            .map(
                |pair| match pair.split('=').collect::<Vec<_>>().as_slice() {
                    [k, v] => Ok((k.to_string(), v.to_string())),
                    _ => Err(bad()),
                },
            )
            .collect::<Result<_, _>>()?
    };
    metadata_fits(&map, style)?;
    Ok(map)
}

/// Nacos' metadata rule (the limits table's), as Nacos answers it: 21002.
fn metadata_fits(map: &BTreeMap<String, String>, style: Style) -> Result<(), ApiError> {
    crate::core::limits::nacos_metadata(map)
        .map_err(|e| ApiError::new(style, StatusCode::BAD_REQUEST, 21002, e.to_string()))
}

fn instance_key(p: &Params, style: Style) -> Result<InstanceKey, ApiError> {
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

fn instance_input(p: &Params, style: Style) -> Result<InstanceInput, ApiError> {
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

/// Core errors in naming's words: v1 bare text, v2 naming codes.
fn naming_error(style: Style) -> impl Fn(CoreError) -> ApiError {
    move |e| match e {
        CoreError::Invalid {
            field: "weight",
            message,
        } => ApiError::new(style, StatusCode::BAD_REQUEST, 21001, message),
        CoreError::Invalid {
            field: "serviceName",
            message,
        } => ApiError::new(style, StatusCode::BAD_REQUEST, 21000, message),
        CoreError::NotFound(m) if m.starts_with("instance") => {
            ApiError::new(style, StatusCode::NOT_FOUND, 21003, m)
        }
        CoreError::NotFound(m) => ApiError::new(style, StatusCode::BAD_REQUEST, 21008, m),
        CoreError::Conflict(m) if m.contains("already exists") => {
            ApiError::new(style, StatusCode::BAD_REQUEST, 21007, m)
        }
        CoreError::Conflict(m) => ApiError::new(style, StatusCode::BAD_REQUEST, 21009, m),
        other => ApiError::from_core(style, other),
    }
}

fn ok(style: Style) -> Response {
    if style == Style::V2 {
        success("ok")
    } else {
        "ok".into_response()
    }
}

// ---- instances ----

async fn register(
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

async fn deregister(
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
async fn update(
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

async fn detail(
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
async fn list(
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

fn json_response(body: Bytes) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Uniform numbers in (0, 1) for weighted ordering (SplitMix64 seeded per request).
fn random_unit() -> impl FnMut() -> f64 {
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
async fn beat(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let beat: Option<Value> = match p.get("beat").map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(raw) => Some(serde_json::from_str(raw).map_err(|_| {
            ApiError::new(
                style,
                StatusCode::BAD_REQUEST,
                20002,
                format!("beat is not valid JSON: {raw}"),
            )
        })?),
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

fn beat_answer(app: &AppState, instance: Option<&Instance>, code: u32) -> Response {
    let interval = instance.map_or(app.core.timeouts.beat_interval, |i| {
        app.core.timeouts.beat_interval(i)
    });
    axum::Json(json!({"clientBeatInterval": interval.as_millis() as u64, "code": code, "lightBeatEnabled": true})).into_response()
}

// ---- services ----

fn service_input(
    p: &Params,
    style: Style,
    threshold_required: bool,
) -> Result<ServiceInput, ApiError> {
    let threshold = number(p, "protectThreshold", style)?;
    if threshold_required && threshold.is_none() {
        return Err(ApiError::new(
            style,
            StatusCode::BAD_REQUEST,
            10000,
            "Param 'protectThreshold' is required.",
        ));
    }
    let selector = p.str("selector").trim();
    if !selector.is_empty() {
        let parsed: Value = serde_json::from_str(selector).map_err(|_| {
            ApiError::new(
                style,
                StatusCode::BAD_REQUEST,
                21006,
                "not match any type of selector!",
            )
        })?;
        if !matches!(
            parsed.get("type").and_then(Value::as_str),
            Some("none" | "label")
        ) {
            return Err(ApiError::new(
                style,
                StatusCode::BAD_REQUEST,
                21006,
                "not match any type of selector!",
            ));
        }
    }
    Ok(ServiceInput {
        protect_threshold: threshold.unwrap_or(0.0),
        metadata: metadata(p.str("metadata"), style)?,
        selector: selector.to_owned(),
    })
}

async fn service_create(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let input = service_input(p, style, false)?;
    app.core
        .create_service(&p.actor(), &service, input)
        .await
        .map_err(naming_error(style))?;
    Ok(ok(style))
}

async fn service_update(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let input = service_input(p, style, style != Style::V2)?;
    app.core
        .update_service(&p.actor(), &service, input)
        .await
        .map_err(naming_error(style))?;
    Ok(ok(style))
}

async fn service_delete(
    app: &AppState,
    service: ServiceKey,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    app.core
        .delete_service(&p.actor(), &service)
        .await
        .map_err(naming_error(style))?;
    Ok(ok(style))
}

async fn service_detail(
    app: &AppState,
    service: ServiceKey,
    _: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let entry = app
        .core
        .get_service(&service)
        .map_err(naming_error(style))?
        .ok_or_else(|| naming_error(style)(crate::core::naming::service_not_found(&service)))?;
    let selector: Value =
        serde_json::from_str(&entry.selector).unwrap_or_else(|_| json!({"type": "none"}));
    let clusters: std::collections::BTreeSet<&str> = entry
        .instances
        .values()
        .map(|i| i.spec.cluster.as_str())
        .collect();
    let body = json!({
        "namespaceId": service.namespace, "namespace": service.namespace, "groupName": service.group,
        "name": service.service, "serviceName": service.service, "protectThreshold": entry.protect_threshold,
        "metadata": entry.metadata, "selector": selector,
        "clusters": clusters.iter().map(|c| json!({"name": c, "healthChecker": {"type": "TCP"}, "metadata": {}})).collect::<Vec<_>>(),
        "ephemeral": entry.instances.values().all(|i| i.spec.ephemeral),
    });
    Ok(if style == Style::V2 {
        success(body)
    } else {
        axum::Json(body).into_response()
    })
}

async fn service_list(
    app: &AppState,
    scope: &ServiceScope,
    caller: &Caller,
    p: &Params,
    style: Style,
) -> Result<Response, ApiError> {
    let page_no = p.number("pageNo", 1, style)?;
    let page_size = p.number("pageSize", if style == Style::V2 { 20 } else { 10 }, style)?;
    let group = scope.group.as_deref().unwrap_or(DEFAULT_GROUP);
    let page = app
        .core
        .list_services(&scope.namespace, group, &caller.reader, page_no, page_size)
        .map_err(naming_error(style))?;
    let names: Vec<&str> = page.items.iter().map(|k| k.service.as_str()).collect();
    Ok(if style == Style::V2 {
        success(json!({"count": page.total_count, "services": names}))
    } else {
        axum::Json(json!({"count": page.total_count, "doms": names})).into_response()
    })
}

// ---- handlers ----

macro_rules! handlers {
    ($($name:ident => $op:ident($style:expr)),* $(,)?) => {
        $(pub async fn $name(
            State(app): State<AppState>,
            service: Checked<ServiceKey>,
            p: Params,
        ) -> Result<Response, ApiError> {
            $op(&app, service.into_inner(), &p, $style).await
        })*
    };
}

handlers! {
    v1_register => register(Style::Text),
    v1_deregister => deregister(Style::Text),
    v1_update => update(Style::Text),
    v1_detail => detail(Style::Text),
    v1_list => list(Style::Text),
    v1_beat => beat(Style::Text),
    v1_service_create => service_create(Style::Text),
    v1_service_update => service_update(Style::Text),
    v1_service_delete => service_delete(Style::Text),
    v1_service_detail => service_detail(Style::Text),
    v2_register => register(Style::V2),
    v2_deregister => deregister(Style::V2),
    v2_update => update(Style::V2),
    v2_detail => detail(Style::V2),
    v2_list => list(Style::V2),
    v2_beat => beat(Style::V2),
    v2_service_create => service_create(Style::V2),
    v2_service_update => service_update(Style::V2),
    v2_service_delete => service_delete(Style::V2),
    v2_service_detail => service_detail(Style::V2),
}

pub async fn v1_service_list(
    State(app): State<AppState>,
    scope: Checked<ServiceScope>,
    caller: Caller,
    p: Params,
) -> Result<Response, ApiError> {
    service_list(&app, &scope, &caller, &p, Style::Text).await
}

pub async fn v2_service_list(
    State(app): State<AppState>,
    scope: Checked<ServiceScope>,
    caller: Caller,
    p: Params,
) -> Result<Response, ApiError> {
    service_list(&app, &scope, &caller, &p, Style::V2).await
}

pub async fn metrics(State(app): State<AppState>, p: Params) -> Response {
    if p.get("onlyStatus") == Some("false") {
        let state = app.core.model.read();
        let services = state.registry.values().filter(|e| e.visible()).count();
        let instances: usize = state.registry.values().map(|e| e.instances.len()).sum();
        return axum::Json(
            json!({"status": "UP", "serviceCount": services, "instanceCount": instances}),
        )
        .into_response();
    }
    axum::Json(json!({"status": "UP"})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_accepts_json_and_pairs_and_refuses_the_rest() {
        let m = metadata(r#"{"a":"1","b":2}"#, Style::Text).unwrap();
        assert_eq!((m["a"].as_str(), m["b"].as_str()), ("1", "2"));
        let m = metadata("a=1,b=2", Style::Text).unwrap();
        assert_eq!(m.len(), 2);
        for bad in ["{not json", "a=1,b", r#"{"a":{"nested":1}}"#, "a=b=c"] {
            let e = metadata(bad, Style::Text).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::BAD_REQUEST, 21002),
                "{bad}"
            );
        }
        assert!(metadata(&format!("{{\"k\":\"{}\"}}", "v".repeat(1100)), Style::Text).is_err());
    }

    #[test]
    fn random_units_stay_inside_the_open_interval() {
        let mut r = random_unit();
        for _ in 0..10_000 {
            let x = r();
            assert!(x > 0.0 && x < 1.0);
        }
    }
}
