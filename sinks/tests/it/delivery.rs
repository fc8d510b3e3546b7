//! Delivery through the outbox to real HTTP servers on 127.0.0.1 and to files.

use std::time::Duration;

use crate::common::{
    Reply, TestServer, alert, alerts, closed_port, eventually, ids, sinks_from_toml, webhook,
};
use event::{Alert, Severity};
use sinks::{Outbox, OutboxOptions, SinkMetrics};

const WAIT: Duration = Duration::from_secs(10);

fn metrics_of(outbox: &Outbox, sink: &str) -> SinkMetrics {
    outbox
        .metrics()
        .into_iter()
        .find(|(name, _)| name == sink)
        .map(|(_, metrics)| metrics)
        .unwrap_or_else(|| panic!("no sink {sink}"))
}

fn segment_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("segments")).unwrap().count()
}

#[tokio::test]
async fn webhook_posts_the_contract_json_array_with_its_headers() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(&format!(
        r#"
[[sinks]]
kind = "webhook"
name = "siem"
url = "{}"
headers = {{ Authorization = "Bearer s3cr3t", "X-Tenant" = "blue" }}
"#,
        server.url("/ingest?source=kubetrail")
    ));
    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    let sent = alerts(0..3);
    outbox.enqueue(&sent).await.unwrap();
    outbox.drain(WAIT).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/ingest?source=kubetrail");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("authorization"), Some("Bearer s3cr3t"));
    assert_eq!(request.header("x-tenant"), Some("blue"));
    assert!(
        request
            .header("user-agent")
            .unwrap()
            .starts_with("kubetrail/")
    );
    // The body is exactly the contract JSON of the alerts, as an array.
    assert_eq!(request.json(), serde_json::to_value(&sent).unwrap());
    let received: Vec<Alert> = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(received, sent);
    outbox.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn slack_message_has_fallback_text_and_blocks() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(&format!(
        r#"
[[sinks]]
kind = "slack"
name = "chat"
url = "{}"
"#,
        server.url("/services/T000/B000/XXXX")
    ));
    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    let mut critical = alert(7, Severity::Critical);
    critical.namespace = None;
    outbox
        .enqueue(&[alert(1, Severity::High), critical])
        .await
        .unwrap();
    outbox.drain(WAIT).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1, "both alerts fit one message");
    assert_eq!(requests[0].path, "/services/T000/B000/XXXX");
    let message = requests[0].json();
    let text = message["text"].as_str().unwrap();
    assert!(text.starts_with("2 kubetrail alerts: [HIGH] Privileged pod created #1; [CRITICAL]"));

    let blocks = message["blocks"].as_array().unwrap();
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "header", "section", "section", "context", "divider", "header", "section", "section",
            "context"
        ]
    );
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(
        blocks[0]["text"]["text"],
        ":red_circle: HIGH: Privileged pod created #1"
    );
    // Slack's control characters are escaped in mrkdwn.
    assert_eq!(
        blocks[1]["text"]["text"],
        "alice@example.com created privileged pod payments/miner-1 &lt;&amp;&gt;"
    );
    let fields: Vec<&str> = blocks[2]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "*Severity*\nhigh",
            "*Rule*\n`privileged-pod-created`",
            "*Actor*\nalice@example.com",
            "*Cluster*\nprod-eu",
            "*Namespace*\npayments",
            "*Object*\npods/miner-1",
            "*ATT&amp;CK*\nT1610, T1611",
        ]
    );
    let context = blocks[3]["elements"][0]["text"].as_str().unwrap();
    assert!(
        context.contains(&format!("alert_id `{:032x}`", 1)),
        "{context}"
    );
    assert_eq!(
        blocks[5]["text"]["text"],
        ":rotating_light: CRITICAL: Privileged pod created #7"
    );
    assert_eq!(blocks[7]["fields"][4]["text"], "*Namespace*\n-");
    outbox.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn alertmanager_gets_postable_alerts_at_api_v2_alerts() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(&format!(
        r#"
[[sinks]]
kind = "alertmanager"
name = "am"
url = "{}"
generator_url = "https://kubetrail.example.com/alerts/{{alert_id}}"
"#,
        server.url("/alertmanager/")
    ));
    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    let mut bare = alert(2, Severity::Low);
    bare.namespace = None;
    bare.actor = None;
    bare.attack.clear();
    outbox
        .enqueue(&[alert(1, Severity::High), bare])
        .await
        .unwrap();
    outbox.drain(WAIT).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/alertmanager/api/v2/alerts");
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    let expected = serde_json::json!([
        {
            "labels": {
                "alertname": "privileged-pod-created",
                "severity": "high",
                "cluster": "prod-eu",
                "namespace": "payments",
                "rule_id": "privileged-pod-created",
                "source": "k8s_audit",
            },
            "annotations": {
                "summary": "alice@example.com created privileged pod payments/miner-1 <&>",
                "title": "Privileged pod created #1",
                "actor": "alice@example.com",
                "attack": "T1610,T1611",
                "alert_id": format!("{:032x}", 1),
            },
            "startsAt": "2026-03-01T12:00:01Z",
            "generatorURL": format!("https://kubetrail.example.com/alerts/{:032x}", 1),
        },
        {
            "labels": {
                "alertname": "privileged-pod-created",
                "severity": "low",
                "cluster": "prod-eu",
                "rule_id": "privileged-pod-created",
                "source": "k8s_audit",
            },
            "annotations": {
                "summary": "alice@example.com created privileged pod payments/miner-2 <&>",
                "title": "Privileged pod created #2",
                "alert_id": format!("{:032x}", 2),
            },
            "startsAt": "2026-03-01T12:00:02Z",
            "generatorURL": format!("https://kubetrail.example.com/alerts/{:032x}", 2),
        },
    ]);
    assert_eq!(requests[0].json(), expected);
    outbox.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn destination_down_then_up_gets_every_alert_once_in_order() {
    let addr = closed_port().await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(&webhook("siem", &format!("http://{addr}/hook")));
    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    let first = alerts(0..3);
    let second = alerts(3..5);
    outbox.enqueue(&first).await.unwrap();
    outbox.enqueue(&second).await.unwrap();
    eventually(WAIT, "failed attempts", || {
        metrics_of(&outbox, "siem").failed_attempts >= 2
    })
    .await;
    let down = metrics_of(&outbox, "siem");
    assert_eq!(down.delivered, 0);
    assert_eq!(down.pending, 5);
    assert!(down.last_error.unwrap().contains("failed"));

    let server = TestServer::start_on(addr).await;
    outbox.drain(WAIT).await.unwrap();
    assert_eq!(
        server.accepted_alert_ids(),
        ids(&[first, second].concat()),
        "every alert once, in order"
    );
    let up = metrics_of(&outbox, "siem");
    assert_eq!(up.delivered, 5);
    assert_eq!(up.pending, 0);
    assert!(up.retries >= 2);
    assert!(up.last_success.is_some());
    outbox.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn server_errors_are_retried_until_accepted_and_counted() {
    let server = TestServer::start().await;
    server.script([
        Reply::status(500).with_body("database is down"),
        Reply::status(502),
        Reply::status(503),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(&webhook("siem", &server.url("/hook")));
    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    let sent = alerts(0..4);
    outbox.enqueue(&sent).await.unwrap();
    outbox.drain(WAIT).await.unwrap();

    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 502, 503, 200]);
    // Every attempt carried the same batch; only the last was accepted.
    for request in server.requests() {
        assert_eq!(request.json(), serde_json::to_value(&sent).unwrap());
    }
    assert_eq!(server.accepted_alert_ids(), ids(&sent));

    let metrics = metrics_of(&outbox, "siem");
    assert_eq!(
        (
            metrics.delivered,
            metrics.failed_attempts,
            metrics.retries,
            metrics.pending
        ),
        (4, 3, 3, 0)
    );
    assert!(metrics.last_error.unwrap().contains("HTTP 503"));
    assert!(metrics.last_success >= metrics.last_error_time);
    outbox.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn retry_after_is_honoured_on_429() {
    let server = TestServer::start().await;
    server.script([Reply::status(429).with_header("retry-after", "1")]);
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(&webhook("siem", &server.url("/hook")));
    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    outbox.enqueue(&alerts(0..1)).await.unwrap();
    outbox.drain(WAIT).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at - requests[0].at;
    // The sink's own backoff is at most 40 ms; Retry-After asked for a second.
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}"
    );
    outbox.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn restart_after_clean_shutdown_loses_nothing_and_repeats_nothing() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(&webhook("siem", &server.url("/hook")));
    let all = alerts(0..6);

    // Delivered before the first shutdown.
    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    outbox.enqueue(&all[0..2]).await.unwrap();
    outbox.drain(WAIT).await.unwrap();
    // Queued while the destination fails, then the process stops.
    server.set_fallback(Some(Reply::status(500)));
    outbox.enqueue(&all[2..5]).await.unwrap();
    eventually(WAIT, "a failed attempt", || {
        metrics_of(&outbox, "siem").failed_attempts >= 1
    })
    .await;
    outbox.shutdown(WAIT).await.unwrap();

    // The destination recovers; a new process opens the same outbox.
    server.set_fallback(None);
    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    assert_eq!(metrics_of(&outbox, "siem").pending, 3);
    outbox.enqueue(&all[5..6]).await.unwrap();
    outbox.drain(WAIT).await.unwrap();
    outbox.shutdown(WAIT).await.unwrap();

    // A third open finds nothing left to send.
    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    assert_eq!(metrics_of(&outbox, "siem").pending, 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    outbox.shutdown(WAIT).await.unwrap();

    assert_eq!(server.accepted_alert_ids(), ids(&all));
}

#[tokio::test]
async fn dropping_the_outbox_mid_way_loses_nothing() {
    let addr = closed_port().await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(&webhook("siem", &format!("http://{addr}/hook")));
    let sent = alerts(0..5);

    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    outbox.enqueue(&sent).await.unwrap();
    eventually(WAIT, "a failed attempt", || {
        metrics_of(&outbox, "siem").failed_attempts >= 1
    })
    .await;
    drop(outbox); // as if the process died: no shutdown

    let server = TestServer::start_on(addr).await;
    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    outbox.drain(WAIT).await.unwrap();
    outbox.shutdown(WAIT).await.unwrap();
    assert_eq!(server.accepted_alert_ids(), ids(&sent));
}

#[tokio::test]
async fn min_severity_filters_per_sink_and_file_sink_writes_contract_lines() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.jsonl");
    let sinks = sinks_from_toml(&format!(
        r#"
[[sinks]]
kind = "file"
name = "archive"
path = "{}"
min_severity = "high"
{}"#,
        file.display(),
        webhook("siem", &server.url("/hook"))
    ));
    let outbox = Outbox::open(dir.path().join("outbox"), &sinks)
        .await
        .unwrap();
    let sent = vec![
        alert(0, Severity::Info),
        alert(1, Severity::High),
        alert(2, Severity::Medium),
        alert(3, Severity::Critical),
    ];
    outbox.enqueue(&sent).await.unwrap();
    outbox.drain(WAIT).await.unwrap();

    let written = std::fs::read_to_string(&file).unwrap();
    let expected: String = [&sent[1], &sent[3]]
        .iter()
        .map(|a| serde_json::to_string(a).unwrap() + "\n")
        .collect();
    assert_eq!(written, expected);
    assert_eq!(server.accepted_alert_ids(), ids(&sent));

    let archive = metrics_of(&outbox, "archive");
    assert_eq!(
        (archive.delivered, archive.filtered, archive.pending),
        (2, 2, 0)
    );
    let siem = metrics_of(&outbox, "siem");
    assert_eq!((siem.delivered, siem.filtered), (4, 0));
    outbox.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output_errors_and_metrics() {
    let server = TestServer::start().await;
    // A destination that echoes what it was sent, credentials included.
    server.set_fallback(Some(
        Reply::status(401).with_body("invalid credentials: Bearer s3cr3t for /hook/t0k3n-path"),
    ));
    let closed = closed_port().await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(&format!(
        r#"
[[sinks]]
kind = "webhook"
name = "echo"
url = "{}"
headers = {{ Authorization = "Bearer s3cr3t" }}
initial_backoff_ms = 10
max_backoff_ms = 20

[[sinks]]
kind = "slack"
name = "down"
url = "http://{closed}/services/T0/B0/sl4ckt0k3n"
initial_backoff_ms = 10
max_backoff_ms = 20
"#,
        server.url("/hook/t0k3n-path")
    ));
    let secrets = ["s3cr3t", "t0k3n-path", "sl4ckt0k3n"];
    let assert_clean = |text: &str| {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret:?} leaked into {text:?}");
        }
    };

    let debug = format!("{sinks:?} {sinks:#?}");
    assert_clean(&debug);
    assert!(debug.contains("[redacted]"));
    assert!(debug.contains(&format!("http://{}/…", server.addr)));

    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    assert_clean(&format!("{outbox:?}"));
    outbox.enqueue(&alerts(0..1)).await.unwrap();
    eventually(WAIT, "failures of both sinks", || {
        outbox.metrics().iter().all(|(_, m)| m.failed_attempts >= 2)
    })
    .await;
    for (name, metrics) in outbox.metrics() {
        let error = metrics.last_error.clone().unwrap();
        assert_clean(&error);
        assert_clean(&format!("{metrics:?}"));
        if name == "echo" {
            assert!(
                error.contains("HTTP 401: invalid credentials: [redacted] for [redacted]"),
                "{error}"
            );
        }
    }
    // Requests did carry the credential.
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer s3cr3t")
    );

    // An invalid header value is reported by name only.
    let invalid = sinks_from_toml(&format!(
        r#"
[[sinks]]
kind = "webhook"
name = "bad"
url = "{}"
headers = {{ Authorization = "Bearer s3cr3t\n" }}
"#,
        server.url("/hook")
    ));
    let error = sinks::validate_sinks(&invalid).unwrap_err().to_string();
    assert!(error.contains("the value of `Authorization` is not a valid header value"));
    assert_clean(&error);
    assert_clean(&format!("{:?}", sinks::validate_sinks(&invalid)));

    let stopped = outbox.shutdown(WAIT).await;
    assert!(stopped.is_ok());
}

