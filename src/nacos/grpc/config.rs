//! Config requests over gRPC, and ConfigChangeNotifyRequest pushes.

use serde_json::{Value, json};

use super::Grpc;
use super::connections::Connection;
use super::proto::Payload;
use super::wire::{self, Body, code};
use crate::core::configs::ConfigKey;
use crate::core::configs::PublishConfig;
use crate::core::{Actor, CoreError};

/// A core error as Nacos answers a handler's exception: resultCode and errorCode alike.
pub fn core_error(e: &CoreError) -> Payload {
    let code = match e {
        CoreError::Invalid { .. } | CoreError::NamespaceNotFound(_) => code::INVALID_PARAM,
        CoreError::NotFound(_) => code::NOT_FOUND,
        CoreError::Conflict(_) => code::CONFLICT,
        CoreError::Unavailable(_) => code::SERVER_ERROR,
    };
    wire::error(code, code, &e.to_string())
}

pub fn query(g: &Grpc, key: &ConfigKey) -> Payload {
    const KIND: &str = "ConfigQueryResponse";
    match g.core.get_config(key) {
        Ok(Some(e)) => wire::ok(
            KIND,
            json!({"content": e.content, "encryptedDataKey": e.encrypted_data_key,
                   "contentType": e.config_type, "md5": e.md5, "lastModified": e.modify_time, "beta": false}),
        ),
        // An unknown namespace holds no configs: Nacos answers "not found" for any tenant.
        Ok(None) | Err(CoreError::NamespaceNotFound(_)) => wire::failed(
            KIND,
            500,
            code::CONFIG_NOT_FOUND,
            "config data not exist",
            json!({"content": "", "encryptedDataKey": "", "contentType": "", "md5": "", "lastModified": 0, "beta": false}),
        ),
        Err(e) => core_error(&e),
    }
}

pub async fn publish(
    g: &Grpc,
    actor: &Actor,
    key: ConfigKey,
    body: &Body,
    conn: &Connection,
) -> Payload {
    const KIND: &str = "ConfigPublishResponse";
    let extra = body.object("additionMap");
    let app_name = match extra.text("appName") {
        a if a.is_empty() => conn.app_name(),
        a => a,
    };
    let request = PublishConfig {
        key,
        content: body.text("content"),
        config_type: extra.text("type"),
        app_name,
        desc: extra.text("desc"),
        tags: extra.text("config_tags"),
        encrypted_data_key: extra.text("encryptedDataKey"),
        cas_md5: Some(body.text("casMd5")).filter(|m| !m.is_empty()),
    };
    match g.core.publish_config(actor, request).await {
        Ok(_) => wire::ok(KIND, json!({})),
        Err(CoreError::Conflict(_)) => wire::failed(
            KIND,
            500,
            code::SERVER_ERROR,
            "Cas publish fail, server md5 may have changed.",
            json!({}),
        ),
        Err(e) => core_error(&e),
    }
}

pub async fn remove(g: &Grpc, actor: &Actor, key: &ConfigKey) -> Payload {
    match g.core.remove_config(actor, key).await {
        Ok(_) => wire::ok("ConfigRemoveResponse", json!({})),
        Err(e) => core_error(&e),
    }
}

/// Listens (or stops listening) to configs, each named by the parsed (and checked) key of its
/// context; answers the listened ones whose md5 differs.
pub fn batch_listen(
    g: &Grpc,
    body: &Body,
    items: Vec<(ConfigKey, Body)>,
    conn: &Connection,
) -> Payload {
    let listen = body.flag("listen", true);
    let mut changed = Vec::new();
    for (key, ctx) in items {
        if !listen {
            if conn.unlisten(&key) {
                g.core.metrics.listeners.dec();
            }
            continue;
        }
        // Echoed as the client spelled it: clients match answers by their own text.
        let tenant = ctx.text("tenant");
        let current = g
            .core
            .get_config(&key)
            .ok()
            .flatten()
            .map(|e| e.md5.clone())
            .unwrap_or_default();
        if current != ctx.text("md5") {
            changed.push(json!({"dataId": key.data_id, "group": key.group, "tenant": tenant}));
        }
        if conn.listen(key, tenant) {
            g.core.metrics.listeners.inc();
        }
    }
    wire::ok(
        "ConfigChangeBatchListenResponse",
        json!({"changedConfigs": Value::Array(changed)}),
    )
}

/// Tells every connection listening to `key` that it changed (each with its own tenant text).
pub fn notify(g: &Grpc, key: &ConfigKey) {
    for conn in g.connections.all() {
        if let Some(tenant) = conn.listening(key) {
            conn.send(wire::push(
                "ConfigChangeNotifyRequest",
                g.next_push_id(),
                "config",
                json!({"dataId": key.data_id, "group": key.group, "tenant": tenant}),
            ));
        }
    }
}
