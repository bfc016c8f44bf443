//! The event envelope: every accepted change is one of these on the stream.
//!
//! The envelope is CloudEvents 1.0 (structured JSON mode) so any language can consume it:
//! `specversion`, `id` (also the `Nats-Msg-Id`, so a retried publish is stored once), `source`
//! (the Nacre node), `type` (versioned, e.g. `nacre.config.published.v1`), `time`, `subject`
//! (the NATS subject it was published on), `datacontenttype`, and Nacre's extensions
//! `nacreschema` (envelope schema version) and `nacreactor` (who made the change). `data` holds the
//! type's payload. The stream sequence is not in the envelope: JetStream assigns it.
//!
//! One file on purpose: it is the schema subscribers program against (docs/events.md), every
//! event type beside its payload and its subject, read and versioned as a whole.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::names;

/// Version of the envelope and payload schema. Bump when a payload changes incompatibly; a node
/// that meets a newer schema stops applying rather than folding what it does not understand.
pub const SCHEMA_VERSION: u32 = 1;

/// Prefix of every Nacre event subject.
pub const SUBJECT_PREFIX: &str = "nacre.evt";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub specversion: String,
    pub id: String,
    pub source: String,
    pub time: DateTime<Utc>,
    pub subject: String,
    pub datacontenttype: String,
    pub nacreschema: u32,
    #[serde(default)]
    pub nacreactor: String,
    #[serde(flatten)]
    pub body: Event,
}

impl Envelope {
    /// Wraps an event for publishing from `source` on behalf of `actor`.
    pub fn new(source: &str, actor: &str, body: Event) -> Self {
        Self {
            specversion: "1.0".into(),
            id: uuid::Uuid::new_v4().to_string(),
            source: source.to_owned(),
            time: Utc::now(),
            subject: body.subject(),
            datacontenttype: "application/json".into(),
            nacreschema: SCHEMA_VERSION,
            nacreactor: actor.to_owned(),
            body,
        }
    }

    /// Event time in epoch milliseconds, the unit Nacos APIs speak.
    pub fn time_millis(&self) -> i64 {
        self.time.timestamp_millis()
    }
}

