//! The in-memory read model on each node: the fold of the whole stream, kept current by an
//! ordered consumer, plus the change feed every notifier (HTTP long polling, gRPC push, Consul
//! blocking queries) listens to. Reads never leave the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, oneshot, watch};

use super::event::Envelope;
use super::state::{Change, State};

const RECONNECTED: &str = "reconnected";

/// How long one request of a feed resumption may take before it is tried again.
const RESUME_REQUEST_WAIT: Duration = Duration::from_secs(2);
/// The longest pause between resumption attempts.
const RESUME_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How long the event feed may stay silent while known to be behind before it is recreated.
const STALL_CHECK: Duration = Duration::from_millis(500);

/// One applied event, as the change feed announces it.
#[derive(Debug, Clone)]
pub struct Applied {
    pub seq: u64,
    pub change: Change,
    /// The W3C traceparent the event was appended with: what it causes continues that trace.
    pub trace: Option<Arc<str>>,
    /// The event's type, time and actor (no payload: the feed stays light).
    pub meta: EventMeta,
}

/// What the change feed tells of an event besides what it changed (the console's live feed).
#[derive(Debug, Clone)]
pub struct EventMeta {
    /// The CloudEvents `type`.
    pub event_type: &'static str,
    /// Epoch milliseconds.
    pub time: i64,
    /// `nacreactor`: who made the change (`user@ip`).
    pub actor: Arc<str>,
}

/// Why the model stopped applying events.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// Catching up with the stream at start-up.
    Loading,
    Live,
    /// An event could not be understood; applying stopped so the views do not diverge silently.
    Stuck(String),
}

pub struct Model {
    state: RwLock<State>,
    applied: watch::Sender<u64>,
    /// Writers waiting to read their own write, by the sequence they wait for. Each is woken
    /// once, when its sequence is applied (a watch channel would wake all of them per event).
    waiters: Mutex<BTreeMap<u64, Vec<oneshot::Sender<()>>>>,
    health: watch::Sender<Health>,
    changes: broadcast::Sender<Arc<Applied>>,
    /// The highest sequence known to exist (acked to a writer here, or polled from the stream):
    /// being behind it without progress means the consumer stalled.
    known: std::sync::atomic::AtomicU64,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    pub fn new() -> Self {
        Self {
            state: RwLock::new(State::default()),
            applied: watch::channel(0).0,
            waiters: Mutex::new(BTreeMap::new()),
            known: std::sync::atomic::AtomicU64::new(0),
            health: watch::channel(Health::Loading).0,
            changes: broadcast::channel(65_536).0,
        }
    }

