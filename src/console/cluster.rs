//! `GET /nacre/v1/cluster`: the Nacre nodes (from NATS presence, each with what it says of
//! itself: applied sequence, lag, health), the event stream's state (replicas, placement,
//! leader), and the last backup when something recorded one.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::peers::{Answer, NodeStatus, Question, ask};
use crate::nacos::AppState;

pub async fn cluster(State(app): State<AppState>) -> Response {
    let core = &app.core;
    let (answers, complete) = ask(core, &Question::Node).await;
    let mut statuses: BTreeMap<String, NodeStatus> = answers
        .into_iter()
        .filter_map(|a| match a {
            Answer::Node { status } => Some((status.node.clone(), status)),
            _ => None,
        })
        .collect();
    let mut nodes: Vec<Value> = core
        .nodes()
        .into_iter()
        .map(|n| {
            let status = statuses.remove(&n.name);
            json!({
                "name": n.name, "address": n.address, "datacenter": n.datacenter,
                "region": n.region, "zone": n.zone, "version": n.version,
                "startedAt": n.started_at, "seenAt": n.seen_at,
                "answered": status.is_some(), "status": status,
            })
        })
        .collect();
    // A node that answered before its presence entry was read.
    for (name, status) in statuses {
        nodes.push(json!({"name": name, "answered": true, "status": status}));
    }
    let stream = stream_state(&app).await;
    axum::Json(json!({
        "node": core.console.node_name(),
        "complete": complete,
        "nodes": nodes,
        "stream": stream,
        "lastBackup": core.console.last_backup(),
    }))
    .into_response()
}

async fn stream_state(app: &AppState) -> Value {
    let Some(setup) = app.core.console.setup_ref() else {
        return json!({"error": "the event stream is not open yet"});
    };
    let info = async {
        setup
            .js
            .get_stream(&setup.stream_name)
            .await
            .map_err(|e| e.to_string())?
            .get_info()
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(std::time::Duration::from_secs(3), info).await {
        Ok(Ok(info)) => {
            let cluster = info.cluster.as_ref().map(|c| {
                json!({
                    "name": c.name, "leader": c.leader,
                    "replicas": c.replicas.iter().map(|r| json!({
                        "name": r.name, "current": r.current, "offline": r.offline,
                        "lag": r.lag, "activeMs": r.active.as_millis() as u64,
                    })).collect::<Vec<_>>(),
                })
            });
            json!({
                "name": info.config.name,
                "subjects": info.config.subjects,
                "replicas": info.config.num_replicas,
                "configuredReplicas": setup.replicas,
                "placement": info.config.placement.as_ref().map(|p| json!({"cluster": p.cluster, "tags": p.tags})),
                "storage": format!("{:?}", info.config.storage).to_lowercase(),
                "messages": info.state.messages,
                "bytes": info.state.bytes,
                "firstSeq": info.state.first_sequence,
                "lastSeq": info.state.last_sequence,
                "cluster": cluster,
            })
        }
        Ok(Err(e)) => json!({"error": format!("cannot read the stream: {e}")}),
        Err(_) => json!({"error": "the stream did not answer within 3 s"}),
    }
}
