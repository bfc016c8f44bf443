//! namespaces: the operations (reads from the read model, writes as events). Its
//! types and its part of the fold are `nacre_model::namespaces`.

use super::auth::{Reader, Resource};
use super::event::{Event, NamespaceData, NamespaceRef};
use super::log::Expect;
use super::state::PUBLIC_NAMESPACE;
use super::{Actor, Core, CoreError, validate};
pub use nacre_model::namespaces::*;

impl Core {
    /// `public` and the namespaces `reader`'s grants reach, each with the count of configs it
    /// may read.
    pub fn list_namespaces(&self, reader: &Reader) -> Vec<NamespaceInfo> {
        let state = self.model.read();
        let count = |ns: &str| {
            state
                .live_configs()
                .filter(|e| e.key.namespace == ns)
                .filter(|e| reader.may_read(&state.auth, &Resource::of_config(&e.key)))
                .count()
        };
        let mut out = vec![NamespaceInfo {
            id: PUBLIC_NAMESPACE.into(),
            name: "public".into(),
            desc: "Default Namespace".into(),
            config_count: count(PUBLIC_NAMESPACE),
            kind: 0,
        }];
        out.extend(
            state
                .namespaces
                .values()
                .filter(|n| reader.may_enter(&state.auth, &n.namespace))
                .map(|n: &NamespaceEntry| NamespaceInfo {
                    id: n.namespace.clone(),
                    name: n.name.clone(),
                    desc: n.desc.clone(),
                    config_count: count(&n.namespace),
                    kind: 2,
                }),
        );
        out
    }

    pub fn get_namespace(&self, id: &str, reader: &Reader) -> Result<NamespaceInfo, CoreError> {
        let id = super::state::normalize_namespace(id);
        self.list_namespaces(reader)
            .into_iter()
            .find(|n| n.id == id)
            .ok_or_else(|| CoreError::NamespaceNotFound(id.to_owned()))
    }

    /// Creates a namespace; an empty id gets a generated one. Returns the id.
    pub async fn create_namespace(
        &self,
        actor: &Actor,
        id: &str,
        name: &str,
        desc: &str,
    ) -> Result<String, CoreError> {
        let id = if id.trim().is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            id.trim().to_owned()
        };
        validate::new_namespace_id(&id)?;
        validate::namespace_name(name)?;
        if self.model.read().namespace_exists(&id) {
            return Err(CoreError::Conflict(format!(
                "namespaceId [{id}] already exist."
            )));
        }
        let event = Event::NamespaceCreated(NamespaceData {
            namespace: id.clone(),
            name: name.to_owned(),
            desc: desc.to_owned(),
        });
        // Expect no event on the subject yet, or the deletion we saw: two nodes creating the same
        // id at once cannot both win.
        let last = self.last_namespace_seq(&id);
        self.commit(actor, event, Expect::LastSubjectSequence(last))
            .await
            .map_err(|e| match e {
                CoreError::Conflict(_) => {
                    CoreError::Conflict(format!("namespaceId [{id}] already exist."))
                }
                other => other,
            })?;
        Ok(id)
    }

    pub async fn update_namespace(
        &self,
        actor: &Actor,
        id: &str,
        name: &str,
        desc: &str,
    ) -> Result<(), CoreError> {
        validate::namespace_name(name)?;
        self.require_custom_namespace(id)?;
        let event = Event::NamespaceUpdated(NamespaceData {
            namespace: id.to_owned(),
            name: name.to_owned(),
            desc: desc.to_owned(),
        });
        self.commit(actor, event, Expect::Anything)
            .await
            .map(|_| ())
    }

    /// Deletes an empty namespace. A namespace that still holds configs is refused rather than
    /// orphaning them.
    pub async fn delete_namespace(&self, actor: &Actor, id: &str) -> Result<(), CoreError> {
        self.require_custom_namespace(id)?;
        let configs = self
            .model
            .read()
            .live_configs()
            .filter(|e| e.key.namespace == id)
            .count();
        if configs > 0 {
            return Err(CoreError::Conflict(format!(
                "namespace {id} still holds {configs} config(s); delete them first"
            )));
        }
        let last = self.last_namespace_seq(id);
        let event = Event::NamespaceDeleted(NamespaceRef {
            namespace: id.to_owned(),
        });
        self.commit(actor, event, Expect::LastSubjectSequence(last))
            .await
            .map(|_| ())
    }

    fn require_custom_namespace(&self, id: &str) -> Result<(), CoreError> {
        if id.is_empty() || id == PUBLIC_NAMESPACE {
            return Err(CoreError::invalid(
                "namespaceId",
                "the public namespace cannot be changed",
            ));
        }
        if !self.model.read().namespaces.contains_key(id) {
            return Err(CoreError::NamespaceNotFound(id.to_owned()));
        }
        Ok(())
    }

    /// Sequence of the last event on a namespace's subject, for compare-and-set.
    fn last_namespace_seq(&self, id: &str) -> u64 {
        let state = self.model.read();
        state.namespace_seqs.get(id).copied().unwrap_or(0)
    }
}
