//! Service discovery operations: instances and services, and how a list is selected.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::auth::{Reader, Resource};
use super::event::{Event, InstanceData, InstanceRef, InstanceSpec, ServiceData, ServiceRef};
use super::log::Expect;
use super::registry::{DEFAULT_CLUSTER, Instance, InstanceKey, ServiceEntry, ServiceKey};
use super::{Actor, Core, CoreError, Page, validate};

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
    fn into_spec(self, service: &ServiceKey) -> InstanceSpec {
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

impl Core {
    fn check_service(&self, service: &ServiceKey) -> Result<(), CoreError> {
        validate::service_name(&service.service)?;
        validate::group(&service.group)?;
        self.require_namespace(&service.namespace)
    }

    fn check_instance(input: &InstanceInput) -> Result<(), CoreError> {
        validate::ip(&input.ip)?;
        validate::weight(input.weight)?;
        if !input.cluster.is_empty() {
            validate::cluster(&input.cluster)?;
        }
        Ok(())
    }

    /// Validates a register/update request into the instance's key and event payload.
    fn instance_data(
        &self,
        service: &ServiceKey,
        input: InstanceInput,
    ) -> Result<(InstanceKey, InstanceData), CoreError> {
        self.check_service(service)?;
        Self::check_instance(&input)?;
        let spec = input.into_spec(service);
        // Every protocol's metadata rule is checked by its adapter; this bounds the record
        // whatever it carries (Consul checks and tags included).
        let size = serde_json::to_vec(&spec).map_or(0, |v| v.len());
        super::limits::record("instance", size, super::limits::INSTANCE_RECORD_BYTES)?;
        let key = InstanceKey {
            cluster: spec.cluster.clone(),
            ip: spec.ip.clone(),
            port: spec.port,
        };
        let data = InstanceData {
            namespace: service.namespace.clone(),
            group: service.group.clone(),
            service: service.service.clone(),
            instance: spec,
        };
        Ok((key, data))
    }

    pub async fn register_instance(
        &self,
        actor: &Actor,
        service: &ServiceKey,
        input: InstanceInput,
    ) -> Result<u64, CoreError> {
        let (key, data) = self.instance_data(service, input)?;
        let seq = self
            .commit(actor, Event::InstanceRegistered(data), Expect::Anything)
            .await?;
        self.metrics.service_register.inc();
        self.beats.record(service, &key);
        Ok(seq)
    }

    /// Changes a registered instance's settings (it must exist).
    pub async fn update_instance(
        &self,
        actor: &Actor,
        service: &ServiceKey,
        input: InstanceInput,
    ) -> Result<u64, CoreError> {
        let (key, data) = self.instance_data(service, input)?;
        if self.get_instance(service, &key).is_none() {
            return Err(instance_not_found(service, &key));
        }
        self.commit(actor, Event::InstanceUpdated(data), Expect::Anything)
            .await
    }

    pub async fn deregister_instance(
        &self,
        actor: &Actor,
        service: &ServiceKey,
        key: &InstanceKey,
        reason: &str,
    ) -> Result<u64, CoreError> {
        self.check_service(service)?;
        if self.get_instance(service, key).is_none() {
            return Err(instance_not_found(service, key));
        }
        let event = Event::InstanceDeregistered(InstanceRef {
            namespace: service.namespace.clone(),
            group: service.group.clone(),
            service: service.service.clone(),
            ip: key.ip.clone(),
            port: key.port,
            cluster: key.cluster.clone(),
            reason: reason.to_owned(),
        });
        self.commit(actor, event, Expect::Anything).await
    }

    pub fn get_instance(&self, service: &ServiceKey, key: &InstanceKey) -> Option<Arc<Instance>> {
        self.model
            .read()
            .registry
            .get(service)
            .and_then(|e| e.instances.get(key).cloned())
    }

    /// Selects a visible service's instances under the read lock (no copy of the service), with
    /// the service's sequence (what changes whenever the selection may) and `lastRefTime`.
    pub fn select_instances(
        &self,
        service: &ServiceKey,
        clusters: &[String],
        healthy_only: bool,
    ) -> Result<Option<(Selection, u64, i64)>, CoreError> {
        self.check_service(service)?;
        self.metrics.service_query.inc();
        let state = self.model.read();
        Ok(state
            .registry
            .get(service)
            .filter(|e| e.visible())
            .map(|e| (select(e, clusters, healthy_only), e.seq, e.last_ref_time)))
    }

    /// A visible service, cloned (instances are shared, so this is cheap).
    pub fn get_service(&self, service: &ServiceKey) -> Result<Option<ServiceEntry>, CoreError> {
        self.check_service(service)?;
        Ok(self
            .model
            .read()
            .registry
            .get(service)
            .filter(|e| e.visible())
            .cloned())
    }

    pub async fn create_service(
        &self,
        actor: &Actor,
        service: &ServiceKey,
        input: ServiceInput,
    ) -> Result<u64, CoreError> {
        self.check_service(service)?;
        validate::protect_threshold(input.protect_threshold)?;
        let seq = {
            let state = self.model.read();
            match state.registry.get(service) {
                Some(e) if e.visible() => {
                    return Err(CoreError::Conflict(format!(
                        "specified service {} already exists",
                        service.grouped()
                    )));
                }
                Some(e) => e.seq,
                None => 0,
            }
        };
        let event = Event::ServiceCreated(service_data(service, input));
        self.commit(actor, event, Expect::LastSubjectSequence(seq))
            .await
    }

    pub async fn update_service(
        &self,
        actor: &Actor,
        service: &ServiceKey,
        input: ServiceInput,
    ) -> Result<u64, CoreError> {
        self.check_service(service)?;
        validate::protect_threshold(input.protect_threshold)?;
        if self.get_service(service)?.is_none() {
            return Err(service_not_found(service));
        }
        self.commit(
            actor,
            Event::ServiceUpdated(service_data(service, input)),
            Expect::Anything,
        )
        .await
    }

    /// Deletes a service that has no instances left.
    pub async fn delete_service(
        &self,
        actor: &Actor,
        service: &ServiceKey,
    ) -> Result<u64, CoreError> {
        let entry = self
            .get_service(service)?
            .ok_or_else(|| service_not_found(service))?;
        if !entry.instances.is_empty() {
            return Err(CoreError::Conflict(format!(
                "Service {} is not empty, can't be delete. Please unregister instance first",
                service.grouped()
            )));
        }
        let event = Event::ServiceDeleted(ServiceRef {
            namespace: service.namespace.clone(),
            group: service.group.clone(),
            service: service.service.clone(),
        });
        self.commit(actor, event, Expect::LastSubjectSequence(entry.seq))
            .await
    }

    /// Visible service names of a namespace (and group, if given) that `reader` may read, paged.
    pub fn list_services(
        &self,
        namespace: &str,
        group: &str,
        reader: &Reader,
        page_no: usize,
        page_size: usize,
    ) -> Result<Page<ServiceKey>, CoreError> {
        self.require_namespace(namespace)?;
        let namespace = super::state::normalize_namespace(namespace);
        let state = self.model.read();
        let keys: Vec<ServiceKey> = state
            .registry
            .values()
            .filter(|e| {
                e.visible()
                    && e.key.namespace == namespace
                    && (group.is_empty() || e.key.group == group)
                    && reader.may_read(&state.auth, &Resource::of_service(&e.key))
            })
            .map(|e| e.key.clone())
            .collect();
        drop(state);
        Ok(Page::of(keys, page_no, page_size))
    }
}

fn service_data(service: &ServiceKey, input: ServiceInput) -> ServiceData {
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

fn instance_not_found(service: &ServiceKey, key: &InstanceKey) -> CoreError {
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
