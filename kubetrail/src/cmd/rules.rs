//! `kubetrail rules list|lint|test`: what rules are loaded, whether rule files are sound, and
//! whether their inline tests pass.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::cmd::{RulesArgs, bad_input, builtin_and, rule_set};

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
        /// Record the events as a cluster running this audit policy (`audit.k8s.io/v1`
        /// `Policy`, YAML) would: events it drops are not seen, bodies below its level are
        /// removed. Shows which rules the policy leaves blind before it is rolled out.
        #[arg(long)]
        audit_policy: Option<PathBuf>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check Kubernetes manifests before they reach a cluster: every object (YAML or JSON,
    /// several documents per file, `List`s unwrapped; `-` reads standard input) goes through
    /// the rules as the audit event of writing it at RequestResponse level. Prints the alerts
    /// as JSON lines; exits 1 when any rule fired.
    CheckManifest {
        /// Manifest files (e.g. `kubectl kustomize DIR > all.yaml`), or `-`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The write each object is checked as (`delete`: as if it were removed).
        #[arg(long, value_enum, default_value_t = Verb::Create)]
        verb: Verb,
        /// Who writes the objects (a person unless it starts with `system:`).
        #[arg(long, default_value = "check-manifest")]
        user: String,
        /// The writer's groups (repeatable).
        #[arg(long = "group", default_values_t = ["system:authenticated".to_owned()])]
        groups: Vec<String>,
        /// Namespace of namespaced objects that name none.
        #[arg(long, short = 'n', default_value = "default")]
        namespace: String,
        #[command(flatten)]
        rules: RulesArgs,
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

/// The write `check-manifest` simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Verb {
    Create,
    Update,
    Delete,
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
        Command::Coverage {
            files,
            rules,
            audit_policy,
            json,
        } => {
            let policy = audit_policy.as_deref().map(load_audit_policy).transpose()?;
            coverage(&files, rules.as_slice(), policy.as_ref(), json)
        }
        Command::CheckManifest {
            files,
            verb,
            user,
            groups,
            namespace,
            rules,
        } => {
            let request = ::event::ManifestRequest {
                verb: match verb {
                    Verb::Create => ::event::ManifestVerb::Create,
                    Verb::Update => ::event::ManifestVerb::Update,
                    Verb::Delete => ::event::ManifestVerb::Delete,
                },
                user,
                groups,
                namespace,
                time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                source_ip: "127.0.0.1".to_owned(),
                user_agent: format!("kubetrail-check-manifest/{}", env!("CARGO_PKG_VERSION")),
            };
            check_manifests(&files, &request, &rules)
        }
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

/// An audit policy file; one that does not parse or is no policy is the caller's mistake.
fn load_audit_policy(path: &std::path::Path) -> anyhow::Result<::event::AuditPolicy> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| bad_input(format!("{}: {error}", path.display())))?;
    let policy: ::event::AuditPolicy = serde_yaml_ng::from_str(&text)
        .map_err(|error| bad_input(format!("{}: {error}", path.display())))?;
    policy
        .validate()
        .map_err(|error| bad_input(format!("{}: {error}", path.display())))?;
    Ok(policy)
}

fn coverage(
    files: &[PathBuf],
    rules: &[PathBuf],
    policy: Option<&::event::AuditPolicy>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    crate::cmd::check_inputs(files)?;
    let engine = crate::cmd::engine(&builtin_and(rules))?;
    let mut detector = ::detect::Detector::new(engine.clone(), ::detect::StateLimits::default());
    let mut coverage = ::detect::Coverage::new(&engine);
    let options = ingest::ReadOptions::default();
    // Events shaped by the policy decode again as they were read.
    let decode_options = ::event::DecodeOptions {
        cluster: options.cluster.clone(),
        keep_request_received: options.keep_request_received,
    };
    let mut events = 0u64;
    let mut unrecorded = 0u64;
    let on_batch = |mut batch: ingest::Batch| -> anyhow::Result<()> {
        if let Some(policy) = policy {
            let mut recorded = Vec::with_capacity(batch.events.len());
            for event in &batch.events {
                // Falco alerts do not pass through the API server.
                if event.source != ::event::Source::K8sAudit {
                    recorded.push(event.clone());
                    continue;
                }
                match policy.shape(&event.raw)? {
                    Some(line) => {
                        ::event::decode_line(line.as_bytes(), &decode_options, &mut recorded)?;
                    }
                    None => unrecorded += 1,
                }
            }
            batch.events = recorded;
        }
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
    if policy.is_some() {
        eprintln!("the audit policy records {events} events and drops {unrecorded}");
    }
    eprintln!(
        "{events} events; {} rule(s): {} covered, {blind} not (blind, partial, no events or no source)",
        lines.len(),
        lines.len() - blind
    );
    Ok(ExitCode::SUCCESS)
}

/// The objects of a manifest file: each YAML (or JSON) document, `List`s unwrapped, empty
/// documents skipped.
fn manifest_objects(text: &str, file: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    use serde::Deserialize;
    let mut objects = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = serde_json::Value::deserialize(document)
            .map_err(|error| bad_input(format!("{file}: document {}: {error}", index + 1)))?;
        let is_list = value
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|kind| kind.ends_with("List"))
            && value.get("items").is_some_and(serde_json::Value::is_array);
        match value {
            serde_json::Value::Null => {}
            serde_json::Value::Object(mut fields) if is_list => {
                if let Some(serde_json::Value::Array(items)) = fields.remove("items") {
                    objects.extend(items);
                }
            }
            other => objects.push(other),
        }
    }
    Ok(objects)
}

fn check_manifests(
    files: &[PathBuf],
    request: &::event::ManifestRequest,
    rules: &RulesArgs,
) -> anyhow::Result<ExitCode> {
    let config = rules.config()?;
    let detect_config = rules.detect_config(&config);
    let engine = crate::cmd::engine(&detect_config)?;
    let mut detector = ::detect::Detector::new(engine, detect_config.limits());
    let options = ::event::DecodeOptions {
        cluster: rules.cluster.clone(),
        ..::event::DecodeOptions::default()
    };
    let mut events = Vec::new();
    for file in files {
        let (text, name) = if file.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("failed to read standard input")?;
            (text, "<stdin>".to_owned())
        } else {
            let text = std::fs::read_to_string(file)
                .map_err(|error| bad_input(format!("{}: {error}", file.display())))?;
            (text, file.display().to_string())
        };
        for (index, object) in manifest_objects(&text, &name)?.iter().enumerate() {
            let line = ::event::manifest_audit_event(object, request, events.len())
                .map_err(|error| bad_input(format!("{name}: object {}: {error}", index + 1)))?;
            ::event::decode_line(line.as_bytes(), &options, &mut events)
                .map_err(|error| anyhow::anyhow!("{name}: object {}: {error}", index + 1))?;
        }
    }
    let mut alerts = Vec::new();
    detector.process_batch(&events, &mut alerts);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    sinks::write_json_lines(&mut out, &alerts).context("failed to write alerts")?;
    std::io::Write::flush(&mut out)?;
    eprintln!(
        "{} object(s) checked as {} by {}: {} alert(s)",
        events.len(),
        request.verb.as_str(),
        request.user,
        alerts.len()
    );
    Ok(if alerts.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
