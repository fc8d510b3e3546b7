//! `index`: indexing and query benchmark of the search store against bare tantivy.
//!
//! ```text
//! cargo run --release -p bench -- index --events 500000
//!     [--eps 2.0] [--commit-every 50000] [--batch 5000] [--skip-no-positions] [--keep DIR]
//! ```
//!
//! Generates N synthetic audit events (`generate`, with attacks) at `--eps` simulated events per
//! second (2.0 spreads 500k events over about three days), decodes them, then indexes them
//! (a) through `SearchIndex::add`/`commit` (batches of `--batch`, a commit every
//! `--commit-every` events, like the pipeline), (b) with a plain tantivy loop over the same
//! schema with one writer, the same memory budget and thread counts, one commit at the end,
//! and (c) through `SearchIndex` without raw-text positions, for the index size. Then it runs
//! three query shapes 200 times each against (a).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use event::{Alert, AlertSource, DecodeOptions, Event, Severity};
use search::{IndexOptions, SearchIndex, SearchRequest, Searcher};
use tantivy::indexer::IndexWriterOptions;
use tantivy::schema::Schema;
use tantivy::{Index, IndexWriter, TantivyDocument};

use crate::measure::{cpu_seconds, dir_bytes, percentile};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Events to generate and index.
    #[arg(long, default_value_t = 500_000)]
    pub events: u64,
    /// Simulated events per second (spreads the events over days).
    #[arg(long, default_value_t = 2.0)]
    pub eps: f64,
    /// Events per `SearchIndex` commit.
    #[arg(long, default_value_t = 50_000)]
    pub commit_every: usize,
    /// Events per `SearchIndex::add`.
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
    /// Skip pass (c), the index without raw-text positions.
    #[arg(long)]
    pub skip_no_positions: bool,
    /// Keep the indexes in a new directory under DIR.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

struct Run {
    name: &'static str,
    seconds: f64,
    cpu: f64,
    merge_seconds: f64,
    size: u64,
}

fn print_run(run: &Run, events: usize, raw_bytes: u64) {
    println!(
        "{:<22} {:>8.1} s {:>9.0} events/s {:>7.1} MB/s raw  {:>6.1} MB/s per CPU-s  \
         (cpu {:.1} s, merges after: {:.1} s)  index {:>7.1} MB = {:>4.1} % of raw",
        run.name,
        run.seconds,
        events as f64 / run.seconds,
        mb(raw_bytes) / run.seconds,
        mb(raw_bytes) / run.cpu,
        run.cpu,
        run.merge_seconds,
        mb(run.size),
        100.0 * run.size as f64 / raw_bytes as f64,
    );
}

fn ours(
    name: &'static str,
    dir: &Path,
    events: &[Event],
    alerts: &[Alert],
    args: &Args,
    options: IndexOptions,
) -> Run {
    let cpu = cpu_seconds();
    let started = Instant::now();
    let mut index = SearchIndex::open(dir, options).expect("open");
    let mut seq = 0;
    let mut since_commit = 0;
    for batch in events.chunks(args.batch) {
        index.add(batch, alerts).expect("add");
        since_commit += batch.len();
        if since_commit >= args.commit_every {
            seq += 1;
            index.commit(seq).expect("commit");
            since_commit = 0;
        }
    }
    seq += 1;
    index.commit(seq).expect("commit");
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let merge_started = Instant::now();
    index.close().expect("close");
    Run {
        name,
        seconds,
        cpu,
        merge_seconds: merge_started.elapsed().as_secs_f64(),
        size: dir_bytes(dir, None),
    }
}

