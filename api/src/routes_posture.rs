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
use serde::Deserialize;

use crate::extract::ApiQuery;
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

pub(crate) async fn posture(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(params): ApiQuery<PostureParams>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (from, to) = crate::time::range(params.from.as_deref(), params.to.as_deref())?;
    let scope = &principal.scope;
    let mut filter = in_list("resource", &posture::RESOURCES.map(str::to_owned))
        .and(in_list("verb", &posture::VERBS.map(str::to_owned)))
        .and(col("subresource").is_null());
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
    // The restriction is in `filter`, so the shared (unrestricted) session serves everyone.
    let context = state.sql_context().await?;

    let frame = context
        .table("events")
        .await?
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
            // columns: event_id, cluster, resource, namespace, name, verb, user, request_uri
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
    let scanned = started.elapsed();

    let needed = selection.needed();
    let mut raws: Vec<(String, String)> = Vec::with_capacity(needed.len());
    if !needed.is_empty() {
        let (first, last) = needed.iter().fold((i64::MAX, i64::MIN), |(a, b), (_, t)| {
            (a.min(*t), b.max(*t))
        });
        let ids: Vec<String> = needed.into_iter().map(|(id, _)| id).collect();
        let frame = context
            .table("events")
            .await?
            .filter(
                filter
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
    }
    let bodies = raws.len();

    let options = posture::Options {
        trusted_registries: state.rule_list("trusted_registries"),
        sensitive_host_paths: state.rule_list("sensitive_host_paths"),
        cluster_wide: scope.namespaces.is_none() && params.namespace.is_none(),
        ..posture::Options::default()
    };
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
    body["writes_read"] = rows.into();
    body["bodies_read"] = bodies.into();
    body["took_ms"] = (started.elapsed().as_secs_f64() * 1000.0).into();
    let mut response = axum::Json(body).into_response();
    response.extensions_mut().insert(
        QueryNote::new()
            .with("writes", rows)
            .with("bodies", bodies)
            .with("scan_ms", scanned.as_millis() as u64),
    );
    Ok(response)
}

impl ApiState {
    /// A list of the running rules (after `[detect.lists]` overrides), else the built-in
    /// library's.
    fn rule_list(&self, name: &str) -> Vec<String> {
        self.inner
            .rules
            .get()
            .and_then(|rules| rules.borrow().list(name).map(<[String]>::to_vec))
            .or_else(|| detect::builtin_list(name))
            .unwrap_or_default()
    }
}
