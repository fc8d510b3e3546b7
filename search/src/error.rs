//! The one error type of the search store.

use std::path::PathBuf;

/// Everything that can go wrong in the search store.
///
/// `Query` is the caller's mistake (a bad query string, cursor, facet or histogram width: an
/// HTTP 400 with `message`); every other variant is ours (a 5xx).
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The request is not valid: the message says why, with the position in the query when the
    /// query string is at fault.
    #[error("bad query: {message}")]
    Query { message: String },
    /// A file or directory operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// tantivy failed.
    #[error("search index: {0}")]
    Index(String),
    /// `_state.json` could not be read.
    #[error("search index state {path}: {message}")]
    State { path: PathBuf, message: String },
    /// `commit` was called with a sequence number that does not follow the committed one.
    #[error("search commit seq {seq} does not follow the committed seq {committed}")]
    SeqOrder { seq: u64, committed: u64 },
    /// Another process holds the writer lock of the directory.
    #[error("search index {path} is in use by another writer")]
    Locked { path: PathBuf },
    /// `Searcher::open` was given a directory without a search index.
    #[error("no search index at {path}")]
    NotFound { path: PathBuf },
    /// A commit failed half-way; the writer refuses further work until it is reopened (which
    /// removes the half-done commit).
    #[error("a previous search commit failed; reopen the search index")]
    Poisoned,
}

impl SearchError {
    pub(crate) fn query(message: impl Into<String>) -> SearchError {
        SearchError::Query {
            message: message.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> SearchError {
        SearchError::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the caller is at fault (HTTP 400), false when we are (HTTP 500).
    pub fn is_bad_request(&self) -> bool {
        matches!(self, SearchError::Query { .. })
    }
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(error: tantivy::TantivyError) -> SearchError {
        SearchError::Index(error.to_string())
    }
}
