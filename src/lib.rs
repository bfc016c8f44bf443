//! Nacre: a service registry and config center speaking Nacos and Consul, whose one source of
//! truth is a NATS JetStream event stream. See ARCHITECTURE.md for the map.

/// Nacre's version, and the commit it was built from (build.rs).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("NACRE_COMMIT");
/// What `nacre --version` prints after the name.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("NACRE_COMMIT"),
    ")"
);

pub mod access;
pub mod backbone;
pub mod cli;
pub mod client_addr;
pub mod console;
pub mod consul;
pub mod core;
pub mod deploy_check;
pub mod digest;
pub mod http_serve;
pub mod metrics;
pub mod nacos;
pub mod packages;
pub mod progress;
pub mod recovery;
pub mod server;
pub mod settings;
pub mod telemetry;
