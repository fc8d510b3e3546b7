//! The writing side: day indexes, their writers, commits, crash cleanup and retention.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use event::{Alert, Event};
use serde::{Deserialize, Serialize};
use tantivy::indexer::IndexWriterOptions;
use tantivy::query::RangeQuery;
use tantivy::{IndexWriter, Term};
use tracing::{debug, info, warn};

use crate::SearchError;
use crate::cold::{self, ColdStore};
use crate::day::DayHandle;
use crate::files::{self, State, day_dir_name, day_of, day_range};
use crate::schema::build_doc;
use crate::searcher::{Searcher, Shared, View};

/// tantivy's minimum memory per indexing thread.
const MEMORY_BUDGET_NUM_BYTES_MIN: usize = 15_000_000;

/// How the writers work. Deserialisable so it can sit in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexOptions {
    /// Indexing memory shared by the open writers (each gets `memory_budget_bytes /
    /// max_open_writers`, at least tantivy's minimum of 15 MB per indexing thread).
    pub memory_budget_bytes: usize,
    /// Indexing threads per writer.
    pub indexing_threads: usize,
    /// Merge threads per writer.
    pub merge_threads: usize,
    /// Day indexes with an open writer at once. A new day beyond this closes the least
    /// recently used writer (committing its documents invisibly, see `commit`).
    pub max_open_writers: usize,
    /// A writer that received nothing for this long is closed at the next commit.
    pub writer_idle_secs: u64,
    /// Index token positions of the raw text, for phrase queries (`"kube-system"`). Applies to
    /// day indexes created from now on.
    pub positions: bool,
    /// With a bucket: day indexes older than this many days (by their day) leave local disk
    /// once copied to the bucket, and are fetched back when a search needs them (see
    /// `cold.rs`). `None`: every day stays local.
    pub hot_days: Option<u32>,
    /// Days fetched back from the bucket that stay cached on local disk.
    pub cold_cache_days: usize,
}

impl Default for IndexOptions {
    fn default() -> IndexOptions {
        IndexOptions {
            memory_budget_bytes: 64 * 1024 * 1024,
            indexing_threads: 1,
            merge_threads: 1,
            max_open_writers: 2,
            writer_idle_secs: 300,
            positions: true,
            hot_days: None,
            cold_cache_days: 7,
        }
    }
}

impl IndexOptions {
    /// The options of a bulk import with `threads` indexing threads (default: one per CPU, at
    /// most 4): the default memory per thread, so segments are as large as with one.
    pub fn for_import(threads: Option<usize>) -> IndexOptions {
        let threads = threads
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |n| usize::from(n).min(4))
            })
            .max(1);
        let defaults = IndexOptions::default();
        IndexOptions {
            indexing_threads: threads,
            memory_budget_bytes: defaults.memory_budget_bytes * threads,
            ..defaults
        }
    }

    /// Memory per indexing thread of one writer.
    fn thread_budget(&self) -> usize {
        let per_writer = self.memory_budget_bytes / self.max_open_writers.max(1);
        (per_writer / self.indexing_threads.max(1)).max(MEMORY_BUDGET_NUM_BYTES_MIN)
    }
}

struct DayWriter {
    writer: IndexWriter,
    /// Holds documents not yet committed.
    dirty: bool,
    last_used: Instant,
}

/// Which rules fired on which events: event id → rule ids, borrowed from the caller.
#[derive(Debug, Default)]
pub struct RuleHits<'a> {
    by_event: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> RuleHits<'a> {
    /// The rules of `alerts`, on every event each alert names.
    pub fn from_alerts(alerts: &'a [Alert]) -> RuleHits<'a> {
        let mut hits = RuleHits::default();
        for alert in alerts {
            for event_id in &alert.event_ids {
                hits.insert(event_id, &alert.rule_id);
            }
        }
        hits
    }

    /// Records that `rule_id` fired on `event_id`.
    pub fn insert(&mut self, event_id: &'a str, rule_id: &'a str) {
        self.by_event.entry(event_id).or_default().push(rule_id);
    }
}

