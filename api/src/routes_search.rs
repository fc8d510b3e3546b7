//! `GET /api/v1/search` (hits newest first, total, histogram, facets; NDJSON/CSV exports)
//! and `GET /api/v1/timeline` (one identity's requests, with what stands out flagged).

use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;

use crate::extract::ApiQuery;
use crate::query_log::QueryNote;
use crate::routes_sql::ExportFormat;
use crate::{ApiError, ApiState, Principal, Role, Scope};

/// Hits per page by default, and at most (exports page internally).
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
const EXPORT_PAGE: usize = 5000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchParams {
    #[serde(default)]
    q: String,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    /// Comma-separated fields.
    facets: Option<String>,
    facet_size: Option<usize>,
    #[serde(default)]
    histogram: bool,
    #[serde(default)]
    format: ExportFormat,
}

fn rfc3339(micros: i64) -> serde_json::Value {
    serde_json::Value::String(event::format_rfc3339_micros(micros))
}

/// A hit as the API shows it: the stored fields with the time in RFC 3339.
pub fn hit_json(hit: &search::Hit) -> serde_json::Value {
    let mut value = serde_json::to_value(hit).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("time".to_owned(), rfc3339(hit.time));
    }
    value
}

/// The facets the UI's search page shows.
const UI_FACETS: [&str; 6] = ["user", "verb", "resource", "namespace", "code", "ip"];

impl ApiState {
    /// Counts the search page's facets over the last week's large segments in the background
    /// (called when the service is ready): the search index keeps them, so the page's first
    /// open does not count them over millions of events.
    pub(crate) fn warm_search(&self) {
        let Ok(searcher) = self.searcher().cloned() else {
            return;
        };
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let week = chrono::Utc::now() - chrono::Duration::days(7);
            let request = search::SearchRequest {
                from: Some(week.timestamp_micros()),
                limit: 0,
                facets: UI_FACETS.map(str::to_owned).to_vec(),
                ..search::SearchRequest::new("*")
            };
            match searcher.search(&request) {
                Ok(answer) => tracing::debug!(
                    events = answer.total,
                    kept = searcher.facet_summaries(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "search facets counted ahead"
                ),
                Err(error) => tracing::debug!(%error, "counting the search facets ahead failed"),
            }
        });
    }

    /// Runs a search off the async threads, bounded by the query time limit.
    pub(crate) async fn run_search(
        &self,
        request: search::SearchRequest,
    ) -> Result<search::SearchResponse, ApiError> {
        let searcher = self.searcher()?.clone();
        let timeout = Duration::from_secs(self.inner.config.query_timeout_secs);
        // One search per core at a time: a burst of broad searches queues instead of
        // crowding out the cheap ones on the blocking pool.
        let permit = tokio::time::timeout(timeout, self.inner.searches.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Timeout("too many searches are running; retry".to_owned()))?
            .map_err(|_| ApiError::unavailable("the server is shutting down"))?;
        let work = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            searcher.search(&request)
        });
        match tokio::time::timeout(timeout, work).await {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(join)) => Err(ApiError::internal(format!("search failed: {join}"))),
            Err(_) => Err(ApiError::Timeout(format!(
                "search took longer than {} s",
                timeout.as_secs()
            ))),
        }
    }
}

fn request_of(
    params: &SearchParams,
    scope: &Scope,
    limit: usize,
) -> Result<search::SearchRequest, ApiError> {
    let (from, to) = crate::time::range(params.from.as_deref(), params.to.as_deref())?;
    let facets: Vec<String> = params
        .facets
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    if facets.len() > 10 {
        return Err(ApiError::bad_request("at most 10 facets"));
    }
    let histogram = if params.histogram {
        let to = to.unwrap_or_else(crate::time::now_micros);
        let from = from.unwrap_or(to - 24 * 3_600_000_000);
        Some(search::histogram_width(from, to))
    } else {
        None
    };
    Ok(search::SearchRequest {
        query: params.q.clone(),
        from,
        to,
        limit,
        cursor: params.cursor.clone(),
        histogram,
        facets,
        facet_size: params.facet_size.unwrap_or(10).clamp(1, 100),
        scope: scope.to_search(),
    })
}

fn response_json(response: &search::SearchResponse) -> serde_json::Value {
    let mut body = serde_json::json!({
        "hits": response.hits.iter().map(hit_json).collect::<Vec<_>>(),
        "total": response.total,
        "next_cursor": response.next_cursor,
        "took_ms": response.took_micros as f64 / 1000.0,
    });
    if !response.histogram.is_empty() {
        body["histogram"] = response
            .histogram
            .iter()
            .map(|bucket| serde_json::json!({ "start": rfc3339(bucket.start), "count": bucket.count }))
            .collect();
    }
    if !response.facets.is_empty() {
        body["facets"] = serde_json::to_value(&response.facets).unwrap_or_default();
    }
    body
}

pub(crate) async fn search(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Response, ApiError> {
    let note = QueryNote::new().with("q", params.q.clone());
    if params.format != ExportFormat::Json {
        principal.require(Role::Analyst)?;
        return export(state, principal, params, note).await;
    }
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let request = request_of(&params, &principal.scope, limit)?;
    let response = state.run_search(request).await?;
    let note = note.with("total", response.total);
    let mut answer = axum::Json(response_json(&response)).into_response();
    answer.extensions_mut().insert(note);
    Ok(answer)
}

/// Fields of a hit, in CSV column order.
const CSV_COLUMNS: [&str; 21] = [
    "time",
    "event_id",
    "cluster",
    "source",
    "verb",
    "user",
    "groups",
    "impersonated_user",
    "actor_kind",
    "source_ips",
    "user_agent",
    "resource",
    "subresource",
    "api_group",
    "namespace",
    "name",
    "response_code",
    "decision",
    "falco_rule",
    "pod_name",
    "rule_ids",
];

fn csv_line(hit: &serde_json::Value) -> String {
    let cells: Vec<String> = CSV_COLUMNS
        .iter()
        .map(|column| {
            let text = match hit.get(*column) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map_or_else(|| item.to_string(), str::to_owned)
                    })
                    .collect::<Vec<_>>()
                    .join(";"),
                Some(other) => other.to_string(),
            };
            if text.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", text.replace('"', "\"\""))
            } else {
                text
            }
        })
        .collect();
    cells.join(",") + "\n"
}

