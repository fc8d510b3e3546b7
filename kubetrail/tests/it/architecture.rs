//! The crate graph of ARCHITECTURE.md, checked: each crate's `Cargo.toml` names only the
//! workspace crates and the heavy outside crates its job allows.

use std::collections::BTreeSet;
use std::path::Path;

/// The workspace's own crates.
const INTERNAL: [&str; 15] = [
    "event",
    "ingest",
    "detect",
    "store",
    "search",
    "query",
    "api",
    "pipeline",
    "sinks",
    "generate",
    "bench",
    "kubetrail",
    "posture",
    "wal",
    "kafka",
];

/// What each crate may depend on among the workspace crates.
const ALLOWED: [(&str, &[&str]); 15] = [
    ("event", &[]),
    ("wal", &[]),
    ("kafka", &[]),
    ("posture", &["event"]),
    ("generate", &[]),
    ("ingest", &["event", "wal", "kafka"]),
    ("detect", &["event"]),
    ("store", &["event"]),
    ("search", &["event"]),
    ("sinks", &["event", "kafka"]),
    ("query", &["store"]),
    (
        "pipeline",
        &["event", "ingest", "detect", "store", "search", "sinks"],
    ),
    (
        "api",
        &[
            "event", "ingest", "detect", "store", "search", "query", "posture",
        ],
    ),
    (
        "kubetrail",
        &[
            "event", "ingest", "detect", "store", "search", "query", "api", "pipeline", "sinks",
            "generate",
        ],
    ),
    (
        "bench",
        &[
            "event", "ingest", "detect", "store", "search", "api", "pipeline", "sinks", "generate",
        ],
    ),
];

/// Outside crates that say what a crate does, and the only crates that may use them.
const OWNERS: [(&str, &[&str]); 9] = [
    ("datafusion", &["store", "query", "api"]),
    ("tantivy", &["search", "bench"]),
    ("axum", &["api"]),
    ("hyper-rustls", &["sinks"]),
    ("rdkafka", &["kafka", "ingest", "sinks", "bench"]),
    ("notify", &["ingest", "pipeline"]),
    (
        "tokio",
        &[
            "ingest",
            "wal",
            "store",
            "sinks",
            "query",
            "api",
            "pipeline",
            "bench",
            "kubetrail",
        ],
    ),
    ("clap", &["kubetrail", "bench"]),
    ("anyhow", &["kubetrail", "bench"]),
];

fn dependencies(krate: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    manifest
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .map(|table| table.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn every_crate_depends_only_on_what_its_job_allows() {
    let workspace: toml::Table = toml::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
            .unwrap(),
    )
    .unwrap();
    let members: BTreeSet<&str> = workspace["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member.as_str().unwrap())
        .collect();
    assert_eq!(
        members,
        INTERNAL.into_iter().collect(),
        "a crate was added or removed: update ARCHITECTURE.md and this test"
    );
    let mut wrong = Vec::new();
    for (krate, allowed) in ALLOWED {
        let dependencies = dependencies(krate);
        for dependency in &dependencies {
            if INTERNAL.contains(&dependency.as_str()) && !allowed.contains(&dependency.as_str()) {
                wrong.push(format!("{krate} depends on {dependency}"));
            }
        }
        for (outside, owners) in OWNERS {
            if dependencies.contains(outside) && !owners.contains(&krate) {
                wrong.push(format!("{krate} depends on {outside}"));
            }
        }
    }
    assert!(wrong.is_empty(), "crate graph broken: {wrong:?}");
}
