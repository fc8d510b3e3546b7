//! `search`: the search figures, measured end to end.
//!
//! Generates N events into rotated JSON-lines files, imports them through the real pipeline
//! (Parquet + search index), times indexing alone on a sample, starts the HTTP API in this
//! process and times three query shapes through it (and in-process, for the HTTP overhead),
//! compares them with `rg` over the raw files, and runs a mixed load with N keep-alive
//! HTTP/1.1 clients (like `wrk`). Prints one table. A command of its own, never part of the
//! tests.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

use indicatif::DecimalBytes;

use crate::measure::{cpu_seconds, dir_bytes, peak_rss_bytes, percentile, total_memory_bytes};

const DAY_MICROS: i64 = 86_400_000_000;
const HOUR_MICROS: i64 = 3_600_000_000;
/// Hits per page: the API's default.
const PAGE: usize = 50;
/// Facets of the broad query.
const FACETS: &str = "user,namespace,verb";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Work directory (raw/, data/); kept afterwards. Default: a temporary one, removed
    /// afterwards unless --keep.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the temporary work directory.
    #[arg(long)]
    pub keep: bool,
    /// Reuse DIR/raw and DIR/data from an earlier run (needs --dir): no generation, no import.
    #[arg(long, requires = "dir")]
    pub skip_import: bool,
    /// Duration of the mixed load.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Concurrent keep-alive HTTP clients of the mixed load.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Sequential timed requests per query shape.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Runs of each `rg` command (the median is reported); 0 skips rg.
    #[arg(long, default_value_t = 3)]
    pub rg_runs: usize,
    /// Events indexed alone (no decoding, rules or Parquet in the timing) to measure indexing
    /// MB/s per CPU-second; 0 skips it.
    #[arg(long, default_value_t = 500_000)]
    pub index_sample: u64,
    /// Search indexing threads of the import (default: as `import`).
    #[arg(long)]
    pub index_threads: Option<usize>,
    /// Size of each raw file, like rotated audit logs (MB).
    #[arg(long, default_value_t = 1000)]
    pub file_mb: u64,
}

/// Runs the benchmark and prints its table.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let temp;
    let (dir, remove) = match &args.dir {
        Some(dir) => (dir.clone(), false),
        None => {
            temp = tempfile::Builder::new()
                .prefix("kubetrail-bench-search-")
                .tempdir()?;
            (temp.path().to_path_buf(), !args.keep)
        }
    };
    let result = bench(args, &dir);
    if remove {
        if let Err(error) = std::fs::remove_dir_all(&dir) {
            eprintln!("could not remove {}: {error}", dir.display());
        }
    } else {
        eprintln!("work directory kept: {}", dir.display());
    }
    result
}

/// Everything the table shows.
#[derive(Default)]
struct Report {
    events: u64,
    raw_bytes: u64,
    raw_files: usize,
    generate_seconds: Option<f64>,
    import: Option<ImportFigures>,
    index_sample: Option<SampleFigures>,
    index_bytes: u64,
    index_days: usize,
    index_segments: usize,
    index_docs: u64,
    parquet_bytes: u64,
    data_bytes: u64,
    span: (i64, i64),
    probes: Vec<Probe>,
    rg_version: Option<String>,
    load: Option<LoadFigures>,
}

struct ImportFigures {
    events: u64,
    seconds: f64,
    cpu_seconds: f64,
    commits: u64,
    alerts: u64,
    peak_rss: Option<u64>,
}

struct SampleFigures {
    events: usize,
    raw_bytes: u64,
    seconds: f64,
    cpu_seconds: f64,
    close_seconds: f64,
    index_bytes: u64,
}

struct LoadFigures {
    clients: usize,
    seconds: f64,
    errors: usize,
    cpu_seconds: f64,
    /// Latencies (ms) of successful requests, sorted, overall and per probe.
    all: Vec<f64>,
    per_probe: Vec<Vec<f64>>,
}

/// One query shape, timed over HTTP and in-process, and its `rg` equivalent.
struct Probe {
    label: &'static str,
    query: String,
    from: Option<i64>,
    to: Option<i64>,
    histogram: bool,
    facets: bool,
    /// `rg` arguments (before the directory) that find the same events.
    rg: Vec<String>,
    /// Targets: p50 and p99 in ms.
    target_p50: Option<f64>,
    target_p99: Option<f64>,
    total: u64,
    http_total: Option<u64>,
    http: Vec<f64>,
    http_first: f64,
    in_process: Vec<f64>,
    rg_seconds: Vec<f64>,
    rg_count: Option<u64>,
}

