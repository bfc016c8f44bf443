//! Request parameters as Spring's `@RequestParam` sees them: the query string and a
//! form-encoded body together. They are read once, by the access guard, which hands them on
//! in the request's extensions; every repeat is kept, so the target parser (`target.rs`) sees
//! a name given twice.

use std::borrow::Cow;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};

use super::error::{ApiError, Style};
use super::target::{Fields, TARGET_NAMES};
use crate::client_addr::ClientAddr;
use crate::core::Actor;

#[derive(Debug, Default, Clone)]
pub struct Params {
    /// Query pairs first, then form-body pairs, each in the order given.
    values: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub client: Option<std::net::IpAddr>,
    /// The user the access guard authenticated, if auth is on.
    pub user: Option<String>,
}

impl Fields for Params {
    fn each<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Cow<'a, str>> {
        self.values
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| Cow::Borrowed(v.as_str()))
    }
}

impl Params {
    /// Parameters from a query string and (for form requests) a body.
    pub fn new(
        query: Option<&str>,
        form: Option<&[u8]>,
        headers: HeaderMap,
        client: ClientAddr,
    ) -> Self {
        let mut values = query
            .map(|q| form_urlencoded(q.as_bytes()))
            .unwrap_or_default();
        if let Some(body) = form.filter(|b| !b.is_empty()) {
            values.extend(form_urlencoded(body));
        }
        Params {
            values,
            headers,
            client: client.0,
            user: None,
        }
    }

    /// Adds parameters read from elsewhere (a multipart form's text fields).
    pub(super) fn extend(&mut self, pairs: Vec<(String, String)>) {
        self.values.extend(pairs);
    }

    /// Forgets a parameter the guard parsed into a checked value.
    pub(super) fn forget(&mut self, name: &str) {
        self.values.retain(|(k, _)| k != name);
    }

    /// Forgets the names that say what a request touches: a scoped handler acts only on the
    /// target the access check saw, never on a second reading of these.
    pub(super) fn forget_targets(&mut self) {
        self.values
            .retain(|(k, _)| !TARGET_NAMES.contains(&k.as_str()));
    }

    /// The first value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value, or `""` when absent.
    pub fn str(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// The first present of several spellings of a value that decides nothing about access
    /// (e.g. `config_tags` / `configTags`).
    pub fn first(&self, names: &[&str]) -> &str {
        names.iter().find_map(|n| self.get(n)).unwrap_or("")
    }

    pub fn required(&self, name: &str, style: Style) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::missing(style, name))
    }

    /// A positive integer parameter with a default.
    pub fn number(&self, name: &str, default: usize, style: Style) -> Result<usize, ApiError> {
        match self.get(name).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(ApiError::invalid(
                    style,
                    format!("{name} must be a positive integer, current is {v}"),
                )),
            },
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The client's address as history records it.
    pub fn client_ip(&self) -> String {
        self.client.map(|ip| ip.to_string()).unwrap_or_default()
    }

    /// Who is asking: the authenticated user and the client address. With access control off
    /// there is no authenticated user, and the name a client gives (`src_user`, `srcUser`) is
    /// recorded as Nacos records it.
    pub fn actor(&self) -> Actor {
        Actor {
            user: self
                .user
                .clone()
                .unwrap_or_else(|| self.first(&["src_user", "srcUser"]).to_owned()),
            ip: self.client_ip(),
        }
    }
}

/// Handlers take the parameters the guard read (the body is consumed by then).
impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.remove::<Params>().ok_or_else(|| {
            ApiError::new(
                Style::V1,
                StatusCode::INTERNAL_SERVER_ERROR,
                30000,
                "internal error: this route has no access rule that reads its parameters",
            )
        })
    }
}

pub fn form_urlencoded(input: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(input).unwrap_or_default()
}
