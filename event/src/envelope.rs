//! Cloud envelopes around audit events: AKS diagnostic records, EKS CloudWatch Logs
//! subscription messages and GKE Cloud Audit Logs entries. Each is unwrapped into plain
//! audit event JSON that then takes the ordinary path (`decode::decode_inner_object`), so
//! normalisation and redaction are the same as for an event read from an API-server log.
//!
//! Only objects without `auditID`, `items` or a Falco rule are looked at here, so plain
//! events never pay for envelope detection.
//!
//! - AKS: `{"records":[record, ...]}` or one record per line. A record of category
//!   `kube-audit` / `kube-audit-admin` (or with no category) holds the event in
//!   `properties.log`, as a JSON string or an object; records of other categories are
//!   counted as filtered.
//! - EKS: a decompressed CloudWatch Logs subscription message. `DATA_MESSAGE` log events carry
//!   the event JSON in `message`; log events of streams not named `kube-apiserver-audit-*`,
//!   and `CONTROL_MESSAGE`s, are counted as filtered.
//! - GKE: a `LogEntry` whose `protoPayload.serviceName` is `k8s.io` is mapped to a synthetic
//!   `audit.k8s.io/v1` Event (formats.md §6), and that event, redacted, is the `raw` of the
//!   result. The entry lacks a stage, a level and an HTTP code: the stage is set to
//!   `ResponseComplete`, the level to `RequestResponse` when a body is present and `Metadata`
//!   otherwise, the code is derived from the gRPC status, and the annotation
//!   `kubetrail.io/inferred` lists these inferred fields. The audit ID is `operation.id`,
//!   else `insertId`; both timestamps are the entry's `timestamp`. Entries of other services
//!   are counted as filtered.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::audit::Text;
use crate::decode::{Decoded, decode_inner_object};
use crate::error::DecodeError;
use crate::{DecodeOptions, DecodeOutcome};

/// Annotation added to GKE-derived events naming the fields that were guessed.
pub(crate) const ANNOTATION_INFERRED: &str = "kubetrail.io/inferred";
const GKE_INFERRED_FIELDS: &str = "stage,level,responseStatus.code";
const AKS_AUDIT_CATEGORIES: [&str; 2] = ["kube-audit", "kube-audit-admin"];
const EKS_AUDIT_STREAM_PREFIX: &str = "kube-apiserver-audit";
const CLOUDWATCH_TRUNCATED_MARKER: &str = "[Truncated...]";

/// The top-level keys that tell the envelopes apart; everything else is skipped.
#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    // AKS
    #[serde(borrow)]
    records: Option<&'a RawValue>,
    #[serde(borrow)]
    category: Option<&'a RawValue>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    // EKS / CloudWatch Logs
    #[serde(borrow, rename = "messageType")]
    message_type: Option<&'a RawValue>,
    #[serde(borrow, rename = "logStream")]
    log_stream: Option<&'a RawValue>,
    #[serde(borrow, rename = "logEvents")]
    log_events: Option<&'a RawValue>,
    // GKE LogEntry
    #[serde(borrow, rename = "protoPayload")]
    proto_payload: Option<&'a RawValue>,
    #[serde(borrow, rename = "insertId")]
    insert_id: Option<&'a RawValue>,
    #[serde(borrow)]
    operation: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    labels: Option<&'a RawValue>,
    // Where the envelopes name their cluster.
    #[serde(borrow, rename = "resourceId")]
    resource_id: Option<&'a RawValue>,
    #[serde(borrow, rename = "logGroup")]
    log_group: Option<&'a RawValue>,
    #[serde(borrow)]
    resource: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
struct GkeResource<'a> {
    #[serde(borrow)]
    labels: Option<GkeResourceLabels<'a>>,
}

#[derive(Debug, Deserialize)]
struct GkeResourceLabels<'a> {
    #[serde(borrow)]
    cluster_name: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct AksProperties<'a> {
    #[serde(borrow)]
    log: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
struct CloudWatchLogEvent<'a> {
    #[serde(borrow)]
    message: Text<'a>,
}

