//! The crate's one error type.
//!
//! No variant carries a secret: URLs appear only in their redacted form (scheme and host),
//! header values never, and text received from a destination is passed through
//! `config::Redactor` before it is kept.

use std::path::PathBuf;

/// Everything that can fail in configuring, queueing or delivering alerts.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A sink's configuration is invalid; `reason` says which key and why.
    #[error("invalid configuration of alert sink `{sink}`: {reason}")]
    InvalidConfig { sink: String, reason: String },

    /// Two sinks have the same name.
    #[error("alert sink name `{name}` is used more than once; sink names must be unique")]
    DuplicateSinkName { name: String },

    /// Two file sinks write to the same path.
    #[error("alert sinks `{first}` and `{second}` both write to {}", path.display())]
    DuplicateFilePath {
        first: String,
        second: String,
        path: PathBuf,
    },

    /// A filesystem operation on the outbox or a file sink failed.
    #[error("failed to {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Another outbox (in this or another process) has the directory open.
    #[error("outbox directory {} is in use by another process", path.display())]
    Locked { path: PathBuf },

    /// The outbox directory holds files this crate did not write or cannot make sense of.
    #[error("outbox {} is corrupt: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },

    /// An alert could not be serialised.
    #[error("failed to serialise alert: {0}")]
    Serialize(#[from] serde_json::Error),

    /// Writing alerts to standard output failed.
    #[error("failed to write alerts to standard output: {0}")]
    Stdout(#[source] std::io::Error),

    /// The HTTP request did not complete: connection refused, TLS failure, reset.
    #[error("request to {endpoint} failed: {detail}")]
    Transport { endpoint: String, detail: String },

    /// The destination did not answer within the sink's timeout.
    #[error("request to {endpoint} timed out after {timeout_ms} ms")]
    Timeout { endpoint: String, timeout_ms: u64 },

    /// The destination answered with a status other than 2xx.
    #[error("{endpoint} answered HTTP {status}{}", detail_suffix(detail))]
    HttpStatus {
        endpoint: String,
        status: u16,
        /// The start of the response body, with secrets removed.
        detail: String,
    },

    /// A Kafka producer could not be built, or the brokers did not acknowledge a batch.
    #[error("kafka topic {topic}: {detail}")]
    Kafka { topic: String, detail: String },

    /// `Outbox::drain` gave up before these sinks had delivered everything.
    #[error("alert sinks did not deliver every queued alert in time: {}", sinks.join(", "))]
    DrainTimeout { sinks: Vec<String> },

    /// `Outbox::shutdown` had to abort these sinks' delivery tasks.
    #[error("alert sinks did not stop in time and were aborted: {}", sinks.join(", "))]
    ShutdownTimeout { sinks: Vec<String> },

    /// A delivery task ended unexpectedly (it panicked).
    #[error("delivery task of alert sink `{sink}` failed: {detail}")]
    TaskFailed { sink: String, detail: String },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl SinkError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        SinkError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(sink: &str, reason: impl Into<String>) -> Self {
        SinkError::InvalidConfig {
            sink: sink.to_owned(),
            reason: reason.into(),
        }
    }
}
