//! Searching the day indexes: requests, responses, hits, cursors and the shared view.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::NaiveDate;
use event::{ActorKind, Decision, Source};
use serde::{Deserialize, Serialize};
use tantivy::index::SegmentId;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, EnableScoring, Occur, Query, RangeQuery, TermSetQuery,
    Weight,
};
use tantivy::schema::Value as _;
use tantivy::{DocAddress, SegmentOrdinal, TantivyDocument, Term};
use tracing::warn;

use crate::SearchError;
use crate::cold::{ColdCache, ColdStore};
use crate::collect::{self, FacetSpec, Fruit, HistSpec, Key, Parallelism, Piece, SearchCollector};
use crate::day::DayHandle;
use crate::files::{self, day_range};
use crate::query::{self, Compiler, Node};
use crate::schema::{self, Fields, ip_text};

/// Most hits one page can hold.
pub const MAX_LIMIT: usize = 10_000;
/// Most histogram buckets one response can hold.
pub const MAX_BUCKETS: usize = 10_000;
/// Most values one facet can list.
pub const MAX_FACET_SIZE: usize = 1_000;
const DEFAULT_FACET_SIZE: usize = 10;

/// What the caller's token may see. `None` is no restriction; `Some(list)` keeps only events
/// whose namespace (cluster) is in the list, so events without a namespace (cluster-scoped
/// resources) are hidden from a namespace-scoped token and an empty list sees nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scope {
    pub namespaces: Option<Vec<String>>,
    pub clusters: Option<Vec<String>>,
}

/// One search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchRequest {
    /// The query (see the crate docs); `""` or `"*"` matches everything.
    pub query: String,
    /// Event time range `[from, to)`, microseconds since the epoch.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Hits per page, at most `MAX_LIMIT` (larger values are capped).
    pub limit: usize,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Histogram bucket width in microseconds; `None` for no histogram. See
    /// [`histogram_width`].
    pub histogram: Option<i64>,
    /// Fields to count the top values of.
    pub facets: Vec<String>,
    /// Values per facet (0 means 10; at most `MAX_FACET_SIZE`).
    pub facet_size: usize,
    pub scope: Scope,
}

impl Default for SearchRequest {
    fn default() -> SearchRequest {
        SearchRequest {
            query: String::new(),
            from: None,
            to: None,
            limit: 100,
            cursor: None,
            histogram: None,
            facets: Vec::new(),
            facet_size: DEFAULT_FACET_SIZE,
            scope: Scope::default(),
        }
    }
}

impl SearchRequest {
    /// A request for `query` with the defaults.
    pub fn new(query: impl Into<String>) -> SearchRequest {
        SearchRequest {
            query: query.into(),
            ..SearchRequest::default()
        }
    }
}

/// A round histogram bucket width (1 s, 5 s, 10 s, 30 s, 1 min, ..., 1 day, 7 days, 30 days)
/// giving about 60 buckets over `[from, to)`.
pub fn histogram_width(from: i64, to: i64) -> i64 {
    const SECOND: i64 = 1_000_000;
    const MINUTE: i64 = 60 * SECOND;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const WIDTHS: &[i64] = &[
        SECOND,
        2 * SECOND,
        5 * SECOND,
        10 * SECOND,
        15 * SECOND,
        30 * SECOND,
        MINUTE,
        2 * MINUTE,
        5 * MINUTE,
        10 * MINUTE,
        15 * MINUTE,
        30 * MINUTE,
        HOUR,
        2 * HOUR,
        3 * HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY,
        2 * DAY,
        7 * DAY,
        14 * DAY,
        30 * DAY,
    ];
    let span = to.saturating_sub(from).max(1);
    let ideal = span / 60;
    WIDTHS
        .iter()
        .copied()
        .find(|width| *width >= ideal)
        .unwrap_or_else(|| (ideal / (30 * DAY) + 1) * 30 * DAY)
}

/// One histogram bucket: `[start, start + width)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub start: i64,
    pub count: u64,
}

/// One facet value and how many matching events have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
}

/// A matching event: its id, time and stored normalised fields. The raw body is not in the
/// index; fetch it from the columnar store by `event_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub event_id: String,
    /// Microseconds since the epoch.
    pub time: i64,
    pub cluster: String,
    pub source: Source,
    pub verb: Option<String>,
    pub user: Option<String>,
    pub groups: Vec<String>,
    pub impersonated_user: Option<String>,
    pub actor_kind: Option<ActorKind>,
    pub source_ips: Vec<String>,
    pub user_agent: Option<String>,
    pub resource: Option<String>,
    pub subresource: Option<String>,
    pub api_group: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub response_code: Option<i32>,
    pub decision: Option<Decision>,
    pub falco_rule: Option<String>,
    pub falco_priority: Option<String>,
    pub pod_name: Option<String>,
    /// Ids of the rules whose alerts name this event.
    pub rule_ids: Vec<String>,
}

/// The answer to a `SearchRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Newest first (time, then a tie-break derived from the event id).
    pub hits: Vec<Hit>,
    /// Matching events (in scope), whatever the page.
    pub total: u64,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Counts per bucket over `[from, to)` (or the indexed time span), empty buckets included.
    pub histogram: Vec<Bucket>,
    /// Requested facets: top values by count (ties by value).
    pub facets: BTreeMap<String, Vec<FacetValue>>,
    pub took_micros: u64,
}

