//! The live pipeline behind `serve` and `demo`: tail → dedupe + detect → commit, three tokio
//! tasks joined by bounded channels. CPU work runs in `spawn_blocking`; a full channel makes
//! the stage before it wait, nothing is dropped.
//!
//! Delivery: the tailer's checkpoint travels with its batch and is committed by the store in the
//! same atomic commit as the batch's events, so a crash at any instant loses nothing and shows
//! nothing twice. The detect stage decides when to commit (every `commit_interval_ms` or
//! `commit_max_events`) and sends the detection state with the batch it was taken after, so a
//! commit's checkpoint and detection state always agree: after a restart stateful rules neither
//! forget a window nor alert twice. Alerts are delivered to the sinks as soon as the rules have
//! run (before the commit) so they are not delayed by the commit interval; after a crash they
//! can be delivered again, with the same `alert_id`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use detect::{Detector, Engine};
use event::Alert;
use ingest::{Batch, Deduper, FileTailer};
use query::http::{ApiState, Pushed, TailItem};
use store::ColumnarStore;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::pending::{Pending, read_stored_checkpoint};
use crate::sinks::AlertSinks;

/// Running totals, shared with whoever displays them.
#[derive(Debug, Default)]
pub struct Counters {
    pub lines: AtomicU64,
    pub bytes: AtomicU64,
    pub events: AtomicU64,
    pub filtered: AtomicU64,
    pub duplicates: AtomicU64,
    pub dead_letters: AtomicU64,
    pub alerts: AtomicU64,
    pub commits: AtomicU64,
    pub committed_events: AtomicU64,
    pub rule_reloads: AtomicU64,
    pub rule_reload_failures: AtomicU64,
    /// Event time of the newest event seen (microseconds), for the lag gauge.
    pub newest_event_micros: AtomicI64,
    /// Alerts raised, by rule id.
    pub alerts_by_rule: Mutex<BTreeMap<String, u64>>,
    /// The alert sinks' delivery counters, as of the last delivery.
    pub sinks: Mutex<Vec<(String, sinks::SinkMetrics)>>,
}

impl Counters {
    fn add_batch(&self, batch: &Batch, duplicates: usize, alerts: &[Alert]) {
        if let Some(newest) = batch.events.iter().map(|event| event.time).max() {
            self.newest_event_micros
                .fetch_max(newest, Ordering::Relaxed);
        }
        self.add_alerts(alerts);
        self.lines.fetch_add(batch.stats.lines, Ordering::Relaxed);
        self.bytes.fetch_add(batch.stats.bytes, Ordering::Relaxed);
        self.events
            .fetch_add(batch.events.len() as u64, Ordering::Relaxed);
        self.filtered
            .fetch_add(batch.stats.filtered, Ordering::Relaxed);
        self.duplicates
            .fetch_add(duplicates as u64, Ordering::Relaxed);
        self.dead_letters
            .fetch_add(batch.dead_letters.len() as u64, Ordering::Relaxed);
    }

