//! Compaction through the binary: `kubetrail compact` (and `--dry-run`) merges the small files
//! of many commits with SQL, search and `verify` agreeing; killed at random instants it loses
//! and duplicates nothing, even for a reader that never recovers the directory; `serve`
//! compacts in the background while it ingests.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{
    BIN, assert_verifies, generate_attacks, ok_stdout, parquet_files, search_count, start_serve,
    stop, stored_events, write,
};

/// Hour partitions of the events table.
fn hours(data: &Path) -> usize {
    let mut hours = std::collections::BTreeSet::new();
    for path in parquet_files(&data.join("events")) {
        hours.insert(path.parent().unwrap().to_owned());
    }
    hours.len()
}

/// `events` generated events imported in commits of `commit_events`: many small files.
fn imported(dir: &Path, events: usize, commit_events: usize) -> PathBuf {
    let input = dir.join("audit.jsonl");
    generate_attacks(&input, events, 31);
    let data = dir.join("data");
    ok_stdout(&[
        "import",
        input.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--commit-events",
        &commit_events.to_string(),
    ]);
    data
}

#[test]
fn compact_merges_many_small_commits_and_sql_search_and_verify_agree() {
    let dir = tempfile::tempdir().unwrap();
    const EVENTS: usize = 12_000;
    let data = imported(dir.path(), EVENTS, 400);
    let data_arg = data.to_str().unwrap();
    let before = parquet_files(&data.join("events")).len();
    let hours = hours(&data);
    assert!(
        before >= 30 && hours < before / 4,
        "{before} files in {hours} hours"
    );
    let alerts = crate::common::sql_value(&data, "select count(*) from alerts");
    assert_eq!(search_count(&data), EVENTS as u64);

    let dry = ok_stdout(&["compact", "--dry-run", "--data-dir", data_arg]);
    assert!(dry.contains("merge events/date=2026-01-01/hour="), "{dry}");
    assert!(dry.contains("would merge"), "{dry}");
    assert_eq!(parquet_files(&data.join("events")).len(), before);

    let out = ok_stdout(&["compact", "--data-dir", data_arg]);
    assert!(out.starts_with("merged "), "{out}");
    assert_eq!(parquet_files(&data.join("events")).len(), hours);
    assert_eq!(stored_events(&data), (EVENTS as u64, EVENTS as u64));
    assert_eq!(
        crate::common::sql_value(&data, "select count(*) from alerts"),
        alerts
    );
    assert_eq!(search_count(&data), EVENTS as u64);
    assert_verifies(&data);
    // Nothing more to merge; a time-filtered query still prunes to its partition.
    assert_eq!(
        ok_stdout(&["compact", "--data-dir", data_arg]).trim(),
        "nothing to merge"
    );
    let first_hour = crate::common::sql_value(
        &data,
        "select count(*) from events where time < '2026-01-01T01:00:00Z'",
    );
    assert!(first_hour.parse::<u64>().unwrap() > 0);
}

#[test]
fn compact_killed_at_random_instants_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    const EVENTS: usize = 20_000;
    let data = imported(dir.path(), EVENTS, 150);
    let data_arg = data.to_str().unwrap().to_owned();
    let expected = (EVENTS as u64, EVENTS as u64);
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut killed = 0;
    for round in 0..8 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Larger targets each other round: merged files are merged again, so there is work.
        let target = (1u64 << (round / 2)).to_string();
        let mut child = std::process::Command::new(BIN)
            .args([
                "compact",
                "--target-file-mb",
                &target,
                "--data-dir",
                &data_arg,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(30 + rng % 600));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        // Read as left by the kill, before anything recovers it: every row exactly once.
        assert_eq!(stored_events(&data), expected, "after round {round}");
    }
    assert!(killed >= 2, "only {killed} runs were killed mid-way");
    ok_stdout(&["compact", "--target-file-mb", "16", "--data-dir", &data_arg]);
    assert_eq!(stored_events(&data), expected);
    assert_eq!(search_count(&data), EVENTS as u64);
    assert_verifies(&data);
}

#[test]
fn serve_compacts_in_the_background_while_it_ingests() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    const EVENTS: usize = 6_000;
    generate_attacks(&logs.join("audit.log"), EVENTS, 41);
    let data = dir.path().join("data");
    let config = dir.path().join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[ingest]
poll_interval_ms = 100
batch_max_events = 200
batch_max_wait_ms = 20
[[ingest.files]]
paths = ["{logs}/audit*"]
cluster = "compaction"
[store]
data_dir = "{data}"
[store.compaction]
interval_seconds = 1
grace_seconds = 1
[api]
listen = "127.0.0.1:0"
[pipeline]
commit_interval_ms = 50
commit_max_events = 200
"#,
            logs = logs.display(),
            data = data.display()
        ),
    );
    let log = dir.path().join("serve.log");
    let mut serve = start_serve(&config, &log);
    // Every event stored, and each hour's many small commits merged into one file.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut merged = false;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        if !data.join("events").is_dir() {
            continue;
        }
        let stored = crate::common::sql_value(&data, "select count(*) from events");
        let files = parquet_files(&data.join("events")).len();
        if stored == EVENTS.to_string() && files == hours(&data) {
            merged = true;
            break;
        }
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(merged, "not merged in time\n{text}");
    assert!(text.contains("compaction: small files merged"), "{text}");
    // The retired small files go once the grace period is over.
    let retired = data.join("_retired");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !parquet_files(&retired).is_empty() {
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(parquet_files(&retired).is_empty());
    stop(&mut serve, &log);
    assert_eq!(stored_events(&data), (EVENTS as u64, EVENTS as u64));
    assert_eq!(search_count(&data), EVENTS as u64);
    assert_verifies(&data);
}