/// The search store's writer: one tantivy index per UTC day of event time under `dir`, each
/// with its own writer while in use. One per process (a lock file guards the directory).
///
/// Every document carries the commit seq it belongs to (`committed_seq() + 1` when it was
/// added, which is at most the seq it is committed under). `_state.json` holds the last fully
/// committed seq; readers ignore documents above it, and `open` deletes them, so a crash
/// between the commits of two day indexes never leaves half a commit visible.
pub struct SearchIndex {
    dir: PathBuf,
    options: IndexOptions,
    _lock: File,
    seq: u64,
    days: BTreeMap<NaiveDate, DayHandle>,
    writers: BTreeMap<NaiveDate, DayWriter>,
    /// Writers closed in the background (waiting for their merges).
    closing: Vec<(NaiveDate, JoinHandle<()>)>,
    /// Days that received documents since the last commit.
    touched: BTreeSet<NaiveDate>,
    /// Days whose background close finished since the last commit.
    reload_pending: BTreeSet<NaiveDate>,
    /// Events of days before this were dropped by retention and are not indexed again.
    floor: Option<NaiveDate>,
    /// Days whose index is in the bucket only (see `cold.rs`).
    cold: BTreeSet<NaiveDate>,
    /// Where cold days are, once set.
    cold_store: Option<Arc<dyn ColdStore>>,
    poisoned: bool,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("dir", &self.dir)
            .field("seq", &self.seq)
            .field("days", &self.days.len())
            .field("open_writers", &self.writers.len())
            .finish()
    }
}

fn lock_dir(dir: &Path) -> Result<File, SearchError> {
    let path = dir.join(files::LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| SearchError::io(format!("open {}", path.display()), error))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SearchError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(SearchError::io(format!("lock {}", path.display()), error))
        }
    }
}

impl SearchIndex {
    /// Opens (creating) the index set under `dir`, and removes any document committed to a
    /// day index by a commit that did not finish (seq above `_state.json`'s).
    pub fn open(dir: &Path, options: IndexOptions) -> Result<SearchIndex, SearchError> {
        fs::create_dir_all(dir)
            .map_err(|error| SearchError::io(format!("create {}", dir.display()), error))?;
        let lock = lock_dir(dir)?;
        files::remove_trash(dir)?;
        let seq = files::read_state(dir)?.map_or(0, |state| state.seq);
        let mut cold = cold::cold_days(dir)?;
        let mut days = BTreeMap::new();
        for (day, path) in files::list_days(dir)? {
            if !path.join("meta.json").exists() {
                // Created but never initialised (a crash inside `Index::create`): no data.
                warn!(path = %path.display(), "removing an uninitialised search day index");
                fs::remove_dir_all(&path).map_err(|error| {
                    SearchError::io(format!("remove {}", path.display()), error)
                })?;
                continue;
            }
            files::remove_interrupted_writes(&path)?;
            let handle = DayHandle::open(day, &path)?;
            if handle.payload_seq()?.is_some_and(|payload| payload > seq) {
                rollback_day(&handle, seq, &options)?;
                handle.reader.reload()?;
            }
            days.insert(day, handle);
        }
        // Cold and local: a crash between recording a day cold and deleting it. Local wins.
        let both: Vec<NaiveDate> = cold
            .iter()
            .filter(|day| days.contains_key(*day))
            .copied()
            .collect();
        if !both.is_empty() {
            for day in &both {
                cold.remove(day);
            }
            cold::write_cold_days(dir, &cold)?;
        }
        info!(dir = %dir.display(), seq, days = days.len(), cold = cold.len(), "opened search index");
        let shared = Arc::new(Shared::new(
            dir.to_path_buf(),
            View::build(seq, days.values()),
        ));
        shared.set_cold_days(cold.clone());
        Ok(SearchIndex {
            dir: dir.to_path_buf(),
            options,
            _lock: lock,
            seq,
            days,
            writers: BTreeMap::new(),
            closing: Vec::new(),
            touched: BTreeSet::new(),
            reload_pending: BTreeSet::new(),
            floor: None,
            cold,
            cold_store: None,
            poisoned: false,
            shared,
        })
    }

    /// Where the cold days are (see `cold.rs`): searches fetch the cold days they need from
    /// there (keeping `cache_days` of them), writes to a cold day bring it back first. Set it
    /// before anything writes to a cold day.
    pub fn set_cold_store(&mut self, store: Arc<dyn ColdStore>, cache_days: usize) {
        self.shared.set_cold_cache(cold::ColdCache::new(
            Arc::clone(&store),
            &self.dir,
            cache_days,
        ));
        self.cold_store = Some(store);
    }

    /// Days whose index is in the bucket only.
    pub fn cold_days(&self) -> Vec<NaiveDate> {
        self.cold.iter().copied().collect()
    }

