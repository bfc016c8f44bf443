//! `nacre package push|ls|pull|rm`: a client of a running Nacre's package API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use crate::progress::Progress;

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
    /// An access token (auth on): sent as `Authorization: Bearer`.
    #[arg(long, env = "NACRE_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Log in as this user first (auth on); the password comes from NACRE_PASSWORD.
    #[arg(long, env = "NACRE_USER", global = true)]
    pub user: Option<String>,
    /// Show no progress (a bar on a terminal, a line every few seconds otherwise).
    #[arg(long, global = true)]
    pub no_progress: bool,
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

/// The token to send: `--token`, or one got by logging in as `--user` with NACRE_PASSWORD.
async fn token(http: &reqwest::Client, args: &PackageArgs) -> Result<Option<String>, String> {
    if let Some(token) = &args.token {
        return Ok(Some(token.clone()));
    }
    let Some(user) = &args.user else {
        return Ok(None);
    };
    let password = std::env::var("NACRE_PASSWORD")
        .map_err(|_| format!("--user {user} needs the password in NACRE_PASSWORD"))?;
    let login = http
        .post(format!(
            "{}/nacos/v1/auth/login",
            args.server.trim_end_matches('/')
        ))
        .form(&[("username", user.as_str()), ("password", password.as_str())])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let json = answer(login).await.map_err(|e| format!("login: {e}"))?;
    json["accessToken"]
        .as_str()
        .map(|t| Some(t.to_owned()))
        .ok_or_else(|| format!("login answered no token: {json}"))
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
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token(&reqwest::Client::new(), &args).await? {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| "the token is not a valid header value")?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .map_err(|e| e.to_string())?;
    let show = !args.no_progress;
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
            let hashing = Progress::new("hashing", Some(len), show);
            let sha256 = crate::digest::sha256_file(&file, |n| hashing.inc(n)).await?;
            hashing.finish();
            let uploading = Progress::new("uploading", Some(len), show);
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
            uploading.finish();
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
            let downloading = Progress::new("downloading", response.content_length(), show);
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
            downloading.finish();
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
