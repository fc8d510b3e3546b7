//! `compact`: a data directory written as the live pipeline writes it (a small commit a
//! second), then compacted: storage per raw GB (Parquet and search index), files before and
//! after, compaction MB/s, and SQL and search latency before and after, on the same data.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::DecimalBytes;

use crate::bench_import::{generate_file, import_into, work_dir};
use crate::measure;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Events per store commit: 2,000 is a commit a second at 2,000 events/s.
    #[arg(long, default_value_t = 2_000)]
    pub commit_events: usize,
    /// Merged files grow up to about this size (MiB).
    #[arg(long, default_value_t = 128)]
    pub target_file_mb: u64,
    /// Runs of each query (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Work directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Compact into a bucket on moto's S3 server on loopback (started from
    /// `$KUBETRAIL_PYTOOLS/moto_server`, else `moto_server` on the PATH), then time the queries
    /// over it. Needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set (any value).
    #[arg(long)]
    pub s3: bool,
}

/// moto's server, killed on drop.
pub(crate) struct Moto(std::process::Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts moto's S3 server on a free loopback port with a bucket `kubetrail-bench`; returns
/// it and the store's bucket configuration.
pub(crate) fn start_moto() -> anyhow::Result<(Moto, store::remote::RemoteConfig)> {
    use std::io::{Read, Write};
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let program = std::env::var_os("KUBETRAIL_PYTOOLS").map_or_else(
        || PathBuf::from("moto_server"),
        |bin| PathBuf::from(bin).join("moto_server"),
    );
    let moto = Moto(
        std::process::Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?,
    );
    let started = Instant::now();
    let mut stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => break stream,
            Err(_) if started.elapsed().as_secs() < 30 => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(error) => return Err(error.into()),
        }
    };
    // CreateBucket: moto does not check signatures.
    write!(
        stream,
        "PUT /kubetrail-bench HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    anyhow::ensure!(
        answer.starts_with("HTTP/1.1 200"),
        "creating the bucket: {answer}"
    );
    let config = store::remote::RemoteConfig {
        url: "s3://kubetrail-bench/data".to_owned(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: Some("us-east-1".to_owned()),
        allow_http: true,
        writer: None,
        writer_env: None,
        sync_seconds: 10,
    };
    Ok((moto, config))
}

/// SQL statements timed before and after: a full count, a group-by over every row, a
/// selective filter, an hour's range.
const SQL: [(&str, &str); 4] = [
    ("count(*)", "SELECT count(*) FROM events"),
    (
        "verbs by count",
        "SELECT verb, count(*) AS n FROM events GROUP BY verb ORDER BY n DESC",
    ),
    (
        "secret reads by user",
        "SELECT \"user\", count(*) AS n FROM events WHERE resource = 'secrets' AND verb = 'get' GROUP BY \"user\" ORDER BY n DESC LIMIT 10",
    ),
    (
        "one hour",
        "SELECT count(*) FROM events WHERE time >= '2026-01-01T05:00:00Z' AND time < '2026-01-01T06:00:00Z'",
    ),
];

/// Searches timed before and after.
const SEARCHES: [&str; 3] = ["verb:delete", "resource:secrets AND verb:get", "*"];

struct Timings {
    sql: Vec<f64>,
    search: Vec<f64>,
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    measure::percentile(&samples, 50.0)
}

fn time_queries(data_dir: &Path, runs: usize) -> anyhow::Result<Timings> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut sql = Vec::new();
    for (_, statement) in SQL {
        let mut samples = Vec::new();
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            let batches = runtime.block_on(async {
                let context = store::session_context(data_dir).await?;
                let frame = context.sql(statement).await?;
                anyhow::Ok(frame.collect().await?)
            })?;
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(batches);
        }
        sql.push(median(samples));
    }
    let searcher = search::Searcher::open(&pipeline::search_dir(data_dir))?;
    let mut search = Vec::new();
    for query in SEARCHES {
        let mut samples = Vec::new();
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            let response = searcher.search(&search::SearchRequest::new(query))?;
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(response);
        }
        search.push(median(samples));
    }
    Ok(Timings { sql, search })
}

fn parquet_files(data_dir: &Path) -> usize {
    let mut count = 0;
    for table in ["events", "alerts"] {
        count += count_files(&data_dir.join(table), "parquet");
    }
    count
}

fn count_files(dir: &Path, extension: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .map(|path| {
            if path.is_dir() {
                count_files(&path, extension)
            } else {
                usize::from(path.extension().is_some_and(|ext| ext == extension))
            }
        })
        .sum()
}

