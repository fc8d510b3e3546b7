//! Sink configuration: what the binary's `[[alerts.sinks]]` tables deserialise into, its
//! validation, and the validated form the delivery tasks run on.
//!
//! Secrets (header values, and URLs, whose path or query often is the credential, as in
//! Slack's incoming webhooks) are wrapped in [`Secret`] and [`HttpUrl`], whose `Debug` output
//! never shows them, and are removed from every error text by [`Redactor`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use event::Severity;
use hyper::Uri;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::error::SinkError;

/// Default wait before the first retry of a failed delivery.
pub const DEFAULT_INITIAL_BACKOFF_MS: u64 = 500;
/// Default longest wait between retries.
pub const DEFAULT_MAX_BACKOFF_MS: u64 = 60_000;
/// Default time limit of one HTTP request, response body included.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Default number of alerts per request of the `webhook` and `alertmanager` sinks.
pub const DEFAULT_HTTP_MAX_BATCH_SIZE: usize = 100;
/// Default number of alerts per Slack message.
pub const DEFAULT_SLACK_MAX_BATCH_SIZE: usize = 5;
/// Most alerts one Slack message can show: Slack allows 50 blocks, an alert takes 4 and a
/// divider separates two alerts.
pub const MAX_SLACK_BATCH_SIZE: usize = 10;
/// Upper bound of `max_batch_size` for the other HTTP sinks.
pub const MAX_HTTP_BATCH_SIZE: usize = 10_000;
/// Alerts written per batch by the `stdout` and `file` sinks.
pub(crate) const LOCAL_BATCH_SIZE: usize = 1_000;

/// One alert sink, as configured. The `kind` key selects the variant.
///
/// Build the runtime form only from a validated configuration: [`validate_sinks`] checks a
/// whole list (names unique, file paths distinct), [`SinkConfig::validate`] one sink.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SinkConfig {
    /// JSON lines (the alert JSON contract) on standard output.
    Stdout(StdoutSinkConfig),
    /// JSON lines appended to a file, fsynced after every batch.
    File(FileSinkConfig),
    /// HTTP POST of a JSON array of contract alerts.
    Webhook(HttpSinkConfig),
    /// A Slack incoming webhook (or a Slack-compatible one, such as Mattermost's).
    Slack(HttpSinkConfig),
    /// Prometheus Alertmanager's `POST /api/v2/alerts`.
    Alertmanager(AlertmanagerSinkConfig),
    /// Contract alert JSON to a Kafka topic, keyed by `alert_id` (idempotent producer,
    /// `acks=all`).
    Kafka(KafkaSinkConfig),
}

/// `kind = "stdout"`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {
    pub name: String,
    #[serde(default)]
    pub min_severity: Option<Severity>,
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

/// `kind = "file"`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    pub name: String,
    /// The file alerts are appended to; created if missing, reopened for every batch so
    /// that log rotation by renaming works.
    pub path: PathBuf,
    #[serde(default)]
    pub min_severity: Option<Severity>,
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

/// `kind = "webhook"` and `kind = "slack"`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    pub name: String,
    /// `http://` or `https://`; credentials belong in `headers`, not in the URL's user info.
    pub url: HttpUrl,
    /// Extra request headers, e.g. `Authorization`. Values are secrets: never logged, never
    /// shown by `Debug`.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    #[serde(default)]
    pub min_severity: Option<Severity>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Alerts per request; defaults to 100 for `webhook` and 5 for `slack` (at most 10).
    #[serde(default)]
    pub max_batch_size: Option<usize>,
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

/// `kind = "alertmanager"`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerSinkConfig {
    pub name: String,
    /// Alertmanager's base URL, e.g. `http://alertmanager:9093`; alerts go to
    /// `<url>/api/v2/alerts`.
    pub url: HttpUrl,
    /// Sent as each alert's `generatorURL`; `{alert_id}` is replaced by the alert's id.
    #[serde(default)]
    pub generator_url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    #[serde(default)]
    pub min_severity: Option<Severity>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Alerts per request; defaults to 100.
    #[serde(default)]
    pub max_batch_size: Option<usize>,
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

