//! `kubetrail verify` through the binary: an imported data directory verifies, and each kind
//! of tampering (a flipped byte, a deleted file, a planted file, a cut or edited ledger) is
//! named with exit code 1; `--since` a recorded head and `--json`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{assert_verifies, generate_attacks, kubetrail, ok_stdout, walk};
use serde_json::Value;

fn imported(dir: &Path) -> PathBuf {
    let input = dir.join("audit.jsonl");
    generate_attacks(&input, 6000, 21);
    let data = dir.join("data");
    ok_stdout(&[
        "import",
        input.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    data
}

/// `kubetrail verify ARGS --data-dir DATA`: exit code and stdout.
fn verify(data: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["verify", "--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = kubetrail(&all);
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("UTF-8"),
    )
}

fn files_under(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk(dir, &mut |path| {
        if path.extension().is_some_and(|ext| ext == extension) {
            found.push(path.to_owned());
        }
    });
    found.sort();
    found
}

fn relative(data: &Path, path: &Path) -> String {
    path.strip_prefix(data)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn verify_passes_untouched_data_and_names_each_tampered_file_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let data = imported(dir.path());
    let head = assert_verifies(&data);

    let parquet = files_under(&data.join("events"), "parquet");
    assert!(!parquet.is_empty());
    // One byte flipped in a Parquet file.
    let flipped = &parquet[0];
    let mut bytes = fs::read(flipped).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x20;
    fs::write(flipped, &bytes).unwrap();
    let (code, stdout) = verify(&data, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("altered {}", relative(&data, flipped))),
        "{stdout}"
    );
    assert!(stdout.contains("FAILED, 1 problem:"), "{stdout}");
    bytes[at] ^= 0x20;
    fs::write(flipped, &bytes).unwrap();

    // A dead-letter file deleted, a Parquet file planted among the alerts.
    let alerts = files_under(&data.join("alerts"), "parquet");
    let deleted = &alerts[0];
    let kept = fs::read(deleted).unwrap();
    fs::remove_file(deleted).unwrap();
    let planted = data.join("alerts/date=1999-01-01/part-00000000000000000099-0000.parquet");
    fs::create_dir_all(planted.parent().unwrap()).unwrap();
    fs::write(&planted, b"PAR1").unwrap();
    let (code, stdout) = verify(&data, &["--json"]);
    assert_eq!(code, Some(1), "{stdout}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(report["ok"], false);
    let mut problems: Vec<(String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|problem| {
            (
                problem["problem"].as_str().unwrap().to_owned(),
                problem["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    problems.sort();
    assert_eq!(
        problems,
        [
            ("missing".to_owned(), relative(&data, deleted)),
            ("unexpected".to_owned(), relative(&data, &planted)),
        ]
    );
    fs::remove_dir_all(planted.parent().unwrap()).unwrap();
    fs::write(deleted, kept).unwrap();
    assert_eq!(assert_verifies(&data), head);

    // From the recorded head: nothing new to hash; a head that is not in the chain fails.
    let (code, stdout) = verify(&data, &["--since", &head]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains(", 0 hashed;"), "{stdout}");
    let (seq, hash) = head.split_once(':').unwrap();
    let forged = format!("{seq}:{}", hash.chars().rev().collect::<String>());
    let (code, stdout) = verify(&data, &["--since", &forged]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("is not in the chain"), "{stdout}");

    // The ledger cut short by its last line.
    let segment = files_under(&data.join("_ledger"), "jsonl").pop().unwrap();
    let ledger = fs::read_to_string(&segment).unwrap();
    let mut lines: Vec<&str> = ledger.lines().collect();
    lines.pop();
    fs::write(&segment, format!("{}\n", lines.join("\n"))).unwrap();
    let (code, stdout) = verify(&data, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("truncated chain: the ledger ends at seq"),
        "{stdout}"
    );
    fs::write(&segment, &ledger).unwrap();
    assert_eq!(assert_verifies(&data), head);
}

#[test]
fn verify_refuses_a_missing_data_directory_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = kubetrail(&[
        "verify",
        "--data-dir",
        dir.path().join("nothing").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no data directory"), "{stderr}");
    let out = kubetrail(&["verify", "--since", "12:nothex"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `kubetrail sql --format csv` single value.
fn sql(data: &Path, statement: &str) -> String {
    crate::common::sql_value(data, statement)
}

fn search_total(data: &Path, query: &str) -> String {
    let out = kubetrail(&[
        "search",
        query,
        "--data-dir",
        data.to_str().unwrap(),
        "--count",
        "--limit",
        "1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|line| line.strip_suffix(" hits"))
        .unwrap_or_else(|| panic!("no count in {stderr}"))
        .to_owned()
}

#[test]
fn retention_classes_and_a_legal_hold_leave_exactly_the_rows_they_should() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut inputs = Vec::new();
    for (seed, start) in [
        (5, "2026-01-01T00:00:00Z"),
        (6, "2026-01-10T00:00:00Z"),
        (7, "2026-01-20T00:00:00Z"),
    ] {
        let input = dir.path().join(format!("{seed}.jsonl"));
        ok_stdout(&[
            "generate",
            "--events",
            "3000",
            "--seed",
            &seed.to_string(),
            "--attacks",
            "--start",
            start,
            "--out",
            input.to_str().unwrap(),
        ]);
        inputs.push(input);
    }
    let mut args = vec!["import"];
    args.extend(inputs.iter().map(|input| input.to_str().unwrap()));
    args.extend(["--data-dir", data.to_str().unwrap()]);
    ok_stdout(&args);
    let config = dir.path().join("kubetrail.toml");
    crate::common::write(
        &config,
        &format!(
            "[store]\ndata_dir = {:?}\n\n[store.retention]\nevents_days = 5\nalerted_events_days = 15\nalerts_days = 30\ndead_letters_days = 5\n",
            data.to_str().unwrap()
        ),
    );
    // A hold on kube-system on 10 January, placed and listed through the CLI.
    let hold: Value = serde_json::from_str(&ok_stdout(&[
        "hold",
        "add",
        "--data-dir",
        data.to_str().unwrap(),
        "--from",
        "2026-01-10T00:00:00Z",
        "--to",
        "2026-01-11T00:00:00Z",
        "-n",
        "kube-system",
        "--reason",
        "case 17",
        "--by",
        "compliance@example.com",
    ]))
    .unwrap();
    assert_eq!(hold["id"], "hold-1");
    assert_eq!(hold["created_by"], "compliance@example.com");
    let listed = ok_stdout(&["hold", "list", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(listed.lines().count(), 1, "{listed}");

    // As of 21 January: raw events before the 16th go, alerted events before the 6th; the
    // 10th keeps kube-system (held) and the events its alerts name; the 20th stays whole.
    let keep_10th = sql(
        &data,
        "select count(*) from events where date = '2026-01-10' and (namespace = 'kube-system' or event_id in (select unnest(event_ids) from alerts))",
    );
    assert!(keep_10th.parse::<u64>().unwrap() > 20, "{keep_10th}");
    let dry = ok_stdout(&[
        "retention",
        "run",
        "--config",
        config.to_str().unwrap(),
        "--dry-run",
        "--as-of",
        "2026-01-21",
    ]);
    assert!(dry.contains("remove events/date=2026-01-01 "), "{dry}");
    assert!(
        dry.contains(
            "rewrite events/date=2026-01-10/hour=00 (raw events, 5 days; alerted events, 15 days): 1 files"
        ) && dry.contains(&format!("keeps {keep_10th} of 3000 rows")),
        "{dry}"
    );
    assert!(dry.contains("hold-1 keeps its rows"), "{dry}");
    assert!(
        dry.starts_with("remove") && dry.contains("would remove: 2 partitions"),
        "{dry}"
    );
    assert_eq!(
        sql(&data, "select count(*) from events"),
        "9000",
        "a dry run changes nothing"
    );

    let run = ok_stdout(&[
        "retention",
        "run",
        "--config",
        config.to_str().unwrap(),
        "--as-of",
        "2026-01-21",
    ]);
    assert!(
        run.contains("removed: 2 partitions") && run.contains("in retention commit"),
        "{run}"
    );
    let by_day = crate::common::sql_csv(
        &data,
        "select date, count(*) as n from events group by date order by date",
    );
    assert_eq!(
        by_day,
        format!("date,n\n2026-01-10,{keep_10th}\n2026-01-20,3000\n"),
    );
    // Alerts are kept 30 days: all of them stay.
    assert_eq!(sql(&data, "select count(distinct date) from alerts"), "3");
    // Search agrees with SQL: the index dropped the 1st and the removed events of the 10th.
    assert_eq!(
        search_total(&data, "*"),
        (keep_10th.parse::<u64>().unwrap() + 3000).to_string()
    );
    assert_eq!(
        search_total(
            &data,
            "namespace:kube-system AND time:[2026-01-10T00:00:00Z TO 2026-01-11T00:00:00Z]"
        ),
        sql(
            &data,
            "select count(*) from events where namespace = 'kube-system' and date = '2026-01-10'"
        )
    );
    // Deleted by policy, so the directory verifies.
    assert_verifies(&data);

    // Released, the held rows go at the next run; the release is kept with who and why.
    let released: Value = serde_json::from_str(&ok_stdout(&[
        "hold",
        "release",
        "hold-1",
        "--data-dir",
        data.to_str().unwrap(),
        "--reason",
        "case closed",
        "--by",
        "compliance@example.com",
    ]))
    .unwrap();
    assert_eq!(released["released"]["reason"], "case closed");
    assert_eq!(
        ok_stdout(&["hold", "list", "--data-dir", data.to_str().unwrap()]),
        ""
    );
    assert_eq!(
        ok_stdout(&[
            "hold",
            "list",
            "--all",
            "--data-dir",
            data.to_str().unwrap()
        ])
        .lines()
        .count(),
        1
    );
    ok_stdout(&[
        "retention",
        "run",
        "--config",
        config.to_str().unwrap(),
        "--as-of",
        "2026-01-21",
    ]);
    let alerted_10th = sql(
        &data,
        "select count(*) from events where date = '2026-01-10'",
    );
    assert_eq!(
        alerted_10th,
        sql(
            &data,
            "select count(distinct e) from (select unnest(event_ids) as e from alerts where date = '2026-01-10')"
        ),
        "only the alerted events of the 10th remain"
    );
    assert_verifies(&data);

    // Bad holds and configs are the caller's mistakes.
    let out = kubetrail(&[
        "hold",
        "add",
        "--data-dir",
        data.to_str().unwrap(),
        "--from",
        "2026-01-10T00:00:00Z",
        "--to",
        "2026-01-09T00:00:00Z",
        "--reason",
        "x",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kubetrail(&[
        "hold",
        "release",
        "hold-7",
        "--data-dir",
        data.to_str().unwrap(),
        "--reason",
        "x",
        "--by",
        "me",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn verify_names_an_altered_or_planted_search_file_and_a_day_index_that_lost_events() {
    let dir = tempfile::tempdir().unwrap();
    let data = imported(dir.path());
    assert_verifies(&data);
    let day = data.join("search/date=2026-01-01");
    let store_file = files_under(&day, "store").pop().expect("a doc store file");
    let kept = fs::read(&store_file).unwrap();
    let mut bytes = kept.clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&store_file, &bytes).unwrap();
    fs::write(day.join("planted.idx"), b"x").unwrap();
    let (code, stdout) = verify(&data, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "altered {}: its checksum does not match its contents",
            relative(&data, &store_file)
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("unexpected search/date=2026-01-01/planted.idx"),
        "{stdout}"
    );
    // `--no-search` checks the store alone.
    assert_eq!(verify(&data, &["--no-search"]).0, Some(0));
    fs::write(&store_file, &kept).unwrap();
    fs::remove_file(day.join("planted.idx")).unwrap();
    assert_verifies(&data);
    // The temporary file of an index write a kill -9 interrupted is not a problem, and the
    // next open removes it.
    let interrupted = day.join(".tmpQ2x9Zk");
    fs::write(&interrupted, b"{\"partial").unwrap();
    assert_verifies(&data);
    crate::common::ok_stdout(&["compact", "--data-dir", data.to_str().unwrap()]);
    assert!(!interrupted.exists());

    // The day's index gone: search would hide those events.
    let stored = crate::common::sql_value(&data, "select count(*) from events");
    fs::rename(&day, dir.path().join("hidden-day")).unwrap();
    let (code, stdout) = verify(&data, &["--json"]);
    assert_eq!(code, Some(1), "{stdout}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    let problem = &report["problems"][0];
    assert_eq!(problem["problem"], "search_mismatch");
    assert_eq!(
        problem["message"],
        format!(
            "search index of 2026-01-01 holds 0 events, its Parquet {stored} (an index changed or behind)"
        )
    );
}
