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

use super::event::{Event, KvRef, KvSet};
use super::log::Expect;
use super::{Actor, Core, CoreError};

/// Consul's value size limit.
pub const MAX_VALUE_BYTES: usize = 512 * 1024;

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

/// Folds a KV event; returns the key it changed.
pub fn apply(
    kv: &mut BTreeMap<String, KvEntry>,
    seqs: &mut BTreeMap<String, u64>,
    seq: u64,
    event: &Event,
) -> Option<String> {
    match event {
        Event::KvSet(s) => {
            let create_index = kv.get(&s.key).map_or(seq, |e| e.create_index);
            let entry = KvEntry {
                key: s.key.clone(),
                value: s.value.clone(),
                flags: s.flags,
                create_index,
                modify_index: seq,
                lock_index: s.lock_index,
                session: s.session.clone(),
            };
            kv.insert(s.key.clone(), entry);
            seqs.insert(s.key.clone(), seq);
            Some(s.key.clone())
        }
        Event::KvDeleted(d) => {
            kv.remove(&d.key);
            seqs.insert(d.key.clone(), seq);
            Some(d.key.clone())
        }
        _ => None,
    }
}

/// A key as Consul accepts it: not empty, printable, bounded.
pub fn validate_key(key: &str) -> Result<(), CoreError> {
    if key.is_empty() {
        return Err(CoreError::invalid("key", "Missing key name"));
    }
    if key.len() > 2048 || key.chars().any(char::is_control) {
        return Err(CoreError::invalid("key", "Invalid key name"));
    }
    Ok(())
}

impl Core {
    pub fn kv_get(&self, key: &str) -> Option<KvEntry> {
        self.model.read().kv.get(key).cloned()
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub fn kv_list(&self, prefix: &str) -> Vec<KvEntry> {
        let state = self.model.read();
        state
            .kv
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, e)| e.clone())
            .collect()
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
        validate_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(CoreError::invalid(
                "value",
                format!("Value exceeds {MAX_VALUE_BYTES} byte limit"),
            ));
        }
        let (current, last, session_exists) = {
            let state = self.model.read();
            let session_exists = match &lock {
                Some(LockOp::Acquire(id)) => state.sessions.contains_key(id),
                _ => true,
            };
            (
                state.kv.get(key).cloned(),
                state.kv_seqs.get(key).copied().unwrap_or(0),
                session_exists,
            )
        };
        let mut expect = match cas {
            None => Expect::Anything,
            Some(index) => match self.kv_condition(key, index) {
                Some(expect) => expect,
                None => return Ok(false),
            },
        };
        let held = current.as_ref().and_then(|e| e.session.clone());
        let lock_index = current.as_ref().map_or(0, |e| e.lock_index);
        let (session, lock_index) = match &lock {
            None => (held, lock_index),
            Some(LockOp::Acquire(id)) => {
                if !session_exists {
                    return Err(CoreError::invalid(
                        "acquire",
                        format!("invalid session \"{id}\""),
                    ));
                }
                match held {
                    Some(other) if other != *id => return Ok(false),
                    Some(_) => (Some(id.clone()), lock_index),
                    None => (Some(id.clone()), lock_index + 1),
                }
            }
            Some(LockOp::Release(id)) => match held {
                Some(holder) if holder == *id => (None, lock_index),
                _ => return Ok(false),
            },
        };
        if lock.is_some() {
            // The lock decision was made on what was read: the write holds only if nothing moved.
            expect = Expect::LastSubjectSequence(last);
        }
        let event = Event::KvSet(KvSet {
            key: key.to_owned(),
            value: STANDARD.encode(value),
            flags,
            session,
            lock_index,
        });
        self.kv_commit(actor, event, expect).await
    }

    /// Deletes a key (with `cas`: only at that ModifyIndex). Deleting a missing key succeeds.
    pub async fn kv_delete(
        &self,
        actor: &Actor,
        key: &str,
        cas: Option<u64>,
    ) -> Result<bool, CoreError> {
        validate_key(key)?;
        let expect = match cas {
            None => {
                if self.kv_get(key).is_none() {
                    return Ok(true);
                }
                Expect::Anything
            }
            Some(index) => match self.kv_condition(key, index) {
                Some(expect) if self.kv_get(key).is_some() => expect,
                _ => return Ok(false),
            },
        };
        self.kv_commit(
            actor,
            Event::KvDeleted(KvRef {
                key: key.to_owned(),
            }),
            expect,
        )
        .await
    }

    /// Deletes every key under `prefix`, one event each.
    pub async fn kv_delete_tree(&self, actor: &Actor, prefix: &str) -> Result<usize, CoreError> {
        let keys: Vec<String> = self.kv_list(prefix).into_iter().map(|e| e.key).collect();
        for key in &keys {
            self.commit(
                actor,
                Event::KvDeleted(KvRef { key: key.clone() }),
                Expect::Anything,
            )
            .await?;
        }
        Ok(keys.len())
    }

    /// The expectation a `cas=index` write needs, or None when it already cannot hold.
    fn kv_condition(&self, key: &str, index: u64) -> Option<Expect> {
        let state = self.model.read();
        let last = state.kv_seqs.get(key).copied().unwrap_or(0);
        match (state.kv.get(key), index) {
            (None, 0) => Some(Expect::LastSubjectSequence(last)),
            (Some(e), i) if i > 0 && e.modify_index == i => Some(Expect::LastSubjectSequence(last)),
            _ => None,
        }
    }

    pub(crate) async fn kv_commit(
        &self,
        actor: &Actor,
        event: Event,
        expect: Expect,
    ) -> Result<bool, CoreError> {
        match self.commit(actor, event, expect).await {
            Ok(_) => Ok(true),
            Err(CoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_come_from_the_stream() {
        let (mut kv, mut seqs) = (BTreeMap::new(), BTreeMap::new());
        let set = |v: &str, session: Option<&str>, lock_index| {
            Event::KvSet(KvSet {
                key: "a/b".into(),
                value: STANDARD.encode(v),
                flags: 7,
                session: session.map(String::from),
                lock_index,
            })
        };
        apply(&mut kv, &mut seqs, 3, &set("one", None, 0));
        apply(&mut kv, &mut seqs, 9, &set("two", Some("s1"), 1));
        let e = &kv["a/b"];
        assert_eq!(
            (e.create_index, e.modify_index, e.flags, e.raw()),
            (3, 9, 7, b"two".to_vec())
        );
        assert_eq!((e.lock_index, e.session.as_deref()), (1, Some("s1")));
        apply(
            &mut kv,
            &mut seqs,
            12,
            &Event::KvDeleted(KvRef { key: "a/b".into() }),
        );
        assert!(kv.is_empty());
        assert_eq!(seqs["a/b"], 12, "a deletion stays the compare-and-set base");
    }

    #[test]
    fn keys_are_checked() {
        assert!(validate_key("service/web/config").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("bad\nkey").is_err());
    }
}
