//! sessions: the operations (reads from the read model, writes as events). Its
//! types and its part of the fold are `nacre_model::sessions`.

pub use nacre_model::sessions::*;

const RENEW_PREFIX: &str = "nacre.renew";
const KIND: &str = "session";
use super::event::{Event, SessionData, SessionRef};
use super::log::Expect;
use super::txn::TxnOp;
use super::{Actor, Core, CoreError, names};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
                .entries
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
    fn renewal_clocks_are_kept_only_for_what_exists() {
        let r = Renewals::default();
        r.record("session", "live");
        r.record("session", "ended");
        r.record("check", "ended");
        r.keep_only("session", &["live"].into_iter().collect());
        let kept: Vec<String> = r.0.lock().unwrap().keys().cloned().collect();
        assert_eq!(kept, ["check/ended", "session/live"]);
    }
}
