//! Errors of the HTTP API: `{"error": "..."}` with 4xx for the caller's mistakes and 5xx only
//! for ours; and what can go wrong setting the API up.

use std::path::PathBuf;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use query::QueryError;

/// Why a request (or the API's start) failed. Each variant answers one status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The caller's request is malformed or asks for something invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// No usable token (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The token's role does not allow this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such route, event or alert (404).
    #[error("{0}")]
    NotFound(String),
    /// The query ran out of time, or too many were running (408).
    #[error("{0}")]
    Timeout(String),
    /// The body is larger than `api.max_body_bytes` (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The caller's token is over its rate (429).
    #[error("rate limit exceeded; slow down")]
    TooManyRequests { retry_after_secs: u64 },
    /// Not ready, or shutting down: retry later (503).
    #[error("{0}")]
    Unavailable(String),
    /// Our fault (500).
    #[error("{0}")]
    Internal(String),
    /// The `[api]` table is invalid (at start-up).
    #[error("invalid api config: {0}")]
    InvalidConfig(String),
    /// A file of the API (query log, acknowledgements) cannot be opened or written.
    #[error("failed to {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The listening address cannot be bound (at start-up).
    #[error("failed to listen on {address} (api.listen)")]
    Listen {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable (at start-up).
    #[error("TLS: {0}")]
    Tls(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(message.into())
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::Unauthorized(message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::Forbidden(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::NotFound(message.into())
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::Unavailable(message.into())
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::Internal(message.into())
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_)
            | ApiError::InvalidConfig(_)
            | ApiError::Io { .. }
            | ApiError::Listen { .. }
            | ApiError::Tls(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds the caller should wait before retrying (429 and 503).
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            ApiError::Unavailable(_) => Some(5),
            _ => None,
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> ApiError {
        match error {
            QueryError::Timeout { .. } => ApiError::Timeout(error.to_string()),
            error if error.is_caller_error() => ApiError::BadRequest(error.to_string()),
            error => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<search::SearchError> for ApiError {
    fn from(error: search::SearchError) -> ApiError {
        match error {
            search::SearchError::Query { .. } => ApiError::BadRequest(error.to_string()),
            error => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<datafusion::error::DataFusionError> for ApiError {
    fn from(error: datafusion::error::DataFusionError) -> ApiError {
        ApiError::Internal(query::one_line(&error.to_string()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self, "request failed");
        }
        let mut response =
            (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kubetrail\""),
            );
        }
        response
    }
}
