//! What the KV views hold for a state: pure functions of the fold, shared by the projector and
//! `nacre verify`. No view record grows with the number of anything: a service's record holds the
//! service, and each of its instances has a record of its own, so a service with 20,000
//! instances is 20,000 small records, each far below NATS' message limit.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use crate::backbone::{CONFIGS_BUCKET, INSTANCES_BUCKET, NAMESPACES_BUCKET, SERVICES_BUCKET};
use crate::core::configs::ConfigKey;
use crate::core::names;
use crate::core::registry::{Instance, ServiceEntry, ServiceKey};
use crate::core::state::State;

/// The view contents the fold implies: bucket → key → JSON value.
pub type Views = BTreeMap<&'static str, BTreeMap<String, Bytes>>;

/// One view entry to make equal to a value (`None`: absent).
pub type Write = (&'static str, String, Option<Bytes>);

/// Key of a config in the configs view.
pub fn config_key(key: &ConfigKey) -> String {
    names::join(&[&key.namespace, &key.group, &key.data_id])
}

/// Key of a service in the services view.
pub fn service_key(key: &ServiceKey) -> String {
    names::join(&[&key.namespace, &key.group, &key.service])
}

/// Key of an instance in the instances view: its service's key, then cluster, ip and port, so
/// `<service key>.>` watches a service's instances.
pub fn instance_key(service: &ServiceKey, instance: &Instance) -> String {
    let port = instance.spec.port.to_string();
    names::join(&[
        &service.namespace,
        &service.group,
        &service.service,
        &instance.spec.cluster,
        &instance.spec.ip,
        &port,
    ])
}

/// A service's record: everything but its instances (which have records of their own).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceRecord<'a> {
    #[serde(flatten)]
    key: &'a ServiceKey,
    explicit: bool,
    protect_threshold: f64,
    metadata: &'a BTreeMap<String, String>,
    selector: &'a str,
    instance_count: usize,
    seq: u64,
    last_ref_time: i64,
    create_seq: u64,
}

pub fn service_record(entry: &ServiceEntry) -> Option<Bytes> {
    serde_json::to_vec(&ServiceRecord {
        key: &entry.key,
        explicit: entry.explicit,
        protect_threshold: entry.protect_threshold,
        metadata: &entry.metadata,
        selector: &entry.selector,
        instance_count: entry.instances.len(),
        seq: entry.seq,
        last_ref_time: entry.last_ref_time,
        create_seq: entry.create_seq,
    })
    .ok()
    .map(Bytes::from)
}

pub fn instance_record(instance: &Instance) -> Option<Bytes> {
    serde_json::to_vec(instance).ok().map(Bytes::from)
}

/// What the views must hold for `state`.
pub fn expected(state: &State) -> Views {
    let mut views = Views::new();
    let configs = views.entry(CONFIGS_BUCKET).or_default();
    for entry in state.live_configs() {
        if let Ok(json) = serde_json::to_vec(entry.as_ref()) {
            configs.insert(config_key(&entry.key), Bytes::from(json));
        }
    }
    let mut services = BTreeMap::new();
    let mut instances = BTreeMap::new();
    for entry in state.registry.values().filter(|e| e.visible()) {
        if let Some(record) = service_record(entry) {
            services.insert(service_key(&entry.key), record);
        }
        for instance in entry.instances.values() {
            if let Some(record) = instance_record(instance) {
                instances.insert(instance_key(&entry.key, instance), record);
            }
        }
    }
    views.insert(SERVICES_BUCKET, services);
    views.insert(INSTANCES_BUCKET, instances);
    let namespaces = views.entry(NAMESPACES_BUCKET).or_default();
    for (id, entry) in &state.namespaces {
        if let Ok(json) = serde_json::to_vec(entry) {
            namespaces.insert(names::encode(id), Bytes::from(json));
        }
    }
    views
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{Envelope, Event, InstanceData, InstanceSpec};

    fn registered(state: &mut State, seq: u64, ip: &str, metadata_bytes: usize) {
        let mut metadata = BTreeMap::new();
        metadata.insert("blob".to_owned(), "x".repeat(metadata_bytes));
        state.apply(
            seq,
            &Envelope::new(
                "test",
                "test",
                Event::InstanceRegistered(InstanceData {
                    namespace: "public".into(),
                    group: "G".into(),
                    service: "big".into(),
                    instance: InstanceSpec {
                        ip: ip.into(),
                        port: 80,
                        cluster: "DEFAULT".into(),
                        weight: 1.0,
                        enabled: true,
                        healthy: true,
                        ephemeral: false,
                        metadata,
                        instance_id: ip.into(),
                    },
                }),
            ),
        );
    }

    #[test]
    fn no_record_grows_with_a_services_instances() {
        let mut state = State::default();
        for i in 0..3_000u64 {
            registered(
                &mut state,
                i + 1,
                &format!("10.0.{}.{}", i / 250, i % 250),
                1024,
            );
        }
        let views = expected(&state);
        assert_eq!(views[INSTANCES_BUCKET].len(), 3_000);
        let largest = views
            .values()
            .flat_map(|b| b.values())
            .map(Bytes::len)
            .max()
            .unwrap();
        assert!(largest < 4 * 1024, "the largest record is {largest} bytes");
        let service = &views[SERVICES_BUCKET][&service_key(&ServiceKey::new("", "G", "big"))];
        assert!(String::from_utf8_lossy(service).contains("\"instanceCount\":3000"));
    }
}
