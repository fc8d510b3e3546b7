//! `kubetrail serve`: the long-running pipeline until SIGINT or SIGTERM.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::cmd::{bad_input, load_rules_with};
use crate::config::Config;
use crate::pipeline::{self, Counters};
use crate::sinks::AlertSinks;

pub fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path).map_err(|e| bad_input(format!("{e:#}")))?;
    if config.ingest.files.is_empty() {
        return Err(bad_input(format!(
            "{}: no sources configured; add an [[ingest.files]] table",
            config_path.display()
        )));
    }
    let engine = Arc::new(::detect::Engine::new(load_rules_with(
        config.detect.builtin_rules,
        &config.detect.rule_paths,
        &config.detect.lists,
    )?));
    let runtime = tokio::runtime::Runtime::new().context("failed to start the async runtime")?;
    runtime.block_on(async {
        let outbox_dir = config.alerts.outbox_dir(&config.store.data_dir);
        let sinks = AlertSinks::open_with_outbox(&config.alerts, &outbox_dir).await?;
        let cancel = CancellationToken::new();
        tokio::spawn(shutdown_on_signal(cancel.clone()));
        let counters = Arc::new(Counters::default());
        let api = crate::api::start(&config, counters.clone(), cancel.clone(), None).await?;
        tracing::info!(config = %config_path.display(), "kubetrail serve started");
        let result = pipeline::run(
            &config,
            engine,
            sinks,
            counters.clone(),
            cancel.clone(),
            api.as_ref().map(|api| &api.state),
        )
        .await;
        cancel.cancel();
        if let Some(api) = api {
            let _ = api.task.await;
        }
        result?;
        tracing::info!(
            events = Counters::get(&counters.events),
            alerts = Counters::get(&counters.alerts),
            dead_letters = Counters::get(&counters.dead_letters),
            commits = Counters::get(&counters.commits),
            "kubetrail serve stopped cleanly"
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// Cancels `cancel` on SIGINT or SIGTERM.
pub async fn shutdown_on_signal(cancel: CancellationToken) {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
        _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
    }
    cancel.cancel();
}
