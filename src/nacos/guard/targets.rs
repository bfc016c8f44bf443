//! What each rule reads from a request and checks: the target it parses, the needs it puts to
//! the caller's grants, and the [`Checked`] value it hands the handler.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};

use crate::access::Need;
use crate::core::Core;
use crate::core::auth::{Action, Resource};
use crate::core::configs::ConfigKey;
use crate::core::configs::{ImportPolicy, PublishConfig};
use crate::core::registry::ServiceKey;
use crate::nacos::error::{ApiError, Style};
use crate::nacos::params::Params;
use crate::nacos::target::{self, TargetError};
use crate::nacos::{listener, transfer};

use super::*;

/// What `parse` works from.
pub(super) struct Input<'a> {
    pub(super) route: &'a Guarded,
    pub(super) style: Style,
    pub(super) method: &'a Method,
    /// Files of a multipart form.
    pub(super) files: Vec<(String, Bytes)>,
}

impl Input<'_> {
    fn reads(&self) -> bool {
        *self.method == Method::GET || *self.method == Method::HEAD
    }

    fn action(&self) -> Action {
        if self.reads() {
            Action::Read
        } else {
            Action::Write
        }
    }

    fn target(&self) -> impl Fn(TargetError) -> ApiError + '_ {
        move |e| match e {
            TargetError::Missing(name) => ApiError::missing(self.style, name),
            TargetError::Conflict(m) => ApiError::invalid(self.style, m),
            TargetError::Illegal(m) => ApiError::new(self.style, StatusCode::BAD_REQUEST, 21000, m),
        }
    }
}

/// Sets the checked value in the request the handler gets.
type Insert = Box<dyn FnOnce(&mut Parts) + Send>;

fn hand<T: Clone + Send + Sync + 'static>(value: T) -> Option<Insert> {
    Some(Box::new(move |parts: &mut Parts| {
        parts.extensions.insert(Checked(value));
    }))
}

fn config(key: &ConfigKey, action: Action) -> Need {
    Need::Resource(Resource::of_config(key), action)
}

/// Parses the target of the route's rule: what must be allowed, the checked value for the
/// handler, and the body it still reads. Scoped rules forget the raw target parameters.
pub(super) async fn parse(
    core: &Arc<Core>,
    input: &Input<'_>,
    params: &mut Params,
    mut body: Body,
) -> Result<(Vec<Need>, Option<Insert>, Body), Refusal> {
    let style = input.style;
    let (needs, checked) = match input.route.rule {
        Rule::Open | Rule::Delegated => (vec![], None),
        Rule::SignedIn => (vec![Need::Authenticated], None),
        Rule::Admin => (vec![Need::Admin], None),
        Rule::OwnPassword => (
            vec![Need::UserOrAdmin(params.str("username").to_owned())],
            None,
        ),
        Rule::Packages if input.reads() => (vec![Need::Authenticated], None),
        Rule::Packages => (vec![Need::Admin], None),
        Rule::Namespaces => namespaces(input, params)?,
        Rule::Config => {
            let key =
                target::config_key(params, input.route.group_name()).map_err(input.target())?;
            (vec![config(&key, input.action())], hand(key))
        }
        Rule::ConfigV1 => config_v1(core, input, params)?,
        Rule::Configs => {
            let scope = config_scope(input, params)?;
            (vec![Need::Enter(scope.namespace.clone())], hand(scope))
        }
        Rule::Listener => {
            let probes = listener::parse(params.str("Listening-Configs"))?;
            params.forget("Listening-Configs");
            let needs = probes
                .iter()
                .map(|p| config(&p.key, Action::Read))
                .collect();
            (needs, hand(probes))
        }
        Rule::History(op) => history(core, input, params, op).await?,
        Rule::KvExport => {
            let namespace = target::namespace_given(params).map_err(input.target())?;
            (vec![Need::Authenticated], hand(KvExportScope(namespace)))
        }
        Rule::KvImport => {
            let bytes = axum::body::to_bytes(std::mem::take(&mut body), input.route.state.max_body)
                .await
                .map_err(|_| ApiError::too_large(style))?;
            let namespace = target::namespace_given(params).map_err(input.target())?;
            let items = transfer::read_kv_items(&bytes, namespace.as_deref())?;
            import(items, params)?
        }
        Rule::ZipImport => {
            let namespace = target::namespace(params).map_err(input.target())?;
            let file = input
                .files
                .iter()
                .find(|(name, _)| name == "file")
                .map(|(_, bytes)| bytes.clone())
                .ok_or_else(|| ApiError::missing(style, "file"))?;
            let items = transfer::read_zip(&file, &namespace)?;
            import(items, params)?
        }
        Rule::Service => {
            let key = target::service_key(params).map_err(input.target())?;
            let need = Need::Resource(Resource::of_service(&key), input.action());
            (vec![need], hand::<ServiceKey>(key))
        }
        Rule::Services => {
            let (namespace, group) = target::service_scope(params).map_err(input.target())?;
            let need = Need::Enter(namespace.clone());
            (vec![need], hand(ServiceScope { namespace, group }))
        }
        Rule::Timeline => {
            let (resource, change) = match params.str("kind") {
                "config" => {
                    let key = target::config_key(params, input.route.group_name())
                        .map_err(input.target())?;
                    (Resource::of_config(&key), Entity::Config(key))
                }
                "service" => {
                    let key = target::service_key(params).map_err(input.target())?;
                    (Resource::of_service(&key), Entity::Service(key))
                }
                other => {
                    return Err(ApiError::invalid(
                        style,
                        format!("kind must be config or service, not {other:?}"),
                    )
                    .into());
                }
            };
            (vec![Need::Resource(resource, Action::Read)], hand(change))
        }
    };
    if checked.is_some() {
        params.forget_targets();
    }
    Ok((needs, checked, body))
}

