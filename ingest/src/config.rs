//! The `[ingest]` table of the config file: parsed once with serde, then validated.

use serde::{Deserialize, Serialize};

use crate::IngestError;

/// Settings of the file sources (`[ingest]` in the TOML config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Groups of files to follow (`[[ingest.files]]`).
    #[serde(default)]
    pub files: Vec<FileGroup>,
    /// Keep `RequestReceived` stage events (dropped by default).
    #[serde(default)]
    pub keep_request_received: bool,
    /// Longest accepted line; longer lines become dead letters without being buffered.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Where to start in files that no checkpoint knows, found when the tailer starts.
    #[serde(default)]
    pub start_at: StartAt,
    /// How often globs are rescanned and sizes checked, as a backup for filesystem events.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// A batch is sent once it holds this many events.
    #[serde(default = "default_batch_max_events")]
    pub batch_max_events: usize,
    /// A partial batch is sent after waiting this long.
    #[serde(default = "default_batch_max_wait_ms")]
    pub batch_max_wait_ms: u64,
    /// How many event ids the deduper remembers.
    #[serde(default = "default_dedupe_capacity")]
    pub dedupe_capacity: usize,
}

/// Files sharing a cluster name (`[[ingest.files]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGroup {
    /// File paths or globs (`*`, `?`, `[..]`, `{a,b}`, `**`), absolute or relative to the
    /// working directory.
    pub paths: Vec<String>,
    /// Cluster name given to the events of these files.
    #[serde(default = "default_cluster")]
    pub cluster: String,
}

/// Where to start reading a file that no checkpoint knows, when the tailer starts.
/// Files that appear later (for example after a rotation) are always read from the beginning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    #[default]
    Beginning,
    End,
}

pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 250;
pub const DEFAULT_BATCH_MAX_EVENTS: usize = 4096;
pub const DEFAULT_BATCH_MAX_WAIT_MS: u64 = 200;
pub const DEFAULT_DEDUPE_CAPACITY: usize = 1_000_000;
pub const DEFAULT_CLUSTER: &str = "default";

fn default_max_line_bytes() -> usize {
    DEFAULT_MAX_LINE_BYTES
}
fn default_poll_interval_ms() -> u64 {
    DEFAULT_POLL_INTERVAL_MS
}
fn default_batch_max_events() -> usize {
    DEFAULT_BATCH_MAX_EVENTS
}
fn default_batch_max_wait_ms() -> u64 {
    DEFAULT_BATCH_MAX_WAIT_MS
}
fn default_dedupe_capacity() -> usize {
    DEFAULT_DEDUPE_CAPACITY
}
fn default_cluster() -> String {
    DEFAULT_CLUSTER.to_owned()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            files: Vec::new(),
            keep_request_received: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            start_at: StartAt::default(),
            poll_interval_ms: DEFAULT_POLL_INTERVAL_MS,
            batch_max_events: DEFAULT_BATCH_MAX_EVENTS,
            batch_max_wait_ms: DEFAULT_BATCH_MAX_WAIT_MS,
            dedupe_capacity: DEFAULT_DEDUPE_CAPACITY,
        }
    }
}

impl Config {
    /// Checks what serde cannot: non-empty groups, valid globs, non-zero sizes.
    pub fn validate(&self) -> Result<(), IngestError> {
        let invalid = |reason: String| Err(IngestError::InvalidConfig { reason });
        for (index, group) in self.files.iter().enumerate() {
            if group.paths.is_empty() {
                return invalid(format!("ingest.files[{index}].paths is empty"));
            }
            if group.cluster.trim().is_empty() {
                return invalid(format!("ingest.files[{index}].cluster is empty"));
            }
            for pattern in &group.paths {
                if pattern.trim().is_empty() {
                    return invalid(format!("ingest.files[{index}].paths holds an empty path"));
                }
                crate::scan::compile_pattern(pattern)?;
            }
        }
        if self.max_line_bytes == 0 {
            return invalid("max_line_bytes must be greater than 0".to_owned());
        }
        if self.poll_interval_ms == 0 {
            return invalid("poll_interval_ms must be greater than 0".to_owned());
        }
        if self.batch_max_events == 0 {
            return invalid("batch_max_events must be greater than 0".to_owned());
        }
        if self.batch_max_wait_ms == 0 {
            return invalid("batch_max_wait_ms must be greater than 0".to_owned());
        }
        if self.dedupe_capacity == 0 {
            return invalid("dedupe_capacity must be greater than 0".to_owned());
        }
        Ok(())
    }
}
