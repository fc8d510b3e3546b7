//! Compaction: small files merged into one per partition with every row kept once, in time
//! order; readers exact at every step (the live rule, retired files still readable); chained
//! `compaction` commits that verify; read-only tables.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::json;
use store::compaction::{self, Options};
use store::ledger::CommitKind;
use store::parts::{PartName, retain_live};
use store::{ColumnarStore, Config, VerifyOptions};

use crate::common::{HOUR, JAN_1_2026, alert, dead_letter, open_store, state, synthetic_events};

fn config(dir: &Path) -> Config {
    Config::with_data_dir(dir)
}

/// Long after the test data's hours: every partition has settled.
fn later() -> DateTime<Utc> {
    Utc::now()
}

/// `commits` commits of 30 events each over three hours of 2026-01-01, an alert and a dead
/// letter each: many small files per partition.
fn small_commits(store: &mut ColumnarStore, commits: usize, seed: u64) {
    for n in 0..commits {
        let start = JAN_1_2026 + (n as i64 % 3) * HOUR;
        let events = synthetic_events(30, seed * 1000 + n as u64, start, HOUR);
        let alerts = [alert(
            &format!("a{seed}-{n}"),
            "2026-01-01T05:00:00Z",
            &[events[0].event_id.as_str()],
        )];
        let dead = [dead_letter("2026-01-01T06:00:00Z", n as u64)];
        store
            .commit(&events, &alerts, &dead, Some(&state(json!(n))))
            .expect("commit");
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if dir.is_dir() {
        crate::common::walk(dir, &mut |path| files.push(path.to_owned()));
    }
    files.sort();
    files
}

async fn event_ids(dir: &Path) -> Vec<String> {
    let context = store::session_context(dir).await.expect("tables");
    let batches = context
        .sql("SELECT event_id FROM events ORDER BY event_id")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    batches
        .iter()
        .flat_map(|batch| {
            let ids = batch.column(0).as_string::<i32>();
            (0..ids.len())
                .map(|row| ids.value(row).to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn count(dir: &Path, sql: &str) -> i64 {
    let context = store::session_context(dir).await.expect("tables");
    crate::common::count(&context, sql).await
}

fn dead_letter_lines(dir: &Path) -> usize {
    files_under(&dir.join("dead_letters"))
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("read").lines().count())
        .sum()
}

/// Plans (as of [`later`]) and merges every group of files of commits up to `max_seq`, without
/// committing.
fn merged_up_to(dir: &Path, max_seq: u64) -> Vec<compaction::Merged> {
    let groups = compaction::plan(dir, &Options::default(), later(), max_seq, false).expect("plan");
    compaction::merge_all(&config(dir), groups, None, u64::MAX).expect("merge")
}

#[test]
fn names_say_which_commits_a_file_holds_and_the_live_rule_follows() {
    let plain = PartName::new(42, 3);
    assert_eq!(
        plain.file_name(None, "parquet"),
        "part-00000000000000000042-0003.parquet"
    );
    assert_eq!(
        PartName::parse(&plain.file_name(None, "parquet")),
        Some(plain)
    );
    let merged = PartName::replacing(50, 0, 7, 49);
    let name = merged.file_name(None, "jsonl");
    assert_eq!(
        name,
        "part-00000000000000000050-0000-00000000000000000007-00000000000000000049.jsonl"
    );
    assert_eq!(PartName::parse(&name), Some(merged));
    for bad in [
        "part-1.parquet",
        "part-x-1.parquet",
        "part-5-0-1-5.parquet",
        "part-5-0-4-3.parquet",
        "other.parquet",
        "part--1.parquet",
    ] {
        assert_eq!(PartName::parse(bad), None, "{bad}");
    }

    let name = |part: PartName| part.file_name(None, "parquet");
    let parse = |file: &String| PartName::parse(file);
    let mut files = vec![
        name(PartName::new(3, 0)),
        name(PartName::new(5, 0)),
        name(PartName::new(5, 1)),
        name(PartName::new(9, 0)),
        name(PartName::replacing(8, 0, 3, 5)),
        "notes.txt".to_owned(),
    ];
    retain_live(&mut files, parse);
    assert_eq!(
        files,
        vec![
            name(PartName::new(9, 0)),
            name(PartName::replacing(8, 0, 3, 5)),
            "notes.txt".to_owned()
        ]
    );
    // A later merge of the merged file and a newer one hides both.
    let mut files = vec![
        name(PartName::replacing(8, 0, 3, 5)),
        name(PartName::new(9, 0)),
        name(PartName::replacing(12, 0, 3, 9)),
        name(PartName::new(13, 0)),
    ];
    retain_live(&mut files, parse);
    assert_eq!(
        files,
        vec![
            name(PartName::replacing(12, 0, 3, 9)),
            name(PartName::new(13, 0))
        ]
    );
    // A retention rewrite of a single file covers the same commit, written later.
    let mut files = vec![
        name(PartName::new(4, 0)),
        name(PartName::replacing(20, 0, 4, 4)),
    ];
    retain_live(&mut files, parse);
    assert_eq!(files, vec![name(PartName::replacing(20, 0, 4, 4))]);
}

#[tokio::test]
async fn small_files_merge_into_one_per_partition_with_every_row_once_in_time_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = open_store(&config(dir.path()), "open");
    small_commits(&mut store, 24, 1);
    let ids_before = event_ids(dir.path()).await;
    assert_eq!(ids_before.len(), 24 * 30);
    let alerts_before = count(dir.path(), "SELECT count(*) FROM alerts").await;
    let events_files_before = files_under(&dir.path().join("events")).len();
    assert_eq!(events_files_before, 24);
    let stats_before = store.stats();

    let options = Options {
        grace_seconds: 3600,
        ..Options::default()
    };
    let summary = store
        .compact(&options, later(), store.stats().last_seq)
        .expect("compact");
    assert_eq!(summary.seq, Some(25));
    // Three hours of events, one day of alerts, one day of dead letters.
    assert_eq!(summary.groups, 5, "{summary:?}");
    assert_eq!(summary.files_in, 24 + 24 + 24);
    assert_eq!(summary.rows, 24 * 30 + 24 + 24);

    // One file per partition, named after the commits it covers, sorted by time.
    let events_files = files_under(&dir.path().join("events"));
    assert_eq!(events_files.len(), 3, "{events_files:?}");
    for path in &events_files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let part = PartName::parse(&name).expect("a part name");
        assert_eq!(part.seq, 25);
        assert!(part.first < part.last && part.last <= 24, "{name}");
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let mut times = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let column = batch
                .column_by_name("time")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            times.extend(column.values().iter().copied());
        }
        assert_eq!(times.len(), 8 * 30);
        assert!(
            times.windows(2).all(|pair| pair[0] <= pair[1]),
            "{name} is not in time order"
        );
    }
    assert_eq!(files_under(&dir.path().join("alerts")).len(), 1);
    assert_eq!(files_under(&dir.path().join("dead_letters")).len(), 1);
    assert_eq!(dead_letter_lines(dir.path()), 24);

    // The same rows, once each; the replaced files wait in `_retired` for the grace period.
    assert_eq!(event_ids(dir.path()).await, ids_before);
    assert_eq!(
        count(dir.path(), "SELECT count(*) FROM alerts").await,
        alerts_before
    );
    assert_eq!(files_under(&dir.path().join("_retired")).len(), 72);
    assert_eq!(store.stats().events, stats_before.events);

    // A chained compaction commit, and the directory verifies.
    let entries = store::ledger::entries_after(dir.path(), 24).expect("ledger");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].kind, CommitKind::Compaction);
    assert_eq!(entries[0].added.len(), 5);
    assert_eq!(entries[0].removed.len(), 72);
    let report = store::verify(dir.path(), &VerifyOptions::default()).expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // New commits land beside the merged files; the next compaction merges them together.
    small_commits(&mut store, 6, 2);
    let ids_between = event_ids(dir.path()).await;
    assert_eq!(ids_between.len(), 30 * 30);
    let summary = store
        .compact(&Options::default(), later(), store.stats().last_seq)
        .expect("compact again");
    assert_eq!(summary.groups, 5, "{summary:?}");
    assert_eq!(files_under(&dir.path().join("events")).len(), 3);
    assert_eq!(event_ids(dir.path()).await, ids_between);
    assert_eq!(dead_letter_lines(dir.path()), 30);
    // The first compaction's retirement is past a zero grace period: deleted.
    let summary = store
        .compact(
            &Options {
                grace_seconds: 0,
                ..Options::default()
            },
            later(),
            store.stats().last_seq,
        )
        .expect("nothing left to merge");
    assert_eq!(summary.seq, None);
    assert_eq!(summary.purged, 2);
    assert!(files_under(&dir.path().join("_retired")).is_empty());
    let report = store::verify(dir.path(), &VerifyOptions::default()).expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // Reopened: nothing to recover, the same rows.
    drop(store);
    let (store, state) = open_store(&config(dir.path()), "reopen");
    assert_eq!(state, Some(json!(5)));
    assert_eq!(store.stats().events, 30 * 30);
    assert_eq!(event_ids(dir.path()).await, ids_between);
}

