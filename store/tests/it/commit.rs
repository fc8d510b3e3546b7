//! The commit protocol end to end: what a commit makes visible, what a crash at each step
//! leaves behind after `open`, the on-disk layout and the Parquet files themselves.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{
    HOUR, JAN_1_2026, alert, count, dead_letter, open_store, state, synthetic_events,
};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::Compression;
use serde_json::json;
use store::{ColumnarStore, Config, StoreError, session_context};

fn config(dir: &Path) -> Config {
    Config::with_data_dir(dir)
}

/// Every file under `dir`, relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .expect("under root")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn tmp_files(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .filter(|path| path.ends_with(".tmp"))
        .collect()
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    tree(dir)
        .into_iter()
        .filter(|path| path.ends_with(".parquet"))
        .map(|path| dir.join(path))
        .collect()
}

#[tokio::test]
async fn committed_batch_is_queryable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = synthetic_events(2_000, 1, JAN_1_2026, 3 * HOUR);
    let alerts = [alert("a1", "2026-01-01T01:30:00Z", &[&events[0].event_id])];
    let (mut store, checkpoint) = open_store(&config(dir.path()), "open");
    assert_eq!(checkpoint, None);
    let info = store
        .commit(
            &events,
            &alerts,
            &[dead_letter("2026-01-01T02:00:00Z", 7)],
            Some(&state(json!({"offset": 1}))),
        )
        .expect("commit");
    assert_eq!(
        (
            info.seq,
            info.events,
            info.alerts,
            info.dead_letters,
            info.duplicates
        ),
        (1, 2_000, 1, 1, 0)
    );

    let context = session_context(dir.path()).await.expect("session");
    assert_eq!(count(&context, "SELECT count(*) FROM events").await, 2_000);
    let alice = events
        .iter()
        .filter(|event| event.user.as_deref() == Some("alice@example.com"))
        .count();
    assert!(alice > 0);
    assert_eq!(
        count(
            &context,
            "SELECT count(*) FROM events WHERE \"user\" = 'alice@example.com'"
        )
        .await,
        alice as i64
    );
    let forbidden = events
        .iter()
        .filter(|event| event.decision == Some(event::Decision::Forbid))
        .count();
    assert_eq!(
        count(
            &context,
            "SELECT count(*) FROM events WHERE decision = 'forbid' AND source = 'k8s_audit'"
        )
        .await,
        forbidden as i64
    );
    let privileged = events
        .iter()
        .filter(|event| {
            event
                .pod_specs
                .first()
                .is_some_and(|spec| spec.containers[0].privileged == Some(true))
        })
        .count();
    assert_eq!(
        count(
            &context,
            "SELECT count(*) FROM events WHERE pod_specs[1]['containers'][1]['privileged']"
        )
        .await,
        privileged as i64
    );
    let with_images = events
        .iter()
        .filter(|event| !event.images.is_empty())
        .count();
    assert_eq!(
        count(
            &context,
            "SELECT count(*) FROM events WHERE images[1]['registry'] = 'docker.io'"
        )
        .await,
        with_images as i64
    );
    assert_eq!(
        count(
            &context,
            "SELECT count(DISTINCT hour) FROM events WHERE date = '2026-01-01'"
        )
        .await,
        3
    );

    let sample = &events[17];
    let sql = format!(
        "SELECT raw, CAST(time AS BIGINT) FROM events WHERE event_id = '{}'",
        sample.event_id
    );
    let batches = context
        .sql(&sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    assert_eq!(
        batches.iter().map(|batch| batch.num_rows()).sum::<usize>(),
        1
    );
    let batch = batches
        .iter()
        .find(|batch| batch.num_rows() == 1)
        .expect("row");
    assert_eq!(batch.column(0).as_string::<i32>().value(0), sample.raw);
    assert_eq!(
        batch.column(1).as_primitive::<Int64Type>().value(0),
        sample.time
    );

    assert_eq!(count(&context, "SELECT count(*) FROM alerts WHERE severity = 'high' AND date = '2026-01-01' AND fields LIKE '%\"verb\"%'").await, 1);
    assert_eq!(
        count(
            &context,
            "SELECT count(*) FROM alerts WHERE time = TIMESTAMP '2026-01-01T01:30:00Z'"
        )
        .await,
        1
    );
}

