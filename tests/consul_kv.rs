//! The Consul KV API (with blocking queries) on Nacre's Consul port. Real nats-server.
//!
//! One file on purpose: the specification of one API, so every behaviour of it is found in one
//! place.

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
    // Kept: "nothing wakes it for a while" is the test; no condition to wait for.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "nothing changed: it blocks");
    put(&n, "unrelated", "x").await;
    // Kept: as above, after an unrelated write.
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

/// As Consul's state store: a missing key, or a prefix nothing was ever written under, answers
/// with the whole KV table's index, so a blocking query on it returns at the next KV write
/// instead of holding its client for the whole wait (Spring Cloud Consul watches its config
/// contexts one after the other; an empty one would delay a change in the next by ~55 s).
#[tokio::test]
async fn empty_prefixes_and_missing_keys_carry_the_tables_index() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    put(&n, "config/app/greeting", "hello").await;
    let key = get(&n, "config/app/greeting").await;
    let table = key.index.unwrap();
    for resource in [
        "config/app,dev/?recurse",
        "config/app,dev/?keys",
        "config/missing",
    ] {
        let empty = get(&n, resource).await;
        assert_eq!(
            (empty.status, empty.index),
            (404, Some(table)),
            "{resource}"
        );
    }
    let waits: Vec<_> = ["config/app,dev/?recurse&", "config/missing?"]
        .iter()
        .map(|r| {
            let url = n.consul(&format!("/v1/kv/{r}index={table}&wait=30s"));
            tokio::spawn(call(reqwest::Method::GET, url, None))
        })
        .collect();
    // Kept: "nothing wakes them for a while" is the test; no condition to wait for.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        waits.iter().all(|w| !w.is_finished()),
        "nothing changed: they block"
    );
    let started = Instant::now();
    put(&n, "config/app/greeting", "changed").await;
    let moved = get(&n, "config/app/greeting").await.index.unwrap();
    for w in waits {
        let woken = tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .expect("woken by the write, not the wait")
            .unwrap();
        assert_eq!((woken.status, woken.index), (404, Some(moved)));
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // A key or prefix with its own history keeps its own index.
    assert_eq!(get(&n, "config/app/?recurse").await.index, Some(moved));
    put(&n, "elsewhere", "x").await;
    assert_eq!(get(&n, "config/app/?recurse").await.index, Some(moved));
    assert!(get(&n, "config/missing").await.index.unwrap() > moved);
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
    // Consul parses flags and cas with ParseUint whenever they are present, and fails the
    // request with the parser's words (a 500), so present-but-empty never means "absent".
    for (path, method) in [
        ("k?flags=-1", reqwest::Method::PUT),
        ("k?cas=", reqwest::Method::PUT),
        ("k?cas", reqwest::Method::PUT),
        ("k?cas=", reqwest::Method::DELETE),
    ] {
        let r = call(
            method.clone(),
            n.consul(&format!("/v1/kv/{path}")),
            Some(b"x".to_vec()),
        )
        .await;
        assert_eq!(r.status, 500, "{method} {path}: {}", r.body);
        assert!(
            r.body.starts_with("strconv.ParseUint: parsing"),
            "{}",
            r.body
        );
    }
    // An empty session cannot take or release a lock.
    for path in ["k?acquire=", "k?release", "k?acquire"] {
        let r = put(&n, path, "x").await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (500, "missing session"),
            "{path}"
        );
    }
    // cas, acquire and release do not compose; neither do recurse and cas.
    assert_eq!(put(&n, "k?cas=1&acquire=s", "x").await.status, 400);
    assert_eq!(
        call(
            reqwest::Method::DELETE,
            n.consul("/v1/kv/k?recurse&cas=1"),
            None
        )
        .await
        .status,
        400
    );
    // A key that is not UTF-8 once decoded is refused: c%FF and c%FE must not be one key.
    for path in ["c%FF", "c%FE"] {
        assert_eq!(put(&n, path, "x").await.status, 400, "{path}");
        assert_eq!(get(&n, path).await.status, 400, "{path}");
    }
    // Empty index and wait are Consul's "not given" (its parseWait reads only non-empty ones).
    assert_eq!(get(&n, "absent?index=&wait=").await.status, 404);
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

async fn txn(n: &Nacre, body: Value) -> Answer {
    call(
        reqwest::Method::PUT,
        n.consul("/v1/txn"),
        Some(body.to_string().into_bytes()),
    )
    .await
}

fn kv_op(verb: &str, key: &str, value: &str) -> Value {
    use base64::Engine;
    serde_json::json!({"KV": {"Verb": verb, "Key": key,
        "Value": base64::engine::general_purpose::STANDARD.encode(value)}})
}