#[tokio::test]
async fn a_partition_still_written_waits_for_enough_small_files_and_max_seq_bounds_the_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = open_store(&config(dir.path()), "open");
    small_commits(&mut store, 9, 3);
    // As of the first hour's last minute, every partition is still being written.
    let during = DateTime::<Utc>::from_timestamp_micros(JAN_1_2026 + HOUR - 60_000_000).unwrap();
    let active = Options {
        active_files: 4,
        ..Options::default()
    };
    let groups = compaction::plan(dir.path(), &Options::default(), during, 9, false).expect("plan");
    assert!(groups.is_empty(), "{groups:?}");
    let groups = compaction::plan(dir.path(), &active, during, 9, false).expect("plan");
    let events: Vec<_> = groups
        .iter()
        .filter(|group| group.table == "events")
        .collect();
    assert!(
        events.iter().all(|group| group.inputs.len() >= 4),
        "{events:?}"
    );
    // Three files per hour: only the alerts and dead letters (nine each) reach four.
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(groups.len(), 2);

    // Only files of commits up to `max_seq` are merged (the search index has not seen later).
    let groups =
        compaction::plan(dir.path(), &Options::default(), later(), 4, false).expect("plan");
    for group in &groups {
        assert!(group.covers().1 <= 4, "{group:?}");
    }
    assert_eq!(
        groups
            .iter()
            .find(|group| group.table == "alerts")
            .map(|group| group.inputs.len()),
        Some(4)
    );
}

