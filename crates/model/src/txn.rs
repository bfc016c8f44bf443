//! Consul transactions over the KV store (`/v1/txn`), and the one way every KV write is made:
//! a single PUT or DELETE is a transaction of one operation.
//!
//! A transaction is evaluated against the read model as Consul's state store would run it
//! (in order, each operation seeing the ones before it, every failure collected), which yields
//! the final state of each key it writes. Those writes are then appended all-or-nothing:
//!
//! - where the stream allows atomic batches (NATS 2.12+), as one batch of the keys' own events,
//!   each expecting its key's last subject sequence, so per-key indexes and subjects stay exact;
//! - before that, as one `nacre.kv.txn.v1` event holding every write.
//!
//! A conditional transaction (anything but blind sets and deletes) must not interleave with a
//! change it did not see. Its writes expect their keys' subject sequences; what it reads without
//! writing (and, before 2.12, everything, since a txn event does not move its keys' subjects)
//! is guarded by expecting the stream's last sequence to be the one evaluated. A lost race is
//! evaluated again, so a conflict is only reported when the conditions really fail.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::CoreError;
use super::event::{KvRef, KvSet, KvWrite};
use super::kv::{self, KvEntry, validate_key, validate_value};
use super::state::State;

/// One KV operation of a transaction, with Consul's verbs.
#[derive(Debug, Clone, PartialEq)]
pub enum TxnOp {
    Set {
        key: String,
        value: Vec<u8>,
        flags: u64,
    },
    Cas {
        key: String,
        value: Vec<u8>,
        flags: u64,
        index: u64,
    },
    Lock {
        key: String,
        value: Vec<u8>,
        flags: u64,
        session: String,
    },
    Unlock {
        key: String,
        value: Vec<u8>,
        flags: u64,
        session: String,
    },
    Get {
        key: String,
    },
    GetTree {
        key: String,
    },
    CheckIndex {
        key: String,
        index: u64,
    },
    CheckSession {
        key: String,
        session: String,
    },
    CheckNotExists {
        key: String,
    },
    Delete {
        key: String,
    },
    DeleteTree {
        key: String,
    },
    DeleteCas {
        key: String,
        index: u64,
    },
}

impl TxnOp {
    pub fn key(&self) -> &str {
        match self {
            TxnOp::Set { key, .. }
            | TxnOp::Cas { key, .. }
            | TxnOp::Lock { key, .. }
            | TxnOp::Unlock { key, .. }
            | TxnOp::Get { key }
            | TxnOp::GetTree { key }
            | TxnOp::CheckIndex { key, .. }
            | TxnOp::CheckSession { key, .. }
            | TxnOp::CheckNotExists { key }
            | TxnOp::Delete { key }
            | TxnOp::DeleteTree { key }
            | TxnOp::DeleteCas { key, .. } => key,
        }
    }

    fn value(&self) -> &[u8] {
        match self {
            TxnOp::Set { value, .. }
            | TxnOp::Cas { value, .. }
            | TxnOp::Lock { value, .. }
            | TxnOp::Unlock { value, .. } => value,
            _ => &[],
        }
    }

    /// Whether the outcome depends on what the operation reads (anything but a blind write).
    pub fn reads(&self) -> bool {
        !matches!(self, TxnOp::Set { .. } | TxnOp::Delete { .. })
    }

    /// Whether it reads more than its one key (a prefix), or reads a key without writing it.
    pub fn reads_beyond_writes(&self) -> bool {
        matches!(
            self,
            TxnOp::Get { .. }
                | TxnOp::GetTree { .. }
                | TxnOp::DeleteTree { .. }
                | TxnOp::CheckIndex { .. }
                | TxnOp::CheckSession { .. }
                | TxnOp::CheckNotExists { .. }
        )
    }
}

/// Why an operation failed, as Consul reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnError {
    pub op_index: usize,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TxnOutcome {
    /// Every operation held; the entries Consul returns (values only for reads).
    Committed(Vec<KvEntry>),
    /// Nothing was written.
    Failed(Vec<TxnError>),
}