#[tokio::test]
async fn delivered_segments_are_deleted_and_undelivered_ones_kept() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(&webhook("siem", &server.url("/hook")));
    // One alert per segment.
    let options = OutboxOptions {
        segment_max_bytes: 1,
    };

    server.set_fallback(Some(Reply::status(500)));
    let outbox = Outbox::open_with_options(dir.path(), &sinks, options)
        .await
        .unwrap();
    for alert in alerts(0..5) {
        outbox.enqueue(&[alert]).await.unwrap();
    }
    assert_eq!(
        segment_files(dir.path()),
        5,
        "nothing delivered, nothing deleted"
    );

    server.set_fallback(None);
    outbox.drain(WAIT).await.unwrap();
    eventually(WAIT, "segment deletion", || segment_files(dir.path()) == 1).await;
    outbox.shutdown(WAIT).await.unwrap();
    assert_eq!(server.accepted_alert_ids(), ids(&alerts(0..5)));
}

#[tokio::test]
async fn a_slow_sink_does_not_hold_back_another() {
    let server = TestServer::start().await;
    let down = closed_port().await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(&format!(
        "{}{}",
        webhook("up", &server.url("/hook")),
        webhook("down", &format!("http://{down}/hook"))
    ));
    let outbox = Outbox::open(dir.path(), &sinks).await.unwrap();
    outbox.enqueue(&alerts(0..3)).await.unwrap();
    eventually(WAIT, "delivery to the healthy sink", || {
        metrics_of(&outbox, "up").delivered == 3
    })
    .await;
    let error = outbox
        .drain(Duration::from_millis(100))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("down"), "{error}");
    assert!(!error.contains("up,"), "{error}");
    assert_eq!(metrics_of(&outbox, "down").pending, 3);
    outbox.shutdown(WAIT).await.unwrap();
}
