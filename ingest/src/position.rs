//! Source positions, checkpoints and the batches that carry them.
//!
//! A position says where a source stands; a checkpoint is the snapshot of every position. The
//! consumer stores a batch's checkpoint together with its data, so a restart resumes exactly
//! after the last durable batch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where one source stands. File offsets now; Kafka offsets next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourcePosition {
    File(FilePosition),
}

/// How far one file has been read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    /// Where the file was last seen (it may have been renamed or compressed since).
    pub path: String,
    pub dev: u64,
    pub inode: u64,
    /// xxh3-64 (hex) of the first line, or of the first 4 KiB when the first line is longer.
    /// Names the file's content across renames, copies and compression.
    pub fingerprint: String,
    /// Byte offset in the decompressed stream, always at a line boundary.
    pub offset: u64,
    /// Whether `path` is gzip-compressed.
    pub compressed: bool,
}

/// A complete snapshot of source positions, keyed by source identity (the fingerprint for
/// files). All positions are valid once the batch carrying it and every earlier batch are
/// durable.
///
/// Serialised as the map itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checkpoint {
    pub positions: BTreeMap<String, SourcePosition>,
}

impl Checkpoint {
    /// Takes the file positions of `files` (a complete file checkpoint, as the file sources
    /// send it) in place of the ones held, keeping positions of other kinds.
    pub fn replace_files(&mut self, files: &Checkpoint) {
        self.positions
            .retain(|_, position| !matches!(position, SourcePosition::File(_)));
        self.positions.extend(
            files
                .positions
                .iter()
                .map(|(key, position)| (key.clone(), position.clone())),
        );
    }

    /// The file positions, skipping positions of other source kinds.
    pub fn file_positions(&self) -> impl Iterator<Item = &FilePosition> {
        self.positions.values().map(|position| match position {
            SourcePosition::File(file_position) => file_position,
        })
    }
}

/// Counters of one batch (or of a whole read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchStats {
    /// Non-empty lines seen, including dead letters.
    pub lines: u64,
    /// Bytes consumed, newlines and empty lines included (decompressed for `.gz`).
    pub bytes: u64,
    /// Events in the batch.
    pub events: u64,
    /// Events dropped by policy (`RequestReceived`).
    pub filtered: u64,
    /// Lines rejected (malformed or too long).
    pub dead_letters: u64,
}

impl BatchStats {
    pub fn add(&mut self, other: &BatchStats) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.events += other.events;
        self.filtered += other.filtered;
        self.dead_letters += other.dead_letters;
    }
}

/// Where a batch came from, and what its being durable means to the source.
#[derive(Debug)]
pub enum Origin {
    /// Read from files: the checkpoint of every file position, valid once this batch and
    /// every earlier one are durable.
    Files(Checkpoint),
    /// Pushed through the ingest API: moves no position; the receipt is answered once the
    /// batch is durable (the HTTP caller waits for it).
    Pushed(PushReceipt),
}

impl Origin {
    /// The file checkpoint carried by a batch read from files.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        match self {
            Origin::Files(checkpoint) => Some(checkpoint),
            Origin::Pushed(_) => None,
        }
    }
}

impl Default for Origin {
    fn default() -> Self {
        Origin::Files(Checkpoint::default())
    }
}

/// Answers the sender of a pushed batch once the batch is durable. Dropped unanswered (the
/// pipeline stopped first), it tells the sender to retry.
#[derive(Debug)]
pub struct PushReceipt(pub(crate) tokio::sync::oneshot::Sender<()>);

impl PushReceipt {
    /// The batch is durable.
    pub fn durable(self) {
        let _ = self.0.send(());
    }
}

/// Events and rejects read together, with where they came from.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<event::Event>,
    pub dead_letters: Vec<event::DeadLetter>,
    pub origin: Origin,
    pub stats: BatchStats,
}

impl Batch {
    /// The file checkpoint of a batch read from files (`None` for pushed batches).
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        self.origin.checkpoint()
    }
}
