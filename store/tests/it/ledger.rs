//! The ledger and `verify`: every commit chained with its files' SHA-256, retention as chained
//! commits, crash recovery of the chain, and each kind of tampering named.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{
    DAY, HOUR, JAN_1_2026, alert, dead_letter, open_store, state, synthetic_events,
};
use serde_json::json;
use store::ledger::{CommitKind, GENESIS, Head, LedgerEntry};
use store::{ColumnarStore, Config, Problem, VerifyOptions, VerifyReport};

fn config(dir: &Path) -> Config {
    Config::with_data_dir(dir)
}

fn verify(dir: &Path) -> VerifyReport {
    store::verify(dir, &VerifyOptions::default()).expect("verify runs")
}

fn verify_since(dir: &Path, head: &Head) -> VerifyReport {
    let options = VerifyOptions {
        since: Some(head.clone()),
        threads: 2,
    };
    store::verify(dir, &options).expect("verify runs")
}

fn problems(report: &VerifyReport) -> Vec<String> {
    report.problems.iter().map(ToString::to_string).collect()
}

/// The ledger's lines, oldest first, with their segment.
fn ledger_lines(dir: &Path) -> Vec<(PathBuf, String)> {
    store::ledger::segments(dir)
        .expect("segments")
        .into_iter()
        .flat_map(|(_, path)| {
            let text = fs::read_to_string(&path).expect("segment");
            text.lines()
                .map(|line| (path.clone(), line.to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn entries(dir: &Path) -> Vec<LedgerEntry> {
    ledger_lines(dir)
        .iter()
        .map(|(_, line)| serde_json::from_str(line).expect("a ledger line parses"))
        .collect()
}

/// Writes `lines` back as the one segment they came from.
fn rewrite_segment(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).expect("rewrite segment");
}

/// A data directory with `commits` commits of events over three days, alerts and dead
/// letters (more commits than the records kept, so the ledger is all that remembers the first).
fn populated(dir: &Path, commits: usize) -> ColumnarStore {
    let (mut store, _) = open_store(&config(dir), "open");
    for n in 0..commits {
        let events = synthetic_events(40, n as u64, JAN_1_2026 + (n as i64 % 3) * DAY, HOUR);
        let alerts = [alert(&format!("a{n}"), "2026-01-01T05:00:00Z", &[])];
        let dead = [dead_letter("2026-01-02T00:00:01Z", n as u64)];
        store
            .commit(&events, &alerts, &dead, Some(&state(json!(n))))
            .expect("commit");
    }
    store
}

fn parquet_of_seq(dir: &Path, seq: u64) -> PathBuf {
    let wanted = format!("part-{seq:020}-0000.parquet");
    let mut found = Vec::new();
    crate::common::walk(&dir.join("events"), &mut |path| {
        if path.file_name().is_some_and(|name| name == wanted.as_str()) {
            found.push(path.to_owned());
        }
    });
    found.pop().expect("the commit wrote an events file")
}

fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .expect("under the data directory")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_commit_is_chained_and_an_untouched_directory_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = populated(dir.path(), 20);
    let report = verify(dir.path());
    assert_eq!(problems(&report), Vec::<String>::new());
    assert_eq!(report.entries, 20);
    // Each commit wrote at least an events, an alerts and a dead-letter file.
    assert!(report.files >= 60, "{report:?}");
    assert_eq!(report.hashed_files, report.files);
    let head = report.head.clone().expect("a head");
    assert_eq!(head.seq, 20);

    let entries = entries(dir.path());
    assert_eq!(entries.len(), 20);
    assert_eq!(entries[0].prev, GENESIS);
    let lines = ledger_lines(dir.path());
    for (index, entry) in entries.iter().enumerate().skip(1) {
        assert_eq!(entry.seq, index as u64 + 1);
        assert_eq!(
            entry.prev,
            store::ledger::sha256_hex(lines[index - 1].1.as_bytes())
        );
        assert!(entry.kind == CommitKind::Commit && !entry.added.is_empty());
    }
    // Each file's hash is the hash of its bytes.
    let file = &entries[3].added[0];
    let bytes = fs::read(dir.path().join(&file.path)).expect("file");
    assert_eq!(file.sha256, store::ledger::sha256_hex(&bytes));
    assert_eq!(file.bytes, bytes.len() as u64);

    // From the recorded head, nothing needs hashing again.
    let again = verify_since(dir.path(), &head);
    assert!(again.is_ok(), "{:?}", problems(&again));
    assert_eq!((again.hashed_files, again.files), (0, report.files));
    drop(store);
    // Reopening appends nothing: the ledger already holds every retained record.
    drop(open_store(&config(dir.path()), "reopen"));
    assert_eq!(entries_len(dir.path()), 20);
}

fn entries_len(dir: &Path) -> usize {
    ledger_lines(dir).len()
}

#[test]
fn verify_names_each_altered_missing_resized_and_unexpected_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(populated(dir.path(), 12));
    let head = verify(dir.path()).head.expect("head");

    // One byte flipped in the middle of a Parquet file of the first commit (pruned from
    // `_commits`, remembered only by the ledger).
    let flipped = parquet_of_seq(dir.path(), 1);
    let mut bytes = fs::read(&flipped).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&flipped, &bytes).expect("write");
    // A file deleted, a file cut short, a file added.
    let deleted = parquet_of_seq(dir.path(), 5);
    fs::remove_file(&deleted).expect("delete");
    let cut = parquet_of_seq(dir.path(), 7);
    let length = fs::metadata(&cut).expect("stat").len();
    fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .expect("open")
        .set_len(length - 10)
        .expect("truncate");
    let added = dir
        .path()
        .join("events/date=2026-01-01/hour=00/part-99999999999999999999-0000.parquet");
    fs::write(&added, b"PAR1 planted").expect("plant");

    let report = verify(dir.path());
    let mut kinds: Vec<(&str, String)> = report
        .problems
        .iter()
        .map(|problem| (problem.kind(), problem.path().expect("a file").to_owned()))
        .collect();
    kinds.sort();
    let mut expected = vec![
        ("altered", relative(dir.path(), &flipped)),
        ("altered", relative(dir.path(), &cut)),
        ("missing", relative(dir.path(), &deleted)),
        ("unexpected", relative(dir.path(), &added)),
    ];
    expected.sort();
    assert_eq!(kinds, expected, "{:?}", problems(&report));
    let text = problems(&report).join("\n");
    assert!(text.contains("committed in seq 1): sha256 "), "{text}");
    assert!(text.contains("committed in seq 5"), "{text}");

    // From the recorded head, contents are not hashed again, but presence and size are
    // checked: the flipped byte goes unseen (only a full run sees it), the rest is named.
    let quick = verify_since(dir.path(), &head);
    let mut kinds: Vec<&str> = quick.problems.iter().map(Problem::kind).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["altered", "missing", "unexpected"],
        "{:?}",
        problems(&quick)
    );
    assert_eq!(quick.hashed_files, 0);
}

