//! Prometheus metrics (`/nacos/metrics`, `/metrics`): the names seed 004 lists, as `nacre_*`,
//! plus per-route latency, JetStream publish latency and errors, and the gauges an operator needs
//! (projection lag, listeners, ephemeral instances, package bytes).

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub commit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~26 s
    Histogram::new(exponential_buckets(0.00005, 2.0, 20))
}

pub struct Metrics {
    registry: Registry,
    pub started: Instant,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub grpc_requests: Counter,
    pub config_publish: Counter,
    pub config_query: Counter,
    pub service_register: Counter,
    pub service_query: Counter,
    pub active_connections: Gauge,
    pub grpc_connections: Gauge,
    pub publish_duration: Histogram,
    pub publish_errors: Counter,
    pub listeners: Gauge,
    pub subscribers: Gauge,
    // Set at each scrape from the model and the cluster view.
    pub uptime: Gauge,
    pub cluster_size: Gauge,
    pub healthy: Gauge,
    pub projection_lag: Gauge,
    pub applied_seq: Gauge,
    pub ephemeral_instances: Gauge,
    pub package_bytes: Gauge,
    pub backup_last_success: Gauge,
    pub backup_size: Gauge,
    pub backup_failures: Counter,
    pub view_write_failures: Counter,
    pub views_set_aside: Gauge,
    /// The stream's last sequence as last polled (for the lag).
    pub stream_last_seq: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("nacre");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            );
        let publish_duration = latency_histogram();
        let m = Self {
            registry: Registry::default(),
            started: Instant::now(),
            http_requests,
            http_duration,
            grpc_requests: Counter::default(),
            config_publish: Counter::default(),
            config_query: Counter::default(),
            service_register: Counter::default(),
            service_query: Counter::default(),
            active_connections: Gauge::default(),
            grpc_connections: Gauge::default(),
            publish_duration,
            publish_errors: Counter::default(),
            listeners: Gauge::default(),
            subscribers: Gauge::default(),
            uptime: Gauge::default(),
            cluster_size: Gauge::default(),
            healthy: Gauge::default(),
            projection_lag: Gauge::default(),
            applied_seq: Gauge::default(),
            ephemeral_instances: Gauge::default(),
            package_bytes: Gauge::default(),
            backup_last_success: Gauge::default(),
            backup_size: Gauge::default(),
            backup_failures: Counter::default(),
            view_write_failures: Counter::default(),
            views_set_aside: Gauge::default(),
            stream_last_seq: AtomicU64::new(0),
        };
        // `nacre_build_info{version, commit} 1`: what `nacre --version` says, for dashboards.
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: crate::VERSION.into(),
                commit: crate::COMMIT.into(),
            })
            .set(1);
        registry.register("build_info", "The running build", build_info);
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            m.http_duration.clone(),
        );
        registry.register("grpc_requests", "gRPC requests", m.grpc_requests.clone());
        registry.register(
            "config_publish",
            "Configs published",
            m.config_publish.clone(),
        );
        registry.register("config_query", "Configs read", m.config_query.clone());
        registry.register(
            "service_register",
            "Instances registered",
            m.service_register.clone(),
        );
        registry.register(
            "service_query",
            "Instance lists served",
            m.service_query.clone(),
        );
        registry.register(
            "active_connections",
            "HTTP requests in flight (long polls included)",
            m.active_connections.clone(),
        );
        registry.register(
            "grpc_connections",
            "Nacos SDK gRPC connections",
            m.grpc_connections.clone(),
        );
        registry.register(
            "jetstream_publish_duration_seconds",
            "Event append latency until the JetStream ack",
            m.publish_duration.clone(),
        );
        registry.register(
            "jetstream_publish_errors",
            "Event appends that failed (after retries)",
            m.publish_errors.clone(),
        );
        registry.register(
            "listeners",
            "Config long-poll listeners waiting",
            m.listeners.clone(),
        );
        registry.register(
            "subscribers",
            "Naming push subscribers (gRPC subscriptions and UDP subscribers)",
            m.subscribers.clone(),
        );
        registry.register(
            "uptime_seconds",
            "Seconds since this node started",
            m.uptime.clone(),
        );
        registry.register(
            "cluster_size",
            "Nacre nodes seen through NATS",
            m.cluster_size.clone(),
        );
        registry.register("healthy", "1 when this node is ready", m.healthy.clone());
        registry.register(
            "projection_lag",
            "Stream sequence minus the sequence applied on this node",
            m.projection_lag.clone(),
        );
        registry.register(
            "applied_sequence",
            "Last stream sequence applied on this node",
            m.applied_seq.clone(),
        );
        registry.register(
            "ephemeral_instances",
            "Ephemeral instances registered",
            m.ephemeral_instances.clone(),
        );
        registry.register(
            "package_bytes",
            "Bytes of packages stored",
            m.package_bytes.clone(),
        );
        registry.register(
            "backup_last_success_timestamp_seconds",
            "When the last scheduled backup was written and read back (Unix seconds; 0: none yet)",
            m.backup_last_success.clone(),
        );
        registry.register(
            "backup_size_bytes",
            "Size of the last scheduled backup",
            m.backup_size.clone(),
        );
        registry.register(
            "backup_failures",
            "Scheduled backups that failed",
            m.backup_failures.clone(),
        );
        registry.register(
            "view_write_failures",
            "View entry writes that failed (each is retried with backoff)",
            m.view_write_failures.clone(),
        );
        registry.register(
            "views_set_aside",
            "View entries waiting to be written again",
            m.views_set_aside.clone(),
        );
        Self { registry, ..m }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
