//! `kubetrail import`: backfill files through detection into both stores, with a progress bar
//! on a terminal and a summary at the end.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use detect::{Detector, StateLimits};
use indicatif::{ProgressBar, ProgressStyle};
use store::ColumnarStore;

use crate::cmd::{check_inputs, engine, human_bytes};
use crate::history::{self, Outputs, Summary};
use crate::pending::read_stored_checkpoint;

/// Events per store commit unless `--commit-events` says otherwise.
pub const DEFAULT_COMMIT_EVENTS: usize = 100_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Audit-log or Falco files, JSON lines, plain or gzip.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Data directory.
    #[arg(long, default_value = "./kubetrail-data")]
    pub data_dir: PathBuf,
    /// Cluster name given to the imported events.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Extra rule file or directory (repeatable).
    #[arg(long = "rules")]
    pub rules: Vec<PathBuf>,
    /// Do not load the built-in rules.
    #[arg(long)]
    pub no_builtin_rules: bool,
    /// Keep `RequestReceived` stage events (dropped by default).
    #[arg(long)]
    pub keep_request_received: bool,
    /// Events per store commit (larger means fewer, bigger Parquet files; memory grows with
    /// it: about three commits' worth of events are in flight).
    #[arg(long, default_value_t = DEFAULT_COMMIT_EVENTS)]
    pub commit_events: usize,
    /// Search indexing threads (default: one per CPU, at most 4). Indexing is the costliest
    /// stage; its threads run beside decoding, detection and Parquet writing.
    #[arg(long)]
    pub index_threads: Option<usize>,
}

/// The search writers' options for an import with `threads` indexing threads: the default
/// memory per thread, so segments are as large as with one.
pub fn index_options(threads: Option<usize>) -> search::IndexOptions {
    let threads = threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| usize::from(n).min(4))
        })
        .max(1);
    let defaults = search::IndexOptions::default();
    search::IndexOptions {
        indexing_threads: threads,
        memory_budget_bytes: defaults.memory_budget_bytes * threads,
        ..defaults
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    check_inputs(&args.files)?;
    let summary = import(&args)?;
    print_summary(&summary, &args.data_dir);
    Ok(ExitCode::SUCCESS)
}

/// Runs the import and returns its summary (also used by `bench import`).
pub fn import(args: &Args) -> anyhow::Result<Summary> {
    let mut detector = Detector::new(
        engine(!args.no_builtin_rules, &args.rules)?,
        StateLimits::default(),
    );
    let store_config = store::Config {
        data_dir: args.data_dir.clone(),
        ..store::Config::default()
    };
    let (store, checkpoint) =
        ColumnarStore::open(&store_config).context("failed to open the data directory")?;
    let index = crate::indexing::open(&args.data_dir, index_options(args.index_threads))?;
    // Positions already stored (by an earlier import or by `serve`): what was read is skipped,
    // and stateful rules go on from the state stored with those positions.
    let (start, detection) = read_stored_checkpoint(checkpoint)?;
    if let Some(snapshot) = detection
        && let Err(error) = detector.restore(&snapshot)
    {
        tracing::warn!(%error, "starting with empty detection state");
    }
    let total_bytes: u64 = args
        .files
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|m| m.len())
        .sum();
    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total_bytes);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            )
            .expect("the progress template is valid"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let options = ingest::ReadOptions {
        cluster: args.cluster.clone(),
        keep_request_received: args.keep_request_received,
        start,
        ..ingest::ReadOptions::default()
    };
    let mut on_alerts = |_: &[event::Alert]| Ok(());
    let mut on_progress = |bytes: u64| progress.set_position(bytes);
    let summary = history::run(
        &args.files,
        &options,
        detector,
        ingest::Config::default().dedupe_capacity,
        Outputs {
            store: Some((store, index)),
            commit_max_events: args.commit_events,
            on_alerts: &mut on_alerts,
            on_progress: &mut on_progress,
        },
    )?;
    progress.finish_and_clear();
    Ok(summary)
}

fn print_summary(summary: &Summary, data_dir: &std::path::Path) {
    let rate = summary.events as f64 / summary.seconds.max(1e-9);
    let mb_rate = summary.bytes as f64 / 1e6 / summary.seconds.max(1e-9);
    eprintln!(
        "imported {} events from {} file(s) ({}) in {:.1}s: {:.0} events/s, {:.1} MB/s",
        summary.events,
        summary.files,
        human_bytes(summary.bytes),
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
