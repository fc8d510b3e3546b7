//! Tiered storage on a real S3-compatible server on loopback (moto's server, from
//! `scripts/install-pytools`): compaction moves settled partitions to the bucket; `kubetrail
//! sql`, search and `verify` see the same data; DuckDB reads the bucket with httpfs and gets
//! kubetrail's answers; a deleted or planted object is named by `verify`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{BIN, generate_attacks, parquet_files, pytools, search_count, write};

pub(crate) const BUCKET: &str = "kubetrail-audit";
pub(crate) const PREFIX: &str = "cluster-a";

/// moto's S3 server on a free loopback port, killed on drop.
pub(crate) struct Moto {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's server with the bucket `BUCKET`.
pub(crate) fn start_moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(pytools("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the S3 tests need moto_server (./scripts/install-pytools, or set KUBETRAIL_PYTOOLS to its bin directory)");
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    python(
        &moto,
        &format!("{BOTO}s3.create_bucket(Bucket='{BUCKET}')"),
        &[],
    );
    moto
}

/// Runs `script` with the tools' Python (boto3 and DuckDB), `argv[1]` the endpoint.
pub(crate) fn python(moto: &Moto, script: &str, args: &[&str]) -> String {
    let out = Command::new(pytools("python3"))
        .arg("-c")
        .arg(script)
        .arg(format!("http://127.0.0.1:{}", moto.port))
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub(crate) const BOTO: &str = r#"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
"#;

/// moto's credentials, in the environment as AWS SDKs take them.
const CREDENTIALS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
];

/// The binary with the bucket's credentials in its environment.
fn kubetrail(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(CREDENTIALS)
        .output()
        .expect("kubetrail runs")
}

/// `serve --config CONFIG` with the bucket's credentials, its log appended to `log`.
pub(crate) fn serve_with_credentials(config: &Path, log: &Path) -> Child {
    crate::common::start_serve_with_env(config, log, &CREDENTIALS)
}

pub(crate) fn ok(args: &[&str]) -> String {
    let out = kubetrail(args);
    assert!(
        out.status.success(),
        "kubetrail {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub(crate) fn sql_rows(data: &Path, statement: &str) -> Vec<String> {
    let out = ok(&[
        "sql",
        "--data-dir",
        data.to_str().unwrap(),
        "--format",
        "csv",
        statement,
    ]);
    out.lines().skip(1).map(str::to_owned).collect()
}

pub(crate) fn sql_value(data: &Path, statement: &str) -> String {
    let rows = sql_rows(data, statement);
    rows.first().expect("one row").trim().to_owned()
}

/// DuckDB's answers to `questions`, reading the tables straight from the bucket (httpfs on
/// the loopback S3), one row per comma-joined line.
pub(crate) fn duckdb_answers(moto: &Moto, questions: &[&str]) -> Vec<Vec<String>> {
    let duck = python(
        moto,
        &format!(
            r#"
import sys, os, json, duckdb, duckdb_extension_httpfs
endpoint = sys.argv[1].removeprefix("http://")
path = os.path.join(os.path.dirname(duckdb_extension_httpfs.__file__), "extensions", "v" + duckdb.__version__, "httpfs.duckdb_extension")
con = duckdb.connect()
con.execute(f"INSTALL '{{path}}'")
con.execute("LOAD httpfs")
con.execute(f"CREATE SECRET (TYPE s3, KEY_ID 'test', SECRET 'test', REGION 'us-east-1', ENDPOINT '{{endpoint}}', URL_STYLE 'path', USE_SSL false)")
for table in ("events", "alerts"):
    con.execute(f"create view {{table}} as select * from read_parquet('s3://{BUCKET}/{PREFIX}/{{table}}/**/*.parquet', hive_partitioning = true)")
answers = []
for question in json.loads(sys.argv[2]):
    answers.append([",".join(str(v) for v in row) for row in con.sql(question).fetchall()])
print(json.dumps(answers))
"#
        ),
        &[&serde_json::to_string(questions).unwrap()],
    );
    serde_json::from_str(&duck).unwrap()
}

fn local_parquet(data: &Path) -> usize {
    parquet_files(&data.join("events")).len() + parquet_files(&data.join("alerts")).len()
}

fn import(dir: &Path, config: &Path, events: usize, seed: u64, start: &str) {
    let input = dir.join(format!("audit-{seed}.jsonl"));
    generate_attacks(&input, events, seed);
    // Moved to another hour of the same day with --start: backfill into settled partitions.
    if start != "2026-01-01T00:00:00Z" {
        crate::common::ok_stdout(&[
            "generate",
            "--events",
            &events.to_string(),
            "--seed",
            &seed.to_string(),
            "--start",
            start,
            "--out",
            input.to_str().unwrap(),
        ]);
    }
    ok(&[
        "import",
        input.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--commit-events",
        "400",
    ]);
}

#[test]
fn settled_partitions_move_to_the_bucket_where_duckdb_kubetrail_and_verify_agree() {
    let moto = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[store]
data_dir = "{data}"
[store.object_store]
url = "s3://{BUCKET}/{PREFIX}"
endpoint = "http://127.0.0.1:{port}"
region = "us-east-1"
allow_http = true
"#,
            data = data.display(),
            port = moto.port
        ),
    );
    let config_arg = config.to_str().unwrap();
    import(dir.path(), &config, 10_000, 51, "2026-01-01T00:00:00Z");
    let local_before = local_parquet(&data);
    assert!(local_before >= 25, "{local_before} files");

