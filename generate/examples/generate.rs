//! Writes synthetic audit events to a file and reports the rate:
//! `cargo run --release --example generate -- N SEED OUT [--attacks] [--shape=NAME]` (NAME: eks, gke,
//! aks, openshift, gitops, helm, cert-manager, monitoring, service-mesh, public-nodes, ci).

use std::io::BufWriter;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let events: u64 = arguments
        .first()
        .map(|text| text.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let seed: u64 = arguments
        .get(1)
        .map(|text| text.parse())
        .transpose()?
        .unwrap_or(1);
    let out = arguments
        .get(2)
        .cloned()
        .unwrap_or_else(|| "/tmp/kubetrail-generate.jsonl".to_owned());
    let attacks = arguments.iter().any(|argument| argument == "--attacks");
    let shape = arguments
        .iter()
        .find_map(|argument| argument.strip_prefix("--shape="))
        .map(str::parse::<generate::ClusterShape>)
        .transpose()?
        .unwrap_or_default();
    let options = generate::Options {
        seed,
        attacks,
        shape,
        ..generate::Options::default()
    };
    let mut file = BufWriter::new(std::fs::File::create(&out)?);
    let mut labels = if attacks {
        Some(BufWriter::new(std::fs::File::create(format!(
            "{out}.labels.jsonl"
        ))?))
    } else {
        None
    };
    let started = Instant::now();
    let summary = generate::generate(options, events, &mut file, labels.as_mut())?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} events, {} bytes in {seconds:.3} s: {:.0} events/s, {:.1} MB/s; attacks {:?}",
        summary.events,
        summary.bytes,
        summary.events as f64 / seconds,
        summary.bytes as f64 / seconds / 1e6,
        summary.attack_events
    );
    Ok(())
}
