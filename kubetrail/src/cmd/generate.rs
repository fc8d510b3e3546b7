//! `kubetrail generate`: realistic synthetic audit traffic, deterministic by seed.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use indicatif::DecimalBytes;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of events to write.
    #[arg(long)]
    pub events: u64,
    /// Seed: the same seed gives byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Inject labelled attack scenarios; labels go to FILE.labels.jsonl.
    #[arg(long)]
    pub attacks: bool,
    /// Output file (JSON lines).
    #[arg(long)]
    pub out: PathBuf,
    /// Time of the first event (RFC 3339); default 2026-01-01T00:00:00Z.
    #[arg(long)]
    pub start: Option<String>,
    /// Kind of cluster whose benign traffic is generated: kubeadm (the default), eks, gke,
    /// aks, openshift, gitops, helm, cert-manager, monitoring, service-mesh, public-nodes, ci.
    #[arg(long, default_value = "kubeadm", value_parser = str::parse::<generate::ClusterShape>)]
    pub shape: generate::ClusterShape,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let start_time_micros = match &args.start {
        Some(text) => event::parse_rfc3339_micros(text)
            .ok_or_else(|| crate::cmd::bad_input(format!("invalid --start time {text:?}")))?,
        None => 1_767_225_600_000_000,
    };
    let options = generate::Options {
        seed: args.seed,
        attacks: args.attacks,
        start_time_micros,
        shape: args.shape,
        ..generate::Options::default()
    };
    let file = File::create(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let started = std::time::Instant::now();
    let summary = if args.attacks {
        let labels_path = labels_path(&args.out);
        let labels = File::create(&labels_path)
            .with_context(|| format!("failed to create {}", labels_path.display()))?;
        let mut labels = BufWriter::new(labels);
        generate::generate(options, args.events, &mut out, Some(&mut labels))?
    } else {
        generate::generate(options, args.events, &mut out, None::<&mut std::io::Sink>)?
    };
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "wrote {} events ({}) to {} in {:.2}s: {:.0} events/s, {:.0} MB/s",
        summary.events,
        DecimalBytes(summary.bytes),
        args.out.display(),
        seconds,
        summary.events as f64 / seconds,
        summary.bytes as f64 / 1e6 / seconds
    );
    Ok(ExitCode::SUCCESS)
}

/// `FILE.labels.jsonl` beside `FILE`.
pub fn labels_path(out: &std::path::Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".labels.jsonl");
    PathBuf::from(name)
}
