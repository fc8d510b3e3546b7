//! End-to-end tests of the `kubetrail` binary through its command line: generate, detect,
//! import, sql, rules, demo, and the exit-code contract.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::{kubetrail, labels, ok_stdout, sql_value, write};
use serde_json::Value;

/// The scenarios a first-version rule covers, and the rule that must catch each.
const COVERED: &[(&str, &str)] = &[
    ("secret_enumeration", "k8s.secret_read_non_system"),
    ("cluster_admin_binding", "k8s.cluster_admin_binding"),
    ("wildcard_clusterrole", "k8s.wildcard_role"),
    ("pod_exec", "k8s.pod_exec"),
    ("privileged_pod", "k8s.privileged_container"),
    ("hostpath_pod", "k8s.hostpath_volume"),
    ("hostnetwork_pod", "k8s.host_namespaces"),
    ("networkpolicy_deleted", "k8s.networkpolicy_deleted"),
    ("psa_labels_weakened", "k8s.psa_labels_weakened"),
    ("serviceaccount_token_request", "k8s.sa_token_request"),
    ("anonymous_access", "k8s.anonymous_access"),
    ("untrusted_image", "k8s.untrusted_image"),
];

fn alerts_of(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("alert is JSON"))
        .collect()
}

#[test]
fn detect_finds_every_covered_attack_and_nothing_on_clean_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let attacks = dir.path().join("attacks.jsonl");
    ok_stdout(&[
        "generate",
        "--events",
        "60000",
        "--seed",
        "11",
        "--attacks",
        "--out",
        path(&attacks),
    ]);
    let labels = labels(&dir.path().join("attacks.jsonl.labels.jsonl"));
    let alerts = alerts_of(&ok_stdout(&["detect", path(&attacks)]));

    // Every alert follows the alert JSON contract.
    for alert in &alerts {
        for key in [
            "alert_id",
            "rule_id",
            "title",
            "severity",
            "time",
            "event_ids",
            "audit_ids",
            "cluster",
            "actor",
            "namespace",
            "resource",
            "name",
            "source",
            "attack",
            "summary",
            "fields",
        ] {
            assert!(alert.get(key).is_some(), "alert lacks {key}: {alert}");
        }
    }
    let mut rules_by_audit_id: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for alert in &alerts {
        for audit_id in alert["audit_ids"].as_array().unwrap() {
            rules_by_audit_id
                .entry(audit_id.as_str().unwrap().to_owned())
                .or_default()
                .insert(alert["rule_id"].as_str().unwrap().to_owned());
        }
    }
    for (scenario, rule) in COVERED {
        let events: Vec<&String> = labels
            .iter()
            .filter(|(_, s)| s == scenario)
            .map(|(id, _)| id)
            .collect();
        assert!(!events.is_empty(), "the generator injected no {scenario}");
        // Each scenario instance is caught: at least one of its events fires the rule, and
        // every event of the scenario whose kind the rule covers does.
        let caught = events
            .iter()
            .filter(|id| {
                rules_by_audit_id
                    .get(**id)
                    .is_some_and(|rules| rules.contains(*rule))
            })
            .count();
        assert!(caught > 0, "{scenario}: no event fired {rule}");
    }
    // No covered rule fires on an event that is not part of an attack.
    let covered_rules: BTreeSet<&str> = COVERED.iter().map(|(_, rule)| *rule).collect();
    let labelled: BTreeSet<&String> = labels.iter().map(|(id, _)| id).collect();
    for alert in &alerts {
        let rule = alert["rule_id"].as_str().unwrap();
        if !covered_rules.contains(rule) {
            continue;
        }
        for audit_id in alert["audit_ids"].as_array().unwrap() {
            assert!(
                labelled.contains(&audit_id.as_str().unwrap().to_owned()),
                "false positive {rule} on unlabelled event {audit_id}"
            );
        }
    }
}

