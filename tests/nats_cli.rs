//! The NATS CLI (`nats`, natscli, installed by `make nats-cli` into .tools/bin;
//! $NACRE_TEST_NATS_CLI names it) against Nacre's streams: backup and restore as the runbook
//! does them, either tool restoring the other's backup, and the `nats sub` of docs/events.md and
//! `nats object ls`.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn nats_cli() -> PathBuf {
    let path = std::env::var("NACRE_TEST_NATS_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/nats"));
    assert!(
        path.exists(),
        "{} is missing: `make nats-cli` installs the NATS CLI",
        path.display()
    );
    path
}

/// `nats ARGS -s URL`, with a configuration home of its own (no user context applies).
fn nats(nats: &NatsServer, args: &[&str]) -> Command {
    let mut cmd = Command::new(nats_cli());
    cmd.args(args)
        .args(["-s", &nats.url()])
        .env("XDG_CONFIG_HOME", nats.dir.path().join("nats-cli-config"))
        .env_remove("NATS_URL")
        .env_remove("NATS_CONTEXT")
        .stdin(Stdio::null());
    cmd
}

fn run_nats(server: &NatsServer, args: &[&str]) -> String {
    let out = nats(server, args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "nats {}: {text}", args.join(" "));
    text
}

/// The streams Nacre owns and a backup must hold (src/recovery: `owned_streams`).
const OWNED: [&str; 6] = [
    "NACRE_EVENTS",
    "KV_nacre-configs",
    "KV_nacre-namespaces",
    "KV_nacre-services",
    "KV_nacre-instances",
    "OBJ_nacre-packages",
];

