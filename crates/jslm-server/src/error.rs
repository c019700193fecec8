//! The server's two error types: [`ServerError`] stops it from starting (a typed error with a
//! stable code, like every error of the project), [`ApiError`] answers one request in OpenAI's
//! error shape: `{"error": {"message", "type", "param", "code"}}` with the HTTP status.
//!
//! `code` is the project's stable [`ErrorCode`] string, except where OpenAI's clients look
//! for OpenAI's own (`context_length_exceeded`, `invalid_api_key`, `model_not_found`,
//! `rate_limit_exceeded`). Messages never carry file paths or secrets: engine errors other
//! than bad input are answered with their code only and logged on the server.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jslm_core::ErrorCode;
use jslm_engine::EngineError;
use std::net::SocketAddr;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A non-loopback address without an API key would open the model to the network.
    #[error(
        "listening on {host} (not a loopback address) needs an API key: pass --api-key KEY, \
         or bind 127.0.0.1"
    )]
    ApiKeyRequired { host: std::net::IpAddr },

    /// An API key that is empty or cannot be sent in an HTTP header.
    #[error("the API key {reason}")]
    InvalidApiKey { reason: &'static str },

    /// A CORS origin that is not `scheme://host[:port]`.
    #[error("the CORS origin {origin:?} is not an origin like http://localhost:3000")]
    InvalidOrigin { origin: String },

    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// Serving stopped with an I/O error.
    #[error("the server stopped: {0}")]
    Serve(#[source] std::io::Error),
}

impl ServerError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::ApiKeyRequired { .. } => ErrorCode::ApiKeyRequired,
            Self::InvalidApiKey { .. } | Self::InvalidOrigin { .. } => ErrorCode::InvalidRequest,
            Self::Bind { .. } => ErrorCode::BindFailed,
            Self::Serve(_) => ErrorCode::Io,
        }
    }
}

/// The routes, as the 404 and 405 answers list them.
const ROUTES: &str = "GET /v1/models, GET /v1/models/{model}, POST /v1/completions and \
                      POST /v1/chat/completions";

/// One request's error, answered as OpenAI answers errors.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// OpenAI's `type`: `invalid_request_error`, `authentication_error`, ...
    pub kind: &'static str,
    pub message: String,
    /// The request field at fault (`temperature`, `messages[1].role`), when there is one.
    pub param: Option<String>,
    pub code: &'static str,
    /// Seconds, for 429 answers.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: String) -> Self {
        Self {
            status,
            kind,
            message,
            param: None,
            code,
            retry_after: None,
        }
    }

    /// A bad request field: 400 naming it.
    pub fn invalid(param: impl Into<String>, message: impl std::fmt::Display) -> Self {
        let param = param.into();
        Self {
            param: Some(param.clone()),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                ErrorCode::InvalidSetting.as_str(),
                format!("`{param}` {message}"),
            )
        }
    }

    /// A body that is not JSON, or not an object.
    pub fn malformed(message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            ErrorCode::InvalidRequest.as_str(),
            format!("the body is not a valid request: {message}"),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_api_key",
            "missing or wrong API key: send `Authorization: Bearer KEY`".into(),
        )
    }

    pub fn model_not_served(asked: &str, served: &str) -> Self {
        Self {
            param: Some("model".into()),
            ..Self::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
                format!("the model {asked:?} is not served here; this server serves {served:?}"),
            )
        }
    }

    pub fn queue_full(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                format!(
                    "every place in the generation queue is taken; retry in about {retry_after} s"
                ),
            )
        }
    }

    pub fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            ErrorCode::InvalidRequest.as_str(),
            format!("no route {path}: this server has {ROUTES}"),
        )
    }

    pub fn method_not_allowed(method: &axum::http::Method, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            ErrorCode::InvalidRequest.as_str(),
            format!("{path} does not take {method}: this server has {ROUTES}"),
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            ErrorCode::InvalidRequest.as_str(),
            format!("the body is larger than {limit} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            ErrorCode::InvalidRequest.as_str(),
            "send the body as JSON with `Content-Type: application/json`".into(),
        )
    }

    pub fn forbidden_host() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            ErrorCode::Forbidden.as_str(),
            "this server listens on a loopback address and answers only requests addressed \
             to localhost, *.localhost, 127.0.0.1, [::1] or host.docker.internal (the Host \
             header), so that no web page can reach it under a name of its own. To reach it \
             under another name, start it on a non-loopback address with an API key \
             (`jslm serve --host 0.0.0.0 --api-key KEY`), or have the proxy in front of it \
             send `Host: localhost`"
                .into(),
        )
    }

    /// The model stopped being served (the app that shares it unloaded or replaced it).
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            ErrorCode::NoModel.as_str(),
            "the model is no longer served (it was unloaded or replaced); retry once it is served again".into(),
        )
    }

    pub fn internal(code: ErrorCode) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            code.as_str(),
            format!("the model failed ({code}); the server's log has the details"),
        )
    }

    /// An engine error. `rename` maps the engine's setting names to the request's (the
    /// engine's `max_new_tokens` is the request's `max_tokens`).
    pub fn from_engine(err: &EngineError, rename: impl Fn(&str) -> String) -> Self {
        match err {
            EngineError::InvalidSetting { field, message } => Self::invalid(rename(field), message),
            EngineError::ContextOverflow { .. } => Self {
                param: Some(rename("max_new_tokens")),
                ..Self::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "context_length_exceeded",
                    err.to_string()
                        .replace("max_new_tokens", &rename("max_new_tokens")),
                )
            },
            other => {
                tracing::error!(code = %other.code(), "generation failed: {other}");
                Self::internal(other.code())
            }
        }
    }

    /// The JSON body: `{"error": {...}}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_name_the_request_field_and_hide_paths() {
        let rename = |f: &str| match f {
            "max_new_tokens" => "max_tokens".to_string(),
            other => other.to_string(),
        };
        let bad = EngineError::InvalidSetting {
            field: "top_p",
            message: "must be > 0 and <= 1. Given: 1.5".into(),
        };
        let e = ApiError::from_engine(&bad, rename);
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.param.as_deref(), Some("top_p"));
        assert_eq!(
            e.body()["error"]["message"],
            "`top_p` must be > 0 and <= 1. Given: 1.5"
        );
        let overflow = EngineError::ContextOverflow {
            prompt_tokens: 10,
            max_new_tokens: 5000,
            total: 5010,
            context: 4096,
        };
        let e = ApiError::from_engine(&overflow, rename);
        assert_eq!(e.code, "context_length_exceeded");
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
        assert!(e.message.contains("max_tokens is 5000"), "{}", e.message);
        let io = EngineError::Io {
            path: "/home/someone/secret/model.gguf".into(),
            source: std::io::Error::other("gone"),
        };
        let e = ApiError::from_engine(&io, rename);
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.body().to_string().contains("/home"), "{}", e.body());
        assert_eq!(e.code, "io");
    }

    #[test]
    fn server_errors_have_codes() {
        let e = ServerError::ApiKeyRequired {
            host: "0.0.0.0".parse().unwrap(),
        };
        assert_eq!(e.code(), ErrorCode::ApiKeyRequired);
        assert!(e.to_string().contains("--api-key"));
    }
}
