//! `nacre backup DIR` / `nacre restore DIR` over JetStream's snapshot and restore API, in the
//! on-disk format of `nats stream backup`: one directory per stream holding `backup.json`
//! (`{"config", "state"}`) and the snapshot bytes as the server sends them, named as the NATS CLI
//! (jsm.go) names them: `stream.arc.s2` from a 2.15 or newer server (its NATSARC1 archive),
//! `stream.tar.s2` from an older one (a tar). Either name restores, so either tool's backup
//! restores with either tool. Nacre adds `manifest.json` with message counts,
//! sequences and SHA-256 checksums, and checks them before restoring.
//!
//! Protocol (nats-server `jetstream_api.go`, jsm.go `snapshots.go`): the snapshot request names a
//! deliver subject; the server sends raw chunks, each (but possibly the last) with a reply subject
//! the client acks with an empty message, and ends with an empty message — status 204 up to
//! 2.11, no header from 2.12 (checked against 2.10.26, 2.12.8 and 2.15.1) — or an error status.
//! A restore request answers with a subject to which each chunk is sent as a request (an empty
//! reply accepts it); an empty request ends it and its reply is the new stream's info.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backbone::identity::{self, BackupSeen};
use crate::digest::sha256_file;
use crate::progress::Progress;
use crate::settings::Settings;

/// The snapshot file of a 2.15+ server (NATSARC1) and of an older one (tar), as jsm.go names them.
const ARC_FILE: &str = "stream.arc.s2";
const TAR_FILE: &str = "stream.tar.s2";

/// The snapshot file a server of `version` sends: the NATSARC1 archive from 2.15 on.
fn snapshot_file_for(version: &str) -> &'static str {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= (2, 15) {
        ARC_FILE
    } else {
        TAR_FILE
    }
}

/// The snapshot file in a stream's backup directory, under either name; both is refused, as the
/// NATS CLI refuses it.
fn snapshot_file(dir: &Path) -> Result<PathBuf, String> {
    let (arc, tar) = (dir.join(ARC_FILE), dir.join(TAR_FILE));
    match (arc.exists(), tar.exists()) {
        (true, true) => Err(format!(
            "{} holds both {ARC_FILE} and {TAR_FILE}",
            dir.display()
        )),
        (true, false) => Ok(arc),
        (false, true) => Ok(tar),
        (false, false) => Err(format!(
            "{} holds neither {ARC_FILE} nor {TAR_FILE}",
            dir.display()
        )),
    }
}

const CHUNK_SIZE: usize = 128 * 1024;
const RESTORE_CHUNK: usize = 64 * 1024;

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub created_at: String,
    /// The cluster id of the event stream's genesis event (absent in old backups).
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The event stream's name among `streams`.
    #[serde(default)]
    pub events_stream: String,
    pub streams: Vec<StreamEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StreamEntry {
    pub name: String,
    pub messages: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub snapshot_bytes: u64,
    pub snapshot_sha256: String,
    pub backup_json_sha256: String,
}

fn api_error(value: &Value) -> Option<String> {
    value.get("error").map(|e| {
        format!(
            "{} (code {}, err_code {})",
            e.get("description")
                .and_then(Value::as_str)
                .unwrap_or("error"),
            e.get("code").unwrap_or(&Value::Null),
            e.get("err_code").unwrap_or(&Value::Null)
        )
    })
}

