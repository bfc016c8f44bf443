//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "nacre",
    version = crate::LONG_VERSION,
    about = "A service registry and config center on NATS JetStream"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Nacre (the default): standalone with its own nats-server unless nats.url is set.
    Serve(ServeArgs),
    /// Back up every stream Nacre owns (events, KV views, packages) into DIR, then read it back.
    Backup {
        /// An empty (or new) directory for the backup.
        dir: PathBuf,
        /// Replace what DIR holds.
        #[arg(long)]
        overwrite: bool,
        /// Show no progress (a bar on a terminal, a line every few seconds otherwise).
        #[arg(long)]
        no_progress: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Restore a backup made by `nacre backup` or `nats stream backup` (Nacre stopped).
    Restore {
        /// The backup's directory.
        #[arg(required_unless_present = "latest", conflicts_with = "latest")]
        dir: Option<PathBuf>,
        /// Restore the newest backup in `backup.dir` (scheduled backups go there).
        #[arg(long)]
        latest: bool,
        /// Replace streams that already exist.
        #[arg(long)]
        overwrite: bool,
        /// Show no progress (a bar on a terminal, a line every few seconds otherwise).
        #[arg(long)]
        no_progress: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// What an operator needs before deciding anything: identity, stream, nodes, views, backups.
    Status(StoreArgs),
    /// Replay the event stream and compare the KV and Object Store views with it.
    Verify(StoreArgs),
    /// Recreate the views and leases from the event stream (repairs damaged buckets).
    Rebuild(StoreArgs),
    /// Check that Docker Compose files keep every data directory on a volume that persists (named, or a bind mount covering it).
    CheckCompose {
        /// Compose files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check that Kubernetes manifests (`helm template` output) keep every JetStream store on a
    /// PersistentVolumeClaim and each identity marker on a claim of its own.
    CheckK8s {
        /// Manifest files (multi-document YAML); `-` reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Upload, list, download and delete packages on a running Nacre.
    Package(crate::packages::cli::PackageArgs),
    /// Exit 0 only if URL answers 200: the image's HEALTHCHECK (a distroless image has no curl).
    Probe(ProbeArgs),
}

/// The readiness URL of a node on the default port.
pub const DEFAULT_PROBE_URL: &str = "http://127.0.0.1:8848/nacos/v1/console/health/readiness";

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The URL to GET (plain http).
    #[arg(default_value = DEFAULT_PROBE_URL)]
    pub url: String,
    /// Give up after this long (e.g. 3s, 500ms).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

/// `nacre probe`: one GET; 0 on 200, 1 on anything else (another status, no answer, a timeout).
pub async fn probe(args: &ProbeArgs) -> std::process::ExitCode {
    use std::process::ExitCode;
    let answer = match reqwest::Client::builder()
        .timeout(args.timeout)
        .no_proxy()
        .build()
    {
        Ok(client) => client.get(&args.url).send().await,
        Err(e) => {
            eprintln!("nacre probe: {e}");
            return ExitCode::FAILURE;
        }
    };
    match answer {
        Ok(r) if r.status() == reqwest::StatusCode::OK => {
            println!("{}: 200", args.url);
            ExitCode::SUCCESS
        }
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            eprintln!("{}: {status} {}", args.url, body.trim());
            ExitCode::FAILURE
        }
        Err(e) => {
            // reqwest's message names the request; its sources say why (refused, timed out).
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                why = format!("{why}: {cause}");
                source = cause.source();
            }
            eprintln!("{}: {why}", args.url);
            ExitCode::FAILURE
        }
    }
}

/// Where a command finds the store: the settings `serve` uses. In standalone mode a command
/// works on the data directory whether Nacre runs there or not.
#[derive(Debug, Default, Clone, Args)]
pub struct StoreArgs {
    /// Configuration file (default: $NACRE_CONFIG, else conf/application.yml if present).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Data directory (setting `data-dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// External NATS server or cluster (setting `nats.url`); without it Nacre runs standalone.
    #[arg(long)]
    pub nats_url: Option<String>,
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Nacos HTTP port (setting `server.port`).
    #[arg(long)]
    pub port: Option<u16>,
    /// Nacos gRPC port (setting `server.grpc-port`; default HTTP port + 1000).
    #[arg(long)]
    pub grpc_port: Option<u16>,
    /// Consul HTTP API port (setting `server.consul-port`; 0 turns it off).
    #[arg(long)]
    pub consul_port: Option<u16>,
    /// Start even though the JetStream store lost data this node had seen (a wiped or older
    /// store). Only after following runbooks/wiped-store.md.
    #[arg(long)]
    pub accept_empty_store: bool,
}