#[derive(Debug, Deserialize)]
struct ProtoPayload<'a> {
    #[serde(borrow, rename = "serviceName")]
    service_name: Option<Text<'a>>,
    #[serde(borrow, rename = "methodName")]
    method_name: Option<Text<'a>>,
    #[serde(borrow, rename = "resourceName")]
    resource_name: Option<Text<'a>>,
    #[serde(borrow, rename = "authenticationInfo")]
    authentication_info: Option<AuthenticationInfo<'a>>,
    #[serde(borrow, rename = "requestMetadata")]
    request_metadata: Option<RequestMetadata<'a>>,
    status: Option<RpcStatus>,
    request: Option<Value>,
    response: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct AuthenticationInfo<'a> {
    #[serde(borrow, rename = "principalEmail")]
    principal_email: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct RequestMetadata<'a> {
    #[serde(borrow, rename = "callerIp")]
    caller_ip: Option<Text<'a>>,
    #[serde(borrow, rename = "callerSuppliedUserAgent")]
    caller_supplied_user_agent: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct RpcStatus {
    code: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Operation<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
}

/// Decodes `text` if it is a cloud envelope. `Ok(false)` means it is not one and `out` and
/// `outcome` are untouched.
///
/// With `cluster_from_envelope`, an envelope (or AKS record) that names its cluster gives
/// that name to its events.
pub(crate) fn decode_envelope<T: Decoded>(
    text: &str,
    cluster_from_envelope: bool,
    options: &DecodeOptions,
    out: &mut Vec<T>,
    outcome: &mut DecodeOutcome,
) -> Result<bool, DecodeError> {
    let Ok(envelope) = serde_json::from_str::<Envelope<'_>>(text) else {
        return Ok(false);
    };
    let named = |envelope: &Envelope<'_>, kind| {
        cluster_from_envelope
            .then(|| envelope_cluster(envelope, kind))
            .flatten()
            .map(|cluster| DecodeOptions {
                cluster,
                ..options.clone()
            })
    };
    if let Some(records) = envelope.records {
        let records: Vec<&RawValue> = serde_json::from_str(records.get())?;
        for record in records {
            let record: Envelope<'_> = serde_json::from_str(record.get())?;
            let named = named(&record, EnvelopeKind::Aks);
            aks_record(&record, named.as_ref().unwrap_or(options), out, outcome)?;
        }
        Ok(true)
    } else if envelope.properties.is_some() && envelope.category.is_some()
        || envelope
            .properties
            .is_some_and(|properties| aks_log(properties).is_some())
    {
        let named = named(&envelope, EnvelopeKind::Aks);
        aks_record(&envelope, named.as_ref().unwrap_or(options), out, outcome)?;
        Ok(true)
    } else if let Some(message_type) = envelope.message_type {
        let named = named(&envelope, EnvelopeKind::Eks);
        let options = named.as_ref().unwrap_or(options);
        cloudwatch_message(&envelope, message_type, options, out, outcome)?;
        Ok(true)
    } else if let Some(proto_payload) = envelope.proto_payload {
        let named = named(&envelope, EnvelopeKind::Gke);
        let options = named.as_ref().unwrap_or(options);
        gke_log_entry(&envelope, proto_payload, options, out, outcome)?;
        Ok(true)
    } else {
        Ok(false)
    }
}

#[derive(Debug, Clone, Copy)]
enum EnvelopeKind {
    Aks,
    Eks,
    Gke,
}

