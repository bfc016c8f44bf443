//! Packages: agent ("controller") and collector files per OS, object and version (seed 000).
//!
//! The bytes live in the packages Object Store under `os/object/version/name`; the index is the
//! fold of `nacre.package.*` events. An upload is spooled to disk and checked (size, checksum)
//! before anything reaches NATS, its chunks are written, then the event is appended, then the
//! object's metadata is published: a failure at any step leaves neither an index entry nor an
//! object behind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CoreError;
use super::event::{Event, PackageUploaded};

/// `os/object/version/name`: the Object Store key, as in the source documents.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PackageKey {
    pub os: String,
    pub object: String,
    pub version: String,
    pub name: String,
}

impl PackageKey {
    /// Validates each part: no path separators, no `..`, a safe character set.
    pub fn new(os: &str, object: &str, version: &str, name: &str) -> Result<Self, CoreError> {
        for (field, value) in [
            ("os", os),
            ("object", object),
            ("version", version),
            ("name", name),
        ] {
            part(field, value)?;
        }
        Ok(Self {
            os: os.into(),
            object: object.into(),
            version: version.into(),
            name: name.into(),
        })
    }

    /// Parses `os/object/version/name`.
    pub fn parse(key: &str) -> Result<Self, CoreError> {
        match key.split('/').collect::<Vec<_>>().as_slice() {
            [os, object, version, name] => Self::new(os, object, version, name),
            _ => Err(CoreError::invalid(
                "key",
                format!("package key must be os/object/version/name, not {key:?}"),
            )),
        }
    }

    pub fn path(&self) -> String {
        format!("{}/{}/{}/{}", self.os, self.object, self.version, self.name)
    }
}

fn part(field: &'static str, value: &str) -> Result<(), CoreError> {
    if value.is_empty() {
        return Err(CoreError::invalid(field, format!("{field} is required")));
    }
    if value.contains('/')
        || value.contains('\\')
        || value == "."
        || value == ".."
        || value.contains("..")
    {
        return Err(CoreError::invalid(
            field,
            format!("{field} must not contain path separators or '..': {value:?}"),
        ));
    }
    if value.len() > 200
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
    {
        return Err(CoreError::invalid(
            field,
            format!("{field} may only hold letters, digits, '.', '_', '-', '+': {value:?}"),
        ));
    }
    Ok(())
}

/// The two kinds of package the source documents name.
pub fn validate_kind(kind: &str) -> Result<(), CoreError> {
    if matches!(kind, "controller" | "collector") {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "type",
            format!("type must be controller or collector, not {kind:?}"),
        ))
    }
}

/// A package as the index holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageEntry {
    #[serde(flatten)]
    pub info: PackageUploaded,
    pub uploaded_at: i64,
    pub seq: u64,
}

impl PackageEntry {
    pub fn key(&self) -> PackageKey {
        PackageKey {
            os: self.info.os.clone(),
            object: self.info.object.clone(),
            version: self.info.version.clone(),
            name: self.info.name.clone(),
        }
    }
}

/// The package index: the fold of package events.
pub type PackageIndex = BTreeMap<PackageKey, PackageEntry>;

/// Folds a package event; returns the key it changed.
pub fn apply(index: &mut PackageIndex, seq: u64, time: i64, event: &Event) -> Option<PackageKey> {
    match event {
        Event::PackageUploaded(p) => {
            let key = PackageKey {
                os: p.os.clone(),
                object: p.object.clone(),
                version: p.version.clone(),
                name: p.name.clone(),
            };
            index.insert(
                key.clone(),
                PackageEntry {
                    info: p.clone(),
                    uploaded_at: time,
                    seq,
                },
            );
            Some(key)
        }
        Event::PackageDeleted(p) => {
            let key = PackageKey {
                os: p.os.clone(),
                object: p.object.clone(),
                version: p.version.clone(),
                name: p.name.clone(),
            };
            index.remove(&key);
            Some(key)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_refuse_path_tricks() {
        assert!(PackageKey::new("linux", "fusion-collectors", "1.2.0", "agent.tar.gz").is_ok());
        for (os, object, version, name) in [
            ("", "o", "1", "n"),
            ("linux", "../etc", "1", "n"),
            ("linux", "o", "1", "a/b"),
            ("linux", "o", "..", "n"),
            ("linux", "o", "1", "a\\\\b"),
            ("linux", "o", "1", "bad name"),
        ] {
            assert!(
                PackageKey::new(os, object, version, name).is_err(),
                "{os}/{object}/{version}/{name}"
            );
        }
        assert_eq!(
            PackageKey::parse("linux/o/1.0/n").unwrap().path(),
            "linux/o/1.0/n"
        );
        assert!(PackageKey::parse("linux/o/n").is_err());
    }

    #[test]
    fn kinds_are_controller_or_collector() {
        assert!(validate_kind("controller").is_ok() && validate_kind("collector").is_ok());
        assert!(validate_kind("agent").is_err());
    }
}
