//! Why a line could not be decoded.

/// A line that is not an audit event, an event list or a Falco alert.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 { offset: usize },
    #[error("not an audit event or Falco alert: {0}")]
    Unrecognised(&'static str),
    #[error("invalid timestamp {value:?}")]
    Timestamp { value: String },
    /// A manifest that is no Kubernetes object (`manifest_audit_event`).
    #[error("{0}")]
    Manifest(String),
}