impl Probe {
    fn new(label: &'static str, query: String, rg: Vec<String>) -> Probe {
        Probe {
            label,
            query,
            from: None,
            to: None,
            histogram: false,
            facets: false,
            rg,
            target_p50: None,
            target_p99: None,
            total: 0,
            http_total: None,
            http: Vec::new(),
            http_first: 0.0,
            in_process: Vec::new(),
            rg_seconds: Vec::new(),
            rg_count: None,
        }
    }

    /// The request the API makes of this probe's URL.
    fn request(&self) -> search::SearchRequest {
        let histogram = self.histogram.then(|| {
            let to = self
                .to
                .unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
            let from = self.from.unwrap_or(to - DAY_MICROS);
            search::histogram_width(from, to)
        });
        search::SearchRequest {
            query: self.query.clone(),
            from: self.from,
            to: self.to,
            limit: PAGE,
            histogram,
            facets: if self.facets {
                FACETS.split(',').map(str::to_owned).collect()
            } else {
                Vec::new()
            },
            facet_size: 10,
            ..search::SearchRequest::default()
        }
    }

    /// Path and query string of `GET /api/v1/search` for this probe.
    fn path(&self) -> String {
        let mut path = format!("/api/v1/search?q={}", url_encode(&self.query));
        for (name, value) in [("from", self.from), ("to", self.to)] {
            if let Some(micros) = value {
                path.push_str(&format!(
                    "&{name}={}",
                    url_encode(&event::format_rfc3339_micros(micros))
                ));
            }
        }
        if self.histogram {
            path.push_str("&histogram=true");
        }
        if self.facets {
            path.push_str(&format!("&facets={}", url_encode(FACETS)));
        }
        path
    }
}

fn bench(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let raw_dir = dir.join("raw");
    let data_dir = dir.join("data");
    let search_dir = pipeline::search_dir(&data_dir);
    let mut report = Report::default();

    if args.skip_import {
        if !search_dir.is_dir() {
            bail!(
                "--skip-import: no search index in {}; run once without it",
                search_dir.display()
            );
        }
    } else {
        if data_dir.exists() || raw_dir.exists() {
            bail!(
                "{} already holds raw/ or data/: remove them, or pass --skip-import to reuse them",
                dir.display()
            );
        }
        report.generate_seconds = Some(generate_files(args, &raw_dir)?);
    }
    let raw_files = raw_files(&raw_dir)?;
    report.raw_files = raw_files.len();
    report.raw_bytes = raw_files
        .iter()
        .map(|path| std::fs::metadata(path).map_or(0, |m| m.len()))
        .sum();

    if !args.skip_import {
        eprintln!(
            "importing {} of JSON through the pipeline...",
            DecimalBytes(report.raw_bytes)
        );
        let cpu = cpu_seconds();
        let summary = crate::bench_import::import(
            &raw_files,
            &data_dir,
            crate::bench_import::IMPORT_COMMIT_EVENTS,
            args.index_threads,
        )?;
        report.import = Some(ImportFigures {
            events: summary.events,
            seconds: summary.seconds,
            cpu_seconds: cpu_seconds() - cpu,
            commits: summary.commits,
            alerts: summary.alerts(),
            peak_rss: peak_rss_bytes(),
        });
    }

    report.index_bytes = dir_bytes(&search_dir, None);
    report.parquet_bytes = dir_bytes(&data_dir.join(store::commit::EVENTS_DIR), Some("parquet"));
    report.data_bytes = dir_bytes(&data_dir, None);
    (report.index_days, report.index_segments) = segments(&search_dir);

    if args.index_sample > 0 && !raw_files.is_empty() {
        eprintln!("indexing a sample of {} events alone...", args.index_sample);
        report.index_sample = Some(index_sample(&raw_files, args.index_sample, dir)?);
    }

    let searcher = search::Searcher::open(&search_dir)
        .with_context(|| format!("failed to open {}", search_dir.display()))?;
    report.index_docs = searcher.doc_count();
    report.events = report
        .import
        .as_ref()
        .map_or(report.index_docs, |import| import.events);
    eprintln!("picking queries...");
    let (span, probes) = pick_probes(&searcher, report.index_docs)?;
    report.span = span;
    report.probes = probes;

    eprintln!("timing in-process searches...");
    for probe in &mut report.probes {
        let request = probe.request();
        for _ in 0..args.requests.max(1) {
            let started = Instant::now();
            let response = searcher.search(&request)?;
            probe.in_process.push(ms(started.elapsed()));
            std::hint::black_box(response);
        }
        probe.in_process.sort_by(f64::total_cmp);
    }

    let runtime = tokio::runtime::Runtime::new().context("failed to start the async runtime")?;
    runtime.block_on(http_phase(args, &data_dir, searcher, &mut report))?;
    drop(runtime);

    if args.rg_runs > 0 && !raw_files.is_empty() {
        run_rg(args, &raw_dir, &mut report);
    }

    print_report(args, &report);
    Ok(())
}

