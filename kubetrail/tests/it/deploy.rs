//! The deployment proves it passes the hardening kubetrail checks for: every kustomize
//! overlay renders (`kubectl kustomize`), validates against the Kubernetes API schemas
//! (`kubernetes-validate`, strict: unknown or mistyped fields fail), and gives zero alerts
//! when kubetrail's own rules see it created (`rules check-manifest`); weakening one field
//! makes the matching rule fire. The shipped audit policy leaves no built-in rule blind that
//! full-level recording covers (`rules coverage --audit-policy`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::common::{BIN, kubetrail, write};

const OVERLAYS: &[&str] = &["base", "overlays/single", "overlays/scale-out"];

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// `kubectl kustomize` of one directory under deploy/kubernetes.
fn render(overlay: &str) -> String {
    let dir = deploy().join("kubernetes").join(overlay);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .output()
        .expect("the deploy tests need kubectl (kubectl kustomize renders the overlays)");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The documents of a YAML stream, as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|value| !value.is_null())
        .collect()
}

/// Documents back to a YAML stream (JSON is YAML).
fn stream(documents: &[Value]) -> String {
    documents
        .iter()
        .map(|document| format!("---\n{document}\n"))
        .collect()
}

/// The kubernetes-validate of `scripts/install-pytools` (or on the PATH).
fn kubernetes_validate() -> PathBuf {
    match std::env::var_os("KUBETRAIL_PYTOOLS") {
        Some(bin) => PathBuf::from(bin).join("kubernetes-validate"),
        None => PathBuf::from("kubernetes-validate"),
    }
}

/// Validates a YAML stream against the Kubernetes 1.32 schemas, strictly.
fn validate(dir: &Path, name: &str, yaml: &str) -> Output {
    let file = dir.join(format!("{}.yaml", name.replace('/', "-")));
    write(&file, yaml);
    Command::new(kubernetes_validate())
        .args(["--strict", "--kubernetes-version", "1.32.0", "--quiet"])
        .arg(&file)
        .output()
        .expect("the deploy tests need kubernetes-validate (./scripts/install-pytools, or set KUBETRAIL_PYTOOLS to its bin directory)")
}

/// `kubetrail rules check-manifest` over a YAML stream: its exit code and the rules that fired.
fn check_manifest(yaml: &str, extra: &[&str]) -> (Option<i32>, Vec<String>) {
    let binary = env!("CARGO_BIN_EXE_kubetrail");
    let mut child = Command::new(binary)
        .args(["rules", "check-manifest", "-"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "check-manifest failed: {stderr}"
    );
    let rules = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let alert: Value = serde_json::from_str(line).unwrap();
            alert["rule_id"].as_str().unwrap().to_owned()
        })
        .collect();
    (out.status.code(), rules)
}

fn find<'a>(documents: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    documents
        .iter_mut()
        .find(|document| document["kind"] == kind && document["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendered manifests"))
}

fn pod_spec(documents: &mut [Value]) -> &mut Value {
    &mut find(documents, "StatefulSet", "kubetrail")["spec"]["template"]["spec"]
}

fn container(documents: &mut [Value]) -> &mut Value {
    &mut pod_spec(documents)["containers"][0]
}

