//! The engines users already run read kubetrail's tables without kubetrail: DuckDB (from
//! PyPI, `scripts/install-pytools`) over the data directory's hive-partitioned Parquet gives
//! the same answers as `kubetrail sql`.

use std::process::Command;

use serde_json::Value;

use crate::common::{kubetrail, pytools, sql_csv};

/// Rows of `kubetrail sql --format csv`, header dropped, as strings.
fn kubetrail_rows(data: &std::path::Path, statement: &str) -> Vec<String> {
    sql_csv(data, statement)
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

#[test]
fn duckdb_reads_the_tables_and_agrees_with_kubetrail_sql() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = dir.path().join("audit.jsonl");
    let data = dir.path().join("data");
    for args in [
        vec![
            "generate",
            "--events",
            "20000",
            "--seed",
            "15",
            "--attacks",
            "--out",
            traffic.to_str().unwrap(),
        ],
        vec![
            "import",
            traffic.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    ] {
        let out = kubetrail(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The same questions of both engines: row counts, a group-by over a string column, the
    // hive partition column against the event time, a nested column, the alerts table.
    let questions: [(&str, &str); 5] = [
        (
            "select count(*) as n, count(distinct user) as users, count(distinct namespace) as namespaces from events",
            "select count(*) as n, count(distinct \"user\") as users, count(distinct namespace) as namespaces from events",
        ),
        (
            "select verb, count(*) as n from events group by verb order by verb",
            "select verb, count(*) as n from events group by verb order by verb",
        ),
        (
            "select to_char(time, '%Y-%m-%d') as day, count(*) as n from events group by 1 order by 1",
            "select cast(date as varchar) as day, count(*) as n from events group by 1 order by 1",
        ),
        (
            "select count(*) as n from events where resource = 'secrets' and response_code >= 400",
            "select count(*) as n from events where resource = 'secrets' and response_code >= 400",
        ),
        (
            "select rule_id, count(*) as n from alerts group by rule_id order by rule_id",
            "select rule_id, count(*) as n from alerts group by rule_id order by rule_id",
        ),
    ];
    let script = r#"
import json, sys, duckdb
data, questions = sys.argv[1], json.loads(sys.argv[2])
con = duckdb.connect()
for table in ("events", "alerts"):
    con.sql(f"create view {table} as select * from read_parquet('{data}/{table}/**/*.parquet', hive_partitioning = true)")
answers = []
for question in questions:
    rows = con.sql(question).fetchall()
    answers.append([",".join("" if v is None else str(v) for v in row) for row in rows])
print(json.dumps(answers))
"#;
    let duck_questions: Vec<&str> = questions.iter().map(|(_, duck)| *duck).collect();
    let out = Command::new(pytools("python3"))
        .arg("-c")
        .arg(script)
        .arg(&data)
        .arg(serde_json::to_string(&duck_questions).unwrap())
        .output()
        .expect("the engine tests need Python with DuckDB (./scripts/install-pytools, or set KUBETRAIL_PYTOOLS to its bin directory)");
    assert!(
        out.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Vec<String>> = serde_json::from_slice::<Value>(&out.stdout)
        .map(|value| serde_json::from_value(value).unwrap())
        .unwrap();
    for ((ours, _), duck) in questions.iter().zip(&answers) {
        let rows = kubetrail_rows(&data, ours);
        assert!(!rows.is_empty(), "{ours}: no rows");
        assert_eq!(&rows, duck, "{ours}");
    }
    // The data is not trivial: thousands of events over several verbs, alerts of many rules.
    let total: u64 = answers[0][0].split(',').next().unwrap().parse().unwrap();
    assert!(total >= 19_000, "{total} events");
    assert!(answers[1].len() >= 5, "verbs: {:?}", answers[1]);
    assert!(answers[4].len() >= 10, "alert rules: {:?}", answers[4]);
}
