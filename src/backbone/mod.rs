//! The NATS backbone: connecting (standalone child or external cluster), and the event stream and
//! view buckets Nacre owns.

pub mod identity;
pub mod lock;
pub mod objects;
pub mod supervisor;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use tokio::sync::watch;

use crate::core::event::{ClusterGenesis, Envelope, Event, SUBJECT_PREFIX};
use crate::core::log::{AppendError, EventLog, Expect};
use crate::settings::Settings;

/// KV bucket holding the config view (key `<ns>.<group>.<dataId>`, tokens per `core::names`).
pub const CONFIGS_BUCKET: &str = "nacre-configs";
/// KV bucket holding the namespace view (key `<ns>`).
pub const NAMESPACES_BUCKET: &str = "nacre-namespaces";
/// KV bucket holding the service view (key `<ns>.<group>.<service>`; instances apart).
pub const SERVICES_BUCKET: &str = "nacre-services";
/// KV bucket holding the instance view (key `<ns>.<group>.<service>.<cluster>.<ip>.<port>`).
pub const INSTANCES_BUCKET: &str = "nacre-instances";
/// Object Store bucket holding package bytes (keys `os/object/version/name`).
pub const PACKAGES_BUCKET: &str = "nacre-packages";
/// KV bucket of short-lived leases (which node projects the views).
pub const LEASES_BUCKET: &str = "nacre-leases";
/// How long a lease lives without being renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(6);

#[derive(Debug, thiserror::Error)]
pub enum BackboneError {
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error(
        "JetStream is not available on {url}: {reason}. Enable JetStream on the server (`jetstream {{}}` in its config)."
    )]
    NoJetStream { url: String, reason: String },
    #[error("cannot set up {what}: {reason}")]
    Setup { what: String, reason: String },
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error(
        "{what} has {actual} replica(s) but nats.replicas is {wanted}: Nacre refuses to run with weaker \
         placement than configured. Raise the replicas (`nats stream edit`) or lower nats.replicas."
    )]
    WeakPlacement {
        what: String,
        actual: usize,
        wanted: usize,
    },
}

/// A connected client with JetStream and the buckets Nacre uses.
#[derive(Clone)]
pub struct Backbone {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub stream_name: String,
    /// The cluster id of the genesis event.
    pub cluster_id: String,
    pub configs: kv::Store,
    pub namespaces: kv::Store,
    pub services: kv::Store,
    pub instances: kv::Store,
    pub leases: kv::Store,
    pub packages: objects::PackageStore,
    /// Whether the event stream takes atomic batch publishes.
    pub atomic_batches: bool,
}

/// Whether the connected server has atomic batch publish (2.12+).
fn supports_atomic_batches(client: &async_nats::Client) -> bool {
    let version = client.server_info().version;
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 12)
}

/// A client and a counter of its (re)connections, so consumers can resume at once after the
/// server comes back rather than waiting for missed heartbeats.
pub struct Connection {
    pub client: async_nats::Client,
    pub connects: watch::Receiver<u64>,
}

/// How long a command or node waits for its first connection to NATS before giving up.
const FIRST_CONNECTION_WAIT: Duration = Duration::from_secs(10);