/// The search-after position and the commit seq the walk started at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    time: i64,
    tie: u64,
    seq: u64,
}

impl Cursor {
    fn encode(&self) -> String {
        format!("c1_{}_{:016x}_{}", self.time, self.tie, self.seq)
    }

    fn decode(text: &str) -> Result<Cursor, SearchError> {
        let bad = || SearchError::query(format!("invalid cursor {text:?}"));
        let mut parts = text.strip_prefix("c1_").ok_or_else(bad)?.split('_');
        let time = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let tie = parts
            .next()
            .and_then(|p| u64::from_str_radix(p, 16).ok())
            .ok_or_else(bad)?;
        let seq = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Cursor { time, tie, seq })
    }
}

/// One day of a view: a consistent tantivy snapshot of that day index.
#[derive(Clone)]
pub(crate) struct DayView {
    pub day: NaiveDate,
    pub searcher: tantivy::Searcher,
    pub fields: Arc<Fields>,
    /// A peer's day (another writer's index, see [`Searcher::with_peers`]): the highest commit
    /// seq of that writer visible. `None`: this index's own day, seen up to the view's seq.
    pub peer_seq: Option<u64>,
}

impl DayView {
    /// The current snapshot of `handle`'s day index.
    fn of(handle: &DayHandle, peer_seq: Option<u64>) -> DayView {
        DayView {
            day: handle.day,
            searcher: handle.reader.searcher(),
            fields: handle.fields.clone(),
            peer_seq,
        }
    }
}

/// What searches see: the committed seq and a snapshot of every day index. Documents with a
/// larger seq (a commit in progress) are filtered out.
pub(crate) struct View {
    pub seq: u64,
    /// Oldest first.
    pub days: Vec<DayView>,
}

impl View {
    pub fn build<'a>(seq: u64, days: impl Iterator<Item = &'a DayHandle>) -> View {
        View {
            seq,
            days: days.map(|handle| DayView::of(handle, None)).collect(),
        }
    }
}

/// The day indexes under `dir` (a `search/` directory) as of its `_state.json`: reloads the
/// handles of `days` still there, opens new ones, forgets those gone. Returns the seq.
fn refresh_days(dir: &Path, days: &mut BTreeMap<NaiveDate, DayHandle>) -> Result<u64, SearchError> {
    let seq = files::read_state(dir)?.map_or(0, |state| state.seq);
    let on_disk = files::list_days(dir)?;
    days.retain(|day, _| on_disk.iter().any(|(d, _)| d == day));
    for (day, path) in &on_disk {
        if let Some(handle) = days.get(day) {
            if let Err(error) = handle.reader.reload() {
                warn!(%day, %error, "could not reload a search day index; keeping the previous snapshot");
            }
            continue;
        }
        match DayHandle::open(*day, path) {
            Ok(handle) => {
                days.insert(*day, handle);
            }
            // A day being created right now has no meta.json yet: it holds nothing committed.
            Err(error) => {
                warn!(%day, %error, "skipping a search day index that cannot be opened")
            }
        }
    }
    Ok(seq)
}

/// Other writers' search indexes (copies kept under one directory, one `search/` directory
/// per writer: `<dir>/<writer>/`), searched with this one's.
struct Peers {
    dir: PathBuf,
    writers: BTreeMap<String, Peer>,
    /// Their days, as the last refresh saw them.
    days: Arc<Vec<DayView>>,
    /// When every day was last reloaded (a copy may change a day's `meta.json` without
    /// changing the writer's seq: see [`PEER_RELOAD`]).
    reloaded: Option<Instant>,
}

/// How often the peers' day indexes are all reloaded, whatever their `_state.json` says.
const PEER_RELOAD: std::time::Duration = std::time::Duration::from_secs(1);

struct Peer {
    seq: u64,
    days: BTreeMap<NaiveDate, DayHandle>,
}

impl Peers {
    /// Picks up the writers' copies that changed (by their `_state.json` seq).
    fn refresh(&mut self) -> Result<(), SearchError> {
        let mut present = Vec::new();
        if self.dir.is_dir() {
            let entries = std::fs::read_dir(&self.dir)
                .map_err(|error| SearchError::io(format!("list {}", self.dir.display()), error))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.starts_with('.') && entry.path().is_dir() {
                    present.push(name);
                }
            }
        }
        let before = self.writers.len();
        self.writers.retain(|writer, _| present.contains(writer));
        let mut changed = before != self.writers.len();
        let reload_all = self
            .reloaded
            .is_none_or(|reloaded| reloaded.elapsed() >= PEER_RELOAD);
        if reload_all {
            self.reloaded = Some(Instant::now());
        }
        for writer in present {
            let dir = self.dir.join(&writer);
            let seq = files::read_state(&dir)?.map_or(0, |state| state.seq);
            let peer = self.writers.entry(writer).or_insert_with(|| Peer {
                seq: u64::MAX,
                days: BTreeMap::new(),
            });
            if peer.seq != seq || reload_all {
                peer.seq = refresh_days(&dir, &mut peer.days)?;
                changed = true;
            }
        }
        if changed {
            self.days = Arc::new(
                self.writers
                    .values()
                    .flat_map(|peer| {
                        peer.days
                            .values()
                            .map(|handle| DayView::of(handle, Some(peer.seq)))
                    })
                    .collect(),
            );
        }
        Ok(())
    }
}

