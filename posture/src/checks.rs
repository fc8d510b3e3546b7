//! The checks: each turns the objects of a namespace or a cluster into one [`Check`].
//!
//! Absence checks ("no privileged workload") fail on any known offender; otherwise they are
//! unknown while an object's content is unknown or no object of their kind was written, and
//! pass for the objects seen. Presence checks ("a default-deny policy exists") pass on a known
//! qualifying object, and fail only when absence is known: the namespace was created within the
//! events read (so every policy in it was written within them) and every policy's body is known.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Options;
use crate::report::{
    Check, ClusterPosture, NamespacePosture, Offender, PodSecurity, Report, Status,
};
use crate::state::{Clusterish, Content, NamespaceObjects, Object, Unknown};

const WORKLOADS: [&str; 8] = [
    "pods",
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "jobs",
    "cronjobs",
    "replicationcontrollers",
];

/// Groups bound by a binding that opens the cluster to everyone.
const EVERYONE: [&str; 3] = [
    "system:anonymous",
    "system:unauthenticated",
    "system:authenticated",
];

/// The API server's own identity: it writes the bootstrap RBAC policy.
const BOOTSTRAP_USER: &str = "system:apiserver";

pub(crate) fn report(
    clusters: &BTreeMap<String, Clusterish>,
    objects: usize,
    unknown_objects: usize,
    options: &Options,
) -> Report {
    let clusters = clusters
        .iter()
        .map(|(cluster, state)| ClusterPosture {
            cluster: cluster.clone(),
            checks: options.cluster_wide.then(|| cluster_checks(state, options)),
            namespaces: state
                .objects
                .namespaces
                .iter()
                .map(|(namespace, objects)| namespace_posture(state, namespace, objects, options))
                .collect(),
        })
        .collect();
    Report {
        clusters,
        objects,
        unknown_objects,
        trusted_registries: options.trusted_registries.clone(),
    }
}

/// What a check found of one object.
enum Verdict {
    Clean,
    Offends(Vec<String>),
    /// The object's own body is known but something it depends on is not.
    Unknown(String),
}

/// How an absence check went, object by object.
struct Tally<'a> {
    id: &'static str,
    /// "privileged or host-namespace workloads" (plural noun phrase).
    what: &'static str,
    /// "workloads" (what was examined).
    examined_noun: &'static str,
    max: usize,
    examined: usize,
    offenders: Vec<Offender>,
    offending_events: Vec<String>,
    clean_events: Vec<String>,
    unknown: Vec<(&'a Object, Option<String>)>,
}

impl<'a> Tally<'a> {
    fn new(id: &'static str, what: &'static str, examined_noun: &'static str, max: usize) -> Self {
        Tally {
            id,
            what,
            examined_noun,
            max,
            examined: 0,
            offenders: Vec::new(),
            offending_events: Vec::new(),
            clean_events: Vec::new(),
            unknown: Vec::new(),
        }
    }

    fn add(&mut self, object: &'a Object, judge: impl Fn(&Value) -> Verdict) {
        let Content::Known(body) = &object.content else {
            self.unknown.push((object, None));
            return;
        };
        self.examined += 1;
        match judge(body) {
            Verdict::Clean => self.clean_events.push(object.event_id.clone()),
            Verdict::Offends(reasons) => {
                for reason in reasons {
                    self.offenders.push(Offender {
                        resource: object.resource.clone(),
                        namespace: object.namespace.clone(),
                        name: object.name.clone().unwrap_or_default(),
                        reason,
                    });
                }
                self.offending_events.push(object.event_id.clone());
            }
            Verdict::Unknown(hint) => self.unknown.push((object, Some(hint))),
        }
    }

