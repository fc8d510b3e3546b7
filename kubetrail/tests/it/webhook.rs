//! A webhook-only deployment (no files, so it can run under Pod Security "restricted"): `serve`
//! with only `[api]` ingest tokens accepts the API server's `EventList`s and Falco's alerts,
//! answers once they are fsynced in the write-ahead log (not after the store commit), stores
//! each event once even when `serve` is killed at random instants while clients retry, takes
//! gzip, refuses bodies over the limit, answers 503 when the log is full, and detects on them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::http::{Server, get, post_json, start, started, try_post, wait_ready};
use crate::common::{BIN, gzip, sha256, sql_value, stored_events, write};

const INGEST: &str = "webhook-ingest-token";
const VIEWER: &str = "webhook-viewer-token";

fn exec_event(index: usize) -> serde_json::Value {
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("7e57a0d1-0000-4000-8000-{index:012}"), "stage": "ResponseStarted",
        "requestURI": "/api/v1/namespaces/shop/pods/web-0/exec?command=sh&stdin=true&tty=true",
        "verb": "create", "user": {"username": "mallory@example.com", "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.7"], "userAgent": "kubectl/v1.31.0",
        "objectRef": {"resource": "pods", "namespace": "shop", "name": "web-0", "subresource": "exec", "apiVersion": "v1"},
        "responseStatus": {"code": 101},
        "requestReceivedTimestamp": "2026-03-01T10:00:00.000000Z", "stageTimestamp": "2026-03-01T10:00:00.100000Z",
        "annotations": {"authorization.k8s.io/decision": "allow"}
    })
}

#[test]
fn serve_with_only_ingest_tokens_stores_pushed_events_once_and_detects_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let alerts = dir.path().join("alerts.jsonl");
    let config = dir.path().join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[store]
data_dir = "{data}"
[alerts]
file = "{alerts}"
[pipeline]
commit_interval_ms = 200
[api]
listen = "127.0.0.1:0"
[[api.tokens]]
name = "viewer"
sha256 = "{viewer}"
role = "viewer"
[[api.ingest_tokens]]
name = "apiserver"
sha256 = "{ingest}"
cluster = "webhook-only"
"#,
            data = data.display(),
            alerts = alerts.display(),
            viewer = sha256(VIEWER),
            ingest = sha256(INGEST),
        ),
    );
    let server = start(&config, &dir.path().join("serve.log"));
    let address = server.address;

    // Three EventLists of 50 events; the second is sent twice, as a retrying webhook would.
    let batch = |first: usize| {
        serde_json::json!({
            "kind": "EventList", "apiVersion": "audit.k8s.io/v1",
            "items": (first..first + 50).map(exec_event).collect::<Vec<_>>(),
        })
    };
    for body in [batch(0), batch(50), batch(50), batch(100)] {
        let answer = post_json(address, "/api/v1/ingest/audit", Some(INGEST), &body);
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json()["accepted"], 50);
    }
    // Durable in the log when answered; committed and indexed at the next commit, each
    // event once.
    wait_for_total(address, "cluster:webhook-only", 150);

    // Falco's http_output goes to its own route.
    let falco = serde_json::json!({
        "output": "10:00:01.000000000: Notice A shell was spawned in a container (user=root container_id=abc123 container_name=web)",
        "priority": "Notice", "rule": "Terminal shell in container", "time": "2026-03-01T10:00:01.000000000Z",
        "output_fields": {"container.id": "abc123", "k8s.ns.name": "shop", "k8s.pod.name": "web-0", "proc.cmdline": "sh"},
        "hostname": "node-1", "source": "syscall", "tags": ["container", "shell"]
    });
    let answer = post_json(address, "/api/v1/ingest/falco", Some(INGEST), &falco);
    assert_eq!(answer.status, 200, "{}", answer.text());
    // The wrong kind of event for a route is refused, and kept as a dead letter.
    let wrong = post_json(address, "/api/v1/ingest/falco", Some(INGEST), &batch(200));
    assert_eq!(wrong.status, 400, "{}", wrong.text());
    assert_eq!(get(address, "/readyz", None).status, 200);
    // The Falco event and the refused body's dead letter reach the store at the next commit.
    wait_for_total(address, "*", 151);
    std::thread::sleep(Duration::from_millis(600));

    drop(server);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        sql_value(
            &data,
            "select count(*) as n from events where source = 'k8s_audit'"
        ),
        "150"
    );
    assert_eq!(
        sql_value(&data, "select count(distinct event_id) as n from events"),
        "151"
    );
    assert_eq!(
        sql_value(
            &data,
            "select count(*) as n from events where cluster = 'webhook-only'"
        ),
        "151"
    );
    let alerted = std::fs::read_to_string(&alerts).unwrap();
    assert!(
        alerted.contains("\"rule_id\":\"k8s.pod_exec\""),
        "no exec alert from pushed events:\n{alerted}"
    );
    let dead_letters = std::fs::read_dir(data.join("dead_letters"))
        .unwrap()
        .flatten()
        .count();
    assert!(dead_letters > 0, "the refused body is not a dead letter");
}

