//! Audit events for the pipeline's tests, decoded by the real decoder.

use std::sync::Arc;

use pipeline::{DetectStep, Stats};

/// 2026-01-01T00:00:00Z in microseconds.
pub const JAN_1_2026: i64 = 1_767_225_600_000_000;

/// One audit line: `user` runs `verb` on a ConfigMap; `index` makes it unique.
pub fn audit_line(index: usize, user: &str, verb: &str) -> String {
    let time = event::format_rfc3339_micros(JAN_1_2026 + index as i64 * 1_000_000);
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("00000000-0000-4000-8000-{index:012}"), "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/app/configmaps/settings", "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.7"], "userAgent": "kubectl/v1.31.0",
        "objectRef": {"resource": "configmaps", "namespace": "app", "name": "settings", "apiVersion": "v1"},
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": time, "stageTimestamp": time,
        "annotations": {"authorization.k8s.io/decision": "allow"}
    })
    .to_string()
}

/// An `EventList` of the audit lines `first..first + count`.
pub fn event_list(first: usize, count: usize, user: &str) -> Vec<u8> {
    let items: Vec<serde_json::Value> = (first..first + count)
        .map(|index| serde_json::from_str(&audit_line(index, user, "get")).unwrap())
        .collect();
    serde_json::json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
        .to_string()
        .into_bytes()
}

/// Decoded events of the audit lines `first..first + count`.
pub fn events(first: usize, count: usize, user: &str) -> Vec<event::Event> {
    let mut events = Vec::new();
    for index in first..first + count {
        event::decode_line(
            audit_line(index, user, "get").as_bytes(),
            &event::DecodeOptions::default(),
            &mut events,
        )
        .unwrap();
    }
    events
}

/// Rules that alert on every `delete` and count `get`s per user (stateful).
pub const RULES: &str = r#"
rules:
  - id: test.delete
    title: A delete
    severity: low
    condition: {field: verb, equals: delete}
  - id: test.many_gets
    title: Many gets by one user
    severity: medium
    condition: {field: verb, equals: get}
    threshold: {count: 5, within: 1h, by: [user]}
"#;

/// A detect step running [`RULES`].
pub fn step(stats: Arc<Stats>) -> DetectStep {
    let rules = detect::RuleSet::from_yaml(RULES, "test").unwrap();
    DetectStep::new(
        Arc::new(detect::Engine::new(rules)),
        &detect::Config::default(),
        1_000,
        stats,
    )
}
