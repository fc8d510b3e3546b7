//! The live tailer against real files: rotation by rename and gzip, copytruncate, restarts,
//! dead letters, partial lines and `start_at`.

use std::fs::{self, OpenOptions};

use crate::common::*;
use ingest::{Checkpoint, Config, StartAt};

const ROTATED: &str = "audit-2026-08-01T10-22-03.123.log";

/// Rename rotation where the glob matches the rotated and gzipped names: the renamed file is
/// drained (including its unterminated last line), and its `.gz` is recognised, not re-read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_rotation_then_gzip_reads_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("audit.log");
    let rotated = dir.path().join(ROTATED);
    let compressed = dir.path().join(format!("{ROTATED}.gz"));
    append(&live, &lines(0..30));
    let mut harness = Harness::start(
        &config(&[path_in(dir.path(), "audit*")]),
        Checkpoint::default(),
        4,
    );
    harness.wait_for_ids(0..30).await;

    // Lines written just before the rotation, the last one without its newline.
    let last = audit_line(&id(39));
    append(&live, &(lines(30..39) + &last));
    fs::rename(&live, &rotated).unwrap();
    append(&live, &lines(40..60));
    harness.wait_for_ids(0..60).await;

    gzip(&rotated, &compressed);
    fs::remove_file(&rotated).unwrap();
    let compressed_name = compressed.display().to_string();
    harness
        .wait_for(
            "the gzip backup to take over the rotated file's position",
            |batches| {
                last_positions(batches)
                    .iter()
                    .any(|position| position.path == compressed_name && position.compressed)
            },
        )
        .await;
    append(&live, &lines(60..70));
    harness.wait_for_ids(0..70).await;
    let batches = harness.stop().await;
    assert_exactly_once(&batches, 0..70);
    assert!(batches.iter().all(|batch| batch.dead_letters.is_empty()));
}

/// Rename rotation where only the live path is configured: the renamed file, no longer
/// matched, is still drained to its end before it is forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_rotation_drains_the_old_file_outside_the_glob() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("audit.log");
    append(&live, &lines(0..10));
    let mut harness = Harness::start(
        &config(&[path_in(dir.path(), "audit.log")]),
        Checkpoint::default(),
        4,
    );
    harness.wait_for_ids(0..10).await;
    for round in 1..4 {
        // Lines written just before the rename are only in the renamed file, which the glob
        // does not match; the tailer must drain it through the descriptor it holds.
        let rotated = dir
            .path()
            .join(format!("audit-2026-08-01T10-22-0{round}.000.log"));
        append(&live, &lines(round * 10 + 5..round * 10 + 10));
        fs::rename(&live, &rotated).unwrap();
        append(&live, &lines(round * 10 + 10..round * 10 + 15));
        harness.wait_for_ids(round * 10 + 5..round * 10 + 15).await;
    }
    let wanted: Vec<usize> = (0..10).chain(15..45).collect();
    let batches = harness.stop().await;
    let counts = audit_id_counts(&batches);
    assert_eq!(counts.len(), wanted.len(), "unexpected ids: {counts:?}");
    assert!(
        counts.values().all(|count| *count == 1),
        "duplicates: {counts:?}"
    );
}

/// copytruncate: the copy is recognised by its fingerprint and not read again; the truncated
/// live file is read again from its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_reads_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("audit.log");
    let copy = dir.path().join("audit.log.1");
    append(&live, &lines(0..40));
    let mut harness = Harness::start(
        &config(&[path_in(dir.path(), "audit.log*")]),
        Checkpoint::default(),
        4,
    );
    harness.wait_for_ids(0..40).await;

    fs::copy(&live, &copy).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&live)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&live, &lines(40..50));
    harness.wait_for_ids(40..50).await;
    let copy_name = copy.display().to_string();
    harness
        .wait_for(
            "the copy to take over the old content's position",
            |batches| {
                last_positions(batches)
                    .iter()
                    .any(|position| position.path == copy_name)
            },
        )
        .await;
    append(&live, &lines(50..55));
    harness.wait_for_ids(50..55).await;
    let batches = harness.stop().await;
    assert_exactly_once(&batches, 0..55);
}

/// A checkpoint taken mid-stream resumes without loss or duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_a_mid_stream_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("audit.log");
    append(&live, &lines(0..60));
    let config = Config {
        batch_max_events: 4,
        ..config(&[path_in(dir.path(), "*.log")])
    };

    // A slow consumer: a channel of one, three batches taken, then the tailer is stopped.
    let mut first = Harness::start(&config, Checkpoint::default(), 1);
    first
        .wait_for("three batches", |batches| batches.len() >= 3)
        .await;
    let first_batches = first.stop().await;
    let checkpoint = first_batches.last().unwrap().checkpoint().unwrap().clone();
    let first_count = audit_ids(&first_batches).len();
    assert!(
        (12..60).contains(&first_count),
        "the first run stops mid-stream, it read {first_count}"
    );
    let offset = checkpoint.file_positions().next().unwrap().offset;
    assert_eq!(
        offset as usize,
        lines(0..first_count).len(),
        "the offset is the end of the last line sent"
    );

    append(&live, &lines(60..70));
    let mut second = Harness::start(&config, checkpoint, 4);
    second.wait_for_ids(first_count..70).await;
    let mut all = first_batches;
    all.extend(second.stop().await);
    assert_exactly_once(&all, 0..70);
}

