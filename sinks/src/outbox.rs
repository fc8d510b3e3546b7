//! The outbox: durable queueing of alerts, one delivery task per sink, per-sink metrics,
//! draining and shutdown.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use event::Alert;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{ResolvedSink, SinkConfig, resolve_all};
use crate::deliver::{Backoff, Deliverer};
use crate::error::SinkError;
use crate::log::{Batch, Log, LogReader};
use crate::payload::QueuedAlert;

/// Default size at which the outbox starts a new segment file.
pub const DEFAULT_SEGMENT_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// Most lines a sink looks at in one batch, so a long run of filtered alerts still moves
/// the cursor forward in bounded steps.
const MAX_LINES_PER_BATCH: usize = 10_000;
/// How long `Outbox::open` waits for the directory lock held by an outbox that is still
/// shutting down in this process.
const LOCK_WAIT: Duration = Duration::from_secs(1);

/// Tuning of the outbox itself (not of a sink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxOptions {
    /// A segment file that has reached this size is closed and a new one started; closed
    /// segments are deleted once every sink has delivered them.
    pub segment_max_bytes: u64,
}

impl Default for OutboxOptions {
    fn default() -> Self {
        OutboxOptions {
            segment_max_bytes: DEFAULT_SEGMENT_MAX_BYTES,
        }
    }
}

/// A snapshot of one sink's delivery. Counters start at zero when the outbox is opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkMetrics {
    /// Alerts the destination accepted (2xx) or that were written.
    pub delivered: u64,
    /// Alerts skipped because they are below the sink's `min_severity`.
    pub filtered: u64,
    /// Attempts that failed (each failed request counts once, whatever its batch size).
    pub failed_attempts: u64,
    /// Attempts made after a failure.
    pub retries: u64,
    /// Alerts queued in the outbox that the sink has not yet passed: not yet delivered, or
    /// not yet looked at by the filter.
    pub pending: u64,
    /// The most recent error, with secrets removed. Kept after later successes: compare
    /// `last_error_time` with `last_success`.
    pub last_error: Option<String>,
    pub last_error_time: Option<DateTime<Utc>>,
    /// When the destination last accepted a batch.
    pub last_success: Option<DateTime<Utc>>,
}

/// Durable alert delivery to a fixed set of sinks.
///
/// [`Outbox::enqueue`] writes alerts to the outbox directory and returns once they are on
/// disk; a task per sink delivers them in order, in batches, retrying failures forever.
/// Must be opened inside a Tokio runtime. Dropping the outbox aborts its tasks at once (as a
/// crash would: an alert in flight is delivered again on the next open); call
/// [`Outbox::shutdown`] to stop cleanly.
pub struct Outbox {
    log: Arc<Log>,
    dir: PathBuf,
    sinks: Arc<[Arc<SinkState>]>,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
    task_sinks: HashMap<tokio::task::Id, String>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("dir", &self.dir)
            .field(
                "sinks",
                &self.sinks.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The sinks' delivery metrics, readable while the outbox runs (see [`Outbox::metrics_handle`]).
#[derive(Clone)]
pub struct SinkMetricsHandle {
    log: Arc<Log>,
    sinks: Arc<[Arc<SinkState>]>,
}

impl std::fmt::Debug for SinkMetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkMetricsHandle").finish_non_exhaustive()
    }
}

impl SinkMetricsHandle {
    /// A snapshot of every sink's metrics, in configuration order.
    pub fn snapshot(&self) -> Vec<(String, SinkMetrics)> {
        let committed = *self.log.committed().borrow();
        self.sinks
            .iter()
            .map(|state| {
                let mut metrics = state
                    .metrics
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                metrics.pending = committed.saturating_sub(*state.delivered_to.borrow());
                (state.name.clone(), metrics)
            })
            .collect()
    }
}

/// What the outbox and a sink's task share.
#[derive(Debug)]
struct SinkState {
    name: String,
    /// Every seq below this has been delivered (or filtered); in memory.
    delivered_to: watch::Sender<u64>,
    /// The value last written to the sink's cursor file.
    persisted: AtomicU64,
    metrics: Mutex<SinkMetrics>,
}

