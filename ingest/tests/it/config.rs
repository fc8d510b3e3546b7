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

#[test]
fn kafka_tables_parse_with_defaults() {
    let config = parse(
        r#"
        [[kafka]]
        brokers = ["kafka-1:9092", "kafka-2:9092"]
        group = "kubetrail"
        topics = [
          { name = "k8s-audit", format = "audit", cluster = "prod" },
          { name = "falco", format = "falco" },
          { name = "eks-audit", format = "eks_cloudwatch" },
        ]
        [[kafka]]
        brokers = ["kafka.example:9093"]
        group = "kubetrail"
        start_at = "end"
        max_message_bytes = 1048576
        tls = { ca = "/etc/kafka/ca.pem" }
        sasl = { mechanism = "SCRAM-SHA-512", username = "kubetrail", password_env = "KAFKA_PASSWORD" }
        [[kafka.topics]]
        name = "gke-audit"
        format = "gke_cloud_audit"
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    let first = &config.kafka[0];
    assert_eq!(first.client_id, "kubetrail");
    assert_eq!(first.start_at, StartAt::Beginning);
    assert_eq!(first.session_timeout_ms, 45_000);
    assert_eq!(first.topics[0].cluster.as_deref(), Some("prod"));
    assert_eq!(first.topics[2].format, ingest::KafkaFormat::EksCloudwatch);
    assert_eq!(first.topics[2].cluster, None);
    assert_eq!(config.kafka[1].max_message_bytes, Some(1_048_576));
    assert_eq!(config.kafka[1].connection().security_protocol(), "sasl_ssl");
    assert_eq!(
        config.kafka[0].connection().security_protocol(),
        "plaintext"
    );
}

#[test]
fn kafka_tables_reject_unknown_keys_and_bad_values() {
    assert!(
        parse("[[kafka]]\nbrokers = [\"a:1\"]\ngroup = \"g\"\ntopics = []\nbroker = \"x\"\n")
            .is_err()
    );
    assert!(
        parse("[[kafka]]\nbrokers = [\"a:1\"]\ngroup = \"g\"\ntopics = [{ name = \"t\", format = \"syslog\" }]\n")
            .is_err()
    );
    assert!(parse("[[kafka]]\nbrokers = [\"a:1\"]\ngroup = \"g\"\ntopics = [{ name = \"t\", format = \"audit\", partitions = 3 }]\n").is_err());
    let invalid = |body: &str| {
        let text = format!("[[kafka]]\n{body}\n");
        match parse(&text).unwrap().validate() {
            Err(IngestError::InvalidConfig { reason }) => reason,
            other => panic!("expected invalid config for {text:?}, got {other:?}"),
        }
    };
    let topics = "topics = [{ name = \"audit\", format = \"audit\" }]";
    assert_eq!(
        invalid(&format!("brokers = []\ngroup = \"g\"\n{topics}")),
        "ingest.kafka[0]: brokers is empty"
    );
    assert_eq!(
        invalid(&format!("brokers = [\"kafka\"]\ngroup = \"g\"\n{topics}")),
        "ingest.kafka[0]: broker \"kafka\" is not host:port"
    );
    assert_eq!(
        invalid(&format!("brokers = [\"k:1\"]\ngroup = \" \"\n{topics}")),
        "ingest.kafka[0]: group is empty"
    );
    assert_eq!(
        invalid(
            "brokers = [\"k:1\"]\ngroup = \"g\"\ntopics = [{ name = \"a b\", format = \"audit\" }]"
        ),
        "ingest.kafka[0]: topic name \"a b\" is not a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')"
    );
    assert_eq!(
        invalid(&format!(
            "brokers = [\"k:1\"]\ngroup = \"g\"\n{topics}\nsasl = {{ mechanism = \"PLAIN\", username = \"u\" }}"
        )),
        "ingest.kafka[0]: give exactly one of sasl.password_file and sasl.password_env"
    );
    assert!(
        parse(&format!(
            "[[kafka]]\nbrokers = [\"k:1\"]\ngroup = \"g\"\n{topics}\nsasl_username = \"u\"\n"
        ))
        .is_err()
    );
    let twice = format!("brokers = [\"k:1\"]\ngroup = \"g\"\n{topics}\n");
    let text = format!("[[kafka]]\n{twice}[[kafka]]\n{twice}");
    match parse(&text).unwrap().validate() {
        Err(IngestError::InvalidConfig { reason }) => assert_eq!(
            reason,
            "ingest.kafka[1]: topic \"audit\" is read by consumer group \"g\" twice"
        ),
        other => panic!("{other:?}"),
    }
}
