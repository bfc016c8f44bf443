//! The projector keeps the KV views equal to the fold (DESIGN invariant 3).
//!
//! One node at a time projects: it holds the `projector` lease, a key in the leases bucket created
//! atomically by JetStream (`create` fails if the key exists) and expiring by the bucket's max age
//! unless renewed. No home-made election: JetStream's per-key atomicity decides.
//!
//! On taking the lease the holder reconciles: it reads every view entry and writes or deletes
//! whatever differs from its in-memory state. After that it writes each changed key's current
//! state as the change feed announces it. Writes are revision-conditional, so a former holder that
//! has not noticed losing the lease cannot overwrite newer entries; a conflict sends the holder
//! back to reconciling. Each entry records `seq`, the last event folded into it, so writing the
//! same state twice is harmless (idempotent) and any node's fold yields the same entry.

use std::collections::{BTreeMap, HashMap};
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
use super::state::{Change, ConfigKey, State};
use crate::backbone::{Backbone, LEASE_TTL};

pub const LEASE_KEY: &str = "projector";
/// How long a burst of changes gathers before the projector writes it.
const FLUSH_DELAY: Duration = Duration::from_millis(100);

/// The view contents the fold implies: bucket → key → JSON value.
pub type Views = BTreeMap<&'static str, BTreeMap<String, Bytes>>;

/// Key of a config in the configs view.
pub fn config_view_key(key: &ConfigKey) -> String {
    names::join(&[&key.namespace, &key.group, &key.data_id])
}

/// Key of a service in the services view.
pub fn service_view_key(key: &ServiceKey) -> String {
    names::join(&[&key.namespace, &key.group, &key.service])
}

/// What the views must hold for `state`.
pub fn expected_views(state: &State) -> Views {
    let mut views = Views::new();
    let configs = views.entry(crate::backbone::CONFIGS_BUCKET).or_default();
    for entry in state.live_configs() {
        if let Ok(json) = serde_json::to_vec(entry.as_ref()) {
            configs.insert(config_view_key(&entry.key), Bytes::from(json));
        }
    }
    let services = views.entry(crate::backbone::SERVICES_BUCKET).or_default();
    for entry in state.registry.values().filter(|e| e.visible()) {
        if let Ok(json) = serde_json::to_vec(entry) {
            services.insert(service_view_key(&entry.key), Bytes::from(json));
        }
    }
    let namespaces = views.entry(crate::backbone::NAMESPACES_BUCKET).or_default();
    for (id, entry) in &state.namespaces {
        if let Ok(json) = serde_json::to_vec(entry) {
            namespaces.insert(names::encode(id), Bytes::from(json));
        }
    }
    views
}

