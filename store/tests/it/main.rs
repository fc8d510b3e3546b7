//! The store crate's integration tests: the commit protocol and crash recovery, the ledger and verify, retention and holds, partition pruning.

mod commit;
mod common;
mod ledger;
mod pruning;
mod retention;
