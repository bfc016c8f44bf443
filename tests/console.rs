//! The web console's server side against real nats-servers: the live event feed, stored
//! events, time travel, listeners and subscribers gathered across nodes, the cluster view, the
//! catalog, the Consul mount, the embedded assets, and what each viewer may see.
//!
//! One file on purpose: every test stands on the same console fixture (two nodes, a viewer per
//! role).

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use serde_json::{Value, json};

/// A server-sent-events reader.
struct Feed {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl Feed {
    async fn open(
        url: String,
        token: Option<&str>,
        last_event_id: Option<u64>,
    ) -> (u16, Option<Self>) {
        let mut request = http().get(url);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        if status != 200 {
            return (status, None);
        }
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let feed = Feed {
            stream: r.bytes_stream().boxed(),
            buffer: String::new(),
        };
        (status, Some(feed))
    }

    /// The next `change` event's data, or None if none comes within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut event = "";
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        event = e.trim();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                if event == "change" {
                    return Some(serde_json::from_str(&data).unwrap());
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }
}

async fn json_get(url: String, token: Option<&str>) -> (u16, Value) {
    let mut request = http().get(url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    json_answer(request).await
}

async fn form(
    n: &Nacre,
    method: reqwest::Method,
    path: &str,
    params: &[(&str, &str)],
    token: Option<&str>,
) -> (u16, String) {
    let mut request = http().request(method, n.url(path)).form(params);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A new user (password `<user>-password`) whose role may read `resource`; its token.
async fn reader(n: &Nacre, admin: Option<&str>, user: &str, role: &str, resource: &str) -> String {
    let password = format!("{user}-password");
    for (path, params) in [
        (
            "/nacos/v1/auth/users",
            vec![("username", user), ("password", password.as_str())],
        ),
        (
            "/nacos/v1/auth/roles",
            vec![("role", role), ("username", user)],
        ),
        (
            "/nacos/v1/auth/permissions",
            vec![("role", role), ("resource", resource), ("action", "r")],
        ),
    ] {
        let (status, body) = form(n, reqwest::Method::POST, path, &params, admin).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    token(n, user, &password).await
}

async fn publish_in(n: &Nacre, tenant: &str, data_id: &str, content: &str, token: Option<&str>) {
    let (status, body) = form(
        n,
        reqwest::Method::POST,
        "/nacos/v1/cs/configs",
        &[
            ("dataId", data_id),
            ("group", "G"),
            ("tenant", tenant),
            ("content", content),
        ],
        token,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, "true"),
        "publish {tenant}/{data_id}"
    );
}

async fn create_namespace(n: &Nacre, id: &str, token: Option<&str>) {
    let (status, body) = form(
        n,
        reqwest::Method::POST,
        "/nacos/v1/console/namespaces",
        &[("customNamespaceId", id), ("namespaceName", id)],
        token,
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "true"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_streams_applied_events_with_filters_a_backlog_and_resumption() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    create_namespace(&n, "dev", None).await;
    let (_, all) = Feed::open(n.url("/nacre/v1/events/stream"), None, None).await;
    let mut all = all.unwrap();
    let (_, dev_configs) = Feed::open(
        n.url("/nacre/v1/events/stream?namespace=dev&kind=config"),
        None,
        None,
    )
    .await;
    let mut dev_configs = dev_configs.unwrap();

    let sent = Instant::now();
    publish_in(&n, "", "a.yaml", "x: 1", None).await;
    let event = all
        .next(Duration::from_secs(5))
        .await
        .expect("the public change");
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(event["type"], "nacre.config.published.v1");
    assert_eq!(
        (
            event["kind"].as_str(),
            event["namespace"].as_str(),
            event["group"].as_str(),
            event["name"].as_str()
        ),
        (Some("config"), Some("public"), Some("G"), Some("a.yaml"))
    );
    assert_eq!(event["actor"]["ip"], "127.0.0.1");
    let first_seq = event["seq"].as_u64().unwrap();

    publish_in(&n, "dev", "b.yaml", "x: 2", None).await;
    let (status, _) = form(
        &n,
        reqwest::Method::POST,
        "/nacos/v1/ns/instance",
        &[
            ("serviceName", "svc"),
            ("namespaceId", "dev"),
            ("ip", "10.0.0.1"),
            ("port", "80"),
            ("ephemeral", "false"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200);
    // The filtered feed has only the dev config; the service event is filtered out.
    let dev = dev_configs.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (dev["namespace"].as_str(), dev["name"].as_str()),
        (Some("dev"), Some("b.yaml"))
    );
    assert_eq!(
        all.next(Duration::from_secs(5)).await.unwrap()["name"],
        "b.yaml"
    );
    let service = all.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (service["kind"].as_str(), service["type"].as_str()),
        (Some("service"), Some("nacre.instance.registered.v1"))
    );
    assert!(dev_configs.next(Duration::from_millis(500)).await.is_none());

    // A reconnecting client (Last-Event-ID) gets what followed, then live events.
    let (_, resumed) = Feed::open(n.url("/nacre/v1/events/stream"), None, Some(first_seq)).await;
    let mut resumed = resumed.unwrap();
    let replayed = resumed.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(replayed["name"], "b.yaml");
    assert_eq!(
        resumed.next(Duration::from_secs(5)).await.unwrap()["name"],
        "svc"
    );
    publish_in(&n, "", "c.yaml", "x: 3", None).await;
    assert_eq!(
        resumed.next(Duration::from_secs(5)).await.unwrap()["name"],
        "c.yaml"
    );
    // A backlog: the latest stored events first.
    let (_, backlog) = Feed::open(
        n.url("/nacre/v1/events/stream?backlog=2&kind=config"),
        None,
        None,
    )
    .await;
    let mut backlog = backlog.unwrap();
    assert_eq!(
        backlog.next(Duration::from_secs(5)).await.unwrap()["name"],
        "c.yaml"
    );

    let (status, body) = json_get(n.url("/nacre/v1/events/stream?kind=secrets"), None).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("kind must be among"),
        "{body}"
    );
    let (status, body) = json_get(n.url("/nacre/v1/events/stream?since=yesterday"), None).await;
    assert_eq!((status, body["error"].is_string()), (400, true), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_is_served_as_stored_with_who_made_it() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    publish_in(&n, "", "a.yaml", "x: 1", None).await;
    let (_, timeline) = json_get(
        n.url("/nacre/v1/timeline?kind=config&group=G&dataId=a.yaml"),
        None,
    )
    .await;
    let seq = timeline["items"][0]["seq"].as_u64().unwrap();
    let (status, event) = json_get(n.url(&format!("/nacre/v1/events/{seq}")), None).await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["type"], "nacre.config.published.v1");
    assert_eq!(event["subject"], "nacre.evt.cfg.public.G.a=2Eyaml");
    assert_eq!(event["event"]["data"]["content"], "x: 1");
    assert_eq!(event["actor"], json!({"user": "", "ip": "127.0.0.1"}));
    assert_eq!(event["traceId"], Value::Null, "tracing is off");
    assert_eq!(event["view"]["name"], "a.yaml");

    // The genesis event (sequence 1) changes nothing the console shows: no data, admins only
    // (everyone is an admin with access control off).
    let (status, genesis) = json_get(n.url("/nacre/v1/events/1"), None).await;
    assert_eq!(status, 200);
    assert!(
        genesis["event"]["data"]["redacted"].is_string(),
        "{genesis}"
    );

    for (path, want) in [
        ("/nacre/v1/events/999999", 404),
        ("/nacre/v1/events/abc", 400),
        ("/nacre/v1/events/0", 400),
    ] {
        let (status, body) = json_get(n.url(path), None).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_and_services_are_replayed_as_they_were_at_a_sequence_or_a_time() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    publish_in(&n, "", "a.yaml", "v1", None).await;
    let v1_seq = nats.last_seq().await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await; // two distinct event times
    publish_in(&n, "", "a.yaml", "v2", None).await;
    let (status, _) = form(
        &n,
        reqwest::Method::DELETE,
        "/nacos/v1/cs/configs?dataId=a.yaml&group=G",
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200);

    let at = |query: String| {
        json_get(
            n.url(&format!(
                "/nacre/v1/configs/at?group=G&dataId=a.yaml&{query}"
            )),
            None,
        )
    };
    let (_, then) = at(format!("seq={v1_seq}")).await;
    assert_eq!(
        (then["exists"].as_bool(), then["config"]["content"].as_str()),
        (Some(true), Some("v1")),
        "{then}"
    );
    assert_eq!(then["version"]["seq"], v1_seq);
    assert_eq!(then["versions"], 3);
    let (_, by_time) = at(format!("time={}", between.timestamp_millis())).await;
    assert_eq!(by_time["config"]["content"], "v1", "{by_time}");
    let (_, before) = at("seq=1".into()).await;
    assert_eq!(
        (before["exists"].as_bool(), &before["version"]),
        (Some(false), &Value::Null)
    );
    let (_, now) = at(String::new()).await;
    assert_eq!(
        (now["exists"].as_bool(), now["version"]["type"].as_str()),
        (Some(false), Some("nacre.config.deleted.v1"))
    );

    // A service: registered, then its instance gone.
    let register = [
        ("serviceName", "orders"),
        ("ip", "10.0.0.1"),
        ("port", "80"),
        ("ephemeral", "false"),
    ];
    assert_eq!(
        form(
            &n,
            reqwest::Method::POST,
            "/nacos/v1/ns/instance",
            &register,
            None
        )
        .await
        .0,
        200
    );
    let registered_seq = nats.last_seq().await;
    assert_eq!(
        form(
            &n,
            reqwest::Method::DELETE,
            "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=80&ephemeral=false",
            &[],
            None
        )
        .await
        .0,
        200
    );
    let (_, then) = json_get(
        n.url(&format!(
            "/nacre/v1/services/at?serviceName=orders&seq={registered_seq}"
        )),
        None,
    )
    .await;
    assert_eq!(then["service"]["instances"][0]["ip"], "10.0.0.1", "{then}");
    let (_, now) = json_get(
        n.url("/nacre/v1/services/at?serviceName=DEFAULT_GROUP@@orders"),
        None,
    )
    .await;
    assert_eq!(now["exists"], false, "{now}");
    let (_, timeline) = json_get(
        n.url("/nacre/v1/timeline?kind=service&serviceName=orders"),
        None,
    )
    .await;
    let types: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "nacre.instance.deregistered.v1",
            "nacre.instance.registered.v1"
        ]
    );

    for (path, what) in [
        ("/nacre/v1/configs/at?group=G", "parameter 'dataId'"),
        (
            "/nacre/v1/configs/at?group=G&dataId=a&time=yesterday",
            "time must be",
        ),
        (
            "/nacre/v1/configs/at?group=G&dataId=a&seq=1&time=1",
            "not both",
        ),
        (
            "/nacre/v1/configs/at?group=G&dataId=a&tenant=nowhere",
            "nowhere",
        ),
        ("/nacre/v1/timeline?kind=secrets&dataId=x", "kind must be"),
    ] {
        let (status, body) = json_get(n.url(path), None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(what),
            "{path}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_and_subscribers_are_gathered_from_every_node() {
    let nats = NatsServer::start();
    let a = Nacre::external(&nats).await;
    let b = Nacre::external(&nats).await;
    publish_in(&a, "", "a.yaml", "x: 1", None).await;
    // Both nodes see each other through NATS presence.
    eventually("two nodes in NATS presence", || async {
        let (_, c) = json_get(a.url("/nacos/v1/core/cluster/nodes"), None).await;
        c["data"].as_array().map_or(0, Vec::len) == 2
    })
    .await;

    // A long-polling client waits on node b with an old md5.
    let probe = "a.yaml\u{2}G\u{2}old-md5\u{1}";
    let poll = tokio::spawn({
        let url = b.url("/nacos/v1/cs/configs/listener");
        async move {
            http()
                .post(url)
                .header("Long-Pulling-Timeout", "30000")
                .form(&[(
                    "Listening-Configs",
                    probe.replace("old-md5", &md5_of("x: 1")),
                )])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    });
    eventually("the listener on node b, seen from node a", || async {
        let (_, l) = json_get(
            a.url("/nacre/v1/configs/listeners?group=G&dataId=a.yaml"),
            None,
        )
        .await;
        l["listeners"].as_array().is_some_and(|v| v.len() == 1)
    })
    .await;
    let (_, l) = json_get(
        a.url("/nacre/v1/configs/listeners?group=G&dataId=a.yaml"),
        None,
    )
    .await;
    assert_eq!(l["complete"], true);
    let listener = &l["listeners"][0];
    assert_eq!(
        (listener["ip"].as_str(), listener["protocol"].as_str()),
        (Some("127.0.0.1"), Some("http"))
    );
    assert_eq!(listener["node"], format!("test-{}", b.port));
    assert_eq!(listener["md5"], md5_of("x: 1"));
    let (status, nacos) = json_get(
        a.url("/nacos/v1/cs/configs/listener?dataId=a.yaml&group=G"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        nacos,
        json!({"collectStatus": 200, "lisentersGroupkeyStatus": {"127.0.0.1": md5_of("x: 1")}})
    );
    // The change answers the poll, and the listener is gone until it polls again.
    publish_in(&a, "", "a.yaml", "x: 2", None).await;
    assert!(poll.await.unwrap().contains("a.yaml"));

    // A 1.x-style client subscribes to UDP pushes through node b.
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = udp.local_addr().unwrap().port().to_string();
    assert_eq!(
        form(
            &b,
            reqwest::Method::POST,
            "/nacos/v1/ns/instance",
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "80")
            ],
            None
        )
        .await
        .0,
        200
    );
    let (status, _) = json_get(
        b.url(&format!(
            "/nacos/v1/ns/instance/list?serviceName=orders&clientIP=127.0.0.1&udpPort={port}"
        )),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, subs) = json_get(
        a.url("/nacos/v1/ns/service/subscribers?serviceName=orders"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{subs}");
    assert_eq!(subs["count"], 1, "{subs}");
    assert_eq!(
        subs["subscribers"][0]["addrStr"],
        format!("127.0.0.1:{port}")
    );
    assert_eq!(subs["subscribers"][0]["agent"], "udp");

    // Each node tells how far it applied the stream.
    let (_, cluster) = json_get(a.url("/nacre/v1/cluster"), None).await;
    let last = nats.last_seq().await;
    for node in cluster["nodes"].as_array().unwrap() {
        assert_eq!(node["answered"], true, "{node}");
        assert!(node["status"]["applied"].as_u64().unwrap() <= last);
    }
    assert_eq!(cluster["stream"]["name"], "NACRE_EVENTS");
    assert_eq!(cluster["stream"]["replicas"], 1);
    assert_eq!(cluster["lastBackup"], Value::Null);

    let (status, _) = json_get(
        a.url("/nacos/v1/ns/service/subscribers?serviceName=nothing"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = json_get(a.url("/nacre/v1/configs/listeners?dataId=a.yaml"), None).await;
    assert_eq!(status, 400, "{body}");
}

fn md5_of(s: &str) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(s.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_counts_instances_and_lists_disabled_ones() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    for (ip, enabled) in [("10.0.0.1", "true"), ("10.0.0.2", "false")] {
        let params = [
            ("serviceName", "orders"),
            ("groupName", "SHOP"),
            ("ip", ip),
            ("port", "80"),
            ("ephemeral", "false"),
            ("enabled", enabled),
        ];
        assert_eq!(
            form(
                &n,
                reqwest::Method::POST,
                "/nacos/v1/ns/instance",
                &params,
                None
            )
            .await
            .0,
            200
        );
    }
    let (_, list) = json_get(
        n.url("/nacos/v1/ns/catalog/services?serviceNameParam=ord"),
        None,
    )
    .await;
    assert_eq!(list["count"], 1);
    let row = &list["serviceList"][0];
    assert_eq!(
        (row["name"].as_str(), row["groupName"].as_str()),
        (Some("orders"), Some("SHOP"))
    );
    assert_eq!(
        (
            row["ipCount"].as_u64(),
            row["healthyInstanceCount"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let (_, none) = json_get(
        n.url("/nacos/v1/ns/catalog/services?serviceNameParam=*.x"),
        None,
    )
    .await;
    assert_eq!(none["count"], 0);
    let (_, instances) = json_get(
        n.url("/nacos/v1/ns/catalog/instances?serviceName=orders&groupName=SHOP"),
        None,
    )
    .await;
    assert_eq!(
        instances["count"], 2,
        "disabled instances are listed too: {instances}"
    );
    let (status, body) = json_get(
        n.url("/nacos/v1/ns/catalog/services?namespaceId=nowhere"),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = json_get(
        n.url("/nacos/v1/ns/catalog/instances?serviceName=none"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_and_the_consul_api_are_served_on_the_http_port() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    for path in ["/", "/nacos/"] {
        let r = http().get(n.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-cache");
        assert!(r.text().await.unwrap().contains("<div id=\"app\">"));
    }
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects.get(n.url("/nacos")).send().await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["location"].to_str().unwrap()
        ),
        (308, "/nacos/")
    );
    let index = http()
        .get(n.url("/nacos/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let script = index
        .split("src=\"./")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a script");
    let r = http()
        .get(n.url(&format!("/nacos/{script}")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let (status, _) = json_get(n.url("/nacos/assets/../Cargo.toml"), None).await;
    assert_eq!(status, 404);
    let (_, info) = json_get(n.url("/nacre/v1/console"), None).await;
    assert_eq!(
        (
            info["authEnabled"].as_bool(),
            info["consul"]["port"].as_u64()
        ),
        (Some(false), Some(n.consul_port as u64))
    );

    // The Consul API on the console's origin is the Consul port's.
    let r = http()
        .put(n.url("/nacre/v1/consul/v1/kv/app/db"))
        .body("jdbc:x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    let raw = http()
        .get(n.consul("/v1/kv/app/db?raw"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(raw, "jdbc:x");
    let r = http()
        .get(n.url("/nacre/v1/consul/v1/kv/app/?keys&separator=/"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("x-consul-index"));
    assert_eq!(r.json::<Value>().await.unwrap(), json!(["app/db"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_show_a_viewer_only_what_it_may_read() {
    const SECRET: &str = "a-console-test-secret-that-is-long-enough-0123456789";
    let nats = NatsServer::start();
    let n = Nacre::external_with(
        &nats,
        &[
            ("NACRE_AUTH_ENABLED", "true"),
            ("NACRE_AUTH_TOKEN_SECRET", SECRET),
            (
                "NACRE_AUTH_CONSUL_MANAGEMENT_TOKEN",
                "consul-management-token",
            ),
        ],
    )
    .await;
    let (status, body) = form(
        &n,
        reqwest::Method::POST,
        "/nacos/v1/auth/users/admin",
        &[("password", "admin-password")],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let admin = token(&n, "nacos", "admin-password").await;
    let admin = Some(admin.as_str());
    create_namespace(&n, "mine", admin).await;
    create_namespace(&n, "other", admin).await;
    let me = reader(&n, admin, "me", "mine-reader", "mine:*:*").await;
    let me = Some(me.as_str());

    // Anonymous callers get nothing at all.
    for path in [
        "/nacre/v1/events/stream",
        "/nacre/v1/events/1",
        "/nacre/v1/configs/at?group=G&dataId=a",
        "/nacre/v1/cluster",
        "/nacre/v1/timeline?kind=config&group=G&dataId=a",
    ] {
        assert_eq!(json_get(n.url(path), None).await.0, 403, "{path}");
    }
    let (_, mine_feed) = Feed::open(n.url("/nacre/v1/events/stream"), me, None).await;
    let mut mine_feed = mine_feed.unwrap();
    let (_, admin_feed) = Feed::open(n.url("/nacre/v1/events/stream"), admin, None).await;
    let mut admin_feed = admin_feed.unwrap();
    publish_in(&n, "other", "secret.yaml", "password: x", admin).await;
    let kv = http()
        .put(n.url("/nacre/v1/consul/v1/kv/k"))
        .header("X-Consul-Token", "consul-management-token")
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(kv.text().await.unwrap(), "true");
    publish_in(&n, "mine", "app.yaml", "port: 1", admin).await;
    // The stream is in order: when `mine`'s event arrives, the others would have come first.
    let seen = mine_feed.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (seen["namespace"].as_str(), seen["name"].as_str()),
        (Some("mine"), Some("app.yaml"))
    );
    let names: Vec<String> = [
        admin_feed.next(Duration::from_secs(5)).await.unwrap(),
        admin_feed.next(Duration::from_secs(5)).await.unwrap(),
        admin_feed.next(Duration::from_secs(5)).await.unwrap(),
    ]
    .iter()
    .map(|e| e["name"].as_str().unwrap().to_owned())
    .collect();
    assert_eq!(
        names,
        ["secret.yaml", "k", "app.yaml"],
        "an admin sees everything"
    );
    // Nor a backlog of other namespaces.
    let (_, backlog) = Feed::open(n.url("/nacre/v1/events/stream?backlog=50"), me, None).await;
    let mut backlog = backlog.unwrap();
    let mut replayed = Vec::new();
    while let Some(e) = backlog.next(Duration::from_millis(700)).await {
        replayed.push(e["namespace"].as_str().unwrap().to_owned());
    }
    assert!(
        replayed.iter().all(|ns| ns == "mine") && !replayed.is_empty(),
        "{replayed:?}"
    );

    // Time travel, timelines and stored events of the other namespace are refused.
    let (_, other_timeline) = json_get(
        n.url("/nacre/v1/timeline?kind=config&namespaceId=other&group=G&dataId=secret.yaml"),
        admin,
    )
    .await;
    let other_seq = other_timeline["items"][0]["seq"].as_u64().unwrap();
    for path in [
        "/nacre/v1/configs/at?namespaceId=other&group=G&dataId=secret.yaml".to_owned(),
        "/nacre/v1/timeline?kind=config&namespaceId=other&group=G&dataId=secret.yaml".to_owned(),
        format!("/nacre/v1/events/{other_seq}"),
        "/nacre/v1/configs/listeners?namespaceId=other&group=G&dataId=secret.yaml".to_owned(),
        "/nacre/v1/events/1".to_owned(),
    ] {
        let (status, body) = json_get(n.url(&path), me).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    let (status, then) = json_get(
        n.url("/nacre/v1/configs/at?namespaceId=mine&group=G&dataId=app.yaml"),
        me,
    )
    .await;
    assert_eq!(
        (status, then["config"]["content"].as_str()),
        (200, Some("port: 1"))
    );
    let (status, _) = json_get(n.url(&format!("/nacre/v1/events/{other_seq}")), admin).await;
    assert_eq!(status, 200);

    // On the Consul mount Consul's ACLs decide: no token reads nothing, the management token all.
    let anonymous = http()
        .get(n.url("/nacre/v1/consul/v1/kv/k"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert!(anonymous == 403 || anonymous == 404, "{anonymous}");
    let managed = http()
        .get(n.url("/nacre/v1/consul/v1/kv/k?raw"))
        .header("X-Consul-Token", "consul-management-token")
        .send()
        .await
        .unwrap();
    assert_eq!(managed.text().await.unwrap(), "v");
    let (_, info) = json_get(n.url("/nacre/v1/console"), None).await;
    assert_eq!(info["authEnabled"], true);

    // The service catalog lists (and counts) only the services a viewer may read.
    for (group, service) in [("OPEN", "shown"), ("SHUT", "hidden")] {
        let (status, body) = form(
            &n,
            reqwest::Method::POST,
            "/nacos/v1/ns/instance",
            &[
                ("namespaceId", "mine"),
                ("groupName", group),
                ("serviceName", service),
                ("ip", "10.0.0.1"),
                ("port", "80"),
                ("ephemeral", "false"),
            ],
            admin,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let opener = reader(&n, admin, "opener", "open-reader", "mine:OPEN:*").await;
    let catalog = "/nacos/v1/ns/catalog/services?namespaceId=mine";
    let (status, seen) = json_get(n.url(catalog), Some(&opener)).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["count"], 1, "{seen}");
    assert_eq!(seen["serviceList"][0]["name"], "shown", "{seen}");
    let (_, all) = json_get(n.url(catalog), admin).await;
    assert_eq!(all["count"], 2, "{all}");
    let hidden =
        "/nacos/v1/ns/catalog/instances?namespaceId=mine&groupName=SHUT&serviceName=hidden";
    assert_eq!(json_get(n.url(hidden), Some(&opener)).await.0, 403);
}

struct Ignore;
impl nacos_sdk::api::config::ConfigChangeListener for Ignore {
    fn notify(&self, _: nacos_sdk::api::config::ConfigResponse) {}
}
impl nacos_sdk::api::naming::NamingEventListener for Ignore {
    fn event(&self, _: std::sync::Arc<nacos_sdk::api::naming::NamingChangeEvent>) {}
}

/// The official Rust SDK listens and subscribes over gRPC on node b; node a lists both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_listeners_and_subscribers_are_seen_from_another_node() {
    use nacos_sdk::api::config::ConfigServiceBuilder;
    use nacos_sdk::api::naming::NamingServiceBuilder;
    use nacos_sdk::api::props::ClientProps;
    let nats = NatsServer::start();
    let a = Nacre::external(&nats).await;
    let b = Nacre::external(&nats).await;
    publish_in(&a, "", "a.yaml", "x: 1", None).await;
    let (status, _) = form(
        &a,
        reqwest::Method::POST,
        "/nacos/v1/ns/instance",
        &[
            ("serviceName", "orders"),
            ("ip", "10.0.0.1"),
            ("port", "80"),
            ("ephemeral", "false"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let cache = tempfile::tempdir().unwrap();
    let props = || {
        ClientProps::new()
            .server_addr(format!("127.0.0.1:{}", b.port))
            .app_name("console-test")
            .env_first(false)
            .naming_push_empty_protection(false)
            .cache_dir(cache.path().to_path_buf())
    };
    let configs = ConfigServiceBuilder::new(props()).build().await.unwrap();
    configs
        .add_listener("a.yaml".into(), "G".into(), std::sync::Arc::new(Ignore))
        .await
        .unwrap();
    let naming = NamingServiceBuilder::new(props()).build().await.unwrap();
    naming
        .subscribe("orders".into(), None, vec![], std::sync::Arc::new(Ignore))
        .await
        .unwrap();
    let b_name = format!("test-{}", b.port);
    eventually("the gRPC listener on node b, seen from node a", || async {
        let (_, l) = json_get(
            a.url("/nacre/v1/configs/listeners?group=G&dataId=a.yaml"),
            None,
        )
        .await;
        l["listeners"].as_array().is_some_and(|v| {
            v.iter().any(|l| {
                l["protocol"] == "grpc"
                    && l["node"] == b_name.as_str()
                    && l["app"] == "console-test"
                    && l["md5"] == md5_of("x: 1")
            })
        })
    })
    .await;
    eventually(
        "the gRPC subscriber on node b, seen from node a",
        || async {
            let (_, s) = json_get(
                a.url("/nacos/v1/ns/service/subscribers?serviceName=orders"),
                None,
            )
            .await;
            s["subscribers"].as_array().is_some_and(|v| {
                v.iter().any(|s| {
                    s["agent"] == "grpc"
                        && s["node"] == b_name.as_str()
                        && s["app"] == "console-test"
                })
            })
        },
    )
    .await;
}

/// A browser's open event stream ends when the node stops, instead of holding up its graceful
/// shutdown for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_event_stream_does_not_hold_up_a_stop() {
    let nats = NatsServer::start();
    let mut n = Nacre::external(&nats).await;
    let (_, feed) = Feed::open(n.url("/nacre/v1/events/stream"), None, None).await;
    let mut feed = feed.unwrap();
    let started = Instant::now();
    tokio::task::block_in_place(|| n.stop());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(feed.next(Duration::from_secs(2)).await.is_none());
}