#[test]
fn layout_on_disk_is_hive_partitioned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = synthetic_events(300, 2, JAN_1_2026 + 23 * HOUR, 2 * HOUR);
    let (mut store, _) = open_store(&config(dir.path()), "open");
    let alerts = [
        alert("a1", "2026-01-01T23:10:00Z", &[]),
        alert("a2", "2026-01-02T00:10:00Z", &[]),
    ];
    store
        .commit(
            &events,
            &alerts,
            &[dead_letter("2026-01-02T00:00:01Z", 0)],
            None,
        )
        .expect("commit");
    let seq = "00000000000000000001";
    assert_eq!(
        tree(dir.path()),
        vec![
            ".kubetrail.lock".to_owned(),
            format!("_commits/{seq}.json"),
            format!("_ledger/{seq}.jsonl"),
            format!("alerts/date=2026-01-01/part-{seq}-0002.parquet"),
            format!("alerts/date=2026-01-02/part-{seq}-0003.parquet"),
            format!("dead_letters/date=2026-01-02/part-{seq}-0004.jsonl"),
            format!("events/date=2026-01-01/hour=23/part-{seq}-0000.parquet"),
            format!("events/date=2026-01-02/hour=00/part-{seq}-0001.parquet"),
        ]
    );
    let line = fs::read_to_string(dir.path().join(format!(
        "dead_letters/date=2026-01-02/part-{seq}-0004.jsonl"
    )))
    .expect("read");
    let parsed: event::DeadLetter = serde_json::from_str(line.trim_end()).expect("json line");
    assert_eq!(parsed, dead_letter("2026-01-02T00:00:01Z", 0));
    assert!(line.contains("\"reason\"") && line.contains("\"offset\":0"));
}

#[tokio::test]
async fn crash_after_publish_rolls_forward_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = synthetic_events(100, 3, JAN_1_2026, HOUR);
    let second = synthetic_events(150, 4, JAN_1_2026 + HOUR, 2 * HOUR);
    {
        let (mut store, _) = open_store(&config(dir.path()), "open");
        store
            .commit(&first, &[], &[], Some(&state(json!({"offset": 100}))))
            .expect("commit");
        let plan = store
            .prepare(
                &second,
                &[alert("a", "2026-01-01T01:00:00Z", &[])],
                &[],
                Some(&state(json!({"offset": 250}))),
            )
            .expect("prepare");
        store.publish(&plan).expect("publish");
        // Crash: the store is dropped before `finish`; the files keep their temporary names.
        assert_eq!(
            tmp_files(dir.path()).len(),
            plan.tmp_paths(dir.path()).len()
        );
        let context = session_context(dir.path()).await.expect("session");
        assert_eq!(
            count(&context, "SELECT count(*) FROM events").await,
            100,
            "temporary files are not listed"
        );
    }
    let (store, checkpoint) = open_store(&config(dir.path()), "reopen");
    assert_eq!(checkpoint, Some(json!({"offset": 250})));
    assert_eq!(tmp_files(dir.path()), Vec::<String>::new());
    assert_eq!(
        (
            store.stats().last_seq,
            store.stats().events,
            store.stats().alerts
        ),
        (2, 250, 1)
    );
    let context = session_context(dir.path()).await.expect("session");
    assert_eq!(count(&context, "SELECT count(*) FROM events").await, 250);
    assert_eq!(
        count(&context, "SELECT count(DISTINCT event_id) FROM events").await,
        250
    );
    assert_eq!(count(&context, "SELECT count(*) FROM alerts").await, 1);
}

#[tokio::test]
async fn crash_during_finish_rolls_forward_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = synthetic_events(400, 5, JAN_1_2026, 4 * HOUR);
    {
        let (mut store, _) = open_store(&config(dir.path()), "open");
        let plan = store
            .prepare(&events, &[], &[], Some(&state(json!(1))))
            .expect("prepare");
        store.publish(&plan).expect("publish");
        // Crash after the first of four renames.
        let tmp = &plan.tmp_paths(dir.path())[0];
        let name = tmp.file_name().expect("name").to_string_lossy();
        let visible = tmp.with_file_name(name.trim_start_matches('.').trim_end_matches(".tmp"));
        fs::rename(tmp, visible).expect("rename");
        assert_eq!(tmp_files(dir.path()).len(), 3);
    }
    let (_store, checkpoint) = open_store(&config(dir.path()), "reopen");
    assert_eq!(checkpoint, Some(json!(1)));
    assert_eq!(tmp_files(dir.path()), Vec::<String>::new());
    let context = session_context(dir.path()).await.expect("session");
    assert_eq!(count(&context, "SELECT count(*) FROM events").await, 400);
    assert_eq!(
        count(&context, "SELECT count(DISTINCT event_id) FROM events").await,
        400
    );
}