/// Every kind of change Nacre records. The serde tag is the CloudEvents `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename = "nacre.config.published.v1")]
    ConfigPublished(ConfigPublished),
    #[serde(rename = "nacre.config.deleted.v1")]
    ConfigDeleted(ConfigDeleted),
    #[serde(rename = "nacre.namespace.created.v1")]
    NamespaceCreated(NamespaceData),
    #[serde(rename = "nacre.namespace.updated.v1")]
    NamespaceUpdated(NamespaceData),
    #[serde(rename = "nacre.namespace.deleted.v1")]
    NamespaceDeleted(NamespaceRef),
    #[serde(rename = "nacre.service.created.v1")]
    ServiceCreated(ServiceData),
    #[serde(rename = "nacre.service.updated.v1")]
    ServiceUpdated(ServiceData),
    #[serde(rename = "nacre.service.deleted.v1")]
    ServiceDeleted(ServiceRef),
    /// An instance registered (or re-registered): its full state.
    #[serde(rename = "nacre.instance.registered.v1")]
    InstanceRegistered(InstanceData),
    /// An instance's settings changed: its full state.
    #[serde(rename = "nacre.instance.updated.v1")]
    InstanceUpdated(InstanceData),
    #[serde(rename = "nacre.instance.deregistered.v1")]
    InstanceDeregistered(InstanceRef),
    /// A package's bytes are stored (chunks under `nuid` in the packages Object Store).
    #[serde(rename = "nacre.package.uploaded.v1")]
    PackageUploaded(PackageUploaded),
    #[serde(rename = "nacre.package.deleted.v1")]
    PackageDeleted(PackageRef),
    /// A Consul KV key set (its full value and flags).
    #[serde(rename = "nacre.kv.set.v1")]
    KvSet(KvSet),
    #[serde(rename = "nacre.kv.deleted.v1")]
    KvDeleted(KvRef),
    /// A Consul transaction's writes, all at one sequence: how a multi-key transaction is
    /// all-or-nothing where the server has no atomic batch publish (before NATS 2.12).
    #[serde(rename = "nacre.kv.txn.v1")]
    KvTxn(KvTxn),
    /// A Consul session (what KV locks belong to).
    #[serde(rename = "nacre.session.created.v1")]
    SessionCreated(SessionData),
    #[serde(rename = "nacre.session.destroyed.v1")]
    SessionDestroyed(SessionRef),
    /// A user created, or its password changed (a bcrypt hash: events never carry passwords).
    #[serde(rename = "nacre.user.saved.v1")]
    UserSaved(UserData),
    #[serde(rename = "nacre.user.deleted.v1")]
    UserDeleted(UserRef),
    /// A role given to a user, or taken away.
    #[serde(rename = "nacre.role.bound.v1")]
    RoleBound(RoleBinding),
    #[serde(rename = "nacre.role.unbound.v1")]
    RoleUnbound(RoleBinding),
    /// A permission of a role on a resource (`namespace:group:name`), `r`, `w` or `rw`.
    #[serde(rename = "nacre.permission.granted.v1")]
    PermissionGranted(Permission),
    #[serde(rename = "nacre.permission.revoked.v1")]
    PermissionRevoked(Permission),
    /// A Consul ACL policy created or changed: its rules as given (HCL or JSON).
    #[serde(rename = "nacre.acl.policy.saved.v1")]
    AclPolicySaved(AclPolicyData),
    #[serde(rename = "nacre.acl.policy.deleted.v1")]
    AclPolicyDeleted(AclRef),
    /// A Consul ACL token created or changed. It carries the SHA-256 of its secret, never the
    /// secret. The bootstrap token is published on one subject of its own, so it exists once.
    #[serde(rename = "nacre.acl.token.saved.v1")]
    AclTokenSaved(AclTokenData),
    #[serde(rename = "nacre.acl.token.deleted.v1")]
    AclTokenDeleted(AclRef),
    /// The first event of a cluster: its identity (see backbone::identity).
    #[serde(rename = "nacre.cluster.genesis.v1")]
    ClusterGenesis(ClusterGenesis),
    /// A health transition (heartbeats themselves are never events).
    #[serde(rename = "nacre.instance.health.v1")]
    InstanceHealth(InstanceHealth),
}

