//! Cloud envelopes: AKS diagnostic records, EKS CloudWatch Logs messages and GKE Cloud Audit
//! Logs entries decode through the ordinary audit path, with the same redaction.

use event::{DecodeError, DecodeOutcome, decode_line};
use serde_json::{Value, json};

use crate::common::{check, decode, decode_with, fixture, options};

const CANARY: &str = "S3CR3T-CANARY-7d1f";

fn assert_no_canary(name: &str, events: &[event::Event]) {
    assert!(
        String::from_utf8_lossy(&fixture(name)).contains(CANARY),
        "{name}: fixture lacks the canary"
    );
    for event in events {
        let text = serde_json::to_string(event).unwrap();
        assert!(!text.contains(CANARY), "{name}: canary leaked: {text}");
    }
}

#[test]
fn aks_records_with_string_and_object_logs() {
    let name = "aks_records_string_and_object_log.json";
    let (events, outcome) = decode_with(name, &options()).unwrap();
    assert_eq!(
        outcome,
        DecodeOutcome {
            events: 2,
            filtered: 1
        }
    );
    check(
        name,
        json!([
            {"audit_id": "aks-secret-create", "verb": "create", "resource": "secrets",
             "namespace": "prod", "name": "db", "response_code": 201, "cluster": "test-cluster"},
            {"audit_id": "aks-object-log", "verb": "delete", "resource": "pods", "name": "web-1"},
        ]),
    );
    assert_no_canary(name, &events);
    // `raw` is the inner audit event, not the record around it.
    let raw: Value = serde_json::from_str(&events[0].raw).unwrap();
    assert_eq!(raw["auditID"], "aks-secret-create");
    assert!(raw.get("properties").is_none());
    assert!(raw["requestObject"]["stringData"]["password"].is_string());
}

#[test]
fn aks_single_record_with_byte_order_mark() {
    check(
        "aks_single_record_bom.json",
        json!({"audit_id": "aks-bom-record", "verb": "get", "name": "web-0", "decision": "allow"}),
    );
}

#[test]
fn aks_record_of_another_category_is_filtered() {
    let line = br#"{"category":"cluster-autoscaler","properties":{"log":"I0102 scaled up"}}"#;
    let mut events = Vec::new();
    let outcome = decode_line(line, &options(), &mut events).unwrap();
    assert_eq!(
        outcome,
        DecodeOutcome {
            events: 0,
            filtered: 1
        }
    );
    assert!(events.is_empty());
}

#[test]
fn aks_audit_record_with_text_log_is_an_error() {
    let line = br#"{"records":[{"category":"kube-audit","properties":{"log":"{\"kind\":\"Event\",\"auditID\":\"a\",\"stage\":\"ResponseComplete\",\"verb\":\"get\",\"stageTimestamp\":\"2026-01-02T03:04:05Z\"}"}},{"category":"kube-audit","properties":{"log":"I0102 not json"}}]}"#;
    let mut events = Vec::new();
    let error = decode_line(line, &options(), &mut events).unwrap_err();
    assert!(matches!(error, DecodeError::Unrecognised(_)), "{error}");
    assert!(events.is_empty(), "out is left as it was");
}

#[test]
fn eks_cloudwatch_data_message() {
    let (_, outcome) = decode_with("eks_cloudwatch_data_message.json", &options()).unwrap();
    assert_eq!(
        outcome,
        DecodeOutcome {
            events: 2,
            filtered: 0
        }
    );
    check(
        "eks_cloudwatch_data_message.json",
        json!([
            {"audit_id": "eks-one", "verb": "get", "resource": "pods"},
            {"audit_id": "eks-two", "verb": "list", "resource": "configmaps", "namespace": "kube-system"},
        ]),
    );
}

#[test]
fn eks_cloudwatch_control_message_is_filtered() {
    let (events, outcome) = decode_with("eks_cloudwatch_control_message.json", &options()).unwrap();
    assert!(events.is_empty());
    assert_eq!(
        outcome,
        DecodeOutcome {
            events: 0,
            filtered: 1
        }
    );
}

