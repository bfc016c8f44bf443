//! The Java clients most applications run, unmodified, against Nacre: the official
//! `nacos-client` 2.x and 3.x, a Spring Boot application on Spring Cloud Alibaba's Nacos config
//! and discovery starters, and one on Spring Cloud Consul's. `make java-clients` builds them
//! (tests/clients/java, Maven); $NACRE_TEST_JAVA_CLIENTS points at that directory.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn java_clients() -> PathBuf {
    std::env::var("NACRE_TEST_JAVA_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/java"))
}

fn java() -> PathBuf {
    std::env::var("JAVA_HOME")
        .map(|home| Path::new(&home).join("bin/java"))
        .ok()
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("java"))
}

fn built(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: `make java-clients` builds the Java clients (tests/clients/java)",
        path.display()
    );
    path
}

/// `java` running the nacos-client scenario (tests/clients/java/nacos-scenario) with client
/// generation `generation` ("2" or "3"), its home (cache, snapshots, logs) in `home`.
fn nacos_client_command(generation: &str, n: &Nacre, args: &[&str], home: &Path) -> Command {
    let target = java_clients().join(format!("nacos-{generation}/target"));
    let classpath = std::fs::read_to_string(built(target.join("classpath.txt"))).unwrap();
    let mut cmd = Command::new(java());
    cmd.arg(format!("-Duser.home={}", home.display()))
        .arg("-cp")
        .arg(format!(
            "{}:{}",
            target.join("classes").display(),
            classpath.trim()
        ))
        .arg("nacre.clients.NacosScenario")
        .args(["127.0.0.1", &n.port.to_string()])
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// Runs the scenario to its end: (success, output).
async fn nacos_client(generation: &str, n: &Nacre, args: &[&str]) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = nacos_client_command(generation, n, args, home.path());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    drop(home);
    outcome(out)
}

/// The scenario, then what it left behind as seen over the HTTP API: the marker config, and no
/// instance of the process's connections once it has exited.
async fn nacos_client_scenario(generation: &str) {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let (ok, output) = nacos_client(generation, &n, &["scenario"]).await;
    assert!(ok, "{output}");
    assert!(output.contains("nacos-client acceptance: ok"), "{output}");
    let (status, marker) = get_config(&n, "java-done", "DEFAULT_GROUP", "").await;
    assert_eq!(status, 200);
    assert!(
        marker.starts_with(&format!("by nacos-client {generation}.")),
        "written by the {generation}.x client: {marker}"
    );
    eventually("the exited client's ephemeral instance is gone", || async {
        list(&n, "java-done", "").await["hosts"] == Value::Array(vec![])
    })
    .await;
}

