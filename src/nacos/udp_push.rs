//! Push to Nacos 1.x-style HTTP clients over UDP, as Nacos does: a client that lists a
//! service's instances with `clientIP` and `udpPort` is sent
//! `{"type":"dom","data":"<ServiceInfo JSON>","lastRefTime":N}` (gzipped from 1 KiB) on every
//! change of that service, and answers `push-ack`. Without it, such clients (the npm `nacos`
//! package) only notice a change on their next poll.
//!
//! A subscriber lasts while it keeps polling (clients poll every `cacheMillis` regardless); a
//! sweep forgets silent ones even when their service never changes. Pushes go only to the
//! address the list request came from (see `naming::list`), so Nacre is no UDP reflector, and
//! the table is bounded.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::UdpSocket;
use tokio::sync::{OnceCell, broadcast};
use tracing::Instrument as _;

use super::views::ServiceInfoView;
use crate::core::Core;
use crate::core::naming::{Selection, clusters_of};
use crate::core::registry::ServiceKey;
use crate::core::state::Change;

/// Packets from this size on are gzipped (clients recognise gzip by its magic bytes).
const GZIP_FROM: usize = 1024;
/// A subscriber that has not polled for this long is forgotten.
const SUBSCRIBER_TTL: Duration = Duration::from_secs(30);
/// Most subscribers across all services; further ones are not recorded (they still poll).
const MAX_SUBSCRIBERS: usize = 10_000;

/// A service's subscribers: address → (clusters asked for, last poll).
type Subscribers = HashMap<SocketAddr, (String, Instant)>;

#[derive(Default)]
pub struct UdpPush {
    socket: OnceCell<Arc<UdpSocket>>,
    /// Per service: each subscriber's address, the clusters it asked for, when it last polled.
    subscribers: Mutex<HashMap<ServiceKey, Subscribers>>,
    push_ids: AtomicU64,
}

impl UdpPush {
    /// Records (or refreshes) a subscriber; the first one starts the push task.
    pub async fn subscribe(
        self: &Arc<Self>,
        core: &Arc<Core>,
        service: &ServiceKey,
        to: SocketAddr,
        clusters: &str,
    ) {
        let started = self
            .socket
            .get_or_try_init(|| async {
                let socket = Arc::new(UdpSocket::bind("0.0.0.0:0").await?);
                tokio::spawn(self.clone().run(core.clone(), socket.clone()));
                Ok::<_, std::io::Error>(socket)
            })
            .await;
        if let Err(e) = started {
            tracing::warn!(error = %e, "cannot open the UDP push socket");
            return;
        }
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        let known = subscribers
            .get(service)
            .is_some_and(|s| s.contains_key(&to));
        if !known && subscribers.values().map(HashMap::len).sum::<usize>() >= MAX_SUBSCRIBERS {
            tracing::debug!(%to, "UDP subscriber table full; the client keeps polling");
            return;
        }
        subscribers
            .entry(service.clone())
            .or_default()
            .insert(to, (clusters.to_owned(), Instant::now()));
        if !known {
            core.metrics.subscribers.inc();
        }
    }

    /// Forgets subscribers that stopped polling, in every service.
    fn sweep(&self, core: &Core, ttl: Duration) {
        self.sweep_with(&core.metrics, ttl);
    }