    /// `not_seen`: the hint when nothing of this kind was written.
    fn finish(mut self, not_seen: String) -> Check {
        let total_offenders = self.offenders.len();
        self.offenders.sort();
        self.offenders.truncate(self.max);
        if !self.offending_events.is_empty() {
            self.offending_events.truncate(self.max);
            return Check {
                id: self.id,
                status: Status::Fail,
                summary: format!(
                    "{total_offenders} finding(s) of {} among {} {} seen",
                    self.what, self.examined, self.examined_noun
                ),
                event_ids: self.offending_events,
                objects: self.offenders,
                hint: None,
            };
        }
        if let Some((object, hint)) = self.unknown.first() {
            let hint = hint.clone().unwrap_or_else(|| unknown_hint(object));
            let mut event_ids: Vec<String> = self
                .unknown
                .iter()
                .map(|(object, _)| object.event_id.clone())
                .collect();
            event_ids.truncate(self.max);
            return Check {
                id: self.id,
                status: Status::Unknown,
                summary: format!(
                    "no {} among the {} {} whose bodies were seen, but {} more could not be examined",
                    self.what,
                    self.examined,
                    self.examined_noun,
                    self.unknown.len()
                ),
                event_ids,
                objects: Vec::new(),
                hint: Some(hint),
            };
        }
        if self.examined == 0 {
            return Check {
                id: self.id,
                status: Status::Unknown,
                summary: format!("no {} were written in the events read", self.examined_noun),
                event_ids: Vec::new(),
                objects: Vec::new(),
                hint: Some(not_seen),
            };
        }
        self.clean_events.truncate(self.max);
        Check {
            id: self.id,
            status: Status::Pass,
            summary: format!(
                "no {} among the {} {} seen",
                self.what, self.examined, self.examined_noun
            ),
            event_ids: self.clean_events,
            objects: Vec::new(),
            hint: None,
        }
    }
}

/// What to change in the audit policy (or the query) so an unknown object becomes known.
fn unknown_hint(object: &Object) -> String {
    let resource = &object.resource;
    let what = match &object.name {
        Some(name) => format!("{resource} {name}"),
        None => format!("a {resource} object"),
    };
    match object.content {
        Content::Unknown(Unknown::Patch) => format!(
            "{what} was last changed by a patch logged without the stored object: log {resource} writes at RequestResponse level in the audit policy"
        ),
        Content::Unknown(Unknown::Collection) => format!(
            "{what} was written before a deletecollection of {resource} and may be gone; its next write will show it"
        ),
        Content::Unknown(Unknown::Unreadable) => {
            format!("the raw event of {what}'s last write is not valid JSON")
        }
        _ => format!(
            "{resource} writes were logged at Metadata level only ({what} has no body): log them at Request level or above in the audit policy"
        ),
    }
}

fn not_seen_hint(resource: &str, namespace: Option<&str>) -> String {
    let place = namespace.map_or_else(|| "this cluster".to_owned(), |ns| format!("namespace {ns}"));
    format!(
        "no write to {resource} in {place} was seen in the events read; objects last written before them are not visible (widen from/to, or keep more retention)"
    )
}

