//! Namespaces: their entries, their part of the fold, and how listings show them. `public`
//! always exists and cannot be changed or removed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::event::Event;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceEntry {
    pub namespace: String,
    pub name: String,
    pub desc: String,
    pub create_time: i64,
    pub seq: u64,
}

/// Folds a namespace event; returns the namespace it changed. `seqs` keeps the sequence of
/// each namespace's last event, deletions included.
pub fn apply(
    namespaces: &mut BTreeMap<String, NamespaceEntry>,
    seqs: &mut BTreeMap<String, u64>,
    seq: u64,
    time: i64,
    event: &Event,
) -> Option<String> {
    let id = match event {
        Event::NamespaceCreated(n) | Event::NamespaceUpdated(n) => &n.namespace,
        Event::NamespaceDeleted(n) => &n.namespace,
        _ => return None,
    };
    seqs.insert(id.clone(), seq);
    match event {
        Event::NamespaceCreated(n) | Event::NamespaceUpdated(n) => {
            let create_time = namespaces
                .get(&n.namespace)
                .map_or(time, |existing| existing.create_time);
            namespaces.insert(
                n.namespace.clone(),
                NamespaceEntry {
                    namespace: n.namespace.clone(),
                    name: n.name.clone(),
                    desc: n.desc.clone(),
                    create_time,
                    seq,
                },
            );
            Some(n.namespace.clone())
        }
        Event::NamespaceDeleted(n) => {
            namespaces.remove(&n.namespace);
            Some(n.namespace.clone())
        }
        _ => None,
    }
}

/// A namespace as listings show it, `public` included.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceInfo {
    pub id: String,
    pub name: String,
    pub desc: String,
    pub config_count: usize,
    /// 0 for the built-in public namespace, 2 for custom ones (Nacos' NamespaceTypeEnum).
    pub kind: u8,
}
