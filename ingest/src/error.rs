//! Everything that can stop a source: IO on files, watcher setup, bad configuration, the
//! write-ahead log of pushed bodies, the Kafka client.
//!
//! Bad input lines are not errors: they become `event::DeadLetter`s in the batch.

use std::path::PathBuf;

/// Why a source failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid ingest config: {reason}")]
    InvalidConfig { reason: String },
    #[error("invalid glob {pattern:?}: {source}")]
    InvalidGlob {
        pattern: String,
        source: globset::Error,
    },
    #[error("failed to open {path}: {source}")]
    OpenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to inspect {path}: {source}")]
    StatFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to start the file watcher: {source}")]
    StartWatcher { source: notify::Error },
    #[error("the file tailer thread failed: {reason}")]
    TailerThread { reason: String },
    /// The write-ahead log of pushed bodies refused an append (full log or disk: retry) or
    /// failed.
    #[error(transparent)]
    Wal(#[from] wal::WalError),
    #[error("a task of the push source failed: {reason}")]
    PushTask { reason: String },
    #[error("kafka: failed to {action}: {source}")]
    Kafka {
        action: &'static str,
        source: rdkafka::error::KafkaError,
    },
    #[error("kafka consumer group {group}: fatal error: {reason}")]
    KafkaFatal { group: String, reason: String },
    #[error("the kafka consumer thread failed: {reason}")]
    KafkaThread { reason: String },
    #[error("the batch consumer failed: {source}")]
    Consumer {
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