/// Waits (up to 30 s) until a search for `query` counts `expected` events.
fn wait_for_total(address: SocketAddr, query: &str, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let search = get(
            address,
            &format!("/api/v1/search?limit=1&q={query}"),
            Some(VIEWER),
        );
        // 503 while the data directory opens.
        let total = match search.status {
            503 => None,
            200 => search.json()["total"].as_u64(),
            status => panic!("search answered {status}: {}", search.text()),
        };
        if total == Some(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{total:?} events found for {query}, not {expected}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A webhook-only configuration over `data`, with extra TOML appended.
fn webhook_config(dir: &Path, data: &Path, extra: &str) -> std::path::PathBuf {
    let config = dir.join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[store]
data_dir = "{data}"
{extra}
[api]
listen = "127.0.0.1:0"
rate_limit_per_second = 100000
rate_limit_burst = 100000
max_body_bytes = 2000000
[[api.tokens]]
name = "viewer"
sha256 = "{viewer}"
role = "viewer"
[[api.ingest_tokens]]
name = "apiserver"
sha256 = "{ingest}"
cluster = "wal"
"#,
            data = data.display(),
            viewer = sha256(VIEWER),
            ingest = sha256(INGEST),
        ),
    );
    config
}

/// An `EventList` of 400 events of its own: client `client`, batch `batch`.
fn batch_body(client: usize, batch: usize) -> Vec<u8> {
    let items: Vec<serde_json::Value> = (0..400)
        .map(|index| {
            serde_json::json!({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                "auditID": format!("b47c0000-{client:04}-4000-8000-{batch:06}{index:06}"),
                "stage": "ResponseComplete",
                "requestURI": format!("/api/v1/namespaces/team-{client}/configmaps/batch-{batch}"),
                "verb": "get", "user": {"username": format!("client-{client}"), "groups": ["system:authenticated"]},
                "sourceIPs": ["10.1.2.3"], "userAgent": "wal-test/1.0",
                "objectRef": {"resource": "configmaps", "namespace": format!("team-{client}"), "name": format!("batch-{client}-{batch}"), "apiVersion": "v1"},
                "responseStatus": {"code": 200},
                "requestReceivedTimestamp": "2026-03-02T10:00:00.000000Z",
                "stageTimestamp": format!("2026-03-02T10:{:02}:{:02}.{index:06}Z", batch % 60, client % 60)
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items,
    }))
    .unwrap()
}

#[test]
fn the_answer_comes_before_the_store_commit_and_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A commit every minute: an answer that waited for it would take a minute.
    let slow = webhook_config(dir.path(), &data, "[pipeline]\ncommit_interval_ms = 60000");
    let server = start(&slow, &dir.path().join("serve-1.log"));
    // Search answers once the pipeline has opened.
    wait_ready(server.address);
    let started = Instant::now();
    let answer = try_post(
        server.address,
        "/api/v1/ingest/audit",
        INGEST,
        &[],
        &batch_body(0, 0),
    )
    .expect("an answer");
    let took = started.elapsed();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["accepted"], 400);
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    let search = get(server.address, "/api/v1/search?limit=1&q=*", Some(VIEWER));
    assert_eq!(search.json()["total"], 0, "answered before the commit");
    // Killed before any commit: the log keeps what was answered.
    drop(server);
    let fast = webhook_config(dir.path(), &data, "[pipeline]\ncommit_interval_ms = 100");
    let server = start(&fast, &dir.path().join("serve-2.log"));
    wait_for_total(server.address, "*", 400);
    // Committed, then killed again: the next run does not read the batch again, and only the
    // log's keys know it.
    std::thread::sleep(Duration::from_millis(500));
    drop(server);
    let server = start(&fast, &dir.path().join("serve-3.log"));
    // A retry of the acknowledged batch adds nothing, after the restarts too.
    let retry = try_post(
        server.address,
        "/api/v1/ingest/audit",
        INGEST,
        &[],
        &batch_body(0, 0),
    )
    .expect("an answer");
    assert_eq!(retry.status, 200, "{}", retry.text());
    // Time for a commit (an idle pipeline looks at the clock every second).
    std::thread::sleep(Duration::from_millis(2500));
    wait_for_total(server.address, "*", 400);
    drop(server);
    assert_eq!(stored_events(&data), (400, 400));
}