/// Whether the server takes atomic batches (2.12+), which Nacre then uses for transactions.
async fn atomic_batches(nats: &NatsServer) -> bool {
    let version = nats.client().await.server_info().version;
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap()) >= (2, 12)
}

#[tokio::test]
async fn a_transaction_commits_every_write_or_none() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    put(&n, "app/existing", "old").await;
    let existing = json(&get(&n, "app/existing").await)[0]["ModifyIndex"]
        .as_u64()
        .unwrap();

    let done = txn(
        &n,
        serde_json::json!([
            kv_op("set", "app/a", "1"),
            kv_op("set", "app/b", "2"),
            {"KV": {"Verb": "check-index", "Key": "app/existing", "Index": existing}},
            {"KV": {"Verb": "get", "Key": "app/existing"}},
        ]),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let results = json(&done)["Results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 4);
    assert!(
        results[0]["KV"]["Value"].is_null(),
        "writes come back without values"
    );
    assert_eq!(results[3]["KV"]["Value"], "b2xk", "a get returns the value");
    let (a, b) = (
        results[0]["KV"]["ModifyIndex"].as_u64().unwrap(),
        results[1]["KV"]["ModifyIndex"].as_u64().unwrap(),
    );
    if atomic_batches(&nats).await {
        assert_eq!(b, a + 1, "one atomic batch: consecutive per-key events");
    } else {
        assert_eq!(a, b, "one transaction event holds both writes");
    }
    assert_eq!(get(&n, "app/a?raw").await.body, "1");
    assert_eq!(json(&get(&n, "app/b").await)[0]["ModifyIndex"], b);
    assert!(done.index.unwrap() >= b);

    // One failing operation: 409 with every failure, and nothing written.
    let before = get(&n, "app/?recurse").await;
    let refused = txn(
        &n,
        serde_json::json!([
            kv_op("set", "app/c", "3"),
            {"KV": {"Verb": "cas", "Key": "app/a", "Value": "eA==", "Index": a + 1000}},
            {"KV": {"Verb": "check-not-exists", "Key": "app/b"}},
            kv_op("delete", "app/existing", ""),
        ]),
    )
    .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    let errors = json(&refused)["Errors"].clone();
    assert_eq!(errors[0]["OpIndex"], 1);
    assert_eq!(
        errors[0]["What"],
        "failed to set key \"app/a\", index is stale"
    );
    assert_eq!(errors[1]["OpIndex"], 2);
    assert!(json(&refused)["Results"].is_null());
    let after = get(&n, "app/?recurse").await;
    assert_eq!((after.body, after.index), (before.body, before.index));

    // delete-tree and a cas that holds, together.
    let cleared = txn(
        &n,
        serde_json::json!([
            {"KV": {"Verb": "delete-tree", "Key": "app/"}},
            {"KV": {"Verb": "cas", "Key": "app/a", "Value": "bmV3", "Index": 0}},
        ]),
    )
    .await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(get(&n, "app/?keys").await.body, r#"["app/a"]"#);
    assert_eq!(get(&n, "app/a?raw").await.body, "new");
}

#[tokio::test]
async fn concurrent_transactions_on_one_index_let_exactly_one_win() {
    let nats = NatsServer::start();
    let n = std::sync::Arc::new(Nacre::external(&nats).await);
    put(&n, "counter", "0").await;
    let index = json(&get(&n, "counter").await)[0]["ModifyIndex"]
        .as_u64()
        .unwrap();
    let contenders = (0..16).map(|i| {
        let n = n.clone();
        tokio::spawn(async move {
            let body = serde_json::json!([
                {"KV": {"Verb": "check-index", "Key": "counter", "Index": index}},
                kv_op("set", "counter", &i.to_string()),
                kv_op("set", &format!("winner/{i}"), "yes"),
            ]);
            txn(&n, body).await.status
        })
    });
    let mut statuses = Vec::new();
    for c in contenders {
        statuses.push(c.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 15);
    let winners = json(&get(&n, "winner/?keys").await);
    assert_eq!(winners.as_array().unwrap().len(), 1, "{winners}");
    let winner = winners[0].as_str().unwrap().trim_start_matches("winner/");
    assert_eq!(get(&n, "counter?raw").await.body, winner);
}

#[tokio::test]
async fn transactions_take_locks_and_check_sessions() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let (_, session) = create_session(&n, r#"{"Name":"txn"}"#).await;
    let id = session["ID"].as_str().unwrap().to_owned();
    let locked = txn(
        &n,
        serde_json::json!([
            {"KV": {"Verb": "lock", "Key": "leader", "Value": "bWU=", "Session": id}},
            {"KV": {"Verb": "check-session", "Key": "leader", "Session": id}},
        ]),
    )
    .await;
    assert_eq!(locked.status, 200, "{}", locked.body);
    let entry = json(&get(&n, "leader").await)[0].clone();
    assert_eq!(
        (entry["Session"].as_str(), entry["LockIndex"].as_u64()),
        (Some(id.as_str()), Some(1))
    );
    let stolen = txn(
        &n,
        serde_json::json!([{"KV": {"Verb": "unlock", "Key": "leader", "Session": "someone-else"}}]),
    )
    .await;
    assert_eq!(stolen.status, 409);
    let unknown = txn(
        &n,
        serde_json::json!([{"KV": {"Verb": "lock", "Key": "other", "Session": "no-such-session"}}]),
    )
    .await;
    assert_eq!(unknown.status, 409);
    assert!(unknown.body.contains("invalid session"), "{}", unknown.body);
}

#[tokio::test]
async fn bad_transactions_get_consuls_errors_and_write_nothing() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    put(&n, "keep", "1").await;
    let before = get(&n, "?recurse").await;

    let malformed = call(
        reqwest::Method::PUT,
        n.consul("/v1/txn"),
        Some(b"[{\"KV\":".to_vec()),
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert!(
        malformed.body.starts_with("Failed to parse body"),
        "{}",
        malformed.body
    );

    let many: Vec<Value> = (0..129)
        .map(|i| kv_op("set", &format!("k{i}"), "v"))
        .collect();
    let too_many = txn(&n, Value::Array(many)).await;
    assert_eq!(too_many.status, 413);
    assert_eq!(
        too_many.body,
        "Transaction contains too many operations (129 > 128)"
    );

    let unknown = txn(
        &n,
        serde_json::json!([kv_op("set", "x", "1"), {"KV": {"Verb": "frobnicate", "Key": "x"}}]),
    )
    .await;
    assert_eq!(unknown.status, 409);
    assert_eq!(
        json(&unknown)["Errors"][0]["What"],
        "unknown KV verb \"frobnicate\""
    );
    assert_eq!(json(&unknown)["Errors"][0]["OpIndex"], 1);

    let wrong_type = txn(
        &n,
        serde_json::json!([{"KV": {"Verb": "cas", "Key": "keep", "Index": "seven"}}]),
    )
    .await;
    assert_eq!(wrong_type.status, 400, "{}", wrong_type.body);

    let bad_base64 = txn(
        &n,
        serde_json::json!([{"KV": {"Verb": "set", "Key": "x", "Value": "not base64!"}}]),
    )
    .await;
    assert_eq!(bad_base64.status, 400);

    use base64::Engine;
    let big = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 300 * 1024]);
    let too_big = txn(
        &n,
        serde_json::json!([{"KV": {"Verb": "set", "Key": "x", "Value": big}},
                           {"KV": {"Verb": "set", "Key": "y", "Value": big}}]),
    )
    .await;
    assert_eq!(too_big.status, 413, "{}", too_big.body);

    let empty_key = txn(&n, serde_json::json!([kv_op("set", "", "v")])).await;
    assert_eq!(empty_key.status, 400);

    let after = get(&n, "?recurse").await;
    assert_eq!((after.body, after.index), (before.body, before.index));
}

#[tokio::test]
async fn a_session_silent_for_twice_its_ttl_ends_and_releases_its_locks() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &[("NACRE_NAMING_CHECK_INTERVAL", "200ms")]).await;
    let (_, renewed) = create_session(&n, r#"{"Name":"kept","TTL":"10s"}"#).await;
    let (_, silent) = create_session(&n, r#"{"Name":"silent","TTL":"10s"}"#).await;
    let (renewed, silent) = (
        renewed["ID"].as_str().unwrap().to_owned(),
        silent["ID"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        put(&n, &format!("held?acquire={silent}"), "x").await.body,
        "true"
    );
    // Consul's bound: a session lives at least twice its TTL without renewal.
    let started = Instant::now();
    loop {
        let renew = http()
            .put(n.consul(&format!("/v1/session/renew/{renewed}")))
            .send()
            .await
            .unwrap();
        assert_eq!(renew.status(), 200, "a renewed session stays");
        let info = call(
            reqwest::Method::GET,
            n.consul(&format!("/v1/session/info/{silent}")),
            None,
        )
        .await;
        if json(&info) == Value::Null || json(&info) == serde_json::json!([]) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the silent session never expired"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let lived = started.elapsed();
    assert!(
        lived >= Duration::from_secs(19),
        "expired after only {lived:?}"
    );
    let held = json(&get(&n, "held").await)[0].clone();
    assert!(
        held.get("Session").is_none(),
        "the lock was released: {held}"
    );
    assert_eq!(held["Value"], "eA==", "release keeps the value");
}
