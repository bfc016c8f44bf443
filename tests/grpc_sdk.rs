//! The official Rust Nacos SDK (`nacos-sdk`), unmodified, against Nacre's gRPC port; and the
//! protocol edges a raw client reaches (errors, connection ownership). Real nats-server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use nacos_sdk::api::config::{ConfigChangeListener, ConfigResponse, ConfigServiceBuilder};
use nacos_sdk::api::naming::{
    NamingChangeEvent, NamingEventListener, NamingServiceBuilder, ServiceInstance,
};
use nacos_sdk::api::props::ClientProps;
use serde_json::{Value, json};
use tokio::sync::mpsc;

fn props(n: &Nacre, namespace: &str, cache: &std::path::Path) -> ClientProps {
    ClientProps::new()
        .server_addr(format!("127.0.0.1:{}", n.port))
        .namespace(namespace)
        .app_name("acceptance")
        .env_first(false)
        .naming_push_empty_protection(false)
        .cache_dir(cache.to_path_buf())
}

struct Changes(mpsc::UnboundedSender<String>);
impl ConfigChangeListener for Changes {
    fn notify(&self, config: ConfigResponse) {
        let _ = self.0.send(config.content().clone());
    }
}

struct Pushes(mpsc::UnboundedSender<Vec<(String, i32)>>);
impl NamingEventListener for Pushes {
    fn event(&self, event: Arc<NamingChangeEvent>) {
        let mut hosts: Vec<(String, i32)> = event
            .instances
            .iter()
            .flatten()
            .map(|i| (i.ip.clone(), i.port))
            .collect();
        hosts.sort();
        let _ = self.0.send(hosts);
    }
}

/// A naming client (the official SDK) subscribed to `service`, and the pushes it receives.
async fn subscriber(
    n: &Nacre,
    namespace: &str,
    cache: &std::path::Path,
    service: &str,
) -> (
    nacos_sdk::api::naming::NamingService,
    mpsc::UnboundedReceiver<Vec<(String, i32)>>,
) {
    let consumer = NamingServiceBuilder::new(props(n, namespace, cache))
        .build()
        .await
        .unwrap();
    let (tx, pushes) = mpsc::unbounded_channel();
    consumer
        .subscribe(service.into(), None, vec![], Arc::new(Pushes(tx)))
        .await
        .unwrap();
    (consumer, pushes)
}

/// A plain channel to a node's gRPC port.
async fn channel(n: &Nacre) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", n.port + 1000))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn instance(ip: &str, port: i32) -> ServiceInstance {
    ServiceInstance {
        ip: ip.into(),
        port,
        weight: 1.0,
        healthy: true,
        enabled: true,
        ephemeral: true,
        metadata: [("zone".to_string(), "a".to_string())].into(),
        ..Default::default()
    }
}