/// Snapshots one stream into `dir/<stream>/`.
async fn snapshot(
    client: &async_nats::Client,
    stream: &str,
    dir: &Path,
    show: bool,
) -> Result<StreamEntry, String> {
    let target = dir.join(stream);
    tokio::fs::create_dir_all(&target)
        .await
        .map_err(|e| e.to_string())?;
    let inbox = client.new_inbox();
    // The server waits only briefly for interest: subscribe before asking.
    let mut chunks = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())?;
    let request = json!({"deliver_subject": inbox, "no_consumers": false, "chunk_size": CHUNK_SIZE, "jsck": false});
    let reply = client
        .request(
            format!("$JS.API.STREAM.SNAPSHOT.{stream}"),
            Bytes::from(request.to_string()),
        )
        .await
        .map_err(|e| format!("snapshot of {stream}: {e}"))?;
    let response: Value = serde_json::from_slice(&reply.payload).map_err(|e| e.to_string())?;
    if let Some(e) = api_error(&response) {
        return Err(format!("snapshot of {stream}: {e}"));
    }
    for stale in [ARC_FILE, TAR_FILE] {
        let _ = tokio::fs::remove_file(target.join(stale)).await;
    }
    let path = target.join(snapshot_file_for(&client.server_info().version));
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| e.to_string())?;
    let progress = Progress::new(&format!("backup {stream}"), None, show);
    let mut sha = Sha256::new();
    let mut size = 0u64;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), chunks.next())
            .await
            .map_err(|_| format!("snapshot of {stream}: no data for 30 s"))?
            .ok_or_else(|| format!("snapshot of {stream}: subscription closed"))?;
        if message.payload.is_empty() {
            // The end: status 204 up to 2.11, a bare empty message from 2.12 on; any other
            // status is the server's error.
            match message.status.map(|s| s.as_u16()) {
                None | Some(204) if size > 0 => break,
                status => {
                    return Err(format!(
                        "snapshot of {stream} failed: status {status:?} {}",
                        message.description.as_deref().unwrap_or("")
                    ));
                }
            }
        }
        sha.update(&message.payload);
        size += message.payload.len() as u64;
        progress.inc(message.payload.len() as u64);
        file.write_all(&message.payload)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(reply) = message.reply {
            client
                .publish(reply, Bytes::new())
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    file.flush().await.map_err(|e| e.to_string())?;
    file.sync_all().await.map_err(|e| e.to_string())?;
    progress.finish();
    let backup = json!({"config": response["config"], "state": response["state"]});
    let backup_text = serde_json::to_vec_pretty(&backup).map_err(|e| e.to_string())?;
    tokio::fs::write(target.join("backup.json"), &backup_text)
        .await
        .map_err(|e| e.to_string())?;
    let state = &response["state"];
    Ok(StreamEntry {
        name: stream.to_owned(),
        messages: state["messages"].as_u64().unwrap_or(0),
        first_seq: state["first_seq"].as_u64().unwrap_or(0),
        last_seq: state["last_seq"].as_u64().unwrap_or(0),
        snapshot_bytes: size,
        snapshot_sha256: hex::encode(sha.finalize()),
        backup_json_sha256: hex::encode(Sha256::digest(&backup_text)),
    })
}

/// `nacre backup DIR`: every stream Nacre owns (events, KV views, packages). A directory that
/// holds anything is refused unless `overwrite` (then emptied first).
pub async fn backup(
    settings: &Settings,
    dir: &Path,
    overwrite: bool,
    show: bool,
) -> Result<(), String> {
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        if !overwrite {
            return Err(format!(
                "{} is not empty: refusing to mix backups (pass --overwrite to replace its contents)",
                dir.display()
            ));
        }
        tokio::fs::remove_dir_all(dir)
            .await
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let nats = super::Nats::open(settings).await?;
    let written = write_backup(&nats.js, settings, dir, show).await;
    nats.close().await;
    let manifest = written?;
    for entry in &manifest.streams {
        println!(
            "{}: {} messages (seq {}..{}), {} bytes",
            entry.name, entry.messages, entry.first_seq, entry.last_seq, entry.snapshot_bytes
        );
    }
    println!("backup written to {} and read back", dir.display());
    Ok(())
}

