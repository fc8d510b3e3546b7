//! The HTTP API (design.md §4): search, SQL, events, alerts, timelines, object history, live
//! tail, rules, ingest, metrics and the OpenAPI document, under `/api/v1`; served over HTTP
//! or HTTPS (rustls).
//!
//! Routes are grouped by who may call them, one sub-router per role, each behind its own
//! layer: public (`/healthz`, `/readyz`, the OpenAPI document, the web UI's static files and
//! the one-time sign-in exchange), viewer, analyst, and ingest (the API server's webhook and Falco, with ingest tokens only). A role layer
//! authenticates the bearer token ([`auth`]), checks the role, applies the per-token rate
//! limit and hands the [`Principal`] to the route; around all of them, one layer counts every
//! request for `/metrics` and writes it to the query log. A token's namespace and cluster
//! restriction is applied inside each route, to hits, counts, facets, SQL tables and the tail
//! alike.

pub mod auth;
mod config;
mod error;
mod extract;
mod limits;
mod metrics;
mod openapi;
mod posture_state;
mod query_log;
mod routes_alerts;
mod routes_events;
mod routes_holds;
mod routes_ingest;
mod routes_objects;
mod routes_posture;
mod routes_rules;
mod routes_search;
mod routes_session;
mod routes_sql;
mod routes_tail;
mod server;
mod sql_scope;
mod time;
mod ui;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use datafusion::prelude::SessionContext;
use prometheus_client::registry::Registry;
use tokio::sync::{OnceCell, broadcast};

pub use auth::{
    Auth, IngestCertificateConfig, IngestClient, IngestTokenConfig, PeerCertificate, Principal,
    Role, Scope, generate_token, hash_token,
};
pub use config::{ApiConfig, TlsConfig};
pub use error::ApiError;
pub use metrics::ApiMetrics;
pub use routes_alerts::AckStore;
pub use routes_search::hit_json;
pub use server::{RunningApi, serve, start};
pub use time::parse_time;
pub use ui::{CONTENT_SECURITY_POLICY, asset_paths, page};

use limits::RateLimiter;
use query::SqlLimits;
use query_log::{QueryLog, QueryNote};

/// What streams past the pipeline, for `/tail`.
#[derive(Debug, Clone)]
enum TailItem {
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
    /// Every metric of the process, encoded at `/metrics`.
    registry: Arc<Registry>,
    query_log: QueryLog,
    limiter: RateLimiter,
    ready: AtomicBool,
    ingest: OnceLock<ingest::PushSender>,
    /// Searches running at once (one per core).
    searches: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the server stops, so long-lived responses (`/tail`) end.
    shutdown: tokio_util::sync::CancellationToken,
    /// One-time sign-in codes (`POST /api/v1/signin`).
    sign_in: routes_session::SignInCodes,
    /// The posture state kept from the pipeline's events (`GET /api/v1/posture`).
    posture: posture_state::LivePosture,
    /// The running rules' inline test outcomes (`GET /api/v1/rules/status`).
    rule_tests: routes_rules::TestCache,
}

