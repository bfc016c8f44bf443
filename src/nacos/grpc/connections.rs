//! SDK connections. Nacos keys a connection on its transport: the unary calls and the
//! bi-stream of one SDK client share one HTTP/2 connection, so its remote address names it. A
//! connection is usable once its ConnectionSetupRequest arrived on the bi-stream; what it
//! listens to, subscribes to and registered (ephemeral instances) belongs to it and goes with it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::mpsc;

use super::proto::Payload;
use crate::core::configs::ConfigKey;
use crate::core::registry::{InstanceKey, ServiceKey};

/// The server side of a bi-stream: where pushes go.
pub type Outbound = mpsc::Sender<Result<Payload, tonic::Status>>;

pub struct Connection {
    pub id: String,
    pub client_ip: String,
    state: Mutex<ConnState>,
}

#[derive(Default)]
struct ConnState {
    outbound: Option<Outbound>,
    last_active: Option<Instant>,
    app_name: String,
    /// Config listened to, with the tenant exactly as the client sent it (pushes echo it).
    listens: HashMap<ConfigKey, String>,
    subscriptions: HashSet<ServiceKey>,
    /// Ephemeral instances registered over this connection, per service.
    instances: HashMap<ServiceKey, Vec<InstanceKey>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Connection {
    pub fn is_set_up(&self) -> bool {
        lock(&self.state).outbound.is_some()
    }

    /// Ends the bi-stream: the client sees its connection close and reconnects.
    pub fn disconnect(&self) {
        lock(&self.state).outbound = None;
    }

    pub fn touch(&self) {
        lock(&self.state).last_active = Some(Instant::now());
    }

    pub fn idle_for(&self) -> std::time::Duration {
        lock(&self.state)
            .last_active
            .map_or(std::time::Duration::ZERO, |t| t.elapsed())
    }

    pub fn app_name(&self) -> String {
        lock(&self.state).app_name.clone()
    }

    /// Queues a push; false when the client is gone or not reading.
    pub fn send(&self, payload: Payload) -> bool {
        let outbound = lock(&self.state).outbound.clone();
        outbound.is_some_and(|o| o.try_send(Ok(payload)).is_ok())
    }

    /// True when the key was not listened to before.
    pub fn listen(&self, key: ConfigKey, tenant_as_sent: String) -> bool {
        lock(&self.state)
            .listens
            .insert(key, tenant_as_sent)
            .is_none()
    }

    /// True when the key was listened to.
    pub fn unlisten(&self, key: &ConfigKey) -> bool {
        lock(&self.state).listens.remove(key).is_some()
    }

    /// The tenant the client used for `key`, if it listens to it.
    pub fn listening(&self, key: &ConfigKey) -> Option<String> {
        lock(&self.state).listens.get(key).cloned()
    }

    /// True when this changed the subscription.
    pub fn subscribe(&self, service: ServiceKey, on: bool) -> bool {
        let mut state = lock(&self.state);
        if on {
            state.subscriptions.insert(service)
        } else {
            state.subscriptions.remove(&service)
        }
    }

    pub fn subscribed(&self, service: &ServiceKey) -> bool {
        lock(&self.state).subscriptions.contains(service)
    }

    pub fn subscriptions(&self) -> Vec<ServiceKey> {
        lock(&self.state).subscriptions.iter().cloned().collect()
    }

    pub fn listens(&self) -> Vec<(ConfigKey, String)> {
        lock(&self.state)
            .listens
            .iter()
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect()
    }

    /// Records the instances this connection now has in `service`; returns the ones it had
    /// that are no longer among them.
    pub fn own_instances(&self, service: &ServiceKey, now: Vec<InstanceKey>) -> Vec<InstanceKey> {
        let mut state = lock(&self.state);
        let before = if now.is_empty() {
            state.instances.remove(service).unwrap_or_default()
        } else {
            state
                .instances
                .insert(service.clone(), now.clone())
                .unwrap_or_default()
        };
        before.into_iter().filter(|k| !now.contains(k)).collect()
    }

    pub fn owned_instances(&self) -> Vec<(ServiceKey, InstanceKey)> {
        lock(&self.state)
            .instances
            .iter()
            .flat_map(|(s, keys)| keys.iter().map(move |k| (s.clone(), k.clone())))
            .collect()
    }
}

/// Every SDK connection to this node.
#[derive(Default)]
pub struct Connections {
    by_remote: Mutex<HashMap<SocketAddr, Arc<Connection>>>,
    push_ids: AtomicU64,
    last_ref_time: AtomicI64,
}

impl Connections {
    /// The connection of a transport, made on first sight (ServerCheck or setup may come first).
    pub fn of(&self, remote: SocketAddr) -> Arc<Connection> {
        lock(&self.by_remote)
            .entry(remote)
            .or_insert_with(|| {
                let conn = Arc::new(Connection {
                    id: format!(
                        "{}_{}_{}",
                        chrono::Utc::now().timestamp_millis(),
                        remote.ip(),
                        remote.port()
                    ),
                    client_ip: remote.ip().to_string(),
                    state: Mutex::default(),
                });
                conn.touch();
                conn
            })
            .clone()
    }