#[tokio::test]
async fn crash_before_publish_rolls_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = synthetic_events(50, 6, JAN_1_2026, HOUR);
    let second = synthetic_events(70, 7, JAN_1_2026 + 5 * HOUR, HOUR);
    {
        let (mut store, _) = open_store(&config(dir.path()), "open");
        store
            .commit(&first, &[], &[], Some(&state(json!({"offset": 50}))))
            .expect("commit");
        let plan = store
            .prepare(
                &second,
                &[],
                &[dead_letter("2026-01-01T05:00:00Z", 3)],
                Some(&state(json!({"offset": 120}))),
            )
            .expect("prepare");
        assert_eq!(tmp_files(dir.path()).len(), 2);
        drop(plan);
        // Crash before the commit record is written.
    }
    let (mut store, checkpoint) = open_store(&config(dir.path()), "reopen");
    assert_eq!(
        checkpoint,
        Some(json!({"offset": 50})),
        "the source replays from the last commit"
    );
    assert_eq!(tmp_files(dir.path()), Vec::<String>::new());
    assert!(
        !dir.path()
            .join("events/date=2026-01-01/hour=05")
            .read_dir()
            .expect("dir")
            .any(|_| true)
    );
    let context = session_context(dir.path()).await.expect("session");
    assert_eq!(count(&context, "SELECT count(*) FROM events").await, 50);

    // The replay commits under the same sequence number without clashing.
    let info = store
        .commit(&second, &[], &[], Some(&state(json!({"offset": 120}))))
        .expect("replay");
    assert_eq!(info.seq, 2);
    assert_eq!(count(&context, "SELECT count(*) FROM events").await, 120);
}

#[test]
fn checkpoint_round_trips_and_carries_forward() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checkpoint = json!({"sources": {"/var/log/audit.log": {"offset": 12345, "inode": 99}}});
    {
        let (mut store, _) = open_store(&config(dir.path()), "open");
        store
            .commit(
                &synthetic_events(10, 8, JAN_1_2026, HOUR),
                &[],
                &[],
                Some(&state(json!({"offset": 1}))),
            )
            .expect("commit");
        // A batch that was entirely filtered still advances the position.
        let info = store
            .commit(&[], &[], &[], Some(&state(checkpoint.clone())))
            .expect("empty commit");
        assert_eq!((info.seq, info.files), (2, 0));
        // No rows, no checkpoint: nothing to do.
        assert_eq!(store.commit(&[], &[], &[], None).expect("no-op").seq, 2);
        // Rows without a checkpoint keep the last checkpoint.
        store
            .commit(&synthetic_events(5, 9, JAN_1_2026, HOUR), &[], &[], None)
            .expect("commit");
    }
    let (store, reopened) = open_store(&config(dir.path()), "reopen");
    assert_eq!(reopened, Some(checkpoint));
    let stats = store.stats();
    assert_eq!(
        (stats.last_seq, stats.commits, stats.events, stats.files),
        (3, 3, 15, 2)
    );
    assert!(stats.bytes > 0);
}

#[test]
fn old_commit_records_are_pruned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = open_store(&config(dir.path()), "open");
    for offset in 0..20 {
        store
            .commit(&[], &[], &[], Some(&state(json!(offset))))
            .expect("commit");
    }
    let records = tree(&dir.path().join("_commits"));
    assert_eq!(records.len(), store::commit::KEPT_COMMITS);
    assert_eq!(
        records.last().map(String::as_str),
        Some("00000000000000000020.json")
    );
    drop(store);
    let (store, checkpoint) = open_store(&config(dir.path()), "reopen");
    assert_eq!((checkpoint, store.stats().commits), (Some(json!(19)), 20));
}

