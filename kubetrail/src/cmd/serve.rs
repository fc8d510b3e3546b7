//! `kubetrail serve`: the long-running pipeline until SIGINT or SIGTERM; `--check` validates
//! the configuration and exits.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use pipeline::Stats;
use tokio_util::sync::CancellationToken;

use crate::cmd::bad_input;
use crate::config::Config;
use crate::service::{self, Service};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML); see deploy/config/kubetrail.toml.
    #[arg(long, default_value = "kubetrail.toml")]
    pub config: PathBuf,
    /// Check the configuration and the rules it names, print what would run, and exit.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config).map_err(|e| bad_input(format!("{e:#}")))?;
    config
        .check_sources()
        .map_err(|e| bad_input(format!("{}: {e:#}", args.config.display())))?;
    let engine = crate::cmd::engine(&config.detect)?;
    if args.check {
        print_check(&config, engine.len());
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = crate::service::runtime()?;
    let stats = Arc::new(Stats::default());
    runtime.block_on(async {
        let outbox_dir = config.alerts.outbox_dir(&config.store.data_dir);
        let outputs = sinks::AlertOutputs::open_with_outbox(&config.alerts, &outbox_dir)
            .await
            .context("failed to open the alert outputs")?;
        let cancel = CancellationToken::new();
        tokio::spawn(shutdown_on_signal(cancel.clone()));
        tracing::info!(config = %args.config.display(), "kubetrail serve started");
        let service = Service {
            engine,
            outputs,
            stats: Arc::clone(&stats),
            extra_token: None,
            on_listening: Box::new(|_: &api::RunningApi| {}),
        };
        service::run(&config, service, cancel).await?;
        tracing::info!(
            events = stats.events.get(),
            alerts = stats.alerts.get(),
            dead_letters = stats.dead_letters.get(),
            commits = stats.commits.get(),
            "kubetrail serve stopped cleanly"
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// What `serve` would run, one line per part.
fn print_check(config: &Config, rules: usize) {
    let files: usize = config
        .ingest
        .files
        .iter()
        .map(|group| group.paths.len())
        .sum();
    let topics: usize = config
        .ingest
        .kafka
        .iter()
        .map(|kafka| kafka.topics.len())
        .sum();
    println!(
        "sources: {} file group(s) ({files} path(s)); {} kafka consumer group(s) ({topics} topic(s)); pushed events: {}",
        config.ingest.files.len(),
        config.ingest.kafka.len(),
        if config.ingests_pushed_events() {
            format!(
                "{} ingest token(s), {} ingest certificate(s)",
                config.api.ingest_tokens.len(),
                config.api.ingest_certificates.len()
            )
        } else {
            "off".to_owned()
        }
    );
    println!(
        "rules: {rules} (built-in pack: {}, {} rule path(s), {} list override(s))",
        if config.detect.builtin_rules {
            "on"
        } else {
            "off"
        },
        config.detect.rule_paths.len(),
        config.detect.lists.len()
    );
    println!(
        "store: {} (retention: {}); {}",
        config.store.data_dir.display(),
        retention_label(&config.store.retention_policy()),
        match &config.store.object_store {
            None => "local disk only".to_owned(),
            Some(remote) => match &remote.writer {
                None => format!("settled partitions in {}", remote.url),
                Some(writer) => format!(
                    "settled partitions in {}, shared as writer {writer}",
                    remote.url
                ),
            },
        }
    );
    println!(
        "alerts: stdout {}, file {}, {} sink(s)",
        if config.alerts.stdout { "on" } else { "off" },
        config
            .alerts
            .file
            .as_ref()
            .map_or_else(|| "off".to_owned(), |path| path.display().to_string()),
        config.alerts.sinks.len()
    );
    println!(
        "pipeline: commit every {} ms or {} events; search positions {}",
        config.pipeline.commit_interval_ms,
        config.pipeline.commit_max_events,
        if config.search.positions { "on" } else { "off" }
    );
    if config.ingests_pushed_events() {
        println!(
            "wal: {} (at most {} bytes not yet committed; dedupe window {} s or {} bytes)",
            config.store.data_dir.join(ingest::WAL_DIR).display(),
            config.wal.max_pending_bytes,
            config.wal.dedupe_window_secs,
            config.wal.max_retained_bytes
        );
    }
    if config.api.enabled {
        println!(
            "api: {}{} with {} query token(s), {} ingest token(s)",
            if config.api.tls.is_some() {
                "https://"
            } else {
                "http://"
            },
            config.api.listen,
            config.api.tokens.len(),
            config.api.ingest_tokens.len()
        );
    } else {
        println!("api: off");
    }
    println!("configuration OK");
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

/// "keep everything", "400 days", or each class's period when they differ.
fn retention_label(policy: &store::retention::Policy) -> String {
    let days =
        |days: Option<u32>| days.map_or_else(|| "for ever".to_owned(), |d| format!("{d} days"));
    if !policy.is_enabled() {
        return "keep everything".to_owned();
    }
    if [policy.alerted_events, policy.alerts, policy.dead_letters]
        .iter()
        .all(|days| *days == policy.events)
    {
        return days(policy.events);
    }
    policy.describe(days)
}
