//! One module per subcommand, plus what they share.

pub mod compact;
pub mod demo;
pub mod detect;
pub mod generate;
pub mod hold;
pub mod import;
pub mod retention;
pub mod rules;
pub mod search;
pub mod serve;
pub mod sql;
pub mod token;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::detect::Engine;

use crate::config::Config;

/// Marks an error as the caller's mistake (bad usage or bad input): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Returns a `BadInput` error.
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    BadInput(message.into()).into()
}

/// Options of the commands that read files through the rules (`import`, `detect`).
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Extra rule file or directory (repeatable).
    #[arg(long = "rules")]
    pub rules: Vec<PathBuf>,
    /// Do not load the built-in rules (only those given with --rules).
    #[arg(long)]
    pub no_builtin_rules: bool,
    /// Cluster name given to the events.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Keep `RequestReceived` stage events (dropped by default).
    #[arg(long)]
    pub keep_request_received: bool,
    /// Take the `[detect]` table (rules, lists, state limits) and the `[ingest]` settings
    /// (RequestReceived, line size, dedupe) from this `serve` configuration, so the alerts are
    /// the ones `serve` gives. --rules and --no-builtin-rules still apply on top.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl RulesArgs {
    /// The configuration named by `--config`, or the defaults.
    pub fn config(&self) -> anyhow::Result<Config> {
        match &self.config {
            Some(path) => Config::load(path).map_err(|e| bad_input(format!("{e:#}"))),
            None => Ok(Config::default()),
        }
    }

    /// The `[detect]` table with the command line applied on top.
    pub fn detect_config(&self, config: &Config) -> ::detect::Config {
        let mut detect = config.detect.clone();
        detect.builtin_rules &= !self.no_builtin_rules;
        detect.rule_paths.extend(self.rules.iter().cloned());
        detect
    }

    /// The detect step of `import` and `detect`: the `[detect]` table with the command line
    /// on top, and the configured dedupe memory.
    pub fn detect_step(&self, config: &Config) -> anyhow::Result<pipeline::DetectStep> {
        let detect = self.detect_config(config);
        Ok(pipeline::DetectStep::new(
            engine(&detect)?,
            &detect,
            config.ingest.dedupe_capacity,
            Arc::new(pipeline::Stats::default()),
        ))
    }

    /// How to read the files.
    pub fn read_options(&self, config: &Config) -> ingest::ReadOptions {
        ingest::ReadOptions {
            cluster: self.cluster.clone(),
            keep_request_received: self.keep_request_received
                || config.ingest.keep_request_received,
            max_line_bytes: config.ingest.max_line_bytes,
            ..ingest::ReadOptions::default()
        }
    }
}

/// The `[detect]` table of the built-in pack plus the rule files at `paths`.
pub fn builtin_and(paths: &[PathBuf]) -> ::detect::Config {
    ::detect::Config {
        rule_paths: paths.to_vec(),
        ..::detect::Config::default()
    }
}

/// The rules of a `[detect]` table; rule files that do not load are the caller's mistake.
pub fn rule_set(config: &::detect::Config) -> anyhow::Result<::detect::RuleSet> {
    config
        .load_rules()
        .map_err(|error| bad_input(error_chain(&error)))
}

/// The engine of a `[detect]` table; rule files that do not load are the caller's mistake.
pub fn engine(config: &::detect::Config) -> anyhow::Result<Arc<Engine>> {
    pipeline::build_engine(config).map_err(|e| bad_input(error_chain(&e)))
}

/// An error with its sources, on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Checks that every input file exists before any work starts.
pub fn check_inputs(paths: &[PathBuf]) -> anyhow::Result<()> {
    if paths.is_empty() {
        return Err(bad_input("no input files given"));
    }
    for path in paths {
        if !Path::new(path).is_file() {
            return Err(bad_input(format!("no such file: {}", path.display())));
        }
    }
    Ok(())
}
