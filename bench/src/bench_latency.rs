//! `latency`: the live pipeline's alert latency, from a line appended to a tailed file to its
//! alert delivered.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use pipeline::{Live, LiveOptions, Stats};
use sinks::AlertOutputs;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Args {
    /// Events appended per second (one in 50 is an exec into a pod, which alerts).
    #[arg(long, default_value_t = 5_000)]
    pub rate: u64,
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
}

/// One audit line at the wall-clock time; `exec` makes it an exec into a pod (which alerts).
fn live_line(id: u64, exec: bool) -> String {
    let now = event::format_rfc3339_micros(chrono::Utc::now().timestamp_micros());
    let (verb, uri, object, stage, code) = if exec {
        (
            "create",
            "/api/v1/namespaces/app/pods/web-1/exec?command=sh&stdin=true&tty=true",
            serde_json::json!({"resource": "pods", "namespace": "app", "name": "web-1", "subresource": "exec", "apiVersion": "v1"}),
            "ResponseStarted",
            101,
        )
    } else {
        (
            "get",
            "/api/v1/namespaces/app/configmaps/settings",
            serde_json::json!({"resource": "configmaps", "namespace": "app", "name": "settings", "apiVersion": "v1"}),
            "ResponseComplete",
            200,
        )
    };
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("latency-{id}"), "stage": stage, "requestURI": uri, "verb": verb,
        "user": {"username": "alice@example.com", "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.9"], "userAgent": "kubectl/v1.31.0", "objectRef": object,
        "responseStatus": {"code": code}, "requestReceivedTimestamp": now, "stageTimestamp": now,
        "annotations": {"authorization.k8s.io/decision": "allow"}
    })
    .to_string()
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let Args { rate, seconds } = *args;
    let dir = tempfile::Builder::new()
        .prefix("kubetrail-latency-")
        .tempdir()?;
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    // The documented defaults, except where the files and data go.
    let ingest = ingest::Config {
        files: vec![ingest::FileGroup {
            paths: vec![logs.join("audit.log").display().to_string()],
            cluster: "default".to_owned(),
        }],
        ..ingest::Config::default()
    };
    let options = LiveOptions {
        store: store::Config::with_data_dir(dir.path().join("data")),
        dedupe_capacity: ingest.dedupe_capacity,
        ..LiveOptions::default()
    };
    let engine = pipeline::build_engine(&options.detect)?;
    let appended: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let outputs = AlertOutputs::default().with_callback(Box::new({
        let appended = appended.clone();
        let latencies = latencies.clone();
        move |alert| {
            if alert.rule_id != "k8s.pod_exec" {
                return;
            }
            let now = Instant::now();
            let sent = alert
                .audit_ids
                .first()
                .and_then(|id| appended.lock().ok()?.remove(id));
            if let (Some(sent), Ok(mut latencies)) = (sent, latencies.lock()) {
                latencies.push(now - sent);
            }
        }
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let stop = stop.clone();
        let appended = appended.clone();
        let path = logs.join("audit.log");
        move || -> anyhow::Result<u64> {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            let started = Instant::now();
            let mut written = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Keep to the rate: write what is due every 10 ms.
                let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
                let mut chunk = String::new();
                let mut execs = Vec::new();
                while written < due {
                    let exec = written % 50 == 49;
                    chunk.push_str(&live_line(written, exec));
                    chunk.push('\n');
                    if exec {
                        execs.push(format!("latency-{written}"));
                    }
                    written += 1;
                }
                if !chunk.is_empty() {
                    let now = Instant::now();
                    if let Ok(mut appended) = appended.lock() {
                        for id in execs {
                            appended.insert(id, now);
                        }
                    }
                    file.write_all(chunk.as_bytes())?;
                    file.flush()?;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(written)
        }
    });
    let runtime = tokio::runtime::Runtime::new().context("failed to start the async runtime")?;
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        tokio::spawn({
            let cancel = cancel.clone();
            let stop = stop.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(seconds)).await;
                stop.store(true, Ordering::Relaxed);
                // Let the last lines through.
                tokio::time::sleep(Duration::from_secs(2)).await;
                cancel.cancel();
            }
        });
        let live = Live::open(options, engine, Arc::new(Stats::default()), &cancel).await?;
        let tailer = ingest::FileTailer::new(&ingest, live.positions().clone())?;
        let sources = vec![ingest::Source::Files(tailer)];
        live.run(sources, outputs, None, cancel).await?;
        anyhow::Ok(())
    })?;
    let written = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer panicked"))??;
    let mut latencies = latencies
        .lock()
        .map_err(|_| anyhow::anyhow!("latency list poisoned"))?
        .clone();
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |latency| latency.as_secs_f64() * 1e3)
    };
    println!(
        "bench latency: {written} events appended at {rate}/s for {seconds}s, {} exec alerts timed",
        latencies.len()
    );
    println!(
        "  append -> alert delivered: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(0.50),
        percentile(0.99),
        latencies.last().map_or(0.0, |l| l.as_secs_f64() * 1e3)
    );
    println!("  (default config: batch_max_wait_ms and poll interval as documented)");
    Ok(())
}
