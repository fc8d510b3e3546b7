//! The log's guarantees, on real files: torn tails cut off, damage refused, group commit,
//! reopening resumes, keys deduplicate across reopening, back-pressure and retention.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::log::segment_path;
use crate::{Config, Record, Wal, WalError};

fn record(keys: &[u128], body: &str) -> Record {
    Record {
        received_micros: crate::log::now_micros(),
        route: "audit".to_owned(),
        cluster: "test".to_owned(),
        sender: "test".to_owned(),
        keys: keys.to_vec(),
        body: body.as_bytes().to_vec(),
    }
}

/// `length` characters zstd cannot shrink much (about 80% stay): pseudo-random printable
/// ASCII, so the tests that fill segments and the pending limit know the sizes on disk.
fn noise(length: usize, seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 94) as u8)
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Bodies of every durable record from `from` (or the start), with their keys.
fn read_all(wal: &Wal, from: Option<(u64, u64)>) -> Vec<(String, Vec<u128>)> {
    let mut reader = wal.reader(from);
    reader
        .read(usize::MAX)
        .unwrap()
        .into_iter()
        .map(|read| {
            (
                String::from_utf8(read.record.body).unwrap(),
                read.record.keys,
            )
        })
        .collect()
}

fn only_segment(dir: &Path) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 1, "{files:?}");
    files.pop().unwrap()
}

#[test]
fn a_torn_tail_is_cut_off_at_open_and_appends_continue_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let end = runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        for index in 0..3u128 {
            wal.append(record(&[index], &format!("body {index}")))
                .await
                .unwrap();
        }
        wal.durable_end()
    });
    // A crash in the middle of the fourth append: half of its frame reached the file.
    let path = only_segment(dir.path());
    let whole = std::fs::metadata(&path).unwrap().len();
    let frame = crate::record::encode(&record(&[9], "the torn one").seal());
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&frame[..frame.len() / 2])
        .unwrap();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        assert_eq!(wal.durable_end(), end);
        let bodies: Vec<_> = read_all(&wal, None).into_iter().map(|r| r.0).collect();
        assert_eq!(bodies, ["body 0", "body 1", "body 2"]);
        // The torn record was never answered: its retry is new.
        let appended = wal.append(record(&[9], "the retry")).await.unwrap();
        assert!(appended.written);
        assert_eq!(read_all(&wal, None).len(), 4);
    });
}

#[test]
fn a_zeroed_tail_is_cut_off_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        wal.append(record(&[1], "kept")).await.unwrap();
    });
    // A file system that extended the file but never wrote the data (a power cut).
    let path = only_segment(dir.path());
    let whole = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[0u8; 300])
        .unwrap();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        assert_eq!(read_all(&wal, None), [("kept".to_owned(), vec![1])]);
    });
}

#[test]
fn a_crc_mismatch_in_the_last_record_is_cut_off_and_elsewhere_refused() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        wal.append(record(&[1], "first")).await.unwrap();
        wal.append(record(&[2], "second")).await.unwrap();
    });
    let path = only_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        assert_eq!(read_all(&wal, None), [("first".to_owned(), vec![1])]);
        // Key 2 went with its record: a retry is written again.
        assert!(wal.append(record(&[2], "second")).await.unwrap().written);
    });
    // Damage in a record that is not the last is not a torn write: the log does not open.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[crate::record::SEGMENT_HEADER_BYTES as usize + 12] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let opened = Wal::open(dir.path(), &Config::default());
    assert!(
        matches!(opened, Err(WalError::Corrupt { .. })),
        "{opened:?}"
    );
}

#[test]
fn a_damaged_sealed_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        segment_bytes: crate::MIN_SEGMENT_BYTES,
        ..Config::default()
    };
    let runtime = runtime();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &config).unwrap();
        for index in 0..8u128 {
            wal.append(record(&[index], &noise(1900, index as u64)))
                .await
                .unwrap();
        }
    });
    let first = segment_path(dir.path(), 0);
    let mut bytes = std::fs::read(&first).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    assert!(matches!(
        Wal::open(dir.path(), &config),
        Err(WalError::Corrupt { .. })
    ));
}

#[test]
// The gate is held across the await on purpose: requests must queue while the writer waits.
#[expect(clippy::await_holding_lock)]
fn concurrent_appends_share_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        let gate = wal.state_for_tests().gate.lock().unwrap();
        let mut appends = Vec::new();
        for index in 0..20u128 {
            let wal = wal.clone();
            appends.push(tokio::spawn(async move {
                wal.append(record(&[index], &format!("request {index}")))
                    .await
                    .unwrap()
            }));
        }
        // Every request is queued while the writer waits at the gate.
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(gate);
        for append in appends {
            assert!(append.await.unwrap().written);
        }
        let metrics = wal.metrics();
        assert_eq!(metrics.appends, 20);
        assert_eq!(metrics.fsyncs, 1, "one fsync for the whole group");
        assert_eq!(read_all(&wal, None).len(), 20);
    });
}

