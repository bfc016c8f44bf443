//! Consul's agent services and checks, over the one registry (no second store): a Consul service
//! is a persistent instance of the Nacos service of the same name (namespace `public`, group
//! `DEFAULT_GROUP`), carrying its Consul ID, tags and checks in metadata (`consul.*`). A check
//! status change is an instance update (an event; the instance is healthy when every check
//! passes); a TTL pass is liveness, renewed over core NATS; a TTL that runs out turns the check
//! critical once (compare-and-set on the service), and `DeregisterCriticalServiceAfter` removes it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::event::{Event, InstanceData, InstanceRef};
use super::log::Expect;
use super::naming::InstanceInput;
use super::registry::{DEFAULT_CLUSTER, DEFAULT_GROUP, Instance, ServiceKey};
use super::state::PUBLIC_NAMESPACE;
use super::{Actor, Core, CoreError};

pub const META_ID: &str = "consul.id";
pub const META_TAGS: &str = "consul.tags";
pub const META_CHECKS: &str = "consul.checks";
const KIND: &str = "check";

/// A check as an instance carries it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckDef {
    pub id: String,
    pub name: String,
    /// `passing`, `warning` or `critical`.
    pub status: String,
    #[serde(default)]
    pub ttl: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub output: String,
    /// Consul's DeregisterCriticalServiceAfter.
    #[serde(default)]
    pub deregister_after: String,
    /// An HTTP check: the URL Nacre probes (2xx passing, 429 warning, anything else critical).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub http: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// A TCP check: the `host:port` Nacre connects to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tcp: String,
    /// How often a probed check runs, and how long one probe may take.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interval: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub timeout: String,
}

impl CheckDef {
    /// Whether Nacre runs this check itself (HTTP or TCP), rather than waiting for a TTL pass.
    pub fn is_probed(&self) -> bool {
        !self.http.is_empty() || !self.tcp.is_empty()
    }

    /// Consul's check type.
    pub fn kind(&self) -> &'static str {
        match (self.http.is_empty(), self.tcp.is_empty()) {
            (false, _) => "http",
            (_, false) => "tcp",
            _ => "ttl",
        }
    }
}

/// What `/v1/agent/service/register` supplies.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    pub address: String,
    pub port: u16,
    pub meta: BTreeMap<String, String>,
    pub weight: f64,
    pub checks: Vec<CheckDef>,
}

/// A Consul service as found in the registry.
#[derive(Debug, Clone)]
pub struct AgentService {
    pub service: ServiceKey,
    pub instance: Arc<Instance>,
    pub id: String,
    pub tags: Vec<String>,
    pub checks: Vec<CheckDef>,
    /// Meta without Nacre's `consul.*` keys.
    pub meta: BTreeMap<String, String>,
}

