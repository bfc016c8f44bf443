//! Consul request bodies: JSON whose keys clients send in any case.

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
