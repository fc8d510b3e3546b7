//! Shared helpers for the fixture-driven tests: load a fixture, decode it, compare fields.

#![allow(dead_code)]

use event::{DecodeError, DecodeOptions, DecodeOutcome, Event, decode_line};
use serde_json::Value;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/test_data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("read {path}: {error}"))
}

pub fn options() -> DecodeOptions {
    DecodeOptions {
        cluster: "test-cluster".to_owned(),
        keep_request_received: false,
    }
}

pub fn decode_with(
    name: &str,
    options: &DecodeOptions,
) -> Result<(Vec<Event>, DecodeOutcome), DecodeError> {
    let mut events = Vec::new();
    let outcome = decode_line(&fixture(name), options, &mut events)?;
    assert_eq!(outcome.events, events.len(), "{name}: outcome.events");
    Ok((events, outcome))
}

pub fn decode(name: &str) -> Vec<Event> {
    match decode_with(name, &options()) {
        Ok((events, _)) => events,
        Err(error) => panic!("{name}: {error}"),
    }
}

/// Decode `name` and compare the fields named in `expected` (an object for a fixture with one
/// event, an array of objects for several) with the events' JSON form. Fields not named are
/// not compared.
pub fn check(name: &str, expected: Value) {
    let events = decode(name);
    let expected = match expected {
        Value::Array(items) => items,
        object => vec![object],
    };
    assert_eq!(events.len(), expected.len(), "{name}: number of events");
    for (index, (event, expected)) in events.iter().zip(&expected).enumerate() {
        let actual = serde_json::to_value(event).expect("events serialise");
        let expected = expected.as_object().expect("expected fields are an object");
        for (field, value) in expected {
            assert!(
                actual.get(field).is_some(),
                "{name}[{index}]: no field {field}"
            );
            assert_eq!(&actual[field], value, "{name}[{index}]: field {field}");
        }
    }
}