fn namespace_posture(
    cluster: &Clusterish,
    namespace: &str,
    objects: &NamespaceObjects,
    options: &Options,
) -> NamespacePosture {
    let empty = Vec::new();
    let of = |resource: &str| objects.by_resource.get(resource).unwrap_or(&empty);
    let (pod_security, psa_check) = pod_security(cluster, namespace, objects);
    let policies = of("networkpolicies");
    let service_accounts = of("serviceaccounts");
    let workloads: Vec<&Object> = WORKLOADS.iter().flat_map(|resource| of(resource)).collect();
    let policy_hint = not_seen_hint("networkpolicies", Some(namespace));
    let workload_hint = || not_seen_hint("workloads (pods, deployments, ...)", Some(namespace));
    let mut checks = vec![
        psa_check,
        presence(
            "default_deny_ingress",
            "default-deny ingress NetworkPolicy (podSelector {}, policyTypes Ingress, no ingress rules)",
            policies,
            objects.created_in_view,
            is_default_deny_ingress,
            &policy_hint,
            options,
        ),
        presence(
            "default_deny_egress",
            "default-deny egress NetworkPolicy (podSelector {}, policyTypes Egress, no egress rules)",
            policies,
            objects.created_in_view,
            is_default_deny_egress,
            &policy_hint,
            options,
        ),
        dns_only_egress(policies, objects.created_in_view, &policy_hint, options),
    ];

    let mut tally = Tally::new(
        "service_account_automount",
        "service accounts that automount their token",
        "service accounts",
        options.max_evidence,
    );
    for account in service_accounts {
        tally.add(account, |body| {
            if body.get("automountServiceAccountToken") == Some(&Value::Bool(false)) {
                Verdict::Clean
            } else {
                Verdict::Offends(vec!["automountServiceAccountToken is not false".to_owned()])
            }
        });
    }
    checks.push(finish_in(
        tally,
        objects.created_in_view,
        not_seen_hint("serviceaccounts", Some(namespace)),
    ));

    let mut tally = Tally::new(
        "workload_automount",
        "workloads that automount a service account token",
        "workloads",
        options.max_evidence,
    );
    for workload in &workloads {
        tally.add(workload, |body| {
            let Some(spec) = pod_spec(&workload.resource, body) else {
                return Verdict::Clean;
            };
            match spec.get("automountServiceAccountToken").and_then(Value::as_bool) {
                Some(false) => return Verdict::Clean,
                Some(true) => {
                    return Verdict::Offends(vec!["automountServiceAccountToken: true".to_owned()]);
                }
                None => {}
            }
            let account = spec
                .get("serviceAccountName")
                .or_else(|| spec.get("serviceAccount"))
                .and_then(Value::as_str)
                .unwrap_or("default");
            let found = service_accounts
                .iter()
                .find(|object| object.name.as_deref() == Some(account));
            match found.map(|object| &object.content) {
                Some(Content::Known(sa)) => {
                    if sa.get("automountServiceAccountToken") == Some(&Value::Bool(false)) {
                        Verdict::Clean
                    } else {
                        Verdict::Offends(vec![format!(
                            "inherits token automount from service account {account}"
                        )])
                    }
                }
                Some(Content::Unknown(_)) | None => Verdict::Unknown(format!(
                    "{} {} leaves automount to service account {account}, whose body was not seen: log serviceaccounts writes at Request level or above",
                    workload.resource,
                    workload.name.as_deref().unwrap_or("?")
                )),
            }
        });
    }
    checks.push(finish_in(tally, objects.created_in_view, workload_hint()));

    let workload_check =
        |id: &'static str, what: &'static str, judge: &dyn Fn(&Value) -> Vec<String>| {
            let mut tally = Tally::new(id, what, "workloads", options.max_evidence);
            for workload in &workloads {
                tally.add(workload, |body| match pod_spec(&workload.resource, body) {
                    Some(spec) => {
                        let reasons = judge(spec);
                        if reasons.is_empty() {
                            Verdict::Clean
                        } else {
                            Verdict::Offends(reasons)
                        }
                    }
                    None => Verdict::Clean,
                });
            }
            finish_in(tally, objects.created_in_view, workload_hint())
        };
    checks.push(workload_check(
        "privileged_workloads",
        "privileged or host-namespace workloads",
        &privileged,
    ));
    checks.push(workload_check(
        "sensitive_host_paths",
        "workloads mounting sensitive host paths",
        &|spec| sensitive_host_paths(spec, &options.sensitive_host_paths),
    ));
    checks.push(workload_check(
        "unpinned_images",
        "images not pinned by digest",
        &unpinned_images,
    ));
    checks.push(workload_check(
        "untrusted_registries",
        "images from untrusted registries",
        &|spec| untrusted_images(spec, &options.trusted_registries),
    ));
    NamespacePosture {
        namespace: namespace.to_owned(),
        created_in_view: objects.created_in_view,
        pod_security,
        checks,
    }
}

