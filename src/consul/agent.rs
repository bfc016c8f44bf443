//! `/v1/agent/service/*` and `/v1/agent/check/*`: Consul registrations onto the one registry.

use std::collections::BTreeMap;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::fields::{Fields, bad, body_fields};
use super::kv::actor;
use super::{ConsulError, ConsulState, Query, authorizer};
use crate::core::acl::{Authorizer, Need, Scope};
use crate::core::checks::{AgentService, CheckDef, Registration};

fn check_def(f: &Fields, default_id: String) -> Result<CheckDef, ConsulError> {
    for unsupported in [
        "GRPC",
        "Args",
        "DockerContainerID",
        "H2PING",
        "UDP",
        "OSService",
    ] {
        if f.get(unsupported).is_some() {
            return Err(bad(format!(
                "{unsupported} checks are not supported: use a TTL, HTTP or TCP check"
            )));
        }
    }
    let (ttl, http, tcp) = (f.text("TTL")?, f.text("HTTP")?, f.text("TCP")?);
    let interval = f.text("Interval")?;
    match (ttl.is_empty(), http.is_empty(), tcp.is_empty()) {
        (true, true, true) => {
            return Err(bad("Invalid check: TTL, HTTP or TCP must be set".into()));
        }
        (false, true, true) => {}
        (true, false, true) | (true, true, false) => {
            if interval.is_empty() {
                return Err(bad(
                    "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"
                        .into(),
                ));
            }
        }
        _ => {
            return Err(bad(
                "Invalid check: only one of TTL, HTTP and TCP may be set".into(),
            ));
        }
    }
    let id = [f.text("CheckID")?, f.text("ID")?]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or(default_id);
    let status = f.text("Status")?;
    Ok(CheckDef {
        name: {
            let n = f.text("Name")?;
            if n.is_empty() {
                format!("Service '{id}' check")
            } else {
                n
            }
        },
        id,
        // TTL checks start critical, as in Consul.
        status: if status.is_empty() {
            "critical".into()
        } else {
            status
        },
        ttl,
        notes: f.text("Notes")?,
        output: String::new(),
        deregister_after: f.text("DeregisterCriticalServiceAfter")?,
        http,
        method: f.text("Method")?,
        tcp,
        interval,
        timeout: f.text("Timeout")?,
    })
}

pub async fn register(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    let actor = actor(&request);
    let acl = authorizer(&request);
    let f = body_fields(request).await?;
    // The permission first: a refused caller learns nothing from validation.
    let name = f.text("Name")?;
    may_write_service(&s, &acl, &f.text("ID")?, &name)?;
    let mut definitions = Vec::new();
    if let Some(c) = f.object("Check")? {
        definitions.push(c);
    }
    definitions.extend(check_list(&f)?);
    // As in Consul, check IDs are numbered only when a service has several.
    let several = definitions.len() > 1;
    let registration = service_registration(&f, "Name", &s.host(), |id| {
        definitions
            .iter()
            .enumerate()
            .map(|(n, c)| {
                check_def(
                    c,
                    if several {
                        format!("service:{id}:{}", n + 1)
                    } else {
                        format!("service:{id}")
                    },
                )
            })
            .collect()
    })?;
    s.core.consul_register(&actor, registration).await?;
    Ok(StatusCode::OK.into_response())
}

/// Registering needs `service:write` on the name, and on the name of a service it replaces.
pub(super) fn may_write_service(
    s: &ConsulState,
    acl: &Authorizer,
    id: &str,
    name: &str,
) -> Result<(), ConsulError> {
    acl.check(Scope::Service, name, Need::Write)
        .map_err(ConsulError::denied)?;
    if let Some(existing) = s.core.agent_service(if id.is_empty() { name } else { id }) {
        acl.check(Scope::Service, &existing.service.service, Need::Write)
            .map_err(ConsulError::denied)?;
    }
    Ok(())
}

/// Changing a service by ID needs `service:write` on its name (on the ID when it is unknown,
/// so the refusal does not depend on what exists).
pub(super) fn may_change_service(
    s: &ConsulState,
    acl: &Authorizer,
    id: &str,
) -> Result<(), ConsulError> {
    let name = s
        .core
        .agent_service(id)
        .map_or_else(|| id.to_owned(), |a| a.service.service);
    acl.check(Scope::Service, &name, Need::Write)
        .map_err(ConsulError::denied)
}

/// Updating a check needs `service:write` on its service; a check of no service is the node's.
fn may_update_check(s: &ConsulState, request: &Request, id: &str) -> Result<(), ConsulError> {
    let acl = authorizer(request);
    let owner = s
        .core
        .agent_services()
        .into_iter()
        .find(|a| a.checks.iter().any(|c| c.id == id));
    match owner {
        Some(a) => acl.check(Scope::Service, &a.service.service, Need::Write),
        None => acl.check(Scope::Node, &crate::settings::hostname(), Need::Write),
    }
    .map_err(ConsulError::denied)
}

/// The services a request's token may read.
fn readable(request: &Request) -> impl Fn(&&AgentService) -> bool {
    let acl = authorizer(request);
    move |a| acl.allows(Scope::Service, &a.service.service, Need::Read)
}

/// `Checks`: a list of check objects.
pub(super) fn check_list(f: &Fields) -> Result<Vec<Fields>, ConsulError> {
    match f.get("Checks") {
        None => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|c| match c {
                Value::Object(c) => Ok(Fields(c.clone())),
                _ => Err(bad(
                    "Request decode failed: a check must be an object".into()
                )),
            })
            .collect(),
        Some(_) => Err(bad("Request decode failed: Checks must be a list".into())),
    }
}