    let out = ok(&["compact", "--config", config_arg]);
    assert!(out.starts_with("merged "), "{out}");
    // 2026-01-01 has long settled: nothing stays on local disk.
    assert_eq!(local_parquet(&data), 0);
    let listed = python(
        &moto,
        &format!(
            "{BOTO}print('\\n'.join(o['Key'] for o in s3.list_objects_v2(Bucket='{BUCKET}')['Contents']))"
        ),
        &[],
    );
    assert!(
        listed
            .lines()
            .any(|key| key.starts_with(&format!("{PREFIX}/events/date=2026-01-01/hour=")))
            && listed
                .lines()
                .any(|key| key.starts_with(&format!("{PREFIX}/alerts/"))),
        "{listed}"
    );

    // Merged files an interrupted compaction left staged in the bucket (hidden names) are
    // deleted when the store next opens, those of another writer sharing the bucket kept.
    let staged = |name: &str| format!("{PREFIX}/events/date=2026-01-01/hour=00/{name}");
    let (own, other) = (
        staged(".part-compact-1-3-4242.parquet.tmp"),
        staged(".part-compact-1-3-4242.replica-b.parquet.tmp"),
    );
    python(
        &moto,
        &format!(
            "{BOTO}\nfor key in sys.argv[2:]: s3.put_object(Bucket='{BUCKET}', Key=key, Body=b'partial')"
        ),
        &[&own, &other],
    );
    // A backfill into settled hours lands locally, then joins the bucket.
    import(dir.path(), &config, 3_000, 52, "2026-01-01T02:00:00Z");
    let keys = python(
        &moto,
        &format!(
            "{BOTO}print('\\n'.join(o['Key'] for o in s3.list_objects_v2(Bucket='{BUCKET}')['Contents']))"
        ),
        &[],
    );
    assert!(!keys.lines().any(|key| key == own), "{keys}");
    assert!(keys.lines().any(|key| key == other), "{keys}");
    python(
        &moto,
        &format!("{BOTO}s3.delete_object(Bucket='{BUCKET}', Key=sys.argv[2])"),
        &[&other],
    );
    assert!(local_parquet(&data) > 0);
    let total = 13_000.to_string();
    assert_eq!(sql_value(&data, "select count(*) from events"), total);
    ok(&["compact", "--config", config_arg]);
    assert_eq!(local_parquet(&data), 0);

