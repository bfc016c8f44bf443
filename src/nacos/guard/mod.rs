//! Access control on the Nacos HTTP port (and the package routes beside it).
//!
//! Every route declares its [`Rule`] beside its path in its adapter's `routes()`. The guard runs
//! before the route's handler: it reads the request's parameters once, parses what the request
//! touches with the one parser of its kind (`target.rs`, the listener's probes, an import's
//! archive, a history row), checks every part of it against the caller's grants, and hands the
//! handler the parsed value as [`Checked`]. Handlers never see the raw target parameters (they
//! are removed from [`Params`]), so a handler acts only on what the check saw (DESIGN invariant
//! 9). Lists and searches answer only what the caller may read ([`Caller::reader`]).

mod targets;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use super::error::{ApiError, Style};
use super::params::Params;
use crate::access::Denied;
use crate::client_addr::ClientAddr;
use crate::core::auth::Reader;
use crate::core::configs::ConfigKey;
use crate::core::configs::{ImportPolicy, PublishConfig};
use crate::core::history::HistoryItem;
use crate::core::registry::ServiceKey;
use crate::core::{Actor, Core};
use targets::{Input, parse};

/// What a route needs, declared beside its path in `routes()`. The scoped rules name the parser
/// that reads the route's target and the [`Checked`] value its handler receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone: logging in, the one-time admin initialisation, probes, metrics.
    Open,
    /// Any signed-in user; the answer names nothing namespaced (cluster membership).
    SignedIn,
    /// Admins only: users, roles, permissions.
    Admin,
    /// A user changing their own password, or an admin.
    OwnPassword,
    /// One config (read on GET, write otherwise): `Checked<ConfigKey>`.
    Config,
    /// v1 `/cs/configs`: one config, a search, or a deletion by ids: `Checked<ConfigOp>`.
    ConfigV1,
    /// The configs of one namespace, answered filtered (a search, history's list of configs,
    /// the ZIP export): `Checked<ConfigScope>`.
    Configs,
    /// The HTTP long-polling listener: every probed config is read. `Checked<Vec<Probe>>`.
    Listener,
    /// Config history: `Checked<HistoryTarget>`.
    History(HistoryOp),
    /// The Consul-style JSON export, filtered: `Checked<KvExportScope>`.
    KvExport,
    /// The Consul-style JSON import: every entry is written. `Checked<Import>`.
    KvImport,
    /// The ZIP import (multipart): every entry is written. `Checked<Import>`.
    ZipImport,
    /// One service (read on GET, write otherwise): `Checked<ServiceKey>`.
    Service,
    /// The services of one namespace, answered filtered: `Checked<ServiceScope>`.
    Services,
    /// One config or one service, as `kind=config|service` says (the console's timeline): read.
    /// `Checked<Entity>`.
    Timeline,
    /// Namespaces: reads answer what the caller's grants reach (`Checked<NamespaceRead>`);
    /// writes are for admins.
    Namespaces,
    /// Packages: signed-in users read, admins write. Bodies stream to the handler untouched.
    Packages,
    /// Anyone here: the API behind decides by its own access control (the Consul API on the
    /// console's origin, under Consul's ACLs). The request passes untouched.
    Delegated,
}

/// What a history route asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryOp {
    /// v1 `/cs/history`: one row by `nid`, else the rows of one config.
    RowOrList,
    Row,
    List,
    Previous,
    Rollback,
}

impl Rule {
    /// Whether the guard reads a form body into the parameters. The JSON import and packages
    /// keep their bodies for their handlers.
    fn reads_form(self) -> bool {
        !matches!(self, Rule::KvImport | Rule::Packages | Rule::Delegated)
    }
}

/// One route of an adapter: its path, its rule and its handlers.
pub struct Route<S> {
    pub path: &'static str,
    pub rule: Rule,
    pub methods: MethodRouter<S>,
}

pub fn route<S>(path: &'static str, rule: Rule, methods: MethodRouter<S>) -> Route<S> {
    Route {
        path,
        rule,
        methods,
    }
}

/// What the guard needs: the core, and the largest body it reads.
#[derive(Clone)]
pub struct GuardState {
    pub core: Arc<Core>,
    pub max_body: usize,
}

