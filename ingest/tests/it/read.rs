//! One-shot reading with `read_files`: plain and gzip backfill, batches, dead letters.

use std::fs;
use std::io::Write;

use crate::common::*;
use ingest::{Batch, IngestError, ReadOptions, read_files};

fn read(
    paths: &[std::path::PathBuf],
    options: &ReadOptions,
) -> (Vec<Batch>, ingest::ReadSummary, Vec<u64>) {
    let mut batches = Vec::new();
    let mut progress = Vec::new();
    let summary = read_files(
        paths,
        options,
        |batch| {
            batches.push(batch);
            Ok::<(), std::io::Error>(())
        },
        |bytes| progress.push(bytes),
    )
    .unwrap();
    (batches, summary, progress)
}

/// Gzip is told by its magic bytes, not its name; positions count decompressed bytes.
#[test]
fn gzip_and_plain_backfill_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let plain_source = dir.path().join("source.txt");
    fs::write(&plain_source, lines(0..25)).unwrap();
    let compressed = dir.path().join("backup.log");
    gzip(&plain_source, &compressed);
    let plain = dir.path().join("misleading.gz");
    fs::write(&plain, lines(25..40)).unwrap();

    let options = ReadOptions {
        batch_max_events: 10,
        cluster: "prod".to_owned(),
        ..ReadOptions::default()
    };
    let (batches, summary, progress) = read(&[compressed.clone(), plain.clone()], &options);
    assert_exactly_once(&batches, 0..40);
    assert!(batches.iter().all(|batch| batch.events.len() <= 10));
    assert!(
        batches
            .iter()
            .flat_map(|batch| &batch.events)
            .all(|event| event.cluster == "prod")
    );
    assert_eq!(summary.files, 2);
    assert_eq!(summary.stats.events, 40);
    assert_eq!(summary.stats.lines, 40);
    assert_eq!(
        summary.stats.bytes,
        (lines(0..25).len() + lines(25..40).len()) as u64
    );
    let disk_bytes = fs::metadata(&compressed).unwrap().len() + fs::metadata(&plain).unwrap().len();
    assert_eq!(summary.file_bytes, disk_bytes);
    assert_eq!(progress.last(), Some(&disk_bytes));
    assert!(progress.windows(2).all(|pair| pair[0] <= pair[1]));

    let positions = last_positions(&batches);
    assert_eq!(positions.len(), 2);
    let gzip_position = positions
        .iter()
        .find(|position| position.compressed)
        .unwrap();
    assert_eq!(gzip_position.path, compressed.display().to_string());
    assert_eq!(gzip_position.offset, lines(0..25).len() as u64);
    let plain_position = positions
        .iter()
        .find(|position| !position.compressed)
        .unwrap();
    assert_eq!(plain_position.offset, lines(25..40).len() as u64);
    assert_ne!(gzip_position.fingerprint, plain_position.fingerprint);
}

/// Malformed and overlong lines are dead letters with offsets; an unterminated last line is
/// read; empty lines are skipped; `RequestReceived` is filtered unless kept.
#[test]
fn dead_letters_last_line_and_filtering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let first = audit_line_with_stage(&id(0), "RequestReceived") + "\n";
    let malformed = "[1, 2\n";
    let overlong = format!("{{\"pad\":\"{}\"}}\n", "y".repeat(700));
    let text = format!(
        "{first}{malformed}\n{overlong}{}\n{}",
        audit_line(&id(1)),
        audit_line(&id(2))
    );
    fs::write(&path, &text).unwrap();
    let options = ReadOptions {
        max_line_bytes: 600,
        ..ReadOptions::default()
    };
    let (batches, summary, _) = read(std::slice::from_ref(&path), &options);
    assert_exactly_once(&batches, 1..3);
    assert_eq!(summary.stats.filtered, 1);
    assert_eq!(summary.stats.dead_letters, 2);
    assert_eq!(summary.stats.lines, 5);
    assert_eq!(summary.stats.bytes, text.len() as u64);
    let dead_letters: Vec<_> = batches
        .iter()
        .flat_map(|batch| &batch.dead_letters)
        .collect();
    assert_eq!(dead_letters[0].offset, first.len() as u64);
    assert_eq!(dead_letters[0].length, 5);
    assert_eq!(dead_letters[0].excerpt.as_deref(), Some("[1, 2"));
    assert_eq!(
        dead_letters[1].offset,
        (first.len() + malformed.len() + 1) as u64
    );
    assert_eq!(dead_letters[1].length, overlong.len() as u64 - 1);
    assert_eq!(
        dead_letters[1].reason,
        "line exceeds max_line_bytes (600 bytes)"
    );

    let keep = ReadOptions {
        keep_request_received: true,
        ..options
    };
    let (batches, summary, _) = read(&[path], &keep);
    assert_eq!(summary.stats.filtered, 0);
    assert_eq!(audit_ids(&batches).len(), 3);
}

