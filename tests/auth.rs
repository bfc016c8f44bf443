//! Access control with `auth.enabled`: every write path of every adapter refuses anonymous
//! callers and callers without write permission on the namespace, and accepts permitted ones;
//! tokens expire and cannot be forged; an example secret stops Nacre at start. Real nats-server.
//!
//! One file on purpose: the specification of one feature, every adapter's behaviour with auth on
//! in one place.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

async fn form(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    params: &[(&str, &str)],
) -> (u16, String) {
    let mut request = http().request(method.clone(), url);
    request = if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
        request.query(params)
    } else {
        request.form(params)
    };
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// An admin, a `dev` user who may write namespace `dev`, and a `viewer` who may only read it.
async fn setup(n: &Nacre) -> (String, String, String) {
    let (status, body) = form(
        reqwest::Method::POST,
        n.url("/nacos/v1/auth/users/admin"),
        None,
        &[("password", "admin-password")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (again, _) = form(
        reqwest::Method::POST,
        n.url("/nacos/v1/auth/users/admin"),
        None,
        &[("password", "takeover!")],
    )
    .await;
    assert_ne!(again, 200, "the admin is initialised once only");
    let admin = token(n, "nacos", "admin-password").await;
    let post = |path: &str, params: Vec<(&'static str, &'static str)>| {
        let (url, admin) = (n.url(path), admin.clone());
        async move {
            let (status, body) = form(reqwest::Method::POST, url, Some(&admin), &params).await;
            assert_eq!(status, 200, "{body}");
        }
    };
    post(
        "/nacos/v1/console/namespaces",
        vec![("customNamespaceId", "dev"), ("namespaceName", "dev")],
    )
    .await;
    post(
        "/nacos/v1/auth/users",
        vec![("username", "dev"), ("password", "dev-password")],
    )
    .await;
    post(
        "/nacos/v1/auth/users",
        vec![("username", "viewer"), ("password", "viewer-password")],
    )
    .await;
    post(
        "/nacos/v1/auth/roles",
        vec![("role", "developers"), ("username", "dev")],
    )
    .await;
    post(
        "/nacos/v1/auth/roles",
        vec![("role", "viewers"), ("username", "viewer")],
    )
    .await;
    post(
        "/nacos/v1/auth/permissions",
        vec![
            ("role", "developers"),
            ("resource", "dev:*:*"),
            ("action", "rw"),
        ],
    )
    .await;
    post(
        "/nacos/v1/auth/permissions",
        vec![
            ("role", "viewers"),
            ("resource", "dev:*:*"),
            ("action", "r"),
        ],
    )
    .await;
    let dev = token(n, "dev", "dev-password").await;
    let viewer = token(n, "viewer", "viewer-password").await;
    (admin, dev, viewer)
}

struct Route {
    method: reqwest::Method,
    path: &'static str,
    params: Vec<(&'static str, &'static str)>,
}

fn route(
    method: reqwest::Method,
    path: &'static str,
    params: &[(&'static str, &'static str)],
) -> Route {
    Route {
        method,
        path,
        params: params.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_path_needs_write_permission_on_its_namespace() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &auth_env(&[])).await;
    let (admin, dev, viewer) = setup(&n).await;
    use reqwest::Method as M;
    // Namespace writes: refused anonymously and to the viewer, accepted for dev.
    let namespaced = [
        route(
            M::POST,
            "/nacos/v1/cs/configs",
            &[
                ("tenant", "dev"),
                ("dataId", "a"),
                ("group", "G"),
                ("content", "x"),
            ],
        ),
        route(
            M::POST,
            "/nacos/v2/cs/config",
            &[
                ("namespaceId", "dev"),
                ("dataId", "b"),
                ("group", "G"),
                ("content", "x"),
            ],
        ),
        route(
            M::POST,
            "/nacos/v3/admin/cs/config",
            &[
                ("namespaceId", "dev"),
                ("dataId", "c"),
                ("groupName", "G"),
                ("content", "x"),
            ],
        ),
        route(
            M::DELETE,
            "/nacos/v1/cs/configs",
            &[("tenant", "dev"), ("dataId", "a"), ("group", "G")],
        ),
        route(
            M::POST,
            "/nacos/v1/ns/instance",
            &[
                ("namespaceId", "dev"),
                ("serviceName", "s"),
                ("ip", "10.0.0.1"),
                ("port", "80"),
            ],
        ),
        route(
            M::PUT,
            "/nacos/v1/ns/instance",
            &[
                ("namespaceId", "dev"),
                ("serviceName", "s"),
                ("ip", "10.0.0.1"),
                ("port", "80"),
                ("weight", "2"),
            ],
        ),
        route(
            M::PUT,
            "/nacos/v1/ns/instance/beat",
            &[
                ("namespaceId", "dev"),
                ("serviceName", "s"),
                ("ip", "10.0.0.1"),
                ("port", "80"),
            ],
        ),
        route(
            M::POST,
            "/nacos/v2/ns/instance",
            &[
                ("namespaceId", "dev"),
                ("serviceName", "s2"),
                ("ip", "10.0.0.2"),
                ("port", "80"),
            ],
        ),
        route(
            M::DELETE,
            "/nacos/v1/ns/instance",
            &[
                ("namespaceId", "dev"),
                ("serviceName", "s"),
                ("ip", "10.0.0.1"),
                ("port", "80"),
            ],
        ),
        route(
            M::POST,
            "/nacos/v1/ns/service",
            &[("namespaceId", "dev"), ("serviceName", "made")],
        ),
    ];
    for r in &namespaced {
        let what = format!("{} {}", r.method, r.path);
        assert_eq!(
            form(r.method.clone(), n.url(r.path), None, &r.params)
                .await
                .0,
            403,
            "anonymous {what}"
        );
        assert_eq!(
            form(r.method.clone(), n.url(r.path), Some(&viewer), &r.params)
                .await
                .0,
            403,
            "viewer {what}"
        );
        let (status, body) = form(r.method.clone(), n.url(r.path), Some(&dev), &r.params).await;
        assert_ne!(status, 403, "dev {what}: {body}");
    }
    // Writes outside dev's namespace, and admin-only writes, are refused to dev; admin may.
    let admin_only = [
        route(
            M::POST,
            "/nacos/v1/cs/configs",
            &[("dataId", "p"), ("group", "G"), ("content", "x")],
        ),
        route(
            M::POST,
            "/nacos/v1/console/namespaces",
            &[("customNamespaceId", "other"), ("namespaceName", "o")],
        ),
        route(
            M::POST,
            "/nacos/v1/auth/users",
            &[("username", "mallory"), ("password", "mallory-password")],
        ),
        route(
            M::POST,
            "/nacos/v1/auth/permissions",
            &[
                ("role", "developers"),
                ("resource", "*:*:*"),
                ("action", "rw"),
            ],
        ),
    ];
    for r in &admin_only {
        let what = format!("{} {}", r.method, r.path);
        assert_eq!(
            form(r.method.clone(), n.url(r.path), Some(&dev), &r.params)
                .await
                .0,
            403,
            "dev {what}"
        );
        let (status, body) = form(r.method.clone(), n.url(r.path), Some(&admin), &r.params).await;
        assert_eq!(status, 200, "admin {what}: {body}");
    }
    // Packages: admins only.
    let upload = |token: Option<String>| {
        let mut r = http()
            .put(n.url("/nacre/v1/packages/linux/agent/1.0/a.bin"))
            .body(vec![1u8; 10]);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(upload(None).await, 403);
    assert_eq!(upload(Some(dev.clone())).await, 403);
    assert!(upload(Some(admin.clone())).await < 300);

    // Reads of a namespace need read permission there.
    let read = [("tenant", "dev"), ("dataId", "b"), ("group", "G")];
    assert_eq!(
        form(M::GET, n.url("/nacos/v1/cs/configs"), None, &read)
            .await
            .0,
        403
    );
    assert_eq!(
        form(M::GET, n.url("/nacos/v1/cs/configs"), Some(&viewer), &read)
            .await
            .0,
        200,
        "the viewer reads dev (b was written there over v2)"
    );
    assert_eq!(
        form(
            M::GET,
            n.url("/nacos/v1/cs/configs"),
            Some(&viewer),
            &[("dataId", "p"), ("group", "G")]
        )
        .await
        .0,
        403,
        "no right on public"
    );
    // The token also travels as accessToken.
    let (status, _) = form(
        M::GET,
        n.url("/nacos/v1/cs/configs"),
        None,
        &[
            ("tenant", "dev"),
            ("dataId", "b"),
            ("group", "G"),
            ("accessToken", &viewer),
        ],
    )
    .await;
    assert_ne!(status, 403);

    // The history names who made a change: the token's user, not a parameter.
    let (status, history) = form(
        M::GET,
        n.url("/nacos/v1/cs/history"),
        Some(&viewer),
        &[
            ("search", "accurate"),
            ("tenant", "dev"),
            ("dataId", "b"),
            ("group", "G"),
            ("src_user", "forged"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{history}");
    let history: Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history["pageItems"][0]["srcUser"], "dev", "{history}");

    // Consul: default deny; the management token passes; a Nacos token is no Consul token.
    let kv = |token: Option<&str>| {
        let mut r = http().put(n.consul("/v1/kv/guarded")).body("v");
        if let Some(t) = token {
            r = r.header("X-Consul-Token", t);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(kv(None).await, 403);
    assert_eq!(kv(Some(&dev)).await, 403);
    assert_eq!(kv(Some("consul-management-token")).await, 200);
    assert_eq!(kv(Some(&admin)).await, 403);
    let txn = http()
        .put(n.consul("/v1/txn"))
        .body(r#"[{"KV": {"Verb": "set", "Key": "guarded", "Value": "eA=="}}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(txn.status(), 409);
    let txn: Value = txn.json().await.unwrap();
    assert_eq!(txn["Errors"][0]["What"], "Permission denied");
    let register = http()
        .put(n.consul("/v1/agent/service/register?token=nope"))
        .body(r#"{"Name":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_requests_carry_the_token_in_their_headers() {
    use nacre::nacos::grpc::proto::bi_request_stream_client::BiRequestStreamClient;
    use nacre::nacos::grpc::proto::request_client::RequestClient;
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &auth_env(&[])).await;
    let (admin, dev, viewer) = setup(&n).await;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", n.port + 1000))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(nacre::nacos::grpc::wire::payload(
        "ConnectionSetupRequest",
        &json!({"labels": {}}),
    ))
    .await
    .unwrap();
    let _pushes = BiRequestStreamClient::new(channel.clone())
        .request_bi_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap();
    let mut unary = RequestClient::new(channel);
    // The body, with the response's type under "responseType".
    let mut ask = async |kind: &str, token: Option<&str>| -> Value {
        for _ in 0..50 {
            let mut p = nacre::nacos::grpc::wire::payload(
                kind,
                &json!({"dataId": "grpc", "group": "G", "tenant": "dev", "content": "x",
                        "namespace": "dev", "serviceName": "s", "groupName": "G"}),
            );
            if let (Some(t), Some(m)) = (token, p.metadata.as_mut()) {
                m.headers.insert("accessToken".into(), t.into());
            }
            let r = unary.request(p).await.unwrap().into_inner();
            let mut body: Value = serde_json::from_slice(&r.body.unwrap().value).unwrap();
            body["responseType"] = json!(r.metadata.unwrap().r#type);
            if body["errorCode"] != 301 {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await; // setup still in flight
        }
        panic!("the connection was never set up");
    };
    let publish = "ConfigPublishRequest";
    assert_eq!(ask(publish, None).await["errorCode"], 403);
    assert_eq!(ask(publish, Some(&viewer)).await["errorCode"], 403);
    assert_eq!(ask(publish, Some(&dev)).await["errorCode"], 0);
    // Every request type the server handles, enumerated from the server itself: anonymous
    // callers are refused all but the health check; an admin passes all.
    for kind in nacre::nacos::grpc::HANDLED {
        let anonymous = ask(kind, None).await;
        if *kind == "HealthCheckRequest" {
            assert_eq!(anonymous["errorCode"], 0, "{kind}: {anonymous}");
        } else {
            // As Nacos' auth filter answers: the handler's own response type, FAIL, NO_RIGHT.
            assert_eq!(anonymous["errorCode"], 403, "{kind}: {anonymous}");
            assert_eq!(anonymous["resultCode"], 500, "{kind}: {anonymous}");
            let (response, _) = nacre::nacos::grpc::response_of(kind);
            assert_eq!(anonymous["responseType"], response, "{kind}: {anonymous}");
        }
        let as_admin = ask(kind, Some(&admin)).await;
        assert_ne!(as_admin["errorCode"], 403, "{kind}: {as_admin}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_cannot_be_forged_and_logins_are_throttled() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &auth_env(&[("NACRE_AUTH_TOKEN_TTL", "1s")])).await;
    let (status, _) = form(
        reqwest::Method::POST,
        n.url("/nacos/v1/auth/users/admin"),
        None,
        &[("password", "admin-password")],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = login(&n, "nacos", "admin-password").await;
    assert_eq!(
        (
            status,
            body["globalAdmin"].as_bool(),
            body["tokenTtl"].as_u64()
        ),
        (200, Some(true), Some(1))
    );
    let fresh = body["accessToken"].as_str().unwrap().to_owned();
    let list = |t: String| {
        let url = n.url("/nacos/v1/auth/users");
        async move { form(reqwest::Method::GET, url, Some(&t), &[]).await }
    };
    assert_eq!(list(fresh.clone()).await.0, 200);
    // Kept: the sleep is the test (a 1 s token must have expired by now).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(list(fresh).await, (403, "token expired!".to_string()));

    // A token signed with another secret.
    #[derive(serde::Serialize)]
    struct Claims {
        sub: &'static str,
        exp: u64,
    }
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &Claims {
            sub: "nacos",
            exp: 4_000_000_000,
        },
        &jsonwebtoken::EncodingKey::from_secret(b"some-other-secret-of-enough-length-0123"),
    )
    .unwrap();
    assert_eq!(list(forged).await, (403, "token invalid!".to_string()));

    // Wrong passwords are refused; after five, even the right one waits a minute.
    for _ in 0..5 {
        assert_eq!(login(&n, "nacos", "guess").await.0, 403);
    }
    assert_eq!(
        login(&n, "nacos", "admin-password").await.0,
        403,
        "throttled"
    );
}

#[test]
fn the_example_secret_or_a_short_one_stops_nacre_with_directions() {
    let nats = NatsServer::start();
    for secret in [nacre::settings::EXAMPLE_TOKEN_SECRET, "too-short"] {
        let (code, stderr) = Nacre::at_expecting_failure(
            &nats.url(),
            &[
                ("NACRE_AUTH_ENABLED", "true"),
                ("NACRE_AUTH_TOKEN_SECRET", secret),
            ],
        );
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.contains("auth.token-secret") && stderr.contains("openssl rand"),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_logs_in_and_a_wrong_password_fails_cleanly() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &auth_env(&[])).await;
    let (status, _) = form(
        reqwest::Method::POST,
        n.url("/nacos/v1/auth/users/admin"),
        None,
        &[("password", "admin-password")],
    )
    .await;
    assert_eq!(status, 200);
    let python = std::env::var("NACRE_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
    let run = |password: &'static str| {
        let (python, port) = (python.clone(), n.port);
        tokio::task::spawn_blocking(move || {
            let work = tempfile::tempdir().unwrap();
            let out = std::process::Command::new(python)
                .arg(format!(
                    "{}/tests/clients/nacos_sdk.py",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .args(["127.0.0.1", &port.to_string()])
                .arg(work.path())
                .args(["login", "nacos", password])
                .output()
                .unwrap();
            outcome(out)
        })
    };
    let (ok, output) = run("admin-password").await.unwrap();
    assert!(ok && output.contains("logged in: ok"), "{output}");
    let (ok, output) = run("wrong-password").await.unwrap();
    assert!(!ok, "a wrong password must fail: {output}");
    assert!(!output.contains("logged in: ok"), "{output}");
}

/// A route pattern made concrete: every `{param}` and `{*rest}` becomes `x`.
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|part| if part.starts_with('{') { "x" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every route every HTTP adapter serves, enumerated from the routers themselves, so a route added
/// without a rule fails here: anonymous callers are refused everything but the open routes, a
/// caller who may only read namespace `dev` is refused every write in it, an admin passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_of_every_adapter_refuses_callers_without_the_right() {
    use reqwest::Method as M;
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &auth_env(&[])).await;
    let (admin, _dev, viewer) = setup(&n).await;
    let consul_reader = consul_token(&n, r#"key_prefix "" { policy = "read" } service_prefix "" { policy = "read" } node_prefix "" { policy = "read" } session_prefix "" { policy = "read" } agent_prefix "" { policy = "read" }"#).await;
    let open = [
        "/nacos/v1/auth/login",
        "/nacos/v1/auth/users/login",
        "/nacos/v3/auth/user/login",
        "/nacos/v1/auth/users/admin",
        "/nacos/v3/auth/user/admin",
        "/nacos/v1/console/health/liveness",
        "/nacos/v1/console/health/readiness",
        "/nacos/v2/console/health/liveness",
        "/nacos/v2/console/health/readiness",
        "/nacos/v3/console/health/liveness",
        "/nacos/v3/console/health/readiness",
        "/nacos/v3/admin/core/state/liveness",
        "/nacos/v3/admin/core/state/readiness",
        "/health/live",
        "/health/ready",
        "/nacos/v1/ns/operator/metrics",
        "/nacos/metrics",
        "/metrics",
        "/v1/status/leader",
        "/v1/status/peers",
        "/v1/catalog/datacenters",
        "/v1/acl/bootstrap",
        "/v1/acl/token/self",
        // the web console's files and start-up facts, and the Consul API mounted beside them
        // (where Consul's ACLs decide, as on the Consul port)
        "/",
        "/nacos",
        "/nacos/",
        "/assets/{*path}",
        "/nacos/assets/{*path}",
        "/nacre/v1/console",
        "/nacre/v1/consul/{*path}",
    ];
    // The routes declared open are exactly the ones meant to be.
    for r in nacre::nacos::routes() {
        assert_eq!(
            matches!(
                r.rule,
                nacre::nacos::guard::Rule::Open | nacre::nacos::guard::Rule::Delegated
            ),
            open.contains(&r.path),
            "{} is declared {:?}",
            r.path,
            r.rule
        );
    }
    let nacos_port = nacre::nacos::routes()
        .into_iter()
        .map(|r| r.path)
        .chain(nacre::packages::routes().into_iter().map(|r| r.path))
        .map(|p| (n.url(&concrete(p)), p, admin.clone(), viewer.clone()));
    let consul_port = nacre::consul::routes().into_iter().map(|(p, _)| {
        (
            n.consul(&concrete(p)),
            p,
            "consul-management-token".to_owned(),
            consul_reader.clone(),
        )
    });
    // A config in dev with a history row, so every route's target can be complete: a route
    // is then refused for its rule, never for a missing parameter.
    let (status, body) = form(
        M::POST,
        n.url("/nacos/v2/cs/config"),
        Some(&admin),
        &[
            ("namespaceId", "dev"),
            ("dataId", "d"),
            ("group", "G"),
            ("content", "x"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, rows) = form(
        M::GET,
        n.url("/nacos/v2/cs/history/list"),
        Some(&admin),
        &[("namespaceId", "dev"), ("dataId", "d"), ("group", "G")],
    )
    .await;
    let rows: Value = serde_json::from_str(&rows).unwrap();
    let nid = rows["data"]["pageItems"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let probe = "d\u{2}G\u{2}stale-md5\u{2}dev\u{1}";
    let target = [
        ("namespaceId", "dev"),
        ("tenant", "dev"),
        ("namespace", "dev"),
        ("dataId", "d"),
        ("group", "G"),
        ("groupName", "G"),
        ("serviceName", "s"),
        ("ip", "10.0.0.1"),
        ("port", "80"),
        ("content", "x"),
        ("nid", nid.as_str()),
        ("id", nid.as_str()),
        ("Listening-Configs", probe),
    ];
    let send_for_body = |method: M, url: &str, token: Option<&str>| {
        let mut request = http().request(method, url).query(&target);
        if let Some(t) = token {
            request = request.bearer_auth(t).header("X-Consul-Token", t);
        }
        async move {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            // A streaming route (the console's event feed) answers at once but never ends.
            let body = tokio::time::timeout(Duration::from_secs(2), r.text())
                .await
                .map_or_else(|_| String::new(), |b| b.unwrap_or_default());
            (status, body)
        }
    };
    let send = |method: M, url: &str, token: Option<&str>| {
        let sent = send_for_body(method, url, token);
        async move { sent.await.0 }
    };
    let mut served = 0;
    for (url, pattern, admin, reader) in nacos_port.chain(consul_port) {
        for method in [M::GET, M::POST, M::PUT, M::DELETE] {
            let what = format!("{method} {pattern}");
            let as_admin = send(method.clone(), &url, Some(&admin)).await;
            if as_admin == 405 {
                continue; // not a method this route serves
            }
            served += 1;
            if open.contains(&pattern) {
                continue;
            }
            assert_ne!(as_admin, 403, "an admin is let through {what}");
            // A transaction is checked per operation: tests/consul_acl.rs covers it.
            if pattern == "/v1/txn" {
                continue;
            }
            let (status, body) = send_for_body(method.clone(), &url, None).await;
            // Consul filters what a token may not read: an anonymous read may answer nothing.
            let consul_read_of_nothing = method == M::GET
                && pattern.starts_with("/v1/")
                && (status == 400
                    || status == 404
                    || ["[]", "{}", "null", ""].contains(&body.trim()));
            assert!(
                status == 403 || consul_read_of_nothing,
                "anonymous {what}: {status} {body}"
            );
            // The long-polling listener only reads; an import's entries come in its body, so
            // a reader's imports are refused entry by entry (tests/access.rs).
            let reads_only = pattern == "/nacos/v1/cs/configs/listener";
            let import = pattern.ends_with("/import");
            if method != M::GET && !reads_only && !import {
                assert_eq!(
                    send(method.clone(), &url, Some(&reader)).await,
                    403,
                    "a reader writing {what}"
                );
            }
        }
    }
    assert!(served > 100, "only {served} routes and methods were found");
}

/// A Consul token whose one policy has these rules (made with the management token).
async fn consul_token(n: &Nacre, rules: &str) -> String {
    let management = "consul-management-token";
    let policy: Value = http()
        .put(n.consul("/v1/acl/policy"))
        .header("X-Consul-Token", management)
        .json(&json!({"Name": format!("p-{}", uuid::Uuid::new_v4().simple()), "Rules": rules}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = policy["ID"].as_str().expect("a policy ID").to_owned();
    let token: Value = http()
        .put(n.consul("/v1/acl/token"))
        .header("X-Consul-Token", management)
        .json(&json!({"Description": "test", "Policies": [{"ID": id}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["SecretID"].as_str().expect("a SecretID").to_owned()
}

/// The v3 user, role and permission API (the `{code, message, data}` result), and grants
/// narrower than a namespace: one group of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_user_management_and_grants_to_one_group() {
    use reqwest::Method as M;
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &auth_env(&[])).await;
    let (status, body) = form(M::POST, n.url("/nacos/v3/auth/user/admin"), None, &[]).await;
    assert_eq!(status, 200, "{body}");
    let generated: Value = serde_json::from_str(&body).unwrap();
    let password = generated["data"]["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 16, "a generated password: {body}");
    let admin = token(&n, "nacos", &password).await;

    let admin_call = |method: M, path: &'static str, params: Vec<(&'static str, &'static str)>| {
        let (url, admin) = (n.url(path), admin.clone());
        async move {
            let (status, body) = form(method, url, Some(&admin), &params).await;
            (
                status,
                serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body)),
            )
        }
    };
    let (status, created) = admin_call(
        M::POST,
        "/nacos/v3/auth/user",
        vec![("username", "payer"), ("password", "payer-password")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        created,
        json!({"code": 0, "message": "success", "data": "create user ok!"})
    );
    let (_, list) = admin_call(
        M::GET,
        "/nacos/v3/auth/user/list",
        vec![("username", "pay"), ("search", "blur")],
    )
    .await;
    assert_eq!(list["data"]["totalCount"], 1, "{list}");
    assert_eq!(list["data"]["pageItems"][0]["username"], "payer");
    let (status, _) = admin_call(
        M::POST,
        "/nacos/v3/auth/role",
        vec![("role", "payments"), ("username", "payer")],
    )
    .await;
    assert_eq!(status, 200);
    let (status, granted) = admin_call(
        M::POST,
        "/nacos/v3/auth/permission",
        vec![
            ("role", "payments"),
            ("resource", "public:PAY:*"),
            ("action", "rw"),
        ],
    )
    .await;
    assert_eq!(
        (status, &granted["data"]),
        (200, &json!("add permission ok!"))
    );
    let (_, perms) = admin_call(
        M::GET,
        "/nacos/v3/auth/permission/list",
        vec![("role", "payments")],
    )
    .await;
    assert_eq!(
        perms["data"]["pageItems"][0]["resource"], "public:PAY:*",
        "{perms}"
    );

    // The grant covers group PAY of the public namespace, and nothing else.
    let payer = {
        let r = http()
            .post(n.url("/nacos/v3/auth/user/login"))
            .form(&[("username", "payer"), ("password", "payer-password")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["accessToken"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let write = |group: &'static str| {
        let (url, payer) = (n.url("/nacos/v2/cs/config"), payer.clone());
        async move {
            form(
                M::POST,
                url,
                Some(&payer),
                &[("dataId", "db.yaml"), ("group", group), ("content", "x")],
            )
            .await
            .0
        }
    };
    assert_eq!(write("PAY").await, 200);
    assert_eq!(write("OPS").await, 403);

    // Users change their own password, nobody else's; the admin cannot be deleted.
    let own = form(
        M::PUT,
        n.url("/nacos/v3/auth/user"),
        Some(&payer),
        &[("username", "payer"), ("newPassword", "payer-password-2")],
    )
    .await;
    assert_eq!(own.0, 200, "{}", own.1);
    let other = form(
        M::PUT,
        n.url("/nacos/v3/auth/user"),
        Some(&payer),
        &[("username", "nacos"), ("newPassword", "takeover-password")],
    )
    .await;
    assert_eq!(other.0, 403);
    let (status, refused) = admin_call(
        M::DELETE,
        "/nacos/v3/auth/user",
        vec![("username", "nacos")],
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        login(&n, "nacos", &password).await.0,
        200,
        "the admin is still there"
    );
}
