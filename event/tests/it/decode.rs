//! Fixture-driven tests of `decode_line`: formats, normalised fields, pod specs, Falco.

use event::{DecodeError, DecodeOptions, DecodeOutcome, decode_line, format_rfc3339_micros};
use serde_json::json;

use crate::common::{check, decode, decode_with, fixture, options};

#[test]
fn metadata_event_fields() {
    check(
        "metadata_get_pod.json",
        json!({
            "time": 1_767_323_045_234_567_i64,
            "cluster": "test-cluster",
            "source": "k8s_audit",
            "audit_id": "11111111-2222-3333-4444-555555555555",
            "stage": "ResponseComplete",
            "level": "Metadata",
            "verb": "get",
            "request_uri": "/api/v1/namespaces/default/pods/web-0",
            "user": "alice@example.com",
            "user_groups": ["developers", "system:authenticated"],
            "impersonated_user": null,
            "actor_kind": "human",
            "source_ips": ["10.0.0.7"],
            "user_agent": "kubectl/v1.30.1 (linux/amd64) kubernetes/abc1234",
            "resource": "pods",
            "subresource": null,
            "api_group": null,
            "namespace": "default",
            "name": "web-0",
            "pod_name": "web-0",
            "response_code": 200,
            "decision": "allow",
            "reason": "RBAC: allowed by RoleBinding \"dev/default\" of Role \"dev\" to Group \"developers\"",
            "pod_specs": [],
            "images": [],
            "exec_command": [],
            "psa_violations": [],
            "falco_rule": null,
            "container_id": null,
        }),
    );
    let event = &decode("metadata_get_pod.json")[0];
    assert_eq!(
        format_rfc3339_micros(event.time),
        "2026-01-02T03:04:05.234567Z"
    );
}

#[test]
fn raw_is_the_line_itself_when_nothing_is_redacted() {
    let line = fixture("metadata_get_pod.json");
    let event = &decode("metadata_get_pod.json")[0];
    assert_eq!(event.raw.as_bytes(), line.trim_ascii());
}

#[test]
fn bom_and_crlf_are_tolerated() {
    check("bom_crlf_event.json", json!({"audit_id": "bom-crlf"}));
    let event = &decode("bom_crlf_event.json")[0];
    assert!(
        event.raw.starts_with('{') && event.raw.ends_with('}'),
        "{}",
        event.raw
    );
}

#[test]
fn legacy_event_uses_the_timestamp_field() {
    check(
        "legacy_timestamp_only.json",
        json!({"audit_id": "legacy-1", "time": 1_490_068_629_000_000_i64}),
    );
}

#[test]
fn event_without_api_version_or_kind_is_an_audit_event() {
    check(
        "v1beta1_no_apiversion.json",
        json!({
            "audit_id": "v1beta1-1",
            "time": 1_559_376_000_500_000_i64,
            "resource": "configmaps",
            "api_group": null,
            "namespace": "kube-system",
            "pod_name": null,
        }),
    );
}

#[test]
fn unknown_fields_and_escaped_strings() {
    check(
        "unknown_fields_and_escapes.json",
        json!({"user_agent": "café \"client\" \\ v1", "name": "naïve"}),
    );
}

#[test]
fn non_resource_request_with_null_object_ref() {
    check(
        "nonresource_null_objectref.json",
        json!({
            "request_uri": "/healthz",
            "resource": null,
            "namespace": null,
            "actor_kind": "node",
            "decision": "allow",
            "reason": null,
        }),
    );
}

#[test]
fn request_received_is_filtered_unless_kept() {
    let (events, outcome) = decode_with("request_received.json", &options()).unwrap();
    assert!(events.is_empty());
    assert_eq!(
        outcome,
        DecodeOutcome {
            events: 0,
            filtered: 1
        }
    );

    let keep = DecodeOptions {
        keep_request_received: true,
        ..options()
    };
    let (events, outcome) = decode_with("request_received.json", &keep).unwrap();
    assert_eq!(
        outcome,
        DecodeOutcome {
            events: 1,
            filtered: 0
        }
    );
    assert_eq!(events[0].stage.as_deref(), Some("RequestReceived"));
    assert_eq!(events[0].response_code, None);
    assert_eq!(
        events[0].decision,
        Some(event::Decision::Allow),
        "from the annotation"
    );
}

