//! kubetrail's pipeline: what runs between the sources and the stores, the same way live
//! (`serve`, `demo`) and over files (`import`, `detect`).
//!
//! - [`Stores`] opens, recovers, catches up and commits the columnar store and the search index
//!   as one; a [`Commit`] is the typed record of one commit: rows, source positions and the
//!   detection state after them ([`Resume`] is what is read back).
//! - [`DetectStep`] is the one detect step (dedupe, rules with state, counting), built from the
//!   validated `[detect]` table ([`build_engine`]).
//! - [`Live`] runs any non-empty set of [`ingest::Source`]s through detection into the stores,
//!   delivering alerts to [`sinks::AlertOutputs`], and reloads rule files as they change.
//! - [`history`] reads files once for `import` and `detect`.
//! - [`PipelineRuntime`] runs the live pipeline on threads that yield the CPU to the API.
//! - [`Stats`] counts every path and exports the counters to a Prometheus registry.

mod commit;
mod config;
mod detection;
mod error;
pub mod history;
mod live;
mod metrics;
mod reload;
mod runtime;
pub mod sharing;
mod stores;

pub use commit::{Commit, Resume};
pub use config::{
    Config, DEFAULT_CHANNEL_BATCHES, DEFAULT_COMMIT_INTERVAL_MS, DEFAULT_COMMIT_MAX_EVENTS,
};
pub use detection::{DetectStep, build_engine};
pub use error::PipelineError;
pub use live::{Live, LiveOptions, Observer};
pub use metrics::{KafkaMetrics, Stats, register_kafka, register_wal};
pub use runtime::{PIPELINE_NICE, PipelineRuntime};
pub use stores::{SEARCH_DIR, Stores, search_dir};