/// The cluster an envelope names, if it does: the AKS record's `resourceId`
/// (`.../MANAGEDCLUSTERS/<name>`, ARM upper-cases it, so lower-cased), the EKS log group
/// (`/aws/eks/<name>/cluster`), GKE's `resource.labels.cluster_name`.
fn envelope_cluster(envelope: &Envelope<'_>, kind: EnvelopeKind) -> Option<String> {
    let name = match kind {
        EnvelopeKind::Aks => {
            let resource_id: Text<'_> = serde_json::from_str(envelope.resource_id?.get()).ok()?;
            let (before, name) = resource_id
                .as_str()
                .trim_end_matches('/')
                .rsplit_once('/')?;
            if !before.to_ascii_lowercase().ends_with("/managedclusters") {
                return None;
            }
            name.to_ascii_lowercase()
        }
        EnvelopeKind::Eks => {
            let log_group: Text<'_> = serde_json::from_str(envelope.log_group?.get()).ok()?;
            log_group
                .as_str()
                .strip_prefix("/aws/eks/")?
                .strip_suffix("/cluster")?
                .to_owned()
        }
        EnvelopeKind::Gke => {
            let resource: GkeResource<'_> = serde_json::from_str(envelope.resource?.get()).ok()?;
            resource.labels?.cluster_name?.into_string()
        }
    };
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// `properties.log`, if `properties` is an object that has it.
fn aks_log(properties: &RawValue) -> Option<&RawValue> {
    serde_json::from_str::<AksProperties<'_>>(properties.get())
        .ok()
        .and_then(|properties| properties.log)
}

fn aks_record<T: Decoded>(
    record: &Envelope<'_>,
    options: &DecodeOptions,
    out: &mut Vec<T>,
    outcome: &mut DecodeOutcome,
) -> Result<(), DecodeError> {
    if let Some(category) = record.category {
        let category: Text<'_> = serde_json::from_str(category.get())?;
        if !AKS_AUDIT_CATEGORIES.contains(&category.as_str()) {
            outcome.filtered += 1;
            return Ok(());
        }
    }
    let log = record
        .properties
        .and_then(aks_log)
        .ok_or(DecodeError::Unrecognised(
            "AKS record has no properties.log",
        ))?;
    if log.get().starts_with('"') {
        let log: Text<'_> = serde_json::from_str(log.get())?;
        decode_wrapped(
            log.as_str(),
            "AKS properties.log is not a JSON object",
            options,
            out,
            outcome,
        )
    } else {
        decode_wrapped(
            log.get(),
            "AKS properties.log is not a JSON object",
            options,
            out,
            outcome,
        )
    }
}

fn cloudwatch_message<T: Decoded>(
    envelope: &Envelope<'_>,
    message_type: &RawValue,
    options: &DecodeOptions,
    out: &mut Vec<T>,
    outcome: &mut DecodeOutcome,
) -> Result<(), DecodeError> {
    let message_type: Text<'_> = serde_json::from_str(message_type.get())?;
    match message_type.as_str() {
        "CONTROL_MESSAGE" => {
            outcome.filtered += 1;
            return Ok(());
        }
        "DATA_MESSAGE" => {}
        _ => return Err(DecodeError::Unrecognised("unknown CloudWatch messageType")),
    }
    let log_events: Vec<CloudWatchLogEvent<'_>> = match envelope.log_events {
        Some(log_events) => serde_json::from_str(log_events.get())?,
        None => {
            return Err(DecodeError::Unrecognised(
                "CloudWatch message has no logEvents",
            ));
        }
    };
    let audit_stream = match envelope.log_stream {
        Some(log_stream) => serde_json::from_str::<Text<'_>>(log_stream.get())?
            .as_str()
            .starts_with(EKS_AUDIT_STREAM_PREFIX),
        None => true,
    };
    if !audit_stream {
        outcome.filtered += log_events.len();
        return Ok(());
    }
    for log_event in log_events {
        let message = log_event.message.as_str();
        if message
            .trim_ascii_end()
            .ends_with(CLOUDWATCH_TRUNCATED_MARKER)
        {
            return Err(DecodeError::Unrecognised(
                "CloudWatch log event truncated by CloudWatch",
            ));
        }
        decode_wrapped(
            message,
            "CloudWatch message is not a JSON object",
            options,
            out,
            outcome,
        )?;
    }
    Ok(())
}

/// Decodes the audit event JSON found inside an envelope, without looking for envelopes again.
fn decode_wrapped<T: Decoded>(
    text: &str,
    not_an_object: &'static str,
    options: &DecodeOptions,
    out: &mut Vec<T>,
    outcome: &mut DecodeOutcome,
) -> Result<(), DecodeError> {
    let text = text.trim_ascii();
    if !text.starts_with('{') {
        return Err(DecodeError::Unrecognised(not_an_object));
    }
    decode_inner_object(text, options, out, outcome)
}

