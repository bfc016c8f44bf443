//! Liveness of ephemeral instances (DESIGN invariant 6: liveness is not history).
//!
//! A heartbeat is never an event. The node that receives one records it and publishes a small
//! core-NATS message on `nacre.beat.<ns>.<group>.<service>`; every node subscribes, so each knows
//! every instance's last beat whichever node the load balancer chose. Each node's checker then
//! proposes the transitions (healthy → unhealthy, unhealthy → expired) as events appended with
//! `Nats-Expected-Last-Subject-Sequence` = the service's last sequence: when several nodes decide
//! the same transition, JetStream stores exactly one and refuses the others, which simply see the
//! result on their next pass. No leader, no home-made consensus.
//!
//! After a (re)connection a node may have missed beats, so it restarts every clock (a grace
//! period) rather than expiring instances on stale knowledge.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::event::{Event, InstanceHealth, InstanceRef};
use super::log::Expect;
use super::names;
use super::registry::{Instance, InstanceKey, ServiceKey};
use super::{Actor, Core, CoreError};

/// Prefix of heartbeat fan-out subjects (core NATS, not stored).
pub const BEAT_PREFIX: &str = "nacre.beat";

/// Nacos' per-instance overrides, in milliseconds.
pub const META_BEAT_INTERVAL: &str = "preserved.heart.beat.interval";
pub const META_BEAT_TIMEOUT: &str = "preserved.heart.beat.timeout";
pub const META_DELETE_TIMEOUT: &str = "preserved.ip.delete.timeout";

/// Defaults for instances that do not override them.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub beat_interval: Duration,
    pub unhealthy_after: Duration,
    pub delete_after: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            beat_interval: Duration::from_secs(5),
            unhealthy_after: Duration::from_secs(15),
            delete_after: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    fn millis(instance: &Instance, key: &str, default: Duration) -> Duration {
        instance
            .spec
            .metadata
            .get(key)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(default)
    }

    pub fn beat_interval(&self, instance: &Instance) -> Duration {
        Self::millis(instance, META_BEAT_INTERVAL, self.beat_interval)
    }

    pub fn unhealthy_after(&self, instance: &Instance) -> Duration {
        Self::millis(instance, META_BEAT_TIMEOUT, self.unhealthy_after)
    }

    pub fn delete_after(&self, instance: &Instance) -> Duration {
        Self::millis(instance, META_DELETE_TIMEOUT, self.delete_after)
    }
}

/// What a beat message carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Beat {
    cluster: String,
    ip: String,
    port: u16,
}

/// The last beat seen of each ephemeral instance, on this node. Nested by service so a check
/// pass looks instances up without building keys.
#[derive(Default)]
pub struct BeatTable {
    seen: Mutex<HashMap<ServiceKey, HashMap<InstanceKey, Instant>>>,
}

impl BeatTable {
    pub fn record(&self, service: &ServiceKey, instance: &InstanceKey) {
        let now = Instant::now();
        let mut seen = self.lock();
        match seen.get_mut(service) {
            Some(instances) => {
                instances.insert(instance.clone(), now);
            }
            None => {
                seen.insert(service.clone(), HashMap::from([(instance.clone(), now)]));
            }
        }
    }

