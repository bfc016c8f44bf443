use std::collections::HashMap;
use std::process::ExitCode;

use clap::Parser;
use nacre::cli::{Cli, Command, ServeArgs, StoreArgs};
use nacre::settings::{Overrides, Settings};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nacre: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Package(args) => runtime.block_on(nacre::packages::cli::run(args)),
        Command::CheckCompose { files } => check_compose(&files),
        Command::CheckK8s { files } => check_k8s(&files),
        Command::Probe(args) => runtime.block_on(nacre::cli::probe(&args)),
        Command::Status(store) => runtime.block_on(recovery(store, |s| async move {
            nacre::recovery::status::status(&s)
                .await
                .map(|()| ExitCode::SUCCESS)
        })),
        Command::Verify(store) => runtime.block_on(recovery(store, |s| async move {
            nacre::recovery::verify::verify(&s).await.map(|agree| {
                if agree {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            })
        })),
        Command::Backup {
            dir,
            overwrite,
            no_progress,
            store,
        } => runtime.block_on(recovery(store, |s| async move {
            nacre::recovery::snapshot::backup(&s, &dir, overwrite, !no_progress)
                .await
                .map(|()| ExitCode::SUCCESS)
        })),
        Command::Restore {
            dir,
            latest,
            overwrite,
            no_progress,
            store,
        } => runtime.block_on(recovery(store, |s| async move {
            let dir = match (dir, latest) {
                (Some(dir), _) => dir,
                (None, _) => nacre::recovery::snapshot::newest_backup(&s.backup_dir())
                    .map(|b| std::path::PathBuf::from(b.path))
                    .ok_or_else(|| format!("no backup in {}", s.backup_dir().display()))?,
            };
            println!("restoring {}", dir.display());
            nacre::recovery::snapshot::restore(&s, &dir, overwrite, !no_progress)
                .await
                .map(|()| ExitCode::SUCCESS)
        })),
        Command::Rebuild(store) => runtime.block_on(recovery(store, |s| async move {
            nacre::recovery::verify::rebuild(&s)
                .await
                .map(|()| ExitCode::SUCCESS)
        })),
    }
}

/// The settings: defaults, the file, the environment, then the flags given.
fn settings(store: &StoreArgs, serve: Option<&ServeArgs>) -> Result<Settings, ExitCode> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let overrides = Overrides {
        data_dir: store.data_dir.clone(),
        port: serve.and_then(|a| a.port),
        grpc_port: serve.and_then(|a| a.grpc_port),
        nats_url: store.nats_url.clone(),
        consul_port: serve.and_then(|a| a.consul_port),
    };
    Settings::load(store.config.as_deref(), &env, &overrides).map_err(|e| {
        eprintln!("nacre: {e}");
        ExitCode::from(2)
    })
}

/// Runs a recovery command with the same settings `serve` would use.
async fn recovery<F, Fut>(store: StoreArgs, command: F) -> ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode, String>>,
{
    let settings = match settings(&store, None) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // Commands other than serve log warnings only and export no traces.
    let _ = nacre::telemetry::init(
        &nacre::settings::LogSettings {
            level: "warn".into(),
            ..settings.log.clone()
        },
        &nacre::settings::OtelSettings::default(),
    );
    match command(settings).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nacre: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
    let settings = match settings(&args.store, Some(&args)) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let telemetry = match nacre::telemetry::init(&settings.log, &settings.otel) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("nacre: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match nacre::server::run(settings, args.accept_empty_store, shutdown_signal()).await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once: the log subscriber writes to stderr already.
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown().await;
    code
}

fn check_compose(files: &[std::path::PathBuf]) -> ExitCode {
    checked(files.iter().map(|file| {
        let report = nacre::deploy_check::check_compose(file);
        report_check(
            "check-compose",
            &file.display().to_string(),
            report,
            "every data directory persists, and `down -v` cannot start a store fresh",
        )
    }))
}

fn check_k8s(files: &[std::path::PathBuf]) -> ExitCode {
    checked(files.iter().map(|file| {
        let name = file.display().to_string();
        let text = if file.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| text)
        } else {
            std::fs::read_to_string(file)
        };
        let report = text
            .map_err(|e| e.to_string())
            .and_then(|t| nacre::deploy_check::check_k8s(&t))
            .map_err(|e| format!("{name}: {e}"));
        report_check(
            "check-k8s",
            &name,
            report,
            "every JetStream store is on a PersistentVolumeClaim, and no deleted claim takes a store with its identity marker",
        )
    }))
}

/// Prints one file's report (warnings, problems, or the line saying it passed); whether it passed.
fn report_check(
    command: &str,
    name: &str,
    report: Result<nacre::deploy_check::Report, String>,
    passed: &str,
) -> bool {
    match report {
        Ok(report) => {
            for w in &report.warnings {
                eprintln!("{name}: warning: {w}");
            }
            for p in &report.problems {
                eprintln!("{name}: {p}");
            }
            if report.problems.is_empty() {
                println!("{name}: {passed}");
            }
            report.problems.is_empty()
        }
        Err(e) => {
            eprintln!("nacre {command}: {e}");
            false
        }
    }
}

/// Success when every file passed (each is checked and reported, failing or not).
fn checked(results: impl Iterator<Item = bool>) -> ExitCode {
    if results.fold(true, |all, ok| all & ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
