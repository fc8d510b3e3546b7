//! The `[wal]` table: how much the write-ahead log of pushed bodies may hold, and how long it
//! remembers what it accepted (the dedupe window).

use serde::Deserialize;

use crate::WalError;

/// Limits of the write-ahead log (`[wal]` in the TOML config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Bytes appended but not yet committed to the store; past this, appends are refused
    /// (the ingest routes answer 503 with `Retry-After`).
    #[serde(default = "default_max_pending_bytes")]
    pub max_pending_bytes: u64,
    /// A segment file is closed and a new one started past this size.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    /// Committed segments are kept (and their event keys deduplicate retries) for at least
    /// this long after their newest record...
    #[serde(default = "default_dedupe_window_secs")]
    pub dedupe_window_secs: u64,
    /// ...unless the committed segments kept for the window exceed this many bytes: the oldest
    /// go first, shortening the window.
    #[serde(default = "default_max_retained_bytes")]
    pub max_retained_bytes: u64,
}

pub const DEFAULT_MAX_PENDING_BYTES: u64 = 256 * 1024 * 1024;
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
pub const DEFAULT_DEDUPE_WINDOW_SECS: u64 = 3600;
pub const DEFAULT_MAX_RETAINED_BYTES: u64 = 1024 * 1024 * 1024;
/// The smallest segment size accepted (tests use small segments to see them roll over).
pub const MIN_SEGMENT_BYTES: u64 = 4096;

fn default_max_pending_bytes() -> u64 {
    DEFAULT_MAX_PENDING_BYTES
}
fn default_segment_bytes() -> u64 {
    DEFAULT_SEGMENT_BYTES
}
fn default_dedupe_window_secs() -> u64 {
    DEFAULT_DEDUPE_WINDOW_SECS
}
fn default_max_retained_bytes() -> u64 {
    DEFAULT_MAX_RETAINED_BYTES
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            dedupe_window_secs: DEFAULT_DEDUPE_WINDOW_SECS,
            max_retained_bytes: DEFAULT_MAX_RETAINED_BYTES,
        }
    }
}

impl Config {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), WalError> {
        let invalid = |reason: String| Err(WalError::InvalidConfig { reason });
        if self.segment_bytes < MIN_SEGMENT_BYTES {
            return invalid(format!(
                "wal.segment_bytes must be at least {MIN_SEGMENT_BYTES}"
            ));
        }
        if self.max_pending_bytes == 0 {
            return invalid("wal.max_pending_bytes must be positive".to_owned());
        }
        Ok(())
    }
}
