//! kubetrail's write-ahead log of pushed request bodies (the audit webhook, Falco over HTTP).
//!
//! A request is answered once its body is appended and fsynced here, not after the store
//! commit; the pipeline reads the log like a file, and the offset it reached travels in the
//! store commit. The log knows records, not events: the caller gives each record the keys of
//! its events, and the log drops keys it already holds (a retried batch), over every retained
//! segment, whose keys are rebuilt at open. So deduplication survives restarts for as long as
//! segments are kept (`dedupe_window_secs`, `max_retained_bytes`).
//!
//! - [`Wal`]: open (recover), [`Wal::append`] with group commit, [`Wal::reader`].
//! - [`Reader`]: records in order from a position, up to the durable end.
//! - [`Committer`]: the store committed up to an offset; older segments may go.
//! - On disk (`record.rs`): segment files named by their first offset, frames with length
//!   and CRC; a torn tail is cut off at open, never misread. Bodies are stored as zstd frames
//!   ([`Record::seal`], on the caller's thread), so an fsync writes a fraction of the bytes.

mod config;
mod error;
mod log;
mod reader;
mod record;
#[cfg(test)]
mod tests;

pub use config::{
    Config, DEFAULT_DEDUPE_WINDOW_SECS, DEFAULT_MAX_PENDING_BYTES, DEFAULT_MAX_RETAINED_BYTES,
    DEFAULT_SEGMENT_BYTES, MIN_SEGMENT_BYTES,
};
pub use error::WalError;
pub use log::{Appended, Committer, Wal, WalMetrics};
pub use reader::{ReadRecord, Reader};
pub use record::{Record, Sealed};
