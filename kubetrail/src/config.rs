//! The TOML configuration: one table per stage, unknown keys rejected, validated once at start-up.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The whole configuration file (`deploy/config/kubetrail.toml` is the documented example).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub ingest: ingest::Config,
    #[serde(default)]
    pub detect: DetectConfig,
    #[serde(default)]
    pub store: store::Config,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(default)]
    pub api: query::http::ApiConfig,
    /// The search index's writers (`[search]`).
    #[serde(default)]
    pub search: search::IndexOptions,
}

/// Which rules run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// Load the built-in rule pack.
    #[serde(default = "default_true")]
    pub builtin_rules: bool,
    /// Extra rule files or directories of `.yaml` rule files.
    #[serde(default)]
    pub rule_paths: Vec<PathBuf>,
    /// Groups (actors, pods, terms...) each stateful rule remembers; the least recently seen
    /// are evicted beyond it.
    #[serde(default = "default_max_keys_per_rule")]
    pub max_keys_per_rule: usize,
    /// How late (event time) an event may arrive and still feed stateful rules.
    #[serde(default = "default_lateness_ms")]
    pub lateness_ms: u64,
    /// Lists replacing the rule files' lists of the same name (trusted registries, system
    /// identities, system namespaces...), so rules need no editing.
    #[serde(default)]
    pub lists: detect::ListOverrides,
}

impl DetectConfig {
    pub fn limits(&self) -> detect::StateLimits {
        detect::StateLimits {
            max_keys_per_rule: self.max_keys_per_rule,
            lateness_micros: i64::try_from(self.lateness_ms.saturating_mul(1_000))
                .unwrap_or(i64::MAX),
        }
    }
}

fn default_max_keys_per_rule() -> usize {
    detect::StateLimits::default().max_keys_per_rule
}

fn default_lateness_ms() -> u64 {
    u64::try_from(detect::StateLimits::default().lateness_micros / 1_000).unwrap_or(0)
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            builtin_rules: true,
            rule_paths: Vec::new(),
            max_keys_per_rule: default_max_keys_per_rule(),
            lateness_ms: default_lateness_ms(),
            lists: detect::ListOverrides::new(),
        }
    }
}

/// Where alerts go besides the `alerts` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Print each alert as a JSON line on standard output.
    #[serde(default)]
    pub stdout: bool,
    /// Append each alert as a JSON line to this file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Remote and other sinks, delivered through the durable outbox (`[[alerts.sinks]]`).
    #[serde(default)]
    pub sinks: Vec<sinks::SinkConfig>,
    /// Where the outbox keeps undelivered alerts (default: `_outbox` in the data directory).
    #[serde(default)]
    pub outbox_dir: Option<PathBuf>,
}

impl AlertsConfig {
    pub fn outbox_dir(&self, data_dir: &Path) -> PathBuf {
        self.outbox_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("_outbox"))
    }
}

/// Sizes of the channels between stages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Batches buffered between two stages before the earlier stage waits (back-pressure).
    #[serde(default = "default_channel_batches")]
    pub channel_batches: usize,
    /// Longest time events wait in memory before they are committed to the store. Alerts do
    /// not wait for this: they are delivered as soon as the rules have run.
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// Commit as soon as this many events are waiting.
    #[serde(default = "default_commit_max_events")]
    pub commit_max_events: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            channel_batches: default_channel_batches(),
            commit_interval_ms: default_commit_interval_ms(),
            commit_max_events: default_commit_max_events(),
        }
    }
}

fn default_commit_interval_ms() -> u64 {
    5_000
}

fn default_commit_max_events() -> usize {
    200_000
}

fn default_true() -> bool {
    true
}

fn default_channel_batches() -> usize {
    4
}

impl Config {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read config {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("invalid config {}", path.display()))
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.ingest.validate()?;
        if self.pipeline.channel_batches == 0 {
            bail!("pipeline.channel_batches must be at least 1");
        }
        if self.pipeline.commit_max_events == 0 || self.pipeline.commit_interval_ms == 0 {
            bail!("pipeline.commit_max_events and pipeline.commit_interval_ms must be positive");
        }
        sinks::validate_sinks(&self.alerts.sinks)?;
        if self.detect.max_keys_per_rule == 0 {
            bail!("detect.max_keys_per_rule must be at least 1");
        }
        self.api.validate().map_err(anyhow::Error::msg)?;
        self.store.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_config_parses_and_validates() {
        let text = include_str!("../../deploy/config/kubetrail.toml");
        let config = Config::parse(text).expect("example config is valid");
        assert_eq!(config.ingest.files.len(), 2);
        assert_eq!(config.ingest.files[0].cluster, "prod-eu-1");
        assert_eq!(config.store.data_dir, PathBuf::from("/var/lib/kubetrail"));
        assert!(config.alerts.stdout);
        assert_eq!(config.pipeline.commit_max_events, 200_000);
        assert_eq!(config.api.tokens.len(), 2);
        assert_eq!(config.api.ingest_tokens[0].cluster, "prod-eu-1");
        assert!(config.search.positions);
        assert_eq!(config.store.retention_days, Some(400));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        for text in [
            "[ingest]\nno_such_key = 1\n",
            "[nosuchtable]\n",
            "[pipeline]\nchannel_batches = 0\n",
            "[pipeline]\ncommit_interval_ms = 0\n",
            "[ingest]\nmax_line_bytes = 0\n",
            "[api]\nno_such_key = 1\n",
            "[[api.tokens]]\nname = \"a\"\nsha256 = \"plaintext-token\"\nrole = \"viewer\"\n",
            "[[api.tokens]]\nname = \"a\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nrole = \"root\"\n",
            "[search]\nno_such_key = 1\n",
            "[store]\nretention_days = 0\n",
        ] {
            assert!(Config::parse(text).is_err(), "accepted: {text}");
        }
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let config = Config::parse("").expect("defaults are valid");
        assert!(config.detect.builtin_rules);
        assert_eq!(config.pipeline.channel_batches, 4);
    }
}
