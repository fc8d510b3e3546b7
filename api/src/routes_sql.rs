//! `POST /api/v1/sql`: one read-only statement over `events` and `alerts`, as JSON, or
//! streamed as NDJSON or CSV for exports. Restricted tokens query views of their rows only.

use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;

use crate::extract::ApiJson;
use crate::query_log::QueryNote;
use crate::{ApiError, ApiState, Principal};
use query::{column_names, write_csv_header, write_csv_rows, write_jsonl_batch};

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SqlRequest {
    sql: String,
    #[serde(default)]
    format: ExportFormat,
    /// Fewer rows than the server's limit.
    #[serde(default)]
    max_rows: Option<usize>,
}

/// How results come back: one JSON document, or a streamed export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ExportFormat {
    #[default]
    Json,
    Ndjson,
    Csv,
}

impl ExportFormat {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Json => "application/json",
            ExportFormat::Ndjson => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

pub(crate) async fn sql(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiJson(request): ApiJson<SqlRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let note = QueryNote::new()
        .with("sql", request.sql.clone())
        .with("format", format!("{:?}", request.format).to_lowercase());
    let context = state.scoped_sql(&principal.scope).await?;
    let config = &state.inner.config;
    if request.format == ExportFormat::Json {
        let max_rows = request
            .max_rows
            .unwrap_or(config.sql_max_rows)
            .min(config.sql_max_rows);
        let result = query::run_sql(&context, &request.sql, &state.sql_limits(max_rows)).await?;
        let columns: Vec<serde_json::Value> = result
            .schema
            .fields()
            .iter()
            .map(|field| serde_json::json!({ "name": field.name(), "type": field.data_type().to_string() }))
            .collect();
        let mut rows = Vec::with_capacity(result.num_rows());
        for batch in &result.batches {
            rows.extend(
                query::batch_rows(batch)?
                    .into_iter()
                    .map(serde_json::Value::Object),
            );
        }
        let note = note.with("rows", rows.len());
        let mut response = axum::Json(serde_json::json!({
            "columns": columns,
            "row_count": rows.len(),
            "rows": rows,
            "truncated": result.truncated,
            "took_ms": started.elapsed().as_secs_f64() * 1000.0,
        }))
        .into_response();
        response.extensions_mut().insert(note);
        return Ok(response);
    }
    let max_rows = request
        .max_rows
        .unwrap_or(config.export_max_rows)
        .min(config.export_max_rows);
    let limits = state.sql_limits(max_rows);
    let (schema, stream) = query::stream_sql(&context, &request.sql, &limits).await?;
    let names = column_names(&schema);
    let format = request.format;
    let deadline =
        Instant::now() + Duration::from_secs(config.query_timeout_secs.saturating_mul(10));
    let header = match format {
        ExportFormat::Csv => {
            let mut out = Vec::new();
            write_csv_header(&names, &mut out)?;
            Some(Ok::<Bytes, std::io::Error>(Bytes::from(out)))
        }
        _ => None,
    };
    let rows = stream
        .take_while(move |_| std::future::ready(Instant::now() < deadline))
        .map(move |batch| {
            let batch = batch.map_err(|error| std::io::Error::other(query::stream_error(error)))?;
            let mut out = Vec::new();
            let written = match format {
                ExportFormat::Csv => write_csv_rows(&names, &batch, &mut out),
                _ => write_jsonl_batch(&batch, &mut out),
            };
            written.map_err(std::io::Error::other)?;
            Ok(Bytes::from(out))
        });
    let body = Body::from_stream(futures::stream::iter(header).chain(rows));
    let mut response = (
        [
            (header::CONTENT_TYPE, format.content_type()),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response();
    response.extensions_mut().insert(note.with("export", true));
    Ok(response)
}
