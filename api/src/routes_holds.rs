//! Legal holds for admins: `GET /api/v1/holds`, `POST /api/v1/holds` and
//! `POST /api/v1/holds/{hold_id}/release`. The same holds file as `kubetrail hold`
//! (`store::holds`), which retention reads at every run; who placed or released a hold is the
//! caller's token name. Only an admin whose token sees every cluster and namespace may change
//! them (a hold decides what nobody may delete).

use axum::Extension;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use store::StoreError;
use store::holds::{self, NewHold};

use crate::extract::ApiQuery;
use crate::query_log::QueryNote;
use crate::{ApiError, ApiState, Principal};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Released holds too.
    #[serde(default)]
    all: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddRequest {
    from: String,
    to: String,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseRequest {
    reason: String,
}

fn unrestricted(principal: &Principal) -> Result<(), ApiError> {
    if principal.scope.is_unrestricted() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "legal holds need a token that sees every cluster and namespace",
        ))
    }
}

fn body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("invalid body: {error}")))
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::InvalidHold { .. } => ApiError::bad_request(error.to_string()),
        StoreError::UnknownHold { .. } => ApiError::not_found(error.to_string()),
        other => ApiError::internal(format!("{other}")),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::internal(format!("holds task failed: {error}")))?
        .map_err(store_error)
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    unrestricted(&principal)?;
    let data_dir = state.inner.data_dir.clone();
    let all = params.all.unwrap_or(false);
    let holds = blocking(move || holds::list(&data_dir)).await?;
    let holds: Vec<_> = holds
        .into_iter()
        .filter(|hold| all || hold.is_active())
        .collect();
    Ok(axum::Json(serde_json::json!({ "holds": holds })).into_response())
}

pub(crate) async fn add(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    request: bytes::Bytes,
) -> Result<Response, ApiError> {
    unrestricted(&principal)?;
    let request: AddRequest = body(&request)?;
    let now = chrono::Utc::now().timestamp_micros();
    let time = |text: &str| {
        crate::parse_time(text, now)
            .ok()
            .and_then(chrono::DateTime::from_timestamp_micros)
            .ok_or_else(|| {
                ApiError::bad_request(format!("{text:?} is not a time (RFC 3339 or 15m, 24h, 7d)"))
            })
    };
    let new = NewHold {
        from: time(&request.from)?,
        to: time(&request.to)?,
        cluster: request.cluster,
        namespace: request.namespace,
        reason: request.reason,
        by: principal.name.clone(),
    };
    let data_dir = state.inner.data_dir.clone();
    let hold = blocking(move || holds::add(&data_dir, new)).await?;
    let note = QueryNote::new().with("hold_id", hold.id.clone());
    let mut response = (axum::http::StatusCode::CREATED, axum::Json(hold)).into_response();
    response.extensions_mut().insert(note);
    Ok(response)
}

pub(crate) async fn release(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    UrlPath(hold_id): UrlPath<String>,
    request: bytes::Bytes,
) -> Result<Response, ApiError> {
    unrestricted(&principal)?;
    let request: ReleaseRequest = body(&request)?;
    let data_dir = state.inner.data_dir.clone();
    let by = principal.name.clone();
    let id = hold_id.clone();
    let hold = blocking(move || holds::release(&data_dir, &id, &by, &request.reason)).await?;
    let mut response = axum::Json(hold).into_response();
    response
        .extensions_mut()
        .insert(QueryNote::new().with("hold_id", hold_id));
    Ok(response)
}
