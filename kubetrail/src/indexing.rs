//! The search index next to the columnar store: opened with it, caught up from its Parquet
//! files, and committed right after each store commit under the same sequence number.
//!
//! Parquet is the source of truth; the index is derived from it. A crash between the two
//! commits leaves the index behind, never ahead; on the next start the events of the missed
//! commits are read back from Parquet (their redacted raw body and cluster), decoded again
//! (same `event_id`s) and indexed, with the rule ids of the alerts those commits stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use event::{Alert, Event};
use search::{IndexOptions, SearchIndex};

/// Directory of the search indexes under the data directory.
pub const SEARCH_DIR: &str = "search";

pub fn search_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(SEARCH_DIR)
}

/// Opens the index under `data_dir` and indexes what the store committed after it.
pub fn open(data_dir: &Path, options: IndexOptions) -> anyhow::Result<SearchIndex> {
    let dir = search_dir(data_dir);
    let mut index = SearchIndex::open(&dir, options)
        .with_context(|| format!("failed to open the search index in {}", dir.display()))?;
    catch_up(&mut index, data_dir)?;
    Ok(index)
}

/// Indexes the events of store commits the index has not seen, one store commit at a time.
pub fn catch_up(index: &mut SearchIndex, data_dir: &Path) -> anyhow::Result<u64> {
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

/// Indexes one committed batch under the store commit's sequence number.
pub fn index_commit(
    index: &mut SearchIndex,
    seq: u64,
    events: &[Event],
    alerts: &[Alert],
) -> anyhow::Result<()> {
    if seq <= index.committed_seq() {
        return Ok(());
    }
    index.add(events, alerts)?;
    index
        .commit(seq)
        .context("failed to commit the search index")?;
    Ok(())
}

/// Retention: deletes the day partitions and day indexes older than `days` whole UTC days
/// before today. Parquet goes first: an index day without its Parquet is dropped at the next
/// run, never the reverse (search never points at events SQL cannot see for long).
pub fn apply_retention(
    store: &mut store::ColumnarStore,
    index: &mut SearchIndex,
    days: u32,
) -> anyhow::Result<()> {
    let today = chrono::Utc::now().date_naive();
    let Some(before) = today.checked_sub_days(chrono::Days::new(u64::from(days))) else {
        return Ok(());
    };
    store
        .drop_days_before(before)
        .context("retention failed on the columnar store")?;
    let dropped = index
        .drop_days_before(before)
        .context("retention failed on the search index")?;
    if dropped > 0 {
        tracing::info!(days = dropped, %before, "retention: old search indexes deleted");
    }
    Ok(())
}
