//! Bad input gets Nacos' error format and status, and writes nothing. One test per class.

mod common;

use common::*;
use serde_json::Value;

async fn node_with(env: &[(&str, &str)]) -> (NatsServer, Nacre) {
    let nats = NatsServer::start();
    let nacre = Nacre::external_with(&nats, env).await;
    (nats, nacre)
}

async fn post(n: &Nacre, form: &[(&str, &str)]) -> (u16, String) {
    let r = http()
        .post(n.url("/nacos/v1/cs/configs"))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn missing_parameters_are_named() {
    let (nats, n) = node_with(&[]).await;
    let before = nats.last_seq().await;
    let (status, body) = post(&n, &[("group", "G"), ("content", "x")]).await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("caused: ") && body.contains("'dataId'"),
        "{body}"
    );
    let (status, body) = post(&n, &[("dataId", "d"), ("content", "x")]).await;
    assert_eq!((status, body.contains("'group'")), (400, true), "{body}");
    let (status, body) = post(&n, &[("dataId", "d"), ("group", "G")]).await;
    assert_eq!((status, body.contains("'content'")), (400, true), "{body}");
    let (status, _) = post(&n, &[("dataId", "d"), ("group", "G"), ("content", "  ")]).await;
    assert_eq!(status, 400, "blank content");
    let r = http()
        .get(n.url("/nacos/v2/cs/config?dataId=d"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["code"].as_u64(), body["message"].as_str()),
        (Some(10000), Some("parameter missing"))
    );
    assert_eq!(nats.last_seq().await, before);
}

#[tokio::test]
async fn illegal_names_are_refused() {
    let (nats, n) = node_with(&[]).await;
    let before = nats.last_seq().await;
    for (data_id, group) in [
        ("a/b", "G"),
        ("a b", "G"),
        ("a*", "G"),
        ("d", "g>"),
        ("d", ""),
    ] {
        let (status, body) = post(
            &n,
            &[("dataId", data_id), ("group", group), ("content", "x")],
        )
        .await;
        assert_eq!(status, 400, "{data_id:?}/{group:?}: {body}");
        assert!(body.starts_with("caused: invalid "), "{body}");
    }
    let (status, _) = post(
        &n,
        &[
            ("dataId", &"d".repeat(300)),
            ("group", "G"),
            ("content", "x"),
        ],
    )
    .await;
    assert_eq!(status, 400, "over-long dataId");
    assert_eq!(nats.last_seq().await, before);
}

#[tokio::test]
async fn unknown_namespaces_are_refused() {
    let (nats, n) = node_with(&[]).await;
    let before = nats.last_seq().await;
    let (status, body) = post(
        &n,
        &[
            ("dataId", "d"),
            ("group", "G"),
            ("content", "x"),
            ("tenant", "nope"),
        ],
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (400, "caused: namespaceId [ nope ] not exist;")
    );
    assert_eq!(get_config(&n, "d", "G", "nope").await.0, 400);
    let (status, _) = post(
        &n,
        &[
            ("dataId", "d"),
            ("group", "G"),
            ("content", "x"),
            ("tenant", "bad ns"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(nats.last_seq().await, before);
}

#[tokio::test]
async fn content_over_the_configured_limit_is_refused() {
    let (nats, n) = node_with(&[("NACRE_CONFIG_MAX_CONTENT_BYTES", "1024")]).await;
    let before = nats.last_seq().await;
    let (status, body) = post(
        &n,
        &[
            ("dataId", "big"),
            ("group", "G"),
            ("content", &"x".repeat(1025)),
        ],
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (400, "caused: invalid content, over 1024;")
    );
    assert_eq!(get_config(&n, "big", "G", "").await.0, 404);
    let (status, _) = post(
        &n,
        &[
            ("dataId", "fits"),
            ("group", "G"),
            ("content", &"x".repeat(1024)),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(nats.last_seq().await, before + 1);
}

#[tokio::test]
async fn request_bodies_over_the_server_limit_are_refused() {
    let (nats, n) = node_with(&[("NACRE_SERVER_MAX_BODY_BYTES", "2048")]).await;
    let before = nats.last_seq().await;
    let (status, _) = post(
        &n,
        &[
            ("dataId", "big"),
            ("group", "G"),
            ("content", &"x".repeat(4096)),
        ],
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(nats.last_seq().await, before);
}

#[tokio::test]
async fn malformed_listener_strings_are_invalid_probe_modify() {
    let (_nats, n) = node_with(&[]).await;
    for bad in ["", "only-one-field\u{1}", "a\u{2}b\u{2}c\u{2}d\u{2}e\u{1}"] {
        let r = http()
            .post(n.url("/nacos/v1/cs/configs/listener"))
            .form(&[("Listening-Configs", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad:?}");
        assert_eq!(r.text().await.unwrap(), "caused: invalid probeModify;");
    }
    let r = http()
        .post(n.url("/nacos/v1/cs/configs/listener"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "no Listening-Configs at all");
}

#[tokio::test]
async fn wrong_methods_and_unknown_routes_get_springs_error_body() {
    let (nats, n) = node_with(&[]).await;
    let before = nats.last_seq().await;
    let r = http()
        .put(n.url("/nacos/v1/cs/configs?dataId=d&group=G&content=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["status"].as_u64(), body["error"].as_str()),
        (Some(405), Some("Method Not Allowed"))
    );
    let r = http()
        .get(n.url("/nacos/v1/cs/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(nats.last_seq().await, before);
}

#[tokio::test]
async fn bad_namespace_input_is_refused() {
    let (nats, n) = node_with(&[]).await;
    let before = nats.last_seq().await;
    let r = http()
        .post(n.url("/nacos/v1/console/namespaces"))
        .form(&[("customNamespaceId", "bad id!"), ("namespaceName", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http()
        .post(n.url("/nacos/v2/console/namespace"))
        .form(&[("namespaceId", "ok"), ("namespaceName", "a#b")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], 22000);
    let r = http()
        .delete(n.url("/nacos/v1/console/namespaces?namespaceId=public"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "public cannot be deleted");
    let r = http()
        .delete(n.url("/nacos/v1/console/namespaces?namespaceId=ghost"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(nats.last_seq().await, before);
}
