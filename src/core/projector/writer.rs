//! Writes view entries, each conditional on the revision last seen, and keeps going when one
//! cannot be written: a record NATS refuses (or a bucket that refuses one key) is set aside,
//! logged once with its cause, and retried with backoff, while every other key is written as
//! usual. A lost race on a key re-reads that key's revision; it does not stop the others.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::StreamExt;

use super::views::Write;
use crate::backbone::Backbone;
use crate::core::limits;
use crate::core::registry::ServiceKey;
use crate::metrics::Metrics;

/// A view entry that could not be written, waiting for its next try.
#[derive(Debug)]
pub struct Pending {
    pub value: Option<Bytes>,
    pub error: String,
    pub since: Instant,
    retry_at: Instant,
    backoff: Duration,
}

pub struct Writer<'a> {
    pub backbone: &'a Backbone,
    metrics: Arc<Metrics>,
    /// The revision of every entry as last read or written.
    pub revisions: HashMap<(&'static str, String), u64>,
    /// The instance records written for each service, with the instance's sequence: a service
    /// change rewrites only the instances whose sequence moved.
    pub instances: HashMap<ServiceKey, BTreeMap<String, u64>>,
    pub pending: BTreeMap<(&'static str, String), Pending>,
}

impl<'a> Writer<'a> {
    pub fn new(backbone: &'a Backbone, metrics: Arc<Metrics>) -> Self {
        metrics.views_set_aside.set(0);
        Self {
            backbone,
            metrics,
            revisions: HashMap::new(),
            instances: HashMap::new(),
            pending: BTreeMap::new(),
        }
    }

    pub fn store(&self, bucket: &str) -> &kv::Store {
        match bucket {
            crate::backbone::NAMESPACES_BUCKET => &self.backbone.namespaces,
            crate::backbone::SERVICES_BUCKET => &self.backbone.services,
            crate::backbone::INSTANCES_BUCKET => &self.backbone.instances,
            _ => &self.backbone.configs,
        }
    }

    /// Makes view entries equal their values, up to 64 in flight. An entry that fails is set
    /// aside (see [`Pending`]); the others are written regardless.
    pub async fn write_all(&mut self, writes: Vec<Write>) {
        let jobs: Vec<_> = writes
            .into_iter()
            .map(|(bucket, key, value)| {
                let known = self.revisions.get(&(bucket, key.clone())).copied();
                let store = self.store(bucket).clone();
                async move {
                    let result = write_one(&store, &key, value.clone(), known).await;
                    (bucket, key, value, result)
                }
            })
            .collect();
        let results: Vec<_> = futures::stream::iter(jobs)
            .buffer_unordered(64)
            .collect()
            .await;
        for (bucket, key, value, result) in results {
            match result {
                Ok(revision) => {
                    if self.pending.remove(&(bucket, key.clone())).is_some() {
                        tracing::info!(bucket, key, "view entry written again");
                    }
                    match revision {
                        Some(r) => self.revisions.insert((bucket, key), r),
                        None => self.revisions.remove(&(bucket, key)),
                    };
                }
                Err(error) => self.set_aside(bucket, key, value, error),
            }
        }
        self.metrics.views_set_aside.set(self.pending.len() as i64);
    }

    fn set_aside(
        &mut self,
        bucket: &'static str,
        key: String,
        value: Option<Bytes>,
        error: String,
    ) {
        self.metrics.view_write_failures.inc();
        let now = Instant::now();
        match self.pending.get_mut(&(bucket, key.clone())) {
            Some(p) => {
                p.value = value;
                p.error = error;
                p.backoff = (p.backoff * 2).min(Duration::from_secs(60));
                p.retry_at = now + p.backoff;
            }
            None => {
                tracing::warn!(bucket, key, %error, "a view entry cannot be written; retrying with backoff");
                self.pending.insert(
                    (bucket, key),
                    Pending {
                        value,
                        error,
                        since: now,
                        retry_at: now + Duration::from_secs(1),
                        backoff: Duration::from_secs(1),
                    },
                );
            }
        }
    }

    /// Retries the set-aside entries whose time has come, reading each one's revision first
    /// (a lost race is the usual cause).
    pub async fn retry_due(&mut self) {
        let now = Instant::now();
        let due: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, p)| p.retry_at <= now)
            .map(|((bucket, key), p)| (*bucket, key.clone(), p.value.clone()))
            .collect();
        for (bucket, key, _) in &due {
            match self.store(bucket).entry(key.as_str()).await {
                Ok(Some(entry)) if entry.operation == kv::Operation::Put => {
                    self.revisions
                        .insert((*bucket, key.clone()), entry.revision);
                }
                Ok(_) => {
                    self.revisions.remove(&(*bucket, key.clone()));
                }
                Err(_) => {}
            }
        }
        self.write_all(due).await;
    }

    /// The oldest entry still set aside: (how long, which, why).
    pub fn oldest_pending(&self) -> Option<(Duration, String, String)> {
        self.pending
            .iter()
            .min_by_key(|(_, p)| p.since)
            .map(|((bucket, key), p)| {
                (
                    p.since.elapsed(),
                    format!("{bucket}/{key}"),
                    p.error.clone(),
                )
            })
    }
}

/// One revision-conditional write; `Ok(None)` when the entry is now absent.
async fn write_one(
    store: &kv::Store,
    key: &str,
    value: Option<Bytes>,
    known: Option<u64>,
) -> Result<Option<u64>, String> {
    if let Some(v) = &value
        && v.len() > limits::MAX_RECORD_BYTES
    {
        // NATS would refuse it and drop the connection every other write rides on.
        return Err(format!(
            "the record is {} bytes, more than a NATS message holds",
            v.len()
        ));
    }
    match (value, known) {
        (Some(v), Some(rev)) => store
            .update(key, v, rev)
            .await
            .map(Some)
            .map_err(|e| e.to_string()),
        (Some(v), None) => store
            .create(key, v)
            .await
            .map(Some)
            .map_err(|e| e.to_string()),
        (None, Some(rev)) => store
            .delete_expect_revision(key, Some(rev))
            .await
            .map(|_| None)
            .map_err(|e| e.to_string()),
        (None, None) => Ok(None),
    }
}