/// Writes `events` generated events into `raw_dir`, in files of about `file_mb` MB split at
/// line boundaries; returns the seconds taken.
fn generate_files(args: &Args, raw_dir: &Path) -> anyhow::Result<f64> {
    std::fs::create_dir_all(raw_dir)
        .with_context(|| format!("failed to create {}", raw_dir.display()))?;
    eprintln!(
        "generating {} events into {}...",
        args.events,
        raw_dir.display()
    );
    let started = Instant::now();
    let mut out = RotatingWriter::new(raw_dir, args.file_mb.max(1) * 1_000_000)?;
    let options = generate::Options {
        seed: args.seed,
        attacks: true,
        ..generate::Options::default()
    };
    generate::generate(options, args.events, &mut out, None::<&mut std::io::Sink>)?;
    out.flush()?;
    Ok(started.elapsed().as_secs_f64())
}

/// JSON-lines files `audit-NNN.jsonl` of about `limit` bytes each; a new file starts after the
/// line that crosses the limit.
struct RotatingWriter {
    dir: PathBuf,
    limit: u64,
    index: usize,
    written: u64,
    file: std::io::BufWriter<std::fs::File>,
}

impl RotatingWriter {
    fn new(dir: &Path, limit: u64) -> std::io::Result<RotatingWriter> {
        Ok(RotatingWriter {
            dir: dir.to_path_buf(),
            limit,
            index: 0,
            written: 0,
            file: Self::create(dir, 0)?,
        })
    }

    fn create(dir: &Path, index: usize) -> std::io::Result<std::io::BufWriter<std::fs::File>> {
        let path = dir.join(format!("audit-{index:03}.jsonl"));
        Ok(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(path)?,
        ))
    }
}

impl Write for RotatingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written >= self.limit
            && let Some(end) = buf.iter().position(|b| *b == b'\n')
        {
            self.file.write_all(&buf[..=end])?;
            self.file.flush()?;
            self.index += 1;
            self.file = Self::create(&self.dir, self.index)?;
            self.file.write_all(&buf[end + 1..])?;
            self.written = (buf.len() - end - 1) as u64;
        } else {
            self.file.write_all(buf)?;
            self.written += buf.len() as u64;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// The raw files, in name order.
fn raw_files(raw_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !raw_dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(raw_dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().and_then(|e| e.to_str()) == Some("jsonl"))
        .collect();
    files.sort();
    Ok(files)
}

/// Indexes the first `events` events of the raw files with `SearchIndex` alone, as
/// `search/examples/bench_index.rs` does (batches of 5,000, a commit every 100,000 events like
/// `import`); the events are decoded before the clock starts.
fn index_sample(raw_files: &[PathBuf], events: u64, dir: &Path) -> anyhow::Result<SampleFigures> {
    let options = event::DecodeOptions {
        cluster: "bench".to_owned(),
        ..event::DecodeOptions::default()
    };
    let mut decoded = Vec::new();
    let mut raw_bytes = 0u64;
    let mut line = Vec::new();
    'files: for path in raw_files {
        let mut reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if (decoded.len() as u64) >= events {
                break 'files;
            }
            raw_bytes += line.len() as u64;
            let _ = event::decode_line(line.trim_ascii_end(), &options, &mut decoded);
        }
    }
    let index_dir = dir.join("index-sample");
    if index_dir.exists() {
        std::fs::remove_dir_all(&index_dir)?;
    }
    let cpu = cpu_seconds();
    let started = Instant::now();
    let mut index = search::SearchIndex::open(&index_dir, search::IndexOptions::default())?;
    let mut seq = 0;
    let mut since_commit = 0;
    for batch in decoded.chunks(5_000) {
        index.add(batch, &[])?;
        since_commit += batch.len();
        if since_commit >= crate::bench_import::IMPORT_COMMIT_EVENTS {
            seq += 1;
            index.commit(seq)?;
            since_commit = 0;
        }
    }
    seq += 1;
    index.commit(seq)?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds() - cpu;
    let closing = Instant::now();
    index.close()?;
    let close_seconds = closing.elapsed().as_secs_f64();
    let index_bytes = dir_bytes(&index_dir, None);
    std::fs::remove_dir_all(&index_dir)?;
    Ok(SampleFigures {
        events: decoded.len(),
        raw_bytes,
        seconds,
        cpu_seconds,
        close_seconds,
        index_bytes,
    })
}