/// Malformed and overlong lines become dead letters with their offsets; the stream continues.
/// A line is not consumed before its newline arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_and_partial_lines() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("audit.log");
    let config = Config {
        max_line_bytes: 1024,
        ..config(&[path_in(dir.path(), "audit.log")])
    };
    let first = audit_line(&id(0)) + "\n";
    let malformed = "{\"kind\":\"Event\",\"auditID\": oops\n";
    let overlong = format!("{{\"kind\":\"Event\",\"pad\":\"{}\"}}\n", "x".repeat(3000));
    append(&live, &first);
    append(&live, malformed);
    let mut harness = Harness::start(&config, Checkpoint::default(), 4);
    harness.wait_for_ids(0..1).await;
    // The overlong line arrives in pieces, then a valid line arrives in two halves.
    append(&live, &overlong[..1500]);
    append(&live, &overlong[1500..]);
    let second = audit_line(&id(1));
    append(&live, &second[..100]);
    let partial_end = (first.len() + malformed.len() + overlong.len()) as u64;
    harness
        .wait_for("the position to stop before the partial line", |batches| {
            last_positions(batches)
                .first()
                .is_some_and(|position| position.offset == partial_end)
        })
        .await;
    append(&live, &(second[100..].to_owned() + "\n\n"));
    append(&live, &lines(2..3));
    harness.wait_for_ids(0..3).await;
    let batches = harness.stop().await;
    assert_exactly_once(&batches, 0..3);

    let dead_letters: Vec<_> = batches
        .iter()
        .flat_map(|batch| batch.dead_letters.clone())
        .collect();
    assert_eq!(dead_letters.len(), 2, "{dead_letters:?}");
    assert_eq!(dead_letters[0].offset, first.len() as u64);
    assert_eq!(dead_letters[0].length, malformed.len() as u64 - 1);
    assert_eq!(dead_letters[0].source, live.display().to_string());
    assert!(!dead_letters[0].reason.is_empty());
    assert_eq!(
        dead_letters[1].offset,
        (first.len() + malformed.len()) as u64
    );
    assert_eq!(dead_letters[1].length, overlong.len() as u64 - 1);
    assert_eq!(
        dead_letters[1].reason,
        "line exceeds max_line_bytes (1024 bytes)"
    );
    assert_eq!(dead_letters[1].excerpt, None);
    let stats = batches
        .iter()
        .fold(ingest::BatchStats::default(), |mut total, batch| {
            total.add(&batch.stats);
            total
        });
    assert_eq!(
        stats.lines, 5,
        "three events and two dead letters; the empty line is not counted"
    );
    assert_eq!(stats.dead_letters, 2);
    assert_eq!(stats.events, 3);
    assert_eq!(stats.bytes, fs::metadata(&live).unwrap().len());
}

/// `start_at = "end"` skips what unknown files hold at start-up, but not what comes after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_end_skips_existing_content() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("audit.log");
    append(&live, &lines(0..10));
    let config = Config {
        start_at: StartAt::End,
        ..config(&[path_in(dir.path(), "audit.log")])
    };
    let mut harness = Harness::start(&config, Checkpoint::default(), 4);
    let end = fs::metadata(&live).unwrap().len();
    harness
        .wait_for("the position at the end of the file", |batches| {
            last_positions(batches)
                .first()
                .is_some_and(|position| position.offset == end)
        })
        .await;
    append(&live, &lines(10..15));
    harness.wait_for_ids(10..15).await;
    let batches = harness.stop().await;
    assert_exactly_once(&batches, 10..15);
}

/// `RequestReceived` events are counted as filtered, not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_received_is_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("audit.log");
    let text = format!(
        "{}\n{}\n",
        audit_line_with_stage(&id(0), "RequestReceived"),
        audit_line(&id(0))
    );
    append(&live, &text);
    let mut harness = Harness::start(
        &config(&[path_in(dir.path(), "audit.log")]),
        Checkpoint::default(),
        4,
    );
    harness.wait_for_ids(0..1).await;
    let batches = harness.stop().await;
    let stages: Vec<_> = batches
        .iter()
        .flat_map(|batch| &batch.events)
        .map(|event| event.stage.clone())
        .collect();
    assert_eq!(stages, vec![Some("ResponseComplete".to_owned())]);
    assert_eq!(
        batches
            .iter()
            .map(|batch| batch.stats.filtered)
            .sum::<u64>(),
        1
    );
}

/// Existing gzip backups are backfilled at start-up; after a restart from the last
/// checkpoint neither they nor the live file are read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_backfill_then_restart_reads_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let old_plain = dir.path().join("old.txt");
    fs::write(&old_plain, lines(0..20)).unwrap();
    gzip(&old_plain, &dir.path().join(format!("{ROTATED}.gz")));
    fs::remove_file(&old_plain).unwrap();
    let live = dir.path().join("audit.log");
    append(&live, &lines(20..30));
    let config = config(&[path_in(dir.path(), "audit*")]);

    let mut first = Harness::start(&config, Checkpoint::default(), 4);
    first.wait_for_ids(0..30).await;
    let first_batches = first.stop().await;
    assert_exactly_once(&first_batches, 0..30);
    let checkpoint = first_batches.last().unwrap().checkpoint().unwrap().clone();
    let positions: Vec<_> = checkpoint.file_positions().collect();
    assert_eq!(positions.len(), 2, "{positions:?}");
    assert!(
        positions
            .iter()
            .any(|position| position.compressed && position.offset == lines(0..20).len() as u64)
    );

    let mut second = Harness::start(&config, checkpoint, 4);
    append(&live, &lines(30..35));
    second.wait_for_ids(30..35).await;
    let second_batches = second.stop().await;
    assert_exactly_once(&second_batches, 30..35);
}
