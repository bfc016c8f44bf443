//! Properties of the fold, over arbitrary histories of configs, namespaces, instances, Consul
//! keys, transactions and sessions: what the read model, the projector and `nacre verify` rely
//! on when they replay the stream.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use nacre_model::event::*;
use nacre_model::state::State;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c.yaml", "配置", "x/y"]).prop_map(str::to_owned)
}

fn namespace() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "public", "dev"]).prop_map(str::to_owned)
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (namespace(), name(), "[a-z]{0,8}").prop_map(|(ns, id, content)| {
            Event::ConfigPublished(ConfigPublished {
                namespace: ns,
                group: "G".into(),
                data_id: id,
                md5: format!("md5-{content}"),
                content,
                config_type: "text".into(),
                app_name: String::new(),
                desc: String::new(),
                tags: String::new(),
                encrypted_data_key: String::new(),
                src_ip: String::new(),
                src_user: String::new(),
            })
        }),
        (namespace(), name()).prop_map(|(ns, id)| Event::ConfigDeleted(ConfigDeleted {
            namespace: ns,
            group: "G".into(),
            data_id: id,
            md5: String::new(),
            src_ip: String::new(),
            src_user: String::new(),
        })),
        "[a-z]{1,3}".prop_map(|ns| Event::NamespaceCreated(NamespaceData {
            name: ns.to_uppercase(),
            namespace: ns,
            desc: String::new(),
        })),
        "[a-z]{1,3}".prop_map(|ns| Event::NamespaceDeleted(NamespaceRef { namespace: ns })),
        (namespace(), name(), 1u16..4, any::<bool>()).prop_map(|(ns, service, port, healthy)| {
            Event::InstanceRegistered(InstanceData {
                namespace: ns,
                group: "G".into(),
                service,
                instance: InstanceSpec {
                    ip: "10.0.0.1".into(),
                    port,
                    cluster: "DEFAULT".into(),
                    weight: 1.0,
                    enabled: true,
                    healthy,
                    ephemeral: false,
                    metadata: BTreeMap::new(),
                    instance_id: String::new(),
                },
            })
        }),
        (namespace(), name(), 1u16..4).prop_map(|(ns, service, port)| {
            Event::InstanceDeregistered(InstanceRef {
                namespace: ns,
                group: "G".into(),
                service,
                ip: "10.0.0.1".into(),
                port,
                cluster: "DEFAULT".into(),
                reason: "client".into(),
            })
        }),
        (name(), "[a-z]{0,4}", prop::option::of("s[12]")).prop_map(|(key, value, session)| {
            Event::KvSet(KvSet {
                key,
                value,
                flags: 0,
                session,
                lock_index: 0,
            })
        }),
        name().prop_map(|key| Event::KvDeleted(KvRef { key })),
        prop::collection::vec(
            (name(), any::<bool>()).prop_map(|(key, set)| if set {
                KvWrite::Set(KvSet {
                    key,
                    value: "dA==".into(),
                    flags: 1,
                    session: None,
                    lock_index: 0,
                })
            } else {
                KvWrite::Delete(KvRef { key })
            }),
            1..4
        )
        .prop_map(|writes| Event::KvTxn(KvTxn { writes })),
        "s[12]".prop_map(|id| Event::SessionCreated(SessionData {
            id,
            name: String::new(),
            node: "n".into(),
            ttl: String::new(),
            behavior: "release".into(),
            lock_delay_ns: 0,
        })),
        "s[12]".prop_map(|id| Event::SessionDestroyed(SessionRef {
            id,
            reason: "client".into(),
        })),
    ]
}

/// A history as the stream stores it: sequences from 1, times that only move forward.
fn history() -> impl Strategy<Value = Vec<(u64, Envelope)>> {
    prop::collection::vec((event(), 0i64..5_000), 0..60).prop_map(|events| {
        let mut time = 1_700_000_000_000i64;
        events
            .into_iter()
            .enumerate()
            .map(|(i, (body, step))| {
                time += step;
                let mut envelope = Envelope::new("nacre/test", "tester", body);
                envelope.time = Utc.timestamp_millis_opt(time).unwrap();
                (i as u64 + 1, envelope)
            })
            .collect()
    })
}

fn fold<'a>(events: impl IntoIterator<Item = &'a (u64, Envelope)>) -> State {
    let mut state = State::default();
    for (seq, envelope) in events {
        state.apply(*seq, envelope);
    }
    state
}

proptest! {
    /// A consumer that redelivers (after a reconnect, a lease change) replays a prefix of what
    /// it already folded: nothing changes, and nothing is reported as changed.
    #[test]
    fn replaying_any_prefix_again_changes_nothing(events in history(), cut in 0usize..60) {
        let once = fold(&events);
        let mut again = once.clone();
        for (seq, envelope) in events.iter().take(cut) {
            prop_assert_eq!(again.apply(*seq, envelope), None);
        }
        prop_assert_eq!(again, once);
    }

    /// A fold resumed from a snapshot taken at any point ends where one fold from the start
    /// ends, even when the resumption overlaps what the snapshot already holds.
    #[test]
    fn a_snapshot_then_the_rest_equals_one_fold(events in history(), cut in 0usize..60, overlap in 0usize..5) {
        let cut = cut.min(events.len());
        let snapshot = fold(&events[..cut]);
        let mut resumed = snapshot.clone();
        for (seq, envelope) in &events[cut.saturating_sub(overlap)..] {
            resumed.apply(*seq, envelope);
        }
        prop_assert_eq!(resumed, fold(&events));
    }

    /// The state is a function of the events as stored: folding them after the round trip
    /// through the stream's JSON gives the same state, so every node and `nacre verify` agree.
    #[test]
    fn the_stored_form_folds_to_the_same_state(events in history()) {
        let stored: Vec<(u64, Envelope)> = events
            .iter()
            .map(|(seq, e)| {
                let json = serde_json::to_vec(e).unwrap();
                (*seq, serde_json::from_slice(&json).unwrap())
            })
            .collect();
        prop_assert_eq!(fold(&stored), fold(&events));
    }
}
