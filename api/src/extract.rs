//! Extractors whose rejections are JSON `{"error"}` 400s like every other caller mistake.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Query-string parameters; unknown parameters are refused when `T` denies them.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// A JSON body, whatever the `Content-Type` says: `curl -d '{...}'` sends
/// `application/x-www-form-urlencoded`, and a JSON API should still understand it.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => {
                        ApiError::PayloadTooLarge(rejection.body_text())
                    }
                    _ => ApiError::bad_request(rejection.body_text()),
                })?;
        serde_json::from_slice(&body)
            .map(ApiJson)
            .map_err(|error| ApiError::bad_request(format!("invalid JSON body: {error}")))
    }
}
