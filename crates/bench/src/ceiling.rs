//! The ceilings Nacre is judged against, each served by a child process of the benchmark (so it
//! gets the same share of the machine as Nacre does):
//! - reads: a bare axum handler answering every GET with prepared bytes — what serving from
//!   memory costs when nothing else is done;
//! - writes: a bare axum handler that publishes every POST/PUT body to a JetStream stream, waits
//!   for the ack and answers — the least an acknowledged, stored write can cost on that
//!   nats-server (fsync before the ack or not is the server's `sync_interval`).

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The stream the write ceiling appends to.
const STREAM: &str = "BENCH";
/// As many subjects as the write scripts use keys.
const SUBJECTS: u64 = 1000;

/// Serves the ceilings on `port` until killed; writes go to the JetStream at `nats` when given.
pub async fn serve(port: u16, nats: Option<String>, read_body: Bytes) -> Result<(), String> {
    let js = match nats {
        Some(url) => {
            let client = async_nats::connect(&url)
                .await
                .map_err(|e| format!("cannot connect to {url}: {e}"))?;
            let js = async_nats::jetstream::new(client);
            js.get_or_create_stream(async_nats::jetstream::stream::Config {
                name: STREAM.into(),
                subjects: vec!["bench.>".into()],
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("cannot create the stream: {e}"))?;
            Some(js)
        }
        None => None,
    };
    let counter = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().fallback(move |method: Method, body: Bytes| {
        let (js, counter, read_body) = (js.clone(), counter.clone(), read_body.clone());
        async move {
            if method == Method::GET {
                return read_body.into_response();
            }
            let Some(js) = js else {
                return StatusCode::METHOD_NOT_ALLOWED.into_response();
            };
            let n = counter.fetch_add(1, Ordering::Relaxed) % SUBJECTS;
            let acked = match js.publish(format!("bench.{n}"), body).await {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            };
            if acked {
                "true".into_response()
            } else {
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on {port}: {e}"))?;
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