#[test]
fn reopening_resumes_from_the_committed_position() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let (log_id, committed) = runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        let mut reader = wal.reader(None);
        wal.append(record(&[1], "one")).await.unwrap();
        wal.append(record(&[2], "two")).await.unwrap();
        reader.wait().await;
        let read = reader.read(1).unwrap();
        assert_eq!(read.len(), 1, "one record when a byte is asked for");
        wal.append(record(&[3], "three")).await.unwrap();
        (reader.log_id(), read[0].end)
    });
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        assert_eq!(wal.log_id(), log_id);
        let bodies: Vec<_> = read_all(&wal, Some((log_id, committed)))
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(bodies, ["two", "three"]);
        // A position of another log reads this one from its start.
        assert_eq!(read_all(&wal, Some((log_id ^ 1, committed))).len(), 3);
    });
}

#[test]
fn keys_deduplicate_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        let first = wal.append(record(&[1, 2, 3], "batch a")).await.unwrap();
        assert_eq!((first.written, first.new_keys), (true, 3));
        // The same batch again before any restart: nothing written.
        let again = wal.append(record(&[1, 2, 3], "batch a")).await.unwrap();
        assert_eq!((again.written, again.duplicate_keys), (false, 3));
    });
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        let retried = wal.append(record(&[3, 2, 1], "batch a")).await.unwrap();
        assert_eq!((retried.written, retried.duplicate_keys), (false, 3));
        let overlapping = wal.append(record(&[2, 3, 4, 4], "batch b")).await.unwrap();
        assert_eq!(
            (
                overlapping.written,
                overlapping.new_keys,
                overlapping.duplicate_keys
            ),
            (true, 1, 3)
        );
        // A body that did not decode has no keys and is always kept (a dead letter).
        assert!(wal.append(record(&[], "{not json")).await.unwrap().written);
        assert_eq!(
            read_all(&wal, None),
            [
                ("batch a".to_owned(), vec![1, 2, 3]),
                ("batch b".to_owned(), vec![4]),
                ("{not json".to_owned(), vec![]),
            ]
        );
        assert_eq!(wal.metrics().duplicate_keys, 6);
    });
}

#[test]
fn a_full_log_refuses_appends_until_the_store_commits() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        max_pending_bytes: 4000,
        ..Config::default()
    };
    let runtime = runtime();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &config).unwrap();
        let mut reader = wal.reader(None);
        let body = noise(1900, 7);
        wal.append(record(&[1], &body)).await.unwrap();
        wal.append(record(&[2], &body)).await.unwrap();
        let refused = wal.append(record(&[3], &body)).await;
        assert!(matches!(refused, Err(WalError::Full { .. })), "{refused:?}");
        // Retries of what is in already are still answered.
        assert!(!wal.append(record(&[2], &body)).await.unwrap().written);
        assert_eq!(wal.metrics().refused_full, 1);
        let read = reader.read(usize::MAX).unwrap();
        reader.committer().committed(read.last().unwrap().end);
        assert_eq!(wal.metrics().pending_bytes, 0);
        assert!(wal.append(record(&[3], &body)).await.unwrap().written);
    });
}

#[test]
fn committed_segments_out_of_the_window_are_deleted_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        segment_bytes: crate::MIN_SEGMENT_BYTES,
        dedupe_window_secs: 0,
        ..Config::default()
    };
    let runtime = runtime();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &config).unwrap();
        let mut reader = wal.reader(None);
        for index in 0..8u128 {
            wal.append(record(&[index], &noise(1900, index as u64)))
                .await
                .unwrap();
        }
        let segments = std::fs::read_dir(dir.path()).unwrap().count();
        assert!(segments >= 3, "{segments} segments");
        // Nothing is committed: nothing goes, whatever the window.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), segments);
        let read = reader.read(usize::MAX).unwrap();
        assert_eq!(read.len(), 8);
        reader.committer().committed(read.last().unwrap().end);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::read_dir(dir.path()).unwrap().count() > 1 {
            assert!(std::time::Instant::now() < deadline, "sealed segments kept");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The keys of deleted segments are forgotten: key 0 is new again.
        assert!(
            wal.append(record(&[0], "late retry"))
                .await
                .unwrap()
                .written
        );
        // The key of the active segment is still known.
        assert!(!wal.append(record(&[7], "retry")).await.unwrap().written);
    });
}

#[test]
fn segments_within_the_window_are_kept_after_their_commit() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        segment_bytes: crate::MIN_SEGMENT_BYTES,
        ..Config::default()
    };
    let runtime = runtime();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &config).unwrap();
        let mut reader = wal.reader(None);
        for index in 0..8u128 {
            wal.append(record(&[index], &noise(1900, index as u64)))
                .await
                .unwrap();
        }
        let segments = std::fs::read_dir(dir.path()).unwrap().count();
        let read = reader.read(usize::MAX).unwrap();
        reader.committer().committed(read.last().unwrap().end);
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), segments);
        assert!(!wal.append(record(&[0], "retry")).await.unwrap().written);
    });
}