impl ApiState {
    /// State over `data_dir` with the validated `config`. The acknowledgement log and the
    /// query log are opened here (created if missing). `metrics` must be registered in
    /// `registry`, which `/metrics` encodes.
    pub fn new(
        data_dir: PathBuf,
        config: ApiConfig,
        auth: Auth,
        metrics: ApiMetrics,
        registry: Arc<Registry>,
    ) -> Result<ApiState, ApiError> {
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
                metrics,
                registry,
                query_log,
                limiter,
                ready: AtomicBool::new(false),
                shutdown: tokio_util::sync::CancellationToken::new(),
                ingest: OnceLock::new(),
                sign_in: routes_session::SignInCodes::default(),
                posture: posture_state::LivePosture::default(),
                rule_tests: routes_rules::TestCache::default(),
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

    /// Where pushed bodies go (the write-ahead log the pipeline reads). Without it the ingest
    /// routes answer 503.
    pub fn set_ingest(&self, sender: ingest::PushSender) {
        let _ = self.inner.ingest.set(sender);
    }

    /// Marks the service ready (`/readyz` answers 200 from now on).
    pub fn set_ready(&self) {
        self.inner.ready.store(true, Ordering::Release);
        self.seed_posture();
        self.warm_rule_status();
        self.warm_search();
    }

    /// Shows events and alerts that passed detection to `/tail` clients, and takes the writes
    /// among them into the posture state. Never blocks on clients; copies only when a client
    /// listens, and a client that falls behind is told how much it missed.
    pub fn publish(&self, events: &[event::Event], alerts: &[event::Alert]) {
        self.inner.posture.observe(events);
        let tail = &self.inner.tail;
        if tail.receiver_count() == 0 {
            return;
        }
        if !events.is_empty() {
            let _ = tail.send(TailItem::Events(Arc::new(events.to_vec())));
        }
        if !alerts.is_empty() {
            let _ = tail.send(TailItem::Alerts(Arc::new(alerts.to_vec())));
        }
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

/// The router: one sub-router per role, each behind its own layer, all behind the layer that
/// counts and logs requests, and the body limit.
pub fn router(state: ApiState) -> Router {
    let max_body = state.inner.config.max_body_bytes;
    let public = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/signin", post(routes_session::sign_in));
    // The web UI: static files, no data; every API call it makes carries the token.
    let ui = Router::new()
        .route("/", get(ui::index))
        .route("/assets/{*path}", get(ui::asset));
    let viewer = Router::new()
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/search", get(routes_search::search))
        .route("/api/v1/timeline", get(routes_search::timeline))
        .route("/api/v1/objects/history", get(routes_objects::history))
        .route("/api/v1/posture", get(routes_posture::posture))
        .route("/api/v1/tail", get(routes_tail::tail))
        .route("/api/v1/events/{event_id}", get(routes_events::event))
        .route("/api/v1/alerts", get(routes_alerts::list))
        .route("/api/v1/rules", get(routes_alerts::rules))
        .route("/api/v1/rules/status", get(routes_rules::status))
        .route("/api/v1/me", get(routes_session::me))
        .route("/api/v1/fields", get(routes_session::fields))
        .route_layer(from_fn_with_state(
            (state.clone(), Role::Viewer),
            require_role,
        ));
    let analyst = Router::new()
        .route("/api/v1/sql", post(routes_sql::sql))
        .route("/api/v1/alerts/{alert_id}/ack", post(routes_alerts::ack))
        .route_layer(from_fn_with_state(
            (state.clone(), Role::Analyst),
            require_role,
        ));
    let admin = Router::new()
        .route(
            "/api/v1/holds",
            get(routes_holds::list).post(routes_holds::add),
        )
        .route(
            "/api/v1/holds/{hold_id}/release",
            post(routes_holds::release),
        )
        .route_layer(from_fn_with_state(
            (state.clone(), Role::Admin),
            require_role,
        ));
    let ingest = Router::new()
        .route("/api/v1/ingest/audit", post(routes_ingest::audit))
        .route("/api/v1/ingest/falco", post(routes_ingest::falco))
        .route_layer(from_fn_with_state(state.clone(), require_ingest));
    Router::new()
        .merge(public)
        .merge(viewer)
        .merge(analyst)
        .merge(admin)
        .merge(ingest)
        .route_layer(from_fn_with_state(state.clone(), observe))
        .merge(ui)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Who made a request, as its role layer found out; carried to [`observe`] on the response.
#[derive(Debug, Clone)]
struct Caller {
    name: String,
    role: &'static str,
}

/// The layer of a role's sub-router: a query token with at least `role`, within its rate.
async fn require_role(
    State((state, role)): State<(ApiState, Role)>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = match state.inner.auth.principal(request.headers()) {
        Ok(principal) => principal,
        Err(error) => return error.into_response(),
    };
    let caller = Caller {
        name: principal.name.clone(),
        role: principal.role.as_str(),
    };
    let admitted = principal
        .require(role)
        .and_then(|()| state.rate_limit(&principal.name));
    let mut response = match admitted {
        Ok(()) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    };
    response.extensions_mut().insert(caller);
    response
}

/// The layer of the ingest sub-router: an ingest token, within its rate.
async fn require_ingest(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request.extensions().get::<PeerCertificate>();
    let client = match state.inner.auth.ingest_client(request.headers(), peer) {
        Ok(client) => client,
        Err(error) => return error.into_response(),
    };
    let caller = Caller {
        name: client.name.clone(),
        role: "ingest",
    };
    let mut response = match state.rate_limit(&client.name) {
        Ok(()) => {
            request.extensions_mut().insert(client);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    };
    response.extensions_mut().insert(caller);
    response
}

/// Counts and times every routed request for `/metrics` and writes it to the query log.
async fn observe(
    State(state): State<ApiState>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = matched.as_str().to_owned();
    let method = request.method().clone();
    let query = request.uri().query().map(str::to_owned);
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.inner.metrics.observe(&route, status, elapsed);
    if route != "/healthz" && route != "/readyz" && route != "/metrics" {
        let caller = response.extensions().get::<Caller>();
        state.inner.query_log.write(query_log::Entry {
            who: caller.map(|caller| caller.name.as_str()),
            role: caller.map(|caller| caller.role),
            method: method.as_str(),
            route: &route,
            query: query.as_deref(),
            note: response.extensions().get::<QueryNote>(),
            status,
            elapsed,
        });
    }
    response
}

impl ApiState {
    /// Takes one request from the caller's rate-limit bucket.
    fn rate_limit(&self, name: &str) -> Result<(), ApiError> {
        self.inner
            .limiter
            .take(name)
            .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<ApiState>) -> Response {
    let wal_failure = state
        .inner
        .ingest
        .get()
        .and_then(ingest::PushSender::failure);
    if let Some(failure) = wal_failure {
        // Pushed events are refused until the log recovers (it retries by itself); the
        // probe says so, and why.
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "5")],
            Json(serde_json::json!({ "error": format!("not accepting pushed events: {failure}") })),
        )
            .into_response()
    } else if state.inner.ready.load(Ordering::Acquire) {
        Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        // Not an error to log: probes ask until the store is open.
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "5")],
            Json(serde_json::json!({ "error": "starting: the store is not open yet" })),
        )
            .into_response()
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /api/v1/openapi.json")
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt;

    use super::*;

    const TOKENS: [(&str, &str); 3] = [
        ("viewer", "viewer-token"),
        ("analyst", "analyst-token"),
        ("admin", "admin-token"),
    ];
    const INGEST_TOKEN: &str = "ingest-token";

    fn state(data_dir: &std::path::Path) -> ApiState {
        let roles = [Role::Viewer, Role::Analyst, Role::Admin];
        let config = ApiConfig {
            tokens: TOKENS
                .iter()
                .zip(roles)
                .map(|((name, token), role)| auth::TokenConfig {
                    name: (*name).to_owned(),
                    sha256: hash_token(token),
                    role,
                    namespaces: None,
                    clusters: None,
                })
                .collect(),
            ingest_tokens: vec![auth::IngestTokenConfig {
                name: "apiserver".to_owned(),
                sha256: hash_token(INGEST_TOKEN),
                cluster: "prod".to_owned(),
            }],
            ..ApiConfig::default()
        };
        let auth = config.validate().unwrap();
        let mut registry = Registry::with_prefix("kubetrail");
        let metrics = ApiMetrics::register(&mut registry);
        ApiState::new(
            data_dir.to_owned(),
            config,
            auth,
            metrics,
            Arc::new(registry),
        )
        .unwrap()
    }

    async fn call(
        router: &Router,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: &str,
    ) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Every route answers 401 without a token and 403 below its role; the ingest routes
    /// take ingest tokens only, and ingest tokens open nothing else.
    #[tokio::test]
    async fn each_role_router_admits_its_role_and_up() {
        let dir = tempfile::tempdir().unwrap();
        let router = router(state(dir.path()));
        let routes = [
            ("GET", "/metrics", Role::Viewer),
            ("GET", "/api/v1/search?q=*", Role::Viewer),
            ("GET", "/api/v1/timeline?actor=a", Role::Viewer),
            (
                "GET",
                "/api/v1/objects/history?resource=pods&name=a",
                Role::Viewer,
            ),
            ("GET", "/api/v1/events/00ff", Role::Viewer),
            ("GET", "/api/v1/alerts", Role::Viewer),
            ("POST", "/api/v1/sql", Role::Analyst),
            ("POST", "/api/v1/alerts/00ff/ack", Role::Analyst),
            ("GET", "/api/v1/rules", Role::Viewer),
            ("GET", "/api/v1/me", Role::Viewer),
            ("GET", "/api/v1/fields", Role::Viewer),
            ("GET", "/api/v1/rules/status", Role::Viewer),
        ];
        for (method, path, role) in routes {
            let (status, _) = call(&router, method, path, None, None, "").await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token"
            );
            let (status, _) = call(&router, method, path, Some(INGEST_TOKEN), None, "").await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with an ingest token"
            );
            for ((_, token), held) in TOKENS
                .iter()
                .zip([Role::Viewer, Role::Analyst, Role::Admin])
            {
                let (status, body) = call(&router, method, path, Some(token), None, "").await;
                if held < role {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {held:?}");
                } else {
                    assert!(
                        status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                        "{method} {path} as {held:?}: {status} {body}"
                    );
                }
            }
        }
        for path in ["/api/v1/ingest/audit", "/api/v1/ingest/falco"] {
            for token in [None, Some("admin-token")] {
                let (status, _) = call(&router, "POST", path, token, None, "{}").await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "POST {path}");
            }
            // Admitted, but nothing receives pushed events in this test.
            let (status, _) = call(&router, "POST", path, Some(INGEST_TOKEN), None, "{}").await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "POST {path}");
        }
        for path in ["/healthz", "/api/v1/openapi.json"] {
            let (status, _) = call(&router, "GET", path, None, None, "").await;
            assert_eq!(status, StatusCode::OK, "GET {path}");
        }
    }

    /// A sign-in code gives its token once; a used, unknown or empty code is refused; `/me`
    /// says who the token is and what its role may do.
    #[tokio::test]
    async fn sign_in_codes_work_once_and_me_tells_the_role() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path());
        let code = state.add_sign_in_code("viewer-token".to_owned()).unwrap();
        let router = router(state);
        let body = format!(r#"{{"code":"{code}"}}"#);
        let (status, answer) = call(&router, "POST", "/api/v1/signin", None, None, &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["token"], "viewer-token");
        assert_eq!(answer["role"], "viewer");
        assert_eq!(answer["can"]["sql"], false);
        for body in [body.as_str(), r#"{"code":"kt_unknown"}"#, r#"{"code":""}"#] {
            let (status, answer) = call(&router, "POST", "/api/v1/signin", None, None, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}: {answer}");
            assert!(answer.contains("already used or has expired"), "{answer}");
        }
        let (status, _) = call(&router, "POST", "/api/v1/signin", None, None, "{}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, me) = call(
            &router,
            "GET",
            "/api/v1/me",
            Some("analyst-token"),
            None,
            "",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let me: serde_json::Value = serde_json::from_str(&me).unwrap();
        assert_eq!(me["name"], "analyst");
        assert_eq!(me["can"]["sql"], true);
        assert_eq!(me["namespaces"], serde_json::Value::Null);
    }

    /// The page and its assets are served with the CSP; nothing outside the embedded set is.
    #[tokio::test]
    async fn the_ui_is_served_with_its_security_headers_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let router = router(state(dir.path()));
        for (path, status) in [
            ("/", StatusCode::OK),
            ("/assets/app.js", StatusCode::OK),
            ("/assets/vendor/preact.mjs", StatusCode::OK),
            ("/assets/missing.js", StatusCode::NOT_FOUND),
            ("/assets/../Cargo.toml", StatusCode::NOT_FOUND),
            ("/assets/%2e%2e/api/Cargo.toml", StatusCode::NOT_FOUND),
        ] {
            let response = router
                .clone()
                .oneshot(
                    axum::http::Request::builder()
                        .uri(path)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{path}");
            let headers = response.headers();
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        }
        // The page names its assets under the build's version, cached for good there, and
        // preloads every module.
        let page = page();
        let version = page
            .split("/assets/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap()
            .to_owned();
        assert!(version.starts_with("v-"), "{page}");
        assert!(
            page.contains(&format!(
                r#"<script type="module" src="/assets/{version}/app.js">"#
            )),
            "{page}"
        );
        assert!(
            page.contains(&format!(
                r#"<link rel="modulepreload" href="/assets/{version}/vendor/preact.mjs">"#
            )),
            "{page}"
        );
        for (path, cache) in [
            (
                format!("/assets/{version}/app.js"),
                "public, max-age=31536000, immutable",
            ),
            ("/assets/v-0000000000000000/app.js".to_owned(), "no-cache"),
            ("/assets/app.js".to_owned(), "no-cache"),
            ("/".to_owned(), "no-cache"),
        ] {
            let response = router
                .clone()
                .oneshot(
                    axum::http::Request::builder()
                        .uri(&path)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(response.headers()[header::CACHE_CONTROL], cache, "{path}");
        }
        let escape = format!("/assets/{version}/../../Cargo.toml");
        let response = router
            .clone()
            .oneshot(
                axum::http::Request::builder()
                    .uri(&escape)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let paths = asset_paths();
        for expected in [
            "index.html",
            "app.js",
            "vendor/LICENSE.preact",
            "vendor/uplot.mjs",
        ] {
            assert!(
                paths.iter().any(|path| path == expected),
                "{expected} in {paths:?}"
            );
        }
    }

    /// `curl -d '{...}'` sends `application/x-www-form-urlencoded`; JSON bodies are read
    /// whatever the content type says.
    #[tokio::test]
    async fn json_bodies_are_read_whatever_the_content_type() {
        let dir = tempfile::tempdir().unwrap();
        let router = router(state(dir.path()));
        let sql = r#"{"sql": "select 1 + 1 as two"}"#;
        for content_type in [
            None,
            Some("application/json"),
            Some("application/x-www-form-urlencoded"),
            Some("text/plain"),
        ] {
            let (status, body) = call(
                &router,
                "POST",
                "/api/v1/sql",
                Some("analyst-token"),
                content_type,
                sql,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{content_type:?}: {body}");
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(answer["rows"][0]["two"], 2, "{content_type:?}: {body}");
        }
        let (status, body) = call(
            &router,
            "POST",
            "/api/v1/sql",
            Some("analyst-token"),
            None,
            "sql=select 1",
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("invalid JSON body"), "{body}");
    }

    /// The request metrics keep their Prometheus names and labels.
    #[tokio::test]
    async fn metrics_keep_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let router = router(state(dir.path()));
        call(
            &router,
            "GET",
            "/api/v1/alerts",
            Some("viewer-token"),
            None,
            "",
        )
        .await;
        call(&router, "GET", "/api/v1/alerts", None, None, "").await;
        let (status, text) = call(&router, "GET", "/metrics", Some("viewer-token"), None, "").await;
        assert_eq!(status, StatusCode::OK);
        for expected in [
            "# TYPE kubetrail_api_requests_total counter",
            "kubetrail_api_requests_total{route=\"/api/v1/alerts\",status=\"401\"} 1",
            "# TYPE kubetrail_api_request_seconds histogram",
            "kubetrail_api_request_seconds_bucket{route=\"/api/v1/alerts\",le=\"0.001\"}",
            "kubetrail_api_request_seconds_count{route=\"/api/v1/alerts\"} 2",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }
}
