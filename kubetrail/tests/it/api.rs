//! The HTTP query API end to end: `kubetrail serve` on loopback over generated traffic, every
//! route called through a real socket, answers compared with ground truth decoded from the
//! same file, tokens, roles and namespace restrictions enforced, responses checked against the
//! served OpenAPI document.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::http::{self, check_response, get, post_json, start, wait_ready};
use crate::common::{ok_stdout, sha256, write};

const VIEWER: &str = "viewer-token-0123456789";
const ANALYST: &str = "analyst-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";
const RESTRICTED: &str = "restricted-token-0123456789";
const INGEST: &str = "ingest-token-0123456789";

/// Percent-encodes a query-string value.
fn enc(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The events serve will store from `file`: decoded like serve does, deduplicated.
fn truth(file: &Path, cluster: &str) -> Vec<event::Event> {
    let options = event::DecodeOptions {
        cluster: cluster.to_owned(),
        ..event::DecodeOptions::default()
    };
    let mut events = Vec::new();
    for line in std::fs::read(file).unwrap().split(|b| *b == b'\n') {
        if !line.is_empty() {
            let _ = event::decode_line(line, &options, &mut events);
        }
    }
    let mut seen = HashSet::new();
    events.retain(|event| seen.insert(event.event_id.clone()));
    events
}

fn config(dir: &Path, restricted_namespace: &str) -> std::path::PathBuf {
    let config = dir.join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[ingest]
poll_interval_ms = 100
batch_max_events = 2000
batch_max_wait_ms = 50
[[ingest.files]]
paths = ["{logs}/audit.log"]
cluster = "api-test"
[store]
data_dir = "{data}"
[pipeline]
commit_interval_ms = 300
[api]
listen = "127.0.0.1:0"
rate_limit_per_second = 1000
rate_limit_burst = 1000
[[api.tokens]]
name = "viewer"
sha256 = "{viewer}"
role = "viewer"
[[api.tokens]]
name = "analyst"
sha256 = "{analyst}"
role = "analyst"
[[api.tokens]]
name = "admin"
sha256 = "{admin}"
role = "admin"
[[api.tokens]]
name = "restricted"
sha256 = "{restricted}"
role = "analyst"
namespaces = ["{restricted_namespace}"]
[[api.ingest_tokens]]
name = "apiserver"
sha256 = "{ingest}"
cluster = "pushed"
"#,
            logs = dir.join("logs").display(),
            data = dir.join("data").display(),
            viewer = sha256(VIEWER),
            analyst = sha256(ANALYST),
            admin = sha256(ADMIN),
            restricted = sha256(RESTRICTED),
            ingest = sha256(INGEST),
        ),
    );
    config
}

fn sql_count(address: SocketAddr, token: &str, statement: &str) -> u64 {
    let response = post_json(
        address,
        "/api/v1/sql",
        Some(token),
        &serde_json::json!({ "sql": statement }),
    );
    assert_eq!(response.status, 200, "{statement}: {}", response.text());
    let rows = response.json()["rows"].clone();
    rows[0]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_u64()
        .unwrap()
}

fn search_total(address: SocketAddr, token: &str, query: &str) -> u64 {
    let response = get(
        address,
        &format!("/api/v1/search?limit=1&q={}", enc(query)),
        Some(token),
    );
    assert_eq!(response.status, 200, "{query}: {}", response.text());
    response.json()["total"].as_u64().unwrap()
}

