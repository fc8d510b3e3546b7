//! `kubetrail import`: backfill files through detection into both stores, with a progress bar
//! on a terminal and a summary at the end.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{DecimalBytes, ProgressBar, ProgressStyle};
use pipeline::history::{ImportOptions, Summary};

use crate::cmd::{RulesArgs, check_inputs};

/// Events per store commit unless `--commit-events` says otherwise.
pub const DEFAULT_COMMIT_EVENTS: usize = 100_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Audit-log or Falco files, JSON lines, plain or gzip.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Data directory (default: `[store] data_dir` of --config, else ./kubetrail-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Events per store commit (larger means fewer, bigger Parquet files; memory grows with
    /// it: about three commits' worth of events are in flight).
    #[arg(long, default_value_t = DEFAULT_COMMIT_EVENTS)]
    pub commit_events: usize,
    /// Search indexing threads (default: one per CPU, at most 4). Indexing is the costliest
    /// stage; its threads run beside decoding, detection and Parquet writing.
    #[arg(long)]
    pub index_threads: Option<usize>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    check_inputs(&args.files)?;
    let config = args.rules.config()?;
    let data_dir = match (&args.data_dir, &args.rules.config) {
        (Some(dir), _) => dir.clone(),
        (None, Some(_)) => config.store.data_dir.clone(),
        (None, None) => PathBuf::from(store::Config::DEFAULT_DATA_DIR),
    };
    let step = args.rules.detect_step(&config)?;
    let import = ImportOptions {
        store: store::Config {
            data_dir: data_dir.clone(),
            ..config.store.clone()
        },
        search: search::IndexOptions::for_import(args.index_threads),
        commit_max_events: args.commit_events,
    };
    let progress = progress_bar(&args.files);
    let mut read_options = args.rules.read_options(&config);
    // A commit takes whole batches: no batch may be larger than a commit.
    read_options.batch_max_events = read_options.batch_max_events.min(args.commit_events.max(1));
    let summary =
        pipeline::history::import(&args.files, &read_options, step, &import, &mut |bytes| {
            progress.set_position(bytes)
        })
        .context("import failed")?;
    progress.finish_and_clear();
    print_summary(&summary, &data_dir);
    Ok(ExitCode::SUCCESS)
}

/// A bar over the input's bytes on a terminal; hidden otherwise.
fn progress_bar(files: &[PathBuf]) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total_bytes: u64 = files
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|metadata| metadata.len())
        .sum();
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .expect("the progress template is valid"),
    );
    bar
}

fn print_summary(summary: &Summary, data_dir: &Path) {
    let rate = summary.events as f64 / summary.seconds.max(1e-9);
    let mb_rate = summary.bytes as f64 / 1e6 / summary.seconds.max(1e-9);
    eprintln!(
        "imported {} events from {} file(s) ({}) in {:.1}s: {:.0} events/s, {:.1} MB/s",
        summary.events,
        summary.files,
        DecimalBytes(summary.bytes),
        summary.seconds,
        rate,
        mb_rate
    );
    eprintln!(
        "  {} file(s) skipped as already imported, {} duplicates dropped, {} RequestReceived filtered, {} dead letters, {} alerts, {} commits",
        summary.skipped_files,
        summary.duplicates,
        summary.filtered,
        summary.dead_letters,
        summary.alerts(),
        summary.commits
    );
    for (rule, count) in &summary.alerts_by_rule {
        eprintln!("  {count:>8}  {rule}");
    }
    eprintln!("  data directory: {}", data_dir.display());
}