    // kubetrail reads the bucket as if it were local.
    assert_eq!(sql_value(&data, "select count(*) from events"), total);
    assert_eq!(
        sql_value(&data, "select count(distinct event_id) from events"),
        total
    );
    assert_eq!(search_count(&data), 13_000);
    let verified = ok(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert!(verified.starts_with("ok: "), "{verified}");

    // DuckDB straight from the bucket (httpfs on the loopback S3) gets the same answers.
    let questions = [
        "select count(*) from events",
        "select verb, count(*) as n from events group by verb order by verb",
        "select rule_id, count(*) as n from alerts group by rule_id order by rule_id",
    ];
    let answers = duckdb_answers(&moto, &questions);
    for (question, duck) in questions.iter().zip(&answers) {
        assert_eq!(&sql_rows(&data, question), duck, "{question}");
    }

    // Retention reads, rewrites and retires files in the bucket: raw events go after 10
    // days, events an alert names stay with their alert (a year).
    let alerted = sql_value(
        &data,
        "select count(distinct e.event_id) from events e join (select unnest(event_ids) as id from alerts) a on e.event_id = a.id",
    );
    assert!(alerted.parse::<u64>().unwrap() > 0);
    let retention = dir.path().join("retention.toml");
    write(
        &retention,
        &format!(
            "{}[store.retention]\nevents_days = 10\nalerts_days = 365\n",
            std::fs::read_to_string(&config).unwrap()
        ),
    );
    let out = ok(&[
        "retention",
        "run",
        "--config",
        retention.to_str().unwrap(),
        "--as-of",
        "2026-01-20",
    ]);
    assert!(
        out.contains("rewrite events/date=2026-01-01/hour="),
        "{out}"
    );
    assert_eq!(sql_value(&data, "select count(*) from events"), alerted);
    assert_eq!(search_count(&data), alerted.parse::<u64>().unwrap());
    ok(&["compact", "--config", config_arg]);
    assert_eq!(local_parquet(&data), 0);
    assert_eq!(sql_value(&data, "select count(*) from events"), alerted);
    let verified = ok(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert!(verified.starts_with("ok: "), "{verified}");

    // An object deleted from the bucket, another planted: verify names both, exit 1.
    let listed = python(
        &moto,
        &format!(
            "{BOTO}print('\\n'.join(o['Key'] for o in s3.list_objects_v2(Bucket='{BUCKET}', Prefix='{PREFIX}/events/')['Contents']))"
        ),
        &[],
    );
    let first_event_key = listed
        .lines()
        .find(|key| key.contains("/events/"))
        .unwrap()
        .to_owned();
    python(
        &moto,
        &format!(
            "{BOTO}s3.delete_object(Bucket='{BUCKET}', Key=sys.argv[2]); s3.put_object(Bucket='{BUCKET}', Key='{PREFIX}/events/date=2026-01-01/hour=05/planted.parquet', Body=b'x')"
        ),
        &[&first_event_key],
    );
    let out = kubetrail(&["verify", "--data-dir", data.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let relative = first_event_key.strip_prefix(&format!("{PREFIX}/")).unwrap();
    assert!(stdout.contains(&format!("missing {relative}")), "{stdout}");
    assert!(stdout.contains("planted.parquet"), "{stdout}");

    // The data directory remembers its bucket: a configuration pointing elsewhere is refused.
    let elsewhere = dir.path().join("elsewhere.toml");
    write(
        &elsewhere,
        &std::fs::read_to_string(&config)
            .unwrap()
            .replace(PREFIX, "cluster-b"),
    );
    let out = kubetrail(&["compact", "--config", elsewhere.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cluster-a"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_moves_settled_hours_to_the_bucket_in_the_background_through_a_kill_9() {
    let moto = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    const EVENTS: usize = 6_000;
    generate_attacks(&logs.join("audit.log"), EVENTS, 61);
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
cluster = "tiered"
[store]
data_dir = "{data}"
[store.compaction]
interval_seconds = 1
grace_seconds = 1
[store.object_store]
url = "s3://{BUCKET}/{PREFIX}"
endpoint = "http://127.0.0.1:{port}"
allow_http = true
[api]
listen = "127.0.0.1:0"
[pipeline]
commit_interval_ms = 50
commit_max_events = 200
"#,
            logs = logs.display(),
            data = data.display(),
            port = moto.port
        ),
    );
    let log = dir.path().join("serve.log");
    let mut serve = serve_with_credentials(&config, &log);
    // Killed once the first files reached the bucket, then started again.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("compaction: small files merged")
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    serve.kill().unwrap();
    serve.wait().unwrap();
    let mut serve = serve_with_credentials(&config, &log);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut done = false;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        if data.join("events").is_dir()
            && local_parquet(&data) == 0
            && sql_value(&data, "select count(*) from events") == EVENTS.to_string()
        {
            done = true;
            break;
        }
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(done, "not in the bucket in time\n{text}");
    crate::common::stop(&mut serve, &log);
    assert_eq!(
        sql_value(&data, "select count(distinct event_id) from events"),
        EVENTS.to_string()
    );
    assert_eq!(search_count(&data), EVENTS as u64);
    let verified = ok(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert!(verified.starts_with("ok: "), "{verified}");
}

/// The catalog of writers on a real S3 API: writers updating it at once each create the next
/// generation with a conditional PUT; a writer that loses the race reads the winner's and
/// tries again, so no update is lost and generations count every change.
#[test]
fn writers_updating_the_catalog_at_once_lose_no_update() {
    let moto = start_moto();
    let config = store::remote::RemoteConfig {
        url: format!("s3://{BUCKET}/catalog-test"),
        endpoint: Some(format!("http://127.0.0.1:{}", moto.port)),
        region: Some("us-east-1".to_owned()),
        allow_http: true,
        writer: None,
        writer_env: None,
        sync_seconds: 10,
    };
    const WRITERS: u64 = 4;
    const UPDATES: u64 = 8;
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let config = config.clone();
            scope.spawn(move || {
                let remote =
                    store::remote::Remote::open_with_key(&config, "test", "test").expect("bucket");
                for update in 1..=UPDATES {
                    let state = store::catalog::WriterState {
                        ledger_seq: update,
                        ledger_sha256: None,
                        search_seq: update,
                        updated: format!("update {update}"),
                    };
                    let head =
                        store::catalog::update(&remote, &format!("w{writer}"), &state).unwrap();
                    assert_eq!(head.writers[&format!("w{writer}")], state);
                }
            });
        }
    });
    let remote = store::remote::Remote::open_with_key(&config, "test", "test").unwrap();
    let head = store::catalog::read(&remote).unwrap().expect("a catalog");
    assert_eq!(head.generation, WRITERS * UPDATES);
    assert_eq!(head.writers.len() as u64, WRITERS);
    assert!(
        head.writers
            .values()
            .all(|state| state.ledger_seq == UPDATES)
    );
    // Old generations go: the head and the ones kept behind it remain.
    let kept = remote.list(store::catalog::CATALOG_DIR).unwrap().len() as u64;
    assert!(
        kept <= store::catalog::KEEP_GENERATIONS + WRITERS + 1,
        "{kept}"
    );
}

/// Legal holds of writers sharing a bucket live in the bucket: a hold placed through one
/// writer's data directory holds the other's data too (its retention keeps the held day), ids
/// stay unique across writers, and a release through either is seen by both.
#[test]
fn a_hold_placed_through_one_writer_holds_every_writers_data() {
    let moto = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let setup = |writer: &str, seed: u64| {
        let data = dir.path().join(format!("data-{writer}"));
        let config = dir.path().join(format!("{writer}.toml"));
        write(
            &config,
            &format!(
                r#"
[store]
data_dir = "{data}"
[store.retention]
events_days = 1
alerts_days = 1
dead_letters_days = 1
[store.object_store]
url = "s3://{BUCKET}/{PREFIX}"
endpoint = "http://127.0.0.1:{port}"
allow_http = true
writer = "{writer}"
"#,
                data = data.display(),
                port = moto.port
            ),
        );
        import(dir.path(), &config, 2_000, seed, "2026-01-01T00:00:00Z");
        (data, config)
    };
    let (data_a, _) = setup("writer-a", 71);
    let (data_b, config_b) = setup("writer-b", 72);
    let hold = |data: &Path, from: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&[
            "hold",
            "add",
            "--data-dir",
            data.to_str().unwrap(),
            "--from",
            from,
            "--to",
            "2026-01-02T00:00:00Z",
            "--reason",
            "case 4711",
            "--by",
            "compliance@example.com",
        ]))
        .unwrap()
    };
    assert_eq!(hold(&data_a, "2026-01-01T00:00:00Z")["id"], "hold-1");
    assert_eq!(hold(&data_b, "2026-01-01T12:00:00Z")["id"], "hold-2");
    for data in [&data_a, &data_b] {
        let listed = ok(&["hold", "list", "--data-dir", data.to_str().unwrap()]);
        assert_eq!(listed.lines().count(), 2, "{listed}");
    }
    ok(&[
        "hold",
        "release",
        "hold-2",
        "--data-dir",
        data_a.to_str().unwrap(),
        "--reason",
        "closed",
        "--by",
        "compliance@example.com",
    ]);
    let listed = ok(&["hold", "list", "--data-dir", data_b.to_str().unwrap()]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("\"hold-1\""), "{listed}");
    // Writer b's retention, long after its one-day periods, keeps the day writer a's hold
    // covers: every one of its events.
    let held_day = "select count(*) from events where time < '2026-01-02T00:00:00Z'";
    let before = sql_value(&data_b, held_day);
    assert!(before.parse::<u64>().unwrap() > 0);
    let out = ok(&[
        "retention",
        "run",
        "--config",
        config_b.to_str().unwrap(),
        "--as-of",
        "2026-06-01",
    ]);
    assert_eq!(sql_value(&data_b, held_day), before, "{out}");
}

