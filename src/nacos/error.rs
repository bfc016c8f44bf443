//! Nacos' error formats. v1 routes answer plain text `caused: <message>;` with the exception's
//! HTTP status; v2/v3 routes answer the `{code, message, data}` envelope with Nacos' ErrorCode
//! numbers (api/model/v2/ErrorCode.java).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::core::CoreError;

/// Which of Nacos' error renderings a route uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Config v1: `caused: <message>;`.
    V1,
    /// The `{code, message, data}` envelope.
    V2,
    /// Naming v1: the bare message as text.
    Text,
    /// Nacre's own API (`/nacre/v1/…`): `{"error": message}`.
    Nacre,
}

/// An HTTP failure, rendered in the style of the route that produced it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Nacos ErrorCode for v2/v3 bodies.
    pub code: u32,
    pub message: String,
    pub style: Style,
}

impl ApiError {
    pub fn new(style: Style, status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            style,
        }
    }

    pub fn missing(style: Style, name: &str) -> Self {
        Self::new(
            style,
            StatusCode::BAD_REQUEST,
            10000,
            format!(
                "Required request parameter '{name}' for method parameter type String is not present"
            ),
        )
    }

    pub fn invalid(style: Style, message: impl Into<String>) -> Self {
        Self::new(style, StatusCode::BAD_REQUEST, 20002, message)
    }

    /// A request body over the configured limit (`server.max-body`).
    pub fn too_large(style: Style) -> Self {
        Self::new(
            style,
            StatusCode::PAYLOAD_TOO_LARGE,
            20002,
            "request body too large",
        )
    }

    pub fn from_core(style: Style, e: CoreError) -> Self {
        match e {
            CoreError::Invalid { message, .. } => Self::invalid(style, message),
            CoreError::NamespaceNotFound(ns) => Self::new(
                style,
                StatusCode::BAD_REQUEST,
                22001,
                format!("namespaceId [ {ns} ] not exist"),
            ),
            CoreError::NotFound(m) => Self::new(style, StatusCode::NOT_FOUND, 20004, m),
            CoreError::Conflict(m) => Self::new(style, StatusCode::INTERNAL_SERVER_ERROR, 20005, m),
            CoreError::Unavailable(m) => {
                Self::new(style, StatusCode::SERVICE_UNAVAILABLE, 30000, m)
            }
        }
    }
}

/// The generic text Nacos puts in `message` for an ErrorCode.
fn code_text(code: u32) -> &'static str {
    match code {
        0 => "success",
        10000 => "parameter missing",
        10001 => "access denied",
        10002 => "data access error",
        20002 => "parameter validate error",
        20004 => "resource not found",
        20005 => "resource conflict",
        21000 => "service name error",
        21001 => "weight error",
        21002 => "instance metadata error",
        21003 => "instance not found",
        21004 => "instance error",
        21005 => "service metadata error",
        21006 => "selector error",
        21007 => "service already exist",
        21008 => "service not exist",
        21009 => "service delete failure",
        22000 => "illegal namespace",
        22001 => "namespace not exist",
        22002 => "namespace already exist",
        _ => "server error",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.style {
            Style::V1 => (
                self.status,
                [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
                format!("caused: {};", self.message),
            )
                .into_response(),
            Style::Text => {
                (self.status, [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], self.message).into_response()
            }
            Style::V2 => (
                self.status,
                axum::Json(json!({"code": self.code, "message": code_text(self.code), "data": self.message})),
            )
                .into_response(),
            Style::Nacre => (self.status, axum::Json(json!({"error": self.message}))).into_response(),
        }
    }
}

/// The `{code: 0, message: "success", data}` envelope of v2/v3 answers.
pub fn success(data: impl serde::Serialize) -> Response {
    axum::Json(json!({"code": 0, "message": "success", "data": data})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> (StatusCode, String) {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn v1_errors_are_caused_text() {
        let e = ApiError::from_core(
            Style::V1,
            CoreError::invalid("dataId", "invalid dataId : a/b"),
        );
        assert_eq!(
            body(e.into_response()).await,
            (
                StatusCode::BAD_REQUEST,
                "caused: invalid dataId : a/b;".into()
            )
        );
    }

    #[tokio::test]
    async fn v2_errors_are_the_result_envelope() {
        let e = ApiError::missing(Style::V2, "dataId");
        let (status, text) = body(e.into_response()).await;
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["code"], 10000);
        assert_eq!(json["message"], "parameter missing");
    }
}
