//! One pass over the matching documents of a day index: visibility (commit seq), count, the
//! newest hits after the cursor, the time histogram and the facet counts.
//!
//! Documents arrive in blocks (tantivy hands out up to 64 at a time) and every column is
//! read a block at a time: a broad query touches about a million documents, and per-document
//! column lookups were most of its cost. The newest hits are kept in a buffer of
//! `(time, doc)` that is cut back to the newest `limit` now and then (a heap would pay a
//! push and a tie lookup for every document, since doc ids mostly grow with time); the tie
//! column is read only for the survivors. [`run`] splits the matching segments by doc id
//! range over several threads for large searches.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::ops::Range;

use tantivy::columnar::{Column, StrColumn};
use tantivy::query::Weight;
use tantivy::{
    COLLECT_BLOCK_BUFFER_LEN, DocAddress, DocId, DocSet, SegmentOrdinal, SegmentReader, TERMINATED,
};

use crate::schema::{Kind, ip_text};

/// Sort key of a document, newest first: (time, tie).
pub(crate) type Key = (i64, u64);

/// How many threads one search may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Most threads per search (at least 1).
    pub threads: usize,
    /// Fewest documents (of the segments the search reads) before it uses more than one.
    pub min_docs: u64,
}

impl Default for Parallelism {
    /// One thread per CPU (at most 8) for searches over at least 200,000 documents: below
    /// that, starting threads costs about what it saves.
    fn default() -> Parallelism {
        Parallelism {
            threads: std::thread::available_parallelism().map_or(1, |n| usize::from(n).min(8)),
            min_docs: 200_000,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct FacetSpec {
    pub name: &'static str,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct HistSpec {
    /// Start of the first bucket.
    pub origin: i64,
    pub width: i64,
    pub buckets: usize,
}

impl HistSpec {
    fn bucket(&self, time: i64) -> Option<usize> {
        if time < self.origin {
            return None;
        }
        let index = usize::try_from((time - self.origin) / self.width).ok()?;
        (index < self.buckets).then_some(index)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SearchCollector {
    pub limit: usize,
    /// Only documents with a key strictly below this are hits (search-after).
    pub after: Option<Key>,
    /// Documents with a larger commit seq are not visible.
    pub max_seq: u64,
    pub histogram: Option<HistSpec>,
    pub facets: Vec<FacetSpec>,
}

#[derive(Debug, Default)]
pub(crate) struct Fruit {
    /// Matching visible documents.
    pub count: u64,
    /// Of those, the ones after the cursor.
    pub after_count: u64,
    /// The newest `limit` documents after the cursor, unordered.
    pub top: Vec<(Key, DocAddress)>,
    pub histogram: Vec<u64>,
    /// Per requested facet: value → documents.
    pub facets: Vec<HashMap<String, u64>>,
}

/// Sorts newest first and keeps `limit`.
fn keep_newest(top: &mut Vec<(Key, DocAddress)>, limit: usize) {
    top.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.0));
    top.truncate(limit);
}

/// Reusable buffers for reading one block of documents.
#[derive(Default)]
struct Scratch {
    docs: Vec<DocId>,
    rows: Vec<u32>,
    values: Vec<u64>,
    ips: Vec<Ipv6Addr>,
}

/// Row ids (into `column.values`) of `docs`, one per value: a document without a value has
/// none, a multi-valued one several.
fn rows_of<T>(column: &Column<T>, docs: &[DocId], scratch: &mut Scratch)
where
    T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static,
{
    scratch.docs.clear();
    scratch.rows.clear();
    column.row_ids_for_docs(docs, &mut scratch.docs, &mut scratch.rows);
}

enum FacetColumn {
    /// Term ordinals and a count per ordinal.
    Str(StrColumn, Vec<u32>),
    Code(Column<u64>, HashMap<u64, u64>),
    Ip(Column<Ipv6Addr>, HashMap<Ipv6Addr, u64>),
    Missing,
}

impl FacetColumn {
    fn collect_block(&mut self, docs: &[DocId], scratch: &mut Scratch) {
        match self {
            FacetColumn::Str(column, counts) => {
                let ords = column.ords();
                rows_of(ords, docs, scratch);
                scratch.values.clear();
                scratch.values.resize(scratch.rows.len(), 0);
                ords.values.get_vals(&scratch.rows, &mut scratch.values);
                count_runs(&scratch.values, counts);
            }
            FacetColumn::Code(column, counts) => {
                rows_of(column, docs, scratch);
                scratch.values.clear();
                scratch.values.resize(scratch.rows.len(), 0);
                column.values.get_vals(&scratch.rows, &mut scratch.values);
                count_value_runs(&scratch.values, counts);
            }
            FacetColumn::Ip(column, counts) => {
                rows_of(column, docs, scratch);
                scratch.ips.clear();
                scratch
                    .ips
                    .resize(scratch.rows.len(), Ipv6Addr::UNSPECIFIED);
                column.values.get_vals(&scratch.rows, &mut scratch.ips);
                count_value_runs(&scratch.ips, counts);
            }
            FacetColumn::Missing => {}
        }
    }

    fn harvest(self) -> HashMap<String, u64> {
        match self {
            FacetColumn::Str(column, counts) => {
                let mut out = HashMap::new();
                let mut text = String::new();
                for (ord, count) in counts.into_iter().enumerate() {
                    if count > 0 {
                        text.clear();
                        if column.ord_to_str(ord as u64, &mut text).unwrap_or(false) {
                            out.insert(text.clone(), u64::from(count));
                        }
                    }
                }
                out
            }
            FacetColumn::Code(_, counts) => counts
                .into_iter()
                .map(|(code, count)| (code.to_string(), count))
                .collect(),
            FacetColumn::Ip(_, counts) => counts
                .into_iter()
                .map(|(ip, count)| (ip_text(ip), count))
                .collect(),
            FacetColumn::Missing => HashMap::new(),
        }
    }
}

/// Adds one to `counts[ord]` for each of `ords`, a run of equal ordinals at a time: a
/// facet often has the same value over long stretches (the field the query names, a busy
/// user), and incrementing one counter again and again waits on memory each time.
#[inline]
fn count_runs(ords: &[u64], counts: &mut [u32]) {
    let mut iter = ords.iter();
    let Some(&first) = iter.next() else {
        return;
    };
    let (mut current, mut run) = (first, 1u32);
    for &ord in iter {
        if ord == current {
            run += 1;
        } else {
            if let Some(slot) = counts.get_mut(current as usize) {
                *slot += run;
            }
            (current, run) = (ord, 1);
        }
    }
    if let Some(slot) = counts.get_mut(current as usize) {
        *slot += run;
    }
}

/// Adds `values` to `counts`, one map update per run of equal values (neighbouring documents
/// often share a client address or a response code; hashing each one costs more than the
/// read).
#[inline]
fn count_value_runs<T: Copy + Eq + std::hash::Hash>(values: &[T], counts: &mut HashMap<T, u64>) {
    let mut iter = values.iter();
    let Some(&first) = iter.next() else {
        return;
    };
    let (mut current, mut run) = (first, 1u64);
    for &value in iter {
        if value == current {
            run += 1;
        } else {
            *counts.entry(current).or_insert(0) += run;
            (current, run) = (value, 1);
        }
    }
    *counts.entry(current).or_insert(0) += run;
}

/// The histogram of one collector, remembering the last bucket hit: neighbouring documents
/// are mostly close in time, so most documents skip the division.
struct Histogram {
    spec: HistSpec,
    counts: Vec<u64>,
    /// `[start, end)` of bucket `index`.
    last: (i64, i64, usize),
}

impl Histogram {
    fn new(spec: HistSpec) -> Histogram {
        Histogram {
            spec,
            counts: vec![0; spec.buckets],
            last: (0, 0, 0),
        }
    }

    /// Counts `times`, keeping the count of the current bucket in a register while
    /// neighbouring documents fall into it.
    fn add_all(&mut self, times: &[i64]) {
        let (mut start, mut end, mut index) = self.last;
        let mut run = 0u64;
        for &time in times {
            if time >= start && time < end {
                run += 1;
                continue;
            }
            if run > 0 {
                self.counts[index] += run;
                run = 0;
            }
            if let Some(bucket) = self.spec.bucket(time) {
                index = bucket;
                start = self.spec.origin + bucket as i64 * self.spec.width;
                end = start.saturating_add(self.spec.width);
                run = 1;
            }
        }
        if run > 0 {
            self.counts[index] += run;
        }
        self.last = (start, end, index);
    }
}

pub(crate) struct SegmentSearch {
    segment: SegmentOrdinal,
    limit: usize,
    after: Option<Key>,
    max_seq: u64,
    /// `None` when every document of the segment is visible.
    seq: Option<Column<u64>>,
    time: Option<Column<i64>>,
    tie: Option<Column<u64>>,
    count: u64,
    after_count: u64,
    /// Hit candidates `(time, doc)`; every document newer than `threshold` after the cursor
    /// is in here or was cut for `limit` newer ones.
    candidates: Vec<(i64, DocId)>,
    /// Documents older than this cannot be among the newest `limit`.
    threshold: i64,
    /// Length at which `candidates` is cut back.
    capacity: usize,
    histogram: Option<Histogram>,
    facets: Vec<FacetColumn>,
    scratch: Scratch,
    visible: Vec<DocId>,
    times: Vec<i64>,
}

impl SearchCollector {
    /// The collector of one segment (or one doc range of it).
    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentSearch> {
        let fast = reader.fast_fields();
        let seq = fast
            .column_opt::<u64>("seq")?
            .filter(|column| column.max_value() > self.max_seq);
        let mut facets = Vec::with_capacity(self.facets.len());
        for spec in &self.facets {
            facets.push(match spec.kind {
                Kind::Code => match fast.column_opt::<u64>(spec.name)? {
                    Some(column) => FacetColumn::Code(column, HashMap::new()),
                    None => FacetColumn::Missing,
                },
                Kind::Ip => match fast.column_opt::<Ipv6Addr>(spec.name)? {
                    Some(column) => FacetColumn::Ip(column, HashMap::new()),
                    None => FacetColumn::Missing,
                },
                _ => match fast.str(spec.name)? {
                    Some(column) => {
                        let terms = column.dictionary().num_terms();
                        FacetColumn::Str(column, vec![0; terms])
                    }
                    None => FacetColumn::Missing,
                },
            });
        }
        let capacity = self.limit.saturating_mul(4).max(1024);
        Ok(SegmentSearch {
            segment,
            limit: self.limit,
            after: self.after,
            max_seq: self.max_seq,
            seq,
            time: fast.column_opt::<i64>("time")?,
            tie: fast.column_opt::<u64>("tie")?,
            count: 0,
            after_count: 0,
            candidates: Vec::new(),
            threshold: i64::MIN,
            capacity,
            histogram: self.histogram.map(Histogram::new),
            facets,
            scratch: Scratch::default(),
            visible: Vec::new(),
            times: Vec::new(),
        })
    }
}

impl SegmentSearch {
    fn tie(&self, doc: DocId) -> u64 {
        self.tie
            .as_ref()
            .and_then(|column| column.first(doc))
            .unwrap_or(0)
    }

    /// Is `(time, tie of doc)` strictly before the cursor?
    #[inline]
    fn is_after_cursor(&self, time: i64, doc: DocId) -> bool {
        match self.after {
            None => true,
            Some((after_time, after_tie)) => {
                time < after_time || (time == after_time && self.tie(doc) < after_tie)
            }
        }
    }

    /// Cuts `candidates` back to the newest `limit` (keeping ties at the boundary time).
    fn cut(&mut self) {
        let limit = self.limit;
        if limit == 0 {
            self.candidates.clear();
            return;
        }
        if self.candidates.len() <= limit {
            return;
        }
        self.candidates
            .select_nth_unstable_by(limit - 1, |a, b| b.0.cmp(&a.0));
        let boundary = self.candidates[limit - 1].0;
        self.candidates.retain(|(time, _)| *time >= boundary);
        self.threshold = boundary;
        // Very many documents at the same microsecond: grow instead of cutting in vain.
        if self.candidates.len() * 2 > self.capacity {
            self.capacity = self.capacity.saturating_mul(2);
        }
    }

    fn collect_visible(&mut self, docs: &[DocId]) {
        self.count += docs.len() as u64;
        for facet in &mut self.facets {
            facet.collect_block(docs, &mut self.scratch);
        }
        // Facets only (a segment's facet summary): times are not needed.
        if self.histogram.is_none() && self.limit == 0 && self.after.is_none() {
            self.after_count += docs.len() as u64;
            return;
        }
        self.times.clear();
        self.times.resize(docs.len(), 0);
        match &self.time {
            Some(column) if column.get_cardinality().is_full() => {
                column.values.get_vals(docs, &mut self.times);
            }
            Some(column) => {
                for (slot, doc) in self.times.iter_mut().zip(docs) {
                    *slot = column.first(*doc).unwrap_or(0);
                }
            }
            None => {}
        }
        if let Some(histogram) = &mut self.histogram {
            histogram.add_all(&self.times);
        }
        let times = std::mem::take(&mut self.times);
        for (time, doc) in times.iter().zip(docs) {
            if !self.is_after_cursor(*time, *doc) {
                continue;
            }
            self.after_count += 1;
            if self.limit > 0 && *time >= self.threshold {
                self.candidates.push((*time, *doc));
            }
        }
        self.times = times;
        if self.candidates.len() >= self.capacity {
            self.cut();
        }
    }
}

impl SegmentSearch {
    fn collect_block(&mut self, docs: &[DocId]) {
        let Some(seq) = &self.seq else {
            self.collect_visible(docs);
            return;
        };
        let mut visible = std::mem::take(&mut self.visible);
        visible.clear();
        visible.extend(
            docs.iter()
                .copied()
                .filter(|doc| seq.first(*doc).unwrap_or(0) <= self.max_seq),
        );
        self.collect_visible(&visible);
        self.visible = visible;
    }

    fn harvest(mut self) -> Fruit {
        self.cut();
        let segment = self.segment;
        let mut top: Vec<(Key, DocAddress)> = self
            .candidates
            .iter()
            .map(|(time, doc)| ((*time, self.tie(*doc)), DocAddress::new(segment, *doc)))
            .collect();
        keep_newest(&mut top, self.limit);
        Fruit {
            count: self.count,
            after_count: self.after_count,
            top,
            histogram: self
                .histogram
                .map(|histogram| histogram.counts)
                .unwrap_or_default(),
            facets: self.facets.into_iter().map(FacetColumn::harvest).collect(),
        }
    }
}

/// A piece of work for [`run`]: documents `docs` of one segment, matched by `weight`,
/// collected by `collector`; `tag` says which search the result belongs to.
pub(crate) struct Piece<'a> {
    pub tag: usize,
    pub weight: &'a dyn Weight,
    pub collector: &'a SearchCollector,
    pub segment: SegmentOrdinal,
    pub reader: &'a SegmentReader,
    pub docs: Range<DocId>,
}

/// Collects `pieces`, splitting them by doc id range over `parallelism.threads` threads when
/// there are enough documents to be worth it. Returns one fruit per piece (after splitting)
/// with the piece's tag.
pub(crate) fn run(
    pieces: Vec<Piece<'_>>,
    parallelism: Parallelism,
) -> tantivy::Result<Vec<(usize, Fruit)>> {
    let total: u64 = pieces
        .iter()
        .map(|piece| u64::from(piece.docs.end - piece.docs.start))
        .sum();
    let threads = if total < parallelism.min_docs {
        1
    } else {
        parallelism.threads.max(1)
    };
    if threads == 1 {
        return pieces.iter().map(collect_piece).collect();
    }
    let shares = split(pieces, total, threads);
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(shares.len());
        let mut shares = shares.into_iter();
        let mine = shares.next().unwrap_or_default();
        for share in shares {
            handles.push(scope.spawn(move || {
                share
                    .iter()
                    .map(collect_piece)
                    .collect::<tantivy::Result<Vec<_>>>()
            }));
        }
        let mut out = mine
            .iter()
            .map(collect_piece)
            .collect::<tantivy::Result<Vec<_>>>()?;
        for handle in handles {
            match handle.join() {
                Ok(result) => out.extend(result?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(out)
    })
}

/// Deals `pieces` into `threads` shares of about `total / threads` documents each, cutting
/// pieces at doc id boundaries where needed.
fn split(pieces: Vec<Piece<'_>>, total: u64, threads: usize) -> Vec<Vec<Piece<'_>>> {
    let per_share = total.div_ceil(threads as u64).max(1);
    let mut shares: Vec<Vec<Piece<'_>>> = vec![Vec::new()];
    let mut room = per_share;
    for piece in pieces {
        let mut start = piece.docs.start;
        while start < piece.docs.end {
            if room == 0 {
                shares.push(Vec::new());
                room = per_share;
            }
            let len = u64::from(piece.docs.end - start).min(room);
            let end = start + len as u32;
            if let Some(share) = shares.last_mut() {
                share.push(Piece {
                    tag: piece.tag,
                    weight: piece.weight,
                    collector: piece.collector,
                    segment: piece.segment,
                    reader: piece.reader,
                    docs: start..end,
                });
            }
            room -= len;
            start = end;
        }
    }
    shares
}

fn collect_piece(piece: &Piece<'_>) -> tantivy::Result<(usize, Fruit)> {
    let mut collector = piece.collector.for_segment(piece.segment, piece.reader)?;
    let mut scorer = piece.weight.scorer(piece.reader, 1.0)?;
    if scorer.doc() < piece.docs.start {
        scorer.seek(piece.docs.start);
    }
    let alive = piece.reader.alive_bitset();
    let mut buffer = [0 as DocId; COLLECT_BLOCK_BUFFER_LEN];
    let mut kept: Vec<DocId> = Vec::with_capacity(COLLECT_BLOCK_BUFFER_LEN);
    while scorer.doc() != TERMINATED && scorer.doc() < piece.docs.end {
        let filled = scorer.fill_buffer(&mut buffer);
        let docs = &buffer[..filled];
        let inside = docs.partition_point(|doc| *doc < piece.docs.end);
        let docs = &docs[..inside];
        match alive {
            Some(alive) => {
                kept.clear();
                kept.extend(docs.iter().copied().filter(|doc| alive.is_alive(*doc)));
                collector.collect_block(&kept);
            }
            None => collector.collect_block(docs),
        }
        if inside < filled {
            break;
        }
    }
    Ok((piece.tag, collector.harvest()))
}
