//! One delivery attempt of a batch to a sink's destination, and the retry schedule.
//!
//! HTTP goes through hyper's client over rustls (ring provider, Mozilla's roots from
//! `webpki-roots`); plain `http://` works too. Every error text is passed through the sink's
//! `Redactor`, so it holds no header value and no URL path or query.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::config::{BackoffPolicy, HttpKind, HttpTarget, KafkaTarget, Target};
use crate::error::SinkError;
use crate::payload::{self, QueuedAlert};

/// Longest `Retry-After` honoured; a larger value is taken as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// How much of an error response's body is kept in the error text.
const ERROR_BODY_MAX_CHARS: usize = 300;
/// Response bodies are read (so the connection can be reused) up to this size.
const RESPONSE_BODY_MAX_BYTES: usize = 64 * 1024;
const USER_AGENT_VALUE: &str = concat!("kubetrail/", env!("CARGO_PKG_VERSION"));

/// Sends batches to one destination.
pub(crate) enum Deliverer {
    Stdout,
    File(PathBuf),
    Http(Box<HttpDeliverer>),
    Kafka(Box<KafkaDeliverer>),
}

/// An idempotent producer (`acks=all`): the brokers keep each alert once per send, in order.
pub(crate) struct KafkaDeliverer {
    producer: FutureProducer,
    topic: String,
    timeout: Duration,
}

pub(crate) struct HttpDeliverer {
    target: HttpTarget,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// Why an attempt failed, and what that means for the next one.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: SinkError,
    /// The destination's `Retry-After` (on 429 and 503), used instead of the backoff.
    pub(crate) retry_after: Option<Duration>,
    /// The destination refused the request itself (4xx other than 408 and 429): retrying
    /// will not help until its configuration or ours changes.
    pub(crate) rejected: bool,
}

impl Failure {
    fn transient(error: SinkError) -> Failure {
        Failure {
            error,
            retry_after: None,
            rejected: false,
        }
    }
}

impl Deliverer {
    pub(crate) fn new(target: &Target) -> Result<Deliverer, SinkError> {
        Ok(match target {
            Target::Stdout => Deliverer::Stdout,
            Target::File(path) => Deliverer::File(path.clone()),
            Target::Http(target) => {
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
                    .map_err(|e| SinkError::Transport {
                        endpoint: target.endpoint.clone(),
                        detail: format!("failed to set up TLS: {e}"),
                    })?
                    .https_or_http()
                    .enable_http1()
                    .build();
                let client = Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(30))
                    .build(connector);
                Deliverer::Http(Box::new(HttpDeliverer {
                    target: HttpTarget::clone(target),
                    client,
                }))
            }
            Target::Kafka(target) => Deliverer::Kafka(Box::new(KafkaDeliverer::new(target)?)),
        })
    }

    /// The redacted destination, for logs.
    pub(crate) fn endpoint(&self) -> String {
        match self {
            Deliverer::Stdout => "stdout".to_owned(),
            Deliverer::File(path) => path.display().to_string(),
            Deliverer::Http(http) => http.target.endpoint.clone(),
            Deliverer::Kafka(kafka) => format!("kafka topic {}", kafka.topic),
        }
    }

    /// Makes one attempt to deliver the whole batch.
    pub(crate) async fn deliver(&self, alerts: &[QueuedAlert]) -> Result<(), Failure> {
        match self {
            Deliverer::Stdout => {
                let body = payload::json_lines(alerts);
                run_blocking(move || {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&body)
                        .and_then(|()| out.flush())
                        .map_err(SinkError::Stdout)
                })
                .await
            }
            Deliverer::File(path) => {
                let body = payload::json_lines(alerts);
                let path = path.clone();
                run_blocking(move || {
                    // Reopened for every batch, so a file renamed by log rotation is left
                    // alone and a new one is created.
                    let mut file = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .map_err(|e| SinkError::io("open alert file", &path, e))?;
                    file.write_all(&body)
                        .and_then(|()| file.sync_data())
                        .map_err(|e| SinkError::io("append alerts to", &path, e))
                })
                .await
            }
            Deliverer::Http(http) => http.deliver(alerts).await,
            Deliverer::Kafka(kafka) => kafka.deliver(alerts).await,
        }
    }
}

impl KafkaDeliverer {
    fn new(target: &KafkaTarget) -> Result<KafkaDeliverer, SinkError> {
        let config = &target.config;
        let failed = |detail: String| SinkError::Kafka {
            topic: config.topic.clone(),
            detail,
        };
        let mut client = config
            .connection()
            .client_config()
            .map_err(|error| failed(error.to_string()))?;
        client
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", target.timeout.as_millis().to_string());
        let producer: FutureProducer = client
            .create()
            .map_err(|error| failed(format!("failed to create the producer: {error}")))?;
        Ok(KafkaDeliverer {
            producer,
            topic: config.topic.clone(),
            timeout: target.timeout,
        })
    }

