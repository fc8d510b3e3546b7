//! Audit and Falco lines decoded by the event crate and run through the built-in rules: one
//! `check_file(file, expected)` per fixture, expected rule ids listed per line.

use event::{DecodeOptions, Event};

use crate::common;

fn decode_file(name: &str) -> Vec<Vec<Event>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/test_data")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let options = DecodeOptions::default();
    text.lines()
        .map(|line| {
            let mut events = Vec::new();
            event::decode_line(line.as_bytes(), &options, &mut events)
                .unwrap_or_else(|error| panic!("{name}: {error}: {line}"));
            events
        })
        .collect()
}

/// Asserts, line by line, which rules the built-in pack raises.
#[track_caller]
fn check_file(name: &str, expected: &[&[&str]]) {
    let lines = decode_file(name);
    assert_eq!(lines.len(), expected.len(), "{name}: line count");
    for (number, (events, expected)) in lines.iter().zip(expected).enumerate() {
        let mut fired: Vec<String> = events
            .iter()
            .flat_map(common::alerts_for)
            .map(|alert| alert.rule_id)
            .collect();
        fired.sort();
        let mut expected: Vec<&str> = expected.to_vec();
        expected.sort();
        assert_eq!(fired, expected, "{name} line {}", number + 1);
    }
}

#[test]
fn exec_session_alerts_once_with_the_decoded_command() {
    // Each stage alone alerts (a policy may log only one); a detector seeing both stages of
    // the session keeps the first.
    check_file(
        "exec_session.jsonl",
        &[&["k8s.pod_exec"], &["k8s.pod_exec"]],
    );
    let events: Vec<Event> = decode_file("exec_session.jsonl").concat();
    let mut detector = detect::Detector::new(
        std::sync::Arc::new(detect::Engine::new(detect::RuleSet::builtin().unwrap())),
        detect::StateLimits::default(),
    );
    let mut alerts = Vec::new();
    detector.process_batch(&events, &mut alerts);
    let fired: Vec<&str> = alerts.iter().map(|alert| alert.rule_id.as_str()).collect();
    assert_eq!(fired, ["k8s.pod_exec"]);
    assert_eq!(alerts[0].event_ids, [events[0].event_id.clone()]);
    let started = &decode_file("exec_session.jsonl")[0][0];
    let alert = common::alerts_for(started).remove(0);
    assert_eq!(
        alert.summary,
        "dev@example.com ran exec in pod shop/cart-7d9f: sh -c cat /etc/passwd"
    );
}

#[test]
fn cluster_admin_binding_allowed_alerts_and_denied_does_not() {
    check_file(
        "cluster_admin_binding.jsonl",
        &[&["k8s.cluster_admin_binding"], &[]],
    );
}

#[test]
fn privileged_pod_by_a_person_alerts_and_a_kube_system_agent_by_its_controller_does_not() {
    check_file(
        "privileged_pod.jsonl",
        &[
            &[
                "k8s.privileged_container",
                "k8s.hostpath_volume",
                "k8s.host_namespaces",
                "k8s.sensitive_hostpath",
                "k8s.untrusted_image",
            ],
            &[],
        ],
    );
}

#[test]
fn kubelet_token_request_is_quiet_and_a_person_token_request_alerts() {
    check_file("token_requests.jsonl", &[&[], &["k8s.sa_token_request"]]);
}

#[test]
fn falco_warning_alerts_and_notice_does_not() {
    check_file("falco_shell.jsonl", &[&["falco.runtime_alert"], &[]]);
    let event = &decode_file("falco_shell.jsonl")[0][0];
    let alert = common::alerts_for(event).remove(0);
    assert_eq!(alert.severity, event::Severity::Medium);
    assert_eq!(alert.source, event::AlertSource::Falco);
}