#[test]
fn eks_log_events_of_other_streams_are_filtered() {
    let line = br#"{"messageType":"DATA_MESSAGE","logStream":"authenticator-abc","logEvents":[{"id":"1","timestamp":1,"message":"time=x msg=access granted"}]}"#;
    let mut events = Vec::new();
    let outcome = decode_line(line, &options(), &mut events).unwrap();
    assert_eq!(
        outcome,
        DecodeOutcome {
            events: 0,
            filtered: 1
        }
    );
}

#[test]
fn gke_secret_create_is_mapped_and_redacted() {
    let name = "gke_secret_create.json";
    check(
        name,
        json!({
            "time": 1_767_323_045_123_456_i64,
            "audit_id": "gke-operation-1",
            "stage": "ResponseComplete",
            "level": "RequestResponse",
            "verb": "create",
            "request_uri": "/api/v1/namespaces/prod/secrets/db",
            "user": "alice@example.com",
            "user_groups": [],
            "source_ips": ["10.0.0.7"],
            "user_agent": "kubectl/v1.30.1",
            "resource": "secrets",
            "api_group": null,
            "namespace": "prod",
            "name": "db",
            "response_code": 200,
            "decision": "allow",
            "reason": "RBAC: allowed",
        }),
    );
    let events = decode(name);
    assert_no_canary(name, &events);
    let raw: Value = serde_json::from_str(&events[0].raw).unwrap();
    assert_eq!(
        raw["annotations"]["kubetrail.io/inferred"],
        "stage,level,responseStatus.code"
    );
    assert!(raw["requestObject"].get("@type").is_none());
    assert_eq!(raw["requestObject"]["kind"], "Secret");
}

#[test]
fn gke_forbidden_non_resource_request() {
    check(
        "gke_forbidden_nonresource.json",
        json!({
            "audit_id": "gke-insert-2",
            "level": "Metadata",
            "verb": "get",
            "request_uri": "/readyz",
            "resource": null,
            "namespace": null,
            "response_code": 403,
            "decision": "forbid",
        }),
    );
}

#[test]
fn gke_entry_of_another_service_is_filtered() {
    let (events, outcome) = decode_with("gke_other_service.json", &options()).unwrap();
    assert!(events.is_empty());
    assert_eq!(
        outcome,
        DecodeOutcome {
            events: 0,
            filtered: 1
        }
    );
}

#[test]
fn an_object_that_is_no_envelope_is_still_rejected() {
    let mut events = Vec::new();
    let error = decode_line(br#"{"hello":"world"}"#, &options(), &mut events).unwrap_err();
    assert_eq!(
        error.to_string(),
        "not an audit event or Falco alert: no auditID, items or Falco rule"
    );
}

#[test]
fn envelopes_name_their_cluster_when_asked() {
    for (name, cluster) in [
        ("eks_cloudwatch_data_message.json", "prod"),
        ("gke_secret_create.json", "prod"),
        ("aks_records_string_and_object_log.json", "test"),
    ] {
        let mut named = Vec::new();
        event::decode_line_cluster_from_envelope(&fixture(name), &options(), &mut named)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert!(!named.is_empty(), "{name}: no events");
        for event in &named {
            assert_eq!(event.cluster, cluster, "{name}");
        }
        // The cluster is part of the identity: the same event named by its envelope is
        // another event than the one named by the options.
        let plain = decode(name);
        assert!(plain.iter().all(|event| event.cluster == "test-cluster"));
        assert_ne!(plain[0].event_id, named[0].event_id, "{name}");
    }
    // A plain event names no cluster: the options' name stays.
    let mut events = Vec::new();
    event::decode_line_cluster_from_envelope(
        &fixture("eventlist_two_items.json"),
        &options(),
        &mut events,
    )
    .unwrap();
    assert!(events.iter().all(|event| event.cluster == "test-cluster"));
}
