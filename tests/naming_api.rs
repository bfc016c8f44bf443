//! Nacos naming over HTTP: instances, services, liveness across nodes. Real nats-servers.
//!
//! One file on purpose: the specification of one API, so every behaviour of it is found in one
//! place.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use serde_json::Value;

async fn node_with(nats: &NatsServer, env: &[(&str, &str)]) -> Nacre {
    Nacre::external_with(nats, env).await
}

async fn call(
    method: reqwest::Method,
    n: &Nacre,
    path: &str,
    query: &[(&str, &str)],
) -> (u16, String) {
    let r = http()
        .request(method, n.url(path))
        .query(query)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn register(n: &Nacre, service: &str, ip: &str, port: &str, extra: &[(&str, &str)]) {
    let mut q = vec![("serviceName", service), ("ip", ip), ("port", port)];
    q.extend_from_slice(extra);
    assert_eq!(
        call(reqwest::Method::POST, n, "/nacos/v1/ns/instance", &q).await,
        (200, "ok".into()),
        "register {ip}:{port}"
    );
}

async fn list(n: &Nacre, query: &[(&str, &str)]) -> Value {
    let (status, body) = call(reqwest::Method::GET, n, "/nacos/v1/ns/instance/list", query).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn ips(info: &Value) -> Vec<String> {
    let mut v: Vec<String> = info["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| format!("{}:{}", h["ip"].as_str().unwrap(), h["port"]))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_large_instance_list_is_gzipped_for_clients_that_accept_it_and_only_for_them() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let metadata = format!(r#"{{"blob":"{}"}}"#, "m".repeat(300));
    for i in 0..40 {
        register(
            &n,
            "wide",
            &format!("10.9.0.{i}"),
            "80",
            &[("metadata", &metadata), ("ephemeral", "false")],
        )
        .await;
    }
    let url = n.url("/nacos/v1/ns/instance/list?serviceName=wide");
    let plain = http().get(&url).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain: Value = serde_json::from_slice(&plain.bytes().await.unwrap()).unwrap();
    assert_eq!(plain["hosts"].as_array().unwrap().len(), 40);

    let gzipped = http()
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let bytes = gzipped.bytes().await.unwrap();
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut json).unwrap();
    assert!(
        bytes.len() * 4 < json.len(),
        "{} → {}",
        json.len(),
        bytes.len()
    );
    let unzipped: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(unzipped["hosts"], plain["hosts"]);

    // A small list is not worth compressing, whatever the client accepts.
    register(&n, "narrow", "10.9.1.1", "80", &[]).await;
    let small = http()
        .get(n.url("/nacos/v1/ns/instance/list?serviceName=narrow"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(small.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn register_list_update_deregister() {
    let nats = NatsServer::start();
    let n = node_with(&nats, &[]).await;
    register(
        &n,
        "orders",
        "10.0.0.1",
        "8080",
        &[("metadata", r#"{"version":"1"}"#)],
    )
    .await;
    register(
        &n,
        "orders",
        "10.0.0.2",
        "8080",
        &[("clusterName", "B"), ("healthy", "false")],
    )
    .await;

    let info = list(&n, &[("serviceName", "orders")]).await;
    assert_eq!(info["name"], "DEFAULT_GROUP@@orders");
    assert_eq!(
        (info["cacheMillis"].as_u64(), info["clusters"].as_str()),
        (Some(10000), Some(""))
    );
    assert_eq!(ips(&info), ["10.0.0.1:8080", "10.0.0.2:8080"]);
    let host = info["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["ip"] == "10.0.0.1")
        .unwrap();
    for field in [
        "instanceId",
        "weight",
        "healthy",
        "enabled",
        "ephemeral",
        "clusterName",
        "serviceName",
        "metadata",
        "instanceHeartBeatInterval",
    ] {
        assert!(!host[field].is_null(), "host field {field} present: {host}");
    }
    assert_eq!(
        host["instanceId"],
        "10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@orders"
    );
    assert_eq!(host["metadata"]["version"], "1");

    assert_eq!(
        ips(&list(&n, &[("serviceName", "orders"), ("healthyOnly", "true")]).await),
        ["10.0.0.1:8080"]
    );
    let b = list(
        &n,
        &[("serviceName", "DEFAULT_GROUP@@orders"), ("clusters", "B")],
    )
    .await;
    assert_eq!(
        (ips(&b), b["clusters"].as_str()),
        (vec!["10.0.0.2:8080".to_owned()], Some("B")),
        "clusters filter, echoed"
    );

    let (s, body) = call(
        reqwest::Method::PUT,
        &n,
        "/nacos/v1/ns/instance",
        &[
            ("serviceName", "orders"),
            ("ip", "10.0.0.1"),
            ("port", "8080"),
            ("weight", "5"),
            ("metadata", "zone=z1"),
        ],
    )
    .await;
    assert_eq!((s, body.as_str()), (200, "ok"));
    let (_, detail) = call(
        reqwest::Method::GET,
        &n,
        "/nacos/v1/ns/instance",
        &[
            ("serviceName", "orders"),
            ("ip", "10.0.0.1"),
            ("port", "8080"),
        ],
    )
    .await;
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(
        (
            detail["weight"].as_f64(),
            detail["metadata"]["version"].as_str(),
            detail["metadata"]["zone"].as_str()
        ),
        (Some(5.0), Some("1"), Some("z1"))
    );

    // Disabled instances are never listed.
    call(
        reqwest::Method::PUT,
        &n,
        "/nacos/v1/ns/instance",
        &[
            ("serviceName", "orders"),
            ("ip", "10.0.0.1"),
            ("port", "8080"),
            ("enabled", "false"),
        ],
    )
    .await;
    assert_eq!(
        ips(&list(&n, &[("serviceName", "orders")]).await),
        ["10.0.0.2:8080"]
    );

    let (s, _) = call(
        reqwest::Method::DELETE,
        &n,
        "/nacos/v1/ns/instance",
        &[
            ("serviceName", "orders"),
            ("ip", "10.0.0.2"),
            ("port", "8080"),
        ],
    )
    .await;
    assert_eq!(s, 200, "a unique ip:port is found without its cluster");
    let (s, _) = call(
        reqwest::Method::DELETE,
        &n,
        "/nacos/v1/ns/instance",
        &[
            ("serviceName", "orders"),
            ("ip", "10.0.0.1"),
            ("port", "8080"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    assert!(ips(&list(&n, &[("serviceName", "orders")]).await).is_empty());
    // An unknown service lists empty, as in Nacos.
    assert_eq!(
        list(&n, &[("serviceName", "nobody")]).await["hosts"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn services_crud_paging_and_v2() {
    let nats = NatsServer::start();
    let n = node_with(&nats, &[]).await;
    for i in 0..5 {
        let name = format!("svc-{i}");
        let (s, body) = call(
            reqwest::Method::POST,
            &n,
            "/nacos/v1/ns/service",
            &[
                ("serviceName", &name),
                ("protectThreshold", "0.2"),
                ("metadata", "team=a"),
            ],
        )
        .await;
        assert_eq!((s, body.as_str()), (200, "ok"));
    }
    let (s, body) = call(
        reqwest::Method::POST,
        &n,
        "/nacos/v1/ns/service",
        &[("serviceName", "svc-0")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains("already exists"), "{body}");

    let (_, page) = call(
        reqwest::Method::GET,
        &n,
        "/nacos/v1/ns/service/list",
        &[("pageNo", "2"), ("pageSize", "2")],
    )
    .await;
    let page: Value = serde_json::from_str(&page).unwrap();
    assert_eq!(
        (
            page["count"].as_u64(),
            page["doms"].as_array().map(Vec::len)
        ),
        (Some(5), Some(2))
    );

    let (_, detail) = call(
        reqwest::Method::GET,
        &n,
        "/nacos/v1/ns/service",
        &[("serviceName", "svc-1")],
    )
    .await;
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(
        (
            detail["protectThreshold"].as_f64(),
            detail["metadata"]["team"].as_str()
        ),
        (Some(0.2), Some("a"))
    );
    let (s, _) = call(
        reqwest::Method::PUT,
        &n,
        "/nacos/v1/ns/service",
        &[("serviceName", "svc-1"), ("protectThreshold", "0.7")],
    )
    .await;
    assert_eq!(s, 200);

    register(&n, "svc-1", "10.0.0.9", "80", &[]).await;
    let (s, body) = call(
        reqwest::Method::DELETE,
        &n,
        "/nacos/v1/ns/service",
        &[("serviceName", "svc-1")],
    )
    .await;
    assert_eq!(s, 400, "a service with instances is not deleted: {body}");
    let (s, _) = call(
        reqwest::Method::DELETE,
        &n,
        "/nacos/v1/ns/service",
        &[("serviceName", "svc-2")],
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call(
        reqwest::Method::GET,
        &n,
        "/nacos/v1/ns/service",
        &[("serviceName", "svc-2")],
    )
    .await;
    assert_eq!(s, 400, "deleted");

    // v2 speaks the envelope.
    let r = http()
        .post(n.url("/nacos/v2/ns/instance"))
        .form(&[("serviceName", "v2svc"), ("ip", "1.1.1.1"), ("port", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"code": 0, "message": "success", "data": "ok"})
    );
    let r = http()
        .get(n.url("/nacos/v2/ns/instance/list?serviceName=v2svc"))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["hosts"][0]["ip"], "1.1.1.1");
    let r = http()
        .get(n.url("/nacos/v2/ns/service/list?pageNo=1&pageSize=10"))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["count"], 5, "{body}");
}

#[tokio::test]
async fn below_the_protect_threshold_all_instances_are_listed() {
    let nats = NatsServer::start();
    let n = node_with(&nats, &[]).await;
    call(
        reqwest::Method::POST,
        &n,
        "/nacos/v1/ns/service",
        &[("serviceName", "fragile"), ("protectThreshold", "0.5")],
    )
    .await;
    register(&n, "fragile", "10.0.0.1", "80", &[]).await;
    register(&n, "fragile", "10.0.0.2", "80", &[("healthy", "false")]).await;
    register(&n, "fragile", "10.0.0.3", "80", &[("healthy", "false")]).await;
    let info = list(&n, &[("serviceName", "fragile"), ("healthyOnly", "true")]).await;
    assert_eq!(info["reachProtectionThreshold"], true);
    assert_eq!(ips(&info).len(), 3);
    call(
        reqwest::Method::PUT,
        &n,
        "/nacos/v1/ns/service",
        &[("serviceName", "fragile"), ("protectThreshold", "0.3")],
    )
    .await;
    let info = list(&n, &[("serviceName", "fragile"), ("healthyOnly", "true")]).await;
    assert_eq!(
        (info["reachProtectionThreshold"].as_bool(), ips(&info).len()),
        (Some(false), 1)
    );
}

const TWO_NODE_TIMEOUTS: &str = r#"{"preserved.heart.beat.timeout":"2500","preserved.ip.delete.timeout":"4000","preserved.heart.beat.interval":"300"}"#;
const SHORT: &str = r#"{"preserved.heart.beat.timeout":"1000","preserved.ip.delete.timeout":"2000","preserved.heart.beat.interval":"300"}"#;

#[tokio::test]
async fn a_silent_ephemeral_instance_turns_unhealthy_then_disappears() {
    let nats = NatsServer::start();
    let n = node_with(&nats, &[("NACRE_NAMING_CHECK_INTERVAL", "100ms")]).await;
    register(&n, "quiet", "10.0.0.1", "80", &[("metadata", SHORT)]).await;
    let healthy = |info: &Value| info["hosts"][0]["healthy"].as_bool();
    assert_eq!(
        healthy(&list(&n, &[("serviceName", "quiet")]).await),
        Some(true)
    );
    let started = std::time::Instant::now();
    eventually("the silent instance to turn unhealthy", || async {
        healthy(&list(&n, &[("serviceName", "quiet")]).await) == Some(false)
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "not before its 1 s timeout"
    );
    eventually("the silent instance to be removed", || async {
        ips(&list(&n, &[("serviceName", "quiet")]).await).is_empty()
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(1800),
        "not before its 2 s timeout"
    );
}

#[tokio::test]
async fn beats_keep_an_instance_alive_and_re_register_it_after_removal() {
    let nats = NatsServer::start();
    let n = node_with(&nats, &[("NACRE_NAMING_CHECK_INTERVAL", "100ms")]).await;
    register(&n, "chatty", "10.0.0.1", "80", &[("metadata", SHORT)]).await;
    let beat_json = format!(
        r#"{{"ip":"10.0.0.1","port":80,"serviceName":"DEFAULT_GROUP@@chatty","cluster":"DEFAULT","weight":1,"metadata":{SHORT}}}"#
    );
    for _ in 0..10 {
        let (s, body) = call(
            reqwest::Method::PUT,
            &n,
            "/nacos/v1/ns/instance/beat",
            &[
                ("serviceName", "chatty"),
                ("ip", "10.0.0.1"),
                ("port", "80"),
            ],
        )
        .await;
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (
                s,
                body["code"].as_u64(),
                body["clientBeatInterval"].as_u64()
            ),
            (200, Some(10200), Some(300))
        );
        // Kept: the beat cadence is the test (3 s of beats every 300 ms).
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let info = list(&n, &[("serviceName", "chatty")]).await;
    assert_eq!(
        info["hosts"][0]["healthy"], true,
        "3 s of beats kept it healthy"
    );

    eventually("the silent instance to be removed", || async {
        ips(&list(&n, &[("serviceName", "chatty")]).await).is_empty()
    })
    .await;
    // A light beat (no body) for a removed instance answers 20404...
    let (_, body) = call(
        reqwest::Method::PUT,
        &n,
        "/nacos/v1/ns/instance/beat",
        &[
            ("serviceName", "chatty"),
            ("ip", "10.0.0.1"),
            ("port", "80"),
        ],
    )
    .await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], 20404);
    // ...and a beat that carries the instance brings it back.
    let (_, body) = call(
        reqwest::Method::PUT,
        &n,
        "/nacos/v1/ns/instance/beat",
        &[("serviceName", "chatty"), ("beat", &beat_json)],
    )
    .await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], 10200);
    assert_eq!(
        ips(&list(&n, &[("serviceName", "chatty")]).await),
        ["10.0.0.1:80"]
    );
}

#[tokio::test]
async fn two_nodes_share_liveness_and_expire_exactly_once() {
    let nats = NatsServer::start();
    let env = [("NACRE_NAMING_CHECK_INTERVAL", "100ms")];
    let a = node_with(&nats, &env).await;
    let b = node_with(&nats, &env).await;
    let client = nats.client().await;
    let mut events = client.subscribe("nacre.evt.svc.>").await.unwrap();
    client.flush().await.unwrap();

    // Beats every 250 ms against a 2.5 s timeout: margin for a loaded CI box, where a gap over
    // the timeout would (rightly) add a transition this test does not expect.
    register(
        &a,
        "shared",
        "10.0.0.1",
        "80",
        &[("metadata", TWO_NODE_TIMEOUTS)],
    )
    .await;
    for i in 0..12 {
        let node = if i % 2 == 0 { &a } else { &b };
        call(
            reqwest::Method::PUT,
            node,
            "/nacos/v1/ns/instance/beat",
            &[
                ("serviceName", "shared"),
                ("ip", "10.0.0.1"),
                ("port", "80"),
            ],
        )
        .await;
        // Kept: the beat cadence is the test (250 ms beats against a 2.5 s timeout).
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for node in [&a, &b] {
        let info = list(node, &[("serviceName", "shared")]).await;
        assert_eq!(
            info["hosts"][0]["healthy"], true,
            "alternating beats keep it alive on every node"
        );
    }
    eventually("both nodes to drop it", || async {
        ips(&list(&a, &[("serviceName", "shared")]).await).is_empty()
            && ips(&list(&b, &[("serviceName", "shared")]).await).is_empty()
    })
    .await;
    // Kept: late or doubled events would arrive now; "nothing more comes" is the test.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut types = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(200), events.next()).await
    {
        let e: Value = serde_json::from_slice(&msg.payload).unwrap();
        types.push(e["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        types,
        [
            "nacre.instance.registered.v1",
            "nacre.instance.health.v1",
            "nacre.instance.deregistered.v1"
        ],
        "one registration, one unhealthy transition, one expiry: no beat is an event, no transition is doubled"
    );
}

#[tokio::test]
async fn persistent_instances_survive_a_full_restart_and_silent_ephemeral_ones_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nacre::standalone_in(dir.path()).await;
    register(&n, "db", "10.0.0.1", "5432", &[("ephemeral", "false")]).await;
    register(&n, "web", "10.0.0.2", "80", &[("metadata", SHORT)]).await;
    n.stop();
    n.start().await;
    assert_eq!(
        ips(&list(&n, &[("serviceName", "db")]).await),
        ["10.0.0.1:5432"],
        "persistent data survives"
    );
    // The silent ephemeral one is removed (delete timeout 2 s; clocks restart at start-up)...
    eventually("the silent ephemeral instance to expire", || async {
        ips(&list(&n, &[("serviceName", "web")]).await).is_empty()
    })
    .await;
    // ...while the persistent one, which never beats either, stays.
    assert_eq!(
        ips(&list(&n, &[("serviceName", "db")]).await),
        ["10.0.0.1:5432"],
        "persistent instances never expire"
    );
}

#[tokio::test]
async fn a_nats_subscriber_receives_instance_events() {
    let nats = NatsServer::start();
    let n = node_with(&nats, &[]).await;
    let client = nats.client().await;
    let mut sub = client
        .subscribe("nacre.evt.svc.public.DEFAULT_GROUP.pay=2Eapi")
        .await
        .unwrap();
    client.flush().await.unwrap();
    register(&n, "pay.api", "10.0.0.1", "80", &[]).await;
    call(
        reqwest::Method::DELETE,
        &n,
        "/nacos/v1/ns/instance",
        &[
            ("serviceName", "pay.api"),
            ("ip", "10.0.0.1"),
            ("port", "80"),
        ],
    )
    .await;
    let first: Value = serde_json::from_slice(
        &tokio::time::timeout(Duration::from_secs(2), sub.next())
            .await
            .unwrap()
            .unwrap()
            .payload,
    )
    .unwrap();
    let second: Value = serde_json::from_slice(
        &tokio::time::timeout(Duration::from_secs(2), sub.next())
            .await
            .unwrap()
            .unwrap()
            .payload,
    )
    .unwrap();
    assert_eq!(first["type"], "nacre.instance.registered.v1");
    assert_eq!(
        (
            first["data"]["service"].as_str(),
            first["data"]["instance"]["ip"].as_str()
        ),
        (Some("pay.api"), Some("10.0.0.1"))
    );
    assert_eq!(
        (second["type"].as_str(), second["data"]["reason"].as_str()),
        (Some("nacre.instance.deregistered.v1"), Some("client"))
    );
}

#[tokio::test]
async fn locality_first_lists_the_nearest_instances_first() {
    let nats = NatsServer::start();
    let n = node_with(
        &nats,
        &[("NACRE_NODE_REGION", "east"), ("NACRE_NODE_ZONE", "z1")],
    )
    .await;
    register(
        &n,
        "geo",
        "10.0.0.1",
        "80",
        &[
            ("metadata", r#"{"region":"west","zone":"w1"}"#),
            ("weight", "100"),
        ],
    )
    .await;
    register(
        &n,
        "geo",
        "10.0.0.2",
        "80",
        &[("metadata", r#"{"region":"east","zone":"z2"}"#)],
    )
    .await;
    register(
        &n,
        "geo",
        "10.0.0.3",
        "80",
        &[("metadata", r#"{"region":"east","zone":"z1"}"#)],
    )
    .await;
    for _ in 0..5 {
        let info = list(&n, &[("serviceName", "geo"), ("localityFirst", "true")]).await;
        let order: Vec<_> = info["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["ip"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(order, ["10.0.0.3", "10.0.0.2", "10.0.0.1"]);
    }
}

#[tokio::test]
async fn bad_naming_input_is_refused_and_writes_nothing() {
    let nats = NatsServer::start();
    let n = node_with(&nats, &[]).await;
    register(&n, "exists", "10.0.0.1", "80", &[]).await;
    let before = nats.last_seq().await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("ip", "1.1.1.1"), ("port", "80")], "serviceName"),
        (&[("serviceName", "s"), ("port", "80")], "'ip'"),
        (&[("serviceName", "s"), ("ip", "1.1.1.1")], "'port'"),
        (
            &[("serviceName", "s"), ("ip", "1.1.1.1"), ("port", "70000")],
            "between 0 and 65535",
        ),
        (
            &[("serviceName", "s"), ("ip", "1.1.1.1"), ("port", "-1")],
            "between 0 and 65535",
        ),
        (
            &[
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "80"),
                ("weight", "10001"),
            ],
            "weights range",
        ),
        (
            &[
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "80"),
                ("weight", "NaN"),
            ],
            "weights range",
        ),
        (
            &[
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "80"),
                ("weight", "heavy"),
            ],
            "For input string",
        ),
        (
            &[
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "80"),
                ("metadata", "{broken"),
            ],
            "metadata format incorrect",
        ),
        (
            &[
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "80"),
                ("namespaceId", "ghost"),
            ],
            "not exist",
        ),
    ];
    for (query, expected) in cases {
        let (status, body) = call(reqwest::Method::POST, &n, "/nacos/v1/ns/instance", query).await;
        assert_eq!(status, 400, "{query:?}: {body}");
        assert!(body.contains(expected), "{query:?}: {body}");
    }
    let (status, body) = call(
        reqwest::Method::DELETE,
        &n,
        "/nacos/v1/ns/instance",
        &[("serviceName", "exists"), ("ip", "9.9.9.9"), ("port", "80")],
    )
    .await;
    assert_eq!(status, 404, "deregistering what does not exist: {body}");
    let r = http()
        .post(n.url("/nacos/v2/ns/instance"))
        .form(&[
            ("serviceName", "s"),
            ("ip", "1.1.1.1"),
            ("port", "80"),
            ("weight", "-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 21001);
    assert_eq!(nats.last_seq().await, before, "nothing was written");
}

/// The next push a 1.x-style client receives: the packet (un-gzipped) and whether it was gzipped.
async fn next_udp_push(socket: &tokio::net::UdpSocket) -> (Value, bool, std::net::SocketAddr) {
    use std::io::Read;
    let mut buffer = vec![0u8; 65536];
    let (n, from) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buffer))
        .await
        .expect("a UDP push within 10 s")
        .unwrap();
    let raw = &buffer[..n];
    let gzipped = raw.starts_with(&[0x1f, 0x8b]);
    let text = if gzipped {
        let mut out = String::new();
        flate2::read::GzDecoder::new(raw)
            .read_to_string(&mut out)
            .unwrap();
        out
    } else {
        String::from_utf8(raw.to_vec()).unwrap()
    };
    (serde_json::from_str(&text).unwrap(), gzipped, from)
}

#[tokio::test]
async fn http_clients_that_give_a_udp_port_are_pushed_every_change() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let udp_port = socket.local_addr().unwrap().port().to_string();
    register(&n, "DEFAULT_GROUP@@pushed", "10.0.0.1", "80", &[]).await;
    let first = list(
        &n,
        &[
            ("serviceName", "DEFAULT_GROUP@@pushed"),
            ("clientIP", "127.0.0.1"),
            ("udpPort", &udp_port),
            ("clusters", ""),
        ],
    )
    .await;
    assert_eq!(ips(&first), vec!["10.0.0.1:80"]);

    register(&n, "DEFAULT_GROUP@@pushed", "10.0.0.2", "80", &[]).await;
    let (packet, _, from) = next_udp_push(&socket).await;
    assert_eq!(packet["type"], "dom");
    assert!(packet["lastRefTime"].as_u64().unwrap() < (1 << 53));
    let data: Value = serde_json::from_str(packet["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        data["name"], "DEFAULT_GROUP@@pushed",
        "the name the client caches under"
    );
    assert_eq!(ips(&data), vec!["10.0.0.1:80", "10.0.0.2:80"]);
    // The client's acknowledgement is accepted (and nothing breaks).
    let ack = serde_json::json!({"type": "push-ack", "lastRefTime": packet["lastRefTime"].to_string(), "data": ""});
    socket
        .send_to(ack.to_string().as_bytes(), from)
        .await
        .unwrap();

    // A large ServiceInfo is gzipped.
    let padding = "x".repeat(300);
    for i in 3..8 {
        register(
            &n,
            "DEFAULT_GROUP@@pushed",
            &format!("10.0.0.{i}"),
            "80",
            &[("metadata", &format!(r#"{{"pad":"{padding}"}}"#))],
        )
        .await;
    }
    let mut last = Value::Null;
    for _ in 0..5 {
        let (packet, gzipped, _) = next_udp_push(&socket).await;
        let data: Value = serde_json::from_str(packet["data"].as_str().unwrap()).unwrap();
        if data["hosts"].as_array().unwrap().len() == 7 {
            assert!(gzipped, "a packet over 1 KiB is gzipped");
            last = data;
            break;
        }
    }
    assert_eq!(last["hosts"].as_array().map(Vec::len), Some(7));

    // A small one travels plain: the service emptied.
    for i in 1..8 {
        let ip = format!("10.0.0.{i}");
        let q = [
            ("serviceName", "DEFAULT_GROUP@@pushed"),
            ("ip", ip.as_str()),
            ("port", "80"),
        ];
        assert_eq!(
            call(reqwest::Method::DELETE, &n, "/nacos/v1/ns/instance", &q)
                .await
                .0,
            200
        );
    }
    loop {
        let (packet, gzipped, _) = next_udp_push(&socket).await;
        let data: Value = serde_json::from_str(packet["data"].as_str().unwrap()).unwrap();
        if data["hosts"].as_array().unwrap().is_empty() {
            assert!(!gzipped, "a packet under 1 KiB travels plain");
            break;
        }
    }
}