/// The KV view value for one changed entity (None: absent), or no KV view at all (packages,
/// whose view is the Object Store's metadata).
fn expected_entry(state: &State, change: &Change) -> Option<(&'static str, String, Option<Bytes>)> {
    Some(match change {
        Change::Package(_) | Change::Kv(_) | Change::Session(_) => return None,
        Change::Config(key) => (
            crate::backbone::CONFIGS_BUCKET,
            config_view_key(key),
            state
                .config(key)
                .and_then(|e| serde_json::to_vec(e.as_ref()).ok())
                .map(Bytes::from),
        ),
        Change::Service(key) => (
            crate::backbone::SERVICES_BUCKET,
            service_view_key(key),
            state
                .registry
                .get(key)
                .filter(|e| e.visible())
                .and_then(|e| serde_json::to_vec(e).ok())
                .map(Bytes::from),
        ),
        Change::Namespace(id) => (
            crate::backbone::NAMESPACES_BUCKET,
            names::encode(id),
            state
                .namespaces
                .get(id)
                .and_then(|e| serde_json::to_vec(e).ok())
                .map(Bytes::from),
        ),
    })
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
pub async fn run(backbone: Backbone, model: Arc<Model>, node: String, readiness: Arc<Readiness>) {
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
                    match project(&backbone, &model, &node, &mut lease, &mut health).await {
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
}

/// Why a holder stopped projecting.
enum Stop {
    /// Another node holds the lease now (or this one cannot renew it).
    LeaseLost(String),
    /// A view read or write failed; the holder reconciles again.
    Failed(String),
}

struct Writer<'a> {
    backbone: &'a Backbone,
    revisions: HashMap<(&'static str, String), u64>,
}

impl Writer<'_> {
    fn store(&self, bucket: &str) -> &kv::Store {
        match bucket {
            crate::backbone::NAMESPACES_BUCKET => &self.backbone.namespaces,
            crate::backbone::SERVICES_BUCKET => &self.backbone.services,
            _ => &self.backbone.configs,
        }
    }

    /// Makes view entries equal their values (None: absent), each conditional on the revision
    /// last seen, up to 64 in flight. Reports the first failure after recording every success.
    async fn write_all(
        &mut self,
        writes: Vec<(&'static str, String, Option<Bytes>)>,
    ) -> Result<(), String> {
        let jobs: Vec<_> = writes
            .into_iter()
            .map(|(bucket, key, value)| {
                let known = self.revisions.get(&(bucket, key.clone())).copied();
                let store = self.store(bucket).clone();
                async move {
                    let result = match (value, known) {
                        (Some(v), Some(rev)) => store
                            .update(&key, v, rev)
                            .await
                            .map(Some)
                            .map_err(|e| e.to_string()),
                        (Some(v), None) => store
                            .create(&key, v)
                            .await
                            .map(Some)
                            .map_err(|e| e.to_string()),
                        (None, Some(rev)) => store
                            .delete_expect_revision(&key, Some(rev))
                            .await
                            .map(|_| None)
                            .map_err(|e| e.to_string()),
                        (None, None) => Ok(None),
                    };
                    (bucket, key, result)
                }
            })
            .collect();
        let results: Vec<_> = futures::stream::iter(jobs)
            .buffer_unordered(64)
            .collect()
            .await;
        let mut first_error = None;
        for (bucket, key, result) in results {
            match result {
                Ok(Some(rev)) => {
                    self.revisions.insert((bucket, key), rev);
                }
                Ok(None) => {
                    self.revisions.remove(&(bucket, key));
                }
                Err(e) => {
                    first_error.get_or_insert(format!(
                        "view write to {bucket}/{key} conflicted or failed: {e}"
                    ));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

async fn project(
    backbone: &Backbone,
    model: &Arc<Model>,
    node: &str,
    lease: &mut u64,
    health: &mut Health,
) -> Result<std::convert::Infallible, Stop> {
    let mut feed = model.subscribe();
    // Reconciling a model that has not replayed the stream yet would "fix" the views into
    // emptiness: wait until it has caught up.
    model.wait_live().await;
    let mut writer = Writer {
        backbone,
        revisions: HashMap::new(),
    };
    reconcile(&mut writer, model).await.map_err(Stop::Failed)?;
    health.reconciled();
    let mut renew = tokio::time::interval(LEASE_TTL / 3);
    renew.tick().await;
    loop {
        tokio::select! {
            _ = renew.tick() => {
                *lease = backbone.leases.update(LEASE_KEY, Bytes::from(node.to_owned()), *lease).await
                    .map_err(|e| Stop::LeaseLost(e.to_string()))?;
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
                    Err(RecvError::Lagged(_)) => { reconcile(&mut writer, model).await.map_err(Stop::Failed)?; continue; }
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
                    changes.iter().filter_map(|c| expected_entry(&state, c)).collect()
                };
                let written = writer.write_all(writes).await;
                drop(spans);
                if let Err(e) = written {
                    tracing::info!(error = %e, "re-reading the views");
                    reconcile(&mut writer, model).await.map_err(Stop::Failed)?;
                }
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
    let expected = expected_views(&model.read());
    writer.revisions.clear();
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
        writer.write_all(writes).await?;
    }
    tracing::info!(fixed, "views reconciled with the event stream");
    Ok(())
}
