//! `kubetrail verify`: checks that every committed file is present and unaltered and that the
//! commit chain is whole (design.md §4 "Integrity and retention").

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use store::ledger::Head;
use store::{StoreError, VerifyOptions};

use crate::cmd::bad_input;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, default_value = "./kubetrail-data")]
    pub data_dir: PathBuf,
    /// A head printed by an earlier run (SEQ:SHA256): the chain must still hold it unchanged,
    /// and only files committed after it are hashed (older ones are checked for presence and
    /// size).
    #[arg(long, value_name = "SEQ:SHA256")]
    pub since: Option<Head>,
    /// Threads hashing files (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = VerifyOptions {
        since: args.since,
        threads: args.threads,
    };
    let report = match store::verify(&args.data_dir, &options) {
        Ok(report) => report,
        Err(StoreError::DataDirMissing { path }) => {
            return Err(bad_input(format!(
                "no data directory at {} (no _commits in it)",
                path.display()
            )));
        }
        Err(error) => return Err(error).context("verify failed"),
    };
    let head = report.head.as_ref().map(ToString::to_string);
    let mut out = std::io::stdout().lock();
    if args.json {
        let problems: Vec<_> = report
            .problems
            .iter()
            .map(|problem| {
                serde_json::json!({
                    "problem": problem.kind(),
                    "path": problem.path(),
                    "message": problem.to_string(),
                })
            })
            .collect();
        let summary = serde_json::json!({
            "ok": report.is_ok(),
            "head": head,
            "commits": report.entries,
            "files": report.files,
            "bytes": report.bytes,
            "hashed_files": report.hashed_files,
            "hashed_bytes": report.hashed_bytes,
            "problems": problems,
        });
        writeln!(out, "{summary}")?;
    } else {
        for problem in &report.problems {
            writeln!(out, "{problem}")?;
        }
        writeln!(
            out,
            "{}: {} commits in the chain, {} files ({} bytes), {} hashed; head {}",
            if report.is_ok() {
                "ok".to_owned()
            } else {
                let count = report.problems.len();
                format!(
                    "FAILED, {count} problem{}",
                    if count == 1 { "" } else { "s" }
                )
            },
            report.entries,
            report.files,
            report.bytes,
            report.hashed_files,
            head.as_deref().unwrap_or("none (empty ledger)"),
        )?;
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
