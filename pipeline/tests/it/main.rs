//! The pipeline crate's tests: both stores committed as one and read back, the resume state
//! (including data directories of earlier versions), and the live pipeline driven by its
//! sources.

mod common;
mod live;
mod stores;
