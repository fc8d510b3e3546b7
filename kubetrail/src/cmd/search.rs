//! `kubetrail search QUERY`: the search index from the command line, hits as JSON lines,
//! newest first.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cmd::bad_input;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Query, e.g. `user:alice AND verb:delete`, `"kube-system"`, `code:[400 TO 499]`,
    /// `name:nginx-*`; bare words match anywhere in the raw event.
    pub query: String,
    /// Data directory.
    #[arg(long, default_value = "./kubetrail-data")]
    pub data_dir: PathBuf,
    /// Start of the time range: RFC 3339 or relative (15m, 24h, 7d).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the time range (exclusive).
    #[arg(long)]
    pub to: Option<String>,
    /// Most hits printed (0 with `--count`: the count alone).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Print the hit count (of the whole query) on standard error.
    #[arg(long)]
    pub count: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = pipeline::search_dir(&args.data_dir);
    if !args.data_dir.is_dir() {
        return Err(bad_input(format!(
            "no data directory at {}",
            args.data_dir.display()
        )));
    }
    let now = chrono::Utc::now().timestamp_micros();
    let time = |text: &Option<String>| {
        text.as_deref()
            .map(|text| api::parse_time(text, now))
            .transpose()
            .map_err(|error| bad_input(error.to_string()))
    };
    let (from, to) = (time(&args.from)?, time(&args.to)?);
    let searcher = search::Searcher::open(&dir).map_err(|error| match error {
        search::SearchError::NotFound { .. } => bad_input(format!(
            "no search index in {} (import or serve into it first)",
            args.data_dir.display()
        )),
        other => anyhow::Error::new(other).context(format!(
            "failed to open the search index in {}",
            dir.display()
        )),
    })?;
    // A writer sharing its bucket: the other writers' indexes copied here count too.
    let peers = pipeline::sharing::peers_dir(&args.data_dir);
    if peers.is_dir() {
        searcher.with_peers(&peers);
    }
    // Days kept in the bucket only are fetched when the search needs them.
    if let Some(bucket) = pipeline::sharing::BucketDays::recorded(&args.data_dir)? {
        searcher.with_cold_store(
            std::sync::Arc::new(bucket),
            search::IndexOptions::default().cold_cache_days,
        );
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut request = search::SearchRequest {
        query: args.query.clone(),
        from,
        to,
        limit: args.limit.clamp(1, 10_000),
        ..search::SearchRequest::default()
    };
    let mut printed = 0;
    let mut total = None;
    // With `--count`, one search runs even for `--limit 0`, which prints the count alone.
    while printed < args.limit || (args.count && total.is_none()) {
        request.limit = (args.limit - printed).clamp(1, 10_000);
        let response = searcher.search(&request).map_err(|error| match error {
            search::SearchError::Query { .. } => bad_input(error.to_string()),
            other => anyhow::Error::new(other).context("search failed"),
        })?;
        total.get_or_insert(response.total);
        for hit in response.hits.iter().take(args.limit - printed) {
            serde_json::to_writer(&mut out, &api::hit_json(hit))?;
            out.write_all(b"\n")?;
            printed += 1;
        }
        match response.next_cursor {
            Some(cursor) if !response.hits.is_empty() => request.cursor = Some(cursor),
            _ => break,
        }
    }
    out.flush()?;
    if args.count {
        eprintln!("{} hits", total.unwrap_or(0));
    }
    Ok(ExitCode::SUCCESS)
}