/// `kind = "kafka"`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    pub name: String,
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// The topic alerts are written to, one message per alert keyed by its `alert_id`.
    pub topic: String,
    #[serde(default = "default_kafka_client_id")]
    pub client_id: String,
    /// TLS to the brokers (`tls = {}` for the system's CA certificates).
    #[serde(default)]
    pub tls: Option<kafka::Tls>,
    /// SASL authentication; the password comes from a file or an environment variable.
    #[serde(default)]
    pub sasl: Option<kafka::Sasl>,
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// How long a batch may take to be acknowledged by every in-sync replica.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Alerts per batch; defaults to 100.
    #[serde(default)]
    pub max_batch_size: Option<usize>,
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

impl KafkaSinkConfig {
    /// What the producer connects with.
    pub fn connection(&self) -> kafka::Connection<'_> {
        kafka::Connection::new(
            &self.brokers,
            &self.client_id,
            self.tls.as_ref(),
            self.sasl.as_ref(),
        )
    }
}

fn default_kafka_client_id() -> String {
    "kubetrail".to_owned()
}

fn default_initial_backoff_ms() -> u64 {
    DEFAULT_INITIAL_BACKOFF_MS
}

fn default_max_backoff_ms() -> u64 {
    DEFAULT_MAX_BACKOFF_MS
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// A secret string, such as a header value. `Debug` prints `[redacted]`; there is no
/// `Display`, so it cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for building the request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A destination URL. Its path and query may carry a credential (a Slack webhook's path is
/// its token), so `Debug` and [`HttpUrl::redacted`] show only the scheme and host.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn new(url: impl Into<String>) -> HttpUrl {
        HttpUrl(url.into())
    }

    /// The full URL, for building the request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `scheme://host[:port]`, followed by `/…` when the URL has more; safe to log.
    pub fn redacted(&self) -> String {
        match self.0.parse::<Uri>() {
            Ok(uri) => match (uri.scheme_str(), uri.authority()) {
                (Some(scheme), Some(authority)) => {
                    let host_port = authority
                        .as_str()
                        .rsplit_once('@')
                        .map_or(authority.as_str(), |(_, host)| host);
                    let more = uri.path_and_query().is_some_and(|p| p.as_str() != "/");
                    format!("{scheme}://{host_port}{}", if more { "/…" } else { "" })
                }
                _ => "[invalid url]".to_owned(),
            },
            Err(_) => "[invalid url]".to_owned(),
        }
    }
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl SinkConfig {
    /// The sink's name, unique among the configured sinks.
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::Stdout(c) => &c.name,
            SinkConfig::File(c) => &c.name,
            SinkConfig::Webhook(c) | SinkConfig::Slack(c) => &c.name,
            SinkConfig::Alertmanager(c) => &c.name,
            SinkConfig::Kafka(c) => &c.name,
        }
    }

    /// The value of the `kind` key.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::File(_) => "file",
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::Slack(_) => "slack",
            SinkConfig::Alertmanager(_) => "alertmanager",
            SinkConfig::Kafka(_) => "kafka",
        }
    }

    /// Alerts below this severity are not sent to the sink; `None` sends every alert.
    pub fn min_severity(&self) -> Option<Severity> {
        match self {
            SinkConfig::Stdout(c) => c.min_severity,
            SinkConfig::File(c) => c.min_severity,
            SinkConfig::Webhook(c) | SinkConfig::Slack(c) => c.min_severity,
            SinkConfig::Alertmanager(c) => c.min_severity,
            SinkConfig::Kafka(c) => c.min_severity,
        }
    }

    /// Checks this sink's settings; the error names the sink and the key at fault.
    pub fn validate(&self) -> Result<(), SinkError> {
        self.resolve().map(drop)
    }

    /// Validates and turns the configuration into what a delivery task runs on.
    pub(crate) fn resolve(&self) -> Result<ResolvedSink, SinkError> {
        let name = self.name();
        validate_name(name)?;
        let (initial_backoff_ms, max_backoff_ms) = match self {
            SinkConfig::Stdout(c) => (c.initial_backoff_ms, c.max_backoff_ms),
            SinkConfig::File(c) => (c.initial_backoff_ms, c.max_backoff_ms),
            SinkConfig::Webhook(c) | SinkConfig::Slack(c) => {
                (c.initial_backoff_ms, c.max_backoff_ms)
            }
            SinkConfig::Alertmanager(c) => (c.initial_backoff_ms, c.max_backoff_ms),
            SinkConfig::Kafka(c) => (c.initial_backoff_ms, c.max_backoff_ms),
        };
        if initial_backoff_ms == 0 {
            return Err(SinkError::invalid(
                name,
                "`initial_backoff_ms` must be at least 1",
            ));
        }
        if max_backoff_ms < initial_backoff_ms {
            return Err(SinkError::invalid(
                name,
                format!(
                    "`max_backoff_ms` ({max_backoff_ms}) must not be less than \
                     `initial_backoff_ms` ({initial_backoff_ms})"
                ),
            ));
        }
        let target = match self {
            SinkConfig::Stdout(_) => Target::Stdout,
            SinkConfig::File(c) => {
                if c.path.as_os_str().is_empty() {
                    return Err(SinkError::invalid(name, "`path` must not be empty"));
                }
                Target::File(c.path.clone())
            }
            SinkConfig::Webhook(c) => Target::Http(Box::new(resolve_http(
                name,
                HttpKind::Webhook,
                &c.url,
                &c.headers,
                c.timeout_ms,
                c.max_batch_size,
            )?)),
            SinkConfig::Slack(c) => Target::Http(Box::new(resolve_http(
                name,
                HttpKind::Slack,
                &c.url,
                &c.headers,
                c.timeout_ms,
                c.max_batch_size,
            )?)),
            SinkConfig::Alertmanager(c) => {
                if let Some(generator_url) = &c.generator_url {
                    validate_url(name, "generator_url", generator_url)?;
                }
                Target::Http(Box::new(resolve_http(
                    name,
                    HttpKind::Alertmanager {
                        generator_url: c.generator_url.clone(),
                    },
                    &c.url,
                    &c.headers,
                    c.timeout_ms,
                    c.max_batch_size,
                )?))
            }
            SinkConfig::Kafka(c) => Target::Kafka(Box::new(resolve_kafka(name, c)?)),
        };
        Ok(ResolvedSink {
            name: name.to_owned(),
            min_severity: self.min_severity(),
            backoff: BackoffPolicy {
                initial: Duration::from_millis(initial_backoff_ms),
                max: Duration::from_millis(max_backoff_ms),
            },
            target,
        })
    }
}