/// An absence check of a namespace: with nothing of its kind seen in a namespace created in
/// view, there is nothing, so it passes.
fn finish_in(tally: Tally<'_>, created_in_view: bool, not_seen: String) -> Check {
    if created_in_view && tally.examined == 0 && tally.unknown.is_empty() {
        return Check {
            id: tally.id,
            status: Status::Pass,
            summary: format!(
                "no {} were written since the namespace was created",
                tally.examined_noun
            ),
            event_ids: Vec::new(),
            objects: Vec::new(),
            hint: None,
        };
    }
    tally.finish(not_seen)
}

/// The Pod Security labels and the `pod_security_enforce` check.
fn pod_security(
    cluster: &Clusterish,
    namespace: &str,
    objects: &NamespaceObjects,
) -> (PodSecurity, Check) {
    let id = "pod_security_enforce";
    let Some(object) = &objects.namespace else {
        let seen = cluster
            .seen
            .contains(&(Some(namespace.to_owned()), "namespaces".to_owned()));
        let hint = if seen {
            format!(
                "namespace {namespace} was written without naming it in the event (a create at Metadata level): log namespaces at Request level or above in the audit policy"
            )
        } else {
            not_seen_hint("namespaces", Some(namespace))
        };
        return (
            PodSecurity::default(),
            Check {
                id,
                status: Status::Unknown,
                summary: format!("the Namespace object {namespace} was not seen"),
                event_ids: Vec::new(),
                objects: Vec::new(),
                hint: Some(hint),
            },
        );
    };
    let Content::Known(body) = &object.content else {
        return (
            PodSecurity::default(),
            Check {
                id,
                status: Status::Unknown,
                summary: format!("the body of namespace {namespace} was not seen"),
                event_ids: vec![object.event_id.clone()],
                objects: Vec::new(),
                hint: Some(unknown_hint(object)),
            },
        );
    };
    let label = |mode: &str| {
        body.get("metadata")
            .and_then(|metadata| metadata.get("labels"))
            .and_then(|labels| labels.get(format!("pod-security.kubernetes.io/{mode}")))
            .and_then(Value::as_str)
            .unwrap_or("none")
            .to_owned()
    };
    let labels = PodSecurity {
        enforce: Some(label("enforce")),
        audit: Some(label("audit")),
        warn: Some(label("warn")),
    };
    let enforce = labels.enforce.clone().unwrap_or_default();
    let pass = matches!(enforce.as_str(), "restricted" | "baseline");
    let offender = (!pass).then(|| Offender {
        resource: "namespaces".to_owned(),
        namespace: Some(namespace.to_owned()),
        name: namespace.to_owned(),
        reason: if enforce == "none" {
            "no pod-security.kubernetes.io/enforce label".to_owned()
        } else {
            format!("pod-security.kubernetes.io/enforce={enforce}")
        },
    });
    let check = Check {
        id,
        status: if pass { Status::Pass } else { Status::Fail },
        summary: format!("Pod Security enforce level: {enforce} (restricted or baseline passes)"),
        event_ids: vec![object.event_id.clone()],
        objects: offender.into_iter().collect(),
        hint: None,
    };
    (labels, check)
}

