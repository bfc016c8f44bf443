//! Disaster-recovery commands that talk to NATS directly: `verify`, `rebuild`, `backup`,
//! `restore`. They need only the NATS URL and credentials (from the same settings as `serve`).

pub mod snapshot;
pub mod verify;

use std::path::Path;

use crate::backbone;
use crate::settings::Settings;

/// The NATS URL a command should use: `nats.url`, or the running standalone child's port.
pub fn nats_url(settings: &Settings) -> Result<String, String> {
    if !settings.nats.url.is_empty() {
        return Ok(settings.nats.url.clone());
    }
    let conf = settings.data_dir.join("nats-server.conf");
    let text = std::fs::read_to_string(&conf).map_err(|_| {
        format!(
            "no nats.url is set and {} does not exist: start `nacre serve` (standalone) first, or pass --nats-url",
            conf.display()
        )
    })?;
    let listen = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("listen:")
                .map(|v| v.trim().to_owned())
        })
        .ok_or_else(|| format!("{} has no listen address", conf.display()))?;
    Ok(format!("nats://{listen}"))
}

/// A JetStream context for a recovery command.
pub async fn connect(settings: &Settings) -> Result<async_nats::jetstream::Context, String> {
    let url = nats_url(settings)?;
    let connection = backbone::connect(settings, &url)
        .await
        .map_err(|e| e.to_string())?;
    Ok(async_nats::jetstream::new(connection.client))
}

/// Names of every stream Nacre owns: the events and the buckets' streams.
pub fn owned_streams(settings: &Settings) -> Vec<String> {
    vec![
        settings.nats.stream.clone(),
        format!("KV_{}", backbone::CONFIGS_BUCKET),
        format!("KV_{}", backbone::NAMESPACES_BUCKET),
        format!("KV_{}", backbone::SERVICES_BUCKET),
        format!("OBJ_{}", backbone::PACKAGES_BUCKET),
    ]
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}
