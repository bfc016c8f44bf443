//! HTTP and TCP checks, run by Nacre as a Consul agent runs them.
//!
//! Each probed check has one owner among the live Nacre nodes (the check id hashed over the
//! sorted node names, as NATS presence lists them), so a check is probed once per interval
//! however many nodes run. A verdict that changes the check's status is an event, conditional on
//! the service as it was read. A check critical for longer than its
//! DeregisterCriticalServiceAfter takes its service with it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use crate::core::checks::CheckDef;
use crate::core::{Actor, Core};

/// Consul's default probe timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an HTTP answer a check's output keeps (Consul keeps 4 KiB).
const OUTPUT_LIMIT: usize = 4 * 1024;

#[derive(Default)]
struct Schedule {
    next: Option<Instant>,
    critical_since: Option<Instant>,
}

/// Runs the checks this node owns, for ever.
pub async fn run(core: Core, node: String) {
    let client = match reqwest::Client::builder().build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client for checks");
            return;
        }
    };
    let mut schedules: HashMap<String, Schedule> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let nodes = live_nodes(&core, &node);
        let now = Instant::now();
        let mut due = Vec::new();
        let mut present = std::collections::HashSet::new();
        for service in core.agent_services() {
            for check in service.checks.iter().filter(|c| c.is_probed()) {
                present.insert(check.id.clone());
                if owner(&check.id, &nodes) != Some(node.as_str()) {
                    continue;
                }
                let schedule = schedules.entry(check.id.clone()).or_default();
                if schedule.next.is_none_or(|at| at <= now) {
                    schedule.next = Some(now + duration(&check.interval, Duration::from_secs(10)));
                    due.push((service.id.clone(), check.clone()));
                }
            }
        }
        schedules.retain(|id, _| present.contains(id));
        // Probes of one round run together; a slow target delays only its own next round.
        let probes = due.into_iter().map(|(service_id, check)| {
            let client = client.clone();
            async move {
                let (status, output) = probe(&client, &check).await;
                (service_id, check, status, output)
            }
        });
        for (service_id, check, status, output) in futures::future::join_all(probes).await {
            let schedule = schedules.entry(check.id.clone()).or_default();
            if status == "critical" {
                let since = *schedule.critical_since.get_or_insert(Instant::now());
                let limit = humantime::parse_duration(&check.deregister_after).ok();
                if limit.is_some_and(|l| since.elapsed() > l) {
                    let actor = Actor {
                        user: "nacre-checks".into(),
                        ip: String::new(),
                    };
                    if let Err(e) = core.consul_deregister(&actor, &service_id).await {
                        tracing::debug!(error = %e, service = %service_id, "critical service already gone");
                    }
                    continue;
                }
            } else {
                schedule.critical_since = None;
            }
            if let Err(e) = core.record_probe(&check.id, status, &output).await {
                tracing::warn!(error = %e, check = %check.id, "cannot record a check result");
            }
        }
    }
}

fn duration(text: &str, default: Duration) -> Duration {
    humantime::parse_duration(text)
        .ok()
        .filter(|d| !d.is_zero())
        .unwrap_or(default)
}

/// The names of the live Nacre nodes, sorted; this node always among them.
fn live_nodes(core: &Core, me: &str) -> Vec<String> {
    let mut names: Vec<String> = core
        .cluster
        .read()
        .map(|nodes| nodes.iter().map(|n| n.name.clone()).collect())
        .unwrap_or_default();
    if !names.iter().any(|n| n == me) {
        names.push(me.to_owned());
    }
    names.sort();
    names.dedup();
    names
}

/// The node that probes a check.
fn owner<'a>(check_id: &str, nodes: &'a [String]) -> Option<&'a str> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    check_id.hash(&mut hasher);
    let count = u64::try_from(nodes.len()).ok().filter(|n| *n > 0)?;
    let at = usize::try_from(hasher.finish() % count).ok()?;
    nodes.get(at).map(String::as_str)
}

/// Runs one probe: Consul's status and output.
async fn probe(client: &reqwest::Client, check: &CheckDef) -> (&'static str, String) {
    let timeout = duration(&check.timeout, DEFAULT_TIMEOUT);
    if !check.tcp.is_empty() {
        return match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&check.tcp)).await
        {
            Ok(Ok(_)) => ("passing", format!("TCP connect {}: Success", check.tcp)),
            Ok(Err(e)) => ("critical", format!("dial tcp {}: {e}", check.tcp)),
            Err(_) => ("critical", format!("dial tcp {}: i/o timeout", check.tcp)),
        };
    }
    let method = if check.method.is_empty() {
        reqwest::Method::GET
    } else {
        match reqwest::Method::from_bytes(check.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => return ("critical", format!("invalid method {:?}", check.method)),
        }
    };
    let answer = client
        .request(method.clone(), &check.http)
        .timeout(timeout)
        .send()
        .await;
    match answer {
        Err(e) => ("critical", format!("{method} {}: {e}", check.http)),
        Ok(response) => {
            let code = response.status();
            let mut body = response.text().await.unwrap_or_default();
            if body.len() > OUTPUT_LIMIT {
                let mut cut = OUTPUT_LIMIT;
                while !body.is_char_boundary(cut) {
                    cut -= 1;
                }
                body.truncate(cut);
            }
            let status = match code.as_u16() {
                200..=299 => "passing",
                429 => "warning",
                _ => "critical",
            };
            (
                status,
                format!("HTTP {method} {}: {code} Output: {body}", check.http),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_exactly_one_owner_among_the_nodes() {
        let nodes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let mut per_node = HashMap::new();
        for i in 0..300 {
            let owner = owner(&format!("service:web-{i}"), &nodes).unwrap();
            *per_node.entry(owner).or_insert(0) += 1;
        }
        assert_eq!(
            per_node.len(),
            3,
            "checks spread over every node: {per_node:?}"
        );
        assert!(owner("x", &[]).is_none());
    }
}
