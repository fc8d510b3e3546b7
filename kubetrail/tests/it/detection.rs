//! Detection through the real binary: `serve` and `detect` agree on a file (stateful rules
//! included, across a SIGKILL), rule files reload while `serve` runs, and `rules test` /
//! `rules coverage` report what they should.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{generate_attacks, kubetrail, ok_stdout, sql_value, start_serve, stop, write};

fn alert_ids(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let alert: serde_json::Value = serde_json::from_str(line).expect("alert is JSON");
            alert["alert_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn wait_for(what: &str, log: &Path, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    panic!("timed out waiting for {what}\n{log}");
}

fn stored_events(data: &Path) -> usize {
    if !data.join("events").exists() {
        return 0;
    }
    sql_value(data, "select count(*) as n from events")
        .parse()
        .unwrap()
}

/// A directory with `logs/`, generated traffic with attacks, and a `serve` configuration that
/// follows `logs/audit.log` as cluster `same`, stores in `data/`, appends alerts to
/// `alerts.jsonl`, and has the tables of `extra` besides.
struct Setup {
    dir: tempfile::TempDir,
    logs: std::path::PathBuf,
    source: std::path::PathBuf,
    data: std::path::PathBuf,
    alerts: std::path::PathBuf,
    config: std::path::PathBuf,
}

fn setup(events: usize, seed: u64, extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let source = dir.path().join("generated.jsonl");
    generate_attacks(&source, events, seed);
    let data = dir.path().join("data");
    let alerts = dir.path().join("alerts.jsonl");
    let config = dir.path().join("kubetrail.toml");
    write(
        &config,
        &format!(
            "[[ingest.files]]\npaths = [\"{logs}/audit.log\"]\ncluster = \"same\"\n\
             [store]\ndata_dir = \"{data}\"\n[alerts]\nfile = \"{alerts}\"\n{extra}",
            logs = logs.display(),
            data = data.display(),
            alerts = alerts.display()
        ),
    );
    Setup {
        dir,
        logs,
        source,
        data,
        alerts,
        config,
    }
}

#[test]
fn serve_gives_the_alerts_detect_gives_even_across_a_kill() {
    const EVENTS: usize = 30_000;
    let Setup {
        dir,
        logs,
        source,
        data,
        alerts,
        config,
    } = setup(
        EVENTS,
        21,
        r#"
[ingest]
poll_interval_ms = 100
batch_max_events = 700
batch_max_wait_ms = 50
[api]
listen = "127.0.0.1:0"
[pipeline]
commit_interval_ms = 300
commit_max_events = 4000
"#,
    );
    let expected = alert_ids(&ok_stdout(&[
        "detect",
        "--cluster",
        "same",
        "--config",
        config.to_str().unwrap(),
        source.to_str().unwrap(),
    ]));
    assert!(expected.len() > 10, "{} alerts", expected.len());
    let serve_log = dir.path().join("serve.log");
    let text = std::fs::read(&source).unwrap();
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    let mut live = OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join("audit.log"))
        .unwrap();
    let mut serve = start_serve(&config, &serve_log);
    for (index, chunk) in lines.chunks(1_500).enumerate() {
        for line in chunk {
            live.write_all(line).unwrap();
            live.write_all(b"\n").unwrap();
        }
        live.flush().unwrap();
        std::thread::sleep(Duration::from_millis(60));
        if index == 9 {
            serve.kill().unwrap(); // SIGKILL: state comes back from the last commit
            serve.wait().unwrap();
            serve = start_serve(&config, &serve_log);
        }
    }
    wait_for("every event stored", &serve_log, || {
        stored_events(&data) >= EVENTS
    });
    stop(&mut serve, &serve_log);
    let got = alert_ids(&std::fs::read_to_string(&alerts).unwrap());
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "serve and detect disagree: {} missing, {} extra: {missing:?} {extra:?}",
        missing.len(),
        extra.len()
    );
    assert_eq!(
        sql_value(&data, "select count(distinct alert_id) as n from alerts"),
        expected.len().to_string()
    );
    // The search index went through the same kill: it agrees with SQL on every count.
    let stored = sql_value(&data, "select count(*) as n from events");
    let out = kubetrail(&[
        "search",
        "*",
        "--count",
        "--limit",
        "1",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{stored} hits")),
        "SQL has {stored} events, search says {stderr}"
    );
}

