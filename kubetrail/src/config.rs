//! The TOML configuration: one table per stage, each owned by its crate, unknown keys
//! rejected, validated once at start-up.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// The whole configuration file (`deploy/config/kubetrail.toml` is the documented example).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub ingest: ingest::Config,
    #[serde(default)]
    pub detect: detect::Config,
    #[serde(default)]
    pub store: store::Config,
    #[serde(default)]
    pub alerts: sinks::AlertsConfig,
    #[serde(default)]
    pub pipeline: pipeline::Config,
    #[serde(default)]
    pub api: api::ApiConfig,
    /// The write-ahead log of pushed bodies (`[wal]`).
    #[serde(default)]
    pub wal: ingest::WalConfig,
    /// The search index's writers (`[search]`).
    #[serde(default)]
    pub search: search::IndexOptions,
}

impl Config {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read config {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("invalid config {}", path.display()))
    }

    /// Parses and validates configuration text. A syntax error is one line naming its
    /// position.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let mut config: Config = toml::from_str(text).map_err(|error| {
            let message = error.message().trim().replace('\n', " ");
            match error.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
                    anyhow::anyhow!("line {line}, column {column}: {message}")
                }
                None => anyhow::anyhow!("{message}"),
            }
        })?;
        config.api.load_credentials()?;
        if let Some(remote) = &mut config.store.object_store {
            remote.resolve_writer(|variable| std::env::var(variable).ok())?;
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.ingest.validate()?;
        self.detect.validate()?;
        self.store.validate()?;
        self.alerts.validate()?;
        self.pipeline.validate()?;
        self.api.validate()?;
        self.wal.validate()?;
        Ok(())
    }

    /// Whether the API's ingest routes feed the pipeline (the audit webhook, Falco).
    pub fn ingests_pushed_events(&self) -> bool {
        self.api.enabled
            && !(self.api.ingest_tokens.is_empty() && self.api.ingest_certificates.is_empty())
    }

    /// The live pipeline's part of the configuration.
    pub fn live_options(&self) -> pipeline::LiveOptions {
        pipeline::LiveOptions {
            store: self.store.clone(),
            search: self.search.clone(),
            detect: self.detect.clone(),
            dedupe_capacity: self.ingest.dedupe_capacity,
            pipeline: self.pipeline.clone(),
        }
    }

    /// `serve` needs at least one source: files to follow, Kafka topics, or ingest tokens or
    /// certificates for pushed events.
    pub fn check_sources(&self) -> anyhow::Result<()> {
        if self.ingest.files.is_empty()
            && self.ingest.kafka.is_empty()
            && !self.ingests_pushed_events()
        {
            bail!(
                "no sources configured: add an [[ingest.files]] or [[ingest.kafka]] table, or [[api.ingest_tokens]] (or [[api.ingest_certificates]]) for the audit webhook and Falco"
            );
        }
        Ok(())
    }
}
