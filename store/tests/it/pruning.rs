//! Partition pruning: a `time` predicate must keep DataFusion away from partitions outside the
//! range. Proven by planting an unreadable `.parquet` file in a partition that must be skipped.

use std::fs;

use crate::common::{HOUR, JAN_1_2026, open_store, synthetic_events};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::SessionContext;
use store::{Config, TimePartitionedTable, events_file_schema, session_context};

async fn try_count(context: &SessionContext, sql: &str) -> Result<i64, String> {
    let frame = context.sql(sql).await.map_err(|error| error.to_string())?;
    let batches = frame.collect().await.map_err(|error| error.to_string())?;
    Ok(batches[0].column(0).as_primitive::<Int64Type>().value(0))
}

#[tokio::test]
async fn time_filters_prune_partitions() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Day 1 hours 00-02 and day 2 hours 00-02.
    let mut events = synthetic_events(600, 21, JAN_1_2026, 3 * HOUR);
    events.extend(synthetic_events(600, 22, JAN_1_2026 + 24 * HOUR, 3 * HOUR));
    let (mut store, _) = open_store(&Config::with_data_dir(dir.path()), "open");
    store.commit(&events, &[], &[], None).expect("commit");
    // A corrupt file in 2026-01-01 hour 00: any query that lists it fails.
    fs::write(
        dir.path()
            .join("events/date=2026-01-01/hour=00/part-garbage.parquet"),
        b"not parquet",
    )
    .expect("plant");
    let context = session_context(dir.path()).await.expect("session");
    assert!(
        try_count(&context, "SELECT count(*) FROM events WHERE verb = 'get'")
            .await
            .is_err(),
        "the planted file is read without pruning"
    );

    let expect = |from: i64, to: i64| {
        events
            .iter()
            .filter(|event| event.time >= from && event.time < to)
            .count() as i64
    };
    let cases = [
        (
            "time >= '2026-01-02T00:00:00Z'",
            expect(JAN_1_2026 + 24 * HOUR, i64::MAX),
        ),
        (
            "time > TIMESTAMP '2026-01-01T01:30:00Z'",
            expect(JAN_1_2026 + 90 * 60_000_000 + 1, i64::MAX),
        ),
        (
            "'2026-01-01T01:00:00Z' <= time AND time < '2026-01-01T02:00:00Z'",
            expect(JAN_1_2026 + HOUR, JAN_1_2026 + 2 * HOUR),
        ),
        (
            "time BETWEEN '2026-01-01T02:00:00Z' AND '2026-01-02T01:00:00Z'",
            expect(JAN_1_2026 + 2 * HOUR, JAN_1_2026 + 25 * HOUR + 1),
        ),
        (
            "(time < '2026-01-01T00:00:00Z' OR time >= '2026-01-01T01:00:00Z') AND verb = 'get'",
            events
                .iter()
                .filter(|event| {
                    event.time >= JAN_1_2026 + HOUR && event.verb.as_deref() == Some("get")
                })
                .count() as i64,
        ),
        (
            "date = '2026-01-02'",
            expect(JAN_1_2026 + 24 * HOUR, i64::MAX),
        ),
    ];
    for (predicate, expected) in cases {
        assert!(expected > 0, "{predicate} selects rows");
        let sql = format!("SELECT count(*) FROM events WHERE {predicate}");
        assert_eq!(try_count(&context, &sql).await, Ok(expected), "{predicate}");
    }
}

#[test]
fn derived_partition_filters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = TimePartitionedTable::new(dir.path(), events_file_schema(), &["date", "hour"])
        .expect("table");
    let at = |micros: i64| {
        Expr::Literal(
            ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into())),
            None,
        )
    };
    let time = col("time");
    let after = |date: &str, hour: &str| {
        col("date")
            .gt(lit(date))
            .or(col("date").eq(lit(date)).and(col("hour").gt_eq(lit(hour))))
    };
    let before = |date: &str, hour: &str| {
        col("date")
            .lt(lit(date))
            .or(col("date").eq(lit(date)).and(col("hour").lt_eq(lit(hour))))
    };
    let five_thirty = JAN_1_2026 + 5 * HOUR + HOUR / 2;
    assert_eq!(
        table.partition_filters(&[time.clone().gt_eq(at(five_thirty))]),
        vec![after("2026-01-01", "05")]
    );
    assert_eq!(
        table.partition_filters(&[at(five_thirty).gt(time.clone())]),
        vec![before("2026-01-01", "05")]
    );
    assert_eq!(
        table.partition_filters(&[time.clone().eq(at(five_thirty))]),
        vec![after("2026-01-01", "05").and(before("2026-01-01", "05"))]
    );
    // Predicates that do not bound `time` derive nothing.
    assert_eq!(
        table.partition_filters(&[col("verb").eq(lit("get"))]),
        Vec::<Expr>::new()
    );
    assert_eq!(
        table.partition_filters(&[time.clone().not_eq(at(five_thirty))]),
        Vec::<Expr>::new()
    );
    assert_eq!(
        table.partition_filters(&[time
            .clone()
            .gt_eq(at(five_thirty))
            .or(col("verb").eq(lit("get")))]),
        Vec::<Expr>::new()
    );

    let alerts = TimePartitionedTable::new(dir.path(), store::alerts_file_schema(), &["date"])
        .expect("table");
    assert_eq!(
        alerts.partition_filters(&[time.lt_eq(at(five_thirty))]),
        vec![col("date").lt_eq(lit("2026-01-01"))]
    );
}

#[tokio::test]
async fn empty_and_missing_data_dirs() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory no store has written yet: the tables exist and are empty.
    let context = session_context(dir.path()).await.expect("session");
    assert_eq!(
        try_count(&context, "SELECT count(*) FROM events").await,
        Ok(0)
    );
    assert_eq!(
        try_count(&context, "SELECT count(*) FROM alerts").await,
        Ok(0)
    );
    let missing = dir.path().join("nope");
    assert!(matches!(
        session_context(&missing).await,
        Err(store::StoreError::DataDirMissing { .. })
    ));
}
