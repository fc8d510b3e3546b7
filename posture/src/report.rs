//! The report: per cluster, the cluster-wide checks and one entry per namespace, each check a
//! status with its evidence.

use serde::Serialize;

/// A check's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// The audit stream never showed the bodies that would decide it.
    Unknown,
}

/// An object that fails a check, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Offender {
    pub resource: String,
    pub namespace: Option<String>,
    pub name: String,
    pub reason: String,
}

/// One cell of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable id, e.g. `default_deny_ingress`.
    pub id: &'static str,
    pub status: Status,
    /// One sentence saying what was found.
    pub summary: String,
    /// The events whose bodies decided it (capped at `Options::max_evidence`).
    pub event_ids: Vec<String>,
    /// Objects that fail the check (capped at `Options::max_evidence`).
    pub objects: Vec<Offender>,
    /// For `unknown`: what to change so the next answer is known.
    pub hint: Option<String>,
}

/// The Pod Security Admission labels of a namespace; a mode's level is `none` when the
/// namespace's body was seen without that label, `None` when the body was never seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PodSecurity {
    pub enforce: Option<String>,
    pub audit: Option<String>,
    pub warn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespacePosture {
    pub namespace: String,
    /// The namespace was created within the events read, so every object in it was written
    /// within them too: an absence of objects is known, not just unseen.
    pub created_in_view: bool,
    pub pod_security: PodSecurity,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterPosture {
    pub cluster: String,
    /// Cluster-wide checks (RBAC); absent for namespace-restricted callers.
    pub checks: Option<Vec<Check>>,
    pub namespaces: Vec<NamespacePosture>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub clusters: Vec<ClusterPosture>,
    /// How many objects' state was rebuilt, and how many of those have unknown content.
    pub objects: usize,
    pub unknown_objects: usize,
    /// Registries counted as trusted.
    pub trusted_registries: Vec<String>,
}
