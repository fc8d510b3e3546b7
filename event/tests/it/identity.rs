//! Event identity (contract, design.md §3): golden values that must never change, and the
//! dedupe property they exist for.

use event::{DecodeOptions, alert_id, audit_event_id, falco_event_id};

use crate::common::{self, decode, decode_with, options};

#[test]
fn golden_ids_never_change() {
    // XXH3-128 of the empty input, a published test vector of the hash itself.
    assert_eq!(alert_id("", &[]), "99aa06d3014798d86001c324468d497f");
    assert_eq!(
        audit_event_id(
            "prod",
            "11111111-2222-3333-4444-555555555555",
            "ResponseComplete"
        ),
        "0f1bd6ee11f5c3110d805de231f35c5e"
    );
    assert_eq!(
        falco_event_id(
            "worker-1",
            "2023-05-10T14:09:17.699479000Z",
            "Terminal shell in container",
            "out"
        ),
        "6edead0c1dfa521296e4fb0cbe2d004e"
    );
    assert_eq!(
        alert_id("K8S-001", &["a".to_owned(), "b".to_owned()]),
        "954634675c25d7d7e1b22a8d8132d2df"
    );
}

#[test]
fn decoded_events_carry_the_golden_ids() {
    let audit = &decode("metadata_get_pod.json")[0];
    assert_eq!(audit.event_id, "1246b808b4c8d60506addf2dda3e97ee");
    assert_eq!(
        audit.event_id,
        audit_event_id(
            "test-cluster",
            "11111111-2222-3333-4444-555555555555",
            "ResponseComplete"
        )
    );
    let falco = &decode("falco_json_output.json")[0];
    assert_eq!(falco.event_id, "16d96d644c461aa00a4a1d7999c3e843");
    let line: serde_json::Value =
        serde_json::from_slice(&common::fixture("falco_json_output.json")).unwrap();
    assert_eq!(
        falco.event_id,
        falco_event_id(
            line["hostname"].as_str().unwrap(),
            line["time"].as_str().unwrap(),
            line["rule"].as_str().unwrap(),
            line["output"].as_str().unwrap(),
        )
    );
}

#[test]
fn the_same_event_seen_twice_has_one_id() {
    let first = decode("metadata_get_pod.json");
    let again = decode("bom_crlf_event.json");
    assert_ne!(first[0].event_id, again[0].event_id, "different auditIDs");
    let repeat = decode("metadata_get_pod.json");
    assert_eq!(first[0].event_id, repeat[0].event_id);
}

#[test]
fn stage_and_cluster_are_part_of_the_identity() {
    let keep = DecodeOptions {
        keep_request_received: true,
        ..options()
    };
    let (received, _) = decode_with("request_received.json", &keep).unwrap();
    let complete = decode("metadata_get_pod.json");
    assert_eq!(received[0].audit_id, complete[0].audit_id);
    assert_ne!(received[0].event_id, complete[0].event_id);

    let other_cluster = DecodeOptions {
        cluster: "other".to_owned(),
        ..options()
    };
    let (elsewhere, _) = decode_with("metadata_get_pod.json", &other_cluster).unwrap();
    assert_ne!(elsewhere[0].event_id, complete[0].event_id);
    assert_eq!(elsewhere[0].cluster, "other");
}

/// `identify_line` stands in for `decode_line` where only ids count (the ingest routes): on
/// every fixture (audit events and lists, arrays, Falco alerts, every cloud envelope, and the
/// malformed ones) it finds the same events in the same order with the same ids, refuses the
/// same lines with the same error, and counts the same.
#[test]
fn identifying_a_line_agrees_with_decoding_it_on_every_fixture() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/test_data");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() > 40, "{} fixtures", names.len());
    let (mut events, mut refused) = (0, 0);
    for name in &names {
        let line = common::fixture(name);
        for options in [
            options(),
            DecodeOptions {
                keep_request_received: true,
                ..options()
            },
        ] {
            let mut decoded = Vec::new();
            let mut identified = Vec::new();
            let by_decoding = event::decode_line(&line, &options, &mut decoded);
            let by_identifying = event::identify_line(&line, &options, &mut identified);
            match (by_decoding, by_identifying) {
                (Ok(decoding), Ok(identifying)) => {
                    assert_eq!(decoding, identifying, "{name}: outcome");
                    let expected: Vec<event::Identity> = decoded
                        .iter()
                        .map(|event| event::Identity {
                            source: event.source,
                            event_id: event.event_id.clone(),
                        })
                        .collect();
                    assert_eq!(identified, expected, "{name}");
                    events += expected.len();
                }
                (Err(decoding), Err(identifying)) => {
                    assert_eq!(decoding.to_string(), identifying.to_string(), "{name}");
                    assert!(identified.is_empty(), "{name}: ids of a refused line");
                    refused += 1;
                }
                (decoding, identifying) => {
                    panic!("{name}: decoding gave {decoding:?}, identifying {identifying:?}")
                }
            }
        }
    }
    // The fixtures hold both kinds, so both paths were compared.
    assert!(
        events > 50 && refused >= 8,
        "{events} events, {refused} refusals"
    );
}
