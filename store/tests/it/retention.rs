//! Retention by class with legal holds: which partitions go whole, which are rewritten with
//! the rows that must stay (alerted events, held rows), what a dry run lists, and that the
//! result verifies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use event::Event;
use serde_json::json;
use store::holds::{self, NewHold};
use store::retention::{ActionKind, Policy};
use store::{Config, VerifyOptions};

use crate::common::{
    DAY, HOUR, JAN_1_2026, alert, dead_letter, open_store, state, synthetic_events,
};

fn date(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, day).expect("date")
}

fn at(day: u32) -> chrono::DateTime<chrono::Utc> {
    date(day).and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

async fn ids_by_day(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let context = store::session_context(dir).await.expect("tables");
    let batches = context
        .sql("SELECT CAST(date AS VARCHAR) AS d, event_id FROM events")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let mut days: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for batch in batches {
        let utf8 = |index: usize| cast(batch.column(index), &DataType::Utf8).expect("cast");
        let (day, id) = (utf8(0), utf8(1));
        let (day, id) = (day.as_string::<i32>(), id.as_string::<i32>());
        for row in 0..batch.num_rows() {
            days.entry(day.value(row).to_owned())
                .or_default()
                .insert(id.value(row).to_owned());
        }
    }
    days
}

async fn count(dir: &Path, sql: &str) -> i64 {
    let context = store::session_context(dir).await.expect("tables");
    crate::common::count(&context, sql).await
}

#[tokio::test]
async fn classes_and_a_legal_hold_decide_which_rows_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::with_data_dir(dir.path());
    let (mut store, _) = open_store(&config, "open");
    // Ten days of events, one commit a day; an alert a day naming two of that day's events.
    let mut days: Vec<Vec<Event>> = Vec::new();
    for day in 0..10u32 {
        let events = synthetic_events(
            60,
            u64::from(day),
            JAN_1_2026 + i64::from(day) * DAY,
            20 * HOUR,
        );
        let named: Vec<&str> = events[..2].iter().map(|e| e.event_id.as_str()).collect();
        let alerts = [alert(
            &format!("alert-{}", day + 1),
            &format!("2026-01-{:02}T21:00:00Z", day + 1),
            &named,
        )];
        let dead = [dead_letter(
            &format!("2026-01-{:02}T12:00:00Z", day + 1),
            u64::from(day),
        )];
        store
            .commit(&events, &alerts, &dead, Some(&state(json!(day))))
            .expect("commit");
        days.push(events);
    }
    // A hold on 2 January, namespace payments of prod-eu-1 only.
    let hold = holds::add(
        dir.path(),
        NewHold {
            from: at(2),
            to: at(3),
            cluster: Some("prod-eu-1".to_owned()),
            namespace: Some("payments".to_owned()),
            reason: "case 4711".to_owned(),
            by: "compliance@example.com".to_owned(),
        },
    )
    .expect("hold");
    assert_eq!(hold.id, "hold-1");
    // As of 11 January: raw events 3 days (before the 8th go), alerted events 6 (before the
    // 5th go), alerts 8 (before the 3rd go), dead letters 2 (before the 9th go).
    let policy = Policy {
        events: Some(3),
        alerted_events: Some(6),
        alerts: Some(8),
        dead_letters: Some(2),
    };
    let today = date(11);
    let holds = holds::list(dir.path()).expect("holds");
    let dry = store::retention::plan(dir.path(), &policy, &holds, today).expect("dry run");
    let plan = store
        .apply_retention(&policy, &holds, today)
        .expect("retention");
    assert_eq!(
        dry.actions, plan.actions,
        "a dry run lists what the run does"
    );
    assert!(plan.seq.is_some());

    let stored = ids_by_day(dir.path()).await;
    let held = |events: &[Event]| -> BTreeSet<String> {
        events
            .iter()
            .filter(|e| e.namespace.as_deref() == Some("payments"))
            .map(|e| e.event_id.clone())
            .collect()
    };
    let alerted = |events: &[Event]| -> BTreeSet<String> {
        events[..2].iter().map(|e| e.event_id.clone()).collect()
    };
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // The 2nd: only the held rows (its alert's events are past the alerted period).
    expected.insert("2026-01-02".to_owned(), held(&days[1]));
    // The 5th to the 7th: only the events their alerts name.
    for day in 5..=7 {
        expected.insert(format!("2026-01-{day:02}"), alerted(&days[day - 1]));
    }
    // The 8th to the 10th: everything.
    for day in 8..=10 {
        expected.insert(
            format!("2026-01-{day:02}"),
            days[day - 1].iter().map(|e| e.event_id.clone()).collect(),
        );
    }
    assert!(!held(&days[1]).is_empty());
    assert_eq!(stored, expected);

    // Alerts before the 3rd go: the hold covers namespace payments, the alerts are of
    // `default`.
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM alerts WHERE date < '2026-01-03'"
        )
        .await,
        0
    );
    assert_eq!(count(dir.path(), "SELECT count(*) FROM alerts").await, 8);
    // Dead letters: only the 9th and 10th remain.
    let left: Vec<String> = std::fs::read_dir(dir.path().join("dead_letters"))
        .expect("dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(left, ["date=2026-01-09", "date=2026-01-10"]);

    // The partitions that kept rows were rewritten, not removed; the rest went whole.
    let rewritten: BTreeSet<&str> = plan
        .actions
        .iter()
        .filter(|action| action.kind == ActionKind::Rewrite)
        .map(|action| action.partition.as_str())
        .collect();
    assert!(
        rewritten.iter().all(|partition| [
            "date=2026-01-02",
            "date=2026-01-05",
            "date=2026-01-06",
            "date=2026-01-07"
        ]
        .iter()
        .any(|day| partition.starts_with(day))),
        "{rewritten:?}"
    );
    assert!(plan.emptied_days.contains(&date(1)) && plan.emptied_days.contains(&date(3)));
    assert!(!plan.emptied_days.contains(&date(2)));
    assert!(plan.held.iter().any(|held| held.holds == ["hold-1"]));
    let gone_on_2nd = &plan.removed_event_ids[&date(2)];
    assert_eq!(gone_on_2nd.len(), 60 - held(&days[1]).len());

    // The result verifies; the run is a retention line of the ledger.
    let report = store::verify(dir.path(), &VerifyOptions::default()).expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);

    // Again: nothing more goes while the hold stands.
    let again = store
        .apply_retention(&policy, &holds, today)
        .expect("again");
    assert!(again.actions.is_empty(), "{:?}", again.actions);
    assert!(
        again
            .held
            .iter()
            .any(|held| held.partition.starts_with("date=2026-01-02"))
    );

    // Released, the held rows go at the next run.
    holds::release(
        dir.path(),
        "hold-1",
        "compliance@example.com",
        "case closed",
    )
    .expect("release");
    let holds = holds::list(dir.path()).expect("holds");
    assert!(holds[0].released.is_some());
    let plan = store
        .apply_retention(&policy, &holds, today)
        .expect("after release");
    assert!(plan.emptied_days.contains(&date(2)), "{:?}", plan.actions);
    assert!(!ids_by_day(dir.path()).await.contains_key("2026-01-02"));
    assert!(
        store::verify(dir.path(), &VerifyOptions::default())
            .expect("verify")
            .is_ok()
    );
}

