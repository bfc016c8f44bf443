//! `nacre serve`: wires the backbone, the core and the protocol adapters together, and takes them
//! down in order on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::backbone::{self, Backbone, supervisor};
use crate::core::model::Model;
use crate::core::{Core, CoreOptions, projector};
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
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

/// Runs Nacre until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let node = settings.node_name();
    let child = if settings.standalone() {
        Some(supervisor::start(&settings).await?)
    } else {
        None
    };
    let url = child
        .as_ref()
        .map_or_else(|| settings.nats.url.clone(), |c| c.url());
    let result = serve(&settings, &node, &url, shutdown).await;
    if let Some(child) = child {
        child.shutdown().await;
    }
    result
}

async fn serve(
    settings: &Settings,
    node: &str,
    url: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let connection = backbone::connect(settings, url).await?;
    let client = connection.client.clone();
    let backbone = Backbone::open(settings, client.clone()).await?;
    tracing::info!(stream = %backbone.stream_name, replicas = settings.nats.replicas, "event stream ready");

    let model = Arc::new(Model::new());
    let follower = tokio::spawn(model.clone().follow(
        backbone.js.clone(),
        backbone.stream_name.clone(),
        connection.connects.clone(),
    ));
    let projector = tokio::spawn(projector::run(
        backbone.clone(),
        model.clone(),
        node.to_owned(),
    ));
    let core = Core::new(
        model,
        backbone.js.clone(),
        backbone.stream_name.clone(),
        CoreOptions::from_settings(settings),
    );
    let beats = tokio::spawn(core.clone().follow_beats());
    let grace = tokio::spawn(core.clone().grace_on_reconnect(connection.connects.clone()));
    let checker = tokio::spawn(core.clone().check_liveness(settings.naming.check_interval));

    let addr = format!("{}:{}", settings.server.bind, settings.server.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Listen {
            addr: addr.clone(),
            source,
        })?;
    tracing::info!(node, "Nacre is serving the Nacos HTTP API on http://{addr}");
    let app = crate::nacos::router(core, settings.server.max_body_bytes);
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "HTTP server stopped with an error");
    }
    for task in [beats, grace, checker] {
        task.abort();
    }
    follower.abort();
    projector.abort();
    // Hand back the projector lease early so another node can take over at once.
    let _ = backbone.leases.delete("projector").await;
    let _ = client.drain().await;
    tracing::info!("Nacre stopped");
    Ok(())
}
