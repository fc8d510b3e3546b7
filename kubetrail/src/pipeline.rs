//! The live pipeline behind `serve` and `demo`: tail → dedupe + detect → commit, three tokio
//! tasks joined by bounded channels. CPU work runs in `spawn_blocking`; a full channel makes
//! the stage before it wait, nothing is dropped.
//!
//! Delivery: the tailer's checkpoint travels with its batch and is committed by the store in the
//! same atomic commit as the batch's events, so a crash at any instant loses nothing and shows
//! nothing twice. Alerts are delivered to the sinks as soon as the rules have run (before the
//! commit) so they are not delayed by the commit interval; after a crash they can be delivered
//! again, with the same `alert_id`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use detect::Engine;
use event::Alert;
use ingest::{Batch, Checkpoint, Deduper, FileTailer};
use store::ColumnarStore;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::pending::Pending;
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

/// A batch after detection, on its way to the store.
struct Detected {
    batch: Batch,
    alerts: Vec<Alert>,
}

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
    let checkpoint: Checkpoint = match checkpoint {
        Some(value) => serde_json::from_value(value)
            .context("the checkpoint in the data directory is unreadable")?,
        None => Checkpoint::default(),
    };
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
        engine,
        deduper,
        sinks,
        counters.clone(),
    ));
    let commit = tokio::spawn(commit_stage(
        detected_rx,
        store,
        Duration::from_millis(config.pipeline.commit_interval_ms),
        config.pipeline.commit_max_events,
        counters,
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

async fn detect_stage(
    mut batches: mpsc::Receiver<Batch>,
    detected: mpsc::Sender<Detected>,
    engine: Arc<Engine>,
    mut deduper: Deduper,
    mut sinks: AlertSinks,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    while let Some(mut batch) = batches.recv().await {
        let duplicates = deduper.retain_new(&mut batch.events);
        let engine = engine.clone();
        let (batch, alerts) = tokio::task::spawn_blocking(move || {
            let mut alerts = Vec::new();
            engine.evaluate_batch(&batch.events, &mut alerts);
            (batch, alerts)
        })
        .await?;
        counters.add_batch(&batch, duplicates, alerts.len());
        sinks.deliver(&alerts).context("failed to deliver alerts")?;
        detected
            .send(Detected { batch, alerts })
            .await
            .map_err(|_| anyhow!("the commit stage stopped"))?;
    }
    Ok(())
}

async fn commit_stage(
    mut detected: mpsc::Receiver<Detected>,
    mut store: ColumnarStore,
    interval: Duration,
    max_events: usize,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let mut pending = Pending::default();
    let mut deadline: Option<Instant> = None;
    loop {
        let next = match deadline {
            Some(at) => tokio::select! {
                message = detected.recv() => Some(message),
                () = tokio::time::sleep_until(at) => None,
            },
            None => Some(detected.recv().await),
        };
        let closed = match next {
            Some(Some(message)) => {
                pending.add(message.batch, message.alerts);
                deadline.get_or_insert_with(|| Instant::now() + interval);
                if pending.events.len() < max_events {
                    continue;
                }
                false
            }
            Some(None) => true,
            None => false,
        };
        if !pending.is_empty() {
            store = commit(store, std::mem::take(&mut pending), &counters).await?;
        }
        deadline = None;
        if closed {
            return Ok(());
        }
    }
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