/// Waits for a value the listener delivers that satisfies `want`.
async fn receive<T: std::fmt::Debug>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    what: &str,
    want: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("listener channel open");
        if want(&got) {
            return got;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rust_sdk_gets_publishes_listens_and_removes_configs() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let cache = tempfile::tempdir().unwrap();
    let configs = ConfigServiceBuilder::new(props(&n, "", cache.path()))
        .build()
        .await
        .unwrap();
    let (group, data_id) = ("DEFAULT_GROUP".to_string(), "app.yaml".to_string());
    assert!(
        configs
            .publish_config(
                data_id.clone(),
                group.clone(),
                "v: 1".into(),
                Some("yaml".into())
            )
            .await
            .unwrap()
    );
    let got = configs
        .get_config(data_id.clone(), group.clone())
        .await
        .unwrap();
    assert_eq!(got.content(), "v: 1");
    assert_eq!(got.content_type(), "yaml");
    // Over HTTP too: one config.
    assert_eq!(
        get_config(&n, "app.yaml", "DEFAULT_GROUP", "").await,
        (200, "v: 1".into())
    );

    let (tx, mut rx) = mpsc::unbounded_channel();
    configs
        .add_listener(data_id.clone(), group.clone(), Arc::new(Changes(tx)))
        .await
        .unwrap();
    // The SDK sends its listen request in the background after add_listener returns (a change
    // before it arrives is reported by its next periodic listen, as with Nacos): wait until the
    // node lists it.
    wait_for_listener(&n, "DEFAULT_GROUP", "app.yaml").await;
    // A change published over HTTP reaches the gRPC listener.
    publish(&n, "app.yaml", "DEFAULT_GROUP", "v: 2").await;
    receive(&mut rx, "the change push", |c| c == "v: 2").await;

    assert!(
        configs
            .remove_config(data_id.clone(), group.clone())
            .await
            .unwrap()
    );
    assert_eq!(get_config(&n, "app.yaml", "DEFAULT_GROUP", "").await.0, 404);
    // (The listening client answers from its cache; a fresh one asks the server.)
    let fresh = ConfigServiceBuilder::new(props(&n, "", cache.path()))
        .build()
        .await
        .unwrap();
    assert!(fresh.get_config(data_id, group).await.is_err(), "removed");

    // A non-public namespace is its own world.
    let created = http()
        .post(n.url("/nacos/v1/console/namespaces"))
        .form(&[("customNamespaceId", "dev"), ("namespaceName", "dev")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let dev = ConfigServiceBuilder::new(props(&n, "dev", cache.path()))
        .build()
        .await
        .unwrap();
    assert!(
        dev.publish_config("only-dev".into(), "G".into(), "dev!".into(), None)
            .await
            .unwrap()
    );
    assert_eq!(
        dev.get_config("only-dev".into(), "G".into())
            .await
            .unwrap()
            .content(),
        "dev!"
    );
    assert_eq!(get_config(&n, "only-dev", "G", "dev").await.1, "dev!");
    assert_eq!(
        get_config(&n, "only-dev", "G", "").await.0,
        404,
        "not in public"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rust_sdk_registers_lists_subscribes_and_sees_deregistrations() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let cache = tempfile::tempdir().unwrap();
    let provider = NamingServiceBuilder::new(props(&n, "", cache.path()))
        .build()
        .await
        .unwrap();
    let (consumer, mut pushes) = subscriber(&n, "public", cache.path(), "orders").await;

    provider
        .batch_register_instance(
            "orders".into(),
            None,
            vec![instance("10.0.0.1", 8080), instance("10.0.0.2", 8080)],
        )
        .await
        .unwrap();
    let listed = provider
        .get_all_instances("orders".into(), None, vec![], false)
        .await
        .unwrap();
    let mut hosts: Vec<(String, i32, bool)> = listed
        .iter()
        .map(|i| (i.ip.clone(), i.port, i.healthy))
        .collect();
    hosts.sort();
    assert_eq!(
        hosts,
        vec![
            ("10.0.0.1".into(), 8080, true),
            ("10.0.0.2".into(), 8080, true)
        ]
    );
    assert_eq!(listed[0].metadata["zone"], "a");
    receive(&mut pushes, "a push with both instances", |h| h.len() == 2).await;

    // Nacos HTTP clients see the same instances.
    let list: Value = http()
        .get(n.url("/nacos/v1/ns/instance/list?serviceName=orders"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["hosts"].as_array().unwrap().len(), 2, "{list}");

    provider
        .deregister_instance("orders".into(), None, instance("10.0.0.2", 8080))
        .await
        .unwrap();
    let left = receive(&mut pushes, "the deregistration push", |h| h.len() == 1).await;
    assert_eq!(left, vec![("10.0.0.1".to_string(), 8080)]);

    let (names, count) = consumer.get_service_list(1, 10, None).await.unwrap();
    assert_eq!((names, count), (vec!["orders".to_string()], 1));
}

// ---- the protocol as a raw client sees it ----

use nacre::nacos::grpc::proto::bi_request_stream_client::BiRequestStreamClient;
use nacre::nacos::grpc::proto::request_client::RequestClient;
use nacre::nacos::grpc::proto::{Metadata, Payload};

fn payload(kind: &str, body: Value) -> Payload {
    Payload {
        metadata: Some(Metadata {
            r#type: kind.into(),
            client_ip: "127.0.0.1".into(),
            headers: Default::default(),
        }),
        body: Some(prost_types::Any {
            type_url: String::new(),
            value: body.to_string().into_bytes(),
        }),
    }
}

fn body_of(p: &Payload) -> (String, Value) {
    (
        p.metadata.as_ref().unwrap().r#type.clone(),
        serde_json::from_slice(&p.body.as_ref().unwrap().value).unwrap(),
    )
}

struct RawClient {
    unary: RequestClient<tonic::transport::Channel>,
    pushes: tonic::Streaming<Payload>,
    _setup: mpsc::Sender<Payload>,
}

/// A connection set up as an SDK does it: the bi-stream first, then the setup request.
async fn raw_client(n: &Nacre) -> RawClient {
    let channel = channel(n).await;
    let mut unary = RequestClient::new(channel.clone());
    let (tx, rx) = mpsc::channel(8);
    let mut stream = BiRequestStreamClient::new(channel);
    tx.send(payload(
        "ConnectionSetupRequest",
        json!({"clientVersion": "raw", "tenant": "", "labels": {"module": "naming"}, "abilityTable": {}, "headers": {}}),
    ))
    .await
    .unwrap();
    let mut pushes = stream
        .request_bi_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let ack = tokio::time::timeout(Duration::from_secs(5), pushes.message())
        .await
        .expect("SetupAck within 5 s")
        .unwrap()
        .unwrap();
    let (kind, body) = body_of(&ack);
    assert_eq!(kind, "SetupAckRequest");
    assert!(
        body["abilityTable"].is_object() && body["headers"].is_object(),
        "{body}"
    );
    // The setup is registered by now: a health check is answered.
    let (kind, _) = body_of(
        &unary
            .request(payload("HealthCheckRequest", json!({})))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(kind, "HealthCheckResponse");
    RawClient {
        unary,
        pushes,
        _setup: tx,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_are_nacos_error_responses() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let channel = channel(&n).await;
    let mut fresh = RequestClient::new(channel);
    // Before setup: ServerCheck works, anything else is UN_REGISTER (clients then reconnect).
    let (kind, check) = body_of(
        &fresh
            .request(payload("ServerCheckRequest", json!({})))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(kind, "ServerCheckResponse");
    assert!(
        check["connectionId"]
            .as_str()
            .unwrap()
            .contains("_127.0.0.1_"),
        "{check}"
    );
    let (kind, early) = body_of(
        &fresh
            .request(payload(
                "ConfigQueryRequest",
                json!({"dataId": "a", "group": "G"}),
            ))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(
        (kind.as_str(), early["errorCode"].as_u64()),
        ("ErrorResponse", Some(301))
    );
    let (_, unknown) = body_of(
        &fresh
            .request(payload("NoSuchRequest", json!({})))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(unknown["errorCode"], 302);

    let mut c = raw_client(&n).await;
    let mut bad = payload("ConfigQueryRequest", json!({}));
    bad.body.as_mut().unwrap().value = b"{not json".to_vec();
    let (kind, undecodable) = body_of(&c.unary.request(bad).await.unwrap().into_inner());
    assert_eq!(
        (kind.as_str(), undecodable["errorCode"].as_u64()),
        ("ErrorResponse", Some(502))
    );
    let (kind, missing) = body_of(
        &c.unary
            .request(payload(
                "ConfigQueryRequest",
                json!({"dataId": "nope", "group": "G", "tenant": null}),
            ))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(kind, "ConfigQueryResponse");
    assert_eq!(
        (
            missing["resultCode"].as_u64(),
            missing["errorCode"].as_u64()
        ),
        (Some(500), Some(300))
    );
    assert!(
        missing.get("tag").is_none() && missing["lastModified"] == 0 && missing["beta"] == false
    );
    let (_, bad_port) = body_of(
        &c.unary
            .request(payload(
                "InstanceRequest",
                json!({"namespace": "public", "serviceName": "s", "groupName": "G", "type": "registerInstance",
                       "instance": {"ip": "1.2.3.4", "port": 70000}}),
            ))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(bad_port["errorCode"], 400);
    let (_, bad_type) = body_of(
        &c.unary
            .request(payload(
                "InstanceRequest",
                json!({"serviceName": "s", "type": "explode", "instance": {"ip": "1.2.3.4", "port": 80}}),
            ))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(bad_type["errorCode"], 400);
    // A publish with a stale casMd5 fails as Nacos says, and changes nothing.
    publish(&n, "cas", "G", "one").await;
    let (_, stale) = body_of(
        &c.unary
            .request(payload(
                "ConfigPublishRequest",
                json!({"dataId": "cas", "group": "G", "tenant": "", "content": "two", "casMd5": "0000"}),
            ))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(stale["errorCode"], 500, "{stale}");
    assert_eq!(get_config(&n, "cas", "G", "").await.1, "one");
    // The connection and the server still serve after all of it.
    let (kind, _) = body_of(
        &c.unary
            .request(payload("HealthCheckRequest", json!({})))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(kind, "HealthCheckResponse");
    drop(c.pushes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_closed_connection_takes_its_instances_and_subscribers_hear_it() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let cache = tempfile::tempdir().unwrap();
    let (_consumer, mut pushes) = subscriber(&n, "", cache.path(), "billing").await;

    let mut c = raw_client(&n).await;
    let register = |port: u16| {
        payload(
            "InstanceRequest",
            json!({"namespace": "public", "serviceName": "billing", "groupName": "DEFAULT_GROUP",
                   "type": "registerInstance", "headers": {},
                   "instance": {"ip": "10.1.1.1", "port": port, "weight": 1.0, "healthy": true,
                                "enabled": true, "ephemeral": true, "clusterName": "DEFAULT", "metadata": {}}}),
        )
    };
    let (kind, done) = body_of(&c.unary.request(register(7001)).await.unwrap().into_inner());
    assert_eq!(
        (kind.as_str(), done["type"].as_str()),
        ("InstanceResponse", Some("registerInstance"))
    );
    receive(&mut pushes, "the registration", |h| {
        h == &vec![("10.1.1.1".to_string(), 7001)]
    })
    .await;
    // A second registration from the same connection replaces the first.
    c.unary.request(register(7002)).await.unwrap();
    receive(&mut pushes, "the replacement", |h| {
        h == &vec![("10.1.1.1".to_string(), 7002)]
    })
    .await;

    drop(c); // the client goes away: its transport closes
    receive(&mut pushes, "the removal push", |h| h.is_empty()).await;
    let list: Value = http()
        .get(n.url("/nacos/v1/ns/instance/list?serviceName=billing"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["hosts"], json!([]), "{list}");
}

/// As Nacos (ServiceSubscribedEvent): a connection's first subscription to a service is pushed
/// the service's instances at once, to that connection only; subscribing again pushes nothing.
/// (The Java SDK's redo after a reconnect re-subscribes and waits for this push.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_subscription_is_pushed_the_service_at_once() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let r = http()
        .post(n.url("/nacos/v1/ns/instance"))
        .query(&[
            ("serviceName", "ledger"),
            ("ip", "10.3.3.3"),
            ("port", "80"),
        ])
        .query(&[("ephemeral", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");
    let mut c = raw_client(&n).await;
    let mut other = raw_client(&n).await;
    let subscribe = || {
        payload(
            "SubscribeServiceRequest",
            json!({"namespace": "public", "serviceName": "ledger", "groupName": "DEFAULT_GROUP",
                   "subscribe": true, "clusters": "", "headers": {}}),
        )
    };
    let (kind, _) = body_of(&c.unary.request(subscribe()).await.unwrap().into_inner());
    assert_eq!(kind, "SubscribeServiceResponse");
    let push = tokio::time::timeout(Duration::from_secs(5), c.pushes.message())
        .await
        .expect("a push of the subscribed service")
        .unwrap()
        .unwrap();
    let (kind, body) = body_of(&push);
    assert_eq!(kind, "NotifySubscriberRequest");
    assert_eq!(body["serviceInfo"]["hosts"][0]["ip"], "10.3.3.3", "{body}");
    assert!(body["headers"].is_object(), "{body}");

    c.unary.request(subscribe()).await.unwrap();
    let again = tokio::time::timeout(Duration::from_millis(500), c.pushes.message()).await;
    assert!(
        again.is_err(),
        "subscribing again pushes nothing: {again:?}"
    );
    let elsewhere = tokio::time::timeout(Duration::from_millis(200), other.pushes.message()).await;
    assert!(
        elsewhere.is_err(),
        "only the subscriber is pushed: {elsewhere:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_tells_its_clients_to_reconnect() {
    let nats = NatsServer::start();
    let mut n = Nacre::external(&nats).await;
    let mut c = raw_client(&n).await;
    // Stopping blocks this thread until the process exits; the push arrives meanwhile.
    let stopping = tokio::task::spawn_blocking(move || {
        n.stop();
        n
    });
    let reset = tokio::time::timeout(Duration::from_secs(10), c.pushes.message())
        .await
        .expect("a push before the node goes")
        .unwrap()
        .expect("the reset, not the end of the stream");
    let (kind, body) = body_of(&reset);
    assert_eq!(kind, "ConnectResetRequest");
    assert!(body["headers"].is_object(), "{body}");
    let ended = tokio::time::timeout(Duration::from_secs(10), c.pushes.message()).await;
    assert!(
        matches!(ended, Ok(Ok(None)) | Ok(Err(_))),
        "the stream ends after the reset"
    );
    stopping.await.unwrap();
}
