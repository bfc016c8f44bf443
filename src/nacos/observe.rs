//! Metrics and cluster membership over HTTP: `/nacos/metrics` and `/metrics` (Prometheus text),
//! `/nacos/v1/core/cluster/nodes` (Nacos' member list, from NATS presence).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::error::success;

pub async fn prometheus(State(app): State<AppState>) -> Response {
    let core = &app.core;
    let m = &core.metrics;
    m.uptime.set(m.started.elapsed().as_secs() as i64);
    m.cluster_size.set(core.nodes().len() as i64);
    m.healthy
        .set(i64::from(super::health::not_ready(&app).is_none()));
    m.projection_lag.set(core.projection_lag() as i64);
    m.applied_seq.set(core.model.applied() as i64);
    {
        let state = core.model.read();
        let ephemeral = state
            .registry
            .values()
            .flat_map(|e| e.instances.values())
            .filter(|i| i.spec.ephemeral)
            .count();
        m.ephemeral_instances.set(ephemeral as i64);
        m.package_bytes
            .set(state.packages.values().map(|p| p.info.size as i64).sum());
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response()
}

fn members(app: &AppState) -> Vec<serde_json::Value> {
    app.core
        .nodes()
        .iter()
        .map(|n| {
            let (ip, port) = n.address.rsplit_once(':').unwrap_or((n.address.as_str(), "0"));
            json!({
                "ip": ip, "port": port.parse::<u16>().unwrap_or(0), "address": n.address, "state": "UP",
                "failAccessCnt": 0,
                "extendInfo": {
                    "nodeName": n.name, "datacenter": n.datacenter, "region": n.region, "zone": n.zone,
                    "version": n.version, "lastRefreshTime": n.seen_at, "startedAt": n.started_at,
                },
            })
        })
        .collect()
}

pub async fn cluster_nodes(State(app): State<AppState>) -> Response {
    axum::Json(json!({"code": 200, "message": null, "data": members(&app)})).into_response()
}

pub async fn cluster_nodes_v2(State(app): State<AppState>) -> Response {
    success(members(&app))
}