    /// Makes `day` cold: its index, copied to the bucket as `meta.json` `published_meta`
    /// says, leaves local disk. Nothing happens (`false`) when the day has uncommitted
    /// documents or its `meta.json` changed since that copy (the copy is not whole).
    pub fn make_cold(
        &mut self,
        day: NaiveDate,
        published_meta: &[u8],
    ) -> Result<bool, SearchError> {
        if self.poisoned {
            return Err(SearchError::Poisoned);
        }
        if self.cold_store.is_none() || !self.days.contains_key(&day) || self.touched.contains(&day)
        {
            return Ok(false);
        }
        if let Some(writer) = self.writers.get(&day) {
            if writer.dirty {
                return Ok(false);
            }
            if let Some(writer) = self.writers.remove(&day) {
                self.close_in_background(day, writer.writer);
            }
        }
        // Merges finish before the comparison: the meta it reads is the last one.
        self.join_closing(Some(day));
        let path = self.dir.join(day_dir_name(day)).join("meta.json");
        let meta = fs::read(&path)
            .map_err(|error| SearchError::io(format!("read {}", path.display()), error))?;
        if meta != published_meta {
            return Ok(false);
        }
        // Recorded first: a crash before the deletion leaves the day local (see `open`).
        self.cold.insert(day);
        cold::write_cold_days(&self.dir, &self.cold)?;
        self.shared.set_cold_days(self.cold.clone());
        self.reload_pending.remove(&day);
        self.days.remove(&day);
        self.shared
            .publish(View::build(self.seq, self.days.values()));
        files::remove_day_dir(&self.dir, day)?;
        info!(%day, "search day made cold: in the bucket only");
        Ok(true)
    }

    /// Brings cold day `day` back to local disk (to write to it).
    fn warm(&mut self, day: NaiveDate) -> Result<(), SearchError> {
        let Some(store) = self.cold_store.clone() else {
            return Err(SearchError::Index(format!(
                "the index of {day} is in the bucket, but no bucket is configured"
            )));
        };
        let path = cold::fetch_into(store.as_ref(), day, &self.dir)?;
        let handle = DayHandle::open(day, &path)?;
        self.days.insert(day, handle);
        self.cold.remove(&day);
        cold::write_cold_days(&self.dir, &self.cold)?;
        self.shared.set_cold_days(self.cold.clone());
        self.shared.forget_cold(day);
        self.shared
            .publish(View::build(self.seq, self.days.values()));
        info!(%day, "cold search day brought back to write to it");
        Ok(())
    }

    /// The seq of the last complete commit.
    pub fn committed_seq(&self) -> u64 {
        self.seq
    }

    /// A searcher over this index set; it sees each commit once `commit` returns.
    pub fn searcher(&self) -> Searcher {
        Searcher::from_shared(self.shared.clone())
    }

    /// Days with an index, oldest first.
    pub fn days(&self) -> Vec<NaiveDate> {
        self.days.keys().copied().collect()
    }

    /// Queues `events` for the next commit. The ids of `alerts` whose `event_ids` name an event
    /// of this call go to that event's `rule` field. Events of days already dropped by
    /// `drop_days_before` are skipped.
    ///
    /// If this fails, part of the batch may already be queued: the index refuses further work
    /// (`SearchError::Poisoned`) until it is reopened, so a retry cannot index events twice.
    pub fn add(&mut self, events: &[Event], alerts: &[Alert]) -> Result<(), SearchError> {
        self.add_with_rules(events, &RuleHits::from_alerts(alerts))
    }

