//! A fuzz target per parser of client input, run for a bounded number of cases on every
//! `make test` (proptest; failing inputs are kept in `proptest-regressions/fuzz.txt` and
//! replayed first on every later run). Each parser must never panic, whatever it is given, and
//! the name encoding must round-trip. `NACRE_FUZZ_CASES` raises the number of cases.
//!
//! `tests/fuzz-corpus/<target>/` keeps inputs worth replaying as they are (the hostile inputs
//! found by the bad-input campaigns, and ones no generator is likely to reach: deep nesting,
//! path traversal, truncated archives); every run feeds each file to its target's parsers.

use std::collections::BTreeMap;

use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("NACRE_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    }
}

/// Strings that look like what clients send: separators, `@@`, percent escapes, unicode.
fn clientish() -> impl Strategy<Value = String> {
    prop::string::string_regex(
        r"([a-zA-Z0-9._:@=&%\-/ \u{1}\u{2}]|配|\u{20000}|%[0-9A-F]{2}){0,64}",
    )
    .unwrap()
}

/// Parameters as an attacker would send them: target names repeated and in conflict.
fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop::sample::select(vec![
        "namespaceId",
        "tenant",
        "namespace",
        "group",
        "groupName",
        "dataId",
        "serviceName",
        "content",
    ]);
    prop::collection::vec((name.prop_map(str::to_owned), clientish()), 0..8)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_name_encoding_round_trips_and_decoding_never_panics(name in any::<String>(), token in any::<String>()) {
        let encoded = nacre::core::names::encode(&name);
        prop_assert_eq!(nacre::core::names::decode(&encoded).unwrap(), name.clone());
        prop_assert_eq!(nacre::core::names::encoded_len(&name), encoded.len());
        prop_assert!(!encoded.contains('.'));
        let _ = nacre::core::names::decode(&token);
    }

    #[test]
    fn form_bodies_and_queries_parse_without_panicking(raw in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = nacre::nacos::params::form_urlencoded(&raw);
    }

    #[test]
    fn the_target_parser_answers_every_spelling(pairs in params()) {
        let fields = Pairs(pairs);
        let _ = nacre::nacos::target::namespace(&fields);
        let _ = nacre::nacos::target::config_key(&fields, "group");
        let _ = nacre::nacos::target::service_key(&fields);
        let _ = nacre::nacos::target::service_scope(&fields);
    }

    #[test]
    fn listening_configs_parse_without_panicking(raw in clientish(), bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = nacre::nacos::listener::parse(&raw);
        let _ = nacre::nacos::listener::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn consul_transactions_parse_without_panicking(ops in prop::collection::vec(txn_op(), 0..6), raw in prop::collection::vec(any::<u8>(), 0..256)) {
        let body = serde_json::to_vec(&ops).unwrap();
        let _ = nacre::consul::txn::parse(&body);
        let _ = nacre::consul::txn::parse(&raw);
    }

    #[test]
    fn acl_rules_parse_without_panicking(text in acl_rules(), raw in any::<String>()) {
        let _ = nacre::core::acl::rules::Rules::parse(&text);
        let _ = nacre::core::acl::rules::Rules::parse(&raw);
    }

    #[test]
    fn grpc_payloads_parse_without_panicking(body in grpc_body(), raw in prop::collection::vec(any::<u8>(), 0..256)) {
        for bytes in [serde_json::to_vec(&body).unwrap(), raw] {
            let payload = nacre::nacos::grpc::proto::Payload {
                metadata: None,
                body: Some(prost_types::Any { type_url: String::new(), value: bytes }),
            };
            if let Ok(body) = nacre::nacos::grpc::wire::Body::parse(&payload) {
                let _ = nacre::nacos::target::config_key(&body, "group");
                let _ = nacre::nacos::target::service_key(&body);
                let _ = body.list("configListenContexts");
                let _ = body.strings("metadata");
            }
        }
    }

    #[test]
    fn zip_imports_parse_without_panicking(raw in prop::collection::vec(any::<u8>(), 0..1024), files in prop::collection::vec((clientish(), clientish()), 0..6)) {
        let _ = nacre::nacos::transfer::read_zip(&raw, "public");
        let zip = zip_of(&files);
        let _ = nacre::nacos::transfer::read_zip(&zip, "public");
    }
}

