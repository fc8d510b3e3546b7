//! The search store: one tantivy index per UTC day of event time, fed by the same commits as
//! the columnar store, and searched with a Lucene/Kibana-style query language.
//!
//! ```text
//! <data_dir>/search/
//!   _state.json            {"version":1,"seq":N}: the last fully committed seq
//!   .writer.lock           held by the one SearchIndex of a process
//!   date=YYYY-MM-DD/       a tantivy index (meta.json, segments)
//!   _cold.json             days whose index is in the bucket only (see `cold.rs`)
//!   _cache/date=YYYY-MM-DD/ cold days fetched for searches
//! ```
//!
//! * [`SearchIndex`] writes: `add` events (with the rule ids of their alerts), `commit(seq)`
//!   with the columnar store's commit seq, `drop_days_before` for retention.
//! * [`Searcher`] reads: from `SearchIndex::searcher` in the same process, or
//!   `Searcher::open` from another one; both see exactly the documents committed up to the
//!   seq in their view.
//!
//! Query syntax, fields and the measured choices behind the schema are in `README.md`.

mod cold;
mod collect;
mod day;
mod error;
mod files;
mod index;
pub mod integrity;
mod matcher;
mod query;
pub mod replica;
mod schema;
mod searcher;
mod text;

pub use chrono::NaiveDate;
pub use cold::{ColdStore, cold_days};
pub use collect::Parallelism;
pub use day::tantivy_index_settings;
pub use error::SearchError;
pub use index::{IndexOptions, RuleHits, SearchIndex};
pub use matcher::Matcher;
pub use schema::{tantivy_schema, tie_of};
pub use searcher::{
    Bucket, FacetValue, Hit, MAX_BUCKETS, MAX_FACET_SIZE, MAX_LIMIT, Scope, SearchRequest,
    SearchResponse, Searcher, histogram_width,
};
pub use text::register_tokenizers;

/// Names of the fields a query can use, in the order error messages list them.
pub fn query_fields() -> Vec<&'static str> {
    schema::FIELDS.iter().map(|def| def.name).collect()
}

/// Names of the fields that can be facets.
pub fn facet_fields() -> Vec<&'static str> {
    schema::FIELDS
        .iter()
        .filter(|def| def.facet)
        .map(|def| def.name)
        .collect()
}

/// Checks a query without running it: `Err(SearchError::Query)` with the reason when it is
/// not valid.
pub fn validate_query(query: &str) -> Result<(), SearchError> {
    query::parse(query).map(|_| ())
}