#[test]
fn ingest_takes_gzip_refuses_large_bodies_and_answers_503_when_the_log_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = webhook_config(
        dir.path(),
        &data,
        "[pipeline]\ncommit_interval_ms = 60000\n[wal]\nmax_pending_bytes = 10000",
    );
    let server = start(&config, &dir.path().join("serve.log"));
    let address = server.address;
    // The limit counts from the position the pipeline resumes at, known once it has opened.
    wait_ready(address);
    // gzip, as the API server can send it.
    let body = batch_body(1, 0);
    let compressed = dir.path().join("body.gz");
    gzip(&body, &compressed);
    let compressed = std::fs::read(&compressed).unwrap();
    let gzipped = try_post(
        address,
        "/api/v1/ingest/audit",
        INGEST,
        &[("Content-Encoding", "gzip")],
        &compressed,
    )
    .expect("an answer");
    assert_eq!(gzipped.status, 200, "{}", gzipped.text());
    assert_eq!(gzipped.json()["accepted"], 400);
    // The log holds more than max_pending_bytes not yet committed: 503 with Retry-After.
    let full = try_post(
        address,
        "/api/v1/ingest/audit",
        INGEST,
        &[],
        &batch_body(1, 1),
    )
    .expect("an answer");
    assert_eq!(full.status, 503, "{}", full.text());
    assert!(full.header("retry-after").is_some(), "{:?}", full.headers);
    // A retry of what the log holds is still answered.
    let retry = try_post(address, "/api/v1/ingest/audit", INGEST, &[], &body).expect("an answer");
    assert_eq!(retry.status, 200, "{}", retry.text());
    // Over api.max_body_bytes, compressed or once decompressed: 413.
    let large = body.repeat(2_000_000 / body.len() + 1);
    assert!(large.len() > 2_000_000);
    let refused =
        try_post(address, "/api/v1/ingest/audit", INGEST, &[], &large).expect("an answer");
    assert_eq!(refused.status, 413, "{}", refused.text());
    let bomb = dir.path().join("bomb.gz");
    gzip(&vec![b' '; 3_000_000], &bomb);
    let refused = try_post(
        address,
        "/api/v1/ingest/audit",
        INGEST,
        &[("Content-Encoding", "gzip")],
        &std::fs::read(&bomb).unwrap(),
    )
    .expect("an answer");
    assert_eq!(refused.status, 413, "{}", refused.text());
    let metrics = get(address, "/metrics", Some(VIEWER)).text();
    for line in [
        "kubetrail_wal_refused_full_total 1",
        "kubetrail_wal_appends_total 1",
        "kubetrail_wal_duplicate_events_total 400",
    ] {
        assert!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }
    assert!(
        metrics.contains("kubetrail_wal_pending_bytes "),
        "{metrics}"
    );
    assert!(metrics.contains("kubetrail_wal_fsyncs_total "), "{metrics}");
}

/// `serve` in a mount namespace of its own (`unshare`) where `<data>/_wal` is a 1 MiB tmpfs:
/// its write-ahead log meets a full disk while the rest of the data directory does not.
fn start_with_a_small_wal_disk(config: &Path, data: &Path, log: &Path) -> Server {
    let wal = data.join("_wal");
    std::fs::create_dir_all(&wal).unwrap();
    let stderr = std::fs::File::create(log).unwrap();
    let child = std::process::Command::new("unshare")
        .args(["--map-root-user", "--mount", "sh", "-c"])
        .arg(
            r#"mount -t tmpfs -o size=1m kubetrail-test-wal "$1" && exec "$2" serve --config "$3""#,
        )
        .args([Path::new("sh"), &wal, Path::new(BIN), config])
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("unshare (util-linux) runs");
    started(child, log)
}