impl Event {
    /// The CloudEvents `type` (the serde tag), without serializing the event.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::ConfigPublished(_) => "nacre.config.published.v1",
            Event::ConfigDeleted(_) => "nacre.config.deleted.v1",
            Event::NamespaceCreated(_) => "nacre.namespace.created.v1",
            Event::NamespaceUpdated(_) => "nacre.namespace.updated.v1",
            Event::NamespaceDeleted(_) => "nacre.namespace.deleted.v1",
            Event::ServiceCreated(_) => "nacre.service.created.v1",
            Event::ServiceUpdated(_) => "nacre.service.updated.v1",
            Event::ServiceDeleted(_) => "nacre.service.deleted.v1",
            Event::InstanceRegistered(_) => "nacre.instance.registered.v1",
            Event::InstanceUpdated(_) => "nacre.instance.updated.v1",
            Event::InstanceDeregistered(_) => "nacre.instance.deregistered.v1",
            Event::PackageUploaded(_) => "nacre.package.uploaded.v1",
            Event::PackageDeleted(_) => "nacre.package.deleted.v1",
            Event::KvSet(_) => "nacre.kv.set.v1",
            Event::KvDeleted(_) => "nacre.kv.deleted.v1",
            Event::KvTxn(_) => "nacre.kv.txn.v1",
            Event::SessionCreated(_) => "nacre.session.created.v1",
            Event::SessionDestroyed(_) => "nacre.session.destroyed.v1",
            Event::UserSaved(_) => "nacre.user.saved.v1",
            Event::UserDeleted(_) => "nacre.user.deleted.v1",
            Event::RoleBound(_) => "nacre.role.bound.v1",
            Event::RoleUnbound(_) => "nacre.role.unbound.v1",
            Event::PermissionGranted(_) => "nacre.permission.granted.v1",
            Event::PermissionRevoked(_) => "nacre.permission.revoked.v1",
            Event::AclPolicySaved(_) => "nacre.acl.policy.saved.v1",
            Event::AclPolicyDeleted(_) => "nacre.acl.policy.deleted.v1",
            Event::AclTokenSaved(_) => "nacre.acl.token.saved.v1",
            Event::AclTokenDeleted(_) => "nacre.acl.token.deleted.v1",
            Event::ClusterGenesis(_) => "nacre.cluster.genesis.v1",
            Event::InstanceHealth(_) => "nacre.instance.health.v1",
        }
    }

    /// The NATS subject this event is published on; one subject per entity, so
    /// `Nats-Expected-Last-Subject-Sequence` is a per-entity compare-and-set.
    pub fn subject(&self) -> String {
        match self {
            Event::ConfigPublished(c) => config_subject(&c.namespace, &c.group, &c.data_id),
            Event::ConfigDeleted(c) => config_subject(&c.namespace, &c.group, &c.data_id),
            Event::NamespaceCreated(n) | Event::NamespaceUpdated(n) => {
                namespace_subject(&n.namespace)
            }
            Event::NamespaceDeleted(n) => namespace_subject(&n.namespace),
            Event::ServiceCreated(s) | Event::ServiceUpdated(s) => {
                service_subject(&s.namespace, &s.group, &s.service)
            }
            Event::ServiceDeleted(s) => service_subject(&s.namespace, &s.group, &s.service),
            Event::InstanceRegistered(i) | Event::InstanceUpdated(i) => {
                service_subject(&i.namespace, &i.group, &i.service)
            }
            Event::InstanceDeregistered(i) => service_subject(&i.namespace, &i.group, &i.service),
            Event::InstanceHealth(i) => service_subject(&i.namespace, &i.group, &i.service),
            Event::ClusterGenesis(_) => format!("{SUBJECT_PREFIX}.sys.genesis"),
            Event::KvSet(k) => kv_subject(&k.key),
            Event::KvDeleted(k) => kv_subject(&k.key),
            Event::KvTxn(_) => format!("{SUBJECT_PREFIX}.kvtxn"),
            Event::UserSaved(u) => user_subject(&u.username),
            Event::UserDeleted(u) => user_subject(&u.username),
            Event::RoleBound(r) | Event::RoleUnbound(r) => {
                format!("{SUBJECT_PREFIX}.auth.role.{}", names::encode(&r.role))
            }
            Event::PermissionGranted(p) | Event::PermissionRevoked(p) => {
                format!("{SUBJECT_PREFIX}.auth.perm.{}", names::encode(&p.role))
            }
            Event::AclPolicySaved(p) => acl_subject("policy", &p.id),
            Event::AclPolicyDeleted(p) => acl_subject("policy", &p.id),
            Event::AclTokenSaved(t) if t.bootstrap => format!("{SUBJECT_PREFIX}.acl.bootstrap"),
            Event::AclTokenSaved(t) => acl_subject("token", &t.accessor_id),
            Event::AclTokenDeleted(t) => acl_subject("token", &t.id),
            Event::SessionCreated(x) => session_subject(&x.id),
            Event::SessionDestroyed(x) => session_subject(&x.id),
            Event::PackageUploaded(p) => package_subject(&p.os, &p.object, &p.version, &p.name),
            Event::PackageDeleted(p) => package_subject(&p.os, &p.object, &p.version, &p.name),
        }
    }
}

/// `nacre.evt.cfg.<namespace>.<group>.<dataId>`, each part encoded with [`names::encode`].
pub fn config_subject(namespace: &str, group: &str, data_id: &str) -> String {
    format!(
        "{SUBJECT_PREFIX}.cfg.{}",
        names::join(&[namespace, group, data_id])
    )
}

