//! The stream as a whole: JSON validity, sizes, the traffic mix, watches, determinism and options.

use std::collections::HashMap;

use generate::{GenerateError, Options, generate};
use serde_json::Value;

use crate::{is_uuid_v4, parse, run, text};

#[test]
fn every_line_is_a_valid_audit_event() {
    let (out, _) = run(11, true, 60_000);
    let events = parse(&out);
    assert_eq!(events.len(), 60_000);
    let mut last_stage_time = String::new();
    for event in &events {
        assert_eq!(text(event, "/kind"), "Event");
        assert_eq!(text(event, "/apiVersion"), "audit.k8s.io/v1");
        assert!(
            is_uuid_v4(text(event, "/auditID")),
            "{}",
            text(event, "/auditID")
        );
        let stage = text(event, "/stage");
        assert!(
            matches!(stage, "ResponseComplete" | "ResponseStarted"),
            "{stage}"
        );
        let received = text(event, "/requestReceivedTimestamp");
        let stage_time = text(event, "/stageTimestamp");
        assert_eq!(stage_time.len(), "2024-06-01T12:00:00.000000Z".len());
        assert!(received <= stage_time, "{received} > {stage_time}");
        assert!(
            last_stage_time.as_str() <= stage_time,
            "stage time went backwards"
        );
        last_stage_time = stage_time.to_owned();
        assert!(!text(event, "/user/username").is_empty());
        assert!(!text(event, "/userAgent").is_empty());
        assert!(
            event
                .pointer("/responseStatus/code")
                .and_then(Value::as_i64)
                .is_some()
        );
        let decision = text(event, "/annotations/authorization.k8s.io~1decision");
        assert!(matches!(decision, "allow" | "forbid"));
        assert_eq!(
            decision == "forbid",
            event.pointer("/responseStatus/code") == Some(&Value::from(403))
        );
        let level = text(event, "/level");
        match event.get("objectRef") {
            None => {
                assert_eq!(level, "Metadata");
                assert!(
                    event.get("requestObject").is_none() && event.get("responseObject").is_none()
                );
            }
            Some(object_ref) => {
                let resource = object_ref["resource"].as_str().unwrap_or("");
                if matches!(resource, "secrets" | "configmaps" | "tokenreviews") {
                    assert_eq!(level, "Metadata", "{resource}");
                    assert!(
                        event.get("requestObject").is_none()
                            && event.get("responseObject").is_none()
                    );
                }
                if matches!(
                    resource,
                    "clusterroles" | "clusterrolebindings" | "roles" | "rolebindings"
                ) {
                    assert_eq!(level, "RequestResponse");
                }
                if event.get("responseObject").is_some() {
                    assert_eq!(level, "RequestResponse");
                }
            }
        }
    }
}

#[test]
fn sizes_look_like_real_logs() {
    let (out, _) = run(7, false, 100_000);
    let mut sizes: Vec<usize> = out
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| line.len() + 1)
        .collect();
    assert_eq!(sizes.len(), 100_000);
    let huge = sizes.iter().filter(|size| **size > 100_000).count();
    assert!((3..=200).contains(&huge), "{huge} events over 100 KB");
    let mut first = sizes[..20_000].to_vec();
    first.sort_unstable();
    let median = first[first.len() / 2];
    let p90 = first[first.len() * 9 / 10];
    assert!((600..=1100).contains(&median), "median {median}");
    assert!((2500..=4500).contains(&p90), "p90 {p90}");
    sizes.sort_unstable();
    assert!(
        (600..=1100).contains(&sizes[50_000]),
        "median over 100k {}",
        sizes[50_000]
    );
}

