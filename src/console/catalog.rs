//! Who listens and who subscribes (gathered from every node), and the service catalog as the
//! Nacos console reads it: services with instance and healthy counts, and every instance of a
//! service, disabled ones included.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ConsoleError;
use super::peers::{Answer, ListenerInfo, Question, SubscriberInfo, ask};
use crate::core::auth::Resource;
use crate::core::configs::ConfigKey;
use crate::core::configs::glob;
use crate::core::registry::{DEFAULT_GROUP, ServiceKey};
use crate::nacos::AppState;
use crate::nacos::error::{ApiError, Style};
use crate::nacos::guard::{Caller, Checked, ServiceScope};
use crate::nacos::params::Params;

async fn gather_listeners(app: &AppState, key: ConfigKey) -> (Vec<ListenerInfo>, bool) {
    let (answers, complete) = ask(&app.core, &Question::Listeners { key }).await;
    let mut all: Vec<ListenerInfo> = answers
        .into_iter()
        .flat_map(|a| match a {
            Answer::Listeners { listeners } => listeners,
            _ => Vec::new(),
        })
        .collect();
    all.sort();
    all.dedup();
    (all, complete)
}

/// `GET /nacre/v1/configs/listeners?namespaceId&group&dataId`: every client listening to a
/// config, on every node, with how it listens.
pub async fn listeners(
    State(app): State<AppState>,
    key: Checked<ConfigKey>,
) -> Result<Response, ConsoleError> {
    let key = key.into_inner();
    crate::core::configs::validate_key(&app.core, &key)?;
    let (listeners, complete) = gather_listeners(&app, key).await;
    Ok(axum::Json(json!({"complete": complete, "listeners": listeners})).into_response())
}

/// `GET /nacos/v1/cs/configs/listener?dataId&group&tenant`, as Nacos answers it:
/// `{collectStatus, lisentersGroupkeyStatus: {ip: md5}}` (Nacos' spelling).
pub async fn nacos_listeners(
    State(app): State<AppState>,
    key: Checked<ConfigKey>,
) -> Result<Response, ApiError> {
    let key = key.into_inner();
    crate::core::configs::validate_key(&app.core, &key)
        .map_err(|e| ApiError::from_core(Style::V1, e))?;
    let (listeners, _) = gather_listeners(&app, key).await;
    let status: BTreeMap<String, String> = listeners.into_iter().map(|l| (l.ip, l.md5)).collect();
    Ok(
        axum::Json(json!({"collectStatus": 200, "lisentersGroupkeyStatus": status}))
            .into_response(),
    )
}

fn naming_error(e: crate::core::CoreError) -> ApiError {
    ApiError::from_core(Style::Text, e)
}

/// `GET /nacos/v1/ns/service/subscribers?serviceName&groupName&namespaceId&pageNo&pageSize`:
/// gRPC and UDP subscribers of a service on every node, in Nacos' shape (`{count, subscribers}`).
pub async fn subscribers(
    State(app): State<AppState>,
    service: Checked<ServiceKey>,
    p: Params,
) -> Result<Response, ApiError> {
    let service = service.into_inner();
    if app
        .core
        .get_service(&service)
        .map_err(naming_error)?
        .is_none()
    {
        return Err(ApiError::new(
            Style::Text,
            StatusCode::NOT_FOUND,
            20004,
            format!("service not found: {}", service.grouped()),
        ));
    }
    let page_no = p.number("pageNo", 1, Style::Text)?;
    let page_size = p.number("pageSize", 1000, Style::Text)?;
    let (answers, complete) = ask(
        &app.core,
        &Question::Subscribers {
            service: service.clone(),
        },
    )
    .await;
    let all: BTreeSet<SubscriberInfo> = answers
        .into_iter()
        .flat_map(|a| match a {
            Answer::Subscribers { subscribers } => subscribers,
            _ => Vec::new(),
        })
        .collect();
    let page = crate::core::Page::of(all.into_iter().collect(), page_no, page_size);
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|s| {
            json!({
                "addrStr": format!("{}:{}", s.ip, s.port), "ip": s.ip, "port": s.port,
                "agent": s.protocol, "app": if s.app.is_empty() { "unknown" } else { &s.app },
                "namespaceId": service.namespace, "serviceName": service.grouped(), "cluster": "",
                "node": s.node,
            })
        })
        .collect();
    Ok(
        axum::Json(json!({"count": page.total_count, "subscribers": items, "complete": complete}))
            .into_response(),
    )
}