async fn list(n: &Nacre, service: &str, token: &str) -> Value {
    http()
        .get(n.url("/nacos/v1/ns/instance/list"))
        .query(&[("serviceName", service), ("accessToken", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_client_2_configs_namespaces_naming_and_pushes() {
    nacos_client_scenario("2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_client_3_configs_namespaces_naming_and_pushes() {
    nacos_client_scenario("3").await;
}

/// Auth on: the client logs in with username and password (v1 login from 2.x, v3 from 3.x) and
/// works; with a wrong password every request is refused, and nothing it tried was written.
async fn nacos_client_login(generation: &str) {
    let nats = NatsServer::start();
    let n = Nacre::external_with(
        &nats,
        &[
            ("NACRE_AUTH_ENABLED", "true"),
            ("NACRE_AUTH_TOKEN_SECRET", AUTH_SECRET),
        ],
    )
    .await;
    let r = http()
        .post(n.url("/nacos/v1/auth/users/admin"))
        .form(&[("password", "java-admin-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let (ok, output) =
        nacos_client(generation, &n, &["login", "nacos", "java-admin-password"]).await;
    assert!(ok && output.contains("logged in: ok"), "{output}");
    let (ok, output) = nacos_client(generation, &n, &["refused", "nacos", "wrong-password"]).await;
    assert!(ok && output.contains("refused: ok"), "{output}");

    let token = &token(&n, "nacos", "java-admin-password").await;
    let read = |data_id: &'static str| {
        http()
            .get(n.url("/nacos/v1/cs/configs"))
            .query(&[
                ("dataId", data_id),
                ("group", "DEFAULT_GROUP"),
                ("accessToken", token),
            ])
            .send()
    };
    let authed = read("authed").await.unwrap();
    assert_eq!(authed.status(), 200);
    assert_eq!(authed.text().await.unwrap(), "secret-ok");
    assert_eq!(read("intruder").await.unwrap().status(), 404);
    assert_eq!(
        list(&n, "authed-db", token).await["hosts"][0]["ip"],
        "10.8.8.8",
        "the persistent instance registered with a login stays"
    );
    assert_eq!(
        list(&n, "intruder-svc", token).await["hosts"],
        Value::Array(vec![])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_client_2_logs_in_and_a_wrong_password_is_refused() {
    nacos_client_login("2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_client_3_logs_in_and_a_wrong_password_is_refused() {
    nacos_client_login("3").await;
}

/// The client is connected to node A (B is down when it starts, both are in its server list);
/// B starts and A stops: A's ConnectResetRequest sends the client to B, where it registers its
/// instance again, re-subscribes and listens again, as it would after any node's restart.
async fn nacos_client_failover(generation: &str) {
    let nats = NatsServer::start();
    let mut a = Nacre::external(&nats).await;
    let mut b = Nacre::external(&nats).await;
    b.stop();
    let servers = format!("127.0.0.1:{},127.0.0.1:{}", a.port, b.port);
    let home = tempfile::tempdir().unwrap();
    let mut client = nacos_client_command(generation, &a, &["failover", &servers], home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = client.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut stderr = client.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        all
    });
    // Waits up to 90 s for `want` on the client's stdout.
    let wait_for = |rx: &std::sync::mpsc::Receiver<String>, want: &str, seen: &mut Vec<String>| {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !seen.iter().any(|l| l == want) {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => seen.push(line),
                Err(_) => return false,
            }
        }
        true
    };
    let mut seen = Vec::new();
    if !wait_for(&rx, "ready", &mut seen) {
        let _ = client.kill();
        panic!(
            "the client never got ready: {seen:?}\n{}",
            errors.join().unwrap()
        );
    }
    assert_eq!(
        list(&a, "java-failover", "").await["hosts"][0]["ip"],
        "10.5.5.5"
    );

    b.start().await;
    a.stop(); // ConnectResetRequest to every client, then the streams end
    publish(
        &b,
        "java-failover.properties",
        "DEFAULT_GROUP",
        "after=failover",
    )
    .await;
    let r = http()
        .post(b.url("/nacos/v1/ns/instance"))
        .query(&[
            ("serviceName", "java-watch"),
            ("ip", "10.6.6.6"),
            ("port", "80"),
        ])
        .query(&[("ephemeral", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");

    let ok = wait_for(&rx, "failover: ok", &mut seen);
    if !ok {
        let _ = client.kill();
    }
    let status = client.wait().unwrap();
    assert!(
        ok && status.success(),
        "{status}: {seen:?}\n{}",
        errors.join().unwrap()
    );
    eventually("the exited client's instance is gone from B", || async {
        list(&b, "java-failover", "").await["hosts"] == Value::Array(vec![])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_client_2_follows_connect_reset_to_another_node() {
    nacos_client_failover("2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_client_3_follows_connect_reset_to_another_node() {
    nacos_client_failover("3").await;
}

/// A Spring Boot application (java -jar), stopped with SIGTERM (as a platform stops it) when the
/// test ends. Its output goes to a file, shown when an expectation fails.
struct SpringApp {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl SpringApp {
    fn start(jar: &str, args: &[String]) -> Self {
        let jar = built(java_clients().join(jar));
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let port = free_port();
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(java())
            .arg(format!("-Duser.home={}", dir.path().display()))
            .arg("-jar")
            .arg(jar)
            .arg(format!("--server.port={port}"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        SpringApp {
            child: Some(child),
            port,
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn get(&self, path: &str) -> Option<String> {
        let r = http()
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.text().await.ok()
    }

    /// Polls `path` until it answers `want`, or fails with the application's log.
    async fn wait_for(&mut self, path: &str, want: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let got = self.get(path).await;
            if got.as_deref() == Some(want) {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("the application exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} answered {got:?}, not {want:?}, within {within:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then wait for the exit (its shutdown hooks deregister it).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("the application ignored SIGTERM:\n{}", self.log());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for SpringApp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Spring Boot is slow to start on a busy 2-core machine.
const STARTUP: Duration = Duration::from_secs(120);

/// Spring Cloud Alibaba: the application reads its config from Nacre (`spring.config.import:
/// nacos:`), a `@RefreshScope` bean follows a change published over the HTTP API, it registers
/// itself, the official Rust SDK (a second client) is pushed its instance, the application's
/// own DiscoveryClient finds it, and on SIGTERM it deregisters and the subscriber hears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_cloud_alibaba_config_refresh_and_discovery() {
    use nacos_sdk::api::naming::{NamingChangeEvent, NamingEventListener, NamingServiceBuilder};
    use nacos_sdk::api::props::ClientProps;

    struct Pushes(tokio::sync::mpsc::UnboundedSender<Vec<String>>);
    impl NamingEventListener for Pushes {
        fn event(&self, event: Arc<NamingChangeEvent>) {
            let hosts = event
                .instances
                .iter()
                .flatten()
                .map(|i| format!("{}:{}", i.ip, i.port))
                .collect();
            let _ = self.0.send(hosts);
        }
    }

    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    publish(
        &n,
        "nacre-spring.properties",
        "DEFAULT_GROUP",
        "greeting=hello from nacre",
    )
    .await;
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
        .subscribe("nacre-spring".into(), None, vec![], Arc::new(Pushes(tx)))
        .await
        .unwrap();

    let mut app = SpringApp::start(
        "spring-nacos/target/spring-nacos.jar",
        &[format!(
            "--spring.cloud.nacos.server-addr=127.0.0.1:{}",
            n.port
        )],
    );
    let me = format!("127.0.0.1:{}", app.port);
    app.wait_for("/greeting", "hello from nacre", STARTUP).await;

    let deadline = tokio::time::Instant::now() + STARTUP;
    loop {
        let hosts = tokio::time::timeout_at(deadline, pushes.recv())
            .await
            .unwrap_or_else(|_| panic!("no push of the application's instance:\n{}", app.log()))
            .unwrap();
        if hosts == [me.clone()] {
            break;
        }
    }
    app.wait_for(
        "/discover/nacre-spring",
        &format!("[\"{me}\"]"),
        Duration::from_secs(30),
    )
    .await;

    publish(
        &n,
        "nacre-spring.properties",
        "DEFAULT_GROUP",
        "greeting=changed",
    )
    .await;
    app.wait_for("/greeting", "changed", Duration::from_secs(15))
        .await;

    app.stop();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let hosts = tokio::time::timeout_at(deadline, pushes.recv())
            .await
            .unwrap_or_else(|_| panic!("no push after the application stopped:\n{}", app.log()))
            .unwrap();
        if hosts.is_empty() {
            break;
        }
    }
}

async fn consul_put(n: &Nacre, key: &str, value: &str) {
    let r = http()
        .put(n.consul(&format!("/v1/kv/{key}")))
        .body(value.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
}

/// The passing instances of a service as Consul's health endpoint lists them.
async fn passing(n: &Nacre, service: &str) -> Vec<String> {
    let list: Value = http()
        .get(n.consul(&format!("/v1/health/service/{service}?passing")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["Service"]["Address"].as_str().unwrap_or(""),
                e["Service"]["Port"]
            )
        })
        .collect()
}

/// Spring Cloud Consul against Nacre's Consul port: config from KV (`config/<app>/<key>`), a
/// `@RefreshScope` bean following a KV change (the starter's blocking-query watch), registration
/// with its HTTP health check (which Nacre probes until it passes), discovery through the
/// application's own DiscoveryClient, and deregistration on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_cloud_consul_config_refresh_registration_and_discovery() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    consul_put(&n, "config/nacre-consul/greeting", "hello from consul kv").await;

    let mut app = SpringApp::start(
        "spring-consul/target/spring-consul.jar",
        &[format!("--spring.cloud.consul.port={}", n.consul_port)],
    );
    let me = format!("127.0.0.1:{}", app.port);
    app.wait_for("/greeting", "hello from consul kv", STARTUP)
        .await;

    let deadline = Instant::now() + Duration::from_secs(30);
    while passing(&n, "nacre-consul").await != [me.clone()] {
        assert!(
            Instant::now() < deadline,
            "the service's HTTP check never passed:\n{}",
            app.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.wait_for(
        "/discover/nacre-consul",
        &format!("[\"{me}\"]"),
        Duration::from_secs(30),
    )
    .await;

    consul_put(&n, "config/nacre-consul/greeting", "changed").await;
    app.wait_for("/greeting", "changed", Duration::from_secs(15))
        .await;

    app.stop();
    eventually("the application deregistered itself", || async {
        http()
            .get(n.consul("/v1/health/service/nacre-consul"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
            == Value::Array(vec![])
    })
    .await;
}
