//! Config operations: publish (with compare-and-set), remove, get, search.

use std::sync::Arc;

use md5::{Digest, Md5};

use super::auth::{Reader, Resource};
use super::event::{ConfigDeleted, ConfigPublished, Event};
use super::log::Expect;
use super::state::{ConfigEntry, ConfigKey};
use super::{Actor, Core, CoreError, Page, validate};

/// Nacos' content digest: lower-case hex md5 of the UTF-8 content.
pub fn md5_hex(content: &str) -> String {
    hex::encode(Md5::digest(content.as_bytes()))
}

#[derive(Debug, Clone, Default)]
pub struct PublishConfig {
    pub key: ConfigKey,
    pub content: String,
    pub config_type: String,
    pub app_name: String,
    pub desc: String,
    pub tags: String,
    pub encrypted_data_key: String,
    /// Compare-and-set: publish only if the current md5 is this.
    pub cas_md5: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ConfigQuery {
    pub namespace: String,
    pub data_id: String,
    pub group: String,
    pub app_name: String,
    pub tags: String,
    pub content: String,
    /// `*` in data id, group and content matches any run of characters (Nacos' blur search).
    pub blur: bool,
    pub page_no: usize,
    pub page_size: usize,
}

impl Default for ConfigKey {
    fn default() -> Self {
        ConfigKey::new("", "", "")
    }
}

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

/// What an import does with a config that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPolicy {
    Skip,
    Overwrite,
    /// Stop at the first config that already exists.
    Abort,
}

impl std::str::FromStr for ImportPolicy {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s.to_ascii_uppercase().as_str() {
            "" | "SKIP" => Ok(Self::Skip),
            "OVERWRITE" => Ok(Self::Overwrite),
            "ABORT" => Ok(Self::Abort),
            other => Err(CoreError::invalid(
                "policy",
                format!("policy must be SKIP, OVERWRITE or ABORT, not {other}"),
            )),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    pub success: usize,
    pub skipped: usize,
    /// Configs refused (invalid), as (dataId, group, reason).
    pub failed: Vec<(String, String, String)>,
    /// Set when ABORT stopped at an existing config.
    pub aborted_at: Option<ConfigKey>,
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

/// `*` matches any run of characters; everything else matches itself. A pattern without `*` is
/// a substring match, as Nacos' console search behaves.
pub(crate) fn glob(pattern: &str, value: &str) -> bool {
    if !pattern.contains('*') {
        return value.contains(pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(split) => split,
        None => return true,
    };
    let Some(mut remaining) = value.strip_prefix(first) else {
        return false;
    };
    let (last, middle) = match rest.split_last() {
        Some(split) => split,
        None => return remaining.is_empty(),
    };
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_nacos() {
        assert_eq!(md5_hex("hello"), "5d41402abc4b2a76b9719d911017c592");
    }

    #[test]
    fn blur_patterns() {
        assert!(glob("app*", "app.yaml"));
        assert!(glob("*.yaml", "app.yaml"));
        assert!(glob("*p.y*", "app.yaml"));
        assert!(glob("*", "anything"));
        assert!(!glob("app*", "my-app"));
        assert!(!glob("*.yml", "app.yaml"));
        assert!(glob("p.y", "app.yaml"));
        assert!(!glob("a*a", "a"));
    }

    #[test]
    fn pages_cut_and_count() {
        let page = Page::of((1..=7).collect::<Vec<_>>(), 2, 3);
        assert_eq!(
            (page.total_count, page.pages_available, page.items),
            (7, 3, vec![4, 5, 6])
        );
        assert!(Page::of(vec![1], 5, 10).items.is_empty());
    }
}