    /// Forget what was seen: every clock restarts now (after missing beats while disconnected).
    pub fn restart_clocks(&self) {
        let now = Instant::now();
        for instances in self.lock().values_mut() {
            for seen in instances.values_mut() {
                *seen = now;
            }
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ServiceKey, HashMap<InstanceKey, Instant>>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A transition the checker proposes.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Unhealthy,
    Expired,
    /// A beat from an unhealthy instance.
    Healthy,
}

/// The transitions due now: pure, given the silences.
pub fn due(instance: &Instance, silence: Duration, timeouts: &Timeouts) -> Option<Transition> {
    if !instance.spec.ephemeral {
        return None;
    }
    if silence > timeouts.delete_after(instance) {
        Some(Transition::Expired)
    } else if instance.spec.healthy && silence > timeouts.unhealthy_after(instance) {
        Some(Transition::Unhealthy)
    } else {
        None
    }
}

fn beat_subject(service: &ServiceKey) -> String {
    format!(
        "{BEAT_PREFIX}.{}",
        names::join(&[&service.namespace, &service.group, &service.service])
    )
}

impl Core {
    /// Records a beat here and tells the other nodes.
    pub async fn record_beat(&self, service: &ServiceKey, instance: &InstanceKey) {
        self.beats.record(service, instance);
        let beat = Beat {
            cluster: instance.cluster.clone(),
            ip: instance.ip.clone(),
            port: instance.port,
        };
        if let Ok(payload) = serde_json::to_vec(&beat) {
            let _ = self
                .js
                .client()
                .publish(beat_subject(service), payload.into())
                .await;
        }
    }

    /// Listens to other nodes' beats for ever.
    pub async fn follow_beats(self) {
        let client = self.js.client();
        loop {
            match client.subscribe(format!("{BEAT_PREFIX}.>")).await {
                Ok(mut sub) => {
                    while let Some(msg) = sub.next().await {
                        let tokens: Vec<&str> = msg.subject.split('.').skip(2).collect();
                        let Ok(parts) = names::split(&tokens.join(".")) else {
                            continue;
                        };
                        let [namespace, group, service] = parts.as_slice() else {
                            continue;
                        };
                        let Ok(beat) = serde_json::from_slice::<Beat>(&msg.payload) else {
                            continue;
                        };
                        let service = ServiceKey::new(namespace, group, service);
                        self.beats.record(
                            &service,
                            &InstanceKey {
                                cluster: beat.cluster,
                                ip: beat.ip,
                                port: beat.port,
                            },
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot subscribe to heartbeats"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Restarts every clock whenever the connection to NATS is re-established.
    pub async fn grace_on_reconnect(self, mut connects: tokio::sync::watch::Receiver<u64>) {
        while connects.changed().await.is_ok() {
            self.beats.restart_clocks();
        }
    }

    /// Proposes due transitions every `interval`, for ever.
    pub async fn check_liveness(self, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.check_once().await {
                tracing::warn!(error = %e, "liveness check interrupted");
            }
            if self.model.health() == super::model::Health::Live {
                if let Err(e) = self.expire_sessions().await {
                    tracing::warn!(error = %e, "session expiry interrupted");
                }
                if let Err(e) = self.expire_checks().await {
                    tracing::warn!(error = %e, "check expiry interrupted");
                }
            }
        }
    }

    /// One pass: find due transitions, then append each, conditional on the service's sequence.
    pub async fn check_once(&self) -> Result<usize, CoreError> {
        if self.model.health() != super::model::Health::Live {
            return Ok(0);
        }
        let now = Instant::now();
        let mut proposals = Vec::new();
        {
            let state = self.model.read();
            let mut seen = self.beats.lock();
            // Drop clocks of instances that are gone; start clocks of instances never seen.
            seen.retain(|service, instances| {
                let Some(entry) = state.registry.get(service) else {
                    return false;
                };
                instances.retain(|key, _| entry.instances.contains_key(key));
                !instances.is_empty()
            });
            for entry in state.registry.values() {
                let mut clocks = seen.remove(&entry.key).unwrap_or_default();
                for (ikey, instance) in entry.instances.iter().filter(|(_, i)| i.spec.ephemeral) {
                    let last = match clocks.get(ikey) {
                        Some(last) => *last,
                        None => {
                            clocks.insert(ikey.clone(), now);
                            now
                        }
                    };
                    if let Some(t) = due(
                        instance,
                        now.saturating_duration_since(last),
                        &self.timeouts,
                    ) {
                        proposals.push((entry.key.clone(), ikey.clone(), t));
                    }
                }
                if !clocks.is_empty() {
                    seen.insert(entry.key.clone(), clocks);
                }
            }
        }
        let mut applied = 0;
        for (service, instance, transition) in proposals {
            if self.transition(&service, &instance, transition).await? {
                applied += 1;
            }
        }
        Ok(applied)
    }

    /// Marks an unhealthy instance healthy again after a beat: one event, whichever nodes the
    /// beats reached.
    pub async fn revive_instance(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> Result<(), CoreError> {
        for _ in 0..3 {
            if self
                .transition(service, instance, Transition::Healthy)
                .await?
            {
                return Ok(());
            }
            let healthy = self
                .get_instance(service, instance)
                .is_none_or(|i| i.spec.healthy);
            if healthy {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Appends one transition if the instance is still in the state that made it due.
    /// False when another node (or a newer change) got there first.
    async fn transition(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        t: Transition,
    ) -> Result<bool, CoreError> {
        let seq = {
            let state = self.model.read();
            let Some(entry) = state.registry.get(service) else {
                return Ok(false);
            };
            let still_due = |i: &Instance| match t {
                Transition::Expired => true,
                Transition::Unhealthy => i.spec.healthy,
                Transition::Healthy => !i.spec.healthy,
            };
            match entry.instances.get(instance) {
                Some(i) if still_due(i) => entry.seq,
                _ => return Ok(false),
            }
        };
        let event = match t {
            Transition::Expired => Event::InstanceDeregistered(InstanceRef {
                namespace: service.namespace.clone(),
                group: service.group.clone(),
                service: service.service.clone(),
                ip: instance.ip.clone(),
                port: instance.port,
                cluster: instance.cluster.clone(),
                reason: "expired".into(),
            }),
            Transition::Unhealthy | Transition::Healthy => Event::InstanceHealth(InstanceHealth {
                namespace: service.namespace.clone(),
                group: service.group.clone(),
                service: service.service.clone(),
                ip: instance.ip.clone(),
                port: instance.port,
                cluster: instance.cluster.clone(),
                healthy: t == Transition::Healthy,
            }),
        };
        let actor = Actor {
            user: "nacre-liveness".into(),
            ip: String::new(),
        };
        match self
            .commit(&actor, event, Expect::LastSubjectSequence(seq))
            .await
        {
            Ok(_) => Ok(true),
            Err(CoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::InstanceSpec;

    fn instance(ephemeral: bool, healthy: bool, meta: &[(&str, &str)]) -> Instance {
        Instance {
            spec: InstanceSpec {
                ip: "10.0.0.1".into(),
                port: 80,
                cluster: "DEFAULT".into(),
                weight: 1.0,
                enabled: true,
                healthy,
                ephemeral,
                metadata: meta
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                instance_id: String::new(),
            },
            seq: 1,
            register_time: 0,
        }
    }

    #[test]
    fn ephemeral_instances_turn_unhealthy_then_expire_on_nacos_defaults() {
        let t = Timeouts::default();
        let i = instance(true, true, &[]);
        assert_eq!(due(&i, Duration::from_secs(14), &t), None);
        assert_eq!(
            due(&i, Duration::from_secs(16), &t),
            Some(Transition::Unhealthy)
        );
        assert_eq!(
            due(&instance(true, false, &[]), Duration::from_secs(16), &t),
            None,
            "already unhealthy"
        );
        assert_eq!(
            due(&i, Duration::from_secs(31), &t),
            Some(Transition::Expired)
        );
    }

    #[test]
    fn per_instance_metadata_overrides_the_timeouts() {
        let t = Timeouts::default();
        let i = instance(
            true,
            true,
            &[(META_BEAT_TIMEOUT, "1000"), (META_DELETE_TIMEOUT, "2000")],
        );
        assert_eq!(
            due(&i, Duration::from_millis(1500), &t),
            Some(Transition::Unhealthy)
        );
        assert_eq!(
            due(&i, Duration::from_millis(2500), &t),
            Some(Transition::Expired)
        );
        let junk = instance(true, true, &[(META_BEAT_TIMEOUT, "soon")]);
        assert_eq!(
            due(&junk, Duration::from_secs(10), &t),
            None,
            "unparsable overrides fall back to defaults"
        );
    }

    #[test]
    fn persistent_instances_never_expire() {
        assert_eq!(
            due(
                &instance(false, true, &[]),
                Duration::from_secs(3600),
                &Timeouts::default()
            ),
            None
        );
    }
}