/// Snapshots every stream Nacre owns into `dir`, writes the manifest, then reads every file
/// back against it.
pub async fn write_backup(
    js: &async_nats::jetstream::Context,
    settings: &Settings,
    dir: &Path,
    show: bool,
) -> Result<Manifest, String> {
    let client = js.client();
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let cluster_id = crate::backbone::stream_facts(js, &settings.nats.stream)
        .await
        .map_err(|e| e.to_string())?
        .cluster_id;
    let mut streams = Vec::new();
    for name in super::owned_streams(settings) {
        if js.get_stream(&name).await.is_err() {
            continue;
        }
        streams.push(snapshot(&client, &name, dir, show).await?);
    }
    let manifest = Manifest {
        created_at: chrono::Utc::now().to_rfc3339(),
        cluster_id,
        events_stream: settings.nats.stream.clone(),
        streams,
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    write_synced(&dir.join("manifest.json"), &text).await?;
    check_manifest(dir).await?;
    Ok(manifest)
}

async fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(bytes)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.sync_all()
        .await
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn read_manifest(dir: &Path) -> Result<Option<Manifest>, String> {
    let path = dir.join("manifest.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The stream directories of a backup with a manifest, each checked against its checksums.
pub async fn check_manifest(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let manifest =
        read_manifest(dir)?.ok_or_else(|| format!("{} has no manifest.json", dir.display()))?;
    let mut dirs = Vec::new();
    for entry in &manifest.streams {
        let stream_dir = dir.join(&entry.name);
        if sha256_file(&snapshot_file(&stream_dir)?, |_| {}).await? != entry.snapshot_sha256
            || sha256_file(&stream_dir.join("backup.json"), |_| {}).await?
                != entry.backup_json_sha256
        {
            return Err(format!(
                "the backup of {} in {} does not match its manifest checksums",
                entry.name,
                dir.display()
            ));
        }
        dirs.push(stream_dir);
    }
    Ok(dirs)
}

/// The newest backup (with a manifest) directly under `dir`, as the identity check reads it.
pub fn newest_backup(dir: &Path) -> Option<BackupSeen> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let manifest = read_manifest(&e.path()).ok()??;
            let events = if manifest.events_stream.is_empty() {
                "NACRE_EVENTS"
            } else {
                manifest.events_stream.as_str()
            };
            let last_seq = manifest
                .streams
                .iter()
                .find(|s| s.name == events)
                .map_or(0, |s| s.last_seq);
            Some(BackupSeen {
                path: e.path().display().to_string(),
                cluster_id: manifest.cluster_id,
                last_seq,
                created_at: manifest.created_at,
            })
        })
        .max_by(|a, b| a.created_at.cmp(&b.created_at))
}

/// Streams to restore: those of the manifest (checked), else every `<dir>/*/backup.json`
/// (a backup made by `nats stream backup`).
async fn backed_up_streams(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if dir.join("manifest.json").exists() {
        return check_manifest(dir)
            .await
            .map_err(|e| format!("{e}: refusing to restore it"));
    }
    let mut dirs = Vec::new();
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    while let Some(entry) = entries.next_entry().await.map_err(|e| e.to_string())? {
        if entry.path().join("backup.json").exists() {
            dirs.push(entry.path());
        }
    }
    if dir.join("backup.json").exists() {
        dirs.push(dir.to_path_buf());
    }
    dirs.sort();
    Ok(dirs)
}

/// Restores one stream from a `backup.json` + snapshot directory.
async fn restore_stream(
    js: &async_nats::jetstream::Context,
    dir: &Path,
    replicas: usize,
    overwrite: bool,
    show: bool,
) -> Result<String, String> {
    let client = js.client();
    let mut backup: Value = serde_json::from_slice(
        &tokio::fs::read(dir.join("backup.json"))
            .await
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("{}: {e}", dir.join("backup.json").display()))?;
    let name = backup["config"]["name"]
        .as_str()
        .ok_or("backup.json has no config.name")?
        .to_owned();
    // Place it at this cluster's replica count.
    backup["config"]["num_replicas"] = json!(replicas);
    if js.get_stream(&name).await.is_ok() {
        if !overwrite {
            return Err(format!(
                "stream {name} already exists: refusing to overwrite it (pass --overwrite to replace it)"
            ));
        }
        js.delete_stream(&name)
            .await
            .map_err(|e| format!("cannot delete {name}: {e}"))?;
    }
    let reply = client
        .request(
            format!("$JS.API.STREAM.RESTORE.{name}"),
            Bytes::from(backup.to_string()),
        )
        .await
        .map_err(|e| format!("restore of {name}: {e}"))?;
    let response: Value = serde_json::from_slice(&reply.payload).map_err(|e| e.to_string())?;
    if let Some(e) = api_error(&response) {
        return Err(format!("restore of {name}: {e}"));
    }
    let deliver = response["deliver_subject"]
        .as_str()
        .ok_or("the restore response has no deliver_subject")?
        .to_owned();
    let mut file = tokio::fs::File::open(snapshot_file(dir)?)
        .await
        .map_err(|e| e.to_string())?;
    let size = file.metadata().await.map(|m| m.len()).ok();
    let progress = Progress::new(&format!("restore {name}"), size, show);
    let mut buf = vec![0u8; RESTORE_CHUNK];
    loop {
        let n = file.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        let ack = client
            .request(deliver.clone(), Bytes::copy_from_slice(&buf[..n]))
            .await
            .map_err(|e| format!("restore of {name}: {e}"))?;
        if !ack.payload.is_empty() {
            return Err(format!(
                "restore of {name} refused a chunk: {}",
                String::from_utf8_lossy(&ack.payload)
            ));
        }
        progress.inc(n as u64);
    }
    let done = client
        .send_request(
            deliver,
            async_nats::Request::new()
                .payload(Bytes::new())
                .timeout(Some(Duration::from_secs(3600))),
        )
        .await
        .map_err(|e| format!("restore of {name}: {e}"))?;
    progress.finish();
    let info: Value = serde_json::from_slice(&done.payload).map_err(|e| e.to_string())?;
    if let Some(e) = api_error(&info) {
        return Err(format!("restore of {name}: {e}"));
    }
    Ok(format!(
        "{name}: {} messages (last seq {})",
        info["state"]["messages"], info["state"]["last_seq"]
    ))
}

