//! `nacre check-compose`: proves that a Docker Compose deployment keeps its data on persistent
//! volumes — a real outage had a volume mounted at `/nats` while JetStream wrote to
//! `/data/jetstream`; a machine catches that instead of an audit — and that `docker compose down
//! -v` cannot take the store and the proof that it existed together (another real outage).
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
//!
//! `nacre check-k8s` does the same for Kubernetes manifests (below, `check_k8s`).
//!
//! One file on purpose: `check-compose` and `check-k8s` apply the same rules (store on a volume
//! that persists, identity apart from it) and print one kind of report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

/// Nacre's data directory inside its image (the Dockerfile at the repository root).
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
    covering_by(mounts, dir, |m| &m.target)
}

/// Of mounts (compose or Kubernetes), the innermost one whose target contains `dir`.
fn covering_by<'a, M>(mounts: &'a [M], dir: &str, target: impl Fn(&M) -> &str) -> Option<&'a M> {
    let dir = dir.trim_end_matches('/');
    mounts
        .iter()
        .filter(|m| {
            let t = target(m).trim_end_matches('/');
            dir == t || dir.starts_with(&format!("{t}/"))
        })
        .max_by_key(|m| target(m).len())
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
        // The file the command names (`-c`/`--config`), else the first mounted .conf file.
        let named = config_arg(&command_words(service.get("command")));
        let conf = mounts
            .iter()
            .filter(|m| m.target.ends_with(".conf") && !m.named_volume)
            .find(|m| named.as_deref().is_none_or(|n| n == m.target))
            .or_else(|| {
                mounts
                    .iter()
                    .find(|m| m.target.ends_with(".conf") && !m.named_volume)
            });
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

