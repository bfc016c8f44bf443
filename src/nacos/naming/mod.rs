//! Naming routes: v1 `/nacos/v1/ns/instance{,/list,/beat}`, `/nacos/v1/ns/service{,/list}`,
//! `/nacos/v1/ns/operator/metrics` and their v2 equivalents. The JSON shapes they answer with
//! are `super::views`, shared with gRPC.

mod instances;
mod services;

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, Style, success};
use super::guard::{Caller, Checked, ServiceScope};
use super::params::Params;
use crate::core::CoreError;
use crate::core::registry::ServiceKey;
pub use instances::ListCache;
use instances::*;
use services::*;

// ---- parameters ----

pub(super) fn required<'a>(p: &'a Params, name: &str, style: Style) -> Result<&'a str, ApiError> {
    p.get(name).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
        ApiError::new(
            style,
            StatusCode::BAD_REQUEST,
            10000,
            format!("Param '{name}' is required."),
        )
    })
}

pub(super) fn port(raw: &str, style: Style) -> Result<u16, ApiError> {
    raw.trim().parse::<u16>().map_err(|_| {
        ApiError::invalid(
            style,
            "Param 'port' is illegal, the value should be between 0 and 65535.",
        )
    })
}

/// Nacos booleans: true/on/yes/y/t in any case.
pub(super) fn boolean(p: &Params, names: &[&str], default: bool) -> bool {
    match names
        .iter()
        .find_map(|n| p.get(n))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => default,
        Some(v) => ["true", "on", "yes", "y", "t", "1"].contains(&v.to_ascii_lowercase().as_str()),
    }
}

pub(super) fn number(p: &Params, name: &str, style: Style) -> Result<Option<f64>, ApiError> {
    match p.get(name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .map(Some)
            .map_err(|_| ApiError::invalid(style, format!("For input string: \"{v}\""))),
    }
}

/// Metadata as JSON object or `k1=v1,k2=v2`, within Nacos' length (`limits::nacos_metadata`).
pub fn metadata(raw: &str, style: Style) -> Result<BTreeMap<String, String>, ApiError> {
    let bad = || {
        ApiError::new(
            style,
            StatusCode::BAD_REQUEST,
            21002,
            format!("metadata format incorrect:{raw}"),
        )
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(BTreeMap::new());
    }
    let map: BTreeMap<String, String> = if raw.starts_with('{') {
        let value: serde_json::Map<String, Value> = serde_json::from_str(raw).map_err(|_| bad())?;
        value
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                Value::Number(n) => Ok((k, n.to_string())),
                Value::Bool(b) => Ok((k, b.to_string())),
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()?
    } else {
        raw.split(',')
            .map(
                |pair| match pair.split('=').collect::<Vec<_>>().as_slice() {
                    [k, v] => Ok((k.to_string(), v.to_string())),
                    _ => Err(bad()),
                },
            )
            .collect::<Result<_, _>>()?
    };
    metadata_fits(&map, style)?;
    Ok(map)
}

/// Nacos' metadata rule (the limits table's), as Nacos answers it: 21002.
pub(super) fn metadata_fits(map: &BTreeMap<String, String>, style: Style) -> Result<(), ApiError> {
    crate::core::limits::nacos_metadata(map)
        .map_err(|e| ApiError::new(style, StatusCode::BAD_REQUEST, 21002, e.to_string()))
}

/// Core errors in naming's words: v1 bare text, v2 naming codes.
pub(super) fn naming_error(style: Style) -> impl Fn(CoreError) -> ApiError {
    move |e| match e {
        CoreError::Invalid {
            field: "weight",
            message,
        } => ApiError::new(style, StatusCode::BAD_REQUEST, 21001, message),
        CoreError::Invalid {
            field: "serviceName",
            message,
        } => ApiError::new(style, StatusCode::BAD_REQUEST, 21000, message),
        CoreError::NotFound(m) if m.starts_with("instance") => {
            ApiError::new(style, StatusCode::NOT_FOUND, 21003, m)
        }
        CoreError::NotFound(m) => ApiError::new(style, StatusCode::BAD_REQUEST, 21008, m),
        CoreError::Conflict(m) if m.contains("already exists") => {
            ApiError::new(style, StatusCode::BAD_REQUEST, 21007, m)
        }
        CoreError::Conflict(m) => ApiError::new(style, StatusCode::BAD_REQUEST, 21009, m),
        other => ApiError::from_core(style, other),
    }
}