/// Total of a search in-process (setup only, not timed).
fn total_of(searcher: &search::Searcher, query: &str, from: Option<i64>, to: Option<i64>) -> u64 {
    searcher
        .search(&search::SearchRequest {
            query: query.to_owned(),
            from,
            to,
            limit: 1,
            ..search::SearchRequest::default()
        })
        .map_or(0, |response| response.total)
}

/// Picks the three query shapes from the data: a rare word, a selective field query over one
/// UTC day, and a broad query matching about 10 % of the events. Returns the indexed time span
/// (whole hours) and the probes.
fn pick_probes(searcher: &search::Searcher, docs: u64) -> anyhow::Result<((i64, i64), Vec<Probe>)> {
    // The indexed span, from an hourly histogram without bounds.
    let all = searcher.search(&search::SearchRequest {
        query: String::new(),
        limit: 1,
        histogram: Some(HOUR_MICROS),
        ..search::SearchRequest::default()
    })?;
    let first = all.histogram.iter().find(|b| b.count > 0).map(|b| b.start);
    let last = all
        .histogram
        .iter()
        .rev()
        .find(|b| b.count > 0)
        .map(|b| b.start);
    let (Some(first), Some(last)) = (first, last) else {
        bail!("the search index is empty");
    };
    let span = (first, last + HOUR_MICROS);

    // Rare: a word few events hold (the untrusted image of one attack scenario, then the
    // attacker's name); the first with at least one hit and at most 0.1 % of the events.
    let rare_candidates = ["miner", "evil", "mallory"];
    let rare = rare_candidates
        .iter()
        .map(|word| (*word, total_of(searcher, word, None, None)))
        .find(|(_, total)| *total > 0 && *total <= (docs / 1000).max(1))
        .or_else(|| {
            rare_candidates
                .iter()
                .map(|word| (*word, total_of(searcher, word, None, None)))
                .filter(|(_, total)| *total > 0)
                .min_by_key(|(_, total)| *total)
        })
        .context("none of the rare words is in the index")?;
    let mut rare_probe = Probe::new(
        "rare word, whole range",
        rare.0.to_owned(),
        vec!["-F".to_owned(), rare.0.to_owned()],
    );
    rare_probe.total = rare.1;
    rare_probe.target_p50 = Some(20.0);
    rare_probe.target_p99 = Some(150.0);

    // Selective: one person's deletes (or creates) on the UTC day in the middle of the span.
    let middle = span.0 + (span.1 - span.0) / 2;
    let day = middle.div_euclid(DAY_MICROS) * DAY_MICROS;
    let day_text = event::format_rfc3339_micros(day);
    let day_prefix = &day_text[..11];
    let selective = [
        ("alice@example.com", "delete"),
        ("bob@example.com", "delete"),
        ("carol@example.com", "create"),
        ("alice@example.com", "get"),
    ]
    .into_iter()
    .map(|(user, verb)| {
        let query = format!("user:{user} AND verb:{verb}");
        let total = total_of(searcher, &query, Some(day), Some(day + DAY_MICROS));
        (user, verb, query, total)
    })
    .find(|candidate| candidate.3 > 0)
    .context("no selective query has hits on the middle day")?;
    let mut selective_probe = Probe::new(
        "selective fields, 24 h",
        selective.2,
        vec![
            "-e".to_owned(),
            format!(
                r#""verb":"{}","user":\{{"username":"{}".*"stageTimestamp":"{day_prefix}"#,
                selective.1,
                regex_escape(selective.0),
            ),
        ],
    );
    selective_probe.from = Some(day);
    selective_probe.to = Some(day + DAY_MICROS);
    selective_probe.total = selective.3;
    selective_probe.target_p50 = Some(10.0);

    // Broad: the field term closest to 10 % of the events, with a histogram over the span and
    // three facets.
    let broad = [
        ("verb", "update"),
        ("verb", "create"),
        ("verb", "watch"),
        ("verb", "list"),
        ("verb", "patch"),
        ("resource", "pods"),
        ("resource", "secrets"),
    ]
    .into_iter()
    .map(|(field, value)| {
        let total = total_of(searcher, &format!("{field}:{value}"), None, None);
        (field, value, total)
    })
    .min_by(|a, b| {
        let distance = |total: u64| (total as f64 / docs.max(1) as f64 - 0.10).abs();
        distance(a.2).total_cmp(&distance(b.2))
    })
    .context("no broad query")?;
    let mut broad_probe = Probe::new(
        "broad ~10 % + histogram + 3 facets",
        format!("{}:{}", broad.0, broad.1),
        vec!["-F".to_owned(), format!(r#""{}":"{}""#, broad.0, broad.1)],
    );
    broad_probe.from = Some(span.0);
    broad_probe.to = Some(span.1);
    broad_probe.histogram = true;
    broad_probe.facets = true;
    broad_probe.total = total_of(searcher, &broad_probe.query, Some(span.0), Some(span.1));
    broad_probe.target_p99 = Some(500.0);

    Ok((span, vec![rare_probe, selective_probe, broad_probe]))
}

/// The API phase: starts the server in this process, times each probe sequentially over one
/// keep-alive connection, then runs the mixed load.
async fn http_phase(
    args: &Args,
    data_dir: &Path,
    searcher: search::Searcher,
    report: &mut Report,
) -> anyhow::Result<()> {
    let token = api::generate_token()?;
    let config = api::ApiConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        rate_limit_per_second: 1_000_000_000,
        rate_limit_burst: 1_000_000_000,
        ..api::ApiConfig::default()
    };
    let mut auth = config.validate()?;
    let principal = api::Principal {
        name: "bench".to_owned(),
        role: api::Role::Admin,
        scope: api::Scope::default(),
    };
    auth.add(&token, principal);
    let (api, cancel) = start_api(data_dir, config, auth).await?;
    api.state.set_searcher(searcher);
    api.state.set_ready();
    let address = api.address;
    let result = async {
        eprintln!("timing searches over HTTP at http://{address}/api/v1/search...");
        let mut client = Client::connect(address, &token).await?;
        for probe in &mut report.probes {
            let path = probe.path();
            for attempt in 0..=args.requests.max(1) {
                let started = Instant::now();
                let (status, body) = client.get(&path).await?;
                let elapsed = ms(started.elapsed());
                if status != 200 {
                    bail!(
                        "GET {path}: HTTP {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                if attempt == 0 {
                    // The first request of the shape: reported apart, not in the percentiles.
                    probe.http_first = elapsed;
                    let json: serde_json::Value = serde_json::from_slice(&body)?;
                    probe.http_total = json["total"].as_u64();
                } else {
                    probe.http.push(elapsed);
                }
            }
            probe.http.sort_by(f64::total_cmp);
        }
        if args.seconds > 0 && args.concurrency > 0 {
            eprintln!(
                "mixed load: {} clients for {} s...",
                args.concurrency, args.seconds
            );
            report.load = Some(load(args, address, &token, &report.probes).await?);
        }
        Ok(())
    }
    .await;
    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), api.task).await;
    result
}

