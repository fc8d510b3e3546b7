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

/// The posture state kept up to date from the events the pipeline passes on
/// ([`ApiState::publish`]), seeded once from the store at start-up: answers without a time
/// range come from it instead of reading the store (which takes seconds on millions of
/// events). Holds the latest write of each object and the raw event of each deciding write.
#[derive(Debug, Default)]
pub(crate) struct LivePosture {
    state: std::sync::Mutex<Live>,
}

#[derive(Debug, Default)]
struct Live {
    selection: posture::Selection,
    /// Raw events by id: at least those the selection needs (pruned now and then).
    bodies: std::collections::HashMap<String, String>,
    /// Write events observed live and read from the store.
    writes: u64,
    /// The store's writes have been read in.
    seeded: bool,
    /// Bumped by every observed write; the unrestricted report is cached per version.
    version: u64,
    cached: Option<(u64, Instant, serde_json::Value)>,
    /// A newer report is being made in the background.
    refreshing: bool,
}

/// Whether an event is a write the posture checks read.
fn posture_write(event: &event::Event) -> bool {
    event.subresource.is_none()
        && event
            .resource
            .as_deref()
            .is_some_and(|resource| posture::RESOURCES.contains(&resource))
        && event
            .verb
            .as_deref()
            .is_some_and(|verb| posture::VERBS.contains(&verb))
}

impl LivePosture {
    /// Takes in the writes among `events` (called for every batch that passed detection).
    pub(crate) fn observe(&self, events: &[event::Event]) {
        if !events.iter().any(posture_write) {
            return;
        }
        let mut live = self.state.lock().expect("posture state poisoned");
        for event in events.iter().filter(|event| posture_write(event)) {
            live.selection.observe(&posture::Meta {
                event_id: &event.event_id,
                time_micros: event.time,
                cluster: &event.cluster,
                resource: event.resource.as_deref().unwrap_or_default(),
                namespace: event.namespace.as_deref(),
                name: event.name.as_deref(),
                verb: event.verb.as_deref().unwrap_or_default(),
                response_code: event.response_code,
                user: event.user.as_deref(),
                request_uri: event.request_uri.as_deref(),
            });
            live.bodies
                .insert(event.event_id.clone(), event.raw.clone());
            live.writes += 1;
            live.version += 1;
        }
        live.prune();
    }
}

/// What a report is made from: the selection, the deciding raw events, the writes read and
/// the state's version.
type Snapshot = (posture::Selection, Vec<(String, String)>, u64, u64);

/// Which (cluster, namespace) a caller may see.
type Keep<'a> = &'a dyn Fn(&str, Option<&str>) -> bool;

impl Live {
    /// The selection (all of it, or what `keep` admits) and the raw events it needs.
    fn snapshot(&self, keep: Option<Keep<'_>>) -> Snapshot {
        let selection = match keep {
            None => self.selection.clone(),
            Some(keep) => self.selection.restricted(keep),
        };
        let raws = selection
            .needed()
            .into_iter()
            .filter_map(|(id, _)| self.bodies.get(&id).map(|raw| (id, raw.clone())))
            .collect();
        (selection, raws, self.writes, self.version)
    }

    /// Drops the bodies no write decides any more, once they are twice as many as needed.
    fn prune(&mut self) {
        if self.bodies.len() <= 2 * self.selection.len() + 4096 {
            return;
        }
        let needed: std::collections::HashSet<String> = self
            .selection
            .needed()
            .into_iter()
            .map(|(event_id, _)| event_id)
            .collect();
        self.bodies.retain(|event_id, _| needed.contains(event_id));
    }
}

