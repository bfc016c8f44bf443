//! Appending events to the stream (DESIGN invariants 1 and 2): success means JetStream acknowledged
//! the event; anything else is an error and nothing changed.
//!
//! A publish that times out or finds no stream leader (an election takes 4-9 s) is retried with the
//! same `Nats-Msg-Id` until `nats.write-timeout`; the stream's duplicate window makes the retry of
//! an event that was in fact stored return the original sequence instead of storing it twice.

use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;

use super::event::Envelope;

/// How long one attempt waits for its ack. A lost ack is retried with the same `Nats-Msg-Id`,
/// which the stream deduplicates, so waiting longer would only delay recovery.
const ACK_WAIT: Duration = Duration::from_secs(2);

/// What the stream must hold for the append to be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Anything,
    /// Compare-and-set: the last event on this entity's subject has this sequence (0: none).
    LastSubjectSequence(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the entity changed since it was read (compare-and-set failed)")]
    Conflict,
    #[error("the event is larger than the NATS server accepts")]
    TooLarge,
    #[error("the event stream did not acknowledge the write within {0:?}: {1}")]
    Unavailable(Duration, String),
    #[error("cannot encode the event: {0}")]
    Encode(String),
}

#[derive(Clone)]
pub struct EventLog {
    js: async_nats::jetstream::Context,
    write_timeout: Duration,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl EventLog {
    pub fn new(js: async_nats::jetstream::Context, write_timeout: Duration) -> Self {
        Self {
            js,
            write_timeout,
            metrics: None,
        }
    }

    /// Records append latency and failures.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Appends one event and returns its stream sequence once JetStream acknowledged it.
    pub async fn append(&self, envelope: &Envelope, expect: Expect) -> Result<u64, AppendError> {
        let started = std::time::Instant::now();
        let result = self.append_with_retries(envelope, expect).await;
        if let Some(m) = &self.metrics {
            match &result {
                Ok(_) => m.publish_duration.observe(started.elapsed().as_secs_f64()),
                Err(AppendError::Conflict) => {}
                Err(_) => {
                    m.publish_errors.inc();
                }
            }
        }
        result
    }

    async fn append_with_retries(
        &self,
        envelope: &Envelope,
        expect: Expect,
    ) -> Result<u64, AppendError> {
        let payload = Bytes::from(
            serde_json::to_vec(envelope).map_err(|e| AppendError::Encode(e.to_string()))?,
        );
        let deadline = tokio::time::Instant::now() + self.write_timeout;
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut publish = PublishMessage::build()
                .payload(payload.clone())
                .message_id(&envelope.id);
            if let Expect::LastSubjectSequence(seq) = expect {
                publish = publish.expected_last_subject_sequence(seq);
            }
            let last_error = match self
                .js
                .send_publish(envelope.subject.clone(), publish)
                .await
            {
                Ok(ack) => match tokio::time::timeout(ACK_WAIT, ack).await {
                    Ok(Ok(ack)) => return Ok(ack.sequence),
                    Ok(Err(e)) => match e.kind() {
                        PublishErrorKind::WrongLastSequence => return Err(AppendError::Conflict),
                        _ => e.to_string(),
                    },
                    Err(_) => format!("no acknowledgement within {ACK_WAIT:?}"),
                },
                Err(e) => match e.kind() {
                    PublishErrorKind::MaxPayloadExceeded => return Err(AppendError::TooLarge),
                    PublishErrorKind::WrongLastSequence => return Err(AppendError::Conflict),
                    _ => e.to_string(),
                },
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(AppendError::Unavailable(self.write_timeout, last_error));
            }
            tracing::warn!(error = %last_error, event = %envelope.id, "append not acknowledged; retrying with the same id");
            tokio::time::sleep(backoff.min(deadline - now)).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }
}
