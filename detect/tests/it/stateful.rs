//! Stateful operators through the public API: the fixture's inline tests, snapshots and
//! bounded state.

use std::path::Path;
use std::sync::Arc;

use detect::{DetectError, Detector, Engine, RuleSet, Snapshot, StateLimits, run_tests};

fn fixture() -> RuleSet {
    RuleSet::load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("test_data/stateful.yaml")
            .as_path(),
    )
    .expect("the fixture compiles")
}

fn decode(lines: &[String]) -> Vec<event::Event> {
    let options = event::DecodeOptions::default();
    let mut events = Vec::new();
    for line in lines {
        event::decode_line(line.as_bytes(), &options, &mut events).expect("fixture event decodes");
    }
    events
}

/// An allowed or denied request of `user` at `second` seconds.
fn request(
    id: usize,
    second: i64,
    user: &str,
    verb: &str,
    resource: &str,
    name: &str,
    denied: bool,
) -> String {
    let time = event::format_rfc3339_micros(1_767_225_600_000_000 + second * 1_000_000);
    let (code, decision) = if denied {
        (403, "forbid")
    } else {
        (200, "allow")
    };
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("id-{id}"), "stage": "ResponseComplete", "verb": verb,
        "requestURI": "/", "user": {"username": user}, "sourceIPs": ["10.0.0.1"],
        "objectRef": {"resource": resource, "namespace": "ns", "name": name},
        "responseStatus": {"code": code}, "stageTimestamp": time,
        "requestReceivedTimestamp": time,
        "annotations": {"authorization.k8s.io/decision": decision}
    })
    .to_string()
}

/// Six denied `list pods` of mallory, a second apart: two bursts for `t.threshold_forbidden`.
fn mallory_denied_six_times() -> Vec<event::Event> {
    let lines: Vec<String> = (0..6)
        .map(|i| request(i, i as i64, "mallory", "list", "pods", "x", true))
        .collect();
    decode(&lines)
}

/// The alerts of `events` run through one detector up to `split`, then through a second one
/// restored from the first one's snapshot, stored as JSON text.
fn split_by_snapshot(
    engine: &Arc<Engine>,
    events: &[event::Event],
    split: usize,
) -> Vec<event::Alert> {
    let mut first = Detector::new(Arc::clone(engine), StateLimits::default());
    let mut alerts = Vec::new();
    first.process_batch(&events[..split], &mut alerts);
    let snapshot = serde_json::to_string(&first.snapshot()).unwrap();
    let mut second = Detector::new(Arc::clone(engine), StateLimits::default());
    second
        .restore(&serde_json::from_str(&snapshot).unwrap())
        .unwrap();
    second.process_batch(&events[split..], &mut alerts);
    alerts
}

#[test]
fn every_inline_test_of_the_fixture_passes() {
    let outcomes = run_tests(&fixture());
    assert!(outcomes.len() >= 14, "{} tests", outcomes.len());
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|outcome| !outcome.passed())
        .collect();
    assert!(failed.is_empty(), "failed: {failed:#?}");
}

#[test]
fn a_wrong_expectation_is_reported_as_a_failure() {
    let text = "rules:\n  - id: t.any\n    title: any get\n    severity: low\n    condition: {field: verb, equals: get}\n    tests:\n      - {name: off by one, events: [{verb: get}], expect: 2}\n      - {name: bad event, events: [[1, 2]], expect: 0}\n";
    let outcomes = run_tests(&RuleSet::from_yaml(text, "t").unwrap());
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].got, Some(1));
    assert!(!outcomes[0].passed());
    assert!(
        outcomes[1]
            .error
            .as_deref()
            .unwrap()
            .contains("not a mapping")
    );
}