    fn add_alerts(&self, alerts: &[Alert]) {
        if alerts.is_empty() {
            return;
        }
        self.alerts
            .fetch_add(alerts.len() as u64, Ordering::Relaxed);
        let mut by_rule = self
            .alerts_by_rule
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for alert in alerts {
            match by_rule.get_mut(&alert.rule_id) {
                Some(count) => *count += 1,
                None => {
                    by_rule.insert(alert.rule_id.clone(), 1);
                }
            }
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A batch after detection (or alerts of an idle tick), on its way to the store. A message
/// with `snapshot` closes a commit: the store commits everything up to it, with it.
struct Detected {
    batch: Option<Batch>,
    alerts: Vec<Alert>,
    snapshot: Option<serde_json::Value>,
    /// The batch was pushed through the API: it moves no source position, and its sender
    /// waits for the commit.
    pushed: Option<oneshot::Sender<()>>,
}

/// How often retention looks for day partitions past `store.retention_days`.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// How often an idle pipeline looks at the wall clock (absence rules on a silent stream).
const IDLE_TICK: Duration = Duration::from_secs(1);

/// Runs the pipeline until `cancel` fires, then drains every stage and commits what is in flight.
pub async fn run(
    config: &Config,
    engine: Arc<Engine>,
    sinks: AlertSinks,
    counters: Arc<Counters>,
    cancel: CancellationToken,
    api: Option<&ApiState>,
) -> anyhow::Result<()> {
    let store_config = config.store.clone();
    let (store, checkpoint) =
        tokio::task::spawn_blocking(move || ColumnarStore::open(&store_config))
            .await?
            .context("failed to open the data directory")?;
    let (checkpoint, detection) = read_stored_checkpoint(checkpoint)?;
    let data_dir = config.store.data_dir.clone();
    let index_options = config.search.clone();
    let index =
        tokio::task::spawn_blocking(move || crate::indexing::open(&data_dir, index_options))
            .await??;
    if let Some(api) = api {
        api.set_searcher(index.searcher());
    }
    let engines = crate::reload::watch_rules(
        &config.detect,
        Arc::clone(&engine),
        counters.clone(),
        cancel.clone(),
    );
    if let Some(api) = api {
        api.set_rules(engines.clone());
        api.set_ready();
    }
    let tail_clients = api.map(ApiState::tail_sender);
    let (pushed_tx, pushed_rx) = mpsc::channel(config.pipeline.channel_batches);
    if let Some(api) = api {
        api.set_ingest(pushed_tx);
    } else {
        drop(pushed_tx);
    }
    let mut detector = Detector::new(engine, config.detect.limits());
    if let Some(snapshot) = detection
        && let Err(error) = detector.restore(&snapshot)
    {
        tracing::warn!(%error, "starting with empty detection state");
    }
    let tailer = FileTailer::new(&config.ingest, checkpoint).context("failed to start tailing")?;
    let deduper = Deduper::new(config.ingest.dedupe_capacity);

    let (batch_tx, batch_rx) = mpsc::channel(config.pipeline.channel_batches);
    let (detected_tx, detected_rx) = mpsc::channel(config.pipeline.channel_batches);

    let tail = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            tailer
                .run(batch_tx, cancel)
                .await
                .context("file source failed")
        }
    });
    let detect = tokio::spawn(detect_stage(
        batch_rx,
        pushed_rx,
        detected_tx,
        DetectStage {
            detector,
            engines,
            deduper,
            sinks,
            counters: counters.clone(),
            tail: tail_clients,
            policy: CommitPolicy {
                interval: Duration::from_millis(config.pipeline.commit_interval_ms),
                max_events: config.pipeline.commit_max_events,
            },
        },
    ));
    let commit = tokio::spawn(commit_stage(
        detected_rx,
        (store, index),
        counters,
        config.store.retention_days,
    ));

