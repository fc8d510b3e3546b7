//! `kubetrail retention run [--dry-run]`: applies (or lists) retention by class with the legal
//! holds, as `serve` does every hour. Without `--dry-run` it needs the data directory to
//! itself (stop `serve`, or let it do the run).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use store::StoreError;

use crate::cmd::bad_input;
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Remove (or with --dry-run, list) what is past its class's retention and not held.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The configuration whose `[store]` table sets the data directory and the periods.
    #[arg(long)]
    pub config: PathBuf,
    /// Data directory, instead of the configuration's.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// List what would go and what a hold keeps; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply retention as of this UTC day (YYYY-MM-DD) instead of today.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<chrono::NaiveDate>,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let Command::Run(args) = command;
    let mut config = Config::load(&args.config).map_err(|e| bad_input(format!("{e:#}")))?;
    if let Some(data_dir) = args.data_dir {
        config.store.data_dir = data_dir;
    }
    let policy = config.store.retention_policy();
    if !policy.is_enabled() {
        return Err(bad_input(format!(
            "{} keeps everything: set [store] retention_days or [store.retention]",
            args.config.display()
        )));
    }
    let data_dir = &config.store.data_dir;
    if !data_dir.is_dir() {
        return Err(bad_input(format!(
            "no data directory at {}",
            data_dir.display()
        )));
    }
    let today = args
        .as_of
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let plan = if args.dry_run {
        let holds = store::holds::list(data_dir).context("failed to read the holds")?;
        store::retention::plan(data_dir, &policy, &holds, today).context("retention failed")?
    } else {
        let (mut stores, _) = pipeline::Stores::open(&config.store, config.search.clone())
            .map_err(|error| match error {
                pipeline::PipelineError::Store(StoreError::Locked { .. }) => bad_input(format!(
                    "{} is in use (is serve running? it applies retention itself every hour; use --dry-run to look)",
                    data_dir.display()
                )),
                other => anyhow::Error::new(other).context("failed to open the data directory"),
            })?;
        let plan = stores
            .apply_retention(&policy, today)
            .context("retention failed")?;
        stores.close()?;
        plan
    };
    let mut out = std::io::stdout().lock();
    for action in &plan.actions {
        writeln!(out, "{action}")?;
    }
    for held in &plan.held {
        writeln!(
            out,
            "hold {}/{} (past its period): {} keeps its rows",
            held.table,
            held.partition,
            held.holds.join(", ")
        )?;
    }
    writeln!(
        out,
        "{}: {}{}",
        if args.dry_run {
            "would remove"
        } else {
            "removed"
        },
        plan.summary(),
        plan.seq
            .map(|seq| format!(", in retention commit {seq}"))
            .unwrap_or_default()
    )?;
    Ok(ExitCode::SUCCESS)
}
