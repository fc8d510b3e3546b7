//! What can go wrong with the write-ahead log. A full log or a full disk are answers the
//! caller passes on (retry later), not failures of the process.

use std::path::PathBuf;

/// Why an append, a read or the opening of the log failed.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("invalid wal config: {reason}")]
    InvalidConfig { reason: String },
    /// More than `wal.max_pending_bytes` are appended but not yet committed to the store.
    #[error("the write-ahead log is full ({pending_bytes} bytes not yet committed); retry")]
    Full { pending_bytes: u64 },
    /// The disk holding the log has no space left.
    #[error("no space left on the disk of the write-ahead log; retry")]
    DiskFull,
    /// An fsync failed: the append was not made durable and is taken back; retry.
    #[error("the write-ahead log could not make this append durable (an fsync failed); retry")]
    NotDurable,
    /// An fsync failed earlier and what it left undecided is not yet taken back; retry.
    #[error("the write-ahead log cannot write until it recovers from a failed fsync; retry")]
    Failed,
    /// The writer thread is gone (the process is stopping).
    #[error("the write-ahead log is closed")]
    Closed,
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A record that was durable does not read back (damaged disk, or a file edited by hand).
    #[error("{} is damaged at byte {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
}

impl WalError {
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        WalError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
