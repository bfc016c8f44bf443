//! Which Nacre nodes are up, learned through NATS (no static member list): each node keeps a
//! presence entry in the short-lived leases bucket (it expires with the bucket's max age unless
//! refreshed) and reads everyone's. The same loop polls the stream's last sequence, which the
//! projection-lag metric and readiness compare with the applied sequence.

use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::Core;
use super::names;

const PRESENCE_PREFIX: &str = "node.";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    pub name: String,
    /// `host:port` of its HTTP API.
    pub address: String,
    pub datacenter: String,
    pub region: String,
    pub zone: String,
    pub version: String,
    pub started_at: i64,
    pub seen_at: i64,
    /// The last stream sequence this node had applied when it last announced itself.
    #[serde(default)]
    pub applied: u64,
}

/// Presence entries: every node's announcement (`nacre status` reads them too).
pub async fn read_nodes(leases: &kv::Store) -> Vec<NodeInfo> {
    let mut nodes = Vec::new();
    if let Ok(mut keys) = leases.keys().await {
        while let Some(Ok(k)) = keys.next().await {
            if !k.starts_with(PRESENCE_PREFIX) {
                continue;
            }
            if let Ok(Some(value)) = leases.get(&k).await
                && let Ok(node) = serde_json::from_slice::<NodeInfo>(&value)
            {
                nodes.push(node);
            }
        }
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    nodes
}

impl Core {
    /// Nodes seen at the last refresh, this one included.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.cluster.read().map(|n| n.clone()).unwrap_or_default()
    }

    /// Announces this node and refreshes the member list and the stream's last sequence, for ever.
    pub async fn keep_presence(self, leases: kv::Store, mut me: NodeInfo, every: Duration) {
        let key = format!("{PRESENCE_PREFIX}{}", names::encode(&me.name));
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            me.seen_at = chrono::Utc::now().timestamp_millis();
            me.applied = self.model.applied();
            if let Ok(value) = serde_json::to_vec(&me) {
                let _ = leases.put(&key, value.into()).await;
            }
            let nodes = read_nodes(&leases).await;
            if let Ok(mut cluster) = self.cluster.write() {
                *cluster = nodes;
            }
            if let Ok(stream) = self.js.get_stream(&self.stream_name).await
                && let Ok(info) = stream.get_info().await
            {
                self.metrics.stream_last_seq.store(
                    info.state.last_sequence,
                    std::sync::atomic::Ordering::Relaxed,
                );
                self.model.note_exists(info.state.last_sequence);
            }
        }
    }

    /// Stream sequence minus applied sequence (0 when caught up).
    pub fn projection_lag(&self) -> u64 {
        let last = self
            .metrics
            .stream_last_seq
            .load(std::sync::atomic::Ordering::Relaxed);
        last.saturating_sub(self.model.applied())
    }

    /// Whether the connection to NATS is up.
    pub fn nats_connected(&self) -> bool {
        self.js.client().connection_state() == async_nats::connection::State::Connected
    }
}