    // Each stage ends when the one before it closes its channel; an error anywhere cancels the
    // source so the rest drains.
    let mut first_error = None;
    for (stage, handle) in [("tail", tail), ("detect", detect), ("commit", commit)] {
        let result = handle
            .await
            .map_err(|e| anyhow!("{stage} stage panicked: {e}"))?;
        if let Err(error) = result {
            cancel.cancel();
            first_error.get_or_insert(error);
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// When the detect stage closes a commit.
#[derive(Debug, Clone, Copy)]
struct CommitPolicy {
    interval: Duration,
    max_events: usize,
}

/// The detect stage's own parts.
struct DetectStage {
    detector: Detector,
    engines: watch::Receiver<Arc<Engine>>,
    deduper: Deduper,
    sinks: AlertSinks,
    counters: Arc<Counters>,
    /// Where `/tail` clients listen, if the API runs.
    tail: Option<broadcast::Sender<TailItem>>,
    policy: CommitPolicy,
}

async fn detect_stage(
    mut batches: mpsc::Receiver<Batch>,
    mut pushed: mpsc::Receiver<Pushed>,
    detected: mpsc::Sender<Detected>,
    stage: DetectStage,
) -> anyhow::Result<()> {
    let DetectStage {
        mut detector,
        mut engines,
        mut deduper,
        mut sinks,
        counters,
        tail,
        policy,
    } = stage;
    // Events (or tick alerts) sent since the last commit, and when the first of them was.
    let mut uncommitted = 0usize;
    let mut first_uncommitted: Option<Instant> = None;
    loop {
        let mut committed = None;
        let received = tokio::select! {
            batch = batches.recv() => Some(batch),
            Some(push) = pushed.recv() => {
                committed = Some(push.committed);
                Some(Some(Batch {
                    stats: ingest::BatchStats {
                        events: push.events.len() as u64,
                        dead_letters: push.dead_letters.len() as u64,
                        ..ingest::BatchStats::default()
                    },
                    events: push.events,
                    dead_letters: push.dead_letters,
                    checkpoint: ingest::Checkpoint::default(),
                }))
            }
            Ok(()) = engines.changed() => {
                // Between two batches: the new rules see the next event first.
                detector.set_engine(Arc::clone(&engines.borrow_and_update()));
                continue;
            }
            () = tokio::time::sleep(IDLE_TICK) => None,
        };
        let (batch, alerts) = match received {
            Some(Some(mut batch)) => {
                let duplicates = deduper.retain_new(&mut batch.events);
                let (back, batch, alerts) = tokio::task::spawn_blocking(move || {
                    let mut alerts = Vec::new();
                    detector.process_batch(&batch.events, &mut alerts);
                    (detector, batch, alerts)
                })
                .await?;
                detector = back;
                counters.add_batch(&batch, duplicates, &alerts);
                uncommitted += batch.events.len().max(1);
                (Some(batch), alerts)
            }
            Some(None) => break,
            None => {
                let mut alerts = Vec::new();
                detector.tick(wall_clock_micros(), &mut alerts);
                counters.add_alerts(&alerts);
                uncommitted += alerts.len();
                (None, alerts)
            }
        };
        if let Some(tail) = &tail {
            publish(tail, batch.as_ref(), &alerts);
        }
        sinks
            .deliver(&alerts)
            .await
            .context("failed to deliver alerts")?;
        let sink_metrics = sinks.metrics();
        if !sink_metrics.is_empty() {
            *counters
                .sinks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = sink_metrics;
        }
        if uncommitted > 0 {
            first_uncommitted.get_or_insert_with(Instant::now);
        }
        // Pushed events commit at once: their sender waits for it.
        let due = first_uncommitted.is_some_and(|first| first.elapsed() >= policy.interval)
            || uncommitted >= policy.max_events
            || committed.is_some();
        if batch.is_none() && alerts.is_empty() && !due {
            continue;
        }
        let snapshot = due.then(|| detector.snapshot());
        if due {
            uncommitted = 0;
            first_uncommitted = None;
        }
        detected
            .send(Detected {
                batch,
                alerts,
                snapshot,
                pushed: committed,
            })
            .await
            .map_err(|_| anyhow!("the commit stage stopped"))?;
    }
    if uncommitted > 0 {
        detected
            .send(Detected {
                batch: None,
                alerts: Vec::new(),
                snapshot: Some(detector.snapshot()),
                pushed: None,
            })
            .await
            .map_err(|_| anyhow!("the commit stage stopped"))?;
    }
    sinks.close().await;
    Ok(())
}

/// Sends what passed detection to `/tail` clients, only when there are any (events are cloned).
fn publish(tail: &broadcast::Sender<TailItem>, batch: Option<&Batch>, alerts: &[Alert]) {
    if tail.receiver_count() == 0 {
        return;
    }
    if let Some(batch) = batch
        && !batch.events.is_empty()
    {
        let _ = tail.send(TailItem::Events(Arc::new(batch.events.clone())));
    }
    if !alerts.is_empty() {
        let _ = tail.send(TailItem::Alerts(Arc::new(alerts.to_vec())));
    }
}

fn wall_clock_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Commits at every message that carries the detection state, so each commit's checkpoint and
/// state belong together; what arrives after the last such message is not committed (the
/// detect stage always ends with one, unless it failed).
async fn commit_stage(
    mut detected: mpsc::Receiver<Detected>,
    mut store: Stores,
    counters: Arc<Counters>,
    retention_days: Option<u32>,
) -> anyhow::Result<()> {
    // Retention runs at start and then at most once an hour, between commits.
    let mut retention_due = Instant::now();
    let mut pending = Pending::default();
    // Senders of pushed batches waiting for the next commit.
    let mut waiting = Vec::new();
    loop {
        if let Some(days) = retention_days
            && Instant::now() >= retention_due
        {
            retention_due = Instant::now() + RETENTION_EVERY;
            let (back, result) = tokio::task::spawn_blocking(move || {
                let result = crate::indexing::apply_retention(&mut store.0, &mut store.1, days);
                (store, result)
            })
            .await?;
            store = back;
            result?;
        }
        let Some(message) = detected.recv().await else {
            break;
        };
        match (message.batch, message.pushed) {
            (Some(batch), Some(committed)) => {
                pending.add_pushed(batch, message.alerts);
                waiting.push(committed);
            }
            (Some(batch), None) => pending.add(batch, message.alerts),
            (None, _) => pending.alerts.extend(message.alerts),
        }
        if let Some(snapshot) = message.snapshot {
            pending.detection = Some(snapshot);
            if !pending.is_empty() {
                store = commit(store, std::mem::take(&mut pending), &counters).await?;
            }
            for committed in waiting.drain(..) {
                let _ = committed.send(());
            }
        }
    }
    Ok(())
}

/// The columnar store and the search index derived from it.
type Stores = (ColumnarStore, search::SearchIndex);

async fn commit(
    mut store: Stores,
    pending: Pending,
    counters: &Counters,
) -> anyhow::Result<Stores> {
    let events = pending.events.len() as u64;
    let (store, result) = tokio::task::spawn_blocking(move || {
        let result = pending.commit_to(&mut store.0, Some(&mut store.1));
        (store, result)
    })
    .await?;
    result?;
    counters.commits.fetch_add(1, Ordering::Relaxed);
    counters
        .committed_events
        .fetch_add(events, Ordering::Relaxed);
    Ok(store)
}
