//! Nacre's configuration: built-in defaults, then the YAML file, then `NACRE_*` environment
//! variables, then command-line flags. Every setting is documented in `conf/application.yml`.
//!
//! Environment names are the setting's path in upper case with `.` and `-` turned into `_`:
//! `nats.url` → `NACRE_NATS_URL`, `server.grpc-port` → `NACRE_SERVER_GRPC_PORT`.
//!
//! One file on purpose: its sections mirror `conf/application.yml` one for one (a test keeps
//! the two equal), so a setting is found in the same place in both.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Yaml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Settings {
    /// Where Nacre keeps its own files; in standalone mode the JetStream store lives here too.
    pub data_dir: PathBuf,
    pub node: NodeSettings,
    pub server: ServerSettings,
    pub nats: NatsSettings,
    pub config: ConfigSettings,
    pub naming: NamingSettings,
    pub packages: PackageSettings,
    pub log: LogSettings,
    pub otel: OtelSettings,
    pub auth: AuthSettings,
    pub identity: IdentitySettings,
    pub backup: BackupSettings,
}

/// What tells a lost store from a new one (DESIGN invariant 7; ARCHITECTURE.md, "Nothing starts
/// fresh silently").
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct IdentitySettings {
    /// Where the identity marker lives; empty: the data directory. Put it where the store's
    /// volume is not (a bind mount, a second volume), so losing the store's volume cannot take
    /// the marker with it.
    pub dir: PathBuf,
    /// This deployment already has a store: an empty or missing one is a loss, never a first
    /// start (set it once the deployment exists, e.g. on every Helm upgrade).
    pub expect_existing_store: bool,
}

/// Scheduled backups: the whole store, compressed, timestamped, checked after writing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct BackupSettings {
    /// Time between backups; 0 turns them off.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Where backups go; empty: `<data-dir>/backups`. Keep it off the store's volume: backups
    /// there survive the store, and backups newer than an empty store prove it was lost.
    pub dir: PathBuf,
    /// How many backups to keep (the newest).
    pub keep: usize,
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            dir: PathBuf::new(),
            keep: 24,
        }
    }
}

/// Access control. Off by default; when on, every write (and every read of a namespace) needs a
/// token, and Nacre refuses to start without a real secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct AuthSettings {
    pub enabled: bool,
    /// The HS256 key that signs access tokens: at least 32 bytes, never the Nacos example.
    pub token_secret: String,
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Failed logins allowed per user and source address per minute.
    pub login_attempts_per_minute: u32,
    /// Consul's management token (`X-Consul-Token`), allowed everything; empty: none.
    pub consul_management_token: String,
}

/// The example secret Nacos' documentation ships: never acceptable.
pub const EXAMPLE_TOKEN_SECRET: &str =
    "SecretKey012345678901234567890123456789012345678901234567890123456789";

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            token_secret: String::new(),
            token_ttl: Duration::from_secs(18_000),
            login_attempts_per_minute: 5,
            consul_management_token: String::new(),
        }
    }
}

/// OpenTelemetry traces over OTLP. The standard `OTEL_*` variables are honoured where these
/// leave a choice open (an empty endpoint, the default service name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct OtelSettings {
    pub enabled: bool,
    /// The collector, e.g. `http://127.0.0.1:4317` (gRPC) or `http://127.0.0.1:4318` (HTTP);
    /// empty: `OTEL_EXPORTER_OTLP_ENDPOINT`, else the protocol's default on localhost.
    pub endpoint: String,
    /// `grpc` or `http/protobuf`.
    pub protocol: String,
    /// `service.name`; `OTEL_SERVICE_NAME` or a `service.name` in `OTEL_RESOURCE_ATTRIBUTES`
    /// wins over the default.
    pub service_name: String,
    /// Share of new traces recorded (0.0-1.0); a request that arrives with a sampled
    /// `traceparent` is always recorded.
    pub sampling_ratio: f64,
    pub export_timeout_secs: u64,
}

