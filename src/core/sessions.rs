//! Consul sessions: what KV locks belong to. Creation and destruction are events; renewals are
//! liveness (fanned out over core NATS `nacre.renew.session.<id>`, never stored), and expiry after
//! twice the TTL (Consul's own bound) is proposed by every node with compare-and-set on the
//! session's subject, so it happens once. Ending a session releases or deletes its locked keys,
//! as its behavior says.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::event::{Event, SessionData, SessionRef};
use super::log::Expect;
use super::txn::TxnOp;
use super::{Actor, Core, CoreError, names};

const RENEW_PREFIX: &str = "nacre.renew";
const KIND: &str = "session";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEntry {
    #[serde(flatten)]
    pub data: SessionData,
    pub create_index: u64,
    pub modify_index: u64,
}

/// Folds a session event; returns the session id it changed.
pub fn apply(
    sessions: &mut BTreeMap<String, SessionEntry>,
    seq: u64,
    event: &Event,
) -> Option<String> {
    match event {
        Event::SessionCreated(d) => {
            sessions.insert(
                d.id.clone(),
                SessionEntry {
                    data: d.clone(),
                    create_index: seq,
                    modify_index: seq,
                },
            );
            Some(d.id.clone())
        }
        Event::SessionDestroyed(r) => {
            sessions.remove(&r.id);
            Some(r.id.clone())
        }
        _ => None,
    }
}

/// Consul's TTL rule: empty, or between 10 s and 24 h.
pub fn parse_ttl(ttl: &str) -> Result<Option<Duration>, CoreError> {
    if ttl.is_empty() {
        return Ok(None);
    }
    let d = humantime::parse_duration(ttl)
        .map_err(|_| CoreError::invalid("TTL", format!("Invalid Session TTL '{ttl}'")))?;
    if d < Duration::from_secs(10) || d > Duration::from_secs(86_400) {
        return Err(CoreError::invalid(
            "TTL",
            format!("Invalid Session TTL '{ttl}', must be between [10s=24h0m0s]"),
        ));
    }
    Ok(Some(d))
}

/// Last renewal of each session seen by this node.
#[derive(Default)]
pub struct Renewals(Mutex<BTreeMap<String, Instant>>);

impl Renewals {
    pub fn record(&self, kind: &str, id: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(format!("{kind}/{id}"), Instant::now());
        }
    }

    /// Forgets the clocks of `kind` whose ids are not `live` (ended sessions, removed checks),
    /// so the table holds what exists rather than every id ever renewed.
    pub fn keep_only(&self, kind: &str, live: &std::collections::HashSet<&str>) {
        if let Ok(mut m) = self.0.lock() {
            m.retain(|key, _| {
                key.split_once('/')
                    .is_none_or(|(k, id)| k != kind || live.contains(id))
            });
        }
    }

    /// Time since the last renewal; a clock never seen starts now.
    pub fn silence(&self, kind: &str, id: &str, now: Instant) -> Duration {
        match self.0.lock() {
            Ok(mut m) => {
                now.saturating_duration_since(*m.entry(format!("{kind}/{id}")).or_insert(now))
            }
            Err(_) => Duration::ZERO,
        }
    }
}

impl Core {
    /// Records a renewal here and tells the other nodes (core NATS; never an event).
    pub async fn renew(&self, kind: &str, id: &str) {
        self.renewals.record(kind, id);
        let subject = format!("{RENEW_PREFIX}.{kind}.{}", names::encode(id));
        let _ = self.js.client().publish(subject, bytes::Bytes::new()).await;
    }
}

impl Core {
    pub fn session(&self, id: &str) -> Option<SessionEntry> {
        self.model.read().sessions.get(id).cloned()
    }

    pub fn sessions(&self) -> Vec<SessionEntry> {
        self.model.read().sessions.values().cloned().collect()
    }

    pub async fn create_session(
        &self,
        actor: &Actor,
        mut data: SessionData,
    ) -> Result<String, CoreError> {
        parse_ttl(&data.ttl)?;
        if data.behavior.is_empty() {
            data.behavior = "release".into();
        }
        if !matches!(data.behavior.as_str(), "release" | "delete") {
            return Err(CoreError::invalid(
                "Behavior",
                format!("Invalid Behavior setting '{}'", data.behavior),
            ));
        }
        data.id = uuid::Uuid::new_v4().to_string();
        let id = data.id.clone();
        self.commit(
            actor,
            Event::SessionCreated(data),
            Expect::LastSubjectSequence(0),
        )
        .await?;
        self.renewals.record(KIND, &id);
        Ok(id)
    }

