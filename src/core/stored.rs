//! Reading stored events back from the stream: one entity's events (its history, time travel)
//! or everything from a sequence on (the read model's feed, the console's backlog). These are
//! the reads that leave the in-memory model: each opens an ordered consumer.

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::stream::Stream;
use futures::StreamExt;

use super::event::{Envelope, SUBJECT_PREFIX};

/// One stored event: its sequence, the event, and the trace it was appended in.
pub struct Stored {
    pub seq: u64,
    pub envelope: Envelope,
    pub traceparent: Option<String>,
}

/// Every event stored on `subject`, oldest first, read within `within`.
pub async fn on_subject(
    js: &async_nats::jetstream::Context,
    stream_name: &str,
    subject: &str,
    within: Duration,
) -> Result<Vec<Stored>, String> {
    let read = async {
        let stream = js
            .get_stream_no_info(stream_name)
            .await
            .map_err(|e| e.to_string())?;
        let mut consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: subject.to_owned(),
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let pending = consumer
            .info()
            .await
            .map_err(|e| e.to_string())?
            .num_pending;
        let mut out = Vec::with_capacity(pending.min(100_000) as usize);
        if pending == 0 {
            return Ok(out);
        }
        let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| e.to_string())?;
            let info = message.info().map_err(|e| e.to_string())?;
            let (seq, remaining) = (info.stream_sequence, info.pending);
            if let Ok(envelope) = serde_json::from_slice::<Envelope>(&message.payload) {
                let traceparent = crate::telemetry::traceparent_of(message.headers.as_ref())
                    .map(|t| t.to_string());
                out.push(Stored {
                    seq,
                    envelope,
                    traceparent,
                });
            }
            if remaining == 0 {
                break;
            }
        }
        Ok(out)
    };
    tokio::time::timeout(within, read).await.map_err(|_| {
        format!(
            "the event stream did not answer within {} s",
            within.as_secs()
        )
    })?
}

/// Every event from `start` on, in stream order (an ordered consumer: recreated by the client
/// on gaps).
pub async fn from_sequence<I>(stream: &Stream<I>, start: u64) -> Result<pull::Ordered, String> {
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: format!("{SUBJECT_PREFIX}.>"),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start.max(1),
            },
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    consumer.messages().await.map_err(|e| e.to_string())
}