impl Default for OtelSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoint: String::new(),
            protocol: "grpc".into(),
            service_name: "nacre".into(),
            sampling_ratio: 1.0,
            export_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct PackageSettings {
    /// Largest package accepted, in bytes.
    pub max_bytes: u64,
}

impl Default for PackageSettings {
    fn default() -> Self {
        Self {
            max_bytes: 4 * 1024 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct NamingSettings {
    /// Heartbeat interval told to clients (per instance: metadata preserved.heart.beat.interval).
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Silence after which an ephemeral instance turns unhealthy (preserved.heart.beat.timeout).
    #[serde(with = "humantime_serde")]
    pub heartbeat_timeout: Duration,
    /// Silence after which an ephemeral instance is removed (preserved.ip.delete.timeout).
    #[serde(with = "humantime_serde")]
    pub delete_timeout: Duration,
    /// How often each node looks for silent instances.
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
}

impl Default for NamingSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(15),
            delete_timeout: Duration::from_secs(30),
            check_interval: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct NodeSettings {
    /// This node's name in events and cluster listings; empty means `<hostname>-<http port>`.
    pub name: String,
    pub datacenter: String,
    pub region: String,
    pub zone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ServerSettings {
    pub bind: String,
    pub port: u16,
    /// Nacos SDK gRPC port; 0 means the Nacos convention, HTTP port + 1000.
    pub grpc_port: u16,
    /// Largest request body accepted on any HTTP route, in bytes.
    pub max_body_bytes: usize,
    /// Consul HTTP API port; 0 turns the Consul API off.
    pub consul_port: u16,
    /// Reverse proxies (IPs or CIDRs, comma-separated) whose `X-Forwarded-For` is believed.
    /// From anyone else the TCP peer is the client: its address is what history records, what
    /// the login throttle counts and where UDP pushes go.
    pub trusted_proxies: String,
    /// How long a client may take to send a request's headers, counted from the end of its
    /// previous request on the connection: also how long an idle keep-alive connection lasts.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long a client may pause between two chunks of a request body.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct NatsSettings {
    /// Empty: standalone mode (Nacre runs its own nats-server). Otherwise one or more URLs,
    /// comma-separated, of an external server or cluster.
    pub url: String,
    pub user: String,
    pub password: String,
    pub token: String,
    pub creds_file: String,
    pub nkey_seed: String,
    pub tls: TlsSettings,
    /// Replicas of every stream and bucket: 1 standalone, 3 across three datacenters.
    pub replicas: usize,
    /// Name of the event stream.
    pub stream: String,
    /// How long a write keeps retrying (e.g. across a JetStream leader election) before failing.
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
    /// Most JetStream publish acks awaited at once.
    pub max_inflight_acks: usize,
    pub standalone: StandaloneSettings,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct TlsSettings {
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct StandaloneSettings {
    /// The nats-server executable: a path, or a name looked up on PATH.
    pub binary: String,
    /// Client port of the child server on 127.0.0.1; 0 picks a free port.
    pub port: u16,
    /// JetStream `sync_interval`: `always` fsyncs before every ack (no acknowledged write lost to
    /// a power cut, which matters with one replica); a duration such as `2m` is faster.
    pub sync_interval: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ConfigSettings {
    /// Largest config content accepted, in bytes (Nacos' default: 100 KiB).
    pub max_content_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct LogSettings {
    /// A tracing filter (`info`, `nacre=debug,async_nats=warn`); RUST_LOG wins when set.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            node: NodeSettings::default(),
            server: ServerSettings::default(),
            nats: NatsSettings::default(),
            config: ConfigSettings::default(),
            naming: NamingSettings::default(),
            packages: PackageSettings::default(),
            log: LogSettings::default(),
            otel: OtelSettings::default(),
            auth: AuthSettings::default(),
            identity: IdentitySettings::default(),
            backup: BackupSettings::default(),
        }
    }
}

impl Default for NodeSettings {
    fn default() -> Self {
        Self {
            name: String::new(),
            datacenter: "dc1".into(),
            region: String::new(),
            zone: String::new(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1".into(),
            port: 8848,
            grpc_port: 0,
            max_body_bytes: 10 * 1024 * 1024,
            consul_port: 8500,
            trusted_proxies: String::new(),
            header_read_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            user: String::new(),
            password: String::new(),
            token: String::new(),
            creds_file: String::new(),
            nkey_seed: String::new(),
            tls: TlsSettings::default(),
            replicas: 1,
            stream: "NACRE_EVENTS".into(),
            write_timeout: Duration::from_secs(15),
            max_inflight_acks: 4096,
            standalone: StandaloneSettings::default(),
        }
    }
}

impl Default for StandaloneSettings {
    fn default() -> Self {
        Self {
            binary: "nats-server".into(),
            port: 0,
            sync_interval: "always".into(),
        }
    }
}

impl Default for ConfigSettings {
    fn default() -> Self {
        Self {
            max_content_bytes: 100 * 1024,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// A configuration that cannot be used, naming the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read configuration file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid setting `{setting}`: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
    #[error(
        "unknown environment variable {name}: no setting has that name (did you mean {closest}?); every setting is listed in conf/application.yml"
    )]
    UnknownVariable { name: String, closest: String },
}

/// `NACRE_*` variables that are not settings: the settings file, the CLI's own, and those of the
/// build, the tests and the benchmark.
const OTHER_VARIABLES: &[&str] = &[
    "NACRE_CONFIG",
    "NACRE_SERVER",
    "NACRE_TOKEN",
    "NACRE_USER",
    "NACRE_PASSWORD",
    "NACRE_BIN",
    "NACRE_COMMIT",
    "NACRE_FUZZ_CASES",
];
const OTHER_PREFIXES: &[&str] = &["NACRE_TEST_", "NACRE_SOAK_"];

/// A mistyped variable (`NACRE_SERVER_PROT`) would otherwise be ignored in silence, as a mistyped
/// YAML key is not: refuse it and name the setting it most resembles.
fn check_variables(env: &HashMap<String, String>) -> Result<(), SettingsError> {
    let names = env_names();
    let mut unknown: Vec<&String> = env
        .keys()
        .filter(|k| k.starts_with("NACRE_") && !names.contains_key(*k))
        .filter(|k| !OTHER_VARIABLES.contains(&k.as_str()))
        .filter(|k| !OTHER_PREFIXES.iter().any(|p| k.starts_with(p)))
        .collect();
    unknown.sort();
    let Some(name) = unknown.first() else {
        return Ok(());
    };
    let closest = names
        .keys()
        .map(String::as_str)
        .chain(OTHER_VARIABLES.iter().copied())
        .min_by_key(|candidate| strsim::levenshtein(name, candidate))
        .unwrap_or("NACRE_SERVER_PORT")
        .to_owned();
    Err(SettingsError::UnknownVariable {
        name: (*name).clone(),
        closest,
    })
}

/// Command-line values that override everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub port: Option<u16>,
    pub grpc_port: Option<u16>,
    pub nats_url: Option<String>,
    pub consul_port: Option<u16>,
}

impl Settings {
    /// Loads defaults ← file ← environment ← flags, then validates.
    ///
    /// `file` is the `--config` path; without it `NACRE_CONFIG` or, if present,
    /// `conf/application.yml` is read.
    pub fn load(
        file: Option<&Path>,
        env: &HashMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Self, SettingsError> {
        check_variables(env)?;
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("NACRE_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("conf/application.yml")).filter(|p| p.exists()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|source| SettingsError::File {
                path: path.clone(),
                source,
            })?;
            figment = figment.merge(Yaml::string(&text));
        }
        figment = merge_env(figment, env);
        let mut settings: Settings = figment
            .extract()
            .map_err(|e| SettingsError::Parse(e.to_string()))?;
        if let Some(dir) = &overrides.data_dir {
            settings.data_dir = dir.clone();
        }
        if let Some(port) = overrides.port {
            settings.server.port = port;
        }
        if let Some(port) = overrides.grpc_port {
            settings.server.grpc_port = port;
        }
        if let Some(port) = overrides.consul_port {
            settings.server.consul_port = port;
        }
        if let Some(url) = &overrides.nats_url {
            settings.nats.url = url.clone();
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |setting, reason: &str| {
            Err(SettingsError::Invalid {
                setting,
                reason: reason.to_owned(),
            })
        };
        if self.data_dir.as_os_str().is_empty() {
            return invalid("data-dir", "must not be empty");
        }
        if self.server.port == 0 {
            return invalid("server.port", "must be between 1 and 65535");
        }
        if self.server.grpc_port == 0 && self.server.port > 65535 - 1000 {
            return invalid(
                "server.grpc-port",
                "HTTP port + 1000 exceeds 65535; set server.grpc-port",
            );
        }
        if self.server.header_read_timeout.is_zero() {
            return invalid("server.header-read-timeout", "must be more than 0");
        }
        if self.server.body_read_timeout.is_zero() {
            return invalid("server.body-read-timeout", "must be more than 0");
        }
        if let Err(reason) = crate::client_addr::TrustedProxies::parse(&self.server.trusted_proxies)
        {
            return invalid("server.trusted-proxies", &reason);
        }
        if self.auth.enabled {
            let how = "set auth.token-secret (NACRE_AUTH_TOKEN_SECRET) to a random string of at \
                       least 32 bytes, e.g. the output of `openssl rand -base64 48`";
            if self.auth.token_secret == EXAMPLE_TOKEN_SECRET {
                return invalid(
                    "auth.token-secret",
                    &format!("is the published example secret; anyone could forge tokens: {how}"),
                );
            }
            if self.auth.token_secret.len() < 32 {
                return invalid(
                    "auth.token-secret",
                    &format!("must be at least 32 bytes when auth is enabled: {how}"),
                );
            }
        }
        if !(0.0..=1.0).contains(&self.otel.sampling_ratio) {
            return invalid("otel.sampling-ratio", "must be between 0.0 and 1.0");
        }
        if !["grpc", "http/protobuf"].contains(&self.otel.protocol.as_str()) {
            return invalid("otel.protocol", "must be grpc or http/protobuf");
        }
        if self.server.max_body_bytes < 1024 {
            return invalid("server.max-body-bytes", "must be at least 1024");
        }
        if self.server.bind.parse::<std::net::IpAddr>().is_err() {
            return invalid(
                "server.bind",
                "must be an IP address such as 127.0.0.1 or 0.0.0.0",
            );
        }
        if ![1, 3, 5].contains(&self.nats.replicas) {
            return invalid("nats.replicas", "must be 1, 3 or 5");
        }
        if self.nats.url.is_empty() && self.nats.replicas != 1 {
            return invalid(
                "nats.replicas",
                "standalone mode (no nats.url) runs one server: use 1",
            );
        }
        if self.nats.stream.is_empty()
            || !self
                .nats
                .stream
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return invalid("nats.stream", "must be letters, digits, '_' or '-'");
        }
        if self.nats.write_timeout < Duration::from_secs(1) {
            return invalid(
                "nats.write-timeout",
                "must be at least 1s (an election takes 4-9 s)",
            );
        }
        if self.nats.max_inflight_acks == 0 {
            return invalid("nats.max-inflight-acks", "must be at least 1");
        }
        let sync = &self.nats.standalone.sync_interval;
        if sync != "always" && humantime::parse_duration(sync).is_err() {
            return invalid(
                "nats.standalone.sync-interval",
                "must be `always` or a duration such as 2m",
            );
        }
        if self.config.max_content_bytes == 0 {
            return invalid("config.max-content-bytes", "must be at least 1");
        }
        if self.config.max_content_bytes > crate::core::limits::MAX_CONFIG_CONTENT_BYTES {
            return invalid(
                "config.max-content-bytes",
                &format!(
                    "at most {} (a config's event must fit in a NATS message)",
                    crate::core::limits::MAX_CONFIG_CONTENT_BYTES
                ),
            );
        }
        let naming = &self.naming;
        if naming.heartbeat_timeout.is_zero() || naming.delete_timeout < naming.heartbeat_timeout {
            return invalid(
                "naming.delete-timeout",
                "must be at least naming.heartbeat-timeout, which must be above 0",
            );
        }
        if naming.check_interval.is_zero() || naming.heartbeat_interval.is_zero() {
            return invalid("naming.check-interval", "intervals must be above 0");
        }
        if self.packages.max_bytes == 0 {
            return invalid("packages.max-bytes", "must be at least 1");
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            return invalid("log.format", "must be `text` or `json`");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return invalid(
                "log.level",
                "must be a tracing filter such as `info` or `nacre=debug`",
            );
        }
        Ok(())
    }

    pub fn grpc_port(&self) -> u16 {
        if self.server.grpc_port != 0 {
            self.server.grpc_port
        } else {
            self.server.port + 1000
        }
    }

    pub fn standalone(&self) -> bool {
        self.nats.url.is_empty()
    }

    /// Where the identity marker lives: `identity.dir`, else the data directory.
    pub fn identity_dir(&self) -> PathBuf {
        if self.identity.dir.as_os_str().is_empty() {
            self.data_dir.clone()
        } else {
            self.identity.dir.clone()
        }
    }

    /// Where backups go: `backup.dir`, else `<data-dir>/backups`.
    pub fn backup_dir(&self) -> PathBuf {
        if self.backup.dir.as_os_str().is_empty() {
            self.data_dir.join("backups")
        } else {
            self.backup.dir.clone()
        }
    }

    pub fn node_name(&self) -> String {
        if !self.node.name.is_empty() {
            return self.node.name.clone();
        }
        format!("{}-{}", hostname(), self.server.port)
    }
}

/// This machine's host name (`nacre` if it has none).
pub fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "nacre".into())
}

/// Every setting's environment name, path and default, e.g.
/// `NACRE_NATS_STANDALONE_SYNC_INTERVAL` → (`nats.standalone.sync-interval`, `"always"`).
fn env_names() -> HashMap<String, (String, serde_json::Value)> {
    fn walk(
        prefix: &str,
        value: &serde_json::Value,
        out: &mut HashMap<String, (String, serde_json::Value)>,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            leaf => {
                let env = format!("NACRE_{}", prefix.to_uppercase().replace(['.', '-'], "_"));
                out.insert(env, (prefix.to_owned(), leaf.clone()));
            }
        }
    }
    let mut out = HashMap::new();
    if let Ok(defaults) = serde_json::to_value(Settings::default()) {
        walk("", &defaults, &mut out);
    }
    out
}

/// Merges the `NACRE_*` variables of `env`, each read as the type of its setting. A value that
/// does not parse is passed on as text, so extraction names the setting in its error.
fn merge_env(mut figment: Figment, env: &HashMap<String, String>) -> Figment {
    let names = env_names();
    let mut vars: Vec<_> = env
        .iter()
        .filter_map(|(k, v)| names.get(k).map(|(p, d)| (p, d, v)))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(b.0));
    for (path, default, raw) in vars {
        let text = serde_json::Value::String(raw.clone());
        let value = match default {
            serde_json::Value::Number(n) if n.is_f64() => {
                raw.trim().parse::<f64>().map(Into::into).unwrap_or(text)
            }
            serde_json::Value::Number(_) => {
                raw.trim().parse::<u64>().map(Into::into).unwrap_or(text)
            }
            serde_json::Value::Bool(_) => {
                raw.trim().parse::<bool>().map(Into::into).unwrap_or(text)
            }
            _ => text,
        };
        figment = figment.merge(Serialized::global(path, value));
    }
    figment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(
        file: Option<&Path>,
        pairs: &[(&str, &str)],
        overrides: &Overrides,
    ) -> Result<Settings, SettingsError> {
        Settings::load(file, &env(pairs), overrides)
    }

    #[test]
    fn a_mistyped_variable_is_refused_with_the_setting_it_resembles() {
        let err = load(
            None,
            &[("NACRE_SERVER_PROT", "9000")],
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("NACRE_SERVER_PROT") && err.contains("did you mean NACRE_SERVER_PORT?"),
            "{err}"
        );
        // The CLI's, the tests' and the build's own variables are not settings and are let be.
        load(
            None,
            &[
                ("NACRE_TOKEN", "t"),
                ("NACRE_TEST_PYTHON", "python3"),
                ("NACRE_COMMIT", "abc"),
                ("NACRE_SERVER_PORT", "9000"),
            ],
            &Overrides::default(),
        )
        .unwrap();
    }

    #[test]
    fn shipped_application_yml_is_exactly_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/application.yml");
        assert_eq!(
            load(Some(&path), &[], &Overrides::default()).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn environment_overrides_file_and_flags_override_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yml");
        std::fs::write(
            &file,
            "server:\n  port: 9000\nnats:\n  url: nats://file:4222\n",
        )
        .unwrap();
        let s = load(
            Some(&file),
            &[
                ("NACRE_NATS_URL", "nats://env:4222"),
                ("NACRE_NATS_PASSWORD", "123"),
            ],
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.server.port, 9000);
        assert_eq!(s.nats.url, "nats://env:4222");
        assert_eq!(s.nats.password, "123");
        assert_eq!(s.grpc_port(), 10000);
        let flags = Overrides {
            port: Some(7000),
            data_dir: Some("/tmp/x".into()),
            ..Default::default()
        };
        let s = load(Some(&file), &[("NACRE_SERVER_PORT", "8000")], &flags).unwrap();
        assert_eq!(
            (s.server.port, s.data_dir.as_path()),
            (7000, Path::new("/tmp/x"))
        );
    }

    #[test]
    fn otel_settings_come_from_the_environment_with_their_types() {
        let s = load(
            None,
            &[
                ("NACRE_OTEL_ENABLED", "true"),
                ("NACRE_OTEL_SAMPLING_RATIO", "0.1"),
                ("NACRE_OTEL_EXPORT_TIMEOUT_SECS", "3"),
                ("NACRE_OTEL_SERVICE_NAME", "edge"),
                ("NACRE_OTEL_PROTOCOL", "http/protobuf"),
            ],
            &Overrides::default(),
        )
        .unwrap();
        assert!(s.otel.enabled);
        assert_eq!(s.otel.sampling_ratio, 0.1);
        assert_eq!(s.otel.export_timeout_secs, 3);
        assert_eq!(
            (s.otel.service_name.as_str(), s.otel.protocol.as_str()),
            ("edge", "http/protobuf")
        );
        for (name, bad) in [
            ("NACRE_OTEL_SAMPLING_RATIO", "1.5"),
            ("NACRE_OTEL_PROTOCOL", "carrier-pigeon"),
        ] {
            let err = load(None, &[(name, bad)], &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("otel."), "{err}");
        }
    }

    #[test]
    fn durations_and_nested_names_come_from_the_environment() {
        let s = load(
            None,
            &[
                ("NACRE_NATS_WRITE_TIMEOUT", "30s"),
                ("NACRE_NATS_STANDALONE_SYNC_INTERVAL", "2m"),
                ("NACRE_SERVER_GRPC_PORT", "9999"),
            ],
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.nats.write_timeout, Duration::from_secs(30));
        assert_eq!(s.nats.standalone.sync_interval, "2m");
        assert_eq!(s.grpc_port(), 9999);
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let err = load(None, &[("NACRE_SERVER_PORT", "abc")], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("port"), "{err}");
        let err = load(
            None,
            &[("NACRE_NATS_REPLICAS", "2"), ("NACRE_NATS_URL", "nats://x")],
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("nats.replicas"), "{err}");
        let err = load(None, &[("NACRE_LOG_FORMAT", "xml")], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("log.format"), "{err}");
        let err = load(
            None,
            &[("NACRE_NATS_STANDALONE_SYNC_INTERVAL", "sometimes")],
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("sync-interval"), "{err}");
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yml");
        std::fs::write(&file, "server:\n  prot: 9000\n").unwrap();
        let err = load(Some(&file), &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
        let missing = load(
            Some(Path::new("/nonexistent/nacre.yml")),
            &[],
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(matches!(missing, SettingsError::File { .. }));
    }
}
