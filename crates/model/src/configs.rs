//! Configs: their keys and entries, their part of the fold, and the requests that change them.

use std::collections::BTreeMap;
use std::sync::Arc;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::CoreError;
use super::event::Event;
use super::state::normalize_namespace;

/// Nacos' content digest: lower-case hex md5 of the UTF-8 content.
pub fn md5_hex(content: &str) -> String {
    hex::encode(Md5::digest(content.as_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigKey {
    pub namespace: String,
    pub group: String,
    pub data_id: String,
}

impl ConfigKey {
    pub fn new(namespace: &str, group: &str, data_id: &str) -> Self {
        Self {
            namespace: normalize_namespace(namespace).to_owned(),
            group: group.to_owned(),
            data_id: data_id.to_owned(),
        }
    }
}

/// A config as the views hold it. `seq` is the stream sequence of the last event folded in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigEntry {
    #[serde(flatten)]
    pub key: ConfigKey,
    pub content: String,
    pub md5: String,
    pub config_type: String,
    pub app_name: String,
    pub desc: String,
    pub tags: String,
    pub encrypted_data_key: String,
    pub src_ip: String,
    pub src_user: String,
    /// Sequence of the event that created this config (Nacos' numeric id).
    pub create_seq: u64,
    pub create_time: i64,
    pub modify_time: i64,
    pub seq: u64,
}

/// The latest event on one config's subject: the entry, or the sequence of its deletion, which
/// compare-and-set needs as the expected last subject sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSlot {
    pub seq: u64,
    pub entry: Option<Arc<ConfigEntry>>,
}

/// Folds a config event; returns the config it changed.
pub fn apply(
    configs: &mut BTreeMap<ConfigKey, ConfigSlot>,
    seq: u64,
    time: i64,
    event: &Event,
) -> Option<ConfigKey> {
    match event {
        Event::ConfigPublished(c) => {
            let key = ConfigKey::new(&c.namespace, &c.group, &c.data_id);
            let previous = configs.get(&key).and_then(|slot| slot.entry.clone());
            let (create_seq, create_time) = previous
                .as_ref()
                .map_or((seq, time), |p| (p.create_seq, p.create_time));
            let entry = ConfigEntry {
                key: key.clone(),
                content: c.content.clone(),
                md5: c.md5.clone(),
                config_type: c.config_type.clone(),
                app_name: c.app_name.clone(),
                desc: c.desc.clone(),
                tags: c.tags.clone(),
                encrypted_data_key: c.encrypted_data_key.clone(),
                src_ip: c.src_ip.clone(),
                src_user: c.src_user.clone(),
                create_seq,
                create_time,
                modify_time: time,
                seq,
            };
            configs.insert(
                key.clone(),
                ConfigSlot {
                    seq,
                    entry: Some(Arc::new(entry)),
                },
            );
            Some(key)
        }
        Event::ConfigDeleted(c) => {
            let key = ConfigKey::new(&c.namespace, &c.group, &c.data_id);
            configs.insert(key.clone(), ConfigSlot { seq, entry: None });
            Some(key)
        }
        _ => None,
    }
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

/// `*` matches any run of characters; everything else matches itself. A pattern without `*` is
/// a substring match, as Nacos' console search behaves.
pub fn glob(pattern: &str, value: &str) -> bool {
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
}