#[test]
fn every_overlay_renders_and_validates_strictly_against_the_kubernetes_schemas() {
    let dir = tempfile::tempdir().unwrap();
    for overlay in OVERLAYS {
        let rendered = render(overlay);
        let out = validate(dir.path(), overlay, &rendered);
        // With --quiet it prints only failures and warnings (an unknown kind is only a
        // warning): anything printed fails.
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "{overlay} does not validate:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A misspelt field, a mistyped one and a misspelt kind are refused.
    let mut documents = documents(&render("overlays/single"));
    container(&mut documents)["securityContxt"] = json!({"privileged": false});
    let out = validate(dir.path(), "misspelt", &stream(&documents));
    assert!(!out.status.success(), "an unknown field validated");
    let mut documents = self::documents(&render("overlays/single"));
    find(&mut documents, "StatefulSet", "kubetrail")["spec"]["replicas"] = json!("three");
    let out = validate(dir.path(), "mistyped", &stream(&documents));
    assert!(!out.status.success(), "a string replica count validated");
    let mut documents = self::documents(&render("overlays/single"));
    find(&mut documents, "StatefulSet", "kubetrail")["kind"] = json!("StatefulSett");
    let out = validate(dir.path(), "unknown-kind", &stream(&documents));
    assert!(
        !out.status.success() || !out.stdout.is_empty() || !out.stderr.is_empty(),
        "an unknown kind passed silently"
    );
}

#[test]
fn every_yaml_file_under_deploy_parses() {
    let mut files = 0;
    crate::common::walk(&deploy(), &mut |path| {
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            let text = std::fs::read_to_string(path).unwrap();
            for document in serde_yaml_ng::Deserializer::from_str(&text) {
                if let Err(error) = Value::deserialize(document) {
                    panic!("{}: {error}", path.display());
                }
            }
            files += 1;
        }
    });
    assert!(files >= 10, "only {files} YAML files under deploy/");
}

#[test]
fn the_shipped_manifests_pass_kubetrails_own_rules() {
    for overlay in OVERLAYS {
        let rendered = render(overlay);
        let (code, fired) = check_manifest(&rendered, &[]);
        assert_eq!(fired, Vec::<String>::new(), "{overlay} fired rules");
        assert_eq!(code, Some(0), "{overlay}");
    }
}

/// One weakened field (or object) per case; the rule named fires, and check-manifest exits 1.
#[test]
fn each_weakened_field_makes_its_rule_fire() {
    type Weaken = fn(&mut Vec<Value>);
    let cases: &[(&str, Weaken, &[&str], &str)] = &[
        (
            "privileged container",
            |d| container(d)["securityContext"]["privileged"] = json!(true),
            &[],
            "k8s.privileged_container",
        ),
        (
            "host network",
            |d| pod_spec(d)["hostNetwork"] = json!(true),
            &[],
            "k8s.host_namespaces",
        ),
        (
            "a :latest tag",
            |d| container(d)["image"] = json!("ghcr.io/kubetrail/kubetrail:latest"),
            &[],
            "k8s.image_mutable_tag",
        ),
        (
            "an untrusted registry without a digest",
            |d| container(d)["image"] = json!("registry.example.net/kubetrail:0.1.0"),
            &[],
            "k8s.untrusted_image",
        ),
        (
            "token automount on for the namespace's default service account",
            |d| {
                find(d, "ServiceAccount", "default")["automountServiceAccountToken"] = json!(true);
            },
            &[],
            "k8s.default_sa_automount_enabled",
        ),
        (
            "a ClusterRoleBinding to cluster-admin",
            |d| {
                d.push(json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": "kubetrail-admin"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                    "subjects": [{"kind": "ServiceAccount", "name": "kubetrail", "namespace": "kubetrail"}],
                }));
            },
            &[],
            "k8s.cluster_admin_binding",
        ),
        (
            "the default-deny NetworkPolicy removed",
            |d| {
                d.retain(|document| {
                    document["kind"] == "NetworkPolicy"
                        && document["metadata"]["name"] == "default-deny"
                })
            },
            &["--verb", "delete"],
            "k8s.default_deny_networkpolicy_removed",
        ),
        (
            "Pod Security enforcement weakened to privileged",
            |d| {
                find(d, "Namespace", "kubetrail")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] =
                    json!("privileged");
            },
            &[],
            "k8s.psa_privileged_namespace_created",
        ),
        (
            "privilege escalation allowed",
            |d| container(d)["securityContext"]["allowPrivilegeEscalation"] = json!(true),
            &[],
            "k8s.privilege_escalation_allowed",
        ),
        (
            "seccomp unconfined",
            |d| pod_spec(d)["securityContext"]["seccompProfile"] = json!({"type": "Unconfined"}),
            &[],
            "k8s.seccomp_unconfined",
        ),
        (
            "running as root",
            |d| {
                container(d)["securityContext"]["runAsUser"] = json!(0);
                container(d)["securityContext"]["runAsNonRoot"] = json!(false);
            },
            &[],
            "k8s.run_as_root",
        ),
        (
            "a dangerous capability added",
            |d| container(d)["securityContext"]["capabilities"]["add"] = json!(["SYS_ADMIN"]),
            &[],
            "k8s.dangerous_capabilities",
        ),
        (
            "a host path mounted",
            |d| {
                pod_spec(d)["volumes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "host", "hostPath": {"path": "/var/run"}}));
            },
            &[],
            "k8s.hostpath_volume",
        ),
    ];
    let shipped = documents(&render("overlays/single"));
    for (name, weaken, extra, rule) in cases {
        let mut documents = shipped.clone();
        weaken(&mut documents);
        let (code, fired) = check_manifest(&stream(&documents), extra);
        assert!(
            fired.iter().any(|fired| fired == rule),
            "{name}: {rule} did not fire (fired: {fired:?})"
        );
        assert_eq!(code, Some(1), "{name}");
    }
}

