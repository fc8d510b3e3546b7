//! `GET /api/v1/posture?cluster=&namespace=&from=&to=`: the hardening checklist per cluster and
//! namespace, derived from the object bodies the audit stream has shown (the `posture` crate),
//! with evidence event ids and `unknown` where the audit level never showed a body.
//!
//! Two reads of the `events` table: the normalised fields of every write to the resources the
//! checklist reads (no `raw`), then `raw` only for the events that decide an object's state.
//! A namespace-restricted token sees its namespaces (their Namespace objects included) and no
//! cluster-wide section; a cluster restriction limits the clusters.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, Int64Type};
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::DataFrame;
use serde::Deserialize;

use crate::extract::ApiQuery;
use crate::posture_state::{Snapshot, Taken};
use crate::query_log::QueryNote;
use crate::routes_events::time_literal;
use crate::{ApiError, ApiState, Principal};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PostureParams {
    cluster: Option<String>,
    namespace: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Accept a report made up to this many seconds ago, even if writes arrived since (it
    /// says `stale: true`, and a newer one is made meanwhile). Without it, the answer is
    /// current.
    max_age_secs: Option<u64>,
}

/// The columns of the first read, in this order.
const META_COLUMNS: [&str; 10] = [
    "event_id",
    "time",
    "cluster",
    "resource",
    "namespace",
    "name",
    "verb",
    "response_code",
    "user",
    "request_uri",
];

fn in_list(column: &str, values: &[String]) -> Expr {
    col(column).in_list(values.iter().map(|v| lit(v.clone())).collect(), false)
}

/// Rows of `namespaces` (a Namespace object's own name counts as its namespace).
fn in_namespaces(namespaces: &[String]) -> Expr {
    in_list("namespace", namespaces).or(col("resource")
        .eq(lit("namespaces"))
        .and(in_list("name", namespaces)))
}

/// A string column as `Utf8` whatever the reader made of it (views, dictionaries).
fn strings(batch: &RecordBatch, name: &str) -> Result<Arc<dyn Array>, ApiError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ApiError::internal(format!("column {name} is missing")))?;
    cast_to(column, &DataType::Utf8)
}

fn cast_to(array: &dyn Array, to: &DataType) -> Result<Arc<dyn Array>, ApiError> {
    cast(array, to).map_err(|error| ApiError::internal(format!("reading events: {error}")))
}

/// Reads every write's fields that `filter` admits from `events` (the table, or some of its
/// files) into a selection; the number of writes.
pub(crate) async fn scan(
    events: DataFrame,
    filter: &Expr,
) -> Result<(posture::Selection, u64), ApiError> {
    let frame = events
        .filter(filter.clone())?
        .select_columns(&META_COLUMNS)?;
    let batches = frame.collect().await?;
    let mut selection = posture::Selection::default();
    let mut rows = 0;
    for batch in &batches {
        let columns: Vec<Arc<dyn Array>> = META_COLUMNS
            .iter()
            .filter(|name| !matches!(**name, "time" | "response_code"))
            .map(|name| strings(batch, name))
            .collect::<Result<_, _>>()?;
        let text = |index: usize, row: usize| {
            let column = columns[index].as_string::<i32>();
            (!column.is_null(row)).then(|| column.value(row))
        };
        let time = cast_to(
            batch
                .column_by_name("time")
                .ok_or_else(|| ApiError::internal("column time is missing"))?,
            &DataType::Int64,
        )?;
        let time = time.as_primitive::<Int64Type>();
        let code = cast_to(
            batch
                .column_by_name("response_code")
                .ok_or_else(|| ApiError::internal("column response_code is missing"))?,
            &DataType::Int32,
        )?;
        let code = code.as_primitive::<Int32Type>();
        for row in 0..batch.num_rows() {
            rows += 1;
            selection.observe(&posture::Meta {
                event_id: text(0, row).unwrap_or_default(),
                time_micros: time.value(row),
                cluster: text(1, row).unwrap_or_default(),
                resource: text(2, row).unwrap_or_default(),
                namespace: text(3, row),
                name: text(4, row),
                verb: text(5, row).unwrap_or_default(),
                response_code: (!code.is_null(row)).then(|| code.value(row)),
                user: text(6, row),
                request_uri: text(7, row),
            });
        }
    }
    Ok((selection, rows))
}

/// The raw events of the writes `needed` names (within `filter`) from `events`.
pub(crate) async fn read_bodies(
    events: DataFrame,
    filter: &Expr,
    needed: Vec<(String, i64)>,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut raws = Vec::with_capacity(needed.len());
    if needed.is_empty() {
        return Ok(raws);
    }
    let (first, last) = needed.iter().fold((i64::MAX, i64::MIN), |(a, b), (_, t)| {
        (a.min(*t), b.max(*t))
    });
    let ids: Vec<String> = needed.into_iter().map(|(id, _)| id).collect();
    let frame = events
        .filter(
            filter
                .clone()
                .and(col("time").gt_eq(time_literal(first)))
                .and(col("time").lt_eq(time_literal(last)))
                .and(in_list("event_id", &ids)),
        )?
        .select_columns(&["event_id", "raw"])?;
    for batch in frame.collect().await? {
        let id = strings(&batch, "event_id")?;
        let raw = strings(&batch, "raw")?;
        let (id, raw) = (id.as_string::<i32>(), raw.as_string::<i32>());
        for row in 0..batch.num_rows() {
            raws.push((id.value(row).to_owned(), raw.value(row).to_owned()));
        }
    }
    Ok(raws)
}