/// The day indexes of a read-only searcher (`Searcher::open`), refreshed from `_state.json`.
struct External {
    days: BTreeMap<NaiveDate, DayHandle>,
}

pub(crate) struct Shared {
    dir: PathBuf,
    view: RwLock<Arc<View>>,
    external: Option<Mutex<External>>,
    /// Facet counts over every document of a large segment, by (segment, facet): see
    /// [`FacetSummaries`].
    summaries: FacetSummaries,
    /// Other writers' indexes searched with this one ([`Searcher::with_peers`]).
    peers: Mutex<Option<Peers>>,
    /// Days whose index is in the bucket only, and the cache they are fetched into.
    cold_days: RwLock<Arc<BTreeSet<NaiveDate>>>,
    cold_cache: Mutex<Option<ColdCache>>,
}

/// Facet counts over all the documents of one segment, kept per (segment, facet field).
///
/// A search that matches every document (`*`, no scope) of a segment wholly inside its time
/// range and wholly visible counts the segment's facets once; later such searches (the
/// search page's default view, its refreshes, paging) take the counts from here and only
/// read the time column. Segments never change (a merge makes a new one), so an entry stays
/// right for its segment's life; entries of segments gone from the view are dropped.
#[derive(Default)]
struct FacetSummaries {
    counts: Mutex<SummaryMap>,
}

