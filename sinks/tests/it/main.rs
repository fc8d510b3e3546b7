//! The sinks crate's integration tests: sink configuration, delivery through the outbox.

mod common;
mod config;
mod delivery;
