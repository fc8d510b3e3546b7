//! `GET /api/v1/rules/status`: how the running rules fare, for the UI's rules page: each
//! rule's inline tests (run once per loaded rule set, in the background of the first call)
//! and its coverage over the most recent stored events (which rules are blind at the audit
//! level the cluster logs, as `kubetrail rules coverage` reports for a file).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::col;
use serde::Deserialize;

use crate::extract::ApiQuery;
use crate::routes_events::time_literal;
use crate::{ApiError, ApiState};

/// Most recent events read for coverage.
const COVERAGE_SAMPLE: usize = 20_000;

/// How long a coverage report is served again: it samples thousands of events, and the rules
/// page is opened over and over.
const COVERAGE_FRESH: Duration = Duration::from_secs(120);
/// Until this age an older report is still served at once while a newer one is made in the
/// background (stale while revalidating), so the page never waits after the first report.
const COVERAGE_STALE: Duration = Duration::from_secs(3600);

/// The inline tests' outcomes of one loaded rule set (by the engine's address), and the last
/// coverage report (by rule set and range asked for).
#[derive(Debug, Default)]
pub(crate) struct TestCache {
    outcomes: Mutex<Option<(usize, Arc<Vec<detect::TestOutcome>>)>>,
    coverage: Mutex<Option<CachedCoverage>>,
    /// A newer coverage report is being made in the background.
    refreshing: std::sync::atomic::AtomicBool,
}