/// One HTTP/1.1 keep-alive connection.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    host: String,
    authorization: String,
}

impl Client {
    async fn connect(address: SocketAddr, token: &str) -> anyhow::Result<Client> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Client {
            sender,
            host: address.to_string(),
            authorization: format!("Bearer {token}"),
        })
    }

    /// GETs `path`; returns the status and the whole body.
    async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, &self.host)
            .header(hyper::header::AUTHORIZATION, &self.authorization)
            .body(Empty::new())?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// `concurrency` clients, each on its own keep-alive connection, send the probes round-robin
/// as fast as answers come back, for `seconds`.
async fn load(
    args: &Args,
    address: SocketAddr,
    token: &str,
    probes: &[Probe],
) -> anyhow::Result<LoadFigures> {
    let paths: Arc<Vec<String>> = Arc::new(probes.iter().map(Probe::path).collect());
    let cpu = cpu_seconds();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for id in 0..args.concurrency {
        let paths = paths.clone();
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut done: Vec<(usize, f64)> = Vec::new();
            let mut errors = 0usize;
            let mut client = None;
            let mut turn = id;
            while Instant::now() < deadline {
                let probe = turn % paths.len();
                turn += 1;
                if client.is_none() {
                    match Client::connect(address, &token).await {
                        Ok(connected) => client = Some(connected),
                        Err(_) => {
                            errors += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let Some(connection) = client.as_mut() else {
                    continue;
                };
                let sent = Instant::now();
                match connection.get(&paths[probe]).await {
                    Ok((200, _)) => done.push((probe, ms(sent.elapsed()))),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        client = None;
                    }
                }
            }
            (done, errors)
        }));
    }
    let mut figures = LoadFigures {
        clients: args.concurrency,
        seconds: 0.0,
        errors: 0,
        cpu_seconds: 0.0,
        all: Vec::new(),
        per_probe: vec![Vec::new(); probes.len()],
    };
    for task in tasks {
        let (done, errors) = task.await?;
        figures.errors += errors;
        for (probe, latency) in done {
            figures.all.push(latency);
            figures.per_probe[probe].push(latency);
        }
    }
    figures.seconds = started.elapsed().as_secs_f64();
    figures.cpu_seconds = cpu_seconds() - cpu;
    figures.all.sort_by(f64::total_cmp);
    for latencies in &mut figures.per_probe {
        latencies.sort_by(f64::total_cmp);
    }
    Ok(figures)
}

