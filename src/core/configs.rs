//! configs: the operations (reads from the read model, writes as events). Its
//! types and its part of the fold are `nacre_model::configs`.

use super::auth::{Reader, Resource};
use super::event::{ConfigDeleted, ConfigPublished, Event};
use super::log::Expect;
use super::{Actor, Core, CoreError, Page, validate};
pub use nacre_model::configs::*;
use std::sync::Arc;

/// Checks a key as a request names it (the namespace must exist).
pub fn validate_key(core: &Core, key: &ConfigKey) -> Result<(), CoreError> {
    validate::data_id(&key.data_id)?;
    validate::group(&key.group)?;
    core.require_namespace(&key.namespace)
}

impl Core {
    pub fn get_config(&self, key: &ConfigKey) -> Result<Option<Arc<ConfigEntry>>, CoreError> {
        validate_key(self, key)?;
        self.metrics.config_query.inc();
        Ok(self.model.read().config(key).cloned())
    }

    /// Publishes a config and returns the event's sequence once it is durable and applied here.
    pub async fn publish_config(
        &self,
        actor: &Actor,
        req: PublishConfig,
    ) -> Result<u64, CoreError> {
        validate_key(self, &req.key)?;
        validate::content(&req.content, self.limits.max_content_bytes)?;
        validate::config_fields(&req)?;
        let expect = match req.cas_md5.as_deref().filter(|m| !m.is_empty()) {
            None => Expect::Anything,
            Some(cas) => {
                let state = self.model.read();
                let slot = state.configs.get(&req.key);
                match slot.and_then(|s| s.entry.as_ref()) {
                    Some(entry) if entry.md5 != cas => {
                        return Err(CoreError::Conflict(format!(
                            "casMd5 {cas} does not match the current md5 of {}",
                            req.key.data_id
                        )));
                    }
                    _ => Expect::LastSubjectSequence(slot.map_or(0, |s| s.seq)),
                }
            }
        };
        let md5 = md5_hex(&req.content);
        let config_type = if req.config_type.is_empty() {
            "text".to_owned()
        } else {
            req.config_type
        };
        let event = Event::ConfigPublished(ConfigPublished {
            namespace: req.key.namespace,
            group: req.key.group,
            data_id: req.key.data_id,
            content: req.content,
            md5,
            config_type,
            app_name: req.app_name,
            desc: req.desc,
            tags: req.tags,
            encrypted_data_key: req.encrypted_data_key,
            src_ip: actor.ip.clone(),
            src_user: actor.user.clone(),
        });
        let seq = self.commit(actor, event, expect).await?;
        self.metrics.config_publish.inc();
        Ok(seq)
    }

    /// Removes a config. Removing one that does not exist succeeds and records nothing.
    pub async fn remove_config(
        &self,
        actor: &Actor,
        key: &ConfigKey,
    ) -> Result<Option<u64>, CoreError> {
        validate_key(self, key)?;
        let (md5, seq) = {
            let state = self.model.read();
            match state.configs.get(key) {
                Some(slot) => match &slot.entry {
                    Some(entry) => (entry.md5.clone(), slot.seq),
                    None => return Ok(None),
                },
                None => return Ok(None),
            }
        };
        let event = Event::ConfigDeleted(ConfigDeleted {
            namespace: key.namespace.clone(),
            group: key.group.clone(),
            data_id: key.data_id.clone(),
            md5,
            src_ip: actor.ip.clone(),
            src_user: actor.user.clone(),
        });
        // Conditional on what was read, so a concurrent re-publish is not deleted blindly.
        match self
            .commit(actor, event, Expect::LastSubjectSequence(seq))
            .await
        {
            Ok(seq) => Ok(Some(seq)),
            Err(CoreError::Conflict(_)) => Err(CoreError::Conflict(format!(
                "{} was changed while it was being removed; retry",
                key.data_id
            ))),
            Err(e) => Err(e),
        }
    }

    /// The configs `query` matches that `reader` may read, paged.
    pub fn search_configs(
        &self,
        query: &ConfigQuery,
        reader: &Reader,
    ) -> Result<Page<Arc<ConfigEntry>>, CoreError> {
        self.require_namespace(&query.namespace)?;
        let namespace = super::state::normalize_namespace(&query.namespace);
        let matches = |pattern: &str, value: &str| {
            pattern.is_empty()
                || if query.blur {
                    glob(pattern, value)
                } else {
                    pattern == value
                }
        };
        let tags: Vec<&str> = query
            .tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        let state = self.model.read();
        let found: Vec<_> = state
            .live_configs()
            .filter(|e| e.key.namespace == namespace)
            .filter(|e| {
                matches(&query.data_id, &e.key.data_id) && matches(&query.group, &e.key.group)
            })
            .filter(|e| query.app_name.is_empty() || e.app_name == query.app_name)
            .filter(|e| query.content.is_empty() || glob(&query.content, &e.content))
            .filter(|e| tags.is_empty() || e.tags.split(',').any(|t| tags.contains(&t.trim())))
            .filter(|e| reader.may_read(&state.auth, &Resource::of_config(&e.key)))
            .cloned()
            .collect();
        drop(state);
        Ok(Page::of(found, query.page_no, query.page_size))
    }
}

impl Core {
    /// Imports configs one event each, in order, into the namespace their keys name.
    pub async fn import_configs(
        &self,
        actor: &Actor,
        items: Vec<PublishConfig>,
        policy: ImportPolicy,
    ) -> Result<ImportReport, CoreError> {
        let mut report = ImportReport::default();
        for item in items {
            self.require_namespace(&item.key.namespace)?;
            let exists = self.model.read().config(&item.key).is_some();
            if exists {
                match policy {
                    ImportPolicy::Skip => {
                        report.skipped += 1;
                        continue;
                    }
                    ImportPolicy::Abort => {
                        report.aborted_at = Some(item.key.clone());
                        break;
                    }
                    ImportPolicy::Overwrite => {}
                }
            }
            let (data_id, group) = (item.key.data_id.clone(), item.key.group.clone());
            match self.publish_config(actor, item).await {
                Ok(_) => report.success += 1,
                Err(CoreError::Invalid { message, .. }) => {
                    report.failed.push((data_id, group, message))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }
}
