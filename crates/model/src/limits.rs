//! Nacre's limits, in one table: what one request may ask of a node. Every adapter and every
//! path checks against these before anything reaches NATS, so NATS never refuses what Nacre
//! accepted (a refused message costs the connection that sent it, and every write riding on it).
//!
//! Where a protocol has limits of its own, they are its (Nacos' column widths and metadata
//! length, Consul's value size, meta rules and transaction size); NATS' own limits bound what
//! no protocol does (encoded name lengths, record sizes).

use std::collections::BTreeMap;
use std::time::Duration;

use super::CoreError;
use super::names;

/// NATS drops a connection that sends a protocol line over 4 KiB (`max_control_line`); a subject
/// must leave room for the verb, the reply inbox and the sizes.
pub const MAX_SUBJECT_BYTES: usize = 2048;
/// One name (namespace, group, dataId, service, Consul key) encoded as a subject token
/// (`core::names`: a byte outside `[A-Za-z0-9_-]` takes three).
pub const MAX_NAME_TOKEN_BYTES: usize = 1024;
/// NATS refuses a message over 1 MiB (`max_payload`): an event or a view record, envelope and
/// headers included, stays below with room to spare.
pub const MAX_RECORD_BYTES: usize = 960 * 1024;
/// The largest `config.max-content-bytes` a config's event (content plus its other fields)
/// still fits in.
pub const MAX_CONFIG_CONTENT_BYTES: usize = MAX_RECORD_BYTES - 64 * 1024;

/// Nacos' config text fields, as wide as Nacos' own columns.
pub const APP_NAME_CHARS: usize = 128;
pub const DESC_CHARS: usize = 256;
pub const CONFIG_TYPE_CHARS: usize = 64;
pub const CONFIG_TAGS_CHARS: usize = 512;
pub const ENCRYPTED_DATA_KEY_CHARS: usize = 1024;

/// Nacos: an instance's metadata, keys and values together, in characters.
pub const NACOS_METADATA_CHARS: usize = 1024;
/// Consul: a service's `Meta`.
pub const CONSUL_META_PAIRS: usize = 64;
pub const CONSUL_META_KEY_CHARS: usize = 128;
pub const CONSUL_META_VALUE_CHARS: usize = 512;
/// Any instance record, Nacre's own metadata included (Consul checks, tags): a backstop under
/// every protocol's rules.
pub const INSTANCE_RECORD_BYTES: usize = 64 * 1024;
/// Consul: a KV value, and the operations of one transaction.
pub const KV_VALUE_BYTES: usize = 512 * 1024;
pub const TXN_OPS: usize = 128;

/// Configs one listener (an HTTP long poll, or one gRPC batch listen) may watch.
pub const LISTEN_KEYS: usize = 10_000;
/// Instances in one gRPC `BatchInstanceRequest`.
pub const BATCH_INSTANCES: usize = 1_000;

/// The longest an HTTP long poll is held, whatever `Long-Pulling-Timeout` asks (clients send
/// 30 s).
pub const LONG_POLL_MAX: Duration = Duration::from_secs(120);
/// The longest a Consul blocking query waits, whatever `?wait=` asks (Consul's own cap).
pub const BLOCKING_WAIT_MAX: Duration = Duration::from_secs(600);

/// Bounds on what one import inflates and writes.
#[derive(Debug, Clone, Copy)]
pub struct ImportBounds {
    /// Files in an archive (or items in a JSON import); a config comes with its `.meta`.
    pub max_entries: usize,
    /// Inflated bytes of one file.
    pub max_entry_bytes: u64,
    /// Inflated bytes of the whole archive.
    pub max_total_bytes: u64,
}

pub const IMPORT: ImportBounds = ImportBounds {
    max_entries: 20_000,
    max_entry_bytes: 4 * 1024 * 1024,
    max_total_bytes: 64 * 1024 * 1024,
};

/// A name fits in a subject token.
pub fn name_token(field: &'static str, value: &str) -> Result<(), CoreError> {
    let encoded = names::encoded_len(value);
    if encoded > MAX_NAME_TOKEN_BYTES {
        return Err(CoreError::invalid(
            field,
            format!(
                "{field} is too long: {encoded} bytes once encoded as a subject token, at most {MAX_NAME_TOKEN_BYTES}"
            ),
        ));
    }
    Ok(())
}

/// A free-text field of at most `max` characters.
pub fn text(field: &'static str, value: &str, max: usize) -> Result<(), CoreError> {
    if value.chars().count() > max {
        return Err(CoreError::invalid(
            field,
            format!("{field} is too long: at most {max} characters"),
        ));
    }
    Ok(())
}

/// Nacos' rule for instance metadata, on every Nacos path (HTTP, beats, gRPC).
pub fn nacos_metadata(metadata: &BTreeMap<String, String>) -> Result<(), CoreError> {
    let chars: usize = metadata
        .iter()
        .map(|(k, v)| k.chars().count() + v.chars().count())
        .sum();
    if chars > NACOS_METADATA_CHARS {
        return Err(CoreError::invalid(
            "metadata",
            format!(
                "Param 'Metadata' is illegal, the param length should not exceed {NACOS_METADATA_CHARS}."
            ),
        ));
    }
    Ok(())
}

