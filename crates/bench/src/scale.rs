//! `--scenario scale`: Nacre at size, measured in latencies and bytes rather than rates (so the
//! in-process client is not the limit): one service of 20,000 instances with 1 KiB of metadata
//! each (registration, list with and without gzip, push fan-out to gRPC subscribers), then a
//! store of 100,000 configs and 100,000 more instances (RSS of Nacre and of its nats-server,
//! restart to ready).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{
    BenchArgs, KillOnDrop, free_port, grpc_body, grpc_connect, grpc_request, ip_of, nacre_binary,
    ready, seed_parallel, tempfile_dir,
};

const BIG: u64 = 20_000;
const SUBSCRIBERS: usize = 20;
const CONFIGS: u64 = 100_000;
const INSTANCES: u64 = 100_000;

/// The ports of one standalone Nacre, kept across a restart.
struct Ports {
    http: u16,
    nats: u16,
    consul: u16,
    grpc: u16,
}

fn start(args: &BenchArgs, dir: &Path, ports: &Ports) -> Result<KillOnDrop, String> {
    let mut cmd = Command::new(nacre_binary()?);
    cmd.args(["serve", "--port", &ports.http.to_string(), "--data-dir"])
        .arg(dir)
        .env("NACRE_NATS_STANDALONE_PORT", ports.nats.to_string())
        .env("NACRE_SERVER_CONSUL_PORT", ports.consul.to_string())
        .env("NACRE_SERVER_GRPC_PORT", ports.grpc.to_string())
        .env("RUST_LOG", "warn");
    if let Some(bin) = &args.nats_server {
        cmd.env("NACRE_NATS_STANDALONE_BINARY", bin);
    }
    Ok(KillOnDrop(cmd.spawn().map_err(|e| e.to_string())?))
}

/// Resident memory of a process and of its children (Nacre's nats-server), in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let rss = |pid: &str| -> f64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .unwrap_or(0.0)
            / 1024.0
    };
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let child: f64 = children.split_whitespace().map(rss).sum();
    (rss(&pid.to_string()), child)
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