/// `nacre.evt.svc.<namespace>.<group>.<service>`: services and all their instances' changes.
pub fn service_subject(namespace: &str, group: &str, service: &str) -> String {
    format!(
        "{SUBJECT_PREFIX}.svc.{}",
        names::join(&[namespace, group, service])
    )
}

/// `nacre.evt.pkg.<os>.<object>.<version>.<name>`.
pub fn package_subject(os: &str, object: &str, version: &str, name: &str) -> String {
    format!(
        "{SUBJECT_PREFIX}.pkg.{}",
        names::join(&[os, object, version, name])
    )
}

/// `nacre.evt.kv.<key>`: the whole key is one token (its '/' encoded), so one subject per key.
pub fn kv_subject(key: &str) -> String {
    format!("{SUBJECT_PREFIX}.kv.{}", names::encode(key))
}

/// `nacre.evt.auth.user.<username>`: one subject per user, so creating one is a compare-and-set.
pub fn user_subject(username: &str) -> String {
    format!("{SUBJECT_PREFIX}.auth.user.{}", names::encode(username))
}

/// `nacre.evt.acl.<policy|token>.<id>`.
pub fn acl_subject(kind: &str, id: &str) -> String {
    format!("{SUBJECT_PREFIX}.acl.{kind}.{}", names::encode(id))
}

/// `nacre.evt.session.<id>`.
pub fn session_subject(id: &str) -> String {
    format!("{SUBJECT_PREFIX}.session.{}", names::encode(id))
}

/// `nacre.evt.ns.<namespace>`.
pub fn namespace_subject(namespace: &str) -> String {
    format!("{SUBJECT_PREFIX}.ns.{}", names::encode(namespace))
}

