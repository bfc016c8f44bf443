//! The core: the event log, the read model, the projector, and the operations every protocol
//! adapter shares, over the pure model of the `nacre-model` crate (events and the fold).
//! Nothing in here knows about HTTP or gRPC.

pub mod acl;
pub mod auth;
pub mod checks;
pub mod cluster;
pub mod configs;
pub mod history;
pub mod kv;
pub mod liveness;
pub mod log;
pub mod model;
pub mod namespaces;
pub mod naming;
pub mod packages;
pub mod projector;
pub mod readiness;
pub mod sessions;
pub mod stored;
pub mod txn;

use std::sync::Arc;
use std::time::Duration;

use event::{Envelope, Event};
use log::{EventLog, Expect};
use model::Model;
pub use nacre_model::{CoreError, Page};
/// The model's modules, where the core's own code and the adapters have always found them.
pub use nacre_model::{event, limits, names, registry, state, validate};

/// Everything a protocol adapter needs: the read model for reads, the log for writes.
#[derive(Clone)]
pub struct Core {
    pub model: Arc<Model>,
    log: EventLog,
    js: async_nats::jetstream::Context,
    stream_name: String,
    /// `nacre/<node name>`, the CloudEvents `source` of this node's events.
    source: String,
    pub limits: Limits,
    /// Last heartbeat of each ephemeral instance seen by this node.
    pub beats: Arc<liveness::BeatTable>,
    pub timeouts: liveness::Timeouts,
    /// This node's place, for locality-first instance lists.
    pub locality: naming::Locality,
    /// The packages Object Store (None until opened).
    pub packages: Option<crate::backbone::objects::PackageStore>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Last renewal of each Consul session seen by this node.
    pub renewals: Arc<sessions::Renewals>,
    /// Nacre nodes seen through NATS.
    pub cluster: Arc<std::sync::RwLock<Vec<cluster::NodeInfo>>>,
    /// Whether the event stream takes atomic batches (NATS 2.12+, `allow_atomic`).
    pub atomic_batches: bool,
    /// Tokens and the access decision every adapter asks.
    pub access: Arc<crate::access::Access>,
    /// What keeps this node from being ready, as the parts that know report it.
    pub readiness: Arc<readiness::Readiness>,
    /// What the web console gathers from the adapters (listeners, gRPC connections, settings).
    pub console: Arc<crate::console::Hub>,
}

/// What the core takes from the settings.
#[derive(Debug, Clone)]
pub struct CoreOptions {
    pub node: String,
    pub write_timeout: Duration,
    pub limits: Limits,
    pub timeouts: liveness::Timeouts,
    pub locality: naming::Locality,
}

impl CoreOptions {
    pub fn from_settings(settings: &crate::settings::Settings) -> Self {
        Self {
            node: settings.node_name(),
            write_timeout: settings.nats.write_timeout,
            limits: Limits {
                max_content_bytes: settings.config.max_content_bytes,
            },
            timeouts: liveness::Timeouts {
                beat_interval: settings.naming.heartbeat_interval,
                unhealthy_after: settings.naming.heartbeat_timeout,
                delete_after: settings.naming.delete_timeout,
            },
            locality: naming::Locality {
                datacenter: settings.node.datacenter.clone(),
                region: settings.node.region.clone(),
                zone: settings.node.zone.clone(),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_content_bytes: usize,
}

/// Who asked for a change, recorded in the event.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user: String,
    pub ip: String,
}

impl Actor {
    pub fn describe(&self) -> String {
        match (self.user.is_empty(), self.ip.is_empty()) {
            (true, true) => "anonymous".into(),
            (true, false) => format!("anonymous@{}", self.ip),
            (false, true) => self.user.clone(),
            (false, false) => format!("{}@{}", self.user, self.ip),
        }
    }
}

/// How long a writer waits to see its own event applied locally before answering anyway.
const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(5);

impl Core {
    pub fn new(
        model: Arc<Model>,
        js: async_nats::jetstream::Context,
        stream_name: String,
        options: CoreOptions,
    ) -> Self {
        let metrics = Arc::new(crate::metrics::Metrics::new());
        Self {
            model,
            log: EventLog::new(js.clone(), options.write_timeout).with_metrics(metrics.clone()),
            js,
            stream_name,
            source: format!("nacre/{}", options.node),
            limits: options.limits,
            beats: Arc::default(),
            timeouts: options.timeouts,
            locality: options.locality,
            packages: None,
            metrics,
            cluster: Arc::default(),
            renewals: Arc::default(),
            atomic_batches: false,
            access: Arc::default(),
            readiness: Arc::default(),
            console: Arc::default(),
        }
    }

    /// Appends an event, then waits until this node has applied it, so the writer reads its
    /// own write from this node at once (DESIGN invariant 4).
    async fn commit(&self, actor: &Actor, event: Event, expect: Expect) -> Result<u64, CoreError> {
        let envelope = Envelope::new(&self.source, &actor.describe(), event);
        let seq = self.log.append(&envelope, expect).await?;
        self.model.note_exists(seq);
        if !self.model.wait_applied(seq, READ_YOUR_WRITES_WAIT).await {
            tracing::warn!(seq, "write acknowledged but not yet applied on this node");
        }
        Ok(seq)
    }

    /// A compare-and-set commit: false when the entity changed since it was read.
    pub(crate) async fn commit_if_unchanged(
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

    fn require_namespace(&self, namespace: &str) -> Result<(), CoreError> {
        validate::namespace_ref(namespace)?;
        if self.model.read().namespace_exists(namespace) {
            Ok(())
        } else {
            Err(CoreError::NamespaceNotFound(namespace.to_owned()))
        }
    }
}