/// `import --config`, `detect --config` and `serve` read the same `[detect]` table: with
/// non-default state limits and lists they give the same alert ids on the same file, and those
/// differ from what the defaults give (so the table was really applied).
#[test]
fn import_detect_and_serve_agree_with_the_same_non_default_detect_table() {
    const EVENTS: usize = 20_000;
    let Setup {
        dir,
        logs,
        source,
        data: served,
        alerts,
        config,
    } = setup(
        EVENTS,
        5,
        r#"
[ingest]
poll_interval_ms = 100
batch_max_wait_ms = 50
[detect]
max_keys_per_rule = 3
lateness_ms = 1000
[detect.lists]
trusted_registries = ["registry.k8s.io"]
system_namespaces = ["kube-system"]
[api]
enabled = false
[pipeline]
commit_interval_ms = 300
"#,
    );
    let config_arg = config.to_str().unwrap();
    let source_arg = source.to_str().unwrap();
    let detected = alert_ids(&ok_stdout(&[
        "detect",
        "--cluster",
        "same",
        "--config",
        config_arg,
        source_arg,
    ]));
    let defaults = alert_ids(&ok_stdout(&["detect", "--cluster", "same", source_arg]));
    assert!(detected.len() > 10, "{} alerts", detected.len());
    assert_ne!(detected, defaults, "the [detect] table changed nothing");

    let imported = dir.path().join("imported");
    ok_stdout(&[
        "import",
        "--cluster",
        "same",
        "--config",
        config_arg,
        "--data-dir",
        imported.to_str().unwrap(),
        source_arg,
    ]);
    let stored = ok_stdout(&[
        "sql",
        "--data-dir",
        imported.to_str().unwrap(),
        "--format",
        "csv",
        "--max-rows",
        "1000000",
        "select alert_id from alerts",
    ]);
    let imported_ids: BTreeSet<String> = stored.lines().skip(1).map(str::to_owned).collect();
    assert_eq!(
        imported_ids, detected,
        "import --config and detect --config disagree"
    );

    std::fs::copy(&source, logs.join("audit.log")).unwrap();
    let serve_log = dir.path().join("serve.log");
    let mut serve = start_serve(&config, &serve_log);
    wait_for("every event stored", &serve_log, || {
        stored_events(&served) >= EVENTS
    });
    stop(&mut serve, &serve_log);
    let served_ids = alert_ids(&std::fs::read_to_string(&alerts).unwrap());
    assert_eq!(served_ids, detected, "serve and detect --config disagree");
}

/// An allowed `get` of a ConfigMap by `user`, as one audit line.
fn configmap_get(id: usize, user: &str) -> String {
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("reload-{id}"), "stage": "ResponseComplete", "verb": "get",
        "requestURI": "/api/v1/namespaces/app/configmaps/settings",
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.1.2.3"],
        "objectRef": {"resource": "configmaps", "namespace": "app", "name": "settings", "apiVersion": "v1"},
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": "2026-05-01T10:00:00.000000Z",
        "stageTimestamp": "2026-05-01T10:00:00.100000Z",
        "annotations": {"authorization.k8s.io/decision": "allow"}
    })
    .to_string()
}

fn rule_file(user: &str) -> String {
    format!(
        "rules:\n  - id: custom.configmap_read\n    title: ConfigMap read by {user}\n    severity: low\n    attack: [T1552]\n    description: test rule.\n    condition:\n      all:\n        - {{field: resource, equals: configmaps}}\n        - {{field: verb, equals: get}}\n        - {{field: user, equals: {user}}}\n"
    )
}

