//! `nacre check-compose`: proves that a Docker Compose deployment keeps its data on persistent
//! volumes — seed 000's outage (a volume mounted at `/nats` while JetStream wrote to
//! `/data/jetstream`) caught by a machine instead of an audit.
//!
//! For every service it works out where data is written — a NATS server's `store_dir` (read from
//! the config file the service mounts) and a Nacre node's data directory (`NACRE_DATA_DIR`, else
//! the image's `/var/lib/nacre`) — and requires that path to lie under a mount of a *named*
//! volume declared in the file. Bind mounts of host directories are reported too: they persist,
//! but outside Compose's care.

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
}

/// Problems found in one compose file (empty: every data directory persists).
pub fn check_compose(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut doc: Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    doc.apply_merge()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let declared: Vec<String> = doc
        .get("volumes")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let services = doc
        .get("services")
        .and_then(Value::as_mapping)
        .ok_or_else(|| format!("{}: no services", path.display()))?;
    let mut problems = Vec::new();
    for (name, service) in services {
        let name = name.as_str().unwrap_or("?");
        let mounts = mounts(service, &declared);
        for (what, dir) in data_dirs(service, &mounts, base)? {
            match covering(&mounts, &dir) {
                Some(m) if m.named_volume => {}
                Some(m) => problems.push(format!(
                    "service {name}: {what} {dir} is on a bind mount of {} — it persists only as long as that host path does",
                    m.source
                )),
                None => problems.push(format!(
                    "service {name}: {what} {dir} is not on any volume: it is lost whenever the container is recreated \
                     (mounts: {})",
                    if mounts.is_empty() { "none".to_owned() } else { mounts.iter().map(|m| format!("{}:{}", m.source, m.target)).collect::<Vec<_>>().join(", ") }
                )),
            }
        }
    }
    Ok(problems)
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

fn mounts(service: &Value, declared: &[String]) -> Vec<Mount> {
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
        let named_volume = !source.is_empty() && declared.contains(&source);
        out.push(Mount {
            source,
            target,
            named_volume,
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

/// Where a service writes data: (what, absolute path in the container).
fn data_dirs(
    service: &Value,
    mounts: &[Mount],
    base: &Path,
) -> Result<Vec<(String, String)>, String> {
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
        match conf {
            Some(m) => {
                let host: PathBuf = base.join(&m.source);
                let text = std::fs::read_to_string(&host)
                    .map_err(|e| format!("{}: {e}", host.display()))?;
                match store_dir(&text) {
                    Some(dir) => out.push(("JetStream store_dir".to_owned(), dir)),
                    None => out.push((
                        "JetStream store (default, no store_dir in the config)".to_owned(),
                        "/tmp/nats/jetstream".to_owned(),
                    )),
                }
            }
            None => out.push((
                "JetStream store (no config file mounted)".to_owned(),
                "/tmp/nats/jetstream".to_owned(),
            )),
        }
    }
    if is_nacre {
        let dir = environment(service)
            .get("NACRE_DATA_DIR")
            .cloned()
            .unwrap_or_else(|| IMAGE_DATA_DIR.to_owned());
        out.push(("Nacre data directory".to_owned(), dir));
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
            },
            Mount {
                source: "./c.conf".into(),
                target: "/etc/nats/nats.conf".into(),
                named_volume: false,
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