    /// Renews a session's TTL (not an event) and tells the other nodes.
    pub async fn renew_session(&self, id: &str) -> Option<SessionEntry> {
        let entry = self.session(id)?;
        self.renew(KIND, id).await;
        Some(entry)
    }

    /// Ends a session: its locked keys are released or deleted, then it is destroyed. False when
    /// it no longer exists (or another node ended it first).
    pub async fn destroy_session(
        &self,
        actor: &Actor,
        id: &str,
        reason: &str,
    ) -> Result<bool, CoreError> {
        let Some(entry) = self.session(id) else {
            return Ok(false);
        };
        let locked: Vec<super::kv::KvEntry> = {
            let state = self.model.read();
            state
                .kv
                .values()
                .filter(|e| e.session.as_deref() == Some(id))
                .cloned()
                .collect()
        };
        for e in locked {
            let (key, session) = (e.key.clone(), id.to_owned());
            let ops = if entry.data.behavior == "delete" {
                vec![
                    TxnOp::CheckSession { key, session },
                    TxnOp::Delete { key: e.key.clone() },
                ]
            } else {
                let (value, flags) = (e.raw(), e.flags);
                vec![TxnOp::Unlock {
                    key,
                    value,
                    flags,
                    session,
                }]
            };
            // A key released meanwhile by whoever changed it fails its check: nothing to do.
            self.kv_transact(actor, ops).await?;
        }
        let event = Event::SessionDestroyed(SessionRef {
            id: id.to_owned(),
            reason: reason.to_owned(),
        });
        self.commit_if_unchanged(
            actor,
            event,
            Expect::LastSubjectSequence(entry.modify_index),
        )
        .await
    }

    /// Listens to other nodes' renewals for ever.
    pub async fn follow_renewals(self) {
        let client = self.js.client();
        loop {
            if let Ok(mut sub) = client.subscribe(format!("{RENEW_PREFIX}.>")).await {
                while let Some(msg) = sub.next().await {
                    let mut parts = msg.subject.rsplitn(3, '.');
                    if let (Some(token), Some(kind)) = (parts.next(), parts.next())
                        && let Ok(id) = names::decode(token)
                    {
                        self.renewals.record(kind, &id);
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Ends sessions silent for twice their TTL. Called from the liveness loop.
    pub async fn expire_sessions(&self) -> Result<usize, CoreError> {
        let now = Instant::now();
        let sessions = self.sessions();
        self.renewals
            .keep_only(KIND, &sessions.iter().map(|s| s.data.id.as_str()).collect());
        let due: Vec<String> = {
            sessions
                .iter()
                .filter_map(|s| {
                    let ttl = parse_ttl(&s.data.ttl).ok().flatten()?;
                    (self.renewals.silence(KIND, &s.data.id, now) > ttl * 2)
                        .then(|| s.data.id.clone())
                })
                .collect()
        };
        let actor = Actor {
            user: "nacre-liveness".into(),
            ip: String::new(),
        };
        let mut ended = 0;
        for id in due {
            if self.destroy_session(&actor, &id, "expired").await? {
                ended += 1;
            }
        }
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_follow_consuls_bounds() {
        assert_eq!(parse_ttl("").unwrap(), None);
        assert_eq!(parse_ttl("15s").unwrap(), Some(Duration::from_secs(15)));
        for bad in ["5s", "25h", "soon"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn renewal_clocks_are_kept_only_for_what_exists() {
        let r = Renewals::default();
        r.record("session", "live");
        r.record("session", "ended");
        r.record("check", "ended");
        r.keep_only("session", &["live"].into_iter().collect());
        let kept: Vec<String> = r.0.lock().unwrap().keys().cloned().collect();
        assert_eq!(kept, ["check/ended", "session/live"]);
    }

    #[test]
    fn sessions_fold() {
        let mut sessions = BTreeMap::new();
        let data = SessionData {
            id: "s".into(),
            name: "n".into(),
            node: "x".into(),
            ttl: "10s".into(),
            behavior: "release".into(),
            lock_delay_ns: 0,
        };
        apply(&mut sessions, 4, &Event::SessionCreated(data));
        assert_eq!(sessions["s"].create_index, 4);
        apply(
            &mut sessions,
            5,
            &Event::SessionDestroyed(SessionRef {
                id: "s".into(),
                reason: "client".into(),
            }),
        );
        assert!(sessions.is_empty());
    }
}