    /// Sends every alert of the batch (key `alert_id`, value the contract JSON) and waits
    /// until the brokers acknowledged them all; any failure fails the batch, which is sent
    /// again whole (receivers deduplicate by `alert_id`).
    async fn deliver(&self, alerts: &[QueuedAlert]) -> Result<(), Failure> {
        let failed = |detail: String| {
            Failure::transient(SinkError::Kafka {
                topic: self.topic.clone(),
                detail,
            })
        };
        let mut deliveries = Vec::with_capacity(alerts.len());
        for queued in alerts {
            let record = FutureRecord::to(&self.topic)
                .key(queued.alert.alert_id.as_str())
                .payload(queued.json.as_str());
            match self.producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((error, _)) => return Err(failed(format!("not queued: {error}"))),
            }
        }
        let acknowledged = async {
            for delivery in deliveries {
                match delivery.await {
                    Ok(Ok(_)) => {}
                    Ok(Err((error, _))) => {
                        return Err(failed(format!("not acknowledged: {error}")));
                    }
                    Err(_) => return Err(failed("the producer dropped a message".to_owned())),
                }
            }
            Ok(())
        };
        tokio::time::timeout(self.timeout + Duration::from_secs(1), acknowledged)
            .await
            .map_err(|_| {
                Failure::transient(SinkError::Timeout {
                    endpoint: format!("kafka topic {}", self.topic),
                    timeout_ms: self.timeout.as_millis().try_into().unwrap_or(u64::MAX),
                })
            })?
    }
}

async fn run_blocking(
    work: impl FnOnce() -> Result<(), SinkError> + Send + 'static,
) -> Result<(), Failure> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Failure::transient),
        Err(join_error) => Err(Failure::transient(SinkError::TaskFailed {
            sink: "writer".to_owned(),
            detail: join_error.to_string(),
        })),
    }
}

impl HttpDeliverer {
    async fn deliver(&self, alerts: &[QueuedAlert]) -> Result<(), Failure> {
        let target = &self.target;
        let body = match &target.kind {
            HttpKind::Webhook => payload::webhook_body(alerts),
            HttpKind::Slack => payload::slack_body(alerts),
            HttpKind::Alertmanager { generator_url } => {
                payload::alertmanager_body(alerts, generator_url.as_deref())
            }
        };
        let mut request = Request::post(target.uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| {
                Failure::transient(SinkError::Transport {
                    endpoint: target.endpoint.clone(),
                    detail: target.redactor.redact(&e.to_string()),
                })
            })?;
        for (name, value) in &target.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }

        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                Failure::transient(SinkError::Transport {
                    endpoint: target.endpoint.clone(),
                    detail: target.redactor.redact(&error_chain(&e)),
                })
            })?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(parse_retry_after);
            // Read the body so the connection can be reused; its text explains errors.
            let body = Limited::new(response.into_body(), RESPONSE_BODY_MAX_BYTES)
                .collect()
                .await
                .map(|collected| collected.to_bytes())
                .unwrap_or_default();
            Ok((status, retry_after, body))
        };
        let (status, retry_after, body) = tokio::time::timeout(target.timeout, exchange)
            .await
            .map_err(|_| {
            Failure::transient(SinkError::Timeout {
                endpoint: target.endpoint.clone(),
                timeout_ms: target.timeout.as_millis().try_into().unwrap_or(u64::MAX),
            })
        })??;

        if status.is_success() {
            return Ok(());
        }
        let honours_retry_after =
            status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
        Err(Failure {
            error: SinkError::HttpStatus {
                endpoint: target.endpoint.clone(),
                status: status.as_u16(),
                detail: target.redactor.redact(&body_excerpt(&body)),
            },
            retry_after: retry_after.filter(|_| honours_retry_after),
            rejected: status.is_client_error()
                && status != StatusCode::REQUEST_TIMEOUT
                && status != StatusCode::TOO_MANY_REQUESTS,
        })
    }
}

/// The error and its sources, joined by `: ` (hyper's own message is only the outermost).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The start of a response body on one line.
fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(ERROR_BODY_MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// `Retry-After` is either whole seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        (date.with_timezone(&Utc) - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Exponential backoff with jitter: each wait is drawn from [d/2, d], where d starts at the
/// initial backoff and doubles after every failure up to the maximum.
#[derive(Debug)]
pub(crate) struct Backoff {
    policy: BackoffPolicy,
    current: Duration,
}

impl Backoff {
    pub(crate) fn new(policy: BackoffPolicy) -> Backoff {
        Backoff {
            policy,
            current: policy.initial,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.current;
        self.current = (self.current * 2).min(self.policy.max);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let half = ceiling_ms / 2;
        Duration::from_millis(half + fastrand::u64(0..=ceiling_ms - half))
    }

    pub(crate) fn reset(&mut self) {
        self.current = self.policy.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_jitter() {
        let mut backoff = Backoff::new(BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(400),
        });
        let ceilings = [100, 200, 400, 400];
        for ceiling in ceilings {
            let delay = backoff.next_delay().as_millis() as u64;
            assert!(
                (ceiling / 2..=ceiling).contains(&delay),
                "{delay} for {ceiling}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
