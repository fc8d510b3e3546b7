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

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use detect::{Detector, Engine};
use event::Alert;
use ingest::{Batch, Deduper, FileTailer};
use store::ColumnarStore;
use tokio::sync::{mpsc, watch};
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
}

impl Counters {
    fn add_batch(&self, batch: &Batch, duplicates: usize, alerts: usize) {
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
        self.alerts.fetch_add(alerts as u64, Ordering::Relaxed);
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
}

/// How often an idle pipeline looks at the wall clock (absence rules on a silent stream).
const IDLE_TICK: Duration = Duration::from_secs(1);

/// Runs the pipeline until `cancel` fires, then drains every stage and commits what is in flight.
pub async fn run(
    config: &Config,
    engine: Arc<Engine>,
    sinks: AlertSinks,
    counters: Arc<Counters>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let store_config = config.store.clone();
    let (store, checkpoint) =
        tokio::task::spawn_blocking(move || ColumnarStore::open(&store_config))
            .await?
            .context("failed to open the data directory")?;
    let (checkpoint, detection) = read_stored_checkpoint(checkpoint)?;
    let engines = crate::reload::watch_rules(
        &config.detect,
        Arc::clone(&engine),
        counters.clone(),
        cancel.clone(),
    );
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
        detected_tx,
        DetectStage {
            detector,
            engines,
            deduper,
            sinks,
            counters: counters.clone(),
            policy: CommitPolicy {
                interval: Duration::from_millis(config.pipeline.commit_interval_ms),
                max_events: config.pipeline.commit_max_events,
            },
        },
    ));
    let commit = tokio::spawn(commit_stage(detected_rx, store, counters));

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
    policy: CommitPolicy,
}

async fn detect_stage(
    mut batches: mpsc::Receiver<Batch>,
    detected: mpsc::Sender<Detected>,
    stage: DetectStage,
) -> anyhow::Result<()> {
    let DetectStage {
        mut detector,
        mut engines,
        mut deduper,
        mut sinks,
        counters,
        policy,
    } = stage;
    // Events (or tick alerts) sent since the last commit, and when the first of them was.
    let mut uncommitted = 0usize;
    let mut first_uncommitted: Option<Instant> = None;
    loop {
        let received = tokio::select! {
            batch = batches.recv() => Some(batch),
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
                counters.add_batch(&batch, duplicates, alerts.len());
                uncommitted += batch.events.len().max(1);
                (Some(batch), alerts)
            }
            Some(None) => break,
            None => {
                let mut alerts = Vec::new();
                detector.tick(wall_clock_micros(), &mut alerts);
                counters
                    .alerts
                    .fetch_add(alerts.len() as u64, Ordering::Relaxed);
                uncommitted += alerts.len();
                (None, alerts)
            }
        };
        sinks
            .deliver(&alerts)
            .await
            .context("failed to deliver alerts")?;
        if uncommitted > 0 {
            first_uncommitted.get_or_insert_with(Instant::now);
        }
        let due = first_uncommitted.is_some_and(|first| first.elapsed() >= policy.interval)
            || uncommitted >= policy.max_events;
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
            })
            .await
            .map_err(|_| anyhow!("the commit stage stopped"))?;
    }
    sinks.close().await;
    Ok(())
}

fn wall_clock_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Commits at every message that carries the detection state, so each commit's checkpoint and
/// state belong together; what arrives after the last such message is not committed (the
/// detect stage always ends with one, unless it failed).
async fn commit_stage(
    mut detected: mpsc::Receiver<Detected>,
    mut store: ColumnarStore,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let mut pending = Pending::default();
    while let Some(message) = detected.recv().await {
        match message.batch {
            Some(batch) => pending.add(batch, message.alerts),
            None => pending.alerts.extend(message.alerts),
        }
        if let Some(snapshot) = message.snapshot {
            pending.detection = Some(snapshot);
            if !pending.is_empty() {
                store = commit(store, std::mem::take(&mut pending), &counters).await?;
            }
        }
    }
    Ok(())
}

async fn commit(
    mut store: ColumnarStore,
    pending: Pending,
    counters: &Counters,
) -> anyhow::Result<ColumnarStore> {
    let events = pending.events.len() as u64;
    let (store, result) = tokio::task::spawn_blocking(move || {
        let result = pending.commit_to(&mut store);
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