fn parquet_bytes(data_dir: &Path) -> u64 {
    measure::dir_bytes(&data_dir.join("events"), Some("parquet"))
        + measure::dir_bytes(&data_dir.join("alerts"), Some("parquet"))
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
    let moto = if args.s3 { Some(start_moto()?) } else { None };
    let object_store = moto.as_ref().map(|(_, config)| config.clone());
    let config = store::Config {
        object_store: object_store.clone(),
        ..store::Config::with_data_dir(&data_dir)
    };
    let summary = import_into(
        std::slice::from_ref(&input),
        config.clone(),
        args.commit_events,
        None,
    )?;
    let per_raw_gb = |bytes: u64| bytes as f64 / (raw_bytes as f64 / 1e9);
    let files_before = parquet_files(&data_dir);
    let bytes_before = parquet_bytes(&data_dir);
    let index_before = measure::dir_bytes(&pipeline::search_dir(&data_dir), None);
    println!(
        "bench compact: {} events ({} raw) imported in {} commits of {} events",
        summary.events,
        DecimalBytes(raw_bytes),
        summary.commits,
        args.commit_events
    );
    eprintln!("timing queries before compaction...");
    let before = time_queries(&data_dir, args.runs)?;

    let (mut stores, _) = pipeline::Stores::open(&config, search::IndexOptions::default())?;
    let options = store::compaction::Options {
        target_file_mb: args.target_file_mb,
        ..store::compaction::Options::default()
    };
    let started = Instant::now();
    let cpu = measure::cpu_seconds();
    let compacted = stores.compact(&options, chrono::Utc::now())?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = measure::cpu_seconds() - cpu;
    stores.close()?;
    let files_after = parquet_files(&data_dir);
    let bytes_after = parquet_bytes(&data_dir);
    let index_after = measure::dir_bytes(&pipeline::search_dir(&data_dir), None);
    eprintln!("timing queries after compaction...");
    let after = time_queries(&data_dir, args.runs)?;

    let target = if args.s3 {
        "into the bucket on moto's S3 server (loopback)"
    } else {
        "on local disk"
    };
    println!("  after compaction {target}");
    println!(
        "  compaction: {} files ({}) merged into {} ({}) in {seconds:.2}s: {:.0} MB/s, {:.0} rows/s, {cpu:.2} CPU s",
        compacted.files_in,
        DecimalBytes(compacted.bytes_in),
        compacted.groups,
        DecimalBytes(compacted.bytes_out),
        compacted.bytes_in as f64 / 1e6 / seconds,
        compacted.rows as f64 / seconds,
    );
    println!("  | | before | after |");
    println!("  |---|---|---|");
    println!("  | Parquet files (events, alerts) | {files_before} | {files_after} |");
    println!(
        "  | Parquet per raw GB | {} | {} |",
        DecimalBytes(per_raw_gb(bytes_before) as u64),
        DecimalBytes(per_raw_gb(bytes_after) as u64)
    );
    println!(
        "  | search index per raw GB | {} | {} |",
        DecimalBytes(per_raw_gb(index_before) as u64),
        DecimalBytes(per_raw_gb(index_after) as u64)
    );
    for (index, (name, _)) in SQL.iter().enumerate() {
        println!(
            "  | SQL {name} (median ms) | {:.1} | {:.1} |",
            before.sql[index], after.sql[index]
        );
    }
    for (index, query) in SEARCHES.iter().enumerate() {
        println!(
            "  | search `{query}` (median ms) | {:.1} | {:.1} |",
            before.search[index], after.search[index]
        );
    }
    if args.s3 {
        cold_search(&config, args.runs)?;
    }
    Ok(())
}

/// The search indexes in the bucket too: every day copied there and made cold (as `[search]
/// hot_days` does), then the searches from a fresh searcher: the first fetches every day it
/// needs (all of them: no time range), the next ones read the cache.
fn cold_search(config: &store::Config, runs: usize) -> anyhow::Result<()> {
    let data_dir = &config.data_dir;
    let started = Instant::now();
    let mut sharing =
        pipeline::sharing::Sharing::open(config, Some(0))?.context("no bucket configured")?;
    let pass = sharing.pass()?;
    let (mut stores, _) = pipeline::Stores::open(config, search::IndexOptions::default())?;
    let made = stores.make_cold(&pass.cold_candidates)?;
    stores.close()?;
    println!(
        "  search days copied to the bucket and made cold: {made} days, {} in {:.1}s",
        DecimalBytes(pass.uploaded_bytes),
        started.elapsed().as_secs_f64()
    );
    let bucket = pipeline::sharing::BucketDays::recorded(data_dir)?.context("no bucket")?;
    let bucket = std::sync::Arc::new(bucket);
    let searcher = search::Searcher::open(&pipeline::search_dir(data_dir))?;
    searcher.with_cold_store(bucket, 1024);
    println!("  | search over the bucket | first (fetching every day) | then (cached, median) |");
    println!("  |---|---|---|");
    for (index, query) in SEARCHES.iter().enumerate() {
        let mut samples = Vec::new();
        let mut first = None;
        for _ in 0..=runs.max(1) {
            let started = Instant::now();
            let response = searcher.search(&search::SearchRequest::new(*query))?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            std::hint::black_box(response);
            if first.is_none() {
                first = Some(ms);
            } else {
                samples.push(ms);
            }
        }
        let first = first.unwrap_or_default();
        println!(
            "  | `{query}` | {} | {:.1} ms |",
            if index == 0 {
                format!("{:.0} ms", first)
            } else {
                format!("{first:.1} ms (cached by the first)")
            },
            median(samples)
        );
    }
    Ok(())
}
