//! Consul agent services, checks, health and catalog: one registry with Nacos. Real nats-server.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

async fn put_json(n: &Nacre, path: &str, body: &str) -> (u16, String) {
    let r = http()
        .put(n.consul(path))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get_json(n: &Nacre, path: &str) -> (u16, Option<u64>, Value) {
    let r = http().get(n.consul(path)).send().await.unwrap();
    let index = r
        .headers()
        .get("x-consul-index")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let status = r.status().as_u16();
    (status, index, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn register_check_health_catalog_deregister() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    // Lower-case keys, as py-consul sends them; no Content-Type.
    let (status, body) = put_json(
        &n,
        "/v1/agent/service/register",
        r#"{"name":"web","id":"web-1","tags":["v1","primary"],"address":"10.0.0.5","port":8080,
            "meta":{"team":"shop"},"check":{"ttl":"30s"}}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (_, _, passing) = get_json(&n, "/v1/health/service/web?passing").await;
    assert_eq!(passing, serde_json::json!([]), "TTL checks start critical");
    let (_, _, all) = get_json(&n, "/v1/health/service/web").await;
    assert_eq!(all[0]["Service"]["ID"], "web-1");
    let checks: Vec<_> = all[0]["Checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["CheckID"].as_str().unwrap().to_owned(),
                c["Status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        checks.contains(&("service:web-1".to_owned(), "critical".to_owned())),
        "{checks:?}"
    );

    let r = http()
        .put(n.consul("/v1/agent/check/pass/service:web-1?note=ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, _, passing) = get_json(&n, "/v1/health/service/web?passing").await;
    assert_eq!(passing[0]["Service"]["Port"], 8080);
    let (_, _, tagged) = get_json(&n, "/v1/health/service/web?tag=primary").await;
    assert_eq!(tagged.as_array().unwrap().len(), 1);
    let (_, _, untagged) = get_json(&n, "/v1/health/service/web?tag=nope").await;
    assert_eq!(untagged, serde_json::json!([]));

    let (_, index, services) = get_json(&n, "/v1/catalog/services").await;
    assert!(index.unwrap() > 0);
    assert_eq!(services["web"], serde_json::json!(["primary", "v1"]));
    let (_, _, catalog) = get_json(&n, "/v1/catalog/service/web").await;
    assert_eq!(
        (
            catalog[0]["ServiceID"].as_str(),
            catalog[0]["ServiceAddress"].as_str()
        ),
        (Some("web-1"), Some("10.0.0.5"))
    );
    assert_eq!(catalog[0]["ServiceMeta"]["team"], "shop");
    let (_, _, agent) = get_json(&n, "/v1/agent/services").await;
    assert_eq!(agent["web-1"]["Service"], "web");
    let (_, _, checks) = get_json(&n, "/v1/agent/checks").await;
    assert_eq!(checks["service:web-1"]["Status"], "passing");
    let (_, _, dcs) = get_json(&n, "/v1/catalog/datacenters").await;
    assert_eq!(dcs, serde_json::json!(["dc1"]));

    let r = http()
        .put(n.consul("/v1/agent/check/update/service:web-1"))
        .body(r#"{"Status":"warning","Output":"slow"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, _, passing) = get_json(&n, "/v1/health/service/web?passing").await;
    assert_eq!(passing, serde_json::json!([]), "warning is not passing");

    let r = http()
        .put(n.consul("/v1/agent/service/deregister/web-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, _, all) = get_json(&n, "/v1/health/service/web").await;
    assert_eq!(all, serde_json::json!([]));
}

#[tokio::test]
async fn one_registry_for_nacos_and_consul_clients() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    // Registered through Consul, read through Nacos...
    put_json(
        &n,
        "/v1/agent/service/register",
        r#"{"Name":"orders","ID":"orders-1","Address":"10.0.0.7","Port":9000}"#,
    )
    .await;
    let list: Value = http()
        .get(n.url("/nacos/v1/ns/instance/list?serviceName=orders"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            list["hosts"][0]["ip"].as_str(),
            list["hosts"][0]["port"].as_u64()
        ),
        (Some("10.0.0.7"), Some(9000))
    );
    assert_eq!(list["hosts"][0]["healthy"], true, "no checks: healthy");
    // ...and registered through Nacos, read through Consul.
    let r = http()
        .post(n.url("/nacos/v1/ns/instance"))
        .query(&[
            ("serviceName", "billing"),
            ("ip", "10.0.0.8"),
            ("port", "7000"),
            ("ephemeral", "false"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");
    let (_, _, services) = get_json(&n, "/v1/catalog/services").await;
    assert!(
        services.get("billing").is_some() && services.get("orders").is_some(),
        "{services}"
    );
    let (_, _, health) = get_json(&n, "/v1/health/service/billing?passing").await;
    assert_eq!(health[0]["Service"]["Address"], "10.0.0.8");
}

/// Consul's weights are integers: its Go `api` package fails to decode `1.0`. A Nacos weight is
/// rounded.
#[tokio::test]
async fn weights_are_integers_as_consul_clients_decode_them() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    put_json(
        &n,
        "/v1/agent/service/register",
        r#"{"Name":"w","ID":"w-1","Port":1,"Weights":{"Passing":3,"Warning":1}}"#,
    )
    .await;
    let r = http()
        .post(n.url("/nacos/v1/ns/instance"))
        .query(&[("serviceName", "w"), ("ip", "10.0.0.9"), ("port", "2")])
        .query(&[("weight", "2.6"), ("ephemeral", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");
    let weights = |v: &Value| -> Vec<String> {
        let mut w: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let w = e
                    .get("Service")
                    .map_or(&e["ServiceWeights"], |s| &s["Weights"]);
                w.to_string()
            })
            .collect();
        w.sort();
        w
    };
    let want = vec![
        r#"{"Passing":3,"Warning":1}"#.to_owned(),
        r#"{"Passing":3,"Warning":1}"#.to_owned(),
    ];
    assert_eq!(weights(&get_json(&n, "/v1/health/service/w").await.2), want);
    assert_eq!(
        weights(&get_json(&n, "/v1/catalog/service/w").await.2),
        want
    );
    let (_, _, agent) = get_json(&n, "/v1/agent/service/w-1").await;
    assert_eq!(agent["Weights"].to_string(), r#"{"Passing":3,"Warning":1}"#);
}

#[tokio::test]
async fn a_silent_ttl_check_turns_critical_and_the_service_is_deregistered() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &[("NACRE_NAMING_CHECK_INTERVAL", "100ms")]).await;
    put_json(&n, "/v1/agent/service/register", r#"{"Name":"batch","Check":{"TTL":"1s","Status":"passing","DeregisterCriticalServiceAfter":"1s"}}"#).await;
    let (_, index, passing) = get_json(&n, "/v1/health/service/batch?passing").await;
    assert_eq!(passing.as_array().unwrap().len(), 1);

    // A blocking health query is woken when the check turns critical.
    let started = Instant::now();
    let (_, woken, passing) = get_json(
        &n,
        &format!(
            "/v1/health/service/batch?passing&index={}&wait=10s",
            index.unwrap()
        ),
    )
    .await;
    assert!(woken.unwrap() > index.unwrap() && started.elapsed() < Duration::from_secs(5));
    assert_eq!(passing, serde_json::json!([]), "critical after its TTL");
    eventually("the critical service to be deregistered", || async {
        get_json(&n, "/v1/health/service/batch").await.2 == serde_json::json!([])
    })
    .await;
}

#[tokio::test]
async fn bad_registrations_and_unknown_ids_get_consuls_errors() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let before = nats.last_seq().await;
    for (body, expected) in [
        (r#"{"ID":"x"}"#, "Missing service name"),
        ("{not json", "Request decode failed"),
        (r#"{"Name":"a","Port":"eighty"}"#, "Port"),
        (r#"{"Name":"a","Tags":"one"}"#, "Tags"),
        (
            r#"{"Name":"a","Check":{"GRPC":"x:1","Interval":"10s"}}"#,
            "not supported",
        ),
        (
            r#"{"Name":"a","Check":{"HTTP":"http://x"}}"#,
            "Interval must be > 0",
        ),
        (r#"{"Name":"a","Check":{"Notes":"n"}}"#, "TTL, HTTP or TCP"),
        (
            r#"{"Name":"a","Check":{"TCP":"x:1","Interval":"often"}}"#,
            "Invalid Interval",
        ),
        (r#"{"Name":"a","Check":{"TTL":"soon"}}"#, "Invalid TTL"),
        (
            r#"{"Name":"a","Check":{"TTL":"10s","Status":"fine"}}"#,
            "Invalid check status",
        ),
    ] {
        let (status, text) = put_json(&n, "/v1/agent/service/register", body).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(expected), "{body}: {text}");
    }
    assert_eq!(
        http()
            .put(n.consul("/v1/agent/check/pass/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        http()
            .put(n.consul("/v1/agent/service/deregister/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(get_json(&n, "/v1/health/state/sideways").await.0, 400);
    assert_eq!(
        get_json(&n, "/v1/health/service/x?index=1&wait=later")
            .await
            .0,
        400
    );
    assert_eq!(nats.last_seq().await, before, "nothing was written");
}

/// An HTTP endpoint answering with whatever status the test sets.
async fn health_endpoint() -> (String, std::sync::Arc<std::sync::atomic::AtomicU16>) {
    use std::sync::atomic::{AtomicU16, Ordering};
    let status = std::sync::Arc::new(AtomicU16::new(200));
    let shared = status.clone();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let code = shared.load(Ordering::SeqCst);
            async move {
                (
                    axum::http::StatusCode::from_u16(code).unwrap(),
                    format!("status {code}"),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, status)
}

async fn check_of(n: &Nacre, id: &str) -> Value {
    let (_, _, checks) = get_json(n, "/v1/agent/checks").await;
    checks[id].clone()
}

#[tokio::test]
async fn nacre_runs_http_and_tcp_checks() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let (url, status) = health_endpoint().await;
    let body = format!(
        r#"{{"Name":"api","ID":"api-1","Port":9000,"Check":{{"HTTP":"{url}","Interval":"200ms","Timeout":"1s"}}}}"#
    );
    assert_eq!(
        put_json(&n, "/v1/agent/service/register", &body).await.0,
        200
    );
    eventually("the HTTP check to pass", || async {
        check_of(&n, "service:api-1").await["Status"] == "passing"
    })
    .await;
    let check = check_of(&n, "service:api-1").await;
    assert_eq!(check["Type"], "http");
    assert!(
        check["Output"].as_str().unwrap().contains("status 200"),
        "{check}"
    );
    let (_, _, passing) = get_json(&n, "/v1/health/service/api?passing").await;
    assert_eq!(passing.as_array().unwrap().len(), 1);

    status.store(503, std::sync::atomic::Ordering::SeqCst);
    eventually("the HTTP check to turn critical", || async {
        check_of(&n, "service:api-1").await["Status"] == "critical"
    })
    .await;
    let (_, _, passing) = get_json(&n, "/v1/health/service/api?passing").await;
    assert_eq!(passing, serde_json::json!([]));
    status.store(429, std::sync::atomic::Ordering::SeqCst);
    eventually("429 to be a warning", || async {
        check_of(&n, "service:api-1").await["Status"] == "warning"
    })
    .await;

    // TCP: passing while something listens, critical once it is gone.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let body = format!(
        r#"{{"Name":"db","ID":"db-1","Check":{{"TCP":"{addr}","Interval":"200ms","DeregisterCriticalServiceAfter":"1s"}}}}"#
    );
    assert_eq!(
        put_json(&n, "/v1/agent/service/register", &body).await.0,
        200
    );
    eventually("the TCP check to pass", || async {
        check_of(&n, "service:db-1").await["Status"] == "passing"
    })
    .await;
    drop(listener);
    eventually("the TCP check to turn critical", || async {
        check_of(&n, "service:db-1").await["Status"] == "critical"
    })
    .await;
    eventually("the critical service to be deregistered", || async {
        get_json(&n, "/v1/health/service/db").await.2 == serde_json::json!([])
    })
    .await;
}

#[tokio::test]
async fn catalog_register_and_deregister_reach_the_one_registry() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let (status, body) = put_json(
        &n,
        "/v1/catalog/register",
        r#"{"Node":"ext","Address":"10.9.9.9","Service":{"Service":"billing","ID":"billing-1","Port":7000,"Tags":["v2"]},
            "Check":{"CheckID":"billing-alive","Name":"alive","Status":"passing","ServiceID":"billing-1"}}"#,
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "true"));
    let (_, _, passing) = get_json(&n, "/v1/health/service/billing?passing").await;
    assert_eq!(passing[0]["Service"]["Address"], "10.9.9.9", "{passing}");
    let checks = passing[0]["Checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["CheckID"] == "billing-alive" && c["Status"] == "passing"),
        "{passing}"
    );
    // Nacos clients see the same instance.
    let list: Value = http()
        .get(n.url("/nacos/v1/ns/instance/list?serviceName=billing"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["hosts"][0]["port"], 7000, "{list}");

    let (status, text) =
        put_json(&n, "/v1/catalog/deregister", r#"{"ServiceID":"billing-1"}"#).await;
    assert_eq!((status, text.as_str()), (400, "Must provide node"));
    let (status, _) = put_json(
        &n,
        "/v1/catalog/deregister",
        r#"{"Node":"ext","ServiceID":"billing-1"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        get_json(&n, "/v1/health/service/billing").await.2,
        serde_json::json!([])
    );
    let (status, text) = put_json(
        &n,
        "/v1/catalog/register",
        r#"{"Node":"ext","Service":{"ID":"nameless"}}"#,
    )
    .await;
    assert_eq!((status, text.as_str()), (400, "Missing service name"));
}