/// Rules the shipped audit policy leaves blind on purpose, and why (the policy says so too).
const BLIND_BY_DESIGN: &[(&str, &str)] = &[(
    "k8s.legacy_sa_token_secret",
    "it reads the type of a created Secret: Request level on Secret writes would put secret values in every audit backend of the policy",
)];

/// Generated traffic with attacks, recorded as the shipped audit policy records it, gives
/// every built-in rule the alerts it gives on the traffic as generated (each event at the
/// level the generator's cluster recorded it): the policy drops noise and bodies no rule
/// reads, and blinds no rule but those of `BLIND_BY_DESIGN`.
#[test]
fn the_audit_policy_leaves_no_rule_blind() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = dir.path().join("audit.log");
    let generated = kubetrail(&[
        "generate",
        "--events",
        "30000",
        "--seed",
        "14",
        "--attacks",
        "--out",
        traffic.to_str().unwrap(),
    ]);
    assert!(generated.status.success());
    let policy = deploy().join("cluster/audit-policy.yaml");
    // Rule id, status, alerts.
    let coverage = |extra: &[&str]| -> (Vec<(String, String, u64)>, String) {
        let mut args = vec!["rules", "coverage", "--json", traffic.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = kubetrail(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        let lines = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| {
                let value: Value = serde_json::from_str(line).unwrap();
                (
                    value["rule_id"].as_str().unwrap().to_owned(),
                    value["status"].as_str().unwrap().to_owned(),
                    value["alerts"].as_u64().unwrap(),
                )
            })
            .collect();
        (lines, stderr)
    };
    let (generated, _) = coverage(&[]);
    let (shaped, summary) = coverage(&["--audit-policy", policy.to_str().unwrap()]);
    assert_eq!(generated.len(), shaped.len());
    let firing = generated
        .iter()
        .filter(|(_, _, alerts)| *alerts > 0)
        .count();
    assert!(
        firing >= 20,
        "only {firing} rules fire on the generated traffic"
    );
    let blinded: Vec<_> = generated
        .iter()
        .zip(&shaped)
        .filter(|((rule, _, before), (_, _, after))| {
            before != after && !BLIND_BY_DESIGN.iter().any(|(blind, _)| blind == rule)
        })
        .map(|((rule, before_status, before), (_, status, after))| {
            format!("{rule}: {before} alert(s) ({before_status}) -> {after} ({status})")
        })
        .collect();
    assert!(
        blinded.is_empty(),
        "the audit policy changes alerts: {blinded:#?}"
    );
    // It does drop noise...
    let dropped: u64 = summary
        .split("drops ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of dropped events in: {summary}"));
    assert!(dropped > 1000, "the policy dropped only {dropped} events");
    // ...and an empty policy records nothing.
    let empty = dir.path().join("empty-policy.yaml");
    write(
        &empty,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n",
    );
    let (none, _) = coverage(&["--audit-policy", empty.to_str().unwrap()]);
    let seen: Vec<_> = none
        .iter()
        .filter(|(rule, status, _)| rule.starts_with("k8s.") && status != "no_source")
        .collect();
    assert!(seen.is_empty(), "audit rules saw events: {seen:?}");
}
/// The configurations the manifests mount are valid, with the credentials a Secret would hold.
#[test]
fn the_configurations_of_the_manifests_check() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials.toml");
    let hash = "3333333333333333333333333333333333333333333333333333333333333333";
    let ingest = "4444444444444444444444444444444444444444444444444444444444444444";
    write(
        &credentials,
        &format!(
            "[[tokens]]\nname = \"soc\"\nsha256 = \"{hash}\"\nrole = \"analyst\"\n[[ingest_tokens]]\nname = \"apiserver\"\nsha256 = \"{ingest}\"\ncluster = \"prod-eu-1\"\n[[ingest_certificates]]\nname = \"falco\"\nsubject = \"falco\"\ncluster = \"prod-eu-1\"\n"
        ),
    );
    for (file, expected, shared) in [
        (
            "kubernetes/base/kubetrail.toml",
            "0 kafka consumer group(s)",
            "local disk only",
        ),
        (
            "kubernetes/overlays/scale-out/kubetrail.toml",
            "1 kafka consumer group(s)",
            "settled partitions in s3://audit-archive-prod-eu-1/kubetrail, shared as writer kubetrail-1",
        ),
    ] {
        let text = std::fs::read_to_string(deploy().join(file)).unwrap();
        assert!(
            text.contains("/etc/kubetrail/credentials/credentials.toml"),
            "{file}"
        );
        let config = dir.path().join("kubetrail.toml");
        write(
            &config,
            &text.replace(
                "/etc/kubetrail/credentials/credentials.toml",
                credentials.to_str().unwrap(),
            ),
        );
        // The StatefulSet gives each pod its name, the writer id of the scale-out overlay.
        let out = Command::new(BIN)
            .args(["serve", "--check", "--config", config.to_str().unwrap()])
            .env("POD_NAME", "kubetrail-1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{file}: {}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        for expected in [
            expected,
            shared,
            "pushed events: 1 ingest token(s), 1 ingest certificate(s)",
            "api: https://0.0.0.0:8443 with 1 query token(s), 1 ingest token(s)",
            "configuration OK",
        ] {
            assert!(
                stdout.contains(expected),
                "{file}: no {expected:?} in\n{stdout}"
            );
        }
    }
}

