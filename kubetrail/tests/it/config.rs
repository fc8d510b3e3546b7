//! The configuration file through `serve --check`: the documented example is valid and means
//! what it says; unknown keys, bad values and a configuration without sources are refused
//! with exit code 2 and one line.

use std::path::Path;

use crate::common::{kubetrail, ok_stdout, write};

fn check(config: &Path) -> std::process::Output {
    kubetrail(&["serve", "--check", "--config", config.to_str().unwrap()])
}

#[test]
fn the_documented_example_config_checks_and_means_what_it_says() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config/kubetrail.toml");
    let out = ok_stdout(&["serve", "--check", "--config", example.to_str().unwrap()]);
    for expected in [
        "sources: 2 file group(s) (2 path(s)); 0 kafka consumer group(s) (0 topic(s)); pushed events: 1 ingest token(s), 0 ingest certificate(s)",
        "built-in pack: on",
        "store: /var/lib/kubetrail (retention: 400 days)",
        "alerts: stdout on, file /var/lib/kubetrail/alerts.jsonl, 0 sink(s)",
        "pipeline: commit every 5000 ms or 10000 events; search positions on",
        "wal: /var/lib/kubetrail/_wal (at most 268435456 bytes not yet committed; dedupe window 3600 s or 1073741824 bytes)",
        "api: http://0.0.0.0:8080 with 2 query token(s), 1 ingest token(s)",
        "configuration OK",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn unknown_keys_bad_values_and_no_sources_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubetrail.toml");
    let files = "[[ingest.files]]\npaths = [\"/tmp/none/audit.log\"]\n";
    for (text, expected) in [
        ("[ingest]\nno_such_key = 1\n", "no_such_key"),
        ("[nosuchtable]\n", "nosuchtable"),
        ("[pipeline]\nchannel_batches = 0\n", "channel_batches"),
        ("[pipeline]\ncommit_interval_ms = 0\n", "commit_interval_ms"),
        ("[ingest]\nmax_line_bytes = 0\n", "max_line_bytes"),
        ("[api]\nno_such_key = 1\n", "no_such_key"),
        (
            "[[api.tokens]]\nname = \"a\"\nsha256 = \"plaintext-token\"\nrole = \"viewer\"\n",
            "64 hex digits",
        ),
        (
            "[[api.tokens]]\nname = \"a\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nrole = \"root\"\n",
            "root",
        ),
        (
            "[[api.ingest_certificates]]\nname = \"a\"\nsubject = \"kube-apiserver\"\ncluster = \"prod\"\n",
            "api.tls.client_ca",
        ),
        ("[search]\nno_such_key = 1\n", "no_such_key"),
        ("[wal]\nno_such_key = 1\n", "no_such_key"),
        ("[wal]\nsegment_bytes = 100\n", "segment_bytes"),
        ("[wal]\nmax_pending_bytes = 0\n", "max_pending_bytes"),
        ("[store]\nretention_days = 0\n", "retention_days"),
        (
            "[store.retention]\nevents_days = 0\n",
            "retention.events_days",
        ),
        ("[store.retention]\nno_such_key = 1\n", "no_such_key"),
        (
            "[store.retention]\nevents_days = 90\nalerted_events_days = 30\n",
            "alerted_events_days must be at least",
        ),
        ("[detect]\nmax_keys_per_rule = 0\n", "max_keys_per_rule"),
        (
            "[detect]\nrule_paths = [\"/no/such/rules\"]\n",
            "/no/such/rules",
        ),
        ("[detect.lists]\nno_such_list = [\"x\"]\n", "no_such_list"),
        (
            "[store.object_store]\nurl = \"s3://b/p\"\nwriter = \"Replica_A\"\n",
            "is not a writer id",
        ),
        (
            "[store.object_store]\nurl = \"s3://b/p\"\nwriter_env = \"KUBETRAIL_TEST_UNSET_WRITER\"\n",
            "KUBETRAIL_TEST_UNSET_WRITER, which is not set",
        ),
        (
            "[store.object_store]\nurl = \"s3://b/p\"\nwriter = \"a\"\nwriter_env = \"HOME\"\n",
            "not both",
        ),
        (
            "[store.object_store]\nurl = \"s3://b/p\"\nwriter = \"a\"\nsync_seconds = 0\n",
            "sync_seconds",
        ),
    ] {
        write(&config, &format!("{files}{text}"));
        let out = check(&config);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "accepted: {text}\n{stderr}");
        assert!(stderr.contains(expected), "{text}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{text}: {stderr}");
    }
    // An empty file is valid TOML with every default, but gives serve nothing to read.
    write(&config, "");
    let out = check(&config);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sources configured"));
}

