//! The search crate's integration tests: query answers, durability.

mod cold;
mod common;
mod durability;
mod queries;
