//! The live pipeline driven by its sources: the push log alone (a webhook-only deployment),
//! and files and pushes together. Pushed bodies are answered once in the write-ahead log,
//! alerts reach the outputs and the observer, and what was committed comes back after a
//! restart, read neither twice nor lost.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pipeline::{Live, LiveOptions, Stats};
use sinks::AlertOutputs;
use tokio_util::sync::CancellationToken;

use crate::common::{RULES, audit_line, event_list};

fn options(dir: &std::path::Path) -> LiveOptions {
    LiveOptions {
        store: store::Config::with_data_dir(dir),
        dedupe_capacity: 10_000,
        pipeline: pipeline::Config {
            commit_interval_ms: 200,
            ..pipeline::Config::default()
        },
        ..LiveOptions::default()
    }
}

fn engine() -> Arc<detect::Engine> {
    Arc::new(detect::Engine::new(
        detect::RuleSet::from_yaml(RULES, "test").unwrap(),
    ))
}

fn push_from(sender: &str) -> ingest::PushFrom<'_> {
    ingest::PushFrom {
        kind: event::Source::K8sAudit,
        cluster: "live",
        sender,
    }
}

fn stored(dir: &std::path::Path) -> u64 {
    let (stores, _) = pipeline::Stores::open(
        &store::Config::with_data_dir(dir),
        search::IndexOptions::default(),
    )
    .unwrap();
    stores
        .searcher()
        .search(&search::SearchRequest::new("*"))
        .unwrap()
        .total
}

/// Runs the pipeline over the push log of `dir` until `until` holds (or 10 s), then stops it.
fn run_push_log(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    outputs: AlertOutputs,
    observer: Option<pipeline::Observer>,
    until: impl Fn(&Stats) -> bool,
) -> Arc<Stats> {
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        let stats = Arc::new(Stats::default());
        let log = ingest::PushLog::open(dir, &ingest::WalConfig::default()).unwrap();
        let live = Live::open(options(dir), engine(), stats.clone(), &cancel)
            .await
            .unwrap();
        let source = log.source(live.positions());
        let running = tokio::spawn(live.run(
            vec![ingest::Source::Push(source)],
            outputs,
            observer,
            cancel.clone(),
        ));
        for _ in 0..200 {
            if until(&stats) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let a commit pass (a restart must not read again what this one holds).
        tokio::time::sleep(Duration::from_millis(400)).await;
        cancel.cancel();
        running.await.unwrap().unwrap();
        stats
    })
}

#[test]
fn the_push_log_alone_feeds_detection_and_both_stores_and_a_restart_reads_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let observed = Arc::new(Mutex::new(0usize));
    // Pushes are answered once in the log: before the pipeline even runs.
    runtime.block_on(async {
        let log = ingest::PushLog::open(dir.path(), &ingest::WalConfig::default()).unwrap();
        let sender = log.sender();
        for (first, duplicates) in [(0, 0), (4, 0), (4, 4), (8, 0)] {
            let pushed = sender
                .push(event_list(first, 4, "dave"), push_from("test"))
                .await
                .unwrap();
            assert_eq!((pushed.accepted, pushed.duplicates), (4, duplicates));
        }
        let refused = sender
            .push(b"{not json".to_vec(), push_from("test"))
            .await
            .unwrap();
        assert!(refused.rejected.is_some());
    });
    let outputs = AlertOutputs::default().with_callback(Box::new({
        let alerts = alerts.clone();
        move |alert| alerts.lock().unwrap().push(alert.rule_id.clone())
    }));
    let observer: pipeline::Observer = Box::new({
        let observed = observed.clone();
        move |events, _| *observed.lock().unwrap() += events.len()
    });
    let stats = run_push_log(&runtime, dir.path(), outputs, Some(observer), |stats| {
        stats.committed_events.get() >= 12
    });
    assert_eq!(stats.committed_events.get(), 12);
    assert_eq!(stats.dead_letters.get(), 1);
    assert_eq!(
        stats.duplicates.get(),
        0,
        "the log dropped the repeated list"
    );
    assert_eq!(stored(dir.path()), 12);
    assert_eq!(*observed.lock().unwrap(), 12);
    assert_eq!(
        alerts.lock().unwrap().as_slice(),
        ["test.many_gets", "test.many_gets"],
        "twelve gets by one user cross the threshold of five twice"
    );
    // A restart resumes after the committed log position: nothing is read twice, and a
    // retry of a batch stored before the restart is dropped by the log.
    runtime.block_on(async {
        let log = ingest::PushLog::open(dir.path(), &ingest::WalConfig::default()).unwrap();
        let pushed = log
            .sender()
            .push(event_list(0, 4, "dave"), push_from("test"))
            .await
            .unwrap();
        assert_eq!(pushed.duplicates, 4);
    });
    let stats = run_push_log(&runtime, dir.path(), AlertOutputs::default(), None, |_| {
        false
    });
    assert_eq!((stats.events.get(), stats.dead_letters.get()), (0, 0));
    assert_eq!(stored(dir.path()), 12);
}

#[test]
fn files_and_pushes_run_together_and_positions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mut file = std::fs::File::create(logs.join("audit.log")).unwrap();
    for index in 100..130 {
        writeln!(file, "{}", audit_line(index, "erin", "delete")).unwrap();
    }
    file.flush().unwrap();
    let ingest_config = ingest::Config {
        files: vec![ingest::FileGroup {
            paths: vec![logs.join("audit*.log").display().to_string()],
            cluster: "live".to_owned(),
        }],
        poll_interval_ms: 50,
        batch_max_wait_ms: 20,
        ..ingest::Config::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let run = |append: bool| {
        runtime.block_on(async {
            let cancel = CancellationToken::new();
            let stats = Arc::new(Stats::default());
            let live = Live::open(options(dir.path()), engine(), stats.clone(), &cancel)
                .await
                .unwrap();
            let tailer = ingest::FileTailer::new(&ingest_config, live.positions().clone()).unwrap();
            let log = ingest::PushLog::open(dir.path(), &ingest::WalConfig::default()).unwrap();
            let sender = log.sender();
            let source = log.source(live.positions());
            let running = tokio::spawn(live.run(
                vec![ingest::Source::Files(tailer), ingest::Source::Push(source)],
                AlertOutputs::default(),
                None,
                cancel.clone(),
            ));
            if append {
                let pushed = sender
                    .push(event_list(200, 5, "frank"), push_from("test"))
                    .await
                    .unwrap();
                assert_eq!(pushed.accepted, 5);
            }
            // Let the tailer read the file (all of it, or nothing new) and a commit pass.
            let expected = if append { 35 } else { 0 };
            for _ in 0..200 {
                if stats.committed_events.get() >= expected {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            cancel.cancel();
            running.await.unwrap().unwrap();
            (stats.events.get(), stats.alerts.get())
        })
    };
    let (events, alerts) = run(true);
    assert_eq!(
        (events, alerts),
        (35, 31),
        "30 deletes alert, 5 gets cross the threshold"
    );
    // A restart resumes the file where the commit left it: nothing is read twice.
    let (events, alerts) = run(false);
    assert_eq!((events, alerts), (0, 0));
    assert_eq!(stored(dir.path()), 35);
}
