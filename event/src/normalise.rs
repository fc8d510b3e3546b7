//! Audit event normalisation: the derived fields of design.md §3, computed once at ingest,
//! and the redacted raw text.

use serde_json::Value;
use serde_json::value::RawValue;

use crate::DecodeOptions;
use crate::audit::{Document, Text, UserInfo};
use crate::error::DecodeError;
use crate::id::audit_event_id;
use crate::image::parse_image;
use crate::model::{ActorKind, Decision, Event, ImageRef, PodSpec, Source};
use crate::podspec::{PodSpecRequest, extract_pod_specs};
use crate::redact::{BodyRules, redact_body, redact_credentials_in};
use crate::time::parse_rfc3339_micros;

/// Normalise one audit event. `text` is the event's own JSON text (trimmed), which becomes
/// `raw` after redaction.
pub(crate) fn audit_event(
    document: Document<'_>,
    text: &str,
    options: &DecodeOptions,
) -> Result<Event, DecodeError> {
    let time = audit_time(&document)?;
    let object_ref = document.object_ref;
    let (resource, namespace, name, api_group, subresource) = match object_ref {
        Some(object_ref) => (
            object_ref.resource,
            object_ref.namespace,
            object_ref.name,
            object_ref
                .api_group
                .filter(|group| !group.as_str().is_empty()),
            object_ref
                .subresource
                .filter(|subresource| !subresource.as_str().is_empty()),
        ),
        None => (None, None, None, None, None),
    };
    let verb = document.verb;
    let pod_specs = extract_pod_specs(PodSpecRequest {
        verb: verb.as_ref().map(Text::as_str),
        resource: resource.as_ref().map(Text::as_str),
        subresource: subresource.as_ref().map(Text::as_str),
        api_group: api_group.as_ref().map(Text::as_str),
        request_object: document.request_object,
        response_object: document.response_object,
    });
    let images = images_of(&pod_specs);
    let body_rules = BodyRules::for_resource(
        resource.as_ref().map(Text::as_str),
        subresource.as_ref().map(Text::as_str),
    );
    let mut raw = raw_with_bodies_redacted(
        text,
        body_rules,
        [document.request_object, document.response_object],
    );
    let credentials_found = redact_credentials_in(&mut raw);

    let exec_command = match (&subresource, &document.request_uri) {
        (Some(subresource), Some(uri)) if subresource.as_str() == "exec" => {
            exec_command(uri.as_str())
        }
        _ => Vec::new(),
    };
    let annotations = document.annotations.unwrap_or_default();
    let response_code = document.response_status.and_then(|status| status.code);
    let decision = match annotations.decision.as_ref().map(Text::as_str) {
        Some("allow") => Some(Decision::Allow),
        Some("forbid") => Some(Decision::Forbid),
        _ => match response_code {
            Some(401 | 403) => Some(Decision::Forbid),
            Some(_) => Some(Decision::Allow),
            None => None,
        },
    };
    let psa_violations = annotations
        .psa_violations
        .as_ref()
        .map(|violations| split_psa_violations(violations.as_str()))
        .unwrap_or_default();
    let (user, user_groups) = split_user(document.user);
    let actor_kind = actor_kind(user.as_deref(), &user_groups);
    let (impersonated_user, _) = split_user(document.impersonated_user);
    let audit_id = document.audit_id.map(Text::into_string).unwrap_or_default();
    let stage = document.stage.map(Text::into_string);
    let event_id = audit_event_id(&options.cluster, &audit_id, stage.as_deref().unwrap_or(""));
    let resource = resource.map(Text::into_string);
    let name = name
        .map(Text::into_string)
        .or_else(|| match verb.as_ref().map(Text::as_str) {
            Some("create") if subresource.is_none() => {
                created_name(document.response_object, document.request_object)
            }
            _ => None,
        });
    let pod_name = if resource.as_deref() == Some("pods") {
        name.clone()
    } else {
        None
    };

    let mut event = Event {
        event_id,
        time,
        cluster: options.cluster.clone(),
        source: Source::K8sAudit,
        audit_id: Some(audit_id),
        stage,
        level: document.level.map(Text::into_string),
        verb: verb.map(Text::into_string),
        request_uri: document.request_uri.map(Text::into_string),
        user,
        user_groups,
        impersonated_user,
        actor_kind,
        source_ips: document.source_ips.unwrap_or_default(),
        user_agent: document.user_agent.map(Text::into_string),
        resource,
        subresource: subresource.map(Text::into_string),
        api_group: api_group.map(Text::into_string),
        namespace: namespace.map(Text::into_string),
        name,
        response_code,
        decision,
        reason: annotations
            .reason
            .map(Text::into_string)
            .filter(|reason| !reason.is_empty()),
        pod_specs,
        images,
        exec_command,
        psa_violations,
        falco_rule: None,
        falco_priority: None,
        container_id: None,
        pod_name,
        raw,
    };
    if credentials_found {
        redact_event_text(&mut event);
    } else {
        // Decoding can reveal credentials the raw text hides (percent-encoded exec commands).
        for argument in &mut event.exec_command {
            redact_credentials_in(argument);
        }
    }
    Ok(event)
}

