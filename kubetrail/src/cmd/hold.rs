//! `kubetrail hold add|list|release`: legal holds, which retention never deletes until they
//! are released (design.md §4 "Integrity and retention"). Safe while `serve` runs: retention
//! reads the holds at every run.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use store::StoreError;
use store::holds::{self, NewHold};

use crate::cmd::bad_input;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Place a hold on a time range, optionally one cluster and one namespace; prints it.
    Add(AddArgs),
    /// Print the holds as JSON lines (active ones unless --all).
    List(ListArgs),
    /// Release a hold; retention may then delete what it kept.
    Release(ReleaseArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Start of the held event time: RFC 3339 or relative (15m, 24h, 7d).
    #[arg(long)]
    pub from: String,
    /// End of the held event time (exclusive); default now.
    #[arg(long)]
    pub to: Option<String>,
    /// Hold only this cluster's data.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Hold only this namespace's data.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Why (a case or ticket reference).
    #[arg(long)]
    pub reason: String,
    /// Who places it; default the login name ($USER).
    #[arg(long)]
    pub by: Option<String>,
    /// Data directory.
    #[arg(long, default_value = "./kubetrail-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Released holds too.
    #[arg(long)]
    pub all: bool,
    /// Data directory.
    #[arg(long, default_value = "./kubetrail-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    /// The hold's id (`hold-N`).
    pub id: String,
    /// Why it is released.
    #[arg(long)]
    pub reason: String,
    /// Who releases it; default the login name ($USER).
    #[arg(long)]
    pub by: Option<String>,
    /// Data directory.
    #[arg(long, default_value = "./kubetrail-data")]
    pub data_dir: PathBuf,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Add(args) => {
            let now = chrono::Utc::now().timestamp_micros();
            let time = |text: &str| {
                api::parse_time(text, now)
                    .ok()
                    .and_then(chrono::DateTime::from_timestamp_micros)
                    .ok_or_else(|| {
                        bad_input(format!("{text:?} is not a time (RFC 3339 or 15m, 24h, 7d)"))
                    })
            };
            let hold = holds::add(
                &args.data_dir,
                NewHold {
                    from: time(&args.from)?,
                    to: match &args.to {
                        Some(to) => time(to)?,
                        None => chrono::Utc::now(),
                    },
                    cluster: args.cluster,
                    namespace: args.namespace,
                    reason: args.reason,
                    by: who(args.by),
                },
            )
            .map_err(caller_or_ours)?;
            writeln!(out, "{}", serde_json::to_string(&hold)?)?;
        }
        Command::List(args) => {
            if !args.data_dir.is_dir() {
                return Err(bad_input(format!(
                    "no data directory at {}",
                    args.data_dir.display()
                )));
            }
            for hold in holds::list(&args.data_dir).context("failed to read the holds")? {
                if args.all || hold.is_active() {
                    writeln!(out, "{}", serde_json::to_string(&hold)?)?;
                }
            }
        }
        Command::Release(args) => {
            let hold = holds::release(&args.data_dir, &args.id, &who(args.by), &args.reason)
                .map_err(caller_or_ours)?;
            writeln!(out, "{}", serde_json::to_string(&hold)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn who(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_default()
}

fn caller_or_ours(error: StoreError) -> anyhow::Error {
    match error {
        StoreError::InvalidHold { .. } | StoreError::UnknownHold { .. } => {
            bad_input(error.to_string())
        }
        StoreError::DataDirMissing { path } => {
            bad_input(format!("no data directory at {}", path.display()))
        }
        other => anyhow::Error::new(other).context("failed to change the holds"),
    }
}