pub(super) fn ok(style: Style) -> Response {
    if style == Style::V2 {
        success("ok")
    } else {
        "ok".into_response()
    }
}

// ---- handlers ----

macro_rules! handlers {
    ($($name:ident => $op:ident($style:expr)),* $(,)?) => {
        $(pub async fn $name(
            State(app): State<AppState>,
            service: Checked<ServiceKey>,
            p: Params,
        ) -> Result<Response, ApiError> {
            $op(&app, service.into_inner(), &p, $style).await
        })*
    };
}

handlers! {
    v1_register => register(Style::Text),
    v1_deregister => deregister(Style::Text),
    v1_update => update(Style::Text),
    v1_detail => detail(Style::Text),
    v1_list => list(Style::Text),
    v1_beat => beat(Style::Text),
    v1_service_create => service_create(Style::Text),
    v1_service_update => service_update(Style::Text),
    v1_service_delete => service_delete(Style::Text),
    v1_service_detail => service_detail(Style::Text),
    v2_register => register(Style::V2),
    v2_deregister => deregister(Style::V2),
    v2_update => update(Style::V2),
    v2_detail => detail(Style::V2),
    v2_list => list(Style::V2),
    v2_beat => beat(Style::V2),
    v2_service_create => service_create(Style::V2),
    v2_service_update => service_update(Style::V2),
    v2_service_delete => service_delete(Style::V2),
    v2_service_detail => service_detail(Style::V2),
}

pub async fn v1_service_list(
    State(app): State<AppState>,
    scope: Checked<ServiceScope>,
    caller: Caller,
    p: Params,
) -> Result<Response, ApiError> {
    service_list(&app, &scope, &caller, &p, Style::Text).await
}

pub async fn v2_service_list(
    State(app): State<AppState>,
    scope: Checked<ServiceScope>,
    caller: Caller,
    p: Params,
) -> Result<Response, ApiError> {
    service_list(&app, &scope, &caller, &p, Style::V2).await
}

pub async fn metrics(State(app): State<AppState>, p: Params) -> Response {
    if p.get("onlyStatus") == Some("false") {
        let state = app.core.model.read();
        let services = state.registry.values().filter(|e| e.visible()).count();
        let instances: usize = state.registry.values().map(|e| e.instances.len()).sum();
        return axum::Json(
            json!({"status": "UP", "serviceCount": services, "instanceCount": instances}),
        )
        .into_response();
    }
    axum::Json(json!({"status": "UP"})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_accepts_json_and_pairs_and_refuses_the_rest() {
        let m = metadata(r#"{"a":"1","b":2}"#, Style::Text).unwrap();
        assert_eq!((m["a"].as_str(), m["b"].as_str()), ("1", "2"));
        let m = metadata("a=1,b=2", Style::Text).unwrap();
        assert_eq!(m.len(), 2);
        for bad in ["{not json", "a=1,b", r#"{"a":{"nested":1}}"#, "a=b=c"] {
            let e = metadata(bad, Style::Text).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::BAD_REQUEST, 21002),
                "{bad}"
            );
        }
        assert!(metadata(&format!("{{\"k\":\"{}\"}}", "v".repeat(1100)), Style::Text).is_err());
    }

    #[test]
    fn random_units_stay_inside_the_open_interval() {
        let mut r = random_unit();
        for _ in 0..10_000 {
            let x = r();
            assert!(x > 0.0 && x < 1.0);
        }
    }
}