/// The bare tantivy baseline: the same schema and documents, one writer, one commit.
fn bare(dir: &Path, events: &[Event], alerts: &[Alert], options: &IndexOptions) -> Run {
    let cpu = cpu_seconds();
    let started = Instant::now();
    let schema: Schema = search::tantivy_schema(options.positions);
    let index = Index::builder()
        .schema(schema.clone())
        .settings(search::tantivy_index_settings())
        .create_in_dir(dir)
        .expect("create");
    search::register_tokenizers(&index);
    let mut writer: IndexWriter = index
        .writer_with_options(
            IndexWriterOptions::builder()
                .num_worker_threads(options.indexing_threads)
                .num_merge_threads(options.merge_threads)
                .memory_budget_per_thread(options.memory_budget_bytes / options.indexing_threads)
                .build(),
        )
        .expect("writer");
    let field = |name: &str| schema.get_field(name).expect("field");
    let (event_id, time, tie, seq, raw, raw_keys) = (
        field("event_id"),
        field("time"),
        field("tie"),
        field("seq"),
        field("raw"),
        field("raw_keys"),
    );
    let (cluster, source, verb, user, groups) = (
        field("cluster"),
        field("source"),
        field("verb"),
        field("user"),
        field("groups"),
    );
    let (impersonated, actor_kind, ip, user_agent, resource) = (
        field("impersonated_user"),
        field("actor_kind"),
        field("ip"),
        field("user_agent"),
        field("resource"),
    );
    let (subresource, api_group, namespace, name, code) = (
        field("subresource"),
        field("api_group"),
        field("namespace"),
        field("name"),
        field("code"),
    );
    let (decision, falco_rule, falco_priority, pod_name, rule, image) = (
        field("decision"),
        field("falco_rule"),
        field("falco_priority"),
        field("pod_name"),
        field("rule"),
        field("image"),
    );
    let mut rules: HashMap<&str, Vec<&str>> = HashMap::new();
    for alert in alerts {
        for id in &alert.event_ids {
            rules.entry(id).or_default().push(&alert.rule_id);
        }
    }
    for e in events {
        let mut doc = TantivyDocument::default();
        doc.add_text(event_id, &e.event_id);
        doc.add_i64(time, e.time);
        doc.add_u64(tie, search::tie_of(&e.event_id));
        doc.add_u64(seq, 1);
        doc.add_text(cluster, &e.cluster);
        doc.add_text(source, e.source.as_str());
        let opt = |doc: &mut TantivyDocument, f, v: &Option<String>| {
            if let Some(v) = v {
                doc.add_text(f, v);
            }
        };
        opt(&mut doc, verb, &e.verb);
        opt(&mut doc, user, &e.user);
        for g in &e.user_groups {
            doc.add_text(groups, g);
        }
        opt(&mut doc, impersonated, &e.impersonated_user);
        if let Some(kind) = e.actor_kind {
            doc.add_text(actor_kind, kind.as_str());
        }
        for text in &e.source_ips {
            if let Ok(addr) = text.parse::<IpAddr>() {
                let v6 = match addr {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                doc.add_ip_addr(ip, v6);
            }
        }
        opt(&mut doc, user_agent, &e.user_agent);
        opt(&mut doc, resource, &e.resource);
        opt(&mut doc, subresource, &e.subresource);
        opt(&mut doc, api_group, &e.api_group);
        opt(&mut doc, namespace, &e.namespace);
        opt(&mut doc, name, &e.name);
        if let Some(c) = e.response_code {
            doc.add_u64(code, c as u64);
        }
        if let Some(d) = e.decision {
            doc.add_text(decision, d.as_str());
        }
        opt(&mut doc, falco_rule, &e.falco_rule);
        opt(&mut doc, falco_priority, &e.falco_priority);
        opt(&mut doc, pod_name, &e.pod_name);
        if let Some(ids) = rules.get(e.event_id.as_str()) {
            for id in ids {
                doc.add_text(rule, id);
            }
        }
        for i in &e.images {
            doc.add_text(image, &i.reference);
        }
        doc.add_text(raw, &e.raw);
        doc.add_text(raw_keys, &e.raw);
        writer.add_document(doc).expect("add");
    }
    writer.commit().expect("commit");
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let merge_started = Instant::now();
    writer.wait_merging_threads().expect("merges");
    Run {
        name: "bare tantivy",
        seconds,
        cpu,
        merge_seconds: merge_started.elapsed().as_secs_f64(),
        size: dir_bytes(dir, None),
    }
}

/// Bytes per component (and the biggest fields) of every day index under `dir`.
fn space_report(dir: &Path) {
    let mut components: Vec<(&str, u64)> = vec![
        ("termdict", 0),
        ("postings", 0),
        ("positions", 0),
        ("fast fields", 0),
        ("fieldnorms", 0),
        ("doc store", 0),
    ];
    let mut by_field: HashMap<String, u64> = HashMap::new();
    let mut segments = 0;
    for entry in std::fs::read_dir(dir).expect("list").flatten() {
        if !entry.file_name().to_string_lossy().starts_with("date=") {
            continue;
        }
        let index = Index::open_in_dir(entry.path()).expect("open day");
        let searcher = index.reader().expect("reader").searcher();
        let usage = searcher.space_usage().expect("space usage");
        for segment in usage.segments() {
            segments += 1;
            let parts = [
                segment.termdict(),
                segment.postings(),
                segment.positions(),
                segment.fast_fields(),
                segment.fieldnorms(),
            ];
            for (slot, part) in parts.iter().enumerate() {
                components[slot].1 += part.total().get_bytes();
                for field in part.fields() {
                    *by_field
                        .entry(format!("{} {}", field.field_name(), components[slot].0))
                        .or_insert(0) += field.total().get_bytes();
                }
            }
            components[5].1 += segment.store().total().get_bytes();
        }
    }
    println!("  space by component ({segments} segments):");
    for (name, bytes) in &components {
        println!("    {name:<12} {:>8.1} MB", mb(*bytes));
    }
    let mut fields: Vec<(String, u64)> = by_field.into_iter().collect();
    fields.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    println!("  largest field parts:");
    for (name, bytes) in fields.iter().take(12) {
        println!("    {name:<28} {:>8.1} MB", mb(*bytes));
    }
}

fn latency(searcher: &Searcher, label: &str, request: &SearchRequest, runs: usize) {
    let mut times: Vec<f64> = Vec::with_capacity(runs);
    let mut total = 0;
    let mut hits = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let response = searcher.search(request).expect("search");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        total = response.total;
        hits = response.hits.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{label:<58} total {total:>7} hits {hits:>3}  p50 {:>7.2} ms  p99 {:>7.2} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut lines = Vec::new();
    generate::generate(
        generate::Options {
            seed: 42,
            attacks: true,
            events_per_second: args.eps,
            ..generate::Options::default()
        },
        args.events,
        &mut lines,
        None::<&mut std::io::Sink>,
    )
    .expect("generate");
    let json_bytes = lines.len() as u64;
    let mut events = Vec::with_capacity(args.events as usize);
    let options = DecodeOptions::default();
    for line in lines.split(|b| *b == b'\n').filter(|line| !line.is_empty()) {
        event::decode_line(line, &options, &mut events).expect("decode");
    }
    drop(lines);
    let raw_bytes: u64 = events.iter().map(|e| e.raw.len() as u64).sum();
    // An alert on every 2,000th event, as a detector might raise.
    let alerts: Vec<Alert> = events
        .iter()
        .step_by(2_000)
        .map(|e| Alert {
            alert_id: format!("a-{}", e.event_id),
            rule_id: "bench-rule".to_owned(),
            title: "bench".to_owned(),
            severity: Severity::Medium,
            time: event::format_rfc3339_micros(e.time),
            event_ids: vec![e.event_id.clone()],
            audit_ids: Vec::new(),
            cluster: e.cluster.clone(),
            actor: e.user.clone(),
            namespace: e.namespace.clone(),
            resource: e.resource.clone(),
            name: e.name.clone(),
            source: AlertSource::K8sAudit,
            attack: Vec::new(),
            summary: String::new(),
            fields: serde_json::Map::new(),
        })
        .collect();
    let (min_time, max_time) = events.iter().fold((i64::MAX, i64::MIN), |(lo, hi), e| {
        (lo.min(e.time), hi.max(e.time))
    });
    println!(
        "{} events ({:.1} MB of JSON lines, {:.1} MB raw event JSON) over {:.1} h, \
         generated and decoded in {:.1} s; {} cores",
        events.len(),
        mb(json_bytes),
        mb(raw_bytes),
        (max_time - min_time) as f64 / 3.6e9,
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let options = IndexOptions::default();
    println!(
        "options: {options:?}; batches of {}, a commit every {} events",
        args.batch, args.commit_every
    );

    let root = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).expect("create --keep dir");
            tempfile::tempdir_in(dir).expect("tempdir")
        }
        None => tempfile::tempdir().expect("tempdir"),
    };
    let ours_dir = root.path().join("ours");
    let bare_dir = root.path().join("bare");
    let plain_dir = root.path().join("no-positions");
    std::fs::create_dir_all(&bare_dir).expect("mkdir");

    let ours_run = ours(
        "SearchIndex",
        &ours_dir,
        &events,
        &alerts,
        args,
        options.clone(),
    );
    print_run(&ours_run, events.len(), raw_bytes);
    let bare_run = bare(&bare_dir, &events, &alerts, &options);
    print_run(&bare_run, events.len(), raw_bytes);
    println!(
        "ratio SearchIndex / bare: {:.2}x events/s",
        bare_run.seconds / ours_run.seconds
    );
    println!("SearchIndex with positions:");
    space_report(&ours_dir);
    if !args.skip_no_positions {
        let plain_run = ours(
            "SearchIndex, no pos.",
            &plain_dir,
            &events,
            &alerts,
            args,
            IndexOptions {
                positions: false,
                ..options.clone()
            },
        );
        print_run(&plain_run, events.len(), raw_bytes);
        println!("SearchIndex without positions:");
        space_report(&plain_dir);
        std::fs::remove_dir_all(&plain_dir).ok();
    }
    std::fs::remove_dir_all(&bare_dir).ok();

    let searcher = Searcher::open(&ours_dir).expect("open searcher");
    let day = 86_400_000_000i64;
    let middle = min_time + (max_time - min_time) / 2;
    let runs = 200;
    println!("query latency over {runs} runs (limit 100, stored fields fetched):");
    latency(
        &searcher,
        "rare term, whole range: mallory",
        &SearchRequest {
            limit: 100,
            ..SearchRequest::new("mallory")
        },
        runs,
    );
    latency(
        &searcher,
        "field query, 24 h: user:alice@example.com AND verb:get",
        &SearchRequest {
            limit: 100,
            from: Some(middle - day / 2),
            to: Some(middle + day / 2),
            ..SearchRequest::new("user:alice@example.com AND verb:get")
        },
        runs,
    );
    latency(
        &searcher,
        "verb:update + histogram + 3 facets, whole range",
        &SearchRequest {
            limit: 100,
            histogram: Some(search::histogram_width(min_time, max_time + 1)),
            facets: vec!["user".into(), "namespace".into(), "resource".into()],
            ..SearchRequest::new("verb:update")
        },
        runs,
    );
    latency(
        &searcher,
        "phrase, whole range: \"kube-system\"",
        &SearchRequest {
            limit: 100,
            ..SearchRequest::new("\"kube-system\"")
        },
        runs,
    );
    latency(
        &searcher,
        "wildcard, whole range: user:system:serviceaccount:kube-system:*",
        &SearchRequest {
            limit: 100,
            ..SearchRequest::new("user:system:serviceaccount:kube-system:*")
        },
        runs,
    );
    if let Some(dir) = &args.keep {
        let kept = root.keep();
        println!(
            "kept the indexes in {} (under {})",
            kept.display(),
            dir.display()
        );
    }
    Ok(())
}
