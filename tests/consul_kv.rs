//! The Consul KV API (with blocking queries) on Nacre's Consul port. Real nats-server.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

struct Answer {
    status: u16,
    index: Option<u64>,
    known_leader: Option<String>,
    last_contact: Option<String>,
    body: String,
}

async fn call(method: reqwest::Method, url: String, body: Option<Vec<u8>>) -> Answer {
    let mut request = http().request(method, url);
    if let Some(b) = body {
        request = request.body(b);
    }
    let r = request.send().await.unwrap();
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (index, known_leader, last_contact) = (
        header("x-consul-index").and_then(|v| v.parse().ok()),
        header("x-consul-knownleader"),
        header("x-consul-lastcontact"),
    );
    Answer {
        status: r.status().as_u16(),
        index,
        known_leader,
        last_contact,
        body: r.text().await.unwrap(),
    }
}

async fn put(n: &Nacre, path: &str, value: &str) -> Answer {
    call(
        reqwest::Method::PUT,
        n.consul(&format!("/v1/kv/{path}")),
        Some(value.as_bytes().to_vec()),
    )
    .await
}

async fn get(n: &Nacre, path: &str) -> Answer {
    call(
        reqwest::Method::GET,
        n.consul(&format!("/v1/kv/{path}")),
        None,
    )
    .await
}

fn json(a: &Answer) -> Value {
    serde_json::from_str(&a.body).unwrap_or_else(|_| panic!("not JSON: {}", a.body))
}

#[tokio::test]
async fn put_get_recurse_keys_raw_delete() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let missing = get(&n, "app/config").await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.index.unwrap() >= 1,
        "a 404 carries X-Consul-Index, never 0"
    );
    assert_eq!(
        (
            missing.known_leader.as_deref(),
            missing.last_contact.as_deref()
        ),
        (Some("true"), Some("0"))
    );

    assert_eq!(put(&n, "app/config?flags=42", "hello").await.body, "true");
    put(&n, "app/db/url", "postgres://x").await;
    put(&n, "app/db/user", "admin").await;
    put(&n, "other", "x").await;

    let one = get(&n, "app/config").await;
    let entry = &json(&one)[0];
    assert_eq!(
        (
            entry["Key"].as_str(),
            entry["Value"].as_str(),
            entry["Flags"].as_u64()
        ),
        (Some("app/config"), Some("aGVsbG8="), Some(42))
    );
    assert!(
        entry["CreateIndex"].as_u64().unwrap() > 0 && entry["ModifyIndex"] == entry["CreateIndex"]
    );
    assert_eq!(one.index, entry["ModifyIndex"].as_u64());
    assert_eq!(get(&n, "app/config?raw").await.body, "hello");

    for recurse in ["recurse", "recurse=", "recurse=1"] {
        let all = json(&get(&n, &format!("app?{recurse}")).await);
        assert_eq!(all.as_array().unwrap().len(), 3, "?{recurse} counts as set");
    }
    let keys = json(&get(&n, "app/?keys&separator=/").await);
    assert_eq!(keys, serde_json::json!(["app/config", "app/db/"]));
    let keys = json(&get(&n, "?keys").await);
    assert_eq!(keys.as_array().unwrap().len(), 4);

    assert_eq!(
        call(reqwest::Method::DELETE, n.consul("/v1/kv/app/config"), None)
            .await
            .body,
        "true"
    );
    assert_eq!(get(&n, "app/config").await.status, 404);
    assert_eq!(
        call(
            reqwest::Method::DELETE,
            n.consul("/v1/kv/app?recurse"),
            None
        )
        .await
        .body,
        "true"
    );
    assert_eq!(get(&n, "app?recurse").await.status, 404);
    assert_eq!(get(&n, "other").await.status, 200);
}

#[tokio::test]
async fn cas_follows_modify_index() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    assert_eq!(
        put(&n, "lock?cas=0", "first").await.body,
        "true",
        "cas=0 creates"
    );
    assert_eq!(
        put(&n, "lock?cas=0", "second").await.body,
        "false",
        "cas=0 refuses an existing key"
    );
    let index = json(&get(&n, "lock").await)[0]["ModifyIndex"]
        .as_u64()
        .unwrap();
    assert_eq!(
        put(&n, &format!("lock?cas={}", index + 100), "stale")
            .await
            .body,
        "false"
    );
    assert_eq!(
        put(&n, &format!("lock?cas={index}"), "updated").await.body,
        "true"
    );
    assert_eq!(
        put(&n, &format!("lock?cas={index}"), "again").await.body,
        "false",
        "the index moved"
    );
    assert_eq!(get(&n, "lock?raw").await.body, "updated");
    let index = json(&get(&n, "lock").await)[0]["ModifyIndex"]
        .as_u64()
        .unwrap();
    assert_eq!(
        call(
            reqwest::Method::DELETE,
            n.consul(&format!("/v1/kv/lock?cas={}", index - 1)),
            None
        )
        .await
        .body,
        "false"
    );
    assert_eq!(
        call(
            reqwest::Method::DELETE,
            n.consul(&format!("/v1/kv/lock?cas={index}")),
            None
        )
        .await
        .body,
        "true"
    );
}

