//! The API server's audit policy (`audit.k8s.io/v1` `Policy`): which level each request is
//! recorded at. Applying a policy to recorded events gives the events a cluster running that
//! policy would record, so `kubetrail rules coverage --audit-policy` can tell which rules a
//! policy leaves blind before it is rolled out.
//!
//! Matching follows the API server: the first rule whose users, groups, verbs and resources
//! (or non-resource URLs) all match decides the level; no rule matching means `None`.
//! `Metadata` drops both bodies, `Request` the response body; an event recorded at a lower
//! level than the policy's stays at its own.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::DecodeError;

/// An audit level, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AuditLevel {
    None,
    Metadata,
    Request,
    RequestResponse,
}

impl AuditLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditLevel::None => "None",
            AuditLevel::Metadata => "Metadata",
            AuditLevel::Request => "Request",
            AuditLevel::RequestResponse => "RequestResponse",
        }
    }

    pub fn parse(text: &str) -> Option<AuditLevel> {
        match text {
            "None" => Some(AuditLevel::None),
            "Metadata" => Some(AuditLevel::Metadata),
            "Request" => Some(AuditLevel::Request),
            "RequestResponse" => Some(AuditLevel::RequestResponse),
            _ => None,
        }
    }
}

/// An `audit.k8s.io/v1` (or `v1beta1`) `Policy` document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditPolicy {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    #[serde(default)]
    pub omit_stages: Vec<String>,
    #[serde(default)]
    pub omit_managed_fields: bool,
}

/// One rule of a policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRule {
    pub level: AuditLevel,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub user_groups: Vec<String>,
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
    #[serde(default)]
    pub omit_stages: Vec<String>,
    #[serde(default)]
    pub omit_managed_fields: Option<bool>,
}

/// Resources of one API group in a rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupResources {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
}

/// What a request is, as far as a policy looks.
struct Request<'a> {
    user: &'a str,
    groups: Vec<&'a str>,
    verb: &'a str,
    /// `None` for a non-resource request.
    resource: Option<Resource<'a>>,
    path: &'a str,
}

/// The object a resource request is about (`objectRef`; absent parts are "").
struct Resource<'a> {
    group: &'a str,
    resource: &'a str,
    subresource: &'a str,
    namespace: &'a str,
    name: &'a str,
}

impl AuditPolicy {
    /// Refuses a document that is not an audit policy.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.kind != "Policy" || !self.api_version.starts_with("audit.k8s.io/") {
            return Err(DecodeError::Manifest(format!(
                "not an audit policy: kind {:?}, apiVersion {:?} (want Policy, audit.k8s.io/v1)",
                self.kind, self.api_version
            )));
        }
        for stage in self
            .omit_stages
            .iter()
            .chain(self.rules.iter().flat_map(|rule| &rule.omit_stages))
        {
            if !matches!(
                stage.as_str(),
                "RequestReceived" | "ResponseStarted" | "ResponseComplete" | "Panic"
            ) {
                return Err(DecodeError::Manifest(format!(
                    "unknown audit stage {stage:?}"
                )));
            }
        }
        Ok(())
    }

    /// The event a cluster running this policy records for the audit event `line`, or `None`
    /// when it records nothing (level `None` or an omitted stage).
    pub fn shape(&self, line: &str) -> Result<Option<String>, DecodeError> {
        let mut event: Value = serde_json::from_str(line)?;
        let Some(fields) = event.as_object() else {
            return Err(DecodeError::Unrecognised("not a JSON object"));
        };
        let user = fields.get("user");
        let object_ref = fields.get("objectRef").filter(|value| value.is_object());
        let request = Request {
            user: text(user.and_then(|user| user.get("username"))),
            groups: user
                .and_then(|user| user.get("groups"))
                .and_then(Value::as_array)
                .map(|groups| groups.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default(),
            verb: text(fields.get("verb")),
            resource: object_ref.map(|object| Resource {
                group: text(object.get("apiGroup")),
                resource: text(object.get("resource")),
                subresource: text(object.get("subresource")),
                namespace: text(object.get("namespace")),
                name: text(object.get("name")),
            }),
            path: text(fields.get("requestURI"))
                .split('?')
                .next()
                .unwrap_or(""),
        };
        let stage = text(fields.get("stage"));
        let rule = self.rules.iter().find(|rule| rule.matches(&request));
        let Some(rule) = rule else {
            return Ok(None);
        };
        if rule.level == AuditLevel::None
            || self.omit_stages.iter().any(|omitted| omitted == stage)
            || rule.omit_stages.iter().any(|omitted| omitted == stage)
        {
            return Ok(None);
        }
        let recorded =
            AuditLevel::parse(text(fields.get("level"))).unwrap_or(AuditLevel::RequestResponse);
        let level = rule.level.min(recorded);
        let omit_managed_fields = rule.omit_managed_fields.unwrap_or(self.omit_managed_fields);
        if let Some(fields) = event.as_object_mut() {
            fields.insert("level".to_owned(), Value::from(level.as_str()));
            if level < AuditLevel::RequestResponse {
                fields.remove("responseObject");
            }
            if level < AuditLevel::Request {
                fields.remove("requestObject");
            }
            if omit_managed_fields {
                for body in ["requestObject", "responseObject"] {
                    if let Some(metadata) = fields
                        .get_mut(body)
                        .and_then(|body| body.get_mut("metadata"))
                        .and_then(Value::as_object_mut)
                    {
                        metadata.remove("managedFields");
                    }
                }
            }
        }
        Ok(Some(event.to_string()))
    }
}

