//! `nacre package push|ls|pull|rm`: a client of a running Nacre's package API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// Nacre's HTTP address.
    #[arg(
        long,
        env = "NACRE_SERVER",
        default_value = "http://127.0.0.1:8848",
        global = true
    )]
    pub server: String,
    #[command(subcommand)]
    pub command: PackageCommand,
}

#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Upload a package file.
    Push {
        file: PathBuf,
        #[arg(long)]
        os: String,
        #[arg(long)]
        object: String,
        #[arg(long)]
        version: String,
        /// Package name (default: the file's name).
        #[arg(long)]
        name: Option<String>,
        /// controller or collector.
        #[arg(long = "type", default_value = "collector")]
        kind: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Replace an existing package with the same key.
        #[arg(long)]
        overwrite: bool,
    },
    /// List packages.
    Ls {
        #[arg(long)]
        os: Option<String>,
        #[arg(long)]
        object: Option<String>,
        #[arg(long)]
        version: Option<String>,
        #[arg(long = "type")]
        kind: Option<String>,
    },
    /// Download a package by key (os/object/version/name).
    Pull {
        key: String,
        /// Output file (default: the package name in the current directory).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Delete a package by key.
    Rm { key: String },
}

pub async fn run(args: PackageArgs) -> ExitCode {
    match execute(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nacre package: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bar(len: u64, verb: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(verb.to_owned());
    bar
}

async fn answer(response: reqwest::Response) -> Result<serde_json::Value, String> {
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    if status.is_success() {
        Ok(json)
    } else {
        Err(format!(
            "{status}: {}",
            json.get("error")
                .and_then(|e| e.as_str())
                .map_or_else(|| json.to_string(), str::to_owned)
        ))
    }
}

async fn execute(args: PackageArgs) -> Result<(), String> {
    let http = reqwest::Client::new();
    let base = format!("{}/nacre/v1/packages", args.server.trim_end_matches('/'));
    match args.command {
        PackageCommand::Push {
            file,
            os,
            object,
            version,
            name,
            kind,
            description,
            overwrite,
        } => {
            let len = tokio::fs::metadata(&file)
                .await
                .map_err(|e| format!("{}: {e}", file.display()))?
                .len();
            let name = match name {
                Some(n) => n,
                None => file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or("the file has no usable name; pass --name")?
                    .to_owned(),
            };
            let url = format!("{base}/{os}/{object}/{version}/{name}");
            // Ask first: the server refuses a duplicate before reading the body, and a client
            // still sending a large file may see that as a reset rather than the answer.
            if !overwrite {
                let info = http
                    .get(format!("{url}/info"))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if info.status().is_success() {
                    return Err(format!(
                        "package {os}/{object}/{version}/{name} already exists; pass --overwrite to replace it"
                    ));
                }
            }
            let hashing = bar(len, "hashing");
            let sha256 = crate::digest::sha256_file(&file, |n| hashing.inc(n)).await?;
            hashing.finish_and_clear();
            let uploading = bar(len, "uploading");
            let progress = uploading.clone();
            let reader = tokio::fs::File::open(&file)
                .await
                .map_err(|e| e.to_string())?;
            let stream = ReaderStream::with_capacity(reader, 256 * 1024).inspect(move |chunk| {
                if let Ok(c) = chunk {
                    progress.inc(c.len() as u64);
                }
            });
            let response = http
                .put(&url)
                .query(&[
                    ("type", kind.as_str()),
                    ("description", description.as_str()),
                    ("overwrite", if overwrite { "true" } else { "false" }),
                ])
                .header("x-checksum-sha256", &sha256)
                .header(reqwest::header::CONTENT_LENGTH, len)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            uploading.finish_and_clear();
            let json = answer(response).await?;
            println!(
                "{} {} bytes sha256 {}",
                json["key"].as_str().unwrap_or(""),
                json["size"],
                sha256
            );
        }
        PackageCommand::Ls {
            os,
            object,
            version,
            kind,
        } => {
            let mut query = Vec::new();
            for (k, v) in [
                ("os", os),
                ("object", object),
                ("version", version),
                ("type", kind),
            ] {
                if let Some(v) = v {
                    query.push((k, v));
                }
            }
            let json = answer(
                http.get(&base)
                    .query(&query)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?,
            )
            .await?;
            for p in json["packages"].as_array().into_iter().flatten() {
                println!(
                    "{:<60} {:>12} {:<10} {}",
                    p["key"].as_str().unwrap_or(""),
                    p["size"],
                    p["type"].as_str().unwrap_or(""),
                    p["sha256"].as_str().unwrap_or("")
                );
            }
        }
        PackageCommand::Pull { key, output } => {
            let name = key.rsplit('/').next().unwrap_or("package").to_owned();
            let output = output.unwrap_or_else(|| PathBuf::from(name));
            let response = http
                .get(format!("{base}/{key}"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return answer(response).await.map(|_| ());
            }
            let expected = response
                .headers()
                .get("x-checksum-sha256")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let downloading = bar(response.content_length().unwrap_or(0), "downloading");
            let mut file = tokio::fs::File::create(&output)
                .await
                .map_err(|e| format!("{}: {e}", output.display()))?;
            let mut sha = Sha256::new();
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                sha.update(&chunk);
                file.write_all(&chunk).await.map_err(|e| e.to_string())?;
                downloading.inc(chunk.len() as u64);
            }
            file.flush().await.map_err(|e| e.to_string())?;
            downloading.finish_and_clear();
            let got = hex::encode(sha.finalize());
            if let Some(expected) = expected.filter(|e| *e != got) {
                let _ = tokio::fs::remove_file(&output).await;
                return Err(format!(
                    "checksum mismatch: expected {expected}, received {got}; the file was removed"
                ));
            }
            println!("{} sha256 {got}", output.display());
        }
        PackageCommand::Rm { key } => {
            let json = answer(
                http.delete(format!("{base}/{key}"))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?,
            )
            .await?;
            println!("deleted {}", json["deleted"].as_str().unwrap_or(&key));
        }
    }
    Ok(())
}