/// Consul's rules for a service's `Meta`, on every Consul path (agent and catalog).
pub fn consul_meta(meta: &BTreeMap<String, String>) -> Result<(), CoreError> {
    let bad = |m: String| {
        Err(CoreError::invalid(
            "Meta",
            format!("Invalid Service Meta: {m}"),
        ))
    };
    if meta.len() > CONSUL_META_PAIRS {
        return bad(format!(
            "Node metadata cannot contain more than {CONSUL_META_PAIRS} key/value pairs"
        ));
    }
    for (k, v) in meta {
        if k.is_empty() {
            return bad("Key cannot be blank".into());
        }
        if k.chars().count() > CONSUL_META_KEY_CHARS {
            return bad(format!(
                "Key is too long (limit: {CONSUL_META_KEY_CHARS} characters)"
            ));
        }
        if v.chars().count() > CONSUL_META_VALUE_CHARS {
            return bad(format!(
                "Value is too long (limit: {CONSUL_META_VALUE_CHARS} characters)"
            ));
        }
    }
    Ok(())
}

/// A whole record (an instance, an event) of `bytes`.
pub fn record(what: &'static str, bytes: usize, max: usize) -> Result<(), CoreError> {
    if bytes > max {
        return Err(CoreError::invalid(
            what,
            format!("{what} is too large: {bytes} bytes, at most {max}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_measured_as_encoded_tokens() {
        assert!(name_token("dataId", &"a".repeat(1024)).is_ok());
        // One dot encodes to three bytes; a four-byte character to twelve.
        assert!(name_token("dataId", &".".repeat(342)).is_err());
        assert!(name_token("dataId", &"\u{20000}".repeat(86)).is_err());
        assert!(name_token("key", &"/".repeat(1400)).is_err());
    }

    #[test]
    fn metadata_rules_are_each_protocols() {
        let long: BTreeMap<String, String> = [("k".to_owned(), "v".repeat(1024))].into();
        assert!(nacos_metadata(&long).is_err());
        let short: BTreeMap<String, String> = [("k".to_owned(), "v".to_owned())].into();
        assert!(nacos_metadata(&short).is_ok() && consul_meta(&short).is_ok());
        let many: BTreeMap<String, String> =
            (0..65).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(consul_meta(&many).is_err());
        let value: BTreeMap<String, String> = [("k".to_owned(), "v".repeat(513))].into();
        assert!(consul_meta(&value).is_err());
    }

    #[test]
    fn the_documented_limits_are_the_enforced_ones() {
        let enforced: Vec<(&str, u64)> = vec![
            ("MAX_NAME_TOKEN_BYTES", MAX_NAME_TOKEN_BYTES as u64),
            ("MAX_SUBJECT_BYTES", MAX_SUBJECT_BYTES as u64),
            ("MAX_RECORD_BYTES", MAX_RECORD_BYTES as u64),
            ("MAX_CONFIG_CONTENT_BYTES", MAX_CONFIG_CONTENT_BYTES as u64),
            ("APP_NAME_CHARS", APP_NAME_CHARS as u64),
            ("DESC_CHARS", DESC_CHARS as u64),
            ("CONFIG_TYPE_CHARS", CONFIG_TYPE_CHARS as u64),
            ("CONFIG_TAGS_CHARS", CONFIG_TAGS_CHARS as u64),
            ("ENCRYPTED_DATA_KEY_CHARS", ENCRYPTED_DATA_KEY_CHARS as u64),
            ("NACOS_METADATA_CHARS", NACOS_METADATA_CHARS as u64),
            ("CONSUL_META_PAIRS", CONSUL_META_PAIRS as u64),
            ("CONSUL_META_KEY_CHARS", CONSUL_META_KEY_CHARS as u64),
            ("CONSUL_META_VALUE_CHARS", CONSUL_META_VALUE_CHARS as u64),
            ("INSTANCE_RECORD_BYTES", INSTANCE_RECORD_BYTES as u64),
            ("KV_VALUE_BYTES", KV_VALUE_BYTES as u64),
            ("TXN_OPS", TXN_OPS as u64),
            ("LISTEN_KEYS", LISTEN_KEYS as u64),
            ("BATCH_INSTANCES", BATCH_INSTANCES as u64),
            ("LONG_POLL_MAX", LONG_POLL_MAX.as_secs()),
            ("BLOCKING_WAIT_MAX", BLOCKING_WAIT_MAX.as_secs()),
            ("IMPORT.max_entries", IMPORT.max_entries as u64),
            ("IMPORT.max_entry_bytes", IMPORT.max_entry_bytes),
            ("IMPORT.max_total_bytes", IMPORT.max_total_bytes),
        ];
        // Rows of docs/limits.md's table of constants: | `NAME` | value | unit | what |
        // (the settings' rows name lowercase paths).
        let documented: Vec<(String, u64)> = include_str!("../../../docs/limits.md")
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                if !name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    return None;
                }
                let value = cells.get(2)?.parse().ok()?;
                Some((name.to_owned(), value))
            })
            .collect();
        let documented: Vec<(&str, u64)> =
            documented.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        assert_eq!(
            documented, enforced,
            "docs/limits.md and core::limits differ"
        );
    }
}
