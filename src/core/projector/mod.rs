//! The projector keeps the KV views equal to the fold (DESIGN invariant 3).
//!
//! One node at a time projects: it holds the `projector` lease, a key in the leases bucket created
//! atomically by JetStream (`create` fails if the key exists) and expiring by the bucket's max age
//! unless renewed. No home-made election: JetStream's per-key atomicity decides.
//!
//! On taking the lease the holder reconciles: it reads every view entry and writes or deletes
//! whatever differs from its in-memory state (`views`). After that it writes each changed key's
//! current state as the change feed announces it. Writes are revision-conditional, so a former
//! holder that has not noticed losing the lease cannot overwrite newer entries. An entry that
//! cannot be written is set aside and retried with backoff while the others go on (`writer`);
//! readiness turns red while any has waited longer than [`FAILING_FOR`]. Each record carries
//! `seq`, the last event folded into it, so writing the same state twice is harmless and any
//! node's fold yields the same entry.

pub mod views;
mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::broadcast::error::RecvError;

use super::model::Model;
use super::names;
use super::readiness::Readiness;
use super::registry::ServiceKey;
use super::state::{Change, State};
use crate::backbone::{Backbone, LEASE_TTL};
use crate::metrics::Metrics;
use views::Write;
use writer::Writer;

pub const LEASE_KEY: &str = "projector";
/// How long a burst of changes gathers before the projector writes it.
const FLUSH_DELAY: Duration = Duration::from_millis(100);
/// How often set-aside entries are looked at for a retry.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The writes that make the views reflect one change: none for entities with no KV view
/// (packages, whose view is the Object Store's metadata; Consul KV and sessions).
fn writes_for(state: &State, change: &Change, writer: &mut Writer<'_>) -> Vec<Write> {
    match change {
        Change::Package(_) | Change::Kv(_) | Change::Session(_) => Vec::new(),
        Change::Config(key) => vec![(
            crate::backbone::CONFIGS_BUCKET,
            views::config_key(key),
            state
                .config(key)
                .and_then(|e| serde_json::to_vec(e.as_ref()).ok())
                .map(Bytes::from),
        )],
        Change::Namespace(id) => vec![(
            crate::backbone::NAMESPACES_BUCKET,
            names::encode(id),
            state
                .namespaces
                .get(id)
                .and_then(|e| serde_json::to_vec(e).ok())
                .map(Bytes::from),
        )],
        Change::Service(key) => service_writes(state, key, writer),
    }
}

/// A service's record, and the records of those of its instances whose sequence moved since
/// they were written (or that left): a change to one instance of 20,000 writes two records.
fn service_writes(state: &State, key: &ServiceKey, writer: &mut Writer<'_>) -> Vec<Write> {
    let entry = state.registry.get(key).filter(|e| e.visible());
    let mut writes = vec![(
        crate::backbone::SERVICES_BUCKET,
        views::service_key(key),
        entry.and_then(views::service_record),
    )];
    let written = writer.instances.entry(key.clone()).or_default();
    let mut now = std::collections::BTreeMap::new();
    for instance in entry.into_iter().flat_map(|e| e.instances.values()) {
        let k = views::instance_key(key, instance);
        if written.get(&k) != Some(&instance.seq) {
            writes.push((
                crate::backbone::INSTANCES_BUCKET,
                k.clone(),
                views::instance_record(instance),
            ));
        }
        now.insert(k, instance.seq);
    }
    for gone in written.keys().filter(|k| !now.contains_key(*k)) {
        writes.push((crate::backbone::INSTANCES_BUCKET, gone.clone(), None));
    }
    *written = now;
    writes
}

/// Reads every live entry of a bucket with its revision.
pub async fn read_bucket(store: &kv::Store) -> Result<HashMap<String, (Bytes, u64)>, String> {
    let mut out = HashMap::new();
    let status = store.status().await.map_err(|e| e.to_string())?;
    if status.info.state.messages == 0 {
        return Ok(out);
    }
    let mut watch = store
        .watch_all_from_revision(1)
        .await
        .map_err(|e| e.to_string())?;
    let last = status.info.state.last_sequence;
    while let Some(entry) = watch.next().await {
        let entry = entry.map_err(|e| e.to_string())?;
        match entry.operation {
            kv::Operation::Put => {
                out.insert(entry.key.clone(), (entry.value.clone(), entry.revision));
            }
            kv::Operation::Delete | kv::Operation::Purge => {
                out.remove(&entry.key);
            }
        }
        if entry.revision >= last {
            break;
        }
    }
    Ok(out)
}

