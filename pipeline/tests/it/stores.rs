//! `Stores`: a commit makes rows, source positions and detection state durable together and
//! indexes the rows; reopening gives the state back and an index that agrees with SQL, even
//! one deleted or left behind; data directories of earlier versions resume too.

use std::collections::BTreeMap;
use std::sync::Arc;

use ingest::{Checkpoint, FilePosition, SourcePosition};
use pipeline::{Commit, Resume, Stats, Stores};

use crate::common::{events, step};

fn position(offset: u64) -> Checkpoint {
    Checkpoint {
        positions: BTreeMap::from([(
            "fingerprint-1".to_owned(),
            SourcePosition::File(FilePosition {
                path: "/var/log/audit.log".to_owned(),
                dev: 1,
                inode: 2,
                fingerprint: "fingerprint-1".to_owned(),
                offset,
                compressed: false,
            }),
        )]),
    }
}

fn open(dir: &std::path::Path) -> (Stores, Resume) {
    Stores::open(
        &store::Config::with_data_dir(dir),
        search::IndexOptions::default(),
    )
    .expect("open the stores")
}

fn search_total(stores: &Stores, query: &str) -> u64 {
    stores
        .searcher()
        .search(&search::SearchRequest::new(query))
        .expect("search")
        .total
}

#[test]
fn a_commit_keeps_rows_positions_and_state_together_and_the_index_follows() {
    let dir = tempfile::tempdir().unwrap();
    let (mut stores, resume) = open(dir.path());
    assert_eq!(resume, Resume::default());
    let mut detect = step(Arc::new(Stats::default()));
    let mut batch = ingest::Batch {
        events: events(0, 7, "alice"),
        ..ingest::Batch::default()
    };
    let alerts = detect.process(&mut batch);
    assert_eq!(alerts.len(), 1, "five gets by alice alert once");
    let mut commit = Commit::after(position(0));
    commit.add(
        ingest::Batch {
            origin: ingest::Origin::Files(position(700)),
            ..batch
        },
        alerts,
    );
    commit.detection = Some(detect.snapshot());
    let info = stores.commit(&commit).unwrap();
    assert_eq!((info.seq, info.events, info.alerts), (1, 7, 1));
    assert_eq!(search_total(&stores, "user:alice"), 7);
    drop(stores);

    let (stores, resume) = open(dir.path());
    assert_eq!(resume.positions, position(700));
    let snapshot = resume.detection.expect("the detection state was committed");
    // The state came back: alice's window holds her two gets after the alert, so three more
    // cross the threshold again; without the state they would not.
    let more = || ingest::Batch {
        events: events(7, 3, "alice"),
        ..ingest::Batch::default()
    };
    assert_eq!(step_with(&snapshot).process(&mut more()).len(), 1);
    assert!(
        step(Arc::new(Stats::default()))
            .process(&mut more())
            .is_empty()
    );
    assert_eq!(search_total(&stores, "*"), 7);
}

fn step_with(snapshot: &detect::Snapshot) -> pipeline::DetectStep {
    let mut step = step(Arc::new(Stats::default()));
    step.restore(snapshot).unwrap();
    step
}

#[test]
fn a_lost_index_is_rebuilt_from_parquet_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut stores, _) = open(dir.path());
        for first in [0, 10, 20] {
            let mut commit = Commit::after(position(first as u64));
            commit.add(
                ingest::Batch {
                    events: events(first, 10, "bob"),
                    origin: ingest::Origin::Files(position(first as u64 + 10)),
                    ..ingest::Batch::default()
                },
                Vec::new(),
            );
            stores.commit(&commit).unwrap();
        }
    }
    std::fs::remove_dir_all(pipeline::search_dir(dir.path())).unwrap();
    let (stores, resume) = open(dir.path());
    assert_eq!(search_total(&stores, "user:bob"), 30);
    assert_eq!(resume.positions, position(30));
    assert_eq!(resume.detection, None);
}

#[test]
fn a_batch_of_the_push_log_moves_its_position_in_the_commit_and_tells_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut stores, _) = open(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let log = ingest::PushLog::open(dir.path(), &ingest::WalConfig::default()).unwrap();
    let (batches_tx, mut batches_rx) = tokio::sync::mpsc::channel(4);
    let cancel = tokio_util::sync::CancellationToken::new();
    runtime.block_on(async {
        let source = log.source(&Checkpoint::default());
        let forward = tokio::spawn(ingest::Source::Push(source).run(batches_tx, cancel.clone()));
        let body = crate::common::event_list(0, 3, "carol");
        let from = ingest::PushFrom {
            kind: event::Source::K8sAudit,
            cluster: "pushed",
            sender: "test",
        };
        let pushed = log.sender().push(body, from).await.unwrap();
        assert_eq!((pushed.accepted, pushed.rejected.clone()), (3, None));
        assert!(log.metrics().pending_bytes > 0);
        let batch = batches_rx.recv().await.unwrap();
        let mut commit = Commit::after(position(5));
        commit.add(batch, Vec::new());
        assert!(commit.moved, "a batch of the log moves its position");
        stores.commit(&commit).unwrap();
        commit.answer_receipts();
        assert_eq!(
            log.metrics().pending_bytes,
            0,
            "the log knows it is committed"
        );
        cancel.cancel();
        forward.await.unwrap().unwrap();
    });
    assert_eq!(search_total(&stores, "cluster:pushed"), 3);
    drop(stores);
    let (_, resume) = open(dir.path());
    let wal = resume
        .positions
        .wal_position()
        .expect("the log position is committed");
    assert_eq!(wal.offset, log.metrics().retained_bytes);
    assert_eq!(
        resume.positions.file_positions().next().unwrap().offset,
        5,
        "file positions stay"
    );
}

