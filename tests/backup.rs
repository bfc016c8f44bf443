//! Backup, restore, verify and rebuild drills with real nats-servers.

mod common;

use async_nats::jetstream;
use common::*;
use serde_json::Value;

#[tokio::test]
async fn backup_wipe_restore_brings_everything_back_and_verify_agrees() {
    let mut nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nacre::external_in(&nats, dir.path()).await;
    for i in 0..30 {
        publish(&n, &format!("cfg-{i}"), "G", &format!("value {i}")).await;
    }
    let r = http()
        .post(n.url("/nacos/v1/ns/instance"))
        .query(&[
            ("serviceName", "db"),
            ("ip", "10.0.0.1"),
            ("port", "5432"),
            ("ephemeral", "false"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");
    let package: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let r = http()
        .put(n.url("/nacre/v1/packages/linux/agent/1.0/agent.bin"))
        .body(package.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    wait_for_views(&nats, dir.path()).await; // the backup must hold complete views
    let before = nats.last_seq().await;

    let backup_dir = tempfile::tempdir().unwrap();
    let (ok, out) = nacre_cmd(
        &["backup", backup_dir.path().to_str().unwrap()],
        &nats,
        dir.path(),
    );
    assert!(ok, "{out}");
    // Named as the NATS CLI names it: the NATSARC1 archive of a 2.15+ server, a tar before.
    let version = nats.client().await.server_info().version;
    let minor: u32 = version.split('.').nth(1).unwrap().parse().unwrap();
    let (snapshot, other) = if minor >= 15 {
        ("stream.arc.s2", "stream.tar.s2")
    } else {
        ("stream.tar.s2", "stream.arc.s2")
    };
    for stream in ["NACRE_EVENTS", "KV_nacre-configs", "OBJ_nacre-packages"] {
        let stream_dir = backup_dir.path().join(stream);
        assert!(
            stream_dir.join("backup.json").exists(),
            "{stream} in the nats format"
        );
        assert!(
            stream_dir.join(snapshot).exists() && !stream_dir.join(other).exists(),
            "{stream}: {snapshot} from nats-server {version}"
        );
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup_dir.path().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["streams"][0]["name"], "NACRE_EVENTS");
    assert_eq!(manifest["streams"][0]["last_seq"], before);

    // Restoring onto the live streams is refused.
    let (ok, out) = nacre_cmd(
        &["restore", backup_dir.path().to_str().unwrap()],
        &nats,
        dir.path(),
    );
    assert!(!ok && out.contains("already exists"), "{out}");

    // Wipe every store, then restore.
    n.stop();
    nats.wipe_and_restart();
    let (ok, out) = nacre_cmd(
        &["restore", backup_dir.path().to_str().unwrap()],
        &nats,
        dir.path(),
    );
    assert!(ok, "{out}");
    assert_eq!(nats.last_seq().await, before, "sequences are kept");

    n.start().await; // no --accept-empty-store: nothing this node saw was lost
    for i in 0..30 {
        assert_eq!(
            get_config(&n, &format!("cfg-{i}"), "G", "").await,
            (200, format!("value {i}"))
        );
    }
    let list: Value = http()
        .get(n.url("/nacos/v1/ns/instance/list?serviceName=db"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["hosts"][0]["ip"], "10.0.0.1");
    let bytes = http()
        .get(n.url("/nacre/v1/packages/linux/agent/1.0/agent.bin"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(bytes.to_vec() == package, "the package is byte-identical");

    let (ok, out) = nacre_cmd(&["verify"], &nats, dir.path());
    assert!(ok, "verify agrees after the restore: {out}");

    // The index continues upward from where the backup stopped.
    publish(&n, "after-restore", "G", "x").await;
    assert!(nats.last_seq().await > before);
}

#[tokio::test]
async fn verify_reports_every_difference_and_rebuild_fixes_them() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nacre::external_in(&nats, dir.path()).await;
    for i in 0..5 {
        publish(&n, &format!("v{i}"), "G", "x").await;
    }
    wait_for_views(&nats, dir.path()).await; // what is tampered with below is all there is
    n.stop(); // no projector to repair the views behind our back

    let js = jetstream::new(nats.client().await);
    let kv = js.get_key_value("nacre-configs").await.unwrap();
    kv.delete("public.G.v1").await.unwrap();
    kv.put("public.G.v2", "tampered".into()).await.unwrap();
    kv.put("public.G.ghost", "{}".into()).await.unwrap();

    let (ok, out) = nacre_cmd(&["verify"], &nats, dir.path());
    assert!(!ok, "{out}");
    for expected in [
        "public.G.v1: missing",
        "public.G.v2: differs",
        "public.G.ghost: in the view but not in the stream",
    ] {
        assert!(out.contains(expected), "{expected}: {out}");
    }
    let (ok, out) = nacre_cmd(&["rebuild"], &nats, dir.path());
    assert!(ok, "{out}");
    let (ok, out) = nacre_cmd(&["verify"], &nats, dir.path());
    assert!(ok, "{out}");
}