#[tokio::test]
async fn readers_see_every_row_once_between_the_merged_file_and_the_files_it_replaces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = open_store(&config(dir.path()), "open");
    small_commits(&mut store, 12, 4);
    let ids = event_ids(dir.path()).await;

    // Merged but not committed: a hidden temporary file readers skip.
    let merged = merged_up_to(dir.path(), 12);
    assert_eq!(event_ids(dir.path()).await, ids);

    // A query planned now lists the small files; compaction then moves them away; it still
    // reads them (from `_retired`), and gets every row once.
    let context = store::session_context(dir.path()).await.expect("tables");
    let planned = context
        .sql("SELECT count(*), count(DISTINCT event_id) FROM events")
        .await
        .expect("plan")
        .create_physical_plan()
        .await
        .expect("physical plan");
    store.commit_compaction(merged).expect("commit compaction");
    let batches = datafusion::physical_plan::collect(planned, context.task_ctx())
        .await
        .expect("run");
    let counts = batches[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    assert_eq!(counts.value(0), ids.len() as i64);

    // The instant between the rename and the move: the replaced files back beside the merged
    // one. kubetrail still reads each row once (DuckDB would read them twice).
    let retired = dir.path().join("_retired").join(format!("{:020}", 13));
    for path in files_under(&retired) {
        let relative = path.strip_prefix(&retired).unwrap();
        std::fs::copy(&path, dir.path().join(relative)).expect("copy back");
    }
    assert_eq!(files_under(&dir.path().join("events")).len(), 12 + 3);
    assert_eq!(event_ids(dir.path()).await, ids);
    assert_eq!(count(dir.path(), "SELECT count(*) FROM alerts").await, 12);
    // Reopening finishes the commit: the replaced files move out again.
    drop(store);
    let (_store, _) = open_store(&config(dir.path()), "reopen");
    assert_eq!(files_under(&dir.path().join("events")).len(), 3);
    assert_eq!(event_ids(dir.path()).await, ids);
    let report = store::verify(dir.path(), &VerifyOptions::default()).expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test]
