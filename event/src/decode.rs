//! Line decoding: recognise what a JSON line holds (audit Event, EventList, array, Falco
//! alert, or a cloud envelope around audit events) and hand each event to its normaliser.

use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::audit::{Document, Text};
use crate::envelope::decode_envelope;
use crate::error::DecodeError;
use crate::falco::{falco_event, falco_time_and_id};
use crate::id::audit_event_id;
use crate::model::{Event, Source};
use crate::normalise::{audit_event, audit_time};
use crate::{DecodeOptions, DecodeOutcome, Identity};

const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// What decoding makes of each event it finds: a whole event, or only who it is. Both see
/// the same documents and refuse the same ones.
pub(crate) trait Decoded: Sized {
    fn audit(
        document: Document<'_>,
        text: &str,
        options: &DecodeOptions,
    ) -> Result<Self, DecodeError>;
    fn falco(
        document: Document<'_>,
        text: &str,
        options: &DecodeOptions,
    ) -> Result<Self, DecodeError>;
}

impl Decoded for Event {
    fn audit(
        document: Document<'_>,
        text: &str,
        options: &DecodeOptions,
    ) -> Result<Self, DecodeError> {
        audit_event(document, text, options)
    }

    fn falco(
        document: Document<'_>,
        text: &str,
        options: &DecodeOptions,
    ) -> Result<Self, DecodeError> {
        falco_event(document, text, options)
    }
}

impl Decoded for Identity {
    fn audit(
        document: Document<'_>,
        _text: &str,
        options: &DecodeOptions,
    ) -> Result<Self, DecodeError> {
        // The one check of `audit_event` that can refuse an event.
        audit_time(&document)?;
        let audit_id = document.audit_id.as_ref().map_or("", Text::as_str);
        let stage = document.stage.as_ref().map_or("", Text::as_str);
        Ok(Identity {
            source: Source::K8sAudit,
            event_id: audit_event_id(&options.cluster, audit_id, stage),
        })
    }

    fn falco(
        document: Document<'_>,
        _text: &str,
        _options: &DecodeOptions,
    ) -> Result<Self, DecodeError> {
        let (_, event_id) = falco_time_and_id(&document)?;
        Ok(Identity {
            source: Source::Falco,
            event_id,
        })
    }
}

/// Decode one line into `out`; on error `out` is left as it was. With
/// `Envelopes::UnwrapNamingCluster`, events found in a cloud envelope that names its cluster
/// get that cluster instead of `options.cluster`.
pub(crate) fn decode_line<T: Decoded>(
    line: &[u8],
    envelopes: Envelopes,
    options: &DecodeOptions,
    out: &mut Vec<T>,
) -> Result<DecodeOutcome, DecodeError> {
    let length_before = out.len();
    let mut outcome = DecodeOutcome::default();
    let result = decode_text(line, envelopes, options, out, &mut outcome);
    match result {
        Ok(()) => Ok(outcome),
        Err(error) => {
            out.truncate(length_before);
            Err(error)
        }
    }
}

fn decode_text<T: Decoded>(
    line: &[u8],
    envelopes: Envelopes,
    options: &DecodeOptions,
    out: &mut Vec<T>,
    outcome: &mut DecodeOutcome,
) -> Result<(), DecodeError> {
    let line = line.strip_prefix(BYTE_ORDER_MARK).unwrap_or(line);
    let text =
        std::str::from_utf8(line.trim_ascii()).map_err(|error| DecodeError::InvalidUtf8 {
            offset: error.valid_up_to(),
        })?;
    match text.as_bytes().first() {
        None => Err(DecodeError::Unrecognised("empty line")),
        Some(b'{') => decode_object_with(text, envelopes, options, out, outcome),
        Some(b'[') => {
            let elements: Vec<&RawValue> = serde_json::from_str(text)?;
            for element in elements {
                if !element.get().starts_with('{') {
                    return Err(DecodeError::Unrecognised("array element is not an object"));
                }
                decode_object_with(element.get(), envelopes, options, out, outcome)?;
            }
            Ok(())
        }
        Some(_) => {
            serde_json::from_str::<IgnoredAny>(text)?;
            Err(DecodeError::Unrecognised("not a JSON object or array"))
        }
    }
}

