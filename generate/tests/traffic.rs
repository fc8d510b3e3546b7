//! End-to-end checks of the generated stream: JSON validity, sizes, mix, determinism, benign invariants and attack labels.

use std::collections::{HashMap, HashSet};

use generate::{GenerateError, Options, SCENARIOS, generate};
use serde_json::Value;

fn run(seed: u64, attacks: bool, events: u64) -> (Vec<u8>, Vec<u8>) {
    let mut out = Vec::new();
    let mut labels = Vec::new();
    let options = Options {
        seed,
        attacks,
        ..Options::default()
    };
    let summary = generate(options, events, &mut out, Some(&mut labels)).expect("generate");
    assert_eq!(summary.events, events);
    assert_eq!(summary.bytes, out.len() as u64);
    (out, labels)
}

fn parse(out: &[u8]) -> Vec<Value> {
    out.split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_slice(line)
                .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(line)))
        })
        .collect()
}

fn text<'a>(event: &'a Value, pointer: &str) -> &'a str {
    event.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn is_uuid_v4(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            14 => *byte == b'4',
            19 => matches!(byte, b'8' | b'9' | b'a' | b'b'),
            _ => byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase(),
        })
}

fn is_system(username: &str) -> bool {
    username.starts_with("system:node:")
        || username.starts_with("system:serviceaccount:kube-system:")
        || matches!(
            username,
            "system:kube-controller-manager" | "system:kube-scheduler" | "system:apiserver"
        )
}

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

fn pod_specs(event: &Value) -> Vec<&Value> {
    let mut specs = Vec::new();
    for body in ["requestObject", "responseObject"] {
        let Some(object) = event.get(body) else {
            continue;
        };
        for pointer in [
            "/spec",
            "/spec/template/spec",
            "/spec/jobTemplate/spec/template/spec",
        ] {
            if let Some(spec) = object.pointer(pointer)
                && spec.get("containers").is_some()
            {
                specs.push(spec);
            }
        }
    }
    specs
}

fn risky(spec: &Value) -> Option<String> {
    if spec.get("hostNetwork") == Some(&Value::Bool(true))
        || spec.get("hostPID") == Some(&Value::Bool(true))
    {
        return Some("host namespaces".into());
    }
    for volume in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if volume.get("hostPath").is_some() {
            return Some("hostPath".into());
        }
    }
    for container in spec["containers"].as_array().into_iter().flatten() {
        if container.pointer("/securityContext/privileged") == Some(&Value::Bool(true)) {
            return Some("privileged".into());
        }
        let image = container["image"].as_str().unwrap_or("");
        let trusted = ["registry.k8s.io/", "docker.io/", "ghcr.io/", "quay.io/"]
            .iter()
            .any(|prefix| image.starts_with(prefix));
        if !trusted
            || !image.rsplit('/').next().unwrap_or("").contains(':')
            || image.ends_with(":latest")
        {
            return Some(format!("image {image}"));
        }
    }
    None
}

#[test]
fn benign_traffic_is_benign() {
    let (out, labels) = run(9, false, 80_000);
    assert!(labels.is_empty());
    let events = parse(&out);
    let mut token_requests = 0;
    let mut workload_specs = 0;
    for event in &events {
        let username = text(event, "/user/username");
        let verb = text(event, "/verb");
        let resource = text(event, "/objectRef/resource");
        let subresource = text(event, "/objectRef/subresource");
        let uri = text(event, "/requestURI");
        assert!(
            !matches!(subresource, "exec" | "attach" | "portforward"),
            "{uri}"
        );
        if username == "system:anonymous" {
            let path = uri.split('?').next().unwrap_or("");
            assert!(
                matches!(path, "/healthz" | "/livez" | "/readyz" | "/version"),
                "anonymous {uri}"
            );
        }
        if resource == "secrets" && matches!(verb, "get" | "list" | "watch") {
            assert!(is_system(username), "{username} read secrets");
        }
        if resource == "serviceaccounts" && subresource == "token" {
            assert!(
                username.starts_with("system:node:")
                    || username == "system:kube-controller-manager",
                "{username}"
            );
            if event.pointer("/responseStatus/code") == Some(&Value::from(201)) {
                assert!(
                    event
                        .pointer("/responseObject/status/token")
                        .and_then(Value::as_str)
                        .is_some_and(|token| token.starts_with("eyJ"))
                );
                token_requests += 1;
            }
        }
        assert!(!(resource == "networkpolicies" && verb == "delete"));
        if resource == "namespaces" && matches!(verb, "patch" | "update") {
            assert!(!event.to_string().contains("pod-security.kubernetes.io"));
        }
        if matches!(
            resource,
            "clusterroles" | "roles" | "clusterrolebindings" | "rolebindings"
        ) && matches!(verb, "create" | "update" | "patch")
        {
            let body = event["requestObject"].to_string();
            assert!(!body.contains(r#""*""#), "wildcard in {body}");
            assert_ne!(text(event, "/requestObject/roleRef/name"), "cluster-admin");
        }
        if resource == "pods" && verb == "create" && subresource.is_empty() {
            assert!(
                username.starts_with("system:serviceaccount:kube-system:"),
                "{username} created a pod"
            );
        }
        for spec in pod_specs(event) {
            workload_specs += 1;
            assert_eq!(risky(spec), None, "{uri}");
        }
    }
    assert!(token_requests > 50, "{token_requests}");
    assert!(workload_specs > 2000, "{workload_specs}");
}

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