/// Reads every write's fields that `filter` admits into a selection; the number of writes.
async fn scan(
    context: &datafusion::prelude::SessionContext,
    filter: &Expr,
) -> Result<(posture::Selection, u64), ApiError> {
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

/// The raw events of the writes `needed` names (within `filter`).
async fn read_bodies(
    context: &datafusion::prelude::SessionContext,
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
    let frame = context
        .table("events")
        .await?
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
fn writes_filter() -> Expr {
    in_list("resource", &posture::RESOURCES.map(str::to_owned))
        .and(in_list("verb", &posture::VERBS.map(str::to_owned)))
        .and(col("subresource").is_null())
}

impl ApiState {
    /// Reads the store's posture writes into the live state, once, in the background (called
    /// when the service is ready). Until it is done, requests read the store themselves.
    pub(crate) fn seed_posture(&self) {
        let state = self.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = async {
                let context = state.sql_context().await?;
                let filter = writes_filter();
                let (selection, rows) = scan(context, &filter).await?;
                let bodies = read_bodies(context, &filter, selection.needed()).await?;
                Ok::<_, ApiError>((selection, rows, bodies))
            }
            .await;
            match result {
                Ok((selection, rows, bodies)) => {
                    let mut live = state
                        .inner
                        .posture
                        .state
                        .lock()
                        .expect("posture state poisoned");
                    live.selection.merge(selection);
                    live.bodies.extend(bodies);
                    live.writes += rows;
                    live.seeded = true;
                    live.version += 1;
                    // The first report is made now, so no request waits for it.
                    live.refreshing = true;
                    let snapshot = live.snapshot(None);
                    drop(live);
                    state.refresh_posture(snapshot);
                    tracing::info!(
                        writes = rows,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "posture state read from the store"
                    );
                }
                Err(error) => {
                    tracing::warn!(%error, "posture state could not be read from the store; /posture reads the store per request")
                }
            }
        });
    }
}

impl ApiState {
    /// Makes the unrestricted report from `snapshot` in the background and caches it.
    fn refresh_posture(&self, snapshot: Snapshot) {
        let state = self.clone();
        let (selection, raws, writes, version) = snapshot;
        let options = posture::Options {
            trusted_registries: self.rule_list("trusted_registries"),
            sensitive_host_paths: self.rule_list("sensitive_host_paths"),
            ..posture::Options::default()
        };
        tokio::spawn(async move {
            let report = report_json(selection, raws, options, writes).await;
            let mut live = state
                .inner
                .posture
                .state
                .lock()
                .expect("posture state poisoned");
            live.refreshing = false;
            match report {
                Ok(report) => live.cached = Some((version, Instant::now(), report)),
                Err(error) => tracing::warn!(%error, "making the posture report failed"),
            }
        });
    }
}

/// The report as JSON, with the counts the API adds.
async fn report_json(
    selection: posture::Selection,
    raws: Vec<(String, String)>,
    options: posture::Options,
    writes: u64,
) -> Result<serde_json::Value, ApiError> {
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
        trusted_registries: state.rule_list("trusted_registries"),
        sensitive_host_paths: state.rule_list("sensitive_host_paths"),
        cluster_wide: scope.namespaces.is_none() && params.namespace.is_none(),
        ..posture::Options::default()
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
        let mut refresh = None;
        let taken = {
            let mut live = state
                .inner
                .posture
                .state
                .lock()
                .expect("posture state poisoned");
            if !live.seeded {
                None
            } else if let Some((version, _, cached)) = live
                .cached
                .as_ref()
                .filter(|(version, made, _)| {
                    unrestricted
                        && (*version == live.version
                            || params
                                .max_age_secs
                                .is_some_and(|max_age| made.elapsed().as_secs() <= max_age))
                })
                .cloned()
            {
                // Current, or as old as the caller accepts (stale while revalidating: a newer
                // report is made in the background).
                let stale = version != live.version;
                if stale && !live.refreshing {
                    live.refreshing = true;
                    refresh = Some(live.snapshot(None));
                }
                let mut cached = cached;
                cached["stale"] = stale.into();
                Some(Err(cached))
            } else {
                let snapshot = if unrestricted {
                    live.snapshot(None)
                } else {
                    live.snapshot(Some(&keep))
                };
                Some(Ok(snapshot))
            }
        };
        if let Some(snapshot) = refresh {
            state.refresh_posture(snapshot);
        }
        match taken {
            None => {}
            Some(Err(cached)) => {
                source = "live (cached)";
                body = Some(cached);
            }
            Some(Ok((selection, raws, writes, version))) => {
                source = "live";
                let report = report_json(selection, raws, options.clone(), writes).await?;
                if unrestricted {
                    let mut live = state
                        .inner
                        .posture
                        .state
                        .lock()
                        .expect("posture state poisoned");
                    live.cached = Some((version, Instant::now(), report.clone()));
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
            let context = state.sql_context().await?;
            let (selection, rows) = scan(context, &filter).await?;
            let raws = read_bodies(context, &filter, selection.needed()).await?;
            report_json(selection, raws, options, rows).await?
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
    fn rule_list(&self, name: &str) -> Vec<String> {
        self.inner
            .rules
            .get()
            .and_then(|rules| rules.borrow().list(name).map(<[String]>::to_vec))
            .or_else(|| detect::builtin_list(name))
            .unwrap_or_default()
    }
}
