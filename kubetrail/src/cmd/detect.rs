//! `kubetrail detect`: retro-hunt. Runs the rules over files, prints alerts as JSON lines on
//! standard output, stores nothing.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use ::detect::{Detector, Engine, StateLimits};

use crate::cmd::{bad_input, check_inputs, engine, load_rules_with};
use crate::config::Config;
use crate::history::{self, Outputs};
use crate::sinks::write_json_lines;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Audit-log or Falco files, JSON lines, plain or gzip.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
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
    /// Take the rules, lists and state limits from this `serve` configuration (its
    /// `[detect]` table), so `detect` gives exactly the alerts `serve` gives.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    check_inputs(&args.files)?;
    let detector = match &args.config {
        Some(path) => {
            let config = Config::load(path).map_err(|e| bad_input(format!("{e:#}")))?;
            let mut paths = config.detect.rule_paths.clone();
            paths.extend(args.rules.iter().cloned());
            let rules = load_rules_with(
                config.detect.builtin_rules && !args.no_builtin_rules,
                &paths,
                &config.detect.lists,
            )?;
            Detector::new(Arc::new(Engine::new(rules)), config.detect.limits())
        }
        None => Detector::new(
            engine(!args.no_builtin_rules, &args.rules)?,
            StateLimits::default(),
        ),
    };
    let options = ingest::ReadOptions {
        cluster: args.cluster.clone(),
        keep_request_received: args.keep_request_received,
        ..ingest::ReadOptions::default()
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut on_alerts = |alerts: &[event::Alert]| -> anyhow::Result<()> {
        write_json_lines(&mut out, alerts)?;
        Ok(())
    };
    let mut on_progress = |_: u64| {};
    let summary = history::run(
        &args.files,
        &options,
        detector,
        ingest::Config::default().dedupe_capacity,
        Outputs {
            store: None,
            commit_max_events: usize::MAX,
            on_alerts: &mut on_alerts,
            on_progress: &mut on_progress,
        },
    )?;
    out.flush()?;
    eprintln!(
        "{} events, {} alerts, {} dead letters, {} duplicates dropped",
        summary.events,
        summary.alerts(),
        summary.dead_letters,
        summary.duplicates
    );
    Ok(ExitCode::SUCCESS)
}
