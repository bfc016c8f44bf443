//! Standalone mode cannot lose data silently: one process per data directory, `down -v` on the
//! shipped compose file refused, a store damaged by two servers reported and repaired, recovery
//! commands that work whether Nacre runs or not, and scheduled backups that restore elsewhere.
//! Real nats-server children, real nacre processes.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_a_running_data_dir_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let first = Nacre::standalone_in(dir.path()).await;
    let second = Nacre::unstarted(dir.path(), &[]);
    let started = std::time::Instant::now();
    let (code, stderr) = second.start_expecting_failure();
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains(&format!("PID {}", first.pid()))
            && stderr.contains(&dir.path().display().to_string()),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused at once"
    );
    // Said once, in plain text: stderr is a pipe here, as it is under systemd or a collector.
    assert_eq!(
        stderr.matches(&format!("PID {}", first.pid())).count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "no colour codes: {stderr:?}");
    // The first is untouched.
    publish(&first, "still", "G", "fine").await;
}

#[tokio::test]
async fn a_mistyped_environment_variable_is_refused_naming_the_setting_meant() {
    let dir = tempfile::tempdir().unwrap();
    let node = Nacre::unstarted(dir.path(), &[("NACRE_SERVER_PROT", "9000")]);
    let (code, stderr) = node.start_expecting_failure();
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("NACRE_SERVER_PROT") && stderr.contains("NACRE_SERVER_PORT"),
        "{stderr}"
    );
}

/// A Docker Compose file's volumes as a test can play them without Docker: named volumes and
/// bind mounts become directories; `down` keeps both, `down -v` deletes the named ones.
struct ComposeVolumes {
    root: tempfile::TempDir,
    /// Container path → host directory.
    mounts: BTreeMap<String, PathBuf>,
    named: Vec<PathBuf>,
    environment: BTreeMap<String, String>,
}

