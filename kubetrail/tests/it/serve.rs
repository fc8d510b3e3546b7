//! `kubetrail serve` against a live audit log that is rotated the way the API server rotates it
//! (rename to `audit-<time>.log`, gzip later) and by copytruncate, while the process is killed
//! with SIGKILL several times: every event must end up stored exactly once.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{ok_stdout, sql_value, start_serve, stop, write};

/// Appends lines to the live file, rotating it along the way.
struct Writer {
    dir: PathBuf,
    live: File,
    rotations: usize,
}

impl Writer {
    fn new(dir: &Path) -> Writer {
        Writer {
            dir: dir.to_owned(),
            live: open_append(&dir.join("audit.log")),
            rotations: 0,
        }
    }

    fn append(&mut self, lines: &[&[u8]]) {
        for line in lines {
            self.live.write_all(line).unwrap();
            self.live.write_all(b"\n").unwrap();
        }
        self.live.flush().unwrap();
    }

    /// lumberjack: rename the live file to `audit-<UTC time>.log`, create a new one.
    fn rotate_by_rename(&mut self) -> PathBuf {
        self.rotations += 1;
        let rotated = self.dir.join(format!(
            "audit-2026-03-01T10-00-{:02}.000.log",
            self.rotations
        ));
        std::fs::rename(self.dir.join("audit.log"), &rotated).unwrap();
        self.live = open_append(&self.dir.join("audit.log"));
        rotated
    }

    /// logrotate's copytruncate: copy the live file aside, then truncate it in place.
    fn copy_truncate(&mut self) {
        std::fs::copy(self.dir.join("audit.log"), self.dir.join("audit.log.1")).unwrap();
        self.live.set_len(0).unwrap();
    }
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// lumberjack's --audit-log-compress: write `<file>.gz` in place, then remove the plain file.
fn gzip_in_place(path: &Path) {
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -c '{}' > '{}'", path.display(), gz.display()))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(path).unwrap();
}

#[test]
fn rotation_and_kill_9_store_every_event_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let data = dir.path().join("data");
    let source = dir.path().join("source.jsonl");
    const TOTAL: usize = 24_000;
    ok_stdout(&[
        "generate",
        "--events",
        &TOTAL.to_string(),
        "--seed",
        "21",
        "--attacks",
        "--out",
        source.to_str().unwrap(),
    ]);
    let text = std::fs::read(&source).unwrap();
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), TOTAL);

    let config = dir.path().join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[ingest]
poll_interval_ms = 100
batch_max_events = 500
batch_max_wait_ms = 50
[[ingest.files]]
paths = ["{logs}/audit*"]
cluster = "crash-test"
[store]
data_dir = "{data}"
[api]
listen = "127.0.0.1:0"
[pipeline]
commit_interval_ms = 200
commit_max_events = 3000
"#,
            logs = logs.display(),
            data = data.display()
        ),
    );
    let serve_log = dir.path().join("serve.log");
    let mut serve = start_serve(&config, &serve_log);
    let mut writer = Writer::new(&logs);
    let mut rotated = Vec::new();
    let chunks: Vec<&[&[u8]]> = lines.chunks(400).collect();
    let mut kills = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        writer.append(chunk);
        std::thread::sleep(Duration::from_millis(40));
        match i % 12 {
            3 => rotated.push(writer.rotate_by_rename()),
            6 => {
                if let Some(path) = rotated.pop() {
                    gzip_in_place(&path);
                }
            }
            8 if i == 20 => writer.copy_truncate(),
            10 => {
                serve.kill().unwrap(); // SIGKILL
                serve.wait().unwrap();
                kills += 1;
                serve = start_serve(&config, &serve_log);
            }
            _ => {}
        }
    }
    assert!(kills >= 4 && writer.rotations >= 4);

    // Let it catch up, then stop it cleanly with SIGTERM.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut stored = 0;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        if data.join("events").exists() {
            stored = sql_value(&data, "select count(*) as n from events")
                .parse::<usize>()
                .unwrap();
            if stored >= TOTAL {
                break;
            }
        }
    }
    stop(&mut serve, &serve_log);
    let log = std::fs::read_to_string(&serve_log).unwrap();
    assert!(log.contains("stopped cleanly"), "{log}");

    assert_eq!(stored, TOTAL, "events stored after catching up\n{log}");
    // Whatever the kills interrupted, every committed file is chained and intact.
    crate::common::assert_verifies(&data);
    assert_eq!(
        sql_value(&data, "select count(*) as n from events"),
        TOTAL.to_string()
    );
    assert_eq!(
        sql_value(&data, "select count(distinct event_id) as n from events"),
        TOTAL.to_string()
    );
    assert_eq!(
        sql_value(
            &data,
            "select count(*) as n from events where cluster <> 'crash-test'"
        ),
        "0"
    );
}
