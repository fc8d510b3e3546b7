//! `GET /api/v1/alerts` (list, filter, group), `POST /api/v1/alerts/{id}/ack` and
//! `GET /api/v1/rules`.
//!
//! Acknowledgements are kept in `_api/acks.jsonl` under the data directory: appended and
//! fsynced before the answer, loaded at start. The first acknowledgement of an alert stands.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::Extension;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use datafusion::functions_aggregate::expr_fn::{count, max, min};
use datafusion::logical_expr::{Expr, col, lit};
use serde::{Deserialize, Serialize};

use crate::extract::ApiQuery;
use crate::query_log::QueryNote;
use crate::routes_events::{check_id, time_literal};
use crate::{ApiError, ApiState, Principal};

/// Who acknowledged an alert, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub alert_id: String,
    pub by: String,
    pub at: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// The persisted acknowledgements.
#[derive(Debug)]
pub struct AckStore {
    path: PathBuf,
    state: Mutex<(HashMap<String, Ack>, Option<File>)>,
}

impl AckStore {
    /// Loads `path` (JSON lines; unreadable lines are skipped with a warning).
    pub fn open(path: &Path) -> Result<AckStore, ApiError> {
        let mut acks = HashMap::new();
        match File::open(path) {
            Ok(file) => {
                for (number, line) in BufReader::new(file).lines().enumerate() {
                    let line = line.map_err(io_error("read", path))?;
                    match serde_json::from_str::<Ack>(&line) {
                        Ok(ack) => {
                            acks.entry(ack.alert_id.clone()).or_insert(ack);
                        }
                        Err(error) => tracing::warn!(
                            path = %path.display(), line = number + 1, %error,
                            "skipping an unreadable acknowledgement"
                        ),
                    }
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_error("read", path)(error)),
        }
        Ok(AckStore {
            path: path.to_owned(),
            state: Mutex::new((acks, None)),
        })
    }

    pub fn get(&self, alert_id: &str) -> Option<Ack> {
        self.lock().0.get(alert_id).cloned()
    }

    /// The ids of every acknowledged alert.
    pub fn ids(&self) -> Vec<String> {
        self.lock().0.keys().cloned().collect()
    }

    /// Records `ack` durably unless the alert is already acknowledged; returns the
    /// acknowledgement that stands and whether it is new.
    pub fn ack(&self, ack: Ack) -> Result<(Ack, bool), ApiError> {
        let mut state = self.lock();
        if let Some(existing) = state.0.get(&ack.alert_id) {
            return Ok((existing.clone(), false));
        }
        if state.1.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent).map_err(io_error("write", &self.path))?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(io_error("write", &self.path))?;
            state.1 = Some(file);
        }
        let mut line = serde_json::to_vec(&ack).map_err(|e| ApiError::internal(e.to_string()))?;
        line.push(b'\n');
        let file = state.1.as_mut().expect("opened above");
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(io_error("write", &self.path))?;
        state.0.insert(ack.alert_id.clone(), ack.clone());
        Ok((ack, true))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<String, Ack>, Option<File>)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn io_error<'p>(action: &'static str, path: &'p Path) -> impl Fn(std::io::Error) -> ApiError + 'p {
    move |source| ApiError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];
const GROUP_COLUMNS: [&str; 8] = [
    "rule_id",
    "severity",
    "actor",
    "cluster",
    "namespace",
    "resource",
    "name",
    "source",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    from: Option<String>,
    to: Option<String>,
    /// Comma-separated rule ids.
    rule_id: Option<String>,
    /// Alerts at or above this severity.
    min_severity: Option<String>,
    namespace: Option<String>,
    cluster: Option<String>,
    actor: Option<String>,
    /// `true`: only acknowledged; `false`: only open.
    acked: Option<bool>,
    /// Comma-separated columns: one row per group with a count instead of one per alert.
    group_by: Option<String>,
    limit: Option<usize>,
    /// From the previous page's `next_cursor`.
    cursor: Option<String>,
}

fn filters(state: &ApiState, params: &ListParams) -> Result<Vec<Expr>, ApiError> {
    let mut filters = Vec::new();
    let (from, to) = crate::time::range(params.from.as_deref(), params.to.as_deref())?;
    if let Some(from) = from {
        filters.push(col("time").gt_eq(time_literal(from)));
    }
    if let Some(to) = to {
        filters.push(col("time").lt(time_literal(to)));
    }
    if let Some(rules) = &params.rule_id {
        let list = rules.split(',').map(|r| lit(r.trim().to_owned())).collect();
        filters.push(col("rule_id").in_list(list, false));
    }
    if let Some(min) = &params.min_severity {
        let position = SEVERITIES.iter().position(|s| s == min).ok_or_else(|| {
            ApiError::bad_request(format!(
                "min_severity must be one of {}",
                SEVERITIES.join(", ")
            ))
        })?;
        let list = SEVERITIES[position..].iter().map(|s| lit(*s)).collect();
        filters.push(col("severity").in_list(list, false));
    }
    for (column, value) in [
        ("namespace", &params.namespace),
        ("cluster", &params.cluster),
        ("actor", &params.actor),
    ] {
        if let Some(value) = value {
            filters.push(col(column).eq(lit(value.clone())));
        }
    }
    if let Some(acked) = params.acked {
        let ids: Vec<Expr> = state.inner.acks.ids().into_iter().map(lit).collect();
        match (acked, ids.is_empty()) {
            (true, true) => filters.push(lit(false)),
            (false, true) => {}
            (acked, false) => filters.push(col("alert_id").in_list(ids, !acked)),
        }
    }
    Ok(filters)
}

