//! What must never happen to users' data: restarts, lost views, a dying nats-server, several
//! nodes, and outside subscribers. Real nats-servers throughout.

mod common;

use std::time::Duration;

use async_nats::jetstream;
use common::*;
use futures::StreamExt;
use nacre::core::configs::md5_hex;
use serde_json::Value;

fn pid_alive(pid: i32) -> bool {
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Seed 000's outage: everything must still be there after Nacre and its nats-server restart.
#[tokio::test]
async fn configs_survive_a_full_restart_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nacre::standalone_in(dir.path()).await;
    let r = http()
        .post(n.url("/nacos/v1/console/namespaces"))
        .form(&[("customNamespaceId", "prod"), ("namespaceName", "Prod")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    for i in 0..20 {
        publish(&n, &format!("cfg-{i}.yaml"), "G", &format!("value {i}")).await;
    }
    let child = n.nats_child_pid();
    n.stop();
    assert!(!pid_alive(child), "stopping Nacre stops its nats-server");
    assert!(
        dir.path().join("jetstream").is_dir(),
        "the JetStream store lives under the data dir"
    );

    n.start().await;
    for i in 0..20 {
        assert_eq!(
            get_config(&n, &format!("cfg-{i}.yaml"), "G", "").await,
            (200, format!("value {i}"))
        );
    }
    let r = http()
        .get(n.url("/nacos/v1/console/namespaces?show=all&namespaceId=prod"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Views are derived: drop them, restart, and the state is identical (and the views come back).
#[tokio::test]
async fn dropped_views_are_rebuilt_from_the_stream() {
    let nats = NatsServer::start();
    let mut n = Nacre::external(&nats).await;
    for i in 0..10 {
        publish(&n, &format!("r{i}"), "G", &format!("content {i}")).await;
    }
    http()
        .delete(n.url("/nacos/v1/cs/configs?dataId=r3&group=G"))
        .send()
        .await
        .unwrap();
    let mut before = Vec::new();
    for i in 0..10 {
        before.push(get_config(&n, &format!("r{i}"), "G", "").await);
    }
    n.stop();

    let js = jetstream::new(nats.client().await);
    js.delete_key_value("nacre-configs").await.unwrap();
    js.delete_key_value("nacre-namespaces").await.unwrap();
    n.start().await;

    let mut after = Vec::new();
    for i in 0..10 {
        after.push(get_config(&n, &format!("r{i}"), "G", "").await);
    }
    assert_eq!(before, after);
    assert_eq!(after[3].0, 404);

    // The projector writes the views again, each entry equal to the fold.
    let kv = js.get_key_value("nacre-configs").await.unwrap();
    eventually("the config view to be rebuilt", || async {
        let keys: Vec<String> = match kv.keys().await {
            Ok(k) => k.filter_map(|k| async { k.ok() }).collect().await,
            Err(_) => vec![],
        };
        keys.len() == 9
    })
    .await;
    let entry: Value =
        serde_json::from_slice(&kv.get("public.G.r7").await.unwrap().unwrap()).unwrap();
    assert_eq!(
        (entry["content"].as_str(), entry["dataId"].as_str()),
        (Some("content 7"), Some("r7"))
    );
    assert!(
        kv.get("public.G.r3").await.unwrap().is_none(),
        "deleted configs are absent from the view"
    );
}

/// kill -9 the standalone nats-server: Nacre restarts it and no acknowledged write is lost.
#[tokio::test]
async fn a_killed_nats_server_child_is_restarted_without_losing_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nacre::standalone_in(dir.path()).await;
    publish(&n, "before", "G", "1").await;
    let first = n.nats_child_pid();
    unsafe { libc::kill(first, libc::SIGKILL) };

    // Writes issued while the server is down are retried until it is back (write-timeout 15 s).
    let mut acknowledged = Vec::new();
    for i in 0..30 {
        let id = format!("during-{i}");
        let r = http()
            .post(n.url("/nacos/v1/cs/configs"))
            .form(&[("dataId", id.as_str()), ("group", "G"), ("content", "x")])
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            acknowledged.push(id);
        }
    }
    assert!(
        acknowledged.len() >= 25,
        "writes resume once the child is back: {}",
        acknowledged.len()
    );
    eventually("a new nats-server child", || async {
        n.nats_child_pid() != first && pid_alive(n.nats_child_pid())
    })
    .await;
    for id in acknowledged
        .iter()
        .chain(std::iter::once(&"before".to_owned()))
    {
        assert_eq!(
            get_config(&n, id, "G", "").await.0,
            200,
            "{id} was acknowledged"
        );
    }
    n.stop();
    n.start().await;
    for id in &acknowledged {
        assert_eq!(
            get_config(&n, id, "G", "").await.0,
            200,
            "{id} survives a restart"
        );
    }
}

/// Two Nacre nodes on one NATS: a write on A is read on B, and B's listener fires for it.
#[tokio::test]
async fn two_nodes_share_one_stream() {
    let nats = NatsServer::start();
    let a = Nacre::external(&nats).await;
    let b = Nacre::external(&nats).await;
    publish(&a, "shared", "G", "from A").await;
    eventually("B to see A's write", || async {
        get_config(&b, "shared", "G", "").await.1 == "from A"
    })
    .await;

    let listener = tokio::spawn(
        http()
            .post(b.url("/nacos/v1/cs/configs/listener"))
            .header("Long-Pulling-Timeout", "30000")
            .form(&[(
                "Listening-Configs",
                format!("shared\u{2}G\u{2}{}\u{1}", md5_hex("from A")),
            )])
            .send(),
    );
    wait_for_listener(&b, "G", "shared").await;
    publish(&a, "shared", "G", "again from A").await;
    let r = tokio::time::timeout(Duration::from_secs(5), listener)
        .await
        .expect("B's listener fires")
        .unwrap()
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "shared%02G%01\n");

    // Writes through both nodes converge, in the memory of each and in the one view.
    publish(&b, "from-b", "G", "B").await;
    eventually("A to see B's write", || async {
        get_config(&a, "from-b", "G", "").await.1 == "B"
    })
    .await;
    let kv = jetstream::new(nats.client().await)
        .get_key_value("nacre-configs")
        .await
        .unwrap();
    eventually("the view to hold both", || async {
        let a_entry = kv.get("public.G.shared").await.ok().flatten();
        let b_entry = kv.get("public.G.from-b").await.ok().flatten();
        matches!((a_entry, b_entry), (Some(x), Some(_)) if serde_json::from_slice::<Value>(&x).unwrap()["content"] == "again from A")
    })
    .await;
}

/// A plain NATS subscriber sees every publish and delete, with what it needs to act.
#[tokio::test]
async fn a_nats_subscriber_receives_config_events() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let client = nats.client().await;
    let mut sub = client.subscribe("nacre.evt.cfg.>").await.unwrap();
    client.flush().await.unwrap();

    publish(&n, "app.yaml", "DEFAULT_GROUP", "hello").await;
    let msg = tokio::time::timeout(Duration::from_secs(2), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        msg.subject.as_str(),
        "nacre.evt.cfg.public.DEFAULT_GROUP.app=2Eyaml"
    );
    let tokens: Vec<_> = msg
        .subject
        .split('.')
        .skip(3)
        .map(|t| nacre::core::names::decode(t).unwrap())
        .collect();
    assert_eq!(tokens, ["public", "DEFAULT_GROUP", "app.yaml"]);
    let event: Value = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "nacre.config.published.v1");
    assert_eq!(event["data"]["dataId"], "app.yaml");
    assert_eq!(event["data"]["content"], "hello");
    assert_eq!(event["data"]["md5"], md5_hex("hello"));

    http()
        .delete(n.url("/nacos/v1/cs/configs?dataId=app.yaml&group=DEFAULT_GROUP"))
        .send()
        .await
        .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(2), sub.next())
        .await
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["data"]["md5"].as_str()),
        (
            Some("nacre.config.deleted.v1"),
            Some(md5_hex("hello").as_str())
        )
    );
}
