//! Both stores as one: the columnar store (Parquet, the source of truth) and the search index
//! derived from it, opened, recovered, caught up and committed together.
//!
//! A commit goes to Parquet first, with the resume state in the same atomic store commit;
//! then the same events are indexed under the store commit's sequence number. A crash between
//! the two leaves the index behind, never ahead: on the next open the events of the missed
//! commits are read back from Parquet (their redacted raw body and cluster), decoded again
//! (same `event_id`s) and indexed, with the rule ids of the alerts those commits stored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use search::{IndexOptions, SearchIndex};
use serde_json::value::to_raw_value;
use store::{ColumnarStore, CommitInfo};

use crate::PipelineError;
use crate::commit::{Commit, Resume};

/// Directory of the search indexes under the data directory.
pub const SEARCH_DIR: &str = "search";

/// The search index directory of a data directory.
pub fn search_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(SEARCH_DIR)
}

/// The columnar store and the search index next to it.
#[derive(Debug)]
pub struct Stores {
    columnar: ColumnarStore,
    index: SearchIndex,
}

impl Stores {
    /// Opens (recovering) the data directory of `config` and its search index, indexes what
    /// the store committed after the index, and returns the state to resume from.
    /// Synchronous and possibly long (catch-up): async callers run it in `spawn_blocking`.
    pub fn open(
        config: &store::Config,
        index_options: IndexOptions,
    ) -> Result<(Stores, Resume), PipelineError> {
        let columnar = ColumnarStore::open(config)?;
        let resume = match columnar.state() {
            Some(raw) => serde_json::from_str(raw.get()).map_err(PipelineError::ResumeState)?,
            None => Resume::default(),
        };
        let cache_days = index_options.cold_cache_days;
        let mut index = SearchIndex::open(&search_dir(&config.data_dir), index_options)?;
        // With a bucket, days made cold are fetched from there (before catch-up may write).
        if let Some(bucket) = crate::sharing::BucketDays::open(config)? {
            index.set_cold_store(std::sync::Arc::new(bucket), cache_days);
        }
        catch_up(&mut index, &config.data_dir, columnar.stats().last_seq)?;
        if config.writer().is_some() {
            // Answers for every writer sharing the bucket: their indexes as copied here.
            index
                .searcher()
                .with_peers(&crate::sharing::peers_dir(&config.data_dir));
        }
        Ok((Stores { columnar, index }, resume))
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.columnar.data_dir()
    }

    /// Makes the search days `days` cold (see `search::SearchIndex::make_cold`), each with the
    /// `meta.json` its copy in the bucket has. Returns how many went.
    pub fn make_cold(&mut self, days: &[(NaiveDate, Vec<u8>)]) -> Result<usize, PipelineError> {
        let mut made = 0;
        for (day, meta) in days {
            if self.index.make_cold(*day, meta)? {
                made += 1;
            }
        }
        Ok(made)
    }

    /// A searcher over the index (it sees each index commit as it happens).
    pub fn searcher(&self) -> search::Searcher {
        self.index.searcher()
    }

    /// Makes `commit` durable in one atomic store commit with its resume state, then indexes
    /// its events under the same sequence number. A commit with no rows still stores its
    /// positions and detection state.
    pub fn commit(&mut self, commit: &Commit) -> Result<CommitInfo, PipelineError> {
        let state = to_raw_value(&commit.resume()).map_err(PipelineError::ResumeState)?;
        let info = self.columnar.commit(
            &commit.events,
            &commit.alerts,
            &commit.dead_letters,
            Some(&state),
        )?;
        if info.seq > self.index.committed_seq() {
            self.index.add(&commit.events, &commit.alerts)?;
            self.index.commit(info.seq)?;
        }
        Ok(info)
    }

    /// Retention by class with the data directory's legal holds, as of `today`: one chained
    /// store commit removes and rewrites the partitions (Parquet first), then the index drops
    /// the days whose events all went and deletes the events that went from the days that keep
    /// some, committed under the same seq. A crash between the two is caught up on open
    /// ([`catch_up`] rebuilds those days from their Parquet).
    pub fn apply_retention(
        &mut self,
        policy: &store::retention::Policy,
        today: chrono::NaiveDate,
    ) -> Result<store::retention::Plan, PipelineError> {
        let holds = store::holds::list(self.columnar.data_dir())?;
        let plan = self.columnar.apply_retention(policy, &holds, today)?;
        let Some(seq) = plan.seq else {
            return Ok(plan);
        };
        let mut dropped = 0;
        for day in &plan.emptied_days {
            dropped += usize::from(self.index.drop_day(*day)?);
        }
        if dropped > 0 {
            tracing::info!(days = dropped, "retention: old search indexes deleted");
        }
        for (day, event_ids) in &plan.removed_event_ids {
            if !plan.emptied_days.contains(day) {
                self.index.delete_events(*day, event_ids)?;
            }
        }
        self.index.commit(seq)?;
        for held in &plan.held {
            tracing::info!(table = held.table, partition = %held.partition, holds = ?held.holds, "retention: kept for a legal hold");
        }
        Ok(plan)
    }

    /// The seq of the last commit the search index holds: compaction merges only files of
    /// commits up to it (a merged file must not mix rows the index holds with rows it has not).
    pub fn indexed_seq(&self) -> u64 {
        self.index.committed_seq()
    }

    /// Commits merged files (see [`store::compaction`]) in one chained compaction commit; the
    /// index, whose rows did not change, moves to the same seq.
    pub fn commit_compaction(
        &mut self,
        merged: Vec<store::compaction::Merged>,
    ) -> Result<store::compaction::Summary, PipelineError> {
        let summary = self.columnar.commit_compaction(merged)?;
        if let Some(seq) = summary.seq {
            self.index.commit(seq)?;
        }
        Ok(summary)
    }