/// A config's full state after a publish: the fold needs no earlier event to know it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigPublished {
    pub namespace: String,
    pub group: String,
    pub data_id: String,
    pub content: String,
    pub md5: String,
    #[serde(default)]
    pub config_type: String,
    #[serde(default)]
    pub app_name: String,
    #[serde(default)]
    pub desc: String,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub encrypted_data_key: String,
    #[serde(default)]
    pub src_ip: String,
    #[serde(default)]
    pub src_user: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigDeleted {
    pub namespace: String,
    pub group: String,
    pub data_id: String,
    /// md5 of the content that was deleted, so subscribers need not have tracked it.
    #[serde(default)]
    pub md5: String,
    #[serde(default)]
    pub src_ip: String,
    #[serde(default)]
    pub src_user: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceData {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub desc: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceRef {
    pub namespace: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageUploaded {
    pub os: String,
    pub object: String,
    pub version: String,
    pub name: String,
    /// `controller` (agent) or `collector`.
    pub kind: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    #[serde(default)]
    pub content_type: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub uploader: String,
    /// Where the bytes are: the Object Store chunk id, chunk count and size.
    pub nuid: String,
    pub chunks: u64,
    pub chunk_size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageRef {
    pub os: String,
    pub object: String,
    pub version: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvSet {
    pub key: String,
    /// Base64 of the bytes.
    pub value: String,
    #[serde(default)]
    pub flags: u64,
    /// The session holding the key's lock, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// How many times the lock was acquired.
    #[serde(default)]
    pub lock_index: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionData {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub node: String,
    /// Consul's TTL text (`15s`), empty for none.
    #[serde(default)]
    pub ttl: String,
    /// `release` or `delete`: what happens to its locked keys when it ends.
    pub behavior: String,
    #[serde(default)]
    pub lock_delay_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRef {
    pub id: String,
    /// `client` or `expired`.
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvRef {
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserData {
    pub username: String,
    /// bcrypt.
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleBinding {
    pub role: String,
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    pub role: String,
    pub resource: String,
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvTxn {
    /// The final state of each key the transaction wrote, in order.
    pub writes: Vec<KvWrite>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum KvWrite {
    Set(KvSet),
    Delete(KvRef),
}

impl KvWrite {
    pub fn key(&self) -> &str {
        match self {
            KvWrite::Set(s) => &s.key,
            KvWrite::Delete(d) => &d.key,
        }
    }

    /// The event that writes this key alone, on its own subject.
    pub fn into_event(self) -> Event {
        match self {
            KvWrite::Set(s) => Event::KvSet(s),
            KvWrite::Delete(d) => Event::KvDeleted(d),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterGenesis {
    pub cluster_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceData {
    pub namespace: String,
    pub group: String,
    pub service: String,
    pub protect_threshold: f64,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Nacos' selector as JSON text (`{"type":"none"}` by default).
    #[serde(default)]
    pub selector: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRef {
    pub namespace: String,
    pub group: String,
    pub service: String,
}

/// An instance's full state as registered or updated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceSpec {
    pub ip: String,
    pub port: u16,
    pub cluster: String,
    pub weight: f64,
    pub enabled: bool,
    pub healthy: bool,
    pub ephemeral: bool,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub instance_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceData {
    pub namespace: String,
    pub group: String,
    pub service: String,
    pub instance: InstanceSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRef {
    pub namespace: String,
    pub group: String,
    pub service: String,
    pub ip: String,
    pub port: u16,
    pub cluster: String,
    /// `client` (asked to deregister), `expired` (no heartbeat), `connection-closed` (gRPC).
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceHealth {
    pub namespace: String,
    pub group: String,
    pub service: String,
    pub ip: String,
    pub port: u16,
    pub cluster: String,
    pub healthy: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_is_cloudevents_json_and_round_trips() {
        let env = Envelope::new(
            "nacre/node-a",
            "alice@10.0.0.1",
            Event::ConfigDeleted(ConfigDeleted {
                namespace: "public".into(),
                group: "DEFAULT_GROUP".into(),
                data_id: "app.yaml".into(),
                md5: "abc".into(),
                src_ip: String::new(),
                src_user: String::new(),
            }),
        );
        let json: serde_json::Value = serde_json::to_value(&env).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "nacre.config.deleted.v1");
        assert_eq!(
            json["subject"],
            "nacre.evt.cfg.public.DEFAULT_GROUP.app=2Eyaml"
        );
        assert_eq!(json["data"]["dataId"], "app.yaml");
        assert_eq!(json["nacreschema"], SCHEMA_VERSION);
        let back: Envelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn type_name_is_the_serialized_type() {
        let events = [
            Event::NamespaceDeleted(NamespaceRef {
                namespace: "dev".into(),
            }),
            Event::KvDeleted(KvRef { key: "k".into() }),
            Event::AclPolicyDeleted(AclRef { id: "p".into() }),
            Event::ClusterGenesis(ClusterGenesis {
                cluster_id: "c".into(),
            }),
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], event.type_name());
        }
    }

    #[test]
    fn unknown_event_types_do_not_parse() {
        let json = r#"{"specversion":"1.0","id":"x","source":"s","time":"2026-01-01T00:00:00Z",
            "subject":"nacre.evt.x","datacontenttype":"application/json","nacreschema":2,
            "type":"nacre.future.thing.v9","data":{}}"#;
        assert!(serde_json::from_str::<Envelope>(json).is_err());
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AclPolicyData {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub rules: String,
    #[serde(default)]
    pub datacenters: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AclTokenData {
    pub accessor_id: String,
    /// Hex SHA-256 of the SecretID.
    pub secret_sha256: String,
    #[serde(default)]
    pub description: String,
    /// Policy IDs.
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub local: bool,
    pub create_time: DateTime<Utc>,
    #[serde(default)]
    pub expiration_time: Option<DateTime<Utc>>,
    /// Made by `/v1/acl/bootstrap` (which works once per cluster).
    #[serde(default)]
    pub bootstrap: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclRef {
    pub id: String,
}
