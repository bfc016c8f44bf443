//! packages: the operations (reads from the read model, writes as events). Its
//! types and its part of the fold are `nacre_model::packages`.

use super::event::{Event, PackageRef, PackageUploaded};
use super::log::Expect;
use super::{Actor, Core, CoreError};
use crate::backbone::objects::{self, ChunkedObject};
pub use nacre_model::packages::*;
use std::path::Path;

/// What an upload carries besides its bytes.
#[derive(Debug, Clone)]
pub struct Upload {
    pub key: PackageKey,
    pub kind: String,
    pub content_type: String,
    pub description: String,
    pub overwrite: bool,
    /// The checksum the client claims, lower-case hex.
    pub expected_sha256: Option<String>,
}

/// A spooled upload: the file and what was measured on the way in.
pub struct Spooled<'a> {
    pub path: &'a Path,
    pub size: u64,
    pub sha256: String,
}

impl Core {
    pub fn list_packages(&self, filter: impl Fn(&PackageEntry) -> bool) -> Vec<PackageEntry> {
        self.model
            .read()
            .packages
            .values()
            .filter(|p| filter(p))
            .cloned()
            .collect()
    }

    pub fn get_package(&self, key: &PackageKey) -> Option<PackageEntry> {
        self.model.read().packages.get(key).cloned()
    }

    /// Refuses an upload before its bytes are read: bad metadata, or an existing key without
    /// the overwrite flag.
    pub fn check_upload(&self, upload: &Upload) -> Result<(), CoreError> {
        validate_kind(&upload.kind)?;
        if !upload.overwrite && self.get_package(&upload.key).is_some() {
            return Err(CoreError::Conflict(format!(
                "package {} already exists; upload with overwrite=true to replace it",
                upload.key.path()
            )));
        }
        Ok(())
    }

    /// Stores a spooled upload: chunks, event, object metadata, in that order.
    pub async fn store_package(
        &self,
        actor: &Actor,
        upload: Upload,
        spooled: Spooled<'_>,
    ) -> Result<PackageEntry, CoreError> {
        self.check_upload(&upload)?;
        if spooled.size == 0 {
            return Err(CoreError::invalid("file", "the package is empty"));
        }
        if let Some(expected) = &upload.expected_sha256
            && !expected.eq_ignore_ascii_case(&spooled.sha256)
        {
            return Err(CoreError::invalid(
                "sha256",
                format!(
                    "checksum mismatch: the client said {expected}, the bytes received hash to {}",
                    spooled.sha256
                ),
            ));
        }
        let store = self.objects()?;
        let unavailable = |e: objects::ObjectError| CoreError::Unavailable(e.to_string());
        let chunks: ChunkedObject = objects::write_chunks(&store, spooled.path)
            .await
            .map_err(unavailable)?;
        if chunks.sha256 != spooled.sha256 {
            objects::purge_chunks(&store, &chunks.nuid).await;
            return Err(CoreError::Unavailable(
                "the bytes changed between spooling and storing; retry".into(),
            ));
        }
        let key = upload.key.clone();
        let event = Event::PackageUploaded(PackageUploaded {
            os: key.os.clone(),
            object: key.object.clone(),
            version: key.version.clone(),
            name: key.name.clone(),
            kind: upload.kind,
            size: chunks.size,
            sha256: chunks.sha256.clone(),
            content_type: upload.content_type,
            description: upload.description,
            uploader: actor.describe(),
            nuid: chunks.nuid.clone(),
            chunks: chunks.chunks,
            chunk_size: chunks.chunk_size,
        });
        let previous = self.get_package(&key);
        let expect = Expect::LastSubjectSequence(self.package_subject_seq(&key));
        if let Err(e) = self.commit(actor, event, expect).await {
            objects::purge_chunks(&store, &chunks.nuid).await;
            return Err(match e {
                CoreError::Conflict(_) => CoreError::Conflict(format!(
                    "package {} changed during the upload; retry",
                    key.path()
                )),
                other => other,
            });
        }
        let entry = self
            .get_package(&key)
            .ok_or_else(|| CoreError::Unavailable("upload applied but not visible".into()))?;
        objects::publish_meta(&store, &key.path(), &entry.info)
            .await
            .map_err(unavailable)?;
        // Verify against what the Object Store now returns.
        let info = store
            .store
            .info(key.path())
            .await
            .map_err(|e| CoreError::Unavailable(e.to_string()))?;
        if info.digest.as_deref() != Some(objects::digest_header(&entry.info.sha256).as_str())
            || info.size as u64 != entry.info.size
        {
            return Err(CoreError::Unavailable(format!(
                "the Object Store does not hold {} as written",
                key.path()
            )));
        }
        if let Some(old) = previous.filter(|old| old.info.nuid != entry.info.nuid) {
            objects::purge_chunks(&store, &old.info.nuid).await;
        }
        Ok(entry)
    }

    /// Deletes a package: the event first (the index forgets it), then the bytes.
    pub async fn delete_package(&self, actor: &Actor, key: &PackageKey) -> Result<(), CoreError> {
        let entry = self
            .get_package(key)
            .ok_or_else(|| CoreError::NotFound(format!("package {} not found", key.path())))?;
        let event = Event::PackageDeleted(PackageRef {
            os: key.os.clone(),
            object: key.object.clone(),
            version: key.version.clone(),
            name: key.name.clone(),
        });
        self.commit(actor, event, Expect::LastSubjectSequence(entry.seq))
            .await?;
        let store = self.objects()?;
        if let Err(e) = store.store.delete(key.path()).await {
            tracing::warn!(package = %key.path(), error = %e, "package deleted from the index; its bytes remain until `nacre verify`");
        }
        Ok(())
    }

    /// Opens a package's bytes for reading.
    pub async fn open_package(
        &self,
        key: &PackageKey,
    ) -> Result<(PackageEntry, async_nats::jetstream::object_store::Object), CoreError> {
        let entry = self
            .get_package(key)
            .ok_or_else(|| CoreError::NotFound(format!("package {} not found", key.path())))?;
        let object = self
            .objects()?
            .store
            .get(key.path())
            .await
            .map_err(|e| CoreError::Unavailable(e.to_string()))?;
        Ok((entry, object))
    }

    fn package_subject_seq(&self, key: &PackageKey) -> u64 {
        self.model
            .read()
            .package_seqs
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    fn objects(&self) -> Result<crate::backbone::objects::PackageStore, CoreError> {
        self.packages
            .clone()
            .ok_or_else(|| CoreError::Unavailable("the packages Object Store is not open".into()))
    }
}
