//! kubetrail's shared vocabulary: audit and Falco events, their normalisation, secret
//! redaction, event identity, and alerts. No IO, no async: pure functions over bytes.

mod audit;
mod decode;
mod envelope;
mod error;
mod falco;
mod id;
mod image;
mod manifest;
pub mod model;
mod normalise;
mod podspec;
mod policy;
mod redact;
mod time;

pub use error::DecodeError;
pub use id::{alert_id, audit_event_id, falco_event_id};
pub use image::parse_image;
pub use manifest::{ManifestRequest, ManifestVerb, manifest_audit_event, resource_of_kind};
pub use model::{
    ActorKind, Alert, AlertSource, Container, ContainerKind, DeadLetter, Decision, Event, ImageRef,
    PodSpec, Severity, Source, Volume,
};
pub use policy::{AuditLevel, AuditPolicy, GroupResources, PolicyRule};
pub use redact::{REDACTED, dead_letter_excerpt, redact_credentials};
pub use time::{format_rfc3339_micros, parse_rfc3339_micros};

/// How to decode: settings that come from the source's configuration.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Cluster name given to audit events (they do not carry one) and to Falco events.
    pub cluster: String,
    /// Keep `RequestReceived` stage events (dropped by default, design.md §3).
    pub keep_request_received: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            cluster: "default".to_owned(),
            keep_request_received: false,
        }
    }
}

/// What decoding one line did, besides the events it appended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeOutcome {
    /// Events appended to the output.
    pub events: usize,
    /// Events recognised but dropped by policy (e.g. `RequestReceived`).
    pub filtered: usize,
}

/// Decode one line (one JSON document): an audit `Event`, an `EventList`, a JSON array of
/// either, a Falco `json_output` alert, a falcosidekick payload, or a cloud envelope of audit
/// events (AKS diagnostic records, an EKS CloudWatch Logs subscription message, a GKE
/// `k8s.io` Cloud Audit Logs entry; see `envelope.rs` for what GKE fields are inferred).
/// Envelope records that hold no audit event (other AKS categories, CloudWatch control
/// messages, other GKE services) count as filtered. Appends the normalised,
/// redacted events to `out`. A line that is not one of those is an error with the reason;
/// `out` is then unchanged.
pub fn decode_line(
    line: &[u8],
    options: &DecodeOptions,
    out: &mut Vec<Event>,
) -> Result<DecodeOutcome, DecodeError> {
    decode::decode_line(line, decode::Envelopes::Unwrap, options, out)
}

/// Who an event is, without the rest of it: what [`identify_line`] gives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub source: Source,
    /// The id [`decode_line`] gives the event.
    pub event_id: String,
}

/// Who the events of one line are, at a fraction of [`decode_line`]'s cost (nothing is
/// normalised, redacted or copied): the same events, in the same order, with the same ids,
/// and a line `decode_line` refuses is refused with the same error. For callers that only
/// count and deduplicate events (the ingest routes, before the log).
pub fn identify_line(
    line: &[u8],
    options: &DecodeOptions,
    out: &mut Vec<Identity>,
) -> Result<DecodeOutcome, DecodeError> {
    decode::decode_line(line, decode::Envelopes::Unwrap, options, out)
}

/// [`decode_line`], except that events found in a cloud envelope that names its cluster get
/// that name rather than `options.cluster`: the EKS log group `/aws/eks/<cluster>/cluster`,
/// GKE's `resource.labels.cluster_name`, the last part of an AKS record's `resourceId`
/// (`.../managedClusters/<cluster>`, lower-cased). Plain events and envelopes without the
/// name get `options.cluster`.
pub fn decode_line_cluster_from_envelope(
    line: &[u8],
    options: &DecodeOptions,
    out: &mut Vec<Event>,
) -> Result<DecodeOutcome, DecodeError> {
    decode::decode_line(line, decode::Envelopes::UnwrapNamingCluster, options, out)
}
