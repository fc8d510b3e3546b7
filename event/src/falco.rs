//! Falco alert normalisation: `json_output` lines and falcosidekick payloads.

use crate::DecodeOptions;
use crate::audit::{Document, Text};
use crate::error::DecodeError;
use crate::id::falco_event_id;
use crate::image::parse_image;
use crate::model::{Event, Source};
use crate::normalise::{actor_kind, redact_event_text};
use crate::redact::redact_credentials;
use crate::time::parse_rfc3339_micros;

/// A Falco alert's time (µs) and its event id (from its host, time as sent, rule and output).
pub(crate) fn falco_time_and_id(document: &Document<'_>) -> Result<(i64, String), DecodeError> {
    let text = document
        .time
        .as_ref()
        .ok_or_else(|| DecodeError::Timestamp {
            value: String::new(),
        })?
        .as_str();
    let time = parse_rfc3339_micros(text).ok_or_else(|| DecodeError::Timestamp {
        value: text.to_owned(),
    })?;
    let event_id = falco_event_id(
        document.hostname.as_ref().map_or("", Text::as_str),
        text,
        document.rule.as_ref().map_or("", Text::as_str),
        document.output.as_ref().map_or("", Text::as_str),
    );
    Ok((time, event_id))
}

/// Normalise one Falco alert. `text` is the alert's JSON text, which becomes `raw` after
/// credential redaction.
pub(crate) fn falco_event(
    document: Document<'_>,
    text: &str,
    options: &DecodeOptions,
) -> Result<Event, DecodeError> {
    let (time, event_id) = falco_time_and_id(&document)?;
    let rule = document.rule.map(Text::into_string).unwrap_or_default();
    let fields = document.output_fields.unwrap_or_default();

    let cluster = fields
        .cluster_name
        .or(fields.audit_cluster_name)
        .map_or_else(|| options.cluster.clone(), Text::into_string);
    let audit_user = fields.audit_user_name.map(Text::into_string);
    let actor_kind = audit_user
        .as_deref()
        .and_then(|user| actor_kind(Some(user), &[]));
    let user = fields.user_name.map(Text::into_string).or(audit_user);
    let images = match fields.container_image_repository {
        Some(repository) => {
            let mut reference = repository.into_string();
            if let Some(tag) = fields.container_image_tag {
                reference.push(':');
                reference.push_str(tag.as_str());
            }
            if let Some(digest) = fields.container_image_digest {
                reference.push('@');
                reference.push_str(digest.as_str());
            }
            vec![parse_image(&reference)]
        }
        None => Vec::new(),
    };
    let raw = redact_credentials(text);
    let credentials_found = matches!(raw, std::borrow::Cow::Owned(_));
    let raw = raw.into_owned();

    let mut event = Event {
        event_id,
        time,
        cluster,
        source: Source::Falco,
        audit_id: None,
        stage: None,
        level: None,
        verb: None,
        request_uri: None,
        user,
        user_groups: Vec::new(),
        impersonated_user: None,
        actor_kind,
        source_ips: Vec::new(),
        user_agent: None,
        resource: None,
        subresource: None,
        api_group: None,
        namespace: fields
            .namespace
            .or(fields.audit_namespace)
            .map(Text::into_string),
        name: None,
        response_code: None,
        decision: None,
        reason: None,
        pod_specs: Vec::new(),
        images,
        exec_command: Vec::new(),
        psa_violations: Vec::new(),
        falco_rule: Some(rule),
        falco_priority: document.priority.map(Text::into_string),
        container_id: fields.container_id.map(Text::into_string),
        pod_name: fields.pod_name.map(Text::into_string),
        raw,
    };
    if credentials_found {
        redact_event_text(&mut event);
    }
    Ok(event)
}
