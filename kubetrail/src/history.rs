//! Files read once, front to back: the shared path of `import` (detect + store) and `detect`
//! (detect only). Detection runs the same `Engine::evaluate_batch` as the live pipeline.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use anyhow::{Context, anyhow};
use detect::Detector;
use event::Alert;
use ingest::{Batch, Deduper, ReadOptions};
use store::ColumnarStore;

use crate::pending::Pending;

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
}

/// Where events and alerts go.
pub struct Outputs<'a> {
    /// Store to commit into (import), or none (detect).
    /// The columnar store and the search index next to it.
    pub store: Option<(ColumnarStore, search::SearchIndex)>,
    /// Events per store commit.
    pub commit_max_events: usize,
    /// Called with each batch's alerts, in file order.
    pub on_alerts: &'a mut dyn FnMut(&[Alert]) -> anyhow::Result<()>,
    /// Called with the number of input bytes read so far.
    pub on_progress: &'a mut dyn FnMut(u64),
}

/// Reads `paths` front to back, dedupes, runs the rules, and commits to the store if there is
/// one. Parquet encoding runs on a second thread so reading and detection are not held up.
/// Each store commit carries the file positions read so far (`options.start` included), so a
/// later run given them as its start reads nothing twice.
pub fn run(
    paths: &[PathBuf],
    options: &ReadOptions,
    mut detector: Detector,
    dedupe_capacity: usize,
    outputs: Outputs<'_>,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let Outputs {
        store,
        commit_max_events,
        on_alerts,
        on_progress,
    } = outputs;
    let mut summary = Summary {
        files: paths.len(),
        ..Summary::default()
    };
    let mut deduper = Deduper::new(dedupe_capacity);
    let (commit_tx, commit_rx) = sync_channel::<Pending>(1);
    let committer = store.map(|store| std::thread::spawn(move || commit_loop(store, commit_rx)));
    let storing = committer.is_some();
    let mut pending = Pending::default();
    let mut on_batch = |mut batch: Batch| -> anyhow::Result<()> {
        let duplicates = deduper.retain_new(&mut batch.events);
        let mut alerts = Vec::new();
        detector.process_batch(&batch.events, &mut alerts);
        summary.lines += batch.stats.lines;
        summary.bytes += batch.stats.bytes;
        summary.events += batch.events.len() as u64;
        summary.filtered += batch.stats.filtered;
        summary.duplicates += duplicates as u64;
        summary.dead_letters += batch.dead_letters.len() as u64;
        for alert in &alerts {
            *summary
                .alerts_by_rule
                .entry(alert.rule_id.clone())
                .or_default() += 1;
        }
        on_alerts(&alerts)?;
        if storing {
            pending.add(batch, alerts);
            if pending.events.len() >= commit_max_events {
                pending.detection = Some(detector.snapshot());
                commit_tx
                    .send(std::mem::take(&mut pending))
                    .map_err(|_| anyhow!("the store stopped"))?;
            }
        }
        Ok(())
    };
    let read = ingest::read_files(paths, options, &mut on_batch, &mut *on_progress);
    if storing && read.is_ok() {
        let mut last = std::mem::take(&mut pending);
        last.detection = Some(detector.snapshot());
        if !last.is_empty() {
            // A send error means the committer failed; its error is reported below.
            let _ = commit_tx.send(last);
        }
    }
    drop(commit_tx);
    if let Some(committer) = committer {
        summary.commits = committer
            .join()
            .map_err(|_| anyhow!("the store thread panicked"))??;
    }
    summary.skipped_files = read.context("failed to read input")?.skipped_files;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn commit_loop(
    (mut store, mut index): (ColumnarStore, search::SearchIndex),
    pending: Receiver<Pending>,
) -> anyhow::Result<u64> {
    let mut commits = 0;
    for batch in pending {
        batch.commit_to(&mut store, Some(&mut index))?;
        commits += 1;
    }
    // Lets the index finish its segment merges instead of abandoning them.
    index.close().context("failed to close the search index")?;
    Ok(commits)
}
