//! Request parameters as Spring's `@RequestParam` sees them: the query string and a
//! form-encoded body together (the query wins for a name given twice).

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};

use super::error::{ApiError, Style};
use crate::core::Actor;

#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, String>,
    pub headers: HeaderMap,
    pub peer: Option<SocketAddr>,
    /// The user the access guard authenticated, if auth is on.
    pub user: Option<String>,
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The value, or `""` when absent.
    pub fn str(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// The first present of several spellings (e.g. `tenant` / `namespaceId`).
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

    /// Who is asking: the authenticated user (else the `src_user` a client names) and the
    /// client address.
    pub fn actor(&self) -> Actor {
        let forwarded = self
            .header("x-forwarded-for")
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let ip = forwarded
            .or_else(|| self.peer.map(|p| p.ip().to_string()))
            .unwrap_or_default();
        Actor {
            user: self
                .user
                .clone()
                .unwrap_or_else(|| self.str("src_user").to_owned()),
            ip,
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut values: HashMap<String, String> = HashMap::new();
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let headers = req.headers().clone();
        let user = req
            .extensions()
            .get::<super::guard::AuthenticatedUser>()
            .map(|u| u.0.clone());
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if let Some(query) = req.uri().query() {
            for (k, v) in form_urlencoded(query.as_bytes()) {
                values.entry(k).or_insert(v);
            }
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    e.status()
                } else {
                    StatusCode::BAD_REQUEST
                };
                ApiError::new(
                    Style::V1,
                    status,
                    20002,
                    format!("cannot read the request body: {e}"),
                )
            })?;
        if is_form && !bytes.is_empty() {
            for (k, v) in form_urlencoded(&bytes) {
                values.entry(k).or_insert(v);
            }
        }
        Ok(Params {
            values,
            headers,
            peer,
            user,
        })
    }
}

pub(super) fn form_urlencoded(input: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(input).unwrap_or_default()
}
