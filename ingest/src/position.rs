//! Source positions, checkpoints and the batches that carry them.
//!
//! A position says where a source stands; a checkpoint is the snapshot of every position. The
//! consumer stores a batch's checkpoint together with its data, so a restart resumes exactly
//! after the last durable batch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where one source stands: a file's offset, how far the write-ahead log of pushed bodies
/// was read, or a Kafka partition's next offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourcePosition {
    File(FilePosition),
    Wal(WalPosition),
    Kafka(KafkaPosition),
}

/// How far one Kafka partition has been read by a consumer group: every message before
/// `offset` is in the commit that holds this position. Keyed `kafka:<group>:<topic>:<partition>`
/// in a [`Checkpoint`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KafkaPosition {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    /// The next offset to read (Kafka's meaning of a committed offset).
    pub offset: i64,
}

impl KafkaPosition {
    /// The position's key in a checkpoint.
    pub fn key(&self) -> String {
        format!("kafka:{}:{}:{}", self.group, self.topic, self.partition)
    }
}

/// The key of the write-ahead log's position in a [`Checkpoint`].
pub const WAL_POSITION_KEY: &str = "wal";

/// How far the write-ahead log of pushed bodies has been read: every record before `offset`
/// is in the commit that holds this position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalPosition {
    /// Which log (a log that replaced it is read from its start).
    pub log: u64,
    /// Offset of the next record to read.
    pub offset: u64,
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
        self.positions
            .values()
            .filter_map(|position| match position {
                SourcePosition::File(file_position) => Some(file_position),
                SourcePosition::Wal(_) | SourcePosition::Kafka(_) => None,
            })
    }

    /// The Kafka positions of consumer group `group`.
    pub fn kafka_positions<'a>(
        &'a self,
        group: &'a str,
    ) -> impl Iterator<Item = &'a KafkaPosition> {
        self.positions
            .values()
            .filter_map(move |position| match position {
                SourcePosition::Kafka(kafka) if kafka.group == group => Some(kafka),
                _ => None,
            })
    }

    /// Takes `position` as its partition's.
    pub fn set_kafka_position(&mut self, position: &KafkaPosition) {
        self.positions
            .insert(position.key(), SourcePosition::Kafka(position.clone()));
    }

    /// How far the write-ahead log was read, if it ever was.
    pub fn wal_position(&self) -> Option<WalPosition> {
        match self.positions.get(WAL_POSITION_KEY) {
            Some(SourcePosition::Wal(position)) => Some(*position),
            _ => None,
        }
    }

    /// Takes `position` as the write-ahead log's.
    pub fn set_wal_position(&mut self, position: WalPosition) {
        self.positions
            .insert(WAL_POSITION_KEY.to_owned(), SourcePosition::Wal(position));
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
    /// Read from the write-ahead log of pushed bodies: the log position after this batch,
    /// committed like a file position; once committed, the log may delete what it covers.
    Wal(WalReceipt),
    /// Read from Kafka: the next offset of each partition the batch holds messages of,
    /// committed like file positions; once committed, they are committed to the consumer
    /// group too (a mirror for lag tooling).
    Kafka(KafkaReceipt),
}

impl Origin {
    /// The file checkpoint carried by a batch read from files.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        match self {
            Origin::Files(checkpoint) => Some(checkpoint),
            Origin::Wal(_) | Origin::Kafka(_) => None,
        }
    }
}

impl Default for Origin {
    fn default() -> Self {
        Origin::Files(Checkpoint::default())
    }
}

/// The write-ahead log position a batch reaches, and the way to tell the log once it is
/// committed.
#[derive(Debug, Clone)]
pub struct WalReceipt {
    pub position: WalPosition,
    pub(crate) committer: wal::Committer,
}

impl WalReceipt {
    /// The batch (and every earlier one) is committed to the store.
    pub fn committed(&self) {
        self.committer.committed(self.position.offset);
    }
}

/// The Kafka positions a batch reaches, and the way to tell the source once they are
/// committed.
#[derive(Debug, Clone)]
pub struct KafkaReceipt {
    pub positions: Vec<KafkaPosition>,
    pub(crate) committer: crate::kafka::Committer,
}

impl KafkaReceipt {
    /// The batch (and every earlier one) is committed to the store.
    pub fn committed(&self) {
        self.committer.committed(&self.positions);
    }
}

/// What a source is told once a commit holding its batches is durable.
#[derive(Debug, Clone)]
pub enum Receipt {
    Wal(WalReceipt),
    Kafka(KafkaReceipt),
}

impl Receipt {
    /// The batch (and every earlier one of its source) is committed to the store.
    pub fn committed(&self) {
        match self {
            Receipt::Wal(receipt) => receipt.committed(),
            Receipt::Kafka(receipt) => receipt.committed(),
        }
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
    /// The file checkpoint of a batch read from files (`None` for the write-ahead log).
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        self.origin.checkpoint()
    }
}
