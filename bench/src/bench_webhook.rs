//! `kubetrail-bench webhook`: the audit webhook under load. Concurrent keep-alive clients
//! post `EventList`s of generated events (each post new events) to `/api/v1/ingest/audit` of
//! an in-process API whose pushed bodies go through the write-ahead log into the live
//! pipeline (detection with the built-in rules, Parquet, the search index), as `serve` runs
//! them. Prints accepted events/s and the answer time (p50, p99, max). A command of its own,
//! never part of the tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

/// Marks the batch number in every `auditID` of the template body.
const MARKER: &str = "wbench-";
const BATCH_DIGITS: usize = 12;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Concurrent clients, each on its own keep-alive connection.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Events in each posted `EventList`.
    #[arg(long, default_value_t = 400)]
    pub batch_events: u64,
    /// How long the clients post.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Events per second all clients together offer, each client posting on a fixed schedule
    /// (as API servers do: `--audit-webhook-batch-throttle-qps`); 0: each posts again as soon
    /// as it is answered, as fast as the server takes them.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// The pipeline's `[pipeline] commit_interval_ms` (each commit flushes the Parquet and
    /// index files of the events since the last one, which the log's fsyncs then wait behind).
    #[arg(long, default_value_t = pipeline::DEFAULT_COMMIT_INTERVAL_MS)]
    pub commit_interval_ms: u64,
    /// The pipeline's `[pipeline] commit_max_events`.
    #[arg(long, default_value_t = pipeline::DEFAULT_COMMIT_MAX_EVENTS)]
    pub commit_max_events: usize,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("failed to create a temporary directory")?;
    let template = template_body(args.batch_events)?;
    let runtime = tokio::runtime::Runtime::new().context("failed to start the async runtime")?;
    runtime.block_on(bench(args, dir.path(), template))
}

/// An `EventList` of generated events whose auditIDs carry a batch number to overwrite, and
/// the offsets of those numbers.
fn template_body(events: u64) -> anyhow::Result<(Vec<u8>, Vec<usize>)> {
    let mut lines = Vec::new();
    generate::generate(
        generate::Options::default(),
        events,
        &mut lines,
        None::<&mut Vec<u8>>,
    )?;
    let items = lines
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(index, line)| {
            let mut item: serde_json::Value = serde_json::from_slice(line)?;
            item["auditID"] = serde_json::Value::String(format!(
                "{MARKER}{}-{index:08}",
                "0".repeat(BATCH_DIGITS)
            ));
            Ok(item)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let body = serde_json::to_vec(&serde_json::json!({
        "kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items,
    }))?;
    let offsets = body
        .windows(MARKER.len())
        .enumerate()
        .filter(|(_, window)| *window == MARKER.as_bytes())
        .map(|(at, _)| at + MARKER.len())
        .collect();
    Ok((body, offsets))
}

/// The template with `batch` written into every auditID.
fn body_of(template: &(Vec<u8>, Vec<usize>), batch: u64) -> Bytes {
    let (body, offsets) = template;
    let mut body = body.clone();
    let digits = format!("{batch:0width$}", width = BATCH_DIGITS);
    for at in offsets {
        body[*at..*at + BATCH_DIGITS].copy_from_slice(digits.as_bytes());
    }
    Bytes::from(body)
}

async fn bench(
    args: &Args,
    data_dir: &std::path::Path,
    template: (Vec<u8>, Vec<usize>),
) -> anyhow::Result<()> {
    let token = api::generate_token()?;
    let config = api::ApiConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        rate_limit_per_second: 1_000_000_000,
        rate_limit_burst: 1_000_000_000,
        ingest_tokens: vec![api::IngestTokenConfig {
            name: "bench".to_owned(),
            sha256: api::hash_token(&token),
            cluster: "bench".to_owned(),
        }],
        ..api::ApiConfig::default()
    };
    let auth = config.validate()?;
    let log = ingest::PushLog::open(data_dir, &ingest::WalConfig::default())?;
    let (api, cancel) = crate::bench_search::start_api(data_dir, config, auth).await?;
    api.state.set_ingest(log.sender());
    let background = pipeline::PipelineRuntime::start()?;
    let (live, stats) = open_live(
        &background,
        data_dir,
        (args.commit_interval_ms, args.commit_max_events),
        &cancel,
    )
    .await?;
    let source = ingest::Source::Push(log.source(live.positions()));
    let pipeline_cancel = CancellationToken::new();
    let running = background.spawn(live.run(
        vec![source],
        sinks::AlertOutputs::default(),
        None,
        pipeline_cancel.clone(),
    ));
    eprintln!(
        "{} clients posting {}-event EventLists for {} s to http://{}/api/v1/ingest/audit...",
        args.clients, args.batch_events, args.seconds, api.address
    );
    let template = Arc::new(template);
    let next_batch = Arc::new(AtomicU64::new(1));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    // Each client's time between posts when paced.
    let every = (args.rate > 0).then(|| {
        Duration::from_secs_f64((args.clients as u64 * args.batch_events) as f64 / args.rate as f64)
    });
    let mut tasks = Vec::new();
    for index in 0..args.clients {
        let (template, next_batch, token) = (template.clone(), next_batch.clone(), token.clone());
        let address = api.address;
        // Paced clients start spread over one period, not all at once.
        let schedule = every.map(|every| {
            (
                started + every.mul_f64(index as f64 / args.clients as f64),
                every,
            )
        });
        tasks.push(tokio::spawn(async move {
            client(address, &token, &template, &next_batch, deadline, schedule).await
        }));
    }
    let mut answers = Vec::new();
    let (mut accepted, mut refused) = (0u64, 0u64);
    for task in tasks {
        let figures = task.await??;
        answers.extend(figures.answers_ms);
        accepted += figures.accepted;
        refused += figures.refused;
    }
    let seconds = started.elapsed().as_secs_f64();
    let wal = log.metrics();
    let committed_while_posting = stats.committed_events.get();
    pipeline_cancel.cancel();
    running.await??;
    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), api.task).await;
    answers.sort_by(f64::total_cmp);
    let at = |quantile: f64| {
        answers
            .get(((answers.len() as f64 - 1.0) * quantile).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "webhook: {} clients, {}-event EventLists, {seconds:.1} s, {}",
        args.clients,
        args.batch_events,
        if args.rate > 0 {
            format!("{} events/s offered", args.rate)
        } else {
            "each posting as soon as answered".to_owned()
        }
    );
    println!(
        "accepted: {accepted} events in {} answers, {:.0} events/s; 503s: {refused}",
        answers.len(),
        accepted as f64 / seconds
    );
    println!(
        "answer ms: p50 {:.1}, p99 {:.1}, max {:.1}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    println!(
        "wal: {} appends, {} fsyncs ({:.1} appends per fsync), {} MB appended",
        wal.appends,
        wal.fsyncs,
        wal.appends as f64 / wal.fsyncs.max(1) as f64,
        wal.appended_bytes / 1_000_000
    );
    println!(
        "pipeline: {committed_while_posting} events committed while the clients posted ({:.0} events/s); {} MB of the log not yet committed when they stopped",
        committed_while_posting as f64 / seconds,
        wal.pending_bytes / 1_000_000
    );
    Ok(())
}

