//! `nacre-bench`: Nacre measured from outside, beside the ceilings it is judged against.
//!
//! The default scenario, `compare` (what `make bench` runs), drives every hot path with wrk in
//! its own process (see compare.rs). The other scenarios measure what wrk cannot drive — scale,
//! memory, start-up, backups, packages, gRPC — with a Rust client inside this process; their
//! rates are bounded by that client and are not comparisons.
//!
//! Over 600 lines on purpose: the in-process scenarios share one small harness (`drive`, `Phase`,
//! seeding, the standalone starter) and each is one function; `compare` and `scale` live apart.

mod ceiling;
mod compare;
mod scale;
mod wrk;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;

/// Measures a Nacre beside the ceilings it is judged against.
#[derive(Debug, Clone, Parser)]
#[command(name = "nacre-bench", version)]
pub struct BenchArgs {
    /// A running Nacre to measure; without it a standalone one is started.
    #[arg(long)]
    pub addr: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// How long each phase (each wrk run, for `compare`) runs.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Rounds of `compare`, alternating between targets (min/median/max over them).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// `compare` only the paths whose name contains this (e.g. `GET`, `register`).
    #[arg(long)]
    pub only: Option<String>,
    /// Distinct configs read and written.
    #[arg(long, default_value_t = 100)]
    pub keys: usize,
    /// Config content size in bytes.
    #[arg(long, default_value_t = 200)]
    pub content_bytes: usize,
    /// Which measurements: `compare` (wrk against every hot path and its ceilings), or one of
    /// the in-process scenarios.
    #[arg(long, default_value = "compare", value_parser = ["compare", "scale", "config", "naming", "packages", "backup", "consul", "grpc", "tracing", "acl", "all"])]
    pub scenario: String,
    /// Instances registered by the naming scenario (persistent, 100 per service).
    #[arg(long, default_value_t = 10_000)]
    pub instances: usize,
    /// nats-server for the standalone run (default: $NACRE_NATS_STANDALONE_BINARY or PATH).
    #[arg(long)]
    pub nats_server: Option<PathBuf>,
    /// Internal: serve a ceiling on this port (the benchmark starts itself as a child for it).
    #[arg(long, hide = true)]
    pub serve_ceiling: Option<u16>,
    /// Internal: the nats-server a write ceiling appends to.
    #[arg(long, hide = true)]
    pub ceiling_nats: Option<String>,
}

/// Latencies of one phase, in microseconds.
struct Phase {
    name: &'static str,
    latencies: Vec<u32>,
    errors: u64,
    elapsed: Duration,
}

impl Phase {
    fn row(&mut self) -> String {
        self.latencies.sort_unstable();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 * p) as usize)
                .min(self.latencies.len().saturating_sub(1));
            self.latencies.get(i).copied().unwrap_or(0) as f64 / 1000.0
        };
        let rate = self.latencies.len() as f64 / self.elapsed.as_secs_f64();
        format!(
            "| {:<34} | {:>9} | {:>10.0} | {:>8.2} | {:>8.2} | {:>6} |",
            self.name,
            self.latencies.len(),
            rate,
            pct(0.50),
            pct(0.99),
            self.errors
        )
    }
}

/// Runs `op` from `concurrency` workers for `duration`.
async fn drive<F, Fut>(name: &'static str, concurrency: usize, duration: Duration, op: F) -> Phase
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (op, counter, errors) = (op.clone(), counter.clone(), errors.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(16_384);
                while Instant::now() < deadline {
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    if op(i).await {
                        latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap_or_default());
    }
    Phase {
        name,
        latencies,
        errors: errors.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A bare axum GET handler on its own runtime: the ceiling for serving from memory.
fn start_baseline(body: Bytes) -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Runtime::new() else {
            return;
        };
        rt.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            let app = axum::Router::new().route(
                "/c",
                axum::routing::get(move || async move { body.clone() }),
            );
            let _ = axum::serve(listener, app).await;
        });
    });
    Ok(port)
}

/// The `nacre` binary beside this one (cargo builds both into the same directory), or
/// `NACRE_BIN`.
fn nacre_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("NACRE_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = exe.with_file_name("nacre");
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build it (`cargo build --release`) or set NACRE_BIN",
            path.display()
        ))
    }
}

fn main() -> ExitCode {
    let args = BenchArgs::parse();
    tokio::runtime::Runtime::new()
        .expect("a tokio runtime")
        .block_on(run(args))
}