/// Makes the next `count` fsyncs of the log fail.
fn fail_syncs(wal: &Wal, count: u64) {
    wal.state_for_tests()
        .failing_syncs
        .store(count, std::sync::atomic::Ordering::Release);
}

#[test]
// The gate is held across the await on purpose: both requests must land in one group.
#[expect(clippy::await_holding_lock)]
fn a_failed_fsync_acknowledges_nothing_of_its_group_and_a_retry_is_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let log_id = runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        let mut reader = wal.reader(None);
        wal.append(record(&[1], "before")).await.unwrap();
        let durable = wal.durable_end();
        // One group: a new batch and a second copy of it (which writes nothing by itself).
        fail_syncs(&wal, 1);
        let gate = wal.state_for_tests().gate.lock().unwrap();
        let (first, copy) = (wal.clone(), wal.clone());
        let first = tokio::spawn(async move { first.append(record(&[2, 3], "batch")).await });
        let copy = tokio::spawn(async move { copy.append(record(&[2, 3], "batch")).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(gate);
        for answer in [first.await.unwrap(), copy.await.unwrap()] {
            assert!(
                matches!(answer, Err(WalError::NotDurable)),
                "an append of a group whose fsync failed was acknowledged: {answer:?}"
            );
        }
        assert_eq!(wal.durable_end(), durable, "readers may not see the group");
        assert_eq!(wal.metrics().sync_failures, 1);
        assert_eq!(wal.failure(), None, "cut back at once");
        // The keys are forgotten with the records: the retry is written.
        let retried = wal.append(record(&[2, 3], "batch")).await.unwrap();
        assert_eq!((retried.written, retried.new_keys), (true, 2));
        reader.wait().await;
        let bodies: Vec<_> = reader
            .read(usize::MAX)
            .unwrap()
            .into_iter()
            .map(|read| String::from_utf8(read.record.body).unwrap())
            .collect();
        assert_eq!(bodies, ["before", "batch"]);
        wal.log_id()
    });
    // On disk: each record once, and the keys of both.
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        assert_eq!(wal.log_id(), log_id);
        assert_eq!(
            read_all(&wal, None),
            [
                ("before".to_owned(), vec![1]),
                ("batch".to_owned(), vec![2, 3])
            ]
        );
        assert!(!wal.append(record(&[3, 2], "batch")).await.unwrap().written);
    });
}

#[test]
fn a_failed_fsync_while_rolling_to_a_new_segment_is_taken_back_too() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        segment_bytes: crate::MIN_SEGMENT_BYTES,
        ..Config::default()
    };
    let runtime = runtime();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &config).unwrap();
        let body = noise(3000, 3);
        wal.append(record(&[1], &body)).await.unwrap();
        // The next record does not fit: the writer seals the segment first, and that fsync fails.
        fail_syncs(&wal, 1);
        let refused = wal.append(record(&[2], &body)).await;
        assert!(matches!(refused, Err(WalError::NotDurable)), "{refused:?}");
        assert!(wal.append(record(&[2], &body)).await.unwrap().written);
        assert!(wal.append(record(&[3], &body)).await.unwrap().written);
    });
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &config).unwrap();
        let keys: Vec<_> = read_all(&wal, None).into_iter().map(|r| r.1).collect();
        assert_eq!(keys, [vec![1], vec![2], vec![3]]);
    });
}

#[test]
fn a_log_that_cannot_cut_back_refuses_appends_says_why_and_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        wal.append(record(&[1], "before")).await.unwrap();
        // The group's fsync fails, and so does the fsync of the cut that takes it back.
        fail_syncs(&wal, 2);
        let refused = wal.append(record(&[2], "lost")).await;
        assert!(matches!(refused, Err(WalError::NotDurable)), "{refused:?}");
        let failure = wal.failure().expect("the log says it cannot write");
        assert!(
            failure.contains("fsync failure made by a test"),
            "{failure}"
        );
        assert!(wal.metrics().failing);
        // The writer tries the cut again on its own (every half second when idle).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while wal.failure().is_some() {
            assert!(std::time::Instant::now() < deadline, "never recovered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(wal.append(record(&[2], "kept")).await.unwrap().written);
        // While it cannot cut back, appends are refused.
        fail_syncs(&wal, 3);
        assert!(matches!(
            wal.append(record(&[3], "lost")).await,
            Err(WalError::NotDurable)
        ));
        assert!(matches!(
            wal.append(record(&[3], "refused")).await,
            Err(WalError::Failed)
        ));
        assert!(wal.append(record(&[3], "kept")).await.unwrap().written);
        assert_eq!(wal.metrics().sync_failures, 2);
    });
    runtime.block_on(async {
        let wal = Wal::open(dir.path(), &Config::default()).unwrap();
        let bodies: Vec<_> = read_all(&wal, None).into_iter().map(|r| r.0).collect();
        assert_eq!(bodies, ["before", "kept", "kept"]);
    });
}