fn config_scope(input: &Input<'_>, params: &Params) -> Result<ConfigScope, ApiError> {
    Ok(ConfigScope {
        namespace: target::namespace(params).map_err(input.target())?,
        group: target::group(params).map_err(input.target())?,
        data_id: target::data_id(params).map_err(input.target())?,
    })
}

type Decision = (Vec<Need>, Option<Insert>);

fn config_v1(core: &Core, input: &Input<'_>, params: &Params) -> Result<Decision, ApiError> {
    if input.reads() && params.get("search").is_some() {
        let scope = config_scope(input, params)?;
        let need = Need::Enter(scope.namespace.clone());
        return Ok((vec![need], hand(ConfigOp::Search(scope))));
    }
    if *input.method == Method::DELETE && params.get("delType") == Some("ids") {
        let ids: Vec<u64> = params
            .str("ids")
            .split(',')
            .filter_map(|i| i.trim().parse().ok())
            .collect();
        let state = core.model.read();
        let keys: Vec<ConfigKey> = state
            .live_configs()
            .filter(|e| ids.contains(&e.create_seq))
            .map(|e| e.key.clone())
            .collect();
        let mut needs: Vec<Need> = keys.iter().map(|k| config(k, Action::Write)).collect();
        if keys.len() < ids.len() {
            // An id that names nothing is answered only to admins: to anyone else it would
            // tell existing ids (of other namespaces) from missing ones.
            needs.push(Need::Admin);
        }
        return Ok((needs, hand(ConfigOp::Ids(keys))));
    }
    let key = target::config_key(params, "group").map_err(input.target())?;
    Ok((vec![config(&key, input.action())], hand(ConfigOp::One(key))))
}

fn import(items: Vec<PublishConfig>, params: &Params) -> Result<Decision, ApiError> {
    let policy: ImportPolicy = params
        .str("policy")
        .parse()
        .map_err(|e| ApiError::from_core(Style::V2, e))?;
    let needs = items
        .iter()
        .map(|i| config(&i.key, Action::Write))
        .collect();
    Ok((needs, hand(Import { items, policy })))
}

fn namespaces(input: &Input<'_>, params: &Params) -> Result<Decision, ApiError> {
    if !input.reads() {
        return Ok((vec![Need::Admin], None));
    }
    if params.get("checkNamespaceIdExist") == Some("true") {
        let id = params
            .required("customNamespaceId", input.style)?
            .to_owned();
        return Ok((vec![Need::Admin], hand(NamespaceRead::Exists(id))));
    }
    let v1 = input.route.path.starts_with("/nacos/v1/");
    if input.route.path.ends_with("/list") || (v1 && params.get("show") != Some("all")) {
        return Ok((vec![Need::Authenticated], hand(NamespaceRead::List)));
    }
    let id = target::namespace_given(params)
        .map_err(input.target())?
        .ok_or_else(|| ApiError::missing(input.style, "namespaceId"))?;
    Ok((vec![Need::Enter(id.clone())], hand(NamespaceRead::One(id))))
}

async fn history(
    core: &Core,
    input: &Input<'_>,
    params: &Params,
    op: HistoryOp,
) -> Result<Decision, ApiError> {
    let style = input.style;
    let number = |name: &str| -> Result<u64, ApiError> {
        params
            .required(name, style)?
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid(style, format!("{name} must be a number")))
    };
    let op = match op {
        HistoryOp::RowOrList if params.get("nid").is_some() => HistoryOp::Row,
        HistoryOp::RowOrList => HistoryOp::List,
        op => op,
    };
    Ok(match op {
        HistoryOp::List | HistoryOp::RowOrList => {
            let key =
                target::config_key(params, input.route.group_name()).map_err(input.target())?;
            (
                vec![config(&key, Action::Read)],
                hand(HistoryTarget::List(key)),
            )
        }
        HistoryOp::Row | HistoryOp::Rollback => {
            let nid = number("nid")?;
            let action = if op == HistoryOp::Rollback {
                Action::Write
            } else {
                Action::Read
            };
            let row = core
                .history_item(nid)
                .await
                .map_err(|e| ApiError::from_core(style, e))?;
            match row {
                Some(row) => {
                    // A request that also names a config must name this row's.
                    if target::data_id(params).map_err(input.target())?.is_some()
                        && target::config_key(params, input.route.group_name())
                            .map_err(input.target())?
                            != row.key
                    {
                        return Err(ApiError::new(
                            style,
                            StatusCode::FORBIDDEN,
                            10001,
                            "Please check dataId, group or namespaceId.",
                        ));
                    }
                    (
                        vec![config(&row.key, action)],
                        hand(HistoryTarget::Row(Ok(Box::new(row)))),
                    )
                }
                // Answered only to admins: to others it would tell sequences of other
                // namespaces' changes from the rest.
                None => (vec![Need::Admin], hand(HistoryTarget::Row(Err(nid)))),
            }
        }
        HistoryOp::Previous => {
            if target::data_id(params).map_err(input.target())?.is_some() {
                let key =
                    target::config_key(params, input.route.group_name()).map_err(input.target())?;
                (
                    vec![config(&key, Action::Read)],
                    hand(HistoryTarget::Previous(Ok(key))),
                )
            } else {
                let id = number("id")?;
                let found = core
                    .model
                    .read()
                    .live_configs()
                    .find(|e| e.create_seq == id)
                    .map(|e| e.key.clone());
                match found {
                    Some(key) => (
                        vec![config(&key, Action::Read)],
                        hand(HistoryTarget::Previous(Ok(key))),
                    ),
                    None => (vec![Need::Admin], hand(HistoryTarget::Previous(Err(id)))),
                }
            }
        }
    })
}
