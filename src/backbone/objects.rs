//! Writing package bytes into the JetStream Object Store, in its standard format (chunks on
//! `$O.<bucket>.C.<nuid>`, metadata on `$O.<bucket>.M.<base64url(name)>` with a subject rollup),
//! so `nats object get` and every client library read them.
//!
//! Nacre writes chunks itself rather than through async-nats' `put`, for two reasons: it owns the
//! chunk id, so a write that fails midway purges exactly its own chunks (no orphans); and the
//! metadata is published only after the upload event is durable, so the index and the store
//! never disagree about a finished upload. Chunk acks are pipelined.

use std::collections::VecDeque;
use std::path::Path;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, object_store, stream};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use bytes::BytesMut;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::core::event::PackageUploaded;

/// Chunk size Nacre writes (the Object Store default is 128 KiB; larger chunks mean fewer acks).
pub const CHUNK_SIZE: usize = 512 * 1024;
/// Chunk publishes awaiting their ack at once.
const CHUNKS_IN_FLIGHT: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("cannot read the spooled upload: {0}")]
    Read(std::io::Error),
    #[error("the Object Store did not take the bytes: {0}")]
    Store(String),
}

/// A handle on the packages bucket and its stream.
#[derive(Clone)]
pub struct PackageStore {
    pub js: jetstream::Context,
    pub bucket: String,
    pub store: object_store::ObjectStore,
    stream: stream::Stream,
}

impl PackageStore {
    /// Opens (or creates) the bucket at the given replicas.
    pub async fn open(
        js: &jetstream::Context,
        bucket: &str,
        replicas: usize,
    ) -> Result<Self, String> {
        let store = match js.get_object_store(bucket).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: bucket.to_owned(),
                    description: Some("Nacre packages (os/object/version/name)".into()),
                    storage: stream::StorageType::File,
                    num_replicas: replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?,
        };
        let stream = js
            .get_stream(format!("OBJ_{bucket}"))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            js: js.clone(),
            bucket: bucket.to_owned(),
            store,
            stream,
        })
    }

    pub async fn replicas(&self) -> Result<usize, String> {
        Ok(self
            .stream
            .get_info()
            .await
            .map_err(|e| e.to_string())?
            .config
            .num_replicas)
    }

    fn chunk_subject(&self, nuid: &str) -> String {
        format!("$O.{}.C.{nuid}", self.bucket)
    }
}

/// Where an object's chunks went, and what they hash to.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkedObject {
    pub nuid: String,
    pub chunks: u64,
    pub chunk_size: u64,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// The Object Store's digest header for a hex SHA-256.
pub fn digest_header(sha256_hex: &str) -> String {
    let bytes = hex::decode(sha256_hex).unwrap_or_default();
    format!("SHA-256={}", URL_SAFE.encode(bytes))
}

/// Writes a file's bytes as chunks under a new id. On any failure the chunks written so far are
/// purged before the error is returned.
pub async fn write_chunks(store: &PackageStore, path: &Path) -> Result<ChunkedObject, ObjectError> {
    let nuid = uuid::Uuid::new_v4().simple().to_string();
    match write_chunks_as(store, path, &nuid).await {
        Ok(object) => Ok(object),
        Err(e) => {
            purge_chunks(store, &nuid).await;
            Err(e)
        }
    }
}

async fn write_chunks_as(
    store: &PackageStore,
    path: &Path,
    nuid: &str,
) -> Result<ChunkedObject, ObjectError> {
    let subject = store.chunk_subject(nuid);
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(ObjectError::Read)?;
    let mut sha = Sha256::new();
    let (mut size, mut chunks) = (0u64, 0u64);
    let mut in_flight = VecDeque::new();
    loop {
        let mut buffer = BytesMut::with_capacity(CHUNK_SIZE);
        while buffer.len() < CHUNK_SIZE {
            if file
                .read_buf(&mut buffer)
                .await
                .map_err(ObjectError::Read)?
                == 0
            {
                break;
            }
        }
        if buffer.is_empty() {
            break;
        }
        let chunk = buffer.freeze();
        sha.update(&chunk);
        size += chunk.len() as u64;
        chunks += 1;
        let ack = store
            .js
            .publish(subject.clone(), chunk)
            .await
            .map_err(|e| ObjectError::Store(e.to_string()))?;
        in_flight.push_back(ack);
        if in_flight.len() >= CHUNKS_IN_FLIGHT
            && let Some(oldest) = in_flight.pop_front()
        {
            oldest
                .await
                .map_err(|e| ObjectError::Store(e.to_string()))?;
        }
    }
    for ack in in_flight {
        ack.await.map_err(|e| ObjectError::Store(e.to_string()))?;
    }
    Ok(ChunkedObject {
        nuid: nuid.to_owned(),
        chunks,
        chunk_size: CHUNK_SIZE as u64,
        size,
        sha256: hex::encode(sha.finalize()),
    })
}

/// Purges one object's chunks; failures are logged (the bytes are unreferenced either way).
pub async fn purge_chunks(store: &PackageStore, nuid: &str) {
    if let Err(e) = store.stream.purge().filter(store.chunk_subject(nuid)).await {
        tracing::warn!(nuid, error = %e, "could not purge unreferenced package chunks");
    }
}

/// Publishes the object's metadata, making the chunks readable under `name`.
pub async fn publish_meta(
    store: &PackageStore,
    name: &str,
    info: &PackageUploaded,
) -> Result<(), ObjectError> {
    let meta = serde_json::json!({
        "name": name,
        "description": info.description,
        "bucket": store.bucket,
        "nuid": info.nuid,
        "size": info.size,
        "chunks": info.chunks,
        "mtime": chrono::Utc::now().to_rfc3339(),
        "digest": digest_header(&info.sha256),
        "options": {"max_chunk_size": info.chunk_size},
        "metadata": {"sha256": info.sha256, "type": info.kind, "content-type": info.content_type},
    });
    let subject = format!("$O.{}.M.{}", store.bucket, URL_SAFE.encode(name));
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Rollup", "sub");
    let payload = serde_json::to_vec(&meta).map_err(|e| ObjectError::Store(e.to_string()))?;
    store
        .js
        .publish_with_headers(subject, headers, payload.into())
        .await
        .map_err(|e| ObjectError::Store(e.to_string()))?
        .await
        .map_err(|e| ObjectError::Store(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_header_is_base64url_of_the_raw_digest() {
        let hex_digest = hex::encode(Sha256::digest(b"hello"));
        assert_eq!(
            digest_header(&hex_digest),
            "SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
        );
    }
}
