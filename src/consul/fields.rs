//! Consul request bodies: JSON whose keys clients send in any case.

use axum::extract::Request;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::ConsulError;

/// A JSON object whose keys are matched in any case (clients send `Name`, `name`, `ID`, `id`).
pub struct Fields(pub Map<String, Value>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    pub fn text(&self, name: &str) -> Result<String, ConsulError> {
        match self.get(name) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(bad(format!(
                "Request decode failed: {name} must be a string, not {other}"
            ))),
        }
    }

    /// A non-negative integer (Consul's indexes and flags); absent is 0.
    pub fn number(&self, name: &str) -> Result<u64, ConsulError> {
        match self.get(name) {
            None => Ok(0),
            Some(v) => v.as_u64().ok_or_else(|| {
                bad(format!(
                    "Request decode failed: {name} must be a non-negative integer, not {v}"
                ))
            }),
        }
    }

    pub fn boolean(&self, name: &str) -> Result<bool, ConsulError> {
        match self.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(bad(format!(
                "Request decode failed: {name} must be a boolean, not {other}"
            ))),
        }
    }

    /// A list of objects (absent is empty).
    pub fn objects(&self, name: &str) -> Result<Vec<Fields>, ConsulError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::Object(m) => Ok(Fields(m.clone())),
                    other => Err(bad(format!(
                        "Request decode failed: {name} must hold objects, not {other}"
                    ))),
                })
                .collect(),
            Some(other) => Err(bad(format!(
                "Request decode failed: {name} must be a list, not {other}"
            ))),
        }
    }

    pub fn object(&self, name: &str) -> Result<Option<Fields>, ConsulError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Fields(m.clone()))),
            Some(other) => Err(bad(format!(
                "Request decode failed: {name} must be an object, not {other}"
            ))),
        }
    }
}

pub fn bad(message: String) -> ConsulError {
    ConsulError(StatusCode::BAD_REQUEST, message)
}

/// A request's JSON object body; an empty body is an empty object.
pub async fn body_fields(request: Request) -> Result<Fields, ConsulError> {
    let body = axum::body::to_bytes(request.into_body(), 1024 * 1024)
        .await
        .map_err(|_| {
            ConsulError(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large".into(),
            )
        })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Fields(Map::new()));
    }
    // Clients send JSON without a Content-Type: read the body as JSON regardless.
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => Ok(Fields(m)),
        Ok(_) => Err(bad("Request decode failed: expected a JSON object".into())),
        Err(e) => Err(bad(format!("Request decode failed: {e}"))),
    }
}