#[test]
fn rule_files_reload_while_serving_and_a_broken_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&logs).unwrap();
    std::fs::create_dir(&rules).unwrap();
    let rule_path = rules.join("custom.yaml");
    write(&rule_path, &rule_file("alice"));
    let data = dir.path().join("data");
    let alerts = dir.path().join("alerts.jsonl");
    let config = dir.path().join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[ingest]
poll_interval_ms = 100
batch_max_wait_ms = 50
[[ingest.files]]
paths = ["{logs}/audit.log"]
[detect]
builtin_rules = false
rule_paths = ["{rules}"]
[store]
data_dir = "{data}"
[alerts]
file = "{alerts}"
[api]
listen = "127.0.0.1:0"
[pipeline]
commit_interval_ms = 200
"#,
            logs = logs.display(),
            rules = rules.display(),
            data = data.display(),
            alerts = alerts.display()
        ),
    );
    let serve_log = dir.path().join("serve.log");
    let mut live = OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join("audit.log"))
        .unwrap();
    let mut serve = start_serve(&config, &serve_log);
    let mut next_id = 0;
    let mut append = |users: &[&str]| {
        for user in users {
            next_id += 1;
            writeln!(live, "{}", configmap_get(next_id, user)).unwrap();
        }
        live.flush().unwrap();
    };
    let alerted_users = || -> Vec<String> {
        std::fs::read_to_string(&alerts)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let alert: serde_json::Value = serde_json::from_str(line).unwrap();
                alert["actor"].as_str().unwrap().to_owned()
            })
            .collect()
    };

    append(&["alice", "bob"]);
    wait_for("alice's alert", &serve_log, || alerted_users() == ["alice"]);

    write(&rule_path, &rule_file("bob"));
    wait_for("the reload", &serve_log, || {
        std::fs::read_to_string(&serve_log)
            .unwrap_or_default()
            .contains("rules reloaded")
    });
    append(&["alice", "bob"]);
    wait_for("bob's alert", &serve_log, || {
        alerted_users() == ["alice", "bob"]
    });

    write(
        &rule_path,
        "rules:\n  - id: custom.broken\n    title: x\n    severity: low\n    condition: {field: nope, equals: 1}\n",
    );
    wait_for("the rejection", &serve_log, || {
        std::fs::read_to_string(&serve_log)
            .unwrap_or_default()
            .contains("do not compile; keeping the running rules")
    });
    append(&["alice", "bob"]);
    wait_for("bob's second alert", &serve_log, || {
        alerted_users() == ["alice", "bob", "bob"]
    });
    stop(&mut serve, &serve_log);
    let log = std::fs::read_to_string(&serve_log).unwrap();
    assert!(log.contains("unknown field `nope`"), "{log}");
}

#[test]
fn rules_test_passes_on_the_builtin_pack_and_fails_on_a_wrong_expectation() {
    let out = ok_stdout(&["rules", "test"]);
    assert!(!out.contains("FAILED"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    write(
        &file,
        "rules:\n  - id: t.gets\n    title: gets\n    severity: low\n    condition: {field: verb, equals: get}\n    tests:\n      - {name: right, events: [{verb: get}], expect: 1}\n      - {name: wrong, events: [{verb: list}], expect: 1}\n",
    );
    let out = kubetrail(&["rules", "test", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ok     t.gets right"), "{stdout}");
    assert!(
        stdout.contains("FAILED t.gets wrong: expected 1 alert(s), got 0"),
        "{stdout}"
    );
}

#[test]
fn rules_coverage_names_rules_blind_at_metadata_level() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metadata.jsonl");
    let binding = serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": "cov-1", "stage": "ResponseComplete", "verb": "create",
        "requestURI": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        "user": {"username": "alice", "groups": ["system:authenticated"]},
        "objectRef": {"resource": "clusterrolebindings", "name": "x", "apiGroup": "rbac.authorization.k8s.io"},
        "responseStatus": {"code": 201},
        "stageTimestamp": "2026-05-01T10:00:00.000000Z",
        "annotations": {"authorization.k8s.io/decision": "allow"}
    });
    write(&file, &format!("{binding}\n"));
    let out = ok_stdout(&["rules", "coverage", "--json", file.to_str().unwrap()]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let status = |rule: &str| {
        lines
            .iter()
            .find(|line| line["rule_id"] == rule)
            .map(|line| line["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        status("k8s.cluster_admin_binding").as_deref(),
        Some("blind")
    );
    assert_eq!(status("falco.runtime_alert").as_deref(), Some("no_source"));
    assert_eq!(status("k8s.pod_exec").as_deref(), Some("no_events"));
}

/// A minimal HTTP/1.1 receiver: answers 200 to every POST and keeps the JSON bodies.
fn start_receiver(
    listener: std::net::TcpListener,
) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::{BufRead, BufReader, Read};
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let shared = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let bodies = shared.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    let mut first = true;
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" && !first {
                            break;
                        }
                        first = false;
                        if let Some(value) =
                            line.to_ascii_lowercase().strip_prefix("content-length:")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    bodies
                        .lock()
                        .unwrap()
                        .push(String::from_utf8(body).unwrap());
                    writer
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .unwrap();
                }
            });
        }
    });
    bodies
}

