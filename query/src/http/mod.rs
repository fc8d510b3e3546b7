//! The HTTP query API (design.md §4): search, SQL, events, alerts, timelines, object history,
//! live tail, rules, ingest, metrics and the OpenAPI document, under `/api/v1`.
//!
//! Every route but `/healthz`, `/readyz` and the OpenAPI document needs a bearer token
//! ([`auth`]); the guard middleware authenticates, checks the role the route needs, applies
//! the per-token rate limit, counts the request for `/metrics` and writes it to the query log.
//! A token's namespace and cluster restriction is applied inside each route, to hits, counts,
//! facets, SQL tables and the tail alike.

pub mod auth;
mod config;
mod error;
mod extract;
mod limits;
mod metrics;
mod openapi;
mod query_log;
mod routes_alerts;
mod routes_events;
mod routes_ingest;
mod routes_objects;
mod routes_search;
mod routes_sql;
mod routes_tail;
mod server;
mod sql_scope;
mod time;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use datafusion::prelude::SessionContext;
use tokio::sync::{OnceCell, broadcast};

pub use auth::{Auth, Principal, Role, Scope, generate_token, hash_token};
pub use config::{ApiConfig, TlsConfig};
pub use error::ApiError;
pub use metrics::{MetricsSource, label as metrics_label};
pub use routes_alerts::AckStore;
pub use routes_ingest::Pushed;
pub use routes_search::hit_json;
pub use server::serve;
pub use time::parse_time;

use crate::SqlLimits;
use limits::RateLimiter;
use metrics::ApiMetrics;
use query_log::{QueryLog, QueryNote};

/// What streams past the pipeline, for `/tail`.
#[derive(Debug, Clone)]
pub enum TailItem {
    Events(Arc<Vec<event::Event>>),
    Alerts(Arc<Vec<event::Alert>>),
}

/// Everything the routes share. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("data_dir", &self.inner.data_dir)
            .finish_non_exhaustive()
    }
}

struct Inner {
    data_dir: PathBuf,
    config: ApiConfig,
    auth: Auth,
    sql: OnceCell<SessionContext>,
    searcher: OnceLock<search::Searcher>,
    acks: AckStore,
    rules: OnceLock<tokio::sync::watch::Receiver<Arc<detect::Engine>>>,
    tail: broadcast::Sender<TailItem>,
    metrics: ApiMetrics,
    sources: OnceLock<Arc<dyn MetricsSource>>,
    query_log: QueryLog,
    limiter: RateLimiter,
    ready: AtomicBool,
    ingest: OnceLock<tokio::sync::mpsc::Sender<Pushed>>,
    /// Searches running at once (one per core).
    searches: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the server stops, so long-lived responses (`/tail`) end.
    shutdown: tokio_util::sync::CancellationToken,
}

impl ApiState {
    /// State over `data_dir` with the validated `config`. The acknowledgement log and the
    /// query log are opened here (created if missing).
    pub fn new(data_dir: PathBuf, config: ApiConfig, auth: Auth) -> Result<ApiState, ApiError> {
        let query_log_path = config
            .query_log
            .clone()
            .unwrap_or_else(|| data_dir.join("_api").join("queries.jsonl"));
        let query_log = QueryLog::open(&query_log_path)?;
        let acks = AckStore::open(&data_dir.join("_api").join("acks.jsonl"))?;
        let limiter = RateLimiter::new(config.rate_limit_per_second, config.rate_limit_burst);
        let (tail, _) = broadcast::channel(256);
        Ok(ApiState {
            inner: Arc::new(Inner {
                data_dir,
                auth,
                sql: OnceCell::new(),
                searcher: OnceLock::new(),
                acks,
                rules: OnceLock::new(),
                tail,
                metrics: ApiMetrics::default(),
                sources: OnceLock::new(),
                query_log,
                limiter,
                ready: AtomicBool::new(false),
                shutdown: tokio_util::sync::CancellationToken::new(),
                ingest: OnceLock::new(),
                searches: Arc::new(tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
                )),
                config,
            }),
        })
    }

    /// The search index to query (set once the pipeline has opened it).
    pub fn set_searcher(&self, searcher: search::Searcher) {
        let _ = self.inner.searcher.set(searcher);
    }

    /// The running rules, for `/rules`.
    pub fn set_rules(&self, rules: tokio::sync::watch::Receiver<Arc<detect::Engine>>) {
        let _ = self.inner.rules.set(rules);
    }

    /// Counters of the rest of the process, for `/metrics`.
    pub fn set_metrics_source(&self, source: Arc<dyn MetricsSource>) {
        let _ = self.inner.sources.set(source);
    }

    /// Marks the service ready (`/readyz` answers 200 from now on).
    pub fn set_ready(&self) {
        self.inner.ready.store(true, Ordering::Release);
    }

    /// Where the pipeline publishes events and alerts for `/tail`. Sending never blocks; a
    /// tail client that falls behind is told how much it missed.
    pub fn tail_sender(&self) -> broadcast::Sender<TailItem> {
        self.inner.tail.clone()
    }

    fn sql_limits(&self, max_rows: usize) -> SqlLimits {
        SqlLimits {
            max_rows,
            timeout: Duration::from_secs(self.inner.config.query_timeout_secs),
        }
    }

    /// The SQL session over the data directory (made on first use: the pipeline creates the
    /// directory).
    async fn sql_context(&self) -> Result<&SessionContext, ApiError> {
        self.inner
            .sql
            .get_or_try_init(|| async {
                store::session_context(&self.inner.data_dir)
                    .await
                    .map_err(|error| {
                        ApiError::unavailable(format!("the store is not open yet: {error}"))
                    })
            })
            .await
    }

    fn searcher(&self) -> Result<&search::Searcher, ApiError> {
        self.inner
            .searcher
            .get()
            .ok_or_else(|| ApiError::unavailable("the search index is not open yet"))
    }
}