/// Data directories written before the state had its own field: format-1 records kept it under
/// `checkpoint`, and it is read back from there.
#[test]
fn a_format_1_record_keeps_its_checkpoint_as_the_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let legacy =
        json!({"positions": {"abc": {"kind": "file", "offset": 7}}, "detection": {"rules": {}}});
    {
        let (mut store, _) = open_store(&config(dir.path()), "open");
        store
            .commit(
                &synthetic_events(3, 11, JAN_1_2026, HOUR),
                &[],
                &[],
                Some(&state(json!(0))),
            )
            .expect("commit");
    }
    let record_path = dir.path().join("_commits/00000000000000000001.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&record_path).expect("record")).expect("JSON");
    let object = record.as_object_mut().expect("object");
    object.remove("state");
    object.insert("checkpoint".to_owned(), legacy.clone());
    object.insert("format".to_owned(), json!(1));
    fs::write(&record_path, record.to_string()).expect("rewrite");
    let (store, reopened) = open_store(&config(dir.path()), "reopen");
    assert_eq!(reopened, Some(legacy));
    assert_eq!(store.stats().events, 3);
}

#[test]
fn duplicate_event_ids_in_a_batch_are_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut events = synthetic_events(20, 10, JAN_1_2026, HOUR);
    events.extend(events[..5].to_vec());
    let (mut store, _) = open_store(&config(dir.path()), "open");
    let info = store.commit(&events, &[], &[], None).expect("commit");
    assert_eq!((info.events, info.duplicates), (20, 5));
}

#[test]
fn second_writer_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, _) = open_store(&config(dir.path()), "open");
    let error = ColumnarStore::open(&config(dir.path())).expect_err("second open");
    assert!(matches!(error, StoreError::Locked { .. }), "{error}");
}

#[test]
fn invalid_config_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = Config {
        zstd_level: 0,
        ..config(dir.path())
    };
    assert!(matches!(
        ColumnarStore::open(&bad),
        Err(StoreError::InvalidConfig { .. })
    ));
    let parsed: Result<Config, _> =
        serde_json::from_value(json!({"data_dir": "x", "zstd_levl": 3}));
    assert!(parsed.is_err(), "unknown keys are rejected");
    let parsed: Config = serde_json::from_value(json!({})).expect("defaults");
    assert_eq!(parsed, Config::default());
}

#[test]
fn parquet_is_at_most_a_fifth_of_the_raw_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = synthetic_events(4_000, 11, JAN_1_2026, 2 * HOUR);
    let raw_bytes: usize = events.iter().map(|event| event.raw.len() + 1).sum();
    let average = raw_bytes / events.len();
    assert!(
        (700..=1_400).contains(&average),
        "synthetic raw events average {average} bytes"
    );
    let (mut store, _) = open_store(&config(dir.path()), "open");
    let info = store.commit(&events, &[], &[], None).expect("commit");
    let parquet_bytes: u64 = parquet_files(dir.path())
        .iter()
        .map(|path| fs::metadata(path).expect("stat").len())
        .sum();
    assert_eq!(parquet_bytes, info.bytes);
    let ratio = parquet_bytes as f64 / raw_bytes as f64;
    assert!(
        ratio <= 0.2,
        "parquet {parquet_bytes} bytes is {ratio:.3} of raw {raw_bytes} bytes"
    );
}

#[test]
fn files_are_plain_parquet_sorted_by_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = synthetic_events(1_000, 12, JAN_1_2026, HOUR / 2);
    let config = Config {
        row_group_rows: 300,
        ..config(dir.path())
    };
    let (mut store, _) = open_store(&config, "open");
    store.commit(&events, &[], &[], None).expect("commit");
    let files = parquet_files(dir.path());
    assert_eq!(files.len(), 1);
    let file = fs::File::open(&files[0]).expect("open file");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet footer");
    let metadata = builder.metadata().clone();
    assert_eq!(
        metadata.num_row_groups(),
        4,
        "row groups of at most 300 rows"
    );
    let time_index = builder.schema().index_of("time").expect("time column");
    for row_group in metadata.row_groups() {
        let time = row_group.column(time_index);
        assert!(matches!(time.compression(), Compression::ZSTD(_)));
        assert!(
            time.statistics()
                .is_some_and(|statistics| statistics.min_bytes_opt().is_some())
        );
    }
    assert_eq!(
        builder.schema().fields().len(),
        store::events_file_schema().fields().len()
    );
    let reader = builder.build().expect("reader");
    let mut times = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let column = batch
            .column(time_index)
            .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
        times.extend((0..column.len()).map(|row| column.value(row)));
    }
    assert_eq!(times.len(), 1_000);
    assert!(times.is_sorted(), "rows are sorted by time");
}
