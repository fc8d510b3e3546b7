//! The store crate's integration tests: the commit protocol and crash recovery, compaction, the ledger and verify, retention and holds, partition pruning.

mod commit;
mod common;
mod compaction;
mod ledger;
mod pruning;
mod retention;
