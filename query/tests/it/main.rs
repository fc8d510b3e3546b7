//! The query crate's integration tests: read-only SQL over a real store.

mod sql;