/// The live pipeline over `data_dir` as `serve` runs it by default: the built-in rules, both
/// stores, the documented dedupe capacity.
/// It opens on `background`, where it then runs, as in `serve`.
pub async fn open_live(
    background: &pipeline::PipelineRuntime,
    data_dir: &std::path::Path,
    commit: (u64, usize),
    cancel: &CancellationToken,
) -> anyhow::Result<(pipeline::Live, Arc<pipeline::Stats>)> {
    open_live_with(
        background,
        store::Config::with_data_dir(data_dir),
        commit,
        cancel,
    )
    .await
}

/// [`open_live`] with the store configured as `store` says (a bucket, a writer id).
pub async fn open_live_with(
    background: &pipeline::PipelineRuntime,
    store: store::Config,
    commit: (u64, usize),
    cancel: &CancellationToken,
) -> anyhow::Result<(pipeline::Live, Arc<pipeline::Stats>)> {
    let stats = Arc::new(pipeline::Stats::default());
    let detect = detect::Config::default();
    let engine = pipeline::build_engine(&detect)?;
    let options = pipeline::LiveOptions {
        store,
        detect,
        dedupe_capacity: ingest::Config::default().dedupe_capacity,
        pipeline: pipeline::Config {
            commit_interval_ms: commit.0,
            commit_max_events: commit.1,
            ..pipeline::Config::default()
        },
        ..pipeline::LiveOptions::default()
    };
    let (cancel, opened) = (cancel.clone(), Arc::clone(&stats));
    let live = background
        .spawn(async move { pipeline::Live::open(options, engine, opened, &cancel).await })
        .await??;
    Ok((live, stats))
}

struct ClientFigures {
    answers_ms: Vec<f64>,
    accepted: u64,
    refused: u64,
}

async fn client(
    address: SocketAddr,
    token: &str,
    template: &(Vec<u8>, Vec<usize>),
    next_batch: &AtomicU64,
    deadline: Instant,
    schedule: Option<(Instant, Duration)>,
) -> anyhow::Result<ClientFigures> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let host = address.to_string();
    let authorization = format!("Bearer {token}");
    let mut figures = ClientFigures {
        answers_ms: Vec::new(),
        accepted: 0,
        refused: 0,
    };
    let mut next_post = schedule.map(|(first, _)| first);
    while Instant::now() < deadline {
        if let (Some(at), Some((_, every))) = (next_post.as_mut(), schedule) {
            // A late post goes at once; the schedule does not drift.
            tokio::time::sleep_until((*at).into()).await;
            *at += every;
        }
        let body = body_of(template, next_batch.fetch_add(1, Ordering::Relaxed));
        sender.ready().await?;
        let request = hyper::Request::post("/api/v1/ingest/audit")
            .header(hyper::header::HOST, &host)
            .header(hyper::header::AUTHORIZATION, &authorization)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        let sent = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let answer = response.into_body().collect().await?.to_bytes();
        let elapsed = sent.elapsed().as_secs_f64() * 1000.0;
        match status {
            200 => {
                let json: serde_json::Value = serde_json::from_slice(&answer)?;
                figures.accepted += json["accepted"].as_u64().unwrap_or(0);
                figures.answers_ms.push(elapsed);
            }
            503 => {
                figures.refused += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => anyhow::bail!(
                "POST /api/v1/ingest/audit: HTTP {other}: {}",
                String::from_utf8_lossy(&answer)
            ),
        }
    }
    Ok(figures)
}