/// Runs each probe's `rg` equivalent over the raw files `rg_runs` times.
fn run_rg(args: &Args, raw_dir: &Path, report: &mut Report) {
    let version = std::process::Command::new("rg").arg("--version").output();
    let Some(version) = version.ok().filter(|output| output.status.success()) else {
        return;
    };
    report.rg_version = String::from_utf8_lossy(&version.stdout)
        .lines()
        .next()
        .map(str::to_owned);
    for probe in &mut report.probes {
        eprintln!("rg {} ...", probe.rg.join(" "));
        for _ in 0..args.rg_runs {
            let started = Instant::now();
            let output = std::process::Command::new("rg")
                .args(["--no-config", "--count"])
                .args(&probe.rg)
                .arg(raw_dir)
                .output();
            let seconds = started.elapsed().as_secs_f64();
            let Ok(output) = output else {
                continue;
            };
            // Exit code 1 is "no match".
            if output.status.code().is_some_and(|code| code > 1) {
                eprintln!(
                    "rg failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                continue;
            }
            let count = String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| line.rsplit(':').next()?.trim().parse::<u64>().ok())
                .sum();
            probe.rg_count = Some(count);
            probe.rg_seconds.push(seconds);
        }
        probe.rg_seconds.sort_by(f64::total_cmp);
    }
}

