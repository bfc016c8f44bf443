//! Scheduled backups (`backup.interval`, `backup.dir`, `backup.keep`): the whole store, as
//! `nacre backup` writes it (S2-compressed snapshots, a manifest with checksums), into a
//! timestamped directory. Each is written under a `.partial-` name, read back against its
//! manifest, then renamed into place, so a directory named `nacre-<time>` is always a whole,
//! checked backup that restores anywhere (`nacre restore DIR`). The newest `keep` are kept.
//!
//! Rounds start on wall-clock multiples of the interval on every node; the node that first
//! claims the round in the leases bucket takes it, so a cluster writes one backup per round.
//! A WARN, and a note in the readiness answer, say when the last good backup is older than
//! twice the interval.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;

use crate::core::readiness::Readiness;
use crate::metrics::Metrics;
use crate::settings::Settings;

/// What a round needs.
pub struct Schedule {
    pub settings: Settings,
    pub js: jetstream::Context,
    pub leases: kv::Store,
    pub node: String,
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
}

/// The name of a finished backup made at `time`.
fn backup_name(time: chrono::DateTime<chrono::Utc>) -> String {
    format!("nacre-{}", time.format("%Y%m%dT%H%M%SZ"))
}

impl Schedule {
    /// Runs for ever (returns at once when backups are off).
    pub async fn run(self) {
        let interval = self.settings.backup.interval;
        if interval.is_zero() {
            return;
        }
        let dir = self.settings.backup_dir();
        let mut last_success = super::snapshot::newest_backup(&dir).and_then(|b| {
            chrono::DateTime::parse_from_rfc3339(&b.created_at)
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc))
        });
        if let Some(t) = last_success {
            self.metrics.backup_last_success.set(t.timestamp());
        }
        let started = chrono::Utc::now();
        loop {
            tokio::time::sleep(until_next_round(interval)).await;
            if self.claim_round(interval).await {
                match self.back_up(&dir).await {
                    Ok((path, bytes)) => {
                        let now = chrono::Utc::now();
                        last_success = Some(now);
                        self.metrics.backup_last_success.set(now.timestamp());
                        self.metrics.backup_size.set(bytes as i64);
                        tracing::info!(path = %path.display(), bytes, "scheduled backup written and read back");
                        prune(&dir, self.settings.backup.keep);
                    }
                    Err(e) => {
                        self.metrics.backup_failures.inc();
                        tracing::error!(error = %e, dir = %dir.display(), "scheduled backup failed");
                    }
                }
            }
            let since = last_success.unwrap_or(started);
            let late = chrono::Utc::now() - since
                > chrono::Duration::from_std(interval * 2).unwrap_or_default();
            self.readiness.note(
                "backup",
                late.then(|| match last_success {
                    Some(t) => format!(
                        "the last good backup in {} was made at {t}, more than twice backup.interval ago",
                        dir.display()
                    ),
                    None => format!("no good backup in {} yet", dir.display()),
                }),
            );
        }
    }

    /// Whether this node takes the round starting now (the first node to claim it does).
    async fn claim_round(&self, interval: Duration) -> bool {
        let round = chrono::Utc::now().timestamp_millis() / interval.as_millis().max(1) as i64;
        self.leases
            .create(format!("backup.{round}"), Bytes::from(self.node.clone()))
            .await
            .is_ok()
    }

    /// Writes one backup under a partial name, checks it, renames it into place.
    async fn back_up(&self, dir: &Path) -> Result<(PathBuf, u64), String> {
        let now = chrono::Utc::now();
        let name = backup_name(now);
        let partial = dir.join(format!(".partial-{name}"));
        let _ = tokio::fs::remove_dir_all(&partial).await;
        super::snapshot::write_backup(&self.js, &self.settings, &partial, false).await?;
        let done = dir.join(&name);
        tokio::fs::rename(&partial, &done)
            .await
            .map_err(|e| format!("{}: {e}", done.display()))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok((done.clone(), size_of(&done)))
    }
}

/// Time until the next wall-clock multiple of `interval`.
fn until_next_round(interval: Duration) -> Duration {
    let interval_ms = interval.as_millis().max(1) as i64;
    let now = chrono::Utc::now().timestamp_millis();
    Duration::from_millis((interval_ms - now.rem_euclid(interval_ms)) as u64)
}

fn size_of(path: &Path) -> u64 {
    walk(path)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn walk(path: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                files.extend(walk(&p));
            } else {
                files.push(p);
            }
        }
    }
    files
}

/// Keeps the newest `keep` finished backups and drops leftovers of interrupted ones.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut finished = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".partial-") {
            let _ = std::fs::remove_dir_all(entry.path());
        } else if name.starts_with("nacre-") && entry.path().join("manifest.json").exists() {
            finished.push(name);
        }
    }
    finished.sort();
    let excess = finished.len().saturating_sub(keep.max(1));
    for name in finished.into_iter().take(excess) {
        if let Err(e) = std::fs::remove_dir_all(dir.join(&name)) {
            tracing::warn!(error = %e, backup = %name, "cannot remove an old backup");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_finished_backups_stay() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "nacre-20261126T010000Z",
            "nacre-20261126T020000Z",
            "nacre-20261126T030000Z",
            ".partial-nacre-20261126T040000Z",
        ] {
            std::fs::create_dir_all(dir.path().join(name)).unwrap();
            std::fs::write(dir.path().join(name).join("manifest.json"), "{}").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("unrelated")).unwrap();
        prune(dir.path(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "nacre-20261126T020000Z",
                "nacre-20261126T030000Z",
                "unrelated"
            ]
        );
    }

    #[test]
    fn rounds_start_on_multiples_of_the_interval() {
        let wait = until_next_round(Duration::from_secs(3600));
        assert!(wait <= Duration::from_secs(3600) && !wait.is_zero());
        assert_eq!(
            backup_name(chrono::DateTime::from_timestamp(0, 0).unwrap()),
            "nacre-19700101T000000Z"
        );
    }
}