/// A gzip file cut short yields the lines before the cut and a dead letter, and reading goes
/// on with the next file.
#[test]
fn truncated_gzip_is_a_dead_letter_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(lines(0..200).as_bytes()).unwrap();
    let compressed = encoder.finish().unwrap();
    let cut = dir.path().join("cut.log.gz");
    fs::write(&cut, &compressed[..compressed.len() / 2]).unwrap();
    let next = dir.path().join("next.log");
    fs::write(&next, lines(500..505)).unwrap();

    let (batches, summary, _) = read(&[cut.clone(), next], &ReadOptions::default());
    let ids = audit_id_counts(&batches);
    assert!(ids.contains_key(&id(0)), "lines before the cut are read");
    assert!(
        (500..505).all(|index| ids.contains_key(&id(index))),
        "the next file is read"
    );
    assert!(ids.values().all(|count| *count == 1));
    let gzip_dead_letters: Vec<_> = batches
        .iter()
        .flat_map(|batch| &batch.dead_letters)
        .filter(|dead_letter| dead_letter.reason.starts_with("broken gzip stream"))
        .collect();
    assert_eq!(gzip_dead_letters.len(), 1);
    assert_eq!(gzip_dead_letters[0].source, cut.display().to_string());
    assert_eq!(summary.files, 2);
}

/// A missing file and a failing consumer stop the read with an error naming them.
#[test]
fn missing_file_and_consumer_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.log");
    let result = read_files(
        &[missing],
        &ReadOptions::default(),
        |_| Ok::<(), std::io::Error>(()),
        |_| {},
    );
    assert!(
        matches!(result, Err(IngestError::OpenFile { .. })),
        "{result:?}"
    );

    let path = dir.path().join("audit.log");
    fs::write(&path, lines(0..30)).unwrap();
    let options = ReadOptions {
        batch_max_events: 5,
        ..ReadOptions::default()
    };
    let mut calls = 0;
    let result = read_files(
        &[path],
        &options,
        |_| {
            calls += 1;
            Err(std::io::Error::other("disk full"))
        },
        |_| {},
    );
    assert_eq!(calls, 1, "no batch is delivered after the consumer failed");
    match result {
        Err(IngestError::Consumer { source }) => assert_eq!(source.to_string(), "disk full"),
        other => panic!("expected a consumer error, got {other:?}"),
    }
}

/// Given the positions of an earlier read, files read to their end are skipped, a grown file
/// resumes where it stopped, and a gzip copy of a finished file is not read again.
#[test]
fn a_start_checkpoint_skips_what_was_read_and_resumes_what_grew() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("audit-1.log");
    fs::write(&first, lines(0..20)).unwrap();
    let second = dir.path().join("audit-2.log");
    fs::write(&second, lines(20..30)).unwrap();
    let (batches, summary, _) = read(&[first.clone(), second.clone()], &ReadOptions::default());
    assert_exactly_once(&batches, 0..30);
    assert_eq!(summary.skipped_files, 0);
    let checkpoint = batches.last().unwrap().checkpoint().unwrap().clone();

    // The same files again: nothing is read, both are skipped.
    let again = ReadOptions {
        start: checkpoint.clone(),
        ..ReadOptions::default()
    };
    let (batches, summary, _) = read(&[first.clone(), second.clone()], &again);
    assert_eq!(audit_ids(&batches), Vec::<String>::new());
    assert_eq!(summary.skipped_files, 2);

    // One file grew, and the other was gzipped: only the new lines are read.
    append(&second, &lines(30..35));
    let compressed = dir.path().join("audit-1.log.gz");
    gzip(&first, &compressed);
    let (batches, summary, _) = read(&[compressed, second.clone()], &again);
    assert_exactly_once(&batches, 30..35);
    assert_eq!(summary.skipped_files, 1);
    let resumed = last_positions(&batches)
        .into_iter()
        .find(|position| position.path == second.display().to_string())
        .unwrap();
    assert_eq!(resumed.offset, lines(20..35).len() as u64);
    // The positions given at the start travel on with the new ones.
    assert_eq!(
        batches
            .last()
            .unwrap()
            .checkpoint()
            .unwrap()
            .positions
            .len(),
        2
    );
}

/// A shorter copy of a file read earlier in the same call (same first line, so the same
/// fingerprint) is skipped and does not move the file's position back.
#[test]
fn a_copy_of_a_file_already_read_is_skipped_within_one_read() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("audit.log");
    fs::write(&full, lines(0..30)).unwrap();
    let half = dir.path().join("audit.log.1");
    fs::write(&half, lines(0..15)).unwrap();
    let (batches, summary, _) = read(&[full.clone(), half], &ReadOptions::default());
    assert_exactly_once(&batches, 0..30);
    assert_eq!(summary.skipped_files, 1);
    let positions = last_positions(&batches);
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].offset, lines(0..30).len() as u64);
}