async fn a_merge_given_up_or_cut_short_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = open_store(&config(dir.path()), "open");
    small_commits(&mut store, 6, 5);
    let ids = event_ids(dir.path()).await;
    let merged = merged_up_to(dir.path(), 6);
    let hidden = |dir: &Path| {
        files_under(dir)
            .into_iter()
            .filter(|path| path.file_name().unwrap().to_string_lossy().starts_with('.'))
            .count()
    };
    assert_eq!(hidden(&dir.path().join("events")), 3);
    // A crash before the commit: the next open deletes the merged files.
    drop(merged);
    drop(store);
    let (mut store, _) = open_store(&config(dir.path()), "reopen");
    assert_eq!(hidden(&dir.path().join("events")), 0);
    assert_eq!(event_ids(dir.path()).await, ids);

    // Retention (or anything) changed the inputs meanwhile: the merge is given up.
    let merged = merged_up_to(dir.path(), 6);
    let input = merged[0].group.input_paths()[0].clone();
    std::fs::rename(dir.path().join(&input), dir.path().join("moved-away")).expect("move");
    let summary = store.commit_compaction(merged).expect("commit");
    assert_eq!(summary.groups, 4, "only the untouched groups commit");
    std::fs::rename(dir.path().join("moved-away"), dir.path().join(&input)).expect("move back");
    assert_eq!(hidden(&dir.path().join("events")), 0);
    assert_eq!(event_ids(dir.path()).await, ids);
}

#[tokio::test]
async fn tables_are_read_only_whatever_reaches_the_object_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = open_store(&config(dir.path()), "open");
    small_commits(&mut store, 1, 6);
    let live = store::live_store::LiveStore::new(
        Arc::new(datafusion::object_store::local::LocalFileSystem::new()),
        ObjectPath::from_absolute_path(dir.path()).unwrap(),
    );
    let target = ObjectPath::from_absolute_path(dir.path().join("events/planted.parquet")).unwrap();
    let error = live
        .put(&target, PutPayload::from_static(b"x"))
        .await
        .expect_err("a write is refused");
    assert!(error.to_string().contains("read-only"), "{error}");
    let source =
        ObjectPath::from_absolute_path(&files_under(&dir.path().join("events"))[0]).unwrap();
    assert!(live.copy(&source, &target).await.is_err());
    assert!(live.delete(&source).await.is_err());
    assert!(!dir.path().join("events/planted.parquet").exists());
    assert!(live.head(&source).await.is_ok());
    let root = ObjectPath::from_absolute_path(dir.path()).unwrap();
    let listed: BTreeSet<String> =
        futures::TryStreamExt::try_collect::<Vec<_>>(live.list(Some(&root)))
            .await
            .map(|metas| {
                metas
                    .into_iter()
                    .map(|meta| meta.location.to_string())
                    .collect()
            })
            .unwrap_or_default();
    assert!(!listed.is_empty());
}

