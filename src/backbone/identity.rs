//! Wiped-store detection (DESIGN invariant 7: nothing starts fresh silently).
//!
//! Two records must agree at start-up:
//! * the **genesis event** at the head of the stream (`nacre.evt.sys.genesis`), naming the
//!   cluster id; written once, conditional on no event on its subject, so nodes racing on a new
//!   cluster agree on one id;
//! * each node's **identity marker**, `<data-dir>/nacre-identity.json`: that cluster id and the
//!   highest stream sequence this node has applied (refreshed every few seconds and on stop).
//!
//! A marker with a missing, empty, different or shorter stream means the store lost data: a wrong
//! volume mount, `docker compose down -v`, a wiped disk, an older backup restored. Nacre then
//! refuses to start, says what it saw and which runbook to follow, unless the operator passes
//! `--accept-empty-store`.
//!
//! The marker lives in `identity.dir`, which deployments keep off the store's volume, so losing
//! that volume cannot take the marker along. Without a marker, two other records still prove a
//! store existed: a backup in `backup.dir` (its manifest names the cluster and the stream's last
//! sequence) and `identity.expect-existing-store`. Only with none of the three is an empty store
//! a genuinely new installation; no marker and a populated stream is a node joining a cluster.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::event::SUBJECT_PREFIX;

/// Subject of the genesis event.
pub fn genesis_subject() -> String {
    format!("{SUBJECT_PREFIX}.sys.genesis")
}

/// The marker file's name inside the data directory.
pub const MARKER_FILE: &str = "nacre-identity.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    pub cluster_id: String,
    pub stream: String,
    pub high_water: u64,
    pub updated_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read the identity marker {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("cannot write the identity marker {path}: {reason}")]
    Unwritable { path: PathBuf, reason: String },
    #[error("{0}")]
    WipedStore(Box<StoreLoss>),
}

/// What a store that lost data looks like from this node, for the refusal message.
#[derive(Debug)]
pub struct StoreLoss {
    /// What says the store held more, and where that record is.
    pub evidence: String,
    /// What the stream is now.
    pub now: String,
}

impl std::fmt::Display for StoreLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "REFUSING TO START: the JetStream store lost data.\n  \
             {},\n  \
             but the stream now {}.\n  \
             The store was wiped or replaced: a wrong volume mount, `docker compose down -v`, a deleted volume,\n  \
             a wiped disk, or an older backup restored. Starting would serve an empty or outdated registry as if it were new.\n  \
             Follow runbooks/wiped-store.md: find the real store or restore the latest backup (`nacre restore`).\n  \
             Only if the loss is understood and accepted, start once with `nacre serve --accept-empty-store`.",
            self.evidence, self.now
        )
    }
}

/// The newest backup found in `backup.dir`: what its manifest says of the event stream.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSeen {
    pub path: String,
    pub cluster_id: Option<String>,
    pub last_seq: u64,
    pub created_at: String,
}

/// What says a store existed, besides the marker.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    pub newest_backup: Option<BackupSeen>,
    /// `identity.expect-existing-store`.
    pub expect_existing: bool,
}

/// What the stream looks like at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamFacts {
    pub exists: bool,
    pub last_seq: u64,
    /// The cluster id of the genesis event, if there is one.
    pub cluster_id: Option<String>,
}

/// What start-up should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// A new installation (or an accepted loss): write a genesis event with a new id.
    Genesis,
    /// Carry on with this cluster id (and write it to the marker).
    Continue(String),
}

/// The pure decision, unit-tested without NATS.
pub fn decide(
    marker: Option<&Marker>,
    marker_path: &Path,
    evidence: &Evidence,
    facts: &StreamFacts,
    accept_loss: bool,
) -> Result<Decision, IdentityError> {
    let genesis_or_adopt = || match &facts.cluster_id {
        Some(id) => Decision::Continue(id.clone()),
        None => Decision::Genesis,
    };
    let empty = if !facts.exists {
        Some("does not exist".to_owned())
    } else if facts.last_seq == 0 {
        Some("is empty".to_owned())
    } else {
        None
    };
    let other_cluster = |expected: &str| {
        facts
            .cluster_id
            .as_deref()
            .filter(|id| *id != expected)
            .map(|id| format!("belongs to another cluster ({id})"))
    };
    let shorter =
        |seen: u64| (facts.last_seq < seen).then(|| format!("ends at sequence {}", facts.last_seq));
    let loss = match marker {
        Some(m) => empty
            .or_else(|| other_cluster(&m.cluster_id))
            .or_else(|| shorter(m.high_water))
            .map(|now| {
                let evidence = format!(
                    "This node's identity marker ({}) last saw sequence {} of cluster {} in stream {} at {}",
                    marker_path.display(),
                    m.high_water,
                    m.cluster_id,
                    m.stream,
                    m.updated_at
                );
                (evidence, now)
            }),
        None => match &evidence.newest_backup {
            Some(b) if b.last_seq > 0 => {
                let same_cluster = b.cluster_id.is_none() || facts.cluster_id == b.cluster_id;
                empty
                    .or_else(|| if same_cluster { shorter(b.last_seq) } else { None })
                    .map(|now| {
                        let evidence = format!(
                            "There is no identity marker at {}, but the backup {} (made {}) holds sequence {} of cluster {}",
                            marker_path.display(),
                            b.path,
                            b.created_at,
                            b.last_seq,
                            b.cluster_id.as_deref().unwrap_or("?")
                        );
                        (evidence, now)
                    })
            }
            _ if evidence.expect_existing => empty.map(|now| {
                let evidence = format!(
                    "identity.expect-existing-store says this deployment has a store (and there is no identity marker at {})",
                    marker_path.display()
                );
                (evidence, now)
            }),
            _ => None,
        },
    };
    match loss {
        None => Ok(match (marker, &facts.cluster_id) {
            (Some(m), None) => Decision::Continue(m.cluster_id.clone()),
            _ => genesis_or_adopt(),
        }),
        Some((evidence, now)) if !accept_loss => {
            Err(IdentityError::WipedStore(Box::new(StoreLoss {
                evidence,
                now,
            })))
        }
        Some((_, now)) => {
            tracing::warn!(
                "the store lost data ({now}); continuing because --accept-empty-store was given"
            );
            Ok(genesis_or_adopt())
        }
    }
}