/// What earlier versions stored as the commit state (the checkpoint with the detection state
/// under it) is this version's `Resume`.
#[test]
fn the_resume_state_of_earlier_versions_reads_back() {
    let stored = serde_json::json!({
        "positions": {
            "abc": {"kind": "file", "path": "/var/log/audit.log", "dev": 1, "inode": 2,
                    "fingerprint": "abc", "offset": 4096, "compressed": false}
        },
        "detection": {"watermark": 0, "rules": {}}
    });
    let resume: Resume = serde_json::from_value(stored.clone()).unwrap();
    assert_eq!(
        resume.positions.file_positions().next().unwrap().offset,
        4096
    );
    assert!(resume.detection.is_some());
    assert_eq!(serde_json::to_value(&resume).unwrap(), stored);
}

/// Commits a day of alice's gets (an alert names the events of its window) and a day of bob's
/// into `dir`; returns how many events the alert names.
fn two_days(dir: &std::path::Path) -> usize {
    let (mut stores, _) = open(dir);
    let mut detect = step(Arc::new(Stats::default()));
    let mut named = 0;
    for (first, user) in [(0, "alice"), (86_400, "bob")] {
        let mut batch = ingest::Batch {
            events: events(first, if user == "alice" { 7 } else { 3 }, user),
            ..ingest::Batch::default()
        };
        let alerts = detect.process(&mut batch);
        named += alerts
            .iter()
            .map(|alert| alert.event_ids.len())
            .sum::<usize>();
        let mut commit = Commit::after(position(0));
        commit.add(batch, alerts);
        stores.commit(&commit).unwrap();
    }
    assert!(named > 0 && named < 7, "{named}");
    named
}

/// Raw events a day, alerted events and alerts five, as of 3 January: the 1st keeps only its
/// alerted events, the 2nd stays whole.
fn policy() -> store::retention::Policy {
    store::retention::Policy {
        events: Some(1),
        alerted_events: Some(5),
        alerts: Some(5),
        dead_letters: Some(1),
    }
}

fn jan(day: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 1, day).unwrap()
}

#[test]
fn retention_removes_the_same_events_from_the_index_even_after_a_crash_between_them() {
    // Both stores together.
    let dir = tempfile::tempdir().unwrap();
    let named = two_days(dir.path());
    let (mut stores, _) = open(dir.path());
    let plan = stores.apply_retention(&policy(), jan(3)).unwrap();
    assert_eq!(plan.removed_event_ids[&jan(1)].len(), 7 - named);
    assert_eq!(search_total(&stores, "user:alice"), named as u64);
    assert_eq!(search_total(&stores, "user:bob"), 3);
    drop(stores);
    let (stores, _) = open(dir.path());
    assert_eq!(search_total(&stores, "user:alice"), named as u64);
    drop(stores);

    // Killed after the store's retention commit, before the index's: on open the index
    // rebuilds the 1st from what its Parquet kept.
    let crashed = tempfile::tempdir().unwrap();
    two_days(crashed.path());
    let mut columnar =
        store::ColumnarStore::open(&store::Config::with_data_dir(crashed.path())).unwrap();
    let plan = columnar.apply_retention(&policy(), &[], jan(3)).unwrap();
    assert!(plan.seq.is_some());
    drop(columnar);
    let (stores, _) = open(crashed.path());
    assert_eq!(search_total(&stores, "user:alice"), named as u64);
    assert_eq!(search_total(&stores, "user:bob"), 3);
    assert_eq!(search_total(&stores, "*"), named as u64 + 3);
    drop(stores);

    // A day retention empties leaves the index whole.
    let (mut stores, _) = open(crashed.path());
    let all_one_day = store::retention::Policy {
        alerted_events: Some(1),
        alerts: Some(1),
        ..policy()
    };
    let plan = stores.apply_retention(&all_one_day, jan(3)).unwrap();
    assert!(plan.emptied_days.contains(&jan(1)));
    assert_eq!(search_total(&stores, "user:alice"), 0);
    assert_eq!(search_total(&stores, "*"), 3);
}
