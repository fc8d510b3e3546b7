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
    /// Skip the search indexes (their files' checksums, and their events per day against the
    /// Parquet's).
    #[arg(long)]
    pub no_search: bool,
}

/// A problem of the search indexes: `(kind, path, message)`.
type SearchProblem = (&'static str, Option<String>, String);

/// The search indexes' own problems: files that are altered, unexpected or unreadable, and
/// days whose index does not hold the events their Parquet holds.
fn search_problems(
    data_dir: &std::path::Path,
    store_seq: u64,
) -> anyhow::Result<Vec<SearchProblem>> {
    let dir = pipeline::search_dir(data_dir);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut problems: Vec<SearchProblem> = search::integrity::check_files(&dir)
        .context("failed to check the search indexes")?
        .into_iter()
        .map(|problem| {
            let path = format!("search/{}", problem.path.display());
            let message = format!("{} {path}: {}", problem.kind, problem.detail);
            (problem.kind, Some(path), message)
        })
        .collect();
    let parquet = store::read_back::rows_per_day(data_dir, store::commit::EVENTS_DIR)
        .context("failed to count the events per day")?;
    let searcher = match search::Searcher::open(&dir) {
        Ok(searcher) => searcher,
        Err(search::SearchError::NotFound { .. }) if parquet.is_empty() => return Ok(problems),
        Err(error) => {
            problems.push((
                "search_mismatch",
                Some("search".to_owned()),
                format!("the search index does not open: {error}"),
            ));
            return Ok(problems);
        }
    };
    // An index behind the store (a kill between the store's commit and the index's) is caught
    // up from Parquet at the next start: its counts say nothing yet.
    if searcher.committed_seq() < store_seq {
        eprintln!(
            "note: the search index is behind the store (commit {} of {store_seq}); it catches up at the next start, so its events per day were not compared",
            searcher.committed_seq()
        );
        return Ok(problems);
    }
    let mut days: std::collections::BTreeSet<chrono::NaiveDate> = parquet.keys().copied().collect();
    days.extend(search::integrity::days(&dir).context("failed to list the search days")?);
    // Days kept in the bucket only would have to be fetched whole to be counted.
    let cold = search::cold_days(&dir).context("failed to read the cold search days")?;
    if !cold.is_empty() {
        eprintln!(
            "note: {} search day(s) are kept in the bucket only; their events per day were not compared (a search over them fetches them)",
            cold.len()
        );
    }
    for day in days.difference(&cold) {
        let start = day
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros();
        let request = search::SearchRequest {
            query: "*".to_owned(),
            from: Some(start),
            to: Some(start + 86_400_000_000),
            limit: 1,
            ..search::SearchRequest::default()
        };
        let indexed = searcher
            .search(&request)
            .context("failed to count a day's events")?
            .total;
        let stored = parquet.get(day).copied().unwrap_or(0);
        if indexed != stored {
            problems.push((
                "search_mismatch",
                Some(format!("search/date={day}")),
                format!("search index of {day} holds {indexed} events, its Parquet {stored} (an index changed or behind)"),
            ));
        }
    }
    Ok(problems)
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
    let search = if args.no_search {
        Vec::new()
    } else {
        let store_seq = report.head.as_ref().map_or(0, |head| head.seq);
        search_problems(&args.data_dir, store_seq)?
    };
    let ok = report.is_ok() && search.is_empty();
    let count = report.problems.len() + search.len();
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
            .chain(search.iter().map(|(kind, path, message)| {
                serde_json::json!({ "problem": kind, "path": path, "message": message })
            }))
            .collect();
        let summary = serde_json::json!({
            "ok": ok,
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
        for (_, _, message) in &search {
            writeln!(out, "{message}")?;
        }
        writeln!(
            out,
            "{}: {} commit{} in the chain, {} files ({} bytes), {} hashed; head {}",
            if ok {
                "ok".to_owned()
            } else {
                format!(
                    "FAILED, {count} problem{}",
                    if count == 1 { "" } else { "s" }
                )
            },
            report.entries,
            if report.entries == 1 { "" } else { "s" },
            report.files,
            report.bytes,
            report.hashed_files,
            head.as_deref().unwrap_or("none (empty ledger)"),
        )?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
