//! `kubetrail detect`: retro-hunt. Runs the rules over files, prints alerts as JSON lines on
//! standard output, stores nothing.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use pipeline::{DetectStep, Stats};

use crate::cmd::{RulesArgs, check_inputs, engine};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Audit-log or Falco files, JSON lines, plain or gzip.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub rules: RulesArgs,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    check_inputs(&args.files)?;
    let config = args.rules.config()?;
    let detect = args.rules.detect_config(&config);
    let step = DetectStep::new(
        engine(&detect)?,
        &detect,
        config.ingest.dedupe_capacity,
        Arc::new(Stats::default()),
    );
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let summary = pipeline::history::detect(
        &args.files,
        &args.rules.read_options(&config),
        step,
        &mut |alerts| {
            sinks::write_json_lines(&mut out, alerts)
                .map_err(|error| format!("failed to write alerts: {error}"))
        },
    )
    .context("detect failed")?;
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
