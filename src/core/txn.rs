//! txn: the operations (reads from the read model, writes as events). Its
//! types and its part of the fold are `nacre_model::txn`.

use super::event::{Envelope, Event, KvTxn, KvWrite};
use super::kv::KvEntry;
use super::log::{AppendError, Expect};
use super::{Actor, Core, CoreError, READ_YOUR_WRITES_WAIT};
pub use nacre_model::txn::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a transaction keeps re-evaluating after losing races.
const RETRY_FOR: Duration = Duration::from_secs(10);

impl Core {
    /// Runs a transaction: all its writes or none, and the results Consul answers.
    pub async fn kv_transact(
        &self,
        actor: &Actor,
        ops: Vec<TxnOp>,
    ) -> Result<TxnOutcome, CoreError> {
        validate(&ops)?;
        let reads = ops.iter().any(TxnOp::reads);
        let reads_beyond = ops.iter().any(TxnOp::reads_beyond_writes);
        let give_up = tokio::time::Instant::now() + RETRY_FOR;
        loop {
            let (plan, applied, subject_seqs) = {
                let state = self.model.read();
                let plan = match evaluate(&state, &ops) {
                    Ok(plan) => plan,
                    Err(errors) => return Ok(TxnOutcome::Failed(errors)),
                };
                let seqs: Vec<u64> = plan
                    .writes
                    .iter()
                    .map(|w| state.kv.subject_seqs.get(w.key()).copied().unwrap_or(0))
                    .collect();
                (plan, state.applied, seqs)
            };
            if plan.writes.is_empty() {
                return Ok(TxnOutcome::Committed(finish(
                    plan.results,
                    &BTreeMap::new(),
                )));
            }
            let per_key = |i: usize| match subject_seqs.get(i) {
                Some(seq) if reads => Expect::LastSubjectSequence(*seq),
                _ => Expect::Anything,
            };
            // What per-key expectations cannot guard is guarded by the whole stream's position.
            let whole_stream = reads && (reads_beyond || !self.atomic_batches);
            let written = match self
                .append_writes(
                    actor,
                    &plan.writes,
                    per_key,
                    whole_stream.then_some(applied),
                )
                .await
            {
                Ok(seqs) => seqs,
                Err(AppendError::Conflict) if tokio::time::Instant::now() < give_up => {
                    // Someone wrote first: evaluate again once that write is applied here.
                    self.model
                        .wait_applied(applied + 1, Duration::from_millis(250))
                        .await;
                    continue;
                }
                Err(AppendError::Conflict) => {
                    return Err(CoreError::Unavailable(
                        "the transaction kept losing to concurrent writes; retry it".into(),
                    ));
                }
                Err(e) => return Err(e.into()),
            };
            return Ok(TxnOutcome::Committed(finish(plan.results, &written)));
        }
    }

    /// Appends the writes all-or-nothing; returns each written key's sequence.
    async fn append_writes(
        &self,
        actor: &Actor,
        writes: &[KvWrite],
        per_key: impl Fn(usize) -> Expect,
        stream_at: Option<u64>,
    ) -> Result<BTreeMap<String, u64>, AppendError> {
        let describe = actor.describe();
        let envelope = |event: Event| Envelope::new(&self.source, &describe, event);
        let keys = || writes.iter().map(|w| w.key().to_owned());
        let last = match (writes, stream_at) {
            ([one], None) => {
                self.log
                    .append(&envelope(one.clone().into_event()), per_key(0))
                    .await?
            }
            ([one], Some(at)) => {
                self.log
                    .append(
                        &envelope(one.clone().into_event()),
                        Expect::LastSequence(at),
                    )
                    .await?
            }
            (_, at) if self.atomic_batches => {
                let items: Vec<(Envelope, Expect)> = writes
                    .iter()
                    .enumerate()
                    .map(|(i, w)| (envelope(w.clone().into_event()), per_key(i)))
                    .collect();
                let last = self.log.append_batch(&items, at).await?;
                self.applied_here(last).await;
                let first = (last + 1).saturating_sub(items.len() as u64);
                return Ok(keys().zip(first..).collect());
            }
            (_, at) => {
                let event = Event::KvTxn(KvTxn {
                    writes: writes.to_vec(),
                });
                let expect = at.map_or(Expect::Anything, Expect::LastSequence);
                self.log.append(&envelope(event), expect).await?
            }
        };
        self.applied_here(last).await;
        Ok(keys().map(|k| (k, last)).collect())
    }

    async fn applied_here(&self, seq: u64) {
        self.model.note_exists(seq);
        if !self.model.wait_applied(seq, READ_YOUR_WRITES_WAIT).await {
            tracing::warn!(
                seq,
                "transaction acknowledged but not yet applied on this node"
            );
        }
    }
}

/// The results with the indexes the writes got.
fn finish(results: Vec<Pending>, written: &BTreeMap<String, u64>) -> Vec<KvEntry> {
    results
        .into_iter()
        .map(|r| match r {
            Pending::Read(e) => e,
            Pending::Written(mut e) => {
                let seq = written.get(&e.key).copied().unwrap_or(0);
                e.modify_index = seq;
                if e.create_index == 0 {
                    e.create_index = seq;
                }
                blank(e)
            }
        })
        .collect()
}
