//! `/v1/health/*` and `/v1/catalog/*`: the one registry seen the Consul way (services registered
//! through Nacos included), with blocking queries on the service's stream index.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::agent::{checks_json, service_json, weights_json};
use super::{ConsulError, ConsulState, Query, authorizer, block_until, index_headers};
use crate::core::Core;
use crate::core::acl::{Need, Scope};
use crate::core::checks::{AgentService, CheckDef};
use crate::core::registry::{DEFAULT_GROUP, ServiceKey};
use crate::core::state::{Change, PUBLIC_NAMESPACE};

fn key(name: &str) -> ServiceKey {
    ServiceKey::new(PUBLIC_NAMESPACE, DEFAULT_GROUP, name)
}

/// A service's index (its subject's last sequence), or the highest of all (`None`).
fn index_of(core: &Core, service: Option<&ServiceKey>) -> u64 {
    let state = core.model.read();
    match service {
        Some(k) => state.registry.get(k).map_or(0, |e| e.seq),
        None => state
            .registry
            .values()
            .filter(|e| e.key.namespace == PUBLIC_NAMESPACE)
            .map(|e| e.seq)
            .max()
            .unwrap_or(0),
    }
}

async fn block(core: &Core, service: Option<&ServiceKey>, q: &Query) -> Result<u64, ConsulError> {
    if let Some(index) = q.number("index")?.filter(|i| *i > 0) {
        let relevant =
            |c: &Change| matches!(c, Change::Service(k) if service.is_none_or(|s| s == k));
        block_until(core, index, q.wait()?, relevant, || index_of(core, service)).await;
    }
    Ok(index_of(core, service))
}

/// A service's instances, or none where the token may not read the service (Consul filters).
fn readable_instances(core: &Core, request: &Request, name: &str) -> Vec<AgentService> {
    if authorizer(request).allows(Scope::Service, name, Need::Read) {
        instances(core, name)
    } else {
        Vec::new()
    }
}

fn instances(core: &Core, name: &str) -> Vec<AgentService> {
    let state = core.model.read();
    let k = key(name);
    state
        .registry
        .get(&k)
        .filter(|e| e.visible())
        .map(|e| {
            e.instances
                .values()
                .filter(|i| i.spec.enabled)
                .map(|i| AgentService::view(&k, i))
                .collect()
        })
        .unwrap_or_default()
}

fn node_json(s: &ConsulState) -> Value {
    let node = crate::settings::hostname();
    let address = s.host();
    json!({"ID": "", "Node": node, "Address": address,  "Datacenter": s.datacenter(), "TaggedAddresses": {}, "Meta": {}})
}

fn with_index(body: Value, index: u64) -> Response {
    let mut response = axum::Json(body).into_response();
    index_headers(response.headers_mut(), index);
    response
}

/// `GET /v1/health/service/{name}?passing&tag=`.
pub async fn health_service(
    State(s): State<ConsulState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    let q = Query::parse(request.uri().query());
    let index = block(&s.core, Some(&key(&name)), &q).await?;
    let node = node_json(&s);
    let node_name = node["Node"].as_str().unwrap_or("").to_owned();
    let dc = s.datacenter();
    let entries: Vec<Value> = readable_instances(&s.core, &request, &name)
        .iter()
        .filter(|a| !q.has("passing") || a.passing())
        .filter(|a| q.get("tag").is_none_or(|t| a.tags.iter().any(|x| x == t)))
        .map(|a| {
            let mut service = service_json(a, &dc);
            if let Some(m) = service.as_object_mut() {
                m.remove("Datacenter");
            }
            let mut checks = vec![json!({"Node": node_name, "CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing",
                "Notes": "", "Output": "Agent alive and reachable", "ServiceID": "", "ServiceName": "", "ServiceTags": []})];
            checks.extend(checks_json(a, &node_name));
            json!({"Node": node, "Service": service, "Checks": checks})
        })
        .collect();
    Ok(with_index(Value::from(entries), index))
}

