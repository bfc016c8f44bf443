//! The Go clients most applications run, unmodified, against Nacre: HashiCorp's
//! `github.com/hashicorp/consul/api` and `nacos-sdk-go/v2` (tests/clients/go, built by
//! `make go-clients` into .tools/bin/nacre-go-clients; $NACRE_TEST_GO_CLIENTS names it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

fn go_clients() -> PathBuf {
    let path = std::env::var("NACRE_TEST_GO_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/nacre-go-clients")
        });
    assert!(
        path.exists(),
        "{} is missing: `make go-clients` builds it (tests/clients/go)",
        path.display()
    );
    path
}

async fn run(args: Vec<String>) -> (bool, String) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(go_clients()).args(args).output().unwrap()
    })
    .await
    .unwrap();
    outcome(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_api_kv_txn_sessions_locks_semaphores_agent_health_and_catalog() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let (ok, output) = run(vec![
        "consul".into(),
        format!("127.0.0.1:{}", n.consul_port),
    ])
    .await;
    assert!(ok, "{output}");
    assert!(output.contains("consul api acceptance: ok"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_api_manages_acl_policies_and_tokens_that_are_enforced() {
    let nats = NatsServer::start();
    let management = "go-consul-management-token";
    let n = Nacre::external_with(
        &nats,
        &[
            ("NACRE_AUTH_ENABLED", "true"),
            (
                "NACRE_AUTH_TOKEN_SECRET",
                "a-test-secret-that-is-long-enough-for-hs256-0123456789",
            ),
            ("NACRE_AUTH_CONSUL_MANAGEMENT_TOKEN", management),
        ],
    )
    .await;
    let (ok, output) = run(vec![
        "consul-acl".into(),
        format!("127.0.0.1:{}", n.consul_port),
        management.into(),
    ])
    .await;
    assert!(ok, "{output}");
    assert!(output.contains("consul api acl acceptance: ok"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_sdk_go_configs_namespaces_naming_and_pushes() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let work = tempfile::tempdir().unwrap();
    let (ok, output) = run(vec![
        "nacos".into(),
        "127.0.0.1".into(),
        n.port.to_string(),
        work.path().display().to_string(),
    ])
    .await;
    assert!(ok, "{output}");
    assert!(output.contains("nacos-sdk-go acceptance: ok"), "{output}");
    assert_eq!(
        get_config(&n, "go-done", "DEFAULT_GROUP", "").await,
        (200, "by nacos-sdk-go".to_string())
    );
    eventually("the exited client's ephemeral instance is gone", || async {
        let list: Value = http()
            .get(n.url("/nacos/v1/ns/instance/list?serviceName=go-done"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list["hosts"] == Value::Array(vec![])
    })
    .await;
}
