//! Consul's ACL rules language and the decisions it makes. A policy's rules are HCL or JSON:
//! `key_prefix "app/" { policy = "write" }` or `{"key_prefix": {"app/": {"policy": "write"}}}`.
//! An exact rule beats any prefix rule, the longest prefix beats shorter ones, and what no rule
//! covers is denied (Consul's `default_policy = "deny"`). Several policies merge per rule with
//! deny > write > list > read.

use std::collections::BTreeMap;

use serde_json::Value;

/// What a rule grants. The order is the merge precedence: the greatest wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Read,
    List,
    Write,
    Deny,
}

impl Level {
    fn parse(scope: &str, value: &str) -> Result<Self, String> {
        match value {
            "read" => Ok(Level::Read),
            "write" => Ok(Level::Write),
            "deny" => Ok(Level::Deny),
            "list" if scope == "key" => Ok(Level::List),
            other => Err(format!("Invalid {scope} policy: {other:?}")),
        }
    }

    fn grants(self, need: Need) -> bool {
        match self {
            Level::Deny => false,
            Level::Write => true,
            Level::List => need != Need::Write,
            Level::Read => need == Need::Read,
        }
    }
}

/// What a request needs of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    List,
    Write,
}

impl Need {
    fn as_str(self) -> &'static str {
        match self {
            Need::Read => "read",
            Need::List => "list",
            Need::Write => "write",
        }
    }
}

/// The named resources a rule can cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Key,
    Service,
    Node,
    Session,
    Agent,
    Event,
    Query,
}

impl Scope {
    const ALL: [(Scope, &'static str); 7] = [
        (Scope::Key, "key"),
        (Scope::Service, "service"),
        (Scope::Node, "node"),
        (Scope::Session, "session"),
        (Scope::Agent, "agent"),
        (Scope::Event, "event"),
        (Scope::Query, "query"),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("", |(_, n)| n)
    }
}

/// The unnamed resources: one level each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Global {
    Acl,
    Operator,
    Keyring,
    Mesh,
    Peering,
}

impl Global {
    const ALL: [(Global, &'static str); 5] = [
        (Global::Acl, "acl"),
        (Global::Operator, "operator"),
        (Global::Keyring, "keyring"),
        (Global::Mesh, "mesh"),
        (Global::Peering, "peering"),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(g, _)| *g == self)
            .map_or("", |(_, n)| n)
    }
}

/// Parsed rules: one policy's, or the merge of a token's policies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    exact: BTreeMap<(Scope, String), Level>,
    prefix: BTreeMap<(Scope, String), Level>,
    global: BTreeMap<Global, Level>,
}

impl Rules {
    /// Parses HCL or JSON rules; the error reads as Consul's.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fail = |e: String| format!("Failed to parse ACL rules: {e}");
        let value: Value = if text.trim().is_empty() {
            Value::Object(Default::default())
        } else if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| fail(e.to_string()))?
        } else {
            hcl::from_str(text)
                .or_else(|_| hcl::from_str(&one_statement_per_line(text)))
                .map_err(|e| fail(e.to_string()))?
        };
        let Value::Object(top) = value else {
            return Err(fail("rules must be an object".into()));
        };
        let mut rules = Rules::default();
        for (name, body) in top {
            if let Some((global, _)) = Global::ALL.iter().find(|(_, n)| *n == name) {
                let level = body
                    .as_str()
                    .ok_or_else(|| fail(format!("{name} must be a string")))?;
                rules.global.insert(*global, Level::parse(&name, level)?);
                continue;
            }
            let (base, prefixed) = match name.strip_suffix("_prefix") {
                Some(base) => (base, true),
                None => (name.as_str(), false),
            };
            let Some((scope, _)) = Scope::ALL.iter().find(|(_, n)| *n == base) else {
                return Err(fail(format!("unknown rule {name:?}")));
            };
            for (label, block) in labelled_blocks(&body) {
                let level = block
                    .get("policy")
                    .and_then(Value::as_str)
                    .ok_or_else(|| fail(format!("{name} {label:?} needs a policy")))?;
                let level = Level::parse(base, level)?;
                let rule = (*scope, label.clone());
                let map = if prefixed {
                    &mut rules.prefix
                } else {
                    &mut rules.exact
                };
                map.entry(rule)
                    .and_modify(|l| *l = (*l).max(level))
                    .or_insert(level);
            }
        }
        Ok(rules)
    }

    /// Folds another policy's rules in, the stronger level winning per rule.
    pub fn merge(&mut self, other: &Rules) {
        for (rule, level) in &other.exact {
            let entry = self.exact.entry(rule.clone()).or_insert(*level);
            *entry = (*entry).max(*level);
        }
        for (rule, level) in &other.prefix {
            let entry = self.prefix.entry(rule.clone()).or_insert(*level);
            *entry = (*entry).max(*level);
        }
        for (global, level) in &other.global {
            let entry = self.global.entry(*global).or_insert(*level);
            *entry = (*entry).max(*level);
        }
    }

    /// The level that decides `name`: its exact rule, else its longest prefix rule.
    fn level(&self, scope: Scope, name: &str) -> Option<Level> {
        if let Some(level) = self.exact.get(&(scope, name.to_owned())) {
            return Some(*level);
        }
        self.prefix
            .range((scope, String::new())..=(scope, name.to_owned()))
            .filter(|((_, p), _)| name.starts_with(p.as_str()))
            .max_by_key(|((_, p), _)| p.len())
            .map(|(_, level)| *level)
    }

    pub fn allows(&self, scope: Scope, name: &str, need: Need) -> bool {
        self.level(scope, name).is_some_and(|l| l.grants(need))
    }

    pub fn allows_global(&self, global: Global, need: Need) -> bool {
        let level = self.global.get(&global).copied().or(match global {
            // Consul reads mesh and peering from operator when they are not set.
            Global::Mesh | Global::Peering => self.global.get(&Global::Operator).copied(),
            _ => None,
        });
        level.is_some_and(|l| l.grants(need))
    }

    /// Writing every key under `prefix` (a recursive delete): the prefix must be writable and
    /// no rule below it may say otherwise.
    pub fn allows_key_write_prefix(&self, prefix: &str) -> bool {
        let below = |((scope, name), level): (&(Scope, String), &Level)| {
            *scope != Scope::Key || !name.starts_with(prefix) || *level == Level::Write
        };
        self.prefix
            .range((Scope::Key, String::new())..=(Scope::Key, prefix.to_owned()))
            .filter(|((_, p), _)| prefix.starts_with(p.as_str()))
            .max_by_key(|((_, p), _)| p.len())
            .is_some_and(|(_, level)| *level == Level::Write)
            && self.exact.iter().all(below)
            && self.prefix.iter().all(below)
    }
}