/// Whether an object without `auditID`, `items` or a Falco rule may be a cloud envelope, and
/// whose cluster name its events get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Envelopes {
    /// Unwrap envelopes; every event gets `DecodeOptions::cluster`.
    Unwrap,
    /// Unwrap envelopes; an envelope naming its cluster (EKS log group, GKE resource label,
    /// AKS resource id) gives its events that name, others get `DecodeOptions::cluster`.
    UnwrapNamingCluster,
    /// Inside an envelope: no envelope again.
    Reject,
}

/// Decodes an object found inside a cloud envelope: an audit Event, EventList or Falco alert,
/// never another envelope.
pub(crate) fn decode_inner_object<T: Decoded>(
    text: &str,
    options: &DecodeOptions,
    out: &mut Vec<T>,
    outcome: &mut DecodeOutcome,
) -> Result<(), DecodeError> {
    decode_object_with(text, Envelopes::Reject, options, out, outcome)
}

fn decode_object_with<T: Decoded>(
    text: &str,
    envelopes: Envelopes,
    options: &DecodeOptions,
    out: &mut Vec<T>,
    outcome: &mut DecodeOutcome,
) -> Result<(), DecodeError> {
    let document: Document<'_> = serde_json::from_str(text)?;
    if is_event_list(&document) {
        for item in document.items.unwrap_or_default() {
            if !item.get().starts_with('{') {
                return Err(DecodeError::Unrecognised(
                    "event list item is not an object",
                ));
            }
            let item_document: Document<'_> = serde_json::from_str(item.get())?;
            if is_event_list(&item_document) || is_falco(&item_document) {
                return Err(DecodeError::Unrecognised(
                    "event list item is not an audit event",
                ));
            }
            push_audit(item_document, item.get(), options, out, outcome)?;
        }
        Ok(())
    } else if is_falco(&document) {
        out.push(T::falco(document, text, options)?);
        outcome.events += 1;
        Ok(())
    } else if document.audit_id.is_none()
        && envelopes != Envelopes::Reject
        && decode_envelope(
            text,
            envelopes == Envelopes::UnwrapNamingCluster,
            options,
            out,
            outcome,
        )?
    {
        Ok(())
    } else {
        push_audit(document, text, options, out, outcome)
    }
}

fn push_audit<T: Decoded>(
    document: Document<'_>,
    text: &str,
    options: &DecodeOptions,
    out: &mut Vec<T>,
    outcome: &mut DecodeOutcome,
) -> Result<(), DecodeError> {
    if let Some(api_version) = &document.api_version
        && !api_version.as_str().starts_with("audit.k8s.io/")
    {
        return Err(DecodeError::Unrecognised("apiVersion is not audit.k8s.io"));
    }
    if document
        .kind
        .as_ref()
        .is_some_and(|kind| kind.as_str() != "Event")
    {
        return Err(DecodeError::Unrecognised("kind is not Event or EventList"));
    }
    if document
        .audit_id
        .as_ref()
        .is_none_or(|id| id.as_str().trim().is_empty())
    {
        // An event without an auditID cannot be told apart from its other stages or its
        // retries, so it would be stored twice or deduplicated wrongly: it is rejected.
        return Err(DecodeError::Unrecognised(
            if document.kind.is_some() || document.api_version.is_some() {
                "audit event without an auditID"
            } else {
                "no auditID, items or Falco rule"
            },
        ));
    }
    if !options.keep_request_received
        && document.stage.as_ref().map(Text::as_str) == Some("RequestReceived")
    {
        outcome.filtered += 1;
        return Ok(());
    }
    out.push(T::audit(document, text, options)?);
    outcome.events += 1;
    Ok(())
}

fn is_event_list(document: &Document<'_>) -> bool {
    document.items.is_some() || document.kind.as_ref().map(Text::as_str) == Some("EventList")
}

fn is_falco(document: &Document<'_>) -> bool {
    document.audit_id.is_none()
        && document.rule.is_some()
        && (document.priority.is_some()
            || document.output.is_some()
            || document.output_fields.is_some())
}
