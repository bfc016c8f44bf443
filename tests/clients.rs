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
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
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