/// `GET /nacos/v1/ns/catalog/services?namespaceId&groupNameParam&serviceNameParam&pageNo&pageSize`:
/// services with their cluster, instance and healthy counts. Name filters match a substring,
/// or a pattern with `*`; a `groupName` lists that group only. Only the services the caller may
/// read are counted and listed.
pub async fn services(
    State(app): State<AppState>,
    scope: Checked<ServiceScope>,
    caller: Caller,
    p: Params,
) -> Result<Response, ApiError> {
    let ServiceScope { namespace, group } = scope.into_inner();
    let page_no = p.number("pageNo", 1, Style::Text)?;
    let page_size = p.number("pageSize", 20, Style::Text)?;
    let group_filter = p.str("groupNameParam").trim().to_owned();
    let name_filter = p.str("serviceNameParam").trim().to_owned();
    if !app.core.model.read().namespace_exists(&namespace) {
        return Err(naming_error(crate::core::CoreError::NamespaceNotFound(
            namespace,
        )));
    }
    let namespace = crate::core::state::normalize_namespace(&namespace).to_owned();
    let rows: Vec<Value> = {
        let state = app.core.model.read();
        state
            .registry
            .values()
            .filter(|e| e.key.namespace == namespace && e.visible())
            .filter(|e| group.as_ref().is_none_or(|g| *g == e.key.group))
            .filter(|e| group_filter.is_empty() || glob(&group_filter, &e.key.group))
            .filter(|e| name_filter.is_empty() || glob(&name_filter, &e.key.service))
            .filter(|e| {
                caller
                    .reader
                    .may_read(&state.auth, &Resource::of_service(&e.key))
            })
            .map(|e| {
                let clusters: BTreeSet<&str> = e
                    .instances
                    .values()
                    .map(|i| i.spec.cluster.as_str())
                    .collect();
                let healthy = e
                    .instances
                    .values()
                    .filter(|i| i.spec.healthy && i.spec.enabled)
                    .count();
                let consul = e
                    .instances
                    .values()
                    .any(|i| i.spec.metadata.contains_key("consul.id"));
                json!({
                    "name": e.key.service, "groupName": e.key.group,
                    "clusterCount": clusters.len(), "ipCount": e.instances.len(),
                    "healthyInstanceCount": healthy, "triggerFlag": "false",
                    "protectThreshold": e.protect_threshold, "consul": consul,
                })
            })
            .collect()
    };
    let page = crate::core::Page::of(rows, page_no, page_size);
    Ok(axum::Json(json!({"count": page.total_count, "serviceList": page.items})).into_response())
}

/// `GET /nacos/v1/ns/catalog/instances?serviceName&groupName&namespaceId&clusterName&pageNo&pageSize`:
/// every instance of a service, disabled and unhealthy ones included.
pub async fn instances(
    State(app): State<AppState>,
    service: Checked<ServiceKey>,
    p: Params,
) -> Result<Response, ApiError> {
    let service = service.into_inner();
    let cluster = p.str("clusterName").trim().to_owned();
    let page_no = p.number("pageNo", 1, Style::Text)?;
    let page_size = p.number("pageSize", 500, Style::Text)?;
    let entry = app
        .core
        .get_service(&service)
        .map_err(naming_error)?
        .ok_or_else(|| {
            ApiError::new(
                Style::Text,
                StatusCode::NOT_FOUND,
                20004,
                format!("service not found: {}", service.grouped()),
            )
        })?;
    let grouped = if service.group == DEFAULT_GROUP {
        service.service.clone()
    } else {
        service.grouped()
    };
    let list: Vec<Value> = entry
        .instances
        .values()
        .filter(|i| cluster.is_empty() || i.spec.cluster == cluster)
        .map(|i| {
            json!({
                "instanceId": i.spec.instance_id, "ip": i.spec.ip, "port": i.spec.port,
                "weight": i.spec.weight, "healthy": i.spec.healthy, "enabled": i.spec.enabled,
                "ephemeral": i.spec.ephemeral, "clusterName": i.spec.cluster,
                "serviceName": grouped, "metadata": i.spec.metadata,
                "registerTime": i.register_time, "lastChangeSeq": i.seq,
            })
        })
        .collect();
    let page = crate::core::Page::of(list, page_no, page_size);
    Ok(axum::Json(json!({"count": page.total_count, "list": page.items})).into_response())
}