async fn run(args: BenchArgs) -> ExitCode {
    let outcome = if let Some(port) = args.serve_ceiling {
        ceiling::serve(
            port,
            args.ceiling_nats.clone(),
            Bytes::from_static(compare::CONTENT.as_bytes()),
        )
        .await
    } else if args.scenario == "compare" {
        compare::run(&args).await
    } else if args.scenario == "scale" {
        scale::run(&args).await
    } else {
        bench(args).await
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nacre bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A standalone Nacre (with its own nats-server) for one measurement; gone when dropped.
struct Standalone {
    child: KillOnDrop,
    dir: TempDir,
    base: String,
    nats_url: String,
    consul_base: String,
    grpc_port: u16,
}

fn start_standalone(args: &BenchArgs, env: &[(&str, &str)]) -> Result<Standalone, String> {
    let dir = tempfile_dir()?;
    let port = free_port().map_err(|e| e.to_string())?;
    let nats_port = free_port().map_err(|e| e.to_string())?;
    let consul_port = free_port().map_err(|e| e.to_string())?;
    let grpc_port = free_port().map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(nacre_binary()?);
    cmd.args(["serve", "--port", &port.to_string(), "--data-dir"])
        .arg(dir.as_ref());
    cmd.env("NACRE_NATS_STANDALONE_PORT", nats_port.to_string())
        .env("RUST_LOG", "warn")
        .env("NACRE_SERVER_CONSUL_PORT", consul_port.to_string())
        .env("NACRE_SERVER_GRPC_PORT", grpc_port.to_string())
        .envs(env.iter().copied());
    if let Some(bin) = &args.nats_server {
        cmd.env("NACRE_NATS_STANDALONE_BINARY", bin);
    }
    let child = KillOnDrop(
        cmd.spawn()
            .map_err(|e| format!("cannot start nacre: {e}"))?,
    );
    Ok(Standalone {
        child,
        dir,
        base: format!("http://127.0.0.1:{port}"),
        nats_url: format!("nats://127.0.0.1:{nats_port}"),
        consul_base: format!("http://127.0.0.1:{consul_port}"),
        grpc_port,
    })
}

async fn bench(args: BenchArgs) -> Result<(), String> {
    let mut child: Option<KillOnDrop> = None;
    let mut tmp = None;
    let mut nats_url = None;
    let mut consul_base: Option<String> = None;
    let mut grpc_port: Option<u16> = None;
    let base = match &args.addr {
        Some(addr) => addr.trim_end_matches('/').to_owned(),
        None => {
            let started = start_standalone(&args, &[])?;
            consul_base = Some(started.consul_base);
            grpc_port = Some(started.grpc_port);
            nats_url = Some(started.nats_url);
            child = Some(started.child);
            tmp = Some(started.dir);
            started.base
        }
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()
        .map_err(|e| e.to_string())?;
    wait_ready(&http, &base).await?;

    println!(
        "nacre bench: concurrency {}, {:?} per phase, {} cores",
        args.concurrency,
        args.duration,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "| {:<34} | {:>9} | {:>10} | {:>8} | {:>8} | {:>6} |",
        "phase", "requests", "req/s", "p50 ms", "p99 ms", "errors"
    );
    println!(
        "|{:-<36}|{:->11}|{:->12}|{:->10}|{:->10}|{:->8}|",
        "", "", "", "", "", ""
    );
    if args.scenario == "all" || args.scenario == "config" {
        config_phases(&args, &http, &base, nats_url.as_deref()).await?;
    }
    if args.scenario == "all" || args.scenario == "naming" {
        naming_phases(&args, &http, &base, child.as_ref().map(|c| c.0.id())).await?;
    }
    if args.scenario == "all" || args.scenario == "consul" {
        match &consul_base {
            Some(consul) => consul_phases(&args, &http, consul).await?,
            None => println!("(consul phases need the standalone run)"),
        }
    }
    if args.scenario == "all" || args.scenario == "grpc" {
        let port = match grpc_port {
            Some(port) => port,
            // A running Nacre: the Nacos convention, HTTP port + 1000.
            None => base
                .rsplit(':')
                .next()
                .and_then(|p| p.parse::<u16>().ok())
                .map(|p| p.saturating_add(1000))
                .ok_or("cannot tell the gRPC port of --addr")?,
        };
        grpc_phases(&args, &http, &base, port).await?;
    }
    if args.scenario == "tracing" {
        tracing_phases(&args, &http).await?;
    }
    if args.scenario == "acl" {
        acl_phases(&args, &http).await?;
    }
    if args.scenario == "backup" {
        backup_phases(&args, &http, &base, nats_url.as_deref()).await?;
    }
    if args.scenario == "all" || args.scenario == "packages" {
        package_phases(
            &http,
            &base,
            nats_url.as_deref(),
            child.as_ref().map(|c| c.0.id()),
        )
        .await?;
    }
    drop(child);
    drop(tmp);
    Ok(())
}

/// A GET that succeeded and whose body was read in full.
async fn get_ok(http: reqwest::Client, url: String) -> bool {
    match http.get(&url).send().await {
        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
        _ => false,
    }
}

/// Config GET and POST, beside a bare axum handler and raw JetStream publish + ack.
async fn config_phases(
    args: &BenchArgs,
    http: &reqwest::Client,
    base: &str,
    nats_url: Option<&str>,
) -> Result<(), String> {
    let content: String = "x".repeat(args.content_bytes);
    seed_configs(http, base, "bench-", args.keys, &content).await?;

    println!(
        "nacre bench: concurrency {}, {:?} per phase, {} keys, {}-byte content, {} cores",
        args.concurrency,
        args.duration,
        args.keys,
        args.content_bytes,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "| {:<34} | {:>9} | {:>10} | {:>8} | {:>8} | {:>6} |",
        "phase", "requests", "req/s", "p50 ms", "p99 ms", "errors"
    );
    println!(
        "|{:-<36}|{:->11}|{:->12}|{:->10}|{:->10}|{:->8}|",
        "", "", "", "", "", ""
    );

    if args.addr.is_none() {
        let port = start_baseline(Bytes::from(content.clone())).map_err(|e| e.to_string())?;
        let (h, url) = (http.clone(), format!("http://127.0.0.1:{port}/c"));
        let mut phase = drive(
            "baseline: bare axum GET",
            args.concurrency,
            args.duration,
            move |_| get_ok(h.clone(), url.clone()),
        )
        .await;
        println!("{}", phase.row());
    }

    let (h, b, keys) = (http.clone(), base.to_owned(), args.keys as u64);
    let mut phase = drive(
        "config GET /nacos/v1/cs/configs",
        args.concurrency,
        args.duration,
        move |i| {
            get_ok(
                h.clone(),
                format!(
                    "{b}/nacos/v1/cs/configs?dataId=bench-{}&group=BENCH",
                    i % keys
                ),
            )
        },
    )
    .await;
    println!("{}", phase.row());

    let (h, b, c) = (http.clone(), base.to_owned(), content.clone());
    let mut phase = drive(
        "config POST /nacos/v1/cs/configs",
        args.concurrency,
        args.duration,
        move |i| {
            let (h, url) = (h.clone(), format!("{b}/nacos/v1/cs/configs"));
            let form = [
                ("dataId", format!("bench-{}", i % keys)),
                ("group", "BENCH".into()),
                ("content", format!("{c}{i}")),
            ];
            async move {
                matches!(h.post(&url).form(&form).send().await, Ok(r) if r.status().is_success())
            }
        },
    )
    .await;
    println!("{}", phase.row());

    if let Some(url) = nats_url {
        let url = url.to_owned();
        let client = async_nats::connect(&url).await.map_err(|e| e.to_string())?;
        let js = async_nats::jetstream::new(client);
        let stream = js
            .get_or_create_stream(async_nats::jetstream::stream::Config {
                name: "NACRE_BENCH".into(),
                subjects: vec!["nacre-bench.>".into()],
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let payload = Bytes::from(content.clone());
        let mut phase = drive(
            "baseline: JetStream publish+ack",
            args.concurrency,
            args.duration,
            move |i| {
                let (js, payload) = (js.clone(), payload.clone());
                async move {
                    match js
                        .publish(format!("nacre-bench.{}", i % keys), payload)
                        .await
                    {
                        Ok(ack) => ack.await.is_ok(),
                        Err(_) => false,
                    }
                }
            },
        )
        .await;
        println!("{}", phase.row());
        drop(stream);
    }
    Ok(())
}

/// Registration of many instances, list latency for a 1k-instance service, heartbeat rate, RSS.
async fn naming_phases(
    args: &BenchArgs,
    http: &reqwest::Client,
    base: &str,
    pid: Option<u32>,
) -> Result<(), String> {
    let per_service = 100;
    let n = args.instances as u64;
    let (h, b) = (http.clone(), base.to_owned());
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (h, b, next) = (h.clone(), b.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let query = register_query(&format!("bench-svc-{}", i / per_service), i);
                    let t = Instant::now();
                    match h
                        .post(format!("{b}/nacos/v1/ns/instance"))
                        .query(&query)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => {
                            latencies.push(t.elapsed().as_micros() as u32)
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut phase = Phase {
        name: "naming register (persistent)",
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for w in workers {
        let (l, e) = w.await.unwrap_or_default();
        phase.latencies.extend(l);
        phase.errors += e;
    }
    phase.elapsed = started.elapsed();
    println!("{}", phase.row());

    // One service of 1k instances for list and beats.
    for i in 0..1000u64 {
        let r = http
            .post(format!("{base}/nacos/v1/ns/instance"))
            .query(&register_query("bench-big", i))
            .send()
            .await;
        if !matches!(r, Ok(ref r) if r.status().is_success()) {
            return Err("registering bench-big failed".into());
        }
    }
    let (h, b) = (http.clone(), base.to_owned());
    let mut phase = drive(
        "naming list, 1k instances",
        args.concurrency,
        args.duration,
        move |_| {
            get_ok(
                h.clone(),
                format!("{b}/nacos/v1/ns/instance/list?serviceName=bench-big"),
            )
        },
    )
    .await;
    println!("{}", phase.row());

    let (h, b) = (http.clone(), base.to_owned());
    let mut phase =
        drive("naming beat", args.concurrency, args.duration, move |i| {
            let (h, url) = (h.clone(), format!("{b}/nacos/v1/ns/instance/beat"));
            let query = [
                ("serviceName", "bench-big".to_owned()),
                ("ip", ip_of(i % 1000)),
                ("port", "8080".to_owned()),
            ];
            async move {
                matches!(h.put(&url).query(&query).send().await, Ok(r) if r.status().is_success())
            }
        })
        .await;
    println!("{}", phase.row());

    if let Some(pid) = pid {
        let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
            })
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0);
        println!(
            "nacre RSS with {} instances in {} services: {} MiB",
            n + 1000,
            n.div_ceil(per_service) + 1,
            rss / 1024
        );
    }
    Ok(())
}

/// Upload and download throughput of 1 MiB, 64 MiB and 1 GiB packages through Nacre, beside raw
/// Object Store put/get through async-nats on the same nats-server; and Nacre's peak RSS.
async fn package_phases(
    http: &reqwest::Client,
    base: &str,
    nats_url: Option<&str>,
    pid: Option<u32>,
) -> Result<(), String> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let dir = tempfile_dir()?;
    let raw = match nats_url {
        Some(url) => {
            let js = async_nats::jetstream::new(
                async_nats::connect(url).await.map_err(|e| e.to_string())?,
            );
            let store = js
                .create_object_store(async_nats::jetstream::object_store::Config {
                    bucket: "nacre-bench".into(),
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?;
            Some(store)
        }
        None => None,
    };
    println!();
    println!(
        "| {:<10} | {:>16} | {:>18} | {:>16} | {:>18} |",
        "size", "nacre up MiB/s", "nacre down MiB/s", "raw put MiB/s", "raw get MiB/s"
    );
    println!(
        "|{:-<12}|{:->18}|{:->20}|{:->18}|{:->20}|",
        "", "", "", "", ""
    );
    for (label, mib) in [("1 MiB", 1u64), ("64 MiB", 64), ("1 GiB", 1024)] {
        let path = dir.0.join(format!("pkg-{mib}"));
        {
            let mut file = tokio::fs::File::create(&path)
                .await
                .map_err(|e| e.to_string())?;
            let block: Vec<u8> = (0..1024 * 1024)
                .map(|i| (i * 7 + mib as usize) as u8)
                .collect();
            for _ in 0..mib {
                file.write_all(&block).await.map_err(|e| e.to_string())?;
            }
            file.flush().await.map_err(|e| e.to_string())?;
        }
        let rate = |elapsed: Duration| mib as f64 / elapsed.as_secs_f64();
        let key = format!("linux/bench/1.0/pkg-{mib}");
        let started = Instant::now();
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| e.to_string())?;
        let r = http
            .put(format!("{base}/nacre/v1/packages/{key}?overwrite=true"))
            .header(reqwest::header::CONTENT_LENGTH, mib * 1024 * 1024)
            .body(reqwest::Body::wrap_stream(
                tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024),
            ))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("package upload failed: {}", r.status()));
        }
        let up = rate(started.elapsed());
        let started = Instant::now();
        let mut body = http
            .get(format!("{base}/nacre/v1/packages/{key}"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .bytes_stream();
        while let Some(chunk) = body.next().await {
            chunk.map_err(|e| e.to_string())?;
        }
        let down = rate(started.elapsed());
        let (raw_put, raw_get) = match &raw {
            Some(store) => {
                let started = Instant::now();
                let mut file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| e.to_string())?;
                store
                    .put(key.as_str(), &mut file)
                    .await
                    .map_err(|e| e.to_string())?;
                let put = rate(started.elapsed());
                let started = Instant::now();
                let mut object = store.get(key.as_str()).await.map_err(|e| e.to_string())?;
                tokio::io::copy(&mut object, &mut tokio::io::sink())
                    .await
                    .map_err(|e| e.to_string())?;
                (
                    format!("{put:.0}"),
                    format!("{:.0}", rate(started.elapsed())),
                )
            }
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {:<10} | {:>16.0} | {:>18.0} | {:>16} | {:>18} |",
            label, up, down, raw_put, raw_get
        );
        let _ = tokio::fs::remove_file(&path).await;
    }
    if let Some(pid) = pid {
        let peak = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
            })
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0);
        println!("nacre peak RSS over the whole run: {} MiB", peak / 1024);
    }
    Ok(())
}