/// Connects with the configured credentials and TLS, waiting for a first connection.
pub async fn connect(settings: &Settings, url: &str) -> Result<Connection, BackboneError> {
    let nats = &settings.nats;
    let (connected, connects) = watch::channel(0u64);
    // Why the server refused the credentials or the TLS handshake failed, if it did: retrying
    // cannot fix either.
    let (refused, mut refusal) = watch::channel(None::<String>);
    let refused = std::sync::Arc::new(refused);
    let err = |reason: String| BackboneError::Connect {
        url: url.to_owned(),
        reason,
    };
    // A cluster is given as comma-separated URLs; the client takes them as a list.
    let addrs: Vec<async_nats::ServerAddr> = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .map_err(|e| err(format!("invalid URL {u:?}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    // The client, once made: a lasting disconnect is then explained.
    let made: Arc<OnceLock<async_nats::Client>> = Arc::default();
    let made_for_events = made.clone();
    let addrs_for_events = addrs.clone();
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("nacre {}", settings.node_name()))
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| {
            let (connected, refused) = (connected.clone(), refused.clone());
            let made = made_for_events.clone();
            let addrs = addrs_for_events.clone();
            async move {
                match event {
                    async_nats::Event::Disconnected => {
                        tracing::warn!("disconnected from NATS; reconnecting");
                        if let Some(client) = made.get().cloned() {
                            tokio::spawn(report_if_still_disconnected(client, addrs));
                        }
                    }
                    async_nats::Event::ClientError(async_nats::ClientError::Other(reason))
                        if [
                            "authorization violation",
                            "failed signing nonce",
                            "TLS error",
                        ]
                        .contains(&reason.as_str()) =>
                    {
                        refused.send_replace(Some(reason));
                    }
                    async_nats::Event::Connected => {
                        tracing::info!("connected to NATS");
                        connected.send_modify(|n| *n += 1);
                    }
                    other => tracing::debug!(%other, "NATS client event"),
                }
            }
        });
    if !nats.user.is_empty() {
        options = options.user_and_password(nats.user.clone(), nats.password.clone());
    }
    if !nats.token.is_empty() {
        options = options.token(nats.token.clone());
    }
    if !nats.nkey_seed.is_empty() {
        options = options.nkey(nats.nkey_seed.clone());
    }
    if !nats.creds_file.is_empty() {
        options = options
            .credentials_file(&nats.creds_file)
            .await
            .map_err(|e| err(format!("creds-file: {e}")))?;
    }
    if !nats.tls.ca_file.is_empty() {
        options = options.add_root_certificates(nats.tls.ca_file.clone().into());
    }
    if !nats.tls.cert_file.is_empty() {
        options = options.add_client_certificate(
            nats.tls.cert_file.clone().into(),
            nats.tls.key_file.clone().into(),
        );
    }
    if nats.tls.required {
        options = options.require_tls(true);
    }
    let client = options
        .connect(addrs.clone())
        .await
        .map_err(|e| err(e.to_string()))?;
    let _ = made.set(client.clone());
    // The client makes its first connection in the background and retries it, even when the
    // server refuses the credentials. A flush completes once connected; a refusal ends the wait
    // at once (no retry fixes a wrong password).
    tokio::select! {
        flushed = tokio::time::timeout(FIRST_CONNECTION_WAIT, client.flush()) => match flushed {
            Ok(Ok(())) => Ok(Connection { client, connects }),
            Ok(Err(e)) => Err(err(e.to_string())),
            Err(_) => Err(err(format!(
                "no connection within {} s{}",
                FIRST_CONNECTION_WAIT.as_secs(),
                why_unreachable(&addrs).await
            ))),
        },
        refusal = refusal.wait_for(Option::is_some) => Err(err(format!(
            "{}: check nats.user/password, token, nkey-seed, creds-file and nats.tls.*",
            refusal.ok().and_then(|r| r.clone()).unwrap_or_default()
        ))),
    }
}

/// Why none of `addrs` can be reached, found out directly (the client does not say while it is
/// still trying): `: 127.0.0.1:4222: Connection refused (os error 111)`, or that TCP
/// connects but the NATS handshake does not complete (TLS or credentials).
async fn why_unreachable(addrs: &[async_nats::ServerAddr]) -> String {
    let mut causes = Vec::new();
    for addr in addrs {
        let target = format!("{}:{}", addr.host(), addr.port());
        let probe = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(target.clone()),
        )
        .await;
        causes.push(match probe {
            Ok(Ok(_)) => format!(
                "{target}: TCP connects but the NATS handshake did not complete (TLS or credentials?)"
            ),
            Ok(Err(e)) => format!("{target}: {e}"),
            Err(_) => format!("{target}: no TCP answer within 2 s"),
        });
    }
    format!(": {}", causes.join("; "))
}

/// A disconnect that lasts: say why, once, while the client keeps retrying.
async fn report_if_still_disconnected(
    client: async_nats::Client,
    addrs: Vec<async_nats::ServerAddr>,
) {
    tokio::time::sleep(Duration::from_secs(5)).await;
    if client.connection_state() != async_nats::connection::State::Connected {
        tracing::warn!(
            "still not connected to NATS after 5 s{}",
            why_unreachable(&addrs).await
        );
    }
}