#[test]
fn a_restored_snapshot_neither_forgets_a_window_nor_realerts() {
    let engine = Arc::new(Engine::new(fixture()));
    let events = mallory_denied_six_times();

    // Whole stream in one detector.
    let mut whole = Detector::new(Arc::clone(&engine), StateLimits::default());
    let mut expected = Vec::new();
    whole.process_batch(&events, &mut expected);
    let expected: Vec<String> = expected.into_iter().map(|alert| alert.alert_id).collect();
    assert_eq!(expected.len(), 2, "two bursts of three denials");

    // Split at every point, through a JSON snapshot.
    for split in 0..=events.len() {
        let alerts = split_by_snapshot(&engine, &events, split);
        let got: Vec<String> = alerts.into_iter().map(|alert| alert.alert_id).collect();
        assert_eq!(got, expected, "split at {split}");
    }
}

#[test]
fn a_snapshot_stored_as_json_text_or_as_a_json_value_restores_the_same_state() {
    let engine = Arc::new(Engine::new(fixture()));
    let events = mallory_denied_six_times();
    let alert_ids = |alerts: &[event::Alert]| -> Vec<String> {
        alerts.iter().map(|a| a.alert_id.clone()).collect()
    };

    let mut whole = Detector::new(Arc::clone(&engine), StateLimits::default());
    let mut expected = Vec::new();
    whole.process_batch(&events, &mut expected);

    let mut first = Detector::new(Arc::clone(&engine), StateLimits::default());
    let mut before = Vec::new();
    first.process_batch(&events[..4], &mut before);
    let snapshot = first.snapshot();
    let text = serde_json::to_string(&snapshot).unwrap();
    // This version stores the text; the previous one stored a `serde_json::Value`.
    let from_text: Snapshot = serde_json::from_str(&text).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(value.is_object(), "{value}");
    assert_eq!(serde_json::to_value(&snapshot).unwrap(), value);
    let from_value: Snapshot = serde_json::from_value(value).unwrap();
    assert_eq!(from_text, snapshot);
    assert_eq!(from_value, snapshot);

    for restored in [from_text, from_value] {
        let mut second = Detector::new(Arc::clone(&engine), StateLimits::default());
        second.restore(&restored).unwrap();
        let mut alerts = before.clone();
        second.process_batch(&events[4..], &mut alerts);
        assert_eq!(alert_ids(&alerts), alert_ids(&expected));
        assert_eq!(second.snapshot(), whole.snapshot());
    }

    let not_a_snapshot: Snapshot = serde_json::from_str("[1, 2]").unwrap();
    let mut detector = Detector::new(engine, StateLimits::default());
    let error = detector.restore(&not_a_snapshot).unwrap_err();
    assert!(
        matches!(error, DetectError::RestoreState { .. }),
        "{error:?}"
    );
}

#[test]
fn state_is_bounded_and_evictions_are_counted() {
    let engine = Arc::new(Engine::new(fixture()));
    let limits = StateLimits {
        max_keys_per_rule: 100,
        ..StateLimits::default()
    };
    let mut detector = Detector::new(engine, limits);
    let lines: Vec<String> = (0..1_000)
        .map(|i| {
            request(
                i,
                i as i64,
                &format!("user-{i}"),
                "get",
                "configmaps",
                "c",
                false,
            )
        })
        .collect();
    let mut alerts = Vec::new();
    detector.process_batch(&decode(&lines), &mut alerts);
    let stats = detector.stats();
    assert!(stats.evicted >= 800, "{stats:?}");
    // new_term keeps at most 100 groups; the absence rule one (per cluster).
    assert!(stats.keys <= 110, "{stats:?}");
}

#[test]
fn late_events_do_not_feed_stateful_rules() {
    let engine = Arc::new(Engine::new(fixture()));
    let mut detector = Detector::new(engine, StateLimits::default());
    let lines = vec![
        request(1, 1_000, "eve", "list", "pods", "x", true),
        request(2, 10, "eve", "list", "pods", "x", true),
        request(3, 11, "eve", "list", "pods", "x", true),
    ];
    let mut alerts = Vec::new();
    detector.process_batch(&decode(&lines), &mut alerts);
    assert_eq!(detector.stats().late, 2);
    assert!(
        alerts
            .iter()
            .all(|alert| alert.rule_id != "t.threshold_forbidden")
    );
}

