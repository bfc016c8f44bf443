//! Nothing starts fresh silently (DESIGN invariant 7): drills with real nats-servers.

mod common;

use common::*;

fn assert_refused(code: Option<i32>, stderr: &str) {
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("REFUSING TO START"), "{stderr}");
    assert!(stderr.contains("runbooks/wiped-store.md"), "{stderr}");
    assert!(stderr.contains("--accept-empty-store"), "{stderr}");
}

/// Seed 000: the store directory was not where the data was; after a restart it was empty.
#[tokio::test]
async fn a_standalone_store_that_lost_its_data_is_refused_until_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nacre::standalone_in(dir.path()).await;
    publish(&n, "precious", "G", "data").await;
    n.stop();
    std::fs::remove_dir_all(dir.path().join("jetstream")).unwrap();

    let (code, stderr) = n.start_expecting_failure();
    assert_refused(code, &stderr);
    assert!(
        stderr.contains("does not exist") || stderr.contains("is empty"),
        "{stderr}"
    );

    n.start_with(&["--accept-empty-store"]).await;
    assert_eq!(
        get_config(&n, "precious", "G", "").await.0,
        404,
        "the loss was accepted explicitly"
    );
    publish(&n, "fresh", "G", "start").await;
    n.stop();
    // Having accepted, the node knows the new store: a plain restart works again.
    n.start().await;
    assert_eq!(get_config(&n, "fresh", "G", "").await.1, "start");
}

/// `docker compose down -v` on the NATS side: the external store comes back empty.
#[tokio::test]
async fn an_external_store_that_was_wiped_is_refused() {
    let mut nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nacre::external_in(&nats, dir.path()).await;
    publish(&n, "precious", "G", "data").await;
    n.stop();
    nats.wipe_and_restart();
    let (code, stderr) = n.start_expecting_failure();
    assert_refused(code, &stderr);
}

/// A different cluster behind the same address is not mistaken for this one.
#[tokio::test]
async fn another_clusters_store_is_refused() {
    let nats_a = NatsServer::start();
    let nats_b = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut on_a = Nacre::external_in(&nats_a, dir.path()).await;
    publish(&on_a, "a", "G", "1").await;
    on_a.stop();
    // Cluster B, with more history than A had, so only its identity gives it away.
    let b = Nacre::external(&nats_b).await;
    for i in 0..5 {
        publish(&b, &format!("b{i}"), "G", "1").await;
    }
    drop(b);
    // Now point the node that knows cluster A at cluster B.
    let probe = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args([
            "--port",
            &http_port().to_string(),
            "--nats-url",
            &nats_b.url(),
        ])
        .env("RUST_LOG", "warn")
        .env("NACRE_SERVER_CONSUL_PORT", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&probe.stderr);
    assert_refused(probe.status.code(), &stderr);
    assert!(stderr.contains("another cluster"), "{stderr}");
}

/// A brand-new installation, and a new node joining a populated cluster, start without flags.
#[tokio::test]
async fn new_installations_and_joining_nodes_start_without_flags() {
    let nats = NatsServer::start();
    let first = Nacre::external(&nats).await;
    publish(&first, "k", "G", "v").await;
    let joining = Nacre::external(&nats).await;
    assert_eq!(get_config(&joining, "k", "G", "").await.1, "v");
}
