//! `kubetrail demo`: no config, no external service. Writes live generated traffic with attacks
//! into a temporary directory (rotating the log the way the API server does), runs the `serve`
//! pipeline on it, and shows alerts as they fire with running counts.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use event::Alert;
use pipeline::Stats;
use tokio_util::sync::CancellationToken;

use crate::cmd::serve::shutdown_on_signal;
use crate::config::Config;
use crate::service::{self, Service};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Simulated API-server requests per second.
    #[arg(long, default_value_t = 400)]
    pub rate: u64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration_secs: Option<u64>,
    /// Keep logs and data in this directory instead of a temporary one.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Rotate the live audit log when it reaches this size, like --audit-log-maxsize.
    #[arg(long, default_value_t = 4_000_000)]
    pub rotate_bytes: u64,
    /// Seed of the generated traffic.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Where the API (and UI) listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let temp;
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("kubetrail-demo-")
                .tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let config = Config::parse(&format!(
        r#"
        [ingest]
        batch_max_wait_ms = 100
        [[ingest.files]]
        paths = ["{logs}/audit*.log"]
        cluster = "demo"
        [store]
        data_dir = "{data}"
        [pipeline]
        commit_interval_ms = 2000
        [api]
        listen = "{listen}"
        "#,
        logs = logs.display(),
        data = dir.join("data").display(),
        listen = args.listen,
    ))?;
    // The demo's one token, made up for this run and printed: the API never serves events
    // without one.
    let token = api::generate_token()?;
    let engine = crate::cmd::engine(&config.detect)?;
    println!(
        "kubetrail demo: {} simulated requests/s with attacks",
        args.rate
    );
    println!(
        "  audit log: {}/audit.log (rotated every {} bytes)",
        logs.display(),
        args.rotate_bytes
    );
    println!("  data:      {}", dir.join("data").display());
    println!("  press Ctrl-C to stop\n");

    let runtime = crate::service::runtime()?;
    let stats = Arc::new(Stats::default());
    let stop_writer = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let stop = stop_writer.clone();
        let logs = logs.clone();
        let (rate, rotate_bytes, seed) = (args.rate, args.rotate_bytes, args.seed);
        move || write_traffic(&logs, rate, rotate_bytes, seed, &stop)
    });
    let outputs = sinks::AlertOutputs::default().with_callback(Box::new(print_alert));
    let result = runtime.block_on(async {
        let cancel = CancellationToken::new();
        tokio::spawn(shutdown_on_signal(cancel.clone()));
        if let Some(seconds) = args.duration_secs {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(seconds)).await;
                cancel.cancel();
            });
        }
        let principal = api::Principal {
            name: "demo".to_owned(),
            role: api::Role::Admin,
            scope: api::Scope::default(),
        };
        let ticker = tokio::spawn(print_counts(stats.clone(), cancel.clone()));
        let service = Service {
            engine,
            outputs,
            stats: Arc::clone(&stats),
            extra_token: Some((token.clone(), principal)),
            on_listening: Box::new(move |api: &api::RunningApi| {
                let address = api.address;
                match api.state.add_sign_in_code(token.clone()) {
                    Ok(code) => println!(
                        "  UI:        http://{address}/#signin={code}\n             (a one-time sign-in link: it works once, within 15 minutes; then sign in with the token)"
                    ),
                    Err(error) => println!("  UI:        http://{address}/  ({error})"),
                }
                println!("  API:       http://{address}/api/v1  (admin token: {token})");
                println!(
                    "  try:       curl -H 'Authorization: Bearer {token}' 'http://{address}/api/v1/alerts?group_by=rule_id'\n"
                );
            }),
        };
        let result = service::run(&config, service, cancel.clone()).await;
        cancel.cancel();
        let _ = ticker.await;
        result
    });
    stop_writer.store(true, Ordering::Relaxed);
    let written = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the traffic writer panicked"))??;
    result?;
    println!(
        "\ndemo stopped: {written} events written, {} stored, {} alerts, {} commits",
        stats.committed_events.get(),
        stats.alerts.get(),
        stats.commits.get(),
    );
    if args.dir.is_some() {
        println!(
            "try: kubetrail sql --data-dir {} \"select rule_id, count(*) as n from alerts group by rule_id order by n desc\"",
            dir.join("data").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_alert(alert: &Alert) {
    let time = alert.time.get(11..19).unwrap_or(&alert.time);
    println!(
        "{time}  {:<8}  {:<28}  {}",
        alert.severity.as_str().to_uppercase(),
        alert.rule_id,
        alert.summary
    );
}

async fn print_counts(stats: Arc<Stats>, cancel: CancellationToken) {
    let mut interval = tokio::time::interval(Duration::from_secs(5));
    interval.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        eprintln!(
            "  … {} events read, {} stored, {} alerts, {} dead letters, {} commits",
            stats.events.get(),
            stats.committed_events.get(),
            stats.alerts.get(),
            stats.dead_letters.get(),
            stats.commits.get(),
        );
    }
}

/// Appends generated events to `dir/audit.log` at `rate` per second until `stop`, renaming the
/// file to `audit-<UTC time>.log` when it grows past `rotate_bytes` (what lumberjack does).
fn write_traffic(
    dir: &Path,
    rate: u64,
    rotate_bytes: u64,
    seed: u64,
    stop: &AtomicBool,
) -> anyhow::Result<u64> {
    let live = dir.join("audit.log");
    let open = || -> anyhow::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&live)
            .with_context(|| format!("failed to open {}", live.display()))
    };
    let mut file = open()?;
    let mut size = file.metadata()?.len();
    let now = chrono::Utc::now().timestamp_micros();
    let mut generator = generate::Generator::new(generate::Options {
        seed,
        attacks: true,
        start_time_micros: now,
        events_per_second: rate as f64,
        ..generate::Options::default()
    });
    let started = Instant::now();
    let mut written = 0u64;
    let mut buf = Vec::with_capacity(1 << 20);
    while !stop.load(Ordering::Relaxed) {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        buf.clear();
        while written < due {
            generator.next_event(&mut buf);
            written += 1;
        }
        file.write_all(&buf)?;
        size += buf.len() as u64;
        if size >= rotate_bytes {
            let stamp = chrono::Utc::now().format("%Y-%m-%dT%H-%M-%S%.3f");
            std::fs::rename(&live, dir.join(format!("audit-{stamp}.log")))?;
            file = open()?;
            size = 0;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(written)
}
