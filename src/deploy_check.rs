//! `nacre check-compose`: proves that a Docker Compose deployment keeps its data on persistent
//! volumes — seed 000's outage (a volume mounted at `/nats` while JetStream wrote to
//! `/data/jetstream`) caught by a machine instead of an audit — and that `docker compose down -v`
//! cannot take the store and the proof that it existed together (seed 001's outage).
//!
//! For every service it works out where data is written — a NATS server's `store_dir` (read from
//! the config file the service mounts), a Nacre node's data directory (`NACRE_DATA_DIR`, else the
//! image's `/var/lib/nacre`), its identity marker (`NACRE_IDENTITY_DIR`, else the data
//! directory) and its backups (`NACRE_BACKUP_DIR`, else `<data-dir>/backups`) — and checks:
//! * every store and data directory lies under a volume (a named one; a bind mount persists too,
//!   outside Compose's care, and is a warning);
//! * the identity marker lies on a mount `down -v` keeps (a bind mount or an external volume),
//!   so a deleted store volume is refused at start instead of replaced by an empty store;
//! * backups on a mount `down -v` deletes are a warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

/// Nacre's data directory inside its image (compose/Dockerfile).
pub const IMAGE_DATA_DIR: &str = "/var/lib/nacre";

/// One mount of a service: source (volume name or host path) and target.
#[derive(Debug, Clone, PartialEq)]
struct Mount {
    source: String,
    target: String,
    named_volume: bool,
    /// Survives `docker compose down -v`: a bind mount or an external volume.
    survives_down_v: bool,
}

/// What a compose file does wrong (problems) and what deserves a look (warnings).
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

/// Checks one compose file.
pub fn check_compose(path: &Path) -> Result<Report, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut doc: Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    doc.apply_merge()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    // Declared volumes, and whether each is external (Compose never deletes those).
    let declared: BTreeMap<String, bool> = doc
        .get("volumes")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let external = v.get("external").and_then(Value::as_bool) == Some(true);
                    Some((k.as_str()?.to_owned(), external))
                })
                .collect()
        })
        .unwrap_or_default();
    let services = doc
        .get("services")
        .and_then(Value::as_mapping)
        .ok_or_else(|| format!("{}: no services", path.display()))?;
    let mut report = Report::default();
    for (name, service) in services {
        let name = name.as_str().unwrap_or("?");
        let mounts = mounts(service, &declared);
        let listed = || {
            if mounts.is_empty() {
                "none".to_owned()
            } else {
                mounts
                    .iter()
                    .map(|m| format!("{}:{}", m.source, m.target))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        for dir in data_dirs(service, &mounts, base)? {
            let what = &dir.what;
            let path = &dir.path;
            match (dir.kind, covering(&mounts, path)) {
                (_, None) => report.problems.push(format!(
                    "service {name}: {what} {path} is not on any volume: it is lost whenever the container is recreated (mounts: {})",
                    listed()
                )),
                (DirKind::Store, Some(m)) if !m.named_volume => report.warnings.push(format!(
                    "service {name}: {what} {path} is on a bind mount of {}: it persists as long as that host path does",
                    m.source
                )),
                (DirKind::Identity, Some(m)) if !m.survives_down_v => report.problems.push(format!(
                    "service {name}: {what} {path} is on volume {}, which `docker compose down -v` deletes together with the store: \
                     a lost store would then start fresh silently. Put it on a bind mount or an external volume",
                    m.source
                )),
                (DirKind::Backups, Some(m)) if !m.survives_down_v => report.warnings.push(format!(
                    "service {name}: {what} {path} is on volume {}, which `docker compose down -v` deletes together with the store",
                    m.source
                )),
                _ => {}
            }
        }
    }
    Ok(report)
}

/// The mount whose target contains `dir`.
fn covering<'a>(mounts: &'a [Mount], dir: &str) -> Option<&'a Mount> {
    let dir = dir.trim_end_matches('/');
    mounts
        .iter()
        .filter(|m| {
            let t = m.target.trim_end_matches('/');
            dir == t || dir.starts_with(&format!("{t}/"))
        })
        .max_by_key(|m| m.target.len())
}

fn mounts(service: &Value, declared: &BTreeMap<String, bool>) -> Vec<Mount> {
    let mut out = Vec::new();
    for v in service
        .get("volumes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let (source, target) = match v {
            Value::String(short) => {
                let mut parts = short.split(':');
                match (parts.next(), parts.next()) {
                    (Some(src), Some(dst)) => (src.to_owned(), dst.to_owned()),
                    (Some(dst), None) => (String::new(), dst.to_owned()),
                    _ => continue,
                }
            }
            long => (
                long.get("source")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                long.get("target")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            ),
        };
        let named_volume = !source.is_empty() && declared.contains_key(&source);
        let bind = source.starts_with('.') || source.starts_with('/') || source.starts_with('~');
        let external = declared.get(&source).copied().unwrap_or(false);
        out.push(Mount {
            source,
            target,
            named_volume,
            survives_down_v: bind || external,
        });
    }
    out
}

