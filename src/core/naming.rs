//! naming: the operations (reads from the read model, writes as events). Its
//! types and its part of the fold are `nacre_model::naming`.

use super::auth::{Reader, Resource};
use super::event::{Event, InstanceData, InstanceRef, ServiceRef};
use super::log::Expect;
use super::registry::{Instance, InstanceKey, ServiceEntry, ServiceKey};
use super::{Actor, Core, CoreError, Page, validate};
pub use nacre_model::naming::*;
use std::sync::Arc;

impl Core {
    fn check_service(&self, service: &ServiceKey) -> Result<(), CoreError> {
        validate::service_name(&service.service)?;
        validate::group(&service.group)?;
        self.require_namespace(&service.namespace)
    }

    fn check_instance(input: &InstanceInput) -> Result<(), CoreError> {
        validate::ip(&input.ip)?;
        validate::weight(input.weight)?;
        if !input.cluster.is_empty() {
            validate::cluster(&input.cluster)?;
        }
        Ok(())
    }

    /// Validates a register/update request into the instance's key and event payload.
    fn instance_data(
        &self,
        service: &ServiceKey,
        input: InstanceInput,
    ) -> Result<(InstanceKey, InstanceData), CoreError> {
        self.check_service(service)?;
        Self::check_instance(&input)?;
        let spec = input.into_spec(service);
        // Every protocol's metadata rule is checked by its adapter; this bounds the record
        // whatever it carries (Consul checks and tags included).
        let size = serde_json::to_vec(&spec).map_or(0, |v| v.len());
        super::limits::record("instance", size, super::limits::INSTANCE_RECORD_BYTES)?;
        let key = InstanceKey {
            cluster: spec.cluster.clone(),
            ip: spec.ip.clone(),
            port: spec.port,
        };
        let data = InstanceData {
            namespace: service.namespace.clone(),
            group: service.group.clone(),
            service: service.service.clone(),
            instance: spec,
        };
        Ok((key, data))
    }

    pub async fn register_instance(
        &self,
        actor: &Actor,
        service: &ServiceKey,
        input: InstanceInput,
    ) -> Result<u64, CoreError> {
        let (key, data) = self.instance_data(service, input)?;
        let seq = self
            .commit(actor, Event::InstanceRegistered(data), Expect::Anything)
            .await?;
        self.metrics.service_register.inc();
        self.beats.record(service, &key);
        Ok(seq)
    }

    /// Changes a registered instance's settings (it must exist).
    pub async fn update_instance(
        &self,
        actor: &Actor,
        service: &ServiceKey,
        input: InstanceInput,
    ) -> Result<u64, CoreError> {
        let (key, data) = self.instance_data(service, input)?;
        if self.get_instance(service, &key).is_none() {
            return Err(instance_not_found(service, &key));
        }
        self.commit(actor, Event::InstanceUpdated(data), Expect::Anything)
            .await
    }

    pub async fn deregister_instance(
        &self,
        actor: &Actor,
        service: &ServiceKey,
        key: &InstanceKey,
        reason: &str,
    ) -> Result<u64, CoreError> {
        self.check_service(service)?;
        if self.get_instance(service, key).is_none() {
            return Err(instance_not_found(service, key));
        }
        let event = Event::InstanceDeregistered(InstanceRef {
            namespace: service.namespace.clone(),
            group: service.group.clone(),
            service: service.service.clone(),
            ip: key.ip.clone(),
            port: key.port,
            cluster: key.cluster.clone(),
            reason: reason.to_owned(),
        });
        self.commit(actor, event, Expect::Anything).await
    }

    pub fn get_instance(&self, service: &ServiceKey, key: &InstanceKey) -> Option<Arc<Instance>> {
        self.model
            .read()
            .registry
            .get(service)
            .and_then(|e| e.instances.get(key).cloned())
    }

    /// Selects a visible service's instances under the read lock (no copy of the service), with
    /// the service's sequence (what changes whenever the selection may) and `lastRefTime`.
    pub fn select_instances(
        &self,
        service: &ServiceKey,
        clusters: &[String],
        healthy_only: bool,
    ) -> Result<Option<(Selection, u64, i64)>, CoreError> {
        self.check_service(service)?;
        self.metrics.service_query.inc();
        let state = self.model.read();
        Ok(state
            .registry
            .get(service)
            .filter(|e| e.visible())
            .map(|e| (select(e, clusters, healthy_only), e.seq, e.last_ref_time)))
    }

    /// A visible service, cloned (instances are shared, so this is cheap).
    pub fn get_service(&self, service: &ServiceKey) -> Result<Option<ServiceEntry>, CoreError> {
        self.check_service(service)?;
        Ok(self
            .model
            .read()
            .registry
            .get(service)
            .filter(|e| e.visible())
            .cloned())
    }

    pub async fn create_service(
        &self,
        actor: &Actor,
        service: &ServiceKey,
        input: ServiceInput,
    ) -> Result<u64, CoreError> {
        self.check_service(service)?;
        validate::protect_threshold(input.protect_threshold)?;
        let seq = {
            let state = self.model.read();
            match state.registry.get(service) {
                Some(e) if e.visible() => {
                    return Err(CoreError::Conflict(format!(
                        "specified service {} already exists",
                        service.grouped()
                    )));
                }
                Some(e) => e.seq,
                None => 0,
            }
        };
        let event = Event::ServiceCreated(service_data(service, input));
        self.commit(actor, event, Expect::LastSubjectSequence(seq))
            .await
    }

    pub async fn update_service(
        &self,
        actor: &Actor,
        service: &ServiceKey,
        input: ServiceInput,
    ) -> Result<u64, CoreError> {
        self.check_service(service)?;
        validate::protect_threshold(input.protect_threshold)?;
        if self.get_service(service)?.is_none() {
            return Err(service_not_found(service));
        }
        self.commit(
            actor,
            Event::ServiceUpdated(service_data(service, input)),
            Expect::Anything,
        )
        .await
    }

    /// Deletes a service that has no instances left.
    pub async fn delete_service(
        &self,
        actor: &Actor,
        service: &ServiceKey,
    ) -> Result<u64, CoreError> {
        let entry = self
            .get_service(service)?
            .ok_or_else(|| service_not_found(service))?;
        if !entry.instances.is_empty() {
            return Err(CoreError::Conflict(format!(
                "Service {} is not empty, can't be delete. Please unregister instance first",
                service.grouped()
            )));
        }
        let event = Event::ServiceDeleted(ServiceRef {
            namespace: service.namespace.clone(),
            group: service.group.clone(),
            service: service.service.clone(),
        });
        self.commit(actor, event, Expect::LastSubjectSequence(entry.seq))
            .await
    }

    /// Visible service names of a namespace (and group, if given) that `reader` may read, paged.
    pub fn list_services(
        &self,
        namespace: &str,
        group: &str,
        reader: &Reader,
        page_no: usize,
        page_size: usize,
    ) -> Result<Page<ServiceKey>, CoreError> {
        self.require_namespace(namespace)?;
        let namespace = super::state::normalize_namespace(namespace);
        let state = self.model.read();
        let keys: Vec<ServiceKey> = state
            .registry
            .values()
            .filter(|e| {
                e.visible()
                    && e.key.namespace == namespace
                    && (group.is_empty() || e.key.group == group)
                    && reader.may_read(&state.auth, &Resource::of_service(&e.key))
            })
            .map(|e| e.key.clone())
            .collect();
        drop(state);
        Ok(Page::of(keys, page_no, page_size))
    }
}
