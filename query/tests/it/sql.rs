//! Read-only SQL over a store built in a temporary directory: what is allowed, what is refused,
//! limits, and the three output formats.

use std::time::Duration;

use datafusion::prelude::SessionContext;
use event::{ActorKind, Decision, Event};
use query::{OutputFormat, QueryError, SqlLimits, check_read_only, run_sql, write_results};
use store::{ColumnarStore, Config, session_context};

/// 2026-01-01T00:00:00Z in microseconds.
const JAN_1_2026: i64 = 1_767_225_600_000_000;

fn event(index: usize) -> Event {
    let user = if index.is_multiple_of(2) {
        "alice@example.com"
    } else {
        "system:serviceaccount:ci:deployer"
    };
    Event {
        event_id: format!("{index:032x}"),
        time: JAN_1_2026 + index as i64 * 60_000_000 + 250_000,
        cluster: "prod".to_owned(),
        audit_id: Some(format!("audit-{index}")),
        stage: Some("ResponseComplete".to_owned()),
        level: Some("Metadata".to_owned()),
        verb: Some(
            if index.is_multiple_of(3) {
                "delete"
            } else {
                "get"
            }
            .to_owned(),
        ),
        request_uri: Some(format!("/api/v1/namespaces/default/secrets/s{index}")),
        user: Some(user.to_owned()),
        user_groups: vec![
            "system:authenticated".to_owned(),
            format!("team-{}", index % 2),
        ],
        actor_kind: Some(if index.is_multiple_of(2) {
            ActorKind::Human
        } else {
            ActorKind::Serviceaccount
        }),
        source_ips: vec!["10.0.0.1".to_owned()],
        user_agent: Some("kubectl/v1.31.2".to_owned()),
        resource: Some("secrets".to_owned()),
        namespace: if index == 1 {
            None
        } else {
            Some("default".to_owned())
        },
        name: Some(format!("s{index}")),
        response_code: Some(200),
        decision: Some(Decision::Allow),
        raw: format!("{{\"auditID\":\"audit-{index}\",\"note\":\"a, \\\"quoted\\\" value\"}}"),
        ..Event::default()
    }
}

async fn fixture() -> (tempfile::TempDir, SessionContext) {
    let dir = tempfile::tempdir().expect("tempdir");
    let events: Vec<Event> = (0..20).map(event).collect();
    let mut store = ColumnarStore::open(&Config::with_data_dir(dir.path())).expect("open");
    store.commit(&events, &[], &[], None).expect("commit");
    let context = session_context(dir.path()).await.expect("session");
    (dir, context)
}

fn render(result: &query::SqlResult, format: OutputFormat) -> String {
    let mut out = Vec::new();
    write_results(result, format, &mut out).expect("write");
    String::from_utf8(out).expect("utf-8")
}

#[tokio::test]
async fn read_only_queries_run() {
    let (_dir, context) = fixture().await;
    let limits = SqlLimits::default();
    let allowed = [
        (
            "SELECT count(*) AS n FROM events WHERE \"user\" = 'alice@example.com'",
            1,
        ),
        (
            "WITH deletes AS (SELECT * FROM events WHERE verb = 'delete') SELECT name FROM deletes",
            7,
        ),
        (
            "SELECT e.name FROM events e JOIN alerts a ON a.name = e.name",
            0,
        ),
        (
            "SELECT * FROM events WHERE time >= '2026-01-01T00:10:00Z'",
            10,
        ),
        (
            "SELECT user_groups[2] AS team FROM events WHERE array_has(user_groups, 'team-1')",
            10,
        ),
        ("SELECT * FROM range(3)", 3),
        ("VALUES (1), (2)", 2),
        ("SHOW TABLES", 0),
        ("DESCRIBE events", 0),
        ("EXPLAIN SELECT count(*) FROM events", 0),
    ];
    for (sql, rows) in allowed {
        let result = run_sql(&context, sql, &limits)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
        assert!(!result.truncated);
        if rows > 0 {
            assert_eq!(result.num_rows(), rows, "{sql}");
        } else {
            assert!(result.num_rows() > 0 || sql.contains("JOIN"), "{sql}");
        }
    }
    let count = run_sql(
        &context,
        "SELECT count(*) AS n FROM events WHERE \"user\" = 'alice@example.com'",
        &limits,
    )
    .await
    .expect("count");
    assert_eq!(render(&count, OutputFormat::Jsonl), "{\"n\":10}\n");
}

