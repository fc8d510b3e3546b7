//! The checklist over small hand-written audit streams with known answers: one namespace
//! hardened, one open, one logged at Metadata level only, one deleted and re-created, and the
//! cluster's RBAC.

use posture::{Meta, Options, Record, Report, Selection, Status, evaluate};
use serde_json::{Value, json};

/// One write event as the store holds it: normalised fields and the raw JSON.
struct Write {
    id: String,
    time: i64,
    cluster: &'static str,
    resource: &'static str,
    namespace: Option<&'static str>,
    name: Option<&'static str>,
    verb: &'static str,
    code: i32,
    user: &'static str,
    uri: String,
    raw: String,
}

/// A write of `verb` at `time` (seconds), with the request and response bodies the audit level
/// logged (`None`: not logged).
#[allow(clippy::too_many_arguments)]
fn write(
    time: i64,
    verb: &'static str,
    resource: &'static str,
    namespace: Option<&'static str>,
    name: Option<&'static str>,
    request: Option<Value>,
    response: Option<Value>,
) -> Write {
    let mut raw = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1",
        "level": match (&request, &response) {
            (_, Some(_)) => "RequestResponse",
            (Some(_), None) => "Request",
            _ => "Metadata",
        },
        "verb": verb,
        "objectRef": {"resource": resource, "namespace": namespace, "name": name},
        "responseStatus": {"code": 200},
    });
    if let Some(request) = request {
        raw["requestObject"] = request;
    }
    if let Some(response) = response {
        raw["responseObject"] = response;
    }
    Write {
        id: format!("{resource}-{}-{verb}-{time}", name.unwrap_or("unnamed")),
        time: time * 1_000_000,
        cluster: "c1",
        resource,
        namespace,
        name,
        verb,
        code: if verb == "create" { 201 } else { 200 },
        user: "alice",
        uri: format!("/apis/x/{resource}"),
        raw: raw.to_string(),
    }
}

impl Write {
    fn by(mut self, user: &'static str) -> Write {
        self.user = user;
        self
    }

    fn code(mut self, code: i32) -> Write {
        self.code = code;
        self
    }

    fn uri(mut self, uri: &str) -> Write {
        self.uri = uri.to_owned();
        self
    }

    fn record(&self) -> Record<'_> {
        Record {
            meta: Meta {
                event_id: &self.id,
                time_micros: self.time,
                cluster: self.cluster,
                resource: self.resource,
                namespace: self.namespace,
                name: self.name,
                verb: self.verb,
                response_code: Some(self.code),
                user: Some(self.user),
                request_uri: Some(&self.uri),
            },
            raw: &self.raw,
        }
    }
}