/// A compose `command` (or a container's `command` + `args`) as words.
fn command_words(command: Option<&Value>) -> Vec<String> {
    match command {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Sequence(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The configuration file a nats-server command line names (`-c F`, `--config F`, `-c=F`).
fn config_arg(words: &[String]) -> Option<String> {
    words.iter().enumerate().find_map(|(i, w)| {
        for flag in ["-c", "--config", "-config"] {
            if w == flag {
                return words.get(i + 1).cloned();
            }
            if let Some(v) = w.strip_prefix(&format!("{flag}=")) {
                return Some(v.to_owned());
            }
        }
        None
    })
}

/// The `store_dir` of a nats-server configuration, in any of its spellings: `store_dir: /x`,
/// `store_dir = "/x"`, or JSON (`"store_dir": "/x"`, as the official NATS Helm chart writes it,
/// possibly several keys on one line).
pub fn store_dir(conf: &str) -> Option<String> {
    conf.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with("//"))
        .find_map(|l| {
            let at = l.find("store_dir")?;
            let rest = l[at + "store_dir".len()..]
                .trim_start_matches(['"', '\''])
                .trim_start();
            let rest = rest
                .strip_prefix(':')
                .or_else(|| rest.strip_prefix('='))?
                .trim_start();
            let value = match rest.strip_prefix(['"', '\'']) {
                Some(quoted) => quoted.split(['"', '\'']).next()?,
                None => rest
                    .split(|c: char| c.is_whitespace() || c == ',' || c == '}')
                    .next()?,
            };
            (!value.is_empty()).then(|| value.to_owned())
        })
}

// ---------------------------------------------------------------------------------------------
// `nacre check-k8s`: the same proof for Kubernetes manifests (what `helm template` renders).
//
// For every workload (StatefulSet, Deployment, DaemonSet, ReplicaSet, Job, CronJob, Pod) and
// each of its containers, it works out the same directories as for compose — a nats-server's
// `store_dir` (from the ConfigMap mounted where `--config` points), a Nacre container's data
// directory (the JetStream store when it runs standalone, i.e. without `NACRE_NATS_URL`), its
// identity marker and its backups — and checks:
// * every JetStream store lies on a PersistentVolumeClaim (a hostPath is a warning: it persists
//   on one node only; an emptyDir or no volume at all is the outage of seed 000);
// * the identity marker lies on a claim, and not on the store's own claim: a deleted PVC must
//   not take the store and the proof that it existed together (seed 001's `down -v`, as
//   `kubectl delete pvc`);
// * backups off a claim, or on the store's claim, are a warning;
// * a standalone Nacre (its own store in the pod) runs as one replica.
// ---------------------------------------------------------------------------------------------

/// Where a Kubernetes volume keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keeps {
    /// A PersistentVolumeClaim (named, or from a StatefulSet's claim template): outlives pods.
    Claim,
    /// A directory of the node (hostPath): outlives the pod on that node only.
    Node,
    /// Gone with the pod (emptyDir, or a kind this check does not know).
    Pod,
}

struct K8sMount {
    target: String,
    /// Which volume: the claim (template) name for claims, the volume name otherwise.
    source: String,
    keeps: Keeps,
}

/// Checks the manifests of one multi-document YAML text (the output of `helm template`).
pub fn check_k8s(text: &str) -> Result<Report, String> {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| e.to_string())?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    let config_maps: BTreeMap<&str, &Value> = docs
        .iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some("ConfigMap"))
        .filter_map(|d| Some((d.get("metadata")?.get("name")?.as_str()?, d.get("data")?)))
        .collect();
    let mut report = Report::default();
    let mut workloads = 0;
    for doc in &docs {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = doc
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        let spec = doc.get("spec");
        let pod = match kind {
            "Pod" => spec,
            "StatefulSet" | "Deployment" | "DaemonSet" | "ReplicaSet" | "Job" => spec
                .and_then(|s| s.get("template"))
                .and_then(|t| t.get("spec")),
            "CronJob" => spec
                .and_then(|s| s.get("jobTemplate"))
                .and_then(|j| j.get("spec"))
                .and_then(|s| s.get("template"))
                .and_then(|t| t.get("spec")),
            _ => None,
        };
        let Some(pod) = pod else { continue };
        workloads += 1;
        let replicas = spec
            .and_then(|s| s.get("replicas"))
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let templates: Vec<&str> = spec
            .and_then(|s| s.get("volumeClaimTemplates"))
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("metadata")?.get("name")?.as_str())
            .collect();
        let what = format!("{kind} {name}");
        for container in pod
            .get("containers")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let cname = container.get("name").and_then(Value::as_str).unwrap_or("?");
            let who = format!("{what}, container {cname}");
            let mounts = k8s_mounts(pod, container, &templates);
            let env = k8s_env(container, &config_maps);
            let image = container.get("image").and_then(Value::as_str).unwrap_or("");
            let image_name = image.rsplit('/').next().unwrap_or(image);
            let is_nacre =
                image_name.starts_with("nacre") || env.keys().any(|k| k.starts_with("NACRE_"));
            // The nats-server image itself (not nats-box, not the config reloader).
            let base = image_name.split([':', '@']).next().unwrap_or("");
            let is_nats = !is_nacre && (base == "nats" || base == "nats-server");
            let mut dirs = Vec::new();
            if is_nats {
                let mut words = command_words(container.get("command"));
                words.extend(command_words(container.get("args")));
                let conf = config_arg(&words).ok_or_else(|| {
                    format!("{who}: a nats-server without --config: its store cannot be found")
                })?;
                let text =
                    k8s_config_file(pod, container, &config_maps, &conf).ok_or_else(|| {
                        format!("{who}: {conf} is not in a ConfigMap of these manifests")
                    })?;
                let store = store_dir(&text).unwrap_or_else(|| "/tmp/nats/jetstream".to_owned());
                dirs.push(dir(DirKind::Store, "JetStream store_dir", store));
            }
            if is_nacre {
                let standalone = env
                    .get("NACRE_NATS_URL")
                    .is_none_or(|u| u.trim().is_empty());
                let data = env
                    .get("NACRE_DATA_DIR")
                    .cloned()
                    .unwrap_or_else(|| IMAGE_DATA_DIR.to_owned());
                if standalone {
                    if replicas > 1 {
                        report.problems.push(format!(
                            "{who}: a standalone Nacre (no NACRE_NATS_URL: its own JetStream store) with {replicas} replicas: each would hold a store of its own. Run one, or point them at a NATS cluster"
                        ));
                    }
                    dirs.push(dir(
                        DirKind::Store,
                        "JetStream store of the standalone Nacre",
                        format!("{}/jetstream", data.trim_end_matches('/')),
                    ));
                }
                let identity = env
                    .get("NACRE_IDENTITY_DIR")
                    .cloned()
                    .unwrap_or_else(|| data.clone());
                dirs.push(dir(DirKind::Identity, "Nacre identity marker", identity));
                if env.get("NACRE_BACKUP_INTERVAL").map(String::as_str) != Some("0") {
                    let backups = env
                        .get("NACRE_BACKUP_DIR")
                        .cloned()
                        .unwrap_or_else(|| format!("{}/backups", data.trim_end_matches('/')));
                    dirs.push(dir(DirKind::Backups, "Nacre backups", backups));
                }
            }
            let on = |path: &str| covering_by(&mounts, path, |m| &m.target);
            let store_sources: Vec<&str> = dirs
                .iter()
                .filter(|d| d.kind == DirKind::Store)
                .filter_map(|d| on(&d.path))
                .filter(|m| m.keeps == Keeps::Claim)
                .map(|m| m.source.as_str())
                .collect();
            for d in &dirs {
                let (what, path) = (&d.what, &d.path);
                match (d.kind, on(path)) {
                    (DirKind::Store | DirKind::Identity, None) => report.problems.push(format!(
                        "{who}: {what} {path} is on no volume: it is lost whenever the pod is replaced"
                    )),
                    (DirKind::Store | DirKind::Identity, Some(m)) if m.keeps == Keeps::Pod => {
                        report.problems.push(format!(
                            "{who}: {what} {path} is on volume {}, which goes with the pod: put it on a PersistentVolumeClaim",
                            m.source
                        ))
                    }
                    (DirKind::Store | DirKind::Identity, Some(m)) if m.keeps == Keeps::Node => {
                        report.warnings.push(format!(
                            "{who}: {what} {path} is on the hostPath volume {}: it persists on that node only",
                            m.source
                        ))
                    }
                    (DirKind::Identity, Some(m)) if store_sources.contains(&m.source.as_str()) => {
                        report.problems.push(format!(
                            "{who}: {what} {path} is on {}, the JetStream store's own claim: deleting that PVC would take the store and the proof that it existed together, and Nacre would start fresh silently. Give it a claim of its own",
                            m.source
                        ))
                    }
                    (DirKind::Backups, None) => report.warnings.push(format!(
                        "{who}: {what} {path} are on no volume: they go with the pod"
                    )),
                    (DirKind::Backups, Some(m)) if m.keeps != Keeps::Claim => report.warnings.push(format!(
                        "{who}: {what} {path} are on volume {}, which is not a PersistentVolumeClaim",
                        m.source
                    )),
                    (DirKind::Backups, Some(m)) if store_sources.contains(&m.source.as_str()) => {
                        report.warnings.push(format!(
                            "{who}: {what} {path} are on {}, the store's own claim: a deleted PVC takes both",
                            m.source
                        ))
                    }
                    _ => {}
                }
            }
        }
    }
    if workloads == 0 {
        return Err("no workload (StatefulSet, Deployment, Pod, ...) in these manifests".into());
    }
    Ok(report)
}