fn parse_cursor(cursor: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::bad_request("cursor is not one this API gave out");
    let (time, id) = cursor.split_once('_').ok_or_else(bad)?;
    check_id("cursor", id).map_err(|_| bad())?;
    Ok((time.parse().map_err(|_| bad())?, id.to_owned()))
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    let context = state.scoped_sql(&principal.scope).await?;
    let mut frame = context.table("alerts").await?;
    for filter in filters(&state, &params)? {
        frame = frame.filter(filter)?;
    }
    if let Some(group_by) = &params.group_by {
        let columns: Vec<&str> = group_by.split(',').map(str::trim).collect();
        if let Some(bad) = columns.iter().find(|c| !GROUP_COLUMNS.contains(c)) {
            return Err(ApiError::bad_request(format!(
                "cannot group by {bad:?}; use {}",
                GROUP_COLUMNS.join(", ")
            )));
        }
        let frame = frame
            .aggregate(
                columns.iter().map(|c| col(*c)).collect(),
                vec![
                    count(lit(1)).alias("count"),
                    min(col("time")).alias("first_time"),
                    max(col("time")).alias("last_time"),
                    max(col("alert_id")).alias("sample_alert_id"),
                ],
            )?
            .sort(vec![
                col("count").sort(false, true),
                col("last_time").sort(false, true),
            ])?
            .limit(0, Some(limit))?;
        let mut groups = Vec::new();
        for batch in frame.collect().await? {
            groups.extend(
                query::batch_rows(&batch)?
                    .into_iter()
                    .map(serde_json::Value::Object),
            );
        }
        return Ok(axum::Json(serde_json::json!({ "groups": groups })).into_response());
    }
    let total_frame = frame
        .clone()
        .aggregate(vec![], vec![count(lit(1)).alias("n")])?;
    if let Some(cursor) = &params.cursor {
        let (time, id) = parse_cursor(cursor)?;
        frame = frame.filter(
            col("time").lt(time_literal(time)).or(col("time")
                .eq(time_literal(time))
                .and(col("alert_id").lt(lit(id)))),
        )?;
    }
    let frame = frame
        .sort(vec![
            col("time").sort(false, false),
            col("alert_id").sort(false, false),
        ])?
        .limit(0, Some(limit + 1))?;
    let mut alerts = Vec::new();
    for batch in frame.collect().await? {
        for mut row in query::batch_rows(&batch)? {
            if let Some(serde_json::Value::String(fields)) = row.get("fields")
                && let Ok(parsed) = serde_json::from_str::<serde_json::Value>(fields)
            {
                row.insert("fields".to_owned(), parsed);
            }
            let id = row
                .get("alert_id")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let ack = state.inner.acks.get(&id);
            row.insert(
                "ack".to_owned(),
                serde_json::to_value(ack).unwrap_or_default(),
            );
            alerts.push(row);
        }
    }
    let next_cursor = if alerts.len() > limit {
        alerts.truncate(limit);
        alerts.last().and_then(|row| {
            let time = row.get("time")?.as_str()?;
            let micros = event::parse_rfc3339_micros(time)?;
            Some(format!("{micros}_{}", row.get("alert_id")?.as_str()?))
        })
    } else {
        None
    };
    let total = total_frame
        .collect()
        .await?
        .first()
        .and_then(|batch| query::batch_rows(batch).ok())
        .and_then(|rows| rows.first()?.get("n")?.as_u64())
        .unwrap_or(0);
    let note = QueryNote::new().with("rows", alerts.len());
    let mut response = axum::Json(serde_json::json!({
        "alerts": alerts,
        "total": total,
        "next_cursor": next_cursor,
    }))
    .into_response();
    response.extensions_mut().insert(note);
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckRequest {
    #[serde(default)]
    note: Option<String>,
}

pub(crate) async fn ack(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    UrlPath(alert_id): UrlPath<String>,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    check_id("alert_id", &alert_id)?;
    // The body is optional: none, or `{"note": "..."}`.
    let note = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<AckRequest>(&body)
            .map_err(|error| ApiError::bad_request(format!("invalid body: {error}")))?
            .note
    };
    if note.as_ref().is_some_and(|note| note.len() > 4096) {
        return Err(ApiError::bad_request("note is longer than 4096 bytes"));
    }
    // Only an alert the caller can see can be acknowledged.
    let context = state.scoped_sql(&principal.scope).await?;
    let found = context
        .table("alerts")
        .await?
        .filter(col("alert_id").eq(lit(alert_id.clone())))?
        .limit(0, Some(1))?
        .count()
        .await?;
    if found == 0 {
        return Err(ApiError::not_found(format!("no alert {alert_id}")));
    }
    let (ack, created) = state.inner.acks.ack(Ack {
        alert_id: alert_id.clone(),
        by: principal.name.clone(),
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        note,
    })?;
    let status = if created {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    };
    let mut response = (status, axum::Json(ack)).into_response();
    response
        .extensions_mut()
        .insert(QueryNote::new().with("alert_id", alert_id));
    Ok(response)
}

pub(crate) async fn rules(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let engine = state
        .inner
        .rules
        .get()
        .ok_or_else(|| ApiError::unavailable("rules are not loaded yet"))?
        .borrow()
        .clone();
    let rules: Vec<serde_json::Value> = engine
        .rule_infos()
        .map(|rule| {
            serde_json::json!({
                "id": rule.id,
                "title": rule.title,
                "severity": rule.severity,
                "attack": rule.attack,
                "description": rule.description,
                "source": rule.source,
                "origin": rule.origin,
                "definition": rule.definition,
            })
        })
        .collect();
    Ok(axum::Json(serde_json::json!({ "rules": rules })).into_response())
}
