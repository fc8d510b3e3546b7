//! The hardening checklist of `GET /api/v1/posture`, derived from the audit stream alone: the
//! latest body the stream has shown of each namespace, network policy, service account,
//! workload and RBAC object, judged per cluster and per namespace, with the evidence events
//! and `unknown` wherever the audit level never showed the body.
//!
//! Pure: no IO, no clock. The caller reads the write events in two steps, so bodies are read
//! only for the events that decide the state:
//!
//! 1. [`Selection::observe`] every successful-or-not write of the [`RESOURCES`] (normalised
//!    fields only, no body), then [`Selection::needed`] names the events whose raw JSON decides
//!    an object's content (the latest write of each object, and writes whose object name only
//!    the body tells);
//! 2. [`Selection::evaluate`] with those events' raw JSON gives the [`Report`].
//!
//! [`evaluate`] does both over records that carry their raw JSON (tests, small inputs).
//!
//! State: the latest successful write (create, update, patch; response code below 400, not a
//! dry run) of each (cluster, resource, namespace, name) wins and a delete removes the object;
//! deleting or re-creating a namespace removes what was in it before. An object's content is
//! the stored object (`responseObject`) when logged, else the object sent by a create or update
//! (`requestObject`); a patch without `responseObject`, or any write at `Metadata` level, makes
//! the object's content unknown.

mod checks;
mod report;
mod state;

pub use report::{Check, ClusterPosture, NamespacePosture, Offender, PodSecurity, Report, Status};
pub use state::Selection;

/// The resources the checklist reads.
pub const RESOURCES: [&str; 15] = [
    "namespaces",
    "networkpolicies",
    "serviceaccounts",
    "pods",
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "jobs",
    "cronjobs",
    "replicationcontrollers",
    "roles",
    "clusterroles",
    "rolebindings",
    "clusterrolebindings",
];

/// The verbs that change an object.
pub const VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// One write event's normalised fields (no body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta<'a> {
    pub event_id: &'a str,
    /// Event time, microseconds since the epoch.
    pub time_micros: i64,
    pub cluster: &'a str,
    pub resource: &'a str,
    pub namespace: Option<&'a str>,
    /// `None` when the audit event does not name the object (a create logged at `Metadata`).
    pub name: Option<&'a str>,
    pub verb: &'a str,
    pub response_code: Option<i32>,
    pub user: Option<&'a str>,
    /// The request URI (a `dryRun` query parameter makes the write change nothing).
    pub request_uri: Option<&'a str>,
}

/// A write event with its raw (redacted) audit event JSON.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub meta: Meta<'a>,
    pub raw: &'a str,
}

/// What the checks compare against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Registries whose images are trusted (the detection library's `trusted_registries`).
    pub trusted_registries: Vec<String>,
    /// Host paths that give a container the node (globs; `*` crosses `/`; the library's
    /// `sensitive_host_paths`).
    pub sensitive_host_paths: Vec<String>,
    /// Evaluate the cluster-wide checks (RBAC); off for namespace-restricted callers.
    pub cluster_wide: bool,
    /// Most evidence event ids and offending objects listed per check.
    pub max_evidence: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            trusted_registries: Vec::new(),
            sensitive_host_paths: Vec::new(),
            cluster_wide: true,
            max_evidence: 20,
        }
    }
}

/// Both steps over records that carry their raw JSON.
pub fn evaluate<'a>(records: impl IntoIterator<Item = Record<'a>>, options: &Options) -> Report {
    let records: Vec<Record<'a>> = records.into_iter().collect();
    let mut selection = Selection::default();
    for record in &records {
        selection.observe(&record.meta);
    }
    let needed: std::collections::HashSet<String> = selection
        .needed()
        .into_iter()
        .map(|(event_id, _)| event_id)
        .collect();
    selection.evaluate(
        records
            .iter()
            .filter(|record| needed.contains(record.meta.event_id))
            .map(|record| (record.meta.event_id, record.raw)),
        options,
    )
}
