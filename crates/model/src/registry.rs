//! The service registry's part of the pure fold: services and their instances.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::event::{Event, InstanceSpec};
use super::state::normalize_namespace;

/// Nacos' default group, cluster and protect threshold.
pub const DEFAULT_GROUP: &str = "DEFAULT_GROUP";
pub const DEFAULT_CLUSTER: &str = "DEFAULT";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceKey {
    pub namespace: String,
    pub group: String,
    pub service: String,
}

impl ServiceKey {
    pub fn new(namespace: &str, group: &str, service: &str) -> Self {
        Self {
            namespace: normalize_namespace(namespace).to_owned(),
            group: if group.is_empty() {
                DEFAULT_GROUP.to_owned()
            } else {
                group.to_owned()
            },
            service: service.to_owned(),
        }
    }

    /// Nacos' grouped name, `GROUP@@service`.
    pub fn grouped(&self) -> String {
        format!("{}@@{}", self.group, self.service)
    }
}

/// An instance's identity within its service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InstanceKey {
    pub cluster: String,
    pub ip: String,
    pub port: u16,
}

/// An instance as the views hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    #[serde(flatten)]
    pub spec: InstanceSpec,
    /// Sequence of the last event that changed this instance.
    pub seq: u64,
    /// When it registered (epoch ms).
    pub register_time: i64,
}

impl Instance {
    pub fn key(&self) -> InstanceKey {
        InstanceKey {
            cluster: self.spec.cluster.clone(),
            ip: self.spec.ip.clone(),
            port: self.spec.port,
        }
    }
}

/// A service as the views hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntry {
    #[serde(flatten)]
    pub key: ServiceKey,
    /// Created through the service API (not only implied by an instance).
    pub explicit: bool,
    pub protect_threshold: f64,
    pub metadata: BTreeMap<String, String>,
    pub selector: String,
    #[serde(with = "instance_list")]
    pub instances: BTreeMap<InstanceKey, Arc<Instance>>,
    /// Sequence of the last event on this service's subject (compare-and-set for expiry).
    pub seq: u64,
    /// Nacos' `lastRefTime`: the time of the last change, strictly increasing per service.
    pub last_ref_time: i64,
    /// Sequence of the event that first created it (its numeric id).
    pub create_seq: u64,
}

impl ServiceEntry {
    fn new(key: ServiceKey, seq: u64) -> Self {
        Self {
            key,
            explicit: false,
            protect_threshold: 0.0,
            metadata: BTreeMap::new(),
            selector: String::new(),
            instances: BTreeMap::new(),
            seq,
            last_ref_time: 0,
            create_seq: seq,
        }
    }

    /// Listed and queryable: created explicitly, or holding instances.
    pub fn visible(&self) -> bool {
        self.explicit || !self.instances.is_empty()
    }
}

/// Instances are a JSON list in the views (JSON map keys must be strings).
mod instance_list {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Instance, InstanceKey};

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<InstanceKey, Arc<Instance>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.values().map(|i| i.as_ref()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<InstanceKey, Arc<Instance>>, D::Error> {
        let list = Vec::<Instance>::deserialize(d)?;
        Ok(list.into_iter().map(|i| (i.key(), Arc::new(i))).collect())
    }
}

/// Services by key. Entries stay after their last instance leaves (their sequence is the
/// compare-and-set base, and `lastRefTime` must keep increasing), but are no longer visible.
pub type Registry = BTreeMap<ServiceKey, ServiceEntry>;

