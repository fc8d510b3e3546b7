//! kubetrail's sources: turn files of audit and Falco JSON lines into batches of events, with
//! checkpoints (source positions) and dead letters, surviving rotation, truncation and restarts.
//!
//! - [`FileTailer`] follows paths and globs live (`serve`).
//! - [`read_files`] reads whole files once, plain or gzip (`import`, `detect`).
//! - [`Deduper`] drops events already seen by `event_id`.

mod config;
mod decode;
mod dedupe;
mod error;
mod fingerprint;
mod lines;
mod position;
mod read;
mod scan;
mod tail;

pub use config::{Config, FileGroup, StartAt};
pub use dedupe::Deduper;
pub use error::IngestError;
pub use position::{Batch, BatchStats, Checkpoint, FilePosition, SourcePosition};
pub use read::{ReadOptions, ReadSummary, read_files};
pub use tail::FileTailer;