impl AgentService {
    fn of(service: &ServiceKey, instance: &Arc<Instance>) -> Option<Self> {
        let m = &instance.spec.metadata;
        let id = m.get(META_ID)?.clone();
        Some(Self {
            service: service.clone(),
            instance: instance.clone(),
            id,
            tags: m
                .get(META_TAGS)
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default(),
            checks: m
                .get(META_CHECKS)
                .and_then(|c| serde_json::from_str(c).ok())
                .unwrap_or_default(),
            meta: m
                .iter()
                .filter(|(k, _)| !k.starts_with("consul."))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// Consul's view of a Nacos instance registered any way (no checks: passing or critical by health).
    pub fn view(service: &ServiceKey, instance: &Arc<Instance>) -> Self {
        Self::of(service, instance).unwrap_or_else(|| Self {
            service: service.clone(),
            instance: instance.clone(),
            id: format!(
                "{}-{}-{}",
                service.service, instance.spec.ip, instance.spec.port
            ),
            tags: Vec::new(),
            checks: Vec::new(),
            meta: instance.spec.metadata.clone(),
        })
    }

    pub fn passing(&self) -> bool {
        self.instance.spec.healthy
    }
}

pub fn validate_status(status: &str) -> Result<(), CoreError> {
    if matches!(status, "passing" | "warning" | "critical") {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "Status",
            format!("Invalid check status: \"{status}\""),
        ))
    }
}

fn metadata(reg: &Registration) -> Result<BTreeMap<String, String>, CoreError> {
    let mut m = reg.meta.clone();
    let invalid = |e: serde_json::Error| CoreError::invalid("Checks", e.to_string());
    m.insert(META_ID.into(), reg.id.clone());
    m.insert(
        META_TAGS.into(),
        serde_json::to_string(&reg.tags).map_err(invalid)?,
    );
    m.insert(
        META_CHECKS.into(),
        serde_json::to_string(&reg.checks).map_err(invalid)?,
    );
    Ok(m)
}

impl Core {
    /// Every service registered through Consul, in the public namespace.
    pub fn agent_services(&self) -> Vec<AgentService> {
        let state = self.model.read();
        state
            .registry
            .values()
            .filter(|e| e.key.namespace == PUBLIC_NAMESPACE)
            .flat_map(|e| {
                e.instances
                    .values()
                    .filter_map(|i| AgentService::of(&e.key, i))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn agent_service(&self, id: &str) -> Option<AgentService> {
        self.agent_services().into_iter().find(|s| s.id == id)
    }

    /// Registers (or replaces) a Consul service.
    pub async fn consul_register(&self, actor: &Actor, reg: Registration) -> Result<(), CoreError> {
        for check in &reg.checks {
            validate_status(&check.status)?;
            for (field, value) in [
                ("TTL", &check.ttl),
                ("Interval", &check.interval),
                ("Timeout", &check.timeout),
                ("DeregisterCriticalServiceAfter", &check.deregister_after),
            ] {
                if !value.is_empty() && humantime::parse_duration(value).is_err() {
                    return Err(CoreError::invalid(
                        field,
                        format!("Invalid {field}: {value:?}"),
                    ));
                }
            }
        }
        let service = ServiceKey::new(PUBLIC_NAMESPACE, DEFAULT_GROUP, &reg.name);
        if let Some(old) = self.agent_service(&reg.id)
            && (old.service != service
                || old.instance.spec.ip != reg.address
                || old.instance.spec.port != reg.port)
        {
            self.deregister_instance(actor, &old.service, &old.instance.key(), "client")
                .await?;
        }
        let healthy = reg.checks.iter().all(|c| c.status == "passing");
        let input = InstanceInput {
            ip: reg.address.clone(),
            port: reg.port,
            cluster: DEFAULT_CLUSTER.into(),
            weight: reg.weight,
            enabled: true,
            healthy,
            ephemeral: false,
            metadata: metadata(&reg)?,
        };
        self.register_instance(actor, &service, input).await?;
        for check in reg.checks.iter().filter(|c| !c.ttl.is_empty()) {
            self.renew(KIND, &check.id).await;
        }
        Ok(())
    }

    pub async fn consul_deregister(&self, actor: &Actor, id: &str) -> Result<(), CoreError> {
        let s = self
            .agent_service(id)
            .ok_or_else(|| CoreError::NotFound(format!("Unknown service ID \"{id}\"")))?;
        self.deregister_instance(actor, &s.service, &s.instance.key(), "client")
            .await
            .map(|_| ())
    }

    /// Sets a check's status (a TTL check's pass/warn/fail also renews its TTL).
    pub async fn consul_check(
        &self,
        actor: &Actor,
        check_id: &str,
        status: &str,
        output: &str,
    ) -> Result<(), CoreError> {
        validate_status(status)?;
        let s = self
            .agent_services()
            .into_iter()
            .find(|s| s.checks.iter().any(|c| c.id == check_id))
            .ok_or_else(|| CoreError::NotFound(format!("Unknown check ID \"{check_id}\"")))?;
        self.renew(KIND, check_id).await;
        if s.checks
            .iter()
            .any(|c| c.id == check_id && c.status == status)
        {
            return Ok(()); // no transition, no event
        }
        self.set_check_status(actor, &s, check_id, status, output, Expect::Anything)
            .await
            .map(|_| ())
    }

    /// Records the outcome of a probe Nacre ran (an HTTP or TCP check): an event only on a
    /// transition, conditional on the service as it was read, so one probe's verdict lands once.
    pub async fn record_probe(
        &self,
        check_id: &str,
        status: &str,
        output: &str,
    ) -> Result<bool, CoreError> {
        let Some(s) = self
            .agent_services()
            .into_iter()
            .find(|s| s.checks.iter().any(|c| c.id == check_id))
        else {
            return Ok(false); // deregistered meanwhile
        };
        if s.checks
            .iter()
            .any(|c| c.id == check_id && c.status == status)
        {
            return Ok(false);
        }
        let seq = self
            .model
            .read()
            .registry
            .get(&s.service)
            .map_or(0, |e| e.seq);
        let actor = Actor {
            user: "nacre-checks".into(),
            ip: String::new(),
        };
        self.set_check_status(
            &actor,
            &s,
            check_id,
            status,
            output,
            Expect::LastSubjectSequence(seq),
        )
        .await
    }

    async fn set_check_status(
        &self,
        actor: &Actor,
        s: &AgentService,
        check_id: &str,
        status: &str,
        output: &str,
        expect: Expect,
    ) -> Result<bool, CoreError> {
        let mut checks = s.checks.clone();
        for c in checks.iter_mut().filter(|c| c.id == check_id) {
            c.status = status.to_owned();
            c.output = output.to_owned();
        }
        let mut spec = s.instance.spec.clone();
        spec.healthy = checks.iter().all(|c| c.status == "passing");
        spec.metadata.insert(
            META_CHECKS.into(),
            serde_json::to_string(&checks).unwrap_or_default(),
        );
        let event = Event::InstanceUpdated(InstanceData {
            namespace: s.service.namespace.clone(),
            group: s.service.group.clone(),
            service: s.service.service.clone(),
            instance: spec,
        });
        self.commit_if_unchanged(actor, event, expect).await
    }

    /// Turns TTL checks silent past their TTL critical, and removes services critical past their
    /// DeregisterCriticalServiceAfter; each once, whichever node sees it first.
    pub async fn expire_checks(&self) -> Result<usize, CoreError> {
        let now = Instant::now();
        let actor = Actor {
            user: "nacre-liveness".into(),
            ip: String::new(),
        };
        let mut changed = 0;
        let services = self.agent_services();
        self.renewals.keep_only(
            KIND,
            &services
                .iter()
                .flat_map(|s| s.checks.iter().map(|c| c.id.as_str()))
                .collect(),
        );
        for s in services {
            for c in s.checks.iter().filter(|c| !c.ttl.is_empty()) {
                let Ok(ttl) = humantime::parse_duration(&c.ttl) else {
                    continue;
                };
                let silence = self.renewals.silence(KIND, &c.id, now);
                let seq = self
                    .model
                    .read()
                    .registry
                    .get(&s.service)
                    .map_or(0, |e| e.seq);
                let remove_after = humantime::parse_duration(&c.deregister_after)
                    .ok()
                    .map(|d| ttl + d);
                if remove_after.is_some_and(|limit| silence > limit) {
                    let event = Event::InstanceDeregistered(InstanceRef {
                        namespace: s.service.namespace.clone(),
                        group: s.service.group.clone(),
                        service: s.service.service.clone(),
                        ip: s.instance.spec.ip.clone(),
                        port: s.instance.spec.port,
                        cluster: s.instance.spec.cluster.clone(),
                        reason: "expired".into(),
                    });
                    changed += usize::from(
                        self.commit_if_unchanged(&actor, event, Expect::LastSubjectSequence(seq))
                            .await?,
                    );
                    break;
                }
                if silence > ttl && c.status != "critical" {
                    let output = format!("TTL expired (last pass {} s ago)", silence.as_secs());
                    changed += usize::from(
                        self.set_check_status(
                            &actor,
                            &s,
                            &c.id,
                            "critical",
                            &output,
                            Expect::LastSubjectSequence(seq),
                        )
                        .await?,
                    );
                    break;
                }
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_consuls_three() {
        for ok in ["passing", "warning", "critical"] {
            assert!(validate_status(ok).is_ok());
        }
        assert!(validate_status("fine").is_err());
    }

    #[test]
    fn registrations_travel_in_metadata() {
        let reg = Registration {
            id: "web-1".into(),
            name: "web".into(),
            tags: vec!["v1".into()],
            checks: vec![CheckDef {
                id: "service:web-1".into(),
                name: "ttl".into(),
                status: "critical".into(),
                ttl: "10s".into(),
                notes: String::new(),
                output: String::new(),
                deregister_after: String::new(),
                http: String::new(),
                method: String::new(),
                tcp: String::new(),
                interval: String::new(),
                timeout: String::new(),
            }],
            ..Default::default()
        };
        let m = metadata(&reg).unwrap();
        assert_eq!(m[META_ID], "web-1");
        assert_eq!(m[META_TAGS], r#"["v1"]"#);
        assert!(m[META_CHECKS].contains("service:web-1"));
    }
}