fn gke_log_entry<T: Decoded>(
    entry: &Envelope<'_>,
    proto_payload: &RawValue,
    options: &DecodeOptions,
    out: &mut Vec<T>,
    outcome: &mut DecodeOutcome,
) -> Result<(), DecodeError> {
    let payload: ProtoPayload<'_> = serde_json::from_str(proto_payload.get())?;
    if payload.service_name.as_ref().map(Text::as_str) != Some("k8s.io") {
        outcome.filtered += 1;
        return Ok(());
    }
    let synthetic = gke_audit_event(entry, payload)?;
    decode_inner_object(&synthetic, options, out, outcome)
}

/// The `audit.k8s.io/v1` Event a GKE `k8s.io` LogEntry stands for, as JSON text.
fn gke_audit_event(entry: &Envelope<'_>, payload: ProtoPayload<'_>) -> Result<String, DecodeError> {
    let operation_id = match entry.operation {
        Some(operation) => serde_json::from_str::<Operation<'_>>(operation.get())?.id,
        None => None,
    };
    let insert_id = match entry.insert_id {
        Some(insert_id) => Some(serde_json::from_str::<Text<'_>>(insert_id.get())?),
        None => None,
    };
    let audit_id = operation_id.or(insert_id).ok_or(DecodeError::Unrecognised(
        "GKE log entry has no operation.id or insertId",
    ))?;
    let timestamp = match entry.timestamp {
        Some(timestamp) => serde_json::from_str::<Text<'_>>(timestamp.get())?,
        None => return Err(DecodeError::Unrecognised("GKE log entry has no timestamp")),
    };
    let mut annotations = match entry.labels {
        Some(labels) => serde_json::from_str::<Map<String, Value>>(labels.get())?,
        None => Map::new(),
    };
    annotations.insert(ANNOTATION_INFERRED.to_owned(), json!(GKE_INFERRED_FIELDS));

    let verb = payload
        .method_name
        .as_ref()
        .and_then(|method| method.as_str().rsplit('.').next())
        .filter(|verb| !verb.is_empty())
        .ok_or(DecodeError::Unrecognised("GKE log entry has no methodName"))?;
    let resource_name = payload.resource_name.as_ref().map_or("", Text::as_str);
    let target = parse_resource_name(resource_name);
    let request_uri = target.request_uri(resource_name);

    let request = payload.request.map(without_type);
    let response = payload.response.map(without_type);
    let level = if request.is_some() || response.is_some() {
        "RequestResponse"
    } else {
        "Metadata"
    };
    let code = http_code(payload.status.and_then(|status| status.code).unwrap_or(0));
    let (source_ips, user_agent) = match payload.request_metadata {
        Some(metadata) => (
            metadata.caller_ip.map(|ip| vec![ip.into_string()]),
            metadata.caller_supplied_user_agent.map(Text::into_string),
        ),
        None => (None, None),
    };
    let username = payload
        .authentication_info
        .and_then(|info| info.principal_email)
        .map(Text::into_string);

    let mut event = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": audit_id.as_str(),
        "stage": "ResponseComplete",
        "requestURI": request_uri,
        "verb": verb,
        "user": {"username": username},
        "sourceIPs": source_ips,
        "userAgent": user_agent,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": timestamp.as_str(),
        "stageTimestamp": timestamp.as_str(),
        "annotations": annotations,
    });
    let fields = event.as_object_mut().expect("json! object");
    if let Some(object_ref) = target.object_ref() {
        fields.insert("objectRef".to_owned(), object_ref);
    }
    if let Some(request) = request {
        fields.insert("requestObject".to_owned(), request);
    }
    if let Some(response) = response {
        fields.insert("responseObject".to_owned(), response);
    }
    Ok(event.to_string())
}

/// A body without the protobuf `@type` GKE adds.
fn without_type(mut body: Value) -> Value {
    if let Value::Object(fields) = &mut body {
        fields.remove("@type");
    }
    body
}

