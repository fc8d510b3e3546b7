//! The live pipeline of `serve` and `demo`: sources → detect → commit, joined by bounded
//! channels. A full channel makes the stage before it wait; nothing is dropped.
//!
//! Each source is a task sending batches into one channel. The detect stage and the commit
//! stage each run on a thread of their own and own their state (the detector and deduper;
//! both stores), so CPU work never blocks the async executor and nothing moves back and forth.
//!
//! Delivery: a file batch carries the file checkpoint valid after it, and the commit stage
//! commits it in the same atomic store commit as the batch's events, so a crash at any
//! instant loses nothing and shows nothing twice. The detect stage decides when to commit
//! (every `commit_interval_ms` or `commit_max_events`; pushed bodies are read from the
//! write-ahead log, whose senders were answered when it was fsynced) and sends the detection state taken right after the last batch of the
//! commit, so a commit's positions and detection state always agree: after a restart stateful
//! rules neither forget a window nor alert twice. Alerts go to the outputs as soon as the
//! rules have run (before the commit), so the commit interval does not delay them; after a
//! crash they can be delivered again, with the same `alert_id`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use detect::Engine;
use event::{Alert, Event};
use ingest::{Batch, Checkpoint};
use sinks::AlertOutputs;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::commit::Commit;
use crate::{Config, DetectStep, PipelineError, Stats, Stores};

/// How often retention looks for partitions past their class's period (`[store]`).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// How often an idle pipeline looks at the wall clock (absence rules on a silent stream).
const IDLE_TICK: Duration = Duration::from_secs(1);

/// What the live pipeline is built from: the stage tables of the configuration.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    pub store: store::Config,
    pub search: search::IndexOptions,
    pub detect: detect::Config,
    /// How many event ids the deduper remembers (`ingest.dedupe_capacity`).
    pub dedupe_capacity: usize,
    pub pipeline: Config,
}

/// Sees the events and alerts of every batch as they pass detection (a live tail). Runs on the
/// detect stage: it must not block.
pub type Observer = Box<dyn Fn(&[Event], &[Alert]) + Send>;

/// An opened live pipeline: stores recovered and caught up, detection state restored, rule
/// files watched. [`Live::run`] runs it.
#[derive(Debug)]
pub struct Live {
    stores: Stores,
    positions: Checkpoint,
    step: DetectStep,
    engines: watch::Receiver<Arc<Engine>>,
    config: Config,
    retention: store::retention::Policy,
    store_config: store::Config,
    /// `[search] hot_days`.
    hot_days: Option<u32>,
}

impl Live {
    /// Opens the data directory (recovering and catching the index up), restores the stored
    /// detection state and starts watching the rule files until `cancel`.
    pub async fn open(
        options: LiveOptions,
        engine: Arc<Engine>,
        stats: Arc<Stats>,
        cancel: &CancellationToken,
    ) -> Result<Live, PipelineError> {
        let store_config = options.store.clone();
        let index_options = options.search.clone();
        let dedupe_capacity = options.dedupe_capacity;
        let (stores, resume, seen) = tokio::task::spawn_blocking(move || {
            let (stores, resume) = Stores::open(&store_config, index_options)?;
            let seen = stores.recent_event_ids(dedupe_capacity)?;
            Ok::<_, PipelineError>((stores, resume, seen))
        })
        .await
        .map_err(|error| stage_failed("open", &error))??;
        let mut step = DetectStep::new(
            Arc::clone(&engine),
            &options.detect,
            options.dedupe_capacity,
            Arc::clone(&stats),
        );
        // The newest stored ids: a duplicate read again after a restart is not stored twice.
        step.seed_dedupe(seen.iter().map(String::as_str));
        if let Some(snapshot) = &resume.detection
            && let Err(error) = step.restore(snapshot)
        {
            tracing::warn!(%error, "starting with empty detection state");
        }
        let engines = crate::reload::watch_rules(&options.detect, engine, stats, cancel.clone());
        Ok(Live {
            stores,
            positions: resume.positions,
            step,
            engines,
            config: options.pipeline,
            retention: options.store.retention_policy(),
            hot_days: options.search.hot_days,
            store_config: options.store,
        })
    }

    /// Where the sources resume: the positions of the last commit.
    pub fn positions(&self) -> &Checkpoint {
        &self.positions
    }

    /// A searcher over the search index, current with every commit.
    pub fn searcher(&self) -> search::Searcher {
        self.stores.searcher()
    }

    /// The running rules; changes when the rule files are reloaded.
    pub fn rules(&self) -> watch::Receiver<Arc<Engine>> {
        self.engines.clone()
    }

