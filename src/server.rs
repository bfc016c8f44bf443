//! `nacre serve`: wires the backbone, the core and the protocol adapters together, and takes them
//! down in order on shutdown.

use std::future::Future;
use std::sync::Arc;

use crate::backbone::identity::{self, Marker};
use crate::backbone::lock::DataDirLock;
use crate::backbone::{self, Backbone, supervisor};
use crate::core::cluster::NodeInfo;
use crate::core::model::Model;
use crate::core::{Core, CoreOptions, projector};
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Lock(#[from] crate::backbone::lock::LockError),
    #[error(transparent)]
    Supervisor(#[from] supervisor::SupervisorError),
    #[error(transparent)]
    Backbone(#[from] backbone::BackboneError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// Runs Nacre until `shutdown` resolves. `accept_loss` is `--accept-empty-store`.
pub async fn run(
    settings: Settings,
    accept_loss: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let node = settings.node_name();
    // The one line that says what is starting, before anything can fail.
    tracing::info!(
        version = crate::VERSION,
        commit = crate::COMMIT,
        mode = if settings.standalone() { "standalone" } else { "cluster" },
        node,
        http_port = settings.server.port,
        grpc_port = settings.grpc_port(),
        consul_port = settings.server.consul_port,
        data_dir = %settings.data_dir.display(),
        nats = %if settings.standalone() { "own nats-server".into() } else { without_credentials(&settings.nats.url) },
        "starting Nacre {} ({})",
        crate::VERSION,
        crate::COMMIT
    );
    // One process per data directory, for the whole life of this one.
    let _lock = DataDirLock::acquire(&settings.data_dir)?;
    let child = if settings.standalone() {
        Some(supervisor::start(&settings).await?)
    } else {
        None
    };
    let url = child
        .as_ref()
        .map_or_else(|| settings.nats.url.clone(), |c| c.url());
    let result = serve(&settings, &node, &url, accept_loss, shutdown).await;
    if let Some(child) = child {
        child.shutdown().await;
    }
    result
}

/// A NATS URL list as it may be logged: `nats://user:secret@host` shows as `nats://host`.
fn without_credentials(urls: &str) -> String {
    urls.split(',')
        .map(|url| match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}{}", &url[..scheme + 3], &url[at + 1..])
            }
            _ => url.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

async fn serve(
    settings: &Settings,
    node: &str,
    url: &str,
    accept_loss: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let connection = backbone::connect(settings, url).await?;
    let client = connection.client.clone();
    let evidence = identity::Evidence {
        newest_backup: crate::recovery::snapshot::newest_backup(&settings.backup_dir()),
        expect_existing: settings.identity.expect_existing_store,
    };
    let backbone = Backbone::open(settings, client.clone(), url, &evidence, accept_loss).await?;
    tracing::info!(stream = %backbone.stream_name, replicas = settings.nats.replicas, "event stream ready");

    let model = Arc::new(Model::new());
    let follower = tokio::spawn(model.clone().follow(
        backbone.js.clone(),
        backbone.stream_name.clone(),
        connection.connects.clone(),
    ));
    let readiness = Arc::new(crate::core::readiness::Readiness::default());
    let mut core = Core::new(
        model,
        backbone.js.clone(),
        backbone.stream_name.clone(),
        CoreOptions::from_settings(settings),
    );
    core.packages = Some(backbone.packages.clone());
    core.atomic_batches = backbone.atomic_batches;
    core.access = Arc::new(crate::access::Access::new(&settings.auth));
    core.readiness = readiness.clone();
    let projector = tokio::spawn(projector::run(
        backbone.clone(),
        core.model.clone(),
        node.to_owned(),
        readiness,
        core.metrics.clone(),
    ));
    core.console.setup(crate::console::Setup {
        node: node.to_owned(),
        js: backbone.js.clone(),
        stream_name: backbone.stream_name.clone(),
        replicas: settings.nats.replicas,
        tracing: settings.otel.enabled,
    });
    let console_peers = tokio::spawn(crate::console::peers::serve(core.clone()));
    let beats = tokio::spawn(core.clone().follow_beats());
    let renewals = tokio::spawn(core.clone().follow_renewals());
    let grace = tokio::spawn(core.clone().grace_on_reconnect(connection.connects.clone()));
    let checker = tokio::spawn(core.clone().check_liveness(settings.naming.check_interval));
    let host = if settings.server.bind == "0.0.0.0" || settings.server.bind == "::" {
        crate::settings::hostname()
    } else {
        settings.server.bind.clone()
    };
    let me = NodeInfo {
        name: node.to_owned(),
        address: format!("{host}:{}", settings.server.port),
        datacenter: settings.node.datacenter.clone(),
        region: settings.node.region.clone(),
        zone: settings.node.zone.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: chrono::Utc::now().timestamp_millis(),
        seen_at: 0,
        applied: 0,
    };
    let backups = tokio::spawn(
        crate::recovery::schedule::Schedule {
            settings: settings.clone(),
            js: backbone.js.clone(),
            leases: backbone.leases.clone(),
            node: node.to_owned(),
            metrics: core.metrics.clone(),
            readiness: core.readiness.clone(),
        }
        .run(),
    );
    let presence = tokio::spawn(core.clone().keep_presence(
        backbone.leases.clone(),
        me,
        std::time::Duration::from_secs(2),
    ));
    let marker = Marker {
        cluster_id: backbone.cluster_id.clone(),
        stream: backbone.stream_name.clone(),
        high_water: 0,
        updated_at: String::new(),
    };
    let marker_path = identity::marker_path(&settings.identity_dir());
    let high_water = tokio::spawn(keep_high_water(
        core.model.clone(),
        marker.clone(),
        marker_path.clone(),
    ));

    let addr = format!("{}:{}", settings.server.bind, settings.server.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Listen {
            addr: addr.clone(),
            source,
        })?;
    tracing::info!(node, "Nacre is serving the Nacos HTTP API on http://{addr}");
    let spool_dir = std::path::absolute(settings.data_dir.join("uploads"))
        .unwrap_or_else(|_| settings.data_dir.join("uploads"));
    let shared = Arc::new(core.clone());
    let timeouts = crate::http_serve::Timeouts {
        header_read: settings.server.header_read_timeout,
        body_read: settings.server.body_read_timeout,
    };
    // Validated with the settings; a bad list never gets this far.
    let trusted = Arc::new(
        crate::client_addr::TrustedProxies::parse(&settings.server.trusted_proxies)
            .unwrap_or_default(),
    );
    let edge = crate::http_serve::Edge {
        metrics: core.metrics.clone(),
        trusted,
    };
    let app = crate::telemetry::traced(
        crate::nacos::router(shared.clone(), settings.server.max_body_bytes).merge(
            crate::packages::router(
                shared.clone(),
                spool_dir,
                settings.packages.max_bytes,
                settings.server.max_body_bytes,
            ),
        ),
    )
    .layer(axum::middleware::from_fn_with_state(
        edge.clone(),
        crate::http_serve::edge,
    ));
    // The Nacos gRPC SDK protocol on HTTP port + 1000 (or server.grpc-port), stopped with the rest.
    let (consul_stop, consul_stopped) = tokio::sync::watch::channel(false);
    let grpc = {
        let addr = format!("{}:{}", settings.server.bind, settings.grpc_port());
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| ServeError::Listen {
                addr: addr.clone(),
                source,
            })?;
        tracing::info!("serving the Nacos gRPC SDK protocol on {addr}");
        let mut stopped = consul_stopped.clone();
        let grpc = crate::nacos::grpc::Grpc::new(core.clone());
        core.console.attach_grpc(grpc.connections.clone());
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = grpc.serve(listener, shutdown).await {
                tracing::error!(error = %e, "gRPC server stopped with an error");
            }
        })
    };
    let consul = if settings.server.consul_port != 0 {
        let addr = format!("{}:{}", settings.server.bind, settings.server.consul_port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| ServeError::Listen {
                addr: addr.clone(),
                source,
            })?;
        tracing::info!("serving the Consul HTTP API on http://{addr}");
        let router = crate::telemetry::traced(crate::consul::router(
            core.clone(),
            format!("{host}:{}", settings.server.consul_port),
        ))
        .layer(axum::middleware::from_fn_with_state(
            edge,
            crate::http_serve::edge,
        ));
        core.console
            .attach_consul(settings.server.consul_port, router.clone());
        let mut stopped = consul_stopped;
        let probes = tokio::spawn(crate::consul::probes::run(core.clone(), node.to_owned()));
        Some(tokio::spawn(async move {
            crate::http_serve::serve(listener, router, timeouts, async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
            probes.abort();
        }))
    } else {
        None
    };
    let console = core.console.clone();
    let shutdown = async move {
        shutdown.await;
        // The console's event streams never end by themselves.
        console.stop();
    };
    crate::http_serve::serve(listener, app, timeouts, shutdown).await;
    let _ = consul_stop.send(true);
    if let Some(consul) = consul {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), consul).await;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), grpc).await;
    for task in [
        beats,
        renewals,
        grace,
        checker,
        high_water,
        presence,
        backups,
        console_peers,
    ] {
        task.abort();
    }
    record_high_water(&core.model, &marker, &marker_path);
    follower.abort();
    projector.abort();
    // Hand back the projector lease early so another node can take over at once.
    let _ = backbone.leases.delete("projector").await;
    let _ = client.drain().await;
    tracing::info!("Nacre stopped");
    Ok(())
}

/// Records the highest applied sequence in the identity marker, so a later start can tell a
/// store that lost data from one that did not.
fn record_high_water(model: &Model, marker: &Marker, path: &std::path::Path) {
    let applied = model.applied();
    if applied == 0 {
        return;
    }
    let current = Marker {
        high_water: applied,
        updated_at: chrono::Utc::now().to_rfc3339(),
        ..marker.clone()
    };
    if let Err(e) = identity::write_marker(path, &current) {
        tracing::error!(error = %e, "cannot record the high-water mark");
    }
}

async fn keep_high_water(model: Arc<Model>, marker: Marker, path: std::path::PathBuf) {
    let mut written = 0;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tick.tick().await;
        if model.applied() > written {
            written = model.applied();
            record_high_water(&model, &marker, &path);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn logged_nats_urls_carry_no_credentials() {
        assert_eq!(
            super::without_credentials("nats://nacre:s3cret@a:4222,tls://b:4222,nats://tok@c"),
            "nats://a:4222,tls://b:4222,nats://c"
        );
    }
}
