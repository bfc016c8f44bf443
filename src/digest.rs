//! SHA-256 of files, the one way every command checks bytes (package pushes, backup manifests).

use std::path::Path;

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

/// Lower-case hex SHA-256 of a file, reporting progress in bytes read.
pub async fn sha256_file(path: &Path, mut progress: impl FnMut(u64)) -> Result<String, String> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        progress(n as u64);
    }
    Ok(hex::encode(sha.finalize()))
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_a_file_and_reports_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        let mut seen = 0;
        let digest = super::sha256_file(&path, |n| seen += n).await.unwrap();
        assert_eq!(
            (digest.as_str(), seen),
            (
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
                5
            )
        );
        assert!(
            super::sha256_file(&dir.path().join("missing"), |_| {})
                .await
                .is_err()
        );
    }
}
