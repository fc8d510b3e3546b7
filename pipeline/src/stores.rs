//! Both stores as one: the columnar store (Parquet, the source of truth) and the search index
//! derived from it, opened, recovered, caught up and committed together.
//!
//! A commit goes to Parquet first, with the resume state in the same atomic store commit;
//! then the same events are indexed under the store commit's sequence number. A crash between
//! the two leaves the index behind, never ahead: on the next open the events of the missed
//! commits are read back from Parquet (their redacted raw body and cluster), decoded again
//! (same `event_id`s) and indexed, with the rule ids of the alerts those commits stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
        let mut index = SearchIndex::open(&search_dir(&config.data_dir), index_options)?;
        catch_up(&mut index, &config.data_dir)?;
        Ok((Stores { columnar, index }, resume))
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.columnar.data_dir()
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

    /// Retention: deletes the day partitions and day indexes older than `days` whole UTC days
    /// before today. Parquet goes first: an index day without its Parquet is dropped at the
    /// next run, never the reverse (search never points at events SQL cannot see for long).
    pub fn apply_retention(&mut self, days: u32) -> Result<(), PipelineError> {
        let today = chrono::Utc::now().date_naive();
        let Some(before) = today.checked_sub_days(chrono::Days::new(u64::from(days))) else {
            return Ok(());
        };
        self.columnar.drop_days_before(before)?;
        let dropped = self.index.drop_days_before(before)?;
        if dropped > 0 {
            tracing::info!(days = dropped, %before, "retention: old search indexes deleted");
        }
        Ok(())
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
fn catch_up(index: &mut SearchIndex, data_dir: &Path) -> Result<u64, PipelineError> {
    let after = index.committed_seq();
    let events = store::read_back::files_after(data_dir, store::commit::EVENTS_DIR, after)?;
    let alerts = store::read_back::files_after(data_dir, store::commit::ALERTS_DIR, after)?;
    if events.is_empty() && alerts.is_empty() {
        return Ok(0);
    }
    let mut by_seq: BTreeMap<u64, (Vec<PathBuf>, Vec<PathBuf>)> = BTreeMap::new();
    for (seq, path) in events {
        by_seq.entry(seq).or_default().0.push(path);
    }
    for (seq, path) in alerts {
        by_seq.entry(seq).or_default().1.push(path);
    }
    let mut indexed = 0u64;
    for (seq, (event_files, alert_files)) in by_seq {
        let mut events = Vec::new();
        for path in &event_files {
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
        let mut fired = Vec::new();
        for path in &alert_files {
            fired.extend(store::read_back::read_alert_events(path)?);
        }
        let mut rules = search::RuleHits::default();
        for (rule_id, event_ids) in &fired {
            for event_id in event_ids {
                rules.insert(event_id, rule_id);
            }
        }
        indexed += events.len() as u64;
        index.add_with_rules(&events, &rules)?;
        index.commit(seq)?;
    }
    tracing::info!(
        events = indexed,
        after,
        "search index caught up with the store"
    );
    Ok(indexed)
}