#[test]
fn event_list_items_are_separate_events_with_their_own_raw() {
    check(
        "eventlist_two_items.json",
        json!([
            {"audit_id": "list-item-1", "verb": "list", "name": null, "actor_kind": "human"},
            {
                "audit_id": "list-item-2",
                "verb": "watch",
                "actor_kind": "serviceaccount",
                "user_agent": "kube-controller-manager/v1.30.1 \"quoted\" agent",
            },
        ]),
    );
    let events = decode("eventlist_two_items.json");
    for event in &events {
        let raw: serde_json::Value = serde_json::from_str(&event.raw).unwrap();
        assert_eq!(raw["auditID"].as_str(), event.audit_id.as_deref());
        assert_eq!(raw["kind"], "Event");
    }
}

#[test]
fn json_array_of_events() {
    check(
        "json_array_of_events.json",
        json!([
            {"audit_id": "array-1", "stage": "ResponseStarted"},
            {"audit_id": "array-2", "stage": "ResponseComplete"},
        ]),
    );
}

#[test]
fn exec_over_websocket_is_a_get() {
    check(
        "exec_websocket_get.json",
        json!({
            "verb": "get",
            "subresource": "exec",
            "stage": "ResponseStarted",
            "response_code": 101,
            "decision": "allow",
            "exec_command": ["sh", "-c", "cat /etc/shadow"],
            "pod_name": "api-7d9f",
        }),
    );
}

#[test]
fn exec_over_spdy_is_a_create() {
    check(
        "exec_spdy_create.json",
        json!({"verb": "create", "subresource": "exec", "exec_command": ["/bin/bash"], "pod_specs": []}),
    );
}

#[test]
fn privileged_deployment_template_comes_from_the_response() {
    check(
        "deployment_privileged_template.json",
        json!({
            "api_group": "apps",
            "pod_specs": [{
                "owner_kind": "Deployment",
                "host_network": true,
                "host_pid": true,
                "host_ipc": false,
                "service_account": "agent",
                "automount_service_account_token": false,
                "run_as_user": 0,
                "run_as_non_root": null,
                "seccomp_profile": "Unconfined",
                "containers": [
                    {
                        "name": "agent",
                        "kind": "container",
                        "image": "registry.example.com:5000/tools/agent:2.1@sha256:abcd",
                        "privileged": true,
                        "allow_privilege_escalation": true,
                        "run_as_user": 0,
                        "run_as_non_root": false,
                        "read_only_root_filesystem": false,
                        "capabilities_add": ["SYS_ADMIN", "NET_ADMIN"],
                        "capabilities_drop": ["MKNOD"],
                        "seccomp_profile": "RuntimeDefault",
                        "host_ports": [8080],
                    },
                    {
                        "name": "sidecar",
                        "kind": "container",
                        "image": "busybox:1.36",
                        "privileged": null,
                        "allow_privilege_escalation": null,
                        "run_as_user": null,
                        "run_as_non_root": null,
                        "read_only_root_filesystem": null,
                        "capabilities_add": [],
                        "capabilities_drop": [],
                        "seccomp_profile": null,
                        "host_ports": [],
                    },
                    {
                        "name": "setup",
                        "kind": "init",
                        "image": "busybox:1.36",
                        "privileged": null,
                        "allow_privilege_escalation": null,
                        "run_as_user": null,
                        "run_as_non_root": null,
                        "read_only_root_filesystem": null,
                        "capabilities_add": [],
                        "capabilities_drop": [],
                        "seccomp_profile": null,
                        "host_ports": [],
                    },
                ],
                "volumes": [{"name": "root", "host_path": "/"}, {"name": "cache", "host_path": null}],
            }],
            "images": [
                {
                    "reference": "registry.example.com:5000/tools/agent:2.1@sha256:abcd",
                    "registry": "registry.example.com:5000",
                    "repository": "tools/agent",
                    "tag": "2.1",
                    "digest": "sha256:abcd",
                },
                {
                    "reference": "busybox:1.36",
                    "registry": "docker.io",
                    "repository": "library/busybox",
                    "tag": "1.36",
                    "digest": null,
                },
            ],
        }),
    );
}

#[test]
fn cronjob_template_with_host_path_from_the_request() {
    let events = decode("cronjob_hostpath.json");
    let spec = &events[0].pod_specs[..];
    assert_eq!(spec.len(), 1);
    assert_eq!(spec[0].owner_kind, "CronJob");
    assert_eq!(spec[0].service_account.as_deref(), Some("legacy-sa"));
    assert_eq!(
        spec[0].volumes[0].host_path.as_deref(),
        Some("/var/lib/etcd")
    );
    assert_eq!(spec[0].containers[0].image, "alpine");
    assert_eq!(events[0].images[0].repository, "library/alpine");
    assert_eq!(events[0].images[0].tag, None);
}

