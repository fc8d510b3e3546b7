//! The normalised event and alert: the one vocabulary every stage speaks.
//!
//! Every field here is computed once at ingest (see `normalise.rs`) so rules and queries never
//! re-derive it. Field names are the SQL column names of design.md §3 (a contract).

use serde::{Deserialize, Serialize};

/// Where an event came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    K8sAudit,
    Falco,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::K8sAudit => "k8s_audit",
            Source::Falco => "falco",
        }
    }
}

/// Who made an audited request, judged from the authenticated (not impersonated) user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Human,
    Serviceaccount,
    Node,
    System,
    Anonymous,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Human => "human",
            ActorKind::Serviceaccount => "serviceaccount",
            ActorKind::Node => "node",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }
}

/// The authorizer's verdict: the `authorization.k8s.io/decision` annotation, or inferred from
/// the response code (401/403 are `forbid`) when the annotation is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Forbid,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Forbid => "forbid",
        }
    }
}

/// Which list of a pod spec a container came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerKind {
    Container,
    Init,
    Ephemeral,
}

/// The security-relevant view of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub name: String,
    pub kind: Option<ContainerKind>,
    pub image: String,
    pub privileged: Option<bool>,
    pub allow_privilege_escalation: Option<bool>,
    pub run_as_user: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub read_only_root_filesystem: Option<bool>,
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    /// `seccompProfile.type`, e.g. `Unconfined`, `RuntimeDefault`.
    pub seccomp_profile: Option<String>,
    pub host_ports: Vec<i64>,
}

/// A volume of a pod spec; `host_path` is set for hostPath volumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub host_path: Option<String>,
}

/// One pod spec carried by a request or response: a Pod's own spec, the template of a
/// workload (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
/// ReplicationController, PodTemplate), or the ephemeral containers of a
/// `pods/ephemeralcontainers` update.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSpec {
    /// Kind of the object carrying the spec (`Pod`, `Deployment`, `CronJob`, ...).
    pub owner_kind: String,
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub service_account: Option<String>,
    pub automount_service_account_token: Option<bool>,
    /// Pod-level `securityContext` values.
    pub run_as_user: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub seccomp_profile: Option<String>,
    /// Containers, init containers and ephemeral containers, in that order.
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
}

/// An image reference split the way container runtimes read it.
/// `registry:5000/app` has registry `registry:5000`; `nginx` has registry `docker.io`
/// and repository `library/nginx`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageRef {
    pub reference: String,
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// One normalised event: an audit event or a Falco alert. `Event::default()` is an empty
/// audit event (every field absent or empty, time 0), for tests to fill in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable identity (contract, design.md §3), 32 lowercase hex digits.
    pub event_id: String,
    /// Event time in microseconds since the Unix epoch, UTC.
    pub time: i64,
    pub cluster: String,
    pub source: Source,
    pub audit_id: Option<String>,
    pub stage: Option<String>,
    pub level: Option<String>,
    pub verb: Option<String>,
    pub request_uri: Option<String>,
    pub user: Option<String>,
    pub user_groups: Vec<String>,
    pub impersonated_user: Option<String>,
    pub actor_kind: Option<ActorKind>,
    pub source_ips: Vec<String>,
    pub user_agent: Option<String>,
    pub resource: Option<String>,
    pub subresource: Option<String>,
    pub api_group: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub response_code: Option<i32>,
    pub decision: Option<Decision>,
    /// `authorization.k8s.io/reason`.
    pub reason: Option<String>,
    pub pod_specs: Vec<PodSpec>,
    pub images: Vec<ImageRef>,
    /// Command of an exec request, decoded from the `command` query parameters.
    pub exec_command: Vec<String>,
    /// Individual findings of the `pod-security.kubernetes.io/audit-violations` annotation.
    pub psa_violations: Vec<String>,
    pub falco_rule: Option<String>,
    pub falco_priority: Option<String>,
    pub container_id: Option<String>,
    pub pod_name: Option<String>,
    /// The event as received, as compact JSON, with secret values redacted.
    pub raw: String,
}

/// How severe an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Where an alert's evidence came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    K8sAudit,
    Falco,
    Correlation,
}

impl AlertSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::K8sAudit => "k8s_audit",
            AlertSource::Falco => "falco",
            AlertSource::Correlation => "correlation",
        }
    }
}

/// An alert, serialised as one JSON line (contract, design.md §4 "Alert JSON").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Deterministic: a hash of the rule id and the contributing event ids, so re-running
    /// detection over the same events gives the same alert ids.
    pub alert_id: String,
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    /// RFC 3339 time of the triggering event.
    pub time: String,
    pub event_ids: Vec<String>,
    pub audit_ids: Vec<String>,
    pub cluster: String,
    pub actor: Option<String>,
    pub namespace: Option<String>,
    pub resource: Option<String>,
    pub name: Option<String>,
    pub source: AlertSource,
    pub attack: Vec<String>,
    pub summary: String,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A line that could not be decoded, kept with where it came from and why.
///
/// To keep secrets out of the store, `excerpt` holds at most the first 200 bytes of the line
/// (cut at a character boundary) and only when the line contains no secret-looking word
/// (`data`, `stringData`, `token`, `authorization`, `bearer`, `password`, `secret`, in any
/// case); build it with `dead_letter_excerpt` (`redact.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// When the line was rejected, RFC 3339.
    pub time: String,
    /// The source, e.g. the file path.
    pub source: String,
    /// Byte offset of the line in the (decompressed) source.
    pub offset: u64,
    /// Length of the line in bytes.
    pub length: u64,
    pub reason: String,
    pub excerpt: Option<String>,
}
