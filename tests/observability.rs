//! Metrics, readiness and cluster membership. Real nats-servers.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::Value;

/// Prometheus text → series (name with labels) → value.
async fn scrape(n: &Nacre, path: &str) -> HashMap<String, f64> {
    let r = http().get(n.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let mut out = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not Prometheus text: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in: {line}"));
        out.insert(series.to_owned(), value);
    }
    out
}

fn get(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_parse_and_move_by_the_right_amount() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let before = scrape(&n, "/nacos/metrics").await;
    for name in [
        "nacre_http_requests_total",
        "nacre_config_publish_total",
        "nacre_uptime_seconds",
        "nacre_healthy",
        "nacre_projection_lag",
    ] {
        assert!(
            before.keys().any(|k| k.starts_with(name)),
            "{name} is exposed"
        );
    }
    for i in 0..3 {
        publish(&n, &format!("m{i}"), "G", "x").await;
    }
    for _ in 0..2 {
        get_config(&n, "m0", "G", "").await;
    }
    let r = http()
        .post(n.url("/nacos/v1/ns/instance"))
        .query(&[("serviceName", "s"), ("ip", "1.1.1.1"), ("port", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http()
        .put(n.url("/nacre/v1/packages/linux/o/1/p.bin"))
        .body(vec![7u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let after = scrape(&n, "/metrics").await;
    assert_eq!(
        get(&after, "nacre_config_publish_total") - get(&before, "nacre_config_publish_total"),
        3.0
    );
    assert_eq!(
        get(&after, "nacre_config_query_total") - get(&before, "nacre_config_query_total"),
        2.0
    );
    assert_eq!(
        get(&after, "nacre_service_register_total") - get(&before, "nacre_service_register_total"),
        1.0
    );
    let posts =
        r#"nacre_http_requests_total{method="POST",route="/nacos/v1/cs/configs",status="200"}"#;
    assert_eq!(get(&after, posts) - get(&before, posts), 3.0);
    assert_eq!(get(&after, "nacre_ephemeral_instances"), 1.0);
    assert_eq!(get(&after, "nacre_package_bytes"), 1000.0);
    assert!(get(&after, "nacre_jetstream_publish_duration_seconds_count") >= 5.0);
    assert_eq!(get(&after, "nacre_healthy"), 1.0);
    eventually("projection lag back to 0", || async {
        let m = scrape(&n, "/nacos/metrics").await;
        get(&m, "nacre_projection_lag") == 0.0 && get(&m, "nacre_applied_sequence") >= 6.0
    })
    .await;
}

#[tokio::test]
async fn the_consul_port_is_counted_and_the_build_is_named_as_the_cli_names_it() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let consul_puts = |m: &HashMap<String, f64>| -> f64 {
        m.iter()
            .filter(|(k, _)| {
                k.starts_with(r#"nacre_http_requests_total{method="PUT",route="/v1/kv/"#)
                    && k.ends_with(r#"status="200"}"#)
            })
            .map(|(_, v)| v)
            .sum()
    };
    let before = scrape(&n, "/metrics").await;
    for _ in 0..2 {
        let r = http()
            .put(n.consul("/v1/kv/counted"))
            .body("v")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let after = scrape(&n, "/metrics").await;
    assert_eq!(consul_puts(&after) - consul_puts(&before), 2.0);

    // nacre_build_info{version, commit} says what `nacre --version` says.
    let (series, value) = after
        .iter()
        .find(|(k, _)| k.starts_with("nacre_build_info{"))
        .expect("nacre_build_info is exposed");
    assert_eq!(*value, 1.0);
    let label = |name: &str| {
        let start = series.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        series[start..].split('"').next().unwrap().to_owned()
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"))
        .arg("--version")
        .output()
        .unwrap();
    let cli = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        cli.trim(),
        format!("nacre {} (commit {})", label("version"), label("commit"))
    );
    assert!(label("commit").len() >= 7, "{series}");

    // Consul clients read a Consul version from /v1/agent/self; Nacre's own is beside it.
    let me: Value = http()
        .get(n.consul("/v1/agent/self"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let version = me["Config"]["Version"].as_str().unwrap();
    assert!(version.starts_with("1."), "a Consul 1.x version: {version}");
    assert_ne!(version, label("version"));
    assert_eq!(me["Meta"]["nacre-version"], label("version"));
}

#[tokio::test]
async fn readiness_follows_nats_connectivity() {
    let mut nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let ready = || async {
        http()
            .get(n.url("/health/ready"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(ready().await, 200);
    nats.kill();
    eventually("not ready without NATS", || async { ready().await == 500 }).await;
    let r = http()
        .get(n.url("/nacos/v1/console/health/readiness"))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("NATS"));
    assert_eq!(
        http()
            .get(n.url("/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "still alive"
    );
    nats.restart();
    eventually("ready again", || async { ready().await == 200 }).await;
    publish(&n, "after", "G", "x").await;
}

#[tokio::test]
async fn cluster_nodes_are_discovered_through_nats() {
    let nats = NatsServer::start();
    let a = Nacre::external_with(
        &nats,
        &[("NACRE_NODE_DATACENTER", "east"), ("NACRE_NODE_ZONE", "z1")],
    )
    .await;
    let _b = Nacre::external_with(
        &nats,
        &[("NACRE_NODE_DATACENTER", "west"), ("NACRE_NODE_ZONE", "z9")],
    )
    .await;
    eventually("both nodes listed", || async {
        let v: Value = http()
            .get(a.url("/nacos/v1/core/cluster/nodes"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let dcs: Vec<_> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                n["extendInfo"]["datacenter"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        dcs.contains(&"east".to_owned())
            && dcs.contains(&"west".to_owned())
            && v["data"][0]["state"] == "UP"
    })
    .await;
    let m = scrape(&a, "/nacos/metrics").await;
    assert_eq!(get(&m, "nacre_cluster_size"), 2.0);
}