/// `GET /v1/health/checks/{name}`.
pub async fn health_checks(
    State(s): State<ConsulState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    let q = Query::parse(request.uri().query());
    let index = block(&s.core, Some(&key(&name)), &q).await?;
    let node = crate::settings::hostname();
    let checks: Vec<Value> = readable_instances(&s.core, &request, &name)
        .iter()
        .flat_map(|a| checks_json(a, &node))
        .collect();
    Ok(with_index(Value::from(checks), index))
}

/// `GET /v1/health/state/{state}` (`any`, `passing`, `warning`, `critical`).
pub async fn health_state(
    State(s): State<ConsulState>,
    Path(state): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    let acl = authorizer(&request);
    if !matches!(state.as_str(), "any" | "passing" | "warning" | "critical") {
        return Err(ConsulError(
            StatusCode::BAD_REQUEST,
            format!("Invalid check state \"{state}\""),
        ));
    }
    let node = crate::settings::hostname();
    let checks: Vec<Value> = s
        .core
        .agent_services()
        .iter()
        .filter(|a| acl.allows(Scope::Service, &a.service.service, Need::Read))
        .flat_map(|a| checks_json(a, &node))
        .filter(|c| state == "any" || c["Status"] == state.as_str())
        .collect();
    Ok(with_index(Value::from(checks), index_of(&s.core, None)))
}

/// `GET /v1/catalog/services`: every service, with its tags.
pub async fn catalog_services(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    let q = Query::parse(request.uri().query());
    let index = block(&s.core, None, &q).await?;
    let acl = authorizer(&request);
    let names: Vec<String> = {
        let state = s.core.model.read();
        state
            .registry
            .values()
            .filter(|e| {
                e.visible() && e.key.namespace == PUBLIC_NAMESPACE && e.key.group == DEFAULT_GROUP
            })
            .map(|e| e.key.service.clone())
            .filter(|name| acl.allows(Scope::Service, name, Need::Read))
            .collect()
    };
    let mut out = BTreeMap::new();
    for name in names {
        let tags: BTreeSet<String> = instances(&s.core, &name)
            .into_iter()
            .flat_map(|a| a.tags)
            .collect();
        out.insert(name, tags);
    }
    Ok(with_index(
        serde_json::to_value(out).unwrap_or_default(),
        index,
    ))
}

/// `GET /v1/catalog/service/{name}`.
pub async fn catalog_service(
    State(s): State<ConsulState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    let q = Query::parse(request.uri().query());
    let index = block(&s.core, Some(&key(&name)), &q).await?;
    let node = node_json(&s);
    let entries: Vec<Value> = readable_instances(&s.core, &request, &name)
        .iter()
        .filter(|a| q.get("tag").is_none_or(|t| a.tags.iter().any(|x| x == t)))
        .map(|a| {
            json!({
                "ID": node["ID"], "Node": node["Node"], "Address": node["Address"], "Datacenter": node["Datacenter"],
                "TaggedAddresses": {}, "NodeMeta": {}, "ServiceID": a.id, "ServiceName": a.service.service,
                "ServiceTags": a.tags, "ServiceAddress": a.instance.spec.ip, "ServicePort": a.instance.spec.port,
                "ServiceMeta": a.meta, "ServiceWeights": weights_json(a),
                "ServiceEnableTagOverride": false, "CreateIndex": a.instance.seq, "ModifyIndex": a.instance.seq,
            })
        })
        .collect();
    Ok(with_index(Value::from(entries), index))
}

pub async fn datacenters(State(s): State<ConsulState>) -> Response {
    axum::Json(vec![s.datacenter()]).into_response()
}

pub async fn nodes(State(s): State<ConsulState>, request: Request) -> Response {
    let node = node_json(&s);
    let shown = node["Node"]
        .as_str()
        .is_some_and(|n| authorizer(&request).allows(Scope::Node, n, Need::Read));
    let nodes = if shown { vec![node] } else { Vec::new() };
    with_index(Value::from(nodes), index_of(&s.core, None))
}

