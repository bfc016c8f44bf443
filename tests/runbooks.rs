//! Runbooks are code. Every ```` ```sh ```` block of runbooks/*.md runs here as written, in
//! order, with bash (`-euo pipefail`), in the situation its runbook describes (a real
//! standalone Nacre or an external nats-server, the disaster made by the test between blocks);
//! every ```` ```sh static ```` block (docker, kubectl, helm) is checked against the repository's
//! files. A block no scenario runs fails the test, so a runbook cannot ship untested.
//!
//! The blocks use Nacre's default ports (8848, 9848, 8500), so the scenarios run one after the
//! other in one test; no other test uses those ports.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Run,
    Static,
}

#[derive(Debug, Clone)]
struct Block {
    file: String,
    index: usize,
    kind: Kind,
    text: String,
}

/// The command blocks of a runbook, numbered per kind in order. Output samples are ```text.
fn blocks(file: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(repo().join("runbooks").join(file)).unwrap();
    let mut out = Vec::new();
    let mut open: Option<(Kind, String)> = None;
    let mut counts = [0usize; 2];
    for line in text.lines() {
        let trimmed = line.trim_start();
        match (&mut open, trimmed.strip_prefix("```")) {
            (None, Some(info)) => {
                let kind = match info.trim() {
                    "sh" => Some(Kind::Run),
                    "sh static" => Some(Kind::Static),
                    "text" => None,
                    other => panic!("{file}: a ```{other} block is neither run nor checked"),
                };
                open = Some((kind.unwrap_or(Kind::Static), String::new()));
                if kind.is_none() {
                    // An output sample: read past it.
                    open = Some((Kind::Static, "\u{0}text".into()));
                }
            }
            (Some((kind, body)), Some(_)) => {
                if body != "\u{0}text" {
                    let slot = &mut counts[*kind as usize];
                    out.push(Block {
                        file: file.to_owned(),
                        index: *slot,
                        kind: *kind,
                        text: body.clone(),
                    });
                    *slot += 1;
                }
                open = None;
            }
            (Some((_, body)), None) => {
                if body != "\u{0}text" {
                    body.push_str(trimmed);
                    body.push('\n');
                }
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{file}: an unclosed block");
    out
}

fn runbooks() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("runbooks"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    files.sort();
    files
}

fn block(file: &str, kind: Kind, index: usize) -> Block {
    blocks(file)
        .into_iter()
        .find(|b| b.kind == kind && b.index == index)
        .unwrap_or_else(|| panic!("{file} has no {kind:?} block {index}"))
}

/// A working directory and the environment an operator's shell would have: `nacre` and `nats` on
/// PATH, the data directory and backup directory configured, Nacre's configuration file.
struct Shell {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    ran: BTreeSet<(String, usize)>,
}

impl Shell {
    fn new(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = Path::new(env!("CARGO_BIN_EXE_nacre")).parent().unwrap();
        let nats_cli = std::env::var("NACRE_TEST_NATS_CLI")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo().join(".tools/bin/nats"));
        let path = format!(
            "{}:{}:{}",
            bin.display(),
            nats_cli.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), path),
            (
                "NACRE_CONFIG".into(),
                repo().join("conf/application.yml").display().to_string(),
            ),
            ("NACRE_DATA_DIR".into(), "data".into()),
            ("NACRE_BACKUP_DIR".into(), "backups/scheduled".into()),
            (
                "NACRE_NATS_STANDALONE_BINARY".into(),
                nats_server_binary().display().to_string(),
            ),
            (
                "XDG_CONFIG_HOME".into(),
                dir.path().join(".config").display().to_string(),
            ),
            ("RUST_LOG".into(), "warn".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Self {
            dir,
            env,
            ran: BTreeSet::new(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Runs a script as written; its combined output, or a panic saying what failed.
    fn bash(&self, script: &str) -> String {
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(self.dir.path())
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("HOME", self.dir.path())
            .output()
            .unwrap();
        let (succeeded, text) = outcome(out);
        assert!(
            succeeded,
            "this failed:\n{script}\n--- output ---\n{text}\n--- nacre.log ---\n{}",
            std::fs::read_to_string(self.path("nacre.log")).unwrap_or_default()
        );
        text
    }

    /// Runs a runbook block, as written.
    fn run(&mut self, file: &str, index: usize) -> String {
        let b = block(file, Kind::Run, index);
        self.ran.insert((b.file.clone(), b.index));
        self.bash(&b.text)
    }

    /// Starts Nacre as the runbooks do, and waits until it is ready.
    fn serve(&self) {
        self.bash(
            "nacre serve > nacre.log 2>&1 &\n\
             curl -sf --retry 60 --retry-all-errors --retry-delay 1 http://127.0.0.1:8848/health/ready",
        );
    }

    /// Stops the Nacre running on the data directory (its PID is in the lock file) and waits
    /// until it let go of the directory.
    fn stop(&self) {
        let data = self.path("data");
        let Ok(pid) = std::fs::read_to_string(data.join("nacre.lock")) else {
            return;
        };
        if let Ok(pid) = pid.trim().parse::<i32>()
            && nacre::backbone::lock::DataDirLock::is_held(&data)
        {
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while nacre::backbone::lock::DataDirLock::is_held(&data) {
            assert!(Instant::now() < deadline, "nacre did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `nacre serve` that must refuse to start: its output.
    fn serve_refused(&self) -> String {
        let out = Command::new("bash")
            .args(["-c", "timeout 60 nacre serve"])
            .current_dir(self.dir.path())
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        assert!(!out.status.success(), "nacre started on a lost store");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn config(data_id: &str) -> (u16, String) {
    let r = http()
        .get("http://127.0.0.1:8848/nacos/v1/cs/configs")
        .query(&[("dataId", data_id), ("group", "RUNBOOK")])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn publish(data_id: &str, content: &str) {
    let r = http()
        .post("http://127.0.0.1:8848/nacos/v1/cs/configs")
        .form(&[
            ("dataId", data_id),
            ("group", "RUNBOOK"),
            ("content", content),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runbook_block_runs_as_written() {
    let mut ran = BTreeSet::new();

    // backup-restore.md: a backup of a running node; the data directory lost; the restore onto
    // a new one; verify and rebuild.
    {
        let mut sh = Shell::new(&[]);
        sh.serve();
        publish("backed-up", "v1").await;
        let out = sh.run("backup-restore.md", 0);
        assert!(out.contains("read back"), "{out}");
        sh.stop();
        std::fs::remove_dir_all(sh.path("data")).unwrap();
        let out = sh.run("backup-restore.md", 1);
        assert!(out.contains("the views agree"), "{out}");
        assert_eq!(config("backed-up").await, (200, "v1".into()));
        sh.run("backup-restore.md", 4);
        sh.stop();
        ran.append(&mut sh.ran);
    }

    // backup-restore.md with the NATS CLI: an external NATS, backed up, wiped, restored.
    {
        let mut nats = NatsServer::start();
        let url = nats.url();
        let mut sh = Shell::new(&[("NACRE_NATS_URL", &url), ("NATS_URL", &url)]);
        sh.serve();
        publish("cli", "through the NATS CLI").await;
        sh.run("backup-restore.md", 2);
        sh.stop();
        nats.wipe_and_restart();
        sh.run("backup-restore.md", 3);
        sh.serve();
        assert_eq!(config("cli").await, (200, "through the NATS CLI".into()));
        sh.stop();
        ran.append(&mut sh.ran);
    }

    // wiped-store.md: the store deleted under a kept marker and a backup.
    {
        let mut sh = Shell::new(&[]);
        sh.serve();
        publish("wiped", "restored").await;
        sh.bash("nacre backup backups/scheduled/nacre-20261126T000000Z");
        sh.stop();
        std::fs::remove_dir_all(sh.path("data/jetstream")).unwrap();
        let refusal = sh.serve_refused();
        assert!(refusal.contains("runbooks/wiped-store.md"), "{refusal}");
        let status = sh.run("wiped-store.md", 0);
        assert!(status.contains("would refuse"), "{status}");
        let out = sh.run("wiped-store.md", 1);
        assert!(out.contains("the views agree"), "{out}");
        assert_eq!(config("wiped").await, (200, "restored".into()));
        sh.stop();
        ran.append(&mut sh.ran);
    }

    // wiped-store.md: no backup at all; the loss accepted explicitly.
    {
        let mut sh = Shell::new(&[]);
        sh.serve();
        publish("lost", "gone").await;
        sh.stop();
        std::fs::remove_dir_all(sh.path("data/jetstream")).unwrap();
        sh.serve_refused();
        sh.run("wiped-store.md", 2);
        assert_eq!(config("lost").await.0, 404);
        sh.stop();
        ran.append(&mut sh.ran);
    }

    // wiped-store.md: buckets damaged by two nats-servers on one store, as readiness reports it.
    {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut n = Nacre::standalone_in(&data).await;
        let kept = http().post(n.url("/nacos/v1/cs/configs")).form(&[
            ("dataId", "kept"),
            ("group", "RUNBOOK"),
            ("content", "through the damage"),
        ]);
        assert!(kept.send().await.unwrap().status().is_success());
        run_a_second_server_on(&data.join("jetstream")).await;
        n.stop();
        n.start_unready().await;
        eventually_for(
            "readiness names the damage",
            Duration::from_secs(60),
            || {
                let request = http().get(n.url("/health/ready"));
                async move {
                    let r = request.send().await.unwrap();
                    r.text().await.unwrap().contains("nacre rebuild")
                }
            },
        )
        .await;
        n.stop();
        let data_env = data.display().to_string();
        let mut sh = Shell::new(&[("NACRE_DATA_DIR", &data_env)]);
        let out = sh.run("wiped-store.md", 3);
        assert!(out.contains("rebuilt nacre-leases"), "{out}");
        n.start().await;
        let r = http()
            .get(n.url("/nacos/v1/cs/configs"))
            .query(&[("dataId", "kept"), ("group", "RUNBOOK")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "through the damage");
        n.stop();
        ran.append(&mut sh.ran);
    }

    // persistence.md: a marker written, Nacre restarted, the marker read back and removed.
    {
        let mut sh = Shell::new(&[]);
        sh.serve();
        sh.run("persistence.md", 0);
        sh.stop();
        sh.serve();
        let out = sh.run("persistence.md", 1);
        assert!(out.starts_with("marker"), "{out}");
        sh.stop();
        ran.append(&mut sh.ran);
    }

    // The README's 5-minute tour: each curl block answers what its `# ...` lines say. (Its
    // `nats sub` block runs until stopped: docs/events.md's subscriber is tested by nats_cli.rs.)
    {
        let sh = Shell::new(&[]);
        sh.serve();
        let tours = readme_tour();
        assert!(tours.len() >= 3, "the README's tour has its curl blocks");
        for block in tours.iter().filter(|b| !b.contains("nats sub")) {
            let out = sh.bash(block);
            for expected in block
                .lines()
                .filter_map(|l| l.strip_prefix("# "))
                .filter(|l| !l.starts_with("the service as JSON"))
            {
                assert!(out.contains(expected), "{block}\n--- answered ---\n{out}");
            }
            if block.contains("instance/list") {
                assert!(out.contains(r#""ip":"10.0.0.5""#), "{out}");
            }
        }
        sh.stop();
    }

    // Every block is covered; static blocks name commands and files that exist.
    for file in runbooks() {
        for b in blocks(&file) {
            match b.kind {
                Kind::Run => assert!(
                    ran.contains(&(b.file.clone(), b.index)),
                    "{file}: block {} is run by no scenario:\n{}",
                    b.index,
                    b.text
                ),
                Kind::Static => check_static(&b),
            }
        }
    }
}

/// The ```` ```sh ```` blocks of the README's "A 5-minute tour" section.
fn readme_tour() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("## A 5-minute tour")
        .expect("the README has its tour");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    section
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .map(str::to_owned)
        .collect()
}

/// A static block: docker, kubectl or helm lines whose files exist (compose files must pass
/// `nacre check-compose`).
fn check_static(b: &Block) {
    for line in b
        .text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert!(
            matches!(words.first(), Some(&("docker" | "kubectl" | "helm"))),
            "{}: a static line that is not docker, kubectl or helm: {line}",
            b.file
        );
        for pair in words.windows(2) {
            if pair[0] == "-f" {
                let file = repo().join(pair[1]);
                assert!(
                    file.exists(),
                    "{}: {line}: {} does not exist",
                    b.file,
                    pair[1]
                );
                if pair[1].starts_with("compose/") {
                    let report = nacre::deploy_check::check_compose(&file).unwrap();
                    assert!(report.problems.is_empty(), "{}: {report:#?}", pair[1]);
                }
            }
        }
    }
}

#[test]
fn blocks_are_read_in_order_and_unclassified_ones_are_refused() {
    let wiped = blocks("wiped-store.md");
    assert!(wiped.iter().filter(|b| b.kind == Kind::Run).count() >= 4);
    assert!(wiped[0].text.starts_with("nacre status"));
    assert!(
        blocks("persistence.md")
            .iter()
            .any(|b| b.kind == Kind::Static && b.text.contains("docker compose"))
    );
}
