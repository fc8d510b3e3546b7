//! kubetrail's sources: turn files of audit and Falco JSON lines into batches of events, with
//! checkpoints (source positions) and dead letters, surviving rotation, truncation and restarts.
//!
//! - [`Source`] is the closed set of sources the pipeline runs: [`FileTailer`] follows paths
//!   and globs live; [`PushSource`] reads the bodies pushed through the ingest API back from
//!   the write-ahead log ([`PushLog`]) that [`PushSender`] appends them to; [`KafkaSource`]
//!   reads a Kafka consumer group's topics.
//! - [`read_files`] reads whole files once, plain or gzip (`import`, `detect`).
//! - [`Deduper`] drops events already seen by `event_id`.
//!
//! Every batch says where it came from ([`Origin`]): file positions, the write-ahead log's
//! position or Kafka offsets, to commit with it.

mod config;
mod decode;
mod dedupe;
mod error;
mod fingerprint;
mod kafka;
mod lines;
mod position;
mod push;
mod read;
mod scan;
mod source;
mod tail;

pub use self::kafka::{KafkaMetricsHandle, KafkaSource, PartitionMetrics};
pub use config::{Config, FileGroup, KafkaFormat, KafkaSourceConfig, KafkaTopic, StartAt};
pub use dedupe::Deduper;
pub use error::IngestError;
pub use position::{
    Batch, BatchStats, Checkpoint, FilePosition, KafkaPosition, KafkaReceipt, Origin, Receipt,
    SourcePosition, WAL_POSITION_KEY, WalPosition, WalReceipt,
};
pub use push::{PushFrom, PushLog, PushSender, PushSource, Pushed, WAL_DIR};
pub use read::{ReadOptions, ReadSummary, read_files};
pub use source::Source;
pub use tail::FileTailer;
pub use wal::{Config as WalConfig, WalError, WalMetrics};
