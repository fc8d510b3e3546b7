//! `GET /api/v1/posture` end to end: a cluster with a known state (one hardened namespace, one
//! open, one seen at Metadata level only, RBAC with a bootstrap binding and a person's
//! cluster-admin binding) pushed through the audit webhook into `kubetrail serve`, then the
//! checklist read over HTTP, checked against that state and the OpenAPI document, with a
//! namespace-restricted token seeing its namespace only.

use crate::common::http::{check_response, get, post_json, start};
use crate::common::{sha256, write};

const INGEST: &str = "posture-ingest-token-0123456789";
const VIEWER: &str = "posture-viewer-token-0123456789";
const RESTRICTED: &str = "posture-restricted-token-0123456789";

/// One audit event of a write, with the bodies its level logged.
#[allow(clippy::too_many_arguments)]
fn audit(
    index: usize,
    user: &str,
    verb: &str,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
    request: Option<serde_json::Value>,
    response: Option<serde_json::Value>,
) -> serde_json::Value {
    let level = match (&request, &response) {
        (_, Some(_)) => "RequestResponse",
        (Some(_), None) => "Request",
        _ => "Metadata",
    };
    let group = match resource {
        "networkpolicies" => "networking.k8s.io",
        "deployments" => "apps",
        "clusterroles" | "clusterrolebindings" => "rbac.authorization.k8s.io",
        _ => "",
    };
    let mut event = serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level,
        "auditID": format!("90e7a0d1-0000-4000-8000-{index:012}"), "stage": "ResponseComplete",
        "requestURI": format!("/apis/{group}/v1/{resource}/{name}"),
        "verb": verb, "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.5"], "userAgent": "kubectl/v1.31.0",
        "objectRef": {"resource": resource, "namespace": namespace, "name": name, "apiGroup": group, "apiVersion": "v1"},
        "responseStatus": {"code": if verb == "create" { 201 } else { 200 }},
        "requestReceivedTimestamp": format!("2026-03-01T10:00:{:02}.000000Z", index),
        "stageTimestamp": format!("2026-03-01T10:00:{:02}.100000Z", index),
        "annotations": {"authorization.k8s.io/decision": "allow"}
    });
    if let Some(request) = request {
        event["requestObject"] = request;
    }
    if let Some(response) = response {
        event["responseObject"] = response;
    }
    event
}

