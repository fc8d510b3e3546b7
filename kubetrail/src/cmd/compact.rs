//! `kubetrail compact [--dry-run]`: merges the small files of settled partitions now, as
//! `serve` does in the background. Without `--dry-run` it needs the data directory to itself
//! (stop `serve`, or let it compact).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use store::StoreError;

use crate::cmd::bad_input;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration whose `[store]` table sets the data directory and `[store.compaction]`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory, instead of the configuration's.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// List the files that would be merged; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Merged files grow up to about this size (MiB), instead of the configuration's.
    #[arg(long, value_name = "MIB")]
    pub target_file_mb: Option<u64>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| bad_input(format!("{e:#}")))?,
        None => Config::default(),
    };
    if let Some(data_dir) = &args.data_dir {
        config.store.data_dir = data_dir.clone();
    }
    if let Some(target) = args.target_file_mb {
        config.store.compaction.target_file_mb = target;
    }
    config
        .store
        .validate()
        .map_err(|error| bad_input(format!("{error}")))?;
    let data_dir = &config.store.data_dir;
    if !data_dir.join(store::commit::COMMITS_DIR).is_dir() {
        return Err(bad_input(format!(
            "no data directory at {}",
            data_dir.display()
        )));
    }
    let options = config.store.compaction;
    let now = chrono::Utc::now();
    let mut out = std::io::stdout().lock();
    if args.dry_run {
        // A real run catches the search index up first, so every committed file may merge.
        let offload = config.store.object_store.is_some();
        let groups = store::compaction::plan(data_dir, &options, now, u64::MAX, offload)
            .context("compaction failed")?;
        for group in &groups {
            writeln!(
                out,
                "merge {}/{}: {} files, {} bytes",
                group.table,
                group.partition,
                group.inputs.len(),
                group.bytes()
            )?;
        }
        let files: usize = groups.iter().map(|group| group.inputs.len()).sum();
        let bytes: u64 = groups.iter().map(store::compaction::Group::bytes).sum();
        writeln!(
            out,
            "would merge {files} files ({bytes} bytes) into {}",
            groups.len()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let (mut stores, _) = pipeline::Stores::open(&config.store, config.search.clone())
        .map_err(|error| match error {
            pipeline::PipelineError::Store(StoreError::Locked { .. }) => bad_input(format!(
                "{} is in use (is serve running? it compacts in the background; use --dry-run to look)",
                data_dir.display()
            )),
            other => anyhow::Error::new(other).context("failed to open the data directory"),
        })?;
    let summary = stores.compact(&options, now).context("compaction failed")?;
    stores.close()?;
    match summary.seq {
        Some(seq) => writeln!(
            out,
            "merged {} files ({} bytes) into {} ({} bytes, {} rows), up to compaction commit {seq}",
            summary.files_in, summary.bytes_in, summary.groups, summary.bytes_out, summary.rows
        )?,
        None => writeln!(out, "nothing to merge")?,
    }
    if summary.purged > 0 {
        writeln!(
            out,
            "deleted {} retirement(s) past the {} s grace period",
            summary.purged, options.grace_seconds
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
