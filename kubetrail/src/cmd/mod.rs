//! One module per subcommand, plus what they share.

pub mod bench;
mod bench_live;
mod bench_search;
pub mod demo;
pub mod detect;
pub mod generate;
pub mod import;
pub mod rules;
pub mod search;
pub mod serve;
pub mod sql;
pub mod token;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::detect::{Engine, RuleSet};

/// Marks an error as the caller's mistake (bad usage or bad input): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Returns a `BadInput` error.
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    BadInput(message.into()).into()
}

/// The rules to run: the built-in pack (unless left out) plus rule files or directories.
pub fn load_rules(builtin: bool, paths: &[PathBuf]) -> anyhow::Result<RuleSet> {
    load_rules_with(builtin, paths, &::detect::ListOverrides::new())
}

/// `load_rules` with lists replaced by configuration (`[detect.lists]`).
pub fn load_rules_with(
    builtin: bool,
    paths: &[PathBuf],
    lists: &::detect::ListOverrides,
) -> anyhow::Result<RuleSet> {
    for path in paths {
        if !path.exists() {
            return Err(bad_input(format!("no such rules path: {}", path.display())));
        }
    }
    let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    RuleSet::load_all(builtin, &paths, lists).map_err(|e| bad_input(format!("{e}")))
}

/// The engine over `load_rules`.
pub fn engine(builtin: bool, paths: &[PathBuf]) -> anyhow::Result<Arc<Engine>> {
    Ok(Arc::new(Engine::new(load_rules(builtin, paths)?)))
}

/// Checks that every input file exists before any work starts.
pub fn check_inputs(paths: &[PathBuf]) -> anyhow::Result<()> {
    if paths.is_empty() {
        return Err(bad_input("no input files given"));
    }
    for path in paths {
        if !Path::new(path).is_file() {
            return Err(bad_input(format!("no such file: {}", path.display())));
        }
    }
    Ok(())
}

/// The largest resident set size of this process so far, in bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Formats a byte count for people (`12.3 MB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