/// A presence check over the namespace's network policies.
fn presence(
    id: &'static str,
    what: &str,
    policies: &[Object],
    created_in_view: bool,
    qualifies: fn(&Value) -> bool,
    not_seen: &str,
    options: &Options,
) -> Check {
    let qualifying: Vec<&Object> = policies
        .iter()
        .filter(|object| matches!(&object.content, Content::Known(body) if qualifies(body)))
        .collect();
    let unknown: Vec<&Object> = policies
        .iter()
        .filter(|object| matches!(object.content, Content::Unknown(_)))
        .collect();
    let ids = |objects: &[&Object]| {
        objects
            .iter()
            .take(options.max_evidence)
            .map(|object| object.event_id.clone())
            .collect::<Vec<_>>()
    };
    if !qualifying.is_empty() {
        let names: Vec<&str> = qualifying
            .iter()
            .filter_map(|object| object.name.as_deref())
            .collect();
        return Check {
            id,
            status: Status::Pass,
            summary: format!("{what} exists: {}", names.join(", ")),
            event_ids: ids(&qualifying),
            objects: Vec::new(),
            hint: None,
        };
    }
    if let Some(first) = unknown.first() {
        return Check {
            id,
            status: Status::Unknown,
            summary: format!(
                "no {what} among the policies seen, but {} policies could not be examined",
                unknown.len()
            ),
            event_ids: ids(&unknown),
            objects: Vec::new(),
            hint: Some(unknown_hint(first)),
        };
    }
    let known: Vec<&Object> = policies.iter().collect();
    if created_in_view {
        return Check {
            id,
            status: Status::Fail,
            summary: format!(
                "no {what}: none of the {} policies written since the namespace was created is one",
                known.len()
            ),
            event_ids: ids(&known),
            objects: Vec::new(),
            hint: None,
        };
    }
    Check {
        id,
        status: Status::Unknown,
        summary: format!(
            "no {what} among the {} policies seen; the namespace is older than the events read",
            known.len()
        ),
        event_ids: ids(&known),
        objects: Vec::new(),
        hint: Some(not_seen.to_owned()),
    }
}

fn spec_of(policy: &Value) -> Option<&Value> {
    policy.get("spec")
}

/// `podSelector: {}` (or without labels and expressions): every pod of the namespace.
fn selects_all_pods(spec: &Value) -> bool {
    match spec.get("podSelector") {
        None | Some(Value::Null) => true,
        Some(Value::Object(selector)) => selector.iter().all(|(_, value)| match value {
            Value::Object(map) => map.is_empty(),
            Value::Array(list) => list.is_empty(),
            Value::Null => true,
            _ => false,
        }),
        Some(_) => false,
    }
}

/// The policy types, defaulted as the API server does: Ingress always, Egress when egress
/// rules are given.
fn policy_types(spec: &Value) -> Vec<String> {
    match spec.get("policyTypes").and_then(Value::as_array) {
        Some(types) => types
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        None => {
            let mut types = vec!["Ingress".to_owned()];
            if spec.get("egress").is_some_and(|egress| !egress.is_null()) {
                types.push("Egress".to_owned());
            }
            types
        }
    }
}

fn rules_empty(spec: &Value, field: &str) -> bool {
    match spec.get(field) {
        None | Some(Value::Null) => true,
        Some(Value::Array(rules)) => rules.is_empty(),
        Some(_) => false,
    }
}

fn is_default_deny_ingress(policy: &Value) -> bool {
    spec_of(policy).is_some_and(|spec| {
        selects_all_pods(spec)
            && policy_types(spec).iter().any(|t| t == "Ingress")
            && rules_empty(spec, "ingress")
    })
}

fn is_default_deny_egress(policy: &Value) -> bool {
    spec_of(policy).is_some_and(|spec| {
        selects_all_pods(spec)
            && policy_types(spec).iter().any(|t| t == "Egress")
            && rules_empty(spec, "egress")
    })
}

/// Whether every pod's egress is restricted by some policy (podSelector {} with Egress).
fn isolates_all_egress(policy: &Value) -> bool {
    spec_of(policy).is_some_and(|spec| {
        selects_all_pods(spec) && policy_types(spec).iter().any(|t| t == "Egress")
    })
}

/// An egress rule that allows DNS only: every port is 53 (UDP or TCP).
fn is_dns_rule(rule: &Value) -> bool {
    let Some(ports) = rule.get("ports").and_then(Value::as_array) else {
        return false;
    };
    !ports.is_empty()
        && ports.iter().all(|port| {
            let number = match port.get("port") {
                Some(Value::Number(n)) => n.as_i64() == Some(53),
                Some(Value::String(s)) => s == "53" || s == "dns" || s == "dns-tcp",
                _ => false,
            };
            let protocol = port
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP");
            let end = port
                .get("endPort")
                .is_none_or(|end| end.as_i64() == Some(53) || end.is_null());
            number && end && (protocol == "UDP" || protocol == "TCP")
        })
}