/// Streams every hit of the query (up to the export limit), page by page with the cursor, so
/// memory stays flat whatever the size.
async fn export(
    state: ApiState,
    principal: Principal,
    params: SearchParams,
    note: QueryNote,
) -> Result<Response, ApiError> {
    let max = state.inner.config.export_max_rows;
    let format = params.format;
    let first = request_of(&params, &principal.scope, EXPORT_PAGE.min(max))?;
    // The first page is fetched before answering, so a bad query is a 400, not a broken stream.
    let page = state.run_search(first.clone()).await?;
    let deadline = Instant::now()
        + Duration::from_secs(state.inner.config.query_timeout_secs.saturating_mul(10));
    let header = (format == ExportFormat::Csv).then(|| CSV_COLUMNS.join(",") + "\n");
    let stream = futures::stream::unfold(
        (Some(page), first, 0usize, header),
        move |(page, mut request, sent, header)| {
            let state = state.clone();
            async move {
                if let Some(header) = header {
                    return Some((
                        Ok::<Bytes, std::io::Error>(Bytes::from(header)),
                        (page, request, sent, None),
                    ));
                }
                let page = match page {
                    Some(page) => page,
                    None => return None,
                };
                let mut out = String::new();
                let mut sent = sent;
                for hit in &page.hits {
                    if sent >= max {
                        break;
                    }
                    let json = hit_json(hit);
                    match format {
                        ExportFormat::Csv => out.push_str(&csv_line(&json)),
                        _ => {
                            out.push_str(&json.to_string());
                            out.push('\n');
                        }
                    }
                    sent += 1;
                }
                let next = match page.next_cursor {
                    Some(cursor) if sent < max && Instant::now() < deadline => {
                        request.cursor = Some(cursor);
                        request.limit = EXPORT_PAGE.min(max - sent);
                        match state.run_search(request.clone()).await {
                            Ok(page) => Some(page),
                            Err(error) => {
                                tracing::error!(%error, "export stopped");
                                None
                            }
                        }
                    }
                    _ => None,
                };
                Some((Ok(Bytes::from(out)), (next, request, sent, None)))
            }
        },
    );
    let mut response = (
        [
            (header::CONTENT_TYPE, format.content_type()),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(stream),
    )
        .into_response();
    response.extensions_mut().insert(note.with("export", true));
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimelineParams {
    actor: String,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A query value in double quotes, with `"` and `\` escaped.
pub(crate) fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

pub(crate) async fn timeline(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(params): ApiQuery<TimelineParams>,
) -> Result<Response, ApiError> {
    if params.actor.trim().is_empty() {
        return Err(ApiError::bad_request("actor is required"));
    }
    let actor = quoted(params.actor.trim());
    let search = SearchParams {
        q: format!("user:{actor} OR impersonated_user:{actor}"),
        from: params.from,
        to: params.to,
        limit: params.limit,
        cursor: params.cursor,
        facets: Some("verb,resource,namespace,ip,user_agent,decision".to_owned()),
        facet_size: Some(10),
        histogram: true,
        format: ExportFormat::Json,
    };
    let limit = search.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let request = request_of(&search, &principal.scope, limit)?;
    let response = state.run_search(request).await?;
    let mut entries = Vec::with_capacity(response.hits.len());
    let mut flagged = serde_json::Map::new();
    for hit in &response.hits {
        let mut flags = Vec::new();
        if hit.impersonated_user.is_some() {
            flags.push("impersonation");
        }
        if matches!(
            hit.subresource.as_deref(),
            Some("exec" | "attach" | "portforward")
        ) {
            flags.push("exec_session");
        }
        if hit.decision == Some(event::Decision::Forbid)
            || matches!(hit.response_code, Some(401 | 403))
        {
            flags.push("denied");
        }
        if !hit.rule_ids.is_empty() {
            flags.push("alert");
        }
        for flag in &flags {
            let count = flagged
                .entry((*flag).to_owned())
                .or_insert(serde_json::json!(0));
            *count = serde_json::json!(count.as_u64().unwrap_or(0) + 1);
        }
        let mut entry = hit_json(hit);
        entry["flags"] = serde_json::json!(flags);
        entries.push(entry);
    }
    let summary = response_json(&search::SearchResponse {
        hits: Vec::new(),
        ..response.clone()
    });
    let body = serde_json::json!({
        "actor": params.actor.trim(),
        "entries": entries,
        "total": response.total,
        "next_cursor": response.next_cursor,
        "flagged_on_page": flagged,
        "histogram": summary.get("histogram").cloned().unwrap_or_else(|| serde_json::json!([])),
        "facets": summary.get("facets").cloned().unwrap_or_else(|| serde_json::json!({})),
        "took_ms": response.took_micros as f64 / 1000.0,
    });
    let mut answer = axum::Json(body).into_response();
    answer.extensions_mut().insert(
        QueryNote::new()
            .with("actor", params.actor)
            .with("total", response.total),
    );
    Ok(answer)
}
