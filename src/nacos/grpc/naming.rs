//! Naming requests over gRPC, and NotifySubscriberRequest pushes. Ephemeral instances belong to
//! the connection that registered them: one per service (a second registration replaces the
//! first, a batch replaces the set), removed when the connection goes.

use serde_json::{Value, json};

use super::Grpc;
use super::config::core_error;
use super::connections::Connection;
use super::proto::Payload;
use super::wire::{self, Body, code};
use crate::core::auth::Reader;
use crate::core::naming::{InstanceInput, Selection, clusters_of};
use crate::core::registry::{DEFAULT_CLUSTER, InstanceKey, ServiceKey};
use crate::core::{Actor, CoreError};
use crate::nacos::views::ServiceInfoView;

/// An instance from a request; the error is the message of an INVALID_PARAM answer.
fn instance_of(i: &Body, ephemeral: bool) -> Result<InstanceInput, String> {
    let port = i
        .number("port")
        .filter(|p| p.fract() == 0.0 && (1.0..=65535.0).contains(p))
        .ok_or("instance port must be 1-65535")?;
    let metadata = i.strings("metadata");
    crate::core::limits::nacos_metadata(&metadata).map_err(|e| e.to_string())?;
    Ok(InstanceInput {
        ip: i.text("ip"),
        port: port as u16,
        cluster: i.text("clusterName"),
        weight: i.number("weight").unwrap_or(1.0),
        enabled: i.flag("enabled", true),
        healthy: i.flag("healthy", true),
        ephemeral,
        metadata,
    })
}

fn key_of(input: &InstanceInput) -> InstanceKey {
    InstanceKey {
        cluster: if input.cluster.is_empty() {
            DEFAULT_CLUSTER.to_owned()
        } else {
            input.cluster.clone()
        },
        ip: input.ip.clone(),
        port: input.port,
    }
}

