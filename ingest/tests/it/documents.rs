//! One-shot reading of files that are pretty-printed JSON rather than JSON lines: a
//! falcosidekick payload, a JSON array of events, an AKS Event Hub body with a byte-order mark.

use std::fs;
use std::path::PathBuf;

use crate::common::*;
use ingest::{Batch, ReadOptions, ReadSummary, read_files};
use serde_json::{Value, json};

fn read_one(path: &PathBuf) -> (Vec<Batch>, ReadSummary) {
    let mut batches = Vec::new();
    let summary = read_files(
        std::slice::from_ref(path),
        &ReadOptions::default(),
        |batch| {
            batches.push(batch);
            Ok::<(), std::io::Error>(())
        },
        |_| {},
    )
    .unwrap();
    (batches, summary)
}

fn audit_event(index: usize) -> Value {
    serde_json::from_str(&audit_line(&id(index))).unwrap()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn pretty_printed_falcosidekick_payload() {
    let dir = tempfile::tempdir().unwrap();
    let payload = json!({
        "output": "Warning Shell spawned in a container (user=root container=web)",
        "priority": "Warning",
        "rule": "Terminal shell in container",
        "time": "2026-08-01T10:00:00.000000001Z",
        "source": "syscall",
        "output_fields": {"container.id": "0123456789ab", "k8s.pod.name": "web-0"},
        "hostname": "node-1",
    });
    let text = serde_json::to_string_pretty(&payload).unwrap() + "\n";
    let path = write(&dir, "sidekick.json", &text);
    let (batches, summary) = read_one(&path);
    assert_eq!(summary.stats.events, 1);
    assert_eq!(summary.stats.dead_letters, 0);
    assert_eq!(summary.stats.bytes, text.len() as u64);
    let event = &batches[0].events[0];
    assert_eq!(
        event.falco_rule.as_deref(),
        Some("Terminal shell in container")
    );
    let positions = last_positions(&batches);
    assert_eq!(positions[0].offset, text.len() as u64);
}

#[test]
fn pretty_printed_array_of_two_audit_events() {
    let dir = tempfile::tempdir().unwrap();
    let text = serde_json::to_string_pretty(&json!([audit_event(1), audit_event(2)])).unwrap();
    let path = write(&dir, "array.json", &text);
    let (batches, summary) = read_one(&path);
    assert_eq!(audit_ids(&batches), vec![id(1), id(2)]);
    assert_eq!(summary.stats.dead_letters, 0);
    assert_eq!(summary.stats.lines, 1, "one document");
}

#[test]
fn concatenated_documents_then_garbage_is_one_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let first = serde_json::to_string_pretty(&audit_event(1)).unwrap();
    let second = serde_json::to_string_pretty(&audit_event(2)).unwrap();
    let garbage = "{\n  \"kind\": oops\n}\n";
    let text = format!("{first}\n{second}\n\n{garbage}");
    let path = write(&dir, "concatenated.json", &text);
    let (batches, summary) = read_one(&path);
    assert_eq!(audit_ids(&batches), vec![id(1), id(2)]);
    assert_eq!(summary.stats.events, 2);
    assert_eq!(summary.stats.dead_letters, 1);
    assert_eq!(summary.stats.bytes, text.len() as u64);
    let dead_letters: Vec<_> = batches
        .iter()
        .flat_map(|batch| &batch.dead_letters)
        .collect();
    assert_eq!(dead_letters[0].offset, (text.len() - garbage.len()) as u64);
    assert_eq!(dead_letters[0].length, garbage.len() as u64);
}

#[test]
fn aks_event_hub_body_with_byte_order_mark() {
    let dir = tempfile::tempdir().unwrap();
    let record = |index: usize, category: &str| {
        json!({
            "category": category,
            "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
            "properties": {"log": audit_line(&id(index)) + "\n", "stream": "stdout"},
        })
    };
    let body = json!({"records": [record(1, "kube-audit"), record(2, "kube-audit-admin"),
        record(3, "guard")]});
    let text = format!("\u{feff}{}\n", serde_json::to_string_pretty(&body).unwrap());
    let path = write(&dir, "event_hub.json", &text);
    let (batches, summary) = read_one(&path);
    assert_eq!(audit_ids(&batches), vec![id(1), id(2)]);
    assert_eq!(summary.stats.filtered, 1);
    assert_eq!(summary.stats.dead_letters, 0);
}

#[test]
fn pretty_printed_gzip_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = serde_json::to_string_pretty(&json!([audit_event(1), audit_event(2)])).unwrap();
    let plain = write(&dir, "array.json", &text);
    let compressed = dir.path().join("array.json.gz");
    gzip(&plain, &compressed);
    let (batches, summary) = read_one(&compressed);
    assert_eq!(audit_ids(&batches), vec![id(1), id(2)]);
    assert_eq!(summary.stats.dead_letters, 0);
    assert_eq!(last_positions(&batches)[0].offset, text.len() as u64);
}

/// A JSON-lines file whose first line is cut short is still read line by line.
#[test]
fn json_lines_with_a_truncated_first_line_stay_lines() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = &audit_line(&id(0))[..40];
    let text = format!("{truncated}\n{}", lines(1..4));
    let path = write(&dir, "lines.log", &text);
    let (batches, summary) = read_one(&path);
    assert_eq!(audit_ids(&batches), vec![id(1), id(2), id(3)]);
    assert_eq!(summary.stats.dead_letters, 1);
    assert_eq!(summary.stats.lines, 4);
    let dead_letter = &batches[0].dead_letters[0];
    assert_eq!((dead_letter.offset, dead_letter.length), (0, 40));
}