impl SinkState {
    fn update(&self, change: impl FnOnce(&mut SinkMetrics)) {
        change(&mut self.metrics.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn record_error(&self, error: &SinkError) {
        let text = error.to_string();
        self.update(|m| {
            m.last_error = Some(text);
            m.last_error_time = Some(Utc::now());
        });
    }
}

impl Outbox {
    /// Validates `sinks`, opens (or creates) the outbox at `dir` and starts delivering what
    /// it holds, each sink from its cursor.
    pub async fn open(dir: impl AsRef<Path>, sinks: &[SinkConfig]) -> Result<Outbox, SinkError> {
        Outbox::open_with_options(dir, sinks, OutboxOptions::default()).await
    }

    /// [`Outbox::open`] with non-default [`OutboxOptions`].
    pub async fn open_with_options(
        dir: impl AsRef<Path>,
        sinks: &[SinkConfig],
        options: OutboxOptions,
    ) -> Result<Outbox, SinkError> {
        let dir = dir.as_ref().to_owned();
        let resolved = resolve_all(sinks)?;
        let deliverers = resolved
            .iter()
            .map(|sink| Deliverer::new(&sink.target))
            .collect::<Result<Vec<_>, _>>()?;

        let names: Vec<String> = resolved.iter().map(|s| s.name.clone()).collect();
        let started = Instant::now();
        let (log, cursors) = loop {
            let (dir, names) = (dir.clone(), names.clone());
            let opened = tokio::task::spawn_blocking(move || {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                Log::open(&dir, options.segment_max_bytes, &names)
            })
            .await
            .map_err(|e| SinkError::TaskFailed {
                sink: "outbox".to_owned(),
                detail: e.to_string(),
            })?;
            match opened {
                Err(SinkError::Locked { .. }) if started.elapsed() < LOCK_WAIT => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => break other?,
            }
        };
        let log = Arc::new(log);

        let states: Arc<[Arc<SinkState>]> = resolved
            .iter()
            .zip(&cursors)
            .map(|(sink, &cursor)| {
                Arc::new(SinkState {
                    name: sink.name.clone(),
                    delivered_to: watch::channel(cursor).0,
                    persisted: AtomicU64::new(cursor),
                    metrics: Mutex::new(SinkMetrics::default()),
                })
            })
            .collect();

        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut task_sinks = HashMap::new();
        for ((sink, deliverer), (state, &cursor)) in resolved
            .into_iter()
            .zip(deliverers)
            .zip(states.iter().zip(&cursors))
        {
            tracing::info!(
                sink = %sink.name,
                endpoint = %deliverer.endpoint(),
                cursor,
                "alert sink started"
            );
            let task = SinkTask {
                log: Arc::clone(&log),
                state: Arc::clone(state),
                all: Arc::clone(&states),
                sink,
                deliverer,
                cancel: cancel.clone(),
            };
            let handle = tasks.spawn(task.run(cursor));
            task_sinks.insert(handle.id(), state.name.clone());
        }

        Ok(Outbox {
            log,
            dir,
            sinks: states,
            cancel,
            tasks,
            task_sinks,
        })
    }

    /// Appends `alerts` to the outbox and returns once they are on disk (fsynced). From then
    /// on they are delivered to every sink whose `min_severity` they meet, even across
    /// restarts. With no sinks configured this does nothing.
    pub async fn enqueue(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        if alerts.is_empty() || self.sinks.is_empty() {
            return Ok(());
        }
        let mut lines = Vec::with_capacity(alerts.len() * 512);
        for alert in alerts {
            serde_json::to_writer(&mut lines, alert)?;
            lines.push(b'\n');
        }
        let count = alerts.len() as u64;
        let log = Arc::clone(&self.log);
        tokio::task::spawn_blocking(move || log.append(&lines, count))
            .await
            .map_err(|e| SinkError::TaskFailed {
                sink: "outbox".to_owned(),
                detail: e.to_string(),
            })?
    }

    /// A snapshot of every sink's metrics, in configuration order.
    pub fn metrics(&self) -> Vec<(String, SinkMetrics)> {
        self.metrics_handle().snapshot()
    }

    /// Reads the sinks' metrics without holding the outbox (for a metrics exporter).
    pub fn metrics_handle(&self) -> SinkMetricsHandle {
        SinkMetricsHandle {
            log: Arc::clone(&self.log),
            sinks: Arc::clone(&self.sinks),
        }
    }

    /// Waits until every sink has delivered every alert enqueued before the call, or
    /// `timeout` has passed; then the error names the sinks still behind. Delivery goes on
    /// either way.
    pub async fn drain(&self, timeout: Duration) -> Result<(), SinkError> {
        let target = *self.log.committed().borrow();
        let deadline = Instant::now() + timeout;
        let mut behind = Vec::new();
        for state in self.sinks.iter() {
            let mut delivered_to = state.delivered_to.subscribe();
            let reached =
                tokio::time::timeout_at(deadline, delivered_to.wait_for(|seq| *seq >= target))
                    .await;
            if !matches!(reached, Ok(Ok(_))) {
                behind.push(state.name.clone());
            }
        }
        if behind.is_empty() {
            Ok(())
        } else {
            Err(SinkError::DrainTimeout { sinks: behind })
        }
    }

    /// Stops the delivery tasks. A request in flight is allowed to finish (each is bounded
    /// by its sink's `timeout_ms`) and its result recorded in the cursor, so after a clean
    /// shutdown nothing is delivered twice. Tasks still running after `deadline` are
    /// aborted; the error names their sinks, whose in-flight alerts will be delivered again
    /// after the next open.
    pub async fn shutdown(mut self, deadline: Duration) -> Result<(), SinkError> {
        self.cancel.cancel();
        let mut tasks = std::mem::take(&mut self.tasks);
        let mut finished = HashSet::new();
        let mut failed = Vec::new();
        let joined = tokio::time::timeout(deadline, async {
            while let Some(result) = tasks.join_next_with_id().await {
                match result {
                    Ok((id, ())) => {
                        finished.insert(id);
                    }
                    Err(error) => {
                        finished.insert(error.id());
                        failed.push(SinkError::TaskFailed {
                            sink: self
                                .task_sinks
                                .get(&error.id())
                                .cloned()
                                .unwrap_or_default(),
                            detail: error.to_string(),
                        });
                    }
                }
            }
        })
        .await;
        let mut result = match failed.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(()),
        };
        if joined.is_err() {
            let mut aborted: Vec<String> = self
                .task_sinks
                .iter()
                .filter(|(id, _)| !finished.contains(id))
                .map(|(_, name)| name.clone())
                .collect();
            aborted.sort();
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            result = Err(SinkError::ShutdownTimeout { sinks: aborted });
        }
        // Blocking work started by the tasks (a cursor write) may still hold the log; wait
        // for it so the directory lock is free when this returns.
        let started = Instant::now();
        while Arc::strong_count(&self.log) > 1 && started.elapsed() < LOCK_WAIT {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tracing::info!(dir = %self.dir.display(), "alert outbox closed");
        result
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // Dropping the JoinSet aborts the tasks.
        self.cancel.cancel();
    }
}

/// One sink's delivery loop.
struct SinkTask {
    log: Arc<Log>,
    state: Arc<SinkState>,
    all: Arc<[Arc<SinkState>]>,
    sink: ResolvedSink,
    deliverer: Deliverer,
    cancel: CancellationToken,
}

impl SinkTask {
    async fn run(self, start: u64) {
        let mut reader = Some(LogReader::new(start));
        let mut committed = self.log.committed().subscribe();
        let mut backoff = Backoff::new(self.sink.backoff);
        while !self.cancel.is_cancelled() {
            let position = reader.as_ref().map_or(start, LogReader::seq);
            if position >= *committed.borrow_and_update() {
                tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => break,
                    changed = committed.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        continue;
                    }
                }
            }

            let batch = match self.read_batch(&mut reader).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::error!(sink = %self.sink.name, %error, "failed to read the alert outbox");
                    self.state.update(|m| m.failed_attempts += 1);
                    self.state.record_error(&error);
                    if !self.pause(backoff.next_delay()).await {
                        break;
                    }
                    continue;
                }
            };
            if !batch.alerts.is_empty() && !self.deliver(&batch.alerts, &mut backoff).await {
                break;
            }
            self.state.update(|m| m.filtered += batch.filtered);
            self.state.delivered_to.send_replace(batch.end_seq);
            self.persist(batch.end_seq).await;
        }
        // A cursor write that failed earlier is retried once more on the way out.
        let delivered_to = *self.state.delivered_to.borrow();
        if delivered_to > self.state.persisted.load(Ordering::Acquire) {
            self.persist(delivered_to).await;
        }
        tracing::debug!(sink = %self.sink.name, "alert sink stopped");
    }

    async fn read_batch(&self, reader: &mut Option<LogReader>) -> Result<Batch, SinkError> {
        let mut owned = reader
            .take()
            .expect("the reader is put back after every read");
        let start = owned.seq();
        let log = Arc::clone(&self.log);
        let max_alerts = self.sink.max_batch_size();
        let min_severity = self.sink.min_severity;
        let joined = tokio::task::spawn_blocking(move || {
            let result = owned.read_batch(&log, max_alerts, MAX_LINES_PER_BATCH, min_severity);
            (owned, result)
        })
        .await;
        match joined {
            Ok((owned, result)) => {
                *reader = Some(owned);
                result
            }
            Err(error) => {
                *reader = Some(LogReader::new(start));
                Err(SinkError::TaskFailed {
                    sink: self.sink.name.clone(),
                    detail: error.to_string(),
                })
            }
        }
    }

    /// Delivers the batch, retrying until it succeeds. Returns false if cancelled first.
    async fn deliver(&self, alerts: &[QueuedAlert], backoff: &mut Backoff) -> bool {
        let mut attempt: u64 = 1;
        loop {
            match self.deliverer.deliver(alerts).await {
                Ok(()) => {
                    backoff.reset();
                    let count = alerts.len() as u64;
                    self.state.update(|m| {
                        m.delivered += count;
                        m.last_success = Some(Utc::now());
                    });
                    if attempt > 1 {
                        tracing::info!(sink = %self.sink.name, attempt, alerts = count, "alert delivery recovered");
                    } else {
                        tracing::debug!(sink = %self.sink.name, alerts = count, "alerts delivered");
                    }
                    return true;
                }
                Err(failure) => {
                    let delay = failure.retry_after.unwrap_or_else(|| backoff.next_delay());
                    let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                    self.state.update(|m| m.failed_attempts += 1);
                    self.state.record_error(&failure.error);
                    if failure.rejected {
                        tracing::error!(
                            sink = %self.sink.name,
                            attempt,
                            retry_in_ms,
                            error = %failure.error,
                            "the destination rejected the alerts; check the sink's configuration \
                             (URL, headers) and the destination's; retrying"
                        );
                    } else {
                        tracing::warn!(
                            sink = %self.sink.name,
                            attempt,
                            retry_in_ms,
                            error = %failure.error,
                            "alert delivery failed; retrying"
                        );
                    }
                    if !self.pause(delay).await {
                        return false;
                    }
                    attempt += 1;
                    self.state.update(|m| m.retries += 1);
                }
            }
        }
    }

    /// Sleeps for `delay`; false if cancelled first.
    async fn pause(&self, delay: Duration) -> bool {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }

    /// Writes the cursor, then deletes the segments every sink has passed. A failed write
    /// is logged and retried with the next batch (or on the way out): delivery goes on, and
    /// a crash before then only means alerts are delivered again.
    async fn persist(&self, next_seq: u64) {
        let log = Arc::clone(&self.log);
        let name = self.sink.name.clone();
        let written = tokio::task::spawn_blocking(move || log.write_cursor(&name, next_seq)).await;
        match written {
            Ok(Ok(())) => self.state.persisted.store(next_seq, Ordering::Release),
            Ok(Err(error)) => {
                tracing::error!(sink = %self.sink.name, %error, "failed to record the sink's cursor");
                self.state.record_error(&error);
                return;
            }
            Err(error) => {
                tracing::error!(sink = %self.sink.name, %error, "cursor write task failed");
                return;
            }
        }
        let min_cursor = self
            .all
            .iter()
            .map(|state| state.persisted.load(Ordering::Acquire))
            .min()
            .unwrap_or(next_seq);
        let log = Arc::clone(&self.log);
        match tokio::task::spawn_blocking(move || log.collect_garbage(min_cursor)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(deleted)) => {
                tracing::debug!(deleted, min_cursor, "deleted delivered outbox segments");
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "failed to delete delivered outbox segments");
            }
            Err(error) => tracing::warn!(%error, "segment collection task failed"),
        }
    }
}
