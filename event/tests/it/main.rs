//! The event crate's integration tests, as one test binary: decoding, cloud envelopes, event
//! identity, property tests and redaction.

mod common;
mod decode;
mod envelope;
mod identity;
mod properties;
mod redaction;