/// The search days of `data` on local disk.
fn local_search_days(data: &Path) -> usize {
    std::fs::read_dir(data.join("search"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.file_name().to_string_lossy().starts_with("date="))
                .count()
        })
        .unwrap_or(0)
}

/// `[search] hot_days`: once copied whole to the bucket, search days past the hot period leave
/// local disk; searches that need them fetch them (the CLI too), a backfill into one brings it
/// back, and nothing is lost or counted twice.
#[test]
fn search_days_past_the_hot_period_live_in_the_bucket_and_come_back() {
    let moto = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    const EVENTS: u64 = 3_000;
    const LATE: u64 = 500;
    generate_attacks(&logs.join("audit.log"), EVENTS as usize, 81);
    let data = dir.path().join("data");
    let config = dir.path().join("kubetrail.toml");
    write(
        &config,
        &format!(
            r#"
[ingest]
poll_interval_ms = 100
batch_max_events = 500
[[ingest.files]]
paths = ["{logs}/audit*"]
cluster = "cold"
[store]
data_dir = "{data}"
[store.compaction]
interval_seconds = 1
grace_seconds = 1
[store.object_store]
url = "s3://{BUCKET}/{PREFIX}"
endpoint = "http://127.0.0.1:{port}"
allow_http = true
sync_seconds = 1
[search]
hot_days = 1
[api]
listen = "127.0.0.1:0"
[pipeline]
commit_interval_ms = 100
"#,
            logs = logs.display(),
            data = data.display(),
            port = moto.port
        ),
    );
    let log = dir.path().join("serve.log");
    let mut serve = serve_with_credentials(&config, &log);
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let cold = || {
        search::cold_days(&data.join("search"))
            .map(|days| days.len())
            .unwrap_or(0)
    };
    wait("every search day to be in the bucket only", &|| {
        data.join("_commits").is_dir()
            && sql_value(&data, "select count(*) from events") == EVENTS.to_string()
            && cold() > 0
            && local_search_days(&data) == 0
    });
    assert_eq!(crate::common::search_count_with(kubetrail, &data), EVENTS);

    // A backfill into a cold day: the day comes back, takes the late events, and goes cold
    // again once its new copy is in the bucket.
    let late = logs.join("audit-late.log");
    crate::common::ok_stdout(&[
        "generate",
        "--events",
        &LATE.to_string(),
        "--seed",
        "82",
        "--start",
        "2026-01-01T05:00:00Z",
        "--out",
        late.to_str().unwrap(),
    ]);
    wait("the late events to be searchable", &|| {
        crate::common::search_count_with(kubetrail, &data) == EVENTS + LATE
    });
    wait("the day to be in the bucket only again", &|| {
        local_search_days(&data) == 0
    });
    crate::common::stop(&mut serve, &log);
    assert_eq!(
        crate::common::search_count_with(kubetrail, &data),
        EVENTS + LATE
    );
    assert_eq!(
        sql_value(&data, "select count(distinct event_id) from events"),
        (EVENTS + LATE).to_string()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("search days moved to the bucket only"),
        "{text}"
    );
    let out = kubetrail(&["verify", "--data-dir", data.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("ok: "),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("kept in the bucket only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