pub(crate) fn audit_time(document: &Document<'_>) -> Result<i64, DecodeError> {
    let text = document
        .stage_timestamp
        .as_ref()
        .or(document.request_received_timestamp.as_ref())
        .or(document.timestamp.as_ref())
        .ok_or_else(|| DecodeError::Timestamp {
            value: String::new(),
        })?;
    parse_rfc3339_micros(text.as_str()).ok_or_else(|| DecodeError::Timestamp {
        value: text.as_str().to_owned(),
    })
}

fn split_user(user: Option<UserInfo<'_>>) -> (Option<String>, Vec<String>) {
    match user {
        Some(user) => (
            user.username.map(Text::into_string),
            user.groups.unwrap_or_default(),
        ),
        None => (None, Vec::new()),
    }
}

/// The name of a created object: a create request's `objectRef` has no name, so take
/// `metadata.name` from the response (which also holds names made from `generateName`), else
/// from the request.
fn created_name(response: Option<&RawValue>, request: Option<&RawValue>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Object {
        metadata: Option<Metadata>,
    }
    #[derive(serde::Deserialize)]
    struct Metadata {
        name: Option<String>,
    }
    [response, request].into_iter().flatten().find_map(|body| {
        if !body.get().starts_with('{') {
            return None;
        }
        serde_json::from_str::<Object>(body.get())
            .ok()?
            .metadata?
            .name
            .filter(|name| !name.is_empty())
    })
}

/// Who the authenticated user is, from the username and groups.
pub(crate) fn actor_kind(username: Option<&str>, groups: &[String]) -> Option<ActorKind> {
    if username == Some("system:anonymous")
        || groups.iter().any(|group| group == "system:unauthenticated")
    {
        return Some(ActorKind::Anonymous);
    }
    let username = username.filter(|username| !username.is_empty())?;
    Some(if username.starts_with("system:serviceaccount:") {
        ActorKind::Serviceaccount
    } else if username.starts_with("system:node:") {
        ActorKind::Node
    } else if username.starts_with("system:") {
        ActorKind::System
    } else {
        ActorKind::Human
    })
}

/// One `ImageRef` per distinct container image, in order of first appearance.
fn images_of(pod_specs: &[PodSpec]) -> Vec<ImageRef> {
    let mut images: Vec<ImageRef> = Vec::new();
    for container in pod_specs.iter().flat_map(|spec| &spec.containers) {
        if !container.image.is_empty()
            && !images
                .iter()
                .any(|image| image.reference == container.image)
        {
            images.push(parse_image(&container.image));
        }
    }
    images
}

/// The `command` query parameters of an exec request URI, decoded, in order.
pub(crate) fn exec_command(request_uri: &str) -> Vec<String> {
    let Some((_, query)) = request_uri.split_once('?') else {
        return Vec::new();
    };
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    query
        .split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == "command").then(|| decode_query_component(value))
        })
        .collect()
}