#[derive(Debug)]
struct CachedCoverage {
    engine: Arc<detect::Engine>,
    from: String,
    made: Instant,
    /// `{"coverage": …, "coverage_events": n}`.
    report: Arc<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusParams {
    from: Option<String>,
}

pub(crate) async fn status(
    State(state): State<ApiState>,
    ApiQuery(params): ApiQuery<StatusParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let engine = state
        .inner
        .rules
        .get()
        .ok_or_else(|| ApiError::unavailable("rules are not loaded yet"))?
        .borrow()
        .clone();
    let outcomes = tests_of(&state, &engine).await?;
    let mut tests = serde_json::Map::new();
    for outcome in outcomes.iter() {
        let entry = tests
            .entry(outcome.rule_id.clone())
            .or_insert_with(|| serde_json::json!({ "passed": 0, "failed": 0, "failures": [] }));
        if outcome.passed() {
            entry["passed"] = (entry["passed"].as_u64().unwrap_or_default() + 1).into();
        } else {
            entry["failed"] = (entry["failed"].as_u64().unwrap_or_default() + 1).into();
            if let Some(failures) = entry["failures"].as_array_mut() {
                failures.push(serde_json::json!({
                    "name": outcome.name,
                    "expected": outcome.expected,
                    "got": outcome.got,
                    "error": outcome.error,
                }));
            }
        }
    }

    let from = params.from.as_deref().unwrap_or("24h");
    let coverage = coverage_of(&state, &engine, from).await?;
    let mut answer = serde_json::json!({ "tests": tests });
    answer["coverage"] = coverage["coverage"].clone();
    answer["coverage_events"] = coverage["coverage_events"].clone();
    Ok(Json(answer))
}

impl ApiState {
    /// Makes the rules page's default coverage report in the background (called when the
    /// service is ready), so the page's first open does not wait for it.
    pub(crate) fn warm_rule_status(&self) {
        let Some(engine) = self.inner.rules.get().map(|rules| rules.borrow().clone()) else {
            return;
        };
        let state = self.clone();
        tokio::spawn(async move {
            if let Err(error) = tests_of(&state, &engine).await {
                tracing::debug!(%error, "running the inline tests failed");
            }
            if let Err(error) = coverage_of(&state, &engine, UI_RANGE).await {
                tracing::debug!(%error, "the coverage report failed");
            }
        });
    }
}

/// The range the UI's rules page asks coverage for by default.
const UI_RANGE: &str = "30d";

/// The coverage report of `engine` over the newest events since `from` (a range as the API
/// takes it), made at most [`COVERAGE_FRESH`] ago; or made at most [`COVERAGE_STALE`] ago
/// while a newer one is made in the background.
async fn coverage_of(
    state: &ApiState,
    engine: &Arc<detect::Engine>,
    from_param: &str,
) -> Result<Arc<serde_json::Value>, ApiError> {
    let cache = &state.inner.rule_tests;
    let cached = cache
        .coverage
        .lock()
        .expect("coverage cache poisoned")
        .as_ref()
        .filter(|cached| Arc::ptr_eq(&cached.engine, engine) && cached.from == from_param)
        .map(|cached| (cached.made.elapsed(), cached.report.clone()));
    match cached {
        Some((age, report)) if age < COVERAGE_FRESH => Ok(report),
        Some((age, report)) if age < COVERAGE_STALE => {
            if !cache
                .refreshing
                .swap(true, std::sync::atomic::Ordering::AcqRel)
            {
                let (state, engine, from) = (state.clone(), engine.clone(), from_param.to_owned());
                tokio::spawn(async move {
                    if let Err(error) = make_coverage(&state, &engine, &from).await {
                        tracing::debug!(%error, "refreshing the coverage report failed");
                    }
                    state
                        .inner
                        .rule_tests
                        .refreshing
                        .store(false, std::sync::atomic::Ordering::Release);
                });
            }
            Ok(report)
        }
        _ => make_coverage(state, engine, from_param).await,
    }
}

/// Makes the coverage report of `engine` over the newest events since `from` and keeps it.
async fn make_coverage(
    state: &ApiState,
    engine: &Arc<detect::Engine>,
    from_param: &str,
) -> Result<Arc<serde_json::Value>, ApiError> {
    let made = Instant::now();
    let engine_used = engine.clone();
    let engine = engine.clone();
    let (from, _) = crate::time::range(Some(from_param), None)?;
    let context = state.sql_context().await?;
    let mut frame = context.table("events").await?;
    if let Some(from) = from {
        frame = frame.filter(col("time").gt_eq(time_literal(from)))?;
    }
    let batches = frame
        .sort(vec![col("time").sort(false, false)])?
        .limit(0, Some(COVERAGE_SAMPLE))?
        .select_columns(&["cluster", "raw"])?
        .collect()
        .await?;
    // The alerts of the same range, per rule.
    let mut alerts = context.table("alerts").await?;
    if let Some(from) = from {
        alerts = alerts.filter(col("time").gt_eq(time_literal(from)))?;
    }
    let alert_counts = alerts
        .aggregate(
            vec![col("rule_id")],
            vec![
                datafusion::functions_aggregate::count::count(datafusion::logical_expr::lit(1))
                    .alias("n"),
            ],
        )?
        .collect()
        .await?;
    let coverage = tokio::task::spawn_blocking(move || {
        let mut coverage = detect::Coverage::new(&engine);
        for batch in &alert_counts {
            let (Some(rule), Some(count)) =
                (batch.column_by_name("rule_id"), batch.column_by_name("n"))
            else {
                continue;
            };
            let (Ok(rule), Ok(count)) =
                (cast(rule, &DataType::Utf8), cast(count, &DataType::Int64))
            else {
                continue;
            };
            let (rule, count) = (
                rule.as_string::<i32>(),
                count.as_primitive::<datafusion::arrow::datatypes::Int64Type>(),
            );
            for row in 0..batch.num_rows() {
                coverage.observe_alerts(
                    &engine,
                    rule.value(row),
                    u64::try_from(count.value(row)).unwrap_or_default(),
                );
            }
        }
        let mut events = Vec::new();
        let mut sampled = 0u64;
        for batch in &batches {
            let (Some(cluster), Some(raw)) =
                (batch.column_by_name("cluster"), batch.column_by_name("raw"))
            else {
                continue;
            };
            let (Ok(cluster), Ok(raw)) =
                (cast(cluster, &DataType::Utf8), cast(raw, &DataType::Utf8))
            else {
                continue;
            };
            let (cluster, raw) = (cluster.as_string::<i32>(), raw.as_string::<i32>());
            for row in 0..batch.num_rows() {
                let options = event::DecodeOptions {
                    cluster: cluster.value(row).to_owned(),
                    keep_request_received: true,
                };
                events.clear();
                if event::decode_line(raw.value(row).as_bytes(), &options, &mut events).is_ok() {
                    for event in &events {
                        coverage.observe(&engine, event);
                        sampled += 1;
                    }
                }
            }
        }
        (coverage.report(&engine), sampled)
    })
    .await
    .map_err(|error| ApiError::internal(format!("coverage failed: {error}")))?;
    let report = Arc::new(serde_json::json!({
        "coverage": coverage.0,
        "coverage_events": coverage.1,
    }));
    *state
        .inner
        .rule_tests
        .coverage
        .lock()
        .expect("coverage cache poisoned") = Some(CachedCoverage {
        engine: engine_used,
        from: from_param.to_owned(),
        made,
        report: report.clone(),
    });
    Ok(report)
}

/// The inline tests' outcomes of `engine`, run once per rule set.
async fn tests_of(
    state: &ApiState,
    engine: &Arc<detect::Engine>,
) -> Result<Arc<Vec<detect::TestOutcome>>, ApiError> {
    let key = Arc::as_ptr(engine) as usize;
    if let Some((cached, outcomes)) = &*state
        .inner
        .rule_tests
        .outcomes
        .lock()
        .expect("test cache poisoned")
        && *cached == key
    {
        return Ok(outcomes.clone());
    }
    let engine = engine.clone();
    let outcomes = tokio::task::spawn_blocking(move || detect::run_engine_tests(&engine))
        .await
        .map_err(|error| ApiError::internal(format!("running the inline tests failed: {error}")))?;
    let outcomes = Arc::new(outcomes);
    *state
        .inner
        .rule_tests
        .outcomes
        .lock()
        .expect("test cache poisoned") = Some((key, outcomes.clone()));
    Ok(outcomes)
}
