//! kubetrail's sources: turn files of audit and Falco JSON lines into batches of events, with
//! checkpoints (source positions) and dead letters, surviving rotation, truncation and restarts.
//!
//! - [`Source`] is the closed set of sources the pipeline runs: [`FileTailer`] follows paths
//!   and globs live; [`PushSource`] passes on bodies pushed through the ingest API, decoded
//!   by [`PushSender`].
//! - [`read_files`] reads whole files once, plain or gzip (`import`, `detect`).
//! - [`Deduper`] drops events already seen by `event_id`.
//!
//! Every batch says where it came from ([`Origin`]): file positions to commit with it, or a
//! pushed request waiting for its durable answer.

mod config;
mod decode;
mod dedupe;
mod error;
mod fingerprint;
mod lines;
mod position;
mod push;
mod read;
mod scan;
mod source;
mod tail;

pub use config::{Config, FileGroup, StartAt};
pub use dedupe::Deduper;
pub use error::IngestError;
pub use position::{
    Batch, BatchStats, Checkpoint, FilePosition, Origin, PushReceipt, SourcePosition,
};
pub use push::{PushFrom, PushSender, PushSource, Pushed, push_channel};
pub use read::{ReadOptions, ReadSummary, read_files};
pub use source::Source;
pub use tail::FileTailer;