fn falco_shell(second: i64, namespace: &str, pod: &str) -> String {
    let time = event::format_rfc3339_micros(1_767_225_600_000_000 + second * 1_000_000);
    serde_json::json!({
        "time": time, "rule": "Terminal shell in container", "priority": "Warning",
        "hostname": "worker-1",
        "output": "Warning A shell was spawned in a container (user=root shell=bash)",
        "output_fields": {"k8s.ns.name": namespace, "k8s.pod.name": pod, "user.name": "root",
                          "container.id": "3ad7b26ded6d", "proc.cmdline": "bash -il"}
    })
    .to_string()
}

fn exec_into(id: usize, second: i64, namespace: &str, pod: &str) -> String {
    exec_stage(id, second, namespace, pod, "ResponseStarted")
}

fn exec_stage(id: usize, second: i64, namespace: &str, pod: &str, stage: &str) -> String {
    let time = event::format_rfc3339_micros(1_767_225_600_000_000 + second * 1_000_000);
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("exec-{id}"), "stage": stage, "verb": "create",
        "requestURI": format!("/api/v1/namespaces/{namespace}/pods/{pod}/exec?command=bash&stdin=true&tty=true"),
        "user": {"username": "mallory@example.com", "groups": ["system:authenticated"]},
        "objectRef": {"resource": "pods", "namespace": namespace, "name": pod, "subresource": "exec"},
        "responseStatus": {"code": 101}, "stageTimestamp": time, "requestReceivedTimestamp": time,
        "annotations": {"authorization.k8s.io/decision": "allow"}
    })
    .to_string()
}

#[test]
fn a_falco_alert_in_a_pod_is_attributed_to_the_person_who_exec_ed_into_it() {
    let engine = Arc::new(Engine::new(RuleSet::builtin().unwrap()));
    let lines = vec![
        exec_into(1, 0, "prod", "web-1"),
        falco_shell(5, "prod", "web-1"),
        falco_shell(6, "prod", "web-2"),
        falco_shell(4_000, "prod", "web-1"),
    ];
    let events = decode(&lines);
    let exec_event_id = events[0].event_id.clone();
    let mut detector = Detector::new(engine, StateLimits::default());
    let mut alerts = Vec::new();
    detector.process_batch(&events, &mut alerts);
    let falco: Vec<_> = alerts
        .iter()
        .filter(|alert| alert.rule_id == "falco.runtime_alert")
        .collect();
    assert_eq!(falco.len(), 3, "{alerts:#?}");
    let attributed = falco[0];
    assert_eq!(attributed.actor.as_deref(), Some("mallory@example.com"));
    assert_eq!(attributed.fields["process_user"], "root");
    assert_eq!(
        attributed.fields["exec_command"],
        serde_json::json!(["bash"])
    );
    assert_eq!(attributed.event_ids[0], exec_event_id);
    assert_eq!(attributed.event_ids.len(), 2);
    // Another pod, and the same pod an hour later, keep the process user.
    assert_eq!(falco[1].actor.as_deref(), Some("root"));
    assert_eq!(falco[2].actor.as_deref(), Some("root"));
    assert!(!falco[1].fields.contains_key("exec_user"));
}