#[test]
fn a_changed_line_a_cut_ledger_and_a_lost_beginning_break_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(populated(dir.path(), 12));
    let head = verify(dir.path()).head.expect("head");
    let pristine = ledger_lines(dir.path());
    let segment = pristine[0].0.clone();
    let lines: Vec<String> = pristine.iter().map(|(_, line)| line.clone()).collect();

    // A file's recorded hash rewritten in line 4 (to cover up an altered file): line 5 no
    // longer follows, and the file no longer matches what the line now says.
    let mut edited = lines.clone();
    let mut entry: LedgerEntry = serde_json::from_str(&edited[3]).expect("parse");
    entry.added[0].sha256 = "ab".repeat(32);
    edited[3] = entry.line();
    rewrite_segment(&segment, &edited);
    let report = verify(dir.path());
    let text = problems(&report).join("\n");
    assert!(
        text.contains("broken chain in _ledger/00000000000000000001.jsonl at seq 5"),
        "{text}"
    );
    assert!(
        text.contains(&format!("altered {}", entry.added[0].path)),
        "{text}"
    );
    // The recorded head no longer matches either? It does: the head's own line is intact, but
    // history before it was rewritten, which the broken chain says.
    assert!(!report.is_ok());

    // The last three lines cut off: the retained commit records still name those commits, and
    // their files are no longer explained.
    rewrite_segment(&segment, &lines[..9]);
    let report = verify(dir.path());
    let text = problems(&report).join("\n");
    assert!(
        text.contains("truncated chain: the ledger ends at seq 9 but commit 12 exists"),
        "{text}"
    );
    assert!(text.contains("unexpected "), "{text}");
    // And the recorded head is gone from the chain.
    let report = verify_since(dir.path(), &head);
    assert!(
        problems(&report)
            .iter()
            .any(|problem| problem.starts_with("recorded head 12:")),
        "{:?}",
        problems(&report)
    );

    // The first line gone: the chain no longer starts at genesis.
    rewrite_segment(&segment, &lines[1..]);
    let text = problems(&verify(dir.path())).join("\n");
    assert!(
        text.contains("the first line does not start the chain"),
        "{text}"
    );
    assert!(text.contains("the segment is named for seq 1"), "{text}");

    // Restored, it verifies again.
    rewrite_segment(&segment, &lines);
    assert!(verify(dir.path()).is_ok());
}

