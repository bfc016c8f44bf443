//! The state every event folds into, and the fold's dispatch to each concept's part
//! (DESIGN invariant 3). Its properties are in `tests/fold.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::configs::{self, ConfigEntry, ConfigKey, ConfigSlot};
use super::event::{Envelope, Event};
use super::kv::KvState;
use super::namespaces::{self, NamespaceEntry};
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
    /// Consul KV.
    pub kv: KvState,
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
        match &envelope.body {
            Event::ConfigPublished(_) | Event::ConfigDeleted(_) => {
                configs::apply(&mut self.configs, seq, time, &envelope.body).map(Change::Config)
            }
            Event::NamespaceCreated(_)
            | Event::NamespaceUpdated(_)
            | Event::NamespaceDeleted(_) => namespaces::apply(
                &mut self.namespaces,
                &mut self.namespace_seqs,
                seq,
                time,
                &envelope.body,
            )
            .map(Change::Namespace),
            Event::KvSet(_) | Event::KvDeleted(_) | Event::KvTxn(_) => {
                Some(Change::Kv(self.kv.apply(seq, &envelope.body)))
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
    use crate::event::{ConfigDeleted, ConfigPublished, NamespaceData, NamespaceRef};

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
