//! Files read once, front to back: `import` (detect + both stores) and `detect` (detect only).
//! The same [`DetectStep`] as the live pipeline runs over the same batches, so the same events
//! with the same `[detect]` table give the same alerts on every path.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use event::Alert;
use ingest::{Batch, ReadOptions};

use crate::commit::Commit;
use crate::{DetectStep, PipelineError, Stats, Stores};

/// Totals of one run over files.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub files: usize,
    pub lines: u64,
    pub bytes: u64,
    pub events: u64,
    pub filtered: u64,
    pub duplicates: u64,
    pub dead_letters: u64,
    /// Files skipped because an earlier import read them to their end.
    pub skipped_files: u64,
    pub alerts_by_rule: BTreeMap<String, u64>,
    pub commits: u64,
    pub seconds: f64,
}

impl Summary {
    pub fn alerts(&self) -> u64 {
        self.alerts_by_rule.values().sum()
    }

    fn of(stats: &Stats, files: usize, skipped_files: u64, seconds: f64) -> Summary {
        Summary {
            files,
            lines: stats.lines.get(),
            bytes: stats.bytes.get(),
            events: stats.events.get(),
            filtered: stats.filtered.get(),
            duplicates: stats.duplicates.get(),
            dead_letters: stats.dead_letters.get(),
            skipped_files,
            alerts_by_rule: stats.alerts_by_rule(),
            commits: stats.commits.get(),
            seconds,
        }
    }
}

/// Called with each batch's alerts, in file order; an error stops the read.
pub type OnAlerts<'a> = &'a mut dyn FnMut(&[Alert]) -> Result<(), String>;
/// Called with the number of input bytes read so far.
pub type OnProgress<'a> = &'a mut dyn FnMut(u64);

/// `detect`: runs `step` over `paths`, handing alerts to `on_alerts`; stores nothing.
pub fn detect(
    paths: &[PathBuf],
    options: &ReadOptions,
    step: DetectStep,
    on_alerts: OnAlerts<'_>,
) -> Result<Summary, PipelineError> {
    run(paths, options, step, None, on_alerts, &mut |_| {})
}

/// What `import` does besides reading.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub store: store::Config,
    pub search: search::IndexOptions,
    /// Events per store commit.
    pub commit_max_events: usize,
}

/// `import`: opens the data directory, skips what an earlier run (import or `serve`) already
/// stored and continues from its detection state, then runs `step` over `paths` and commits
/// to both stores every `commit_max_events` events, each commit with the positions read so
/// far and the detection state after them.
pub fn import(
    paths: &[PathBuf],
    options: &ReadOptions,
    mut step: DetectStep,
    import: &ImportOptions,
    on_progress: OnProgress<'_>,
) -> Result<Summary, PipelineError> {
    let (stores, resume) = Stores::open(&import.store, import.search.clone())?;
    if let Some(snapshot) = &resume.detection
        && let Err(error) = step.restore(snapshot)
    {
        tracing::warn!(%error, "starting with empty detection state");
    }
    let options = ReadOptions {
        start: resume.positions,
        ..options.clone()
    };
    run(
        paths,
        &options,
        step,
        Some((stores, import.commit_max_events)),
        &mut |_| Ok(()),
        on_progress,
    )
}

/// Reads `paths` front to back, runs the step, and commits to the stores if there are any.
/// Store commits run on a second thread so reading and detection are not held up.
fn run(
    paths: &[PathBuf],
    options: &ReadOptions,
    mut step: DetectStep,
    stores: Option<(Stores, usize)>,
    on_alerts: OnAlerts<'_>,
    on_progress: OnProgress<'_>,
) -> Result<Summary, PipelineError> {
    let started = Instant::now();
    let stats = Arc::clone(step.stats());
    let (commit_tx, commit_rx) = sync_channel::<Commit>(1);
    let commit_max_events = stores.as_ref().map_or(usize::MAX, |(_, max)| *max);
    let committer = stores.map(|(stores, _)| {
        let stats = Arc::clone(&stats);
        std::thread::spawn(move || commit_loop(stores, &commit_rx, &stats))
    });
    let storing = committer.is_some();
    let mut pending = Commit::after(options.start.clone());
    let on_batch = |mut batch: Batch| -> Result<(), PipelineError> {
        let alerts = step.process(&mut batch);
        on_alerts(&alerts).map_err(|message| PipelineError::Callback { message })?;
        if storing {
            pending.add(batch, alerts);
            if pending.events.len() >= commit_max_events {
                pending.detection = Some(step.snapshot());
                let positions = pending.positions.clone();
                let full = std::mem::replace(&mut pending, Commit::after(positions));
                commit_tx.send(full).map_err(|_| committer_stopped())?;
            }
        }
        Ok(())
    };
    let read = ingest::read_files(paths, options, on_batch, &mut *on_progress);
    if storing && read.is_ok() {
        pending.detection = Some(step.snapshot());
        if !pending.is_empty() {
            // A send error means the committer failed; its error is reported below.
            let _ = commit_tx.send(pending);
        }
    }
    drop(commit_tx);
    if let Some(committer) = committer {
        committer.join().map_err(|_| PipelineError::Stage {
            stage: "commit",
            reason: "the store thread panicked".to_owned(),
        })??;
    }
    let read = read.map_err(|error| match error {
        ingest::IngestError::Consumer { source } => match source.downcast::<PipelineError>() {
            Ok(error) => *error,
            Err(source) => PipelineError::Read(ingest::IngestError::Consumer { source }),
        },
        error => PipelineError::Read(error),
    })?;
    Ok(Summary::of(
        &stats,
        paths.len(),
        read.skipped_files,
        started.elapsed().as_secs_f64(),
    ))
}

fn committer_stopped() -> PipelineError {
    PipelineError::Stage {
        stage: "commit",
        reason: "the store thread stopped".to_owned(),
    }
}

fn commit_loop(
    mut stores: Stores,
    commits: &Receiver<Commit>,
    stats: &Stats,
) -> Result<(), PipelineError> {
    for commit in commits {
        stores.commit(&commit)?;
        stats.add_commit(commit.events.len());
    }
    stores.close()
}