#[test]
fn retention_is_a_chained_commit_and_a_deletion_by_hand_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = populated(dir.path(), 6);
    // Everything kept one day, as of 3 January: the 1st goes.
    let policy = store::retention::Policy {
        events: Some(1),
        alerted_events: Some(1),
        alerts: Some(1),
        dead_letters: Some(1),
    };
    let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 3).expect("date");
    let plan = store
        .apply_retention(&policy, &[], today)
        .expect("retention");
    // The events and alerts of 1 January (whole, nothing stays); the dead letters are all of
    // the 2nd.
    assert_eq!(plan.actions.len(), 2, "{:?}", plan.actions);
    assert!(
        plan.actions
            .iter()
            .all(|action| action.bytes > 0 && action.partition.starts_with("date=2026-01-01"))
    );
    for table in ["events", "alerts", "dead_letters"] {
        assert!(!dir.path().join(table).join("date=2026-01-01").exists());
    }
    let report = verify(dir.path());
    assert!(report.is_ok(), "{:?}", problems(&report));
    let last = entries(dir.path()).pop().expect("a line");
    assert_eq!(last.kind, CommitKind::Retention);
    assert_eq!(last.seq, 7);
    assert!(
        last.reason
            .as_deref()
            .is_some_and(|reason| reason.contains("as of 2026-01-03"))
    );
    assert!(
        last.removed
            .iter()
            .all(|path| path.contains("date=2026-01-01/"))
    );
    assert!(!last.removed.is_empty());
    // Nothing left to do: no new line.
    assert!(
        store
            .apply_retention(&policy, &[], today)
            .expect("again")
            .is_empty()
    );
    assert_eq!(entries_len(dir.path()), 7);
    // Commits go on after it; the state is carried through the retention commit.
    store
        .commit(
            &synthetic_events(5, 99, JAN_1_2026 + 2 * DAY, HOUR),
            &[],
            &[],
            None,
        )
        .expect("commit");
    drop(store);
    let (_, resumed) = open_store(&config(dir.path()), "reopen");
    assert_eq!(resumed, Some(json!(5)));

    // A day deleted by hand is no policy's doing.
    let by_hand = dir.path().join("dead_letters/date=2026-01-02");
    fs::remove_dir_all(&by_hand).expect("remove");
    let report = verify(dir.path());
    assert!(!report.problems.is_empty());
    assert!(
        report
            .problems
            .iter()
            .all(|problem| problem.kind() == "missing"
                && problem
                    .path()
                    .is_some_and(|path| path.starts_with("dead_letters/date=2026-01-02/"))),
        "{:?}",
        problems(&report)
    );
}

