//! Real clients, unmodified, against Nacre (installed into .venv by `make test`).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

/// The Python of the test virtualenv: $NACRE_TEST_PYTHON, else .venv/bin/python.
fn python() -> PathBuf {
    let path = std::env::var("NACRE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    assert!(
        path.exists(),
        "{} is missing: `make test` installs the client virtualenv (tests/clients/requirements.txt)",
        path.display()
    );
    path
}

fn run(script: &str, args: &[String]) -> (bool, String) {
    let out = Command::new(python())
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/clients")
                .join(script),
        )
        .args(args)
        .output()
        .unwrap();
    outcome(out)
}

#[tokio::test]
async fn py_consul_drives_kv_sessions_services_health_and_catalog() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let (ok, output) = run(
        "consul_kv.py",
        &["127.0.0.1".into(), n.consul_port.to_string()],
    );
    assert!(ok, "{output}");
    assert!(output.contains("py-consul acceptance: ok"), "{output}");
}

#[tokio::test]
async fn py_consul_manages_acl_policies_and_tokens_that_are_enforced() {
    let nats = NatsServer::start();
    let management = "py-consul-management-token";
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
    let (ok, output) = run(
        "consul_acl.py",
        &[
            "127.0.0.1".into(),
            n.consul_port.to_string(),
            management.into(),
        ],
    );
    assert!(ok, "{output}");
    assert!(output.contains("py-consul acl acceptance: ok"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_sdk_python_drives_configs_listeners_naming_and_pushes() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let work = tempfile::tempdir().unwrap();
    let (ok, output) = tokio::task::spawn_blocking({
        let args = vec![
            "127.0.0.1".to_string(),
            n.port.to_string(),
            work.path().display().to_string(),
            "scenario".into(),
        ];
        move || run("nacos_sdk.py", &args)
    })
    .await
    .unwrap();
    assert!(ok, "{output}");
    assert!(
        output.contains("nacos-sdk-python acceptance: ok"),
        "{output}"
    );
}

/// The instances of a service as Nacos HTTP clients list them.
async fn hosts(n: &Nacre, service: &str) -> Vec<String> {
    let list: serde_json::Value = http()
        .get(n.url(&format!("/nacos/v1/ns/instance/list?serviceName={service}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["hosts"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|i| format!("{}:{}", i["ip"].as_str().unwrap_or(""), i["port"]))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_client_process_removes_its_instances_and_subscribers_hear_it() {
    use std::io::BufRead;
    use std::sync::Arc;

    use nacos_sdk::api::naming::{NamingChangeEvent, NamingEventListener, NamingServiceBuilder};
    use nacos_sdk::api::props::ClientProps;

    struct Pushes(tokio::sync::mpsc::UnboundedSender<usize>);
    impl NamingEventListener for Pushes {
        fn event(&self, event: Arc<NamingChangeEvent>) {
            let _ = self.0.send(event.instances.as_ref().map_or(0, Vec::len));
        }
    }

    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let work = tempfile::tempdir().unwrap();
    let consumer = NamingServiceBuilder::new(
        ClientProps::new()
            .server_addr(format!("127.0.0.1:{}", n.port))
            .env_first(false)
            .naming_push_empty_protection(false)
            .cache_dir(work.path().join("rust")),
    )
    .build()
    .await
    .unwrap();
    let (tx, mut pushes) = tokio::sync::mpsc::unbounded_channel();
    consumer
        .subscribe("held".into(), None, vec![], Arc::new(Pushes(tx)))
        .await
        .unwrap();

    let mut client = Command::new(python())
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/nacos_sdk.py"))
        .args(["127.0.0.1", &n.port.to_string()])
        .arg(work.path())
        .args(["hold", "held", "9100"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = client.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(line.trim(), "registered");
    assert_eq!(hosts(&n, "held").await, vec!["10.7.7.7:9100".to_string()]);
    // The subscriber has the instance (it was pushed the empty service when it subscribed, as
    // Nacos pushes a first subscription, and the instance since).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let count = tokio::time::timeout_at(deadline, pushes.recv())
            .await
            .expect("a push of the registered instance")
            .unwrap();
        if count == 1 {
            break;
        }
    }

    client.kill().unwrap(); // SIGKILL: no goodbye from the client
    client.wait().unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let count = tokio::time::timeout_at(deadline, pushes.recv())
            .await
            .expect("a push after the client died")
            .unwrap();
        if count == 0 {
            break;
        }
    }
    assert!(hosts(&n, "held").await.is_empty());
}
