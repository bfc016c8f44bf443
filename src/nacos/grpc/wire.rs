//! The Nacos payload: a class name in `metadata.type` and the object's JSON in `body.value`.
//! Bodies are read loosely (SDKs send `null`, omit fields, or misspell them) and written
//! strictly: every primitive the SDKs require, never `null` (see `shared/protocols`).

use serde_json::{Map, Value, json};

use super::proto::{Metadata, Payload};

/// Nacos' error codes as the SDKs act on them.
pub mod code {
    pub const CONFIG_NOT_FOUND: u16 = 300;
    /// A request on a connection that has not sent ConnectionSetupRequest: clients reconnect.
    pub const UN_REGISTER: u16 = 301;
    pub const NO_HANDLER: u16 = 302;
    pub const INVALID_PARAM: u16 = 400;
    pub const NOT_FOUND: u16 = 404;
    pub const CONFLICT: u16 = 409;
    pub const SERVER_ERROR: u16 = 500;
    pub const BAD_GATEWAY: u16 = 502;
}

/// A request body, read leniently: absent and `null` fields are empty.
pub struct Body(Map<String, Value>);

/// What a request touches is read from its body by the one parser HTTP uses too.
impl crate::nacos::target::Fields for Body {
    fn each<'a>(&'a self, name: &'a str) -> impl Iterator<Item = std::borrow::Cow<'a, str>> {
        let text = match self.value(name) {
            Some(Value::String(s)) => Some(std::borrow::Cow::Borrowed(s.as_str())),
            Some(Value::Number(n)) => Some(std::borrow::Cow::Owned(n.to_string())),
            Some(Value::Bool(b)) => Some(std::borrow::Cow::Owned(b.to_string())),
            _ => None,
        };
        text.into_iter()
    }
}

impl Body {
    pub fn parse(payload: &Payload) -> Result<Self, String> {
        let raw = payload
            .body
            .as_ref()
            .map_or(&[][..], |b| b.value.as_slice());
        if raw.is_empty() {
            return Ok(Self(Map::new()));
        }
        match serde_json::from_slice(raw) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err("the body is not a JSON object".into()),
            Err(e) => Err(format!("the body is not JSON: {e}")),
        }
    }

    pub fn empty() -> Self {
        Self(Map::new())
    }

    pub fn value(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn text(&self, name: &str) -> String {
        match self.value(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => String::new(),
        }
    }

    pub fn flag(&self, name: &str, default: bool) -> bool {
        match self.value(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => default,
        }
    }

    pub fn number(&self, name: &str) -> Option<f64> {
        match self.value(name) {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn object(&self, name: &str) -> Body {
        match self.value(name) {
            Some(Value::Object(m)) => Body(m.clone()),
            _ => Body(Map::new()),
        }
    }

    pub fn list(&self, name: &str) -> Vec<Body> {
        match self.value(name) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_object().map(|m| Body(m.clone())))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A string-to-string map (metadata, labels); other values are written as JSON text.
    pub fn strings(&self, name: &str) -> std::collections::BTreeMap<String, String> {
        match self.value(name) {
            Some(Value::Object(m)) => m
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    (k.clone(), v)
                })
                .collect(),
            _ => Default::default(),
        }
    }
}

/// A payload of `kind` carrying `body` as JSON.
pub fn payload(kind: &str, body: &Value) -> Payload {
    Payload {
        metadata: Some(Metadata {
            r#type: kind.to_owned(),
            client_ip: String::new(),
            headers: Default::default(),
        }),
        body: Some(prost_types::Any {
            type_url: String::new(),
            value: serde_json::to_vec(body).unwrap_or_default(),
        }),
    }
}

/// A successful response of `kind`: the base fields, then `fields`.
pub fn ok(kind: &str, fields: Value) -> Payload {
    let mut body = json!({"resultCode": 200, "errorCode": 0, "message": "", "success": true});
    merge(&mut body, fields);
    payload(kind, &body)
}

/// A failed response of `kind` (its own type, as Nacos answers e.g. a missing config).
pub fn failed(
    kind: &str,
    result_code: u16,
    error_code: u16,
    message: &str,
    fields: Value,
) -> Payload {
    let mut body = json!({"resultCode": result_code, "errorCode": error_code, "message": message, "success": false});
    merge(&mut body, fields);
    payload(kind, &body)
}

/// Nacos' ErrorResponse.
pub fn error(result_code: u16, error_code: u16, message: &str) -> Payload {
    failed("ErrorResponse", result_code, error_code, message, json!({}))
}

/// A server push: a request with a server-made id and the `headers` SDKs require.
pub fn push(kind: &str, request_id: u64, module: &str, fields: Value) -> Payload {
    let mut body = json!({"headers": {}, "requestId": request_id.to_string(), "module": module});
    merge(&mut body, fields);
    payload(kind, &body)
}

fn merge(into: &mut Value, fields: Value) {
    if let (Value::Object(into), Value::Object(fields)) = (into, fields) {
        into.extend(fields);
    }
}

/// The type a payload says it carries.
pub fn kind(payload: &Payload) -> &str {
    payload.metadata.as_ref().map_or("", |m| m.r#type.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_carry_every_base_field_and_never_null() {
        let p = error(500, code::UN_REGISTER, "Connection is unregistered.");
        let body: Value = serde_json::from_slice(&p.body.unwrap().value).unwrap();
        assert_eq!(body["errorCode"], 301);
        assert_eq!(body["resultCode"], 500);
        assert_eq!(body["message"], "Connection is unregistered.");
        assert!(body.as_object().unwrap().values().all(|v| !v.is_null()));
        assert_eq!(p.metadata.unwrap().r#type, "ErrorResponse");
    }

    #[test]
    fn bodies_are_read_leniently() {
        let p = payload(
            "X",
            &json!({"dataId": "a", "tenant": null, "healthyOnly": "true", "port": "80"}),
        );
        let b = Body::parse(&p).unwrap();
        assert_eq!(
            (b.text("dataId"), b.text("tenant")),
            ("a".into(), String::new())
        );
        assert!(b.flag("healthyOnly", false));
        assert_eq!(b.number("port"), Some(80.0));
        let bad = Payload {
            metadata: None,
            body: Some(prost_types::Any {
                type_url: String::new(),
                value: b"{not json".to_vec(),
            }),
        };
        assert!(Body::parse(&bad).is_err());
    }
}
