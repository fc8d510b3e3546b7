//! `POST /api/v1/ingest/audit` (the API server's audit webhook: an `EventList`) and
//! `POST /api/v1/ingest/falco` (Falco's `http_output`, or falcosidekick): bodies appended to
//! the write-ahead log through `ingest`'s push sender. The answer comes once the body is
//! fsynced in the log (with the other requests of the moment: group commit), not after the
//! store commit; the pipeline reads the log like a file. A retry of a batch the log holds adds
//! nothing. A full log or disk answers 503 with `Retry-After`, so the sender retries. Bodies
//! may be gzip-compressed (`Content-Encoding: gzip`); compressed or not, a body over
//! `api.max_body_bytes` is refused with 413. Each ingest token names the cluster its events
//! belong to.

use std::io::Read;

use axum::Extension;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::query_log::QueryNote;
use crate::{ApiError, ApiState, IngestClient};

pub(crate) async fn audit(
    State(state): State<ApiState>,
    Extension(client): Extension<IngestClient>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, &headers, body)?;
    ingest(
        &state,
        &client,
        body,
        event::Source::K8sAudit,
        "ingest/audit",
    )
    .await
}

pub(crate) async fn falco(
    State(state): State<ApiState>,
    Extension(client): Extension<IngestClient>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, &headers, body)?;
    ingest(&state, &client, body, event::Source::Falco, "ingest/falco").await
}

/// The body as sent, decompressed when it says it is gzip, at most `api.max_body_bytes`.
fn read_body(
    state: &ApiState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<u8>, ApiError> {
    let max_body = state.inner.config.max_body_bytes;
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the body is larger than {max_body} bytes (api.max_body_bytes)"
        ))
    };
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(body.to_vec()),
        Some("gzip" | "x-gzip") => {
            let mut decompressed = Vec::with_capacity(body.len() * 4);
            flate2::read::MultiGzDecoder::new(&body[..])
                .take(max_body as u64 + 1)
                .read_to_end(&mut decompressed)
                .map_err(|error| ApiError::bad_request(format!("the gzip body: {error}")))?;
            if decompressed.len() > max_body {
                return Err(too_large());
            }
            Ok(decompressed)
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "unsupported Content-Encoding {other:?} (gzip or none)"
        ))),
    }
}

async fn ingest(
    state: &ApiState,
    client: &IngestClient,
    body: Vec<u8>,
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
    let pushed = sender.push(body, from).await.map_err(|error| {
        // A full log or disk, or a stopping process: the sender retries later.
        ApiError::unavailable(error.to_string())
    })?;
    if let Some(reason) = pushed.rejected {
        // The refused body is in the log, durable: it becomes a dead letter, and the sender
        // must not retry it.
        return Err(ApiError::bad_request(reason));
    }
    let mut response =
        axum::Json(serde_json::json!({ "accepted": pushed.accepted })).into_response();
    response.extensions_mut().insert(
        QueryNote::new()
            .with("client", client.name.clone())
            .with("events", pushed.accepted)
            .with("duplicates", pushed.duplicates),
    );
    Ok(response)
}
