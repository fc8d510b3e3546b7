//! Kubernetes objects (manifests) as the audit events that writing them would make: what
//! `kubetrail rules check-manifest` runs the rules over, so a manifest can be checked before
//! it reaches a cluster, by the same rules that watch the cluster.
//!
//! An object becomes one `ResponseComplete` event at `RequestResponse` level, by the identity
//! the caller names: `create` and `update` carry the object as request and response body;
//! `delete` carries `DeleteOptions` as request and the object as response, as the API server
//! answers a delete.

use serde_json::{Map, Value, json};

use crate::error::DecodeError;

/// The write a manifest is checked as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestVerb {
    Create,
    Update,
    Delete,
}

impl ManifestVerb {
    pub fn as_str(self) -> &'static str {
        match self {
            ManifestVerb::Create => "create",
            ManifestVerb::Update => "update",
            ManifestVerb::Delete => "delete",
        }
    }
}

/// Who writes the objects, and how.
#[derive(Debug, Clone)]
pub struct ManifestRequest {
    pub verb: ManifestVerb,
    /// The requesting user (`user.username`).
    pub user: String,
    pub groups: Vec<String>,
    /// The namespace of namespaced objects that name none (as `kubectl apply -n`).
    pub namespace: String,
    /// The event's time, RFC 3339.
    pub time: String,
    /// The source address of the request.
    pub source_ip: String,
    pub user_agent: String,
}

/// Kinds that live outside namespaces (the built-in ones a deployment carries).
const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// The REST resource of a kind: its plural in lower case (`NetworkPolicy` → `networkpolicies`).
pub fn resource_of_kind(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower == "endpoints" {
        lower
    } else if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'o', 'u'])
    {
        format!("{stem}ies")
    } else if lower.ends_with('s') || lower.ends_with('x') || lower.ends_with("ch") {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// The string at `key` of `fields`, if there is one.
fn text<'a>(key: &str, fields: Option<&'a Map<String, Value>>) -> Option<&'a str> {
    fields
        .and_then(|fields| fields.get(key))
        .and_then(Value::as_str)
}

/// The audit event (one JSON line) of writing `object`; `sequence` makes its `auditID`
/// unique among the objects checked together. An object without `apiVersion`, `kind` or
/// `metadata.name` is refused with the reason.
pub fn manifest_audit_event(
    object: &Value,
    request: &ManifestRequest,
    sequence: usize,
) -> Result<String, DecodeError> {
    let Some(fields) = object.as_object() else {
        return Err(DecodeError::Manifest(
            "not a Kubernetes object (a mapping)".to_owned(),
        ));
    };
    let api_version = text("apiVersion", Some(fields))
        .ok_or_else(|| DecodeError::Manifest("object without apiVersion".to_owned()))?;
    let kind = text("kind", Some(fields))
        .ok_or_else(|| DecodeError::Manifest("object without kind".to_owned()))?;
    let metadata = fields.get("metadata").and_then(Value::as_object);
    let name = text("name", metadata)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| DecodeError::Manifest(format!("{kind} without metadata.name")))?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource = resource_of_kind(kind);
    let namespace = (!CLUSTER_SCOPED_KINDS.contains(&kind)).then(|| {
        text("namespace", metadata)
            .filter(|namespace| !namespace.is_empty())
            .unwrap_or(&request.namespace)
    });
    let mut uri = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    if let Some(namespace) = namespace {
        uri.push_str(&format!("/namespaces/{namespace}"));
    }
    uri.push('/');
    uri.push_str(&resource);
    if request.verb != ManifestVerb::Create {
        uri.push('/');
        uri.push_str(name);
    }
    let mut object_ref = Map::new();
    object_ref.insert("resource".to_owned(), json!(resource));
    if let Some(namespace) = namespace {
        object_ref.insert("namespace".to_owned(), json!(namespace));
    }
    object_ref.insert("name".to_owned(), json!(name));
    object_ref.insert("apiGroup".to_owned(), json!(group));
    object_ref.insert("apiVersion".to_owned(), json!(version));
    let (code, request_object) = match request.verb {
        ManifestVerb::Create => (201, object.clone()),
        ManifestVerb::Update => (200, object.clone()),
        ManifestVerb::Delete => (
            200,
            json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1", "propagationPolicy": "Background"}),
        ),
    };
    let event = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": format!("check-manifest-{sequence:06}"),
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": request.verb.as_str(),
        "user": {"username": request.user, "groups": request.groups},
        "sourceIPs": [request.source_ip],
        "userAgent": request.user_agent,
        "objectRef": object_ref,
        "responseStatus": {"metadata": {}, "code": code},
        "requestObject": request_object,
        "responseObject": object,
        "requestReceivedTimestamp": request.time,
        "stageTimestamp": request.time,
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
    });
    Ok(event.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(verb: ManifestVerb) -> ManifestRequest {
        ManifestRequest {
            verb,
            user: "alice@example.com".to_owned(),
            groups: vec!["system:authenticated".to_owned()],
            namespace: "default".to_owned(),
            time: "2026-12-04T10:00:00.000000Z".to_owned(),
            source_ip: "10.0.0.1".to_owned(),
            user_agent: "kubectl/v1.32.0".to_owned(),
        }
    }

    #[test]
    fn kinds_map_to_their_resources() {
        for (kind, resource) in [
            ("Pod", "pods"),
            ("NetworkPolicy", "networkpolicies"),
            ("Ingress", "ingresses"),
            ("Endpoints", "endpoints"),
            ("StatefulSet", "statefulsets"),
            ("PodDisruptionBudget", "poddisruptionbudgets"),
            ("ClusterRoleBinding", "clusterrolebindings"),
            ("Gateway", "gateways"),
            ("StorageClass", "storageclasses"),
        ] {
            assert_eq!(resource_of_kind(kind), resource, "{kind}");
        }
    }

    #[test]
    fn objects_become_the_events_of_their_writes() {
        let object = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "shop"}, "spec": {}});
        let event: Value = serde_json::from_str(
            &manifest_audit_event(&object, &request(ManifestVerb::Create), 3).unwrap(),
        )
        .unwrap();
        assert_eq!(
            event["requestURI"],
            "/apis/apps/v1/namespaces/shop/statefulsets"
        );
        assert_eq!(event["objectRef"]["resource"], "statefulsets");
        assert_eq!(event["objectRef"]["apiGroup"], "apps");
        assert_eq!(event["requestObject"], object);
        assert_eq!(event["auditID"], "check-manifest-000003");
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubetrail"}});
        let event: Value = serde_json::from_str(
            &manifest_audit_event(&namespace, &request(ManifestVerb::Delete), 0).unwrap(),
        )
        .unwrap();
        assert_eq!(event["requestURI"], "/api/v1/namespaces/kubetrail");
        assert!(event["objectRef"].get("namespace").is_none());
        assert_eq!(event["requestObject"]["kind"], "DeleteOptions");
        assert_eq!(event["responseObject"], namespace);
        let unnamed = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
        let error = manifest_audit_event(&unnamed, &request(ManifestVerb::Create), 0)
            .unwrap_err()
            .to_string();
        assert!(error.contains("ConfigMap without metadata.name"), "{error}");
    }
}