fn package_bytes() -> Vec<u8> {
    // Incompressible enough to span several Object Store chunks.
    let mut x: u32 = 0x9e37_79b9;
    (0..1_500_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Configs (one in another namespace), a persistent instance, Consul KV keys and a package.
async fn seed(n: &Nacre) {
    for i in 0..10 {
        publish(n, &format!("cfg-{i}"), "G", &format!("value {i}\nline two")).await;
    }
    let r = http()
        .post(n.url("/nacos/v1/console/namespaces"))
        .form(&[("customNamespaceId", "dev"), ("namespaceName", "dev")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http()
        .post(n.url("/nacos/v1/cs/configs"))
        .form(&[
            ("dataId", "dev.yaml"),
            ("group", "G"),
            ("tenant", "dev"),
            ("content", "env: dev"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    let r = http()
        .post(n.url("/nacos/v1/ns/instance"))
        .query(&[
            ("serviceName", "db"),
            ("ip", "10.0.0.1"),
            ("port", "5432"),
            ("ephemeral", "false"),
            ("metadata", "role=primary"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");
    for (k, v) in [("app/a", "1"), ("app/b", "two"), ("other", "x")] {
        let r = http()
            .put(n.consul(&format!("/v1/kv/{k}?flags=7")))
            .body(v)
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "true");
    }
    let r = http()
        .put(n.url("/nacre/v1/packages/linux/agent/1.0/agent.bin"))
        .body(package_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

/// Everything a client can read back, as it reads it.
async fn snapshot(n: &Nacre) -> Vec<(String, Vec<u8>)> {
    let mut reads = vec![
        "/nacos/v1/ns/instance/list?serviceName=db".to_owned(),
        "/nacos/v1/console/namespaces".to_owned(),
        "/nacre/v1/packages/linux/agent/1.0/agent.bin".to_owned(),
        "/nacos/v1/cs/configs?dataId=dev.yaml&group=G&tenant=dev".to_owned(),
    ];
    reads.extend((0..10).map(|i| format!("/nacos/v1/cs/configs?dataId=cfg-{i}&group=G")));
    let mut seen = Vec::new();
    for path in reads {
        let r = http().get(n.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let mut body = r.bytes().await.unwrap().to_vec();
        if path.contains("instance/list") {
            // lastRefTime is the time of the answer, not data.
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            v["lastRefTime"] = Value::Null;
            body = v.to_string().into_bytes();
        }
        seen.push((path, body));
    }
    let kv = http()
        .get(n.consul("/v1/kv/?recurse"))
        .send()
        .await
        .unwrap();
    seen.push(("kv".into(), kv.bytes().await.unwrap().to_vec()));
    seen
}

/// Seeds a node, waits until its views agree with the stream, and answers what it serves.
async fn seeded(server: &NatsServer, dir: &Path) -> (Nacre, Vec<(String, Vec<u8>)>, u64) {
    let n = Nacre::external_in(server, dir).await;
    seed(&n).await;
    wait_for_views(server, dir).await;
    let before = snapshot(&n).await;
    assert_eq!(
        before
            .iter()
            .find(|(p, _)| p.contains("packages"))
            .unwrap()
            .1,
        package_bytes()
    );
    (n, before, server.last_seq().await)
}

/// The streams on the server are exactly Nacre's own plus the transient leases bucket: a backup
/// of `OWNED` misses nothing.
fn assert_owned_streams(server: &NatsServer) {
    let names: BTreeSet<String> = run_nats(server, &["stream", "ls", "--names"])
        .split_whitespace()
        .filter(|s| !s.starts_with("WARNING"))
        .map(str::to_owned)
        .collect();
    let mut want: BTreeSet<String> = OWNED.iter().map(|s| s.to_string()).collect();
    want.insert("KV_nacre-leases".into());
    assert_eq!(names, want);
}

fn nats_backup(server: &NatsServer, into: &Path) {
    for stream in OWNED {
        let out = run_nats(
            server,
            &[
                "stream",
                "backup",
                stream,
                into.join(stream).to_str().unwrap(),
                "--no-progress",
            ],
        );
        assert!(
            into.join(stream).join("backup.json").exists(),
            "{stream}: {out}"
        );
    }
}

fn nats_restore(server: &NatsServer, from: &Path) {
    for stream in OWNED {
        run_nats(
            server,
            &[
                "stream",
                "restore",
                from.join(stream).to_str().unwrap(),
                "--no-progress",
            ],
        );
    }
}

/// Back on the restored store: the same sequence, the node starts without accepting a loss,
/// serves every byte as before, and `nacre verify` agrees.
async fn assert_restored(
    server: &NatsServer,
    n: &mut Nacre,
    dir: &Path,
    before: &[(String, Vec<u8>)],
    last_seq: u64,
) {
    assert_eq!(server.last_seq().await, last_seq, "sequences are kept");
    n.start().await;
    let after = snapshot(n).await;
    for ((path, was), (_, is)) in before.iter().zip(&after) {
        assert!(
            was == is,
            "{path} differs after the restore:\n{}\n{}",
            String::from_utf8_lossy(was)
                .chars()
                .take(300)
                .collect::<String>(),
            String::from_utf8_lossy(is)
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    let (ok, out) = nacre_cmd(&["verify"], server, dir);
    assert!(ok, "verify agrees after the restore: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_stream_backup_wipe_nats_stream_restore_brings_everything_back() {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut n, before, last_seq) = seeded(&server, dir.path()).await;
    assert_owned_streams(&server);
    let backup = tempfile::tempdir().unwrap();
    nats_backup(&server, backup.path());

    n.stop();
    server.wipe_and_restart();
    nats_restore(&server, backup.path());
    assert_restored(&server, &mut n, dir.path(), &before, last_seq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nacre_backup_is_restored_by_nats_stream_restore() {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut n, before, last_seq) = seeded(&server, dir.path()).await;
    let backup = tempfile::tempdir().unwrap();
    let (ok, out) = nacre_cmd(
        &["backup", backup.path().to_str().unwrap()],
        &server,
        dir.path(),
    );
    assert!(ok, "{out}");
    // From a 2.15+ server it is the CLI's own format, which its offline validator accepts.
    let version = server.client().await.server_info().version;
    if version.split('.').nth(1).unwrap().parse::<u32>().unwrap() >= 15 {
        for stream in OWNED {
            let dir = backup.path().join(stream);
            let out = run_nats(
                &server,
                &["backup", "validate", dir.to_str().unwrap(), "--no-progress"],
            );
            assert!(dir.join("stream.arc.s2").exists(), "{stream}: {out}");
        }
    }

    n.stop();
    server.wipe_and_restart();
    nats_restore(&server, backup.path());
    assert_restored(&server, &mut n, dir.path(), &before, last_seq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_stream_backup_is_restored_by_nacre_restore() {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut n, before, last_seq) = seeded(&server, dir.path()).await;
    let backup = tempfile::tempdir().unwrap();
    nats_backup(&server, backup.path());

    n.stop();
    server.wipe_and_restart();
    let (ok, out) = nacre_cmd(
        &["restore", backup.path().to_str().unwrap()],
        &server,
        dir.path(),
    );
    assert!(ok, "{out}");
    assert_restored(&server, &mut n, dir.path(), &before, last_seq).await;
}

/// The subscriber of docs/events.md (`nats sub 'nacre.evt.cfg.>'`) receives a config change as the
/// CloudEvent docs/events.md shows, and `nats object ls` lists the package bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_nats_sub_and_object_ls() {
    let server = NatsServer::start();
    let n = Nacre::external(&server).await;

    let mut sub = nats(&server, &["sub", "nacre.evt.cfg.>", "--count", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It says so on stderr once it has subscribed.
    let stderr = sub.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut stdout = sub.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        stdout.read_to_string(&mut all).unwrap();
        all
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut said = Vec::new();
    while !said.iter().any(|l: &String| l.contains("Subscribing on")) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            said.push(line);
        }
        assert!(
            Instant::now() < deadline,
            "nats sub never subscribed: {said:?}"
        );
    }
    // It may say so a moment before its subscription reaches the server: publish changes until
    // the one message it waits for arrives.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut port = 8080;
    while sub.try_wait().unwrap().is_none() {
        publish(&n, "app.yaml", "DEFAULT_GROUP", &format!("port: {port}")).await;
        port += 1;
        assert!(Instant::now() < deadline, "nats sub received nothing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(sub.wait().unwrap().success());
    let out = reader.join().unwrap();
    assert!(
        out.contains("nacre.evt.cfg.public.DEFAULT_GROUP.app=2Eyaml"),
        "the subject of app.yaml: {out}"
    );
    let body = out
        .lines()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("the event's JSON: {out}"));
    let event: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(event["type"], "nacre.config.published.v1");
    assert_eq!(event["data"]["dataId"], "app.yaml");
    assert!(
        event["data"]["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("port: 80")),
        "{event}"
    );

    let r = http()
        .put(n.url("/nacre/v1/packages/linux/agent/1.0/agent.bin"))
        .body(package_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let listing = run_nats(&server, &["object", "ls", "nacre-packages"]);
    assert!(
        listing.contains("linux/agent/1.0/agent.bin"),
        "the package in the bucket: {listing}"
    );
}
