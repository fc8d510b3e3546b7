//! The detect crate's integration tests, as one test binary: the built-in rule pack, decoded
//! fixtures, the rule language, the stateful operators and the pack's precision on the benign
//! traffic of real cluster shapes.

mod builtin_rules;
mod common;
mod fixtures;
mod language;
mod precision;
mod stateful;
