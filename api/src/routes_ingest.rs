//! `POST /api/v1/ingest/audit` (the API server's audit webhook: an `EventList`) and
//! `POST /api/v1/ingest/falco` (Falco's `http_output`, or falcosidekick): events pushed to the
//! pipeline through `ingest`'s push source, which decodes them. The answer waits until the
//! events are committed to the store, so a 200 means durable and anything else makes the
//! sender retry (duplicates are dropped by `event_id`). Each ingest token names the cluster
//! its events belong to.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::query_log::QueryNote;
use crate::{ApiError, ApiState, IngestClient};

/// How long an ingest request waits for its commit.
const COMMIT_WAIT: Duration = Duration::from_secs(60);

pub(crate) async fn audit(
    State(state): State<ApiState>,
    Extension(client): Extension<IngestClient>,
    body: Bytes,
) -> Result<Response, ApiError> {
    ingest(
        &state,
        &client,
        &body,
        event::Source::K8sAudit,
        "ingest/audit",
    )
    .await
}

pub(crate) async fn falco(
    State(state): State<ApiState>,
    Extension(client): Extension<IngestClient>,
    body: Bytes,
) -> Result<Response, ApiError> {
    ingest(&state, &client, &body, event::Source::Falco, "ingest/falco").await
}

async fn ingest(
    state: &ApiState,
    client: &IngestClient,
    body: &[u8],
    kind: event::Source,
    route: &str,
) -> Result<Response, ApiError> {
    let sender =
        state.inner.ingest.get().ok_or_else(|| {
            ApiError::unavailable("the pipeline is not accepting pushed events yet")
        })?;
    let from = ingest::PushFrom {
        kind,
        cluster: &client.cluster,
        sender: &format!("api:{route}:{}", client.name),
    };
    let pushed = sender
        .push(body, from)
        .await
        .map_err(|_| ApiError::unavailable("the pipeline is shutting down"))?;
    let rejected = pushed.rejected.clone();
    let accepted = pushed.accepted;
    let durable = tokio::time::timeout(COMMIT_WAIT, pushed.durable()).await;
    if let (Some(reason), Ok(true)) = (rejected, &durable) {
        // The rejected body is kept as a dead letter, durable now (a crash after this
        // answer loses nothing); the sender must not retry it. Until it is durable, the
        // answer is 503 like any other push, so a retry keeps it.
        return Err(ApiError::bad_request(reason));
    }
    match durable {
        Ok(true) => {
            let mut response =
                axum::Json(serde_json::json!({ "accepted": accepted })).into_response();
            response.extensions_mut().insert(
                QueryNote::new()
                    .with("client", client.name.clone())
                    .with("events", accepted),
            );
            Ok(response)
        }
        Ok(false) => Err(ApiError::unavailable(
            "the pipeline stopped before the events were committed; retry",
        )),
        Err(_) => Err(ApiError::unavailable(
            "the events were not committed in time; retry",
        )),
    }
}
