//! `kubetrail bench latency|state`: the live pipeline's alert latency and the memory of the
//! detection state. Commands of their own, never part of the tests.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use detect::{Detector, Engine, RuleSet, StateLimits};
use tokio_util::sync::CancellationToken;

use crate::cmd::human_bytes;
use crate::config::Config;
use crate::pipeline::{self, Counters};
use crate::sinks::AlertSinks;

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

pub fn latency(rate: u64, seconds: u64) -> anyhow::Result<ExitCode> {
    let dir = tempfile::Builder::new()
        .prefix("kubetrail-latency-")
        .tempdir()?;
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    // The documented defaults, except where the files and data go.
    let config = Config::parse(&format!(
        "[[ingest.files]]\npaths = [\"{logs}/audit.log\"]\n[store]\ndata_dir = \"{data}\"\n",
        logs = logs.display(),
        data = dir.path().join("data").display(),
    ))?;
    let engine = crate::cmd::engine(true, &[])?;
    let appended: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let sinks = AlertSinks::default().with_callback(Box::new({
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
    let counters = Arc::new(Counters::default());
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
        pipeline::run(&config, engine, sinks, counters.clone(), cancel, None).await
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
    Ok(ExitCode::SUCCESS)
}

/// Stateful rules that keep one group per actor, as a SOC would run them.
const STATE_RULES: &str = r#"
rules:
  - id: bench.forbidden_burst
    title: Burst of denied requests
    severity: medium
    condition: {field: verb, exists: true}
    threshold: {count: 1000, within: 5m, by: [user]}
  - id: bench.secret_enumeration
    title: Many secrets read
    severity: high
    condition: {field: verb, exists: true}
    distinct: {field: name, count: 1000, within: 10m, by: [user]}
  - id: bench.new_agent
    title: New user agent for an identity
    severity: low
    condition: {field: verb, exists: true}
    new_term: {fields: [user, user_agent], history: 14d, learn: 1d}
"#;

pub fn state(actors: u64) -> anyhow::Result<ExitCode> {
    let rules = RuleSet::from_yaml(STATE_RULES, "bench").context("bench rules")?;
    let limits = StateLimits {
        max_keys_per_rule: usize::try_from(actors)?.max(1),
        ..StateLimits::default()
    };
    let mut detector = Detector::new(Arc::new(Engine::new(rules)), limits);
    let options = event::DecodeOptions::default();
    let rss_before = current_rss_bytes().unwrap_or(0);
    let started = Instant::now();
    let mut events = Vec::with_capacity(4096);
    let mut alerts = Vec::new();
    let base = 1_767_225_600_000_000i64;
    for actor in 0..actors {
        let time = event::format_rfc3339_micros(base + i64::try_from(actor)? * 1_000);
        let line = serde_json::json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": format!("state-{actor}"), "stage": "ResponseComplete", "verb": "get",
            "requestURI": "/api/v1/namespaces/app/secrets/s",
            "user": {"username": format!("system:serviceaccount:ns-{}:sa-{actor}", actor % 1000)},
            "userAgent": format!("client/{}", actor % 7),
            "objectRef": {"resource": "secrets", "namespace": "app", "name": format!("s-{}", actor % 13)},
            "responseStatus": {"code": 200}, "stageTimestamp": time,
            "annotations": {"authorization.k8s.io/decision": "allow"}
        })
        .to_string();
        event::decode_line(line.as_bytes(), &options, &mut events)?;
        if events.len() >= 4096 {
            detector.process_batch(&events, &mut alerts);
            events.clear();
            alerts.clear();
        }
    }
    detector.process_batch(&events, &mut alerts);
    let seconds = started.elapsed().as_secs_f64();
    let rss_after = current_rss_bytes().unwrap_or(0);
    let snapshot = serde_json::to_vec(&detector.snapshot())?;
    let stats = detector.stats();
    println!(
        "bench state: {actors} distinct actors through 3 stateful rules (threshold, distinct, new_term by actor)"
    );
    println!(
        "  groups held: {}, evicted: {}; {:.0} events/s (decode included)",
        stats.keys,
        stats.evicted,
        actors as f64 / seconds
    );
    println!(
        "  resident memory grew by {} ({:.0} bytes per actor); snapshot {}",
        human_bytes(rss_after.saturating_sub(rss_before)),
        rss_after.saturating_sub(rss_before) as f64 / actors.max(1) as f64,
        human_bytes(snapshot.len() as u64)
    );
    Ok(ExitCode::SUCCESS)
}

/// Current resident set size, from /proc.
fn current_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
