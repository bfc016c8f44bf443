//! The soak test (opt-in: `make soak`, outside `make test`'s time budget). Mixed valid and
//! hostile traffic against a three-node NATS cluster with two Nacre nodes at R3, one Nacre node
//! restarted every `NACRE_SOAK_RESTART_EVERY` seconds (600), for `NACRE_SOAK_SECONDS` (3600).
//! At the end: each node's memory is flat, no view differs from the fold (`nacre verify`), and
//! every acknowledged write reads back.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

fn seconds(var: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Requests no server should accept; each must be answered, never crash a node.
fn hostile(base: &str, consul: &str, i: u64) -> reqwest::RequestBuilder {
    let c = http();
    match i % 8 {
        0 => c.post(format!("{base}/nacos/v1/cs/configs")).form(&[
            ("dataId", "配".repeat(300)),
            ("group", "G".into()),
            ("content", "x".into()),
        ]),
        1 => c.get(format!(
            "{base}/nacos/v1/cs/configs?namespaceId=a&tenant=b&dataId=x&group=G"
        )),
        2 => c.post(format!("{base}/nacos/v1/ns/instance")).form(&[
            ("serviceName", "s"),
            ("ip", "10.0.0.1"),
            ("port", "99999"),
        ]),
        3 => c
            .put(format!("{consul}/v1/kv/{}", "/".repeat(1400)))
            .body("x"),
        4 => c.put(format!("{consul}/v1/kv/k?cas=")).body("x"),
        5 => c
            .put(format!("{consul}/v1/txn"))
            .body("[{\"KV\":{\"Verb\":\"bogus\"}}]"),
        6 => c
            .post(format!("{base}/nacos/v1/cs/configs/listener"))
            .form(&[("Listening-Configs", "\u{2}\u{2}")]),
        _ => c.post(format!("{base}/nacos/v1/ns/instance")).form(&[
            ("serviceName", "G@@s"),
            ("groupName", "H"),
            ("ip", "1.1.1.1"),
            ("port", "1"),
        ]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "an hour of traffic: run with `make soak`"]
async fn an_hour_of_mixed_traffic_with_restarts_loses_nothing_and_leaks_nothing() {
    let duration = seconds("NACRE_SOAK_SECONDS", 3600);
    let restart_every = seconds("NACRE_SOAK_RESTART_EVERY", 600);
    let cluster = NatsCluster::start().await;
    let nodes = Arc::new(tokio::sync::RwLock::new(vec![
        Nacre::clustered(&cluster, "3").await,
        Nacre::clustered(&cluster, "3").await,
    ]));
    let addresses: Vec<(String, String)> = {
        let n = nodes.read().await;
        n.iter().map(|n| (n.base(), n.consul(""))).collect()
    };
    // Every acknowledged config write: dataId → the content last acknowledged.
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    for worker in 0..6u64 {
        let (acked, stop, sent, refused) =
            (acked.clone(), stop.clone(), sent.clone(), refused.clone());
        let addresses = addresses.clone();
        workers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let (base, consul) = &addresses[(i % 2) as usize];
                sent.fetch_add(1, Ordering::Relaxed);
                if worker == 5 {
                    // Hostile traffic: answered, refused, never written.
                    if let Ok(r) = hostile(base, consul, i).send().await
                        && r.status().is_client_error() | r.status().is_server_error()
                    {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                let data_id = format!("soak-{worker}-{}", i % 200);
                let content = format!("{worker}:{i}");
                let posted = http()
                    .post(format!("{base}/nacos/v1/cs/configs"))
                    .form(&[
                        ("dataId", data_id.as_str()),
                        ("group", "SOAK"),
                        ("content", content.as_str()),
                    ])
                    .send()
                    .await;
                if let Ok(r) = posted
                    && r.status() == 200
                    && r.text().await.is_ok_and(|t| t == "true")
                {
                    acked.lock().unwrap().insert(data_id, content.clone());
                }
                let _ = http()
                    .post(format!("{base}/nacos/v1/ns/instance"))
                    .form(&[
                        ("serviceName", format!("soak-{worker}")),
                        ("ip", format!("10.9.{worker}.{}", i % 50)),
                        ("port", "80".into()),
                        ("ephemeral", "false".into()),
                    ])
                    .send()
                    .await;
                let _ = http()
                    .put(format!("{consul}/v1/kv/soak/{worker}/{}", i % 100))
                    .body(content.clone())
                    .send()
                    .await;
                let _ = http()
                    .get(format!(
                        "{base}/nacos/v1/ns/instance/list?serviceName=soak-{worker}"
                    ))
                    .send()
                    .await;
            }
        }));
    }
    let started = Instant::now();
    // Memory after warm-up, then a restart of one node every `restart_every`.
    tokio::time::sleep(Duration::from_secs(60).min(duration / 4)).await;
    let baseline: Vec<u64> = nodes
        .read()
        .await
        .iter()
        .map(|n| rss_kib(n.pid()))
        .collect();
    let mut next_restart = started + restart_every;
    let mut which = 0;
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(5)).await;
        if Instant::now() >= next_restart {
            let mut n = nodes.write().await;
            n[which].stop();
            n[which].start().await;
            println!("{:?}: restarted node {which}", started.elapsed());
            which = 1 - which;
            next_restart += restart_every;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let nodes = nodes.read().await;
    let ending: Vec<u64> = nodes.iter().map(|n| rss_kib(n.pid())).collect();
    println!(
        "{} requests ({} hostile refused); RSS KiB at warm-up {baseline:?}, at the end {ending:?}",
        sent.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    // The node never restarted after warm-up is the one whose memory says something.
    let steady = if restart_every >= duration {
        0
    } else {
        1 - which
    };
    assert!(
        ending[steady] < baseline[steady] * 3 / 2 + 64 * 1024,
        "RSS grew from {} to {} KiB",
        baseline[steady],
        ending[steady]
    );
    // Every acknowledged write reads back from both nodes.
    let acked = acked.lock().unwrap().clone();
    for n in nodes.iter() {
        for (data_id, content) in &acked {
            let (status, body) = get_config(n, data_id, "SOAK", "").await;
            assert_eq!(
                (status, body.as_str()),
                (200, content.as_str()),
                "{data_id}"
            );
        }
    }
    let (ok, out) = nodes[0].cli(&["verify"]);
    assert!(ok, "the views differ from the fold:\n{out}");
    println!(
        "{} acknowledged configs read back; views verified",
        acked.len()
    );
}