    /// Runs `sources` through detection into the stores until `cancel` fires, then drains
    /// every stage and commits what is in flight. An error anywhere cancels the sources, so
    /// the rest drains, and is returned.
    pub async fn run(
        self,
        sources: Vec<ingest::Source>,
        outputs: AlertOutputs,
        observer: Option<Observer>,
        cancel: CancellationToken,
    ) -> Result<(), PipelineError> {
        let Live {
            stores,
            positions,
            step,
            engines,
            config,
            retention,
            store_config,
            hot_days,
        } = self;
        let stats = Arc::clone(step.stats());
        // The compactor merges on its own thread; the commit stage commits its merges.
        let (merged_tx, merged_rx) = mpsc::channel(1);
        let indexed = Arc::new(AtomicU64::new(stores.indexed_seq()));
        let compactor = store_config.compaction.enabled.then(|| {
            tokio::spawn(compactor(
                store_config.clone(),
                Arc::clone(&indexed),
                merged_tx,
                cancel.clone(),
            ))
        });
        let (cold_tx, cold_rx) = mpsc::channel(1);
        let sharer = tokio::spawn(sharer(
            store_config.clone(),
            hot_days,
            cold_tx,
            cancel.clone(),
        ));
        let (batch_tx, batch_rx) = mpsc::channel(config.channel_batches);
        let (detected_tx, detected_rx) = mpsc::channel(config.channel_batches);
        let mut sources_running = Vec::new();
        for source in sources {
            let name = source.name();
            let batches = batch_tx.clone();
            let cancel = cancel.clone();
            sources_running.push((
                name,
                tokio::spawn(async move {
                    source
                        .run(batches, cancel)
                        .await
                        .map_err(|source| PipelineError::Source {
                            source_name: name,
                            source,
                        })
                }),
            ));
        }
        drop(batch_tx);
        let runtime = tokio::runtime::Handle::current();
        let detect = tokio::task::spawn_blocking({
            let runtime = runtime.clone();
            let stage = DetectStage {
                step,
                engines,
                outputs,
                observer,
                config,
            };
            move || runtime.block_on(stage.run(batch_rx, detected_tx))
        });
        let commit = tokio::task::spawn_blocking(move || {
            runtime.block_on(commit_stage(
                detected_rx,
                merged_rx,
                cold_rx,
                indexed,
                stores,
                positions,
                stats,
                retention,
            ))
        });
        // Each stage ends when the one before it closes its channel.
        let mut first_error = None;
        let stages = sources_running
            .into_iter()
            .chain([("detect", detect), ("commit", commit)]);
        for (stage, handle) in stages {
            let result = handle
                .await
                .unwrap_or_else(|error| Err(stage_failed(stage, &error)));
            if let Err(error) = result {
                cancel.cancel();
                first_error.get_or_insert(error);
            }
        }
        if let Some(compactor) = compactor {
            compactor.abort();
            let _ = compactor.await;
        }
        sharer.abort();
        let _ = sharer.await;
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// A batch of merged files for the commit stage, and where to say it is done.
type MergedFiles = (Vec<store::compaction::Merged>, oneshot::Sender<()>);

/// Every `interval_seconds`: plans a compaction among the files the index holds, merges the
/// groups (up to a few target sizes per pass, so the commit stage gets them soon) on a
/// blocking thread, hands them to the commit stage and waits for their commit; then deletes
/// the retirements past the grace period. A failure is logged and tried again next time:
/// compaction never stops intake.
async fn compactor(
    config: store::Config,
    indexed: Arc<AtomicU64>,
    merged_tx: mpsc::Sender<MergedFiles>,
    cancel: CancellationToken,
) {
    let options = config.compaction;
    let interval = Duration::from_secs(options.interval_seconds);
    let budget = options.target_file_mb.saturating_mul(4 << 20);
    let remote = match config
        .object_store
        .as_ref()
        .map(store::remote::Remote::open)
    {
        Some(Ok(remote)) => Some(remote),
        Some(Err(error)) => {
            tracing::warn!(%error, "compaction is off: the bucket cannot be reached");
            return;
        }
        None => None,
    };
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let max_seq = indexed.load(Ordering::Acquire);
        let (pass_config, pass_remote) = (config.clone(), remote.clone());
        let merged = tokio::task::spawn_blocking(move || {
            let offload = pass_remote.is_some();
            let groups = store::compaction::plan(
                &pass_config.data_dir,
                &options,
                chrono::Utc::now(),
                max_seq,
                offload,
            )?;
            // Offloaded groups are uploaded here too: the commit stage only renames them.
            store::compaction::merge_all(&pass_config, groups, pass_remote.as_ref(), budget)
        })
        .await;
        match merged {
            Ok(Ok(merged)) if !merged.is_empty() => {
                let (done_tx, done_rx) = oneshot::channel();
                if merged_tx.send((merged, done_tx)).await.is_err() {
                    return;
                }
                let _ = done_rx.await;
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "compaction failed; trying again later"),
            Err(error) => tracing::warn!(%error, "compaction stopped; trying again later"),
        }
        let (data_dir, pass_remote, grace) =
            (config.data_dir.clone(), remote.clone(), options.grace());
        let purge =
            move || store::compaction::purge_retired(&data_dir, pass_remote.as_ref(), grace);
        match tokio::task::spawn_blocking(purge).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "deleting retired files failed; trying again later")
            }
            Err(error) => tracing::warn!(%error, "deleting retired files stopped"),
        }
    }
}

