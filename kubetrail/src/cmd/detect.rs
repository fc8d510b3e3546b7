//! `kubetrail detect`: retro-hunt. Runs the rules over files, prints alerts as JSON lines on
//! standard output, stores nothing.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::cmd::{RulesArgs, check_inputs};

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
    let step = args.rules.detect_step(&config)?;
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