    /// Compaction here and now (the `kubetrail compact` command): merges, commits, and deletes
    /// retirements past the grace period.
    pub fn compact(
        &mut self,
        options: &store::compaction::Options,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<store::compaction::Summary, PipelineError> {
        let summary = self
            .columnar
            .compact(options, now, self.index.committed_seq())?;
        if let Some(seq) = summary.seq {
            self.index.commit(seq)?;
        }
        Ok(summary)
    }

    /// The `event_id`s of the newest `limit` (or a few more) stored events, oldest first.
    pub fn recent_event_ids(&self, limit: usize) -> Result<Vec<String>, PipelineError> {
        Ok(store::read_back::recent_event_ids(
            self.columnar.data_dir(),
            limit,
        )?)
    }

    /// Lets the index finish its segment merges instead of abandoning them.
    pub fn close(self) -> Result<(), PipelineError> {
        self.index.close()?;
        Ok(())
    }
}

/// Indexes the events of store commits the index has not seen, one store commit at a time.
/// Days a retention commit changed after the index's seq are rebuilt whole from their
/// remaining Parquet (the index may still hold events retention removed).
fn catch_up(index: &mut SearchIndex, data_dir: &Path, last_seq: u64) -> Result<u64, PipelineError> {
    let after = index.committed_seq();
    let mut rebuilt: BTreeSet<NaiveDate> = BTreeSet::new();
    for entry in store::ledger::entries_after(data_dir, after)? {
        if entry.kind != store::ledger::CommitKind::Retention {
            continue;
        }
        rebuilt.extend(entry.removed.iter().filter_map(|path| event_day(path)));
    }
    // A merged file holding rows of commits on both sides of `after` (compaction keeps to
    // indexed commits, so only if the index was rebuilt or lost meanwhile): its day is
    // rebuilt whole rather than indexing rows twice.
    let mut events = Vec::new();
    for (part, path) in store::read_back::live_files(data_dir, store::commit::EVENTS_DIR)? {
        if part.last <= after {
            continue;
        }
        if part.first <= after {
            rebuilt.extend(file_day(&path));
        } else {
            events.push((part.last, path));
        }
    }
    let alerts = store::read_back::files_after(data_dir, store::commit::ALERTS_DIR, after)?;
    let in_rebuilt = |path: &Path| file_day(path).is_some_and(|day| rebuilt.contains(&day));
    if events.is_empty() && alerts.is_empty() && rebuilt.is_empty() {
        return Ok(0);
    }
    let mut indexed = 0u64;
    if !rebuilt.is_empty() {
        let mut rules = Vec::new();
        for (_, path) in store::read_back::files_after(data_dir, store::commit::ALERTS_DIR, 0)? {
            rules.extend(store::read_back::read_alert_events(&path)?);
        }
        for day in &rebuilt {
            index.drop_day(*day)?;
            let files = store::read_back::day_files(data_dir, store::commit::EVENTS_DIR, *day)?;
            indexed += index_files(index, &files, &rules)?;
        }
        tracing::info!(
            days = rebuilt.len(),
            "search days changed by retention rebuilt from Parquet"
        );
    }
    let mut by_seq: BTreeMap<u64, (Vec<PathBuf>, Vec<PathBuf>)> = BTreeMap::new();
    for (seq, path) in events {
        if !in_rebuilt(&path) {
            by_seq.entry(seq).or_default().0.push(path);
        }
    }
    for (seq, path) in alerts {
        by_seq.entry(seq).or_default().1.push(path);
    }
    for (seq, (event_files, alert_files)) in by_seq {
        let mut fired = Vec::new();
        for path in &alert_files {
            fired.extend(store::read_back::read_alert_events(path)?);
        }
        indexed += index_files(index, &event_files, &fired)?;
        index.commit(seq)?;
    }
    if index.committed_seq() < last_seq {
        index.commit(last_seq)?;
    }
    tracing::info!(
        events = indexed,
        after,
        "search index caught up with the store"
    );
    Ok(indexed)
}

/// The day of an events file (`…/date=…/hour=…/part-…`).
fn file_day(path: &Path) -> Option<NaiveDate> {
    path.parent()
        .and_then(Path::parent)
        .and_then(|day| day.file_name())
        .and_then(|name| name.to_str())
        .and_then(|name| NaiveDate::parse_from_str(name, "date=%Y-%m-%d").ok())
}

/// The day of an events file path under the data directory (`events/date=…/hour=…/…`).
fn event_day(path: &str) -> Option<NaiveDate> {
    let rest = path.strip_prefix("events/date=")?;
    NaiveDate::parse_from_str(rest.get(..10)?, "%Y-%m-%d").ok()
}

/// Decodes the events of `files` again from their stored raw body and queues them, with the
/// rule ids of `fired` (alerts as `(rule_id, event_ids)`).
fn index_files(
    index: &mut SearchIndex,
    files: &[PathBuf],
    fired: &[(String, Vec<String>)],
) -> Result<u64, PipelineError> {
    let mut events = Vec::new();
    for path in files {
        for (cluster, raw) in store::read_back::read_event_sources(path)? {
            let options = event::DecodeOptions {
                cluster,
                keep_request_received: true,
            };
            if let Err(error) = event::decode_line(raw.as_bytes(), &options, &mut events) {
                tracing::warn!(path = %path.display(), %error, "a stored event no longer decodes; not indexed");
            }
        }
    }
    let mut rules = search::RuleHits::default();
    for (rule_id, event_ids) in fired {
        for event_id in event_ids {
            rules.insert(event_id, rule_id);
        }
    }
    index.add_with_rules(&events, &rules)?;
    Ok(events.len() as u64)
}