/// Waits until the store and the index both hold `expected` events.
fn wait_for(address: SocketAddr, expected: u64) {
    wait_ready(address);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let stored = sql_count(address, ANALYST, "select count(*) from events");
        let indexed = search_total(address, ANALYST, "*");
        if stored == expected && indexed == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stored {stored}, indexed {indexed}, expected {expected}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn the_query_api_answers_with_ground_truth_and_enforces_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let generated = dir.path().join("generated.jsonl");
    ok_stdout(&[
        "generate",
        "--events",
        "12000",
        "--seed",
        "5",
        "--attacks",
        "--out",
        generated.to_str().unwrap(),
    ]);
    let events = truth(&generated, "api-test");
    let mut by_namespace: BTreeMap<&str, u64> = BTreeMap::new();
    for event in &events {
        if let Some(namespace) = &event.namespace {
            *by_namespace.entry(namespace).or_default() += 1;
        }
    }
    let (restricted_ns, restricted_count) = by_namespace
        .iter()
        .filter(|(ns, _)| !ns.starts_with("kube-"))
        .max_by_key(|(_, n)| **n)
        .map(|(ns, n)| (ns.to_string(), *n))
        .unwrap();
    std::fs::copy(&generated, logs.join("audit.log")).unwrap();
    let config = config(dir.path(), &restricted_ns);
    let server = start(&config, &dir.path().join("serve.log"));
    let address = server.address;
    wait_for(address, events.len() as u64);
    let document = get(address, "/api/v1/openapi.json", None).json();

    // Liveness and readiness need no token.
    for route in ["/healthz", "/readyz"] {
        let response = get(address, route, None);
        check_response(&document, route, "get", &response);
        assert_eq!(response.status, 200);
    }

    // No token, or an unknown one: 401 everywhere else, and the body is the error only.
    let some_event = &events[events.len() / 2];
    let routes = [
        "/api/v1/search?q=*".to_owned(),
        format!("/api/v1/events/{}", some_event.event_id),
        "/api/v1/alerts".to_owned(),
        "/api/v1/rules".to_owned(),
        "/api/v1/timeline?actor=alice".to_owned(),
        "/api/v1/objects/history?resource=pods&name=x&namespace=y".to_owned(),
        "/api/v1/tail".to_owned(),
        "/metrics".to_owned(),
    ];
    for route in &routes {
        for token in [None, Some("not-a-token")] {
            let response = get(address, route, token);
            assert_eq!(
                response.status,
                401,
                "{route} with {token:?}: {}",
                response.text()
            );
            assert_eq!(response.json().as_object().unwrap().len(), 1);
        }
    }
    assert_eq!(
        post_json(
            address,
            "/api/v1/sql",
            None,
            &serde_json::json!({"sql": "select 1"})
        )
        .status,
        401
    );

    // Roles: viewer cannot run SQL, export or acknowledge; analyst cannot read rules.
    let forbidden = [
        post_json(
            address,
            "/api/v1/sql",
            Some(VIEWER),
            &serde_json::json!({"sql": "select 1"}),
        ),
        get(address, "/api/v1/search?q=*&format=csv", Some(VIEWER)),
        post_json(
            address,
            "/api/v1/alerts/00ff/ack",
            Some(VIEWER),
            &serde_json::json!({}),
        ),
    ];
    for response in &forbidden {
        assert_eq!(response.status, 403, "{}", response.text());
    }
    // Rules are for every role (an alert's panel shows its rule's YAML).
    let rules = get(address, "/api/v1/rules", Some(VIEWER));
    check_response(&document, "/api/v1/rules", "get", &rules);
    assert!(rules.json()["rules"].as_array().unwrap().len() >= 50);

    // Search agrees with the ground truth and with SQL.
    let count = |f: &dyn Fn(&event::Event) -> bool| events.iter().filter(|e| f(e)).count() as u64;
    let deletes = count(&|e| e.verb.as_deref() == Some("delete"));
    assert_eq!(search_total(address, VIEWER, "verb:delete"), deletes);
    assert_eq!(
        sql_count(
            address,
            ANALYST,
            "select count(*) from events where verb = 'delete'"
        ),
        deletes
    );
    let client_errors = count(&|e| e.response_code.is_some_and(|c| (400..500).contains(&c)));
    assert_eq!(
        search_total(address, VIEWER, "code:[400 TO 499]"),
        client_errors
    );
    let not_get = count(&|e| e.verb.as_deref() != Some("get"));
    assert_eq!(search_total(address, VIEWER, "NOT verb:get"), not_get);
    let user = some_event.user.clone().unwrap();
    let by_user_and_verb =
        count(&|e| e.user.as_deref() == Some(user.as_str()) && e.verb == some_event.verb);
    assert_eq!(
        search_total(
            address,
            VIEWER,
            &format!(
                "user:\"{user}\" AND verb:{}",
                some_event.verb.as_deref().unwrap()
            )
        ),
        by_user_and_verb
    );
    let page = get(
        address,
        "/api/v1/search?q=verb:delete&limit=5&histogram=true&facets=namespace,user",
        Some(VIEWER),
    );
    check_response(&document, "/api/v1/search", "get", &page);
    let body = page.json();
    assert_eq!(
        body["hits"].as_array().unwrap().len() as u64,
        deletes.min(5)
    );
    let histogram_sum: u64 = body["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(histogram_sum, deletes);
    let bad = get(
        address,
        &format!("/api/v1/search?q={}", enc("user:(alice")),
        Some(VIEWER),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    check_response(&document, "/api/v1/search", "get", &bad);
    let unknown = get(
        address,
        &format!("/api/v1/search?q={}", enc("nosuchfield:x")),
        Some(VIEWER),
    );
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.json()["error"]
            .as_str()
            .unwrap()
            .contains("nosuchfield")
    );

    // One event by id, with its raw body.
    let stored = get(
        address,
        &format!("/api/v1/events/{}", some_event.event_id),
        Some(VIEWER),
    );
    check_response(&document, "/api/v1/events/{event_id}", "get", &stored);
    assert_eq!(stored.json()["event_id"], some_event.event_id.as_str());
    assert!(stored.json()["raw"].is_object());
    assert_eq!(
        get(address, "/api/v1/events/00ff00ff", Some(VIEWER)).status,
        404
    );
    assert_eq!(
        get(address, "/api/v1/events/not-hex", Some(VIEWER)).status,
        400
    );

    // A token restricted to one namespace sees it alone: in hits, totals, facets, SQL,
    // timelines and single events.
    assert_eq!(search_total(address, RESTRICTED, "*"), restricted_count);
    let facets = get(
        address,
        "/api/v1/search?q=*&limit=1&facets=namespace",
        Some(RESTRICTED),
    )
    .json();
    let namespaces: Vec<&str> = facets["facets"]["namespace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["value"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, [restricted_ns.as_str()]);
    assert_eq!(
        sql_count(address, RESTRICTED, "select count(*) from events"),
        restricted_count
    );
    assert_eq!(
        sql_count(
            address,
            RESTRICTED,
            "select count(*) from (select * from events union all select * from events where namespace <> 'x')"
        ),
        2 * restricted_count
    );
    let outside = events
        .iter()
        .find(|e| e.namespace.as_deref() != Some(restricted_ns.as_str()))
        .unwrap();
    assert_eq!(
        get(
            address,
            &format!("/api/v1/events/{}", outside.event_id),
            Some(RESTRICTED)
        )
        .status,
        404
    );
    let busy_user = events
        .iter()
        .filter_map(|e| e.user.clone())
        .max_by_key(|u| count(&|e| e.user.as_ref() == Some(u)))
        .unwrap();
    let timeline = get(
        address,
        &format!("/api/v1/timeline?actor={}&limit=5", enc(&busy_user)),
        Some(RESTRICTED),
    );
    check_response(&document, "/api/v1/timeline", "get", &timeline);
    let expected = count(&|e| {
        (e.user.as_ref() == Some(&busy_user) || e.impersonated_user.as_ref() == Some(&busy_user))
            && e.namespace.as_deref() == Some(restricted_ns.as_str())
    });
    assert_eq!(timeline.json()["total"].as_u64().unwrap(), expected);
    let full = get(
        address,
        &format!("/api/v1/timeline?actor={}&limit=5", enc(&busy_user)),
        Some(VIEWER),
    )
    .json();
    assert_eq!(
        full["total"].as_u64().unwrap(),
        count(&|e| e.user.as_ref() == Some(&busy_user)
            || e.impersonated_user.as_ref() == Some(&busy_user))
    );

    // SQL stays read-only and away from files.
    for statement in [
        "create table t as select 1",
        "insert into events select * from events",
        "copy (select 1) to '/tmp/kubetrail-copy.csv'",
        "select * from '/etc/passwd'",
        "create external table x stored as csv location '/etc/passwd'",
        "drop table events",
    ] {
        let response = post_json(
            address,
            "/api/v1/sql",
            Some(ANALYST),
            &serde_json::json!({ "sql": statement }),
        );
        assert_eq!(response.status, 400, "{statement}: {}", response.text());
        check_response(&document, "/api/v1/sql", "post", &response);
    }
    let sql = post_json(
        address,
        "/api/v1/sql",
        Some(ANALYST),
        &serde_json::json!({"sql": "select verb, count(*) as n from events group by verb order by n desc"}),
    );
    check_response(&document, "/api/v1/sql", "post", &sql);

    // Exports stream CSV and NDJSON.
    let csv = get(
        address,
        "/api/v1/search?q=verb:delete&format=csv",
        Some(ANALYST),
    );
    assert_eq!(csv.status, 200);
    assert_eq!(csv.text().lines().count() as u64, deletes + 1);
    let ndjson = post_json(
        address,
        "/api/v1/sql",
        Some(ANALYST),
        &serde_json::json!({"sql": "select event_id from events where verb = 'delete'", "format": "ndjson"}),
    );
    assert_eq!(ndjson.status, 200);
    assert_eq!(ndjson.text().lines().count() as u64, deletes);

    // Alerts: listed, grouped, acknowledged once, by whom.
    let alerts = get(address, "/api/v1/alerts?limit=3", Some(VIEWER));
    check_response(&document, "/api/v1/alerts", "get", &alerts);
    let listed = alerts.json();
    assert!(listed["total"].as_u64().unwrap() > 0);
    let alert_id = listed["alerts"][0]["alert_id"].as_str().unwrap().to_owned();
    let first = post_json(
        address,
        &format!("/api/v1/alerts/{alert_id}/ack"),
        Some(ANALYST),
        &serde_json::json!({"note": "looked into it"}),
    );
    assert_eq!(first.status, 201, "{}", first.text());
    check_response(&document, "/api/v1/alerts/{alert_id}/ack", "post", &first);
    let again = post_json(
        address,
        &format!("/api/v1/alerts/{alert_id}/ack"),
        Some(ADMIN),
        &serde_json::json!({}),
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["by"], "analyst");
    let acked = get(address, "/api/v1/alerts?acked=true", Some(VIEWER)).json();
    assert_eq!(acked["total"], 1);
    assert_eq!(acked["alerts"][0]["ack"]["note"], "looked into it");
    let groups = get(address, "/api/v1/alerts?group_by=rule_id", Some(VIEWER));
    check_response(&document, "/api/v1/alerts", "get", &groups);
    let grouped: u64 = groups.json()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["count"].as_u64().unwrap())
        .sum();
    assert_eq!(grouped, listed["total"].as_u64().unwrap());

    // Object history: every write to one object, in order.
    let mut writes: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for e in &events {
        if matches!(
            e.verb.as_deref(),
            Some("create" | "update" | "patch" | "delete")
        ) && e.subresource.is_none()
            && let (Some(r), Some(ns), Some(n)) = (&e.resource, &e.namespace, &e.name)
        {
            *writes
                .entry((r.clone(), ns.clone(), n.clone()))
                .or_default() += 1;
        }
    }
    let ((resource, namespace, name), changes) =
        writes.into_iter().max_by_key(|(_, n)| *n).unwrap();
    let history = get(
        address,
        &format!(
            "/api/v1/objects/history?resource={}&namespace={}&name={}",
            enc(&resource),
            enc(&namespace),
            enc(&name)
        ),
        Some(VIEWER),
    );
    assert_eq!(history.status, 200, "{}", history.text());
    check_response(&document, "/api/v1/objects/history", "get", &history);
    let whole = history.json();
    assert_eq!(whole["changes"].as_array().unwrap().len() as u64, changes);
    assert_eq!(whole["truncated"], false);
    // Objects are shown without their field managers, as `kubectl get` shows them.
    let objects: Vec<&serde_json::Value> = whole["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|change| change.get("object"))
        .collect();
    assert!(!objects.is_empty(), "some change shows its object");
    assert!(
        objects
            .iter()
            .all(|object| object["metadata"].get("managedFields").is_none())
    );
    // Paged, newest first: each page's changes are the same as in the whole history (diffs
    // included, also for a page's oldest change), and `next_to` leads to the older ones.
    assert!(changes > 3, "the busiest object has {changes} changes");
    let mut paged: Vec<serde_json::Value> = Vec::new();
    let mut to = String::new();
    loop {
        let page = get(
            address,
            &format!(
                "/api/v1/objects/history?resource={}&namespace={}&name={}&limit=2{}",
                enc(&resource),
                enc(&namespace),
                enc(&name),
                if to.is_empty() {
                    String::new()
                } else {
                    format!("&to={}", enc(&to))
                }
            ),
            Some(VIEWER),
        );
        assert_eq!(page.status, 200, "{}", page.text());
        check_response(&document, "/api/v1/objects/history", "get", &page);
        let page = page.json();
        let mut older = page["changes"].as_array().unwrap().clone();
        assert!(older.len() <= 2);
        older.extend(paged);
        paged = older;
        if page["truncated"] == false {
            break;
        }
        to = page["next_to"].as_str().unwrap().to_owned();
    }
    assert_eq!(&paged, whole["changes"].as_array().unwrap());
    let bad = get(
        address,
        "/api/v1/objects/history?resource=pods&name=x&limit=0",
        Some(VIEWER),
    );
    assert_eq!(bad.status, 400);

    // Pushed events: durable when answered, then searchable, counted; credentials kept apart.
    let pushed = serde_json::json!({
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "items": [
            {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "11111111-2222-3333-4444-555555555555", "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/default/pods", "verb": "list", "user": {"username": "pushed-user"}, "sourceIPs": ["10.9.9.9"], "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"}, "responseStatus": {"code": 200}, "requestReceivedTimestamp": "2026-01-01T00:00:00.000000Z", "stageTimestamp": "2026-01-01T00:00:00.100000Z"}
        ]
    });
    assert_eq!(
        post_json(address, "/api/v1/ingest/audit", Some(ADMIN), &pushed).status,
        401
    );
    let accepted = post_json(address, "/api/v1/ingest/audit", Some(INGEST), &pushed);
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    check_response(&document, "/api/v1/ingest/audit", "post", &accepted);
    assert_eq!(accepted.json()["accepted"], 1);
    // Durable in the write-ahead log when answered; searchable after the next commit.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while search_total(address, VIEWER, "user:pushed-user AND cluster:pushed") != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pushed event is not searchable"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(address, "/api/v1/search?q=*", Some(INGEST)).status, 401);
    let garbage = http::request(
        address,
        "POST",
        "/api/v1/ingest/audit",
        Some(INGEST),
        Some(b"{not json"),
    );
    assert_eq!(garbage.status, 400);

    // Live tail: appended events arrive, filtered.
    let extra = dir.path().join("extra.jsonl");
    ok_stdout(&[
        "generate",
        "--events",
        "300",
        "--seed",
        "77",
        "--out",
        extra.to_str().unwrap(),
    ]);
    let appender = std::thread::spawn({
        let log = logs.join("audit.log");
        move || {
            std::thread::sleep(Duration::from_secs(2));
            let mut file = std::fs::OpenOptions::new().append(true).open(log).unwrap();
            file.write_all(&std::fs::read(extra).unwrap()).unwrap();
        }
    });
    let (status, seen) = http::sse(
        address,
        "/api/v1/tail?q=verb%3Alist&alerts=false",
        VIEWER,
        Duration::from_secs(30),
        |event, _| event == "event",
    );
    appender.join().unwrap();
    assert_eq!(status, 200);
    let (kind, data) = seen
        .iter()
        .find(|(kind, _)| kind == "event")
        .expect("a tailed event");
    assert_eq!(kind, "event");
    let tailed: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(tailed["verb"], "list");

    // Metrics, and the log of who asked what.
    let metrics = get(address, "/metrics", Some(VIEWER));
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("kubetrail_ingest_events_total"));
    assert!(
        metrics
            .text()
            .contains("kubetrail_api_request_seconds_bucket{route=\"/api/v1/search\"")
    );
    let query_log = std::fs::read_to_string(dir.path().join("data/_api/queries.jsonl")).unwrap();
    assert!(
        query_log
            .lines()
            .any(|l| l.contains("\"who\":\"analyst\"") && l.contains("group by verb"))
    );
    assert!(
        !query_log.contains(ANALYST),
        "a token reached the query log"
    );
}

