//! Access control that cannot be talked around (DESIGN invariant 9).
//!
//! A user granted namespace `mine` (and group `OPEN` of `public`) attacks every route of every
//! adapter, the way an outsider would: the target spelled every way the parsers accept — in
//! conflict, repeated, split between the query and a form body, in a body without a
//! Content-Type, in a multipart form — and requests whose items straddle namespaces. Nothing
//! from outside the grant may come back (contents, md5s, names never sent, instance addresses),
//! and nothing outside it may change: the event stream is checked afterwards, subject by
//! subject. Real nats-server, real nacre.
//!
//! One file on purpose: the probes are one matrix run against every adapter, so a route or an
//! adapter missing from it shows here.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::grpc::RawClient;
use common::*;
use futures::StreamExt;
use md5::Digest;
use reqwest::Method as M;
use serde_json::{Value, json};

fn md5_hex(s: &str) -> String {
    hex::encode(md5::Md5::digest(s.as_bytes()))
}

/// Where a parameter travels.
#[derive(Clone, Copy, Debug)]
enum Place {
    Query,
    /// An urlencoded body.
    Form,
    /// An urlencoded body sent without any Content-Type.
    BareBody,
    /// A multipart form field.
    Multipart,
}

#[derive(Clone, Debug)]
struct Param {
    place: Place,
    name: &'static str,
    value: String,
}

fn q(name: &'static str, value: &str) -> Param {
    Param {
        place: Place::Query,
        name,
        value: value.to_owned(),
    }
}

fn at(place: Place, name: &'static str, value: &str) -> Param {
    Param {
        place,
        name,
        value: value.to_owned(),
    }
}

