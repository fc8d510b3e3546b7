//! Errors of the columnar store: each variant names what failed and where.

use std::path::PathBuf;

/// What went wrong while writing, recovering or opening the columnar store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store config: {reason}")]
    InvalidConfig { reason: String },
    #[error("failed to create directory {path}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to read directory {path}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to lock data directory {path}: is another kubetrail writing to it?")]
    Locked {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to build the arrow batch for table {table}")]
    BuildBatch {
        table: &'static str,
        source: datafusion::arrow::error::ArrowError,
    },
    #[error("failed to write parquet file {path}")]
    WriteParquet {
        path: PathBuf,
        source: datafusion::parquet::errors::ParquetError,
    },
    #[error("failed to write file {path}")]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to sync {path}")]
    Sync {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to read parquet file {path}")]
    ReadParquet {
        path: PathBuf,
        source: datafusion::parquet::errors::ParquetError,
    },
    #[error("failed to rename {from} to {to}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to remove {path}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("object store: {operation}")]
    Remote {
        operation: String,
        source: object_store::Error,
    },
    #[error("could not start the store's async runtime: {reason}")]
    Runtime { reason: String },
    #[error("compacting into {path}: {reason}")]
    Compact { path: PathBuf, reason: String },
    #[error(
        "refusing to overwrite existing data file {path}: was the commit log (_commits) deleted?"
    )]
    FileExists { path: PathBuf },
    #[error("failed to read commit record {path}")]
    ReadCommit {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to read {path}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to read ledger segment {path}")]
    ReadLedger {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt ledger segment {path}: {reason}")]
    CorruptLedger { path: PathBuf, reason: String },
    #[error("corrupt holds file {path}: {reason}")]
    CorruptHolds { path: PathBuf, reason: String },
    #[error("{reason}")]
    InvalidHold { reason: String },
    #[error("no hold {id}")]
    UnknownHold { id: String },
    #[error("corrupt commit record {path}: {reason}")]
    CorruptCommit { path: PathBuf, reason: String },
    #[error("commit {seq} does not follow the last commit {last}")]
    OutOfOrderCommit { seq: u64, last: u64 },
    #[error("data directory {path} does not exist")]
    DataDirMissing { path: PathBuf },
    #[error("failed to register table {table}")]
    RegisterTable {
        table: &'static str,
        source: datafusion::error::DataFusionError,
    },
}