    /// `add` with the rules given as event id → rule ids (for callers that have no `Alert`s,
    /// e.g. re-indexing from the columnar store's alert table).
    pub fn add_with_rules(
        &mut self,
        events: &[Event],
        rules: &RuleHits<'_>,
    ) -> Result<(), SearchError> {
        if self.poisoned {
            return Err(SearchError::Poisoned);
        }
        let result = self.add_events(events, &rules.by_event);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn add_events(
        &mut self,
        events: &[Event],
        rules: &HashMap<&str, Vec<&str>>,
    ) -> Result<(), SearchError> {
        let seq = self.seq + 1;
        let floor = self.floor.map_or(i64::MIN, |floor| day_range(floor).0);
        let Some(first) = events.iter().find(|event| event.time >= floor) else {
            return Ok(());
        };
        let first_day = day_of(first.time);
        let (start, end) = day_range(first_day);
        if events
            .iter()
            .all(|event| (start..end).contains(&event.time))
        {
            // The common case: the whole batch is one day.
            return self.add_day(first_day, events.iter(), rules, seq);
        }
        // One run per day, so a batch spanning days opens each writer once; days whose writer
        // is open go first so they are not evicted before their run.
        let mut by_day: BTreeMap<NaiveDate, Vec<&Event>> = BTreeMap::new();
        for event in events.iter().filter(|event| event.time >= floor) {
            by_day.entry(day_of(event.time)).or_default().push(event);
        }
        let (open, closed): (Vec<_>, Vec<_>) = by_day
            .into_iter()
            .partition(|(day, _)| self.writers.contains_key(day));
        for (day, day_events) in open.into_iter().chain(closed) {
            self.add_day(day, day_events.into_iter(), rules, seq)?;
        }
        Ok(())
    }

    fn add_day<'e>(
        &mut self,
        day: NaiveDate,
        events: impl Iterator<Item = &'e Event>,
        rules: &HashMap<&str, Vec<&str>>,
        seq: u64,
    ) -> Result<(), SearchError> {
        self.writer(day)?;
        let (Some(writer), Some(handle)) = (self.writers.get_mut(&day), self.days.get(&day)) else {
            return Err(SearchError::Index(format!("no writer for day {day}")));
        };
        for event in events {
            let event_rules = rules
                .get(event.event_id.as_str())
                .map_or(&[][..], Vec::as_slice);
            writer
                .writer
                .add_document(build_doc(&handle.fields, event, event_rules, seq))?;
            writer.dirty = true;
        }
        Ok(())
    }

    /// Makes sure `day` has an open writer, marks it used and touched.
    fn writer(&mut self, day: NaiveDate) -> Result<(), SearchError> {
        let now = Instant::now();
        if let Some(writer) = self.writers.get_mut(&day) {
            writer.last_used = now;
            self.touched.insert(day);
            return Ok(());
        }
        while self.writers.len() >= self.options.max_open_writers.max(1) {
            let Some(oldest) = self
                .writers
                .iter()
                .min_by_key(|(_, writer)| writer.last_used)
                .map(|(day, _)| *day)
            else {
                break;
            };
            self.evict(oldest)?;
        }
        self.join_closing(Some(day));
        if !self.days.contains_key(&day) && self.cold.contains(&day) {
            self.warm(day)?;
        }
        if !self.days.contains_key(&day) {
            let path = self.dir.join(day_dir_name(day));
            let handle = DayHandle::create(day, &path, self.options.positions)?;
            files::fsync_dir(&self.dir)?;
            self.days.insert(day, handle);
        }
        let Some(handle) = self.days.get(&day) else {
            return Err(SearchError::Index(format!("no index for day {day}")));
        };
        let writer_options = IndexWriterOptions::builder()
            .num_worker_threads(self.options.indexing_threads.max(1))
            .num_merge_threads(self.options.merge_threads.max(1))
            .memory_budget_per_thread(self.options.thread_budget())
            .build();
        let writer = handle.index.writer_with_options(writer_options)?;
        debug!(%day, "opened search day writer");
        self.writers.insert(
            day,
            DayWriter {
                writer,
                dirty: false,
                last_used: now,
            },
        );
        self.touched.insert(day);
        Ok(())
    }

    /// Closes a writer to make room: its documents are committed to the day index now, under
    /// the seq they carry (above `_state.json`'s, so invisible until `commit` and removed by
    /// `open` after a crash).
    fn evict(&mut self, day: NaiveDate) -> Result<(), SearchError> {
        let Some(mut writer) = self.writers.remove(&day) else {
            return Ok(());
        };
        if writer.dirty {
            let result = commit_writer(&mut writer.writer, self.seq + 1);
            if let Err(error) = result {
                self.poisoned = true;
                return Err(error);
            }
        }
        debug!(%day, "closing search day writer to make room");
        self.close_in_background(day, writer.writer);
        Ok(())
    }

    fn close_in_background(&mut self, day: NaiveDate, writer: IndexWriter) {
        let handle = std::thread::Builder::new()
            .name(format!("search-close-{day}"))
            .spawn(move || {
                if let Err(error) = writer.wait_merging_threads() {
                    warn!(%day, %error, "search day writer failed while finishing merges");
                }
            });
        match handle {
            Ok(handle) => self.closing.push((day, handle)),
            Err(error) => warn!(%day, %error, "could not start a thread to close a writer"),
        }
    }

