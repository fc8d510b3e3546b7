//! `/metrics` in the Prometheus text format: the API's own request counts and latencies,
//! registered in the process's registry with everything else (the pipeline's counters, the
//! alert sinks' delivery), which this route encodes whole.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::{ApiError, ApiState};

/// Upper bounds of the latency histogram, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

/// The API's request metrics.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    requests: Family<RouteStatus, Counter>,
    seconds: Family<RouteLabel, Histogram, fn() -> Histogram>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

impl ApiMetrics {
    /// The API's metrics, added to `registry` (prefixed `kubetrail` by the caller).
    pub fn register(registry: &mut Registry) -> ApiMetrics {
        let metrics = ApiMetrics {
            requests: Family::default(),
            seconds: Family::new_with_constructor(latency_histogram),
        };
        registry.register(
            "api_requests",
            "API requests by route and status.",
            metrics.requests.clone(),
        );
        registry.register(
            "api_request_seconds",
            "API request latency by route (queries included).",
            metrics.seconds.clone(),
        );
        metrics
    }

    pub(crate) fn observe(&self, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RouteStatus {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.seconds
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// Everything registered, as Prometheus text.
pub(crate) fn encode(registry: &Arc<Registry>) -> Result<String, ApiError> {
    let mut out = String::new();
    prometheus_text::encode(&mut out, registry)
        .map_err(|_| ApiError::internal("failed to encode the metrics"))?;
    Ok(out)
}

pub(crate) async fn metrics(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    let body = encode(&state.inner.registry)?;
    Ok((
        [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
        body,
    ))
}