/// Whether a rule's resource pattern names `resource` (and `subresource`, "" for none), as
/// the API server reads it: `*` (everything, subresources too), `pods`, `pods/log`, `*/scale`
/// (that subresource of anything) or `pods/*` (every subresource of pods, not pods itself).
fn names_resource(pattern: &str, resource: &str, subresource: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.split_once('/') {
        None => subresource.is_empty() && pattern == resource,
        Some((head, tail)) => {
            !subresource.is_empty()
                && ((head == resource && (tail == "*" || tail == subresource))
                    || (head == "*" && tail == subresource))
        }
    }
}

/// A string field, or "" when absent or not a string.
fn text(value: Option<&Value>) -> &str {
    value.and_then(Value::as_str).unwrap_or("")
}

impl PolicyRule {
    fn matches(&self, request: &Request<'_>) -> bool {
        if !self.users.is_empty() && !self.users.iter().any(|user| user == request.user) {
            return false;
        }
        if !self.user_groups.is_empty()
            && !self
                .user_groups
                .iter()
                .any(|group| request.groups.contains(&group.as_str()))
        {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.iter().any(|verb| verb == request.verb) {
            return false;
        }
        match &request.resource {
            Some(object) => self.matches_resource(object),
            None => self.matches_path(request.path),
        }
    }

    fn matches_resource(&self, object: &Resource<'_>) -> bool {
        if !self.non_resource_urls.is_empty() {
            return false;
        }
        if !self.namespaces.is_empty() && !self.namespaces.iter().any(|n| n == object.namespace) {
            return false;
        }
        self.resources.is_empty()
            || self.resources.iter().any(|resources| {
                resources.group == object.group
                    && (resources.resource_names.is_empty()
                        || resources.resource_names.iter().any(|n| n == object.name))
                    && (resources.resources.is_empty()
                        || resources.resources.iter().any(|pattern| {
                            names_resource(pattern, object.resource, object.subresource)
                        }))
            })
    }

    fn matches_path(&self, path: &str) -> bool {
        if !self.resources.is_empty() || !self.namespaces.is_empty() {
            return false;
        }
        self.non_resource_urls.is_empty()
            || self.non_resource_urls.iter().any(|pattern| {
                pattern == path
                    || pattern
                        .strip_suffix('*')
                        .is_some_and(|prefix| path.starts_with(prefix))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rules: &str) -> AuditPolicy {
        let text = format!(
            r#"{{"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"], "rules": {rules}}}"#
        );
        let policy: AuditPolicy = serde_json::from_str(&text).unwrap();
        policy.validate().unwrap();
        policy
    }

    fn event(verb: &str, resource: &str, subresource: &str, user: &str) -> String {
        serde_json::json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
            "auditID": "a", "stage": "ResponseComplete", "verb": verb,
            "requestURI": format!("/api/v1/namespaces/shop/{resource}?timeout=30s"),
            "user": {"username": user, "groups": ["system:authenticated"]},
            "objectRef": {"resource": resource, "subresource": subresource, "namespace": "shop", "name": "x", "apiGroup": ""},
            "requestObject": {"kind": "X", "metadata": {"name": "x", "managedFields": [{}]}},
            "responseObject": {"kind": "X"},
        })
        .to_string()
    }

    fn level(policy: &AuditPolicy, line: &str) -> Option<(String, bool, bool)> {
        policy.shape(line).unwrap().map(|shaped| {
            let value: Value = serde_json::from_str(&shaped).unwrap();
            (
                value["level"].as_str().unwrap().to_owned(),
                value.get("requestObject").is_some(),
                value.get("responseObject").is_some(),
            )
        })
    }

    #[test]
    fn the_first_matching_rule_sets_the_level_and_strips_the_bodies() {
        let policy = policy(
            r#"[
              {"level": "None", "users": ["system:kube-proxy"]},
              {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "pods/exec"]}]},
              {"level": "Request", "verbs": ["get"], "resources": [{"group": "", "resources": ["*/status"]}]},
              {"level": "RequestResponse", "resources": [{"group": "", "resources": ["pods", "pods/*"]}]},
              {"level": "None", "nonResourceURLs": ["/healthz*"]}
            ]"#,
        );
        let metadata = Some(("Metadata".to_owned(), false, false));
        assert_eq!(
            level(&policy, &event("get", "secrets", "", "alice")),
            metadata
        );
        assert_eq!(
            level(&policy, &event("create", "pods", "exec", "alice")),
            metadata
        );
        assert_eq!(
            level(&policy, &event("get", "pods", "status", "alice")),
            Some(("Request".to_owned(), true, false))
        );
        assert_eq!(
            level(&policy, &event("create", "pods", "", "alice")),
            Some(("RequestResponse".to_owned(), true, true))
        );
        assert_eq!(
            level(
                &policy,
                &event("create", "pods", "ephemeralcontainers", "alice")
            ),
            Some(("RequestResponse".to_owned(), true, true))
        );
        assert_eq!(
            level(&policy, &event("get", "pods", "", "system:kube-proxy")),
            None
        );
        // No rule matches: not recorded.
        assert_eq!(
            level(&policy, &event("get", "configmaps", "", "alice")),
            None
        );
        let health = r#"{"kind": "Event", "level": "Metadata", "auditID": "h", "stage": "ResponseComplete", "verb": "get", "requestURI": "/healthz?verbose", "user": {"username": "alice"}}"#;
        assert_eq!(level(&policy, health), None);
        // Omitted stage.
        let received =
            event("create", "pods", "", "alice").replace("ResponseComplete", "RequestReceived");
        assert_eq!(level(&policy, &received), None);
    }

    #[test]
    fn an_event_keeps_a_lower_recorded_level_and_managed_fields_can_go() {
        let mut policy = policy(r#"[{"level": "RequestResponse"}]"#);
        let line =
            event("create", "pods", "", "alice").replace("\"RequestResponse\"", "\"Metadata\"");
        assert_eq!(
            level(&policy, &line),
            Some(("Metadata".to_owned(), false, false))
        );
        policy.omit_managed_fields = true;
        let shaped = policy
            .shape(&event("create", "pods", "", "alice"))
            .unwrap()
            .unwrap();
        assert!(!shaped.contains("managedFields"), "{shaped}");
    }

    #[test]
    fn other_documents_are_refused() {
        let policy: AuditPolicy =
            serde_json::from_str(r#"{"apiVersion": "v1", "kind": "ConfigMap"}"#).unwrap();
        assert!(policy.validate().is_err());
        assert!(
            serde_json::from_str::<AuditPolicy>(
                r#"{"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Loud"}]}"#
            )
            .is_err()
        );
    }
}