#[test]
fn detect_is_silent_on_attack_free_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.jsonl");
    ok_stdout(&[
        "generate",
        "--events",
        "60000",
        "--seed",
        "5",
        "--out",
        path(&clean),
    ]);
    let alerts = alerts_of(&ok_stdout(&["detect", path(&clean)]));
    let covered: BTreeSet<&str> = COVERED.iter().map(|(_, rule)| *rule).collect();
    let noisy: Vec<&Value> = alerts
        .iter()
        .filter(|a| covered.contains(a["rule_id"].as_str().unwrap()))
        .collect();
    assert!(noisy.is_empty(), "alerts on attack-free traffic: {noisy:?}");
}

#[test]
fn generate_writes_a_cluster_shape_that_detect_finds_no_high_alert_in() {
    let dir = tempfile::tempdir().unwrap();
    let openshift = dir.path().join("openshift.jsonl");
    ok_stdout(&[
        "generate",
        "--events",
        "30000",
        "--shape",
        "openshift",
        "--out",
        path(&openshift),
    ]);
    let text = std::fs::read_to_string(&openshift).unwrap();
    assert!(
        text.contains("system:serviceaccount:openshift-"),
        "OpenShift operators"
    );
    let alerts = alerts_of(&ok_stdout(&["detect", path(&openshift)]));
    // The base mix now and then has Helm uninstall Gatekeeper: a true positive.
    let loud: Vec<&Value> = alerts
        .iter()
        .filter(|alert| matches!(alert["severity"].as_str(), Some("high" | "critical")))
        .filter(|alert| alert["rule_id"] != "k8s.security_tool_deleted")
        .collect();
    assert!(
        loud.is_empty(),
        "high alerts on benign OpenShift traffic: {loud:#?}"
    );

    let output = kubetrail(&[
        "generate",
        "--events",
        "10",
        "--shape",
        "mainframe",
        "--out",
        path(&dir.path().join("x.jsonl")),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown cluster shape \"mainframe\"") && stderr.contains("openshift"),
        "{stderr}"
    );
}

#[test]
fn import_then_sql_counts_each_distinct_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    ok_stdout(&[
        "generate",
        "--events",
        "20000",
        "--seed",
        "3",
        "--attacks",
        "--out",
        path(&input),
    ]);
    // The same events again, one file gzipped: duplicates must be dropped.
    let text = std::fs::read(&input).unwrap();
    let gz = dir.path().join("again.jsonl.gz");
    crate::common::gzip(&text[..text.len() / 2], &gz);
    let data = dir.path().join("data");
    let out = kubetrail(&["import", path(&input), path(&gz), "--data-dir", path(&data)]);
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("imported 20000 events"),
        "summary: {stderr}"
    );

    assert_eq!(
        sql_value(&data, "select count(*) as n from events"),
        "20000"
    );
    assert_eq!(
        sql_value(&data, "select count(distinct event_id) as n from events"),
        "20000"
    );
    // Hive partitions and time pruning columns are there and agree with `time`.
    let mismatched = sql_value(
        &data,
        "select count(*) as n from events where date <> to_char(time, '%Y-%m-%d') or hour <> to_char(time, '%H')",
    );
    assert_eq!(mismatched, "0");
    let alerts = sql_value(&data, "select count(*) as n from alerts");
    assert!(alerts.parse::<u64>().unwrap() > 0, "no alerts stored");
    // The search index holds the same events: totals agree with SQL, hits come newest first.
    assert_eq!(search_count(&data, "*"), 20000);
    let deletes = sql_value(
        &data,
        "select count(*) as n from events where verb = 'delete'",
    );
    assert_eq!(search_count(&data, "verb:delete").to_string(), deletes);
    let hits = ok_stdout(&[
        "search",
        "verb:delete",
        "--limit",
        "5",
        "--data-dir",
        path(&data),
    ]);
    let times: Vec<String> = hits
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["time"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(times.len(), 5);
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "not newest first: {times:?}"
    );
    let rule_hits = search_count(&data, "rule:*");
    assert!(rule_hits > 0, "no event carries the rule id of its alert");
    // A lost index is rebuilt from the Parquet files on the next start (here: an import with
    // nothing new), with the same answers.
    std::fs::remove_dir_all(data.join("search")).unwrap();
    ok_stdout(&["import", path(&input), "--data-dir", path(&data)]);
    assert_eq!(search_count(&data, "*"), 20000);
    assert_eq!(search_count(&data, "verb:delete").to_string(), deletes);
    assert_eq!(search_count(&data, "rule:*"), rule_hits);
    let bad = kubetrail(&["search", "user:(", "--data-dir", path(&data)]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // Parquet files are laid out as the data-directory contract says.
    let partitions: Vec<_> = std::fs::read_dir(data.join("events")).unwrap().collect();
    assert!(!partitions.is_empty());
    for entry in partitions {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(name.starts_with("date="), "unexpected entry {name}");
    }
}

