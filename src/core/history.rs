//! Config history, read straight from the event stream (no second store to drift).
//!
//! Rows follow Nacos' semantics, which its console and clients expect: an insert row carries the
//! inserted content; an update or delete row carries the content as it was *before* that change
//! (so "previous" and rollback mean "undo this change"). A row's id is the stream sequence of the
//! event that made it.

use super::configs::ConfigKey;
use super::configs::PublishConfig;
use super::event::{ConfigPublished, Envelope, Event, config_subject};
use super::{Actor, Core, CoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    /// Nacos' `opType` letter.
    pub fn letter(self) -> &'static str {
        match self {
            Op::Insert => "I",
            Op::Update => "U",
            Op::Delete => "D",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryItem {
    pub id: u64,
    pub key: ConfigKey,
    pub op: Op,
    /// The config as this row records it (see the module comment).
    pub config: ConfigPublished,
    /// Who made the change, and when (epoch ms).
    pub src_ip: String,
    pub src_user: String,
    pub time: i64,
}

/// Turns one config's events, oldest first, into history rows, newest first.
pub fn rows(key: &ConfigKey, events: &[(u64, Envelope)]) -> Vec<HistoryItem> {
    let mut previous: Option<&ConfigPublished> = None;
    let mut out = Vec::new();
    for (seq, envelope) in events {
        let (op, config, src_ip, src_user) = match &envelope.body {
            Event::ConfigPublished(c) => {
                let row = match previous {
                    Some(p) => (Op::Update, p.clone(), c.src_ip.clone(), c.src_user.clone()),
                    None => (Op::Insert, c.clone(), c.src_ip.clone(), c.src_user.clone()),
                };
                previous = Some(c);
                row
            }
            Event::ConfigDeleted(d) => {
                let Some(p) = previous.take() else { continue };
                (Op::Delete, p.clone(), d.src_ip.clone(), d.src_user.clone())
            }
            _ => continue,
        };
        out.push(HistoryItem {
            id: *seq,
            key: key.clone(),
            op,
            config,
            src_ip,
            src_user,
            time: envelope.time_millis(),
        });
    }
    out.reverse();
    out
}

/// How long reading one config's history may take.
const READ_WITHIN: std::time::Duration = std::time::Duration::from_secs(20);

impl Core {
    /// Every event stored on one subject, oldest first.
    async fn subject_events(&self, subject: &str) -> Result<Vec<(u64, Envelope)>, CoreError> {
        let stored = super::stored::on_subject(&self.js, &self.stream_name, subject, READ_WITHIN)
            .await
            .map_err(|e| CoreError::Unavailable(format!("cannot read history: {e}")))?;
        Ok(stored.into_iter().map(|s| (s.seq, s.envelope)).collect())
    }

    /// A config's history, newest first.
    pub async fn config_history(&self, key: &ConfigKey) -> Result<Vec<HistoryItem>, CoreError> {
        super::configs::validate_key(self, key)?;
        let events = self
            .subject_events(&config_subject(&key.namespace, &key.group, &key.data_id))
            .await?;
        Ok(rows(key, &events))
    }

    /// The history row made by the event at `nid`, if that event is a config change.
    pub async fn history_item(&self, nid: u64) -> Result<Option<HistoryItem>, CoreError> {
        let stream = self
            .js
            .get_stream(&self.stream_name)
            .await
            .map_err(|e| CoreError::Unavailable(format!("cannot read history: {e}")))?;
        let Ok(message) = stream.get_raw_message(nid).await else {
            return Ok(None);
        };
        let Ok(envelope) = serde_json::from_slice::<Envelope>(&message.payload) else {
            return Ok(None);
        };
        let key = match &envelope.body {
            Event::ConfigPublished(c) => ConfigKey::new(&c.namespace, &c.group, &c.data_id),
            Event::ConfigDeleted(c) => ConfigKey::new(&c.namespace, &c.group, &c.data_id),
            _ => return Ok(None),
        };
        Ok(self
            .config_history(&key)
            .await?
            .into_iter()
            .find(|row| row.id == nid))
    }

    /// Undoes the change a history row records, as Nacos' console does: an insert is undone by deleting
    /// the config, an update or delete by publishing the content the row holds.
    pub async fn rollback_config(&self, actor: &Actor, row: HistoryItem) -> Result<u64, CoreError> {
        if row.op == Op::Insert {
            return self.remove_config(actor, &row.key).await?.ok_or_else(|| {
                CoreError::NotFound(format!(
                    "{} no longer exists; nothing to roll back",
                    row.key.data_id
                ))
            });
        }
        let c = row.config;
        self.publish_config(
            actor,
            PublishConfig {
                key: row.key,
                content: c.content,
                config_type: c.config_type,
                app_name: c.app_name,
                desc: c.desc,
                tags: c.tags,
                encrypted_data_key: c.encrypted_data_key,
                cas_md5: None,
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::ConfigDeleted;

    fn published(content: &str, user: &str) -> Envelope {
        Envelope::new(
            "t",
            user,
            Event::ConfigPublished(ConfigPublished {
                namespace: "public".into(),
                group: "G".into(),
                data_id: "d".into(),
                content: content.into(),
                md5: content.into(),
                config_type: "text".into(),
                app_name: String::new(),
                desc: String::new(),
                tags: String::new(),
                encrypted_data_key: String::new(),
                src_ip: String::new(),
                src_user: user.into(),
            }),
        )
    }

    #[test]
    fn rows_record_the_content_before_each_change_newest_first() {
        let key = ConfigKey::new("", "G", "d");
        let deleted = Envelope::new(
            "t",
            "carol",
            Event::ConfigDeleted(ConfigDeleted {
                namespace: "public".into(),
                group: "G".into(),
                data_id: "d".into(),
                md5: String::new(),
                src_ip: String::new(),
                src_user: "carol".into(),
            }),
        );
        let events = vec![
            (3, published("v1", "alice")),
            (7, published("v2", "bob")),
            (9, deleted),
            (12, published("v3", "dan")),
        ];
        let rows = rows(&key, &events);
        let summary: Vec<_> = rows
            .iter()
            .map(|r| (r.id, r.op, r.config.content.as_str(), r.src_user.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (12, Op::Insert, "v3", "dan"),
                (9, Op::Delete, "v2", "carol"),
                (7, Op::Update, "v1", "bob"),
                (3, Op::Insert, "v1", "alice"),
            ]
        );
    }
}