/// A router serving `routes`, each behind the guard with its own rule.
pub fn router<S: Clone + Send + Sync + 'static>(
    routes: Vec<Route<S>>,
    guard_state: &GuardState,
) -> axum::Router<S> {
    routes.into_iter().fold(axum::Router::new(), |router, r| {
        let layer = axum::middleware::from_fn_with_state(
            Guarded {
                state: guard_state.clone(),
                rule: r.rule,
                path: r.path,
            },
            guard,
        );
        router.route(r.path, r.methods.route_layer(layer))
    })
}

/// The guard's view of one route.
#[derive(Clone)]
pub struct Guarded {
    state: GuardState,
    rule: Rule,
    path: &'static str,
}

impl Guarded {
    /// The error rendering of the route: v2/v3 envelopes, v1 naming's bare text, Nacre's own
    /// JSON, else v1's.
    fn style(&self) -> Style {
        let p = self.path;
        if p.starts_with("/nacos/v2/") || p.starts_with("/nacos/v3/") || p.starts_with("/v1/") {
            Style::V2
        } else if p.starts_with("/nacos/v1/ns/") {
            Style::Text
        } else if p.starts_with("/nacre/") {
            Style::Nacre
        } else {
            Style::V1
        }
    }

    /// The name the route's API generation gives a config's group (for "missing" errors).
    fn group_name(&self) -> &'static str {
        if self.path.starts_with("/nacos/v3/") {
            "groupName"
        } else {
            "group"
        }
    }
}

/// A value the guard parsed and checked. Only the guard makes one; handlers receive it.
#[derive(Debug, Clone)]
pub struct Checked<T>(T);

impl<T> Checked<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Checked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn not_guarded(what: &str) -> ApiError {
    ApiError::new(
        Style::V1,
        StatusCode::INTERNAL_SERVER_ERROR,
        30000,
        format!("internal error: the route's access rule does not provide {what}"),
    )
}

impl<S: Send + Sync, T: Clone + Send + Sync + 'static> FromRequestParts<S> for Checked<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .remove::<Checked<T>>()
            .ok_or_else(|| not_guarded(std::any::type_name::<T>()))
    }
}

/// Who is asking: the authenticated user (none with access control off), what they may read,
/// and their address.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: Option<String>,
    pub reader: Reader,
    pub ip: String,
}

impl Caller {
    /// The actor of a change: the authenticated user, never a name the client gives.
    pub fn actor(&self) -> Actor {
        Actor {
            user: self.user.clone().unwrap_or_default(),
            ip: self.ip.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| not_guarded("a caller"))
    }
}

/// v1 `/cs/configs`, parsed.
#[derive(Debug, Clone)]
pub enum ConfigOp {
    One(ConfigKey),
    Search(ConfigScope),
    /// Deletion by `ids`: the configs those ids name (each checked for write).
    Ids(Vec<ConfigKey>),
}

/// A namespace and the patterns a search or an export narrows it by.
#[derive(Debug, Clone)]
pub struct ConfigScope {
    pub namespace: String,
    pub group: Option<String>,
    pub data_id: Option<String>,
}

/// The Consul-style export: every namespace, or one.
#[derive(Debug, Clone)]
pub struct KvExportScope(pub Option<String>);

/// Configs to import, each checked for write, and what to do with existing ones.
#[derive(Debug, Clone)]
pub struct Import {
    pub items: Vec<PublishConfig>,
    pub policy: ImportPolicy,
}

#[derive(Debug, Clone)]
pub enum HistoryTarget {
    /// The rows of one config.
    List(ConfigKey),
    /// One row; `Err(nid)`: no config change at that sequence.
    Row(Result<Box<HistoryItem>, u64>),
    /// The latest row of one config; `Err(id)`: no config has that id.
    Previous(Result<ConfigKey, u64>),
}

/// The namespace (and group) a list of services is asked for.
#[derive(Debug, Clone)]
pub struct ServiceScope {
    pub namespace: String,
    pub group: Option<String>,
}

/// One config or one service.
#[derive(Debug, Clone)]
pub enum Entity {
    Config(ConfigKey),
    Service(ServiceKey),
}

#[derive(Debug, Clone)]
pub enum NamespaceRead {
    List,
    One(String),
    /// Whether an id is taken (before creating one): admins only.
    Exists(String),
}

/// The token a Nacos client sends: `Authorization: Bearer`, an `accessToken` header, or an
/// `accessToken` parameter (query or form).
fn token_of<'a>(headers: &'a HeaderMap, params: &'a Params) -> Option<&'a str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("accessToken").and_then(|v| v.to_str().ok()))
        .or_else(|| params.get("accessToken"))
        .filter(|t| !t.is_empty())
}