fn known_state() -> Vec<serde_json::Value> {
    let ns = |name: &str, labels: serde_json::Value| serde_json::json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name, "labels": labels}});
    let policy = |name: &str, spec: serde_json::Value| serde_json::json!({"kind": "NetworkPolicy", "apiVersion": "networking.k8s.io/v1", "metadata": {"name": name}, "spec": spec});
    let deployment = |name: &str, spec: serde_json::Value| serde_json::json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": name}, "spec": {"template": {"spec": spec}}});
    let alice = "alice@example.com";
    vec![
        audit(
            1,
            alice,
            "create",
            "namespaces",
            None,
            "locked",
            Some(ns(
                "locked",
                serde_json::json!({"pod-security.kubernetes.io/enforce": "restricted"}),
            )),
            None,
        ),
        audit(
            2,
            alice,
            "create",
            "networkpolicies",
            Some("locked"),
            "default-deny",
            Some(policy(
                "default-deny",
                serde_json::json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
            )),
            None,
        ),
        audit(
            3,
            alice,
            "create",
            "networkpolicies",
            Some("locked"),
            "allow-dns",
            Some(policy(
                "allow-dns",
                serde_json::json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}),
            )),
            None,
        ),
        audit(
            4,
            alice,
            "create",
            "serviceaccounts",
            Some("locked"),
            "default",
            Some(
                serde_json::json!({"kind": "ServiceAccount", "metadata": {"name": "default"}, "automountServiceAccountToken": false}),
            ),
            None,
        ),
        audit(
            5,
            alice,
            "create",
            "deployments",
            Some("locked"),
            "web",
            None,
            Some(deployment(
                "web",
                serde_json::json!({"containers": [{"name": "web", "image": "registry.k8s.io/web:1.0@sha256:4c1e997385b8fb4ad4d1d3c7e5af7ff3f882e94d07cf5b78de9e889bc60830e6"}]}),
            )),
        ),
        audit(
            10,
            alice,
            "create",
            "namespaces",
            None,
            "open",
            Some(ns("open", serde_json::json!({}))),
            None,
        ),
        audit(
            11,
            alice,
            "create",
            "serviceaccounts",
            Some("open"),
            "default",
            Some(serde_json::json!({"kind": "ServiceAccount", "metadata": {"name": "default"}})),
            None,
        ),
        audit(
            12,
            alice,
            "create",
            "deployments",
            Some("open"),
            "miner",
            None,
            Some(deployment(
                "miner",
                serde_json::json!({"hostPID": true, "containers": [{"name": "m", "image": "evil.example/miner:latest", "securityContext": {"privileged": true}}], "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}),
            )),
        ),
        audit(
            20,
            alice,
            "update",
            "namespaces",
            Some("dark"),
            "dark",
            None,
            None,
        ),
        audit(
            30,
            "system:apiserver",
            "create",
            "clusterrolebindings",
            None,
            "cluster-admin",
            None,
            Some(
                serde_json::json!({"kind": "ClusterRoleBinding", "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"kind": "Group", "name": "system:masters"}]}),
            ),
        ),
        audit(
            31,
            alice,
            "create",
            "clusterrolebindings",
            None,
            "alice-admin",
            None,
            Some(
                serde_json::json!({"kind": "ClusterRoleBinding", "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"kind": "User", "name": alice}]}),
            ),
        ),
        audit(
            32,
            alice,
            "create",
            "clusterroles",
            None,
            "reader",
            None,
            Some(
                serde_json::json!({"kind": "ClusterRole", "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}),
            ),
        ),
    ]
}

/// (status, offending object names) of check `id` in `checks`.
fn status(checks: &serde_json::Value, id: &str) -> (String, Vec<String>) {
    let check = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {checks}"));
    let names = check["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object["name"].as_str().unwrap().to_owned())
        .collect();
    (check["status"].as_str().unwrap().to_owned(), names)
}

fn namespace<'a>(answer: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    answer["clusters"][0]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|namespace| namespace["namespace"] == name)
        .unwrap_or_else(|| panic!("no namespace {name} in {answer}"))
}

/// A configuration with the viewer, restricted and ingest tokens over `dir/data`.
fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[store]
data_dir = "{data}"
[pipeline]
commit_interval_ms = 200
[api]
listen = "127.0.0.1:0"
[[api.tokens]]
name = "viewer"
sha256 = "{viewer}"
role = "viewer"
[[api.tokens]]
name = "restricted"
sha256 = "{restricted}"
role = "viewer"
namespaces = ["locked"]
[[api.ingest_tokens]]
name = "apiserver"
sha256 = "{ingest}"
cluster = "known"
"#,
            data = dir.join("data").display(),
            viewer = sha256(VIEWER),
            restricted = sha256(RESTRICTED),
            ingest = sha256(INGEST),
        ),
    );
    config
}

/// Pushes `items` through the audit webhook and waits until `total` events of cluster
/// `known` are searchable (the answer comes before the store commit).
fn push(address: std::net::SocketAddr, items: Vec<serde_json::Value>, total: usize) {
    let count = items.len();
    let list =
        serde_json::json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items});
    let answer = post_json(address, "/api/v1/ingest/audit", Some(INGEST), &list);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["accepted"], count);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let search = get(
            address,
            "/api/v1/search?limit=1&q=cluster:known",
            Some(VIEWER),
        );
        if search.status == 200 && search.json()["total"] == total {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pushed events are not stored"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The posture answer from the live state, once `serve` (logging to `log`) has seeded it and
/// it holds at least `writes` writes.
fn live_posture(
    address: std::net::SocketAddr,
    log: &std::path::Path,
    writes: u64,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let seeded = std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains("posture state ready");
        let response = get(address, "/api/v1/posture", Some(VIEWER));
        assert_eq!(response.status, 200, "{}", response.text());
        let answer = response.json();
        if seeded && answer["writes_read"].as_u64().unwrap() >= writes {
            return answer;
        }
        assert!(std::time::Instant::now() < deadline, "{answer}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn posture_reports_the_known_state_and_respects_namespace_restriction() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let server = start(&config, &dir.path().join("serve.log"));
    let address = server.address;
    let items = known_state();
    let count = items.len();
    push(address, items, count);

    let document = get(address, "/api/v1/openapi.json", None).json();
    assert_eq!(get(address, "/api/v1/posture", None).status, 401);
    let response = get(address, "/api/v1/posture", Some(VIEWER));
    assert_eq!(response.status, 200, "{}", response.text());
    check_response(&document, "/api/v1/posture", "get", &response);
    let answer = response.json();
    // Without a range the answer comes from the state kept live; with one, from the store:
    // the same checklist either way.
    let stored = get(
        address,
        "/api/v1/posture?from=2020-01-01T00:00:00Z",
        Some(VIEWER),
    );
    assert_eq!(stored.status, 200, "{}", stored.text());
    let stored = stored.json();
    assert_eq!(stored["writes_read"], count);
    assert_eq!(stored["clusters"], answer["clusters"]);
    // An event pushed while the store was read at start-up may be counted twice.
    assert!(answer["writes_read"].as_u64().unwrap() >= count as u64);
    assert_eq!(answer["clusters"].as_array().unwrap().len(), 1);
    assert_eq!(answer["clusters"][0]["cluster"], "known");

    let locked = namespace(&answer, "locked");
    assert_eq!(locked["pod_security"]["enforce"], "restricted");
    for check in locked["checks"].as_array().unwrap() {
        assert_eq!(check["status"], "pass", "locked: {check}");
        assert!(
            !check["event_ids"].as_array().unwrap().is_empty() || check["id"] == "dns_only_egress",
            "{check}"
        );
    }

    let open = namespace(&answer, "open");
    assert_eq!(open["pod_security"]["enforce"], "none");
    for (id, offenders) in [
        ("pod_security_enforce", vec!["open"]),
        ("default_deny_ingress", vec![]),
        ("default_deny_egress", vec![]),
        ("service_account_automount", vec!["default"]),
        ("workload_automount", vec!["miner"]),
        ("privileged_workloads", vec!["miner", "miner"]),
        ("sensitive_host_paths", vec!["miner"]),
        ("unpinned_images", vec!["miner"]),
        ("untrusted_registries", vec!["miner"]),
    ] {
        assert_eq!(
            status(&open["checks"], id),
            (
                "fail".to_owned(),
                offenders.iter().map(|s| s.to_string()).collect()
            ),
            "open: {id}"
        );
    }

    let dark = namespace(&answer, "dark");
    let (psa, _) = status(&dark["checks"], "pod_security_enforce");
    assert_eq!(psa, "unknown");
    let hint = dark["checks"][0]["hint"].as_str().unwrap();
    assert!(hint.contains("Metadata level"), "{hint}");

    let cluster = &answer["clusters"][0]["checks"];
    assert_eq!(
        status(cluster, "cluster_admin_bindings"),
        ("fail".to_owned(), vec!["alice-admin".to_owned()])
    );
    assert_eq!(status(cluster, "wildcard_roles").0, "pass");
    assert_eq!(status(cluster, "anonymous_bindings").0, "pass");

    // One namespace asked for: that namespace, no cluster-wide checks.
    let response = get(
        address,
        "/api/v1/posture?namespace=open&from=2026-03-01T00:00:00Z",
        Some(VIEWER),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let answer = response.json();
    assert!(answer["clusters"][0]["checks"].is_null());
    let names: Vec<&str> = answer["clusters"][0]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["open"]);

    // A token restricted to `locked` sees `locked` (its Namespace object included) and nothing
    // cluster-wide.
    let response = get(address, "/api/v1/posture", Some(RESTRICTED));
    assert_eq!(response.status, 200, "{}", response.text());
    check_response(&document, "/api/v1/posture", "get", &response);
    let answer = response.json();
    assert!(answer["clusters"][0]["checks"].is_null(), "{answer}");
    let names: Vec<&str> = answer["clusters"][0]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["locked"]);
    assert_eq!(
        namespace(&answer, "locked")["pod_security"]["enforce"],
        "restricted"
    );

    let bad = get(address, "/api/v1/posture?from=yesterday", Some(VIEWER));
    assert_eq!(bad.status, 400, "{}", bad.text());
    check_response(&document, "/api/v1/posture", "get", &bad);
}

/// The live state is kept in the data directory when `serve` stops: the next start loads it
/// and reads only the events files committed after it (here those of a run killed with -9
/// before it saved), and answers like a read of the whole store. A kept state that does not
/// decode is ignored and the store read instead.
#[test]
fn posture_state_is_kept_across_restarts_and_only_later_commits_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let kept = dir
        .path()
        .join("data")
        .join("_posture")
        .join("state.json.zst");
    let items = known_state();
    let count = items.len();

    // First run: the known state, then a clean stop saves the live state.
    let log = dir.path().join("serve-1.log");
    let server = start(&config, &log);
    push(server.address, items, count);
    live_posture(server.address, &log, count as u64);
    server.stop(&log);
    assert!(
        kept.is_file(),
        "no kept posture state at {}",
        kept.display()
    );

    // Second run: a privileged pod in the hardened namespace, then kill -9 (no save).
    let log = dir.path().join("serve-2.log");
    let mut server = start(&config, &log);
    let late = audit(
        40,
        "mallory@example.com",
        "create",
        "pods",
        Some("locked"),
        "late",
        Some(
            serde_json::json!({"kind": "Pod", "metadata": {"name": "late"}, "spec": {"containers": [{"name": "c", "image": "registry.example.com/app@sha256:0123", "securityContext": {"privileged": true}}]}}),
        ),
        None,
    );
    push(server.address, vec![late], count + 1);
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    // Third run: the kept state plus the second run's files.
    let log = dir.path().join("serve-3.log");
    let server = start(&config, &log);
    let answer = live_posture(server.address, &log, count as u64 + 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let ready = text
        .lines()
        .find(|line| line.contains("posture state ready"))
        .unwrap_or_else(|| panic!("no posture state line in {text}"));
    assert!(ready.contains("kept_state=true"), "{ready}");
    assert!(!ready.contains("files_read=0"), "{ready}");
    let (privileged, names) = status(
        &namespace(&answer, "locked")["checks"],
        "privileged_workloads",
    );
    assert_eq!(
        (privileged.as_str(), names),
        ("fail", vec!["late".to_owned()])
    );
    let stored = get(
        server.address,
        "/api/v1/posture?from=2020-01-01T00:00:00Z",
        Some(VIEWER),
    )
    .json();
    assert_eq!(stored["clusters"], answer["clusters"]);
    server.stop(&log);

    // A kept state that does not decode: the store is read instead, same answer.
    std::fs::write(&kept, b"not zstd").unwrap();
    let log = dir.path().join("serve-4.log");
    let server = start(&config, &log);
    let again = live_posture(server.address, &log, count as u64 + 1);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("kept posture state is unreadable"), "{text}");
    assert_eq!(again["clusters"], stored["clusters"]);
}