/// The node's projector task: waits for the lease, then keeps the views equal to the model.
/// Trouble it cannot work around turns the node's readiness red (see [`Health`]).
pub async fn run(
    backbone: Backbone,
    model: Arc<Model>,
    node: String,
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
) {
    // Take the lease only once this node's model can say what the views must hold.
    model.wait_live().await;
    let mut health = Health::new(readiness);
    loop {
        match backbone
            .leases
            .create(LEASE_KEY, Bytes::from(node.clone()))
            .await
        {
            Ok(revision) => {
                health.took_lease();
                let mut lease = revision;
                // A failed view write sends the holder back to reconciling; only losing the
                // lease hands the work to another node.
                loop {
                    let started = Instant::now();
                    let mut writer = Writer::new(&backbone, metrics.clone());
                    let projected =
                        project(&mut writer, &model, &node, &mut lease, &mut health).await;
                    match projected {
                        Ok(never) => match never {},
                        Err(Stop::LeaseLost(e)) => {
                            health.lost_lease(started.elapsed(), &e);
                            break;
                        }
                        Err(Stop::Failed(e)) => {
                            let pause = health.projection_failed(&e);
                            tokio::time::sleep(pause).await;
                        }
                    }
                }
            }
            Err(_) => tokio::time::sleep(LEASE_TTL / 3).await,
        }
    }
}

/// How the projector is doing, as readiness sees it. Two kinds of trouble turn it red, each
/// reported once:
/// * the lease is taken and lost again and again with nobody else holding it: the leases
///   bucket's per-key state is damaged (two nats-servers once ran on one store), so no renewal
///   can ever succeed and the views are not kept;
/// * view writes keep failing for longer than [`FAILING_FOR`]: the views lag the stream.
struct Health {
    readiness: Arc<Readiness>,
    lost_at: Option<Instant>,
    /// Consecutive lease takes soon after losing it.
    churn: u32,
    failing_since: Option<Instant>,
    backoff: Duration,
}

/// Lease takes-and-losses in a row that mean the leases bucket is damaged.
const CHURN_LIMIT: u32 = 3;
/// How long view writes may keep failing before readiness says so.
const FAILING_FOR: Duration = Duration::from_secs(10);

impl Health {
    fn new(readiness: Arc<Readiness>) -> Self {
        Self {
            readiness,
            lost_at: None,
            churn: 0,
            failing_since: None,
            backoff: Duration::from_millis(200),
        }
    }

    fn took_lease(&mut self) {
        let soon_after_losing = self.lost_at.is_some_and(|t| t.elapsed() < LEASE_TTL * 2);
        self.churn = if soon_after_losing { self.churn + 1 } else { 0 };
        if self.churn >= CHURN_LIMIT {
            self.readiness.fail(
                "projector",
                "the projector takes its lease and cannot renew it though no other node holds it: \
                 the leases bucket's state is damaged (two nats-servers once ran on one store) and \
                 the views are not kept. Stop every process on this data directory, then run \
                 `nacre rebuild` (runbooks/wiped-store.md)"
                    .into(),
            );
        } else if self.churn == 0 {
            tracing::info!("this node now projects the views");
        }
    }

    fn lost_lease(&mut self, held_for: Duration, error: &str) {
        if held_for > LEASE_TTL * 2 {
            // It was held and renewed for a while: whatever happened now, the bucket works.
            self.churn = 0;
            self.readiness.recover("projector");
        }
        self.lost_at = Some(Instant::now());
        if self.churn < CHURN_LIMIT {
            tracing::warn!(error, "stopped projecting the views");
        }
    }

    /// A failed projection; returns how long to wait before reconciling again.
    fn projection_failed(&mut self, error: &str) -> Duration {
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() > FAILING_FOR {
            self.readiness.fail(
                "views",
                format!(
                    "view writes have failed for {} s ({error}); the views lag the stream. \
                     `nacre verify` shows the differences and `nacre rebuild` rewrites them",
                    since.elapsed().as_secs()
                ),
            );
        } else {
            tracing::info!(error, "view projection interrupted; reconciling again");
        }
        let pause = self.backoff;
        self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
        pause
    }

    fn reconciled(&mut self) {
        self.failing_since = None;
        self.backoff = Duration::from_millis(200);
        self.readiness.recover("views");
    }

    /// The oldest view entry still set aside, if any: red readiness once it waited too long.
    fn pending(&mut self, oldest: Option<(Duration, String, String)>) {
        match oldest {
            // Worded without the time waited, so that it is logged once, not every second.
            Some((waited, entry, error)) if waited > FAILING_FOR => self.readiness.fail(
                "views",
                format!(
                    "the view entry {entry} has not been written for over {} s ({error}); the views lag the stream. \
                     `nacre verify` shows the differences",
                    FAILING_FOR.as_secs()
                ),
            ),
            Some(_) => {}
            None => self.readiness.recover("views"),
        }
    }
}

