//! Injected attacks: every label names a real event of its scenario, and scenarios come round evenly.

use std::collections::{HashMap, HashSet};

use generate::SCENARIOS;
use serde_json::Value;

use crate::{is_system, parse, pod_specs, risky, run, text};

#[test]
fn attacks_are_labelled_realistic_and_balanced() {
    let (out, labels) = run(21, true, 120_000);
    let events = parse(&out);
    let by_id: HashMap<&str, Vec<&Value>> = events.iter().fold(HashMap::new(), |mut map, event| {
        map.entry(text(event, "/auditID")).or_default().push(event);
        map
    });
    let labels: Vec<Value> = labels
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).expect("label json"))
        .collect();
    let mut seen = HashSet::new();
    let mut per_scenario: HashMap<String, usize> = HashMap::new();
    for label in &labels {
        let audit_id = label["auditID"].as_str().expect("auditID");
        let scenario = label["scenario"].as_str().expect("scenario");
        assert!(
            seen.insert(audit_id.to_owned()),
            "auditID {audit_id} labelled twice"
        );
        assert!(SCENARIOS.contains(&scenario));
        *per_scenario.entry(scenario.to_owned()).or_default() += 1;
        let matching = by_id
            .get(audit_id)
            .unwrap_or_else(|| panic!("labelled auditID {audit_id} not in the output"));
        let event = matching[0];
        let body = event.to_string();
        let user = text(event, "/user/username");
        let code = event
            .pointer("/responseStatus/code")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let resource = text(event, "/objectRef/resource");
        match scenario {
            "secret_enumeration" => {
                assert!(resource == "secrets" && !is_system(user) && code == 200)
            }
            "cluster_admin_binding" => {
                assert_eq!(resource, "clusterrolebindings");
                assert_eq!(text(event, "/requestObject/roleRef/name"), "cluster-admin");
                assert_eq!(text(event, "/level"), "RequestResponse");
            }
            "wildcard_clusterrole" => {
                assert_eq!(resource, "clusterroles");
                assert_eq!(
                    event.pointer("/requestObject/rules/0/verbs/0"),
                    Some(&Value::from("*"))
                );
                assert_eq!(
                    event.pointer("/requestObject/rules/0/resources/0"),
                    Some(&Value::from("*"))
                );
            }
            "pod_exec" => {
                assert_eq!(text(event, "/objectRef/subresource"), "exec");
                assert_eq!(code, 101);
                assert!(text(event, "/requestURI").contains("/exec?command="));
                assert!(matches!(text(event, "/verb"), "create" | "get"));
                assert_eq!(
                    matching.len(),
                    2,
                    "exec should have ResponseStarted and ResponseComplete"
                );
            }
            "privileged_pod" | "hostpath_pod" | "hostnetwork_pod" | "untrusted_image" => {
                let specs = pod_specs(event);
                assert!(!specs.is_empty(), "{body}");
                let found = specs
                    .iter()
                    .filter_map(|spec| risky(spec))
                    .next()
                    .unwrap_or_default();
                let expected = match scenario {
                    "privileged_pod" => "privileged",
                    "hostpath_pod" => "hostPath",
                    "hostnetwork_pod" => "host namespaces",
                    _ => "image ",
                };
                assert!(found.starts_with(expected), "{scenario}: {found}");
                assert!(!user.starts_with("system:"), "{user}");
            }
            "networkpolicy_deleted" => assert!(
                resource == "networkpolicies"
                    && text(event, "/verb") == "delete"
                    && text(event, "/objectRef/apiGroup") == "networking.k8s.io"
            ),
            "psa_labels_weakened" => {
                assert_eq!(resource, "namespaces");
                assert_eq!(
                    text(
                        event,
                        "/requestObject/metadata/labels/pod-security.kubernetes.io~1enforce"
                    ),
                    "privileged"
                );
            }
            "serviceaccount_token_request" => {
                assert_eq!(text(event, "/objectRef/subresource"), "token");
                assert!(!user.starts_with("system:"));
                assert!(text(event, "/responseObject/status/token").starts_with("eyJ"));
            }
            "anonymous_access" => {
                assert_eq!(user, "system:anonymous");
                assert_eq!(text(event, "/user/groups/0"), "system:unauthenticated");
                assert_eq!(code, 200);
                assert!(matches!(resource, "secrets" | "pods" | "configmaps"));
            }
            "forbidden_burst" => {
                assert_eq!(code, 403);
                assert_eq!(
                    text(event, "/annotations/authorization.k8s.io~1decision"),
                    "forbid"
                );
                assert_ne!(resource, "secrets");
            }
            other => panic!("unexpected scenario {other}"),
        }
    }
    for scenario in SCENARIOS {
        assert!(
            per_scenario.contains_key(*scenario),
            "{scenario} never injected"
        );
    }
    // About one instance every 2,000 events, cycling: single-event scenarios occur equally often.
    let singles: Vec<usize> = [
        "cluster_admin_binding",
        "wildcard_clusterrole",
        "pod_exec",
        "privileged_pod",
        "untrusted_image",
    ]
    .iter()
    .map(|scenario| per_scenario[*scenario])
    .collect();
    let (low, high) = (
        singles.iter().min().copied().unwrap_or(0),
        singles.iter().max().copied().unwrap_or(0),
    );
    assert!(low >= 3 && high - low <= 1, "{per_scenario:?}");
    let bursts = per_scenario["forbidden_burst"];
    assert!(
        bursts >= 20 * low && bursts <= 28 * (high + 1),
        "{per_scenario:?}"
    );
    // Every forbidden burst packs 20+ denials of one identity into a few seconds.
    let burst_times: Vec<&str> = labels
        .iter()
        .filter(|label| label["scenario"] == "forbidden_burst")
        .map(|label| {
            text(
                by_id[label["auditID"].as_str().unwrap_or("")][0],
                "/stageTimestamp",
            )
        })
        .collect();
    assert!(burst_times.len() >= 20);
    let (first, twentieth) = (burst_times[0], burst_times[19]);
    assert_eq!(
        &first[..15],
        &twentieth[..15],
        "20 denials should land within about ten seconds: {first} .. {twentieth}"
    );
}
