//! `detect` and `state`: decode + normalise + rules on one core, and the memory of the
//! detection state with many distinct actors.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use detect::{Detector, Engine, RuleSet, StateLimits};
use indicatif::DecimalBytes;

use crate::measure;

#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 500_000)]
    pub events: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Passes over the events; the best pass is reported.
    #[arg(long, default_value_t = 3)]
    pub passes: u32,
}

#[derive(Debug, Clone, Copy, clap::Args)]
pub struct StateArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub actors: u64,
}

pub fn generated(events: u64, seed: u64) -> anyhow::Result<Vec<u8>> {
    let options = generate::Options {
        seed,
        attacks: true,
        ..generate::Options::default()
    };
    let mut data = Vec::new();
    generate::generate(options, events, &mut data, None::<&mut std::io::Sink>)?;
    Ok(data)
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let Args {
        events,
        seed,
        passes,
    } = *args;
    let data = generated(events, seed)?;
    // Lines are split once, outside the timed loops: splitting is the source's job (ingest
    // does it with memchr while reading), not part of decode + normalise + rules.
    let lines: Vec<&[u8]> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let engine = pipeline::build_engine(&detect::Config::default())?;
    let options = event::DecodeOptions::default();
    println!(
        "bench detect: {events} generated events, {}",
        DecimalBytes(data.len() as u64)
    );
    let mut decode_best = f64::MAX;
    let mut full_best = f64::MAX;
    let mut alerts_seen = 0;
    for _ in 0..passes.max(1) {
        // Decode + normalise only.
        let started = Instant::now();
        let mut out = Vec::with_capacity(1024);
        let mut decoded = 0usize;
        for line in &lines {
            out.clear();
            if event::decode_line(line, &options, &mut out).is_ok() {
                decoded += out.len();
            }
        }
        decode_best = decode_best.min(started.elapsed().as_secs_f64());
        std::hint::black_box(decoded);

        // Decode + normalise + rules, in batches as the pipeline does.
        let started = Instant::now();
        let mut detector = detect::Detector::new(engine.clone(), detect::StateLimits::default());
        let mut batch = Vec::with_capacity(4096);
        let mut alerts = Vec::new();
        for line in &lines {
            let _ = event::decode_line(line, &options, &mut batch);
            if batch.len() >= 4096 {
                detector.process_batch(&batch, &mut alerts);
                batch.clear();
            }
        }
        detector.process_batch(&batch, &mut alerts);
        full_best = full_best.min(started.elapsed().as_secs_f64());
        alerts_seen = alerts.len();
    }
    let mb = data.len() as f64 / 1e6;
    println!(
        "  decode + normalise:          {:>10.0} events/s  {:>7.1} MB/s",
        events as f64 / decode_best,
        mb / decode_best
    );
    println!(
        "  decode + normalise + rules:  {:>10.0} events/s  {:>7.1} MB/s  ({} rules, {alerts_seen} alerts)",
        events as f64 / full_best,
        mb / full_best,
        engine.len()
    );
    println!("  one thread; best of {passes} passes");
    Ok(())
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

pub fn state(args: &StateArgs) -> anyhow::Result<()> {
    let actors = args.actors;
    let rules = RuleSet::from_yaml(STATE_RULES, "bench").context("bench rules")?;
    let limits = StateLimits {
        max_keys_per_rule: usize::try_from(actors)?.max(1),
        ..StateLimits::default()
    };
    let mut detector = Detector::new(Arc::new(Engine::new(rules)), limits);
    let options = event::DecodeOptions::default();
    let rss_before = measure::rss_bytes().unwrap_or(0);
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
    let rss_after = measure::rss_bytes().unwrap_or(0);
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
        DecimalBytes(rss_after.saturating_sub(rss_before)),
        rss_after.saturating_sub(rss_before) as f64 / actors.max(1) as f64,
        DecimalBytes(snapshot.len() as u64)
    );
    Ok(())
}