pub async fn node(
    State(s): State<ConsulState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ConsulError> {
    let acl = authorizer(&request);
    let node = node_json(&s);
    if node["Node"] != name.as_str() || !acl.allows(Scope::Node, &name, Need::Read) {
        return Err(ConsulError(
            StatusCode::NOT_FOUND,
            format!("Node not found: {name}"),
        ));
    }
    let dc = s.datacenter();
    let services: serde_json::Map<String, Value> = s
        .core
        .agent_services()
        .iter()
        .filter(|a| acl.allows(Scope::Service, &a.service.service, Need::Read))
        .map(|a| (a.id.clone(), service_json(a, &dc)))
        .collect();
    Ok(with_index(
        json!({"Node": node, "Services": services}),
        index_of(&s.core, None),
    ))
}

/// `PUT /v1/catalog/register`: a service (with static-status checks) onto the one registry.
/// Nacre's catalog has one node, itself: a registration without a service changes nothing.
pub async fn register(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    let actor = super::kv::actor(&request);
    let acl = authorizer(&request);
    let f = super::fields::body_fields(request).await?;
    let Some(service) = f.object("Service")? else {
        // Only the node: Nacre's catalog has one node, itself, so nothing changes.
        acl.check(Scope::Node, &f.text("Node")?, Need::Write)
            .map_err(ConsulError::denied)?;
        return Ok(axum::Json(true).into_response());
    };
    super::agent::may_write_service(&s, &acl, &service.text("ID")?, &service.text("Service")?)?;
    let node_address = match f.text("Address")? {
        a if a.is_empty() => s.host(),
        a => a,
    };
    let mut definitions = Vec::new();
    if let Some(c) = f.object("Check")? {
        definitions.push(c);
    }
    definitions.extend(super::agent::check_list(&f)?);
    let registration =
        super::agent::service_registration(&service, "Service", &node_address, |id| {
            definitions
                .iter()
                .map(|c| {
                    let status = match c.text("Status")? {
                        s if s.is_empty() => "critical".to_owned(),
                        s => s,
                    };
                    let check_id = match c.text("CheckID")? {
                        i if i.is_empty() => format!("service:{id}"),
                        i => i,
                    };
                    Ok(CheckDef {
                        name: match c.text("Name")? {
                            n if n.is_empty() => check_id.clone(),
                            n => n,
                        },
                        id: check_id,
                        status,
                        notes: c.text("Notes")?,
                        output: c.text("Output")?,
                        ..CheckDef::default()
                    })
                })
                .collect()
        })?;
    s.core.consul_register(&actor, registration).await?;
    Ok(axum::Json(true).into_response())
}

/// `PUT /v1/catalog/deregister`: a service by `ServiceID`, or every service of this node.
pub async fn deregister(
    State(s): State<ConsulState>,
    request: Request,
) -> Result<Response, ConsulError> {
    let actor = super::kv::actor(&request);
    let acl = authorizer(&request);
    let f = super::fields::body_fields(request).await?;
    let node = f.text("Node")?;
    let service_id = f.text("ServiceID")?;
    // The permission first: a refused caller learns nothing from validation.
    if service_id.is_empty() {
        acl.check(Scope::Node, &node, Need::Write)
            .map_err(ConsulError::denied)?;
    } else {
        super::agent::may_change_service(&s, &acl, &service_id)?;
    }
    if node.is_empty() {
        return Err(ConsulError(
            StatusCode::BAD_REQUEST,
            "Must provide node".into(),
        ));
    }
    if !f.text("CheckID")?.is_empty() && service_id.is_empty() {
        return Err(ConsulError(
            StatusCode::BAD_REQUEST,
            "Nacre deregisters services, not single checks: give ServiceID".into(),
        ));
    }
    if !service_id.is_empty() {
        match s.core.consul_deregister(&actor, &service_id).await {
            Ok(()) | Err(crate::core::CoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    } else if node == crate::settings::hostname() {
        for service in s.core.agent_services() {
            s.core.consul_deregister(&actor, &service.id).await?;
        }
    }
    Ok(axum::Json(true).into_response())
}