/// Validates a list of sinks: each one, and that names are unique and no two file sinks
/// share a path.
pub fn validate_sinks(sinks: &[SinkConfig]) -> Result<(), SinkError> {
    resolve_all(sinks).map(drop)
}

pub(crate) fn resolve_all(sinks: &[SinkConfig]) -> Result<Vec<ResolvedSink>, SinkError> {
    let mut names = HashMap::new();
    let mut paths: HashMap<&PathBuf, &str> = HashMap::new();
    let mut resolved = Vec::with_capacity(sinks.len());
    for sink in sinks {
        resolved.push(sink.resolve()?);
        if names.insert(sink.name(), ()).is_some() {
            return Err(SinkError::DuplicateSinkName {
                name: sink.name().to_owned(),
            });
        }
        if let SinkConfig::File(file) = sink
            && let Some(first) = paths.insert(&file.path, &file.name)
        {
            return Err(SinkError::DuplicateFilePath {
                first: first.to_owned(),
                second: file.name.clone(),
                path: file.path.clone(),
            });
        }
    }
    Ok(resolved)
}

/// Names become file names in the outbox directory, so they are kept plain.
fn validate_name(name: &str) -> Result<(), SinkError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    if name.is_empty() || name.len() > 64 || name.starts_with('.') || !name.chars().all(plain) {
        return Err(SinkError::invalid(
            name,
            "`name` must be 1 to 64 characters of A-Z, a-z, 0-9, `-`, `_` and `.`, \
             not starting with `.`",
        ));
    }
    Ok(())
}