/// Every file of one corpus target.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_corpus_is_answered_without_panicking() {
    for (_, name) in corpus("names") {
        let name = text(&name);
        let encoded = nacre::core::names::encode(&name);
        assert_eq!(nacre::core::names::decode(&encoded).unwrap(), name);
        assert_eq!(nacre::core::names::encoded_len(&name), encoded.len());
    }
    for (_, raw) in corpus("forms") {
        let _ = nacre::nacos::params::form_urlencoded(&raw);
    }
    for (_, raw) in corpus("targets") {
        let fields = Pairs(
            text(&raw)
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        );
        let _ = nacre::nacos::target::config_key(&fields, "group");
        let _ = nacre::nacos::target::service_key(&fields);
    }
    for (_, raw) in corpus("listening") {
        let _ = nacre::nacos::listener::parse(&text(&raw));
    }
    for (_, raw) in corpus("txn") {
        let _ = nacre::consul::txn::parse(&raw);
    }
    for (_, raw) in corpus("acl") {
        let _ = nacre::core::acl::rules::Rules::parse(&text(&raw));
    }
    for (_, raw) in corpus("grpc") {
        let payload = nacre::nacos::grpc::proto::Payload {
            metadata: None,
            body: Some(prost_types::Any {
                type_url: String::new(),
                value: raw,
            }),
        };
        if let Ok(body) = nacre::nacos::grpc::wire::Body::parse(&payload) {
            let _ = nacre::nacos::target::config_key(&body, "group");
            let _ = nacre::nacos::target::service_key(&body);
            let _ = body.list("configListenContexts");
            let _ = body.strings("metadata");
        }
    }
    for (_, raw) in corpus("zip") {
        let _ = nacre::nacos::transfer::read_zip(&raw, "public");
    }
}

struct Pairs(Vec<(String, String)>);

impl nacre::nacos::target::Fields for Pairs {
    fn each<'a>(&'a self, name: &'a str) -> impl Iterator<Item = std::borrow::Cow<'a, str>> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| std::borrow::Cow::Borrowed(v.as_str()))
    }
}

fn txn_op() -> impl Strategy<Value = serde_json::Value> {
    let verb = prop::sample::select(vec![
        "set",
        "cas",
        "lock",
        "unlock",
        "get",
        "get-tree",
        "check-index",
        "check-session",
        "check-not-exists",
        "delete",
        "delete-tree",
        "delete-cas",
        "bogus",
    ]);
    (verb, clientish(), any::<Option<u64>>(), clientish()).prop_map(|(verb, key, index, value)| {
        serde_json::json!({"KV": {"Verb": verb, "Key": key, "Index": index, "Value": value, "Session": value}})
    })
}

fn acl_rules() -> impl Strategy<Value = String> {
    let scope = prop::sample::select(vec![
        "key",
        "key_prefix",
        "service",
        "service_prefix",
        "node",
        "session",
        "agent_prefix",
        "operator",
        "acl",
        "query",
        "event_prefix",
    ]);
    let policy = prop::sample::select(vec!["read", "write", "deny", "list", "bogus"]);
    prop::collection::vec((scope, clientish(), policy), 0..5).prop_map(|rules| {
        rules
            .into_iter()
            .map(|(scope, name, policy)| {
                format!("{scope} \"{name}\" {{ policy = \"{policy}\" }}\n")
            })
            .collect()
    })
}

fn grpc_body() -> impl Strategy<Value = BTreeMap<String, serde_json::Value>> {
    let field = prop::sample::select(vec![
        "dataId",
        "group",
        "tenant",
        "namespace",
        "serviceName",
        "groupName",
        "metadata",
        "configListenContexts",
        "instances",
    ]);
    let value = prop_oneof![
        clientish().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        Just(serde_json::json!([{"dataId": "a", "group": "G"}, 3, null])),
        Just(serde_json::json!({"k": {"nested": 1}})),
    ];
    prop::collection::btree_map(field.prop_map(str::to_owned), value, 0..6)
}

fn zip_of(files: &[(String, String)]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in files {
        if zip
            .start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .is_ok()
        {
            let _ = zip.write_all(content.as_bytes());
        }
    }
    zip.finish().map(|c| c.into_inner()).unwrap_or_default()
}
