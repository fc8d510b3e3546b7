//! `kubetrail sql`: one read-only SQL statement over the `events` and `alerts` tables.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use query::{OutputFormat, QueryError, SqlLimits};

use crate::cmd::bad_input;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The statement, e.g. "select verb, count(*) from events group by verb".
    pub statement: String,
    /// Data directory.
    #[arg(long, default_value = "./kubetrail-data")]
    pub data_dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Most rows returned; the output says when it was cut.
    #[arg(long, default_value_t = 10_000)]
    pub max_rows: usize,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
    Table,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.data_dir.is_dir() {
        return Err(bad_input(format!(
            "no data directory at {}",
            args.data_dir.display()
        )));
    }
    let format = match args.format {
        Format::Jsonl => OutputFormat::Jsonl,
        Format::Csv => OutputFormat::Csv,
        Format::Table => OutputFormat::Table,
    };
    let limits = SqlLimits {
        max_rows: args.max_rows,
        ..SqlLimits::default()
    };
    let runtime = crate::service::runtime()?;
    let result = runtime.block_on(async {
        let ctx = store::session_context(&args.data_dir)
            .await
            .context("failed to open the tables")?;
        query::run_sql(&ctx, &args.statement, &limits)
            .await
            .map_err(|error| match error {
                QueryError::Refused { .. } | QueryError::Invalid { .. } => {
                    bad_input(error.to_string())
                }
                other => anyhow::Error::new(other).context("query failed"),
            })
    })?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    query::write_results(&result, format, &mut out).context("failed to write results")?;
    out.flush()?;
    if result.truncated {
        eprintln!("note: output cut at {} rows (--max-rows)", args.max_rows);
    }
    Ok(ExitCode::SUCCESS)
}
