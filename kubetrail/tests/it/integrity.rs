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
