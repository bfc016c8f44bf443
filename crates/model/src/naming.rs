//! Service discovery operations: instances and services, and how a list is selected.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::CoreError;
use super::event::{InstanceSpec, ServiceData};
use super::registry::{DEFAULT_CLUSTER, Instance, InstanceKey, ServiceEntry, ServiceKey};

/// The selected instances of a service, as a list request sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub hosts: Vec<Arc<Instance>>,
    pub reach_protection_threshold: bool,
}

impl Selection {
    /// What a missing service selects.
    pub fn empty() -> Self {
        Self {
            hosts: Vec::new(),
            reach_protection_threshold: false,
        }
    }
}

/// A `clusters` parameter (`a,b`) as the list `select` takes, blanks dropped.
pub fn clusters_of(param: &str) -> Vec<String> {
    param
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Nacos' selection: the requested clusters' enabled instances; when the healthy share is at or
/// below the protect threshold, every instance is returned (so a dying fleet is not funnelled onto
/// its last healthy members); otherwise `healthy_only` keeps the healthy ones.
pub fn select(entry: &ServiceEntry, clusters: &[String], healthy_only: bool) -> Selection {
    let in_clusters: Vec<Arc<Instance>> = entry
        .instances
        .values()
        .filter(|i| clusters.is_empty() || clusters.iter().any(|c| *c == i.spec.cluster))
        .filter(|i| i.spec.enabled)
        .cloned()
        .collect();
    let total = in_clusters.len();
    let healthy = in_clusters.iter().filter(|i| i.spec.healthy).count();
    let reach = total > 0
        && entry.protect_threshold > 0.0
        && (healthy as f64 / total as f64) <= entry.protect_threshold;
    let hosts = if reach {
        // As Nacos does, the unhealthy ones are handed out as healthy while protection holds.
        in_clusters
            .into_iter()
            .map(|i| {
                if i.spec.healthy {
                    i
                } else {
                    let mut shown = (*i).clone();
                    shown.spec.healthy = true;
                    Arc::new(shown)
                }
            })
            .collect()
    } else if healthy_only {
        in_clusters.into_iter().filter(|i| i.spec.healthy).collect()
    } else {
        in_clusters
    };
    Selection {
        hosts,
        reach_protection_threshold: reach,
    }
}

/// A node's or an instance's place: datacenter, region, zone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Locality {
    pub datacenter: String,
    pub region: String,
    pub zone: String,
}

impl Locality {
    /// An instance's locality from its metadata (`datacenter`, `region`, `zone`).
    pub fn of(instance: &Instance) -> Self {
        let get = |k: &str| instance.spec.metadata.get(k).cloned().unwrap_or_default();
        Self {
            datacenter: get("datacenter"),
            region: get("region"),
            zone: get("zone"),
        }
    }

    /// 0 same zone, 1 same region, 2 same datacenter, 3 elsewhere (lower is nearer).
    pub fn distance(&self, other: &Locality) -> u8 {
        let same = |a: &str, b: &str| !a.is_empty() && a == b;
        if same(&self.zone, &other.zone)
            && (self.region.is_empty() || same(&self.region, &other.region))
        {
            0
        } else if same(&self.region, &other.region) {
            1
        } else if same(&self.datacenter, &other.datacenter) {
            2
        } else {
            3
        }
    }
}