#[test]
fn a_crash_before_the_ledger_append_is_finished_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = populated(dir.path(), 3);
    let plan = store
        .prepare(
            &synthetic_events(10, 7, JAN_1_2026, HOUR),
            &[],
            &[],
            Some(&state(json!(3))),
        )
        .expect("prepare");
    store.publish(&plan).expect("publish");
    // Killed here: the record is durable, the files still under temporary names, the ledger
    // one line short.
    drop(plan);
    drop(store);
    assert_eq!(entries_len(dir.path()), 3);
    let report = verify(dir.path());
    assert!(
        problems(&report)
            .iter()
            .any(|problem| problem.contains("the ledger ends at seq 3 but commit 4 exists")),
        "{:?}",
        problems(&report)
    );
    drop(open_store(&config(dir.path()), "reopen"));
    assert_eq!(entries_len(dir.path()), 4);
    let report = verify(dir.path());
    assert!(report.is_ok(), "{:?}", problems(&report));
}

#[test]
fn a_torn_last_line_is_cut_off_and_written_again_from_its_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(populated(dir.path(), 3));
    let lines = ledger_lines(dir.path());
    let segment = lines[0].0.clone();
    // A crash half-way through appending line 3.
    let mut text: String = lines[..2]
        .iter()
        .map(|(_, line)| format!("{line}\n"))
        .collect();
    text.push_str(&lines[2].1[..lines[2].1.len() / 2]);
    fs::write(&segment, &text).expect("tear");
    let torn = verify(dir.path());
    assert!(
        problems(&torn)
            .iter()
            .any(|problem| problem.contains("ends in a partial line")),
        "{:?}",
        problems(&torn)
    );
    drop(open_store(&config(dir.path()), "reopen"));
    assert_eq!(
        ledger_lines(dir.path())
            .into_iter()
            .map(|(_, line)| line)
            .collect::<Vec<_>>(),
        lines.into_iter().map(|(_, line)| line).collect::<Vec<_>>()
    );
    assert!(verify(dir.path()).is_ok());
}

#[test]
fn a_data_directory_written_before_the_ledger_is_adopted_as_it_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(populated(dir.path(), 2));
    // Make it look like an older kubetrail wrote it: format-2 records, no ledger.
    for seq in 1..=2u64 {
        let path = dir.path().join(format!("_commits/{seq:020}.json"));
        let mut record: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).expect("record")).expect("JSON");
        let object = record.as_object_mut().expect("object");
        for field in ["kind", "prev"] {
            object.remove(field);
        }
        object.insert("format".to_owned(), json!(2));
        for file in object["files"].as_array_mut().expect("files") {
            file.as_object_mut().expect("file").remove("sha256");
        }
        fs::write(&path, record.to_string()).expect("rewrite");
    }
    fs::remove_dir_all(dir.path().join("_ledger")).expect("no ledger");
    let (store, resumed) = open_store(&config(dir.path()), "reopen");
    assert_eq!(resumed, Some(json!(1)));
    let entries = entries(dir.path());
    assert_eq!(entries.len(), 1);
    let adopted = &entries[0];
    assert_eq!((adopted.kind, adopted.seq), (CommitKind::Adopt, 3));
    assert_eq!(adopted.prev, GENESIS);
    let report = verify(dir.path());
    assert!(report.is_ok(), "{:?}", problems(&report));
    assert_eq!(report.files, adopted.added.len() as u64);
    assert!(report.files >= 6);
    assert_eq!(store.stats().last_seq, 3);
}