#[test]
fn mix_follows_the_measured_sample() {
    let (out, _) = run(3, false, 50_000);
    let events = parse(&out);
    let total = events.len() as f64;
    let share = |predicate: &dyn Fn(&Value) -> bool| {
        events.iter().filter(|event| predicate(event)).count() as f64 / total
    };
    let gets = share(&|event| text(event, "/verb") == "get");
    let non_resource = share(&|event| event.get("objectRef").is_none());
    let ok = share(&|event| event.pointer("/responseStatus/code") == Some(&Value::from(200)));
    let not_found =
        share(&|event| event.pointer("/responseStatus/code") == Some(&Value::from(404)));
    let forbidden =
        share(&|event| text(event, "/annotations/authorization.k8s.io~1decision") == "forbid");
    let watches = share(&|event| text(event, "/verb") == "watch");
    let humans = share(&|event| !text(event, "/user/username").starts_with("system:"));
    assert!((0.60..0.80).contains(&gets), "get share {gets}");
    assert!(
        (0.40..0.65).contains(&non_resource),
        "non-resource share {non_resource}"
    );
    assert!((0.84..0.95).contains(&ok), "200 share {ok}");
    assert!((0.01..0.06).contains(&not_found), "404 share {not_found}");
    assert!(
        (0.001..0.01).contains(&forbidden),
        "forbid share {forbidden}"
    );
    assert!((0.02..0.08).contains(&watches), "watch share {watches}");
    assert!((0.30..0.60).contains(&humans), "human share {humans}");
    // Simulated time runs at about the requested 70 events/s.
    let first = text(&events[0], "/stageTimestamp").to_owned();
    assert_eq!(first, "2024-06-01T12:00:00.000000Z");
    let last = text(&events[events.len() - 1], "/stageTimestamp");
    let minutes: f64 = last[14..16].parse::<f64>().unwrap_or(0.0)
        + 60.0 * (last[11..13].parse::<f64>().unwrap_or(0.0) - 12.0);
    let expected = 50_000.0 / 70.0 / 60.0;
    assert!(
        (minutes - expected).abs() < expected * 0.2,
        "{minutes} minutes of traffic, expected about {expected}"
    );
}

#[test]
fn watches_start_then_complete_later() {
    let (out, _) = run(5, false, 120_000);
    let events = parse(&out);
    let mut started: HashMap<String, String> = HashMap::new();
    let mut completed = 0;
    for event in events
        .iter()
        .filter(|event| text(event, "/verb") == "watch")
    {
        let audit_id = text(event, "/auditID").to_owned();
        match text(event, "/stage") {
            "ResponseStarted" => {
                assert!(
                    started
                        .insert(
                            audit_id,
                            text(event, "/requestReceivedTimestamp").to_owned()
                        )
                        .is_none()
                );
            }
            _ if event.pointer("/responseStatus/code") == Some(&Value::from(403)) => {
                assert!(
                    !started.contains_key(&audit_id),
                    "a denied watch never starts streaming"
                );
            }
            _ => {
                let received = started
                    .get(&audit_id)
                    .expect("ResponseComplete of a watch that never started");
                assert_eq!(received, text(event, "/requestReceivedTimestamp"));
                assert!(text(event, "/stageTimestamp") > received.as_str());
                completed += 1;
            }
        }
    }
    assert!(
        started.len() > 1000 && completed > started.len() / 3,
        "{} started, {completed} completed",
        started.len()
    );
}

#[test]
fn same_seed_same_bytes_and_different_seed_differs() {
    let (first, first_labels) = run(42, true, 8_000);
    let (second, second_labels) = run(42, true, 8_000);
    assert!(first == second, "same seed gave different events");
    assert_eq!(first_labels, second_labels);
    let (other, _) = run(43, true, 8_000);
    assert!(first != other);
    // The streaming API and `generate` produce the same bytes.
    let mut generator = generate::Generator::new(Options {
        seed: 42,
        attacks: true,
        ..Options::default()
    });
    let mut streamed = Vec::new();
    for _ in 0..8_000 {
        generator.next_event(&mut streamed);
    }
    assert!(streamed == first);
}

#[test]
fn invalid_rate_is_rejected() {
    let mut out = Vec::new();
    let options = Options {
        events_per_second: 0.0,
        ..Options::default()
    };
    let result = generate(options, 10, &mut out, None::<&mut Vec<u8>>);
    assert!(matches!(result, Err(GenerateError::InvalidRate { .. })));
    assert!(out.is_empty());
}