    /// A consistent view of the state; hold it briefly and never across an await.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the fold half-applied in a way later reads
        // would misread (apply is one map insert), so a poisoned lock is still served.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    pub fn health(&self) -> Health {
        self.health.borrow().clone()
    }

    /// Waits until the model has caught up with the stream it found at start-up.
    pub async fn wait_live(&self) {
        let mut health = self.health.subscribe();
        let _ = health.wait_for(|h| *h == Health::Live).await;
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Applied>> {
        self.changes.subscribe()
    }

    pub fn watch_applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Folds one event and announces it.
    /// `trace`: the traceparent the event was appended with.
    pub fn apply(&self, seq: u64, envelope: &Envelope, trace: Option<Arc<str>>) {
        let change = {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            state.apply(seq, envelope)
        };
        self.applied.send_replace(seq.max(self.applied()));
        let ready = {
            let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            let later = waiters.split_off(&(seq + 1));
            std::mem::replace(&mut *waiters, later)
        };
        for tx in ready.into_values().flatten() {
            let _ = tx.send(());
        }
        if let Some(change) = change {
            let meta = EventMeta {
                event_type: envelope.body.type_name(),
                time: envelope.time_millis(),
                actor: Arc::from(envelope.nacreactor.as_str()),
            };
            let _ = self.changes.send(Arc::new(Applied {
                seq,
                change,
                trace,
                meta,
            }));
        }
    }

    /// Notes that the stream holds at least `seq` (an ack, or a polled last sequence).
    pub fn note_exists(&self, seq: u64) {
        self.known
            .fetch_max(seq, std::sync::atomic::Ordering::Relaxed);
    }

    /// Waits until the event at `seq` is applied here (read-your-writes). False on timeout.
    pub async fn wait_applied(&self, seq: u64, timeout: Duration) -> bool {
        if self.applied() >= seq {
            return true;
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            // Checked again under the lock `apply` takes after moving `applied`: an event
            // applied in between has already woken its waiters.
            if self.applied() >= seq {
                return true;
            }
            waiters.entry(seq).or_default().push(tx);
        }
        matches!(tokio::time::timeout(timeout, rx).await, Ok(Ok(())))
    }

    fn set_health(&self, health: Health) {
        self.health.send_if_modified(|h| {
            if *h != health {
                *h = health;
                true
            } else {
                false
            }
        });
    }

    /// Replays the stream from where the model stands and follows it for ever.
    /// `connects` ticks on every (re)connection: the consumer is then recreated at once, since a
    /// restarted server may have lost it.
    pub async fn follow(
        self: Arc<Self>,
        js: async_nats::jetstream::Context,
        stream_name: String,
        mut connects: watch::Receiver<u64>,
    ) {
        let mut backoff = Duration::from_millis(100);
        loop {
            connects.mark_unchanged();
            match self
                .clone()
                .follow_once(&js, &stream_name, &mut connects)
                .await
            {
                Ok(()) => return,
                Err(e) if e == RECONNECTED => {
                    tracing::info!("reconnected to NATS; resuming the event feed");
                    backoff = Duration::from_millis(100);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event feed interrupted; resuming");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RESUME_BACKOFF_MAX);
                }
            }
        }
    }

    async fn follow_once(
        self: Arc<Self>,
        js: &async_nats::jetstream::Context,
        stream_name: &str,
        connects: &mut watch::Receiver<u64>,
    ) -> Result<(), String> {
        // Resuming must be quick and persistent: during a JetStream election some API requests
        // go unanswered, and every write waits (read-your-writes) until the feed moves again.
        // So each request gets a short deadline and is retried soon, and only the consumer's
        // creation is required: the stream's last sequence is a nicety for readiness.
        let within = |what: &'static str| {
            move |r: Result<Result<_, _>, _>| match r {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(format!("{what}: {e}")),
                Err(_) => Err(format!("{what}: no answer within {RESUME_REQUEST_WAIT:?}")),
            }
        };
        let stream = tokio::time::timeout(RESUME_REQUEST_WAIT, js.get_stream_no_info(stream_name))
            .await
            .map_err(|_| format!("stream lookup: no answer within {RESUME_REQUEST_WAIT:?}"))
            .and_then(|r| r.map_err(|e| format!("stream lookup: {e}")))?;
        let known = self.known.load(std::sync::atomic::Ordering::Relaxed);
        let target = match tokio::time::timeout(RESUME_REQUEST_WAIT, stream.get_info()).await {
            Ok(Ok(info)) => info.state.last_sequence,
            _ => known,
        };
        let start = self.applied() + 1;
        if self.applied() >= target {
            self.set_health(Health::Live);
        }
        let mut messages = within("consumer")(
            tokio::time::timeout(
                RESUME_REQUEST_WAIT,
                super::stored::from_sequence(&stream, start),
            )
            .await,
        )?;
        // A consumer whose server lost leadership can go quiet without an error: if events are
        // known to exist beyond what is applied and nothing arrives, start a new one.
        // The first check comes after STALL_CHECK, not at once: an interval's first tick is
        // immediate, and a node that resumes while behind would then call every new consumer
        // stalled before it could deliver anything (seen as seconds of "stalled" under load).
        let mut watchdog =
            tokio::time::interval_at(tokio::time::Instant::now() + STALL_CHECK, STALL_CHECK);
        let mut applied_at_last_check = self.applied();
        loop {
            let message = tokio::select! {
                next = messages.next() => match next {
                    Some(message) => message.map_err(|e| e.to_string())?,
                    None => return Err("the ordered consumer ended".into()),
                },
                _ = connects.changed() => return Err(RECONNECTED.into()),
                _ = watchdog.tick() => {
                    let applied = self.applied();
                    let behind = self.known.load(std::sync::atomic::Ordering::Relaxed) > applied;
                    if behind && applied == applied_at_last_check {
                        return Err(format!("the event feed stalled at {applied}; resuming from there"));
                    }
                    applied_at_last_check = applied;
                    continue;
                }
            };
            let seq = message.info().map_err(|e| e.to_string())?.stream_sequence;
            match serde_json::from_slice::<Envelope>(&message.payload) {
                Ok(envelope) => self.apply(
                    seq,
                    &envelope,
                    crate::telemetry::traceparent_of(message.headers.as_ref()),
                ),
                Err(e) => {
                    let reason = format!(
                        "event {seq} on {} cannot be read by this Nacre ({e}); it may come from a newer \
                         version. Applying stopped so this node does not serve a wrong state: upgrade it.",
                        message.subject
                    );
                    tracing::error!("{reason}");
                    self.set_health(Health::Stuck(reason));
                    return Ok(());
                }
            }
            if seq >= target {
                self.set_health(Health::Live);
            }
        }
    }
}

/// Folds the whole stream as it stands now into a fresh state (for `verify`, `rebuild`, backups).
pub async fn replay(
    js: &async_nats::jetstream::Context,
    stream_name: &str,
) -> Result<State, String> {
    let stream = js
        .get_stream(stream_name)
        .await
        .map_err(|e| e.to_string())?;
    let last = stream
        .get_info()
        .await
        .map_err(|e| e.to_string())?
        .state
        .last_sequence;
    let mut state = State::default();
    if last == 0 {
        return Ok(state);
    }
    let mut messages = super::stored::from_sequence(&stream, 1).await?;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| e.to_string())?;
        let seq = message.info().map_err(|e| e.to_string())?.stream_sequence;
        let envelope: Envelope = serde_json::from_slice(&message.payload)
            .map_err(|e| format!("event {seq} cannot be read by this Nacre: {e}"))?;
        state.apply(seq, &envelope);
        if seq >= last {
            break;
        }
    }
    Ok(state)
}
