//! Alert delivery for kubetrail: sinks (stdout, file, generic webhook, Slack, Alertmanager,
//! Kafka)
//! behind a durable outbox, and [`AlertOutputs`], everything the `[alerts]` table names
//! (standard output and a local file written in line, the outbox for `[[alerts.sinks]]`).
//!
//! The pipeline opens an [`Outbox`] on a directory with the configured sinks
//! ([`SinkConfig`], deserialised from `[[alerts.sinks]]` and checked by [`validate_sinks`]),
//! and calls [`Outbox::enqueue`] with each batch of alerts. `enqueue` returns once the
//! alerts are fsynced to the outbox; from then on a task per sink delivers them.
//!
//! # Delivery guarantees
//!
//! - **Durable**: an alert `enqueue` has accepted survives the destination being down and
//!   the process restarting. Delivery is retried forever with exponential backoff and
//!   jitter (`initial_backoff_ms` doubling to `max_backoff_ms`), honouring `Retry-After` on
//!   HTTP 429 and 503 (up to an hour). Alerts are never dropped; a 4xx other than 408 and
//!   429 is retried too, but logged as an error, since it usually means a wrong URL or
//!   credential.
//! - **In order, per sink**: each sink has one request in flight at a time and delivers in
//!   queue order. A slow or failing sink holds back only itself.
//! - **Nothing twice across a clean shutdown**: a sink's cursor advances only after its
//!   destination accepted a batch (HTTP 2xx, or the write to stdout or the file
//!   succeeded), and [`Outbox::shutdown`] lets a request in flight finish and records it.
//!   Reopening resumes each sink from its cursor.
//! - **At least once**: a batch whose outcome is unknown is sent again. That happens after
//!   a crash (or a dropped [`Outbox`], or a shutdown deadline that passed) between a
//!   request and the cursor write, and when a request times out or the connection breaks
//!   after the destination received it. The pipeline may also re-fire alerts after a crash
//!   (see `ARCHITECTURE.md`). Receivers deduplicate by the alert's `alert_id`, which is
//!   deterministic; this crate does not.
//! - **Filters**: alerts below a sink's `min_severity` are skipped by that sink only.
//!
//! # On disk
//!
//! ```text
//! <dir>/LOCK                              lock held while an Outbox has the directory open
//! <dir>/segments/<first_seq:020>.jsonl   queued alerts, one contract JSON object per line
//! <dir>/cursors/<sink>.cursor            {"next_seq": N}: the sink is done with seq < N
//! ```
//!
//! A segment is deleted once every sink's cursor has passed it. A sink new to the directory
//! starts at its end; the cursor of a sink no longer configured is removed.
//!
//! # Secrets
//!
//! Header values ([`Secret`]) and URLs ([`HttpUrl`]) never appear in `Debug` output, logs,
//! errors or [`SinkMetrics::last_error`]: URLs are shown as scheme and host only, and text
//! from a destination (error bodies) has every configured secret replaced by `[redacted]`.

mod config;
mod deliver;
mod error;
mod log;
mod outbox;
mod outputs;
mod payload;

pub use config::{
    AlertmanagerSinkConfig, DEFAULT_HTTP_MAX_BATCH_SIZE, DEFAULT_INITIAL_BACKOFF_MS,
    DEFAULT_MAX_BACKOFF_MS, DEFAULT_SLACK_MAX_BATCH_SIZE, DEFAULT_TIMEOUT_MS, FileSinkConfig,
    HttpSinkConfig, HttpUrl, KafkaSinkConfig, MAX_HTTP_BATCH_SIZE, MAX_SLACK_BATCH_SIZE, Secret,
    SinkConfig, StdoutSinkConfig, validate_sinks,
};
pub use error::SinkError;
pub use outbox::{
    DEFAULT_SEGMENT_MAX_BYTES, Outbox, OutboxOptions, SinkMetrics, SinkMetricsHandle,
};
pub use outputs::{AlertCallback, AlertOutputs, AlertsConfig, write_json_lines};
