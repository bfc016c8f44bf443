//! The load generator: `wrk` (a C program, one thread, in its own process), so what is measured
//! is the server and not the benchmark. This module runs it and reads its report.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// One wrk run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    /// Non-2xx/3xx answers plus socket errors: a run with errors measures the wrong thing.
    pub errors: u64,
}

/// Runs `wrk -t1` against `url` with `connections` connections for `duration` (whole seconds:
/// wrk takes no less); `script` (Lua)
/// shapes the requests and receives `script_args`.
pub fn run(
    url: &str,
    connections: usize,
    duration: Duration,
    script: Option<&Path>,
    script_args: &[String],
) -> Result<Run, String> {
    let mut cmd = Command::new(binary());
    cmd.args(["-t1", "--latency", "--timeout", "10s"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)));
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    cmd.arg(url);
    if !script_args.is_empty() {
        cmd.arg("--").args(script_args);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e} (Debian: apt install wrk)", binary()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {}{text}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse(&text)
}

/// `$WRK` or `wrk` on PATH.
pub fn binary() -> String {
    std::env::var("WRK").unwrap_or_else(|_| "wrk".into())
}

/// Reads wrk's `--latency` report.
pub fn parse(report: &str) -> Result<Run, String> {
    let mut run = Run {
        requests_per_sec: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        requests: 0,
        errors: 0,
    };
    for line in report.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rate] => run.requests_per_sec = rate.parse().unwrap_or(f64::NAN),
            ["50%", latency] => run.p50_ms = millis(latency)?,
            ["99%", latency] => run.p99_ms = millis(latency)?,
            [count, "requests", "in", ..] => run.requests = count.parse().unwrap_or(0),
            ["Non-2xx", "or", "3xx", "responses:", count] => {
                run.errors += count.parse::<u64>().unwrap_or(0)
            }
            ["Socket", "errors:", rest @ ..] => {
                run.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    if run.requests_per_sec.is_nan() || run.p50_ms.is_nan() || run.p99_ms.is_nan() {
        return Err(format!("wrk's report has no rate or latencies:\n{report}"));
    }
    Ok(run)
}

/// wrk's durations: `562.00us`, `1.32ms`, `1.02s`, `1.50m`.
fn millis(text: &str) -> Result<f64, String> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("no unit in {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("not a number: {text:?}"))?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        _ => return Err(format!("unknown unit in {text:?}")),
    };
    Ok(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 1s test @ http://127.0.0.1:18999/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.96ms    1.42ms  11.90ms   85.64%
    Req/Sec     2.19k   797.22     3.46k    80.00%
  Latency Distribution
     50%  562.00us
     75%    2.34ms
     90%    4.06ms
     99%    1.02s
  2181 requests in 1.00s, 728.42KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   2178.39
Transfer/sec:    727.55KB
";

    #[test]
    fn a_report_gives_rate_latencies_and_every_kind_of_error() {
        let run = parse(REPORT).unwrap();
        assert_eq!(run.requests_per_sec, 2178.39);
        assert!((run.p50_ms - 0.562).abs() < 1e-9, "{run:?}");
        assert_eq!(run.p99_ms, 1020.0);
        assert_eq!(run.requests, 2181);
        assert_eq!(run.errors, 10);
    }

    #[test]
    fn a_report_without_figures_is_an_error() {
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
        assert!(millis("12.0parsecs").is_err());
    }
}
