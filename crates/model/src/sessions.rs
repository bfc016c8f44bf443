//! Consul sessions: what KV locks belong to. Creation and destruction are events; renewals are
//! liveness (fanned out over core NATS `nacre.renew.session.<id>`, never stored), and expiry after
//! twice the TTL (Consul's own bound) is proposed by every node with compare-and-set on the
//! session's subject, so it happens once. Ending a session releases or deletes its locked keys,
//! as its behavior says.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::CoreError;
use super::event::{Event, SessionData};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SessionRef;

    #[test]
    fn ttls_follow_consuls_bounds() {
        assert_eq!(parse_ttl("").unwrap(), None);
        assert_eq!(parse_ttl("15s").unwrap(), Some(Duration::from_secs(15)));
        for bad in ["5s", "25h", "soon"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
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
