//! `kubetrail-bench`: kubetrail's throughput, latency and memory figures, measured on
//! generated traffic with the same code paths as the product. Commands of their own, never
//! part of the tests; build them in release mode:
//! `cargo run --release -p bench -- detect --events 500000`.

mod bench_compact;
mod bench_detect;
mod bench_import;
mod bench_index;
mod bench_kafka;
mod bench_latency;
mod bench_precision;
mod bench_scale_out;
mod bench_search;
mod bench_verify;
mod bench_webhook;
mod measure;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The same allocator as the `kubetrail` binary, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// kubetrail benchmarks.
#[derive(Debug, Parser)]
#[command(name = "kubetrail-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode + normalise + the built-in rules on one core, over generated events in memory.
    Detect(bench_detect::Args),
    /// `import` of generated events into Parquet and the search index: events/s, MB/s, peak
    /// RSS, size ratio.
    Import(bench_import::Args),
    /// Alert latency of the live pipeline: from a line appended to a tailed file to its alert
    /// delivered, at a steady event rate (p50, p99, max).
    Latency(bench_latency::Args),
    /// Memory of the detection state with many distinct actors (new-term and threshold
    /// rules keep one group per actor): resident memory, snapshot size, events/s.
    State(bench_detect::StateArgs),
    /// Search through the HTTP API on generated events imported by the real pipeline: query
    /// latency (rare, selective, broad + histogram + facets), `rg` over the raw files, index
    /// size and indexing rate, and a mixed load of keep-alive clients (req/s, p50, p99).
    Search(bench_search::Args),
    /// Indexing of the search store against bare tantivy on the same schema, index size, and
    /// in-process query latency.
    Index(bench_index::Args),
    /// Alerts per million benign events by severity, per generated cluster shape (EKS, GKE,
    /// AKS, OpenShift, GitOps, Helm, ...), through the detector with the built-in rules.
    Precision(bench_precision::Args),
    /// The audit webhook under load: concurrent clients post 400-event `EventList`s through
    /// the write-ahead log while the live pipeline runs (accepted events/s, p50/p99 answer).
    Webhook(bench_webhook::Args),
    /// The Kafka source on a tansu broker on loopback: a plain librdkafka consumer
    /// (confluent-kafka), kubetrail's consume stage and the live pipeline read the same topic
    /// (MB/s, events/s per core), then consumer lag under a steady producer.
    Kafka(bench_kafka::Args),
    /// `verify` over a data directory of many small commits: a full run (every file hashed)
    /// and a run from a recorded head, the ledger's size per commit.
    Verify(bench_verify::Args),
    /// Compaction of a data directory of many small commits: storage per raw GB, files,
    /// MB/s, and SQL and search latency before and after.
    Compact(bench_compact::Args),
    /// Two `serve` replicas in one consumer group on one bucket against one replica: intake
    /// events/s and CPU, and how soon each replica's search answers for both.
    ScaleOut(bench_scale_out::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Detect(args) => bench_detect::run(&args),
        Command::Import(args) => bench_import::run(&args),
        Command::Latency(args) => bench_latency::run(&args),
        Command::State(args) => bench_detect::state(&args),
        Command::Search(args) => bench_search::run(&args),
        Command::Index(args) => bench_index::run(&args),
        Command::Precision(args) => bench_precision::run(&args),
        Command::Webhook(args) => bench_webhook::run(&args),
        Command::Kafka(args) => bench_kafka::run(&args),
        Command::Verify(args) => bench_verify::run(&args),
        Command::Compact(args) => bench_compact::run(&args),
        Command::ScaleOut(args) => bench_scale_out::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
