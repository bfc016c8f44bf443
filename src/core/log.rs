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
use tracing::Instrument as _;

use super::event::Envelope;
use super::limits;

/// How long one attempt waits for its ack. A lost ack is retried with the same `Nats-Msg-Id`,
/// which the stream deduplicates, so waiting longer would only delay recovery.
const ACK_WAIT: Duration = Duration::from_secs(2);

/// What the stream must hold for the append to be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Anything,
    /// Compare-and-set: the last event on this entity's subject has this sequence (0: none).
    LastSubjectSequence(u64),
    /// Nothing at all was appended since this sequence.
    LastSequence(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the entity changed since it was read (compare-and-set failed)")]
    Conflict,
    #[error("the event is larger than the NATS server accepts")]
    TooLarge,
    /// A subject NATS would refuse (dropping the connection that sent it).
    #[error("the event's subject is {0} bytes, more than NATS accepts")]
    SubjectTooLong(usize),
    #[error("the event stream did not acknowledge the write within {0:?}: {1}")]
    Unavailable(Duration, String),
    #[error("cannot encode the event: {0}")]
    Encode(String),
}

/// An event's payload, once its subject and size are known to be what NATS accepts (the limits
/// table's backstop: adapters refuse oversized names and fields earlier, with their own words).
fn encode(envelope: &Envelope) -> Result<Bytes, AppendError> {
    if envelope.subject.len() > limits::MAX_SUBJECT_BYTES {
        return Err(AppendError::SubjectTooLong(envelope.subject.len()));
    }
    let payload = serde_json::to_vec(envelope).map_err(|e| AppendError::Encode(e.to_string()))?;
    if payload.len() > limits::MAX_RECORD_BYTES {
        return Err(AppendError::TooLarge);
    }
    Ok(Bytes::from(payload))
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
        let span = publish_span(envelope);
        let started = std::time::Instant::now();
        let result = self
            .append_with_retries(envelope, expect)
            .instrument(span.clone())
            .await;
        self.record(&span, started, &result);
        result
    }

    fn record(
        &self,
        span: &tracing::Span,
        started: std::time::Instant,
        result: &Result<u64, AppendError>,
    ) {
        match result {
            Ok(seq) => {
                span.record("nats.sequence", seq);
                if let Some(m) = &self.metrics {
                    m.publish_duration.observe(started.elapsed().as_secs_f64());
                }
            }
            Err(AppendError::Conflict) => {
                span.record("otel.status_code", "error");
            }
            Err(e) => {
                span.record("otel.status_code", "error");
                span.record("otel.status_description", tracing::field::display(e));
                if let Some(m) = &self.metrics {
                    m.publish_errors.inc();
                }
            }
        }
    }

    async fn append_with_retries(
        &self,
        envelope: &Envelope,
        expect: Expect,
    ) -> Result<u64, AppendError> {
        let payload = encode(envelope)?;
        let deadline = tokio::time::Instant::now() + self.write_timeout;
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut headers = async_nats::HeaderMap::new();
            crate::telemetry::inject_nats(&mut headers);
            let mut publish = PublishMessage::build()
                .payload(payload.clone())
                .headers(headers)
                .message_id(&envelope.id);
            match expect {
                Expect::Anything => {}
                Expect::LastSubjectSequence(seq) => {
                    publish = publish.expected_last_subject_sequence(seq);
                }
                Expect::LastSequence(seq) => publish = publish.expected_last_sequence(seq),
            }
            let last_error = match self
                .js
                .send_publish(envelope.subject.clone(), publish)
                .await
            {
                Ok(ack) => match tokio::time::timeout(ACK_WAIT, ack).await {
                    Ok(Ok(ack)) => {
                        tracing::debug!(seq = ack.sequence, "acknowledged");
                        return Ok(ack.sequence);
                    }
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

    /// Appends events as one atomic batch (NATS 2.12+, stream `allow_atomic`): all are stored,
    /// at consecutive sequences, or none. `stream_at` guards the batch on the stream's last
    /// sequence. Returns the last event's sequence.
    ///
    /// Batches cannot carry `Nats-Msg-Id`, so a commit whose acknowledgement is lost cannot be
    /// retried safely: that is reported as unavailable, never guessed.
    pub async fn append_batch(
        &self,
        items: &[(Envelope, Expect)],
        stream_at: Option<u64>,
    ) -> Result<u64, AppendError> {
        let span = match items.first() {
            Some((envelope, _)) => publish_span(envelope),
            None => tracing::Span::none(),
        };
        let started = std::time::Instant::now();
        let result = self
            .send_batch(items, stream_at)
            .instrument(span.clone())
            .await;
        self.record(&span, started, &result);
        result
    }

    async fn send_batch(
        &self,
        items: &[(Envelope, Expect)],
        stream_at: Option<u64>,
    ) -> Result<u64, AppendError> {
        let client = self.js.client();
        let batch_id = uuid::Uuid::new_v4().simple().to_string();
        let unavailable = |e: String| AppendError::Unavailable(self.write_timeout, e);
        let count = items.len();
        // Every message is checked before the first is sent: a batch NATS refuses half-way would
        // leave an uncommitted batch behind.
        let payloads = items
            .iter()
            .map(|(envelope, _)| encode(envelope))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, ((envelope, expect), payload)) in items.iter().zip(payloads).enumerate() {
            let mut headers = async_nats::HeaderMap::new();
            crate::telemetry::inject_nats(&mut headers);
            headers.insert("Nats-Batch-Id", batch_id.as_str());
            headers.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
            if let Expect::LastSubjectSequence(seq) = expect {
                headers.insert(
                    "Nats-Expected-Last-Subject-Sequence",
                    seq.to_string().as_str(),
                );
            }
            if let (0, Some(at)) = (i, stream_at) {
                headers.insert("Nats-Expected-Last-Sequence", at.to_string().as_str());
            }
            let subject = envelope.subject.clone();
            if i + 1 < count {
                client
                    .publish_with_headers(subject, headers, payload)
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
                continue;
            }
            headers.insert("Nats-Batch-Commit", "1");
            let reply = tokio::time::timeout(
                self.write_timeout,
                client.request_with_headers(subject, headers, payload),
            )
            .await
            .map_err(|_| {
                unavailable("the batch commit was not acknowledged; its outcome is unknown".into())
            })?
            .map_err(|e| unavailable(e.to_string()))?;
            return batch_ack(&reply.payload).map_err(|e| match e {
                BatchAckError::Conflict => AppendError::Conflict,
                BatchAckError::Other(e) => unavailable(e),
            });
        }
        Err(AppendError::Encode("an empty batch".into()))
    }
}

/// A producer span per append, covering every attempt until the ack.
fn publish_span(envelope: &Envelope) -> tracing::Span {
    tracing::info_span!(
        "publish",
        otel.name = %format!("publish {}", envelope.subject),
        otel.kind = "producer",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        messaging.system = "nats",
        messaging.destination.name = %envelope.subject,
        messaging.message.id = %envelope.id,
        nats.sequence = tracing::field::Empty,
    )
}

enum BatchAckError {
    Conflict,
    Other(String),
}

/// Reads a batch commit's acknowledgement: the last sequence, or why the batch was refused.
fn batch_ack(payload: &[u8]) -> Result<u64, BatchAckError> {
    #[derive(serde::Deserialize)]
    struct Ack {
        seq: Option<u64>,
        error: Option<AckError>,
    }
    #[derive(serde::Deserialize)]
    struct AckError {
        #[serde(default)]
        err_code: u64,
        #[serde(default)]
        description: String,
    }
    /// JSStreamWrongLastSequenceErr and its constant form (2.11+).
    const WRONG_LAST_SEQUENCE: [u64; 2] = [10071, 10164];
    let ack: Ack = serde_json::from_slice(payload)
        .map_err(|e| BatchAckError::Other(format!("unreadable batch acknowledgement: {e}")))?;
    match (ack.error, ack.seq) {
        (Some(e), _) if WRONG_LAST_SEQUENCE.contains(&e.err_code) => Err(BatchAckError::Conflict),
        (Some(e), _) => Err(BatchAckError::Other(format!(
            "batch refused: {} ({})",
            e.description, e.err_code
        ))),
        (None, Some(seq)) => Ok(seq),
        (None, None) => Err(BatchAckError::Other(
            "a batch acknowledgement without a sequence".into(),
        )),
    }
}

impl From<AppendError> for super::CoreError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Conflict => super::CoreError::Conflict(
                "it was changed by someone else since it was read".into(),
            ),
            AppendError::TooLarge => super::CoreError::invalid(
                "content",
                "the change is larger than the NATS server accepts",
            ),
            AppendError::SubjectTooLong(bytes) => super::CoreError::invalid(
                "name",
                format!(
                    "the names of this change make a {bytes}-byte subject; at most {} are accepted",
                    crate::core::limits::MAX_SUBJECT_BYTES
                ),
            ),
            other => super::CoreError::Unavailable(other.to_string()),
        }
    }
}
