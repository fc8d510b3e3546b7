//! The `[ingest]` table of the config file: parsed once with serde, then validated.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::IngestError;

/// Settings of the file sources (`[ingest]` in the TOML config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Groups of files to follow (`[[ingest.files]]`).
    #[serde(default)]
    pub files: Vec<FileGroup>,
    /// Kafka consumer groups to read (`[[ingest.kafka]]`).
    #[serde(default)]
    pub kafka: Vec<KafkaSourceConfig>,
    /// Keep `RequestReceived` stage events (dropped by default).
    #[serde(default)]
    pub keep_request_received: bool,
    /// Longest accepted line; longer lines become dead letters without being buffered.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Where to start in files that no checkpoint knows, found when the tailer starts.
    #[serde(default)]
    pub start_at: StartAt,
    /// How often globs are rescanned and sizes checked, as a backup for filesystem events.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// A batch is sent once it holds this many events.
    #[serde(default = "default_batch_max_events")]
    pub batch_max_events: usize,
    /// A partial batch is sent after waiting this long.
    #[serde(default = "default_batch_max_wait_ms")]
    pub batch_max_wait_ms: u64,
    /// How many event ids the deduper remembers.
    #[serde(default = "default_dedupe_capacity")]
    pub dedupe_capacity: usize,
}

/// Files sharing a cluster name (`[[ingest.files]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGroup {
    /// File paths or globs (`*`, `?`, `[..]`, `{a,b}`, `**`), absolute or relative to the
    /// working directory.
    pub paths: Vec<String>,
    /// Cluster name given to the events of these files.
    #[serde(default = "default_cluster")]
    pub cluster: String,
}

/// Where to start reading a file that no checkpoint knows, when the tailer starts.
/// Files that appear later (for example after a rotation) are always read from the beginning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    #[default]
    Beginning,
    End,
}

pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 250;
pub const DEFAULT_BATCH_MAX_EVENTS: usize = 4096;
pub const DEFAULT_BATCH_MAX_WAIT_MS: u64 = 200;
pub const DEFAULT_DEDUPE_CAPACITY: usize = 1_000_000;
pub const DEFAULT_CLUSTER: &str = "default";

fn default_max_line_bytes() -> usize {
    DEFAULT_MAX_LINE_BYTES
}
fn default_poll_interval_ms() -> u64 {
    DEFAULT_POLL_INTERVAL_MS
}
fn default_batch_max_events() -> usize {
    DEFAULT_BATCH_MAX_EVENTS
}
fn default_batch_max_wait_ms() -> u64 {
    DEFAULT_BATCH_MAX_WAIT_MS
}
fn default_dedupe_capacity() -> usize {
    DEFAULT_DEDUPE_CAPACITY
}
fn default_cluster() -> String {
    DEFAULT_CLUSTER.to_owned()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            files: Vec::new(),
            kafka: Vec::new(),
            keep_request_received: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            start_at: StartAt::default(),
            poll_interval_ms: DEFAULT_POLL_INTERVAL_MS,
            batch_max_events: DEFAULT_BATCH_MAX_EVENTS,
            batch_max_wait_ms: DEFAULT_BATCH_MAX_WAIT_MS,
            dedupe_capacity: DEFAULT_DEDUPE_CAPACITY,
        }
    }
}

impl Config {
    /// Checks what serde cannot: non-empty groups, valid globs, non-zero sizes.
    pub fn validate(&self) -> Result<(), IngestError> {
        let invalid = |reason: String| Err(IngestError::InvalidConfig { reason });
        for (index, group) in self.files.iter().enumerate() {
            if group.paths.is_empty() {
                return invalid(format!("ingest.files[{index}].paths is empty"));
            }
            if group.cluster.trim().is_empty() {
                return invalid(format!("ingest.files[{index}].cluster is empty"));
            }
            for pattern in &group.paths {
                if pattern.trim().is_empty() {
                    return invalid(format!("ingest.files[{index}].paths holds an empty path"));
                }
                crate::scan::compile_pattern(pattern)?;
            }
        }
        let mut topics = HashSet::new();
        for (index, kafka) in self.kafka.iter().enumerate() {
            kafka.validate(index)?;
            for topic in &kafka.topics {
                if !topics.insert((kafka.group.as_str(), topic.name.as_str())) {
                    return invalid(format!(
                        "ingest.kafka[{index}]: topic {:?} is read by consumer group {:?} twice",
                        topic.name, kafka.group
                    ));
                }
            }
        }
        if self.max_line_bytes == 0 {
            return invalid("max_line_bytes must be greater than 0".to_owned());
        }
        if self.poll_interval_ms == 0 {
            return invalid("poll_interval_ms must be greater than 0".to_owned());
        }
        if self.batch_max_events == 0 {
            return invalid("batch_max_events must be greater than 0".to_owned());
        }
        if self.batch_max_wait_ms == 0 {
            return invalid("batch_max_wait_ms must be greater than 0".to_owned());
        }
        if self.dedupe_capacity == 0 {
            return invalid("dedupe_capacity must be greater than 0".to_owned());
        }
        Ok(())
    }
}

