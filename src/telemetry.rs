//! Logs and traces. Logs go through tracing-subscriber (text or JSON, filtered by RUST_LOG or
//! `log.level`); with `otel.enabled`, Nacre's spans are also exported over OTLP (gRPC or
//! HTTP), whatever the log filter says.
//!
//! A change is one trace from end to end: the span that appends an event injects its W3C
//! `traceparent` into the event's NATS headers, and every node that applies the event continues
//! that trace for what the event causes (projection, listener answers, pushes). Incoming
//! `traceparent` headers on HTTP and gRPC requests are honoured, and outside subscribers of the
//! event subjects can continue the trace the same way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::settings::{LogSettings, OtelSettings};

/// What `init` set up; `shutdown` flushes the spans still queued.
#[derive(Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            // Flushing blocks; keep it off the runtime's threads.
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
    }
}

/// Whether the installed subscriber exports traces. Without an exporter a request's span would
/// be built, formatted and dropped unseen on every request (its trace id is only ever an
/// exported one), so the hot paths skip it.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Installs the log subscriber and, when enabled, the OTLP trace exporter. A second call in one
/// process (tests start several servers) leaves the first subscriber in place.
pub fn init(log: &LogSettings, otel: &OtelSettings) -> Result<Telemetry, String> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = if otel.enabled {
        Some(provider(otel)?)
    } else {
        None
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| {
            // The NATS client narrates every connection event at INFO ("event: client error: IO
            // error"); Nacre logs those itself, with their cause (backbone::connect).
            let level = if log.level.contains("async_nats") {
                log.level.clone()
            } else {
                format!("{},async_nats=warn", log.level)
            };
            EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"))
        });
    // Nacre's own spans only: not the exporter's HTTP or gRPC calls about itself.
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("nacre"))
            .with_filter(EnvFilter::new("nacre=info"))
    });
    let exporting = traces.is_some();
    let registry = tracing_subscriber::registry().with(traces);
    // Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org):
    // files, pipes and collectors get plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    let installed = if log.format == "json" {
        // Each line carries its span's fields, the request's trace_id among them.
        registry.with(logs.json().with_filter(filter)).try_init()
    } else {
        registry.with(logs.with_filter(filter)).try_init()
    };
    if installed.is_ok() {
        EXPORTING.store(exporting, Ordering::Relaxed);
    }
    Ok(Telemetry { provider })
}

fn provider(otel: &OtelSettings) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _};
    let timeout = Duration::from_secs(otel.export_timeout_secs.max(1));
    let exporter = if otel.protocol == "grpc" {
        let mut builder = SpanExporter::builder().with_tonic().with_timeout(timeout);
        if !otel.endpoint.is_empty() {
            builder = builder.with_endpoint(otel.endpoint.clone());
        }
        builder.build()
    } else {
        let mut builder = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_timeout(timeout);
        if !otel.endpoint.is_empty() {
            builder = builder.with_endpoint(traces_url(&otel.endpoint));
        }
        builder.build()
    }
    .map_err(|e| format!("cannot set up the OTLP exporter: {e}"))?;
    let mut resource = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    let named_by_env = std::env::var_os("OTEL_SERVICE_NAME").is_some()
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name="));
    if !named_by_env || otel.service_name != OtelSettings::default().service_name {
        resource = resource.with_service_name(otel.service_name.clone());
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            otel.sampling_ratio,
        ))))
        .with_resource(resource.build())
        .build())
}

/// OTLP/HTTP takes the full traces URL; a bare collector address gets `/v1/traces`.
fn traces_url(endpoint: &str) -> String {
    if endpoint.ends_with("/v1/traces") {
        endpoint.to_owned()
    } else {
        format!("{}/v1/traces", endpoint.trim_end_matches('/'))
    }
}

/// Makes `span` continue the trace a carrier names (HTTP or gRPC headers), if it names one.
pub fn continue_remote(span: &tracing::Span, carrier: &dyn Extractor) {
    let parent =
        global::get_text_map_propagator(|p| p.extract_with_context(&Context::new(), carrier));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    record_trace_id(span);
}

/// Makes `span` continue the trace of the event that caused it (its stored `traceparent`).
pub fn continue_event(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(traceparent) = traceparent {
        let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        continue_remote(span, &carrier);
    }
}

/// Records the span's trace id as its `trace_id` field, so log lines inside it carry it.
fn record_trace_id(span: &tracing::Span) {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", tracing::field::display(span_context.trace_id()));
    }
}

/// The current span's `traceparent`, for the headers of an event being appended.
pub fn inject_nats(headers: &mut async_nats::HeaderMap) {
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        global::get_text_map_propagator(|p| p.inject_context(&context, &mut NatsHeaders(headers)));
    }
}

struct NatsHeaders<'a>(&'a mut async_nats::HeaderMap);

impl Injector for NatsHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

/// The `traceparent` an event was appended with, as a message carries it.
pub fn traceparent_of(headers: Option<&async_nats::HeaderMap>) -> Option<std::sync::Arc<str>> {
    headers?
        .get("traceparent")
        .map(|v| std::sync::Arc::from(v.as_str()))
}

/// A server span per HTTP request (route-level, so it names the matched route), continuing the
/// caller's trace when a `traceparent` came with it.
/// `router` with a span per request when traces are exported; without an exporter, nothing
/// (every middleware layer costs each request a boxed future).
pub fn traced(router: axum::Router) -> axum::Router {
    if EXPORTING.load(Ordering::Relaxed) {
        router.route_layer(axum::middleware::from_fn(http_span))
    } else {
        router
    }
}

pub async fn http_span(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(
            || request.uri().path().to_owned(),
            |m| m.as_str().to_owned(),
        );
    let method = request.method().clone();
    let span = tracing::info_span!(
        "http",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = Empty,
        trace_id = Empty,
    );
    continue_remote(
        &span,
        &opentelemetry_http::HeaderExtractor(request.headers()),
    );
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_endpoints_get_the_traces_path_once() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }
}