/// What the image's runtime imposes, without a container engine: the binary runs as UID and
/// GID 65532 with no capabilities, every filesystem but its data volume read-only (the
/// binary and config included) and an empty tmpfs on /tmp, as the StatefulSet's security
/// context and volumes make it; it serves, takes pushed events and stores them.
#[test]
fn the_binary_serves_as_a_non_root_uid_on_a_read_only_root_with_an_empty_tmp() {
    use crate::common::http::{post_json, started, try_post, wait_ready};
    use crate::common::{BIN, sha256};
    const ANALYST: &str = "deploy-test-analyst-token";
    const INGEST: &str = "deploy-test-ingest-token";
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubetrail.toml");
    write(
        &config,
        &format!(
            "[store]\ndata_dir = \"/mnt/volume/data\"\n[pipeline]\ncommit_interval_ms = 100\n[api]\nlisten = \"127.0.0.1:0\"\n[[api.tokens]]\nname = \"analyst\"\nsha256 = \"{}\"\nrole = \"analyst\"\n[[api.ingest_tokens]]\nname = \"apiserver\"\nsha256 = \"{}\"\ncluster = \"restricted\"\n",
            sha256(ANALYST),
            sha256(INGEST)
        ),
    );
    let log = dir.path().join("serve.log");
    // Outer user namespace (root in it): mounts. The image (binary, config) is copied to a
    // tmpfs made read-only; the volume stays writable; every other mount but /proc, /sys and
    // /dev goes read-only; /tmp is an empty tmpfs. The inner namespace maps UID/GID 65532,
    // which has no capabilities at all.
    let script = r#"set -e
mount -t tmpfs -o size=1g,mode=0755 kubetrail-image /mnt
mkdir /mnt/image /mnt/volume
cp "$1" /mnt/image/kubetrail
cp "$2" /mnt/image/kubetrail.toml
mount -t tmpfs -o size=512m,mode=1777 kubetrail-volume /mnt/volume
mount --bind /mnt/image /mnt/image
for m in $(awk '{print $2}' /proc/self/mounts); do
  case "$m" in /proc*|/sys*|/dev*|/mnt/volume) continue;; esac
  # (Mounts hidden under the new /mnt are out of reach.)
  [ -e "$m" ] || continue
  mount -o remount,bind,ro "$m"