#[test]
fn importing_again_stores_nothing_twice_and_picks_up_what_grew() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.jsonl");
    ok_stdout(&[
        "generate",
        "--events",
        "9000",
        "--seed",
        "4",
        "--out",
        path(&source),
    ]);
    let text = std::fs::read(&source).unwrap();
    let cut = text[..text.len() / 2]
        .iter()
        .rposition(|b| *b == b'\n')
        .unwrap()
        + 1;
    let log = dir.path().join("audit.log");
    std::fs::write(&log, &text[..cut]).unwrap();
    let first_half = text[..cut].iter().filter(|b| **b == b'\n').count();
    let data = dir.path().join("data");

    ok_stdout(&["import", path(&log), "--data-dir", path(&data)]);
    assert_eq!(
        sql_value(&data, "select count(*) as n from events"),
        first_half.to_string()
    );
    let again = kubetrail(&["import", path(&log), "--data-dir", path(&data)]);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("1 file(s) skipped as already imported"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        sql_value(&data, "select count(*) as n from events"),
        first_half.to_string()
    );

    // The file grew: only the new lines are imported.
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut file, &text[cut..]).unwrap();
    ok_stdout(&["import", path(&log), "--data-dir", path(&data)]);
    assert_eq!(sql_value(&data, "select count(*) as n from events"), "9000");
    assert_eq!(
        sql_value(&data, "select count(distinct event_id) as n from events"),
        "9000"
    );
    assert_eq!(search_count(&data, "*"), 9000);
}

