//! One pass over the matching documents of a day index: visibility (commit seq), count, the
//! newest hits after the cursor, the time histogram and the facet counts.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv6Addr;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use crate::schema::{Kind, ip_text};

/// Sort key of a document, newest first: (time, tie).
pub(crate) type Key = (i64, u64);

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

impl Fruit {
    pub fn merge(&mut self, other: Fruit, limit: usize) {
        self.count += other.count;
        self.after_count += other.after_count;
        self.top.extend(other.top);
        if self.top.len() > limit.saturating_mul(2).max(64) {
            keep_newest(&mut self.top, limit);
        }
        if self.histogram.len() < other.histogram.len() {
            self.histogram.resize(other.histogram.len(), 0);
        }
        for (slot, count) in self.histogram.iter_mut().zip(other.histogram) {
            *slot += count;
        }
        if self.facets.len() < other.facets.len() {
            self.facets.resize_with(other.facets.len(), HashMap::new);
        }
        for (mine, theirs) in self.facets.iter_mut().zip(other.facets) {
            for (value, count) in theirs {
                *mine.entry(value).or_insert(0) += count;
            }
        }
    }
}

/// Sorts newest first and keeps `limit`.
pub(crate) fn keep_newest(top: &mut Vec<(Key, DocAddress)>, limit: usize) {
    top.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.0));
    top.truncate(limit);
}

enum FacetColumn {
    Str(StrColumn, Vec<u32>),
    Code(Column<u64>, HashMap<u64, u64>),
    Ip(Column<Ipv6Addr>, HashMap<Ipv6Addr, u64>),
    Missing,
}

impl FacetColumn {
    fn collect(&mut self, doc: DocId) {
        match self {
            FacetColumn::Str(column, counts) => {
                for ord in column.term_ords(doc) {
                    if let Some(slot) = counts.get_mut(ord as usize) {
                        *slot += 1;
                    }
                }
            }
            FacetColumn::Code(column, counts) => {
                for value in column.values_for_doc(doc) {
                    *counts.entry(value).or_insert(0) += 1;
                }
            }
            FacetColumn::Ip(column, counts) => {
                for value in column.values_for_doc(doc) {
                    *counts.entry(value).or_insert(0) += 1;
                }
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
    heap: BinaryHeap<Reverse<(Key, DocId)>>,
    histogram: Option<(HistSpec, Vec<u64>)>,
    facets: Vec<FacetColumn>,
}

impl Collector for SearchCollector {
    type Fruit = Fruit;
    type Child = SegmentSearch;

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
            heap: BinaryHeap::with_capacity(self.limit.min(10_000) + 1),
            histogram: self.histogram.map(|spec| (spec, vec![0; spec.buckets])),
            facets,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Fruit>) -> tantivy::Result<Fruit> {
        let mut merged = Fruit::default();
        for fruit in fruits {
            merged.merge(fruit, self.limit);
        }
        keep_newest(&mut merged.top, self.limit);
        Ok(merged)
    }
}

impl SegmentCollector for SegmentSearch {
    type Fruit = Fruit;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if let Some(seq) = &self.seq
            && seq.first(doc).unwrap_or(0) > self.max_seq
        {
            return;
        }
        self.count += 1;
        let time = self
            .time
            .as_ref()
            .and_then(|column| column.first(doc))
            .unwrap_or(0);
        if let Some((spec, counts)) = &mut self.histogram
            && let Some(bucket) = spec.bucket(time)
        {
            counts[bucket] += 1;
        }
        for facet in &mut self.facets {
            facet.collect(doc);
        }
        let tie = self
            .tie
            .as_ref()
            .and_then(|column| column.first(doc))
            .unwrap_or(0);
        let key = (time, tie);
        if self.after.is_some_and(|after| key >= after) {
            return;
        }
        self.after_count += 1;
        if self.limit == 0 {
            return;
        }
        if self.heap.len() < self.limit {
            self.heap.push(Reverse((key, doc)));
        } else if let Some(Reverse((lowest, _))) = self.heap.peek()
            && key > *lowest
        {
            self.heap.pop();
            self.heap.push(Reverse((key, doc)));
        }
    }

    fn harvest(self) -> Fruit {
        let segment = self.segment;
        Fruit {
            count: self.count,
            after_count: self.after_count,
            top: self
                .heap
                .into_iter()
                .map(|Reverse((key, doc))| (key, DocAddress::new(segment, doc)))
                .collect(),
            histogram: self.histogram.map(|(_, counts)| counts).unwrap_or_default(),
            facets: self.facets.into_iter().map(FacetColumn::harvest).collect(),
        }
    }
}