fn dns_only_egress(
    policies: &[Object],
    created_in_view: bool,
    not_seen: &str,
    options: &Options,
) -> Check {
    let id = "dns_only_egress";
    let known: Vec<(&Object, &Value)> = policies
        .iter()
        .filter_map(|object| match &object.content {
            Content::Known(body) => Some((object, body)),
            Content::Unknown(_) => None,
        })
        .collect();
    let mut wider = Vec::new();
    let mut dns = Vec::new();
    for (object, body) in &known {
        let egress = spec_of(body)
            .and_then(|spec| spec.get("egress"))
            .and_then(Value::as_array);
        for rule in egress.into_iter().flatten() {
            if is_dns_rule(rule) {
                dns.push(*object);
            } else {
                wider.push(Offender {
                    resource: "networkpolicies".to_owned(),
                    namespace: object.namespace.clone(),
                    name: object.name.clone().unwrap_or_default(),
                    reason: "allows egress beyond port 53".to_owned(),
                });
            }
        }
    }
    let isolating: Vec<&Object> = known
        .iter()
        .filter(|(_, body)| isolates_all_egress(body))
        .map(|(object, _)| *object)
        .collect();
    let evidence = |objects: &[&Object]| -> Vec<String> {
        let mut ids: Vec<String> = objects.iter().map(|o| o.event_id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids.truncate(options.max_evidence);
        ids
    };
    if !wider.is_empty() {
        wider.sort();
        wider.dedup();
        let offenders: Vec<&Object> = known
            .iter()
            .filter(|(object, _)| {
                wider
                    .iter()
                    .any(|w| Some(w.name.as_str()) == object.name.as_deref())
            })
            .map(|(object, _)| *object)
            .collect();
        wider.truncate(options.max_evidence);
        return Check {
            id,
            status: Status::Fail,
            summary: "some NetworkPolicy allows egress beyond DNS (port 53)".to_owned(),
            event_ids: evidence(&offenders),
            objects: wider,
            hint: None,
        };
    }
    let unknown: Vec<&Object> = policies
        .iter()
        .filter(|object| matches!(object.content, Content::Unknown(_)))
        .collect();
    if !isolating.is_empty() && unknown.is_empty() {
        let mut deciding = isolating.clone();
        deciding.extend(dns.iter().copied());
        let summary = if dns.is_empty() {
            "egress is denied to every pod, DNS included"
        } else {
            "egress is denied to every pod except DNS (port 53)"
        };
        return Check {
            id,
            status: Status::Pass,
            summary: summary.to_owned(),
            event_ids: evidence(&deciding),
            objects: Vec::new(),
            hint: None,
        };
    }
    if let Some(first) = unknown.first() {
        return Check {
            id,
            status: Status::Unknown,
            summary: format!("{} policies could not be examined", unknown.len()),
            event_ids: evidence(&unknown),
            objects: Vec::new(),
            hint: Some(unknown_hint(first)),
        };
    }
    let all: Vec<&Object> = known.iter().map(|(object, _)| *object).collect();
    if created_in_view {
        return Check {
            id,
            status: Status::Fail,
            summary: "no NetworkPolicy restricts every pod's egress".to_owned(),
            event_ids: evidence(&all),
            objects: Vec::new(),
            hint: None,
        };
    }
    Check {
        id,
        status: Status::Unknown,
        summary: format!(
            "none of the {} policies seen restricts every pod's egress; the namespace is older than the events read",
            all.len()
        ),
        event_ids: evidence(&all),
        objects: Vec::new(),
        hint: Some(not_seen.to_owned()),
    }
}

/// The pod spec of a Pod or of a workload's pod template.
pub(crate) fn pod_spec<'v>(resource: &str, body: &'v Value) -> Option<&'v Value> {
    let spec = body.get("spec")?;
    match resource {
        "pods" => Some(spec),
        "cronjobs" => spec
            .get("jobTemplate")?
            .get("spec")?
            .get("template")?
            .get("spec"),
        _ => spec.get("template")?.get("spec"),
    }
}

