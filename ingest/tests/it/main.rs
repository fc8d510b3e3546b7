//! The ingest crate's integration tests: configuration, dedupe, whole-file reading, JSON documents, live tailing.

mod common;
mod config;
mod dedupe;
mod documents;
mod read;
mod tail;