/// The router with every route, the guard and the body limit.
pub fn router(state: ApiState) -> Router {
    let max_body = state.inner.config.max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/search", get(routes_search::search))
        .route("/api/v1/timeline", get(routes_search::timeline))
        .route("/api/v1/objects/history", get(routes_objects::history))
        .route("/api/v1/tail", get(routes_tail::tail))
        .route("/api/v1/sql", post(routes_sql::sql))
        .route("/api/v1/events/{event_id}", get(routes_events::event))
        .route("/api/v1/alerts", get(routes_alerts::list))
        .route("/api/v1/alerts/{alert_id}/ack", post(routes_alerts::ack))
        .route("/api/v1/rules", get(routes_alerts::rules))
        .route("/api/v1/ingest/audit", post(routes_ingest::audit))
        .route("/api/v1/ingest/falco", post(routes_ingest::falco))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Public,
    Ingest,
    Query(Role),
}

fn access(method: &Method, route: &str) -> Access {
    match route {
        "/healthz" | "/readyz" | "/api/v1/openapi.json" => Access::Public,
        "/api/v1/ingest/audit" | "/api/v1/ingest/falco" => Access::Ingest,
        "/api/v1/sql" => Access::Query(Role::Analyst),
        "/api/v1/alerts/{alert_id}/ack" if method == Method::POST => Access::Query(Role::Analyst),
        "/api/v1/rules" => Access::Query(Role::Admin),
        _ => Access::Query(Role::Viewer),
    }
}

/// Authenticates, authorises, rate-limits, times and logs every routed request.
async fn guard(
    State(state): State<ApiState>,
    matched: MatchedPath,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = matched.as_str().to_owned();
    let method = request.method().clone();
    let query = request.uri().query().map(str::to_owned);
    let who = match access(&method, &route) {
        Access::Public => None,
        Access::Ingest => match state.inner.auth.ingest_client(request.headers()) {
            Ok(client) => Some((client.name, "ingest")),
            Err(error) => {
                return state.finish(&route, None, &method, query, started, error.into_response());
            }
        },
        Access::Query(role) => {
            let principal = match state.inner.auth.principal(request.headers()) {
                Ok(principal) => principal,
                Err(error) => {
                    return state.finish(
                        &route,
                        None,
                        &method,
                        query,
                        started,
                        error.into_response(),
                    );
                }
            };
            let who = Some((principal.name.clone(), principal.role.as_str()));
            if let Err(error) = principal.require(role) {
                return state.finish(&route, who, &method, query, started, error.into_response());
            }
            request.extensions_mut().insert(principal);
            who
        }
    };
    if let Some((name, _)) = &who
        && let Err(retry_after) = state.inner.limiter.take(name)
    {
        let response = ApiError::too_many(retry_after).into_response();
        return state.finish(&route, who, &method, query, started, response);
    }
    let response = next.run(request).await;
    state.finish(&route, who, &method, query, started, response)
}

impl ApiState {
    fn finish(
        &self,
        route: &str,
        who: Option<(String, &'static str)>,
        method: &Method,
        query: Option<String>,
        started: Instant,
        response: Response,
    ) -> Response {
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        self.inner.metrics.observe(route, status, elapsed);
        if route != "/healthz" && route != "/readyz" && route != "/metrics" {
            let note = response.extensions().get::<QueryNote>();
            self.inner.query_log.write(query_log::Entry {
                who: who.as_ref().map(|(name, _)| name.as_str()),
                role: who.as_ref().map(|(_, role)| *role),
                method: method.as_str(),
                route,
                query: query.as_deref(),
                note,
                status,
                elapsed,
            });
        }
        response
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<ApiState>) -> Response {
    if state.inner.ready.load(Ordering::Acquire) {
        Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        ApiError::unavailable("starting: the store is not open yet").into_response()
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /api/v1/openapi.json")
}