#[test]
fn holds_need_a_reason_an_author_and_a_range_that_ends_after_it_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let new = |from: u32, to: u32, reason: &str, by: &str| NewHold {
        from: at(from),
        to: at(to),
        cluster: None,
        namespace: None,
        reason: reason.to_owned(),
        by: by.to_owned(),
    };
    for bad in [
        new(3, 2, "r", "me"),
        new(2, 3, " ", "me"),
        new(2, 3, "r", ""),
    ] {
        assert!(matches!(
            holds::add(dir.path(), bad),
            Err(store::StoreError::InvalidHold { .. })
        ));
    }
    let first = holds::add(dir.path(), new(2, 3, "r", "me")).expect("add");
    let second = holds::add(dir.path(), new(4, 5, "r", "me")).expect("add");
    assert_eq!(
        (first.id.as_str(), second.id.as_str()),
        ("hold-1", "hold-2")
    );
    assert!(matches!(
        holds::release(dir.path(), "hold-9", "me", "r"),
        Err(store::StoreError::UnknownHold { .. })
    ));
    holds::release(dir.path(), "hold-1", "me", "done").expect("release");
    assert!(holds::release(dir.path(), "hold-1", "me", "again").is_err());
    let listed = holds::list(dir.path()).expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0].released.as_ref().map(|r| r.reason.as_str()),
        Some("done")
    );
}

/// The `date=` partitions of `table`.
fn partitions(dir: &Path, table: &str) -> BTreeSet<NaiveDate> {
    std::fs::read_dir(dir.join(table))
        .expect("table dir")
        .filter_map(|entry| {
            let name = entry.expect("entry").file_name();
            NaiveDate::parse_from_str(name.to_str()?, "date=%Y-%m-%d").ok()
        })
        .collect()
}

