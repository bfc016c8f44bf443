//! What a Nacos request touches — its namespace, group, dataId or service — parsed once, for
//! HTTP (v1, v2, v3) and gRPC alike. The access check decides on the value these functions
//! return, and the handler acts on that same value: it never reads the raw spellings.
//!
//! Nacos accepts several spellings of one thing (`namespaceId`, `tenant`, `namespace`; `group`,
//! `groupName`; a group inside `serviceName` as `GROUP@@name`), and Nacos itself reads different
//! spellings in its access check and in its handlers. Here every spelling is read, every repeat
//! of it too, and spellings that disagree are refused rather than resolved by a precedence.

use std::borrow::Cow;

use crate::core::configs::ConfigKey;
use crate::core::registry::{DEFAULT_GROUP, ServiceKey};
use crate::core::state::PUBLIC_NAMESPACE;

/// The spellings of a namespace, in every API generation and in gRPC bodies.
pub const NAMESPACE: &[&str] = &["namespaceId", "tenant", "namespace"];
/// The spellings of a group.
pub const GROUP: &[&str] = &["group", "groupName"];
pub const DATA_ID: &str = "dataId";
pub const SERVICE_NAME: &str = "serviceName";
/// Every name that decides what a request touches: scoped handlers never see these.
pub const TARGET_NAMES: &[&str] = &[
    "namespaceId",
    "tenant",
    "namespace",
    "group",
    "groupName",
    DATA_ID,
    SERVICE_NAME,
];

/// Where a request's named values come from (HTTP parameters, a gRPC body).
pub trait Fields {
    /// Every value given under `name`, in order: a parameter may repeat, and a query and a form
    /// body may both carry it.
    fn each<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Cow<'a, str>>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// A required part is missing, named as the client's API generation names it.
    Missing(&'static str),
    /// Spellings (or repeats) that name different things.
    Conflict(String),
    /// A value that cannot name anything (e.g. `serviceName=@@x`).
    Illegal(String),
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetError::Missing(name) => {
                write!(f, "Required parameter '{name}' is not present")
            }
            TargetError::Conflict(m) | TargetError::Illegal(m) => f.write_str(m),
        }
    }
}