/// Every container of a pod spec (containers, init and ephemeral containers).
fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["containers", "initContainers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|field| spec.get(field).and_then(Value::as_array))
        .flatten()
}

fn container_name(container: &Value) -> &str {
    container.get("name").and_then(Value::as_str).unwrap_or("?")
}

fn privileged(spec: &Value) -> Vec<String> {
    let mut reasons: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|field| spec.get(*field) == Some(&Value::Bool(true)))
        .map(|field| format!("{field}: true"))
        .collect();
    for container in containers(spec) {
        let privileged = container
            .get("securityContext")
            .and_then(|context| context.get("privileged"))
            == Some(&Value::Bool(true));
        if privileged {
            reasons.push(format!(
                "container {} is privileged",
                container_name(container)
            ));
        }
    }
    reasons
}

/// Glob match where `*` matches any run of characters, `/` included.
fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    let (last, middle) = parts.split_last().expect("split yields one part");
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

fn sensitive_host_paths(spec: &Value, sensitive: &[String]) -> Vec<String> {
    let volumes = spec.get("volumes").and_then(Value::as_array);
    volumes
        .into_iter()
        .flatten()
        .filter_map(|volume| {
            let path = volume.get("hostPath")?.get("path")?.as_str()?;
            let normalised = if path.len() > 1 {
                path.trim_end_matches('/')
            } else {
                path
            };
            sensitive
                .iter()
                .any(|pattern| glob(pattern, normalised))
                .then(|| {
                    format!(
                        "volume {} mounts host path {path}",
                        volume.get("name").and_then(Value::as_str).unwrap_or("?")
                    )
                })
        })
        .collect()
}

fn images(spec: &Value) -> impl Iterator<Item = &str> {
    containers(spec).filter_map(|container| container.get("image").and_then(Value::as_str))
}

fn unpinned_images(spec: &Value) -> Vec<String> {
    let mut found: Vec<String> = images(spec)
        .filter(|image| event::parse_image(image).digest.is_none())
        .map(|image| format!("image {image} is not pinned by digest"))
        .collect();
    found.dedup();
    found
}