/// A year in compressed time: one commit a day of 2025 (events, an alert every seventh day
/// naming one event, a dead letter), four classes and a hold on March's `payments`, retention
/// as of 1 January 2026: exactly the partitions the classes and the hold keep remain.
#[tokio::test]
async fn a_year_of_days_keeps_exactly_the_partitions_its_classes_and_hold_keep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::with_data_dir(dir.path());
    let (mut store, _) = open_store(&config, "open");
    let first = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date");
    let start = first
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_micros();
    let mut payments_days = BTreeSet::new();
    let mut alert_days = BTreeSet::new();
    for n in 0..365u32 {
        let day = first + chrono::Days::new(u64::from(n));
        let events = synthetic_events(
            12,
            u64::from(n) + 1000,
            start + i64::from(n) * DAY,
            20 * HOUR,
        );
        if events
            .iter()
            .any(|e| e.namespace.as_deref() == Some("payments"))
        {
            payments_days.insert(day);
        }
        let alerts = if n % 7 == 0 {
            alert_days.insert(day);
            vec![alert(
                &format!("year-{n}"),
                &format!("{day}T21:00:00Z"),
                &[events[0].event_id.as_str()],
            )]
        } else {
            Vec::new()
        };
        let dead = [dead_letter(&format!("{day}T12:00:00Z"), u64::from(n))];
        store
            .commit(&events, &alerts, &dead, Some(&state(json!(n))))
            .expect("commit");
    }
    holds::add(
        dir.path(),
        NewHold {
            from: NaiveDate::from_ymd_opt(2025, 3, 1)
                .expect("date")
                .and_hms_opt(0, 0, 0)
                .expect("t")
                .and_utc(),
            to: NaiveDate::from_ymd_opt(2025, 4, 1)
                .expect("date")
                .and_hms_opt(0, 0, 0)
                .expect("t")
                .and_utc(),
            cluster: None,
            namespace: Some("payments".to_owned()),
            reason: "case 2025-03".to_owned(),
            by: "compliance@example.com".to_owned(),
        },
    )
    .expect("hold");
    let policy = Policy {
        events: Some(90),
        alerted_events: Some(180),
        alerts: Some(300),
        dead_letters: Some(30),
    };
    let today = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    let days_before = |days: u64| today - chrono::Days::new(days);
    let holds = holds::list(dir.path()).expect("holds");
    store
        .apply_retention(&policy, &holds, today)
        .expect("retention");

    let all: Vec<NaiveDate> = (0..365).map(|n| first + chrono::Days::new(n)).collect();
    let in_march = |day: &NaiveDate| day.format("%Y-%m").to_string() == "2025-03";
    let expected_events: BTreeSet<NaiveDate> = all
        .iter()
        .copied()
        .filter(|day| {
            *day >= days_before(90)
                || (*day >= days_before(180) && alert_days.contains(day))
                || (in_march(day) && payments_days.contains(day))
        })
        .collect();
    let expected_alerts: BTreeSet<NaiveDate> = alert_days
        .iter()
        .copied()
        .filter(|day| *day >= days_before(300))
        .collect();
    let expected_dead: BTreeSet<NaiveDate> = all
        .iter()
        .copied()
        .filter(|day| *day >= days_before(30))
        .collect();
    assert_eq!(partitions(dir.path(), "events"), expected_events);
    assert_eq!(partitions(dir.path(), "alerts"), expected_alerts);
    assert_eq!(partitions(dir.path(), "dead_letters"), expected_dead);
    // March keeps only its payments events; the alerted days between 180 and 90 days ago keep
    // only their alerted event.
    let march_rows = count(
        dir.path(),
        "SELECT count(*) FROM events WHERE date >= '2025-03-01' AND date < '2025-04-01' AND namespace IS DISTINCT FROM 'payments'",
    )
    .await;
    assert_eq!(march_rows, 0);
    let middle = days_before(180).to_string();
    let recent = days_before(90).to_string();
    let kept_alerted = count(
        dir.path(),
        &format!("SELECT count(*) FROM events WHERE date >= '{middle}' AND date < '{recent}'"),
    )
    .await;
    let alerted_in_window = alert_days
        .iter()
        .filter(|day| **day >= days_before(180) && **day < days_before(90))
        .count() as i64;
    assert_eq!(kept_alerted, alerted_in_window);
    let report = store::verify(dir.path(), &VerifyOptions::default()).expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);
}