/// An exec into a pod by a person, as one audit line (alerts with `k8s.pod_exec`).
fn exec_line(id: usize) -> String {
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("hook-{id}"), "stage": "ResponseStarted", "verb": "create",
        "requestURI": "/api/v1/namespaces/app/pods/web-1/exec?command=sh&stdin=true&tty=true",
        "user": {"username": "alice@example.com", "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.9"],
        "objectRef": {"resource": "pods", "namespace": "app", "name": "web-1", "subresource": "exec", "apiVersion": "v1"},
        "responseStatus": {"code": 101},
        "requestReceivedTimestamp": "2026-05-01T10:00:00.000000Z",
        "stageTimestamp": format!("2026-05-01T10:00:{:02}.000000Z", id % 60),
        "annotations": {"authorization.k8s.io/decision": "allow"}
    })
    .to_string()
}

#[test]
fn webhook_sink_delivers_every_alert_once_the_receiver_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    // Reserve a port, then leave it closed: the receiver is down at first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = dir.path().join("data");
    let alerts = dir.path().join("alerts.jsonl");
    let config = dir.path().join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[ingest]
poll_interval_ms = 100
batch_max_wait_ms = 50
[[ingest.files]]
paths = ["{logs}/audit.log"]
[store]
data_dir = "{data}"
[alerts]
file = "{alerts}"
[[alerts.sinks]]
kind = "webhook"
name = "hook"
url = "http://127.0.0.1:{port}/alerts"
headers = {{ Authorization = "Bearer hook-secret-123" }}
initial_backoff_ms = 50
max_backoff_ms = 200
[api]
listen = "127.0.0.1:0"
[pipeline]
commit_interval_ms = 200
"#,
            logs = logs.display(),
            data = data.display(),
            alerts = alerts.display()
        ),
    );
    let lines: String = (0..5).map(|id| exec_line(id) + "\n").collect();
    write(&logs.join("audit.log"), &lines);
    let serve_log = dir.path().join("serve.log");
    let mut serve = start_serve(&config, &serve_log);
    let expected = || alert_ids(&std::fs::read_to_string(&alerts).unwrap_or_default());
    wait_for("the alerts in the file", &serve_log, || {
        expected().len() >= 5
    });
    std::thread::sleep(Duration::from_millis(500));
    let expected = expected();

    let bodies = start_receiver(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    let received = || -> Vec<String> {
        bodies
            .lock()
            .unwrap()
            .iter()
            .flat_map(|body| {
                let array: Vec<serde_json::Value> = serde_json::from_str(body).unwrap();
                array
                    .into_iter()
                    .map(|alert| alert["alert_id"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    wait_for("the webhook deliveries", &serve_log, || {
        received().len() >= expected.len()
    });
    stop(&mut serve, &serve_log);
    let got = received();
    assert_eq!(
        got.len(),
        expected.len(),
        "each alert delivered once: {got:?}"
    );
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected);
    let log = std::fs::read_to_string(&serve_log).unwrap();
    assert!(!log.contains("hook-secret-123"), "{log}");
}