async fn deregister(
    g: &Grpc,
    actor: &Actor,
    service: &ServiceKey,
    key: &InstanceKey,
) -> Result<(), CoreError> {
    match g
        .core
        .deregister_instance(actor, service, key, "client")
        .await
    {
        Ok(_) | Err(CoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// InstanceRequest (ephemeral) and PersistentInstanceRequest.
pub async fn instance(
    g: &Grpc,
    actor: &Actor,
    service: ServiceKey,
    body: &Body,
    conn: &Connection,
    ephemeral: bool,
) -> Payload {
    let op = body.text("type");
    let input = match instance_of(&body.object("instance"), ephemeral) {
        Ok(input) => input,
        Err(e) => return wire::error(code::INVALID_PARAM, code::INVALID_PARAM, &e),
    };
    let key = key_of(&input);
    let result = match op.as_str() {
        "registerInstance" => register(g, actor, &service, vec![input], conn, ephemeral).await,
        "deregisterInstance" => {
            if ephemeral {
                let remaining: Vec<InstanceKey> = conn
                    .owned_instances()
                    .into_iter()
                    .filter(|(s, k)| *s == service && *k != key)
                    .map(|(_, k)| k)
                    .collect();
                conn.own_instances(&service, remaining);
            }
            deregister(g, actor, &service, &key).await
        }
        other => {
            let message = format!("Unsupported request type {other}");
            return wire::error(code::INVALID_PARAM, code::INVALID_PARAM, &message);
        }
    };
    match result {
        Ok(()) => wire::ok("InstanceResponse", json!({"type": op})),
        Err(e) => core_error(&e),
    }
}

/// Registers `inputs` as this connection's instances of `service`, replacing what it had.
async fn register(
    g: &Grpc,
    actor: &Actor,
    service: &ServiceKey,
    inputs: Vec<InstanceInput>,
    conn: &Connection,
    ephemeral: bool,
) -> Result<(), CoreError> {
    let keys: Vec<InstanceKey> = inputs.iter().map(key_of).collect();
    for input in inputs {
        g.core.register_instance(actor, service, input).await?;
    }
    if ephemeral {
        for old in conn.own_instances(service, keys) {
            deregister(g, actor, service, &old).await?;
        }
    }
    Ok(())
}

pub async fn batch(
    g: &Grpc,
    actor: &Actor,
    service: ServiceKey,
    body: &Body,
    conn: &Connection,
) -> Payload {
    let op = body.text("type");
    let listed = body.list("instances");
    if listed.len() > crate::core::limits::BATCH_INSTANCES {
        let message = format!(
            "{} instances in one batch; at most {}",
            listed.len(),
            crate::core::limits::BATCH_INSTANCES
        );
        return wire::error(code::INVALID_PARAM, code::INVALID_PARAM, &message);
    }
    let mut inputs = Vec::new();
    for i in listed {
        match instance_of(&i, true) {
            Ok(input) => inputs.push(input),
            Err(e) => return wire::error(code::INVALID_PARAM, code::INVALID_PARAM, &e),
        }
    }
    let result = match op.as_str() {
        "batchRegisterInstance" => register(g, actor, &service, inputs, conn, true).await,
        "batchDeregisterInstance" => {
            let gone: Vec<InstanceKey> = inputs.iter().map(key_of).collect();
            let remaining = conn
                .owned_instances()
                .into_iter()
                .filter(|(s, k)| *s == service && !gone.contains(k))
                .map(|(_, k)| k)
                .collect();
            conn.own_instances(&service, remaining);
            let mut result = Ok(());
            for key in &gone {
                if let Err(e) = deregister(g, actor, &service, key).await {
                    result = Err(e);
                }
            }
            result
        }
        other => {
            let message = format!("Unsupported request type {other}");
            return wire::error(code::INVALID_PARAM, code::INVALID_PARAM, &message);
        }
    };
    match result {
        Ok(()) => wire::ok("BatchInstanceResponse", json!({"type": op})),
        Err(e) => core_error(&e),
    }
}

/// A ServiceInfo as the SDKs parse it: the plain name, hosts named `GROUP@@name`.
pub fn service_info(g: &Grpc, service: &ServiceKey, clusters: &str, healthy_only: bool) -> Value {
    let wanted = clusters_of(clusters);
    let selection = match g.core.select_instances(service, &wanted, healthy_only) {
        Ok(Some((selection, _, _))) => selection,
        _ => Selection::empty(),
    };
    let grouped = service.grouped();
    let view = ServiceInfoView::new(
        service,
        &service.service,
        &grouped,
        &selection,
        clusters,
        g.connections.next_ref_time(),
        &g.core.timeouts,
    );
    serde_json::to_value(view).unwrap_or(Value::Null)
}

pub fn query(g: &Grpc, service: &ServiceKey, body: &Body) -> Payload {
    // Python's SDK spells it healthOnly.
    let healthy_only = body.flag("healthyOnly", false) || body.flag("healthOnly", false);
    let info = service_info(g, service, &body.text("cluster"), healthy_only);
    wire::ok("QueryServiceResponse", json!({"serviceInfo": info}))
}

pub fn subscribe(g: &Grpc, service: ServiceKey, body: &Body, conn: &Connection) -> Payload {
    let on = body.flag("subscribe", true);
    let changed = conn.subscribe(service.clone(), on);
    if changed {
        if on {
            g.core.metrics.subscribers.inc();
        } else {
            g.core.metrics.subscribers.dec();
        }
    }
    let info = service_info(g, &service, &body.text("clusters"), false);
    // As Nacos' ServiceSubscribedEvent: a connection's first subscription to a service is pushed
    // the service at once (to that connection only). The Java SDK relies on it after a reconnect:
    // its redo task re-subscribes and ignores the response's serviceInfo.
    if on && changed {
        push(g, &service, &[conn]);
    }
    wire::ok(
        "SubscribeServiceResponse",
        json!({"serviceInfo": info, "message": "success"}),
    )
}

/// The services of a namespace (and group) the reader may read.
pub fn list(
    g: &Grpc,
    namespace: &str,
    group: Option<&str>,
    reader: &Reader,
    body: &Body,
) -> Payload {
    let page_no = body.number("pageNo").unwrap_or(1.0).max(1.0) as usize;
    let page_size = body.number("pageSize").unwrap_or(10.0).max(1.0) as usize;
    match g
        .core
        .list_services(namespace, group.unwrap_or(""), reader, page_no, page_size)
    {
        Ok(page) => wire::ok(
            "ServiceListResponse",
            json!({"count": page.total_count,
                   "serviceNames": page.items.iter().map(|k| k.service.clone()).collect::<Vec<_>>(),
                   "message": "success"}),
        ),
        Err(CoreError::NamespaceNotFound(_)) => wire::ok(
            "ServiceListResponse",
            json!({"count": 0, "serviceNames": [], "message": "success"}),
        ),
        Err(e) => core_error(&e),
    }
}

/// Pushes a service's current instances to its subscribers.
pub fn notify(g: &Grpc, service: &ServiceKey) {
    let subscribers: Vec<_> = g
        .connections
        .all()
        .into_iter()
        .filter(|c| c.subscribed(service))
        .collect();
    let subscribers: Vec<&Connection> = subscribers.iter().map(|c| c.as_ref()).collect();
    push(g, service, &subscribers);
}

/// Pushes a service's current instances to these connections.
fn push(g: &Grpc, service: &ServiceKey, subscribers: &[&Connection]) {
    if subscribers.is_empty() {
        return;
    }
    let info = service_info(g, service, "", false);
    for conn in subscribers {
        conn.send(wire::push(
            "NotifySubscriberRequest",
            g.next_push_id(),
            "naming",
            json!({"namespace": service.namespace, "serviceName": service.service,
                   "groupName": service.group, "serviceInfo": info}),
        ));
    }
}