/// Search days for the commit stage to make cold, and where to say how many went.
type ColdDays = (Vec<(chrono::NaiveDate, Vec<u8>)>, oneshot::Sender<usize>);

/// With a bucket: every `sync_seconds`, publishes this writer's commit log (and, shared with
/// other writers or with `hot_days`, its search indexes and active files), copies the other
/// writers' indexes (see [`crate::sharing`]), and hands the days past `hot_days` whose copy is
/// whole to the commit stage to make cold. A failure is logged and tried again next time.
async fn sharer(
    config: store::Config,
    hot_days: Option<u32>,
    cold_tx: mpsc::Sender<ColdDays>,
    cancel: CancellationToken,
) {
    let Some(interval) = config
        .object_store
        .as_ref()
        .map(|remote| Duration::from_secs(remote.sync_seconds))
    else {
        return;
    };
    let mut sharing = match crate::sharing::Sharing::open(&config, hot_days) {
        Ok(Some(sharing)) => sharing,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, "syncing with the bucket is off: it cannot be opened");
            return;
        }
    };
    loop {
        let pass = tokio::task::spawn_blocking(move || {
            let result = sharing.pass();
            (sharing, result)
        })
        .await;
        let result = match pass {
            Ok((returned, result)) => {
                sharing = returned;
                result
            }
            Err(error) => {
                tracing::warn!(%error, "syncing with the bucket stopped");
                return;
            }
        };
        match result {
            Ok(pass) => {
                if pass.uploaded_files + pass.copied_files > 0 {
                    tracing::debug!(
                        uploaded = pass.uploaded_files,
                        copied = pass.copied_files,
                        "synced with the bucket"
                    );
                }
                if !pass.cold_candidates.is_empty() {
                    let (done_tx, done_rx) = oneshot::channel();
                    if cold_tx.send((pass.cold_candidates, done_tx)).await.is_err() {
                        return;
                    }
                    if let Ok(made) = done_rx.await
                        && made > 0
                    {
                        tracing::info!(days = made, "search days moved to the bucket only");
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "syncing with the bucket failed; trying again later")
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

fn stage_failed(stage: &'static str, error: &tokio::task::JoinError) -> PipelineError {
    PipelineError::Stage {
        stage,
        reason: error.to_string(),
    }
}

/// What the detect stage hands to the commit stage.
#[derive(Debug)]
enum Detected {
    /// A batch after detection, with its alerts (already delivered to the outputs).
    Batch { batch: Batch, alerts: Vec<Alert> },
    /// Alerts raised by the wall clock (absence rules on a silent stream).
    Tick { alerts: Vec<Alert> },
    /// Commit everything sent before, with the detection state taken right after it.
    Close { detection: detect::Snapshot },
}

/// The detect stage's own parts.
struct DetectStage {
    step: DetectStep,
    engines: watch::Receiver<Arc<Engine>>,
    outputs: AlertOutputs,
    observer: Option<Observer>,
    config: Config,
}

impl DetectStage {
    async fn run(
        mut self,
        mut batches: mpsc::Receiver<Batch>,
        detected: mpsc::Sender<Detected>,
    ) -> Result<(), PipelineError> {
        let interval = Duration::from_millis(self.config.commit_interval_ms);
        // Events (or tick alerts) sent since the last commit, and when the first of them was.
        let mut uncommitted = 0usize;
        let mut first_uncommitted: Option<Instant> = None;
        loop {
            let received = tokio::select! {
                batch = batches.recv() => match batch {
                    Some(batch) => Some(batch),
                    None => break,
                },
                Ok(()) = self.engines.changed() => {
                    // Between two batches: the new rules see the next event first.
                    let engine = Arc::clone(&self.engines.borrow_and_update());
                    self.step.set_engine(engine);
                    continue;
                }
                () = tokio::time::sleep(IDLE_TICK) => None,
            };
            let message = match received {
                Some(mut batch) => {
                    let alerts = self.step.process(&mut batch);
                    self.observe(&batch.events, &alerts);
                    self.outputs.deliver(&alerts).await?;
                    uncommitted += batch.events.len().max(1);
                    Some(Detected::Batch { batch, alerts })
                }
                None => {
                    let alerts = self.step.tick(chrono::Utc::now().timestamp_micros());
                    self.observe(&[], &alerts);
                    self.outputs.deliver(&alerts).await?;
                    uncommitted += alerts.len();
                    (!alerts.is_empty()).then_some(Detected::Tick { alerts })
                }
            };
            if uncommitted > 0 {
                first_uncommitted.get_or_insert_with(Instant::now);
            }
            if let Some(message) = message {
                send(&detected, message).await?;
            }
            let due = uncommitted >= self.config.commit_max_events
                || first_uncommitted.is_some_and(|first| first.elapsed() >= interval);
            if due {
                uncommitted = 0;
                first_uncommitted = None;
                let detection = self.step.snapshot();
                send(&detected, Detected::Close { detection }).await?;
            }
        }
        if uncommitted > 0 {
            let detection = self.step.snapshot();
            send(&detected, Detected::Close { detection }).await?;
        }
        self.outputs.close().await;
        Ok(())
    }

    fn observe(&self, events: &[Event], alerts: &[Alert]) {
        if let Some(observer) = &self.observer
            && !(events.is_empty() && alerts.is_empty())
        {
            observer(events, alerts);
        }
    }
}

async fn send(detected: &mpsc::Sender<Detected>, message: Detected) -> Result<(), PipelineError> {
    detected
        .send(message)
        .await
        .map_err(|_| PipelineError::Stage {
            stage: "commit",
            reason: "it stopped before the detect stage".to_owned(),
        })
}

/// Commits at every `Close`, so each commit's positions and detection state belong together;
/// what arrives after the last `Close` is not committed (the detect stage always ends with
/// one, unless it failed).
#[allow(clippy::too_many_arguments)]
async fn commit_stage(
    mut detected: mpsc::Receiver<Detected>,
    mut merged: mpsc::Receiver<MergedFiles>,
    mut cold: mpsc::Receiver<ColdDays>,
    indexed: Arc<AtomicU64>,
    mut stores: Stores,
    positions: Checkpoint,
    stats: Arc<Stats>,
    retention: store::retention::Policy,
) -> Result<(), PipelineError> {
    // Retention runs at start and then at most once an hour, between commits.
    let mut retention_due = Instant::now();
    let mut pending = Commit::after(positions);
    loop {
        if retention.is_enabled() && Instant::now() >= retention_due {
            retention_due = Instant::now() + RETENTION_EVERY;
            let today = chrono::Utc::now().date_naive();
            let plan = stores.apply_retention(&retention, today)?;
            stats.add_retention(&plan);
            indexed.store(stores.indexed_seq(), Ordering::Release);
        }
        let message = tokio::select! {
            message = detected.recv() => message,
            Some((files, done)) = merged.recv() => {
                let summary = stores.commit_compaction(files)?;
                stats.add_compaction(&summary);
                indexed.store(stores.indexed_seq(), Ordering::Release);
                let _ = done.send(());
                continue;
            }
            Some((days, done)) = cold.recv() => {
                let made = stores.make_cold(&days)?;
                let _ = done.send(made);
                continue;
            }
        };
        let Some(message) = message else {
            break;
        };
        match message {
            Detected::Batch { batch, alerts } => pending.add(batch, alerts),
            Detected::Tick { alerts } => pending.alerts.extend(alerts),
            Detected::Close { detection } => {
                pending.detection = Some(detection);
                if !pending.is_empty() {
                    stores.commit(&pending)?;
                    indexed.store(stores.indexed_seq(), Ordering::Release);
                    stats.add_commit(pending.events.len());
                    count_past_retention(&pending.events, &retention, &stats);
                }
                pending.answer_receipts();
                pending = Commit::after(std::mem::take(&mut pending.positions));
            }
        }
    }
    Ok(())
}

/// Counts (and logs) the committed events already past their class's period: a backfill of
/// old data. They are stored like any other (a peer drops them silently on ingest); the next
/// retention run removes them unless an alert or a hold keeps them.
fn count_past_retention(
    events: &[event::Event],
    retention: &store::retention::Policy,
    stats: &Stats,
) {
    let Some(days) = retention.events else {
        return;
    };
    let today = chrono::Utc::now().date_naive();
    let Some(cutoff) = today.checked_sub_days(chrono::Days::new(u64::from(days))) else {
        return;
    };
    let Some(cutoff) = cutoff
        .and_hms_opt(0, 0, 0)
        .map(|midnight| midnight.and_utc().timestamp_micros())
    else {
        return;
    };
    let past = events.iter().filter(|event| event.time < cutoff).count();
    if past > 0 {
        stats.past_retention.inc_by(past as u64);
        tracing::warn!(
            events = past,
            days,
            "stored events older than the events' retention period (a backfill?); the next retention run removes them unless an alert or a legal hold keeps them"
        );
    }
}
