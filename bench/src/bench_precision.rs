//! `precision`: alerts per million benign events, by severity, for every cluster shape the
//! generator knows, through the same detector `serve`, `import` and `detect` run.

use std::collections::BTreeMap;

use event::Severity;
use generate::ClusterShape;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Benign events per cluster shape.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Shapes to measure (default: all).
    #[arg(long, value_parser = str::parse::<ClusterShape>, value_delimiter = ',')]
    pub shapes: Vec<ClusterShape>,
}

const SEVERITIES: [Severity; 5] = [
    Severity::Info,
    Severity::Low,
    Severity::Medium,
    Severity::High,
    Severity::Critical,
];

pub fn run(args: &Args) -> anyhow::Result<()> {
    let engine = pipeline::build_engine(&detect::Config::default())?;
    let shapes = if args.shapes.is_empty() {
        ClusterShape::ALL.to_vec()
    } else {
        args.shapes.clone()
    };
    println!(
        "bench precision: {} benign events per shape, {} rules; alerts per million events",
        args.events,
        engine.len()
    );
    println!(
        "  {:<14} {:>8} {:>8} {:>8} {:>8} {:>8}   rules that fired",
        "shape", "info", "low", "medium", "high", "critical"
    );
    let options = event::DecodeOptions::default();
    for shape in shapes {
        let mut data = Vec::new();
        let generated = generate::Options {
            seed: args.seed,
            shape,
            ..generate::Options::default()
        };
        generate::generate(
            generated,
            args.events,
            &mut data,
            None::<&mut std::io::Sink>,
        )?;
        let mut detector = detect::Detector::new(engine.clone(), detect::StateLimits::default());
        let mut batch = Vec::with_capacity(4096);
        let mut alerts = Vec::new();
        let mut decoded = 0u64;
        for line in data
            .split(|byte| *byte == b'\n')
            .filter(|line| !line.is_empty())
        {
            let _ = event::decode_line(line, &options, &mut batch);
            if batch.len() >= 4096 {
                decoded += batch.len() as u64;
                detector.process_batch(&batch, &mut alerts);
                batch.clear();
            }
        }
        decoded += batch.len() as u64;
        detector.process_batch(&batch, &mut alerts);
        let mut by_severity: BTreeMap<Severity, u64> = BTreeMap::new();
        let mut by_rule: BTreeMap<(Severity, &str), u64> = BTreeMap::new();
        for alert in &alerts {
            *by_severity.entry(alert.severity).or_default() += 1;
            *by_rule
                .entry((alert.severity, alert.rule_id.as_str()))
                .or_default() += 1;
        }
        let per_million = |count: u64| count as f64 * 1e6 / decoded.max(1) as f64;
        let cells: Vec<String> = SEVERITIES
            .iter()
            .map(|severity| {
                format!(
                    "{:>8.0}",
                    per_million(by_severity.get(severity).copied().unwrap_or(0))
                )
            })
            .collect();
        let rules: Vec<String> = by_rule
            .iter()
            .rev()
            .map(|((severity, rule), count)| format!("{rule} ({}) {count}", severity.as_str()))
            .collect();
        println!(
            "  {:<14} {}   {}",
            shape.name(),
            cells.join(" "),
            if rules.is_empty() {
                "-".to_owned()
            } else {
                rules.join(", ")
            }
        );
    }
    Ok(())
}