    /// Joins the background closes that finished, and the one of `wait_for` (blocking). Days
    /// whose close finished get their reader reloaded at the next commit, dropping the
    /// segments their last merges replaced.
    fn join_closing(&mut self, wait_for: Option<NaiveDate>) {
        let mut pending = Vec::new();
        for (day, handle) in self.closing.drain(..) {
            if wait_for == Some(day) || handle.is_finished() {
                let _ = handle.join();
                self.reload_pending.insert(day);
            } else {
                pending.push((day, handle));
            }
        }
        self.closing = pending;
    }

    /// Commits every day index touched since the last commit, with `seq` as the tantivy
    /// commit payload, then records `seq` in `_state.json`. `seq` must be above
    /// `committed_seq()` (or equal to it when nothing was added, a no-op).
    ///
    /// If this fails, the index refuses further work (`SearchError::Poisoned`): drop it and
    /// open it again, which removes the half-done commit.
    pub fn commit(&mut self, seq: u64) -> Result<(), SearchError> {
        if self.poisoned {
            return Err(SearchError::Poisoned);
        }
        if seq <= self.seq {
            if seq == self.seq && self.touched.is_empty() {
                return Ok(());
            }
            return Err(SearchError::SeqOrder {
                seq,
                committed: self.seq,
            });
        }
        let started = Instant::now();
        if let Err(error) = self.commit_days(seq) {
            self.poisoned = true;
            return Err(error);
        }
        self.seq = seq;
        self.join_closing(None);
        let mut reload: BTreeSet<NaiveDate> = std::mem::take(&mut self.touched);
        reload.append(&mut self.reload_pending);
        for day in &reload {
            if let Some(handle) = self.days.get(day)
                && let Err(error) = handle.reader.reload()
            {
                warn!(%day, %error, "could not reload a search day index after commit");
            }
        }
        self.shared.publish(View::build(seq, self.days.values()));
        self.close_idle_writers();
        debug!(
            seq,
            days = reload.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "search commit"
        );
        Ok(())
    }

    fn commit_days(&mut self, seq: u64) -> Result<(), SearchError> {
        for writer in self.writers.values_mut() {
            if writer.dirty {
                commit_writer(&mut writer.writer, seq)?;
                writer.dirty = false;
            }
        }
        files::write_state(&self.dir, &State::new(seq))
    }

    fn close_idle_writers(&mut self) {
        let idle = Duration::from_secs(self.options.writer_idle_secs);
        let now = Instant::now();
        let stale: Vec<NaiveDate> = self
            .writers
            .iter()
            .filter(|(_, writer)| !writer.dirty && now.duration_since(writer.last_used) >= idle)
            .map(|(day, _)| *day)
            .collect();
        for day in stale {
            if let Some(writer) = self.writers.remove(&day) {
                debug!(%day, "closing idle search day writer");
                self.close_in_background(day, writer.writer);
            }
        }
    }

    /// Drops whole day indexes of days before `before` (retention); returns how many.
    /// Documents of those days not yet committed are dropped too, and later `add`s skip events
    /// of those days (until the index is reopened).
    pub fn drop_days_before(&mut self, before: NaiveDate) -> Result<usize, SearchError> {
        self.floor = Some(self.floor.map_or(before, |floor| floor.max(before)));
        let mut doomed: Vec<NaiveDate> = self.days.range(..before).map(|(day, _)| *day).collect();
        doomed.extend(self.cold.range(..before).copied());
        self.drop_days(&doomed)?;
        if !doomed.is_empty() {
            info!(dropped = doomed.len(), before = %before, "search retention dropped day indexes");
        }
        Ok(doomed.len())
    }

    /// Drops the index of `day` whole (its events are gone from the store), with its
    /// uncommitted documents. Unlike `drop_days_before`, events of that day added later are
    /// indexed again. Returns whether there was one.
    pub fn drop_day(&mut self, day: NaiveDate) -> Result<bool, SearchError> {
        let had = self.days.contains_key(&day) || self.cold.contains(&day);
        self.drop_days(&[day])?;
        Ok(had)
    }