/// `nacre restore DIR`: onto the same or a new, empty cluster. Existing streams are refused
/// unless `overwrite`. Afterwards the identity marker records what was restored, so `serve`
/// starts on it without flags: restoring is the operator's decision about what the store holds.
pub async fn restore(
    settings: &Settings,
    dir: &Path,
    overwrite: bool,
    show: bool,
) -> Result<(), String> {
    let dirs = backed_up_streams(dir).await?;
    if dirs.is_empty() {
        return Err(format!("{} holds no stream backups", dir.display()));
    }
    let nats = super::Nats::open(settings).await?;
    if settings.standalone() && !nats.owns_server() {
        nats.close().await;
        return Err(format!(
            "Nacre is running on {}: stop it, then restore (a running node would go on with the store it had)",
            settings.data_dir.display()
        ));
    }
    let restored = restore_streams(&nats.js, settings, &dirs, overwrite, show).await;
    nats.close().await;
    let marker = restored?;
    println!(
        "restored; the identity marker {} now records cluster {} at sequence {}. Start Nacre, then run `nacre verify`",
        identity::marker_path(&settings.identity_dir()).display(),
        marker.cluster_id,
        marker.high_water
    );
    Ok(())
}

async fn restore_streams(
    js: &async_nats::jetstream::Context,
    settings: &Settings,
    dirs: &[PathBuf],
    overwrite: bool,
    show: bool,
) -> Result<identity::Marker, String> {
    // Refuse before restoring anything when a stream exists and overwrite was not asked for.
    if !overwrite {
        for d in dirs {
            let backup: Value = serde_json::from_slice(
                &tokio::fs::read(d.join("backup.json"))
                    .await
                    .map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            if let Some(name) = backup["config"]["name"].as_str()
                && js.get_stream(name).await.is_ok()
            {
                return Err(format!(
                    "stream {name} already exists: refusing to overwrite it (pass --overwrite to replace it)"
                ));
            }
        }
    }
    for d in dirs {
        println!(
            "{}",
            restore_stream(js, d, settings.nats.replicas, overwrite, show).await?
        );
    }
    let facts = crate::backbone::stream_facts(js, &settings.nats.stream)
        .await
        .map_err(|e| e.to_string())?;
    let cluster_id = facts.cluster_id.ok_or_else(|| {
        format!(
            "the restored {} has no genesis event: is this a backup of Nacre's streams?",
            settings.nats.stream
        )
    })?;
    let marker = identity::Marker {
        cluster_id,
        stream: settings.nats.stream.clone(),
        high_water: facts.last_seq,
        updated_at: chrono::Utc::now().to_rfc3339(),
    };
    identity::write_marker(&identity::marker_path(&settings.identity_dir()), &marker)
        .map_err(|e| e.to_string())?;
    Ok(marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_named_as_the_nats_cli_names_them() {
        assert_eq!(snapshot_file_for("2.10.26"), TAR_FILE);
        assert_eq!(snapshot_file_for("2.12.8"), TAR_FILE);
        assert_eq!(snapshot_file_for("2.15.1"), ARC_FILE);
        assert_eq!(snapshot_file_for("2.16.0-beta.1"), ARC_FILE);
        assert_eq!(snapshot_file_for("3.0.0"), ARC_FILE);
        let dir = tempfile::tempdir().unwrap();
        assert!(snapshot_file(dir.path()).is_err());
        std::fs::write(dir.path().join(TAR_FILE), b"x").unwrap();
        assert_eq!(
            snapshot_file(dir.path()).unwrap(),
            dir.path().join(TAR_FILE)
        );
        std::fs::write(dir.path().join(ARC_FILE), b"x").unwrap();
        assert!(snapshot_file(dir.path()).is_err(), "both is ambiguous");
    }
}
