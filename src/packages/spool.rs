//! Receiving an upload onto disk: streamed (Nacre's memory stays flat whatever the size),
//! hashed on the way in, capped at the configured size, and removed if anything goes wrong.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// A spooled file, deleted when dropped.
pub struct SpoolFile {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the package is larger than the limit of {0} bytes (packages.max-bytes)")]
    TooLarge(u64),
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error("cannot spool the upload: {0}")]
    Disk(std::io::Error),
}

/// Writes `body` to a new file under `dir`, hashing it; at most `max` bytes.
pub async fn spool<S, E>(dir: &Path, mut body: S, max: u64) -> Result<SpoolFile, SpoolError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(SpoolError::Disk)?;
    let path = dir.join(format!("{}.part", uuid::Uuid::new_v4().simple()));
    // From here the guard removes the file on every early return.
    let mut spooled = SpoolFile {
        path,
        size: 0,
        sha256: String::new(),
    };
    let mut file = tokio::fs::File::create(&spooled.path)
        .await
        .map_err(SpoolError::Disk)?;
    let mut sha = Sha256::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| SpoolError::Interrupted(e.to_string()))?;
        spooled.size += chunk.len() as u64;
        if spooled.size > max {
            return Err(SpoolError::TooLarge(max));
        }
        sha.update(&chunk);
        file.write_all(&chunk).await.map_err(SpoolError::Disk)?;
    }
    file.flush().await.map_err(SpoolError::Disk)?;
    spooled.sha256 = hex::encode(sha.finalize());
    Ok(spooled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(
        parts: Vec<Result<&'static [u8], &'static str>>,
    ) -> impl Stream<Item = Result<Bytes, &'static str>> + Unpin {
        futures::stream::iter(parts.into_iter().map(|p| p.map(Bytes::from_static)))
    }

    #[tokio::test]
    async fn spools_and_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let s = spool(dir.path(), body(vec![Ok(b"hel"), Ok(b"lo")]), 10)
            .await
            .unwrap();
        assert_eq!(
            (s.size, s.sha256.as_str()),
            (
                5,
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
            )
        );
        let path = s.path.clone();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        drop(s);
        assert!(!path.exists(), "removed when dropped");
    }

    #[tokio::test]
    async fn interrupted_or_oversized_uploads_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            spool(dir.path(), body(vec![Ok(b"abc"), Err("reset")]), 10).await,
            Err(SpoolError::Interrupted(_))
        ));
        assert!(matches!(
            spool(dir.path(), body(vec![Ok(b"abcdef"), Ok(b"ghijkl")]), 10).await,
            Err(SpoolError::TooLarge(10))
        ));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
