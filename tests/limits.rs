//! One limits table (`core::limits`), the same refusal on every path: each limit is tried on every
//! adapter that can carry it (Nacos HTTP v1/v2/v3, gRPC, imports, Consul), and each refusal is
//! the protocol's 400-class error with nothing written. A request NATS itself would refuse (and
//! drop the connection over) is refused by Nacre before anything reaches NATS.

mod common;

use std::time::{Duration, Instant};

use common::grpc::RawClient;
use common::*;
use serde_json::{Value, json};

/// 200 three-byte characters: a dataId Nacos' rules allow (letters, at most 255) that encodes to
/// 1,800 bytes as a subject token.
fn long_data_id() -> String {
    "配".repeat(200)
}

/// Metadata one character over Nacos' 1,024.
fn long_metadata() -> Value {
    json!({"blob": "x".repeat(1021)})
}

async fn form(method: reqwest::Method, url: String, params: &[(&str, &str)]) -> (u16, String) {
    let r = http()
        .request(method, url)
        .form(params)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A path's refusal: the status (HTTP) or errorCode (gRPC), and the answer.
fn refused(what: &str, status: u16, body: &str) {
    assert_eq!(status, 400, "{what} must be refused with 400: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limit_is_refused_alike_on_every_path_and_nothing_is_written() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let mut grpc = RawClient::connect(&n).await;
    use reqwest::Method as M;
    // An instance to update.
    let (status, body) = form(
        M::POST,
        n.url("/nacos/v1/ns/instance"),
        &[
            ("serviceName", "svc"),
            ("ip", "10.0.0.1"),
            ("port", "80"),
            ("ephemeral", "false"),
        ],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let before = nats.last_seq().await;

    // An encoded name NATS could not carry.
    let data_id = long_data_id();
    for (path, group) in [
        ("/nacos/v1/cs/configs", "group"),
        ("/nacos/v2/cs/config", "group"),
        ("/nacos/v3/admin/cs/config", "groupName"),
    ] {
        let (status, body) = form(
            M::POST,
            n.url(path),
            &[("dataId", &data_id), (group, "G"), ("content", "x")],
        )
        .await;
        refused(path, status, &body);
        assert!(body.contains("too long"), "{path}: {body}");
    }
    let (_, reply) = grpc
        .ask(
            "ConfigPublishRequest",
            json!({"dataId": data_id, "group": "G", "content": "x"}),
            None,
        )
        .await;
    refused(
        "gRPC ConfigPublishRequest",
        reply["errorCode"].as_u64().unwrap_or(0) as u16,
        &reply.to_string(),
    );
    let r = http()
        .put(n.consul(&format!("/v1/kv/{}", "a/".repeat(700))))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a Consul key of 1,400 characters");
    let txn = json!([{"KV": {"Verb": "set", "Key": "a/".repeat(700), "Value": "eA=="}}]);
    let r = http()
        .put(n.consul("/v1/txn"))
        .json(&txn)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_client_error(),
        "a transaction with that key: {}",
        r.status()
    );

    // Nacos' instance metadata rule, on every Nacos path that carries metadata.
    let meta = long_metadata().to_string();
    for (path, method) in [
        ("/nacos/v1/ns/instance", M::POST),
        ("/nacos/v2/ns/instance", M::POST),
        ("/nacos/v1/ns/instance", M::PUT),
    ] {
        let params = [
            ("serviceName", "svc"),
            ("ip", "10.0.0.1"),
            ("port", "80"),
            ("metadata", meta.as_str()),
            ("ephemeral", "false"),
        ];
        let (status, body) = form(method.clone(), n.url(path), &params).await;
        refused(&format!("{method} {path}"), status, &body);
        assert!(body.contains("1024"), "{method} {path}: {body}");
    }
    let beat =
        json!({"ip": "10.0.0.9", "port": 80, "serviceName": "svc", "metadata": long_metadata()});
    let (status, body) = form(
        M::PUT,
        n.url("/nacos/v1/ns/instance/beat"),
        &[("serviceName", "svc"), ("beat", &beat.to_string())],
    )
    .await;
    refused("a beat re-registering a lost instance", status, &body);
    for kind in ["InstanceRequest", "PersistentInstanceRequest"] {
        let (_, reply) = grpc
            .ask(
                kind,
                json!({"serviceName": "svc", "type": "registerInstance",
                       "instance": {"ip": "10.0.0.2", "port": 80, "metadata": long_metadata()}}),
                None,
            )
            .await;
        refused(
            kind,
            reply["errorCode"].as_u64().unwrap_or(0) as u16,
            &reply.to_string(),
        );
    }
    let (_, reply) = grpc
        .ask(
            "BatchInstanceRequest",
            json!({"serviceName": "svc", "type": "batchRegisterInstance",
                   "instances": [{"ip": "10.0.0.3", "port": 80, "metadata": long_metadata()}]}),
            None,
        )
        .await;
    refused(
        "BatchInstanceRequest",
        reply["errorCode"].as_u64().unwrap_or(0) as u16,
        &reply.to_string(),
    );

    // Consul's Meta rules, on the agent and the catalog.
    let many: serde_json::Map<String, Value> = (0..65)
        .map(|i| (format!("k{i}"), Value::from("v")))
        .collect();
    for meta in [
        Value::Object(many),
        json!({"k": "v".repeat(513)}),
        json!({"k".repeat(129): "v"}),
    ] {
        let r = http()
            .put(n.consul("/v1/agent/service/register"))
            .json(&json!({"Name": "meta", "Meta": meta}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "agent: {}", r.text().await.unwrap());
        let r = http()
            .put(n.consul("/v1/catalog/register"))
            .json(&json!({"Node": "n1", "Address": "10.0.0.5", "Service": {"Service": "meta", "Meta": meta}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "catalog: {}", r.text().await.unwrap());
    }
    // Whatever a protocol allows, no instance record exceeds the backstop (64 KiB).
    let tags: Vec<String> = (0..5_000).map(|i| format!("tag-{i:016}")).collect();
    let r = http()
        .put(n.consul("/v1/agent/service/register"))
        .json(&json!({"Name": "tagged", "Tags": tags}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());

    // A config's free-text fields, on every path that publishes: appName one over Nacos' 128.
    let app = "a".repeat(129);
    for (path, group) in [
        ("/nacos/v1/cs/configs", "group"),
        ("/nacos/v2/cs/config", "group"),
        ("/nacos/v3/admin/cs/config", "groupName"),
    ] {
        let (status, body) = form(
            M::POST,
            n.url(path),
            &[
                ("dataId", "d"),
                (group, "G"),
                ("content", "x"),
                ("appName", &app),
            ],
        )
        .await;
        refused(path, status, &body);
    }
    let (_, reply) = grpc
        .ask(
            "ConfigPublishRequest",
            json!({"dataId": "d", "group": "G", "content": "x", "additionMap": {"appName": app}}),
            None,
        )
        .await;
    refused(
        "gRPC publish",
        reply["errorCode"].as_u64().unwrap_or(0) as u16,
        &reply.to_string(),
    );
    let zip = {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("G/d", options).unwrap();
        zip.write_all(b"x").unwrap();
        zip.start_file("G/d.meta", options).unwrap();
        zip.write_all(format!("appName: {app}\n").as_bytes())
            .unwrap();
        zip.start_file(format!("G/{data_id}"), options).unwrap();
        zip.write_all(b"x").unwrap();
        zip.finish().unwrap().into_inner()
    };
    let report: Value = http()
        .post(n.url("/nacos/v3/console/cs/config/import"))
        .multipart(reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(zip).file_name("import.zip"),
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["data"]["failCount"], 2, "{report}");
    assert_eq!(report["data"]["successCount"], 0, "{report}");

    // How many configs one listener may watch: 10,000, over HTTP and gRPC alike.
    let probes: String = (0..10_001)
        .map(|i| format!("c{i}\u{2}G\u{2}\u{1}"))
        .collect();
    let (status, body) = form(
        M::POST,
        n.url("/nacos/v1/cs/configs/listener"),
        &[("Listening-Configs", &probes)],
    )
    .await;
    refused("HTTP listener", status, &body);
    let contexts: Vec<Value> = (0..10_001)
        .map(|i| json!({"dataId": format!("c{i}"), "group": "G", "md5": ""}))
        .collect();
    let (_, reply) = grpc
        .ask(
            "ConfigBatchListenRequest",
            json!({"listen": true, "configListenContexts": contexts}),
            None,
        )
        .await;
    refused(
        "gRPC batch listen",
        reply["errorCode"].as_u64().unwrap_or(0) as u16,
        &reply.to_string(),
    );
    // Instances in one gRPC batch: 1,000.
    let instances: Vec<Value> = (0..1_001)
        .map(|i| json!({"ip": format!("10.1.{}.{}", i / 250, i % 250), "port": 80}))
        .collect();
    let (_, reply) = grpc
        .ask(
            "BatchInstanceRequest",
            json!({"serviceName": "svc", "type": "batchRegisterInstance", "instances": instances}),
            None,
        )
        .await;
    refused(
        "a batch of 1,001",
        reply["errorCode"].as_u64().unwrap_or(0) as u16,
        &reply.to_string(),
    );

    assert_eq!(nats.last_seq().await, before, "nothing was written");
}

/// What NATS would refuse never reaches it: the refusal is immediate, and writes behind it are
/// not held up by a dropped connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_nats_would_refuse_is_refused_at_once_and_costs_the_connection_nothing() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    publish(&n, "warm", "G", "x").await;
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let r = http()
            .put(n.consul(&format!("/v1/kv/{}", "/".repeat(1400))))
            .body("x")
            .send()
            .await
            .unwrap();
        slowest = slowest.max(started.elapsed());
        assert_eq!(r.status(), 400);
    }
    // Printed for the record; the bound only says "not a NATS round trip or a reconnect".
    println!("slowest refusal of a 4,200-byte subject: {slowest:?}");
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");
    let started = Instant::now();
    publish(&n, "after", "G", "x").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a write right after was held up: {:?}",
        started.elapsed()
    );
}

/// A service as large as a registry meets: 20,000 instances with 1 KiB of metadata each
/// projects into views that verify clean, and lists it in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_of_twenty_thousand_instances_projects_and_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nacre::standalone_in(dir.path()).await;
    let meta = json!({"blob": "m".repeat(1020)}).to_string();
    let client = http();
    let started = Instant::now();
    let total = 20_000;
    futures::stream::iter(0..total)
        .map(|i| {
            let request = client.post(n.url("/nacos/v1/ns/instance")).form(&[
                ("serviceName", "huge".to_owned()),
                (
                    "ip",
                    format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256),
                ),
                ("port", "8080".to_owned()),
                ("ephemeral", "false".to_owned()),
                ("metadata", meta.clone()),
            ]);
            async move {
                let r = request.send().await.unwrap();
                assert_eq!(r.text().await.unwrap(), "ok");
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    println!("registered {total} instances in {:?}", started.elapsed());
    eventually_for(
        "the views catch up and readiness is green",
        Duration::from_secs(120),
        || {
            let request = http().get(n.url("/health/ready"));
            async move { request.send().await.unwrap().status() == 200 }
        },
    )
    .await;
    let listed = Instant::now();
    let list: Value = http()
        .get(n.url("/nacos/v1/ns/instance/list"))
        .query(&[("serviceName", "huge")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!("listed {total} instances in {:?}", listed.elapsed());
    assert_eq!(list["hosts"].as_array().unwrap().len(), total);
    eventually_for("nacre verify agrees", Duration::from_secs(120), || {
        let (ok, _) = n.cli(&["verify"]);
        async move { ok }
    })
    .await;
}

use futures::StreamExt;

/// A view entry NATS refuses (here: a bucket whose message size limit an operator lowered) is
/// set aside, counted and retried with backoff; every other key is still written; readiness
/// turns red naming the entry while it waits, and green once it is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_entry_nats_refuses_is_set_aside_while_the_others_are_written() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let publish = |data_id: &'static str, content: String| {
        let request = http().post(n.url("/nacos/v1/cs/configs")).form(&[
            ("dataId", data_id),
            ("group", "G"),
            ("content", &content),
        ]);
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.text().await.unwrap(), "true", "{data_id}");
        }
    };
    let js = async_nats::jetstream::new(nats.client().await);
    let mut bucket = js.get_stream("KV_nacre-configs").await.unwrap();
    let mut limited = bucket.info().await.unwrap().config.clone();
    limited.max_message_size = 2048;
    js.update_stream(&limited).await.unwrap();

    publish("big", "b".repeat(4000)).await;
    publish("small", "s".to_owned()).await;
    let view = js.get_key_value("nacre-configs").await.unwrap();
    let key = |data_id: &str| {
        nacre::core::projector::views::config_key(&nacre::core::configs::ConfigKey::new(
            "public", "G", data_id,
        ))
    };
    eventually("the small config's view is written", || {
        let (view, key) = (view.clone(), key("small"));
        async move { view.get(key).await.unwrap().is_some() }
    })
    .await;
    eventually_for(
        "readiness names the entry set aside",
        Duration::from_secs(30),
        || {
            let request = http().get(n.url("/health/ready"));
            async move {
                let r = request.send().await.unwrap();
                r.status() != 200 && r.text().await.unwrap().contains("public.G.big")
            }
        },
    )
    .await;
    let metrics = http()
        .get(n.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("nacre_views_set_aside 1"), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("nacre_view_write_failures_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    assert!(view.get(key("big")).await.unwrap().is_none());

    // The operator lifts the limit: the retry writes it and readiness recovers.
    limited.max_message_size = -1;
    js.update_stream(&limited).await.unwrap();
    eventually_for(
        "the set-aside entry is written on a retry",
        Duration::from_secs(90),
        || {
            let (view, key) = (view.clone(), key("big"));
            async move { view.get(key).await.unwrap().is_some() }
        },
    )
    .await;
    eventually("readiness is green again", || {
        let request = http().get(n.url("/health/ready"));
        async move { request.send().await.unwrap().status() == 200 }
    })
    .await;
}