/// (segment, facet field) → value → documents.
type SummaryMap = HashMap<(SegmentId, &'static str), Arc<HashMap<String, u64>>>;

impl FacetSummaries {
    fn lock(&self) -> std::sync::MutexGuard<'_, SummaryMap> {
        match self.counts.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn get(&self, segment: SegmentId, facet: &'static str) -> Option<Arc<HashMap<String, u64>>> {
        self.lock().get(&(segment, facet)).cloned()
    }

    /// Keeps new summaries and drops those of segments `view` no longer has.
    fn insert(
        &self,
        view: &View,
        new: impl IntoIterator<Item = ((SegmentId, &'static str), HashMap<String, u64>)>,
    ) {
        let mut counts = self.lock();
        counts.extend(new.into_iter().map(|(key, map)| (key, Arc::new(map))));
        let live: std::collections::HashSet<SegmentId> = view
            .days
            .iter()
            .flat_map(|day| {
                day.searcher
                    .segment_readers()
                    .iter()
                    .map(|r| r.segment_id())
            })
            .collect();
        counts.retain(|(segment, _), _| live.contains(segment));
    }
}

impl Shared {
    pub fn new(dir: PathBuf, view: View) -> Shared {
        Shared {
            dir,
            view: RwLock::new(Arc::new(view)),
            external: None,
            summaries: FacetSummaries::default(),
            peers: Mutex::new(None),
            cold_days: RwLock::new(Arc::new(BTreeSet::new())),
            cold_cache: Mutex::new(None),
        }
    }

    pub fn set_cold_days(&self, days: BTreeSet<NaiveDate>) {
        let days = Arc::new(days);
        match self.cold_days.write() {
            Ok(mut slot) => *slot = days,
            Err(poisoned) => *poisoned.into_inner() = days,
        }
    }

    fn cold_days(&self) -> Arc<BTreeSet<NaiveDate>> {
        match self.cold_days.read() {
            Ok(days) => days.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn cold_cache(&self) -> std::sync::MutexGuard<'_, Option<ColdCache>> {
        self.cold_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set_cold_cache(&self, cache: ColdCache) {
        *self.cold_cache() = Some(cache);
    }

    /// Drops `day` from the cache of cold days (no longer cold).
    pub fn forget_cold(&self, day: NaiveDate) {
        if let Some(cache) = self.cold_cache().as_mut() {
            cache.forget(day);
        }
    }

    pub fn publish(&self, view: View) {
        let view = Arc::new(view);
        match self.view.write() {
            Ok(mut slot) => *slot = view,
            Err(poisoned) => *poisoned.into_inner() = view,
        }
    }

    pub fn view(&self) -> Arc<View> {
        match self.view.read() {
            Ok(view) => view.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Searches the committed documents. Cheap to clone; `Send + Sync`.
///
/// From `SearchIndex::searcher` it sees every commit as soon as `commit` returns; from
/// `Searcher::open` (another process) it re-reads `_state.json` before each search and sees
/// exactly the documents committed up to that seq.
#[derive(Clone)]
pub struct Searcher {
    shared: Arc<Shared>,
    parallelism: Parallelism,
    /// Fewest documents of a segment for its facet counts to be kept ([`FacetSummaries`]).
    summary_min_docs: u32,
}

/// Segments of fewer documents are cheap to count each time (fresh commits are small; they
/// are merged into large ones).
const SUMMARY_MIN_DOCS: u32 = 50_000;

impl std::fmt::Debug for Searcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let view = self.shared.view();
        f.debug_struct("Searcher")
            .field("dir", &self.shared.dir)
            .field("seq", &view.seq)
            .field("days", &view.days.len())
            .finish()
    }
}

impl Searcher {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Searcher {
        Searcher {
            shared,
            parallelism: Parallelism::default(),
            summary_min_docs: SUMMARY_MIN_DOCS,
        }
    }

    /// Opens the search indexes under `dir` read-only, e.g. from `kubetrail search` while
    /// `kubetrail serve` writes them.
    pub fn open(dir: &Path) -> Result<Searcher, SearchError> {
        if !dir.is_dir() {
            return Err(SearchError::NotFound {
                path: dir.to_path_buf(),
            });
        }
        let shared = Shared {
            dir: dir.to_path_buf(),
            view: RwLock::new(Arc::new(View {
                seq: 0,
                days: Vec::new(),
            })),
            external: Some(Mutex::new(External {
                days: BTreeMap::new(),
            })),
            summaries: FacetSummaries::default(),
            peers: Mutex::new(None),
            cold_days: RwLock::new(Arc::new(BTreeSet::new())),
            cold_cache: Mutex::new(None),
        };
        let searcher = Searcher {
            shared: Arc::new(shared),
            parallelism: Parallelism::default(),
            summary_min_docs: SUMMARY_MIN_DOCS,
        };
        searcher.refresh(true)?;
        Ok(searcher)
    }

    /// The same view, searching with `parallelism` (the default: one thread per CPU for
    /// large searches).
    pub fn with_parallelism(&self, parallelism: Parallelism) -> Searcher {
        Searcher {
            shared: self.shared.clone(),
            parallelism,
            summary_min_docs: self.summary_min_docs,
        }
    }

    /// The same view, keeping the facet counts of segments of at least `min_docs` documents
    /// (`u32::MAX`: none) for searches that match all of them; tests and benchmarks use it.
    pub fn with_facet_summaries_from(&self, min_docs: u32) -> Searcher {
        Searcher {
            shared: self.shared.clone(),
            parallelism: self.parallelism,
            summary_min_docs: min_docs,
        }
    }

    /// How many (segment, facet) counts are kept.
    pub fn facet_summaries(&self) -> usize {
        self.shared.summaries.lock().len()
    }

    /// The commit seq this searcher sees.
    pub fn committed_seq(&self) -> u64 {
        self.shared.view().seq
    }

    /// For a read-only searcher: picks up new commits of the writing process.
    fn refresh(&self, force: bool) -> Result<(), SearchError> {
        let Some(external) = &self.shared.external else {
            return Ok(());
        };
        let seq = files::read_state(&self.shared.dir)?.map_or(0, |state| state.seq);
        if !force && seq == self.shared.view().seq {
            return Ok(());
        }
        let mut external = match external.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !force && seq == self.shared.view().seq {
            return Ok(());
        }
        let seq = refresh_days(&self.shared.dir, &mut external.days)?;
        self.shared
            .set_cold_days(crate::cold::cold_days(&self.shared.dir)?);
        self.shared
            .publish(View::build(seq, external.days.values()));
        Ok(())
    }

    /// For a read-only searcher: where the cold days are (see `cold.rs`), `cache_days` of
    /// them kept once fetched.
    pub fn with_cold_store(&self, store: Arc<dyn ColdStore>, cache_days: usize) {
        self.shared
            .set_cold_cache(ColdCache::new(store, &self.shared.dir, cache_days));
    }

    /// Adds to `view` the cold days that meet `[from, to)`, fetched if not cached.
    fn with_cold_days(
        &self,
        view: Arc<View>,
        from: i64,
        to: i64,
    ) -> Result<Arc<View>, SearchError> {
        let cold = self.shared.cold_days();
        let needed: Vec<NaiveDate> = cold
            .iter()
            .copied()
            .filter(|day| {
                let (start, end) = day_range(*day);
                from < end && to > start
            })
            .filter(|day| {
                !view
                    .days
                    .iter()
                    .any(|own| own.peer_seq.is_none() && own.day == *day)
            })
            .collect();
        if needed.is_empty() {
            return Ok(view);
        }
        let mut cache = self.shared.cold_cache();
        let Some(cache) = cache.as_mut() else {
            return Err(SearchError::Index(format!(
                "{} day(s) of this search are kept in the bucket, and this searcher has no bucket to fetch them from",
                needed.len()
            )));
        };
        let mut days = view.days.clone();
        for day in needed {
            days.push(DayView::of(cache.get(day)?, None));
        }
        days.sort_by_key(|day| day.day);
        Ok(Arc::new(View {
            seq: view.seq,
            days,
        }))
    }

    /// Also searches the indexes of other writers sharing this one's bucket, copied under
    /// `dir` (one `search/` directory per writer, `<dir>/<writer>/`, kept current by whoever
    /// copies them): totals, histograms and facets count them all, pages merge them by time.
    /// Each writer's documents are seen up to its own `_state.json` seq. Set once per index;
    /// every clone of this searcher sees the peers.
    pub fn with_peers(&self, dir: &Path) {
        let mut peers = match self.shared.peers.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *peers = Some(Peers {
            dir: dir.to_path_buf(),
            writers: BTreeMap::new(),
            days: Arc::new(Vec::new()),
            reloaded: None,
        });
    }

    /// This index's view, with the peers' days after its own when there are peers.
    fn current_view(&self) -> Arc<View> {
        let own = self.shared.view();
        let mut peers = match self.shared.peers.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(peers) = peers.as_mut() else {
            return own;
        };
        if let Err(error) = peers.refresh() {
            warn!(%error, "could not refresh other writers' search indexes; keeping the previous ones");
        }
        if peers.days.is_empty() {
            return own;
        }
        let mut days = own.days.clone();
        days.extend(peers.days.iter().cloned());
        Arc::new(View { seq: own.seq, days })
    }

    /// Visible documents.
    pub fn doc_count(&self) -> u64 {
        if let Err(error) = self.refresh(false) {
            warn!(%error, "could not refresh the search view");
        }
        let view = match self.with_cold_days(self.current_view(), i64::MIN, i64::MAX) {
            Ok(view) => view,
            Err(error) => {
                warn!(%error, "counting without the cold days");
                self.current_view()
            }
        };
        let mut count = 0;
        for day in &view.days {
            let visible = day.peer_seq.unwrap_or(view.seq);
            for segment in day.searcher.segment_readers() {
                let seq = segment
                    .fast_fields()
                    .column_opt::<u64>("seq")
                    .ok()
                    .flatten();
                match seq {
                    Some(column) if column.max_value() > visible => {
                        count += segment
                            .doc_ids_alive()
                            .filter(|doc| column.first(*doc).unwrap_or(0) <= visible)
                            .count() as u64;
                    }
                    _ => count += u64::from(segment.num_docs()),
                }
            }
        }
        count
    }

    /// Runs one search. A bad query, cursor, facet or histogram width is
    /// `SearchError::Query` with the reason.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        let started = Instant::now();
        self.refresh(false)?;
        let view = self.with_cold_days(
            self.current_view(),
            request.from.unwrap_or(i64::MIN),
            request.to.unwrap_or(i64::MAX),
        )?;
        let limit = request.limit.min(MAX_LIMIT);
        if let (Some(from), Some(to)) = (request.from, request.to)
            && from >= to
        {
            return Err(SearchError::query(format!(
                "the time range is empty: from {from} is not before to {to}"
            )));
        }
        let facets = facet_specs(&request.facets)?;
        let facet_size = match request.facet_size {
            0 => DEFAULT_FACET_SIZE,
            size => size.min(MAX_FACET_SIZE),
        };
        let node = query::parse(&request.query)?;
        let cursor = request.cursor.as_deref().map(Cursor::decode).transpose()?;
        let max_seq = cursor.map_or(view.seq, |cursor| cursor.seq.min(view.seq));
        let from = request.from.unwrap_or(i64::MIN);
        let to = request.to.unwrap_or(i64::MAX);
        let histogram = match request.histogram {
            None => None,
            Some(width) if width <= 0 => {
                return Err(SearchError::query(format!(
                    "histogram width {width} is not a positive number of microseconds"
                )));
            }
            Some(width) => plan_histogram(&view, request.from, request.to, width)?,
        };

        let mut fruit = Fruit {
            histogram: vec![0; histogram.as_ref().map_or(0, |h| h.buckets)],
            facets: vec![HashMap::new(); facets.len()],
            ..Fruit::default()
        };
        let mut top: Vec<(Key, usize, DocAddress)> = Vec::new();
        let mut compiled: [Option<Box<dyn Query>>; 2] = [None, None];
        let mut plans: Vec<DayPlan> = Vec::new();
        for (index, day) in view.days.iter().enumerate() {
            let (start, end) = day_range(day.day);
            if from >= end || to <= start {
                continue;
            }
            let slot = usize::from(day.fields.positions);
            let user_query = match &compiled[slot] {
                Some(query) => query.box_clone(),
                None => {
                    let query = compile(&node, &day.fields)?;
                    compiled[slot] = Some(query.box_clone());
                    query
                }
            };
            let scope = scope_queries(&day.fields, &request.scope);
            let scoring = EnableScoring::disabled_from_searcher(&day.searcher);
            // The time clause is only for segments partly outside the range.
            let ranged = if from > start || to < end {
                let mut clauses = vec![
                    (Occur::Must, user_query.box_clone()),
                    (Occur::Must, time_range(&day.fields, from, to)),
                ];
                clauses.extend(scope.iter().map(|query| (Occur::Must, query.box_clone())));
                Some(BooleanQuery::new(clauses).weight(scoring)?)
            } else {
                None
            };
            let unscoped = scope.is_empty();
            let whole = if scope.is_empty() {
                user_query.weight(scoring)?
            } else {
                let mut clauses = vec![(Occur::Must, user_query)];
                clauses.extend(scope.into_iter().map(|query| (Occur::Must, query)));
                BooleanQuery::new(clauses).weight(scoring)?
            };
            // This day's part of the histogram, on the global bucket grid.
            let day_histogram = histogram.as_ref().and_then(|h| h.for_day(start, end));
            // A peer's documents as far as that writer committed them (a cursor pins this
            // index's seq only: a peer's later commits may add hits to later pages).
            let max_seq = day.peer_seq.unwrap_or(max_seq);
            plans.push(DayPlan {
                index,
                whole,
                ranged,
                histogram_offset: day_histogram.map(|(_, offset)| offset),
                unscoped,
                max_seq,
                collector: SearchCollector {
                    limit,
                    after: cursor.map(|cursor| (cursor.time, cursor.tie)),
                    max_seq,
                    histogram: day_histogram.map(|(spec, _)| spec),
                    facets: facets.clone(),
                },
                bare: SearchCollector {
                    limit,
                    after: cursor.map(|cursor| (cursor.time, cursor.tie)),
                    max_seq,
                    histogram: day_histogram.map(|(spec, _)| spec),
                    facets: Vec::new(),
                },
            });
        }
        // A search matching every document (no query, no scope) takes the facet counts of
        // large segments wholly inside the range and visible from the kept summaries, or
        // counts them once on their own (`summaries`) to keep them.
        let summarise = matches!(node, Node::All) && !facets.is_empty();
        let mut summaries: Vec<Summary<'_>> = Vec::new();
        let mut chosen = Vec::new();
        for (tag, plan) in plans.iter().enumerate() {
            let day = &view.days[plan.index];
            for (ordinal, reader) in day.searcher.segment_readers().iter().enumerate() {
                let ordinal = ordinal as SegmentOrdinal;
                let times = reader.fast_fields().column_opt::<i64>("time")?;
                let weight = match (&times, &plan.ranged) {
                    (_, None) => plan.whole.as_ref(),
                    (Some(times), Some(ranged)) => {
                        if times.max_value() < from || times.min_value() >= to {
                            continue;
                        }
                        if times.min_value() >= from && times.max_value() < to {
                            plan.whole.as_ref()
                        } else {
                            ranged.as_ref()
                        }
                    }
                    (None, Some(ranged)) => ranged.as_ref(),
                };
                let summarised = summarise
                    && plan.unscoped
                    && std::ptr::addr_eq(weight, plan.whole.as_ref())
                    && reader.num_docs() >= self.summary_min_docs
                    && reader.num_deleted_docs() == 0
                    && reader
                        .fast_fields()
                        .column_opt::<u64>("seq")?
                        .is_none_or(|seq| seq.max_value() <= plan.max_seq);
                if summarised {
                    let segment = reader.segment_id();
                    let mut missing = Vec::new();
                    for (index, spec) in facets.iter().enumerate() {
                        match self.shared.summaries.get(segment, spec.name) {
                            Some(counts) => add_counts(&mut fruit.facets[index], &counts),
                            None => missing.push(index),
                        }
                    }
                    if !missing.is_empty() {
                        summaries.push(Summary {
                            plan: tag,
                            ordinal,
                            reader,
                            collector: SearchCollector {
                                limit: 0,
                                after: None,
                                max_seq: u64::MAX,
                                histogram: None,
                                facets: missing
                                    .iter()
                                    .map(|index| facets[*index].clone())
                                    .collect(),
                            },
                            facets: missing,
                        });
                    }
                }
                chosen.push((tag, ordinal, reader, weight, summarised));
            }
        }
        let mut pieces = Vec::with_capacity(chosen.len() + summaries.len());
        for (tag, ordinal, reader, weight, summarised) in chosen {
            let plan = &plans[tag];
            pieces.push(Piece {
                tag,
                weight,
                collector: if summarised {
                    &plan.bare
                } else {
                    &plan.collector
                },
                segment: ordinal,
                reader,
                docs: 0..reader.max_doc(),
            });
        }
        for (index, summary) in summaries.iter().enumerate() {
            pieces.push(Piece {
                tag: plans.len() + index,
                // The query matches everything: the day's weight is the all-documents one.
                weight: plans[summary.plan].whole.as_ref(),
                collector: &summary.collector,
                segment: summary.ordinal,
                reader: summary.reader,
                docs: 0..summary.reader.max_doc(),
            });
        }
        let mut summed: Vec<Vec<HashMap<String, u64>>> = vec![Vec::new(); summaries.len()];
        for (tag, day_fruit) in collect::run(pieces, self.parallelism)? {
            if let Some(index) = tag.checked_sub(plans.len()) {
                // One segment's summary, maybe in several parts.
                let sums = &mut summed[index];
                if sums.is_empty() {
                    *sums = day_fruit.facets;
                } else {
                    for (sum, part) in sums.iter_mut().zip(&day_fruit.facets) {
                        add_counts(sum, part);
                    }
                }
                continue;
            }
            let plan = &plans[tag];
            fruit.count += day_fruit.count;
            fruit.after_count += day_fruit.after_count;
            if let Some(offset) = plan.histogram_offset {
                for (i, count) in day_fruit.histogram.iter().enumerate() {
                    fruit.histogram[offset + i] += count;
                }
            }
            for (mine, theirs) in fruit.facets.iter_mut().zip(day_fruit.facets) {
                for (value, count) in theirs {
                    *mine.entry(value).or_insert(0) += count;
                }
            }
            top.extend(
                day_fruit
                    .top
                    .into_iter()
                    .map(|(key, address)| (key, plan.index, address)),
            );
            if top.len() > limit * 2 + 64 {
                top.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.0));
                top.truncate(limit);
            }
        }
        let mut kept = Vec::new();
        for (summary, sums) in summaries.into_iter().zip(summed) {
            let segment = summary.reader.segment_id();
            for (index, counts) in summary.facets.into_iter().zip(sums) {
                add_counts(&mut fruit.facets[index], &counts);
                kept.push(((segment, facets[index].name), counts));
            }
        }
        if !kept.is_empty() {
            self.shared.summaries.insert(&view, kept);
        }
        top.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.0));
        top.truncate(limit);

        let mut hits = Vec::with_capacity(top.len());
        for ((time, _), day, address) in &top {
            let day = &view.days[*day];
            let doc: TantivyDocument = day.searcher.doc(*address)?;
            hits.push(hit_from_doc(&day.fields, &doc, *time));
        }
        let next_cursor = match top.last() {
            Some(((time, tie), _, _)) if fruit.after_count > top.len() as u64 => Some(
                Cursor {
                    time: *time,
                    tie: *tie,
                    seq: max_seq,
                }
                .encode(),
            ),
            _ => None,
        };
        let histogram = histogram
            .map(|h| {
                fruit
                    .histogram
                    .iter()
                    .enumerate()
                    .map(|(i, count)| Bucket {
                        start: h.origin + i as i64 * h.width,
                        count: *count,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let facets = facets
            .iter()
            .zip(fruit.facets)
            .map(|(spec, counts)| {
                let mut values: Vec<FacetValue> = counts
                    .into_iter()
                    .map(|(value, count)| FacetValue { value, count })
                    .collect();
                values.sort_unstable_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
                values.truncate(facet_size);
                (spec.name.to_owned(), values)
            })
            .collect();
        Ok(SearchResponse {
            hits,
            total: fruit.count,
            next_cursor,
            histogram,
            facets,
            took_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        })
    }
}

/// A large segment whose facets a search counts on their own, to keep them.
struct Summary<'a> {
    /// Into the plans.
    plan: usize,
    ordinal: SegmentOrdinal,
    reader: &'a tantivy::SegmentReader,
    /// Counts the facets below only.
    collector: SearchCollector,
    /// Into the requested facets.
    facets: Vec<usize>,
}

/// Adds `more` to `counts`.
fn add_counts(counts: &mut HashMap<String, u64>, more: &HashMap<String, u64>) {
    for (value, count) in more {
        match counts.get_mut(value) {
            Some(total) => *total += count,
            None => {
                counts.insert(value.clone(), *count);
            }
        }
    }
}

/// One day index's part of a search.
struct DayPlan {
    /// The highest commit seq visible in this day.
    max_seq: u64,
    /// Into `View::days`.
    index: usize,
    /// The query and scope, for segments wholly inside the time range.
    whole: Box<dyn Weight>,
    /// The same with the time range, when the range cuts the day.
    ranged: Option<Box<dyn Weight>>,
    /// Where this day's buckets start in the histogram.
    histogram_offset: Option<usize>,
    /// No scope: the query alone decides which documents match.
    unscoped: bool,
    collector: SearchCollector,
    /// The same without facets, for segments whose facets come from summaries.
    bare: SearchCollector,
}

fn compile(node: &Node, fields: &Fields) -> Result<Box<dyn Query>, SearchError> {
    Compiler::new(fields).compile(node)
}

fn facet_specs(names: &[String]) -> Result<Vec<FacetSpec>, SearchError> {
    let mut specs: Vec<FacetSpec> = Vec::with_capacity(names.len());
    for name in names {
        let def = schema::lookup(name)
            .filter(|def| def.facet)
            .ok_or_else(|| {
                SearchError::query(format!(
                    "'{name}' cannot be a facet; facet fields are: {}",
                    schema::facet_list()
                ))
            })?;
        if !specs.iter().any(|spec| spec.name == def.name) {
            specs.push(FacetSpec {
                name: def.name,
                kind: def.kind,
            });
        }
    }
    Ok(specs)
}

fn time_range(fields: &Fields, from: i64, to: i64) -> Box<dyn Query> {
    let lower = if from == i64::MIN {
        Bound::Unbounded
    } else {
        Bound::Included(Term::from_field_i64(fields.time, from))
    };
    let upper = if to == i64::MAX {
        Bound::Unbounded
    } else {
        Bound::Excluded(Term::from_field_i64(fields.time, to))
    };
    if matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded)) {
        return Box::new(AllQuery);
    }
    Box::new(RangeQuery::new(lower, upper))
}

fn scope_queries(fields: &Fields, scope: &Scope) -> Vec<Box<dyn Query>> {
    let mut queries = Vec::new();
    for (field, allowed) in [
        (fields.namespace, &scope.namespaces),
        (fields.cluster, &scope.clusters),
    ] {
        let Some(allowed) = allowed else { continue };
        if allowed.is_empty() {
            queries.push(Box::new(EmptyQuery) as Box<dyn Query>);
        } else {
            queries.push(Box::new(TermSetQuery::new(
                allowed
                    .iter()
                    .map(|value| Term::from_field_text(field, value)),
            )));
        }
    }
    queries
}

/// The histogram's global bucket grid.
#[derive(Debug, Clone, Copy)]
struct HistogramPlan {
    origin: i64,
    width: i64,
    buckets: usize,
}

impl HistogramPlan {
    /// The part of the grid that overlaps the day `[start, end)`, and its first bucket's index.
    fn for_day(&self, start: i64, end: i64) -> Option<(HistSpec, usize)> {
        let first = if start <= self.origin {
            0
        } else {
            usize::try_from((start - self.origin) / self.width).ok()?
        };
        let last = if end <= self.origin {
            return None;
        } else {
            let span = end - self.origin;
            let ceil = span / self.width + i64::from(span % self.width != 0);
            usize::try_from(ceil).ok()?.min(self.buckets)
        };
        (first < last).then(|| {
            (
                HistSpec {
                    origin: self.origin + first as i64 * self.width,
                    width: self.width,
                    buckets: last - first,
                },
                first,
            )
        })
    }
}

/// Buckets over `[from, to)`, or over the indexed time span when a bound is missing.
fn plan_histogram(
    view: &View,
    from: Option<i64>,
    to: Option<i64>,
    width: i64,
) -> Result<Option<HistogramPlan>, SearchError> {
    let (low, high) = match (from, to) {
        (Some(from), Some(to)) => (from, to),
        _ => {
            let Some((min, max)) = time_span(view) else {
                return Ok(None);
            };
            (from.unwrap_or(min), to.unwrap_or(max.saturating_add(1)))
        }
    };
    if low >= high {
        return Ok(Some(HistogramPlan {
            origin: low,
            width,
            buckets: 0,
        }));
    }
    let origin = low.div_euclid(width) * width;
    let span = i128::from(high) - i128::from(origin);
    let buckets = (span + i128::from(width) - 1) / i128::from(width);
    if buckets > MAX_BUCKETS as i128 {
        return Err(SearchError::query(format!(
            "a histogram width of {width} µs makes {buckets} buckets; the limit is \
             {MAX_BUCKETS}: use a wider interval or a shorter time range"
        )));
    }
    Ok(Some(HistogramPlan {
        origin,
        width,
        buckets: buckets as usize,
    }))
}

/// The smallest and largest event time in the view (from column statistics).
fn time_span(view: &View) -> Option<(i64, i64)> {
    let mut span: Option<(i64, i64)> = None;
    for day in &view.days {
        for segment in day.searcher.segment_readers() {
            if segment.num_docs() == 0 {
                continue;
            }
            if let Ok(Some(column)) = segment.fast_fields().column_opt::<i64>("time") {
                let (min, max) = (column.min_value(), column.max_value());
                span = Some(match span {
                    None => (min, max),
                    Some((lo, hi)) => (lo.min(min), hi.max(max)),
                });
            }
        }
    }
    span
}

fn hit_from_doc(fields: &Fields, doc: &TantivyDocument, time: i64) -> Hit {
    let mut hit = Hit {
        event_id: String::new(),
        time,
        cluster: String::new(),
        source: Source::K8sAudit,
        verb: None,
        user: None,
        groups: Vec::new(),
        impersonated_user: None,
        actor_kind: None,
        source_ips: Vec::new(),
        user_agent: None,
        resource: None,
        subresource: None,
        api_group: None,
        namespace: None,
        name: None,
        response_code: None,
        decision: None,
        falco_rule: None,
        falco_priority: None,
        pod_name: None,
        rule_ids: Vec::new(),
    };
    for (field, value) in doc.field_values() {
        if field == fields.ip {
            if let Some(ip) = value.as_ip_addr() {
                hit.source_ips.push(ip_text(ip));
            }
            continue;
        }
        if field == fields.code {
            hit.response_code = value.as_u64().and_then(|code| i32::try_from(code).ok());
            continue;
        }
        let Some(text) = value.as_str() else { continue };
        let owned = || Some(text.to_owned());
        if field == fields.event_id {
            hit.event_id = text.to_owned();
        } else if field == fields.cluster {
            hit.cluster = text.to_owned();
        } else if field == fields.source {
            hit.source = if text == "falco" {
                Source::Falco
            } else {
                Source::K8sAudit
            };
        } else if field == fields.verb {
            hit.verb = owned();
        } else if field == fields.user {
            hit.user = owned();
        } else if field == fields.groups {
            hit.groups.push(text.to_owned());
        } else if field == fields.impersonated_user {
            hit.impersonated_user = owned();
        } else if field == fields.actor_kind {
            hit.actor_kind = match text {
                "human" => Some(ActorKind::Human),
                "serviceaccount" => Some(ActorKind::Serviceaccount),
                "node" => Some(ActorKind::Node),
                "system" => Some(ActorKind::System),
                "anonymous" => Some(ActorKind::Anonymous),
                _ => None,
            };
        } else if field == fields.user_agent {
            hit.user_agent = owned();
        } else if field == fields.resource {
            hit.resource = owned();
        } else if field == fields.subresource {
            hit.subresource = owned();
        } else if field == fields.api_group {
            hit.api_group = owned();
        } else if field == fields.namespace {
            hit.namespace = owned();
        } else if field == fields.name {
            hit.name = owned();
        } else if field == fields.decision {
            hit.decision = match text {
                "allow" => Some(Decision::Allow),
                "forbid" => Some(Decision::Forbid),
                _ => None,
            };
        } else if field == fields.falco_rule {
            hit.falco_rule = owned();
        } else if field == fields.falco_priority {
            hit.falco_priority = owned();
        } else if field == fields.pod_name {
            hit.pod_name = owned();
        } else if field == fields.rule {
            hit.rule_ids.push(text.to_owned());
        }
    }
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let cursor = Cursor {
            time: -5,
            tie: u64::MAX,
            seq: 7,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(matches!(
            Cursor::decode("c1_x"),
            Err(SearchError::Query { .. })
        ));
    }

    #[test]
    fn histogram_widths_are_round() {
        let hour = 3_600_000_000;
        assert_eq!(histogram_width(0, hour), 60_000_000);
        assert_eq!(histogram_width(0, 24 * hour), 30 * 60_000_000);
        assert_eq!(histogram_width(0, 1), 1_000_000);
        assert!(histogram_width(0, i64::MAX) > 0);
    }
}