#[test]
fn ingest_tokens_alone_are_a_source() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubetrail.toml");
    let data = dir.path().join("data");
    write(
        &config,
        &format!(
            "[store]\ndata_dir = \"{}\"\n[[api.ingest_tokens]]\nname = \"apiserver\"\nsha256 = \"1111111111111111111111111111111111111111111111111111111111111111\"\ncluster = \"prod\"\n",
            data.display()
        ),
    );
    let out = ok_stdout(&["serve", "--check", "--config", config.to_str().unwrap()]);
    assert!(
        out.contains(
            "sources: 0 file group(s) (0 path(s)); 0 kafka consumer group(s) (0 topic(s)); pushed events: 1 ingest token(s), 0 ingest certificate(s)"
        ),
        "{out}"
    );
    assert!(!data.exists(), "--check created the data directory");
    // ...unless the API that receives them is off.
    write(
        &config,
        "[api]\nenabled = false\n[[api.ingest_tokens]]\nname = \"apiserver\"\nsha256 = \"1111111111111111111111111111111111111111111111111111111111111111\"\ncluster = \"prod\"\n",
    );
    assert_eq!(check(&config).status.code(), Some(2));
}

/// Credentials kept apart from the configuration (a Kubernetes Secret next to a ConfigMap)
/// are appended to the config's own; a credentials file that is missing or holds an unknown
/// key is refused with one line.
#[test]
fn a_credentials_file_adds_its_tokens_and_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubetrail.toml");
    let credentials = dir.path().join("credentials.toml");
    let hash = "2222222222222222222222222222222222222222222222222222222222222222";
    write(
        &config,
        &format!(
            "[store]\ndata_dir = \"{}\"\n[api]\ncredentials_file = \"{}\"\n[[api.tokens]]\nname = \"inline\"\nsha256 = \"{hash}\"\nrole = \"viewer\"\n",
            dir.path().join("data").display(),
            credentials.display()
        ),
    );
    write(
        &credentials,
        &format!(
            "[[tokens]]\nname = \"soc\"\nsha256 = \"{}\"\nrole = \"analyst\"\n[[ingest_tokens]]\nname = \"apiserver\"\nsha256 = \"{}\"\ncluster = \"prod\"\n",
            "4".repeat(64),
            "5".repeat(64)
        ),
    );
    let out = ok_stdout(&["serve", "--check", "--config", config.to_str().unwrap()]);
    assert!(
        out.contains("with 2 query token(s), 1 ingest token(s)"),
        "{out}"
    );
    assert!(out.contains("pushed events: 1 ingest token(s)"), "{out}");
    for (text, expected) in [
        (
            "[[tokens]]\nname = \"a\"\nsha256 = \"x\"\nrole = \"viewer\"\n",
            "64 hex digits",
        ),
        ("[[token]]\nname = \"a\"\n", "token"),
        (
            "[[ingest_certificates]]\nname = \"a\"\nsubject = \"apiserver\"\ncluster = \"prod\"\n",
            "api.tls.client_ca",
        ),
    ] {
        write(&credentials, text);
        let out = check(&config);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "accepted: {text}\n{stderr}");
        assert!(stderr.contains(expected), "{text}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{text}: {stderr}");
    }
    std::fs::remove_file(&credentials).unwrap();
    let out = check(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("credentials.toml"), "{stderr}");
}

#[test]
fn the_readme_kafka_example_checks() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let section = &readme[readme.find("### Kafka").expect("a Kafka section")..];
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a TOML block");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubetrail.toml");
    write(
        &config,
        &format!(
            "[store]\ndata_dir = \"{}\"\n[api]\nenabled = false\n{block}",
            dir.path().join("data").display()
        ),
    );
    let out = ok_stdout(&["serve", "--check", "--config", config.to_str().unwrap()]);
    for expected in [
        "1 kafka consumer group(s) (5 topic(s))",
        "1 sink(s)",
        "configuration OK",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // A misspelt key of the Kafka tables is refused with one line.
    write(
        &config,
        "[[ingest.kafka]]\nbrokers = [\"k:9092\"]\ngroup = \"g\"\ntopics = [{ name = \"t\", format = \"audit\" }]\nsasl = { mechanism = \"PLAIN\", user = \"u\" }\n",
    );
    let out = check(&config);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("user"));
}

#[test]
fn retention_classes_fill_in_from_retention_days() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubetrail.toml");
    let files = "[[ingest.files]]\npaths = [\"/tmp/none/audit.log\"]\n";
    for (text, expected) in [
        (
            "[store]\nretention_days = 400\n[store.retention]\nevents_days = 90\nalerts_days = 2555\ndead_letters_days = 30\n",
            "(retention: events 90 days, alerted events 2555 days, alerts 2555 days, dead letters 30 days)",
        ),
        (
            "[store.retention]\nevents_days = 90\nalerted_events_days = 365\n",
            "(retention: events 90 days, alerted events 365 days, alerts for ever, dead letters for ever)",
        ),
        ("[store]\nretention_days = 30\n", "(retention: 30 days)"),
    ] {
        write(&config, &format!("{files}{text}"));
        let out = ok_stdout(&["serve", "--check", "--config", config.to_str().unwrap()]);
        assert!(out.contains(expected), "{text}: {out}");
    }
}
