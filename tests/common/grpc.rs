//! A raw Nacos gRPC client: the protocol as an SDK speaks it, with nothing hidden.
#![allow(dead_code)]

use std::time::Duration;

use nacre::nacos::grpc::proto::bi_request_stream_client::BiRequestStreamClient;
use nacre::nacos::grpc::proto::request_client::RequestClient;
use nacre::nacos::grpc::proto::{Metadata, Payload};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Nacre;

pub fn payload(kind: &str, body: Value) -> Payload {
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

/// A payload's type and JSON body.
pub fn body_of(p: &Payload) -> (String, Value) {
    (
        p.metadata
            .as_ref()
            .map(|m| m.r#type.clone())
            .unwrap_or_default(),
        p.body
            .as_ref()
            .and_then(|b| serde_json::from_slice(&b.value).ok())
            .unwrap_or(Value::Null),
    )
}

pub async fn channel(n: &Nacre) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", n.port + 1000))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

pub struct RawClient {
    pub unary: RequestClient<tonic::transport::Channel>,
    pub pushes: tonic::Streaming<Payload>,
    _setup: mpsc::Sender<Payload>,
}

impl RawClient {
    /// A connection set up as an SDK does it: the bi-stream first, then the setup request,
    /// answered with SetupAck; a health check proves the setup is registered.
    pub async fn connect(n: &Nacre) -> Self {
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
        assert_eq!(body_of(&ack).0, "SetupAckRequest");
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

    /// Sends one request (with `accessToken` when given) and returns the answer's type and body.
    pub async fn ask(&mut self, kind: &str, body: Value, token: Option<&str>) -> (String, Value) {
        let mut p = payload(kind, body);
        if let (Some(t), Some(m)) = (token, p.metadata.as_mut()) {
            m.headers.insert("accessToken".into(), t.into());
        }
        body_of(&self.unary.request(p).await.unwrap().into_inner())
    }
}