/// A result waiting for the sequence its write gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    Read(KvEntry),
    Written(KvEntry),
}

/// What a transaction would do to the state it was evaluated against.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// The final state of each written key, in the order first written.
    pub writes: Vec<KvWrite>,
    pub results: Vec<Pending>,
}

/// The keys as the transaction sees them: the state with its own earlier writes over it.
struct View<'a> {
    state: &'a State,
    overlay: BTreeMap<String, Option<KvEntry>>,
    order: Vec<String>,
}

impl<'a> View<'a> {
    fn get(&self, key: &str) -> Option<KvEntry> {
        match self.overlay.get(key) {
            Some(e) => e.clone(),
            None => self.state.kv.entries.get(key).cloned(),
        }
    }

    fn list(&self, prefix: &str) -> Vec<KvEntry> {
        let mut all: BTreeMap<String, KvEntry> = kv::list(&self.state.kv.entries, prefix)
            .into_iter()
            .map(|e| (e.key.clone(), e))
            .collect();
        for (key, e) in self
            .overlay
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            match e {
                Some(e) => all.insert(key.clone(), e.clone()),
                None => all.remove(key),
            };
        }
        all.into_values().collect()
    }

    fn put(&mut self, key: &str, entry: Option<KvEntry>) {
        if !self.overlay.contains_key(key) {
            self.order.push(key.to_owned());
        }
        self.overlay.insert(key.to_owned(), entry);
    }

    fn set(&mut self, key: &str, value: &[u8], flags: u64, lock: (Option<String>, u64)) -> KvEntry {
        let create_index = self.get(key).map_or(0, |e| e.create_index);
        let entry = KvEntry {
            key: key.to_owned(),
            value: STANDARD.encode(value),
            flags,
            create_index,
            modify_index: 0,
            lock_index: lock.1,
            session: lock.0,
        };
        self.put(key, Some(entry.clone()));
        entry
    }
}