#[test]
fn ephemeral_container_patch() {
    let events = decode("ephemeral_container.json");
    let spec = &events[0].pod_specs[..];
    assert_eq!(spec.len(), 1);
    assert_eq!(spec[0].owner_kind, "Pod", "derived from the resource");
    assert_eq!(spec[0].containers.len(), 1);
    assert_eq!(
        spec[0].containers[0].kind,
        Some(event::ContainerKind::Ephemeral)
    );
    assert_eq!(spec[0].containers[0].name, "debugger-x1");
    assert_eq!(spec[0].containers[0].capabilities_add, ["SYS_PTRACE"]);
    assert_eq!(events[0].images[0].repository, "nicolaka/netshoot");
}

#[test]
fn forbidden_pod_create_takes_the_spec_from_the_request() {
    check(
        "pod_create_forbidden_status.json",
        json!({
            "actor_kind": "anonymous",
            "response_code": 403,
            "decision": "forbid",
            "reason": null,
        }),
    );
    let events = decode("pod_create_forbidden_status.json");
    assert_eq!(events[0].pod_specs.len(), 1);
    assert_eq!(events[0].pod_specs[0].owner_kind, "Pod");
    assert!(events[0].pod_specs[0].host_ipc);
    assert_eq!(events[0].images[0].tag.as_deref(), Some("22.04"));
}

#[test]
fn strategic_merge_patch_gives_a_partial_spec() {
    let events = decode("pod_strategic_merge_patch.json");
    let spec = &events[0].pod_specs[..];
    assert_eq!(spec.len(), 1);
    assert_eq!(
        spec[0].containers.len(),
        1,
        "the $patch directive is not a container"
    );
    assert_eq!(spec[0].containers[0].image, "nginx:1.27");
    assert!(!spec[0].host_network);
}

#[test]
fn pod_template_spec() {
    let events = decode("podtemplate_create.json");
    assert_eq!(events[0].pod_specs.len(), 1);
    assert_eq!(events[0].pod_specs[0].owner_kind, "PodTemplate");
    assert!(events[0].pod_specs[0].host_network);
    assert_eq!(events[0].images[0].registry, "quay.io");
}

#[test]
fn bodies_without_a_pod_spec_give_none() {
    check(
        "deployment_patch_json_array.json",
        json!({"pod_specs": [], "images": []}),
    );
    check(
        "deployment_scale_subresource.json",
        json!({"pod_specs": [], "images": []}),
    );
    check("exec_websocket_get.json", json!({"pod_specs": []}));
}

#[test]
fn psa_violations_are_split_into_findings() {
    check(
        "psa_audit_violations.json",
        json!({
            "psa_violations": [
                "allowPrivilegeEscalation != false (container \"web\" must set securityContext.allowPrivilegeEscalation=false)",
                "unrestricted capabilities (container \"web\" must set securityContext.capabilities.drop=[\"ALL\"])",
                "runAsNonRoot != true (pod or container \"web\" must set securityContext.runAsNonRoot=true)",
            ],
            "reason": null,
        }),
    );
}

#[test]
fn impersonation_and_forbid_annotation() {
    check(
        "impersonated_forbidden.json",
        json!({
            "user": "system:admin",
            "actor_kind": "system",
            "impersonated_user": "system:serviceaccount:default:viewer",
            "decision": "forbid",
            "response_code": 403,
        }),
    );
}

#[test]
fn falco_json_output() {
    check(
        "falco_json_output.json",
        json!({
            "source": "falco",
            "time": 1_683_727_757_699_479_i64,
            "cluster": "test-cluster",
            "falco_rule": "Terminal shell in container",
            "falco_priority": "Warning",
            "container_id": "3ad7b26ded6d",
            "pod_name": "web-5f7d",
            "namespace": "prod",
            "user": "root",
            "actor_kind": null,
            "audit_id": null,
            "images": [{
                "reference": "nginx:1.25",
                "registry": "docker.io",
                "repository": "library/nginx",
                "tag": "1.25",
                "digest": null,
            }],
        }),
    );
    let line = fixture("falco_json_output.json");
    assert_eq!(
        decode("falco_json_output.json")[0].raw.as_bytes(),
        line.trim_ascii()
    );
}

#[test]
fn falcosidekick_payload() {
    check(
        "falcosidekick_payload.json",
        json!({
            "source": "falco",
            "cluster": "prod-eu-1",
            "time": 1_709_625_601_000_000_i64,
            "falco_rule": "K8s Secret Get Successfully",
            "user": "system:serviceaccount:ci:deployer",
            "actor_kind": "serviceaccount",
            "namespace": "prod",
            "container_id": null,
            "images": [],
        }),
    );
}

