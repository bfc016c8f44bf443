//! Consul ACLs with `auth.enabled`: policies grant key prefixes and services, read or write;
//! tokens carry policies; what a token may not read is filtered out, what it may not write is
//! refused with Consul's 403 "Permission denied"; secrets never reach the event stream.
//! Real nats-server.

mod common;

use common::*;
use futures::StreamExt;
use serde_json::{Value, json};

async fn start() -> (NatsServer, Nacre) {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &auth_env(&[])).await;
    (nats, n)
}

async fn call(
    n: &Nacre,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String) {
    let mut r = http().request(method, n.consul(path));
    if let Some(t) = token {
        r = r.header("X-Consul-Token", t);
    }
    if let Some(b) = body {
        r = r.body(b.to_string());
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn put_kv(n: &Nacre, key: &str, token: &str) -> (u16, String) {
    let r = http()
        .put(n.consul(&format!("/v1/kv/{key}")))
        .header("X-Consul-Token", token)
        .body("v")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A policy and a token holding it; the answer is (policy ID, accessor, secret).
async fn token_with(n: &Nacre, name: &str, rules: &str) -> (String, String, String) {
    let (status, policy) = call(
        n,
        reqwest::Method::PUT,
        "/v1/acl/policy",
        Some(CONSUL_MANAGEMENT_TOKEN),
        Some(json!({"Name": name, "Rules": rules})),
    )
    .await;
    assert_eq!(status, 200, "{policy}");
    let policy = json_of(&policy);
    assert_eq!(policy["Rules"], rules);
    let (status, token) = call(
        n,
        reqwest::Method::PUT,
        "/v1/acl/token",
        Some(CONSUL_MANAGEMENT_TOKEN),
        Some(json!({"Description": name, "Policies": [{"Name": name}]})),
    )
    .await;
    assert_eq!(status, 200, "{token}");
    let token = json_of(&token);
    assert_eq!(token["Policies"][0]["ID"], policy["ID"]);
    (
        policy["ID"].as_str().unwrap().to_owned(),
        token["AccessorID"].as_str().unwrap().to_owned(),
        token["SecretID"].as_str().unwrap().to_owned(),
    )
}

const APP_RULES: &str = r#"
key_prefix "" { policy = "read" }
key_prefix "app/" { policy = "write" }
key_prefix "app/secret/" { policy = "deny" }
service_prefix "web" { policy = "write" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_writes_only_the_keys_its_policies_grant() {
    use reqwest::Method as M;
    let (_nats, n) = start().await;
    let (_, accessor, app) = token_with(&n, "app", APP_RULES).await;
    for key in ["other/k", "app/secret/s"] {
        assert_eq!(put_kv(&n, key, CONSUL_MANAGEMENT_TOKEN).await.0, 200);
    }

    assert_eq!(put_kv(&n, "app/config", &app).await, (200, "true".into()));
    let (status, body) = put_kv(&n, "other/k", &app).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        format!(
            "Permission denied: token with AccessorID '{accessor}' lacks permission 'key:write' on \"other/k\""
        )
    );
    assert_eq!(
        call(&n, M::GET, "/v1/kv/other/k", Some(&app), None).await.0,
        200,
        "read everywhere"
    );
    assert_eq!(
        call(&n, M::GET, "/v1/kv/app/secret/s", Some(&app), None)
            .await
            .0,
        403,
        "a deny below a write"
    );
    // Listings leave out what the token may not read.
    let (status, keys) = call(&n, M::GET, "/v1/kv/?keys", Some(&app), None).await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&keys), json!(["app/config", "other/k"]));
    let (_, all) = call(
        &n,
        M::GET,
        "/v1/kv/?keys",
        Some(CONSUL_MANAGEMENT_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        json_of(&all),
        json!(["app/config", "app/secret/s", "other/k"])
    );
    // A recursive delete needs write on everything below the prefix.
    assert_eq!(
        call(&n, M::DELETE, "/v1/kv/app/?recurse", Some(&app), None)
            .await
            .0,
        403
    );
    assert_eq!(
        call(
            &n,
            M::GET,
            "/v1/kv/app/secret/s",
            Some(CONSUL_MANAGEMENT_TOKEN),
            None
        )
        .await
        .0,
        200,
        "nothing was deleted"
    );

    // A transaction with one forbidden operation changes nothing.
    let value = "eA=="; // "x"
    let (status, body) = call(
        &n,
        M::PUT,
        "/v1/txn",
        Some(&app),
        Some(json!([
            {"KV": {"Verb": "set", "Key": "app/txn", "Value": value}},
            {"KV": {"Verb": "set", "Key": "other/txn", "Value": value}},
        ])),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        json_of(&body)["Errors"],
        json!([{"OpIndex": 1, "What": "Permission denied"}])
    );
    assert_eq!(
        call(
            &n,
            M::GET,
            "/v1/kv/app/txn",
            Some(CONSUL_MANAGEMENT_TOKEN),
            None
        )
        .await
        .0,
        404
    );
    // get-tree answers only readable keys.
    let (status, body) = call(
        &n,
        M::PUT,
        "/v1/txn",
        Some(&app),
        Some(json!([{"KV": {"Verb": "get-tree", "Key": "app/"}}])),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<Value> = json_of(&body)["Results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["KV"]["Key"].clone())
        .collect();
    assert_eq!(keys, vec![json!("app/config")]);

    // An unknown secret is refused as Consul does; no token is the anonymous one (nothing).
    assert_eq!(
        call(&n, M::GET, "/v1/kv/other/k", Some("not-a-token"), None).await,
        (403, "ACL not found".into())
    );
    assert_eq!(call(&n, M::GET, "/v1/kv/other/k", None, None).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_are_registered_and_seen_only_as_policies_allow() {
    use reqwest::Method as M;
    let (_nats, n) = start().await;
    let (_, _, app) = token_with(&n, "app", APP_RULES).await;
    let register = |name: &'static str, token: String| {
        let n = &n;
        async move {
            call(
                n,
                M::PUT,
                "/v1/agent/service/register",
                Some(&token),
                Some(json!({"Name": name, "Port": 80})),
            )
            .await
        }
    };
    assert_eq!(register("web-api", app.clone()).await.0, 200);
    let (status, body) = register("db", app.clone()).await;
    assert_eq!(status, 403);
    assert!(body.starts_with("Permission denied"), "{body}");
    assert_eq!(register("db", CONSUL_MANAGEMENT_TOKEN.into()).await.0, 200);

    let (_, visible) = call(&n, M::GET, "/v1/catalog/services", Some(&app), None).await;
    let visible = json_of(&visible);
    assert!(visible.get("web-api").is_some(), "{visible}");
    assert!(visible.get("db").is_none(), "db is filtered out: {visible}");
    let (_, anonymous) = call(&n, M::GET, "/v1/catalog/services", None, None).await;
    assert_eq!(json_of(&anonymous), json!({}));
    let (_, db) = call(&n, M::GET, "/v1/health/service/db", Some(&app), None).await;
    assert_eq!(json_of(&db), json!([]));
    assert_eq!(
        call(
            &n,
            M::PUT,
            "/v1/agent/service/deregister/db",
            Some(&app),
            None
        )
        .await
        .0,
        403
    );
    let (_, db) = call(
        &n,
        M::GET,
        "/v1/health/service/db",
        Some(CONSUL_MANAGEMENT_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        json_of(&db).as_array().map(Vec::len),
        Some(1),
        "still there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_managed_through_the_acl_api_and_secrets_stay_out_of_events() {
    use reqwest::Method as M;
    let (nats, n) = start().await;
    let events = nats.client().await;
    let mut acl_events = events.subscribe("nacre.evt.acl.>").await.unwrap();
    events.flush().await.unwrap();

    let (policy, accessor, secret) = token_with(&n, "app", APP_RULES).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let m = tokio::time::timeout(std::time::Duration::from_secs(5), acl_events.next())
            .await
            .expect("an ACL event")
            .unwrap();
        seen.push(String::from_utf8_lossy(&m.payload).into_owned());
    }
    assert!(seen.iter().any(|e| e.contains(&accessor)), "{seen:?}");
    assert!(
        seen.iter().all(|e| !e.contains(&secret)),
        "a secret in an event: {seen:?}"
    );

    // Reads show the token, never its secret; `self` needs nothing beyond holding it.
    let (_, read) = call(
        &n,
        M::GET,
        &format!("/v1/acl/token/{accessor}"),
        Some(CONSUL_MANAGEMENT_TOKEN),
        None,
    )
    .await;
    assert_eq!(json_of(&read)["SecretID"], "<hidden>");
    let (status, me) = call(&n, M::GET, "/v1/acl/token/self", Some(&secret), None).await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&me)["AccessorID"], accessor.as_str());
    // The app token has no acl rule: the ACL API is closed to it.
    assert_eq!(
        call(&n, M::GET, "/v1/acl/tokens", Some(&secret), None)
            .await
            .0,
        403
    );
    let (_, tokens) = call(
        &n,
        M::GET,
        "/v1/acl/tokens",
        Some(CONSUL_MANAGEMENT_TOKEN),
        None,
    )
    .await;
    let tokens = json_of(&tokens);
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["AccessorID"] == accessor.as_str())
    );
    // Bad rules and a taken name are refused, nothing saved.
    for bad in [
        json!({"Name": "broken", "Rules": "key_prefix \"a\" { policy = \"sudo\" }"}),
        json!({"Name": "app", "Rules": ""}),
        json!({"Name": "bad name!", "Rules": ""}),
    ] {
        let (status, body) = call(
            &n,
            M::PUT,
            "/v1/acl/policy",
            Some(CONSUL_MANAGEMENT_TOKEN),
            Some(bad),
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
    let (_, policies) = call(
        &n,
        M::GET,
        "/v1/acl/policies",
        Some(CONSUL_MANAGEMENT_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        json_of(&policies).as_array().map(Vec::len),
        Some(2),
        "global-management and app: {policies}"
    );

    // Changing the policy changes what the token may do at once.
    let (status, _) = call(
        &n,
        M::PUT,
        &format!("/v1/acl/policy/{policy}"),
        Some(CONSUL_MANAGEMENT_TOKEN),
        Some(json!({"Name": "app", "Rules": "key_prefix \"\" { policy = \"write\" }"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(put_kv(&n, "other/k", &secret).await.0, 200);

    // A deleted token stops working.
    let (status, body) = call(
        &n,
        M::DELETE,
        &format!("/v1/acl/token/{accessor}"),
        Some(CONSUL_MANAGEMENT_TOKEN),
        None,
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "true"));
    assert_eq!(
        put_kv(&n, "other/k", &secret).await,
        (403, "ACL not found".into())
    );

    // The anonymous token can be given a policy, as in Consul.
    let (_, _, _) = token_with(
        &n,
        "public-read",
        r#"key_prefix "public/" { policy = "read" }"#,
    )
    .await;
    assert_eq!(
        put_kv(&n, "public/motd", CONSUL_MANAGEMENT_TOKEN).await.0,
        200
    );
    assert_eq!(
        call(&n, M::GET, "/v1/kv/public/motd", None, None).await.0,
        403
    );
    let (status, body) = call(
        &n,
        M::PUT,
        "/v1/acl/token/00000000-0000-0000-0000-000000000002",
        Some(CONSUL_MANAGEMENT_TOKEN),
        Some(json!({"Policies": [{"Name": "public-read"}]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        call(&n, M::GET, "/v1/kv/public/motd", None, None).await.0,
        200
    );

    // Expiry must be 1 minute to 24 hours away, given as a TTL or a time.
    for expiry in [
        json!({"ExpirationTTL": "10s"}),
        json!({"ExpirationTTL": "48h"}),
        json!({"ExpirationTime": "2001-01-01T00:00:00Z"}),
        json!({"ExpirationTTL": "1h", "ExpirationTime": "2999-01-01T00:00:00Z"}),
    ] {
        let (status, body) = call(
            &n,
            M::PUT,
            "/v1/acl/token",
            Some(CONSUL_MANAGEMENT_TOKEN),
            Some(expiry.clone()),
        )
        .await;
        assert_eq!(status, 400, "{expiry}: {body}");
    }
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (status, expiring) = call(
        &n,
        M::PUT,
        "/v1/acl/token",
        Some(CONSUL_MANAGEMENT_TOKEN),
        Some(json!({"ExpirationTime": in_an_hour})),
    )
    .await;
    assert_eq!(status, 200, "{expiring}");
    assert!(
        json_of(&expiring)["ExpirationTime"].is_string(),
        "{expiring}"
    );

    // Bootstrap works once per cluster, and its token manages.
    let (status, boot) = call(&n, M::PUT, "/v1/acl/bootstrap", None, None).await;
    assert_eq!(status, 200, "{boot}");
    let boot = json_of(&boot);
    assert_eq!(boot["Policies"][0]["Name"], "global-management");
    let boot_secret = boot["SecretID"].as_str().unwrap();
    assert_eq!(put_kv(&n, "anything", boot_secret).await.0, 200);
    let (status, again) = call(&n, M::PUT, "/v1/acl/bootstrap", None, None).await;
    assert_eq!(status, 403);
    assert!(again.starts_with("Permission denied"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acl_api_says_acls_are_off_when_they_are() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let (status, body) = call(&n, reqwest::Method::GET, "/v1/acl/policies", None, None).await;
    assert_eq!((status, body.as_str()), (401, "ACL support disabled"));
}