fn environment(service: &Value) -> BTreeMap<String, String> {
    match service.get("environment") {
        Some(Value::Mapping(m)) => m
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    k.as_str()?.to_owned(),
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| yaml_scalar(v)),
                ))
            })
            .collect(),
        Some(Value::Sequence(list)) => list
            .iter()
            .filter_map(|e| {
                e.as_str()?
                    .split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn yaml_scalar(v: &Value) -> String {
    serde_yaml::to_string(v)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirKind {
    /// A JetStream store or a Nacre data directory.
    Store,
    Identity,
    Backups,
}

/// A directory a service writes: what it is, its path in the container.
struct DataDir {
    kind: DirKind,
    what: String,
    path: String,
}

fn dir(kind: DirKind, what: &str, path: String) -> DataDir {
    DataDir {
        kind,
        what: what.to_owned(),
        path,
    }
}

/// Where a service writes data.
fn data_dirs(service: &Value, mounts: &[Mount], base: &Path) -> Result<Vec<DataDir>, String> {
    let image = service.get("image").and_then(Value::as_str).unwrap_or("");
    let command = yaml_scalar(service.get("command").unwrap_or(&Value::Null));
    let is_nats =
        image.starts_with("nats") || command.contains("nats.conf") || command.contains("-js");
    let is_nacre = service.get("build").is_some() || image.contains("nacre");
    let mut out = Vec::new();
    if is_nats {
        let conf = mounts
            .iter()
            .find(|m| m.target.ends_with(".conf") && !m.named_volume);
        let store = match conf {
            Some(m) => {
                let host: PathBuf = base.join(&m.source);
                let text = std::fs::read_to_string(&host)
                    .map_err(|e| format!("{}: {e}", host.display()))?;
                match store_dir(&text) {
                    Some(d) => dir(DirKind::Store, "JetStream store_dir", d),
                    None => dir(
                        DirKind::Store,
                        "JetStream store (default, no store_dir in the config)",
                        "/tmp/nats/jetstream".to_owned(),
                    ),
                }
            }
            None => dir(
                DirKind::Store,
                "JetStream store (no config file mounted)",
                "/tmp/nats/jetstream".to_owned(),
            ),
        };
        out.push(store);
    }
    if is_nacre {
        let env = environment(service);
        let data = env
            .get("NACRE_DATA_DIR")
            .cloned()
            .unwrap_or_else(|| IMAGE_DATA_DIR.to_owned());
        let identity = env
            .get("NACRE_IDENTITY_DIR")
            .cloned()
            .unwrap_or_else(|| data.clone());
        let backups = env
            .get("NACRE_BACKUP_DIR")
            .cloned()
            .unwrap_or_else(|| format!("{}/backups", data.trim_end_matches('/')));
        out.push(dir(DirKind::Store, "Nacre data directory", data));
        out.push(dir(DirKind::Identity, "Nacre identity marker", identity));
        let backups_off = env.get("NACRE_BACKUP_INTERVAL").map(String::as_str) == Some("0");
        if !backups_off {
            out.push(dir(DirKind::Backups, "Nacre backups", backups));
        }
    }
    Ok(out)
}

/// The `store_dir` of a nats-server configuration.
pub fn store_dir(conf: &str) -> Option<String> {
    conf.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let rest = l.strip_prefix("store_dir")?.trim_start();
            let rest = rest
                .strip_prefix(':')
                .or_else(|| rest.strip_prefix('='))?
                .trim();
            let value = rest
                .trim_matches(|c| c == '"' || c == '\'')
                .split_whitespace()
                .next()?
                .trim_matches('"');
            Some(value.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_dir_is_read_in_any_spelling() {
        assert_eq!(
            store_dir("jetstream {\n  store_dir: /data/jetstream\n}"),
            Some("/data/jetstream".into())
        );
        assert_eq!(
            store_dir("jetstream {\n  store_dir = \"/x y\"\n}"),
            Some("/x".into())
        );
        assert_eq!(store_dir("# store_dir: /no\nlisten: 1"), None);
    }

    #[test]
    fn nested_targets_cover_their_subdirectories() {
        let m = vec![
            Mount {
                source: "v".into(),
                target: "/var/lib/nats".into(),
                named_volume: true,
                survives_down_v: false,
            },
            Mount {
                source: "./c.conf".into(),
                target: "/etc/nats/nats.conf".into(),
                named_volume: false,
                survives_down_v: true,
            },
        ];
        assert_eq!(
            covering(&m, "/var/lib/nats/jetstream").map(|m| m.source.as_str()),
            Some("v")
        );
        assert!(covering(&m, "/var/lib/natsX").is_none());
        assert!(covering(&m, "/data/jetstream").is_none());
    }
}