#[tokio::test]
async fn blocking_queries_wake_on_change_and_never_go_backwards() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    put(&n, "watched/a", "1").await;
    let first = get(&n, "watched?recurse").await;
    let index = first.index.unwrap();

    let url = n.consul(&format!("/v1/kv/watched?recurse&index={index}&wait=10s"));
    let started = Instant::now();
    let waiting = tokio::spawn(call(reqwest::Method::GET, url, None));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "nothing changed: it blocks");
    put(&n, "unrelated", "x").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !waiting.is_finished(),
        "a change elsewhere does not wake it"
    );
    put(&n, "watched/b", "2").await;
    let woken = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(woken.index.unwrap() > index && started.elapsed() < Duration::from_secs(5));
    assert_eq!(json(&woken).as_array().unwrap().len(), 2);

    // A wait that runs out answers 200 with the same data and index.
    let idle = get(
        &n,
        &format!("watched?recurse&index={}&wait=1s", woken.index.unwrap()),
    )
    .await;
    assert_eq!((idle.status, idle.index), (200, woken.index));

    // Deleting the newest key does not send the index backwards.
    call(reqwest::Method::DELETE, n.consul("/v1/kv/watched/b"), None).await;
    let after = get(&n, "watched?recurse").await;
    assert!(after.index.unwrap() > woken.index.unwrap());
}

#[tokio::test]
async fn bad_consul_input_gets_consuls_errors_and_writes_nothing() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let before = nats.last_seq().await;
    let a = get(&n, "k?index=1&wait=soon").await;
    assert_eq!((a.status, a.body.as_str()), (400, "Invalid wait time"));
    assert_eq!(get(&n, "k?index=abc").await.status, 400);
    let big = call(
        reqwest::Method::PUT,
        n.consul("/v1/kv/big"),
        Some(vec![b'x'; 512 * 1024 + 1]),
    )
    .await;
    assert_eq!(big.status, 413);
    assert_eq!(put(&n, "k?flags=-1", "x").await.status, 400);
    assert_eq!(
        call(reqwest::Method::DELETE, n.consul("/v1/kv/k?cas=0"), None)
            .await
            .status,
        400
    );
    assert_eq!(put(&n, "", "x").await.status, 400, "a key is required");
    assert_eq!(nats.last_seq().await, before, "nothing was written");
}

#[tokio::test]
async fn status_and_agent_self_answer_what_clients_probe() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &[("NACRE_NODE_DATACENTER", "east")]).await;
    let leader: Value = http()
        .get(n.consul("/v1/status/leader"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        leader
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", n.consul_port))
    );
    let me: Value = http()
        .get(n.consul("/v1/agent/self"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["Config"]["Datacenter"], "east");
    assert!(me["Config"]["NodeName"].is_string());
}

async fn create_session(n: &Nacre, body: &str) -> (u16, Value) {
    let r = http()
        .put(n.consul("/v1/session/create"))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn sessions_lock_and_release_keys() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let (status, s1) = create_session(&n, r#"{"name":"leader-election","ttl":"30s"}"#).await;
    assert_eq!(status, 200, "{s1}");
    let s1 = s1["ID"].as_str().unwrap().to_owned();
    let (_, s2) = create_session(&n, "").await;
    let s2 = s2["ID"].as_str().unwrap().to_owned();

    assert_eq!(
        put(&n, &format!("service/leader?acquire={s1}"), "node-1")
            .await
            .body,
        "true"
    );
    assert_eq!(
        put(&n, &format!("service/leader?acquire={s2}"), "node-2")
            .await
            .body,
        "false",
        "held by s1"
    );
    let entry = &json(&get(&n, "service/leader").await)[0];
    assert_eq!(
        (entry["Session"].as_str(), entry["LockIndex"].as_u64()),
        (Some(s1.as_str()), Some(1))
    );
    assert_eq!(
        put(&n, &format!("service/leader?release={s2}"), "x")
            .await
            .body,
        "false",
        "only the holder releases"
    );
    assert_eq!(
        put(&n, &format!("service/leader?release={s1}"), "node-1")
            .await
            .body,
        "true"
    );
    let entry = &json(&get(&n, "service/leader").await)[0];
    assert!(entry.get("Session").is_none(), "unlocked: no Session field");
    assert_eq!(
        put(&n, &format!("service/leader?acquire={s2}"), "node-2")
            .await
            .body,
        "true"
    );
    assert_eq!(json(&get(&n, "service/leader").await)[0]["LockIndex"], 2);

    let info: Value = http()
        .get(n.consul(&format!("/v1/session/info/{s1}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info[0]["Name"], "leader-election");
    let list: Value = http()
        .get(n.consul("/v1/session/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let r = http()
        .put(n.consul(&format!("/v1/session/renew/{s1}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Destroying the holder releases its lock (behavior release).
    let r = http()
        .put(n.consul(&format!("/v1/session/destroy/{s2}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    let entry = &json(&get(&n, "service/leader").await)[0];
    assert!(
        entry.get("Session").is_none() && entry["Value"] == "bm9kZS0y",
        "released, value kept: {entry}"
    );
    let r = http()
        .put(n.consul("/v1/session/renew/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_delete_behavior_session_takes_its_keys_with_it_and_bad_sessions_are_refused() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let before = nats.last_seq().await;
    assert_eq!(
        create_session(&n, r#"{"TTL":"5s"}"#).await.0,
        400,
        "TTL below 10s"
    );
    assert_eq!(create_session(&n, r#"{"Behavior":"explode"}"#).await.0, 400);
    assert_eq!(create_session(&n, "{not json").await.0, 400);
    assert_eq!(put(&n, "k?acquire=no-such-session", "x").await.status, 400);
    assert_eq!(nats.last_seq().await, before, "nothing was written");

    let (_, s) = create_session(&n, r#"{"Behavior":"delete"}"#).await;
    let s = s["ID"].as_str().unwrap().to_owned();
    assert_eq!(
        put(&n, &format!("ephemeral/key?acquire={s}"), "v")
            .await
            .body,
        "true"
    );
    http()
        .put(n.consul(&format!("/v1/session/destroy/{s}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        get(&n, "ephemeral/key").await.status,
        404,
        "deleted with its session"
    );
}
