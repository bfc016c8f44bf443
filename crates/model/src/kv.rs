//! The key/value store Consul clients use (`/v1/kv`): its part of the fold and its operations.
//!
//! Every change of a key is an event on that key's subject (`nacre.evt.kv.<key>`) carrying the
//! key's full state (value, flags, lock holder, lock index), so Consul's compare-and-set
//! (`?cas=N`, N = ModifyIndex) and lock decisions are JetStream's expected-last-subject-sequence,
//! and CreateIndex/ModifyIndex are stream sequences (DESIGN invariant 5).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::CoreError;
use super::event::{Event, KvWrite};
#[cfg(test)]
use super::event::{KvRef, KvSet};
use super::limits::KV_VALUE_BYTES;

/// Consul's value size limit.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvEntry {
    pub key: String,
    /// Base64, as Consul answers it.
    pub value: String,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
    /// The session holding the lock, if any.
    pub session: Option<String>,
}

impl KvEntry {
    pub fn raw(&self) -> Vec<u8> {
        STANDARD.decode(&self.value).unwrap_or_default()
    }
}

/// A lock operation on a key.
#[derive(Debug, Clone, PartialEq)]
pub enum LockOp {
    Acquire(String),
    Release(String),
}

/// Consul KV's part of the state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KvState {
    /// The live entries.
    pub entries: BTreeMap<String, KvEntry>,
    /// The sequence of each key's last change, deletions included (Consul's per-key index).
    pub seqs: BTreeMap<String, u64>,
    /// The table's index: the highest sequence of any KV change, deletions included (Consul's
    /// index of its kvs and tombstones tables, which answers for a missing key or an empty prefix).
    pub index: u64,
    /// The last sequence on each key's own subject: what its compare-and-set expects. It differs
    /// from `seqs` only for keys last written by a `KvTxn` event.
    pub subject_seqs: BTreeMap<String, u64>,
}

impl KvState {
    /// Folds a KV event (a key's own event or a transaction's); returns the keys it changed.
    pub fn apply(&mut self, seq: u64, event: &Event) -> Vec<String> {
        match event {
            Event::KvSet(s) => {
                self.subject_seqs.insert(s.key.clone(), seq);
                vec![self.write(seq, &KvWrite::Set(s.clone()))]
            }
            Event::KvDeleted(d) => {
                self.subject_seqs.insert(d.key.clone(), seq);
                vec![self.write(seq, &KvWrite::Delete(d.clone()))]
            }
            // A transaction's subject is not its keys': their subject sequences stay.
            Event::KvTxn(t) => t.writes.iter().map(|w| self.write(seq, w)).collect(),
            _ => Vec::new(),
        }
    }

    fn write(&mut self, seq: u64, w: &KvWrite) -> String {
        match w {
            KvWrite::Set(s) => {
                let create_index = self.entries.get(&s.key).map_or(seq, |e| e.create_index);
                let entry = KvEntry {
                    key: s.key.clone(),
                    value: s.value.clone(),
                    flags: s.flags,
                    create_index,
                    modify_index: seq,
                    lock_index: s.lock_index,
                    session: s.session.clone(),
                };
                self.entries.insert(s.key.clone(), entry);
            }
            KvWrite::Delete(d) => {
                self.entries.remove(&d.key);
            }
        }
        self.seqs.insert(w.key().to_owned(), seq);
        self.index = self.index.max(seq);
        w.key().to_owned()
    }
}

/// A key as Consul accepts it: not empty, printable, bounded.
pub fn validate_key(key: &str) -> Result<(), CoreError> {
    if key.is_empty() {
        return Err(CoreError::invalid("key", "Missing key name"));
    }
    if key.chars().any(char::is_control) {
        return Err(CoreError::invalid("key", "Invalid key name"));
    }
    super::limits::name_token("key", key)?;
    Ok(())
}

/// A value as Consul accepts it: at most 512 KiB.
pub fn validate_value(key: &str, value: &[u8]) -> Result<(), CoreError> {
    if value.len() > KV_VALUE_BYTES {
        return Err(CoreError::invalid(
            "value",
            format!(
                "Value for key {key:?} is too large ({} > {KV_VALUE_BYTES} bytes)",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// Entries of `kv` whose key starts with `prefix`, in key order.
pub fn list(kv: &BTreeMap<String, KvEntry>, prefix: &str) -> Vec<KvEntry> {
    kv.range(prefix.to_owned()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(_, e)| e.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_come_from_the_stream() {
        let mut state = KvState::default();
        let set = |v: &str, session: Option<&str>, lock_index| {
            Event::KvSet(KvSet {
                key: "a/b".into(),
                value: STANDARD.encode(v),
                flags: 7,
                session: session.map(String::from),
                lock_index,
            })
        };
        state.apply(3, &set("one", None, 0));
        state.apply(9, &set("two", Some("s1"), 1));
        let e = &state.entries["a/b"];
        assert_eq!(
            (e.create_index, e.modify_index, e.flags, e.raw()),
            (3, 9, 7, b"two".to_vec())
        );
        assert_eq!((e.lock_index, e.session.as_deref()), (1, Some("s1")));
        state.apply(12, &Event::KvDeleted(KvRef { key: "a/b".into() }));
        assert!(state.entries.is_empty());
        assert_eq!(state.seqs["a/b"], 12, "a deletion stays the index");
        assert_eq!(state.subject_seqs["a/b"], 12);
    }

    #[test]
    fn keys_are_checked() {
        assert!(validate_key("service/web/config").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("bad\nkey").is_err());
    }
}