    fn sweep_with(&self, metrics: &crate::metrics::Metrics, ttl: Duration) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        let mut gone = 0;
        subscribers.retain(|_, of_service| {
            let before = of_service.len();
            of_service.retain(|_, (_, seen)| seen.elapsed() < ttl);
            gone += before - of_service.len();
            !of_service.is_empty()
        });
        metrics.subscribers.dec_by(gone as i64);
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        let subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subscribers.values().map(HashMap::len).sum()
    }

    async fn run(self: Arc<Self>, core: Arc<Core>, socket: Arc<UdpSocket>) {
        tokio::spawn(read_acks(socket.clone()));
        let sweeper = {
            let (this, core) = (self.clone(), core.clone());
            async move {
                let mut tick = tokio::time::interval(SUBSCRIBER_TTL / 3);
                loop {
                    tick.tick().await;
                    this.sweep(&core, SUBSCRIBER_TTL);
                }
            }
        };
        tokio::spawn(sweeper);
        let mut feed = core.model.subscribe();
        loop {
            let (services, trace) = match feed.recv().await {
                Ok(applied) => match &applied.change {
                    Change::Service(key) => (vec![key.clone()], applied.trace.clone()),
                    _ => continue,
                },
                Err(broadcast::error::RecvError::Lagged(_)) => (self.services(), None),
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let span = tracing::info_span!(
                "push udp",
                otel.name = "push udp",
                trace_id = tracing::field::Empty
            );
            crate::telemetry::continue_event(&span, trace.as_deref());
            async {
                for service in services {
                    for (to, clusters) in self.due(&core, &service) {
                        if let Some(packet) = self.packet(&core, &service, &clusters)
                            && let Err(e) = socket.send_to(&packet, to).await
                        {
                            tracing::debug!(error = %e, %to, "UDP push not sent");
                        }
                    }
                }
            }
            .instrument(span)
            .await;
        }
    }

    /// The addresses subscribed to a service now (the console's subscriber list).
    pub fn subscribers_of(&self, service: &ServiceKey) -> Vec<SocketAddr> {
        let subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subscribers.get(service).map_or_else(Vec::new, |s| {
            s.iter()
                .filter(|(_, (_, seen))| seen.elapsed() < SUBSCRIBER_TTL)
                .map(|(to, _)| *to)
                .collect()
        })
    }

    fn services(&self) -> Vec<ServiceKey> {
        let subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subscribers.keys().cloned().collect()
    }

    /// The live subscribers of a service (expired ones are dropped on the way).
    fn due(&self, core: &Core, service: &ServiceKey) -> Vec<(SocketAddr, String)> {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        let Some(of_service) = subscribers.get_mut(service) else {
            return Vec::new();
        };
        let before = of_service.len();
        of_service.retain(|_, (_, seen)| seen.elapsed() < SUBSCRIBER_TTL);
        core.metrics
            .subscribers
            .dec_by((before - of_service.len()) as i64);
        let due = of_service
            .iter()
            .map(|(to, (clusters, _))| (*to, clusters.clone()))
            .collect();
        if of_service.is_empty() {
            subscribers.remove(service);
        }
        due
    }

    /// The packet for one subscriber: the ServiceInfo its list request would return.
    fn packet(&self, core: &Core, service: &ServiceKey, clusters: &str) -> Option<Vec<u8>> {
        let wanted = clusters_of(clusters);
        let (selection, last_ref_time) = match core.select_instances(service, &wanted, false) {
            Ok(Some((selection, _, last_ref_time))) => (selection, last_ref_time),
            _ => (Selection::empty(), chrono::Utc::now().timestamp_millis()),
        };
        let grouped = service.grouped();
        let info = ServiceInfoView::new(
            service,
            &grouped,
            &grouped,
            &selection,
            clusters,
            last_ref_time,
            &core.timeouts,
        );
        let data = serde_json::to_string(&info).ok()?;
        // The ack echoes this number; keep it within a JavaScript number's exact range.
        let id = self.push_ids.fetch_add(1, Ordering::Relaxed)
            + u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0) * 1000;
        let packet =
            serde_json::to_vec(&json!({"type": "dom", "data": data, "lastRefTime": id})).ok()?;
        if packet.len() < GZIP_FROM {
            return Some(packet);
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&packet).ok()?;
        gz.finish().ok()
    }
}

/// Reads `push-ack` answers (their only use is to keep the client's socket from erroring).
async fn read_acks(socket: Arc<UdpSocket>) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match socket.recv_from(&mut buffer).await {
            Ok((n, from)) => {
                if let Some(ack) = buffer.get(..n)
                    && let Ok(ack) = serde_json::from_slice::<serde_json::Value>(ack)
                {
                    tracing::trace!(%from, kind = %ack["type"], "push ack");
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "UDP push socket read failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> ServiceKey {
        ServiceKey::new("", "G", name)
    }

    #[test]
    fn silent_subscribers_of_quiet_services_are_swept() {
        let push = UdpPush::default();
        let core_metrics = crate::metrics::Metrics::new();
        {
            let mut subscribers = push.subscribers.lock().unwrap();
            let long_ago = Instant::now() - Duration::from_secs(60);
            subscribers
                .entry(service("quiet"))
                .or_default()
                .insert("127.0.0.1:1".parse().unwrap(), (String::new(), long_ago));
            subscribers.entry(service("busy")).or_default().insert(
                "127.0.0.1:2".parse().unwrap(),
                (String::new(), Instant::now()),
            );
        }
        core_metrics.subscribers.inc_by(2);
        push.sweep_with(&core_metrics, SUBSCRIBER_TTL);
        assert_eq!(push.count(), 1);
        assert_eq!(push.services(), vec![service("busy")]);
        assert_eq!(core_metrics.subscribers.get(), 1);
    }
}
