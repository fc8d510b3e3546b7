//! The store crate's integration tests: the commit protocol and crash recovery, the ledger and verify, partition pruning.

mod commit;
mod common;
mod ledger;
mod pruning;
