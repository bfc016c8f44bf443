//! Test harness: real nats-servers (free port, temporary store) and real `nacre` processes.
//!
//! One harness on purpose: one way to start NATS servers, clusters and nodes, one client per
//! protocol, one `eventually`; the gRPC client is in `grpc.rs`.
#![allow(dead_code)]

pub mod grpc;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The nats-server tests run against: $NACRE_TEST_NATS_SERVER, else the one `make` installed,
/// else `nats-server` on PATH.
pub fn nats_server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("NACRE_TEST_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let version = std::fs::read_to_string(root.join("NATS_VERSION")).unwrap_or_default();
    let installed = root.join(format!(".tools/nats-server-{}/nats-server", version.trim()));
    if installed.exists() {
        return installed;
    }
    PathBuf::from("nats-server")
}

/// Ports come from below the kernel's ephemeral range (32768 and up), so no outbound connection
/// can take one between the check here and the server's own bind; and from a counter, so two
/// tests of one binary never pick the same one. (Picking a port the kernel just handed out and
/// released lost that race on CI: "Address already in use".)
fn candidate_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let offset = (std::process::id().wrapping_mul(7919) + n) % 11_000;
    20_000 + offset as u16
}

fn bindable(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

pub fn free_port() -> u16 {
    loop {
        let port = candidate_port();
        if bindable(port) {
            return port;
        }
    }
}

/// A free port whose Nacos gRPC neighbour (port + 1000) is free too.
pub fn http_port() -> u16 {
    loop {
        let port = candidate_port();
        if port + 1000 < 32_768 && bindable(port) && bindable(port + 1000) {
            return port;
        }
    }
}

/// Waits until something listens on a loopback port (a server just spawned), for at most 30 s.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not open port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A nats-server with JetStream on a free loopback port and a temporary store.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl NatsServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = NatsServer {
            child: None,
            port: free_port(),
            dir,
        };
        server.spawn();
        server
    }

    /// A server on an existing JetStream store directory (a second server on one store is what
    /// the data-directory lock prevents; tests reproduce its damage with this).
    pub fn on_store(store: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(nats_server_binary())
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed: run `make nats-server`");
        wait_for_port(port, "nats-server");
        NatsServer {
            child: Some(child),
            port,
            dir,
        }
    }

    fn spawn(&mut self) {
        let store = self.dir.path().join("jetstream");
        let child = Command::new(nats_server_binary())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed: run `make nats-server`");
        self.child = Some(child);
        wait_for_port(self.port, "nats-server");
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Deletes the JetStream store and restarts empty on the same port: a wiped volume.
    pub fn wipe_and_restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(self.dir.path().join("jetstream"));
        self.spawn();
    }

    /// Restarts on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.url()).await.unwrap()
    }

    /// The event stream's last sequence: proof that something, or nothing, was written.
    pub async fn last_seq(&self) -> u64 {
        let js = async_nats::jetstream::new(self.client().await);
        js.get_stream("NACRE_EVENTS")
            .await
            .unwrap()
            .get_info()
            .await
            .unwrap()
            .state
            .last_sequence
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `nacre serve` process.
pub struct Nacre {
    child: Option<Child>,
    pub port: u16,
    /// The Consul API port (a free one per node).
    pub consul_port: u16,
    pub data_dir: PathBuf,
    env: Vec<(String, String)>,
    nats_url: Option<String>,
    _tmp: Option<tempfile::TempDir>,
}

impl Nacre {
    /// Standalone mode on a fresh data directory.
    pub async fn standalone() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut n = Self::spawn(dir, None, vec![]).await;
        n._tmp = Some(tmp);
        n
    }

    /// Standalone mode on a given data directory.
    pub async fn standalone_in(dir: &Path) -> Self {
        Self::spawn(dir.to_path_buf(), None, vec![]).await
    }

    /// Standalone mode on a given data directory, with extra environment.
    pub async fn standalone_with(dir: &Path, env: &[(&str, &str)]) -> Self {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::spawn(dir.to_path_buf(), None, env).await
    }

    /// A node that is not started: `start`, `start_expecting_failure` or `cli` it.
    pub fn unstarted(dir: &Path, env: &[(&str, &str)]) -> Self {
        Nacre {
            child: None,
            port: http_port(),
            consul_port: free_port(),
            data_dir: dir.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            nats_url: None,
            _tmp: None,
        }
    }

    /// Runs `nacre ARGS` (backup, restore, status, verify, rebuild) with this node's settings:
    /// whether it succeeded, and its stdout and stderr.
    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
        cmd.args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--config")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/application.yml"));
        if let Some(url) = &self.nats_url {
            cmd.arg("--nats-url").arg(url);
        }
        cmd.env("NACRE_NATS_STANDALONE_BINARY", nats_server_binary())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("nacre binary");
        outcome(out)
    }

    /// Against an external NATS server.
    pub async fn external(nats: &NatsServer) -> Self {
        Self::external_with(nats, &[]).await
    }

    /// Against an external NATS server, on a given data directory.
    pub async fn external_in(nats: &NatsServer, dir: &Path) -> Self {
        Self::spawn(dir.to_path_buf(), Some(nats.url()), vec![]).await
    }

    pub async fn external_with(nats: &NatsServer, env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut n = Self::spawn(tmp.path().to_path_buf(), Some(nats.url()), env).await;
        n._tmp = Some(tmp);
        n
    }

    /// A node on any NATS URL (a server the test started itself), with extra environment.
    pub async fn at(url: &str, env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut n = Self::spawn(tmp.path().to_path_buf(), Some(url.to_owned()), env).await;
        n._tmp = Some(tmp);
        n
    }

    /// Like `at`, but the node is expected to refuse to start: its exit code and stderr.
    pub fn at_expecting_failure(url: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
        let tmp = tempfile::tempdir().unwrap();
        let n = Nacre {
            child: None,
            port: http_port(),
            consul_port: free_port(),
            data_dir: tmp.path().to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            nats_url: Some(url.to_owned()),
            _tmp: Some(tmp),
        };
        n.start_expecting_failure()
    }

    async fn spawn(
        data_dir: PathBuf,
        nats_url: Option<String>,
        env: Vec<(String, String)>,
    ) -> Self {
        let mut n = Nacre {
            child: None,
            port: http_port(),
            consul_port: free_port(),
            data_dir,
            env,
            nats_url,
            _tmp: None,
        };
        n.start().await;
        n
    }

    /// Starts the process (again) with the same port, data directory and settings.
    pub async fn start(&mut self) {
        self.start_with(&[]).await;
    }

    /// Starts the process and waits only until it answers HTTP (ready or not).
    pub async fn start_unready(&mut self) {
        self.child = Some(
            self.command()
                .stdin(Stdio::null())
                .spawn()
                .expect("nacre binary"),
        );
        let url = self.url("/health/live");
        eventually_for("nacre answers HTTP", Duration::from_secs(60), || {
            let request = reqwest::Client::new().get(&url);
            async move { request.send().await.is_ok() }
        })
        .await;
    }

    /// Starts with extra `serve` arguments (e.g. `--accept-empty-store`).
    pub async fn start_with(&mut self, args: &[&str]) {
        let mut cmd = self.command();
        cmd.args(args);
        self.child = Some(cmd.stdin(Stdio::null()).spawn().expect("nacre binary"));
        self.wait_ready().await;
    }

    /// Runs `nacre serve` expecting it to refuse to start: its exit code and stderr.
    pub fn start_expecting_failure(&self) -> (Option<i32>, String) {
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nacre binary");
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("nacre started instead of refusing");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--port")
            .arg(self.port.to_string());
        cmd.arg("--config")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/application.yml"));
        if let Some(url) = &self.nats_url {
            cmd.arg("--nats-url").arg(url);
        }
        cmd.env("NACRE_NATS_STANDALONE_BINARY", nats_server_binary());
        cmd.arg("--consul-port").arg(self.consul_port.to_string());
        cmd.env("NACRE_NODE_NAME", format!("test-{}", self.port));
        cmd.env(
            "RUST_LOG",
            std::env::var("NACRE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        );
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// A URL on the Consul API.
    pub fn consul(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.consul_port)
    }

    pub async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("nacre exited during start-up: {status}");
            }
            if let Ok(r) = client
                .get(self.url("/nacos/v1/console/health/readiness"))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "nacre did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM and wait: a clean stop (which also stops a standalone nats-server child).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "nacre did not stop on SIGTERM");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The nacre process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// The standalone child's pid, from the pid file nats-server writes.
    pub fn nats_child_pid(&self) -> i32 {
        std::fs::read_to_string(self.data_dir.join("nats-server.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Nacre {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `nacre ARGS --nats-url URL --data-dir DIR` (backup, restore, verify, rebuild) against
/// `nats`, without a config file: whether it succeeded, and its stdout and stderr.
pub fn nacre_cmd(args: &[&str], nats: &NatsServer, data_dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nacre"))
        .args(args)
        .args(["--nats-url", &nats.url(), "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    outcome(out)
}

/// Waits until `nacre verify` agrees: the projector has written every view the stream implies.
pub async fn wait_for_views(nats: &NatsServer, data_dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, out) = nacre_cmd(&["verify"], nats, data_dir);
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the views never caught up: {out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The token secret auth-enabled test nodes sign with.
pub const AUTH_SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256-0123456789";
/// The Consul management token auth-enabled test nodes accept.
pub const CONSUL_MANAGEMENT_TOKEN: &str = "consul-management-token";

/// A node's environment with `auth.enabled`, the test secret and management token, and `extra`.
pub fn auth_env(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![
        ("NACRE_AUTH_ENABLED", "true"),
        ("NACRE_AUTH_TOKEN_SECRET", AUTH_SECRET),
        (
            "NACRE_AUTH_CONSUL_MANAGEMENT_TOKEN",
            CONSUL_MANAGEMENT_TOKEN,
        ),
    ];
    env.extend_from_slice(extra);
    env
}

/// POST /nacos/v1/auth/login → (status, body; Null when it is not JSON).
pub async fn login(n: &Nacre, user: &str, password: &str) -> (u16, serde_json::Value) {
    let r = http()
        .post(n.url("/nacos/v1/auth/login"))
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// A user's access token, asserting the login succeeded.
pub async fn token(n: &Nacre, user: &str, password: &str) -> String {
    let (status, body) = login(n, user, password).await;
    assert_eq!(status, 200, "{body}");
    body["accessToken"].as_str().unwrap().to_owned()
}

/// Sends a request: the answer's status, and its body as JSON (its text as a JSON string when
/// it is not JSON).
pub async fn json_answer(request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// POST /nacos/v1/cs/configs, asserting success.
pub async fn publish(n: &Nacre, data_id: &str, group: &str, content: &str) {
    let r = http()
        .post(n.url("/nacos/v1/cs/configs"))
        .form(&[("dataId", data_id), ("group", group), ("content", content)])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "true"),
        "publish {data_id}"
    );
}

/// GET /nacos/v1/cs/configs → (status, body).
pub async fn get_config(n: &Nacre, data_id: &str, group: &str, tenant: &str) -> (u16, String) {
    let r = http()
        .get(n.url("/nacos/v1/cs/configs"))
        .query(&[("dataId", data_id), ("group", group), ("tenant", tenant)])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Polls until `f` holds or 10 s pass.
pub async fn eventually<F, Fut>(what: &str, f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_for(what, Duration::from_secs(10), f).await
}

/// Waits until `f` holds, for at most `limit`.
pub async fn eventually_for<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `n` lists a listener (HTTP long-poll or gRPC) on a public config: a change
/// published after this reaches it.
pub async fn wait_for_listener(n: &Nacre, group: &str, data_id: &str) {
    let url = n.url("/nacre/v1/configs/listeners");
    eventually(&format!("a listener on {group}/{data_id}"), || {
        let request = http()
            .get(&url)
            .query(&[("group", group), ("dataId", data_id)]);
        async move {
            let (_, body) = json_answer(request).await;
            body["listeners"].as_array().is_some_and(|l| !l.is_empty())
        }
    })
    .await;
}

/// Runs a second nats-server on a store a Nacre already uses, with a Nacre writing through it,
/// for a few presence and lease rounds: the damage two servers on one store leave behind
/// (what the data-directory lock now prevents). Everything it started is stopped on return.
pub async fn run_a_second_server_on(store: &Path) {
    let second = NatsServer::on_store(store);
    let other = Nacre::external(&second).await;
    let refreshed = || {
        let request = reqwest::Client::new().get(other.url("/nacos/v1/core/cluster/nodes"));
        async move {
            let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            body["data"][0]["extendInfo"]["lastRefreshTime"]
                .as_i64()
                .unwrap_or(0)
        }
    };
    let mut first_round = 0;
    while first_round == 0 {
        first_round = refreshed().await;
    }
    eventually(
        "three more presence rounds through the second server",
        || {
            let round = refreshed();
            async move { round.await >= first_round + 5_000 }
        },
    )
    .await;
}

/// A 3-node JetStream cluster on loopback, one server per "datacenter" (server_tags dc:dcN,
/// unique_tag "dc"), as nats/cluster-dc*.conf configures it.
pub struct NatsCluster {
    pub nodes: Vec<ClusterNode>,
    pub dir: tempfile::TempDir,
}

pub struct ClusterNode {
    pub name: String,
    pub port: u16,
    conf: PathBuf,
    child: Option<Child>,
}

impl NatsCluster {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, c)| format!("nats-route://127.0.0.1:{c}"))
            .collect();
        let mut nodes = Vec::new();
        for (i, (port, cluster_port)) in ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let store = dir.path().join(&name);
            let conf = dir.path().join(format!("{name}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{port}\nserver_tags: [\"dc:dc{}\"]\n\
                     jetstream {{\n  store_dir: {store:?}\n  unique_tag: \"dc\"\n}}\n\
                     cluster {{\n  name: drill\n  listen: 127.0.0.1:{cluster_port}\n  routes: [{}]\n}}\n",
                    i + 1,
                    routes.join(", "),
                    store = store.display().to_string(),
                ),
            )
            .unwrap();
            nodes.push(ClusterNode {
                name,
                port: *port,
                conf,
                child: None,
            });
        }
        for node in &mut nodes {
            node.spawn();
        }
        let cluster = NatsCluster { nodes, dir };
        cluster.wait_for_meta_leader().await;
        cluster
    }

    /// Waits until an R3 stream can be created (the cluster elected its meta leader).
    async fn wait_for_meta_leader(&self) {
        let js = async_nats::jetstream::new(self.client().await);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let created = js
                .create_stream(async_nats::jetstream::stream::Config {
                    name: "PROBE".into(),
                    subjects: vec!["probe.>".into()],
                    num_replicas: 3,
                    ..Default::default()
                })
                .await;
            if created.is_ok() {
                let _ = js.delete_stream("PROBE").await;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the NATS cluster did not form: {created:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A client connected to the whole cluster.
    pub async fn client(&self) -> async_nats::Client {
        let addrs: Vec<async_nats::ServerAddr> = self
            .nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port).parse().unwrap())
            .collect();
        async_nats::connect(addrs).await.unwrap()
    }

    /// All servers' URLs, comma-separated, as nats.url takes them.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn node(&mut self, name: &str) -> &mut ClusterNode {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .expect("a node of that name")
    }
}

impl ClusterNode {
    fn spawn(&mut self) {
        let child = Command::new(nats_server_binary())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed: run `make nats-server`");
        self.child = Some(child);
        wait_for_port(self.port, "cluster nats-server");
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

impl Nacre {
    /// Against a NATS cluster, at the given replica count.
    pub async fn clustered(cluster: &NatsCluster, replicas: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let env = vec![("NACRE_NATS_REPLICAS".to_owned(), replicas.to_owned())];
        let mut n = Self::spawn(tmp.path().to_path_buf(), Some(cluster.url()), env).await;
        n._tmp = Some(tmp);
        n
    }
}

/// A finished command as tests judge it: whether it succeeded, and its stdout then stderr.
pub fn outcome(out: std::process::Output) -> (bool, String) {
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