/// Backup and restore time and size: 100k configs, 10k instances and a 1 GiB package (scaled by
/// `--instances`: configs = 10 × instances), restored into a second, empty nats-server.
async fn backup_phases(
    args: &BenchArgs,
    http: &reqwest::Client,
    base: &str,
    nats_url: Option<&str>,
) -> Result<(), String> {
    let nats_url = nats_url.ok_or("the backup scenario needs the standalone run (no --addr)")?;
    let configs = args.instances as u64 * 10;
    let seed = Instant::now();
    seed_parallel(http, base, configs, args.concurrency, |i| {
        (
            "/nacos/v1/cs/configs".to_owned(),
            vec![
                ("dataId", format!("bk-{i}")),
                ("group", "BACKUP".into()),
                ("content", format!("key{i}=value{i}\n").repeat(8)),
            ],
            true,
        )
    })
    .await?;
    seed_parallel(http, base, args.instances as u64, args.concurrency, |i| {
        (
            "/nacos/v1/ns/instance".to_owned(),
            register_query(&format!("bk-svc-{}", i / 100), i).to_vec(),
            false,
        )
    })
    .await?;
    let dir = tempfile_dir()?;
    let path = dir.0.join("package");
    {
        use tokio::io::AsyncWriteExt;
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| e.to_string())?;
        // Incompressible, like real (already compressed) packages.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut block = vec![0u8; 1024 * 1024];
        for _ in 0..1024 {
            for chunk in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
            }
            file.write_all(&block).await.map_err(|e| e.to_string())?;
        }
    }
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| e.to_string())?;
    let r = http
        .put(format!("{base}/nacre/v1/packages/linux/backup/1.0/big.bin"))
        .header(reqwest::header::CONTENT_LENGTH, 1024u64 * 1024 * 1024)
        .body(reqwest::Body::wrap_stream(
            tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024),
        ))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("package upload failed: {}", r.status()));
    }
    println!(
        "seeded {configs} configs, {} instances and a 1 GiB package in {:?}",
        args.instances,
        seed.elapsed()
    );

    let mut settings = nacre::settings::Settings::default();
    settings.nats.url = nats_url.to_owned();
    let backup_dir = dir.0.join("backup");
    let started = Instant::now();
    nacre::recovery::snapshot::backup(&settings, &backup_dir, false, false).await?;
    let backup_time = started.elapsed();
    let size = dir_size(&backup_dir);

    // Restore into a second, empty nats-server.
    let binary = nacre::backbone::supervisor::resolve_binary(
        &args
            .nats_server
            .as_ref()
            .map(|p| p.display().to_string())
            .or_else(|| std::env::var("NACRE_NATS_STANDALONE_BINARY").ok())
            .unwrap_or_else(|| "nats-server".into()),
    )
    .map_err(|e| e.to_string())?;
    let port = free_port().map_err(|e| e.to_string())?;
    let store = dir.0.join("restore-store");
    let target = KillOnDrop(
        std::process::Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    settings.nats.url = format!("nats://127.0.0.1:{port}");
    let started = Instant::now();
    nacre::recovery::snapshot::restore(&settings, &backup_dir, false, false).await?;
    let restore_time = started.elapsed();
    drop(target);
    println!(
        "backup: {:.1} s, {} MiB on disk; restore into an empty server: {:.1} s",
        backup_time.as_secs_f64(),
        size / (1024 * 1024),
        restore_time.as_secs_f64()
    );
    Ok(())
}

