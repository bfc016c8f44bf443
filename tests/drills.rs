//! Disaster drills with real nats-servers on loopback: losing a NATS node of an R3 cluster, and
//! losing a Nacre node, in the middle of acknowledged writes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use common::*;

/// Writes configs one after another until told to stop, counting acknowledgements in `acks`;
/// returns each acknowledged id with the moment its acknowledgement arrived.
async fn write_until(
    base: String,
    prefix: &str,
    stop: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
) -> Vec<(String, Instant)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut acked = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let id = format!("{prefix}-{i}");
        i += 1;
        let r = client
            .post(format!("{base}/nacos/v1/cs/configs"))
            .form(&[
                ("dataId", id.as_str()),
                ("group", "DRILL"),
                ("content", "v"),
            ])
            .send()
            .await;
        if let Ok(r) = r
            && r.status() == 200
        {
            acked.push((id, Instant::now()));
            acks.fetch_add(1, Ordering::Relaxed);
        }
    }
    acked
}

#[tokio::test]
async fn killing_the_stream_leader_of_an_r3_cluster_loses_no_acknowledged_write() {
    let mut cluster = NatsCluster::start().await;
    let mut n = Nacre::clustered(&cluster, "3").await;
    let js = jetstream::new(cluster.client().await);
    let info = js
        .get_stream("NACRE_EVENTS")
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap();
    assert_eq!(info.config.num_replicas, 3, "the event stream is R3");
    assert!(info.cluster.is_some(), "a clustered stream");

    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, acks) = (stop.clone(), acks.clone());
        let base = n.base();
        tokio::spawn(async move { write_until(base, "r3", stop, acks).await })
    };
    eventually("writes to flow before the kill", || async {
        acks.load(Ordering::Relaxed) > 20
    })
    .await;
    // Kill whichever server leads the stream now, mid-write.
    let leader = js
        .get_stream("NACRE_EVENTS")
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap()
        .cluster
        .and_then(|c| c.leader)
        .expect("a stream leader");
    let killed_at = Instant::now();
    let acks_at_kill = acks.load(Ordering::Relaxed);
    cluster.node(&leader).kill();
    // The election takes seconds; the writes that resume after it are the drill's result.
    eventually_for(
        "writes to resume after the election",
        Duration::from_secs(60),
        || async { acks.load(Ordering::Relaxed) > acks_at_kill + 20 },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let acked = writer.await.unwrap();
    let before = acked.iter().filter(|(_, at)| *at < killed_at).count();
    let after = acked.iter().filter(|(_, at)| *at > killed_at).count();
    assert!(before > 20, "writes were flowing before the kill: {before}");
    assert!(
        after > 20,
        "writes resumed after the election: {after} acknowledged after the kill"
    );
    // The availability gap: the longest pause between consecutive acknowledgements from the kill
    // on (an ack arriving just after the kill may have been given by the old leader before it died).
    let times: Vec<Instant> = acked.iter().map(|(_, at)| *at).collect();
    let gap = times
        .windows(2)
        .filter(|w| w[1] > killed_at)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    println!(
        "drill: {} acknowledged writes; longest write gap after killing the leader {leader}: {gap:?}",
        acked.len()
    );
    let acked: Vec<String> = acked.into_iter().map(|(id, _)| id).collect();

    // The killed node rejoins and catches up.
    cluster.node(&leader).restart();
    eventually("the restarted node to catch up", || async {
        let Ok(mut stream) = js.get_stream("NACRE_EVENTS").await else {
            return false;
        };
        let Ok(info) = stream.info().await else {
            return false;
        };
        let replicas = info
            .cluster
            .as_ref()
            .map(|c| c.replicas.clone())
            .unwrap_or_default();
        replicas.len() == 2 && replicas.iter().all(|r| r.current)
    })
    .await;

    // Every acknowledged write is there, also after a full replay by a restarted Nacre.
    for id in &acked {
        assert_eq!(
            get_config(&n, id, "DRILL", "").await.0,
            200,
            "{id} was acknowledged"
        );
    }
    n.stop();
    n.start().await;
    for id in &acked {
        assert_eq!(
            get_config(&n, id, "DRILL", "").await.0,
            200,
            "{id} survives a restart"
        );
    }
}

#[tokio::test]
async fn killing_a_nacre_node_mid_write_loses_no_acknowledged_write() {
    let nats = NatsServer::start();
    let mut a = Nacre::external(&nats).await;
    let b = Nacre::external(&nats).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (stop, acks) = (stop.clone(), acks.clone());
        let base = a.base();
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("w{w}-{i}");
                i += 1;
                match client
                    .post(format!("{base}/nacos/v1/cs/configs"))
                    .form(&[
                        ("dataId", id.as_str()),
                        ("group", "DRILL"),
                        ("content", "v"),
                    ])
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => {
                        acked.push(id);
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    eventually("writes to flow before the kill", || async {
        acks.load(Ordering::Relaxed) > 20
    })
    .await;
    a.kill();
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(acked.len() > 20, "{}", acked.len());
    for id in &acked {
        assert_eq!(
            get_config(&b, id, "DRILL", "").await.0,
            200,
            "{id} was acknowledged by the killed node"
        );
    }
}

/// A stream placed at fewer replicas than configured is refused, not silently used.
#[tokio::test]
async fn weaker_placement_than_configured_is_refused() {
    let cluster = NatsCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A first deployment at R1 creates the stream and buckets with one replica...
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"))
        .args([
            "serve",
            "--port",
            &http_port().to_string(),
            "--nats-url",
            &cluster.url(),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("NACRE_NATS_REPLICAS", "1")
        .env("RUST_LOG", "warn")
        .env("NACRE_SERVER_CONSUL_PORT", "0")
        .spawn()
        .unwrap();
    let mut first = out;
    let js = jetstream::new(cluster.client().await);
    eventually("the R1 stream", || async {
        js.get_stream("NACRE_EVENTS").await.is_ok()
    })
    .await;
    let _ = first.kill();
    let _ = first.wait();
    // ...then a node configured for R3 must refuse it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"))
        .args([
            "serve",
            "--port",
            &http_port().to_string(),
            "--nats-url",
            &cluster.url(),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("NACRE_NATS_REPLICAS", "3")
        .env("RUST_LOG", "warn")
        .env("NACRE_SERVER_CONSUL_PORT", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("1 replica(s) but nats.replicas is 3") && stderr.contains("refuses"),
        "{stderr}"
    );
}
