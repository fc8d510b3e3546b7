//! Shared helpers of the ingest tests: audit lines, gzip, and a harness around a running tailer.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use ingest::{Batch, Checkpoint, Config, FileGroup, FilePosition, FileTailer, IngestError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long any condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// One compact audit event line (without `\n`) with the given id and stage.
pub fn audit_line_with_stage(audit_id: &str, stage: &str) -> String {
    format!(
        concat!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{}","stage":"{}","#,
            r#""requestURI":"/api/v1/namespaces/default/pods","verb":"list","#,
            r#""user":{{"username":"alice","groups":["system:authenticated"]}},"sourceIPs":["10.0.0.1"],"#,
            r#""userAgent":"kubectl/v1.30.0","objectRef":{{"resource":"pods","namespace":"default","apiVersion":"v1"}},"#,
            r#""responseStatus":{{"metadata":{{}},"code":200}},"#,
            r#""requestReceivedTimestamp":"2026-08-01T10:00:00.000000Z","stageTimestamp":"2026-08-01T10:00:00.001000Z"}}"#
        ),
        audit_id, stage
    )
}

/// A `ResponseComplete` audit event line (without `\n`).
pub fn audit_line(audit_id: &str) -> String {
    audit_line_with_stage(audit_id, "ResponseComplete")
}

/// The audit id of line number `index`.
pub fn id(index: usize) -> String {
    format!("00000000-0000-0000-0000-{index:012}")
}

/// Lines `range` as newline-terminated text.
pub fn lines(range: std::ops::Range<usize>) -> String {
    range.map(|index| audit_line(&id(index)) + "\n").collect()
}

/// Appends `text` to the file, creating it if needed.
pub fn append(path: &Path, text: &str) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file.sync_data().unwrap();
}

/// Gzips `source` into `target`.
pub fn gzip(source: &Path, target: &Path) {
    let data = std::fs::read(source).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(
        File::create(target).unwrap(),
        flate2::Compression::default(),
    );
    encoder.write_all(&data).unwrap();
    encoder.finish().unwrap().sync_all().unwrap();
}

/// A quick tailer config for the paths given.
pub fn config(paths: &[String]) -> Config {
    Config {
        files: vec![FileGroup {
            paths: paths.to_vec(),
            cluster: "test".to_owned(),
        }],
        poll_interval_ms: 40,
        batch_max_events: 7,
        batch_max_wait_ms: 20,
        ..Config::default()
    }
}

/// A tailer running on the test's runtime, with everything it sent so far.
pub struct Harness {
    receiver: mpsc::Receiver<Batch>,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), IngestError>>,
    pub batches: Vec<Batch>,
}

impl Harness {
    pub fn start(config: &Config, checkpoint: Checkpoint, channel_capacity: usize) -> Harness {
        let tailer = FileTailer::new(config, checkpoint).unwrap();
        let (sender, receiver) = mpsc::channel(channel_capacity);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(tailer.run(sender, cancel.clone()));
        Harness {
            receiver,
            cancel,
            task,
            batches: Vec::new(),
        }
    }

    /// Receives batches until `condition` holds for everything received; fails after DEADLINE.
    pub async fn wait_for(&mut self, what: &str, condition: impl Fn(&[Batch]) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !condition(&self.batches) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.receiver.recv()).await {
                Ok(Some(batch)) => self.batches.push(batch),
                Ok(None) => panic!("tailer stopped while waiting for {what}"),
                Err(_) => panic!(
                    "timed out waiting for {what}; audit ids so far: {:?}; dead letters: {:?}",
                    audit_ids(&self.batches),
                    self.batches
                        .iter()
                        .flat_map(|batch| &batch.dead_letters)
                        .collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Waits until the given audit ids have all been received.
    pub async fn wait_for_ids(&mut self, range: std::ops::Range<usize>) {
        let wanted: Vec<String> = range.clone().map(id).collect();
        self.wait_for(&format!("audit ids {range:?}"), |batches| {
            let seen = audit_id_counts(batches);
            wanted.iter().all(|id| seen.contains_key(id))
        })
        .await;
    }

    /// Cancels the tailer, collects what it had sent, and checks it stopped cleanly.
    pub async fn stop(mut self) -> Vec<Batch> {
        self.cancel.cancel();
        let result = tokio::time::timeout(DEADLINE, &mut self.task)
            .await
            .expect("tailer stops after cancel");
        result
            .expect("tailer task does not panic")
            .expect("tailer ends without error");
        while let Ok(batch) = self.receiver.try_recv() {
            self.batches.push(batch);
        }
        self.batches
    }
}

pub fn audit_ids(batches: &[Batch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|batch| &batch.events)
        .filter_map(|event| event.audit_id.clone())
        .collect()
}

pub fn audit_id_counts(batches: &[Batch]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for id in audit_ids(batches) {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// Asserts every id of `range` was received exactly once and nothing else was.
pub fn assert_exactly_once(batches: &[Batch], range: std::ops::Range<usize>) {
    let counts = audit_id_counts(batches);
    let duplicated: Vec<_> = counts.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        duplicated.is_empty(),
        "duplicated audit ids: {duplicated:?}"
    );
    let expected: Vec<String> = range.map(id).collect();
    let received: Vec<String> = counts.keys().cloned().collect();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(
        received, expected_sorted,
        "received audit ids differ from the ones written"
    );
}

/// The file positions of the last batch's checkpoint.
pub fn last_positions(batches: &[Batch]) -> Vec<FilePosition> {
    batches
        .last()
        .map(|batch| {
            batch
                .checkpoint()
                .unwrap()
                .file_positions()
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// A glob or path string for a file in `dir`.
pub fn path_in(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}