/// The hit count of a search, from `kubetrail search --count --limit 0` (no hits printed).
fn search_count(data: &Path, query: &str) -> u64 {
    let out = kubetrail(&[
        "search",
        query,
        "--count",
        "--limit",
        "0",
        "--data-dir",
        path(data),
    ]);
    assert!(
        out.status.success(),
        "search {query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "search {query} printed hits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|line| line.strip_suffix(" hits"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in {stderr}"))
}

#[test]
fn token_prints_a_config_entry_that_admits_it() {
    let out = ok_stdout(&[
        "token",
        "--name",
        "alice",
        "--role",
        "analyst",
        "--namespaces",
        "a,b",
    ]);
    let token = out
        .lines()
        .find_map(|line| line.split(": ").nth(1).filter(|t| t.starts_with("kt_")))
        .expect("a token")
        .to_owned();
    let hash = out
        .lines()
        .find_map(|line| line.strip_prefix("sha256 = "))
        .expect("a hash")
        .trim_matches('"')
        .to_owned();
    assert_ne!(hash, token);
    assert!(out.contains("role = \"analyst\""));
    assert!(out.contains("namespaces = [\"a\", \"b\"]"));
    assert_eq!(crate::common::sha256(&token), hash);
    let ingest = kubetrail(&["token", "--name", "apiserver", "--role", "ingest"]);
    assert_eq!(
        ingest.status.code(),
        Some(2),
        "an ingest token needs its cluster"
    );
}

#[test]
fn sql_output_formats_and_read_only_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    ok_stdout(&[
        "generate",
        "--events",
        "2000",
        "--seed",
        "9",
        "--out",
        path(&input),
    ]);
    let data = dir.path().join("data");
    ok_stdout(&["import", path(&input), "--data-dir", path(&data)]);

    let csv = ok_stdout(&[
        "sql",
        "--data-dir",
        path(&data),
        "--format",
        "csv",
        "select verb, count(*) as n from events group by verb order by n desc",
    ]);
    assert!(csv.starts_with("verb,n\n"), "csv: {csv}");
    assert!(
        csv.lines().nth(1).unwrap().starts_with("get,"),
        "gets dominate: {csv}"
    );
    let table = ok_stdout(&[
        "sql",
        "--data-dir",
        path(&data),
        "select count(*) as n from events",
    ]);
    assert!(table.contains("2000"), "table: {table}");

    for statement in [
        "create table x as select 1",
        "insert into events select * from events",
        "drop table events",
        "copy events to '/tmp/x.parquet'",
        "create external table t stored as parquet location '/etc'",
        "select * from '/etc/passwd'",
        "select 1; select 2",
    ] {
        let out = kubetrail(&["sql", "--data-dir", path(&data), statement]);
        assert_eq!(out.status.code(), Some(2), "{statement} was not refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "error is one line: {stderr}"
        );
    }
}

#[test]
fn canary_secret_value_appears_nowhere_under_the_data_directory_or_in_output() {
    const CANARY: &str = "CANARY-d41d8cd98f00b204";
    const CANARY_B64: &str = "Q0FOQVJZLWQ0MWQ4Y2Q5OGYwMGIyMDQ=";
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("secrets.jsonl");
    let secret = format!(
        r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"db","namespace":"shop","annotations":{{"kubectl.kubernetes.io/last-applied-configuration":"{{\"data\":{{\"password\":\"{CANARY_B64}\"}},\"stringData\":{{\"raw\":\"{CANARY}\"}}}}"}}}},"data":{{"password":"{CANARY_B64}"}},"stringData":{{"raw":"{CANARY}"}}}}"#
    );
    let lines = [
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/secrets","verb":"create","user":{{"username":"mallory","groups":["system:authenticated"]}},"sourceIPs":["10.0.0.1"],"objectRef":{{"resource":"secrets","namespace":"shop","name":"db","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":201}},"requestObject":{secret},"responseObject":{secret},"requestReceivedTimestamp":"2026-03-01T10:00:00.000000Z","stageTimestamp":"2026-03-01T10:00:00.010000Z","annotations":{{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}}}"#
        ),
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a2","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/secrets","verb":"list","user":{{"username":"mallory","groups":["system:authenticated"]}},"sourceIPs":["10.0.0.1"],"objectRef":{{"resource":"secrets","namespace":"shop","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"responseObject":{{"kind":"SecretList","apiVersion":"v1","items":[{secret}]}},"requestReceivedTimestamp":"2026-03-01T10:00:01.000000Z","stageTimestamp":"2026-03-01T10:00:01.010000Z"}}"#
        ),
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a3","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/serviceaccounts/app/token","verb":"create","user":{{"username":"mallory","groups":["system:authenticated"]}},"objectRef":{{"resource":"serviceaccounts","subresource":"token","namespace":"shop","name":"app","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":201}},"responseObject":{{"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1","spec":{{"audiences":["api"]}},"status":{{"token":"eyJ{CANARY}","expirationTimestamp":"2026-03-01T11:00:00Z"}}}},"requestReceivedTimestamp":"2026-03-01T10:00:02.000000Z","stageTimestamp":"2026-03-01T10:00:02.010000Z"}}"#
        ),
        // A malformed line holding the canary goes to the dead letters without it.
        format!(r#"{{"kind":"Event","requestObject":{{"data":{{"password":"{CANARY}"}}"#),
    ];
    write(&input, &(lines.join("\n") + "\n"));

    let detect = kubetrail(&["detect", path(&input)]);
    assert!(detect.status.success());
    let data = dir.path().join("data");
    let import = kubetrail(&["import", path(&input), "--data-dir", path(&data)]);
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let dump = ok_stdout(&[
        "sql",
        "--data-dir",
        path(&data),
        "--format",
        "jsonl",
        "select * from events",
    ]);
    assert_eq!(dump.lines().count(), 3);
    assert!(dump.contains("<redacted>"));
    let alerts = ok_stdout(&[
        "sql",
        "--data-dir",
        path(&data),
        "--format",
        "jsonl",
        "select * from alerts",
    ]);

    for (what, bytes) in [
        ("detect stdout", detect.stdout.clone()),
        ("detect stderr", detect.stderr.clone()),
        ("import stderr", import.stderr.clone()),
        ("sql events", dump.into_bytes()),
        ("sql alerts", alerts.into_bytes()),
    ] {
        assert_no_canary(what, &bytes, &[CANARY, CANARY_B64]);
    }
    crate::common::walk(&data, &mut |file: &Path| {
        let bytes = std::fs::read(file).unwrap();
        // Parquet pages are compressed: check the decompressed content through SQL above, and
        // the raw bytes here for anything stored uncompressed (dead letters, commits).
        assert_no_canary(&file.display().to_string(), &bytes, &[CANARY, CANARY_B64]);
    });
    let dead = sql_free_dead_letters(&data);
    assert_eq!(dead, 1, "the malformed line is a dead letter");
}

