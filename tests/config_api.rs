//! The Nacos config API over HTTP, against a real nats-server.
//!
//! One file on purpose: the specification of one API, so every behaviour of it is found in one
//! place.

mod common;

use std::time::{Duration, Instant};

use common::*;
use nacre::core::configs::md5_hex;
use serde_json::Value;

async fn node() -> (NatsServer, Nacre) {
    let nats = NatsServer::start();
    let nacre = Nacre::external(&nats).await;
    (nats, nacre)
}

#[tokio::test]
async fn a_published_config_is_served_with_its_metadata_and_a_deleted_one_is_not_found() {
    let (_nats, n) = node().await;
    assert_eq!(
        get_config(&n, "app.yaml", "DEFAULT_GROUP", "").await,
        (404, "config data not exist\n".into())
    );
    let r = http()
        .post(n.url("/nacos/v1/cs/configs"))
        .form(&[
            ("dataId", "app.yaml"),
            ("group", "DEFAULT_GROUP"),
            ("content", "port: 8080"),
            ("type", "yaml"),
            ("appName", "shop"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");

    let r = http()
        .get(n.url("/nacos/v1/cs/configs?dataId=app.yaml&group=DEFAULT_GROUP"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["config-type"], "yaml");
    assert_eq!(
        r.headers()["content-md5"].to_str().unwrap(),
        md5_hex("port: 8080")
    );
    assert_eq!(r.text().await.unwrap(), "port: 8080");

    // "" and "public" are one namespace.
    assert_eq!(
        get_config(&n, "app.yaml", "DEFAULT_GROUP", "public")
            .await
            .1,
        "port: 8080"
    );

    let (_, detail) = json_answer(
        http().get(n.url("/nacos/v1/cs/configs?dataId=app.yaml&group=DEFAULT_GROUP&show=all")),
    )
    .await;
    assert_eq!(detail["content"], "port: 8080");
    assert_eq!(detail["appName"], "shop");
    assert_eq!(detail["type"], "yaml");
    assert!(detail["id"].is_string());

    let r = http()
        .delete(n.url("/nacos/v1/cs/configs?dataId=app.yaml&group=DEFAULT_GROUP"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    assert_eq!(get_config(&n, "app.yaml", "DEFAULT_GROUP", "").await.0, 404);
    // Deleting what does not exist is not an error, as in Nacos.
    let r = http()
        .delete(n.url("/nacos/v1/cs/configs?dataId=app.yaml&group=DEFAULT_GROUP"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap().as_str()),
        (200, "true")
    );
}

/// Read-your-writes (DESIGN invariant 4): a write's answer waits until this node has applied it.
/// One writer alone usually wins the race against the node's event feed even without that wait,
/// so many writers at once, each on a kept-alive connection (no connect between the write's
/// answer and the read), read back new keys and new versions: a node that answered before
/// applying serves some of them a 404 or the previous version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_is_readable_at_once_from_the_same_node() {
    let (_nats, n) = node().await;
    let (configs, mut writers) = (n.url("/nacos/v1/cs/configs"), Vec::new());
    for w in 0..16 {
        let (client, url) = (http(), configs.clone());
        writers.push(tokio::spawn(async move {
            let write = |data_id: String, content: String| {
                let request = client.post(&url).form(&[
                    ("dataId", data_id),
                    ("group", "G".into()),
                    ("content", content),
                ]);
                async move { request.send().await.unwrap().text().await.unwrap() }
            };
            let read = |data_id: String| {
                let request = client
                    .get(&url)
                    .query(&[("dataId", data_id), ("group", "G".into())]);
                async move {
                    let r = request.send().await.unwrap();
                    (r.status().as_u16(), r.text().await.unwrap())
                }
            };
            for round in 0..25 {
                let fresh = format!("ryw-{w}-{round}");
                assert_eq!(write(fresh.clone(), "new".into()).await, "true");
                assert_eq!(read(fresh).await, (200, "new".into()), "a new key, at once");
                let (key, content) = (format!("ryw-{w}"), format!("version {round}"));
                assert_eq!(write(key.clone(), content.clone()).await, "true");
                assert_eq!(read(key).await, (200, content), "a new version, at once");
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
}

#[tokio::test]
async fn cas_md5_refuses_a_stale_write_and_accepts_a_current_one() {
    let (_nats, n) = node().await;
    publish(&n, "cas", "G", "one").await;
    let post = |cas: &str, content: &str| {
        http()
            .post(n.url("/nacos/v1/cs/configs"))
            .header("casMd5", cas)
            .form(&[("dataId", "cas"), ("group", "G"), ("content", content)])
    };
    let r = post(&md5_hex("stale"), "two").send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.text().await.unwrap(),
        "caused: Cas publish fail, server md5 may have changed.;"
    );
    assert_eq!(get_config(&n, "cas", "G", "").await.1, "one");

    let r = post(&md5_hex("one"), "two").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    assert_eq!(get_config(&n, "cas", "G", "").await.1, "two");

    // v2 answers the conflict in its envelope.
    let (status, body) = json_answer(
        http()
            .post(n.url("/nacos/v2/cs/config"))
            .header("casMd5", md5_hex("one"))
            .form(&[("dataId", "cas"), ("group", "G"), ("content", "three")]),
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (500, Some(20005)));
}

#[tokio::test]
async fn search_accurate_and_blur_with_paging() {
    let (_nats, n) = node().await;
    for id in ["a.yaml", "b.yaml", "c.properties", "d.yaml"] {
        publish(&n, id, "G1", "x").await;
    }
    publish(&n, "a.yaml", "G2", "x").await;

    let search = |q: &[(&str, &str)]| http().get(n.url("/nacos/v1/cs/configs")).query(q);
    let (_, page) = json_answer(search(&[
        ("search", "accurate"),
        ("dataId", "a.yaml"),
        ("group", ""),
        ("pageNo", "1"),
        ("pageSize", "10"),
    ]))
    .await;
    assert_eq!(page["totalCount"], 2);

    let (_, page) = json_answer(search(&[
        ("search", "blur"),
        ("dataId", "*.yaml"),
        ("group", "G1"),
        ("pageNo", "1"),
        ("pageSize", "2"),
    ]))
    .await;
    assert_eq!(
        (page["totalCount"].as_u64(), page["pagesAvailable"].as_u64()),
        (Some(3), Some(2))
    );
    let ids: Vec<_> = page["pageItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["dataId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["a.yaml", "b.yaml"]);
    let (_, page2) = json_answer(search(&[
        ("search", "blur"),
        ("dataId", "*.yaml"),
        ("group", "G1"),
        ("pageNo", "2"),
        ("pageSize", "2"),
    ]))
    .await;
    assert_eq!(page2["pageItems"][0]["dataId"], "d.yaml");

    let (status, body) = json_answer(search(&[
        ("search", "blur"),
        ("dataId", ""),
        ("group", ""),
        ("pageNo", "0"),
        ("pageSize", "10"),
    ]))
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn history_lists_changes_and_rollback_restores_an_earlier_version() {
    let (_nats, n) = node().await;
    for v in ["v1", "v2", "v3"] {
        publish(&n, "h.yaml", "G", v).await;
    }
    let (_, page) = json_answer(
        http().get(n.url("/nacos/v1/cs/history?search=accurate&dataId=h.yaml&group=G")),
    )
    .await;
    let rows = page["pageItems"].as_array().unwrap();
    let ops: Vec<_> = rows.iter().map(|r| r["opType"].as_str().unwrap()).collect();
    assert_eq!(ops, ["U", "U", "I"], "newest first: {page}");
    assert!(
        rows[0]["content"].is_null(),
        "list rows carry no content, as in Nacos"
    );

    // The newest update row holds the content before that update.
    let nid = rows[0]["id"].as_str().unwrap().to_owned();
    let (_, detail) = json_answer(http().get(n.url(&format!(
        "/nacos/v1/cs/history?nid={nid}&dataId=h.yaml&group=G"
    ))))
    .await;
    assert_eq!(detail["content"], "v2");
    assert_eq!(detail["md5"], md5_hex("v2"));
    let (status, _) = json_answer(http().get(n.url(&format!(
        "/nacos/v1/cs/history?nid={nid}&dataId=other&group=G"
    ))))
    .await;
    assert_eq!(status, 403, "a row is only shown for its own config");

    let (_, previous) =
        json_answer(http().get(n.url("/nacos/v1/cs/history/previous?dataId=h.yaml&group=G&id=0")))
            .await;
    assert_eq!(previous["content"], "v2");

    // Roll back the oldest update: v1 is published again.
    let oldest_update = rows[1]["id"].as_str().unwrap();
    let r = http()
        .post(n.url(&format!(
            "/nacos/v1/cs/history/rollback?nid={oldest_update}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    assert_eq!(get_config(&n, "h.yaml", "G", "").await.1, "v1");

    // v2 history is the same, in the envelope.
    let (_, v2) =
        json_answer(http().get(n.url("/nacos/v2/cs/history/list?dataId=h.yaml&group=G"))).await;
    assert_eq!(
        (v2["code"].as_u64(), v2["data"]["totalCount"].as_u64()),
        (Some(0), Some(4))
    );
}

#[tokio::test]
async fn the_listener_answers_at_once_when_an_md5_already_differs() {
    let (_nats, n) = node().await;
    publish(&n, "l1", "G", "x").await;
    let started = Instant::now();
    let r = http()
        .post(n.url("/nacos/v1/cs/configs/listener"))
        .header("Long-Pulling-Timeout", "30000")
        .form(&[("Listening-Configs", "l1\u{2}G\u{2}stale-md5\u{1}")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "l1%02G%01\n");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_listener_wakes_on_a_change_and_answers_empty_at_its_timeout() {
    let (_nats, n) = node().await;
    publish(&n, "watched", "G", "before").await;
    let listen = |md5: String| {
        http()
            .post(n.url("/nacos/v1/cs/configs/listener"))
            .header("Long-Pulling-Timeout", "10000")
            .form(&[(
                "Listening-Configs",
                format!("watched\u{2}G\u{2}{md5}\u{2}public\u{1}"),
            )])
            .send()
    };
    let waiting = tokio::spawn(listen(md5_hex("before")));
    // Kept: "nothing answers it for a while" is the test; no condition to wait for.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "nothing changed yet: the listener must hold"
    );
    publish(&n, "watched", "G", "after").await;
    let r = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("woken by the change")
        .unwrap()
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "watched%02G%02public%01\n");

    let started = Instant::now();
    let r = listen(md5_hex("after")).await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap().as_str()),
        (200, "")
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(9_400) && waited < Duration::from_secs(15),
        "{waited:?}"
    );
}

#[tokio::test]
async fn v2_and_v3_routes_speak_the_result_envelope() {
    let (_nats, n) = node().await;
    let (status, body) = json_answer(http().post(n.url("/nacos/v2/cs/config")).form(&[
        ("dataId", "v2"),
        ("group", "G"),
        ("content", "c2"),
        ("namespaceId", "public"),
    ]))
    .await;
    assert_eq!(
        (status, &body),
        (
            200,
            &serde_json::json!({"code": 0, "message": "success", "data": true})
        )
    );
    let (_, body) = json_answer(http().get(n.url("/nacos/v2/cs/config?dataId=v2&group=G"))).await;
    assert_eq!(body["data"], "c2");
    let (status, body) =
        json_answer(http().get(n.url("/nacos/v2/cs/config?dataId=nope&group=G"))).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(20004)));

    let (_, body) = json_answer(http().post(n.url("/nacos/v3/admin/cs/config")).form(&[
        ("dataId", "v3"),
        ("groupName", "G"),
        ("content", "c3"),
    ]))
    .await;
    assert_eq!(body["data"], true);
    let (_, body) =
        json_answer(http().get(n.url("/nacos/v3/admin/cs/config?dataId=v3&groupName=G"))).await;
    assert_eq!(
        (
            body["data"]["content"].as_str(),
            body["data"]["namespaceId"].as_str()
        ),
        (Some("c3"), Some("public"))
    );
    let (_, body) =
        json_answer(http().get(n.url("/nacos/v3/client/cs/config?dataId=v3&groupName=G"))).await;
    assert_eq!(body["data"]["md5"], md5_hex("c3"));
    let (status, body) =
        json_answer(http().get(n.url("/nacos/v3/client/cs/config?dataId=nope&groupName=G"))).await;
    assert_eq!((status, body["code"].as_u64()), (200, Some(20004)));
    let (_, body) =
        json_answer(http().get(n.url("/nacos/v3/admin/cs/config/list?pageNo=1&pageSize=10"))).await;
    assert_eq!(body["data"]["totalCount"], 2);
    let r = http()
        .delete(n.url("/nacos/v3/cs/config?dataId=v3&groupName=G"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(get_config(&n, "v3", "G", "").await.0, 404);
}

#[tokio::test]
async fn namespaces_are_created_used_and_only_deleted_when_empty() {
    let (_nats, n) = node().await;
    let create = |id: &str| {
        http().post(n.url("/nacos/v1/console/namespaces")).form(&[
            ("customNamespaceId", id),
            ("namespaceName", "Dev"),
            ("namespaceDesc", "d"),
        ])
    };
    assert_eq!(
        create("dev").send().await.unwrap().text().await.unwrap(),
        "true"
    );
    assert_eq!(
        create("dev").send().await.unwrap().text().await.unwrap(),
        "false",
        "an existing id answers false, as in Nacos"
    );

    let (_, list) = json_answer(http().get(n.url("/nacos/v1/console/namespaces"))).await;
    let ids: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["namespace"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["public", "dev"]);

    let r = http()
        .post(n.url("/nacos/v1/cs/configs"))
        .form(&[
            ("dataId", "d"),
            ("group", "G"),
            ("content", "in dev"),
            ("tenant", "dev"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    assert_eq!(get_config(&n, "d", "G", "dev").await.1, "in dev");
    assert_eq!(
        get_config(&n, "d", "G", "").await.0,
        404,
        "namespaces are separate"
    );

    let r = http()
        .put(n.url("/nacos/v1/console/namespaces"))
        .form(&[("namespace", "dev"), ("namespaceShowName", "Development")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    let (_, one) =
        json_answer(http().get(n.url("/nacos/v1/console/namespaces?show=all&namespaceId=dev")))
            .await;
    assert_eq!(
        (
            one["namespaceShowName"].as_str(),
            one["configCount"].as_u64()
        ),
        (Some("Development"), Some(1))
    );

    let r = http()
        .delete(n.url("/nacos/v1/console/namespaces?namespaceId=dev"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        400,
        "a namespace holding configs is not deleted"
    );
    http()
        .delete(n.url("/nacos/v1/cs/configs?dataId=d&group=G&tenant=dev"))
        .send()
        .await
        .unwrap();
    let r = http()
        .delete(n.url("/nacos/v1/console/namespaces?namespaceId=dev"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    let (status, _) =
        json_answer(http().get(n.url("/nacos/v2/console/namespace?namespaceId=dev"))).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn health_endpoints_answer_ok_once_caught_up() {
    let (_nats, n) = node().await;
    for path in [
        "/nacos/v1/console/health/liveness",
        "/nacos/v1/console/health/readiness",
        "/health/live",
        "/health/ready",
    ] {
        let r = http().get(n.url(path)).send().await.unwrap();
        assert_eq!(
            (r.status().as_u16(), r.text().await.unwrap().as_str()),
            (200, "OK"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn export_and_import_zip_with_policies() {
    let (_nats, n) = node().await;
    for (id, content) in [("a.yaml", "a: 1"), ("b.properties", "b=2")] {
        let r = http()
            .post(n.url("/nacos/v1/cs/configs"))
            .form(&[
                ("dataId", id),
                ("group", "G"),
                ("content", content),
                ("type", "yaml"),
                ("appName", "shop"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "true");
    }
    let r = http()
        .get(n.url("/nacos/v3/cs/config/export?namespaceId=public"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/zip");
    let zip = r.bytes().await.unwrap();

    http()
        .post(n.url("/nacos/v1/console/namespaces"))
        .form(&[("customNamespaceId", "copy"), ("namespaceName", "Copy")])
        .send()
        .await
        .unwrap();
    let import = |policy: &str, bytes: bytes::Bytes| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("export.zip"),
        );
        http()
            .post(n.url(&format!(
                "/nacos/v3/cs/config/import?namespaceId=copy&policy={policy}"
            )))
            .multipart(form)
    };
    let (_, body) = json_answer(import("SKIP", zip.clone())).await;
    assert_eq!(
        (
            body["data"]["successCount"].as_u64(),
            body["data"]["skipCount"].as_u64()
        ),
        (Some(2), Some(0)),
        "{body}"
    );
    assert_eq!(get_config(&n, "a.yaml", "G", "copy").await.1, "a: 1");
    let (_, detail) = json_answer(
        http().get(n.url("/nacos/v1/cs/configs?dataId=a.yaml&group=G&tenant=copy&show=all")),
    )
    .await;
    assert_eq!(
        (detail["type"].as_str(), detail["appName"].as_str()),
        (Some("yaml"), Some("shop")),
        "metadata travels in .meta"
    );

    publish(&n, "a.yaml", "G", "changed").await;
    let (_, body) = json_answer(import("SKIP", zip.clone())).await;
    assert_eq!(body["data"]["skipCount"], 2);
    http()
        .post(n.url("/nacos/v1/cs/configs"))
        .form(&[
            ("dataId", "a.yaml"),
            ("group", "G"),
            ("content", "changed"),
            ("tenant", "copy"),
        ])
        .send()
        .await
        .unwrap();
    let (_, body) = json_answer(import("ABORT", zip.clone())).await;
    assert_eq!(
        (
            body["data"]["successCount"].as_u64(),
            body["data"]["failCount"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(
        get_config(&n, "a.yaml", "G", "copy").await.1,
        "changed",
        "ABORT stopped before overwriting"
    );
    let (_, body) = json_answer(import("OVERWRITE", zip.clone())).await;
    assert_eq!(body["data"]["successCount"], 2);
    assert_eq!(get_config(&n, "a.yaml", "G", "copy").await.1, "a: 1");

    let (status, body) = json_answer(import("SKIP", bytes::Bytes::from_static(b"not a zip"))).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = json_answer(import("SOMETIMES", zip)).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn consul_style_kv_export_and_import_with_a_namespace_override() {
    let (_nats, n) = node().await;
    publish(&n, "app.yaml", "DEFAULT_GROUP", "port: 8080").await;
    let items: Value = http()
        .get(n.url("/v1/kv/export?namespaceId=public"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        items,
        serde_json::json!([{"Key": "public/DEFAULT_GROUP/app.yaml", "Flags": 0, "Value": "cG9ydDogODA4MA=="}])
    );

    http()
        .post(n.url("/nacos/v1/console/namespaces"))
        .form(&[("customNamespaceId", "dev"), ("namespaceName", "Dev")])
        .send()
        .await
        .unwrap();
    let import = |policy: &str, body: String| {
        http()
            .put(n.url(&format!("/v1/kv/import?namespaceId=dev&policy={policy}")))
            .body(body)
    };
    let (_, body) = json_answer(import("SKIP", items.to_string())).await;
    assert_eq!(body["data"]["successCount"], 1, "{body}");
    assert_eq!(
        get_config(&n, "app.yaml", "DEFAULT_GROUP", "dev").await.1,
        "port: 8080",
        "imported into the override namespace"
    );
    let (_, body) = json_answer(import("SKIP", items.to_string())).await;
    assert_eq!(body["data"]["skipCount"], 1);
    let (status, _) = json_answer(import(
        "SKIP",
        "[{\"Key\":\"only-two/parts\",\"Value\":\"eA==\"}]".into(),
    ))
    .await;
    assert_eq!(status, 400);
    let (status, _) = json_answer(import("SKIP", "not json".into())).await;
    assert_eq!(status, 400);
}
