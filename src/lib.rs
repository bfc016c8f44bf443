//! Nacre: a service registry and config center speaking Nacos and Consul, whose one source of
//! truth is a NATS JetStream event stream. See ARCHITECTURE.md for the map.

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