/// Whether `image` comes from a trusted registry: its registry is listed, or an entry with a
/// path (`ghcr.io/me`) prefixes its registry and repository.
fn trusted(image: &str, trusted: &[String]) -> bool {
    let reference = event::parse_image(image);
    let registry = reference.registry;
    let full = format!("{registry}/{}", reference.repository);
    trusted.iter().any(|entry| {
        *entry == registry
            || full
                .strip_prefix(entry.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

fn untrusted_images(spec: &Value, trusted_registries: &[String]) -> Vec<String> {
    let mut found: Vec<String> = images(spec)
        .filter(|image| !trusted(image, trusted_registries))
        .map(|image| {
            let registry = event::parse_image(image).registry;
            format!("image {image} is from untrusted registry {registry}")
        })
        .collect();
    found.dedup();
    found
}

fn cluster_checks(cluster: &Clusterish, options: &Options) -> Vec<Check> {
    let empty = Vec::new();
    let of = |resource: &str| cluster.objects.rbac.get(resource).unwrap_or(&empty);
    let bootstrap = |object: &Object| object.user.as_deref() == Some(BOOTSTRAP_USER);
    let not_seen = |resources: &str| {
        format!(
            "no write to {resources} was seen in the events read; objects last written before them (the bootstrap policy included) are not visible"
        )
    };

    let mut tally = Tally::new(
        "wildcard_roles",
        "roles granting * verbs or resources",
        "roles and cluster roles",
        options.max_evidence,
    );
    for role in of("clusterroles").iter().chain(of("roles")) {
        if bootstrap(role) {
            continue;
        }
        tally.add(role, |body| {
            let rules = body.get("rules").and_then(Value::as_array);
            let wild = rules.into_iter().flatten().any(|rule| {
                ["verbs", "resources"].iter().any(|field| {
                    rule.get(field)
                        .and_then(Value::as_array)
                        .is_some_and(|items| items.iter().any(|item| item == "*"))
                })
            });
            if wild {
                Verdict::Offends(vec!["a rule grants * verbs or resources".to_owned()])
            } else {
                Verdict::Clean
            }
        });
    }
    let mut checks = vec![tally.finish(not_seen("clusterroles or roles"))];

    let bindings: Vec<&Object> = of("clusterrolebindings")
        .iter()
        .chain(of("rolebindings"))
        .filter(|binding| !bootstrap(binding))
        .collect();
    let subjects = |body: &Value| -> Vec<(String, String)> {
        body.get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|subject| {
                let field = |name: &str| {
                    subject
                        .get(name)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                (field("kind"), field("name"))
            })
            .collect()
    };
    let mut tally = Tally::new(
        "cluster_admin_bindings",
        "bindings to cluster-admin (besides the bootstrap ones)",
        "bindings",
        options.max_evidence,
    );
    for binding in &bindings {
        tally.add(binding, |body| {
            let role_ref = body.get("roleRef");
            let field = |name: &str| {
                role_ref
                    .and_then(|role| role.get(name))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            };
            if field("kind") == "ClusterRole" && field("name") == "cluster-admin" {
                let to: Vec<String> = subjects(body)
                    .into_iter()
                    .map(|(kind, name)| format!("{kind} {name}"))
                    .collect();
                Verdict::Offends(vec![format!("binds cluster-admin to {}", to.join(", "))])
            } else {
                Verdict::Clean
            }
        });
    }
    checks.push(tally.finish(not_seen("clusterrolebindings or rolebindings")));

    let mut tally = Tally::new(
        "anonymous_bindings",
        "bindings to system:anonymous, system:unauthenticated or system:authenticated",
        "bindings",
        options.max_evidence,
    );
    for binding in &bindings {
        tally.add(binding, |body| {
            let reasons: Vec<String> = subjects(body)
                .into_iter()
                .filter(|(_, name)| EVERYONE.contains(&name.as_str()))
                .map(|(kind, name)| format!("binds {kind} {name}"))
                .collect();
            if reasons.is_empty() {
                Verdict::Clean
            } else {
                Verdict::Offends(reasons)
            }
        });
    }
    checks.push(tally.finish(not_seen("clusterrolebindings or rolebindings")));
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_cross_slashes() {
        assert!(glob("/etc/*", "/etc/kubernetes/pki"));
        assert!(glob("/", "/"));
        assert!(!glob("/", "/data"));
        assert!(glob(
            "/var/run/containerd/*",
            "/var/run/containerd/containerd.sock"
        ));
        assert!(!glob("/etc/*", "/etc"));
        assert!(glob("*.sock", "/run/docker.sock"));
    }

    #[test]
    fn trusted_registries_match_exactly_or_by_path_prefix() {
        let list = vec!["registry.k8s.io".to_owned(), "ghcr.io/me".to_owned()];
        assert!(trusted("registry.k8s.io/pause:3.9", &list));
        assert!(trusted("ghcr.io/me/app:1", &list));
        assert!(!trusted("ghcr.io/mean/app:1", &list));
        assert!(!trusted("nginx:1.25", &list), "docker.io is not listed");
    }

    #[test]
    fn dns_rules_allow_port_53_only() {
        let rule = serde_json::json!({"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]});
        assert!(is_dns_rule(&rule));
        let rule = serde_json::json!({"ports": [{"port": 53, "protocol": "UDP"}, {"port": 443}]});
        assert!(!is_dns_rule(&rule));
        assert!(!is_dns_rule(
            &serde_json::json!({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})
        ));
    }
}