/// A container's mounts, each with what its volume keeps.
fn k8s_mounts(pod: &Value, container: &Value, templates: &[&str]) -> Vec<K8sMount> {
    let volumes: Vec<&Value> = pod
        .get("volumes")
        .and_then(Value::as_sequence)
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    container
        .get("volumeMounts")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let name = m.get("name")?.as_str()?;
            let target = m.get("mountPath")?.as_str()?.to_owned();
            let volume = volumes
                .iter()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(name));
            let (keeps, source) = match volume {
                None if templates.contains(&name) => {
                    (Keeps::Claim, format!("claim template {name}"))
                }
                Some(v) => match v
                    .get("persistentVolumeClaim")
                    .and_then(|c| c.get("claimName"))
                    .and_then(Value::as_str)
                {
                    Some(claim) => (Keeps::Claim, format!("claim {claim}")),
                    None if v.get("hostPath").is_some() => (Keeps::Node, name.to_owned()),
                    None => (Keeps::Pod, name.to_owned()),
                },
                // A mount of a volume the pod does not define: no volume at all.
                None => return None,
            };
            Some(K8sMount {
                target,
                source,
                keeps,
            })
        })
        .collect()
}

/// A container's literal environment: `envFrom` ConfigMaps of these manifests, then `env`
/// values (a `valueFrom` is unknown here and left out).
fn k8s_env(container: &Value, config_maps: &BTreeMap<&str, &Value>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for source in container
        .get("envFrom")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let prefix = source.get("prefix").and_then(Value::as_str).unwrap_or("");
        let data = source
            .get("configMapRef")
            .and_then(|r| r.get("name"))
            .and_then(Value::as_str)
            .and_then(|n| config_maps.get(n))
            .and_then(|d| d.as_mapping());
        for (k, v) in data.into_iter().flatten() {
            if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                env.insert(format!("{prefix}{k}"), v.to_owned());
            }
        }
    }
    for e in container
        .get("env")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        if let (Some(k), Some(v)) = (e.get("name").and_then(Value::as_str), e.get("value")) {
            env.insert(
                k.to_owned(),
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| yaml_scalar(v)),
            );
        }
    }
    env
}

/// The text of a file a container reads from a ConfigMap volume of these manifests.
fn k8s_config_file(
    pod: &Value,
    container: &Value,
    config_maps: &BTreeMap<&str, &Value>,
    path: &str,
) -> Option<String> {
    let mounts: Vec<(&str, &str, Option<&str>)> = container
        .get("volumeMounts")
        .and_then(Value::as_sequence)?
        .iter()
        .filter_map(|m| {
            Some((
                m.get("mountPath")?.as_str()?,
                m.get("name")?.as_str()?,
                m.get("subPath").and_then(Value::as_str),
            ))
        })
        .collect();
    let (target, volume, sub_path) = covering_by(&mounts, path, |m| m.0)?;
    let map_name = pod
        .get("volumes")?
        .as_sequence()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(volume))?
        .get("configMap")?
        .get("name")?
        .as_str()?;
    let key = match sub_path {
        Some(key) => key,
        None => path
            .strip_prefix(target.trim_end_matches('/'))?
            .trim_start_matches('/'),
    };
    config_maps
        .get(map_name)?
        .get(key)?
        .as_str()
        .map(str::to_owned)
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
            Some("/x y".into())
        );
        assert_eq!(
            store_dir("{\"jetstream\": {\"max_file_store\": 10, \"store_dir\": \"/data\"}}"),
            Some("/data".into())
        );
        assert_eq!(
            store_dir("{\n  \"jetstream\": {\n    \"store_dir\": \"/data\",\n  }\n}"),
            Some("/data".into())
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
