//! The pure fold from events to view state (DESIGN invariant 3). No I/O here: the in-memory read
//! model, the KV projector, `verify` and the unit tests all use this one function.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::event::{Envelope, Event};
use super::kv::{self, KvEntry};
use super::packages::{self, PackageIndex, PackageKey};
use super::registry::{self, Registry, ServiceKey};
use super::sessions::{self, SessionEntry};

/// The namespace that always exists. Nacos treats `""` and `"public"` as the same namespace.
pub const PUBLIC_NAMESPACE: &str = "public";

/// Maps the protocols' spellings of the default namespace onto one id.
pub fn normalize_namespace(namespace: &str) -> &str {
    if namespace.is_empty() {
        PUBLIC_NAMESPACE
    } else {
        namespace
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigKey {
    pub namespace: String,
    pub group: String,
    pub data_id: String,
}

impl ConfigKey {
    pub fn new(namespace: &str, group: &str, data_id: &str) -> Self {
        Self {
            namespace: normalize_namespace(namespace).to_owned(),
            group: group.to_owned(),
            data_id: data_id.to_owned(),
        }
    }
}

/// A config as the views hold it. `seq` is the stream sequence of the last event folded in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigEntry {
    #[serde(flatten)]
    pub key: ConfigKey,
    pub content: String,
    pub md5: String,
    pub config_type: String,
    pub app_name: String,
    pub desc: String,
    pub tags: String,
    pub encrypted_data_key: String,
    pub src_ip: String,
    pub src_user: String,
    /// Sequence of the event that created this config (Nacos' numeric id).
    pub create_seq: u64,
    pub create_time: i64,
    pub modify_time: i64,
    pub seq: u64,
}

/// The latest event on one config's subject: the entry, or the sequence of its deletion, which
/// compare-and-set needs as the expected last subject sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSlot {
    pub seq: u64,
    pub entry: Option<Arc<ConfigEntry>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceEntry {
    pub namespace: String,
    pub name: String,
    pub desc: String,
    pub create_time: i64,
    pub seq: u64,
}

/// What an applied event changed; the change feed carries these.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    Config(ConfigKey),
    Namespace(String),
    Service(ServiceKey),
    Package(PackageKey),
    /// The keys an event changed (several for a transaction).
    Kv(Vec<String>),
    Session(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub configs: BTreeMap<ConfigKey, ConfigSlot>,
    pub namespaces: BTreeMap<String, NamespaceEntry>,
    /// Sequence of the last event on each namespace's subject, deletions included.
    pub namespace_seqs: BTreeMap<String, u64>,
    /// Services and their instances.
    pub registry: Registry,
    /// The package index.
    pub packages: PackageIndex,
    /// Sequence of the last event on each package's subject, deletions included.
    pub package_seqs: BTreeMap<PackageKey, u64>,
    /// Consul KV entries, and the sequence of each key's last change, deletions included
    /// (Consul's per-key index).
    pub kv: BTreeMap<String, KvEntry>,
    pub kv_seqs: BTreeMap<String, u64>,
    /// The KV table's index: the highest sequence of any KV change, deletions included (Consul's
    /// index of its kvs and tombstones tables, which answers for a missing key or an empty prefix).
    pub kv_index: u64,
    /// The last sequence on each key's own subject: what its compare-and-set expects. It differs
    /// from `kv_seqs` only for keys last written by a `KvTxn` event.
    pub kv_subject_seqs: BTreeMap<String, u64>,
    /// Consul sessions.
    pub sessions: BTreeMap<String, SessionEntry>,
    /// Users, roles and permissions.
    pub auth: super::auth::AuthState,
    /// Consul ACL policies and tokens.
    pub acl: super::acl::AclState,
    /// Highest stream sequence folded in.
    pub applied: u64,
}

impl State {
    /// Folds the event stored at `seq`. Events at or below `applied` are ignored, so replaying
    /// an overlap is harmless.
    pub fn apply(&mut self, seq: u64, envelope: &Envelope) -> Option<Change> {
        if seq <= self.applied {
            return None;
        }
        self.applied = seq;
        let time = envelope.time_millis();
        if let Event::NamespaceCreated(n) | Event::NamespaceUpdated(n) = &envelope.body {
            self.namespace_seqs.insert(n.namespace.clone(), seq);
        }
        if let Event::NamespaceDeleted(n) = &envelope.body {
            self.namespace_seqs.insert(n.namespace.clone(), seq);
        }
        match &envelope.body {
            Event::ConfigPublished(c) => {
                let key = ConfigKey::new(&c.namespace, &c.group, &c.data_id);
                let previous = self.configs.get(&key).and_then(|slot| slot.entry.clone());
                let (create_seq, create_time) = previous
                    .as_ref()
                    .map_or((seq, time), |p| (p.create_seq, p.create_time));
                let entry = ConfigEntry {
                    key: key.clone(),
                    content: c.content.clone(),
                    md5: c.md5.clone(),
                    config_type: c.config_type.clone(),
                    app_name: c.app_name.clone(),
                    desc: c.desc.clone(),
                    tags: c.tags.clone(),
                    encrypted_data_key: c.encrypted_data_key.clone(),
                    src_ip: c.src_ip.clone(),
                    src_user: c.src_user.clone(),
                    create_seq,
                    create_time,
                    modify_time: time,
                    seq,
                };
                self.configs.insert(
                    key.clone(),
                    ConfigSlot {
                        seq,
                        entry: Some(Arc::new(entry)),
                    },
                );
                Some(Change::Config(key))
            }
            Event::ConfigDeleted(c) => {
                let key = ConfigKey::new(&c.namespace, &c.group, &c.data_id);
                self.configs
                    .insert(key.clone(), ConfigSlot { seq, entry: None });
                Some(Change::Config(key))
            }
            Event::NamespaceCreated(n) | Event::NamespaceUpdated(n) => {
                let create_time = self
                    .namespaces
                    .get(&n.namespace)
                    .map_or(time, |existing| existing.create_time);
                self.namespaces.insert(
                    n.namespace.clone(),
                    NamespaceEntry {
                        namespace: n.namespace.clone(),
                        name: n.name.clone(),
                        desc: n.desc.clone(),
                        create_time,
                        seq,
                    },
                );
                Some(Change::Namespace(n.namespace.clone()))
            }
            Event::NamespaceDeleted(n) => {
                self.namespaces.remove(&n.namespace);
                Some(Change::Namespace(n.namespace.clone()))
            }
            Event::KvSet(_) | Event::KvDeleted(_) | Event::KvTxn(_) => {
                Some(Change::Kv(kv::apply(self, seq, &envelope.body)))
            }
            Event::UserSaved(_)
            | Event::UserDeleted(_)
            | Event::RoleBound(_)
            | Event::RoleUnbound(_)
            | Event::PermissionGranted(_)
            | Event::PermissionRevoked(_) => {
                self.auth.apply(seq, &envelope.body);
                None
            }
            Event::AclPolicySaved(_)
            | Event::AclPolicyDeleted(_)
            | Event::AclTokenSaved(_)
            | Event::AclTokenDeleted(_) => {
                self.acl.apply(seq, &envelope.body);
                None
            }
            Event::SessionCreated(_) | Event::SessionDestroyed(_) => {
                sessions::apply(&mut self.sessions, seq, &envelope.body).map(Change::Session)
            }
            Event::PackageUploaded(_) | Event::PackageDeleted(_) => {
                let key = packages::apply(&mut self.packages, seq, time, &envelope.body)?;
                self.package_seqs.insert(key.clone(), seq);
                Some(Change::Package(key))
            }
            naming => registry::apply(&mut self.registry, seq, time, naming).map(Change::Service),
        }
    }

    pub fn config(&self, key: &ConfigKey) -> Option<&Arc<ConfigEntry>> {
        self.configs.get(key).and_then(|slot| slot.entry.as_ref())
    }

    /// Live configs, in key order.
    pub fn live_configs(&self) -> impl Iterator<Item = &Arc<ConfigEntry>> {
        self.configs.values().filter_map(|slot| slot.entry.as_ref())
    }

    /// Whether a namespace id names an existing namespace (`public` always does).
    pub fn namespace_exists(&self, namespace: &str) -> bool {
        let namespace = normalize_namespace(namespace);
        namespace == PUBLIC_NAMESPACE || self.namespaces.contains_key(namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{ConfigDeleted, ConfigPublished, NamespaceData, NamespaceRef};

    fn publish(ns: &str, data_id: &str, content: &str) -> Envelope {
        Envelope::new(
            "test",
            "tester",
            Event::ConfigPublished(ConfigPublished {
                namespace: ns.into(),
                group: "DEFAULT_GROUP".into(),
                data_id: data_id.into(),
                content: content.into(),
                md5: format!("md5-of-{content}"),
                config_type: "text".into(),
                app_name: String::new(),
                desc: String::new(),
                tags: String::new(),
                encrypted_data_key: String::new(),
                src_ip: String::new(),
                src_user: String::new(),
            }),
        )
    }

    fn delete(ns: &str, data_id: &str) -> Envelope {
        Envelope::new(
            "test",
            "tester",
            Event::ConfigDeleted(ConfigDeleted {
                namespace: ns.into(),
                group: "DEFAULT_GROUP".into(),
                data_id: data_id.into(),
                md5: String::new(),
                src_ip: String::new(),
                src_user: String::new(),
            }),
        )
    }

    #[test]
    fn publish_then_update_keeps_creation_and_moves_modification() {
        let mut state = State::default();
        let key = ConfigKey::new("", "DEFAULT_GROUP", "a.yaml");
        assert_eq!(
            state.apply(1, &publish("", "a.yaml", "v1")),
            Some(Change::Config(key.clone()))
        );
        assert_eq!(
            state.apply(2, &publish("public", "a.yaml", "v2")),
            Some(Change::Config(key.clone()))
        );
        let entry = state.config(&key).unwrap();
        assert_eq!(entry.content, "v2");
        assert_eq!((entry.create_seq, entry.seq), (1, 2));
        assert_eq!(state.applied, 2);
    }

    #[test]
    fn delete_leaves_a_tombstone_sequence_for_compare_and_set() {
        let mut state = State::default();
        state.apply(1, &publish("public", "a", "v1"));
        state.apply(2, &delete("public", "a"));
        let key = ConfigKey::new("public", "DEFAULT_GROUP", "a");
        assert!(state.config(&key).is_none());
        assert_eq!(state.configs.get(&key).map(|s| s.seq), Some(2));
        assert_eq!(state.live_configs().count(), 0);
        // Re-created after a delete: a new creation sequence.
        state.apply(3, &publish("public", "a", "v3"));
        assert_eq!(state.config(&key).unwrap().create_seq, 3);
    }

    #[test]
    fn replaying_an_overlap_changes_nothing() {
        let events = [
            publish("public", "a", "1"),
            publish("public", "b", "2"),
            delete("public", "a"),
        ];
        let mut once = State::default();
        for (i, e) in events.iter().enumerate() {
            once.apply(i as u64 + 1, e);
        }
        let mut twice = once.clone();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(twice.apply(i as u64 + 1, e), None);
        }
        assert_eq!(once, twice);
    }

    #[test]
    fn the_fold_is_deterministic() {
        let events = [
            publish("public", "a", "1"),
            publish("dev", "a", "2"),
            publish("public", "a", "3"),
        ];
        let fold = || {
            let mut s = State::default();
            for (i, e) in events.iter().enumerate() {
                s.apply(i as u64 + 1, e);
            }
            s
        };
        assert_eq!(fold(), fold());
    }

    #[test]
    fn namespaces_fold_and_public_always_exists() {
        let mut state = State::default();
        assert!(state.namespace_exists(""));
        assert!(state.namespace_exists("public"));
        assert!(!state.namespace_exists("dev"));
        let data = NamespaceData {
            namespace: "dev".into(),
            name: "Dev".into(),
            desc: "d".into(),
        };
        state.apply(
            1,
            &Envelope::new("t", "t", Event::NamespaceCreated(data.clone())),
        );
        assert!(state.namespace_exists("dev"));
        let renamed = NamespaceData {
            name: "Development".into(),
            ..data
        };
        state.apply(
            2,
            &Envelope::new("t", "t", Event::NamespaceUpdated(renamed)),
        );
        assert_eq!(state.namespaces["dev"].name, "Development");
        state.apply(
            3,
            &Envelope::new(
                "t",
                "t",
                Event::NamespaceDeleted(NamespaceRef {
                    namespace: "dev".into(),
                }),
            ),
        );
        assert!(!state.namespace_exists("dev"));
    }
}
