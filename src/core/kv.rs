//! kv: the operations (reads from the read model, writes as events). Its
//! types and its part of the fold are `nacre_model::kv`.

use super::txn::{TxnOp, TxnOutcome};
use super::{Actor, Core, CoreError};
pub use nacre_model::kv::*;

impl Core {
    pub fn kv_get(&self, key: &str) -> Option<KvEntry> {
        self.model.read().kv.entries.get(key).cloned()
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub fn kv_list(&self, prefix: &str) -> Vec<KvEntry> {
        list(&self.model.read().kv.entries, prefix)
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
