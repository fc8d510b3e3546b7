//! kubetrail's columnar store: normalised events, alerts and dead letters as hive-partitioned
//! Parquet (and JSON lines) under the data directory, committed atomically with the caller's
//! resume state (opaque to the store), and read back through DataFusion tables.
//!
//! Layout of the data directory (design.md §4, a contract):
//!
//! ```text
//! events/date=YYYY-MM-DD/hour=HH/part-<seq:020>-<n:04>.parquet
//! alerts/date=YYYY-MM-DD/part-<seq:020>-<n:04>.parquet
//! dead_letters/date=YYYY-MM-DD/part-<seq:020>-<n:04>.jsonl
//! _commits/<seq:020>.json          the commit log: files, resume state, cumulative totals
//! _ledger/<first seq:020>.jsonl    the hash chain of every commit, kept forever (see [`ledger`])
//! ```
//!
//! See [`commit`] for the commit protocol and [`table`] for how `time` predicates prune
//! partitions.

mod blocking;
pub mod catalog;
pub mod commit;
pub mod compaction;
mod config;
mod error;
mod files;
mod generations;
pub mod holds;
pub mod ledger;
pub mod live_store;
pub mod parts;
pub mod read_back;
pub mod remote;
pub mod retention;
mod schema;
pub mod table;
pub mod verify;

pub use commit::{ColumnarStore, CommitInfo, CommitPlan, StoreStats};
pub use config::{Config, RetentionClasses};
pub use error::StoreError;
pub use schema::{
    DATE_COLUMN, HOUR_COLUMN, TIME_COLUMN, alerts_file_schema, alerts_schema, events_file_schema,
    events_schema,
};
pub use table::{TimePartitionedTable, session_context};
pub use verify::{Problem, VerifyOptions, VerifyReport, verify};
