//! `kubetrail-bench scale-out`: two replicas against one. Generated audit events are produced
//! to one topic of a tansu broker on loopback; then read through to both stores (the built-in
//! rules, Parquet, the search index) by one live pipeline, and by two in one consumer group,
//! each with its own data directory and writer id on one bucket (moto's S3 server), in the same
//! run. Figures: intake events/s and CPU-seconds, and for two replicas how long until each
//! one's search answers with every event (the other's index copied through the bucket).
//! The replicas run in this one process, each on its own pipeline runtime, sharing the
//! machine's cores with the broker and moto. A command of its own, never part of the tests;
//! needs `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` set (any values: moto checks none).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::bench_kafka::{Tansu, find_tansu, generated, live_with, produce_all};
use crate::measure;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events produced to the topic (read once by one replica, once by two).
    #[arg(long, default_value_t = 300_000)]
    pub events: u64,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// The tansu binary (default: KUBETRAIL_TANSU, else where scripts/install-tansu puts it).
    #[arg(long)]
    pub tansu: Option<PathBuf>,
}

struct Figures {
    events: u64,
    seconds: f64,
    cpu_seconds: f64,
    /// After intake, until every replica's search counts every event.
    visible_after: Option<f64>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        bail!("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any values) for moto's S3 server");
    }
    let dir = tempfile::tempdir().context("failed to create a temporary directory")?;
    let broker = Tansu::start(&find_tansu(args.tansu.as_deref())?, dir.path())?;
    let (_moto, remote) = crate::bench_compact::start_moto()?;
    eprintln!(
        "tansu on {}; generating and producing {} events...",
        broker.address, args.events
    );
    let lines = generated(args.events)?;
    let raw_bytes: u64 = lines.iter().map(|line| line.len() as u64).sum();
    broker.create_topic("bench-scale", args.partitions)?;
    produce_all(&broker.address, "bench-scale", args.partitions, &lines)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut results = Vec::new();
    for replicas in [1usize, 2] {
        let figures = runtime.block_on(intake(
            &broker.address,
            dir.path(),
            &remote,
            replicas,
            args.events,
        ))?;
        println!(
            "{replicas} replica(s): {} events in {:.1} s, {:.0} events/s ({:.1} MB/s raw), {:.2} CPU-seconds per second, {:.0} events per CPU-second{}",
            figures.events,
            figures.seconds,
            figures.events as f64 / figures.seconds,
            raw_bytes as f64 / 1e6 / figures.seconds,
            figures.cpu_seconds / figures.seconds,
            figures.events as f64 / figures.cpu_seconds,
            figures
                .visible_after
                .map_or(String::new(), |seconds| format!(
                    "; every replica's search counts every event {seconds:.1} s after intake"
                )),
        );
        results.push(figures);
    }
    let (one, two) = (&results[0], &results[1]);
    println!(
        "two replicas against one: {:.2}x the events/s on this machine ({} cores, shared with the broker and moto)",
        (two.events as f64 / two.seconds) / (one.events as f64 / one.seconds),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    Ok(())
}

async fn intake(
    brokers: &str,
    dir: &Path,
    remote: &store::remote::RemoteConfig,
    replicas: usize,
    events: u64,
) -> anyhow::Result<Figures> {
    let group = format!("bench-{replicas}");
    let mut running = Vec::new();
    for replica in 0..replicas {
        let writer = format!("r{replicas}-{replica}");
        let mut store = store::Config::with_data_dir(dir.join(&writer));
        store.object_store = Some(store::remote::RemoteConfig {
            url: format!("{}-{replicas}", remote.url),
            writer: Some(writer),
            sync_seconds: 1,
            ..remote.clone()
        });
        running.push(live_with(brokers, &group, "bench-scale", store).await?);
    }
    let mut first: Option<(Instant, f64)> = None;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let messages: u64 = running.iter().map(|r| r.metrics.messages()).sum();
        if first.is_none() && messages > 0 {
            first = Some((Instant::now(), measure::cpu_seconds()));
        }
        let seen: u64 = running.iter().map(|r| r.stats.events.get()).sum();
        let committed: u64 = running.iter().map(|r| r.stats.committed_events.get()).sum();
        if messages >= events && committed >= seen && seen > 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{replicas} replica(s) did not commit every event within an hour");
        }
    }
    let (started, cpu) = first.context("nothing consumed")?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = measure::cpu_seconds() - cpu;
    let events_stored: u64 = running.iter().map(|r| r.stats.committed_events.get()).sum();
    let visible_after = if replicas > 1 {
        let intake_done = Instant::now();
        loop {
            if running
                .iter()
                .all(|replica| replica.searcher.doc_count() >= events_stored)
            {
                break Some(intake_done.elapsed().as_secs_f64());
            }
            if intake_done.elapsed() > Duration::from_secs(600) {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        None
    };
    for replica in running {
        replica.cancel.cancel();
        replica.running.stopped().await?;
    }
    Ok(Figures {
        events: events_stored,
        seconds,
        cpu_seconds,
        visible_after,
    })
}