#[test]
fn a_full_disk_answers_503_with_retry_after_and_loses_nothing_once_space_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = webhook_config(dir.path(), &data, "[pipeline]\ncommit_interval_ms = 100");
    let log = dir.path().join("serve.log");
    let server = start_with_a_small_wal_disk(&config, &data, &log);
    let address = server.address;
    wait_ready(address);
    let first = batch_body(4, 0);
    let answer = try_post(address, "/api/v1/ingest/audit", INGEST, &[], &first).expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.text());
    // Fill what is left of the log's disk, as serve sees it.
    let filler = Path::new(&format!("/proc/{}/root", server.child.id()))
        .join(data.strip_prefix("/").unwrap())
        .join("_wal/filler");
    let mut file = std::fs::File::create(&filler).expect("the tmpfs, seen through /proc");
    let chunk = vec![0u8; 64 * 1024];
    let full = loop {
        if let Err(error) = std::io::Write::write_all(&mut file, &chunk) {
            break error;
        }
    };
    assert_eq!(full.kind(), std::io::ErrorKind::StorageFull, "{full}");
    drop(file);
    let second = batch_body(4, 1);
    let refused =
        try_post(address, "/api/v1/ingest/audit", INGEST, &[], &second).expect("an answer");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(
        refused.header("retry-after").is_some(),
        "{:?}",
        refused.headers
    );
    assert!(
        refused.text().contains("no space left"),
        "{}",
        refused.text()
    );
    // A full disk is an answer, not a broken log: the service stays ready.
    assert_eq!(get(address, "/readyz", None).status, 200);
    let metrics = get(address, "/metrics", Some(VIEWER)).text();
    assert!(
        metrics.contains("kubetrail_wal_refused_disk_full_total 1"),
        "{metrics}"
    );
    // Space is back: the retry is accepted, and each batch is stored once.
    std::fs::remove_file(&filler).unwrap();
    let retried =
        try_post(address, "/api/v1/ingest/audit", INGEST, &[], &second).expect("an answer");
    assert_eq!(retried.status, 200, "{}", retried.text());
    assert_eq!(retried.json()["accepted"], 400);
    wait_for_total(address, "*", 800);
    server.stop(&log);
    assert_eq!(stored_events(&data), (800, 800));
}

/// Clients post 400-event batches and retry until answered 200 while `serve` is killed with
/// SIGKILL at random instants and restarted; each also re-posts batches already answered.
/// Every answered batch is stored exactly once.
#[test]
fn concurrent_webhook_posts_under_kill_9_are_stored_exactly_once() {
    const CLIENTS: usize = 4;
    const KILLS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = webhook_config(dir.path(), &data, "[pipeline]\ncommit_interval_ms = 250");
    let server: Arc<Mutex<Option<Server>>> = Arc::new(Mutex::new(None));
    let address = Arc::new(Mutex::new(None::<SocketAddr>));
    let start_run = |run: usize| {
        let started = start(&config, &dir.path().join(format!("serve-{run}.log")));
        *address.lock().unwrap() = Some(started.address);
        *server.lock().unwrap() = Some(started);
    };
    start_run(0);
    let stop = Arc::new(AtomicBool::new(false));
    // Which run of serve is up: a client that sees a new one re-posts the batches it had
    // answered last, as a sender whose answers were lost in the kill would.
    let generation = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(Mutex::new(Vec::<(usize, usize)>::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (stop, acked, address) = (stop.clone(), acked.clone(), address.clone());
            let generation = generation.clone();
            std::thread::spawn(move || {
                let post_until_200 = |batch: usize| {
                    let body = batch_body(client, batch);
                    loop {
                        let target = *address.lock().unwrap();
                        let answer = target.and_then(|target| {
                            try_post(target, "/api/v1/ingest/audit", INGEST, &[], &body)
                        });
                        match answer {
                            Some(answer) if answer.status == 200 => {
                                assert_eq!(answer.json()["accepted"], 400);
                                return;
                            }
                            Some(answer) => assert!(
                                [503, 429].contains(&answer.status),
                                "{}: {}",
                                answer.status,
                                answer.text()
                            ),
                            None => {}
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                };
                let mut batch = 0;
                let mut seen_generation = 0;
                while !stop.load(Ordering::Relaxed) {
                    post_until_200(batch);
                    acked.lock().unwrap().push((client, batch));
                    let current = generation.load(Ordering::Relaxed);
                    if current != seen_generation {
                        seen_generation = current;
                        for earlier in batch.saturating_sub(6)..batch {
                            post_until_200(earlier);
                        }
                    }
                    // A retry of an older acknowledged batch (its 200 "lost"), now and then:
                    // often one committed by an earlier run of serve.
                    if batch % 3 == 2 {
                        post_until_200(batch / 2);
                    }
                    batch += 1;
                }
            })
        })
        .collect();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut random_ms = |low: u64, high: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        low + seed % (high - low)
    };
    for run in 1..=KILLS {
        // Long enough for commits to land, so retries meet batches stored by an earlier run.
        std::thread::sleep(Duration::from_millis(random_ms(1500, 3000)));
        // SIGKILL at a random instant (Server's drop kills with SIGKILL), then restart.
        *address.lock().unwrap() = None;
        drop(server.lock().unwrap().take());
        start_run(run);
        generation.store(run, Ordering::Relaxed);
    }
    std::thread::sleep(Duration::from_millis(random_ms(300, 1000)));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= CLIENTS * 3,
        "only {} batches answered",
        acked.len()
    );
    // Everything answered is committed soon after (the log is read like a file).
    let expected = acked.len() as u64 * 400;
    let target = address.lock().unwrap().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let search = get(target, "/api/v1/search?limit=1&q=*", Some(VIEWER));
        let total = match search.status {
            200 => search.json()["total"].as_u64().unwrap(),
            _ => 0,
        };
        if total >= expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{total} events searchable, {expected} answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(600));
    drop(server.lock().unwrap().take());
    let (total, distinct) = stored_events(&data);
    assert_eq!(total, distinct, "events stored twice");
    crate::common::assert_verifies(&data);
    // Batches never answered (posted at the very end) may be stored too, whole.
    assert!(
        total >= expected && total % 400 == 0,
        "{total} stored, {expected} answered"
    );
    let per_batch = crate::common::ok_stdout(&[
        "sql",
        "--data-dir",
        data.to_str().unwrap(),
        "--format",
        "csv",
        "select name, count(*) as n from events group by name",
    ]);
    let stored: std::collections::HashMap<&str, &str> = per_batch
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(','))
        .collect();
    for (name, count) in &stored {
        assert_eq!(*count, "400", "batch {name} stored partly or twice");
    }
    for (client, batch) in &acked {
        let name = format!("batch-{client}-{batch}");
        assert_eq!(
            stored.get(name.as_str()).copied(),
            Some("400"),
            "batch {name} answered 200 but not stored once"
        );
    }
    eprintln!(
        "{} batches answered, {} events stored once, {KILLS} kills",
        acked.len(),
        total
    );
}