#[test]
fn errors_name_what_was_wrong() {
    type IsExpected = fn(&DecodeError) -> bool;
    let cases: &[(&str, IsExpected)] = &[
        ("kubernetes_core_event.json", |error| {
            matches!(error, DecodeError::Unrecognised(_))
        }),
        ("not_an_event.json", |error| {
            matches!(error, DecodeError::Unrecognised(_))
        }),
        ("truncated_json.json", |error| {
            matches!(error, DecodeError::Json(_))
        }),
        (
            "missing_timestamp.json",
            |error| matches!(error, DecodeError::Timestamp { value } if value.is_empty()),
        ),
        (
            "invalid_timestamp.json",
            |error| matches!(error, DecodeError::Timestamp { value } if value == "yesterday at noon"),
        ),
        ("falco_without_time.json", |error| {
            matches!(error, DecodeError::Timestamp { .. })
        }),
    ];
    for (name, is_expected) in cases {
        let error = decode_with(name, &options()).expect_err(name);
        assert!(is_expected(&error), "{name}: {error}");
    }
}

#[test]
fn other_inputs_are_rejected_without_panicking() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "not an audit event or Falco alert: empty line"),
        (b"  \r\n", "not an audit event or Falco alert: empty line"),
        (
            b"42",
            "not an audit event or Falco alert: not a JSON object or array",
        ),
        (
            b"[1]",
            "not an audit event or Falco alert: array element is not an object",
        ),
        (
            b"{\"kind\":\"EventList\",\"items\":[{\"rule\":\"r\",\"output\":\"o\"}]}",
            "not an audit event or Falco alert: event list item is not an audit event",
        ),
        (b"{\"auditID\":\"\xff\"}", "invalid UTF-8 at byte 12"),
        (
            b"{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"stage\":\"ResponseComplete\",\"verb\":\"get\",\"stageTimestamp\":\"2026-01-02T03:04:05Z\"}",
            "not an audit event or Falco alert: audit event without an auditID",
        ),
        (
            b"{\"kind\":\"Event\",\"auditID\":\" \",\"verb\":\"get\",\"stageTimestamp\":\"2026-01-02T03:04:05Z\"}",
            "not an audit event or Falco alert: audit event without an auditID",
        ),
    ];
    for (line, message) in cases {
        let mut events = Vec::new();
        let error = decode_line(line, &options(), &mut events).expect_err(message);
        assert_eq!(error.to_string(), *message);
        assert!(events.is_empty());
    }
    let mut events = Vec::new();
    assert!(matches!(
        decode_line(b"nope", &options(), &mut events),
        Err(DecodeError::Json(_))
    ));
}

#[test]
fn timestamps_rewritten_by_log_shippers_are_read() {
    // Shippers re-serialise `stageTimestamp` with a space for the `T`, without a zone (UTC) or
    // with a `+HHMM` offset; all name the same instant.
    for stamp in [
        "2026-01-02T03:04:05.250000Z",
        "2026-01-02 03:04:05.25",
        "2026-01-02T03:04:05.25",
        "2026-01-02 05:04:05.25+0200",
    ] {
        let line = format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseComplete","verb":"get","stageTimestamp":"{stamp}"}}"#
        );
        let mut events = Vec::new();
        decode_line(line.as_bytes(), &options(), &mut events).expect(stamp);
        assert_eq!(
            format_rfc3339_micros(events[0].time),
            "2026-01-02T03:04:05.250000Z",
            "{stamp}"
        );
    }
}

#[test]
fn on_error_the_output_is_unchanged() {
    let mut events = decode("metadata_get_pod.json");
    let before = events.clone();
    let line = fixture("eventlist_item_without_timestamp.json");
    let error = decode_line(&line, &options(), &mut events).expect_err("second item has no time");
    assert!(matches!(error, DecodeError::Timestamp { .. }));
    assert_eq!(events, before);
}

#[test]
fn empty_event_list_decodes_to_nothing() {
    let mut events = Vec::new();
    let outcome = decode_line(
        br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}"#,
        &options(),
        &mut events,
    )
    .unwrap();
    assert_eq!(outcome, DecodeOutcome::default());
    assert!(events.is_empty());
}

#[test]
fn a_created_object_without_objectref_name_is_named_from_its_body() {
    // The response holds the name generated from `generateName`.
    check(
        "pod_create_generate_name_without_objectref_name.json",
        json!({"name": "debug-x7k2p", "pod_name": "debug-x7k2p", "namespace": "shop"}),
    );
    // At Request level only the request body is there.
    check(
        "deployment_create_request_level_without_objectref_name.json",
        json!({"name": "web", "resource": "deployments"}),
    );
}