#[test]
fn each_exec_session_alerts_once_at_the_first_stage_logged_even_across_a_restart() {
    let engine = Arc::new(Engine::new(RuleSet::builtin().unwrap()));
    let lines = vec![
        // Logged at both stages.
        exec_stage(1, 0, "prod", "web-1", "ResponseStarted"),
        exec_stage(1, 30, "prod", "web-1", "ResponseComplete"),
        // Logged only when it ended (a policy without ResponseStarted).
        exec_stage(2, 40, "prod", "web-2", "ResponseComplete"),
    ];
    let events = decode(&lines);
    for split in 0..=events.len() {
        let alerts = split_by_snapshot(&engine, &events, split);
        let exec: Vec<&str> = alerts
            .iter()
            .filter(|alert| alert.rule_id == "k8s.pod_exec")
            .map(|alert| alert.event_ids[0].as_str())
            .collect();
        assert_eq!(
            exec,
            [events[0].event_id.as_str(), events[2].event_id.as_str()],
            "split at {split}"
        );
    }
}

/// Alerts as JSON, for comparing runs field by field.
fn as_json(alerts: &[event::Alert]) -> Vec<serde_json::Value> {
    alerts
        .iter()
        .map(|alert| serde_json::to_value(alert).unwrap())
        .collect()
}

#[test]
fn absence_alerts_do_not_depend_on_batching_or_snapshots() {
    let mut rules = fixture();
    rules.extend(RuleSet::builtin().unwrap()).unwrap();
    let engine = Arc::new(Engine::new(rules));
    // Gaps of more than ten minutes after seconds 2 and 702; each last event before a gap
    // has its own user and verb, which the silence alert must report.
    let seconds = [0, 1, 2, 700, 701, 702, 1_400, 1_401];
    let lines: Vec<String> = seconds
        .iter()
        .enumerate()
        .map(|(i, &second)| {
            let user = format!("user-{i}@example.com");
            let verb = if i % 2 == 0 { "get" } else { "list" };
            request(i, second, &user, verb, "configmaps", "c", i == 5)
        })
        .collect();
    let events = decode(&lines);

    let mut whole = Detector::new(Arc::clone(&engine), StateLimits::default());
    let mut expected = Vec::new();
    whole.process_batch(&events, &mut expected);
    let silent: Vec<_> = expected
        .iter()
        .filter(|alert| alert.rule_id == "k8s.audit_stream_silent")
        .collect();
    assert_eq!(silent.len(), 2, "{expected:#?}");
    assert_eq!(silent[0].actor.as_deref(), Some("user-2@example.com"));
    assert_eq!(silent[0].fields["verb"], "get");
    assert_eq!(silent[0].event_ids, [events[2].event_id.clone()]);
    assert_eq!(silent[1].actor.as_deref(), Some("user-5@example.com"));
    assert_eq!(silent[1].fields["verb"], "list");
    let expected = as_json(&expected);

    // One event at a time.
    let mut single = Detector::new(Arc::clone(&engine), StateLimits::default());
    let mut alerts = Vec::new();
    for event in &events {
        single.process(event, &mut alerts);
    }
    assert_eq!(as_json(&alerts), expected, "event by event");

    // Batches of every size.
    for size in 1..events.len() {
        let mut detector = Detector::new(Arc::clone(&engine), StateLimits::default());
        let mut alerts = Vec::new();
        for chunk in events.chunks(size) {
            detector.process_batch(chunk, &mut alerts);
        }
        assert_eq!(as_json(&alerts), expected, "batches of {size}");
    }

    // Split at every point, through a JSON snapshot.
    for split in 0..=events.len() {
        let alerts = split_by_snapshot(&engine, &events, split);
        assert_eq!(as_json(&alerts), expected, "split at {split}");
    }

    // The wall clock fires the last silence once the stream has stopped.
    let mut alerts = Vec::new();
    whole.tick(events[7].time + 11 * 60 * 1_000_000, &mut alerts);
    let silent: Vec<_> = alerts
        .iter()
        .filter(|alert| alert.rule_id == "k8s.audit_stream_silent")
        .collect();
    assert_eq!(silent.len(), 1, "{alerts:#?}");
    assert_eq!(silent[0].actor.as_deref(), Some("user-7@example.com"));
}