/// Runs the operations against `state` as Consul would; every failing operation is reported.
pub fn evaluate(state: &State, ops: &[TxnOp]) -> Result<Plan, Vec<TxnError>> {
    let mut view = View {
        state,
        overlay: BTreeMap::new(),
        order: Vec::new(),
    };
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (op_index, op) in ops.iter().enumerate() {
        let key = op.key();
        let current = view.get(key);
        let held = current.as_ref().and_then(|e| e.session.clone());
        let lock_index = current.as_ref().map_or(0, |e| e.lock_index);
        let outcome: Result<Vec<Pending>, String> = match op {
            TxnOp::Set { value, flags, .. } => Ok(vec![Pending::Written(view.set(
                key,
                value,
                *flags,
                (held, lock_index),
            ))]),
            TxnOp::Cas {
                value,
                flags,
                index,
                ..
            } => {
                let holds = match (&current, index) {
                    (None, 0) => true,
                    (Some(e), i) => *i > 0 && e.modify_index == *i,
                    (None, _) => false,
                };
                if holds {
                    Ok(vec![Pending::Written(view.set(
                        key,
                        value,
                        *flags,
                        (held, lock_index),
                    ))])
                } else {
                    Err(format!("failed to set key {key:?}, index is stale"))
                }
            }
            TxnOp::Lock {
                value,
                flags,
                session,
                ..
            } => {
                if !state.sessions.contains_key(session) {
                    Err(format!("invalid session {session:?}"))
                } else {
                    match held {
                        Some(other) if other != *session => {
                            Err(format!("failed to lock key {key:?}, lock is already held"))
                        }
                        Some(_) => Ok(vec![Pending::Written(view.set(
                            key,
                            value,
                            *flags,
                            (Some(session.clone()), lock_index),
                        ))]),
                        None => Ok(vec![Pending::Written(view.set(
                            key,
                            value,
                            *flags,
                            (Some(session.clone()), lock_index + 1),
                        ))]),
                    }
                }
            }
            TxnOp::Unlock {
                value,
                flags,
                session,
                ..
            } => match held {
                Some(holder) if holder == *session => Ok(vec![Pending::Written(view.set(
                    key,
                    value,
                    *flags,
                    (None, lock_index),
                ))]),
                _ => Err(format!(
                    "failed to unlock key {key:?}, lock isn't held, or is held by another session"
                )),
            },
            TxnOp::Get { .. } => match current {
                Some(e) => Ok(vec![Pending::Read(e)]),
                None => Err(format!("key {key:?} doesn't exist")),
            },
            TxnOp::GetTree { .. } => Ok(view.list(key).into_iter().map(Pending::Read).collect()),
            TxnOp::CheckIndex { index, .. } => match current {
                Some(e) if e.modify_index == *index => Ok(vec![Pending::Read(blank(e))]),
                Some(e) => Err(format!(
                    "current modify index {} != {index} for key {key:?}",
                    e.modify_index
                )),
                None => Err(format!("key {key:?} doesn't exist")),
            },
            TxnOp::CheckSession { session, .. } => match current {
                Some(e) if e.session.as_deref() == Some(session) => {
                    Ok(vec![Pending::Read(blank(e))])
                }
                Some(e) => Err(format!(
                    "failed session check for key {key:?}, current session {:?} != {session:?}",
                    e.session.unwrap_or_default()
                )),
                None => Err(format!("key {key:?} doesn't exist")),
            },
            TxnOp::CheckNotExists { .. } => match current {
                Some(_) => Err(format!("key {key:?} exists")),
                None => Ok(Vec::new()),
            },
            TxnOp::Delete { .. } => {
                if current.is_some() {
                    view.put(key, None);
                }
                Ok(Vec::new())
            }
            TxnOp::DeleteTree { .. } => {
                for e in view.list(key) {
                    view.put(&e.key, None);
                }
                Ok(Vec::new())
            }
            TxnOp::DeleteCas { index, .. } => match current {
                Some(e) if *index > 0 && e.modify_index == *index => {
                    view.put(key, None);
                    Ok(Vec::new())
                }
                _ => Err(format!("failed to delete key {key:?}, index is stale")),
            },
        };
        match outcome {
            Ok(r) => results.extend(r),
            Err(what) => errors.push(TxnError { op_index, what }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let writes = view
        .order
        .iter()
        .filter_map(|key| {
            let entry = view.overlay.get(key)?;
            if entry.is_none() && !state.kv.entries.contains_key(key) {
                return None; // created and deleted within the transaction
            }
            Some(match entry {
                Some(e) => KvWrite::Set(KvSet {
                    key: key.clone(),
                    value: e.value.clone(),
                    flags: e.flags,
                    session: e.session.clone(),
                    lock_index: e.lock_index,
                }),
                None => KvWrite::Delete(KvRef { key: key.clone() }),
            })
        })
        .collect();
    Ok(Plan { writes, results })
}

/// An entry as a write or check result shows it: without its value.
pub fn blank(mut e: KvEntry) -> KvEntry {
    e.value.clear();
    e
}

/// Input checks Consul makes before running anything.
pub fn validate(ops: &[TxnOp]) -> Result<(), CoreError> {
    for op in ops {
        if !matches!(op, TxnOp::GetTree { .. } | TxnOp::DeleteTree { .. }) {
            validate_key(op.key())?;
        }
        validate_value(op.key(), op.value())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SessionData;
    use crate::event::{Event, KvTxn};
    use crate::sessions::SessionEntry;

    fn state_with(keys: &[(&str, &str, u64)]) -> State {
        let mut state = State::default();
        for (key, value, seq) in keys {
            state.kv.apply(
                *seq,
                &Event::KvSet(KvSet {
                    key: (*key).into(),
                    value: STANDARD.encode(value),
                    flags: 0,
                    session: None,
                    lock_index: 0,
                }),
            );
        }
        state
    }

    fn set(key: &str, value: &str) -> TxnOp {
        TxnOp::Set {
            key: key.into(),
            value: value.into(),
            flags: 0,
        }
    }

    #[test]
    fn every_failing_operation_is_reported_and_nothing_is_planned() {
        let state = state_with(&[("a", "1", 5)]);
        let ops = vec![
            set("b", "2"),
            TxnOp::Cas {
                key: "a".into(),
                value: b"x".to_vec(),
                flags: 0,
                index: 4,
            },
            TxnOp::CheckNotExists { key: "a".into() },
            TxnOp::Get { key: "zz".into() },
        ];
        let errors = evaluate(&state, &ops).unwrap_err();
        let failed: Vec<usize> = errors.iter().map(|e| e.op_index).collect();
        assert_eq!(failed, vec![1, 2, 3]);
        assert_eq!(errors[0].what, "failed to set key \"a\", index is stale");
    }

    #[test]
    fn later_operations_see_earlier_ones_and_each_key_is_written_once() {
        let state = state_with(&[("app/a", "1", 5), ("app/b", "2", 6)]);
        let ops = vec![
            set("app/c", "3"),
            TxnOp::DeleteTree { key: "app/".into() },
            set("app/a", "new"),
            TxnOp::GetTree { key: "app/".into() },
        ];
        let plan = evaluate(&state, &ops).unwrap();
        let writes: Vec<String> = plan
            .writes
            .iter()
            .map(|w| match w {
                KvWrite::Set(s) => format!("set {}", s.key),
                KvWrite::Delete(d) => format!("delete {}", d.key),
            })
            .collect();
        assert_eq!(writes, vec!["set app/a", "delete app/b"]);
        let read: Vec<&str> = plan
            .results
            .iter()
            .filter_map(|r| match r {
                Pending::Read(e) => Some(e.key.as_str()),
                Pending::Written(_) => None,
            })
            .collect();
        assert_eq!(
            read,
            vec!["app/a"],
            "get-tree sees the delete and the new set"
        );
    }

    #[test]
    fn locks_need_a_live_session_and_count_acquisitions() {
        let mut state = state_with(&[]);
        let ops = vec![TxnOp::Lock {
            key: "l".into(),
            value: vec![],
            flags: 0,
            session: "s1".into(),
        }];
        assert_eq!(
            evaluate(&state, &ops).unwrap_err()[0].what,
            "invalid session \"s1\""
        );
        state.sessions.insert(
            "s1".into(),
            SessionEntry {
                data: SessionData {
                    id: "s1".into(),
                    name: String::new(),
                    node: String::new(),
                    ttl: String::new(),
                    behavior: "release".into(),
                    lock_delay_ns: 0,
                },
                create_index: 1,
                modify_index: 1,
            },
        );
        let plan = evaluate(&state, &ops).unwrap();
        assert!(
            matches!(&plan.writes[0], KvWrite::Set(s) if s.lock_index == 1 && s.session.as_deref() == Some("s1"))
        );
    }

    #[test]
    fn a_transaction_event_moves_indexes_but_not_subjects() {
        let mut state = state_with(&[("a", "1", 5)]);
        state.kv.apply(
            9,
            &Event::KvTxn(KvTxn {
                writes: vec![
                    KvWrite::Set(KvSet {
                        key: "a".into(),
                        value: STANDARD.encode("2"),
                        flags: 0,
                        session: None,
                        lock_index: 0,
                    }),
                    KvWrite::Delete(KvRef { key: "b".into() }),
                ],
            }),
        );
        let a = &state.kv.entries["a"];
        assert_eq!((a.create_index, a.modify_index), (5, 9));
        assert_eq!(state.kv.seqs["b"], 9);
        assert_eq!(state.kv.subject_seqs["a"], 5);
    }
}
