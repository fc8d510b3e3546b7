//! A webhook-only deployment (no files, so it can run under Pod Security "restricted"): `serve`
//! with only `[api]` ingest tokens accepts the API server's `EventList`s and Falco's alerts,
//! answers once they are durable, stores each event once, and detects on them.

use std::time::Duration;

use crate::common::http::{get, post_json, start};
use crate::common::{sha256, sql_value, write};

const INGEST: &str = "webhook-ingest-token";
const VIEWER: &str = "webhook-viewer-token";

fn exec_event(index: usize) -> serde_json::Value {
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("7e57a0d1-0000-4000-8000-{index:012}"), "stage": "ResponseStarted",
        "requestURI": "/api/v1/namespaces/shop/pods/web-0/exec?command=sh&stdin=true&tty=true",
        "verb": "create", "user": {"username": "mallory@example.com", "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.7"], "userAgent": "kubectl/v1.31.0",
        "objectRef": {"resource": "pods", "namespace": "shop", "name": "web-0", "subresource": "exec", "apiVersion": "v1"},
        "responseStatus": {"code": 101},
        "requestReceivedTimestamp": "2026-03-01T10:00:00.000000Z", "stageTimestamp": "2026-03-01T10:00:00.100000Z",
        "annotations": {"authorization.k8s.io/decision": "allow"}
    })
}

#[test]
fn serve_with_only_ingest_tokens_stores_pushed_events_once_and_detects_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let alerts = dir.path().join("alerts.jsonl");
    let config = dir.path().join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[store]
data_dir = "{data}"
[alerts]
file = "{alerts}"
[api]
listen = "127.0.0.1:0"
[[api.tokens]]
name = "viewer"
sha256 = "{viewer}"
role = "viewer"
[[api.ingest_tokens]]
name = "apiserver"
sha256 = "{ingest}"
cluster = "webhook-only"
"#,
            data = data.display(),
            alerts = alerts.display(),
            viewer = sha256(VIEWER),
            ingest = sha256(INGEST),
        ),
    );
    let server = start(&config, &dir.path().join("serve.log"));
    let address = server.address;

    // Three EventLists of 50 events; the second is sent twice, as a retrying webhook would.
    let batch = |first: usize| {
        serde_json::json!({
            "kind": "EventList", "apiVersion": "audit.k8s.io/v1",
            "items": (first..first + 50).map(exec_event).collect::<Vec<_>>(),
        })
    };
    for body in [batch(0), batch(50), batch(50), batch(100)] {
        let answer = post_json(address, "/api/v1/ingest/audit", Some(INGEST), &body);
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json()["accepted"], 50);
    }
    // Durable (and indexed) when answered, each event once.
    let search = get(
        address,
        "/api/v1/search?limit=1&q=cluster:webhook-only",
        Some(VIEWER),
    );
    assert_eq!(search.status, 200, "{}", search.text());
    assert_eq!(search.json()["total"], 150);

    // Falco's http_output goes to its own route.
    let falco = serde_json::json!({
        "output": "10:00:01.000000000: Notice A shell was spawned in a container (user=root container_id=abc123 container_name=web)",
        "priority": "Notice", "rule": "Terminal shell in container", "time": "2026-03-01T10:00:01.000000000Z",
        "output_fields": {"container.id": "abc123", "k8s.ns.name": "shop", "k8s.pod.name": "web-0", "proc.cmdline": "sh"},
        "hostname": "node-1", "source": "syscall", "tags": ["container", "shell"]
    });
    let answer = post_json(address, "/api/v1/ingest/falco", Some(INGEST), &falco);
    assert_eq!(answer.status, 200, "{}", answer.text());
    // The wrong kind of event for a route is refused, and kept as a dead letter.
    let wrong = post_json(address, "/api/v1/ingest/falco", Some(INGEST), &batch(200));
    assert_eq!(wrong.status, 400, "{}", wrong.text());
    assert_eq!(get(address, "/readyz", None).status, 200);

    drop(server);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        sql_value(
            &data,
            "select count(*) as n from events where source = 'k8s_audit'"
        ),
        "150"
    );
    assert_eq!(
        sql_value(&data, "select count(distinct event_id) as n from events"),
        "151"
    );
    assert_eq!(
        sql_value(
            &data,
            "select count(*) as n from events where cluster = 'webhook-only'"
        ),
        "151"
    );
    let alerted = std::fs::read_to_string(&alerts).unwrap();
    assert!(
        alerted.contains("\"rule_id\":\"k8s.pod_exec\""),
        "no exec alert from pushed events:\n{alerted}"
    );
    let dead_letters = std::fs::read_dir(data.join("dead_letters"))
        .unwrap()
        .flatten()
        .count();
    assert!(dead_letters > 0, "the refused body is not a dead letter");
}