fn decode_query_component(value: &str) -> String {
    let spaced = value.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Split a `pod-security.kubernetes.io/audit-violations` value into its findings: the text
/// after `": ` split on `, ` outside parentheses.
pub(crate) fn split_psa_violations(value: &str) -> Vec<String> {
    let findings = value
        .find("\": ")
        .map_or(value, |index| &value[index + 3..]);
    let mut result = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = findings.as_bytes();
    for (index, &byte) in bytes.iter().enumerate() {
        match byte {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b',' if depth == 0 && bytes.get(index + 1) == Some(&b' ') => {
                push_finding(&mut result, &findings[start..index]);
                start = index + 2;
            }
            _ => {}
        }
    }
    if start <= findings.len() {
        push_finding(&mut result, &findings[start..]);
    }
    result
}

fn push_finding(findings: &mut Vec<String>, finding: &str) {
    let finding = finding.trim();
    if !finding.is_empty() {
        findings.push(finding.to_owned());
    }
}

/// The event text with Secret and token values in its request and response bodies redacted.
/// Bodies are spliced back in place so the rest of the text keeps its bytes; without anything
/// to redact the text is copied as is.
fn raw_with_bodies_redacted(
    text: &str,
    rules: BodyRules,
    bodies: [Option<&RawValue>; 2],
) -> String {
    let mut replacements: Vec<(usize, usize, String)> = Vec::new();
    for body in bodies.into_iter().flatten() {
        let body_text = body.get();
        if !rules.applies_to(body_text) {
            continue;
        }
        let Ok(mut value) = serde_json::from_str::<Value>(body_text) else {
            continue;
        };
        if !redact_body(&mut value, rules) {
            continue;
        }
        let start = (body_text.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        let end = start.wrapping_add(body_text.len());
        if end > text.len() || start > end || text.get(start..end) != Some(body_text) {
            return reserialised_with_bodies_redacted(text, rules);
        }
        replacements.push((start, end, value.to_string()));
    }
    if replacements.is_empty() {
        return text.to_owned();
    }
    replacements.sort_by_key(|(start, _, _)| *start);
    let mut raw = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end, replacement) in replacements {
        raw.push_str(&text[copied..start]);
        raw.push_str(&replacement);
        copied = end;
    }
    raw.push_str(&text[copied..]);
    raw
}

/// Fallback when a body is not a slice of the event text: redact a parsed copy of the whole
/// event.
fn reserialised_with_bodies_redacted(text: &str, rules: BodyRules) -> String {
    let Ok(mut event) = serde_json::from_str::<Value>(text) else {
        return text.to_owned();
    };
    for key in ["requestObject", "responseObject"] {
        if let Some(body) = event.get_mut(key) {
            redact_body(body, rules);
        }
    }
    event.to_string()
}

/// Redact credentials in every text field of an event whose raw text held some.
pub(crate) fn redact_event_text(event: &mut Event) {
    let optional = [
        &mut event.audit_id,
        &mut event.stage,
        &mut event.level,
        &mut event.verb,
        &mut event.request_uri,
        &mut event.user,
        &mut event.impersonated_user,
        &mut event.user_agent,
        &mut event.resource,
        &mut event.subresource,
        &mut event.api_group,
        &mut event.namespace,
        &mut event.name,
        &mut event.reason,
        &mut event.falco_rule,
        &mut event.falco_priority,
        &mut event.container_id,
        &mut event.pod_name,
    ];
    for text in optional.into_iter().flatten() {
        redact_credentials_in(text);
    }
    redact_credentials_in(&mut event.cluster);
    for text in event
        .user_groups
        .iter_mut()
        .chain(&mut event.source_ips)
        .chain(&mut event.exec_command)
        .chain(&mut event.psa_violations)
    {
        redact_credentials_in(text);
    }
    for spec in &mut event.pod_specs {
        if let Some(service_account) = &mut spec.service_account {
            redact_credentials_in(service_account);
        }
        for container in &mut spec.containers {
            redact_credentials_in(&mut container.name);
            redact_credentials_in(&mut container.image);
        }
        for volume in &mut spec.volumes {
            redact_credentials_in(&mut volume.name);
            if let Some(host_path) = &mut volume.host_path {
                redact_credentials_in(host_path);
            }
        }
    }
    for image in &mut event.images {
        if redact_credentials_in(&mut image.reference) {
            *image = parse_image(&image.reference);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_kinds() {
        let cases: &[(Option<&str>, &[&str], Option<ActorKind>)] = &[
            (
                Some("system:anonymous"),
                &["system:unauthenticated"],
                Some(ActorKind::Anonymous),
            ),
            (
                Some("someone"),
                &["system:unauthenticated"],
                Some(ActorKind::Anonymous),
            ),
            (
                Some("system:serviceaccount:kube-system:default"),
                &[],
                Some(ActorKind::Serviceaccount),
            ),
            (
                Some("system:node:worker-1"),
                &["system:nodes"],
                Some(ActorKind::Node),
            ),
            (
                Some("system:kube-controller-manager"),
                &[],
                Some(ActorKind::System),
            ),
            (Some("system:apiserver"), &[], Some(ActorKind::System)),
            (
                Some("alice@example.com"),
                &["system:authenticated"],
                Some(ActorKind::Human),
            ),
            (Some(""), &[], None),
            (None, &[], None),
        ];
        for (username, groups, expected) in cases {
            let groups: Vec<String> = groups.iter().map(|group| (*group).to_owned()).collect();
            assert_eq!(actor_kind(*username, &groups), *expected, "{username:?}");
        }
    }

    #[test]
    fn exec_commands_are_decoded_in_order() {
        assert_eq!(
            exec_command(
                "/api/v1/namespaces/d/pods/p/exec?command=sh&command=-c&command=cat+%2Fetc%2Fshadow%20now&container=c&stdin=true"
            ),
            ["sh", "-c", "cat /etc/shadow now"]
        );
        assert_eq!(
            exec_command("/api/v1/namespaces/d/pods/p/exec?command=a%2Bb"),
            ["a+b"]
        );
        assert!(exec_command("/api/v1/namespaces/d/pods/p/exec").is_empty());
        assert_eq!(exec_command("/x?command=&command"), ["", ""]);
    }

    #[test]
    fn psa_violations_are_split_outside_parentheses() {
        let value = r#"would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "x" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (containers "x", "y" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "x" must set securityContext.runAsNonRoot=true)"#;
        assert_eq!(
            split_psa_violations(value),
            [
                r#"allowPrivilegeEscalation != false (container "x" must set securityContext.allowPrivilegeEscalation=false)"#,
                r#"unrestricted capabilities (containers "x", "y" must set securityContext.capabilities.drop=["ALL"])"#,
                r#"runAsNonRoot != true (pod or container "x" must set securityContext.runAsNonRoot=true)"#,
            ]
        );
        assert_eq!(
            split_psa_violations("hostPath volumes (volume \"h\")"),
            ["hostPath volumes (volume \"h\")"]
        );
        assert!(split_psa_violations("").is_empty());
    }
}