impl ComposeVolumes {
    fn of(file: &str, service: &str) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let svc = &doc["services"][service];
        let root = tempfile::tempdir().unwrap();
        let mut mounts = BTreeMap::new();
        let mut named = Vec::new();
        for volume in svc["volumes"].as_sequence().expect("volumes") {
            let spec = volume.as_str().expect("short volume syntax");
            let (source, target) = spec.split_once(':').unwrap();
            let target = target.split(':').next().unwrap();
            let host = if source.starts_with('.') || source.starts_with('/') {
                root.path()
                    .join("binds")
                    .join(source.trim_start_matches(['.', '/']))
            } else {
                let dir = root.path().join("volumes").join(source);
                named.push(dir.clone());
                dir
            };
            std::fs::create_dir_all(&host).unwrap();
            mounts.insert(target.to_owned(), host);
        }
        let mut environment = BTreeMap::new();
        if let Some(env) = svc["environment"].as_mapping() {
            for (k, v) in env {
                let value = match v {
                    serde_yaml::Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
                };
                environment.insert(k.as_str().unwrap().to_owned(), value);
            }
        }
        Self {
            root,
            mounts,
            named,
            environment,
        }
    }

    /// A container path as the host sees it.
    fn host(&self, container: &str) -> PathBuf {
        let (mount, host) = self
            .mounts
            .iter()
            .filter(|(m, _)| container.starts_with(m.as_str()))
            .max_by_key(|(m, _)| m.len())
            .unwrap_or_else(|| panic!("{container} is on no volume: it would not persist"));
        host.join(container[mount.len()..].trim_start_matches('/'))
    }

    /// The service's environment with container paths turned into host paths.
    fn env(&self) -> Vec<(String, String)> {
        self.environment
            .iter()
            .map(|(k, v)| {
                let v = if v.starts_with('/') {
                    self.host(v).display().to_string()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// `docker compose down -v`: the named volumes are gone, bind mounts stay.
    fn down_v(&self) {
        for dir in &self.named {
            std::fs::remove_dir_all(dir).unwrap();
            std::fs::create_dir_all(dir).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_down_v_on_the_standalone_deployment_is_refused_and_names_the_runbook() {
    let compose = ComposeVolumes::of("compose/standalone.yml", "nacre");
    let env = compose.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let data_dir = compose.host("/var/lib/nacre");
    // A genuinely first start needs no flag.
    let mut n = Nacre::standalone_with(&data_dir, &env).await;
    publish(&n, "kept", "G", "across down").await;
    n.stop();
    // `down` then `up`: everything is still there.
    n.start().await;
    assert_eq!(
        get_config(&n, "kept", "G", "").await,
        (200, "across down".into())
    );
    n.stop();
    // `down -v` then `up`: refused, loudly, with the runbook.
    compose.down_v();
    let (code, stderr) = n.start_expecting_failure();
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("REFUSING TO START") && stderr.contains("runbooks/wiped-store.md"),
        "{stderr}"
    );
    drop(compose.root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_marker_a_newer_backup_or_the_setting_still_refuse_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let data = dir.path().join("data");
    let backups_env = backups.display().to_string();
    let env = [("NACRE_BACKUP_DIR", backups_env.as_str())];
    let mut n = Nacre::standalone_with(&data, &env).await;
    publish(&n, "a", "G", "1").await;
    let (ok, out) = n.cli(&["backup", &backups.join("manual").display().to_string()]);
    assert!(ok, "{out}");
    n.stop();
    // The whole data directory is lost (marker and store); the backups are elsewhere.
    std::fs::remove_dir_all(&data).unwrap();
    let (code, stderr) = n.start_expecting_failure();
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("REFUSING TO START") && stderr.contains("manual"),
        "{stderr}"
    );

    // A deployment that says it has a store refuses an empty one even with no other record.
    let fresh = tempfile::tempdir().unwrap();
    let expecting = Nacre::unstarted(
        fresh.path(),
        &[("NACRE_IDENTITY_EXPECT_EXISTING_STORE", "true")],
    );
    let (code, stderr) = expecting.start_expecting_failure();
    assert_ne!(code, Some(0));
    assert!(stderr.contains("expect-existing-store"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_wipe_restore_into_a_new_dir_then_serve_needs_no_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (data, backup) = (dir.path().join("data"), dir.path().join("backup"));
    let mut n = Nacre::standalone_in(&data).await;
    publish(&n, "a", "G", "before the loss").await;
    // Nacre running: the command talks to its nats-server.
    let (ok, out) = n.cli(&["backup", &backup.display().to_string()]);
    assert!(ok, "{out}");
    assert!(out.contains("read back"), "{out}");
    let (ok, out) = n.cli(&["backup", &backup.display().to_string()]);
    assert!(
        !ok && out.contains("--overwrite"),
        "a non-empty dir is refused: {out}"
    );
    let (ok, out) = n.cli(&["restore", &backup.display().to_string()]);
    assert!(
        !ok && out.contains("stop it"),
        "no restore under a running node: {out}"
    );
    n.stop();
    std::fs::remove_dir_all(&data).unwrap();
    // Nacre stopped, the data dir gone: restore starts its own nats-server on a new store.
    let (ok, out) = n.cli(&["restore", &backup.display().to_string(), "--no-progress"]);
    assert!(ok, "{out}");
    n.start().await;
    assert_eq!(
        get_config(&n, "a", "G", "").await,
        (200, "before the loss".into())
    );
    let (ok, out) = n.cli(&["verify"]);
    assert!(ok, "{out}");
    let (ok, out) = n.cli(&["status"]);
    assert!(ok, "{out}");
    for line in [
        "data dir:",
        "marker:",
        "stream:",
        "start-up:     would start on cluster",
        "node:",
        "projector:",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_a_line_every_few_seconds_off_a_terminal_and_nothing_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nacre::standalone_in(&dir.path().join("data")).await;
    publish(&n, "a", "G", "1").await;
    n.stop();
    let (ok, out) = n.cli(&["backup", &dir.path().join("b1").display().to_string()]);
    assert!(ok, "{out}");
    assert!(
        out.contains("backup NACRE_EVENTS:") && out.contains("done"),
        "{out}"
    );
    let (ok, out) = n.cli(&[
        "backup",
        "--no-progress",
        &dir.path().join("b2").display().to_string(),
    ]);
    assert!(ok, "{out}");
    assert!(!out.contains("done"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_backup_appears_on_its_own_and_restores_on_another_host() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let backups_env = backups.display().to_string();
    let env = [
        ("NACRE_BACKUP_INTERVAL", "2s"),
        ("NACRE_BACKUP_DIR", backups_env.as_str()),
        ("NACRE_BACKUP_KEEP", "2"),
    ];
    let mut n = Nacre::standalone_with(&dir.path().join("data"), &env).await;
    publish(&n, "scheduled", "G", "in every backup").await;
    let mut newest = None;
    eventually("three scheduled backups, two kept", || {
        let found: Vec<PathBuf> = std::fs::read_dir(&backups)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .unwrap()
                            .to_string_lossy()
                            .starts_with("nacre-")
                    })
                    .collect()
            })
            .unwrap_or_default();
        let done = found.len() == 2 && std::fs::read_dir(&backups).unwrap().count() == 2;
        if done {
            newest = found.into_iter().max();
        }
        async move { done }
    })
    .await;
    let metrics = http()
        .get(n.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last = metrics
        .lines()
        .find_map(|l| l.strip_prefix("nacre_backup_last_success_timestamp_seconds "))
        .expect("the metric");
    assert!(last.trim().parse::<i64>().unwrap() > 0, "{metrics}");
    n.stop();
    // Another host: a new data directory, the backup copied over.
    let other = tempfile::tempdir().unwrap();
    let copy = other.path().join("copied");
    copy_dir(&newest.unwrap(), &copy);
    let mut elsewhere = Nacre::unstarted(&other.path().join("data"), &[]);
    let (ok, out) = elsewhere.cli(&["restore", &copy.display().to_string()]);
    assert!(ok, "{out}");
    elsewhere.start().await;
    assert_eq!(
        get_config(&elsewhere, "scheduled", "G", "").await,
        (200, "in every backup".into())
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The aftermath of two nats-servers on one store (what the data directory lock now prevents):
/// reproduced by running a second server on the store beside Nacre's, with a second Nacre on it.
/// Readiness turns red with one clear reason, `nacre verify` fails, `nacre rebuild` repairs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_damaged_by_two_servers_is_reported_and_rebuild_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut n = Nacre::standalone_in(&data).await;
    publish(&n, "a", "G", "1").await;
    // A second nats-server on the same store, and a Nacre writing through it.
    run_a_second_server_on(&data.join("jetstream")).await;
    publish(&n, "c", "G", "3").await;
    n.stop();
    n.start_unready().await;
    eventually_for(
        "readiness names the damage",
        Duration::from_secs(40),
        || {
            let request = http().get(n.url("/health/ready"));
            async move {
                let r = request.send().await.unwrap();
                r.status() == 500 && r.text().await.unwrap().contains("nacre rebuild")
            }
        },
    )
    .await;
    let (ok, out) = n.cli(&["verify"]);
    assert!(!ok && out.contains("damaged"), "{out}");
    n.stop();
    let (ok, out) = n.cli(&["rebuild"]);
    assert!(ok, "{out}");
    let (ok, out) = n.cli(&["verify"]);
    assert!(ok, "{out}");
    n.start().await;
    publish(&n, "d", "G", "4").await;
    eventually("ready again", || {
        let request = http().get(n.url("/health/ready"));
        async move { request.send().await.unwrap().status() == 200 }
    })
    .await;
}
