//! OpenTelemetry traces: a config change is one trace across nodes — the HTTP request, the
//! JetStream publish, the projection, and a listener's answer on another node — exported over
//! OTLP gRPC by one node and OTLP HTTP by the other to an in-test collector. Real nats-server.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: String,
    kind: i32,
}

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Received>>>);

impl Collector {
    fn take(&self, request: ExportTraceServiceRequest) {
        let mut all = self.0.lock().unwrap();
        for resource in request.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s),
                    ) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    all.push(Received {
                        service: service.clone(),
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        kind: span.kind,
                    });
                }
            }
        }
    }

    fn in_trace(&self, trace_id: &str) -> Vec<Received> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.take(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Starts the collector on two ports: OTLP gRPC and OTLP HTTP (`/v1/traces`, protobuf).
async fn collector() -> (Collector, u16, u16) {
    let collector = Collector::default();
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_port = grpc.local_addr().unwrap().port();
    let service = TraceServiceServer::new(collector.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(grpc))
            .await
    });
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_port = http.local_addr().unwrap().port();
    let sink = collector.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                match ExportTraceServiceRequest::decode(body) {
                    Ok(request) => {
                        sink.take(request);
                        (
                            axum::http::StatusCode::OK,
                            ExportTraceServiceResponse::default().encode_to_vec(),
                        )
                    }
                    Err(_) => (axum::http::StatusCode::BAD_REQUEST, Vec::new()),
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(http, app).await });
    (collector, grpc_port, http_port)
}

fn as_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn otel_env(protocol: &str, endpoint: String, service: &str) -> Vec<(String, String)> {
    vec![
        ("NACRE_OTEL_ENABLED".into(), "true".into()),
        ("NACRE_OTEL_PROTOCOL".into(), protocol.into()),
        ("NACRE_OTEL_ENDPOINT".into(), endpoint),
        ("NACRE_OTEL_SERVICE_NAME".into(), service.into()),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_change_is_one_trace_across_nodes_and_protocols() {
    let (collector, grpc_port, http_port) = collector().await;
    let nats = NatsServer::start();
    let env_a = otel_env("grpc", format!("http://127.0.0.1:{grpc_port}"), "nacre-a");
    let env_b = otel_env(
        "http/protobuf",
        format!("http://127.0.0.1:{http_port}"),
        "nacre-b",
    );
    let a = Nacre::external_with(&nats, &as_refs(&env_a)).await;
    let b = Nacre::external_with(&nats, &as_refs(&env_b)).await;

    // A listener on node B waits for the config to change.
    let listener = {
        let url = b.url("/nacos/v1/cs/configs/listener");
        tokio::spawn(async move {
            http()
                .post(url)
                .header("Long-Pulling-Timeout", "20000")
                .form(&[("Listening-Configs", "traced\u{2}G\u{2}\u{1}")])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    wait_for_listener(&b, "G", "traced").await;

    // The change comes with the caller's own trace, which Nacre continues.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let posted = http()
        .post(a.url("/nacos/v1/cs/configs"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .form(&[("dataId", "traced"), ("group", "G"), ("content", "v1")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let answer = tokio::time::timeout(Duration::from_secs(10), listener)
        .await
        .expect("the listener answered")
        .unwrap();
    assert!(answer.contains("traced"), "{answer}");

    let wanted: [(&str, &str); 4] = [
        ("nacre-a", "POST /nacos/v1/cs/configs"),
        ("nacre-a", "publish "),
        ("", "project"),
        ("nacre-b", "listener notify"),
    ];
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = collector.in_trace(trace_id);
        let found = |(service, prefix): &(&str, &str)| {
            seen.iter().any(|s| {
                s.name.starts_with(prefix) && (service.is_empty() || s.service == *service)
            })
        };
        if wanted.iter().all(found) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names: Vec<(String, String)> = seen
        .iter()
        .map(|s| (s.service.clone(), s.name.clone()))
        .collect();
    for w in &wanted {
        assert!(
            seen.iter()
                .any(|s| s.name.starts_with(w.1) && (w.0.is_empty() || s.service == w.0)),
            "no span {w:?} in the trace; got {names:?}"
        );
    }
    let server = seen
        .iter()
        .find(|s| s.name == "POST /nacos/v1/cs/configs")
        .unwrap();
    assert_eq!(
        server.kind,
        opentelemetry_proto::tonic::trace::v1::span::SpanKind::Server as i32
    );
    let by_service: HashMap<&str, usize> = seen.iter().fold(HashMap::new(), |mut m, s| {
        *m.entry(s.service.as_str()).or_default() += 1;
        m
    });
    assert!(
        by_service.contains_key("nacre-a") && by_service.contains_key("nacre-b"),
        "{by_service:?}"
    );

    // A gRPC request continues the trace its metadata headers name.
    let grpc_trace = "0af7651916cd43dd8448eb211c80319c";
    let mut client = nacre::nacos::grpc::proto::request_client::RequestClient::connect(format!(
        "http://127.0.0.1:{}",
        a.port + 1000
    ))
    .await
    .unwrap();
    let mut payload = nacre::nacos::grpc::wire::payload(
        "ConfigQueryRequest",
        &serde_json::json!({"dataId": "traced", "group": "G", "tenant": ""}),
    );
    if let Some(metadata) = payload.metadata.as_mut() {
        metadata.headers.insert(
            "traceparent".into(),
            format!("00-{grpc_trace}-b7ad6b7169203331-01"),
        );
    }
    client.request(payload).await.unwrap();
    eventually("the gRPC request's span in the caller's trace", || async {
        collector
            .in_trace(grpc_trace)
            .iter()
            .any(|s| s.name == "ConfigQueryRequest" && s.service == "nacre-a")
    })
    .await;
}
