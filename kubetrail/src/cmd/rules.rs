//! `kubetrail rules list|lint`: what rules are loaded, and whether rule files are sound.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::cmd::{bad_input, load_rules};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the built-in rules and those under PATH.
    List {
        /// Extra rule file or directory.
        path: Option<PathBuf>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check rule files: syntax, unknown fields, bad regexes, unknown lists and macros.
    Lint {
        /// Rule file or directory of .yaml files.
        path: PathBuf,
    },
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::List { path, json } => {
            let rules = load_rules(true, path.as_slice())?;
            for rule in rules.rules() {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "id": rule.id, "title": rule.title, "severity": rule.severity,
                            "attack": rule.attack, "origin": rule.origin,
                        })
                    );
                } else {
                    println!(
                        "{:<32} {:<9} {:<22} {}",
                        rule.id,
                        rule.severity.as_str(),
                        rule.attack.join(","),
                        rule.title
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Lint { path } => {
            let files = rule_files(&path)?;
            let mut errors = 0;
            for file in &files {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("failed to read {}", file.display()))?;
                for finding in ::detect::lint(&text, &file.display().to_string()) {
                    let level = match finding.severity {
                        ::detect::LintSeverity::Error => {
                            errors += 1;
                            "error"
                        }
                        ::detect::LintSeverity::Warning => "warning",
                    };
                    let rule = finding.rule_id.as_deref().unwrap_or("-");
                    println!("{}: {level}: {rule}: {}", file.display(), finding.message);
                }
            }
            if errors > 0 {
                return Err(bad_input(format!(
                    "{errors} error(s) in {} file(s)",
                    files.len()
                )));
            }
            eprintln!("{} file(s) checked, no errors", files.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn rule_files(path: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(bad_input(format!(
            "no such file or directory: {}",
            path.display()
        )));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("failed to list {}", path.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    Ok(files)
}