fn print_report(args: &Args, report: &Report) {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let raw_mb = report.raw_bytes as f64 / 1e6;
    println!();
    println!(
        "bench search: {} events, {} of raw JSON lines in {} file(s), {:.0} bytes/event; seed {}",
        thousands(report.events),
        DecimalBytes(report.raw_bytes),
        report.raw_files,
        report.raw_bytes as f64 / report.events.max(1) as f64,
        args.seed
    );
    println!("machine: {cpus} CPUs ({model}); load average at the end {load}");
    println!(
        "event time span: {} .. {} ({:.1} h)",
        event::format_rfc3339_micros(report.span.0),
        event::format_rfc3339_micros(report.span.1),
        (report.span.1 - report.span.0) as f64 / HOUR_MICROS as f64
    );
    println!();
    let rule = "-".repeat(104);
    println!("{:<44} {:<42} target", "ingest and size", "figure");
    println!("{rule}");
    if let Some(seconds) = report.generate_seconds {
        println!(
            "{:<44} {:<42}",
            "generate (to files)",
            format!("{seconds:.1} s, {:.0} MB/s", raw_mb / seconds.max(1e-9))
        );
    }
    if let Some(import) = &report.import {
        println!(
            "{:<44} {:<42}",
            "import: decode + rules + Parquet + index",
            format!(
                "{:.1} s, {} events/s, {:.1} MB/s",
                import.seconds,
                thousands((import.events as f64 / import.seconds.max(1e-9)) as u64),
                raw_mb / import.seconds.max(1e-9)
            )
        );
        println!(
            "{:<44} {:<42}",
            "  per CPU-second (whole import)",
            format!(
                "{:.1} MB/s (CPU {:.0} s = {:.2} cores busy)",
                raw_mb / import.cpu_seconds.max(1e-9),
                import.cpu_seconds,
                import.cpu_seconds / import.seconds.max(1e-9)
            )
        );
        println!(
            "{:<44} {:<42}",
            "  commits, alerts, peak RSS",
            format!(
                "{}, {}, {}",
                import.commits,
                thousands(import.alerts),
                import
                    .peak_rss
                    .map_or_else(|| "?".to_owned(), |bytes| DecimalBytes(bytes).to_string())
            )
        );
    } else {
        println!("{:<44} {:<42}", "import", "skipped (--skip-import)");
    }
    if let Some(sample) = &report.index_sample {
        let sample_mb = sample.raw_bytes as f64 / 1e6;
        let per_cpu = sample_mb / sample.cpu_seconds.max(1e-9);
        println!(
            "{:<44} {:<42} {}",
            format!("index alone, {} events", thousands(sample.events as u64)),
            format!(
                "{:.1} s, {:.1} MB/s, {:.1} MB/s per CPU-s",
                sample.seconds,
                sample_mb / sample.seconds.max(1e-9),
                per_cpu
            ),
            verdict(per_cpu >= 15.0, ">= 15 MB/s per core")
        );
        println!(
            "{:<44} {:<42}",
            "  merges after the last commit, sample index",
            format!(
                "{:.1} s, {} = {:.1} % of its raw",
                sample.close_seconds,
                DecimalBytes(sample.index_bytes),
                100.0 * sample.index_bytes as f64 / sample.raw_bytes.max(1) as f64
            )
        );
        println!(
            "{:<44} {:<42} >= 0.85x bare",
            "  vs bare tantivy", "see search/examples/bench_index.rs"
        );
    }
    let index_share = report.index_bytes as f64 / report.raw_bytes.max(1) as f64;
    println!(
        "{:<44} {:<42} {}",
        "search index size",
        format!(
            "{} = {:.1} % of raw",
            DecimalBytes(report.index_bytes),
            100.0 * index_share
        ),
        verdict(index_share < 0.25, "< 25 %")
    );
    println!(
        "{:<44} {:<42}",
        "  day indexes, segments, documents",
        format!(
            "{}, {}, {}",
            report.index_days,
            report.index_segments,
            thousands(report.index_docs)
        )
    );
    println!(
        "{:<44} {:<42}",
        "events Parquet",
        format!(
            "{} = {:.1} % of raw",
            DecimalBytes(report.parquet_bytes),
            100.0 * report.parquet_bytes as f64 / report.raw_bytes.max(1) as f64
        )
    );
    println!(
        "{:<44} {:<42}",
        "whole data directory",
        format!(
            "{} = {:.1} % of raw",
            DecimalBytes(report.data_bytes),
            100.0 * report.data_bytes as f64 / report.raw_bytes.max(1) as f64
        )
    );

    println!();
    println!(
        "queries: {} sequential requests each over one keep-alive HTTP/1.1 connection \
         (the first apart), {PAGE} hits per page; in-process = Searcher::search alone",
        args.requests
    );
    println!(
        "{:<36} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9}  target",
        "query", "total", "first", "p50", "p99", "max", "in-p p50", "in-p p99"
    );
    println!("{rule}");
    for probe in &report.probes {
        let p50 = percentile(&probe.http, 0.50);
        let p99 = percentile(&probe.http, 0.99);
        let mut targets = Vec::new();
        if let Some(target) = probe.target_p50 {
            targets.push(verdict(p50 <= target, &format!("p50 <= {target} ms")));
        }
        if let Some(target) = probe.target_p99 {
            targets.push(verdict(p99 <= target, &format!("p99 <= {target} ms")));
        }
        println!(
            "{:<36} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9}  {}",
            probe.label,
            thousands(probe.http_total.unwrap_or(probe.total)),
            fmt_ms(probe.http_first),
            fmt_ms(p50),
            fmt_ms(p99),
            fmt_ms(probe.http.last().copied().unwrap_or(0.0)),
            fmt_ms(percentile(&probe.in_process, 0.50)),
            fmt_ms(percentile(&probe.in_process, 0.99)),
            targets.join(", ")
        );
        let mut query = format!("    q={}", probe.query);
        if let (Some(from), Some(to)) = (probe.from, probe.to) {
            query.push_str(&format!(
                "  from={} to={}",
                event::format_rfc3339_micros(from),
                event::format_rfc3339_micros(to)
            ));
        }
        if probe.histogram {
            query.push_str("  histogram=true");
        }
        if probe.facets {
            query.push_str(&format!("  facets={FACETS}"));
        }
        println!("{query}");
    }

    println!();
    match &report.rg_version {
        None if args.rg_runs == 0 => println!("rg: skipped (--rg-runs 0)"),
        None => println!(
            "rg: not on PATH, no comparison (apt-get install ripgrep, or cargo install ripgrep)"
        ),
        Some(version) => {
            println!(
                "the same searches with {version} --count over the {} raw file(s), median of {} runs \
                 (page cache as it comes: {} of raw JSON, {} of RAM)",
                report.raw_files,
                args.rg_runs,
                DecimalBytes(report.raw_bytes),
                total_memory_bytes()
                    .map_or_else(|| "?".to_owned(), |bytes| DecimalBytes(bytes).to_string())
            );
            println!(
                "{:<36} {:>9} {:>10} {:>10} {:>12}  target",
                "query", "rg lines", "rg median", "rg MB/s", "rg/API p50"
            );
            println!("{rule}");
            for probe in &report.probes {
                let median = percentile(&probe.rg_seconds, 0.50);
                let ratio = median * 1e3 / percentile(&probe.http, 0.50).max(1e-9);
                println!(
                    "{:<36} {:>9} {:>10} {:>10.0} {:>11.0}x  {}",
                    probe.label,
                    probe.rg_count.map_or_else(|| "?".to_owned(), thousands),
                    format!("{median:.2} s"),
                    raw_mb / median.max(1e-9),
                    ratio,
                    verdict(ratio >= 100.0, ">= 100x")
                );
                println!("    rg {}", probe.rg.join(" "));
            }
        }
    }

    if let Some(load) = &report.load {
        println!();
        println!(
            "mixed load: {} keep-alive HTTP/1.1 clients in this process (they share the CPUs with \
             the server), the three queries round-robin, {:.1} s",
            load.clients, load.seconds
        );
        println!(
            "{:<36} {:>9} {:>9} {:>8} {:>8} {:>8}",
            "", "requests", "req/s", "p50", "p99", "max"
        );
        println!("{rule}");
        let line = |name: &str, latencies: &[f64]| {
            println!(
                "{:<36} {:>9} {:>9.1} {:>8} {:>8} {:>8}",
                name,
                thousands(latencies.len() as u64),
                latencies.len() as f64 / load.seconds.max(1e-9),
                fmt_ms(percentile(latencies, 0.50)),
                fmt_ms(percentile(latencies, 0.99)),
                fmt_ms(latencies.last().copied().unwrap_or(0.0))
            );
        };
        line("all", &load.all);
        for (probe, latencies) in report.probes.iter().zip(&load.per_probe) {
            line(&format!("  {}", probe.label), latencies);
        }
        println!(
            "errors: {}; CPU {:.1} s = {:.2} cores busy (server + clients)",
            load.errors,
            load.cpu_seconds,
            load.cpu_seconds / load.seconds.max(1e-9)
        );
    }
}

