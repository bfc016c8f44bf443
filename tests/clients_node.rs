//! The npm `consul` package (2.x), unmodified, against Nacre's Consul API: watches on a key and
//! on a service's health (tests/clients/node; `make node-clients` runs `npm ci` there).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_consul_watches_a_key_and_a_services_health() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node");
    assert!(
        dir.join("node_modules/consul").exists(),
        "tests/clients/node/node_modules is missing: `make node-clients` installs it"
    );
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let node = std::env::var("NACRE_TEST_NODE").unwrap_or_else(|_| "node".into());
    let port = n.consul_port.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .arg(dir.join("watch.js"))
            .args(["127.0.0.1", &port])
            .output()
            .expect("node (Node.js) must be installed")
    })
    .await
    .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{output}");
    assert!(
        output.contains("npm consul watch acceptance: ok"),
        "{output}"
    );
}
