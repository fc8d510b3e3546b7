//! `/metrics` in the Prometheus text format: the API's own request counts and latencies, plus
//! whatever the rest of the process reports through [`MetricsSource`] (ingest rate, lag, dead
//! letters, alerts by rule, sink deliveries).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::http::ApiState;

/// Something that appends Prometheus text lines (with their `# HELP`/`# TYPE`).
pub trait MetricsSource: Send + Sync {
    fn render(&self, out: &mut String);
}

/// Upper bounds of the latency histogram, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
pub(crate) struct ApiMetrics {
    routes: Mutex<BTreeMap<String, RouteStats>>,
}

impl ApiMetrics {
    pub(crate) fn observe(&self, route: &str, status: u16, elapsed: Duration) {
        let mut routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stats = match routes.get_mut(route) {
            Some(stats) => stats,
            None => routes.entry(route.to_owned()).or_default(),
        };
        *stats.by_status.entry(status).or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(stats.buckets.iter_mut()) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
        stats.count += 1;
        stats.sum += seconds;
    }

    fn render(&self, out: &mut String) {
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        out.push_str("# HELP kubetrail_api_requests_total API requests by route and status.\n");
        out.push_str("# TYPE kubetrail_api_requests_total counter\n");
        for (route, stats) in routes.iter() {
            for (status, count) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "kubetrail_api_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                    label(route)
                );
            }
        }
        out.push_str("# HELP kubetrail_api_request_seconds API request latency by route (queries included).\n");
        out.push_str("# TYPE kubetrail_api_request_seconds histogram\n");
        for (route, stats) in routes.iter() {
            let route = label(route);
            for (bound, count) in BUCKETS.iter().zip(stats.buckets.iter()) {
                let _ = writeln!(
                    out,
                    "kubetrail_api_request_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "kubetrail_api_request_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                stats.count
            );
            let _ = writeln!(
                out,
                "kubetrail_api_request_seconds_sum{{route=\"{route}\"}} {}",
                stats.sum
            );
            let _ = writeln!(
                out,
                "kubetrail_api_request_seconds_count{{route=\"{route}\"}} {}",
                stats.count
            );
        }
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
pub fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(crate) async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let mut out = String::new();
    if let Some(source) = state.inner.sources.get() {
        source.render(&mut out);
    }
    state.inner.metrics.render(&mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