/// Consul's HCL 1 takes several blocks and attributes on one line (`key_prefix "" { policy =
/// "read" } acl = "read"`); HCL 2 wants a newline after each. This adds one after every `}`
/// outside a string.
fn one_statement_per_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        out.push(c);
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '}' if !in_string => out.push('\n'),
            _ => {}
        }
    }
    out
}

/// `{"label": {...}}`, or a list of those (how repeated HCL blocks may come out).
fn labelled_blocks(body: &Value) -> Vec<(String, Value)> {
    match body {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::Array(items) => items.iter().flat_map(labelled_blocks).collect(),
        _ => Vec::new(),
    }
}

/// A refusal, in Consul's words (since 1.12): who lacks which permission on what.
pub fn denied(accessor: &str, what: &str, need: Need, name: Option<&str>) -> String {
    let on = name.map_or(String::new(), |n| format!(" on {n:?}"));
    format!(
        "Permission denied: token with AccessorID '{accessor}' lacks permission '{what}:{}'{on}",
        need.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_beats_prefix_and_the_longest_prefix_wins() {
        let rules = Rules::parse(
            r#"
            key_prefix "" { policy = "read" }
            key_prefix "app/" { policy = "write" }
            key_prefix "app/secret/" { policy = "deny" }
            key "app/secret/public" { policy = "read" }
            service_prefix "web" { policy = "write" }
            operator = "read"
            "#,
        )
        .unwrap();
        assert!(rules.allows(Scope::Key, "other", Need::Read));
        assert!(!rules.allows(Scope::Key, "other", Need::Write));
        assert!(rules.allows(Scope::Key, "app/x", Need::Write));
        assert!(!rules.allows(Scope::Key, "app/secret/x", Need::Read));
        assert!(rules.allows(Scope::Key, "app/secret/public", Need::Read));
        assert!(rules.allows(Scope::Service, "web-api", Need::Write));
        assert!(
            !rules.allows(Scope::Service, "db", Need::Read),
            "default deny"
        );
        assert!(!rules.allows(Scope::Node, "n1", Need::Read));
        assert!(rules.allows_global(Global::Operator, Need::Read));
        assert!(
            rules.allows_global(Global::Mesh, Need::Read),
            "from operator"
        );
        assert!(!rules.allows_global(Global::Acl, Need::Read));
        assert!(rules.allows_key_write_prefix("app/other/"));
        assert!(
            !rules.allows_key_write_prefix("app/"),
            "a deny below the prefix forbids the recursive delete"
        );
    }

    #[test]
    fn json_rules_are_the_same_rules() {
        let hcl = Rules::parse(r#"key_prefix "a/" { policy = "write" }  acl = "read""#).unwrap();
        let json =
            Rules::parse(r#"{"key_prefix": {"a/": {"policy": "write"}}, "acl": "read"}"#).unwrap();
        assert_eq!(hcl, json);
    }

    #[test]
    fn merged_policies_let_deny_win() {
        let mut rules = Rules::parse(r#"key_prefix "a/" { policy = "write" }"#).unwrap();
        rules.merge(&Rules::parse(r#"key_prefix "a/" { policy = "deny" }"#).unwrap());
        assert!(!rules.allows(Scope::Key, "a/b", Need::Read));
    }

    #[test]
    fn list_grants_read_and_list_but_not_write() {
        let rules = Rules::parse(r#"key_prefix "a/" { policy = "list" }"#).unwrap();
        assert!(rules.allows(Scope::Key, "a/b", Need::List));
        assert!(rules.allows(Scope::Key, "a/b", Need::Read));
        assert!(!rules.allows(Scope::Key, "a/b", Need::Write));
    }

    #[test]
    fn bad_rules_are_refused_with_consuls_words() {
        for bad in [
            r#"key_prefix "a/" { policy = "sudo" }"#,
            r#"service "a" { policy = "list" }"#,
            r#"teapot "a" { policy = "read" }"#,
            r#"key_prefix "a/" {"#,
            r#"{"key": 1"#,
        ] {
            let e = Rules::parse(bad).unwrap_err();
            assert!(
                e.starts_with("Failed to parse ACL rules") || e.starts_with("Invalid"),
                "{bad}: {e}"
            );
        }
    }
}