/// `curl` against the HTTPS listener, trusting only `ca`: (status, body).
fn curl(ca: &Path, url: &str, token: Option<&str>) -> (u16, String) {
    let mut command = std::process::Command::new("curl");
    command.args([
        "-sS",
        "--cacert",
        ca.to_str().unwrap(),
        "-w",
        "\n%{http_code}",
        url,
    ]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = command.output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn the_api_serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .args([
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ])
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let config = small_config(
        dir.path(),
        "",
        &format!(
            "tls = {{ cert = \"{}\", key = \"{}\" }}",
            cert.display(),
            key.display()
        ),
        ("viewer", VIEWER, "viewer"),
    );
    let log = dir.path().join("serve.log");
    let server = start(&config, &log);
    assert!(std::fs::read_to_string(&log).unwrap().contains("https://"));
    let base = format!("https://127.0.0.1:{}", server.address.port());
    let (status, body) = curl(&cert, &format!("{base}/healthz"), None);
    assert_eq!(status, 200, "{body}");
    // Search answers once the index is open (`/readyz`); the API listens before that.
    http::wait_ready_with(|| curl(&cert, &format!("{base}/readyz"), None).0);
    let (status, body) = curl(&cert, &format!("{base}/api/v1/search?q=*"), Some(VIEWER));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["total"],
        0
    );
    assert_eq!(
        curl(&cert, &format!("{base}/api/v1/search?q=*"), None).0,
        401
    );
    // Plain HTTP on the TLS port gets no API answer.
    let plain = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://127.0.0.1:{}/healthz", server.address.port()),
        ])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200");
}