/// The one value a concept was given under any of `names`, after `normalize`; `None` when no
/// spelling is present. Two values that differ are a conflict.
fn agreed<'a, F: Fields>(
    fields: &'a F,
    names: &[&'static str],
    normalize: impl Fn(Cow<'a, str>) -> Cow<'a, str>,
) -> Result<Option<Cow<'a, str>>, TargetError> {
    let mut found: Option<(&'static str, Cow<'a, str>)> = None;
    for &name in names {
        for value in fields.each(name) {
            let value = normalize(value);
            match &found {
                None => found = Some((name, value)),
                Some((first, seen)) if *seen != value => {
                    return Err(TargetError::Conflict(format!(
                        "conflicting parameters: {first}={seen:?} and {name}={value:?} name different things; send one"
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(found.map(|(_, v)| v))
}

fn trimmed(value: Cow<'_, str>) -> Cow<'_, str> {
    match value {
        Cow::Borrowed(v) => Cow::Borrowed(v.trim()),
        Cow::Owned(v) => Cow::Owned(v.trim().to_owned()),
    }
}

/// A namespace id: trimmed, the empty one is `public` (so `tenant=` and `namespaceId=public`
/// agree).
fn namespace_id(value: Cow<'_, str>) -> Cow<'_, str> {
    let value = trimmed(value);
    if value.is_empty() {
        Cow::Borrowed(PUBLIC_NAMESPACE)
    } else {
        value
    }
}

/// The namespace a request names; `public` when it names none.
pub fn namespace(fields: &impl Fields) -> Result<String, TargetError> {
    Ok(namespace_given(fields)?.unwrap_or_else(|| PUBLIC_NAMESPACE.to_owned()))
}

/// The namespace a request names, if it names one (an empty value names `public`).
pub fn namespace_given(fields: &impl Fields) -> Result<Option<String>, TargetError> {
    Ok(agreed(fields, NAMESPACE, namespace_id)?.map(Cow::into_owned))
}

/// The group a request gives, if any (given empty, it is `Some("")`: a config refuses it as
/// invalid, a search matches every group, naming takes the default group).
pub fn group(fields: &impl Fields) -> Result<Option<String>, TargetError> {
    Ok(agreed(fields, GROUP, |v| v)?.map(Cow::into_owned))
}

/// The dataId a request gives, if any (empty included, as for the group).
pub fn data_id(fields: &impl Fields) -> Result<Option<String>, TargetError> {
    Ok(agreed(fields, &[DATA_ID], |v| v)?.map(Cow::into_owned))
}

/// A naming group: empty is none.
fn naming_group(fields: &impl Fields) -> Result<Option<String>, TargetError> {
    Ok(group(fields)?.filter(|g| !g.is_empty()))
}

/// One config: dataId and group are required (a missing group is reported as `group_name`, the
/// name the client's API generation uses); the namespace defaults to public.
pub fn config_key(
    fields: &impl Fields,
    group_name: &'static str,
) -> Result<ConfigKey, TargetError> {
    let namespace = namespace(fields)?;
    let data_id = data_id(fields)?.ok_or(TargetError::Missing(DATA_ID))?;
    let group = group(fields)?.ok_or(TargetError::Missing(group_name))?;
    Ok(ConfigKey::new(&namespace, &group, &data_id))
}

/// One service: `serviceName` is required and may carry its group as `GROUP@@name`, which must
/// then agree with any group given beside it; the group defaults to `DEFAULT_GROUP`.
pub fn service_key(fields: &impl Fields) -> Result<ServiceKey, TargetError> {
    let namespace = namespace(fields)?;
    let raw = agreed(fields, &[SERVICE_NAME], trimmed)?
        .filter(|s| !s.is_empty())
        .ok_or(TargetError::Missing(SERVICE_NAME))?;
    let given_group = naming_group(fields)?;
    let (group, name) = match raw.split_once("@@") {
        None => (
            given_group.unwrap_or_else(|| DEFAULT_GROUP.to_owned()),
            raw.as_ref(),
        ),
        Some((inner, name)) => {
            if inner.is_empty() || name.is_empty() || name.contains("@@") {
                return Err(TargetError::Illegal(format!(
                    "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName': {raw}"
                )));
            }
            if let Some(given) = given_group.filter(|g| g != inner) {
                return Err(TargetError::Conflict(format!(
                    "conflicting parameters: serviceName={raw:?} names group {inner:?} but groupName={given:?}; send one"
                )));
            }
            (inner.to_owned(), name)
        }
    };
    Ok(ServiceKey::new(&namespace, &group, name))
}

/// The namespace and (optional) group a list of services is asked for.
pub fn service_scope(fields: &impl Fields) -> Result<(String, Option<String>), TargetError> {
    Ok((namespace(fields)?, naming_group(fields)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters as a list of pairs, repeats kept.
    struct Pairs(Vec<(&'static str, &'static str)>);

    impl Fields for Pairs {
        fn each<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Cow<'a, str>> {
            self.0
                .iter()
                .filter(move |(k, _)| *k == name)
                .map(|(_, v)| Cow::Borrowed(*v))
        }
    }

    fn p(pairs: &[(&'static str, &'static str)]) -> Pairs {
        Pairs(pairs.to_vec())
    }

    #[test]
    fn every_namespace_spelling_counts_and_disagreement_is_refused() {
        for name in NAMESPACE {
            assert_eq!(namespace(&p(&[(name, " dev ")])).unwrap(), "dev");
        }
        assert_eq!(namespace(&p(&[])).unwrap(), "public");
        assert_eq!(
            namespace(&p(&[("tenant", ""), ("namespaceId", "public")])).unwrap(),
            "public",
            "empty and public are one namespace"
        );
        assert_eq!(
            namespace(&p(&[("tenant", "dev"), ("namespaceId", "dev")])).unwrap(),
            "dev"
        );
        for conflict in [
            p(&[("namespaceId", "mine"), ("tenant", "victim")]),
            p(&[("tenant", "victim"), ("namespaceId", "mine")]),
            p(&[("tenant", "mine"), ("tenant", "victim")]),
            p(&[("namespace", "mine"), ("tenant", "")]),
        ] {
            assert!(
                matches!(namespace(&conflict), Err(TargetError::Conflict(_))),
                "{:?}",
                conflict.0
            );
        }
    }

    #[test]
    fn a_config_needs_data_id_and_group_under_any_group_spelling() {
        let key = config_key(
            &p(&[("dataId", "a"), ("groupName", "G"), ("tenant", "dev")]),
            "group",
        )
        .unwrap();
        assert_eq!(key, ConfigKey::new("dev", "G", "a"));
        assert_eq!(
            config_key(&p(&[("dataId", "a")]), "groupName"),
            Err(TargetError::Missing("groupName"))
        );
        assert_eq!(
            config_key(&p(&[("group", "G")]), "group"),
            Err(TargetError::Missing("dataId"))
        );
        assert!(matches!(
            config_key(
                &p(&[("dataId", "a"), ("group", "A"), ("groupName", "B")]),
                "group"
            ),
            Err(TargetError::Conflict(_))
        ));
        assert!(matches!(
            config_key(
                &p(&[("dataId", "a"), ("dataId", "b"), ("group", "A")]),
                "group"
            ),
            Err(TargetError::Conflict(_))
        ));
    }

    #[test]
    fn a_service_group_comes_from_one_place_only() {
        assert_eq!(
            service_key(&p(&[("serviceName", "G@@svc")])).unwrap(),
            ServiceKey::new("", "G", "svc")
        );
        assert_eq!(
            service_key(&p(&[("serviceName", "G@@svc"), ("groupName", "G")])).unwrap(),
            ServiceKey::new("", "G", "svc")
        );
        assert_eq!(
            service_key(&p(&[("serviceName", "svc"), ("groupName", "G")])).unwrap(),
            ServiceKey::new("", "G", "svc")
        );
        assert_eq!(
            service_key(&p(&[("serviceName", "svc")])).unwrap().group,
            DEFAULT_GROUP
        );
        assert!(matches!(
            service_key(&p(&[("serviceName", "G@@svc"), ("groupName", "OTHER")])),
            Err(TargetError::Conflict(_))
        ));
        assert!(matches!(
            service_key(&p(&[
                ("serviceName", "svc"),
                ("groupName", "A"),
                ("group", "B")
            ])),
            Err(TargetError::Conflict(_))
        ));
        for illegal in ["@@svc", "G@@", "a@@b@@c"] {
            assert!(
                matches!(
                    service_key(&p(&[("serviceName", illegal)])),
                    Err(TargetError::Illegal(_))
                ),
                "{illegal}"
            );
        }
        assert_eq!(
            service_key(&p(&[])),
            Err(TargetError::Missing("serviceName"))
        );
    }
}
