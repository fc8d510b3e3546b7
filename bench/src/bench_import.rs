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

pub fn run(args: &Args) -> anyhow::Result<()> {
    let temp;
    let dir = match args.dir.clone() {
        Some(dir) => dir,
        None => {
            temp = tempfile::Builder::new()
                .prefix("kubetrail-bench-")
                .tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let input = dir.join("generated.jsonl");
    // Streamed to disk so the peak RSS below is the import's, not the generator's.
    let file = std::fs::File::create(&input)
        .with_context(|| format!("failed to create {}", input.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let options = generate::Options {
        seed: args.seed,
        attacks: true,
        ..generate::Options::default()
    };
    generate::generate(options, args.events, &mut out, None::<&mut std::io::Sink>)?;
    std::io::Write::flush(&mut out)?;
    drop(out);
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
    let detect = detect::Config::default();
    let step = DetectStep::new(
        pipeline::build_engine(&detect)?,
        &detect,
        ingest::Config::default().dedupe_capacity,
        Arc::new(Stats::default()),
    );
    let import = ImportOptions {
        store: store::Config::with_data_dir(data_dir),
        search: search::IndexOptions::for_import(index_threads),
        commit_max_events: commit_events,
    };
    let read = ingest::ReadOptions {
        cluster: "bench".to_owned(),
        ..ingest::ReadOptions::default()
    };
    Ok(pipeline::history::import(
        files,
        &read,
        step,
        &import,
        &mut |_| {},
    )?)
}