done
mount -t tmpfs -o size=64m,mode=1777 kubetrail-tmp /tmp
exec unshare --user --map-user=65532 --map-group=65532 /mnt/image/kubetrail serve --config /mnt/image/kubetrail.toml
"#;
    let child = Command::new("unshare")
        .args(["--map-root-user", "--mount", "sh", "-c", script, "sh", BIN])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("unshare (util-linux) runs");
    let server = started(child, &log);
    let pid = server.child.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_default()
            .to_owned()
    };
    // Seen from outside, the IDs are ours; /proc/PID/uid_map says what they are inside.
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        uid_map.split_whitespace().next(),
        Some("65532"),
        "uid_map {uid_map}"
    );
    assert!(
        field("CapEff:").ends_with("0000000000000000"),
        "{}",
        field("CapEff:")
    );
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mounts")).unwrap();
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (point, options) = (fields[1], fields[3]);
        if ["/proc", "/sys", "/dev"]
            .iter()
            .any(|prefix| point.starts_with(prefix))
        {
            continue;
        }
        // Out of the process's reach (hidden under its own /mnt or /tmp).
        if !Path::new(&format!("/proc/{pid}/root{point}")).exists() {
            continue;
        }
        let writable = point == "/mnt/volume" || point == "/tmp";
        assert_eq!(
            options.split(',').any(|option| option == "rw"),
            writable,
            "{line}"
        );
    }
    // Ready means the store opened and the sources started on the read-only root.
    wait_ready(server.address);
    let batch = json!({
        "kind": "EventList", "apiVersion": "audit.k8s.io/v1",
        "items": [{
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": "0d6f0000-0000-4000-8000-000000065532", "stage": "ResponseComplete",
            "requestURI": "/api/v1/namespaces/default/pods", "verb": "list",
            "user": {"username": "alice@example.com", "groups": ["system:authenticated"]},
            "sourceIPs": ["10.0.0.1"],
            "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "code": 200},
            "requestReceivedTimestamp": "2026-12-04T10:00:00.000000Z",
            "stageTimestamp": "2026-12-04T10:00:00.001000Z"
        }]
    });
    let answer = try_post(
        server.address,
        "/api/v1/ingest/audit",
        INGEST,
        &[],
        batch.to_string().as_bytes(),
    )
    .expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let answer = post_json(
            server.address,
            "/api/v1/sql",
            Some(ANALYST),
            &json!({"sql": "select count(*) as n from events where cluster = 'restricted'"}),
        );
        if answer.status == 200 && answer.text().contains("\"n\":1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the event was not stored: {} {}\n{}",
            answer.status,
            answer.text(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    server.stop(&log);
}

/// A manifest that is not one is the caller's mistake: exit 2 and one line naming the file,
/// the object and what is wrong.
#[test]
fn check_manifest_refuses_what_is_no_kubernetes_object() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    for (text, expected) in [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
            "object 2: ConfigMap without metadata.name",
        ),
        (
            "kind: Pod\nmetadata:\n  name: p\n",
            "object without apiVersion",
        ),
        ("- just\n- a list\n", "not a Kubernetes object"),
        ("key: [unclosed\n", "document 1"),
    ] {
        write(&file, text);
        let out = kubetrail(&["rules", "check-manifest", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(expected), "{text}: {stderr}");
        assert!(stderr.contains("bad.yaml"), "{text}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{text}: {stderr}");
    }
    // A List is unwrapped; its items are checked.
    write(
        &file,
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p\n    namespace: shop\n  spec:\n    containers:\n    - name: c\n      image: registry.k8s.io/pause:3.10\n      securityContext:\n        privileged: true\n",
    );
    let out = kubetrail(&["rules", "check-manifest", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("k8s.privileged_container"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// What the generated traffic cannot show (it records these writes below the level their
/// rules need): recorded in full, a credential in a ConfigMap, a LoadBalancer Service and a
/// legacy token Secret each alert; through the shipped policy the first two still do, and the
/// third is the one rule of `BLIND_BY_DESIGN`.
#[test]
fn the_audit_policy_keeps_the_bodies_of_configmap_and_service_writes() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = dir.path().join("writes.jsonl");
    let write_event = |id: &str, resource: &str, body: Value| {
        json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
            "auditID": id, "stage": "ResponseComplete", "verb": "create",
            "requestURI": format!("/api/v1/namespaces/shop/{resource}"),
            "user": {"username": "alice@example.com", "groups": ["system:authenticated"]},
            "sourceIPs": ["10.0.0.7"], "userAgent": "kubectl/v1.32.0",
            "objectRef": {"resource": resource, "namespace": "shop", "name": body["metadata"]["name"], "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "code": 201},
            "requestObject": body, "responseObject": body,
            "requestReceivedTimestamp": "2026-12-04T10:00:00.000000Z",
            "stageTimestamp": "2026-12-04T10:00:00.010000Z",
        })
        .to_string()
    };
    let lines = [
        write_event(
            "0d6f0000-0000-4000-8000-00000000c0f1",
            "configmaps",
            json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "app-settings"}, "data": {"settings.ini": "[aws]\nregion = eu-west-1\naws_access_key_id = AKIAQ3EGRT7XJ2LMNBVC\n"}}),
        ),
        write_event(
            "0d6f0000-0000-4000-8000-00000000c0f2",
            "services",
            json!({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}}),
        ),
        write_event(
            "0d6f0000-0000-4000-8000-00000000c0f3",
            "secrets",
            json!({"kind": "Secret", "apiVersion": "v1", "type": "kubernetes.io/service-account-token", "metadata": {"name": "deployer-token", "annotations": {"kubernetes.io/service-account.name": "deployer"}}}),
        ),
    ];
    write(&traffic, &(lines.join("\n") + "\n"));
    let alerts = |extra: &[&str]| -> std::collections::BTreeMap<String, u64> {
        let mut args = vec!["rules", "coverage", "--json", traffic.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = kubetrail(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .map(|line| {
                (
                    line["rule_id"].as_str().unwrap().to_owned(),
                    line["alerts"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let policy = deploy().join("cluster/audit-policy.yaml");
    let full = alerts(&[]);
    let shaped = alerts(&["--audit-policy", policy.to_str().unwrap()]);
    for rule in [
        "k8s.configmap_embedded_credentials",
        "k8s.loadbalancer_service",
    ] {
        assert_eq!(full[rule], 1, "{rule} in full");
        assert_eq!(shaped[rule], 1, "{rule} through the policy");
    }
    let (blind, _) = BLIND_BY_DESIGN[0];
    assert_eq!(full[blind], 1, "{blind} in full");
    assert_eq!(shaped[blind], 0, "{blind} through the policy");
}
