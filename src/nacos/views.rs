//! The Nacos JSON shapes both transports answer with: `ServiceInfo` and its hosts, every
//! primitive always present as the SDKs parse them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::core::liveness::Timeouts;
use crate::core::naming::Selection;
use crate::core::registry::{Instance, ServiceKey};

/// Nacos' `cacheMillis`: how long clients may cache a list.
pub const CACHE_MILLIS: u64 = 10_000;

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
