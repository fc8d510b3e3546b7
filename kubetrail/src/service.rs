//! Wiring of the long-running service (`serve`, `demo`): the metrics registry, the HTTP API,
//! the live pipeline and its sources, in that order, until cancelled.

use std::sync::Arc;

use anyhow::Context;
use api::{ApiState, Principal, RunningApi};
use detect::Engine;
use ingest::Source;
use pipeline::{Live, Stats};
use prometheus_client::registry::Registry;
use sinks::AlertOutputs;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// What runs the service, besides the configuration.
pub struct Service {
    pub engine: Arc<Engine>,
    pub outputs: AlertOutputs,
    pub stats: Arc<Stats>,
    /// A token not in the configuration (the demo's).
    pub extra_token: Option<(String, Principal)>,
    /// Called with the API once it listens.
    pub on_listening: Box<dyn FnOnce(&RunningApi) + Send>,
}

/// Runs the service until `cancel` fires, then drains the pipeline and stops the API.
pub async fn run(
    config: &Config,
    service: Service,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let Service {
        engine,
        outputs,
        stats,
        extra_token,
        on_listening,
    } = service;
    let mut registry = Registry::with_prefix("kubetrail");
    stats.register(&mut registry, outputs.metrics_handle());
    // The write-ahead log of pushed bodies opens first (it is quick), so they are accepted
    // from the start: they wait in the log while the data directory opens (the index may be
    // catching up).
    let push_log = if config.ingests_pushed_events() {
        let log = ingest::PushLog::open(&config.store.data_dir, &config.wal)
            .context("failed to open the write-ahead log of pushed events")?;
        pipeline::register_wal(&mut registry, log.clone());
        Some(log)
    } else {
        None
    };
    // The Kafka sources start after the data directory opens (they resume from its
    // positions); their figures join `/metrics` then.
    let kafka_metrics = pipeline::register_kafka(&mut registry);
    let api = start_api(config, registry, extra_token, cancel.clone()).await?;
    if let Some(api) = &api {
        on_listening(api);
        if let Some(log) = &push_log {
            api.state.set_ingest(log.sender());
        }
    }
    // The pipeline opens and runs on its own threads, below the API's CPU priority.
    let background = pipeline::PipelineRuntime::start()?;
    let live = background
        .spawn({
            let (options, cancel) = (config.live_options(), cancel.clone());
            async move { Live::open(options, engine, stats, &cancel).await }
        })
        .await
        .context("the pipeline's threads stopped")?
        .context("failed to open the data directory")?;
    let mut sources = Vec::new();
    if let Some(log) = &push_log {
        sources.push(Source::Push(log.source(live.positions())));
    }
    for kafka in &config.ingest.kafka {
        let source = ingest::KafkaSource::new(kafka, &config.ingest, live.positions())
            .with_context(|| {
                format!(
                    "failed to start the Kafka consumer of group {}",
                    kafka.group
                )
            })?;
        kafka_metrics.add(source.metrics());
        sources.push(Source::Kafka(Box::new(source)));
    }
    if !config.ingest.files.is_empty() {
        let tailer = ingest::FileTailer::new(&config.ingest, live.positions().clone())
            .context("failed to start tailing")?;
        sources.push(Source::Files(tailer));
    }
    let mut observer: Option<pipeline::Observer> = None;
    if let Some(api) = &api {
        api.state.set_searcher(live.searcher());
        api.state.set_rules(live.rules());
        let state = api.state.clone();
        observer = Some(Box::new(move |events, alerts| {
            state.publish(events, alerts)
        }));
        api.state.set_ready();
    }
    let result = background
        .spawn(live.run(sources, outputs, observer, cancel.clone()))
        .await
        .context("the pipeline's threads stopped")?;
    cancel.cancel();
    if let Some(api) = api {
        let _ = api.task.await;
    }
    Ok(result?)
}

/// The async runtime of the commands that run one: worker and blocking threads get 8 MiB
/// stacks like the main thread (planning a query recurses over its expression tree; the query
/// crate refuses expressions nested deeper than this serves).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()
        .context("failed to start the async runtime")
}

/// Starts the API when `[api]` enables it.
async fn start_api(
    config: &Config,
    mut registry: Registry,
    extra_token: Option<(String, Principal)>,
    cancel: CancellationToken,
) -> anyhow::Result<Option<RunningApi>> {
    let api = &config.api;
    if !api.enabled {
        return Ok(None);
    }
    let mut auth = api.validate()?;
    if let Some((token, principal)) = extra_token {
        auth.add(&token, principal);
    } else if api.tokens.is_empty() {
        tracing::warn!(
            "no [[api.tokens]] configured: every query route answers 401 (see `kubetrail token`)"
        );
    }
    std::fs::create_dir_all(&config.store.data_dir).with_context(|| {
        format!(
            "failed to create the data directory {}",
            config.store.data_dir.display()
        )
    })?;
    let metrics = api::ApiMetrics::register(&mut registry);
    let state = ApiState::new(
        config.store.data_dir.clone(),
        api.clone(),
        auth,
        metrics,
        Arc::new(registry),
    )
    .context("failed to start the API")?;
    Ok(Some(api::start(state, cancel).await?))
}
