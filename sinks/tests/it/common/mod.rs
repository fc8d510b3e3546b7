//! A real HTTP server on 127.0.0.1 that records every request and answers from a script,
//! plus alert fixtures.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use event::{Alert, AlertSource, Severity};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sinks::SinkConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as the server saw it, and the status it answered with.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub status: u16,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// A scripted answer; when the script is empty the server answers `200 OK`.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn with_body(mut self, body: &str) -> Reply {
        self.body = body.to_owned();
        self
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    script: VecDeque<Reply>,
    /// Answer every request with this once the script is empty (default 200).
    fallback: Option<Reply>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(addr: SocketAddr) -> TestServer {
        let listener = TcpListener::bind(addr).await.expect("bind test server");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(Arc::clone(&state), request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestServer {
            addr,
            state,
            accept,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next requests with these replies, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Answers every request after the script with `reply` (`None`: 200).
    pub fn set_fallback(&self, reply: Option<Reply>) {
        self.state.lock().unwrap().fallback = reply;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Requests answered with 2xx.
    pub fn accepted(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// `alert_id`s of the webhook requests answered with 2xx, in the order received.
    pub fn accepted_alert_ids(&self) -> Vec<String> {
        self.accepted()
            .iter()
            .flat_map(|r| {
                r.json()
                    .as_array()
                    .expect("webhook body is an array")
                    .iter()
                    .map(|a| a["alert_id"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn stop(self) {
        self.accept.abort();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = request
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let reply = {
        let mut state = state.lock().unwrap();
        let reply = state
            .script
            .pop_front()
            .or_else(|| state.fallback.clone())
            .unwrap_or_else(|| Reply::status(200));
        state.requests.push(Recorded {
            method,
            path,
            headers,
            body,
            status: reply.status,
            at: Instant::now(),
        });
        reply
    };
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(*name, value);
    }
    Ok(response.body(Full::new(Bytes::from(reply.body))).unwrap())
}

/// A free port on 127.0.0.1 with nothing listening (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Polls `condition` every 5 ms until it holds; panics after `timeout`.
pub async fn eventually(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub fn alert(n: u32, severity: Severity) -> Alert {
    let mut fields = serde_json::Map::new();
    fields.insert("image".into(), "evil.example/miner:latest".into());
    Alert {
        alert_id: format!("{n:032x}"),
        rule_id: "privileged-pod-created".into(),
        title: format!("Privileged pod created #{n}"),
        severity,
        time: format!("2026-03-01T12:00:{:02}Z", n % 60),
        event_ids: vec![format!("{:032x}", 1000 + n)],
        audit_ids: vec![format!("audit-{n}")],
        cluster: "prod-eu".into(),
        actor: Some("alice@example.com".into()),
        namespace: Some("payments".into()),
        resource: Some("pods".into()),
        name: Some(format!("miner-{n}")),
        source: AlertSource::K8sAudit,
        attack: vec!["T1610".into(), "T1611".into()],
        summary: format!("alice@example.com created privileged pod payments/miner-{n} <&>"),
        fields,
    }
}

pub fn alerts(range: std::ops::Range<u32>) -> Vec<Alert> {
    range.map(|n| alert(n, Severity::High)).collect()
}

pub fn ids(alerts: &[Alert]) -> Vec<String> {
    alerts.iter().map(|a| a.alert_id.clone()).collect()
}

/// Parses `[[sinks]]` tables the way the binary parses `[[alerts.sinks]]`.
pub fn sinks_from_toml(text: &str) -> Vec<SinkConfig> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Alerts {
        sinks: Vec<SinkConfig>,
    }
    toml::from_str::<Alerts>(text)
        .unwrap_or_else(|e| panic!("invalid sink TOML: {e}"))
        .sinks
}

/// A webhook sink with fast retries.
pub fn webhook(name: &str, url: &str) -> String {
    format!(
        r#"
[[sinks]]
kind = "webhook"
name = "{name}"
url = "{url}"
timeout_ms = 2000
initial_backoff_ms = 10
max_backoff_ms = 40
"#
    )
}
