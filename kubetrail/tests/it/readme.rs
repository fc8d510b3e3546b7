//! The README's `curl` examples, run exactly as written (only the address and the
//! `<alert_id>` placeholder filled in) against a live `kubetrail demo`: each must answer 2xx
//! with a body (the live tail: 200, then it streams until curl's time limit).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::BIN;
use crate::common::http::get;

/// The `curl` lines of the README's "Query API" block.
fn readme_curls() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let section = readme
        .split("## Query API")
        .nth(1)
        .expect("a Query API section");
    let block = section
        .split("```sh")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a sh block");
    block
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("curl "))
        .map(str::to_owned)
        .collect()
}

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn every_curl_example_of_the_readme_works_as_written() {
    let curls = readme_curls();
    assert!(curls.len() >= 6, "README curl examples: {curls:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Demo(
        Command::new(BIN)
            .args([
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--rate",
                "1000",
                "--duration-secs",
                "300",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("demo.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    // "  API:       http://127.0.0.1:PORT/api/v1  (admin token: kt_...)"
    let mut stdout = BufReader::new(demo.0.stdout.take().unwrap()).lines();
    let mut address = String::new();
    let mut token = String::new();
    for line in stdout.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("API:") {
            address = rest
                .trim()
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap()
                .to_owned();
            token = rest
                .split("admin token: ")
                .nth(1)
                .unwrap()
                .trim_end_matches(')')
                .to_owned();
            break;
        }
    }
    assert!(!token.is_empty(), "the demo printed no API address");
    // The demo prints every alert: keep reading, or it stops on a closed pipe.
    std::thread::spawn(move || stdout.for_each(drop));
    let socket = address.parse().unwrap();
    // Wait until something alerted and is stored, so every example has data to show.
    let deadline = Instant::now() + Duration::from_secs(120);
    let alert_id = loop {
        let alerts = get(socket, "/api/v1/alerts?limit=1", Some(&token));
        if alerts.status == 200
            && let Some(id) = alerts.json()["alerts"][0]["alert_id"].as_str()
        {
            break id.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no alert stored: {}",
            alerts.text()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    for curl in &curls {
        let command = curl
            .replace("localhost:8080", &address)
            .replace("<alert_id>", &alert_id);
        // The tail streams forever: stop it after a few seconds (curl then exits 28).
        let streaming = command.contains(" -N ");
        let limit = if streaming {
            "--max-time 5"
        } else {
            "--max-time 60"
        };
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{command} -s -S {limit} -w '\\nHTTP %{{http_code}}\\n'"
            ))
            .env("T", &token)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        let status = text
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("HTTP "))
            .unwrap_or("none")
            .to_owned();
        assert!(
            status.starts_with('2'),
            "{curl}\nanswered {status}: {text}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        if !streaming {
            let body = text
                .trim_end()
                .rsplit_once("\nHTTP ")
                .map_or("", |(body, _)| body);
            assert!(!body.trim().is_empty(), "{curl}: empty answer");
        }
    }
}