/// Orders hosts nearest first; within a tier, a weighted random order (Efraimidis-Spirakis:
/// key `u^(1/w)`), so a client taking the first host spreads load by weight. `uniform` yields
/// numbers in (0, 1).
pub fn order_by_locality(
    hosts: &mut Vec<Arc<Instance>>,
    here: &Locality,
    mut uniform: impl FnMut() -> f64,
) {
    let mut keyed: Vec<(u8, f64, Arc<Instance>)> = hosts
        .drain(..)
        .map(|h| {
            let w = h.spec.weight.max(1e-6);
            (here.distance(&Locality::of(&h)), uniform().powf(1.0 / w), h)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    hosts.extend(keyed.into_iter().map(|(_, _, h)| h));
}

/// What a register request supplies; defaults follow Nacos.
#[derive(Debug, Clone)]
pub struct InstanceInput {
    pub ip: String,
    pub port: u16,
    pub cluster: String,
    pub weight: f64,
    pub enabled: bool,
    pub healthy: bool,
    pub ephemeral: bool,
    pub metadata: BTreeMap<String, String>,
}

impl InstanceInput {
    pub fn into_spec(self, service: &ServiceKey) -> InstanceSpec {
        let cluster = if self.cluster.is_empty() {
            DEFAULT_CLUSTER.to_owned()
        } else {
            self.cluster
        };
        let instance_id = format!(
            "{}#{}#{}#{}",
            self.ip,
            self.port,
            cluster,
            service.grouped()
        );
        InstanceSpec {
            ip: self.ip,
            port: self.port,
            cluster,
            weight: self.weight,
            enabled: self.enabled,
            healthy: self.healthy,
            ephemeral: self.ephemeral,
            metadata: self.metadata,
            instance_id,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ServiceInput {
    pub protect_threshold: f64,
    pub metadata: BTreeMap<String, String>,
    pub selector: String,
}

pub fn service_data(service: &ServiceKey, input: ServiceInput) -> ServiceData {
    ServiceData {
        namespace: service.namespace.clone(),
        group: service.group.clone(),
        service: service.service.clone(),
        protect_threshold: input.protect_threshold,
        metadata: input.metadata,
        selector: input.selector,
    }
}

pub fn service_not_found(service: &ServiceKey) -> CoreError {
    CoreError::NotFound(format!("service not found: {}", service.grouped()))
}

pub fn instance_not_found(service: &ServiceKey, key: &InstanceKey) -> CoreError {
    CoreError::NotFound(format!(
        "instance {}:{} (cluster {}) of service {} not found",
        key.ip,
        key.port,
        key.cluster,
        service.grouped()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(
        ip: &str,
        healthy: bool,
        cluster: &str,
        weight: f64,
        meta: &[(&str, &str)],
    ) -> Arc<Instance> {
        Arc::new(Instance {
            spec: InstanceSpec {
                ip: ip.into(),
                port: 80,
                cluster: cluster.into(),
                weight,
                enabled: true,
                healthy,
                ephemeral: true,
                metadata: meta
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                instance_id: String::new(),
            },
            seq: 1,
            register_time: 0,
        })
    }

    fn service(hosts: Vec<Arc<Instance>>, threshold: f64) -> ServiceEntry {
        let mut entry: ServiceEntry = serde_json::from_value(serde_json::json!({
            "namespace": "public", "group": "G", "service": "s", "explicit": true,
            "protectThreshold": threshold, "metadata": {}, "selector": "", "instances": [],
            "seq": 1, "lastRefTime": 1, "createSeq": 1
        }))
        .unwrap();
        for h in hosts {
            entry.instances.insert(h.key(), h);
        }
        entry
    }

    fn ips(s: &Selection) -> Vec<&str> {
        s.hosts.iter().map(|h| h.spec.ip.as_str()).collect()
    }

    #[test]
    fn healthy_only_and_cluster_filters() {
        let e = service(
            vec![
                host("a", true, "A", 1.0, &[]),
                host("b", false, "A", 1.0, &[]),
                host("c", true, "B", 1.0, &[]),
            ],
            0.0,
        );
        assert_eq!(ips(&select(&e, &[], true)), ["a", "c"]);
        assert_eq!(ips(&select(&e, &[], false)), ["a", "b", "c"]);
        assert_eq!(ips(&select(&e, &["A".into()], false)), ["a", "b"]);
    }

    #[test]
    fn below_the_protect_threshold_every_instance_is_returned() {
        let e = service(
            vec![
                host("a", true, "A", 1.0, &[]),
                host("b", false, "A", 1.0, &[]),
                host("c", false, "A", 1.0, &[]),
            ],
            0.5,
        );
        let s = select(&e, &[], true);
        assert!(s.reach_protection_threshold);
        assert_eq!(ips(&s), ["a", "b", "c"]);
        assert!(
            s.hosts.iter().all(|h| h.spec.healthy),
            "shown as healthy while protection holds"
        );
        let e = service(
            vec![
                host("a", true, "A", 1.0, &[]),
                host("b", true, "A", 1.0, &[]),
                host("c", false, "A", 1.0, &[]),
            ],
            0.5,
        );
        let s = select(&e, &[], true);
        assert!(!s.reach_protection_threshold);
        assert_eq!(ips(&s), ["a", "b"]);
    }

    #[test]
    fn locality_first_then_weight() {
        let here = Locality {
            datacenter: "dc1".into(),
            region: "east".into(),
            zone: "z1".into(),
        };
        let mut hosts = vec![
            host("far", true, "A", 100.0, &[("datacenter", "dc9")]),
            host(
                "region",
                true,
                "A",
                1.0,
                &[("region", "east"), ("zone", "z2")],
            ),
            host(
                "zone",
                true,
                "A",
                1.0,
                &[("region", "east"), ("zone", "z1")],
            ),
            host("dc", true, "A", 1.0, &[("datacenter", "dc1")]),
        ];
        let mut n = 0.0;
        order_by_locality(&mut hosts, &here, || {
            n += 0.1;
            n
        });
        let order: Vec<_> = hosts.iter().map(|h| h.spec.ip.as_str()).collect();
        assert_eq!(order, ["zone", "region", "dc", "far"]);
    }

    #[test]
    fn weights_shape_the_order_within_a_tier() {
        let here = Locality::default();
        let mut heavy_first = 0;
        let mut seed = 12345u64;
        for _ in 0..2000 {
            let mut hosts = vec![
                host("light", true, "A", 1.0, &[]),
                host("heavy", true, "A", 9.0, &[]),
            ];
            order_by_locality(&mut hosts, &here, || {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((seed >> 11) as f64 + 0.5) / (1u64 << 53) as f64
            });
            heavy_first += usize::from(hosts[0].spec.ip == "heavy");
        }
        assert!(
            (1700..1900).contains(&heavy_first),
            "expected ~90% heavy first, got {heavy_first}/2000"
        );
    }
}