/// How a body carries parameters, as Spring reads them: urlencoded (also when no type is
/// given), multipart, or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormType {
    UrlEncoded,
    Multipart,
    None,
}

fn form_type(headers: &HeaderMap) -> FormType {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => FormType::UrlEncoded,
        Some(ct) if ct.starts_with("application/x-www-form-urlencoded") => FormType::UrlEncoded,
        Some(ct) if ct.starts_with("multipart/form-data") => FormType::Multipart,
        Some(_) => FormType::None,
    }
}

/// The text fields and files of a multipart body (already read, within the body limit).
async fn multipart(headers: &HeaderMap, bytes: Bytes) -> Result<MultipartForm, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|e| e.to_string())?;
    let body = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut form = multer::Multipart::new(body, boundary);
    let mut out = MultipartForm::default();
    while let Some(field) = form.next_field().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or("").to_owned();
        if field.file_name().is_some() {
            let bytes = field.bytes().await.map_err(|e| e.to_string())?;
            out.files.push((name, bytes));
        } else {
            let text = field.text().await.map_err(|e| e.to_string())?;
            out.fields.push((name, text));
        }
    }
    Ok(out)
}

#[derive(Default)]
struct MultipartForm {
    fields: Vec<(String, String)>,
    files: Vec<(String, Bytes)>,
}

/// Why a request is refused before its handler runs.
enum Refusal {
    Denied(Denied),
    Bad(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Bad(e)
    }
}

impl From<Denied> for Refusal {
    fn from(d: Denied) -> Self {
        Refusal::Denied(d)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Bad(e) => e.into_response(),
            Refusal::Denied(Denied::Unauthenticated(why)) => {
                (StatusCode::FORBIDDEN, why).into_response()
            }
            Refusal::Denied(Denied::Forbidden) => {
                (StatusCode::FORBIDDEN, "authorization failed!").into_response()
            }
        }
    }
}

pub async fn guard(State(route): State<Guarded>, request: Request, next: Next) -> Response {
    match admit(&route, request).await {
        Ok(request) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Reads, authenticates, parses and checks a request; the request handed on carries the
/// [`Caller`], the [`Params`] and the route's [`Checked`] target.
async fn admit(route: &Guarded, request: Request) -> Result<Request, Refusal> {
    let style = route.style();
    let client = ClientAddr::of(&request);
    let (mut parts, body) = request.into_parts();
    let form = if route.rule.reads_form() {
        form_type(&parts.headers)
    } else {
        FormType::None
    };
    let (form_bytes, body) = match form {
        FormType::None => (None, body),
        _ => {
            let bytes = axum::body::to_bytes(body, route.state.max_body)
                .await
                .map_err(|_| ApiError::too_large(style))?;
            (Some(bytes), Body::empty())
        }
    };
    let urlencoded = form_bytes
        .as_deref()
        .filter(|_| form == FormType::UrlEncoded);
    let mut params = Params::new(parts.uri.query(), urlencoded, parts.headers.clone(), client);
    let mut files = Vec::new();
    if let (FormType::Multipart, Some(bytes)) = (form, form_bytes) {
        let form = multipart(&parts.headers, bytes)
            .await
            .map_err(|e| ApiError::invalid(style, format!("bad multipart body: {e}")))?;
        params.extend(form.fields);
        files = form.files;
    }

    let core = &route.state.core;
    let access = &core.access;
    let user = if access.enabled && !matches!(route.rule, Rule::Open | Rule::Delegated) {
        let token = token_of(&parts.headers, &params);
        Some(access.authenticate(&core.model.read().auth, token)?)
    } else {
        None
    };
    let caller = Caller {
        reader: user.clone().map_or(Reader::Anyone, Reader::User),
        user,
        ip: params.client_ip(),
    };

    let method = parts.method.clone();
    let input = Input {
        route,
        style,
        method: &method,
        files,
    };
    let (needs, checked, body) = parse(core, &input, &mut params, body).await?;
    if let Some(user) = &caller.user {
        let state = core.model.read();
        if !needs
            .iter()
            .all(|need| crate::access::permits(&state.auth, user, need))
        {
            return Err(Denied::Forbidden.into());
        }
    }
    if let Some(insert) = checked {
        insert(&mut parts);
    }
    params.user = caller.user.clone();
    parts.extensions.insert(caller);
    parts.extensions.insert(params);
    Ok(Request::from_parts(parts, body))
}