/// Why a holder stopped projecting.
enum Stop {
    /// Another node holds the lease now (or this one cannot renew it).
    LeaseLost(String),
    /// A view read or write failed; the holder reconciles again.
    Failed(String),
}

async fn project(
    writer: &mut Writer<'_>,
    model: &Arc<Model>,
    node: &str,
    lease: &mut u64,
    health: &mut Health,
) -> Result<std::convert::Infallible, Stop> {
    let mut feed = model.subscribe();
    // Reconciling a model that has not replayed the stream yet would "fix" the views into
    // emptiness: wait until it has caught up.
    model.wait_live().await;
    let backbone = writer.backbone;
    reconcile(writer, model).await.map_err(Stop::Failed)?;
    health.reconciled();
    let mut renew = tokio::time::interval(LEASE_TTL / 3);
    renew.tick().await;
    let mut retry = tokio::time::interval(RETRY_EVERY);
    loop {
        tokio::select! {
            _ = renew.tick() => {
                *lease = backbone.leases.update(LEASE_KEY, Bytes::from(node.to_owned()), *lease).await
                    .map_err(|e| Stop::LeaseLost(e.to_string()))?;
            }
            _ = retry.tick() => {
                if !writer.pending.is_empty() {
                    writer.retry_due().await;
                }
                health.pending(writer.oldest_pending());
            }
            received = feed.recv() => {
                let mut changes = Vec::new();
                // One span per projected event, in the event's trace, open until its view is written.
                let mut spans = Vec::new();
                match received {
                    Ok(applied) => {
                        spans.push(projection_span(&applied));
                        changes.push(applied.change.clone());
                    }
                    Err(RecvError::Lagged(_)) => { reconcile(writer, model).await.map_err(Stop::Failed)?; continue; }
                    Err(RecvError::Closed) => return Err(Stop::LeaseLost("change feed closed".into())),
                }
                // Let a burst gather, then coalesce it: only each key's latest state matters, and
                // every view write costs the backbone a stored message.
                tokio::time::sleep(FLUSH_DELAY).await;
                while let Ok(applied) = feed.try_recv() {
                    spans.push(projection_span(&applied));
                    changes.push(applied.change.clone());
                }
                changes.sort();
                changes.dedup();
                let writes: Vec<_> = {
                    let state = model.read();
                    changes.iter().flat_map(|c| writes_for(&state, c, writer)).collect()
                };
                writer.write_all(writes).await;
                drop(spans);
            }
        }
    }
}

fn projection_span(applied: &crate::core::model::Applied) -> tracing::Span {
    let span = tracing::info_span!(
        "project",
        otel.name = "project",
        nats.sequence = applied.seq,
        trace_id = tracing::field::Empty,
    );
    crate::telemetry::continue_event(&span, applied.trace.as_deref());
    span
}

/// Reads the views and fixes every entry that differs from the model.
async fn reconcile(writer: &mut Writer<'_>, model: &Model) -> Result<(), String> {
    let (expected, instances) = {
        let state = model.read();
        let instances: HashMap<ServiceKey, std::collections::BTreeMap<String, u64>> = state
            .registry
            .values()
            .filter(|e| e.visible())
            .map(|e| {
                let written = e
                    .instances
                    .values()
                    .map(|i| (views::instance_key(&e.key, i), i.seq))
                    .collect();
                (e.key.clone(), written)
            })
            .collect();
        (views::expected(&state), instances)
    };
    writer.revisions.clear();
    writer.instances = instances;
    let mut fixed = 0usize;
    for (bucket, wanted) in expected {
        let actual = read_bucket(writer.store(bucket)).await?;
        for (key, (_, rev)) in &actual {
            writer.revisions.insert((bucket, key.clone()), *rev);
        }
        let mut writes: Vec<_> = wanted
            .iter()
            .filter(|(key, value)| actual.get(*key).map(|(v, _)| v) != Some(*value))
            .map(|(key, value)| (bucket, key.clone(), Some(value.clone())))
            .collect();
        writes.extend(
            actual
                .keys()
                .filter(|k| !wanted.contains_key(*k))
                .map(|key| (bucket, key.clone(), None)),
        );
        fixed += writes.len();
        writer.write_all(writes).await;
    }
    tracing::info!(
        fixed,
        set_aside = writer.pending.len(),
        "views reconciled with the event stream"
    );
    Ok(())
}