/// A service definition as the agent and the catalog take it (the name under `name_key`);
/// `checks` builds its checks from its id.
pub(super) fn service_registration(
    f: &Fields,
    name_key: &str,
    default_address: &str,
    checks: impl FnOnce(&str) -> Result<Vec<CheckDef>, ConsulError>,
) -> Result<Registration, ConsulError> {
    let name = f.text(name_key)?;
    if name.is_empty() {
        return Err(bad("Missing service name".into()));
    }
    let id = {
        let id = f.text("ID")?;
        if id.is_empty() { name.clone() } else { id }
    };
    let tags = match f.get("Tags") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad("Request decode failed: Tags must be strings".into()))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(bad(format!(
                "Request decode failed: Tags must be a list, not {other}"
            )));
        }
    };
    let port = match f.get("Port") {
        None => 0,
        Some(v) => v
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| bad(format!("Request decode failed: invalid Port {v}")))?,
    };
    let meta: BTreeMap<String, String> = match f.object("Meta")? {
        None => BTreeMap::new(),
        Some(m) => {
            m.0.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        }
    };
    crate::core::limits::consul_meta(&meta).map_err(|e| bad(e.to_string()))?;
    let weight = f
        .object("Weights")?
        .and_then(|w| w.get("Passing").and_then(Value::as_f64))
        .unwrap_or(1.0);
    let address = match f.text("Address")? {
        a if a.is_empty() => default_address.to_owned(),
        a => a,
    };
    let checks = checks(&id)?;
    Ok(Registration {
        id,
        name,
        tags,
        address,
        port,
        meta,
        weight,
        checks,
    })
}

pub async fn deregister(
    State(s): State<ConsulState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    may_change_service(&s, &authorizer(&request), &id)?;
    s.core.consul_deregister(&actor(&request), &id).await?;
    Ok(StatusCode::OK.into_response())
}

/// Consul's `Weights`: integers (its Go structs decode `1.0` as an error); a Nacos weight,
/// fractional or not, is rounded.
pub fn weights_json(a: &AgentService) -> Value {
    json!({"Passing": a.instance.spec.weight.round() as u64, "Warning": 1})
}

pub fn service_json(a: &AgentService, datacenter: &str) -> Value {
    json!({
        "ID": a.id, "Service": a.service.service, "Tags": a.tags, "Meta": a.meta,
        "Port": a.instance.spec.port, "Address": a.instance.spec.ip,
        "Weights": weights_json(a),
        "EnableTagOverride": false, "Datacenter": datacenter,
    })
}

pub fn checks_json(a: &AgentService, node: &str) -> Vec<Value> {
    if a.checks.is_empty() {
        // A Nacos-registered instance: its health as one check.
        let status = if a.passing() { "passing" } else { "critical" };
        return vec![json!({
            "Node": node, "CheckID": format!("service:{}", a.id), "Name": "Nacos health", "Status": status,
            "Notes": "", "Output": "", "ServiceID": a.id, "ServiceName": a.service.service, "ServiceTags": a.tags, "Type": "",
        })];
    }
    a.checks
        .iter()
        .map(|c| {
            json!({
                "Node": node, "CheckID": c.id, "Name": c.name, "Status": c.status, "Notes": c.notes,
                "Output": c.output, "ServiceID": a.id, "ServiceName": a.service.service,
                                "ServiceTags": a.tags, "Type": c.kind(), "Interval": c.interval, "Timeout": c.timeout,
            })
        })
        .collect()
}

pub async fn services(State(s): State<ConsulState>, request: Request) -> Response {
    let dc = s.datacenter();
    let map: Map<String, Value> = s
        .core
        .agent_services()
        .iter()
        .filter(readable(&request))
        .map(|a| (a.id.clone(), service_json(a, &dc)))
        .collect();
    axum::Json(Value::Object(map)).into_response()
}

pub async fn service(
    State(s): State<ConsulState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    let a = s
        .core
        .agent_service(&id)
        .ok_or_else(|| ConsulError(StatusCode::NOT_FOUND, format!("unknown service ID: {id}")))?;
    authorizer(&request)
        .check(Scope::Service, &a.service.service, Need::Read)
        .map_err(ConsulError::denied)?;
    Ok(axum::Json(service_json(&a, &s.datacenter())).into_response())
}

pub async fn checks(State(s): State<ConsulState>, request: Request) -> Response {
    let node = crate::settings::hostname();
    let map: Map<String, Value> = s
        .core
        .agent_services()
        .iter()
        .filter(readable(&request))
        .filter(|a| !a.checks.is_empty())
        .flat_map(|a| checks_json(a, &node))
        .filter_map(|c| Some((c["CheckID"].as_str()?.to_owned(), c)))
        .collect();
    axum::Json(Value::Object(map)).into_response()
}

/// `PUT /v1/agent/check/{pass|warn|fail}/{id}?note=`.
pub async fn ttl(
    State(s): State<ConsulState>,
    Path((verb, id)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ConsulError> {
    may_update_check(&s, &request, &id)?;
    let status = match verb.as_str() {
        "pass" => "passing",
        "warn" => "warning",
        "fail" => "critical",
        _ => return Err(ConsulError(StatusCode::NOT_FOUND, "Not found".into())),
    };
    let note = Query::parse(request.uri().query())
        .get("note")
        .unwrap_or("")
        .to_owned();
    s.core
        .consul_check(&actor(&request), &id, status, &note)
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// `PUT /v1/agent/check/update/{id}` with `{"Status", "Output"}`.
pub async fn update(
    State(s): State<ConsulState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    may_update_check(&s, &request, &id)?;
    let actor = actor(&request);
    let f = body_fields(request).await?;
    let status = f.text("Status")?;
    s.core
        .consul_check(&actor, &id, &status, &f.text("Output")?)
        .await?;
    Ok(StatusCode::OK.into_response())
}
