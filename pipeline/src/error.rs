//! Everything that stops the pipeline. Bad input is not here: malformed records are dead
//! letters, and a rule set that fails to compile on reload is logged and kept out.

/// Why the pipeline (or one of its stages) failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("invalid pipeline config: {reason}")]
    InvalidConfig { reason: String },
    #[error("failed to load the rules")]
    Rules(#[source] detect::DetectError),
    #[error("the columnar store failed")]
    Store(#[from] store::StoreError),
    #[error("the search index failed")]
    Search(#[from] search::SearchError),
    #[error("the resume state in the data directory is unreadable")]
    ResumeState(#[source] serde_json::Error),
    #[error("the {source_name} source failed")]
    Source {
        source_name: &'static str,
        #[source]
        source: ingest::IngestError,
    },
    #[error("failed to read the input files")]
    Read(#[source] ingest::IngestError),
    #[error("failed to deliver alerts")]
    Deliver(#[from] sinks::SinkError),
    #[error("a callback failed: {message}")]
    Callback { message: String },
    #[error("the {stage} stage stopped unexpectedly: {reason}")]
    Stage { stage: &'static str, reason: String },
}