fn sql_free_dead_letters(data: &Path) -> usize {
    let mut count = 0;
    crate::common::walk(&data.join("dead_letters"), &mut |file: &Path| {
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines() {
            let letter: Value = serde_json::from_str(line).unwrap();
            assert!(letter["reason"].as_str().is_some_and(|r| !r.is_empty()));
            assert!(letter["offset"].as_u64().is_some());
            count += 1;
        }
    });
    count
}

fn assert_no_canary(what: &str, bytes: &[u8], canaries: &[&str]) {
    for canary in canaries {
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "{what} contains the secret value {canary}"
        );
    }
}

#[test]
fn rules_list_and_lint() {
    let list = ok_stdout(&["rules", "list"]);
    for (_, rule) in COVERED {
        assert!(list.contains(rule), "{rule} not listed");
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    write(
        &bad,
        "rules:\n  - id: custom.bad\n    title: bad\n    severity: high\n    attack: []\n    description: x\n    condition: {field: no_such_field, equals: x}\n",
    );
    let out = kubetrail(&["rules", "lint", path(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no_such_field"));
    let out = kubetrail(&["detect", "--rules", path(&bad), path(&bad)]);
    assert_eq!(out.status.code(), Some(2), "a bad rule file is bad input");
}

#[test]
fn bad_usage_and_missing_files_exit_2_with_one_line() {
    let out = kubetrail(&["detect", "/no/such/file.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1
    );
    let out = kubetrail(&["import"]);
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    write(&config, "[ingest]\nno_such_key = 1\n");
    let out = kubetrail(&["serve", "--config", path(&config)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_key"));
    write(&config, "[store]\ndata_dir = \"/tmp/unused\"\n");
    let out = kubetrail(&["serve", "--config", path(&config)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sources configured"));
}

#[test]
fn demo_runs_without_config_and_shows_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = kubetrail(&[
        "demo",
        "--duration-secs",
        "12",
        "--rate",
        "1500",
        "--rotate-bytes",
        "2000000",
        "--listen",
        "127.0.0.1:0",
        "--dir",
        path(&demo),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("/api/v1  (admin token: kt_"),
        "no API address and token shown: {stdout}"
    );
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("k8s."), "no alert shown: {stdout}");
    assert!(stdout.contains("demo stopped"), "{stdout}");
    // The log was rotated at least once and everything read was stored.
    let rotated = std::fs::read_dir(demo.join("logs"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("audit-")
        })
        .count();
    assert!(rotated >= 1, "the demo log never rotated");
    let stored: u64 = sql_value(&demo.join("data"), "select count(*) as n from events")
        .parse()
        .unwrap();
    assert!(stored > 1000, "only {stored} events stored");
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