#[test]
fn retention_drops_whole_days_from_parquet_and_the_search_index() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let old = dir.path().join("old.jsonl");
    // Generated traffic starts on 1 January 2026: far older than the retention period below.
    ok_stdout(&[
        "generate",
        "--events",
        "3000",
        "--seed",
        "9",
        "--out",
        old.to_str().unwrap(),
    ]);
    let data = dir.path().join("data");
    ok_stdout(&[
        "import",
        old.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(std::fs::read_dir(data.join("search")).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("date=")
    }));
    let config = small_config(
        dir.path(),
        "retention_days = 30",
        "",
        ("analyst", ANALYST, "analyst"),
    );
    let log = dir.path().join("serve.log");
    let server = start(&config, &log);
    wait_ready(server.address);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("retention: old search indexes deleted")
    {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        sql_count(server.address, ANALYST, "select count(*) from events"),
        0
    );
    assert_eq!(
        sql_count(server.address, ANALYST, "select count(*) from alerts"),
        0
    );
    // The index commits right after that line, and the searcher reloads after its commit.
    while search_total(server.address, ANALYST, "*") != 0 {
        assert!(Instant::now() < deadline, "the search index kept old days");
        std::thread::sleep(Duration::from_millis(100));
    }
    for table in ["events", "alerts", "search"] {
        let left: Vec<String> = std::fs::read_dir(data.join(table))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("date="))
            .collect();
        assert!(left.is_empty(), "{table} keeps {left:?}");
    }
    // A backfill of old events through the running pipeline is stored (not dropped on
    // arrival), counted and logged; the next hourly run would remove it.
    let backfill = dir.path().join("backfill.jsonl");
    ok_stdout(&[
        "generate",
        "--events",
        "50",
        "--seed",
        "10",
        "--out",
        backfill.to_str().unwrap(),
    ]);
    std::fs::copy(&backfill, dir.path().join("logs/audit.log")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sql_count(server.address, ANALYST, "select count(*) from events") < 50 {
        assert!(Instant::now() < deadline, "the backfill was not stored");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Counted right after the commit that stored them.
    while !get(server.address, "/metrics", Some(ANALYST))
        .text()
        .contains("kubetrail_events_past_retention_total 50")
    {
        assert!(Instant::now() < deadline, "the backfill was not counted");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("stored events older than the events' retention period (a backfill?)")
    );
    drop(server);
    // The deletion is a chained commit of its own, so the directory still verifies, and the
    // ledger says which policy removed what.
    crate::common::assert_verifies(&data);
    let ledger = std::fs::read_dir(data.join("_ledger"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect::<String>();
    let retention = ledger
        .lines()
        .find(|line| line.contains(r#""kind":"retention""#))
        .expect("a retention line");
    assert!(
        retention.contains(
            "retention (events 30d, alerted events 30d, alerts 30d, dead letters 30d) as of "
        ),
        "{retention}"
    );
    assert!(
        retention.contains(r#""removed":["alerts/date=2026-01-01/"#),
        "{retention}"
    );
}

#[test]
fn legal_holds_are_placed_and_released_by_unrestricted_admins_and_retention_keeps_what_they_cover()
{
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let old = dir.path().join("old.jsonl");
    // Generated traffic of 1 January 2026: far older than the retention period below.
    ok_stdout(&[
        "generate",
        "--events",
        "2000",
        "--seed",
        "4",
        "--out",
        old.to_str().unwrap(),
    ]);
    let data = dir.path().join("data");
    ok_stdout(&[
        "import",
        old.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let in_kube_system = sql_value_of(
        &data,
        "select count(*) from events where namespace = 'kube-system'",
    );
    assert!(in_kube_system > 0);
    let extra_tokens = format!(
        "[[api.tokens]]\nname = \"analyst\"\nsha256 = \"{}\"\nrole = \"analyst\"\n[[api.tokens]]\nname = \"scoped-admin\"\nsha256 = \"{}\"\nrole = \"admin\"\nnamespaces = [\"kube-system\"]\n",
        sha256(ANALYST),
        sha256(RESTRICTED)
    );
    let config = small_config(
        dir.path(),
        "",
        &extra_tokens,
        ("compliance", ADMIN, "admin"),
    );
    // First without retention: place the hold through the API.
    let log = dir.path().join("serve.log");
    let server = start(&config, &log);
    let address = server.address;
    let document = get(address, "/api/v1/openapi.json", None).json();
    let hold = serde_json::json!({
        "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z",
        "namespace": "kube-system", "reason": "case 99"
    });
    for token in [ANALYST, RESTRICTED] {
        let response = post_json(address, "/api/v1/holds", Some(token), &hold);
        assert_eq!(response.status, 403, "{}", response.text());
        check_response(&document, "/api/v1/holds", "post", &response);
    }
    let bad = post_json(
        address,
        "/api/v1/holds",
        Some(ADMIN),
        &serde_json::json!({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z", "reason": "x"}),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    check_response(&document, "/api/v1/holds", "post", &bad);
    let placed = post_json(address, "/api/v1/holds", Some(ADMIN), &hold);
    assert_eq!(placed.status, 201, "{}", placed.text());
    check_response(&document, "/api/v1/holds", "post", &placed);
    assert_eq!(placed.json()["created_by"], "compliance");
    let listed = get(address, "/api/v1/holds", Some(ADMIN));
    check_response(&document, "/api/v1/holds", "get", &listed);
    assert_eq!(listed.json()["holds"].as_array().unwrap().len(), 1);
    let unknown = post_json(
        address,
        "/api/v1/holds/hold-9/release",
        Some(ADMIN),
        &serde_json::json!({"reason": "x"}),
    );
    assert_eq!(unknown.status, 404);
    check_response(
        &document,
        "/api/v1/holds/{hold_id}/release",
        "post",
        &unknown,
    );
    drop(server);

    // With retention on, serve removes everything of 1 January but what the hold covers.
    let config = small_config(
        dir.path(),
        "retention_days = 30",
        &extra_tokens,
        ("compliance", ADMIN, "admin"),
    );
    let log = dir.path().join("serve-with-retention.log");
    let server = start(&config, &log);
    let address = server.address;
    wait_ready(address);
    // Retention commits the Parquet side first, then the search index under the same seq:
    // wait for both.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sql_count(address, ADMIN, "select count(*) from events") != in_kube_system
        || search_total(address, ADMIN, "*") != in_kube_system
    {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        search_total(address, ADMIN, "namespace:kube-system"),
        in_kube_system
    );
    let released = post_json(
        address,
        "/api/v1/holds/hold-1/release",
        Some(ADMIN),
        &serde_json::json!({"reason": "case closed"}),
    );
    assert_eq!(released.status, 200, "{}", released.text());
    check_response(
        &document,
        "/api/v1/holds/{hold_id}/release",
        "post",
        &released,
    );
    assert_eq!(released.json()["released"]["by"], "compliance");
    let active = get(address, "/api/v1/holds", Some(ADMIN));
    assert_eq!(active.json()["holds"].as_array().unwrap().len(), 0);
    let all = get(address, "/api/v1/holds?all=true", Some(ADMIN));
    check_response(&document, "/api/v1/holds", "get", &all);
    assert_eq!(all.json()["holds"][0]["released"]["reason"], "case closed");
    drop(server);
    crate::common::assert_verifies(&data);
}

fn sql_value_of(data: &Path, statement: &str) -> u64 {
    crate::common::sql_value(data, statement).parse().unwrap()
}

/// A config tailing `DIR/logs/audit.log` into `DIR/data` with one API token; `store` and
/// `api` are extra lines for those tables.
fn small_config(
    dir: &Path,
    store: &str,
    api: &str,
    (name, token, role): (&str, &str, &str),
) -> std::path::PathBuf {
    let config = dir.join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[[ingest.files]]
paths = ["{logs}/audit.log"]
[store]
data_dir = "{data}"
{store}
[api]
listen = "127.0.0.1:0"
{api}
[[api.tokens]]
name = "{name}"
sha256 = "{hash}"
role = "{role}"
"#,
            logs = dir.join("logs").display(),
            data = dir.join("data").display(),
            hash = sha256(token),
        ),
    );
    config
}
