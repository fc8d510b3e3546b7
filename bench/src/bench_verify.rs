//! `verify`: the integrity check of a data directory written as the live pipeline writes it
//! (many small commits): a full run (every file hashed), a run from a recorded head after one
//! more commit (only that commit's files hashed), the ledger's size per commit, and what
//! hashing each committed file costs a commit.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use indicatif::DecimalBytes;
use store::VerifyOptions;

use crate::bench_import::{generate_file, import, work_dir};
use crate::measure;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Events per store commit (the live pipeline commits every second or 10,000 events).
    #[arg(long, default_value_t = 10_000)]
    pub commit_events: usize,
    /// Hashing threads of `verify` (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Work directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
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
    let data_dir = dir.join("data");
    let summary = import(
        std::slice::from_ref(&input),
        &data_dir,
        args.commit_events,
        None,
    )?;
    let ledger_bytes = measure::dir_bytes(&data_dir.join(store::ledger::LEDGER_DIR), None);
    println!(
        "bench verify: {} events imported in {} commits of {} events ({:.0} events/s with every file hashed into the ledger)",
        summary.events,
        summary.commits,
        args.commit_events,
        summary.events as f64 / summary.seconds
    );
    println!(
        "  ledger: {} ({:.0} bytes per commit)",
        DecimalBytes(ledger_bytes),
        ledger_bytes as f64 / summary.commits.max(1) as f64
    );
    // Cold cache is not reachable without root; the files were just written, so this is the
    // hashing and listing cost, the disk's read rate aside.
    let options = VerifyOptions {
        since: None,
        threads: args.threads,
    };
    let started = Instant::now();
    let cpu = measure::cpu_seconds();
    let full = store::verify(&data_dir, &options)?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(full.is_ok(), "verify found problems: {:?}", full.problems);
    println!(
        "  full verify: {} commits, {} files, {} hashed in {seconds:.2}s: {:.0} MB/s, {:.2} CPU s",
        full.entries,
        full.files,
        DecimalBytes(full.hashed_bytes),
        full.hashed_bytes as f64 / 1e6 / seconds,
        measure::cpu_seconds() - cpu
    );
    // One more day's worth of commits, then verify from the head recorded before them.
    let head = full.head.context("a head")?;
    let more = dir.join("more.jsonl");
    let options = generate::Options {
        seed: args.seed + 1,
        attacks: true,
        // 2026-02-01T00:00:00Z: days after the first import, in partitions of their own.
        start_time_micros: 1_769_904_000_000_000,
        ..generate::Options::default()
    };
    generate_file(&more, options, (args.commit_events * 10) as u64)?;
    import(
        std::slice::from_ref(&more),
        &data_dir,
        args.commit_events,
        None,
    )?;
    let options = VerifyOptions {
        since: Some(head),
        threads: args.threads,
    };
    let started = Instant::now();
    let incremental = store::verify(&data_dir, &options)?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        incremental.is_ok(),
        "verify found problems: {:?}",
        incremental.problems
    );
    println!(
        "  verify --since the recorded head, after 10 more commits: {} files, {} hashed ({} files) in {:.3}s",
        incremental.files,
        DecimalBytes(incremental.hashed_bytes),
        incremental.hashed_files,
        seconds
    );
    Ok(())
}