/// The marker file in an identity directory (`Settings::identity_dir`).
pub fn marker_path(identity_dir: &Path) -> PathBuf {
    identity_dir.join(MARKER_FILE)
}

pub fn read_marker(path: &Path) -> Result<Option<Marker>, IdentityError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| IdentityError::Unreadable {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IdentityError::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Writes the marker atomically (temporary file, fsync, rename).
pub fn write_marker(path: &Path, marker: &Marker) -> Result<(), IdentityError> {
    let fail = |e: &dyn std::fmt::Display| IdentityError::Unwritable {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(marker).map_err(|e| fail(&e))?;
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp).map_err(|e| fail(&e))?;
        file.write_all(&text).map_err(|e| fail(&e))?;
        file.sync_all().map_err(|e| fail(&e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(high_water: u64) -> Marker {
        Marker {
            cluster_id: "c1".into(),
            stream: "NACRE_EVENTS".into(),
            high_water,
            updated_at: "t".into(),
        }
    }

    fn facts(exists: bool, last_seq: u64, id: Option<&str>) -> StreamFacts {
        StreamFacts {
            exists,
            last_seq,
            cluster_id: id.map(String::from),
        }
    }

    const P: &str = "/data/nacre-identity.json";

    #[test]
    fn a_new_installation_starts_without_flags() {
        assert_eq!(
            decide(
                None,
                Path::new(P),
                &Evidence::default(),
                &facts(false, 0, None),
                false
            )
            .unwrap(),
            Decision::Genesis
        );
        assert_eq!(
            decide(
                None,
                Path::new(P),
                &Evidence::default(),
                &facts(true, 0, None),
                false
            )
            .unwrap(),
            Decision::Genesis
        );
    }

    #[test]
    fn a_new_node_joins_an_existing_cluster() {
        assert_eq!(
            decide(
                None,
                Path::new(P),
                &Evidence::default(),
                &facts(true, 50, Some("c1")),
                false
            )
            .unwrap(),
            Decision::Continue("c1".into())
        );
    }

    #[test]
    fn a_store_that_lost_data_is_refused_loudly() {
        for (f, said) in [
            (facts(false, 0, None), "does not exist"),
            (facts(true, 0, None), "is empty"),
            (facts(true, 10, Some("c1")), "ends at sequence 10"),
            (facts(true, 500, Some("c2")), "another cluster"),
        ] {
            let err = decide(
                Some(&marker(100)),
                Path::new(P),
                &Evidence::default(),
                &f,
                false,
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("REFUSING TO START") && err.contains(said),
                "{err}"
            );
            assert!(
                err.contains("runbooks/wiped-store.md") && err.contains("--accept-empty-store"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_healthy_store_continues_and_an_accepted_loss_starts_over() {
        assert_eq!(
            decide(
                Some(&marker(100)),
                Path::new(P),
                &Evidence::default(),
                &facts(true, 120, Some("c1")),
                false
            )
            .unwrap(),
            Decision::Continue("c1".into())
        );
        assert_eq!(
            decide(
                Some(&marker(100)),
                Path::new(P),
                &Evidence::default(),
                &facts(true, 0, None),
                true
            )
            .unwrap(),
            Decision::Genesis
        );
    }

    #[test]
    fn without_a_marker_a_backup_or_the_setting_still_proves_a_loss() {
        let backup = Evidence {
            newest_backup: Some(BackupSeen {
                path: "/backups/nacre-20261126T000000Z".into(),
                cluster_id: Some("c1".into()),
                last_seq: 40,
                created_at: "t".into(),
            }),
            expect_existing: false,
        };
        for (f, said) in [
            (facts(false, 0, None), "does not exist"),
            (facts(true, 0, None), "is empty"),
            (facts(true, 10, Some("c1")), "ends at sequence 10"),
        ] {
            let err = decide(None, Path::new(P), &backup, &f, false)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(said) && err.contains("/backups/nacre-20261126T000000Z"),
                "{err}"
            );
        }
        assert_eq!(
            decide(
                None,
                Path::new(P),
                &backup,
                &facts(true, 50, Some("c1")),
                false
            )
            .unwrap(),
            Decision::Continue("c1".into()),
            "a store at or past the backup is whole"
        );
        let expected = Evidence {
            newest_backup: None,
            expect_existing: true,
        };
        let err = decide(None, Path::new(P), &expected, &facts(false, 0, None), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expect-existing-store"), "{err}");
        assert_eq!(
            decide(None, Path::new(P), &expected, &facts(false, 0, None), true).unwrap(),
            Decision::Genesis,
            "an accepted loss starts over"
        );
    }

    #[test]
    fn markers_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = marker_path(dir.path());
        assert_eq!(read_marker(&path).unwrap(), None);
        write_marker(&path, &marker(7)).unwrap();
        assert_eq!(read_marker(&path).unwrap(), Some(marker(7)));
        std::fs::write(&path, "garbage").unwrap();
        assert!(
            read_marker(&path).is_err(),
            "a corrupt marker is an error, not a fresh start"
        );
    }
}
