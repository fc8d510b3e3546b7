//! `GET /api/v1/events/{event_id}`: one stored event with every normalised field and its raw
//! (redacted) body, read from Parquet. The search index, when it has the event, gives its time,
//! which prunes the scan to one hour partition.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{col, lit};

use crate::query_log::QueryNote;
use crate::{ApiError, ApiState, Principal, Scope};

/// An event id as kubetrail makes them: hex digits.
pub(crate) fn check_id(kind: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(format!("{kind} must be hex digits")));
    }
    Ok(())
}

pub(crate) fn time_literal(micros: i64) -> datafusion::logical_expr::Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(micros),
        Some("UTC".into()),
    ))
}

impl ApiState {
    /// Stored events by id (at most `ids.len()`), as JSON objects with `raw` parsed. `times`
    /// bounds the scan when known.
    pub(crate) async fn fetch_events(
        &self,
        scope: &Scope,
        ids: &[String],
        times: Option<(i64, i64)>,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, ApiError> {
        self.fetch_event_columns(scope, ids, times, None).await
    }

    /// [`ApiState::fetch_events`] with only `columns` (all when `None`): fewer columns read
    /// from Parquet for each matching row.
    pub(crate) async fn fetch_event_columns(
        &self,
        scope: &Scope,
        ids: &[String],
        times: Option<(i64, i64)>,
        columns: Option<&[&str]>,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let context = self.scoped_sql(scope).await?;
        let mut frame = context.table("events").await?;
        if let Some((from, to)) = times {
            frame = frame.filter(
                col("time")
                    .gt_eq(time_literal(from))
                    .and(col("time").lt_eq(time_literal(to))),
            )?;
        }
        let list = ids.iter().map(|id| lit(id.clone())).collect();
        frame = frame.filter(col("event_id").in_list(list, false))?;
        if let Some(columns) = columns {
            frame = frame.select_columns(columns)?;
        }
        let batches = frame.collect().await?;
        let mut rows = Vec::new();
        for batch in &batches {
            for mut row in query::batch_rows(batch)? {
                if let Some(serde_json::Value::String(raw)) = row.get("raw")
                    && let Ok(parsed) = serde_json::from_str::<serde_json::Value>(raw)
                {
                    row.insert("raw".to_owned(), parsed);
                }
                rows.push(row);
            }
        }
        Ok(rows)
    }

    /// The time of an event according to the search index, if it is indexed and visible.
    pub(crate) fn indexed_time(&self, scope: &Scope, event_id: &str) -> Option<i64> {
        let searcher = self.inner.searcher.get()?;
        let request = search::SearchRequest {
            query: format!("event_id:{event_id}"),
            limit: 1,
            scope: scope.to_search(),
            ..search::SearchRequest::default()
        };
        searcher
            .search(&request)
            .ok()?
            .hits
            .first()
            .map(|hit| hit.time)
    }
}

pub(crate) async fn event(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(event_id): Path<String>,
) -> Result<Response, ApiError> {
    check_id("event_id", &event_id)?;
    let time = state.indexed_time(&principal.scope, &event_id);
    let ids = [event_id.clone()];
    let mut rows = state
        .fetch_events(&principal.scope, &ids, time.map(|t| (t, t)))
        .await?;
    if rows.is_empty() && time.is_some() {
        // The index and the table disagree on the time (should not happen): look everywhere.
        rows = state.fetch_events(&principal.scope, &ids, None).await?;
    }
    let Some(row) = rows.into_iter().next() else {
        return Err(ApiError::not_found(format!("no event {event_id}")));
    };
    let mut response = axum::Json(serde_json::Value::Object(row)).into_response();
    response
        .extensions_mut()
        .insert(QueryNote::new().with("event_id", event_id));
    Ok(response)
}