/// Runs `openssl` in `dir`; panics with its error output when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new P-256 key and a certificate for it: self-signed with `extensions` (`-addext`), or
/// signed by the authority `signer` (its `.pem` and `.key` in `dir`) as a client certificate.
fn certificate(dir: &Path, name: &str, subject: &str, signer: Option<&str>, extensions: &[&str]) {
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    let mut args = vec![
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        subject,
        "-keyout",
        &key,
    ];
    let Some(signer) = signer else {
        args.extend(["-x509", "-days", "2", "-out", &pem]);
        for extension in extensions {
            args.extend(["-addext", extension]);
        }
        return openssl(dir, &args);
    };
    let request = format!("{name}.csr");
    args.extend(["-out", &request]);
    openssl(dir, &args);
    write(
        &dir.join("client.ext"),
        "keyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n",
    );
    let (ca, ca_key) = (format!("{signer}.pem"), format!("{signer}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &request,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "client.ext",
            "-out",
            &pem,
        ],
    );
}

/// `curl` over HTTPS from `dir`, trusting `server.pem`, with a client certificate (`NAME.pem`
/// and `NAME.key`) and a token when given: (status, body); status 0 when no answer came.
fn curl_tls(
    dir: &Path,
    url: &str,
    client: Option<&str>,
    token: Option<&str>,
    body: Option<&Path>,
) -> (u16, String) {
    let mut command = std::process::Command::new("curl");
    command
        .current_dir(dir)
        .args(["-sS", "--cacert", "server.pem", "-w", "\n%{http_code}", url]);
    if let Some(client) = client {
        command.args([
            "--cert",
            &format!("{client}.pem"),
            "--key",
            &format!("{client}.key"),
        ]);
    }
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    if let Some(body) = body {
        command.args(["-H", "Content-Type: application/json", "--data-binary"]);
        command.arg(format!("@{}", body.display()));
    }
    let out = command.output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match text.rsplit_once('\n') {
        Some((answer, status)) if status.trim() != "000" => {
            (status.trim().parse().unwrap_or(0), answer.to_owned())
        }
        _ => (0, String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

#[test]
fn a_client_certificate_from_the_configured_authority_is_an_ingest_credential() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path();
    certificate(
        tls,
        "ca",
        "/CN=kubetrail test client CA",
        None,
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    certificate(
        tls,
        "server",
        "/CN=localhost",
        None,
        &["subjectAltName=DNS:localhost,IP:127.0.0.1"],
    );
    // The API server's webhook certificate, another certificate of the same authority, and
    // one with the right name from an authority kubetrail does not trust.
    certificate(
        tls,
        "apiserver",
        "/O=system:masters/CN=kube-apiserver-audit",
        Some("ca"),
        &[],
    );
    certificate(tls, "stranger", "/CN=someone-else", Some("ca"), &[]);
    certificate(
        tls,
        "rogue-ca",
        "/CN=rogue CA",
        None,
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign",
        ],
    );
    certificate(
        tls,
        "forged",
        "/CN=kube-apiserver-audit",
        Some("rogue-ca"),
        &[],
    );

    let data = dir.path().join("data");
    let config = dir.path().join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[store]
data_dir = "{data}"
[pipeline]
commit_interval_ms = 200
[api]
listen = "127.0.0.1:0"
tls = {{ cert = "{dir}/server.pem", key = "{dir}/server.key", client_ca = "{dir}/ca.pem" }}
[[api.tokens]]
name = "viewer"
sha256 = "{viewer}"
role = "viewer"
[[api.ingest_tokens]]
name = "token-client"
sha256 = "{ingest}"
cluster = "by-token"
[[api.ingest_certificates]]
name = "prod-apiserver"
subject = "kube-apiserver-audit"
cluster = "by-certificate"
"#,
            data = data.display(),
            dir = tls.display(),
            viewer = sha256(VIEWER),
            ingest = sha256(INGEST),
        ),
    );
    let log = dir.path().join("serve.log");
    let server = start(&config, &log);
    let base = format!("https://127.0.0.1:{}", server.address.port());
    let ingest = format!("{base}/api/v1/ingest/audit");
    let list = |first: usize| {
        serde_json::json!({
            "kind": "EventList", "apiVersion": "audit.k8s.io/v1",
            "items": (first..first + 50).map(exec_event).collect::<Vec<_>>(),
        })
    };
    let (first, second) = (
        dir.path().join("first.json"),
        dir.path().join("second.json"),
    );
    write(&first, &list(0).to_string());
    write(&second, &list(50).to_string());
    // Refused requests carry a small body: a server that refuses before reading a large one
    // closes the connection, and the client may see the reset instead of the answer.
    let refused = dir.path().join("refused.json");
    write(
        &refused,
        &serde_json::json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
            "items": [exec_event(100)]})
        .to_string(),
    );

    let (status, body) = curl_tls(tls, &ingest, Some("apiserver"), None, Some(&first));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["accepted"],
        50
    );
    // Same authority, a name no entry has: refused, and the answer says which names it saw.
    let (status, body) = curl_tls(tls, &ingest, Some("stranger"), None, Some(&refused));
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("someone-else"), "{body}");
    // An authority kubetrail does not trust: no TLS session at all.
    let (status, _) = curl_tls(tls, &ingest, Some("forged"), None, Some(&refused));
    assert_eq!(
        status, 0,
        "a certificate of an untrusted authority was accepted"
    );
    // No certificate: tokens work as before, on the same listener.
    let (status, body) = curl_tls(tls, &ingest, None, None, Some(&refused));
    assert_eq!(status, 401, "{body}");
    let (status, body) = curl_tls(tls, &ingest, None, Some(INGEST), Some(&second));
    assert_eq!(status, 200, "{body}");
    // The certificate opens the ingest routes only.
    let search = format!("{base}/api/v1/search?limit=1&q=cluster:by-certificate");
    assert_eq!(curl_tls(tls, &search, Some("apiserver"), None, None).0, 401);

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = curl_tls(tls, &search, Some("apiserver"), Some(VIEWER), None);
        assert_eq!(status, 200, "{body}");
        if serde_json::from_str::<serde_json::Value>(&body).unwrap()["total"] == 50 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the events sent with the certificate are not searchable"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.stop(&log);
    for cluster in ["by-certificate", "by-token"] {
        let statement = format!("select count(*) from events where cluster = '{cluster}'");
        assert_eq!(sql_value(&data, &statement), "50", "{cluster}");
    }
}