impl Backbone {
    /// Creates (or checks) the event stream and the view buckets at the configured replicas.
    /// `evidence` is what else says a store existed (a backup, a setting), for the identity check.
    pub async fn open(
        settings: &Settings,
        client: async_nats::Client,
        url: &str,
        evidence: &identity::Evidence,
        accept_loss: bool,
    ) -> Result<Self, BackboneError> {
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .max_ack_inflight(settings.nats.max_inflight_acks)
            .backpressure_on_inflight(true)
            .build(client.clone());
        js.query_account()
            .await
            .map_err(|e| BackboneError::NoJetStream {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        let replicas = settings.nats.replicas;
        let stream_name = settings.nats.stream.clone();

        // Before creating anything: does the store still hold what this node saw?
        let facts = stream_facts(&js, &stream_name).await?;
        let marker_path = identity::marker_path(&settings.identity_dir());
        let marker = identity::read_marker(&marker_path)?;
        let decision =
            identity::decide(marker.as_ref(), &marker_path, evidence, &facts, accept_loss)?;

        let mut stream = js
            .get_or_create_stream(stream::Config {
                name: stream_name.clone(),
                description: Some("Nacre events: the one source of truth".into()),
                subjects: vec![format!("{SUBJECT_PREFIX}.>")],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                num_replicas: replicas,
                duplicate_window: Duration::from_secs(120),
                allow_direct: true,
                // The history is the product: nothing may purge or delete events casually.
                deny_delete: true,
                deny_purge: true,
                ..Default::default()
            })
            .await
            .map_err(|e| setup("the event stream", e))?;
        let cluster_id = match decision {
            identity::Decision::Continue(id) => id,
            identity::Decision::Genesis => write_genesis(&js, &stream_name, settings).await?,
        };
        let mut info = stream
            .info()
            .await
            .map_err(|e| setup("the event stream", e))?
            .clone();
        // Atomic batches make Consul transactions exact per key; servers before 2.12 lack them.
        if !info.config.allow_atomic_publish && supports_atomic_batches(&client) {
            let mut config = info.config.clone();
            config.allow_atomic_publish = true;
            match js.update_stream(config).await {
                Ok(updated) => info = updated,
                // A cluster mid-upgrade may refuse; transactions then use the single-event path.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot enable atomic batches on the event stream")
                }
            }
        }
        let atomic_batches = info.config.allow_atomic_publish;
        identity::write_marker(
            &marker_path,
            &identity::Marker {
                cluster_id: cluster_id.clone(),
                stream: stream_name.clone(),
                high_water: info.state.last_sequence,
                updated_at: chrono::Utc::now().to_rfc3339(),
            },
        )?;
        tracing::info!(cluster = %cluster_id, last_seq = info.state.last_sequence, "store identity verified");
        check_replicas(
            &format!("stream {stream_name}"),
            info.config.num_replicas,
            replicas,
        )?;

        let configs = bucket(&js, CONFIGS, replicas).await?;
        let namespaces = bucket(&js, NAMESPACES, replicas).await?;
        let services = bucket(&js, SERVICES, replicas).await?;
        let instances = bucket(&js, INSTANCES, replicas).await?;
        let leases = bucket(&js, LEASES, replicas).await?;
        let packages = objects::PackageStore::open(&js, PACKAGES_BUCKET, replicas)
            .await
            .map_err(|e| setup("the packages Object Store", e))?;
        let actual = packages
            .replicas()
            .await
            .map_err(|e| setup("the packages Object Store", e))?;
        check_replicas(&format!("object store {PACKAGES_BUCKET}"), actual, replicas)?;
        Ok(Self {
            atomic_batches,
            packages,
            services,
            instances,
            client,
            js,
            stream_name,
            cluster_id,
            configs,
            namespaces,
            leases,
        })
    }
}

/// What the stream holds before anything is created: existence, last sequence, genesis id.
pub async fn stream_facts(
    js: &jetstream::Context,
    name: &str,
) -> Result<identity::StreamFacts, BackboneError> {
    let mut stream = match js.get_stream(name).await {
        Ok(stream) => stream,
        Err(e) => {
            return match e.kind() {
                jetstream::context::GetStreamErrorKind::JetStream(j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                {
                    Ok(identity::StreamFacts {
                        exists: false,
                        last_seq: 0,
                        cluster_id: None,
                    })
                }
                _ => Err(setup("the event stream", e)),
            };
        }
    };
    let last_seq = stream
        .info()
        .await
        .map_err(|e| setup("the event stream", e))?
        .state
        .last_sequence;
    let cluster_id = match stream
        .get_first_raw_message_by_subject(identity::genesis_subject(), 1)
        .await
    {
        Ok(message) => serde_json::from_slice::<Envelope>(&message.payload)
            .ok()
            .and_then(|e| match e.body {
                Event::ClusterGenesis(g) => Some(g.cluster_id),
                _ => None,
            }),
        Err(_) => None,
    };
    Ok(identity::StreamFacts {
        exists: true,
        last_seq,
        cluster_id,
    })
}

/// Writes the genesis event with a new cluster id, unless another node just did (then its id).
async fn write_genesis(
    js: &jetstream::Context,
    stream_name: &str,
    settings: &Settings,
) -> Result<String, BackboneError> {
    let id = uuid::Uuid::new_v4().to_string();
    let envelope = Envelope::new(
        &format!("nacre/{}", settings.node_name()),
        "nacre",
        Event::ClusterGenesis(ClusterGenesis {
            cluster_id: id.clone(),
        }),
    );
    let log = EventLog::new(js.clone(), settings.nats.write_timeout);
    match log.append(&envelope, Expect::LastSubjectSequence(0)).await {
        Ok(_) => {
            tracing::info!(cluster = %id, "new installation: genesis event written");
            Ok(id)
        }
        Err(AppendError::Conflict) => {
            let facts = stream_facts(js, stream_name).await?;
            facts.cluster_id.ok_or_else(|| {
                setup(
                    "the genesis event",
                    "another node wrote one that cannot be read",
                )
            })
        }
        Err(e) => Err(setup("the genesis event", e)),
    }
}

/// A KV bucket Nacre keeps besides the stream: the views (a fold of the stream) and the leases
/// (ephemeral). Neither holds anything the stream does not, so `nacre rebuild` may drop and
/// recreate them.
#[derive(Debug, Clone, Copy)]
pub struct BucketSpec {
    pub name: &'static str,
    description: &'static str,
    max_age: Duration,
}

pub const CONFIGS: BucketSpec = BucketSpec {
    name: CONFIGS_BUCKET,
    description: "Nacre config view",
    max_age: Duration::ZERO,
};
pub const NAMESPACES: BucketSpec = BucketSpec {
    name: NAMESPACES_BUCKET,
    description: "Nacre namespace view",
    max_age: Duration::ZERO,
};
pub const SERVICES: BucketSpec = BucketSpec {
    name: SERVICES_BUCKET,
    description: "Nacre service view",
    max_age: Duration::ZERO,
};
pub const INSTANCES: BucketSpec = BucketSpec {
    name: INSTANCES_BUCKET,
    description: "Nacre instance view",
    max_age: Duration::ZERO,
};
pub const LEASES: BucketSpec = BucketSpec {
    name: LEASES_BUCKET,
    description: "Nacre leases",
    max_age: LEASE_TTL,
};
/// The view buckets, then the leases.
pub const BUCKETS: [BucketSpec; 5] = [CONFIGS, NAMESPACES, SERVICES, INSTANCES, LEASES];

fn bucket_config(spec: BucketSpec, replicas: usize) -> kv::Config {
    kv::Config {
        bucket: spec.name.to_owned(),
        description: spec.description.to_owned(),
        history: 1,
        max_age: spec.max_age,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    }
}

/// Opens a bucket, creating it if it is missing, and checks its placement.
async fn bucket(
    js: &jetstream::Context,
    spec: BucketSpec,
    replicas: usize,
) -> Result<kv::Store, BackboneError> {
    let name = spec.name;
    let store = match js.get_key_value(name).await {
        Ok(store) => store,
        Err(_) => js
            .create_key_value(bucket_config(spec, replicas))
            .await
            .map_err(|e| setup(&format!("bucket {name}"), e))?,
    };
    let status = store
        .status()
        .await
        .map_err(|e| setup(&format!("bucket {name}"), e))?;
    check_replicas(
        &format!("bucket {name}"),
        status.info.config.num_replicas,
        replicas,
    )?;
    Ok(store)
}

/// Drops a bucket and creates it empty: what repairs one whose stream state went wrong.
pub async fn recreate_bucket(
    js: &jetstream::Context,
    spec: BucketSpec,
    replicas: usize,
) -> Result<kv::Store, String> {
    let _ = js.delete_key_value(spec.name).await;
    js.create_key_value(bucket_config(spec, replicas))
        .await
        .map_err(|e| format!("bucket {}: {e}", spec.name))
}

fn check_replicas(what: &str, actual: usize, wanted: usize) -> Result<(), BackboneError> {
    if actual < wanted {
        return Err(BackboneError::WeakPlacement {
            what: what.to_owned(),
            actual,
            wanted,
        });
    }
    Ok(())
}

fn setup(what: &str, e: impl std::fmt::Display) -> BackboneError {
    BackboneError::Setup {
        what: what.to_owned(),
        reason: e.to_string(),
    }
}
