//! Disaster-recovery commands that talk to NATS directly: `status`, `verify`, `rebuild`,
//! `backup`, `restore`. They take the same settings as `serve` (a standalone data directory, or
//! an external NATS URL and credentials).

pub mod schedule;
pub mod snapshot;
pub mod status;
pub mod verify;

use std::path::Path;

use crate::backbone;
use crate::backbone::lock::{DataDirLock, LockError};
use crate::backbone::supervisor::{self, NatsChild};
use crate::settings::Settings;

/// The NATS a recovery command works on: `nats.url` when set; in standalone mode the running
/// node's nats-server when `serve` holds the data directory; otherwise a nats-server started here
/// on the data directory's store, under the data-directory lock, and stopped when the command
/// ends. So every command works on a standalone data directory whether Nacre runs or not.
pub struct Nats {
    pub client: async_nats::Client,
    pub js: async_nats::jetstream::Context,
    /// The lock and the nats-server this command started, if it started one.
    own: Option<(DataDirLock, NatsChild)>,
}

impl Nats {
    pub async fn open(settings: &Settings) -> Result<Self, String> {
        let (url, own) = if !settings.nats.url.is_empty() {
            (settings.nats.url.clone(), None)
        } else {
            match DataDirLock::acquire(&settings.data_dir) {
                Ok(lock) => {
                    let child = supervisor::start(settings)
                        .await
                        .map_err(|e| e.to_string())?;
                    (child.url(), Some((lock, child)))
                }
                Err(LockError::Held { .. }) => (running_node_url(settings)?, None),
                Err(e) => return Err(e.to_string()),
            }
        };
        let connection = backbone::connect(settings, &url)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            js: async_nats::jetstream::new(connection.client.clone()),
            client: connection.client,
            own,
        })
    }

    /// Whether this command runs its own nats-server (no `serve` runs on the data directory).
    pub fn owns_server(&self) -> bool {
        self.own.is_some()
    }

    /// Ends the command's use of NATS: flushes, and stops a nats-server it started.
    pub async fn close(self) {
        // Drained first, so stopping the server is not reported as a lost connection.
        let _ = self.client.drain().await;
        if let Some((lock, child)) = self.own {
            child.shutdown().await;
            drop(lock);
        }
    }
}

/// The running standalone node's nats-server, from the configuration it wrote at its start.
fn running_node_url(settings: &Settings) -> Result<String, String> {
    let conf = settings.data_dir.join("nats-server.conf");
    let text = std::fs::read_to_string(&conf).map_err(|e| {
        format!(
            "a Nacre process holds {} but {} cannot be read: {e}",
            settings.data_dir.display(),
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

/// Names of every stream Nacre owns: the events and the buckets' streams.
pub fn owned_streams(settings: &Settings) -> Vec<String> {
    vec![
        settings.nats.stream.clone(),
        format!("KV_{}", backbone::CONFIGS_BUCKET),
        format!("KV_{}", backbone::NAMESPACES_BUCKET),
        format!("KV_{}", backbone::SERVICES_BUCKET),
        format!("KV_{}", backbone::INSTANCES_BUCKET),
        format!("OBJ_{}", backbone::PACKAGES_BUCKET),
    ]
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}
