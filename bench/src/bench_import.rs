//! `import`: generated events through `kubetrail import`'s path (decode, rules, Parquet,
//! search index): events/s, MB/s, peak RSS and the Parquet size.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use indicatif::DecimalBytes;
use pipeline::history::{ImportOptions, Summary};
use pipeline::{DetectStep, Stats};

use crate::measure;

/// Events per store commit of `kubetrail import`.
pub const IMPORT_COMMIT_EVENTS: usize = 100_000;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Work directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Events per store commit, as `import --commit-events`.
    #[arg(long, default_value_t = IMPORT_COMMIT_EVENTS)]
    pub commit_events: usize,
}

/// `dir`, or a temporary directory removed when the returned guard drops.
pub fn work_dir(dir: Option<PathBuf>) -> anyhow::Result<(Option<tempfile::TempDir>, PathBuf)> {
    Ok(match dir {
        Some(dir) => (None, dir),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("kubetrail-bench-")
                .tempdir()?;
            let path = temp.path().to_path_buf();
            (Some(temp), path)
        }
    })
}

/// Writes `events` generated events with attacks to `path`, streamed to disk (so a peak RSS
/// measured afterwards is not the generator's).
pub fn generate_file(path: &Path, options: generate::Options, events: u64) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    generate::generate(options, events, &mut out, None::<&mut std::io::Sink>)?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let (_temp, dir) = work_dir(args.dir.clone())?;
    let input = dir.join("generated.jsonl");
    let options = generate::Options {
        seed: args.seed,
        attacks: true,
        ..generate::Options::default()
    };
    generate_file(&input, options, args.events)?;
    let raw_bytes = std::fs::metadata(&input)?.len();
    let data_dir = dir.join("data");
    let summary = import(
        std::slice::from_ref(&input),
        &data_dir,
        args.commit_events,
        None,
    )?;
    let parquet_bytes = measure::dir_bytes(&data_dir.join("events"), Some("parquet"));
    println!(
        "bench import: {} events, {} of JSON",
        summary.events,
        DecimalBytes(raw_bytes)
    );
    println!(
        "  {:.0} events/s, {:.1} MB/s, {:.1}s, {} commits, {} alerts",
        summary.events as f64 / summary.seconds,
        raw_bytes as f64 / 1e6 / summary.seconds,
        summary.seconds,
        summary.commits,
        summary.alerts()
    );
    println!(
        "  events Parquet: {} = 1/{:.1} of the JSON",
        DecimalBytes(parquet_bytes),
        raw_bytes as f64 / parquet_bytes.max(1) as f64
    );
    if let Some(rss) = measure::peak_rss_bytes() {
        println!("  peak RSS: {}", DecimalBytes(rss));
    }
    Ok(())
}

/// What `kubetrail import --cluster bench --data-dir DATA_DIR FILES...` does.
pub fn import(
    files: &[PathBuf],
    data_dir: &Path,
    commit_events: usize,
    index_threads: Option<usize>,
) -> anyhow::Result<Summary> {
    import_into(
        files,
        store::Config::with_data_dir(data_dir),
        commit_events,
        index_threads,
    )
}

/// [`import`] into the store `store` configures (a bucket, say).
pub fn import_into(
    files: &[PathBuf],
    store: store::Config,
    commit_events: usize,
    index_threads: Option<usize>,
) -> anyhow::Result<Summary> {
    let detect = detect::Config::default();
    let step = DetectStep::new(
        pipeline::build_engine(&detect)?,
        &detect,
        ingest::Config::default().dedupe_capacity,
        Arc::new(Stats::default()),
    );
    let import = ImportOptions {
        store,
        search: search::IndexOptions::for_import(index_threads),
        commit_max_events: commit_events,
    };
    let defaults = ingest::ReadOptions::default();
    let read = ingest::ReadOptions {
        cluster: "bench".to_owned(),
        // As `kubetrail import`: no batch larger than a commit.
        batch_max_events: defaults.batch_max_events.min(commit_events.max(1)),
        ..defaults
    };
    Ok(pipeline::history::import(
        files,
        &read,
        step,
        &import,
        &mut |_| {},
    )?)
}