/// Sends `params` where each says, with a Bearer token.
async fn send(method: M, url: &str, token: &str, params: &[Param]) -> (u16, String) {
    let query: Vec<(&str, &str)> = params
        .iter()
        .filter(|p| matches!(p.place, Place::Query))
        .map(|p| (p.name, p.value.as_str()))
        .collect();
    let in_body = |place: fn(&Place) -> bool| -> Vec<(&str, &str)> {
        params
            .iter()
            .filter(|p| place(&p.place))
            .map(|p| (p.name, p.value.as_str()))
            .collect()
    };
    let form = in_body(|p| matches!(p, Place::Form));
    let bare = in_body(|p| matches!(p, Place::BareBody));
    let multipart = in_body(|p| matches!(p, Place::Multipart));
    let mut request = http().request(method, url).query(&query).bearer_auth(token);
    if !form.is_empty() {
        request = request.form(&form);
    } else if !bare.is_empty() {
        request = request.body(serde_urlencoded::to_string(&bare).unwrap());
    } else if !multipart.is_empty() {
        let mut parts = reqwest::multipart::Form::new();
        for (k, v) in multipart {
            parts = parts.text(k.to_owned(), v.to_owned());
        }
        request = request.multipart(parts);
    }
    let mut r = request.send().await.unwrap();
    let status = r.status().as_u16();
    // A stream (the console's event feed) never ends: what it sends at once is its answer.
    let mut body = Vec::new();
    while let Ok(chunk) = tokio::time::timeout(Duration::from_millis(500), r.chunk()).await {
        match chunk.unwrap() {
            Some(bytes) => body.extend_from_slice(&bytes),
            None => break,
        }
    }
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn admin_form(n: &Nacre, method: M, path: &str, token: &str, params: &[(&str, &str)]) {
    let r = http()
        .request(method.clone(), n.url(path))
        .bearer_auth(token)
        .form(params)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert!(status.is_success(), "{method} {path} {params:?}: {body}");
}

/// How many events each subject under `filter` holds.
async fn subject_counts(nats: &NatsServer, filter: &str) -> BTreeMap<String, usize> {
    let js = async_nats::jetstream::new(nats.client().await);
    let stream = js.get_stream("NACRE_EVENTS").await.unwrap();
    let mut subjects = stream.info_with_subjects(filter).await.unwrap();
    let mut out = BTreeMap::new();
    while let Some(entry) = subjects.next().await {
        let (subject, count) = entry.unwrap();
        out.insert(subject, count);
    }
    out
}

/// What the attacker must never see, and the ids it aims at.
struct Victim {
    /// Strings no answer to the attacker may contain: they are nowhere in its requests.
    markers: Vec<String>,
    /// A history row (sequence) of victim's `secret`.
    nid: String,
    /// The config id of victim's `secret`.
    id: String,
    /// The config id of mine's `secret`.
    mine_id: String,
    /// The Consul secret of a token that may only use `mine/` keys and `mine-` services.
    consul_token: String,
    /// A session of the victim (Consul).
    session: String,
}

/// An admin, namespaces `mine` and `victim`, a user `dev` with `mine:*:*` and `public:OPEN:*`,
/// and data on both sides of the grant, with the same names where a name is guessable.
async fn world(n: &Nacre) -> (String, String, Victim) {
    let u = uuid::Uuid::new_v4().simple().to_string();
    let r = http()
        .post(n.url("/nacos/v1/auth/users/admin"))
        .form(&[("password", "admin-password")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let admin = token(n, "nacos", "admin-password").await;
    let post = |path: &'static str, params: Vec<(&'static str, String)>| {
        let admin = admin.clone();
        async move {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            admin_form(n, M::POST, path, &admin, &params).await
        }
    };
    let victim_name = format!("Victim Team {u}");
    post(
        "/nacos/v1/console/namespaces",
        vec![
            ("customNamespaceId", "mine".into()),
            ("namespaceName", "mine".into()),
        ],
    )
    .await;
    post(
        "/nacos/v1/console/namespaces",
        vec![
            ("customNamespaceId", "victim".into()),
            ("namespaceName", victim_name.clone()),
        ],
    )
    .await;
    post(
        "/nacos/v1/auth/users",
        vec![
            ("username", "dev".into()),
            ("password", "dev-password".into()),
        ],
    )
    .await;
    post(
        "/nacos/v1/auth/roles",
        vec![("role", "devs".into()), ("username", "dev".into())],
    )
    .await;
    for resource in ["mine:*:*", "public:OPEN:*"] {
        post(
            "/nacos/v1/auth/permissions",
            vec![
                ("role", "devs".into()),
                ("resource", resource.into()),
                ("action", "rw".into()),
            ],
        )
        .await;
    }
    let config = |ns: &'static str, group: &'static str, data_id: String, content: String| {
        post(
            "/nacos/v2/cs/config",
            vec![
                ("namespaceId", ns.into()),
                ("group", group.into()),
                ("dataId", data_id),
                ("content", content),
            ],
        )
    };
    let instance = |ns: &'static str, group: &'static str, service: String, ip: &'static str| {
        post(
            "/nacos/v2/ns/instance",
            vec![
                ("namespaceId", ns.into()),
                ("groupName", group.into()),
                ("serviceName", service),
                ("ip", ip.into()),
                ("port", "6666".into()),
                ("ephemeral", "false".into()),
                ("metadata", format!("{{\"marker\":\"meta-{u}\"}}")),
            ],
        )
    };
    let old = format!("victim-old-{u}");
    let current = format!("victim-content-{u}");
    config("victim", "DEFAULT_GROUP", "secret".into(), old.clone()).await;
    config("victim", "DEFAULT_GROUP", "secret".into(), current.clone()).await;
    config("victim", "DEFAULT_GROUP", format!("hidden-{u}"), "x".into()).await;
    let group_secret = format!("group-secret-{u}");
    config("public", "SECRET", "gsecret".into(), group_secret.clone()).await;
    config("public", "SECRET", format!("ghidden-{u}"), "x".into()).await;
    // The same guessable names where the grant reaches, with contents that are no secret.
    config(
        "mine",
        "DEFAULT_GROUP",
        "secret".into(),
        "mine-content".into(),
    )
    .await;
    config("public", "OPEN", "gsecret".into(), "open-content".into()).await;
    let d = "DEFAULT_GROUP";
    instance("victim", d, "victim-svc".into(), "10.66.66.66").await;
    instance("victim", d, format!("hidden-svc-{u}"), "10.66.66.67").await;
    instance("public", "SECRET", "shadow".into(), "10.77.77.77").await;
    instance(
        "public",
        "SECRET",
        format!("ghidden-svc-{u}"),
        "10.77.77.78",
    )
    .await;
    instance("mine", d, "victim-svc".into(), "10.1.1.1").await;
    instance("public", "OPEN", "shadow".into(), "10.1.1.2").await;

    let rows: Value = http()
        .get(n.url("/nacos/v2/cs/history/list"))
        .bearer_auth(&admin)
        .query(&[
            ("namespaceId", "victim"),
            ("dataId", "secret"),
            ("group", "DEFAULT_GROUP"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nid = rows["data"]["pageItems"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id_of = |ns: &'static str| {
        let admin = admin.clone();
        async move {
            let detail: Value = http()
                .get(n.url("/nacos/v1/cs/configs"))
                .bearer_auth(&admin)
                .query(&[
                    ("tenant", ns),
                    ("dataId", "secret"),
                    ("group", "DEFAULT_GROUP"),
                    ("show", "all"),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            detail["id"].as_str().unwrap().to_owned()
        }
    };
    let id = id_of("victim").await;
    let mine_id = id_of("mine").await;

    // Consul: the victim's keys, service and session; a token for `mine/` and `mine-` only.
    let consul_value = format!("consul-victim-{u}");
    for (key, value) in [
        ("victim/secret".to_owned(), consul_value.clone()),
        (format!("victim/khidden-{u}"), "x".to_owned()),
        ("mine/a".to_owned(), "mine".to_owned()),
    ] {
        let r = http()
            .put(n.consul(&format!("/v1/kv/{key}")))
            .header("X-Consul-Token", CONSUL_MANAGEMENT_TOKEN)
            .body(value)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    for (name, address, notes) in [
        (
            format!("victim-csvc-{u}"),
            "10.88.88.88",
            format!("notes-{u}"),
        ),
        ("mine-svc".to_owned(), "10.1.1.3", "mine".to_owned()),
    ] {
        let r = http()
            .put(n.consul("/v1/agent/service/register"))
            .header("X-Consul-Token", CONSUL_MANAGEMENT_TOKEN)
            .json(
                &json!({"Name": name, "ID": name, "Address": address, "Port": 80,
                "Check": {"TTL": "60s", "Notes": notes}}),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    let session: Value = http()
        .put(n.consul("/v1/session/create"))
        .header("X-Consul-Token", CONSUL_MANAGEMENT_TOKEN)
        .json(&json!({"Name": format!("session-{u}"), "TTL": "60s"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = session["ID"].as_str().unwrap().to_owned();
    let lock = http()
        .put(n.consul(&format!("/v1/kv/victim/lock?acquire={session}")))
        .header("X-Consul-Token", CONSUL_MANAGEMENT_TOKEN)
        .body(format!("lock-{u}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lock.text().await.unwrap().trim(), "true");
    let policy: Value = http()
        .put(n.consul("/v1/acl/policy"))
        .header("X-Consul-Token", CONSUL_MANAGEMENT_TOKEN)
        .json(&json!({"Name": "mine-only", "Rules":
            r#"key_prefix "mine/" { policy = "write" } service_prefix "mine-" { policy = "write" } node_prefix "" { policy = "read" } session_prefix "mine-" { policy = "write" } agent_prefix "" { policy = "read" }"#}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token: Value = http()
        .put(n.consul("/v1/acl/token"))
        .header("X-Consul-Token", CONSUL_MANAGEMENT_TOKEN)
        .json(&json!({"Policies": [{"ID": policy["ID"]}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let consul_token = token["SecretID"].as_str().unwrap().to_owned();

    let dev = common::token(n, "dev", "dev-password").await;
    let markers = vec![
        current.clone(),
        md5_hex(&current),
        old.clone(),
        md5_hex(&old),
        format!("hidden-{u}"),
        group_secret.clone(),
        md5_hex(&group_secret),
        format!("ghidden-{u}"),
        victim_name,
        "10.66.66.6".into(),
        "10.77.77.7".into(),
        format!("hidden-svc-{u}"),
        format!("meta-{u}"),
        // Consul: the value (plain and base64), names never asked for, notes, the lock.
        consul_value.clone(),
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &consul_value),
        format!("khidden-{u}"),
        format!("victim-csvc-{u}"),
        "10.88.88.88".into(),
        format!("notes-{u}"),
        format!("session-{u}"),
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("lock-{u}"),
        ),
    ];
    (
        admin,
        dev,
        Victim {
            markers,
            nid,
            id,
            mine_id,
            consul_token,
            session,
        },
    )
}

fn leaked<'a>(body: &str, markers: &'a [String]) -> Option<&'a String> {
    markers.iter().find(|m| body.contains(m.as_str()))
}

/// A route pattern made concrete: every `{param}` and `{*rest}` becomes `value`.
fn concrete(pattern: &str, value: &str) -> String {
    pattern
        .split('/')
        .map(|part| if part.starts_with('{') { value } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every way of naming `victim` beside `mine` that the parsers accept.
fn namespace_attacks() -> Vec<(String, Vec<Param>)> {
    let names = ["namespaceId", "tenant", "namespace"];
    let mut out = Vec::new();
    for a in names {
        for b in names {
            if a != b {
                out.push((
                    format!("{a}=mine&{b}=victim"),
                    vec![q(a, "mine"), q(b, "victim")],
                ));
            }
        }
        out.push((format!("{a} twice"), vec![q(a, "mine"), q(a, "victim")]));
        out.push((
            format!("{a}=mine in the query, victim in the form"),
            vec![q(a, "mine"), at(Place::Form, a, "victim")],
        ));
        out.push((
            format!("{a}=mine in the query, victim in a body without Content-Type"),
            vec![q(a, "mine"), at(Place::BareBody, a, "victim")],
        ));
        out.push((
            format!("{a}=mine in the query, victim in a multipart field"),
            vec![q(a, "mine"), at(Place::Multipart, a, "victim")],
        ));
        out.push((format!("{a}=victim"), vec![q(a, "victim")]));
        out.push((
            format!("{a}=victim in a body without Content-Type"),
            vec![at(Place::BareBody, a, "victim")],
        ));
    }
    out.push((
        "namespaceId= (public) and tenant=victim".into(),
        vec![q("namespaceId", ""), q("tenant", "victim")],
    ));
    out
}

/// Every way of naming group SECRET of `public` beside OPEN.
fn group_attacks() -> Vec<(String, Vec<Param>)> {
    vec![
        (
            "group=OPEN&groupName=SECRET".into(),
            vec![q("group", "OPEN"), q("groupName", "SECRET")],
        ),
        (
            "groupName=OPEN&group=SECRET".into(),
            vec![q("groupName", "OPEN"), q("group", "SECRET")],
        ),
        (
            "group=OPEN in the query, SECRET in the form".into(),
            vec![q("group", "OPEN"), at(Place::Form, "group", "SECRET")],
        ),
        (
            "serviceName=SECRET@@shadow with groupName=OPEN".into(),
            vec![q("serviceName", "SECRET@@shadow"), q("groupName", "OPEN")],
        ),
        (
            "group=SECRET".into(),
            vec![
                q("group", "SECRET"),
                q("groupName", "SECRET"),
                q("serviceName", "SECRET@@shadow"),
            ],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_of_a_request_reaches_outside_the_grant() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &auth_env(&[])).await;
    let (admin, dev, v) = world(&n).await;
    let before = subject_counts(&nats, "nacre.evt.>").await;

    // The rest of each request: every target part named, aimed at the victim's things.
    let probe = "secret\u{2}DEFAULT_GROUP\u{2}wrong-md5\u{2}victim\u{1}".to_owned();
    let gprobe = "gsecret\u{2}SECRET\u{2}wrong-md5\u{1}".to_owned();
    let rest = |group_attack: bool| -> Vec<Param> {
        let mut p = vec![
            q("ip", "10.9.9.9"),
            q("port", "9999"),
            q("content", "ATTACK"),
            q("nid", &v.nid),
            q("id", &v.id),
            q("ids", &v.id),
            q("search", "accurate"),
            q("show", "all"),
            q("pageSize", "500"),
            // the event feed replays what it holds
            q("backlog", "1000"),
        ];
        if group_attack {
            p.extend([q("dataId", "gsecret"), q("Listening-Configs", &gprobe)]);
        } else {
            p.extend([
                q("dataId", "secret"),
                q("group", "DEFAULT_GROUP"),
                q("serviceName", "victim-svc"),
                q("Listening-Configs", &probe),
            ]);
        }
        p
    };
    let mut sent = 0;
    let mut served_methods: BTreeMap<&str, Vec<M>> = BTreeMap::new();
    let routes: Vec<(&'static str, nacre::nacos::guard::Rule)> = nacre::nacos::routes()
        .into_iter()
        .map(|r| (r.path, r.rule))
        .chain(
            nacre::packages::routes()
                .into_iter()
                .map(|r| (r.path, r.rule)),
        )
        .collect();
    for (path, rule) in &routes {
        let url = n.url(&concrete(path, "x"));
        for method in [M::GET, M::POST, M::PUT, M::DELETE] {
            // Which methods the route serves: the admin is never refused, so 405 means none.
            let (status, _) = send(
                method.clone(),
                &url,
                &admin,
                &[q("dataId", "probe"), q("group", "G")],
            )
            .await;
            if status == 405 {
                continue;
            }
            served_methods.entry(path).or_default().push(method.clone());
            let attacks = namespace_attacks()
                .into_iter()
                .map(|(what, p)| (what, p, false))
                .chain(group_attacks().into_iter().map(|(what, p)| (what, p, true)));
            for (what, mut params, group_attack) in attacks {
                params.extend(rest(group_attack));
                let (status, body) = send(method.clone(), &url, &dev, &params).await;
                sent += 1;
                let context = format!("{method} {path} [{what}] → {status}");
                if let Some(m) = leaked(&body, &v.markers) {
                    panic!("{context} leaked {m:?}: {body}");
                }
                // Every namespace attack names the victim somewhere, so no write may pass. A
                // group attack may name a config or service inside the grant (serviceName does
                // not name a config): the store check below judges those.
                let writes = method != M::GET;
                let open = matches!(
                    rule,
                    nacre::nacos::guard::Rule::Open | nacre::nacos::guard::Rule::Delegated
                );
                if writes && !open && !group_attack {
                    assert!(
                        status == 400 || status == 403,
                        "{context}: a write outside the grant must be refused: {body}"
                    );
                }
            }
        }
    }
    assert!(sent > 2000, "only {sent} attacks were sent");
    assert!(served_methods.len() > 70, "{served_methods:?}");

    // Requests whose items straddle the grant are refused whole.
    let (status, body) = send(
        M::DELETE,
        &n.url("/nacos/v1/cs/configs"),
        &dev,
        &[
            q("delType", "ids"),
            q("ids", &format!("{},{}", v.mine_id, v.id)),
        ],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let import = json!([
        {"Key": "mine/DEFAULT_GROUP/straddle", "Value": "eA=="},
        {"Key": "victim/DEFAULT_GROUP/straddle", "Value": "eA=="}
    ]);
    let r = http()
        .put(n.url("/v1/kv/import"))
        .bearer_auth(&dev)
        .body(import.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    let zip = zip_of(&[("DEFAULT_GROUP/straddle", "x")]);
    for form_namespace in ["victim", ""] {
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(zip.clone()).file_name("import.zip"),
        );
        if !form_namespace.is_empty() {
            form = form.text("namespaceId", form_namespace);
        }
        let query: &[(&str, &str)] = if form_namespace.is_empty() {
            &[("namespaceId", "victim")]
        } else {
            &[("namespaceId", "mine")]
        };
        let r = http()
            .post(n.url("/nacos/v3/console/cs/config/import"))
            .bearer_auth(&dev)
            .query(query)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(
            status == 400 || status == 403,
            "{status} {}",
            r.text().await.unwrap()
        );
    }

    // gRPC: the same parser; conflicts and straddling batches refused.
    let mut grpc = RawClient::connect(&n).await;
    let attacks = [
        (
            "ConfigQueryRequest",
            json!({"dataId": "secret", "group": "DEFAULT_GROUP", "tenant": "mine", "namespace": "victim"}),
        ),
        (
            "ConfigQueryRequest",
            json!({"dataId": "secret", "group": "DEFAULT_GROUP", "tenant": "victim"}),
        ),
        (
            "ConfigQueryRequest",
            json!({"dataId": "gsecret", "group": "OPEN", "groupName": "SECRET"}),
        ),
        (
            "ConfigPublishRequest",
            json!({"dataId": "x", "group": "DEFAULT_GROUP", "tenant": "mine", "namespaceId": "victim", "content": "ATTACK"}),
        ),
        (
            "ConfigRemoveRequest",
            json!({"dataId": "secret", "group": "DEFAULT_GROUP", "tenant": "victim"}),
        ),
        (
            "ConfigBatchListenRequest",
            json!({"listen": true, "configListenContexts": [
            {"dataId": "secret", "group": "DEFAULT_GROUP", "tenant": "mine", "md5": "x"},
            {"dataId": "secret", "group": "DEFAULT_GROUP", "tenant": "victim", "md5": "x"}]}),
        ),
        (
            "ServiceQueryRequest",
            json!({"namespace": "victim", "serviceName": "victim-svc", "groupName": "DEFAULT_GROUP"}),
        ),
        (
            "ServiceQueryRequest",
            json!({"namespace": "public", "serviceName": "SECRET@@shadow", "groupName": "OPEN"}),
        ),
        (
            "SubscribeServiceRequest",
            json!({"namespace": "mine", "tenant": "victim", "serviceName": "victim-svc"}),
        ),
        (
            "InstanceRequest",
            json!({"namespace": "victim", "serviceName": "victim-svc", "type": "registerInstance",
            "instance": {"ip": "10.9.9.9", "port": 9999}}),
        ),
        (
            "PersistentInstanceRequest",
            json!({"namespace": "public", "serviceName": "SECRET@@shadow", "groupName": "OPEN", "type": "registerInstance",
            "instance": {"ip": "10.9.9.9", "port": 9999}}),
        ),
        (
            "BatchInstanceRequest",
            json!({"namespace": "victim", "serviceName": "victim-svc", "type": "batchRegisterInstance",
            "instances": [{"ip": "10.9.9.9", "port": 9999}]}),
        ),
        (
            "ServiceListRequest",
            json!({"namespace": "victim", "pageNo": 1, "pageSize": 100}),
        ),
    ];
    for (kind, body) in attacks {
        let (answer, reply) = grpc.ask(kind, body.clone(), Some(&dev)).await;
        let code = reply["errorCode"].as_u64();
        assert!(
            code == Some(400) || code == Some(403),
            "{kind} {body}: {answer} {reply}"
        );
        if let Some(m) = leaked(&reply.to_string(), &v.markers) {
            panic!("{kind} leaked {m}: {reply}");
        }
    }
    // Lists inside the grant show nothing outside it.
    let (_, listed) = grpc
        .ask(
            "ServiceListRequest",
            json!({"namespace": "public", "pageNo": 1, "pageSize": 100}),
            Some(&dev),
        )
        .await;
    assert_eq!(
        listed["serviceNames"],
        json!(["shadow"]),
        "only OPEN's: {listed}"
    );

    // Nothing outside the grant changed: every subject that moved is inside it.
    let after = subject_counts(&nats, "nacre.evt.>").await;
    for (subject, count) in &after {
        if before.get(subject) != Some(count) {
            assert!(
                [".mine.", ".public.OPEN."]
                    .iter()
                    .any(|inside| subject.contains(inside)),
                "{subject} changed: {:?} → {count}",
                before.get(subject)
            );
        }
    }
    // And the victim's config reads as it did, for its owner.
    let (status, body) = send(
        M::GET,
        &n.url("/nacos/v1/cs/configs"),
        &admin,
        &[
            q("tenant", "victim"),
            q("dataId", "secret"),
            q("group", "DEFAULT_GROUP"),
        ],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, v.markers[0].as_str()));
}

/// Consul filters what a token may not read; a read handler that forgets its filter fails here,
/// because the victim's data is looked for in every answer (an empty or 404 answer is not
/// enough to pass: the routes are also read with the management token, which must see it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_reads_answer_nothing_outside_the_token_policy() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &auth_env(&[])).await;
    let (_, _, v) = world(&n).await;
    let mut seen_by_management = 0;
    for route in nacre::consul::routes() {
        let path = route.0;
        for value in ["victim", "victim/secret", &v.session, "victim-csvc", ""] {
            let url = n.consul(&concrete(path, value));
            for query in ["", "?recurse", "?keys"] {
                let url = format!("{url}{query}");
                let get = |token: &str| {
                    let request = http().get(&url).header("X-Consul-Token", token);
                    async move {
                        let r = request.send().await.unwrap();
                        (r.status().as_u16(), r.text().await.unwrap())
                    }
                };
                let (status, body) = get(&v.consul_token).await;
                if status == 405 {
                    break;
                }
                if let Some(m) = leaked(&body, &v.markers) {
                    panic!("GET {url} → {status} leaked {m:?}: {body}");
                }
                let (_, full) = get(CONSUL_MANAGEMENT_TOKEN).await;
                if leaked(&full, &v.markers).is_some() {
                    seen_by_management += 1;
                }
            }
        }
    }
    assert!(
        seen_by_management > 10,
        "the management token must see the victim's data on many routes ({seen_by_management})"
    );
}

fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A history row's srcUser and srcIp for a config (read as the admin).
async fn last_change(n: &Nacre, admin: &str, ns: &str, data_id: &str) -> (String, String) {
    let rows: Value = http()
        .get(n.url("/nacos/v2/cs/history/list"))
        .bearer_auth(admin)
        .query(&[
            ("namespaceId", ns),
            ("dataId", data_id),
            ("group", "DEFAULT_GROUP"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = &rows["data"]["pageItems"][0];
    (
        row["srcUser"].as_str().unwrap_or_default().to_owned(),
        row["srcIp"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let nats = NatsServer::start();
    let direct = Nacre::external_with(&nats, &auth_env(&[])).await;
    let (admin, _, _) = world(&direct).await;
    let mut env = auth_env(&[]);
    env.push(("NACRE_SERVER_TRUSTED_PROXIES", "127.0.0.0/8"));
    let proxied = Nacre::external_with(&nats, &env).await;
    for (n, expected_ip) in [(&direct, "127.0.0.1"), (&proxied, "6.6.6.6")] {
        let r = http()
            .post(n.url("/nacos/v2/cs/config"))
            .bearer_auth(&admin)
            .header("X-Forwarded-For", "6.6.6.6")
            .form(&[
                ("namespaceId", "mine"),
                ("dataId", "xff"),
                ("group", "DEFAULT_GROUP"),
                ("content", "x"),
                ("srcUser", "forged"),
            ])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        assert_eq!(
            last_change(n, &admin, "mine", "xff").await,
            ("nacos".to_owned(), expected_ip.to_owned()),
            "the actor is the token's user; the address is the peer unless it is a trusted proxy"
        );
    }
    // The login throttle counts the real source: a forged X-Forwarded-For does not reset it.
    let attempt = |n: &Nacre, xff: &'static str| {
        let request = http()
            .post(n.url("/nacos/v1/auth/login"))
            .header("X-Forwarded-For", xff)
            .form(&[("username", "dev"), ("password", "wrong-password")]);
        async move {
            let r = request.send().await.unwrap();
            r.text().await.unwrap()
        }
    };
    for _ in 0..5 {
        attempt(&direct, "1.1.1.1").await;
    }
    assert!(
        attempt(&direct, "2.2.2.2")
            .await
            .contains("too many failed logins")
    );
    // Behind a trusted proxy, each client is its own source.
    for _ in 0..5 {
        attempt(&proxied, "1.1.1.1").await;
    }
    assert!(
        attempt(&proxied, "1.1.1.1")
            .await
            .contains("too many failed logins")
    );
    assert!(
        !attempt(&proxied, "2.2.2.2")
            .await
            .contains("too many failed logins")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_costs_a_login_as_much_as_a_wrong_password() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &auth_env(&[])).await;
    world(&n).await;
    let time = |user: String| {
        let request = http()
            .post(n.url("/nacos/v1/auth/login"))
            .form(&[("username", user.as_str()), ("password", "wrong-password")]);
        async move {
            let started = std::time::Instant::now();
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 403);
            started.elapsed()
        }
    };
    // Four tries each (the throttle allows five a minute per user and source).
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..4 {
        wrong.push(time("dev".into()).await);
        unknown.push(time(format!("nobody-{i}")).await);
    }
    wrong.sort();
    unknown.sort();
    // bcrypt (~50 ms at cost 10) dominates both; without the dummy check an unknown user is
    // answered in well under a millisecond.
    assert!(
        unknown[1] * 3 > wrong[1],
        "unknown users answer in {unknown:?}, wrong passwords in {wrong:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_record_the_authenticated_user_never_a_header() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &auth_env(&[])).await;
    let (admin, dev, _) = world(&n).await;
    // A package uploader is the token's user, whatever a header claims.
    let r = http()
        .put(n.url("/nacre/v1/packages/linux/agent/1.0/a.bin"))
        .bearer_auth(&admin)
        .header("x-nacre-user", "mallory")
        .body(vec![7u8; 64])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let info: Value = http()
        .get(n.url("/nacre/v1/packages/linux/agent/1.0/a.bin/info"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["uploader"], "nacos@127.0.0.1", "{info}");
    // An import lands in the namespace its multipart form names, as its user from its address.
    let form = reqwest::multipart::Form::new()
        .text("namespaceId", "mine")
        .text("policy", "OVERWRITE")
        .part(
            "file",
            reqwest::multipart::Part::bytes(zip_of(&[("DEFAULT_GROUP/imported", "v1")]))
                .file_name("import.zip"),
        );
    let r = http()
        .post(n.url("/nacos/v3/console/cs/config/import"))
        .bearer_auth(&dev)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["data"]["successCount"], 1, "{report}");
    assert_eq!(
        last_change(&n, &admin, "mine", "imported").await,
        ("dev".to_owned(), "127.0.0.1".to_owned())
    );
    let (status, _) = send(
        M::GET,
        &n.url("/nacos/v1/cs/configs"),
        &admin,
        &[q("dataId", "imported"), q("group", "DEFAULT_GROUP")],
    )
    .await;
    assert_eq!(status, 404, "nothing landed in public");
    // A rollback, too, is the caller's change.
    let rows: Value = http()
        .get(n.url("/nacos/v2/cs/history/list"))
        .bearer_auth(&dev)
        .query(&[
            ("namespaceId", "mine"),
            ("dataId", "imported"),
            ("group", "DEFAULT_GROUP"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nid = rows["data"]["pageItems"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = send(
        M::POST,
        &n.url("/nacos/v1/cs/history/rollback"),
        &dev,
        &[q("nid", &nid)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (user, _) = last_change(&n, &admin, "mine", "imported").await;
    assert_eq!(user, "dev");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_that_would_inflate_past_the_bounds_write_nothing() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &auth_env(&[])).await;
    let (admin, _, _) = world(&n).await;
    let before = nats.last_seq().await;
    let bomb = "0".repeat(5 * 1024 * 1024);
    let many: Vec<(String, String)> = (0..20_001)
        .map(|i| (format!("DEFAULT_GROUP/c{i}"), String::new()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    for (what, zip) in [
        (
            "one entry inflating to 5 MiB",
            zip_of(&[("DEFAULT_GROUP/ok", "fine"), ("DEFAULT_GROUP/bomb", &bomb)]),
        ),
        ("20,001 entries", zip_of(&many)),
    ] {
        assert!(
            zip.len() < 10 * 1024 * 1024,
            "{what} fits in a request: {}",
            zip.len()
        );
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(zip).file_name("import.zip"),
        );
        let r = http()
            .post(n.url("/nacos/v3/console/cs/config/import"))
            .bearer_auth(&admin)
            .query(&[("namespaceId", "mine")])
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains("import"), "{what}: a clear reason: {body}");
    }
    assert_eq!(nats.last_seq().await, before, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_pushes_go_to_the_address_the_request_came_from() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    // The client claims another address: pushes still come back to the one it asked from.
    let r = http()
        .get(n.url("/nacos/v1/ns/instance/list"))
        .query(&[
            ("serviceName", "udp"),
            ("clientIP", "10.9.9.9"),
            ("udpPort", port.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = http()
        .post(n.url("/nacos/v1/ns/instance"))
        .query(&[("serviceName", "udp"), ("ip", "10.0.0.1"), ("port", "80")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let mut buffer = vec![0u8; 65536];
    let (len, from) = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        socket.recv_from(&mut buffer),
    )
    .await
    .expect("a push to the requesting address")
    .unwrap();
    assert!(len > 0 && from.ip().is_loopback());
}