/// One Kafka consumer (`[[ingest.kafka]]`): brokers, a consumer group, its topics, and the
/// TLS and SASL settings a secured cluster needs. Secret values are never in the file: the
/// SASL password is read from a file or an environment variable when the consumer starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// The consumer group. `serve` replicas sharing it (each with its own data directory)
    /// split the partitions between them.
    pub group: String,
    /// The topics to read and what each carries (`[[ingest.kafka.topics]]`).
    pub topics: Vec<KafkaTopic>,
    /// Where to start in a partition that neither the store nor the group's committed offsets
    /// know (and after the broker lost the offset read next).
    #[serde(default)]
    pub start_at: StartAt,
    /// The client id the brokers see (default `kubetrail`).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Longest accepted message (after gzip decompression); longer ones become dead letters.
    /// Default: `ingest.max_line_bytes`.
    #[serde(default)]
    pub max_message_bytes: Option<usize>,
    /// How long the group waits for a silent member before giving its partitions to others.
    #[serde(default = "default_session_timeout_ms")]
    pub session_timeout_ms: u64,
    /// TLS to the brokers (`tls = {}` for the system's CA certificates).
    #[serde(default)]
    pub tls: Option<kafka::Tls>,
    /// SASL authentication; the password comes from a file or an environment variable.
    #[serde(default)]
    pub sasl: Option<kafka::Sasl>,
}

/// One topic of a Kafka source and what its messages hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTopic {
    pub name: String,
    pub format: KafkaFormat,
    /// Cluster name given to the events. For the cloud envelope formats, when left out, the
    /// envelope's own cluster name (EKS log group, GKE resource label, AKS resource id) is
    /// used, and `default` when it names none; for the others it defaults to `default`.
    #[serde(default)]
    pub cluster: Option<String>,
}

/// What the messages of a topic hold; a message of another kind becomes a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaFormat {
    /// An audit `Event`, an `EventList` (the API server's webhook batch) or a JSON array of
    /// events per message.
    Audit,
    /// A Falco `json_output` alert or a falcosidekick payload per message.
    Falco,
    /// A (decompressed, or gzip) CloudWatch Logs subscription message of an EKS cluster.
    EksCloudwatch,
    /// A GKE Cloud Audit Logs `LogEntry` (`protoPayload.serviceName = k8s.io`).
    GkeCloudAudit,
    /// AKS diagnostic records (`{"records": [...]}` or one record).
    AksDiagnostic,
}

impl KafkaFormat {
    /// Whether the format is a cloud envelope, which may name its cluster.
    pub fn is_envelope(self) -> bool {
        matches!(
            self,
            KafkaFormat::EksCloudwatch | KafkaFormat::GkeCloudAudit | KafkaFormat::AksDiagnostic
        )
    }
}

pub const DEFAULT_KAFKA_CLIENT_ID: &str = "kubetrail";
pub const DEFAULT_KAFKA_SESSION_TIMEOUT_MS: u64 = 45_000;

fn default_client_id() -> String {
    DEFAULT_KAFKA_CLIENT_ID.to_owned()
}
fn default_session_timeout_ms() -> u64 {
    DEFAULT_KAFKA_SESSION_TIMEOUT_MS
}

impl KafkaSourceConfig {
    /// What the consumer connects with.
    pub fn connection(&self) -> kafka::Connection<'_> {
        kafka::Connection::new(
            &self.brokers,
            &self.client_id,
            self.tls.as_ref(),
            self.sasl.as_ref(),
        )
    }

    /// Checks what serde cannot; `index` names the table in errors.
    fn validate(&self, index: usize) -> Result<(), IngestError> {
        let invalid = |reason: String| {
            Err(IngestError::InvalidConfig {
                reason: format!("ingest.kafka[{index}]: {reason}"),
            })
        };
        if self.group.trim().is_empty() {
            return invalid("group is empty".to_owned());
        }
        if self.topics.is_empty() {
            return invalid("topics is empty".to_owned());
        }
        let mut names = HashSet::new();
        for topic in &self.topics {
            let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
            if topic.name.is_empty()
                || topic.name.len() > 249
                || topic.name == "."
                || topic.name == ".."
                || !topic.name.chars().all(legal)
            {
                return invalid(format!(
                    "topic name {:?} is not a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')",
                    topic.name
                ));
            }
            if !names.insert(topic.name.as_str()) {
                return invalid(format!("topic {:?} is listed twice", topic.name));
            }
            if topic
                .cluster
                .as_ref()
                .is_some_and(|cluster| cluster.trim().is_empty())
            {
                return invalid(format!("the cluster of topic {:?} is empty", topic.name));
            }
        }
        if self.max_message_bytes == Some(0) {
            return invalid("max_message_bytes must be greater than 0".to_owned());
        }
        if self.session_timeout_ms < 1_000 {
            return invalid("session_timeout_ms must be at least 1000".to_owned());
        }
        if let Err(error) = self.connection().validate() {
            return invalid(error.to_string());
        }
        Ok(())
    }
}