#[test]
fn each_class_of_writing_statement_is_refused() {
    let refused = [
        "CREATE TABLE t (a INT)",
        "CREATE TABLE t AS SELECT * FROM events",
        "CREATE VIEW v AS SELECT * FROM events",
        "INSERT INTO events SELECT * FROM events",
        "DELETE FROM events",
        "UPDATE events SET verb = 'x'",
        "COPY events TO '/tmp/out.parquet'",
        "COPY (SELECT 1) TO '/tmp/out.csv' STORED AS CSV",
        "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/etc/'",
        "DROP TABLE events",
        "SET datafusion.execution.batch_size = 1",
        "RESET datafusion.execution.batch_size",
        "SELECT * FROM 'some.parquet'",
        "SELECT * FROM \"/etc/passwd\"",
        "SELECT * FROM read_parquet('x.parquet')",
        "SELECT * INTO copy FROM events",
        "SELECT 1; SELECT 2",
        "SELECT 1; DROP TABLE events",
        "EXPLAIN COPY events TO '/tmp/x.parquet'",
        "EXPLAIN CREATE TABLE t AS SELECT 1",
        "WITH x AS (SELECT * FROM 'f.csv') SELECT * FROM x",
        "SELECT * FROM events WHERE event_id IN (SELECT a FROM 's3://bucket/x.parquet')",
    ];
    for sql in refused {
        match check_read_only(sql) {
            Err(error @ QueryError::Refused { .. }) => {
                assert!(error.is_caller_error());
                assert!(!error.to_string().contains('\n'), "{sql}: one line");
            }
            other => panic!("{sql}: expected refusal, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn refusal_holds_at_run_time_too() {
    let (dir, context) = fixture().await;
    let limits = SqlLimits::default();
    for sql in [
        "DROP TABLE events",
        "SELECT * FROM 'x.parquet'",
        "COPY events TO '/tmp/x.parquet'",
    ] {
        assert!(
            matches!(
                run_sql(&context, sql, &limits).await,
                Err(QueryError::Refused { .. })
            ),
            "{sql}"
        );
    }
    // The second layer: DataFusion itself refuses to plan writes in this session.
    let options = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false);
    let planned = context
        .sql_with_options("CREATE TABLE t AS SELECT 1", options)
        .await;
    assert!(planned.is_err());
    assert_eq!(
        run_sql(&context, "SELECT count(*) FROM events", &limits)
            .await
            .expect("still there")
            .num_rows(),
        1
    );
    drop(dir);
}

/// A long chain of `OR`s nests one level per term: past the limit it is refused before
/// planning (whose recursion would overflow the stack and abort the process); at the limit it
/// runs on a thread with half the stack the kubetrail runtime gives its threads (8 MiB).
#[test]
fn deeply_nested_expressions_are_refused_not_fatal() {
    let chain = |terms: usize| {
        let alternatives: Vec<String> = (0..terms)
            .map(|i| format!("event_id = 'e{i:04}'"))
            .collect();
        format!(
            "SELECT count(*) AS n FROM events WHERE {}",
            alternatives.join(" OR ")
        )
    };
    let on_small_stack = move |sql: String| {
        std::thread::Builder::new()
            .stack_size(4 * 1024 * 1024)
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let (_dir, context) = fixture().await;
                    run_sql(&context, &sql, &SqlLimits::default())
                        .await
                        .map(|result| result.num_rows())
                })
            })
            .unwrap()
            .join()
            .expect("no overflow")
    };
    // One level for the WHERE clause's own expression.
    let at_limit = query::MAX_EXPRESSION_DEPTH - 1;
    assert_eq!(on_small_stack(chain(at_limit)).expect("runs"), 1);
    match on_small_stack(chain(5000)) {
        Err(QueryError::Refused { reason }) => assert!(reason.contains("IN ("), "{reason}"),
        other => panic!("expected refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_queries_are_invalid() {
    let (_dir, context) = fixture().await;
    let limits = SqlLimits::default();
    for sql in [
        "SELEC 1",
        "SELECT nope FROM events",
        "SELECT * FROM missing_table",
        "",
        "SELECT CAST('x' AS INT)",
    ] {
        match run_sql(&context, sql, &limits).await {
            Err(error @ QueryError::Invalid { .. }) => {
                assert!(error.is_caller_error());
                assert!(
                    !error.to_string().contains('\n'),
                    "{sql}: one line: {error}"
                );
            }
            other => panic!("{sql}: expected invalid, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn rows_beyond_the_limit_are_cut() {
    let (_dir, context) = fixture().await;
    let limits = SqlLimits {
        max_rows: 5,
        ..SqlLimits::default()
    };
    let result = run_sql(
        &context,
        "SELECT event_id FROM events ORDER BY time",
        &limits,
    )
    .await
    .expect("run");
    assert_eq!((result.num_rows(), result.truncated), (5, true));
    let result = run_sql(&context, "SELECT event_id FROM events LIMIT 5", &limits)
        .await
        .expect("run");
    assert_eq!((result.num_rows(), result.truncated), (5, false));
    let result = run_sql(&context, "SELECT * FROM range(100000)", &limits)
        .await
        .expect("run");
    assert_eq!((result.num_rows(), result.truncated), (5, true));
}

#[tokio::test]
async fn slow_queries_time_out() {
    let (_dir, context) = fixture().await;
    let limits = SqlLimits {
        timeout: Duration::from_millis(200),
        ..SqlLimits::default()
    };
    let started = std::time::Instant::now();
    let result = run_sql(
        &context,
        "SELECT sum(value) FROM generate_series(1, 100000000000)",
        &limits,
    )
    .await;
    assert!(
        matches!(result, Err(QueryError::Timeout { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn output_formats() {
    let (_dir, context) = fixture().await;
    let sql = "SELECT event_id, time, user_groups, response_code, namespace, raw FROM events ORDER BY time LIMIT 2";
    let result = run_sql(&context, sql, &SqlLimits::default())
        .await
        .expect("run");
    let id0 = format!("{:032x}", 0);
    let id1 = format!("{:032x}", 1);
    assert_eq!(
        render(&result, OutputFormat::Jsonl),
        format!(
            concat!(
                "{{\"event_id\":\"{0}\",\"time\":\"2026-01-01T00:00:00.250Z\",\"user_groups\":[\"system:authenticated\",\"team-0\"],",
                "\"response_code\":200,\"namespace\":\"default\",\"raw\":\"{{\\\"auditID\\\":\\\"audit-0\\\",\\\"note\\\":\\\"a, \\\\\\\"quoted\\\\\\\" value\\\"}}\"}}\n",
                "{{\"event_id\":\"{1}\",\"time\":\"2026-01-01T00:01:00.250Z\",\"user_groups\":[\"system:authenticated\",\"team-1\"],",
                "\"response_code\":200,\"namespace\":null,\"raw\":\"{{\\\"auditID\\\":\\\"audit-1\\\",\\\"note\\\":\\\"a, \\\\\\\"quoted\\\\\\\" value\\\"}}\"}}\n",
            ),
            id0, id1
        )
    );
    assert_eq!(
        render(&result, OutputFormat::Csv),
        format!(
            concat!(
                "event_id,time,user_groups,response_code,namespace,raw\n",
                "{0},2026-01-01T00:00:00.250Z,\"[\"\"system:authenticated\"\",\"\"team-0\"\"]\",200,default,",
                "\"{{\"\"auditID\"\":\"\"audit-0\"\",\"\"note\"\":\"\"a, \\\"\"quoted\\\"\" value\"\"}}\"\n",
                "{1},2026-01-01T00:01:00.250Z,\"[\"\"system:authenticated\"\",\"\"team-1\"\"]\",200,,",
                "\"{{\"\"auditID\"\":\"\"audit-1\"\",\"\"note\"\":\"\"a, \\\"\"quoted\\\"\" value\"\"}}\"\n",
            ),
            id0, id1
        )
    );
    let table = render(&result, OutputFormat::Table);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6, "{table}");
    assert!(
        lines[1].starts_with("| event_id ") && lines[1].contains("| time "),
        "{table}"
    );
    assert!(
        lines[3].contains(&id0) && lines[3].contains("2026-01-01T00:00:00.250Z"),
        "{table}"
    );
    assert!(
        lines[3].contains("[system:authenticated, team-0]"),
        "{table}"
    );

    // An empty result still prints its header.
    let empty = run_sql(
        &context,
        "SELECT event_id, verb FROM events WHERE verb = 'nope'",
        &SqlLimits::default(),
    )
    .await
    .expect("run");
    assert_eq!(render(&empty, OutputFormat::Csv), "event_id,verb\n");
    assert_eq!(render(&empty, OutputFormat::Jsonl), "");
    assert!(render(&empty, OutputFormat::Table).contains("| event_id | verb |"));
}
