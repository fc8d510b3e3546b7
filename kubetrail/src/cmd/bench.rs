//! `kubetrail bench`: throughput figures measured on `generate` output, printed as events/s
//! and MB/s. Benchmarks are commands of their own, never part of the test run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::cmd::{human_bytes, peak_rss_bytes};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Decode + normalise + the built-in rules on one core, over generated events in memory.
    Detect {
        #[arg(long, default_value_t = 500_000)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Passes over the events; the best pass is reported.
        #[arg(long, default_value_t = 3)]
        passes: u32,
    },
    /// `import` of generated events into Parquet: events/s, MB/s, peak RSS, size ratio.
    Import {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Work directory (default: a temporary one, removed afterwards).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Events per store commit, as `import --commit-events`.
        #[arg(long, default_value_t = crate::cmd::import::DEFAULT_COMMIT_EVENTS)]
        commit_events: usize,
    },
    /// Alert latency of the live pipeline: from a line appended to a tailed file to its alert
    /// delivered, at a steady event rate (p50, p99, max).
    Latency {
        /// Events appended per second (one in 50 is an exec into a pod, which alerts).
        #[arg(long, default_value_t = 5_000)]
        rate: u64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Memory of the detection state with many distinct actors (new-term and threshold
    /// rules keep one group per actor): resident memory, snapshot size, events/s.
    State {
        #[arg(long, default_value_t = 1_000_000)]
        actors: u64,
    },
    /// Search through the HTTP API on generated events imported by the real pipeline: query
    /// latency (rare, selective, broad + histogram + facets), `rg` over the raw files, index
    /// size and indexing rate, and a mixed load of keep-alive clients (req/s, p50, p99).
    Search(super::bench_search::Args),
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Detect {
            events,
            seed,
            passes,
        } => bench_detect(events, seed, passes),
        Command::Import {
            events,
            seed,
            dir,
            commit_events,
        } => bench_import(events, seed, dir, commit_events),
        Command::Latency { rate, seconds } => super::bench_live::latency(rate, seconds),
        Command::State { actors } => super::bench_live::state(actors),
        Command::Search(args) => super::bench_search::run(&args),
    }
}

fn generated(events: u64, seed: u64) -> anyhow::Result<Vec<u8>> {
    let options = generate::Options {
        seed,
        attacks: true,
        ..generate::Options::default()
    };
    let mut data = Vec::new();
    generate::generate(options, events, &mut data, None::<&mut std::io::Sink>)?;
    Ok(data)
}

fn bench_detect(events: u64, seed: u64, passes: u32) -> anyhow::Result<ExitCode> {
    let data = generated(events, seed)?;
    // Lines are split once, outside the timed loops: splitting is the source's job (ingest
    // does it with memchr while reading), not part of decode + normalise + rules.
    let lines: Vec<&[u8]> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let engine = crate::cmd::engine(true, &[])?;
    let options = event::DecodeOptions::default();
    println!(
        "bench detect: {events} generated events, {}",
        human_bytes(data.len() as u64)
    );
    let mut decode_best = f64::MAX;
    let mut full_best = f64::MAX;
    let mut alerts_seen = 0;
    for _ in 0..passes.max(1) {
        // Decode + normalise only.
        let started = Instant::now();
        let mut out = Vec::with_capacity(1024);
        let mut decoded = 0usize;
        for line in &lines {
            out.clear();
            if event::decode_line(line, &options, &mut out).is_ok() {
                decoded += out.len();
            }
        }
        decode_best = decode_best.min(started.elapsed().as_secs_f64());
        std::hint::black_box(decoded);

        // Decode + normalise + rules, in batches as the pipeline does.
        let started = Instant::now();
        let mut detector = detect::Detector::new(engine.clone(), detect::StateLimits::default());
        let mut batch = Vec::with_capacity(4096);
        let mut alerts = Vec::new();
        for line in &lines {
            let _ = event::decode_line(line, &options, &mut batch);
            if batch.len() >= 4096 {
                detector.process_batch(&batch, &mut alerts);
                batch.clear();
            }
        }
        detector.process_batch(&batch, &mut alerts);
        full_best = full_best.min(started.elapsed().as_secs_f64());
        alerts_seen = alerts.len();
    }
    let mb = data.len() as f64 / 1e6;
    println!(
        "  decode + normalise:          {:>10.0} events/s  {:>7.1} MB/s",
        events as f64 / decode_best,
        mb / decode_best
    );
    println!(
        "  decode + normalise + rules:  {:>10.0} events/s  {:>7.1} MB/s  ({} rules, {alerts_seen} alerts)",
        events as f64 / full_best,
        mb / full_best,
        engine_rule_count()?
    );
    println!("  one thread; best of {passes} passes");
    Ok(ExitCode::SUCCESS)
}

fn engine_rule_count() -> anyhow::Result<usize> {
    Ok(crate::cmd::load_rules(true, &[])?.rules().count())
}

fn bench_import(
    events: u64,
    seed: u64,
    dir: Option<PathBuf>,
    commit_events: usize,
) -> anyhow::Result<ExitCode> {
    let temp;
    let dir = match dir {
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
        seed,
        attacks: true,
        ..generate::Options::default()
    };
    generate::generate(options, events, &mut out, None::<&mut std::io::Sink>)?;
    std::io::Write::flush(&mut out)?;
    drop(out);
    let raw_bytes = std::fs::metadata(&input)?.len();
    let data_dir = dir.join("data");
    let args = crate::cmd::import::Args {
        files: vec![input],
        data_dir: data_dir.clone(),
        cluster: "bench".to_owned(),
        rules: Vec::new(),
        no_builtin_rules: false,
        keep_request_received: false,
        commit_events,
        index_threads: None,
    };
    let summary = crate::cmd::import::import(&args)?;
    let parquet_bytes = tree_bytes(&data_dir.join("events"), "parquet")?;
    println!(
        "bench import: {} events, {} of JSON",
        summary.events,
        human_bytes(raw_bytes)
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
        human_bytes(parquet_bytes),
        raw_bytes as f64 / parquet_bytes.max(1) as f64
    );
    if let Some(rss) = peak_rss_bytes() {
        println!("  peak RSS: {}", human_bytes(rss));
    }
    Ok(ExitCode::SUCCESS)
}

/// Total size of files with extension `ext` under `dir`.
fn tree_bytes(dir: &Path, ext: &str) -> anyhow::Result<u64> {
    let mut total = 0;
    if !dir.exists() {
        return Ok(0);
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            total += tree_bytes(&path, ext)?;
        } else if path.extension().and_then(|e| e.to_str()) == Some(ext) {
            total += std::fs::metadata(&path)?.len();
        }
    }
    Ok(total)
}