/// Consul KV PUT and GET rates, and how fast 1,000 blocking queries wake on a change.
async fn consul_phases(
    args: &BenchArgs,
    http: &reqwest::Client,
    consul: &str,
) -> Result<(), String> {
    let keys = args.keys as u64;
    let (h, c) = (http.clone(), consul.to_owned());
    let mut phase = drive("consul KV PUT /v1/kv", args.concurrency, args.duration, move |i| {
        let (h, url) = (h.clone(), format!("{c}/v1/kv/bench/{}", i % keys));
        async move { matches!(h.put(&url).body(format!("value {i}")).send().await, Ok(r) if r.status().is_success()) }
    })
    .await;
    println!("{}", phase.row());
    let (h, c) = (http.clone(), consul.to_owned());
    let mut phase = drive(
        "consul KV GET /v1/kv",
        args.concurrency,
        args.duration,
        move |i| get_ok(h.clone(), format!("{c}/v1/kv/bench/{}", i % keys)),
    )
    .await;
    println!("{}", phase.row());

    // 1,000 watchers block on one key; each change should wake them all.
    let watchers = 1000;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(watchers + 10)
        .build()
        .map_err(|e| e.to_string())?;
    let mut wake = Vec::new();
    for round in 0..5 {
        let r = client
            .put(format!("{consul}/v1/kv/watched"))
            .body(format!("r{round}"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err("consul PUT failed".into());
        }
        let index: u64 = client
            .get(format!("{consul}/v1/kv/watched"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .headers()
            .get("x-consul-index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or("no X-Consul-Index")?;
        let tasks: Vec<_> = (0..watchers)
            .map(|_| {
                let (client, url) = (
                    client.clone(),
                    format!("{consul}/v1/kv/watched?index={index}&wait=60s"),
                );
                tokio::spawn(async move {
                    let r = client.get(&url).send().await.ok()?;
                    r.bytes().await.ok()?;
                    Some(Instant::now())
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await; // all parked
        let changed = Instant::now();
        client
            .put(format!("{consul}/v1/kv/watched"))
            .body("changed")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        for t in tasks {
            if let Ok(Some(woken)) = t.await {
                wake.push(woken.saturating_duration_since(changed).as_micros() as u32);
            }
        }
    }
    wake.sort_unstable();
    let pct = |p: f64| {
        wake.get(((wake.len() as f64 * p) as usize).min(wake.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "consul blocking queries: {} wake-ups of {watchers} watchers over 5 changes; from sending the change: p50 {:.2} ms, p99 {:.2} ms",
        wake.len(),
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}

/// Sends `n` requests built by `build(i)` from `concurrency` workers; POST form or query.
async fn seed_parallel(
    http: &reqwest::Client,
    base: &str,
    n: u64,
    concurrency: usize,
    build: impl Fn(u64) -> (String, Vec<(&'static str, String)>, bool) + Send + Sync + 'static,
) -> Result<(), String> {
    let build = Arc::new(build);
    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, base, build, next, failures) = (
                http.clone(),
                base.to_owned(),
                build.clone(),
                next.clone(),
                failures.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let (path, params, form) = build(i);
                    let request = http.post(format!("{base}{path}"));
                    let request = if form {
                        request.form(&params)
                    } else {
                        request.query(&params)
                    };
                    if !matches!(request.send().await, Ok(r) if r.status().is_success()) {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    match failures.load(Ordering::Relaxed) {
        0 => Ok(()),
        f => Err(format!("{f} seeding requests failed")),
    }
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_size(&p)
                    } else {
                        p.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn ip_of(i: u64) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

fn register_query(service: &str, i: u64) -> [(&'static str, String); 5] {
    [
        ("serviceName", service.to_owned()),
        ("ip", ip_of(i)),
        ("port", "8080".to_owned()),
        ("ephemeral", "false".to_owned()),
        ("metadata", r#"{"version":"1.0.0","zone":"z1"}"#.to_owned()),
    ]
}

/// Waits until `base` answers readiness with a 200; how long that took.
async fn ready(http: &reqwest::Client, base: &str, within: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        if let Ok(r) = http
            .get(format!("{base}/nacos/v1/console/health/readiness"))
            .send()
            .await
            && r.status().is_success()
        {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            return Err(format!("{base} not ready within {within:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_ready(http: &reqwest::Client, base: &str) -> Result<(), String> {
    ready(http, base, Duration::from_secs(60)).await.map(|_| ())
}

/// A temporary data directory, removed when dropped.
struct TempDir(PathBuf);

impl AsRef<std::path::Path> for TempDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> Result<TempDir, String> {
    let dir = std::env::temp_dir().join(format!("nacre-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(TempDir(dir))
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SIGTERM for a clean stop (the child stops its own nats-server), then reap it.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// A gRPC connection set up as an SDK does it; pushes arrive on `pushes`.
struct GrpcConn {
    unary: nacre_nacos_proto::request_client::RequestClient<tonic::transport::Channel>,
    pushes: tonic::Streaming<nacre_nacos_proto::Payload>,
    _setup: tokio::sync::mpsc::Sender<nacre_nacos_proto::Payload>,
}

fn grpc_request(kind: &str, body: serde_json::Value) -> nacre_nacos_proto::Payload {
    nacre::nacos::grpc::wire::payload(kind, &body)
}

fn grpc_body(p: &nacre_nacos_proto::Payload) -> serde_json::Value {
    p.body
        .as_ref()
        .and_then(|b| serde_json::from_slice(&b.value).ok())
        .unwrap_or_default()
}

async fn grpc_connect(port: u16) -> Result<GrpcConn, String> {
    use nacre_nacos_proto::bi_request_stream_client::BiRequestStreamClient;
    use nacre_nacos_proto::request_client::RequestClient;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("gRPC connect: {e}"))?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(grpc_request(
        "ConnectionSetupRequest",
        serde_json::json!({"clientVersion": "nacre-bench", "labels": {}, "headers": {}}),
    ))
    .await
    .map_err(|e| e.to_string())?;
    // A 20,000-instance service is tens of MB: past tonic's 4 MiB default (and past the Java
    // SDK's 10 MiB inbound limit; see the scale scenario).
    const MAX_MESSAGE: usize = 64 << 20;
    let pushes = BiRequestStreamClient::new(channel.clone())
        .max_decoding_message_size(MAX_MESSAGE)
        .request_bi_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let mut unary = RequestClient::new(channel).max_decoding_message_size(MAX_MESSAGE);
    // The setup travels on the stream: wait until the server knows this connection.
    for _ in 0..100 {
        let r = unary
            .request(grpc_request("HealthCheckRequest", serde_json::json!({})))
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        if grpc_body(&r)["errorCode"] == 0 {
            return Ok(GrpcConn {
                unary,
                pushes,
                _setup: tx,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("the gRPC connection was never set up".into())
}

/// ConfigQueryRequest rate, and push latency: HTTP publish → ConfigChangeNotifyRequest received.
async fn grpc_phases(
    args: &BenchArgs,
    http: &reqwest::Client,
    base: &str,
    port: u16,
) -> Result<(), String> {
    let content = "x".repeat(args.content_bytes);
    seed_configs(http, base, "grpc-", args.keys, &content).await?;
    // One connection per 8 workers, as an application fleet shares few connections per process.
    let mut connections = Vec::new();
    for _ in 0..args.concurrency.div_ceil(8) {
        connections.push(grpc_connect(port).await?);
    }
    let clients = Arc::new(
        connections
            .iter()
            .map(|c| c.unary.clone())
            .collect::<Vec<_>>(),
    );
    let keys = args.keys as u64;
    let mut phase = drive(
        "gRPC ConfigQueryRequest",
        args.concurrency,
        args.duration,
        move |i| {
            let clients = clients.clone();
            async move {
                let Some(client) = clients.get(i as usize % clients.len()) else {
                    return false;
                };
                let mut client = client.clone();
                let request = grpc_request(
                    "ConfigQueryRequest",
                    serde_json::json!({"dataId": format!("grpc-{}", i % keys), "group": "BENCH", "tenant": "", "headers": {}}),
                );
                matches!(client.request(request).await, Ok(r) if grpc_body(r.get_ref())["errorCode"] == 0)
            }
        },
    )
    .await;
    println!("{}", phase.row());
    drop(connections);

    let mut listener = grpc_connect(port).await?;
    let listen = grpc_request(
        "ConfigBatchListenRequest",
        serde_json::json!({"listen": true, "headers": {},
            "configListenContexts": [{"dataId": "grpc-pushed", "group": "BENCH", "tenant": "", "md5": ""}]}),
    );
    listener
        .unary
        .request(listen)
        .await
        .map_err(|e| e.to_string())?;
    let mut latencies = Vec::new();
    let rounds = 300;
    for round in 0..rounds {
        let started = Instant::now();
        let r = http
            .post(format!("{base}/nacos/v1/cs/configs"))
            .form(&[
                ("dataId", "grpc-pushed"),
                ("group", "BENCH"),
                ("content", &format!("round {round}")),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err("publishing the pushed config failed".into());
        }
        loop {
            let push = tokio::time::timeout(Duration::from_secs(5), listener.pushes.message())
                .await
                .map_err(|_| "no push within 5 s")?
                .map_err(|e| e.to_string())?
                .ok_or("the push stream ended")?;
            if nacre::nacos::grpc::wire::kind(&push) == "ConfigChangeNotifyRequest" {
                latencies.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
                break;
            }
        }
    }
    let mut phase = Phase {
        name: "gRPC push: HTTP publish → notify",
        latencies,
        errors: 0,
        elapsed: Duration::from_secs(1),
    };
    let row = phase.row();
    println!("{row}  ({rounds} sequential publishes; req/s not meaningful)");
    Ok(())
}

/// The cost of tracing: config GET and POST with tracing off, on at ratio 0.1, and on at 1.0,
/// each on a fresh standalone Nacre exporting over OTLP/HTTP to a sink that discards.
/// Consul KV reads with access control on: a token whose policies must be merged and matched on
/// every request, against the management token that skips the rules.
async fn acl_phases(args: &BenchArgs, http: &reqwest::Client) -> Result<(), String> {
    const MANAGEMENT: &str = "bench-management-token";
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let node = start_standalone(
        args,
        &[
            ("NACRE_AUTH_ENABLED", "true"),
            ("NACRE_AUTH_TOKEN_SECRET", secret.as_str()),
            ("NACRE_AUTH_CONSUL_MANAGEMENT_TOKEN", MANAGEMENT),
        ],
    )?;
    wait_ready(http, &node.base).await?;
    let consul = node.consul_base.clone();
    let rules = "key_prefix \"\" { policy = \"read\" }\nkey_prefix \"bench/\" { policy = \"write\" }\n\
                 key_prefix \"bench/secret/\" { policy = \"deny\" }\nservice_prefix \"web\" { policy = \"write\" }";
    let put_json = |path: &str, body: serde_json::Value| {
        http.put(format!("{consul}{path}"))
            .header("X-Consul-Token", MANAGEMENT)
            .json(&body)
            .send()
    };
    let policy: serde_json::Value = put_json(
        "/v1/acl/policy",
        serde_json::json!({"Name": "bench", "Rules": rules}),
    )
    .await
    .and_then(reqwest::Response::error_for_status)
    .map_err(|e| e.to_string())?
    .json()
    .await
    .map_err(|e| e.to_string())?;
    let token: serde_json::Value = put_json(
        "/v1/acl/token",
        serde_json::json!({"Policies": [{"ID": policy["ID"]}]}),
    )
    .await
    .and_then(reqwest::Response::error_for_status)
    .map_err(|e| e.to_string())?
    .json()
    .await
    .map_err(|e| e.to_string())?;
    let token = token["SecretID"].as_str().ok_or("no SecretID")?.to_owned();
    let keys = args.keys as u64;
    for i in 0..keys {
        http.put(format!("{consul}/v1/kv/bench/{i}"))
            .header("X-Consul-Token", MANAGEMENT)
            .body(format!("value {i}"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?;
    }
    for (name, secret) in [
        ("consul KV GET, policy token", token.clone()),
        ("consul KV GET, management token", MANAGEMENT.to_owned()),
    ] {
        let (h, c) = (http.clone(), consul.clone());
        let mut phase = drive(name, args.concurrency, args.duration, move |i| {
            let request = h
                .get(format!("{c}/v1/kv/bench/{}", i % keys))
                .header("X-Consul-Token", secret.clone());
            async move {
                match request.send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
        .await;
        println!("{}", phase.row());
    }
    Ok(())
}

async fn tracing_phases(args: &BenchArgs, http: &reqwest::Client) -> Result<(), String> {
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let endpoint = format!("http://{}", sink.local_addr().map_err(|e| e.to_string())?);
    let spans = Arc::new(AtomicU64::new(0));
    let counted = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            counted.fetch_add(body.len() as u64, Ordering::Relaxed);
            async { axum::http::StatusCode::OK }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(sink, app).await });
    let content = "x".repeat(args.content_bytes);
    for (label, ratio) in [
        ("off", None),
        ("ratio 0.1", Some("0.1")),
        ("ratio 1.0", Some("1.0")),
    ] {
        let mut env = vec![
            ("NACRE_OTEL_PROTOCOL", "http/protobuf"),
            ("NACRE_OTEL_ENDPOINT", endpoint.as_str()),
        ];
        if let Some(ratio) = ratio {
            env.push(("NACRE_OTEL_ENABLED", "true"));
            env.push(("NACRE_OTEL_SAMPLING_RATIO", ratio));
        }
        let node = start_standalone(args, &env)?;
        wait_ready(http, &node.base).await?;
        let before = spans.load(Ordering::Relaxed);
        seed_configs(http, &node.base, "t-", args.keys, &content).await?;
        let keys = args.keys as u64;
        let (h, b) = (http.clone(), node.base.clone());
        let name: &'static str = match label {
            "off" => "config GET, tracing off",
            "ratio 0.1" => "config GET, tracing ratio 0.1",
            _ => "config GET, tracing ratio 1.0",
        };
        let mut phase = drive(name, args.concurrency, args.duration, move |i| {
            get_ok(
                h.clone(),
                format!("{b}/nacos/v1/cs/configs?dataId=t-{}&group=BENCH", i % keys),
            )
        })
        .await;
        println!("{}", phase.row());
        let (h, b, c) = (http.clone(), node.base.clone(), content.clone());
        let name: &'static str = match label {
            "off" => "config POST, tracing off",
            "ratio 0.1" => "config POST, tracing ratio 0.1",
            _ => "config POST, tracing ratio 1.0",
        };
        let mut phase = drive(name, args.concurrency, args.duration, move |i| {
            let (h, url, c) = (h.clone(), format!("{b}/nacos/v1/cs/configs"), c.clone());
            async move {
                matches!(h.post(url).form(&[("dataId", format!("t-{}", i % keys)), ("group", "BENCH".into()), ("content", c)]).send().await, Ok(r) if r.status().is_success())
            }
        })
        .await;
        println!("{}", phase.row());
        drop(node);
        println!(
            "  (OTLP bytes received for {label}: {})",
            spans.load(Ordering::Relaxed) - before
        );
    }
    server.abort();
    Ok(())
}

/// Publishes `keys` configs `<prefix><k>` in group BENCH, for the read phases.
async fn seed_configs(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    keys: usize,
    content: &str,
) -> Result<(), String> {
    for k in 0..keys {
        let r = http
            .post(format!("{base}/nacos/v1/cs/configs"))
            .form(&[
                ("dataId", format!("{prefix}{k}")),
                ("group", "BENCH".into()),
                ("content", content.to_owned()),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("seeding configs failed: {}", r.status()));
        }
    }
    Ok(())
}
