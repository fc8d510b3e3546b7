//! The store crate's integration tests: the commit protocol and crash recovery, partition pruning.

mod commit;
mod common;
mod pruning;
