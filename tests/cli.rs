//! The command line: configuration errors and a missing nats-server are explained, not panicked.

use std::process::Command;

fn nacre(env: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.arg("serve")
        .args(args)
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .env("NACRE_SERVER_CONSUL_PORT", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_invalid_setting_is_named_and_exits_non_zero() {
    let (code, stderr) = nacre(&[("NACRE_SERVER_PORT", "not-a-port")], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("port"), "{stderr}");
    let (code, stderr) = nacre(&[("NACRE_NATS_REPLICAS", "3")], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("nats.replicas"), "{stderr}");
}

#[test]
fn an_unreadable_config_file_is_reported() {
    let (code, stderr) = nacre(&[], &["--config", "/nonexistent/application.yml"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("/nonexistent/application.yml"), "{stderr}");
}

#[test]
fn a_missing_nats_server_says_how_to_install_one() {
    let (code, stderr) = nacre(
        &[("NACRE_NATS_STANDALONE_BINARY", "/nonexistent/nats-server")],
        &["--port", "1"],
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("nats-server not found") && stderr.contains("make nats-server"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_nats_is_reported_with_its_cause_after_a_startup_line() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    // The HTTP port is never bound: connecting to NATS comes first.
    let (code, stderr) = nacre(&[], &["--nats-url", &url, "--port", "18999"]);
    assert_eq!(code, Some(1), "{stderr}");
    // What is starting comes first: version, commit, mode, the NATS it was given.
    let version = format!("starting Nacre {} (", env!("CARGO_PKG_VERSION"));
    assert!(
        stderr.contains(&version) && stderr.contains("mode=\"cluster\""),
        "{stderr}"
    );
    // Then why it cannot go on: the server's own error, not a bare "IO error".
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("refused"),
        "{stderr}"
    );
}
