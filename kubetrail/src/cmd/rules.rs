//! `kubetrail rules list|lint|test`: what rules are loaded, whether rule files are sound, and
//! whether their inline tests pass.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::cmd::{bad_input, builtin_and, rule_set};

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
    /// Which rules can fire on these audit/Falco files: rules blind because events arrive at
    /// too low an audit level, rules whose source is missing, rules with no candidate events.
    Coverage {
        /// Audit log or Falco files (JSON lines, .gz too).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Extra rule file or directory.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the inline tests (`tests:`) of the built-in rules, or of the rules under PATH.
    Test {
        /// Rule file or directory; without it, the built-in pack is tested.
        path: Option<PathBuf>,
        /// Only rules whose id contains this text.
        #[arg(long)]
        filter: Option<String>,
    },
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::List { path, json } => {
            let rules = rule_set(&builtin_and(path.as_slice()))?;
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
        Command::Coverage { files, rules, json } => coverage(&files, rules.as_slice(), json),
        Command::Test { path, filter } => {
            let rules = match &path {
                Some(path) => {
                    ::detect::RuleSet::load(path).map_err(|e| bad_input(format!("{e}")))?
                }
                None => rule_set(&builtin_and(&[]))?,
            };
            let outcomes: Vec<_> = ::detect::run_tests(&rules)
                .into_iter()
                .filter(|outcome| {
                    filter
                        .as_deref()
                        .is_none_or(|filter| outcome.rule_id.contains(filter))
                })
                .collect();
            let failed = outcomes.iter().filter(|outcome| !outcome.passed()).count();
            for outcome in &outcomes {
                let verdict = if outcome.passed() { "ok" } else { "FAILED" };
                let detail = match (&outcome.error, outcome.got) {
                    (Some(error), _) => format!("error: {error}"),
                    (None, Some(got)) => {
                        format!("expected {} alert(s), got {got}", outcome.expected)
                    }
                    (None, None) => String::new(),
                };
                println!(
                    "{verdict:<6} {} {}: {detail}",
                    outcome.rule_id, outcome.name
                );
            }
            let untested = rules
                .rules()
                .filter(|rule| !outcomes.iter().any(|outcome| outcome.rule_id == rule.id))
                .filter(|rule| {
                    filter
                        .as_deref()
                        .is_none_or(|filter| rule.id.contains(filter))
                })
                .count();
            eprintln!(
                "{} test(s): {} passed, {failed} failed; {untested} rule(s) without tests",
                outcomes.len(),
                outcomes.len() - failed
            );
            if failed > 0 {
                Ok(ExitCode::FAILURE)
            } else {
                Ok(ExitCode::SUCCESS)
            }
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

fn coverage(files: &[PathBuf], rules: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    crate::cmd::check_inputs(files)?;
    let engine = crate::cmd::engine(&builtin_and(rules))?;
    let mut detector = ::detect::Detector::new(engine.clone(), ::detect::StateLimits::default());
    let mut coverage = ::detect::Coverage::new(&engine);
    let options = ingest::ReadOptions::default();
    let mut events = 0u64;
    let on_batch = |batch: ingest::Batch| -> anyhow::Result<()> {
        let mut alerts = Vec::new();
        detector.process_batch(&batch.events, &mut alerts);
        for event in &batch.events {
            coverage.observe(&engine, event);
        }
        for alert in &alerts {
            coverage.observe_alert(&engine, &alert.rule_id);
        }
        events += batch.events.len() as u64;
        Ok(())
    };
    ingest::read_files(files, &options, on_batch, |_| {}).context("failed to read input")?;
    let lines = coverage.report(&engine);
    for line in &lines {
        if json {
            println!("{}", serde_json::to_string(line)?);
        } else {
            println!(
                "{:<9} {:<40} needs {:<15} {:>9} candidates  {}",
                line.status,
                line.rule_id,
                line.needs.as_str(),
                line.candidates,
                line.message
            );
        }
    }
    let blind = lines.iter().filter(|line| line.status != "ok").count();
    eprintln!(
        "{events} events; {} rule(s): {} covered, {blind} not (blind, partial, no events or no source)",
        lines.len(),
        lines.len() - blind
    );
    Ok(ExitCode::SUCCESS)
}
