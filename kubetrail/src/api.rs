//! Starting the HTTP query API next to the pipeline (`serve`, `demo`).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use query::http::{ApiState, Principal};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::PipelineMetrics;
use crate::pipeline::Counters;

/// A running API server.
#[derive(Debug)]
pub struct RunningApi {
    pub state: ApiState,
    pub address: SocketAddr,
    pub task: JoinHandle<()>,
}

/// Binds `[api].listen` and serves until `cancel`; `None` when the API is disabled. `extra`
/// adds a token that is not in the configuration (the demo's).
pub async fn start(
    config: &Config,
    counters: Arc<Counters>,
    cancel: CancellationToken,
    extra: Option<(String, Principal)>,
) -> anyhow::Result<Option<RunningApi>> {
    let api = &config.api;
    if !api.enabled {
        return Ok(None);
    }
    let mut auth = api.validate().map_err(anyhow::Error::msg)?;
    if let Some((token, principal)) = extra {
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
    let state = ApiState::new(config.store.data_dir.clone(), api.clone(), auth)
        .map_err(|error| anyhow::anyhow!("failed to start the API: {}", error.message))?;
    state.set_metrics_source(Arc::new(PipelineMetrics(counters)));
    let listener = tokio::net::TcpListener::bind(api.listen)
        .await
        .with_context(|| format!("failed to listen on {} (api.listen)", api.listen))?;
    let address = listener.local_addr()?;
    let tls = api.tls.clone();
    let task = tokio::spawn({
        let state = state.clone();
        async move {
            if let Err(error) =
                query::http::serve(listener, state, tls.as_ref(), cancel.clone()).await
            {
                tracing::error!(error = %error.message, "the API server stopped");
                cancel.cancel();
            }
        }
    });
    let scheme = if api.tls.is_some() { "https" } else { "http" };
    tracing::info!(%address, "query API listening on {scheme}://{address}/api/v1");
    Ok(Some(RunningApi {
        state,
        address,
        task,
    }))
}