pub async fn run(args: &BenchArgs) -> Result<(), String> {
    let dir = tempfile_dir()?;
    let port = || free_port().map_err(|e| e.to_string());
    let ports = Ports {
        http: port()?,
        nats: port()?,
        consul: port()?,
        grpc: port()?,
    };
    let base = format!("http://127.0.0.1:{}", ports.http);
    let http = reqwest::Client::new();
    let mut nacre = start(args, dir.as_ref(), &ports)?;
    ready(&http, &base, Duration::from_secs(60)).await?;
    println!("nacre-bench scale: standalone Nacre, fsync before every acknowledgement");

    // One service of 20,000 instances, 1 KiB of metadata each.
    let metadata = format!(r#"{{"blob":"{}"}}"#, "m".repeat(1000));
    let started = Instant::now();
    let meta = metadata.clone();
    seed_parallel(&http, &base, BIG, 32, move |i| {
        let params = vec![
            ("serviceName", "big".to_owned()),
            ("ip", ip_of(i)),
            ("port", "8080".to_owned()),
            ("ephemeral", "false".to_owned()),
            ("metadata", meta.clone()),
        ];
        ("/nacos/v1/ns/instance".to_owned(), params, false)
    })
    .await?;
    println!(
        "- {BIG} instances (1 KiB metadata each) registered into one service in {:.1} s (32 clients)",
        started.elapsed().as_secs_f64()
    );

    let list = format!("{base}/nacos/v1/ns/instance/list?serviceName=big");
    for gzip in [false, true] {
        let mut times = Vec::new();
        let mut bytes = 0;
        let mut hosts = 0;
        for _ in 0..10 {
            let mut request = http.get(&list);
            if gzip {
                request = request.header("accept-encoding", "gzip");
            }
            let started = Instant::now();
            let r = request.send().await.map_err(|e| e.to_string())?;
            let body = r.bytes().await.map_err(|e| e.to_string())?;
            times.push(started.elapsed());
            bytes = body.len();
            if !gzip {
                let v: serde_json::Value =
                    serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                hosts = v["hosts"].as_array().map_or(0, Vec::len);
            }
        }
        if !gzip && hosts != BIG as usize {
            return Err(format!("the list has {hosts} instances, not {BIG}"));
        }
        println!(
            "- list of the {BIG}-instance service{}: median {:.0} ms over 10, {:.1} MB",
            if gzip { ", gzip" } else { "" },
            median_ms(times),
            bytes as f64 / 1e6
        );
    }

    match fan_out(&http, &base, &ports, &metadata).await {
        Ok(median) => println!(
            "- push fan-out: one registration into the {BIG}-instance service reaches all {SUBSCRIBERS} gRPC subscribers in median {median:.0} ms (5 rounds)"
        ),
        Err(e) => println!("- push fan-out to {SUBSCRIBERS} gRPC subscribers FAILED: {e}"),
    }
    seed_store(&http, &base).await?;
    let (nacre_rss, nats_rss) = rss_mib(nacre.0.id());
    println!(
        "- RSS with {CONFIGS} configs and {} instances: Nacre {nacre_rss:.0} MiB, its nats-server {nats_rss:.0} MiB, together {:.0} MiB",
        INSTANCES + BIG + 5,
        nacre_rss + nats_rss
    );

    drop(nacre);
    let started = Instant::now();
    nacre = start(args, dir.as_ref(), &ports)?;
    let took = ready(&http, &base, Duration::from_secs(300)).await?;
    let (nacre_rss, nats_rss) = rss_mib(nacre.0.id());
    println!(
        "- restart to ready at that size: {:.1} s (process start to readiness 200: {:.1} s); RSS after: Nacre {nacre_rss:.0} MiB, nats-server {nats_rss:.0} MiB",
        started.elapsed().as_secs_f64(),
        took.as_secs_f64()
    );
    drop(nacre);
    drop(dir);
    Ok(())
}

/// Subscribers on their own gRPC connections; one more instance registered, five times: the
/// median time until the last subscriber has the push, in ms.
async fn fan_out(
    http: &reqwest::Client,
    base: &str,
    ports: &Ports,
    metadata: &str,
) -> Result<f64, String> {
    let mut subscribers = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let mut conn = grpc_connect(ports.grpc).await?;
        let r = conn
            .unary
            .request(grpc_request(
                "SubscribeServiceRequest",
                serde_json::json!({"namespace": "public", "groupName": "DEFAULT_GROUP",
                    "serviceName": "big", "clusters": "", "subscribe": true, "headers": {}}),
            ))
            .await
            .map_err(|e| e.to_string())?;
        if grpc_body(r.get_ref())["errorCode"] != 0 {
            return Err(format!("subscribe refused: {}", grpc_body(r.get_ref())));
        }
        subscribers.push(conn);
    }
    let mut times = Vec::new();
    for round in 0..5u64 {
        let started = Instant::now();
        let r = http
            .post(format!("{base}/nacos/v1/ns/instance"))
            .query(&[
                ("serviceName", "big"),
                ("ip", &format!("10.250.0.{round}")),
                ("port", "8080"),
                ("ephemeral", "false"),
                ("metadata", metadata),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("registering the pushed instance: {}", r.status()));
        }
        let mut last = Duration::ZERO;
        for s in &mut subscribers {
            loop {
                let push = tokio::time::timeout(Duration::from_secs(30), s.pushes.message())
                    .await
                    .map_err(|_| "no push within 30 s")?
                    .map_err(|e| e.to_string())?
                    .ok_or("the push stream ended")?;
                if nacre::nacos::grpc::wire::kind(&push) == "NotifySubscriberRequest"
                    && grpc_body(&push)
                        .to_string()
                        .contains(&format!("10.250.0.{round}"))
                {
                    break;
                }
            }
            last = started.elapsed();
        }
        times.push(last);
    }
    Ok(median_ms(times))
}

/// A store of 100,000 configs and 100,000 more instances.
async fn seed_store(http: &reqwest::Client, base: &str) -> Result<(), String> {
    let started = Instant::now();
    let content = "c".repeat(200);
    seed_parallel(http, base, CONFIGS, 64, move |i| {
        let params = vec![
            ("dataId", format!("scale-{i}")),
            ("group", "SCALE".to_owned()),
            ("content", content.clone()),
        ];
        ("/nacos/v1/cs/configs".to_owned(), params, true)
    })
    .await?;
    seed_parallel(http, base, INSTANCES, 64, |i| {
        let params = vec![
            ("serviceName", format!("scale-svc-{}", i / 100)),
            ("ip", ip_of(i)),
            ("port", "8080".to_owned()),
            ("ephemeral", "false".to_owned()),
            ("metadata", r#"{"version":"1.0.0","zone":"z1"}"#.to_owned()),
        ];
        ("/nacos/v1/ns/instance".to_owned(), params, false)
    })
    .await?;
    println!(
        "- seeded {CONFIGS} configs (200 B) and {INSTANCES} instances (in 1,000 services) in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
