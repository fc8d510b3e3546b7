//! Sink configuration: the TOML the binary accepts, and what validation rejects.

use crate::common::sinks_from_toml;
use event::Severity;
use sinks::{Outbox, SinkConfig, SinkError, validate_sinks};

const EVERY_KIND: &str = r#"
[[sinks]]
kind = "stdout"
name = "console"

[[sinks]]
kind = "file"
name = "archive"
path = "/var/lib/kubetrail/alerts.jsonl"
min_severity = "low"

[[sinks]]
kind = "webhook"
name = "siem"
url = "https://siem.example.com/ingest"
headers = { Authorization = "Bearer s3cr3t", "X-Tenant" = "blue" }
min_severity = "medium"
timeout_ms = 5000
max_batch_size = 200
initial_backoff_ms = 250
max_backoff_ms = 30000

[[sinks]]
kind = "slack"
name = "secops-slack"
url = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX"
min_severity = "high"

[[sinks]]
kind = "alertmanager"
name = "alertmanager"
url = "http://alertmanager.monitoring:9093"
generator_url = "https://kubetrail.example.com/alerts/{alert_id}"
"#;

fn validation_error(toml: &str) -> String {
    let sinks = sinks_from_toml(toml);
    validate_sinks(&sinks)
        .expect_err("configuration should be rejected")
        .to_string()
}

fn parse_error(toml: &str) -> String {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Alerts {
        sinks: Vec<SinkConfig>,
    }
    toml::from_str::<Alerts>(toml)
        .expect_err("configuration should not parse")
        .to_string()
}

#[test]
fn every_kind_parses_with_defaults_and_validates() {
    let sinks = sinks_from_toml(EVERY_KIND);
    validate_sinks(&sinks).unwrap();
    let kinds: Vec<_> = sinks.iter().map(|s| (s.kind(), s.name())).collect();
    assert_eq!(
        kinds,
        [
            ("stdout", "console"),
            ("file", "archive"),
            ("webhook", "siem"),
            ("slack", "secops-slack"),
            ("alertmanager", "alertmanager"),
        ]
    );
    assert_eq!(sinks[0].min_severity(), None);
    assert_eq!(sinks[3].min_severity(), Some(Severity::High));
    let SinkConfig::Slack(slack) = &sinks[3] else {
        panic!("not a slack sink");
    };
    assert_eq!(slack.timeout_ms, sinks::DEFAULT_TIMEOUT_MS);
    assert_eq!(slack.initial_backoff_ms, sinks::DEFAULT_INITIAL_BACKOFF_MS);
    assert_eq!(slack.max_batch_size, None);
}

#[test]
fn unknown_keys_and_kinds_are_rejected_by_the_parser() {
    let unknown_key = parse_error(
        r#"
[[sinks]]
kind = "webhook"
name = "siem"
url = "https://siem.example.com"
retries = 3
"#,
    );
    assert!(
        unknown_key.contains("unknown field `retries`"),
        "{unknown_key}"
    );

    let path_on_webhook = parse_error(
        r#"
[[sinks]]
kind = "webhook"
name = "siem"
url = "https://siem.example.com"
path = "/tmp/x"
"#,
    );
    assert!(
        path_on_webhook.contains("unknown field `path`"),
        "{path_on_webhook}"
    );

    let unknown_kind = parse_error(
        r#"
[[sinks]]
kind = "pagerduty"
name = "pd"
"#,
    );
    assert!(
        unknown_kind.contains("unknown variant `pagerduty`"),
        "{unknown_kind}"
    );

    let bad_severity = parse_error(
        r#"
[[sinks]]
kind = "stdout"
name = "console"
min_severity = "urgent"
"#,
    );
    assert!(bad_severity.contains("urgent"), "{bad_severity}");
}

#[test]
fn validation_names_the_sink_and_the_key() {
    let cases = [
        (
            r#"
[[sinks]]
kind = "stdout"
name = "a"
[[sinks]]
kind = "stdout"
name = "a"
"#,
            "alert sink name `a` is used more than once",
        ),
        (
            r#"
[[sinks]]
kind = "stdout"
name = "../escape"
"#,
            "`name` must be 1 to 64 characters",
        ),
        (
            r#"
[[sinks]]
kind = "webhook"
name = "siem"
url = "ftp://siem.example.com"
"#,
            "alert sink `siem`: `url` must start with http:// or https://",
        ),
        (
            r#"
[[sinks]]
kind = "webhook"
name = "siem"
url = "https://user:pw@siem.example.com/"
"#,
            "`url` must not contain user info",
        ),
        (
            r#"
[[sinks]]
kind = "slack"
name = "chat"
url = "https://hooks.slack.com/services/x"
max_batch_size = 11
"#,
            "`max_batch_size` must be between 1 and 10",
        ),
        (
            r#"
[[sinks]]
kind = "alertmanager"
name = "am"
url = "http://am:9093"
initial_backoff_ms = 500
max_backoff_ms = 100
"#,
            "`max_backoff_ms` (100) must not be less than `initial_backoff_ms` (500)",
        ),
        (
            r#"
[[sinks]]
kind = "webhook"
name = "siem"
url = "https://siem.example.com/"
timeout_ms = 0
"#,
            "`timeout_ms` must be at least 1",
        ),
        (
            r#"
[[sinks]]
kind = "webhook"
name = "siem"
url = "https://siem.example.com/"
headers = { "Content-Length" = "5" }
"#,
            "`headers`: `Content-Length` is set by the HTTP client",
        ),
        (
            r#"
[[sinks]]
kind = "file"
name = "one"
path = "/tmp/alerts.jsonl"
[[sinks]]
kind = "file"
name = "two"
path = "/tmp/alerts.jsonl"
"#,
            "alert sinks `one` and `two` both write to /tmp/alerts.jsonl",
        ),
    ];
    for (toml, expected) in cases {
        let error = validation_error(toml);
        assert!(
            error.contains(expected),
            "expected {expected:?} in {error:?}"
        );
    }
}

#[tokio::test]
async fn open_rejects_an_invalid_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(
        r#"
[[sinks]]
kind = "webhook"
name = "siem"
url = "not a url"
"#,
    );
    let error = Outbox::open(dir.path(), &sinks).await.unwrap_err();
    assert!(
        matches!(&error, SinkError::InvalidConfig { sink, .. } if sink == "siem"),
        "{error}"
    );
}

#[tokio::test]
async fn a_second_outbox_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sinks = sinks_from_toml(
        r#"
[[sinks]]
kind = "file"
name = "archive"
path = "alerts.jsonl"
"#,
    );
    let first = Outbox::open(dir.path(), &sinks).await.unwrap();
    let error = Outbox::open(dir.path(), &sinks).await.unwrap_err();
    assert!(matches!(error, SinkError::Locked { .. }), "{error}");
    first
        .shutdown(std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let reopened = Outbox::open(dir.path(), &sinks).await.unwrap();
    reopened
        .shutdown(std::time::Duration::from_secs(5))
        .await
        .unwrap();
}

#[test]
fn outbox_can_be_shared_between_tasks() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Outbox>();
    assert_send_sync::<SinkError>();
}
