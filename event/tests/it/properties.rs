//! Property tests: decoding never panics, events round-trip through JSON, and decoded audit
//! events carry the values they were built from.

use event::{
    ActorKind, Decision, DecodeOptions, Event, Source, decode_line, format_rfc3339_micros,
    parse_image, parse_rfc3339_micros,
};
use proptest::prelude::*;
use serde_json::json;

fn options() -> DecodeOptions {
    DecodeOptions {
        cluster: "prop".to_owned(),
        keep_request_received: true,
    }
}

/// Printable text with JSON-hostile characters.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 \"\\\\/:.,{}\\[\\]é☃\t-]{0,24}"
}

fn json_ish() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("null".to_owned()),
        Just("\"auditID\"".to_owned()),
        Just("\"items\"".to_owned()),
        Just("\"kind\"".to_owned()),
        Just("\"EventList\"".to_owned()),
        Just("\"rule\"".to_owned()),
        Just("\"output\"".to_owned()),
        Just("\"time\"".to_owned()),
        Just("\"stageTimestamp\"".to_owned()),
        Just("\"2026-01-02T03:04:05Z\"".to_owned()),
        Just("\"objectRef\"".to_owned()),
        Just("\"resource\"".to_owned()),
        Just("\"secrets\"".to_owned()),
        Just("\"requestObject\"".to_owned()),
        Just("\"data\"".to_owned()),
        Just("\"Bearer x\"".to_owned()),
        Just("\"annotations\"".to_owned()),
        Just("1".to_owned()),
        Just("-1.5e3".to_owned()),
        text().prop_map(|text| format!("{text:?}")),
    ];
    proptest::collection::vec(atom, 0..40).prop_map(|atoms| atoms.concat())
}

fn event_strategy() -> impl Strategy<Value = Event> {
    let names = (
        text(),
        proptest::option::of(text()),
        proptest::collection::vec(text(), 0..3),
    );
    let times = (any::<i64>(), proptest::option::of(any::<i32>()));
    let kinds = (
        prop_oneof![Just(Source::K8sAudit), Just(Source::Falco)],
        proptest::option::of(prop_oneof![
            Just(ActorKind::Human),
            Just(ActorKind::Serviceaccount),
            Just(ActorKind::Node),
            Just(ActorKind::System),
            Just(ActorKind::Anonymous),
        ]),
        proptest::option::of(prop_oneof![Just(Decision::Allow), Just(Decision::Forbid)]),
    );
    (names, times, kinds, text()).prop_map(
        |((name, optional, list), (time, code), (source, actor_kind, decision), image)| Event {
            event_id: name.clone(),
            time,
            cluster: name.clone(),
            source,
            audit_id: optional.clone(),
            stage: optional.clone(),
            level: None,
            verb: optional.clone(),
            request_uri: optional.clone(),
            user: optional.clone(),
            user_groups: list.clone(),
            impersonated_user: None,
            actor_kind,
            source_ips: list.clone(),
            user_agent: optional.clone(),
            resource: optional.clone(),
            subresource: None,
            api_group: optional.clone(),
            namespace: optional.clone(),
            name: optional.clone(),
            response_code: code,
            decision,
            reason: optional.clone(),
            pod_specs: vec![event::PodSpec {
                owner_kind: name.clone(),
                containers: vec![event::Container {
                    image: image.clone(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            images: vec![parse_image(&image)],
            exec_command: list.clone(),
            psa_violations: list,
            falco_rule: optional.clone(),
            falco_priority: optional.clone(),
            container_id: optional.clone(),
            pod_name: optional,
            raw: name,
        },
    )
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut events = Vec::new();
        let _ = decode_line(&bytes, &options(), &mut events);
    }

    #[test]
    fn decoding_json_ish_text_never_panics_and_errors_leave_no_events(text in json_ish()) {
        let mut events = Vec::new();
        let result = decode_line(text.as_bytes(), &options(), &mut events);
        match result {
            Ok(outcome) => prop_assert_eq!(outcome.events, events.len()),
            Err(_) => prop_assert!(events.is_empty()),
        }
    }

    #[test]
    fn events_round_trip_through_json(event in event_strategy()) {
        let json = serde_json::to_string(&event).unwrap();
        let back: Event = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, event);
    }

    #[test]
    fn decoded_audit_events_carry_the_generated_values(
        audit_id in "[a-f0-9-]{1,36}",
        user in text(),
        groups in proptest::collection::vec(text(), 0..3),
        verb in "[a-z]{1,10}",
        resource in "[a-z]{1,12}",
        namespace in proptest::option::of("[a-z0-9-]{1,20}"),
        name in proptest::option::of(text()),
        user_agent in text(),
        code in 100..600i32,
        micros in 0..253_402_300_799_999_999_i64,
        stage in prop_oneof![Just("ResponseComplete"), Just("ResponseStarted"), Just("Panic")],
    ) {
        let line = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": audit_id,
            "stage": stage,
            "requestURI": "/x",
            "verb": verb,
            "user": {"username": user, "groups": groups},
            "userAgent": user_agent,
            "objectRef": {"resource": resource, "namespace": namespace, "name": name},
            "responseStatus": {"code": code},
            "stageTimestamp": format_rfc3339_micros(micros),
        })
        .to_string();
        let mut events = Vec::new();
        decode_line(line.as_bytes(), &options(), &mut events).unwrap();
        prop_assert_eq!(events.len(), 1);
        let event = &events[0];
        prop_assert_eq!(event.audit_id.as_deref(), Some(audit_id.as_str()));
        prop_assert_eq!(event.stage.as_deref(), Some(stage));
        prop_assert_eq!(event.verb.as_deref(), Some(verb.as_str()));
        prop_assert_eq!(event.resource.as_deref(), Some(resource.as_str()));
        prop_assert_eq!(&event.namespace, &namespace);
        prop_assert_eq!(event.response_code, Some(code));
        prop_assert_eq!(event.time, micros);
        prop_assert_eq!(event.event_id.clone(), event::audit_event_id("prop", &audit_id, stage));
        prop_assert_eq!(event.decision, Some(if code == 401 || code == 403 { Decision::Forbid } else { Decision::Allow }));
        // Free text may hold something that looks like a credential, which is redacted.
        let expected_user = event::redact_credentials(&user).into_owned();
        prop_assert_eq!(event.user.as_deref(), Some(expected_user.as_str()));
        let expected_user_agent = event::redact_credentials(&user_agent).into_owned();
        prop_assert_eq!(event.user_agent.as_deref(), Some(expected_user_agent.as_str()));
        prop_assert_eq!(event.user_groups.len(), groups.len());
        if let Some(name) = &name {
            let expected_name = event::redact_credentials(name).into_owned();
            prop_assert_eq!(event.name.as_deref(), Some(expected_name.as_str()));
        }
    }

    #[test]
    fn rfc3339_round_trips(micros in -62_135_596_800_000_000_i64..253_402_300_799_999_999_i64) {
        prop_assert_eq!(parse_rfc3339_micros(&format_rfc3339_micros(micros)), Some(micros));
    }

    #[test]
    fn fast_parser_agrees_with_chrono(micros in 0..253_402_300_799_999_999_i64, nanos in 0..1000u32) {
        let text = format!("{}{:03}Z", format_rfc3339_micros(micros).trim_end_matches('Z'), nanos);
        let chrono_micros = chrono::DateTime::parse_from_rfc3339(&text).unwrap().timestamp_micros();
        prop_assert_eq!(parse_rfc3339_micros(&text), Some(chrono_micros));
    }
}
