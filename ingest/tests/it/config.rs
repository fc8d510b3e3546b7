//! The `[ingest]` config table: defaults, unknown keys, validation.

use ingest::{Config, IngestError, StartAt};

fn parse(text: &str) -> Result<Config, toml::de::Error> {
    toml::from_str(text)
}

#[test]
fn defaults_fill_what_is_not_given() {
    let config = parse("[[files]]\npaths = [\"/var/log/kubernetes/audit*.log\"]\n").unwrap();
    assert_eq!(config.files[0].cluster, "default");
    assert_eq!(config.max_line_bytes, 16_777_216);
    assert_eq!(config.start_at, StartAt::Beginning);
    assert_eq!(config.poll_interval_ms, 250);
    assert_eq!(config.batch_max_events, 4096);
    assert_eq!(config.batch_max_wait_ms, 200);
    assert_eq!(config.dedupe_capacity, 1_000_000);
    assert!(!config.keep_request_received);
    config.validate().unwrap();
}

#[test]
fn all_keys_parse() {
    let config = parse(
        r#"
        keep_request_received = true
        max_line_bytes = 1024
        start_at = "end"
        poll_interval_ms = 100
        batch_max_events = 10
        batch_max_wait_ms = 50
        dedupe_capacity = 5
        [[files]]
        paths = ["/a.log", "/b/*.log"]
        cluster = "prod"
        "#,
    )
    .unwrap();
    assert_eq!(config.start_at, StartAt::End);
    assert_eq!(config.files[0].paths.len(), 2);
    assert_eq!(config.files[0].cluster, "prod");
    config.validate().unwrap();
}

#[test]
fn unknown_keys_are_rejected() {
    assert!(parse("max_line_byte = 5\n").is_err());
    assert!(parse("[[files]]\npaths = [\"/a\"]\nclusterr = \"x\"\n").is_err());
    assert!(parse("start_at = \"middle\"\n").is_err());
}

#[test]
fn validation_names_the_problem() {
    let invalid = |text: &str| match parse(text).unwrap().validate() {
        Err(IngestError::InvalidConfig { reason }) => reason,
        Err(IngestError::InvalidGlob { pattern, .. }) => format!("glob {pattern}"),
        other => panic!("expected invalid config for {text:?}, got {other:?}"),
    };
    assert_eq!(
        invalid("[[files]]\npaths = []\n"),
        "ingest.files[0].paths is empty"
    );
    assert_eq!(invalid("[[files]]\npaths = [\"/a/[b\"]\n"), "glob /a/[b");
    assert_eq!(
        invalid("max_line_bytes = 0\n"),
        "max_line_bytes must be greater than 0"
    );
    assert_eq!(
        invalid("batch_max_events = 0\n"),
        "batch_max_events must be greater than 0"
    );
    assert_eq!(
        invalid("poll_interval_ms = 0\n"),
        "poll_interval_ms must be greater than 0"
    );
}