#[test]
fn writer_ids_name_files_and_are_told_apart() {
    let part = PartName::replacing(12, 1, 3, 9);
    let name = part.file_name(Some("kubetrail-0"), "parquet");
    assert_eq!(
        name,
        "part-00000000000000000012-0001-00000000000000000003-00000000000000000009.kubetrail-0.parquet"
    );
    assert_eq!(PartName::parse(&name), Some(part));
    assert_eq!(store::parts::writer_of(&name), Some("kubetrail-0"));
    let plain = PartName::new(4, 0).file_name(None, "parquet");
    assert_eq!(store::parts::writer_of(&plain), None);
    for bad in ["-a", "a-", "A", "a_b", "a.b", ""] {
        assert!(!store::parts::valid_writer(bad), "{bad}");
        assert_eq!(
            PartName::parse(&format!("part-00000000000000000004-0000.{bad}.parquet")),
            None,
            "{bad}"
        );
    }
    assert!(store::parts::valid_writer(&"a".repeat(63)));
    assert!(!store::parts::valid_writer(&"a".repeat(64)));
}

/// A partition of a bucket two writers share: each writer's commit numbers are its own, so a
/// merged file of one never hides the other's files, and files naming no writer are this
/// data directory's own.
#[tokio::test]
async fn the_live_rule_applies_per_writer_across_the_bucket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let bucket = dir.path().join("bucket");
    let partition = "events/date=2026-01-01/hour=00";
    let local_files = [
        // This directory's own, from before it had a writer id, and its newer file.
        PartName::new(3, 0).file_name(None, "parquet"),
        PartName::new(11, 0).file_name(Some("a"), "parquet"),
    ];
    let bucket_files = [
        // Its merged file in the bucket covers its own commits 1..=5 (file 3 above).
        PartName::replacing(6, 0, 1, 5).file_name(Some("a"), "parquet"),
        // The other writer's commits 2 and 4, and a merged file of its 7..=9.
        PartName::new(2, 0).file_name(Some("b"), "parquet"),
        PartName::new(4, 0).file_name(Some("b"), "parquet"),
        PartName::replacing(10, 0, 7, 9).file_name(Some("b"), "parquet"),
        PartName::new(8, 0).file_name(Some("b"), "parquet"),
    ];
    for (root, names) in [(&data, &local_files[..]), (&bucket, &bucket_files[..])] {
        std::fs::create_dir_all(root.join(partition)).unwrap();
        for name in names {
            std::fs::write(root.join(partition).join(name), b"x").unwrap();
        }
    }
    std::fs::create_dir_all(&bucket).unwrap();
    let local_fs: Arc<dyn ObjectStore> =
        Arc::new(datafusion::object_store::local::LocalFileSystem::new());
    let live = store::live_store::LiveStore::new(
        Arc::clone(&local_fs),
        ObjectPath::from_absolute_path(&data).unwrap(),
    )
    .with_remote(
        local_fs,
        ObjectPath::from_absolute_path(&bucket).unwrap(),
        Some("a".to_owned()),
    );
    let root = ObjectPath::from_absolute_path(data.join("events")).unwrap();
    let listed: BTreeSet<String> =
        futures::TryStreamExt::try_collect::<Vec<_>>(live.list(Some(&root)))
            .await
            .expect("list")
            .into_iter()
            .filter_map(|meta| meta.location.filename().map(str::to_owned))
            .collect();
    let expected: BTreeSet<String> = [
        &local_files[1],
        &bucket_files[0],
        &bucket_files[1],
        &bucket_files[2],
        &bucket_files[3],
    ]
    .into_iter()
    .cloned()
    .collect();
    assert_eq!(listed, expected);
}