/// Folds a naming event. Returns the service it changed.
pub fn apply(registry: &mut Registry, seq: u64, time: i64, event: &Event) -> Option<ServiceKey> {
    let key = match event {
        Event::ServiceCreated(s) | Event::ServiceUpdated(s) => {
            ServiceKey::new(&s.namespace, &s.group, &s.service)
        }
        Event::ServiceDeleted(s) => ServiceKey::new(&s.namespace, &s.group, &s.service),
        Event::InstanceRegistered(i) | Event::InstanceUpdated(i) => {
            ServiceKey::new(&i.namespace, &i.group, &i.service)
        }
        Event::InstanceDeregistered(i) => ServiceKey::new(&i.namespace, &i.group, &i.service),
        Event::InstanceHealth(i) => ServiceKey::new(&i.namespace, &i.group, &i.service),
        _ => return None,
    };
    let entry = registry
        .entry(key.clone())
        .or_insert_with(|| ServiceEntry::new(key.clone(), seq));
    entry.seq = seq;
    entry.last_ref_time = time.max(entry.last_ref_time + 1);
    match event {
        Event::ServiceCreated(s) | Event::ServiceUpdated(s) => {
            entry.explicit = true;
            entry.protect_threshold = s.protect_threshold;
            entry.metadata = s.metadata.clone();
            entry.selector = s.selector.clone();
        }
        Event::ServiceDeleted(_) => {
            entry.explicit = false;
            entry.instances.clear();
            entry.protect_threshold = 0.0;
            entry.metadata.clear();
            entry.selector.clear();
        }
        Event::InstanceRegistered(i) | Event::InstanceUpdated(i) => {
            let spec = i.instance.clone();
            let ikey = InstanceKey {
                cluster: spec.cluster.clone(),
                ip: spec.ip.clone(),
                port: spec.port,
            };
            let register_time = entry
                .instances
                .get(&ikey)
                .map_or(time, |old| old.register_time);
            entry.instances.insert(
                ikey,
                Arc::new(Instance {
                    spec,
                    seq,
                    register_time,
                }),
            );
        }
        Event::InstanceDeregistered(i) => {
            entry.instances.remove(&InstanceKey {
                cluster: i.cluster.clone(),
                ip: i.ip.clone(),
                port: i.port,
            });
        }
        Event::InstanceHealth(h) => {
            let ikey = InstanceKey {
                cluster: h.cluster.clone(),
                ip: h.ip.clone(),
                port: h.port,
            };
            if let Some(existing) = entry.instances.get(&ikey) {
                let mut updated = (**existing).clone();
                updated.spec.healthy = h.healthy;
                updated.seq = seq;
                entry.instances.insert(ikey, Arc::new(updated));
            }
        }
        _ => {}
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{InstanceData, InstanceHealth, InstanceRef, ServiceData, ServiceRef};

    fn spec(ip: &str, port: u16) -> InstanceSpec {
        InstanceSpec {
            ip: ip.into(),
            port,
            cluster: DEFAULT_CLUSTER.into(),
            weight: 1.0,
            enabled: true,
            healthy: true,
            ephemeral: true,
            metadata: BTreeMap::new(),
            instance_id: String::new(),
        }
    }

    fn register(ip: &str, port: u16) -> Event {
        Event::InstanceRegistered(InstanceData {
            namespace: String::new(),
            group: String::new(),
            service: "svc".into(),
            instance: spec(ip, port),
        })
    }

    fn instance_ref(ip: &str, port: u16) -> InstanceRef {
        InstanceRef {
            namespace: "public".into(),
            group: DEFAULT_GROUP.into(),
            service: "svc".into(),
            ip: ip.into(),
            port,
            cluster: DEFAULT_CLUSTER.into(),
            reason: "client".into(),
        }
    }

    #[test]
    fn registering_implies_the_service_and_deregistering_hides_it() {
        let mut r = Registry::new();
        let key = apply(&mut r, 1, 1000, &register("10.0.0.1", 80)).unwrap();
        assert_eq!(key, ServiceKey::new("public", DEFAULT_GROUP, "svc"));
        assert!(r[&key].visible());
        apply(&mut r, 2, 1000, &register("10.0.0.2", 80));
        assert_eq!(r[&key].instances.len(), 2);
        apply(
            &mut r,
            3,
            1000,
            &Event::InstanceDeregistered(instance_ref("10.0.0.1", 80)),
        );
        apply(
            &mut r,
            4,
            1000,
            &Event::InstanceDeregistered(instance_ref("10.0.0.2", 80)),
        );
        assert!(!r[&key].visible());
        assert_eq!(r[&key].seq, 4);
    }

    #[test]
    fn last_ref_time_strictly_increases_even_within_one_millisecond() {
        let mut r = Registry::new();
        let key = apply(&mut r, 1, 5000, &register("a", 1)).unwrap();
        apply(&mut r, 2, 5000, &register("b", 1));
        apply(&mut r, 3, 4000, &register("c", 1));
        assert_eq!(r[&key].last_ref_time, 5002);
    }

    #[test]
    fn health_transitions_and_re_registration_keep_the_registration_time() {
        let mut r = Registry::new();
        let key = apply(&mut r, 1, 100, &register("a", 1)).unwrap();
        let ikey = InstanceKey {
            cluster: DEFAULT_CLUSTER.into(),
            ip: "a".into(),
            port: 1,
        };
        apply(
            &mut r,
            2,
            200,
            &Event::InstanceHealth(InstanceHealth {
                namespace: "public".into(),
                group: DEFAULT_GROUP.into(),
                service: "svc".into(),
                ip: "a".into(),
                port: 1,
                cluster: DEFAULT_CLUSTER.into(),
                healthy: false,
            }),
        );
        assert!(!r[&key].instances[&ikey].spec.healthy);
        apply(&mut r, 3, 300, &register("a", 1));
        let instance = &r[&key].instances[&ikey];
        assert!(instance.spec.healthy);
        assert_eq!((instance.register_time, instance.seq), (100, 3));
    }

    #[test]
    fn explicit_services_carry_settings_until_deleted() {
        let mut r = Registry::new();
        let data = ServiceData {
            namespace: "public".into(),
            group: "G".into(),
            service: "svc".into(),
            protect_threshold: 0.5,
            metadata: BTreeMap::from([("k".into(), "v".into())]),
            selector: String::new(),
        };
        let key = apply(&mut r, 1, 1, &Event::ServiceCreated(data)).unwrap();
        assert!(r[&key].visible());
        assert_eq!(r[&key].protect_threshold, 0.5);
        let gone = Event::ServiceDeleted(ServiceRef {
            namespace: "public".into(),
            group: "G".into(),
            service: "svc".into(),
        });
        apply(&mut r, 2, 2, &gone);
        assert!(!r[&key].visible());
        assert_eq!(r[&key].create_seq, 1);
    }
}