    pub fn get(&self, remote: &SocketAddr) -> Option<Arc<Connection>> {
        lock(&self.by_remote).get(remote).cloned()
    }

    /// Marks a connection set up: pushes now reach it.
    pub fn set_up(
        &self,
        remote: SocketAddr,
        outbound: Outbound,
        labels: &BTreeMap<String, String>,
    ) -> Arc<Connection> {
        let conn = self.of(remote);
        {
            let mut state = lock(&conn.state);
            state.outbound = Some(outbound);
            state.last_active = Some(Instant::now());
            state.app_name = labels.get("AppName").cloned().unwrap_or_default();
        }
        conn
    }

    /// Forgets a connection; returns it so what it owned can be released.
    pub fn remove(&self, remote: &SocketAddr) -> Option<Arc<Connection>> {
        lock(&self.by_remote).remove(remote)
    }

    pub fn remove_id(&self, id: &str) -> Option<Arc<Connection>> {
        let mut all = lock(&self.by_remote);
        let remote = all.iter().find(|(_, c)| c.id == id).map(|(r, _)| *r)?;
        all.remove(&remote)
    }

    pub fn all(&self) -> Vec<Arc<Connection>> {
        lock(&self.by_remote).values().cloned().collect()
    }

    pub fn count(&self) -> usize {
        lock(&self.by_remote).len()
    }

    pub fn next_push_id(&self) -> u64 {
        self.push_ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A `lastRefTime` for a naming push: the clock, but strictly increasing (SDKs drop a push
    /// whose lastRefTime is not newer than what they hold).
    pub fn next_ref_time(&self) -> i64 {
        let now = chrono::Utc::now().timestamp_millis();
        let mut last = self.last_ref_time.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.last_ref_time.compare_exchange(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_transport_is_one_connection_and_ref_times_only_increase() {
        let c = Connections::default();
        let remote: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        assert_eq!(c.of(remote).id, c.of(remote).id);
        assert!(c.of(remote).id.ends_with("_10.0.0.1_5000"));
        assert!(!c.of(remote).is_set_up());
        let mut last = 0;
        for _ in 0..1000 {
            let t = c.next_ref_time();
            assert!(t > last);
            last = t;
        }
    }

    #[test]
    fn a_second_registration_replaces_the_first() {
        let c = Connections::default();
        let conn = c.of("10.0.0.1:5000".parse().unwrap());
        let service = ServiceKey::new("", "G", "s");
        let key = |port| InstanceKey {
            cluster: "DEFAULT".into(),
            ip: "1.1.1.1".into(),
            port,
        };
        assert!(conn.own_instances(&service, vec![key(1)]).is_empty());
        assert_eq!(conn.own_instances(&service, vec![key(2)]), vec![key(1)]);
        assert_eq!(conn.own_instances(&service, vec![]), vec![key(2)]);
        assert!(conn.owned_instances().is_empty());
    }
}
