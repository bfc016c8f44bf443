//! Questions every Nacre node answers about itself over core NATS (`nacre.console.ask`): who
//! listens to a config, who subscribes to a service, how far this node has applied the stream.
//! Listeners and subscribers hold a connection to one node only, so the console's answer is the
//! union of every node's. A question is published once; each node (this one included) replies
//! to its inbox; replies are gathered until every node seen through NATS presence has answered,
//! or a second has passed.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::core::Core;
use crate::core::configs::ConfigKey;
use crate::core::registry::ServiceKey;

/// The subject every node answers on.
pub const ASK_SUBJECT: &str = "nacre.console.ask";
/// How long a question waits for nodes that have not answered.
const GATHER_WAIT: Duration = Duration::from_secs(1);
/// How long a node that answered is still expected to answer.
const PEER_MEMORY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "camelCase")]
pub enum Question {
    Listeners { key: ConfigKey },
    Subscribers { service: ServiceKey },
    Node,
}

/// A client listening to a config: `protocol` is `http` (long polling) or `grpc`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerInfo {
    pub ip: String,
    /// The md5 the client holds (long polling says it; a gRPC listener is pushed every change,
    /// so it holds the current one).
    pub md5: String,
    pub protocol: String,
    pub app: String,
    pub node: String,
}

/// A client subscribed to a service: `protocol` is `grpc` or `udp` (1.x-style push).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriberInfo {
    pub ip: String,
    pub port: u16,
    pub protocol: String,
    pub app: String,
    pub node: String,
}

/// One node's view of itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub node: String,
    pub applied: u64,
    pub lag: u64,
    pub health: String,
    pub listeners: i64,
    pub subscribers: i64,
    pub grpc_connections: usize,
    pub nats_connected: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "camelCase")]
pub enum Answer {
    Listeners { listeners: Vec<ListenerInfo> },
    Subscribers { subscribers: Vec<SubscriberInfo> },
    Node { status: NodeStatus },
}

/// A node's reply: its name (so the asker knows who answered, even with nothing to say).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub node: String,
    pub answer: Answer,
}

/// This node's answer to a question.
pub fn answer(core: &Core, question: &Question) -> Answer {
    let hub = &core.console;
    let node = hub.node_name();
    match question {
        Question::Listeners { key } => {
            let mut listeners: Vec<ListenerInfo> = super::lock(&hub.http_listeners)
                .values()
                .flat_map(|l| {
                    l.keys
                        .iter()
                        .filter(|(k, _)| k == key)
                        .map(|(_, md5)| ListenerInfo {
                            ip: l.ip.clone(),
                            md5: md5.clone(),
                            protocol: "http".into(),
                            app: String::new(),
                            node: node.clone(),
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            if let Some(grpc) = hub.grpc.get() {
                let current = core
                    .model
                    .read()
                    .config(key)
                    .map(|e| e.md5.clone())
                    .unwrap_or_default();
                for conn in grpc.all() {
                    if conn.listening(key).is_some() {
                        listeners.push(ListenerInfo {
                            ip: conn.client_ip.clone(),
                            md5: current.clone(),
                            protocol: "grpc".into(),
                            app: conn.app_name(),
                            node: node.clone(),
                        });
                    }
                }
            }
            listeners.sort();
            listeners.dedup();
            Answer::Listeners { listeners }
        }
        Question::Subscribers { service } => {
            let mut subscribers = Vec::new();
            if let Some(grpc) = hub.grpc.get() {
                for conn in grpc.all() {
                    if conn.subscribed(service) {
                        // A connection id is `<millis>_<ip>_<port>` of the client's transport.
                        let port = conn
                            .id
                            .rsplit('_')
                            .next()
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(0);
                        subscribers.push(SubscriberInfo {
                            ip: conn.client_ip.clone(),
                            port,
                            protocol: "grpc".into(),
                            app: conn.app_name(),
                            node: node.clone(),
                        });
                    }
                }
            }
            if let Some(udp) = hub.udp.get() {
                for addr in udp.subscribers_of(service) {
                    subscribers.push(SubscriberInfo {
                        ip: addr.ip().to_string(),
                        port: addr.port(),
                        protocol: "udp".into(),
                        app: String::new(),
                        node: node.clone(),
                    });
                }
            }
            subscribers.sort();
            Answer::Subscribers { subscribers }
        }
        Question::Node => Answer::Node {
            status: NodeStatus {
                node,
                applied: core.model.applied(),
                lag: core.projection_lag(),
                health: format!("{:?}", core.model.health()),
                listeners: core.metrics.listeners.get(),
                subscribers: core.metrics.subscribers.get(),
                grpc_connections: hub.grpc.get().map_or(0, |g| g.count()),
                nats_connected: core.nats_connected(),
            },
        },
    }
}

/// Answers every node's questions, for ever (spawned by `nacre serve`).
pub async fn serve(core: Core) {
    let Some(client) = core.console.setup_ref().map(|s| s.js.client()) else {
        return;
    };
    loop {
        match client.subscribe(ASK_SUBJECT).await {
            Ok(mut questions) => {
                while let Some(message) = questions.next().await {
                    let Some(reply) = message.reply else { continue };
                    let Ok(question) = serde_json::from_slice::<Question>(&message.payload) else {
                        continue;
                    };
                    let reply_body = Reply {
                        node: core.console.node_name(),
                        answer: answer(&core, &question),
                    };
                    if let Ok(body) = serde_json::to_vec(&reply_body) {
                        let _ = client.publish(reply, body.into()).await;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot answer console questions yet"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Every node's answer: (answers, whether every node seen through presence answered).
pub async fn ask(core: &Core, question: &Question) -> (Vec<Answer>, bool) {
    let hub = &core.console;
    let mut expected: BTreeSet<String> = core.nodes().into_iter().map(|n| n.name).collect();
    {
        let mut peers = super::lock(&hub.peers);
        peers.retain(|_, seen| seen.elapsed() < PEER_MEMORY);
        expected.extend(peers.keys().cloned());
    }
    let local = || (vec![answer(core, question)], expected.len() <= 1);
    let Some(client) = core.console.setup_ref().map(|s| s.js.client()) else {
        return local();
    };
    let Ok(payload) = serde_json::to_vec(question) else {
        return local();
    };
    let inbox = client.new_inbox();
    let Ok(mut replies) = client.subscribe(inbox.clone()).await else {
        return local();
    };
    if client
        .publish_with_reply(ASK_SUBJECT, inbox, payload.into())
        .await
        .is_err()
    {
        return local();
    }
    let mut answers = Vec::new();
    let mut answered = BTreeSet::new();
    let deadline = tokio::time::sleep(GATHER_WAIT);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => break,
            next = replies.next() => {
                let Some(message) = next else { break };
                if let Ok(reply) = serde_json::from_slice::<Reply>(&message.payload)
                    && answered.insert(reply.node)
                {
                    answers.push(reply.answer);
                }
                if !expected.is_empty() && expected.is_subset(&answered) {
                    break;
                }
            }
        }
    }
    let _ = replies.unsubscribe().await;
    {
        let mut peers = super::lock(&hub.peers);
        for node in &answered {
            peers.insert(node.clone(), std::time::Instant::now());
        }
    }
    if answers.is_empty() {
        return local();
    }
    let complete = expected.is_subset(&answered);
    (answers, complete)
}
