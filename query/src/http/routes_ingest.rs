//! `POST /api/v1/ingest/audit` (the API server's audit webhook: an `EventList`) and
//! `POST /api/v1/ingest/falco` (Falco's `http_output`, or falcosidekick): events pushed to the
//! pipeline. The answer waits until the events are committed to the store, so a 200 means
//! durable and anything else makes the sender retry (duplicates are dropped by `event_id`).
//! Each ingest token names the cluster its events belong to.

use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::http::query_log::QueryNote;
use crate::http::{ApiError, ApiState};

/// How long an ingest request waits for its commit.
const COMMIT_WAIT: Duration = Duration::from_secs(60);

/// Events pushed through the API, on their way into the pipeline.
#[derive(Debug)]
pub struct Pushed {
    pub events: Vec<event::Event>,
    pub dead_letters: Vec<event::DeadLetter>,
    /// Fired once the events are committed.
    pub committed: oneshot::Sender<()>,
}

impl ApiState {
    /// Where pushed events go (the pipeline's detect stage). Without it the ingest routes
    /// answer 503.
    pub fn set_ingest(&self, sender: mpsc::Sender<Pushed>) {
        let _ = self.inner.ingest.set(sender);
    }
}

pub(crate) async fn audit(state: State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    ingest(
        state,
        headers,
        body,
        event::Source::K8sAudit,
        "ingest/audit",
    )
    .await
}

pub(crate) async fn falco(state: State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    ingest(state, headers, body, event::Source::Falco, "ingest/falco").await
}

async fn ingest(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
    source: event::Source,
    route: &str,
) -> Response {
    match ingest_inner(&state, &headers, &body, source, route).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn ingest_inner(
    state: &ApiState,
    headers: &HeaderMap,
    body: &[u8],
    source: event::Source,
    route: &str,
) -> Result<Response, ApiError> {
    let client = state.inner.auth.ingest_client(headers)?;
    let sender =
        state.inner.ingest.get().ok_or_else(|| {
            ApiError::unavailable("the pipeline is not accepting pushed events yet")
        })?;
    let options = event::DecodeOptions {
        cluster: client.cluster.clone(),
        ..event::DecodeOptions::default()
    };
    let mut events = Vec::new();
    let decoded = event::decode_line(body, &options, &mut events);
    let wrong_source = events.iter().any(|event| event.source != source);
    let problem = match (&decoded, wrong_source) {
        (Err(error), _) => Some(error.to_string()),
        (Ok(_), true) => Some(match source {
            event::Source::K8sAudit => {
                "not audit events; Falco events go to /api/v1/ingest/falco".to_owned()
            }
            event::Source::Falco => {
                "not Falco events; audit events go to /api/v1/ingest/audit".to_owned()
            }
        }),
        (Ok(_), false) => None,
    };
    let mut dead_letters = Vec::new();
    if let Some(reason) = &problem {
        events.clear();
        dead_letters.push(event::DeadLetter {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            source: format!("api:{route}:{}", client.name),
            offset: 0,
            length: body.len() as u64,
            reason: reason.clone(),
            excerpt: event::dead_letter_excerpt(body),
        });
    }
    let accepted = events.len();
    let (committed, done) = oneshot::channel();
    sender
        .send(Pushed {
            events,
            dead_letters,
            committed,
        })
        .await
        .map_err(|_| ApiError::unavailable("the pipeline is shutting down"))?;
    if let Some(reason) = problem {
        // The rejected body is kept as a dead letter; the sender must not retry it.
        return Err(ApiError::bad_request(reason));
    }
    match tokio::time::timeout(COMMIT_WAIT, done).await {
        Ok(Ok(())) => {
            let mut response =
                axum::Json(serde_json::json!({ "accepted": accepted })).into_response();
            response.extensions_mut().insert(
                QueryNote::new()
                    .with("client", client.name)
                    .with("events", accepted),
            );
            Ok(response)
        }
        Ok(Err(_)) => Err(ApiError::unavailable(
            "the pipeline stopped before the events were committed; retry",
        )),
        Err(_) => Err(ApiError::unavailable(
            "the events were not committed in time; retry",
        )),
    }
}
