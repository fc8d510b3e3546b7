//! Helpers shared by the end-to-end tests: run the binary, read SQL results, write files.

#![allow(dead_code)]

pub mod http;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_kubetrail");

/// Runs the binary to completion.
pub fn kubetrail(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("kubetrail runs")
}

/// Runs the binary, asserts success, returns stdout.
pub fn ok_stdout(args: &[&str]) -> String {
    let out = kubetrail(args);
    assert!(
        out.status.success(),
        "kubetrail {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// `kubetrail sql --format csv` of `statement` over `data`: a header line, then the rows.
pub fn sql_csv(data: &Path, statement: &str) -> String {
    ok_stdout(&[
        "sql",
        "--data-dir",
        data.to_str().unwrap(),
        "--format",
        "csv",
        statement,
    ])
}

/// The single value of a one-row, one-column query, as text.
pub fn sql_value(data: &Path, statement: &str) -> String {
    let out = sql_csv(data, statement);
    let mut lines = out.lines();
    lines.next().expect("csv header");
    lines.next().expect("one row").trim().to_owned()
}

/// `kubetrail verify` over `data` exits 0 with its summary line; returns the head it prints.
pub fn assert_verifies(data: &Path) -> String {
    let out = kubetrail(&["verify", "--data-dir", data.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("ok: "),
        "verify ({:?}): {stdout}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .trim_end()
        .rsplit_once("head ")
        .map(|(_, head)| head.to_owned())
        .expect("verify prints the head")
}

/// `(total, distinct event ids)` of the events stored in `data`.
pub fn stored_events(data: &Path) -> (u64, u64) {
    let total = sql_value(data, "select count(*) as n from events");
    let distinct = sql_value(data, "select count(distinct event_id) as n from events");
    (total.parse().unwrap(), distinct.parse().unwrap())
}

/// (auditID, scenario) pairs of a labels file.
pub fn labels(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .expect("labels file")
        .lines()
        .map(|line| {
            let label: serde_json::Value = serde_json::from_str(line).expect("label is JSON");
            (
                label["auditID"].as_str().unwrap().to_owned(),
                label["scenario"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The hex SHA-256 of `text`, from the system's `sha256sum` (independent of kubetrail's own).
pub fn sha256(text: &str) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write fixture");
}

/// Writes `bytes` gzip-compressed to `path`, with the system's gzip.
pub fn gzip(bytes: &[u8], path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(file)
        .spawn()
        .expect("gzip runs");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    assert!(child.wait().unwrap().success());
}

/// Calls `f` on every file under `dir`.
pub fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, f);
        } else {
            f(&path);
        }
    }
}

/// Starts `kubetrail serve --config CONFIG` with its log appended to `log`.
pub fn start_serve(config: &Path, log: &Path) -> Child {
    start_serve_with_env(config, log, &[])
}

/// [`start_serve`] with `env` added to its environment.
pub fn start_serve_with_env(config: &Path, log: &Path, env: &[(&str, &str)]) -> Child {
    let stderr = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("serve starts")
}

/// Stops `serve` with SIGTERM and asserts that it exited cleanly (its log in the message).
pub fn stop(serve: &mut Child, log: &Path) {
    let status = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = serve.wait().unwrap();
    let log = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        exit.success(),
        "serve did not stop cleanly: {exit:?}\n{log}"
    );
}

/// `kubetrail generate --events EVENTS --seed SEED --attacks --out PATH`.
pub fn generate_attacks(path: &Path, events: usize, seed: u64) {
    ok_stdout(&[
        "generate",
        "--events",
        &events.to_string(),
        "--seed",
        &seed.to_string(),
        "--attacks",
        "--out",
        path.to_str().unwrap(),
    ]);
}

/// Every `.parquet` file under `dir` (none when it does not exist), sorted.
pub fn parquet_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if dir.is_dir() {
        walk(dir, &mut |path| {
            if path.extension().is_some_and(|ext| ext == "parquet") {
                found.push(path.to_owned());
            }
        });
    }
    found.sort();
    found
}

/// The total of `kubetrail search '*' --count` over `data`.
pub fn search_count(data: &Path) -> u64 {
    search_count_with(kubetrail, data)
}

/// [`search_count`] with `run` running the binary (e.g. with credentials in its environment).
pub fn search_count_with(run: fn(&[&str]) -> Output, data: &Path) -> u64 {
    let out = run(&[
        "search",
        "*",
        "--count",
        "--limit",
        "1",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    stderr
        .lines()
        .find_map(|line| line.strip_suffix(" hits")?.parse().ok())
        .unwrap_or_else(|| panic!("a count in {stderr:?}"))
}

/// `tool` of the Python tools (`scripts/install-pytools`: DuckDB, moto), or the one on the
/// PATH when KUBETRAIL_PYTOOLS is not set.
pub fn pytools(tool: &str) -> std::path::PathBuf {
    match std::env::var_os("KUBETRAIL_PYTOOLS") {
        Some(bin) => std::path::PathBuf::from(bin).join(tool),
        None => std::path::PathBuf::from(tool),
    }
}