/// The filter every posture read starts from: writes of the posture resources.
pub(crate) fn writes_filter() -> Expr {
    in_list("resource", &posture::RESOURCES.map(str::to_owned))
        .and(in_list("verb", &posture::VERBS.map(str::to_owned)))
        .and(col("subresource").is_null())
}

/// The report as JSON, with the counts the API adds.
pub(crate) async fn report_json(
    snapshot: Snapshot,
    options: posture::Options,
) -> Result<serde_json::Value, ApiError> {
    let Snapshot {
        selection,
        raws,
        writes,
        ..
    } = snapshot;
    let bodies = raws.len();
    let report = tokio::task::spawn_blocking(move || {
        selection.evaluate(
            raws.iter().map(|(id, raw)| (id.as_str(), raw.as_str())),
            &options,
        )
    })
    .await
    .map_err(|error| ApiError::internal(format!("posture evaluation failed: {error}")))?;
    let mut body = serde_json::to_value(&report)
        .map_err(|error| ApiError::internal(format!("posture report: {error}")))?;
    body["writes_read"] = writes.into();
    body["bodies_read"] = bodies.into();
    body["stale"] = false.into();
    body["as_of"] = chrono::Utc::now()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        .into();
    Ok(body)
}

pub(crate) async fn posture(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(params): ApiQuery<PostureParams>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (from, to) = crate::time::range(params.from.as_deref(), params.to.as_deref())?;
    let scope = &principal.scope;
    let options = posture::Options {
        cluster_wide: scope.namespaces.is_none() && params.namespace.is_none(),
        ..state.posture_options()
    };
    let unrestricted =
        scope.is_unrestricted() && params.cluster.is_none() && params.namespace.is_none();
    let keep = |cluster: &str, namespace: Option<&str>| {
        let wanted = params
            .cluster
            .as_deref()
            .is_none_or(|wanted| wanted == cluster)
            && params
                .namespace
                .as_deref()
                .is_none_or(|wanted| namespace == Some(wanted));
        // Cluster-scoped objects (no namespace) only for callers not held to namespaces.
        let cluster_scoped = namespace.is_none()
            && scope.namespaces.is_none()
            && scope
                .clusters
                .as_ref()
                .is_none_or(|clusters| clusters.iter().any(|c| c == cluster));
        wanted && (scope.allows(cluster, namespace) || cluster_scoped)
    };

    // Without a time range: the live state, once it holds the store's writes.
    let mut source = "store";
    let mut body = None;
    if from.is_none() && to.is_none() {
        let max_age = params.max_age_secs;
        let taken = if unrestricted {
            state.inner.posture.take(None, max_age)
        } else {
            state.inner.posture.take(Some(&keep), None)
        };
        match taken {
            Taken::NotSeeded => {}
            Taken::Cached { report, refresh } => {
                if let Some(snapshot) = refresh {
                    state.refresh_posture(snapshot);
                }
                source = "live (cached)";
                body = Some(report);
            }
            Taken::Snapshot(snapshot) => {
                source = "live";
                let version = snapshot.version;
                let report = report_json(snapshot, options.clone()).await?;
                if unrestricted {
                    state.inner.posture.cache(version, report.clone());
                }
                body = Some(report);
            }
        }
    }
    let mut body = match body {
        Some(body) => body,
        None => {
            let mut filter = writes_filter();
            if let Some(from) = from {
                filter = filter.and(col("time").gt_eq(time_literal(from)));
            }
            if let Some(to) = to {
                filter = filter.and(col("time").lt(time_literal(to)));
            }
            if let Some(cluster) = &params.cluster {
                filter = filter.and(col("cluster").eq(lit(cluster.clone())));
            }
            if let Some(clusters) = &scope.clusters {
                filter = filter.and(in_list("cluster", clusters));
            }
            if let Some(namespace) = &params.namespace {
                filter = filter.and(in_namespaces(std::slice::from_ref(namespace)));
            }
            if let Some(namespaces) = &scope.namespaces {
                filter = filter.and(in_namespaces(namespaces));
            }
            let events = state.sql_context().await?.table("events").await?;
            let (selection, rows) = scan(events.clone(), &filter).await?;
            let raws = read_bodies(events, &filter, selection.needed()).await?;
            let snapshot = Snapshot {
                selection,
                raws,
                writes: rows,
                version: 0,
            };
            report_json(snapshot, options).await?
        }
    };
    body["took_ms"] = (started.elapsed().as_secs_f64() * 1000.0).into();
    let writes = body["writes_read"].as_u64().unwrap_or_default();
    let mut response = axum::Json(body).into_response();
    response.extensions_mut().insert(
        QueryNote::new()
            .with("writes", writes)
            .with("source", source),
    );
    Ok(response)
}

impl ApiState {
    /// A list of the running rules (after `[detect.lists]` overrides), else the built-in
    /// library's.
    pub(crate) fn rule_list(&self, name: &str) -> Vec<String> {
        self.inner
            .rules
            .get()
            .and_then(|rules| rules.borrow().list(name).map(<[String]>::to_vec))
            .or_else(|| detect::builtin_list(name))
            .unwrap_or_default()
    }
}