fn namespace_body(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

fn pod_template(spec: Value) -> Value {
    json!({"kind": "Deployment", "spec": {"template": {"spec": spec}}})
}

fn stream() -> Vec<Write> {
    let locked = Some("locked");
    let open = Some("open");
    vec![
        // `locked`: restricted, default deny both ways plus DNS, nothing automounts, pinned
        // images from a trusted registry.
        write(1, "create", "namespaces", None, Some("locked"),
            Some(namespace_body("locked", json!({"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"}))), None),
        write(2, "create", "networkpolicies", locked, Some("default-deny"),
            Some(json!({"kind": "NetworkPolicy", "metadata": {"name": "default-deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})), None),
        write(3, "create", "networkpolicies", locked, Some("allow-dns"),
            Some(json!({"kind": "NetworkPolicy", "metadata": {"name": "allow-dns"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}})), None),
        write(4, "create", "serviceaccounts", locked, Some("default"),
            Some(json!({"kind": "ServiceAccount", "metadata": {"name": "default"}, "automountServiceAccountToken": false})), None),
        write(5, "create", "deployments", locked, Some("web"), None,
            Some(pod_template(json!({"containers": [{"name": "web", "image": "registry.k8s.io/web:1@sha256:0123456789abcdef"}]})))),
        // A refused write and a dry run change nothing.
        write(6, "update", "namespaces", None, Some("locked"),
            Some(namespace_body("locked", json!({}))), None).code(403),
        write(7, "update", "deployments", locked, Some("web"), None,
            Some(pod_template(json!({"hostNetwork": true, "containers": [{"name": "web", "image": "nginx"}]}))))
            .uri("/apis/apps/v1/namespaces/locked/deployments/web?dryRun=All"),
        // A deployment created then deleted is gone.
        write(8, "create", "deployments", locked, Some("tmp"), None,
            Some(pod_template(json!({"hostPID": true, "containers": [{"name": "t", "image": "busybox"}]})))),
        write(9, "delete", "deployments", locked, Some("tmp"), None, None),

        // `open`: no labels, no policies, the default service account automounts, a privileged
        // pod with the node's runtime socket and an unpinned image from an unknown registry.
        write(10, "create", "namespaces", None, Some("open"), Some(namespace_body("open", json!({}))), None),
        write(11, "create", "serviceaccounts", open, Some("default"),
            Some(json!({"kind": "ServiceAccount", "metadata": {"name": "default"}})), None),
        write(12, "create", "pods", open, Some("debug"), None,
            Some(json!({"kind": "Pod", "metadata": {"name": "debug"}, "spec": {"hostNetwork": true,
                "containers": [{"name": "shell", "image": "evil.io/miner:latest", "securityContext": {"privileged": true}}],
                "volumes": [{"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}, {"name": "data", "hostPath": {"path": "/data"}}]}}))),
        write(13, "create", "rolebindings", open, Some("public"), None,
            Some(json!({"kind": "RoleBinding", "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "Group", "name": "system:unauthenticated"}]}))),

        // `dark`: the namespace at Metadata level, and a policy last changed by a bare patch
        // (its earlier full body no longer decides anything).
        write(20, "update", "namespaces", Some("dark"), Some("dark"), None, None),
        write(21, "create", "networkpolicies", Some("dark"), Some("deny"),
            Some(json!({"kind": "NetworkPolicy", "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})), None),
        write(22, "patch", "networkpolicies", Some("dark"), Some("deny"),
            Some(json!({"spec": {"ingress": [{}]}})), None),

        // `again`: a privileged pod, then the namespace is deleted and re-created.
        write(30, "create", "namespaces", None, Some("again"), Some(namespace_body("again", json!({}))), None),
        write(31, "create", "pods", Some("again"), Some("old"), None,
            Some(json!({"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": true}}]}}))),
        write(32, "delete", "namespaces", Some("again"), Some("again"), None, None),
        write(33, "create", "namespaces", None, Some("again"),
            Some(namespace_body("again", json!({"pod-security.kubernetes.io/enforce": "baseline"}))), None),

        // RBAC: the bootstrap binding is not a finding; a person's binding to cluster-admin and
        // a wildcard role are.
        write(40, "create", "clusterrolebindings", None, Some("cluster-admin"), None,
            Some(json!({"kind": "ClusterRoleBinding", "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"kind": "Group", "name": "system:masters"}]})))
            .by("system:apiserver"),
        write(41, "create", "clusterrolebindings", None, Some("ops-admin"), None,
            Some(json!({"kind": "ClusterRoleBinding", "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"kind": "User", "name": "bob"}]}))),
        write(42, "create", "clusterroles", None, Some("wild"), None,
            Some(json!({"kind": "ClusterRole", "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]}))),
        write(43, "create", "clusterroles", None, Some("reader"), None,
            Some(json!({"kind": "ClusterRole", "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}))),
    ]
}

fn options() -> Options {
    Options {
        trusted_registries: vec!["registry.k8s.io".to_owned()],
        sensitive_host_paths: vec!["/var/run/docker.sock".to_owned(), "/etc/*".to_owned()],
        ..Options::default()
    }
}

fn run(stream: &[Write], options: &Options) -> Report {
    evaluate(stream.iter().map(Write::record), options)
}

/// (status, event ids, offending object names) of check `id` in `namespace` (`None`: the
/// cluster-wide checks).
fn check(report: &Report, namespace: Option<&str>, id: &str) -> (Status, Vec<String>, Vec<String>) {
    let cluster = &report.clusters[0];
    let checks = match namespace {
        Some(namespace) => {
            &cluster
                .namespaces
                .iter()
                .find(|n| n.namespace == namespace)
                .unwrap_or_else(|| panic!("no namespace {namespace}"))
                .checks
        }
        None => cluster.checks.as_ref().expect("cluster-wide checks"),
    };
    let check = checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id}"));
    if check.status == Status::Unknown {
        assert!(check.hint.is_some(), "{id}: unknown without a hint");
    }
    (
        check.status,
        check.event_ids.clone(),
        check.objects.iter().map(|o| o.name.clone()).collect(),
    )
}

#[test]
fn a_hardened_namespace_passes_every_check() {
    let report = run(&stream(), &options());
    let namespace = report.clusters[0]
        .namespaces
        .iter()
        .find(|n| n.namespace == "locked")
        .unwrap();
    assert!(namespace.created_in_view);
    assert_eq!(
        namespace.pod_security.enforce.as_deref(),
        Some("restricted")
    );
    assert_eq!(namespace.pod_security.warn.as_deref(), Some("restricted"));
    assert_eq!(namespace.pod_security.audit.as_deref(), Some("none"));
    for check in &namespace.checks {
        assert_eq!(check.status, Status::Pass, "{check:?}");
    }
    let (_, ids, _) = check(&report, Some("locked"), "pod_security_enforce");
    assert_eq!(
        ids,
        ["namespaces-locked-create-1"],
        "the refused update decides nothing"
    );
    let (_, ids, _) = check(&report, Some("locked"), "default_deny_ingress");
    assert_eq!(ids, ["networkpolicies-default-deny-create-2"]);
    let (_, ids, _) = check(&report, Some("locked"), "privileged_workloads");
    assert_eq!(
        ids,
        ["deployments-web-create-5"],
        "the dry run and the deleted one do not count"
    );
}

#[test]
fn an_open_namespace_fails_with_its_offenders() {
    let report = run(&stream(), &options());
    for (id, offenders) in [
        ("pod_security_enforce", vec!["open"]),
        ("service_account_automount", vec!["default"]),
        ("workload_automount", vec!["debug"]),
        ("privileged_workloads", vec!["debug", "debug"]),
        ("sensitive_host_paths", vec!["debug"]),
        ("unpinned_images", vec!["debug"]),
        ("untrusted_registries", vec!["debug"]),
    ] {
        let (status, ids, names) = check(&report, Some("open"), id);
        assert_eq!(status, Status::Fail, "{id}");
        assert_eq!(names, offenders, "{id}");
        assert!(!ids.is_empty(), "{id}: no evidence");
    }
    // Created in view with no policy at all: absence is known.
    for id in [
        "default_deny_ingress",
        "default_deny_egress",
        "dns_only_egress",
    ] {
        assert_eq!(check(&report, Some("open"), id).0, Status::Fail, "{id}");
    }
    let namespace = report.clusters[0]
        .namespaces
        .iter()
        .find(|n| n.namespace == "open")
        .unwrap();
    let privileged = namespace
        .checks
        .iter()
        .find(|c| c.id == "privileged_workloads")
        .unwrap();
    let reasons: Vec<&str> = privileged
        .objects
        .iter()
        .map(|o| o.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        ["container shell is privileged", "hostNetwork: true"]
    );
}

#[test]
fn bodies_the_audit_level_never_showed_are_unknown_with_a_hint() {
    let report = run(&stream(), &options());
    let namespace = report.clusters[0]
        .namespaces
        .iter()
        .find(|n| n.namespace == "dark")
        .unwrap();
    assert_eq!(namespace.pod_security.enforce, None);
    let psa = &namespace.checks[0];
    assert_eq!(psa.status, Status::Unknown);
    assert!(
        psa.hint.as_ref().unwrap().contains("Metadata level"),
        "{psa:?}"
    );
    let deny = namespace
        .checks
        .iter()
        .find(|c| c.id == "default_deny_ingress")
        .unwrap();
    assert_eq!(deny.status, Status::Unknown);
    assert_eq!(deny.event_ids, ["networkpolicies-deny-patch-22"]);
    assert!(
        deny.hint.as_ref().unwrap().contains("RequestResponse"),
        "{deny:?}"
    );
    // No workload was ever written there, and the namespace is older than the events.
    let (status, _, _) = check(&report, Some("dark"), "privileged_workloads");
    assert_eq!(status, Status::Unknown);
}

#[test]
fn deleting_a_namespace_ends_what_was_in_it() {
    let report = run(&stream(), &options());
    let (status, ids, _) = check(&report, Some("again"), "privileged_workloads");
    assert_eq!(
        status,
        Status::Pass,
        "the old pod went with the old namespace"
    );
    assert!(ids.is_empty());
    let (status, _, _) = check(&report, Some("again"), "pod_security_enforce");
    assert_eq!(status, Status::Pass, "baseline passes");

    // What the deletion ended needs no body, and compacting forgets it for good: an older
    // write of the same pod arriving later changes nothing.
    let stream = stream();
    let mut selection = Selection::default();
    for write in &stream {
        selection.observe(&write.record().meta);
    }
    let needed = |selection: &Selection| -> Vec<String> {
        selection.needed().into_iter().map(|(id, _)| id).collect()
    };
    assert!(!needed(&selection).contains(&"pods-old-create-31".to_owned()));
    let before = needed(&selection).len();
    assert_eq!(selection.compact(), 1, "the pod in the deleted namespace");
    assert_eq!(needed(&selection).len(), before);
    let late = write(29, "update", "pods", Some("again"), Some("old"), None, None);
    selection.observe(&late.record().meta);
    assert!(!needed(&selection).contains(&late.id));
    let bodies: Vec<(&str, &str)> = stream
        .iter()
        .filter(|w| needed(&selection).contains(&w.id))
        .map(|w| (w.id.as_str(), w.raw.as_str()))
        .collect();
    assert_eq!(selection.evaluate(bodies, &options()), report);
}

#[test]
fn cluster_rbac_findings_skip_the_bootstrap_policy() {
    let report = run(&stream(), &options());
    let (status, ids, names) = check(&report, None, "cluster_admin_bindings");
    assert_eq!(status, Status::Fail);
    assert_eq!(names, ["ops-admin"]);
    assert_eq!(ids, ["clusterrolebindings-ops-admin-create-41"]);
    let (status, _, names) = check(&report, None, "wildcard_roles");
    assert_eq!((status, names), (Status::Fail, vec!["wild".to_owned()]));
    let (status, _, names) = check(&report, None, "anonymous_bindings");
    assert_eq!((status, names), (Status::Fail, vec!["public".to_owned()]));

    let without = run(
        &stream(),
        &Options {
            cluster_wide: false,
            ..options()
        },
    );
    assert!(without.clusters[0].checks.is_none());
}

#[test]
fn with_no_rbac_written_the_cluster_checks_are_unknown() {
    let stream: Vec<Write> = stream()
        .into_iter()
        .filter(|w| !w.resource.contains("role"))
        .collect();
    let report = run(&stream, &options());
    for id in [
        "wildcard_roles",
        "cluster_admin_bindings",
        "anonymous_bindings",
    ] {
        let (status, ids, _) = check(&report, None, id);
        assert_eq!(status, Status::Unknown, "{id}");
        assert!(ids.is_empty());
    }
}

/// A later write wins whatever order the events arrive in; only deciding events need bodies.
#[test]
fn the_latest_write_wins_and_only_it_needs_a_body() {
    let mut stream = stream();
    stream.push(write(
        50,
        "update",
        "serviceaccounts",
        Some("locked"),
        Some("default"),
        Some(json!({"kind": "ServiceAccount", "metadata": {"name": "default"}})),
        None,
    ));
    stream.reverse();
    let report = run(&stream, &options());
    let (status, ids, names) = check(&report, Some("locked"), "service_account_automount");
    assert_eq!(status, Status::Fail);
    assert_eq!(names, ["default"]);
    assert_eq!(ids, ["serviceaccounts-default-update-50"]);

    let mut selection = Selection::default();
    for write in &stream {
        selection.observe(&write.record().meta);
    }
    let needed: Vec<String> = selection.needed().into_iter().map(|(id, _)| id).collect();
    assert!(needed.contains(&"serviceaccounts-default-update-50".to_owned()));
    assert!(!needed.contains(&"serviceaccounts-default-create-4".to_owned()));
    assert!(
        !needed.contains(&"deployments-tmp-create-8".to_owned()),
        "deleted"
    );
    // Feeding only the needed bodies gives the same report as feeding them all.
    let bodies: Vec<(&str, &str)> = stream
        .iter()
        .filter(|w| needed.contains(&w.id))
        .map(|w| (w.id.as_str(), w.raw.as_str()))
        .collect();
    assert_eq!(selection.evaluate(bodies, &options()), report);
}

/// A create logged at Metadata level names no object: it is counted as unknown content of
/// its namespace, and its name comes from the body when the level shows one.
#[test]
fn creates_without_a_name_take_it_from_the_body() {
    let stream = vec![
        write(
            1,
            "create",
            "namespaces",
            None,
            Some("n"),
            Some(namespace_body("n", json!({}))),
            None,
        ),
        write(
            2,
            "create",
            "pods",
            Some("n"),
            None,
            None,
            Some(
                json!({"kind": "Pod", "metadata": {"name": "from-body"}, "spec": {"hostPID": true, "containers": []}}),
            ),
        ),
        write(3, "create", "serviceaccounts", Some("n"), None, None, None),
    ];
    let report = run(&stream, &options());
    let (status, _, names) = check(&report, Some("n"), "privileged_workloads");
    assert_eq!(
        (status, names),
        (Status::Fail, vec!["from-body".to_owned()])
    );
    let (status, _, _) = check(&report, Some("n"), "service_account_automount");
    assert_eq!(status, Status::Unknown);
    assert_eq!(report.unknown_objects, 1);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["clusters"][0]["namespaces"][0]["checks"][0]["status"],
        "fail"
    );
}

/// Pods created by `generateName` name themselves only in the body. Observed with their raw
/// JSON (or named from their bodies later), such a write counts as a write of that object: a
/// later delete ends it and its body is no longer needed, so the state does not grow with pod
/// churn. Both ways give the report of the plain two-step evaluation.
#[test]
fn writes_named_by_their_body_need_no_body_once_superseded() {
    let pod = |name: &str| json!({"kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    let mut stream = vec![write(
        1,
        "create",
        "namespaces",
        None,
        Some("n"),
        Some(namespace_body("n", json!({}))),
        None,
    )];
    for (i, name) in ["web-a1", "web-b2", "web-c3"].into_iter().enumerate() {
        let time = 10 + i as i64 * 10;
        let mut create = write(
            time,
            "create",
            "pods",
            Some("n"),
            None,
            None,
            Some(pod(name)),
        );
        create.id = format!("create-{name}");
        stream.push(create);
        if name != "web-c3" {
            stream.push(write(
                time + 5,
                "delete",
                "pods",
                Some("n"),
                Some(name),
                None,
                None,
            ));
        }
    }
    // A create logged at Metadata level stays unnamed: its body cannot name it.
    stream.push(write(60, "create", "pods", Some("n"), None, None, None));
    let report = run(&stream, &options());

    let mut live = Selection::default();
    for write in &stream {
        live.observe_with_raw(&write.record().meta, &write.raw);
    }
    let mut later = Selection::default();
    for write in &stream {
        later.observe(&write.record().meta);
    }
    let before: Vec<String> = later.needed().into_iter().map(|(id, _)| id).collect();
    assert!(
        before.contains(&"create-web-a1".to_owned()),
        "unnamed writes need their body"
    );
    let named = later.name_from_bodies(|id| {
        stream
            .iter()
            .find(|write| write.id == id)
            .map(|write| write.raw.as_str())
    });
    assert_eq!(named, 3, "the three creates with a body");
    for selection in [live, later] {
        let mut needed: Vec<String> = selection.needed().into_iter().map(|(id, _)| id).collect();
        needed.sort();
        assert_eq!(
            needed,
            [
                "create-web-c3",
                "namespaces-n-create-1",
                "pods-unnamed-create-60"
            ],
            "deleted pods need no body"
        );
        let bodies: Vec<(&str, &str)> = stream
            .iter()
            .filter(|w| needed.contains(&w.id))
            .map(|w| (w.id.as_str(), w.raw.as_str()))
            .collect();
        assert_eq!(selection.evaluate(bodies, &options()), report);
    }
    let (status, _, names) = check(&report, Some("n"), "unpinned_images");
    assert_eq!((status, names), (Status::Fail, vec!["web-c3".to_owned()]));
    assert_eq!(report.unknown_objects, 1, "the Metadata-level create");
}

/// Step one over the stream in two halves merged, in either order, gives the report of the
/// whole stream, also after a trip through JSON (how the API keeps it across restarts); a
/// selection restricted to one namespace gives the report of that namespace's writes alone
/// (what the API's live state relies on).
#[test]
fn merged_and_restricted_selections_report_like_the_stream_they_stand_for() {
    let stream = stream();
    let options = options();
    let report_of = |selection: Selection, options: &Options| {
        let needed: std::collections::HashSet<String> =
            selection.needed().into_iter().map(|(id, _)| id).collect();
        selection.evaluate(
            stream
                .iter()
                .filter(|write| needed.contains(&write.id))
                .map(|write| (write.id.as_str(), write.raw.as_str())),
            options,
        )
    };
    let observed = |writes: &[Write]| {
        let mut selection = Selection::default();
        for write in writes {
            selection.observe(&write.record().meta);
        }
        selection
    };
    let whole = serde_json::to_value(run(&stream, &options)).unwrap();
    let (first, second) = stream.split_at(stream.len() / 2);
    for (a, b) in [(first, second), (second, first)] {
        let mut merged = observed(a);
        merged.merge(observed(b));
        merged.merge(observed(a));
        let kept: Selection =
            serde_json::from_str(&serde_json::to_string(&merged).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_value(report_of(merged, &options)).unwrap(),
            whole
        );
        assert_eq!(
            serde_json::to_value(report_of(kept, &options)).unwrap(),
            whole
        );
    }
    let namespaces: std::collections::BTreeSet<&str> =
        stream.iter().filter_map(|write| write.namespace).collect();
    let restricted_options = Options {
        cluster_wide: false,
        ..options.clone()
    };
    for namespace in namespaces {
        let only: Vec<&Write> = stream
            .iter()
            .filter(|write| {
                write.namespace == Some(namespace)
                    || (write.resource == "namespaces" && write.name == Some(namespace))
            })
            .collect();
        let expected = serde_json::to_value(evaluate(
            only.iter().map(|write| write.record()),
            &restricted_options,
        ))
        .unwrap();
        let restricted = observed(&stream).restricted(|_, candidate| candidate == Some(namespace));
        assert_eq!(
            serde_json::to_value(report_of(restricted, &restricted_options)).unwrap(),
            expected,
            "{namespace}"
        );
    }
}