    fn drop_days(&mut self, doomed: &[NaiveDate]) -> Result<(), SearchError> {
        // Cold days go from the record (their copy in the bucket goes with the next publish).
        let cold: Vec<NaiveDate> = doomed
            .iter()
            .copied()
            .filter(|day| self.cold.contains(day))
            .collect();
        if !cold.is_empty() {
            for day in &cold {
                self.cold.remove(day);
                self.shared.forget_cold(*day);
            }
            cold::write_cold_days(&self.dir, &self.cold)?;
            self.shared.set_cold_days(self.cold.clone());
        }
        let doomed: Vec<NaiveDate> = doomed
            .iter()
            .copied()
            .filter(|day| self.days.contains_key(day))
            .collect();
        if doomed.is_empty() {
            return Ok(());
        }
        for day in &doomed {
            if let Some(writer) = self.writers.remove(day) {
                if writer.dirty {
                    warn!(%day, "retention drops a search day that has uncommitted documents");
                }
                drop(writer);
            }
            self.join_closing(Some(*day));
            self.touched.remove(day);
            self.reload_pending.remove(day);
            self.days.remove(day);
        }
        self.shared
            .publish(View::build(self.seq, self.days.values()));
        for day in &doomed {
            files::remove_day_dir(&self.dir, *day)?;
        }
        Ok(())
    }

    /// Queues the deletion of the events `event_ids` from the index of `day` for the next
    /// commit (retention rewrote that day's Parquet without them). A day without an index
    /// has nothing to delete.
    pub fn delete_events(
        &mut self,
        day: NaiveDate,
        event_ids: &[String],
    ) -> Result<(), SearchError> {
        if self.poisoned {
            return Err(SearchError::Poisoned);
        }
        if event_ids.is_empty() || !(self.days.contains_key(&day) || self.cold.contains(&day)) {
            return Ok(());
        }
        self.writer(day)?;
        let (Some(writer), Some(handle)) = (self.writers.get_mut(&day), self.days.get(&day)) else {
            return Err(SearchError::Index(format!("no writer for day {day}")));
        };
        for event_id in event_ids {
            writer
                .writer
                .delete_term(Term::from_field_text(handle.fields.event_id, event_id));
        }
        writer.dirty = true;
        Ok(())
    }

    /// Closes the writers, waiting for their merges to finish (a graceful shutdown; dropping
    /// the index instead abandons merges in progress). Documents added since the last commit
    /// are discarded.
    pub fn close(mut self) -> Result<(), SearchError> {
        let writers = std::mem::take(&mut self.writers);
        for (day, writer) in writers {
            if writer.dirty {
                warn!(%day, "closing the search index discards uncommitted documents");
            }
            writer.writer.wait_merging_threads()?;
        }
        for (_, handle) in self.closing.drain(..) {
            let _ = handle.join();
        }
        Ok(())
    }

    /// Test hook: commits the writer of `day` alone, as the first half of a commit that then
    /// crashes (no other day, no `_state.json`).
    #[doc(hidden)]
    pub fn commit_day_only_for_tests(
        &mut self,
        day: NaiveDate,
        seq: u64,
    ) -> Result<(), SearchError> {
        if let Some(writer) = self.writers.get_mut(&day) {
            commit_writer(&mut writer.writer, seq)?;
            writer.dirty = false;
        }
        Ok(())
    }
}

impl Drop for SearchIndex {
    /// Waits for writers closed in the background to finish their merges, so the day indexes
    /// can be opened again by this process at once.
    fn drop(&mut self) {
        for (_, handle) in self.closing.drain(..) {
            let _ = handle.join();
        }
    }
}

/// Commits one writer with `seq` as the payload.
fn commit_writer(writer: &mut IndexWriter, seq: u64) -> Result<(), SearchError> {
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&seq.to_string());
    prepared.commit()?;
    Ok(())
}

/// Deletes the documents of a day index whose seq is above `seq` and commits with `seq`.
fn rollback_day(handle: &DayHandle, seq: u64, options: &IndexOptions) -> Result<(), SearchError> {
    warn!(day = %handle.day, seq, "removing search documents of an unfinished commit");
    let writer_options = IndexWriterOptions::builder()
        .num_worker_threads(1)
        .num_merge_threads(options.merge_threads.max(1))
        .memory_budget_per_thread(MEMORY_BUDGET_NUM_BYTES_MIN)
        .build();
    let mut writer: IndexWriter = handle.index.writer_with_options(writer_options)?;
    writer.delete_query(Box::new(RangeQuery::new(
        Bound::Excluded(Term::from_field_u64(handle.fields.seq, seq)),
        Bound::Unbounded,
    )))?;
    commit_writer(&mut writer, seq)?;
    writer.wait_merging_threads()?;
    Ok(())
}
