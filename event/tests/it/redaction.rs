//! The redaction contract (design.md §3): secret values never reach any field of a decoded
//! event, while keys and the rest of the event stay.

use event::{Event, REDACTED, redact_credentials};
use serde_json::Value;

use crate::common::{self, decode};

const CANARY: &str = "S3CR3T-CANARY-7d1f";
/// `CANARY`, base64-encoded, as it appears in Secret `data`.
const CANARY_BASE64: &str = "UzNDUjNULUNBTkFSWS03ZDFm";

/// Fixtures holding the canary in a place the contract says must be redacted.
const CANARY_FIXTURES: &[&str] = &[
    "secret_create_request_response.json",
    "secret_list_response.json",
    "patch_json_array.json",
    "secret_merge_patch_last_applied.json",
    "token_request.json",
    "token_review.json",
    "exec_authorization_in_command.json",
    "falco_bearer_in_cmdline.json",
];

fn assert_no_canary(name: &str, event: &Event) {
    let debug = format!("{event:?}");
    let json = serde_json::to_string(event).unwrap();
    for text in [&debug, &json, &event.raw] {
        assert!(!text.contains(CANARY), "{name}: canary leaked: {text}");
        assert!(
            !text.contains(CANARY_BASE64),
            "{name}: base64 canary leaked: {text}"
        );
    }
}

#[test]
fn the_fixtures_really_hold_the_canary() {
    for name in CANARY_FIXTURES {
        let line = String::from_utf8(common::fixture(name)).unwrap();
        assert!(
            line.contains(CANARY) || line.contains(CANARY_BASE64),
            "{name}"
        );
    }
}

#[test]
fn canary_never_appears_in_a_decoded_event() {
    for name in CANARY_FIXTURES {
        let events = decode(name);
        assert_eq!(events.len(), 1, "{name}");
        assert_no_canary(name, &events[0]);
        let raw: Value = serde_json::from_str(&events[0].raw)
            .unwrap_or_else(|error| panic!("{name}: raw is not JSON: {error}"));
        assert!(raw.is_object(), "{name}");
        assert!(events[0].raw.contains(REDACTED), "{name}");
    }
}

fn raw_of(name: &str) -> Value {
    serde_json::from_str(&decode(name)[0].raw).unwrap()
}

#[test]
fn secret_keys_stay_and_values_go() {
    let raw = raw_of("secret_create_request_response.json");
    assert_eq!(
        raw["requestObject"]["stringData"],
        serde_json::json!({"password": REDACTED, "username": REDACTED})
    );
    assert_eq!(
        raw["responseObject"]["data"],
        serde_json::json!({"password": REDACTED, "username": REDACTED})
    );
    let annotations = &raw["responseObject"]["metadata"]["annotations"];
    assert_eq!(
        annotations["kubectl.kubernetes.io/last-applied-configuration"],
        REDACTED
    );
    assert_eq!(annotations["team"], "payments", "other annotations stay");
    assert_eq!(raw["auditID"], "secret-create");
    assert_eq!(raw["objectRef"]["name"], "db");
}

#[test]
fn the_rest_of_the_line_keeps_its_bytes() {
    let line = String::from_utf8(common::fixture("secret_create_request_response.json")).unwrap();
    let raw = &decode("secret_create_request_response.json")[0].raw;
    let prefix = &line[..line.find("\"requestObject\"").unwrap()];
    assert!(
        raw.starts_with(prefix),
        "the fields before the bodies are untouched"
    );
    let without_bodies = |text: &str| {
        let mut value: Value = serde_json::from_str(text).unwrap();
        let object = value.as_object_mut().unwrap();
        object.remove("requestObject").expect("a request body");
        object.remove("responseObject").expect("a response body");
        value
    };
    assert_eq!(without_bodies(raw), without_bodies(&line));
}

#[test]
fn secret_list_items_are_redacted() {
    let raw = raw_of("secret_list_response.json");
    let items = raw["responseObject"]["items"].as_array().unwrap();
    assert_eq!(items[0]["data"]["password"], REDACTED);
    assert_eq!(items[1]["data"]["tls.key"], REDACTED);
    assert_eq!(items[1]["type"], "kubernetes.io/tls");
}

#[test]
fn every_json_patch_value_on_a_secret_is_redacted() {
    let raw = raw_of("patch_json_array.json");
    let operations = raw["requestObject"].as_array().unwrap();
    assert_eq!(operations[0]["value"], REDACTED);
    assert_eq!(operations[0]["path"], "/data/password");
    assert_eq!(operations[1]["value"], REDACTED);
    assert_eq!(
        operations[2],
        serde_json::json!({"op": "remove", "path": "/data/old"})
    );
}

#[test]
fn tokens_are_redacted() {
    let raw = raw_of("token_request.json");
    assert_eq!(raw["responseObject"]["status"]["token"], REDACTED);
    assert_eq!(
        raw["responseObject"]["status"]["expirationTimestamp"],
        "2026-01-02T04:04:05Z"
    );
    let raw = raw_of("token_review.json");
    assert_eq!(raw["requestObject"]["spec"]["token"], REDACTED);
    assert_eq!(raw["responseObject"]["spec"]["token"], REDACTED);
    assert_eq!(raw["responseObject"]["status"]["user"]["username"], "bob");
}

#[test]
fn credentials_in_exec_commands_are_redacted_after_decoding() {
    let event = &decode("exec_authorization_in_command.json")[0];
    assert_eq!(
        event.exec_command,
        ["curl", "-H", "Authorization: <redacted>", "http://api"]
    );
}

#[test]
fn falco_bearer_token_is_redacted_but_the_alert_stays() {
    let event = &decode("falco_bearer_in_cmdline.json")[0];
    let raw: Value = serde_json::from_str(&event.raw).unwrap();
    assert!(
        raw["output"]
            .as_str()
            .unwrap()
            .contains("Authorization: <redacted>")
    );
    assert_eq!(raw["output_fields"]["user.name"], "root");
    assert_eq!(
        event.falco_rule.as_deref(),
        Some("Contact K8S API Server From Container")
    );
}

#[test]
fn ordinary_events_are_not_touched() {
    for name in [
        "metadata_get_pod.json",
        "deployment_privileged_template.json",
        "falco_json_output.json",
    ] {
        let line = common::fixture(name);
        let event = &decode(name)[0];
        assert_eq!(event.raw.as_bytes(), line.trim_ascii(), "{name}");
        assert!(!event.raw.contains(REDACTED), "{name}");
    }
    assert_eq!(redact_credentials("nothing to see"), "nothing to see");
}
