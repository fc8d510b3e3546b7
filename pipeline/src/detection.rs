//! The one detect step of every path (`serve`, `import`, `detect`): drop duplicate events,
//! run the rules with their state, count what passed. Built from the validated `[detect]`
//! table, so every path runs the same rules, lists and state limits.

use std::sync::Arc;

use detect::{Detector, Engine};
use event::Alert;
use ingest::{Batch, Deduper};

use crate::{PipelineError, Stats};

/// The engine of a `[detect]` table: the built-in pack unless left out, the rule files, the
/// list overrides. A rule file that does not compile is an error.
pub fn build_engine(config: &detect::Config) -> Result<Arc<Engine>, PipelineError> {
    let rules = config.load_rules().map_err(PipelineError::Rules)?;
    Ok(Arc::new(Engine::new(rules)))
}

/// Dedupe + detection, owning their state.
#[derive(Debug)]
pub struct DetectStep {
    detector: Detector,
    deduper: Deduper,
    stats: Arc<Stats>,
}

impl DetectStep {
    /// A step running `engine` with `config`'s state limits, remembering `dedupe_capacity`
    /// event ids, counting into `stats`.
    pub fn new(
        engine: Arc<Engine>,
        config: &detect::Config,
        dedupe_capacity: usize,
        stats: Arc<Stats>,
    ) -> DetectStep {
        DetectStep {
            detector: Detector::new(engine, config.limits()),
            deduper: Deduper::new(dedupe_capacity),
            stats,
        }
    }

    /// Continues from a stored detection state; state of rules no longer loaded is dropped.
    pub fn restore(&mut self, snapshot: &detect::Snapshot) -> Result<(), detect::DetectError> {
        self.detector.restore(snapshot)
    }

    /// Remembers `event_ids` (oldest first) as seen: the newest stored ones, at start.
    pub fn seed_dedupe<'a>(&mut self, event_ids: impl IntoIterator<Item = &'a str>) {
        self.deduper.seed(event_ids);
    }

    /// Drops the batch's events already seen, runs the rules over the rest in order, counts
    /// the batch, and returns the alerts.
    pub fn process(&mut self, batch: &mut Batch) -> Vec<Alert> {
        let duplicates = self.deduper.retain_new(&mut batch.events);
        let mut alerts = Vec::new();
        self.detector.process_batch(&batch.events, &mut alerts);
        self.stats.add_batch(batch, duplicates, &alerts);
        alerts
    }

    /// Alerts due by the wall clock `now_micros` (absence rules on a silent live stream).
    pub fn tick(&mut self, now_micros: i64) -> Vec<Alert> {
        let mut alerts = Vec::new();
        self.detector.tick(now_micros, &mut alerts);
        self.stats.add_alerts(&alerts);
        alerts
    }

    /// The detection state, to commit with the positions it belongs to.
    pub fn snapshot(&self) -> detect::Snapshot {
        self.detector.snapshot()
    }

    /// Swaps in reloaded rules between two batches, keeping the state of rules that remain.
    pub fn set_engine(&mut self, engine: Arc<Engine>) {
        self.detector.set_engine(engine);
    }

    /// The counters this step adds to.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }
}