fn validate_url(sink: &str, key: &str, url: &str) -> Result<Uri, SinkError> {
    let invalid = |why: &str| SinkError::invalid(sink, format!("`{key}` {why}"));
    let uri: Uri = url
        .parse()
        .map_err(|_| invalid("is not a valid absolute URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(invalid("must start with http:// or https://")),
    }
    let authority = uri.authority().ok_or_else(|| invalid("has no host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid(
            "must not contain user info; put credentials in `headers` instead",
        ));
    }
    if authority.host().is_empty() {
        return Err(invalid("has no host"));
    }
    Ok(uri)
}

fn resolve_http(
    name: &str,
    kind: HttpKind,
    url: &HttpUrl,
    headers: &BTreeMap<String, Secret>,
    timeout_ms: u64,
    max_batch_size: Option<usize>,
) -> Result<HttpTarget, SinkError> {
    let base = validate_url(name, "url", url.expose())?;
    let uri = match kind {
        HttpKind::Alertmanager { .. } => {
            if base.query().is_some() {
                return Err(SinkError::invalid(
                    name,
                    "`url` of an alertmanager sink is a base URL and must not have a query",
                ));
            }
            let full = format!("{}/api/v2/alerts", url.expose().trim_end_matches('/'));
            full.parse::<Uri>()
                .map_err(|_| SinkError::invalid(name, "`url` is not a valid absolute URL"))?
        }
        HttpKind::Webhook | HttpKind::Slack => base,
    };
    if timeout_ms == 0 {
        return Err(SinkError::invalid(name, "`timeout_ms` must be at least 1"));
    }
    let (default_batch, max_batch) = match kind {
        HttpKind::Slack => (DEFAULT_SLACK_MAX_BATCH_SIZE, MAX_SLACK_BATCH_SIZE),
        _ => (DEFAULT_HTTP_MAX_BATCH_SIZE, MAX_HTTP_BATCH_SIZE),
    };
    let max_batch_size = max_batch_size.unwrap_or(default_batch);
    if max_batch_size == 0 || max_batch_size > max_batch {
        return Err(SinkError::invalid(
            name,
            format!("`max_batch_size` must be between 1 and {max_batch}"),
        ));
    }
    let mut header_map = HeaderMap::new();
    let mut secrets = vec![url.expose().to_owned()];
    if let Some(path) = base_path_and_query(url.expose()) {
        secrets.push(path);
    }
    for (key, value) in headers {
        let header_name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
            SinkError::invalid(
                name,
                format!("`headers`: `{key}` is not a valid header name"),
            )
        })?;
        if matches!(
            header_name.as_str(),
            "content-length" | "transfer-encoding" | "host" | "connection"
        ) {
            return Err(SinkError::invalid(
                name,
                format!("`headers`: `{key}` is set by the HTTP client and cannot be configured"),
            ));
        }
        // The error names the header, never its value.
        let mut header_value = HeaderValue::from_str(value.expose()).map_err(|_| {
            SinkError::invalid(
                name,
                format!("`headers`: the value of `{key}` is not a valid header value"),
            )
        })?;
        header_value.set_sensitive(true);
        header_map.insert(header_name, header_value);
        secrets.push(value.expose().to_owned());
        // A server may echo only the credential of `Bearer <token>` or `Basic <token>`.
        if let Some((_, credential)) = value.expose().split_once(' ') {
            secrets.push(credential.trim().to_owned());
        }
    }
    Ok(HttpTarget {
        kind,
        uri,
        headers: header_map,
        timeout: Duration::from_millis(timeout_ms),
        max_batch_size,
        endpoint: url.redacted(),
        redactor: Redactor::new(secrets),
    })
}

