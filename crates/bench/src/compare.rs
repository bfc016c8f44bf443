//! `make bench`: every hot path driven by wrk against Nacre, beside its ceiling measured in the
//! same run by the same generator, and beside r-nacos when `RNACOS` names its binary. Rounds
//! alternate between the targets of a path, so a slow minute of the machine hurts all of them;
//! each figure is min / median / max over the rounds.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::wrk::{self, Run};
use crate::{BenchArgs, KillOnDrop, TempDir, free_port, start_standalone, tempfile_dir};

/// The config read by the GET paths: 200 bytes, as in the write scripts.
pub const CONTENT: &str = "bench-content-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789-abcdefghijklm";
/// Connections for reads and for writes (writes wait on the disk; more would only queue).
const READ_CONNECTIONS: usize = 64;
const WRITE_CONNECTIONS: usize = 32;

/// Config POST over 1,000 keys; every body differs so no write is a no-op.
const CONFIG_POST: &str = r#"
local base, n = 0, 0
local pad = string.rep("x", 180)
function init(args) base = tonumber(args[1]) or 0 end
function request()
  n = n + 1
  local body = "dataId=bench-w-" .. (n % 1000) .. "&group=DEFAULT_GROUP&content=" .. (base + n) .. pad
  return wrk.format("POST", "/nacos/v1/cs/configs",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"#;

/// Ephemeral instance registration (HTTP v1) over 1,000 instances, as clients re-register them.
/// (New instances each time would leave hundreds of thousands to expire during later runs.)
const REGISTER: &str = r#"
local n = 0
function request()
  n = n + 1
  local i = n % 1000
  local ip = "10." .. (math.floor(i / 65536) % 256) .. "." .. (math.floor(i / 256) % 256) .. "." .. (i % 256)
  return wrk.format("POST", "/nacos/v1/ns/instance?serviceName=bench-reg&port=8080&ephemeral=true&ip=" .. ip, nil, "")
end
"#;

/// Consul KV PUT over 1,000 keys.
const KV_PUT: &str = r#"
local base, n = 0, 0
local pad = string.rep("x", 180)
function init(args) base = tonumber(args[1]) or 0 end
function request()
  n = n + 1
  return wrk.format("PUT", "/v1/kv/bench/w" .. (n % 1000), nil, (base + n) .. pad)
end
"#;

/// One server measured: a name for the table and its HTTP bases.
#[derive(Clone)]
struct Target {
    name: &'static str,
    nacos: String,
    consul: Option<String>,
}

/// One path measured on several targets.
struct HotPath {
    name: &'static str,
    connections: usize,
    /// The request path for GETs, or the Lua script for writes.
    request: Request,
    targets: Vec<Target>,
}

enum Request {
    Get(&'static str),
    Script(PathBuf),
}

/// Everything started for the comparison; stopped when dropped.
struct Fleet {
    _children: Vec<KillOnDrop>,
    _dirs: Vec<TempDir>,
    _nacre: Vec<crate::Standalone>,
}

pub async fn run(args: &BenchArgs) -> Result<(), String> {
    let http = reqwest::Client::new();
    let scripts = tempfile_dir()?;
    let script = |name: &str, text: &str| -> Result<PathBuf, String> {
        let path = scripts.as_ref().join(name);
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        Ok(path)
    };
    let (config_post, register, kv_put) = (
        script("config_post.lua", CONFIG_POST)?,
        script("register.lua", REGISTER)?,
        script("kv_put.lua", KV_PUT)?,
    );

    let mut children = Vec::new();
    let mut dirs = Vec::new();
    let nats = nats_server(args);
    let fsync_nats = start_nats(&nats, "always", &mut children, &mut dirs)?;
    let relaxed_nats = start_nats(&nats, "2m", &mut children, &mut dirs)?;
    let ceiling_read = start_ceiling(None, &mut children)?;
    let ceiling_fsync = start_ceiling(Some(&fsync_nats), &mut children)?;
    let ceiling_relaxed = start_ceiling(Some(&relaxed_nats), &mut children)?;

    let durable = start_standalone(args, &[("NACRE_NATS_STANDALONE_SYNC_INTERVAL", "always")])?;
    let relaxed = start_standalone(args, &[("NACRE_NATS_STANDALONE_SYNC_INTERVAL", "2m")])?;
    let rnacos = match std::env::var_os("RNACOS") {
        Some(bin) => Some(start_rnacos(Path::new(&bin), &mut children, &mut dirs)?),
        None => None,
    };

    let handler = |name, base: &str| Target {
        name,
        nacos: base.to_owned(),
        consul: Some(base.to_owned()),
    };
    let read_ceiling = handler("bare axum handler", &ceiling_read);
    let write_ceilings = [
        handler("axum → JetStream ack (fsync)", &ceiling_fsync),
        handler("axum → JetStream ack (sync 2m)", &ceiling_relaxed),
    ];
    let nacre_durable = Target {
        name: "Nacre (fsync, default)",
        nacos: durable.base.clone(),
        consul: Some(durable.consul_base.clone()),
    };
    let nacre_relaxed = Target {
        name: "Nacre (sync-interval 2m)",
        nacos: relaxed.base.clone(),
        consul: Some(relaxed.consul_base.clone()),
    };
    let rnacos_target = rnacos.map(|base| Target {
        name: "r-nacos",
        nacos: base,
        consul: None,
    });

    for target in [&nacre_durable, &nacre_relaxed] {
        wait_http(
            &http,
            &format!("{}/nacos/v1/console/health/readiness", target.nacos),
            true,
        )
        .await?;
        seed(&http, target).await?;
    }
    for base in [&ceiling_read, &ceiling_fsync, &ceiling_relaxed] {
        wait_http(&http, base, true).await?;
    }
    if let Some(r) = &rnacos_target {
        wait_http(&http, &format!("{}/nacos/v1/cs/configs", r.nacos), false).await?;
        seed(&http, r).await?;
    }

    let with_rnacos = |mut targets: Vec<Target>| {
        targets.extend(rnacos_target.clone());
        targets
    };
    let writes = |extra: Vec<Target>| {
        let mut targets = write_ceilings.to_vec();
        targets.push(nacre_durable.clone());
        targets.push(nacre_relaxed.clone());
        targets.extend(extra);
        targets
    };
    let reads = vec![read_ceiling.clone(), nacre_durable.clone()];
    let paths = vec![
        HotPath {
            name: "config GET (HTTP v1)",
            connections: READ_CONNECTIONS,
            request: Request::Get("/nacos/v1/cs/configs?dataId=bench-r&group=DEFAULT_GROUP"),
            targets: with_rnacos(reads.clone()),
        },
        HotPath {
            name: "config GET (HTTP v2)",
            connections: READ_CONNECTIONS,
            request: Request::Get("/nacos/v2/cs/config?dataId=bench-r&group=DEFAULT_GROUP"),
            targets: reads.clone(),
        },
        HotPath {
            name: "instance list, 10 instances",
            connections: READ_CONNECTIONS,
            request: Request::Get("/nacos/v1/ns/instance/list?serviceName=bench-list"),
            targets: with_rnacos(reads.clone()),
        },
        HotPath {
            name: "Consul KV GET",
            connections: READ_CONNECTIONS,
            request: Request::Get("/v1/kv/bench/r"),
            targets: reads.clone(),
        },
        HotPath {
            name: "config POST, 1,000 keys",
            connections: WRITE_CONNECTIONS,
            request: Request::Script(config_post),
            targets: writes(rnacos_target.iter().cloned().collect()),
        },
        HotPath {
            name: "instance register (ephemeral, HTTP v1), 1,000 instances",
            connections: WRITE_CONNECTIONS,
            request: Request::Script(register),
            targets: writes(rnacos_target.iter().cloned().collect()),
        },
        HotPath {
            name: "Consul KV PUT, 1,000 keys",
            connections: WRITE_CONNECTIONS,
            request: Request::Script(kv_put),
            targets: writes(Vec::new()),
        },
    ];
    let paths: Vec<HotPath> = paths
        .into_iter()
        .filter(|p| {
            args.only
                .as_ref()
                .is_none_or(|only| p.name.contains(only.as_str()))
        })
        .collect();
    let fleet = Fleet {
        _children: children,
        _dirs: dirs,
        _nacre: vec![durable, relaxed],
    };

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "nacre-bench: wrk -t1 ({}), {} per run, {} rounds alternating between targets, {} cores, load average {}",
        wrk::binary(),
        humantime::format_duration(args.duration),
        args.rounds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if rnacos_target.is_none() {
        println!("(r-nacos not measured: set RNACOS to its binary)");
    }
    // A short warm-up of every target and path (connections, allocator, page cache).
    for path in &paths {
        for target in &path.targets {
            measure(path, target, Duration::from_secs(1), 0)?;
        }
    }
    let mut results: Vec<Vec<Vec<Run>>> = paths
        .iter()
        .map(|p| vec![Vec::new(); p.targets.len()])
        .collect();
    for round in 1..=args.rounds {
        for (p, path) in paths.iter().enumerate() {
            for (t, target) in path.targets.iter().enumerate() {
                let run = measure(path, target, args.duration, round)?;
                results[p][t].push(run);
            }
        }
        eprintln!("round {round}/{} done", args.rounds);
    }
    print_table(&paths, &results);
    drop(fleet);
    Ok(())
}

/// One wrk run of `path` against `target`.
fn measure(
    path: &HotPath,
    target: &Target,
    duration: Duration,
    round: usize,
) -> Result<Run, String> {
    let base = match (&path.request, path.name.starts_with("Consul")) {
        (_, true) => target.consul.clone().unwrap_or_default(),
        _ => target.nacos.clone(),
    };
    let offset = (round * 1_000_000).to_string();
    match &path.request {
        Request::Get(request) => wrk::run(
            &format!("{base}{request}"),
            path.connections,
            duration,
            None,
            &[],
        ),
        Request::Script(script) => wrk::run(
            &base,
            path.connections,
            duration,
            Some(script),
            std::slice::from_ref(&offset),
        ),
    }
    .map_err(|e| format!("{} on {}: {e}", path.name, target.name))
}

fn print_table(paths: &[HotPath], results: &[Vec<Vec<Run>>]) {
    println!();
    println!(
        "| path | target | req/s min | req/s median | req/s max | p50 ms | p99 ms | of ceiling | errors |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (path, runs) in paths.iter().zip(results) {
        let ceiling = median(runs[0].iter().map(|r| r.requests_per_sec));
        for (target, runs) in path.targets.iter().zip(runs) {
            let rates: Vec<f64> = runs.iter().map(|r| r.requests_per_sec).collect();
            let rate = median(rates.iter().copied());
            let of_ceiling = if target.name.starts_with("bare") || target.name.starts_with("axum") {
                "–".to_owned()
            } else {
                format!("{:.2}", rate / ceiling)
            };
            println!(
                "| {} | {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {} |",
                path.name,
                target.name,
                rates.iter().copied().fold(f64::INFINITY, f64::min),
                rate,
                rates.iter().copied().fold(0.0, f64::max),
                median(runs.iter().map(|r| r.p50_ms)),
                median(runs.iter().map(|r| r.p99_ms)),
                of_ceiling,
                runs.iter().map(|r| r.errors).sum::<u64>(),
            );
        }
    }
    println!();
    println!(
        "\"of ceiling\": the median against the first ceiling of the path (reads: the bare handler; writes: the fsync'd JetStream ack). p50/p99: medians over the rounds."
    );
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// What every target holds before the reads: the config, ten persistent instances, the key.
async fn seed(http: &reqwest::Client, target: &Target) -> Result<(), String> {
    let ok = |r: Result<reqwest::Response, reqwest::Error>, what: &str| match r {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("{what} on {}: {}", target.name, r.status())),
        Err(e) => Err(format!("{what} on {}: {e}", target.name)),
    };
    let base = &target.nacos;
    ok(
        http.post(format!("{base}/nacos/v1/cs/configs"))
            .form(&[
                ("dataId", "bench-r"),
                ("group", "DEFAULT_GROUP"),
                ("content", CONTENT),
            ])
            .send()
            .await,
        "seeding the config",
    )?;
    for i in 1..=10 {
        ok(
            http.post(format!("{base}/nacos/v1/ns/instance"))
                .query(&[
                    ("serviceName", "bench-list"),
                    ("ip", &format!("10.1.0.{i}")),
                    ("port", "8080"),
                    ("ephemeral", "false"),
                ])
                .send()
                .await,
            "seeding an instance",
        )?;
    }
    if let Some(consul) = &target.consul {
        ok(
            http.put(format!("{consul}/v1/kv/bench/r"))
                .body(CONTENT)
                .send()
                .await,
            "seeding the key",
        )?;
    }
    Ok(())
}

/// Polls `url` until it answers (with a success when `success` is asked for).
async fn wait_http(http: &reqwest::Client, url: &str, success: bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match http.get(url).send().await {
            Ok(r) if !success || r.status().is_success() => return Ok(()),
            _ if Instant::now() > deadline => return Err(format!("{url} did not come up")),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn nats_server(args: &BenchArgs) -> PathBuf {
    args.nats_server
        .clone()
        .or_else(|| std::env::var_os("NACRE_NATS_STANDALONE_BINARY").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("nats-server"))
}

/// A nats-server with JetStream and the given `sync_interval`; returns its URL.
fn start_nats(
    binary: &Path,
    sync_interval: &str,
    children: &mut Vec<KillOnDrop>,
    dirs: &mut Vec<TempDir>,
) -> Result<String, String> {
    let dir = tempfile_dir()?;
    let port = free_port().map_err(|e| e.to_string())?;
    let conf = dir.as_ref().join("nats.conf");
    std::fs::write(
        &conf,
        format!(
            "listen: 127.0.0.1:{port}\njetstream {{ store_dir: {:?}, sync_interval: {sync_interval} }}\n",
            dir.as_ref().join("store")
        ),
    )
    .map_err(|e| e.to_string())?;
    let child = Command::new(binary)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    children.push(KillOnDrop(child));
    dirs.push(dir);
    wait_port(port)?;
    Ok(format!("nats://127.0.0.1:{port}"))
}

/// This binary again, serving a ceiling; returns its HTTP base.
fn start_ceiling(nats: Option<&str>, children: &mut Vec<KillOnDrop>) -> Result<String, String> {
    let port = free_port().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("--serve-ceiling").arg(port.to_string());
    if let Some(nats) = nats {
        cmd.arg("--ceiling-nats").arg(nats);
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start a ceiling: {e}"))?;
    children.push(KillOnDrop(child));
    wait_port(port)?;
    Ok(format!("http://127.0.0.1:{port}"))
}

/// r-nacos on free ports with its data in a temporary directory; returns its HTTP base.
fn start_rnacos(
    binary: &Path,
    children: &mut Vec<KillOnDrop>,
    dirs: &mut Vec<TempDir>,
) -> Result<String, String> {
    let dir = tempfile_dir()?;
    let port = free_port().map_err(|e| e.to_string())?;
    let grpc = free_port().map_err(|e| e.to_string())?;
    let child = Command::new(binary)
        .current_dir(dir.as_ref())
        .env("RNACOS_HTTP_PORT", port.to_string())
        .env("RNACOS_GRPC_PORT", grpc.to_string())
        .env("RNACOS_HTTP_CONSOLE_PORT", "0")
        .env("RNACOS_CONFIG_DB_DIR", dir.as_ref().join("db"))
        .env("RNACOS_RAFT_NODE_ADDR", format!("127.0.0.1:{grpc}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start r-nacos ({}): {e}", binary.display()))?;
    children.push(KillOnDrop(child));
    dirs.push(dir);
    wait_port(port)?;
    Ok(format!("http://127.0.0.1:{port}"))
}

fn wait_port(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
