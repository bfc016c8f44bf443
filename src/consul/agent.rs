//! `/v1/agent/service/*` and `/v1/agent/check/*`: Consul registrations onto the one registry.

use std::collections::BTreeMap;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::fields::{Fields, bad};
use super::kv::actor;
use super::{ConsulError, ConsulState, Query};
use crate::core::checks::{AgentService, CheckDef, Registration};

async fn body_fields(request: Request) -> Result<Fields, ConsulError> {
    let body = axum::body::to_bytes(request.into_body(), 1024 * 1024)
        .await
        .map_err(|_| {
            ConsulError(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large".into(),
            )
        })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Fields(Map::new()));
    }
    // Clients send JSON without a Content-Type: read the body as JSON regardless.
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => Ok(Fields(m)),
        Ok(_) => Err(bad("Request decode failed: expected a JSON object".into())),
        Err(e) => Err(bad(format!("Request decode failed: {e}"))),
    }
}

fn check_def(f: &Fields, default_id: String) -> Result<CheckDef, ConsulError> {
    for unsupported in [
        "HTTP",
        "TCP",
        "GRPC",
        "Args",
        "DockerContainerID",
        "H2PING",
        "UDP",
        "OSService",
    ] {
        if f.get(unsupported).is_some() {
            return Err(bad(format!(
                "{unsupported} checks are not supported yet: use a TTL check"
            )));
        }
    }
    let ttl = f.text("TTL")?;
    if ttl.is_empty() {
        return Err(bad(
            "a check needs a TTL (the only kind supported so far)".into()
        ));
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
    })
}

pub async fn register(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    let actor = actor(&request);
    let f = body_fields(request).await?;
    let name = f.text("Name")?;
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
    let weight = f
        .object("Weights")?
        .and_then(|w| w.get("Passing").and_then(Value::as_f64))
        .unwrap_or(1.0);
    // `Check` and `Checks` together; as in Consul, IDs are numbered only when there are several.
    let mut definitions = Vec::new();
    if let Some(c) = f.object("Check")? {
        definitions.push(c);
    }
    if let Some(list) = f.get("Checks") {
        let Value::Array(list) = list else {
            return Err(bad("Request decode failed: Checks must be a list".into()));
        };
        for c in list {
            let Value::Object(c) = c else {
                return Err(bad(
                    "Request decode failed: a check must be an object".into()
                ));
            };
            definitions.push(Fields(c.clone()));
        }
    }
    let several = definitions.len() > 1;
    let checks = definitions
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
        .collect::<Result<Vec<_>, _>>()?;
    let address = {
        let a = f.text("Address")?;
        if a.is_empty() {
            s.address
                .rsplit_once(':')
                .map_or("127.0.0.1".to_owned(), |(h, _)| h.to_owned())
        } else {
            a
        }
    };
    let registration = Registration {
        id,
        name,
        tags,
        address,
        port,
        meta,
        weight,
        checks,
    };
    s.core.consul_register(&actor, registration).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn deregister(
    State(s): State<ConsulState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    s.core.consul_deregister(&actor(&request), &id).await?;
    Ok(StatusCode::OK.into_response())
}

pub fn service_json(a: &AgentService, datacenter: &str) -> Value {
    json!({
        "ID": a.id, "Service": a.service.service, "Tags": a.tags, "Meta": a.meta,
        "Port": a.instance.spec.port, "Address": a.instance.spec.ip,
        "Weights": {"Passing": a.instance.spec.weight, "Warning": 1},
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
                "ServiceTags": a.tags, "Type": "ttl",
            })
        })
        .collect()
}

pub async fn services(State(s): State<ConsulState>) -> Response {
    let dc = s.datacenter();
    let map: Map<String, Value> = s
        .core
        .agent_services()
        .iter()
        .map(|a| (a.id.clone(), service_json(a, &dc)))
        .collect();
    axum::Json(Value::Object(map)).into_response()
}

pub async fn service(
    State(s): State<ConsulState>,
    Path(id): Path<String>,
) -> Result<Response, ConsulError> {
    let a = s
        .core
        .agent_service(&id)
        .ok_or_else(|| ConsulError(StatusCode::NOT_FOUND, format!("unknown service ID: {id}")))?;
    Ok(axum::Json(service_json(&a, &s.datacenter())).into_response())
}

pub async fn checks(State(s): State<ConsulState>) -> Response {
    let node = crate::settings::hostname();
    let map: Map<String, Value> = s
        .core
        .agent_services()
        .iter()
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
    let actor = actor(&request);
    let f = body_fields(request).await?;
    let status = f.text("Status")?;
    s.core
        .consul_check(&actor, &id, &status, &f.text("Output")?)
        .await?;
    Ok(StatusCode::OK.into_response())
}