/// HTTP status for a `google.rpc.Code`.
fn http_code(grpc_code: i64) -> u16 {
    match grpc_code {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

/// What a GKE `resourceName` names.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    /// `<group>/<version>[/namespaces/<ns>]/<resource>[/<name>[/<subresource>]]`.
    Resource {
        group: &'a str,
        version: &'a str,
        namespace: Option<&'a str>,
        resource: &'a str,
        name: Option<&'a str>,
        subresource: Option<&'a str>,
    },
    /// A non-resource path such as `readyz` or `api/v1`.
    NonResource,
}

fn parse_resource_name(resource_name: &str) -> Target<'_> {
    let parts: Vec<&str> = resource_name.split('/').collect();
    let is_version = |part: &str| {
        part.strip_prefix('v')
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    if parts.len() < 3 || parts[0].is_empty() || !is_version(parts[1]) || parts[0] == "apis" {
        return Target::NonResource;
    }
    let mut rest = &parts[2..];
    let mut namespace = None;
    if rest.len() >= 3 && rest[0] == "namespaces" {
        namespace = Some(rest[1]);
        rest = &rest[2..];
    }
    if rest.len() > 3 || rest[0].is_empty() {
        return Target::NonResource;
    }
    Target::Resource {
        group: parts[0],
        version: parts[1],
        namespace,
        resource: rest[0],
        name: rest.get(1).copied(),
        subresource: rest.get(2).copied(),
    }
}

impl Target<'_> {
    fn request_uri(&self, resource_name: &str) -> String {
        match *self {
            Target::Resource { group, version, .. } => {
                let path = resource_name
                    .split_once('/')
                    .and_then(|(_, after_group)| after_group.split_once('/'))
                    .map_or("", |(_, after_version)| after_version);
                if group == "core" {
                    format!("/api/{version}/{path}")
                } else {
                    format!("/apis/{group}/{version}/{path}")
                }
            }
            Target::NonResource => format!("/{resource_name}"),
        }
    }

    fn object_ref(&self) -> Option<Value> {
        match *self {
            Target::Resource {
                group,
                version,
                namespace,
                resource,
                name,
                subresource,
            } => Some(json!({
                "apiGroup": if group == "core" { "" } else { group },
                "apiVersion": version,
                "resource": resource,
                "namespace": namespace,
                "name": name,
                "subresource": subresource,
            })),
            Target::NonResource => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names() {
        assert_eq!(
            parse_resource_name("core/v1/namespaces/default/pods/web-0/exec"),
            Target::Resource {
                group: "core",
                version: "v1",
                namespace: Some("default"),
                resource: "pods",
                name: Some("web-0"),
                subresource: Some("exec"),
            }
        );
        assert_eq!(
            parse_resource_name("core/v1/namespaces/kube-system"),
            Target::Resource {
                group: "core",
                version: "v1",
                namespace: None,
                resource: "namespaces",
                name: Some("kube-system"),
                subresource: None,
            }
        );
        assert_eq!(
            parse_resource_name("rbac.authorization.k8s.io/v1/clusterrolebindings"),
            Target::Resource {
                group: "rbac.authorization.k8s.io",
                version: "v1",
                namespace: None,
                resource: "clusterrolebindings",
                name: None,
                subresource: None,
            }
        );
        for non_resource in ["readyz", "api/v1", "HNAP1", "", "apis/v1/x"] {
            assert_eq!(
                parse_resource_name(non_resource),
                Target::NonResource,
                "{non_resource}"
            );
        }
        assert_eq!(
            parse_resource_name("apps/v1/namespaces/prod/deployments/web")
                .request_uri("apps/v1/namespaces/prod/deployments/web"),
            "/apis/apps/v1/namespaces/prod/deployments/web"
        );
        assert_eq!(
            parse_resource_name("core/v1/nodes").request_uri("core/v1/nodes"),
            "/api/v1/nodes"
        );
        assert_eq!(Target::NonResource.request_uri("readyz"), "/readyz");
    }

    #[test]
    fn grpc_codes_map_to_http() {
        let pairs = [
            (0, 200),
            (7, 403),
            (5, 404),
            (6, 409),
            (16, 401),
            (3, 400),
            (13, 500),
        ];
        for (grpc, http) in pairs {
            assert_eq!(http_code(grpc), http, "gRPC {grpc}");
        }
    }
}