fn resolve_kafka(name: &str, config: &KafkaSinkConfig) -> Result<KafkaTarget, SinkError> {
    config
        .connection()
        .validate()
        .map_err(|error| SinkError::invalid(name, error.to_string()))?;
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if config.topic.is_empty() || config.topic.len() > 249 || !config.topic.chars().all(legal) {
        return Err(SinkError::invalid(
            name,
            "`topic` must be 1 to 249 characters of a-z, A-Z, 0-9, `.`, `_` and `-`",
        ));
    }
    if config.timeout_ms == 0 {
        return Err(SinkError::invalid(name, "`timeout_ms` must be at least 1"));
    }
    let max_batch_size = config.max_batch_size.unwrap_or(DEFAULT_HTTP_MAX_BATCH_SIZE);
    if max_batch_size == 0 || max_batch_size > MAX_HTTP_BATCH_SIZE {
        return Err(SinkError::invalid(
            name,
            format!("`max_batch_size` must be between 1 and {MAX_HTTP_BATCH_SIZE}"),
        ));
    }
    Ok(KafkaTarget {
        config: config.clone(),
        timeout: Duration::from_millis(config.timeout_ms),
        max_batch_size,
    })
}

fn base_path_and_query(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    let path = uri.path_and_query()?.as_str();
    (path != "/").then(|| path.to_owned())
}

/// Removes known secrets from text that may contain them (error messages, response bodies).
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// Secrets shorter than 4 bytes are ignored: they would blank out ordinary words.
    fn new(mut secrets: Vec<String>) -> Redactor {
        secrets.retain(|secret| secret.len() >= 4);
        // Longest first, so that a secret containing another is removed whole.
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "[redacted]");
            }
        }
        text
    }
}

/// A validated sink.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedSink {
    pub(crate) name: String,
    pub(crate) min_severity: Option<Severity>,
    pub(crate) backoff: BackoffPolicy,
    pub(crate) target: Target,
}

impl ResolvedSink {
    pub(crate) fn max_batch_size(&self) -> usize {
        match &self.target {
            Target::Stdout | Target::File(_) => LOCAL_BATCH_SIZE,
            Target::Http(http) => http.max_batch_size,
            Target::Kafka(kafka) => kafka.max_batch_size,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct BackoffPolicy {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
}

#[derive(Debug, Clone)]
pub(crate) enum Target {
    Stdout,
    File(PathBuf),
    Http(Box<HttpTarget>),
    Kafka(Box<KafkaTarget>),
}

/// A validated Kafka sink: the producer is built from `config` when the outbox opens.
#[derive(Debug, Clone)]
pub(crate) struct KafkaTarget {
    pub(crate) config: KafkaSinkConfig,
    pub(crate) timeout: Duration,
    pub(crate) max_batch_size: usize,
}

#[derive(Clone)]
pub(crate) struct HttpTarget {
    pub(crate) kind: HttpKind,
    /// The full request URI. Not logged: use `endpoint`.
    pub(crate) uri: Uri,
    /// Values are marked sensitive, so `HeaderMap`'s `Debug` hides them.
    pub(crate) headers: HeaderMap,
    pub(crate) timeout: Duration,
    pub(crate) max_batch_size: usize,
    /// The redacted URL, for logs and errors.
    pub(crate) endpoint: String,
    pub(crate) redactor: Redactor,
}

/// Leaves out the URI and header values.
impl fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTarget")
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("max_batch_size", &self.max_batch_size)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HttpKind {
    Webhook,
    Slack,
    Alertmanager { generator_url: Option<String> },
}
