//! The search crate's integration tests: query answers, durability.

mod common;
mod durability;
mod queries;
