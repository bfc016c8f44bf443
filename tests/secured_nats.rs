//! Nacre on a secured NATS: TLS with client certificates (made here, per run), a password, and
//! the account layout `nats/secured.conf` ships — Nacre's user limited to the subjects Nacre
//! needs, and a read-only account for outside subscribers of the event subjects.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use futures::StreamExt;

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1/localhost, and a client certificate.
    fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, name: &str| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &issuer)
                .unwrap();
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(
                dir.path().join(format!("{name}-key.pem")),
                key.serialize_pem(),
            )
            .unwrap();
        };
        leaf(vec!["127.0.0.1".into(), "localhost".into()], "server");
        leaf(vec!["nacre-client".into()], "client");
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// nats-server running the shipped `nats/secured.conf`.
struct SecuredNats {
    child: Child,
    port: u16,
    _store: tempfile::TempDir,
}

impl Drop for SecuredNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_secured(pki: &Pki) -> SecuredNats {
    let store = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("nats/secured.conf");
    let child = Command::new(nats_server_binary())
        .arg("-c")
        .arg(&conf)
        .env("NATS_HOST", "127.0.0.1")
        .env("NATS_PORT", port.to_string())
        .env("NATS_STORE_DIR", store.path())
        .env("NATS_TLS_CERT", pki.path("server.pem"))
        .env("NATS_TLS_KEY", pki.path("server-key.pem"))
        .env("NATS_TLS_CA", pki.path("ca.pem"))
        .env("NATS_NACRE_PASSWORD", "nacre-secret")
        .env("NATS_READER_PASSWORD", "reader-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, "secured nats-server");
    SecuredNats {
        child,
        port,
        _store: store,
    }
}

fn tls_env(pki: &[(String, String)]) -> Vec<(&str, &str)> {
    pki.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn nacre_env(pki: &Pki, password: &str) -> Vec<(String, String)> {
    vec![
        ("NACRE_NATS_USER".into(), "nacre".into()),
        ("NACRE_NATS_PASSWORD".into(), password.into()),
        (
            "NACRE_NATS_TLS_CA_FILE".into(),
            pki.path("ca.pem").display().to_string(),
        ),
        (
            "NACRE_NATS_TLS_CERT_FILE".into(),
            pki.path("client.pem").display().to_string(),
        ),
        (
            "NACRE_NATS_TLS_KEY_FILE".into(),
            pki.path("client-key.pem").display().to_string(),
        ),
        ("NACRE_NATS_TLS_REQUIRED".into(), "true".into()),
    ]
}

async fn reader(pki: &Pki, port: u16) -> async_nats::Client {
    async_nats::ConnectOptions::with_user_and_password("reader".into(), "reader-secret".into())
        .add_root_certificates(pki.path("ca.pem"))
        .add_client_certificate(pki.path("client.pem"), pki.path("client-key.pem"))
        .require_tls(true)
        .connect(format!("tls://127.0.0.1:{port}"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_runs_on_a_tls_and_password_secured_nats_with_least_privilege() {
    let pki = Pki::new();
    let nats = start_secured(&pki);
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let env = nacre_env(&pki, "nacre-secret");
    let n = Nacre::at(&url, &tls_env(&env)).await;

    // An outside reader sees the events, read-only.
    let reader = reader(&pki, nats.port).await;
    let mut events = reader.subscribe("nacre.evt.cfg.>").await.unwrap();
    let mut everything = reader.subscribe("nacre.evt.>").await.unwrap();
    reader.flush().await.unwrap();

    // Credential events (a bcrypt hash here) are not exported to readers.
    let admin = http()
        .post(n.url("/nacos/v1/auth/users/admin"))
        .form(&[("password", "admin-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);

    // Every kind of write works under the restricted user: configs, naming, Consul KV, packages.
    publish(&n, "secured", "G", "v1").await;
    assert_eq!(get_config(&n, "secured", "G", "").await, (200, "v1".into()));
    let registered = http()
        .post(n.url("/nacos/v1/ns/instance"))
        .query(&[
            ("serviceName", "svc"),
            ("ip", "10.0.0.1"),
            ("port", "80"),
            ("ephemeral", "false"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);
    let kv = http()
        .put(n.consul("/v1/kv/secured/key"))
        .body("value")
        .send()
        .await
        .unwrap();
    assert_eq!(kv.text().await.unwrap(), "true");
    let uploaded = http()
        .put(n.url("/nacre/v1/packages/linux/agent/1.0/agent.bin"))
        .body(vec![7u8; 300_000])
        .send()
        .await
        .unwrap();
    assert!(uploaded.status().is_success(), "{}", uploaded.status());
    let downloaded = http()
        .get(n.url("/nacre/v1/packages/linux/agent/1.0/agent.bin"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(downloaded.len(), 300_000);

    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("the reader receives the config event")
        .unwrap();
    assert!(
        event.subject.starts_with("nacre.evt.cfg."),
        "{}",
        event.subject
    );
    let first = tokio::time::timeout(Duration::from_secs(5), everything.next())
        .await
        .expect("the reader receives events")
        .unwrap();
    assert!(
        first.subject.starts_with("nacre.evt.cfg."),
        "the user event must not reach readers, got {}",
        first.subject
    );
    // It can write nothing: its publishes are refused by the server's permissions.
    let before = get_config(&n, "secured", "G", "").await;
    let _ = reader
        .publish(event.subject.clone(), event.payload.clone())
        .await;
    let _ = reader.flush().await;
    let js = async_nats::jetstream::new(reader.clone());
    assert!(
        js.get_stream("NACRE_EVENTS").await.is_err(),
        "readers have no JetStream access"
    );
    assert_eq!(get_config(&n, "secured", "G", "").await, before);

    // Backups talk to NATS directly, with the same credentials and TLS as `serve`.
    let backup = |password: &str| {
        let dir = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"))
            .arg("backup")
            .arg(dir.path())
            .args(["--nats-url", &url, "--data-dir"])
            .arg(data.path())
            .envs(nacre_env(&pki, password))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let taken = dir.path().join("NACRE_EVENTS").join("backup.json").exists();
        (
            out.status.success() && taken,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stderr) = backup("nacre-secret");
    assert!(ok, "{stderr}");
    let (ok, stderr) = backup("wrong-password");
    assert!(!ok, "a backup with a wrong password must fail: {stderr}");
    assert!(stderr.to_lowercase().contains("authorization"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_or_no_client_certificate_stop_nacre_with_a_clear_error() {
    let pki = Pki::new();
    let nats = start_secured(&pki);
    let url = format!("tls://127.0.0.1:{}", nats.port);

    let env = nacre_env(&pki, "wrong-password");
    let (code, stderr) = Nacre::at_expecting_failure(&url, &tls_env(&env));
    assert_ne!(code, Some(0));
    assert!(stderr.to_lowercase().contains("authorization"), "{stderr}");

    let mut env = nacre_env(&pki, "nacre-secret");
    env.retain(|(k, _)| {
        !k.starts_with("NACRE_NATS_TLS_CERT") && !k.starts_with("NACRE_NATS_TLS_KEY")
    });
    let (code, stderr) = Nacre::at_expecting_failure(&url, &tls_env(&env));
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("nacre:"),
        "a message, not a panic: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
