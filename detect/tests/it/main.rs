//! The detect crate's integration tests, as one test binary: the built-in rule pack, decoded
//! fixtures, the rule language and the stateful operators.

mod builtin_rules;
mod common;
mod fixtures;
mod language;
mod stateful;
