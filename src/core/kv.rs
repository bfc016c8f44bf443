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

use super::event::{Event, KvWrite};
#[cfg(test)]
use super::event::{KvRef, KvSet};
use super::limits::KV_VALUE_BYTES;
use super::state::State;
use super::txn::{TxnOp, TxnOutcome};
use super::{Actor, Core, CoreError};

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

/// Folds a KV event (a key's own event or a transaction's); returns the keys it changed.
pub fn apply(state: &mut State, seq: u64, event: &Event) -> Vec<String> {
    match event {
        Event::KvSet(s) => {
            state.kv_subject_seqs.insert(s.key.clone(), seq);
            vec![write(state, seq, &KvWrite::Set(s.clone()))]
        }
        Event::KvDeleted(d) => {
            state.kv_subject_seqs.insert(d.key.clone(), seq);
            vec![write(state, seq, &KvWrite::Delete(d.clone()))]
        }
        // A transaction's subject is not its keys': their subject sequences stay.
        Event::KvTxn(t) => t.writes.iter().map(|w| write(state, seq, w)).collect(),
        _ => Vec::new(),
    }
}

fn write(state: &mut State, seq: u64, w: &KvWrite) -> String {
    match w {
        KvWrite::Set(s) => {
            let create_index = state.kv.get(&s.key).map_or(seq, |e| e.create_index);
            let entry = KvEntry {
                key: s.key.clone(),
                value: s.value.clone(),
                flags: s.flags,
                create_index,
                modify_index: seq,
                lock_index: s.lock_index,
                session: s.session.clone(),
            };
            state.kv.insert(s.key.clone(), entry);
        }
        KvWrite::Delete(d) => {
            state.kv.remove(&d.key);
        }
    }
    state.kv_seqs.insert(w.key().to_owned(), seq);
    state.kv_index = state.kv_index.max(seq);
    w.key().to_owned()
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

impl Core {
    pub fn kv_get(&self, key: &str) -> Option<KvEntry> {
        self.model.read().kv.get(key).cloned()
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub fn kv_list(&self, prefix: &str) -> Vec<KvEntry> {
        list(&self.model.read().kv, prefix)
    }

    /// Sets a key. With `cas`, only if its ModifyIndex is that (0: only if absent); with `lock`,
    /// acquiring or releasing its lock for a session. False when the condition does not hold, as
    /// Consul answers.
    pub async fn kv_put(
        &self,
        actor: &Actor,
        key: &str,
        value: &[u8],
        flags: u64,
        cas: Option<u64>,
        lock: Option<LockOp>,
    ) -> Result<bool, CoreError> {
        let (key, value) = (key.to_owned(), value.to_vec());
        let op = match (lock, cas) {
            (Some(LockOp::Acquire(session)), _) => TxnOp::Lock {
                key,
                value,
                flags,
                session,
            },
            (Some(LockOp::Release(session)), _) => TxnOp::Unlock {
                key,
                value,
                flags,
                session,
            },
            (None, Some(index)) => TxnOp::Cas {
                key,
                value,
                flags,
                index,
            },
            (None, None) => TxnOp::Set { key, value, flags },
        };
        self.kv_single(actor, op).await
    }

    /// Deletes a key (with `cas`: only at that ModifyIndex). Deleting a missing key succeeds.
    pub async fn kv_delete(
        &self,
        actor: &Actor,
        key: &str,
        cas: Option<u64>,
    ) -> Result<bool, CoreError> {
        let key = key.to_owned();
        let op = match cas {
            Some(index) => TxnOp::DeleteCas { key, index },
            None => TxnOp::Delete { key },
        };
        self.kv_single(actor, op).await
    }

    /// Deletes every key under `prefix`, all at once.
    pub async fn kv_delete_tree(&self, actor: &Actor, prefix: &str) -> Result<bool, CoreError> {
        let op = TxnOp::DeleteTree {
            key: prefix.to_owned(),
        };
        self.kv_single(actor, op).await
    }

    /// One operation as its own transaction: false when its condition does not hold; an unknown
    /// lock session is a client error, as Consul's KV endpoint answers it.
    async fn kv_single(&self, actor: &Actor, op: TxnOp) -> Result<bool, CoreError> {
        match self.kv_transact(actor, vec![op]).await? {
            TxnOutcome::Committed(_) => Ok(true),
            TxnOutcome::Failed(errors) => match errors.into_iter().next() {
                Some(e) if e.what.starts_with("invalid session") => {
                    Err(CoreError::invalid("acquire", e.what))
                }
                _ => Ok(false),
            },
        }
    }
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
        let mut state = State::default();
        let set = |v: &str, session: Option<&str>, lock_index| {
            Event::KvSet(KvSet {
                key: "a/b".into(),
                value: STANDARD.encode(v),
                flags: 7,
                session: session.map(String::from),
                lock_index,
            })
        };
        apply(&mut state, 3, &set("one", None, 0));
        apply(&mut state, 9, &set("two", Some("s1"), 1));
        let e = &state.kv["a/b"];
        assert_eq!(
            (e.create_index, e.modify_index, e.flags, e.raw()),
            (3, 9, 7, b"two".to_vec())
        );
        assert_eq!((e.lock_index, e.session.as_deref()), (1, Some("s1")));
        apply(
            &mut state,
            12,
            &Event::KvDeleted(KvRef { key: "a/b".into() }),
        );
        assert!(state.kv.is_empty());
        assert_eq!(state.kv_seqs["a/b"], 12, "a deletion stays the index");
        assert_eq!(state.kv_subject_seqs["a/b"], 12);
    }

    #[test]
    fn keys_are_checked() {
        assert!(validate_key("service/web/config").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("bad\nkey").is_err());
    }
}