fn verdict(met: bool, target: &str) -> String {
    format!("{target}: {}", if met { "met" } else { "MISSED" })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Percent-encodes a query-string value (everything but unreserved characters).
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Escapes regex metacharacters for `rg -e`.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Day indexes and their segments (from each `meta.json`).
fn segments(search_dir: &Path) -> (usize, usize) {
    let Ok(entries) = std::fs::read_dir(search_dir) else {
        return (0, 0);
    };
    let mut days = 0;
    let mut segments = 0;
    for entry in entries.flatten() {
        let meta = entry.path().join("meta.json");
        let Ok(text) = std::fs::read_to_string(&meta) else {
            continue;
        };
        days += 1;
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
            segments += json["segments"].as_array().map_or(0, Vec::len);
        }
    }
    (days, segments)
}

/// The HTTP API over `data_dir` on the configured listener, with its metrics registry; the
/// token cancels it.
pub(crate) async fn start_api(
    data_dir: &Path,
    config: api::ApiConfig,
    auth: api::Auth,
) -> anyhow::Result<(api::RunningApi, CancellationToken)> {
    let mut registry = prometheus_client::registry::Registry::with_prefix("kubetrail");
    let metrics = api::ApiMetrics::register(&mut registry);
    let state = api::ApiState::new(
        data_dir.to_owned(),
        config,
        auth,
        metrics,
        Arc::new(registry),
    )?;
    let cancel = CancellationToken::new();
    let api = api::start(state, cancel.clone()).await?;
    Ok((api, cancel))
}
