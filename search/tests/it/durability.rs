//! Commits, crashes, reopening, readers in another "process", stable pages while data
//! arrives, writer eviction and retention.

use std::collections::HashSet;

use crate::common::*;
use event::Event;
use search::{IndexOptions, NaiveDate, SearchError, SearchIndex, SearchRequest, Searcher};

const HOUR: i64 = 3_600_000_000;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn ids(events: &[Event]) -> HashSet<String> {
    events.iter().map(|e| e.event_id.clone()).collect()
}

fn walk_ids(searcher: &Searcher, request: &SearchRequest) -> Vec<String> {
    walk(searcher, request)
        .unwrap()
        .into_iter()
        .map(|(_, id)| id)
        .collect()
}

/// Two halves of 3,000 events that both span 2024-06-01 and 2024-06-02.
fn two_day_halves() -> (Vec<Event>, Vec<Event>) {
    let events = events(3_000, 11, 0.05);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (i, event) in events.into_iter().enumerate() {
        if i % 2 == 0 {
            first.push(event);
        } else {
            second.push(event);
        }
    }
    (first, second)
}

#[test]
fn crash_between_day_commits_leaves_only_committed_documents() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = two_day_halves();
    let mut index = SearchIndex::open(dir.path(), IndexOptions::default()).unwrap();
    index.add(&first, &[]).unwrap();
    index.commit(1).unwrap();
    index.add(&second, &[]).unwrap();
    assert_eq!(index.days(), vec![day(2024, 6, 1), day(2024, 6, 2)]);
    // The first day index commits, then the process dies before the second and _state.json.
    index.commit_day_only_for_tests(day(2024, 6, 1), 2).unwrap();

    // A reader in another process already ignores the half commit.
    let outside = Searcher::open(dir.path()).unwrap();
    assert_eq!(outside.committed_seq(), 1);
    assert_eq!(outside.doc_count(), first.len() as u64);
    assert_eq!(count(&outside, ""), first.len() as u64);
    let walked: HashSet<String> = walk_ids(
        &outside,
        &SearchRequest {
            limit: 1000,
            ..SearchRequest::new("")
        },
    )
    .into_iter()
    .collect();
    assert_eq!(walked, ids(&first));
    drop(index);

    // Reopening deletes the documents of the unfinished commit.
    let mut index = SearchIndex::open(dir.path(), IndexOptions::default()).unwrap();
    assert_eq!(index.committed_seq(), 1);
    let searcher = index.searcher();
    assert_eq!(searcher.doc_count(), first.len() as u64);
    assert_eq!(count(&searcher, ""), first.len() as u64);
    assert_eq!(count(&outside, ""), first.len() as u64);

    // The pipeline replays the batch and commits it for real.
    index.add(&second, &[]).unwrap();
    index.commit(2).unwrap();
    assert_eq!(count(&searcher, ""), 3_000);
    assert_eq!(count(&outside, ""), 3_000);
    drop(index);
    let index = SearchIndex::open(dir.path(), IndexOptions::default()).unwrap();
    assert_eq!(index.searcher().doc_count(), 3_000);
}

#[test]
fn reopen_keeps_everything_and_the_seq() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = two_day_halves();
    let mut index = SearchIndex::open(dir.path(), IndexOptions::default()).unwrap();
    assert_eq!(index.committed_seq(), 0);
    index.add(&first, &[]).unwrap();
    index.commit(41).unwrap();
    index.add(&second, &[]).unwrap();
    index.commit(42).unwrap();
    assert!(matches!(
        SearchIndex::open(dir.path(), IndexOptions::default()),
        Err(SearchError::Locked { .. })
    ));
    drop(index);

    let mut index = SearchIndex::open(dir.path(), IndexOptions::default()).unwrap();
    assert_eq!(index.committed_seq(), 42);
    let searcher = index.searcher();
    assert_eq!(searcher.doc_count(), 3_000);
    let walked = walk_ids(
        &searcher,
        &SearchRequest {
            limit: 999,
            ..SearchRequest::new("")
        },
    );
    assert_eq!(walked.len(), 3_000);
    assert_eq!(
        walked.into_iter().collect::<HashSet<_>>(),
        &ids(&first) | &ids(&second)
    );

    // Commit sequence rules.
    index.commit(42).unwrap(); // nothing new: a no-op
    assert!(matches!(
        index.commit(40),
        Err(SearchError::SeqOrder { .. })
    ));
    index.add(&first[..10], &[]).unwrap();
    assert!(matches!(
        index.commit(42),
        Err(SearchError::SeqOrder { .. })
    ));
}

#[test]
fn another_process_sees_only_committed_data() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = two_day_halves();
    let mut index = SearchIndex::open(dir.path(), IndexOptions::default()).unwrap();
    let inside = index.searcher();
    let outside = Searcher::open(dir.path()).unwrap();
    assert_eq!(outside.doc_count(), 0);

    index.add(&first, &[]).unwrap();
    assert_eq!(count(&inside, ""), 0);
    assert_eq!(count(&outside, ""), 0);
    index.commit(1).unwrap();
    assert_eq!(count(&inside, ""), first.len() as u64);
    assert_eq!(count(&outside, ""), first.len() as u64);

    index.add(&second, &[]).unwrap();
    assert_eq!(count(&inside, ""), first.len() as u64);
    assert_eq!(count(&outside, ""), first.len() as u64);
    index.commit(2).unwrap();
    assert_eq!(count(&inside, ""), 3_000);
    assert_eq!(count(&outside, "verb:get"), count(&inside, "verb:get"));
    assert_eq!(outside.committed_seq(), 2);

    assert!(matches!(
        Searcher::open(&dir.path().join("missing")),
        Err(SearchError::NotFound { .. })
    ));
}

#[test]
fn pages_stay_stable_while_data_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let start = generate::Options::DEFAULT_START_TIME_MICROS;
    let original = events_from(2_000, 3, 1.0, start);
    let newer = events_from(500, 4, 1.0, start + 48 * HOUR);
    let older = events_from(500, 5, 1.0, start - 2 * HOUR);
    let mut index = SearchIndex::open(dir.path(), IndexOptions::default()).unwrap();
    index.add(&original, &[]).unwrap();
    index.commit(1).unwrap();
    let searcher = index.searcher();

    let mut request = SearchRequest {
        limit: 150,
        ..SearchRequest::new("")
    };
    let mut walked = Vec::new();
    let mut page = 0;
    loop {
        let response = searcher.search(&request).unwrap();
        assert_eq!(
            response.total,
            original.len() as u64,
            "total stays that of the first page"
        );
        walked.extend(
            response
                .hits
                .iter()
                .map(|hit| (hit.time, hit.event_id.clone())),
        );
        page += 1;
        // Newer and older events arrive between pages.
        match page {
            2 => {
                index.add(&newer, &[]).unwrap();
                index.commit(2).unwrap();
            }
            4 => {
                index.add(&older, &[]).unwrap();
                index.commit(3).unwrap();
            }
            _ => {}
        }
        match response.next_cursor {
            Some(cursor) => request.cursor = Some(cursor),
            None => break,
        }
    }
    assert!(page > 10);
    let got: Vec<String> = walked.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(got.len(), original.len());
    assert_eq!(got.iter().cloned().collect::<HashSet<_>>(), ids(&original));
    let keys: Vec<(i64, u64)> = walked
        .iter()
        .map(|(t, id)| (*t, search::tie_of(id)))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] > w[1]));
    // A fresh walk sees everything.
    let all = walk_ids(
        &searcher,
        &SearchRequest {
            limit: 500,
            ..SearchRequest::new("")
        },
    );
    assert_eq!(all.len(), 3_000);
}

#[test]
fn one_writer_at_a_time_evicts_and_stays_consistent() {
    let dir = tempfile::tempdir().unwrap();
    // 3,000 events over three days, added in an order that hops between days.
    let mut events = events(3_000, 13, 0.02);
    let days: HashSet<NaiveDate> = events.iter().map(|e| chrono_day(e.time)).collect();
    assert_eq!(days.len(), 3);
    events.sort_by_key(|e| e.event_id.clone());
    let (first, second) = events.split_at(2_000);
    let options = IndexOptions {
        max_open_writers: 1,
        ..IndexOptions::default()
    };
    let mut index = SearchIndex::open(dir.path(), options.clone()).unwrap();
    for chunk in first.chunks(200) {
        index.add(chunk, &[]).unwrap();
    }
    index.commit(1).unwrap();
    let searcher = index.searcher();
    assert_eq!(searcher.doc_count(), 2_000);
    assert_eq!(
        count(&searcher, "verb:get"),
        first
            .iter()
            .filter(|e| e.verb.as_deref() == Some("get"))
            .count() as u64
    );

    // Evictions commit day indexes early; a crash before `commit` must hide and remove them.
    for chunk in second.chunks(200) {
        index.add(chunk, &[]).unwrap();
    }
    assert_eq!(count(&searcher, ""), 2_000);
    let outside = Searcher::open(dir.path()).unwrap();
    assert_eq!(count(&outside, ""), 2_000);
    drop(index);
    let mut index = SearchIndex::open(dir.path(), options).unwrap();
    assert_eq!(index.searcher().doc_count(), 2_000);
    assert_eq!(count(&outside, ""), 2_000);
    index.add(second, &[]).unwrap();
    index.commit(2).unwrap();
    assert_eq!(index.searcher().doc_count(), 3_000);
}

fn chrono_day(micros: i64) -> NaiveDate {
    let days = micros.div_euclid(86_400_000_000) + 719_163;
    NaiveDate::from_num_days_from_ce_opt(days as i32).unwrap()
}

#[test]
fn retention_drops_whole_days() {
    let dir = tempfile::tempdir().unwrap();
    let events = events(3_000, 17, 0.02);
    let mut index = SearchIndex::open(dir.path(), IndexOptions::default()).unwrap();
    index.add(&events, &[]).unwrap();
    index.commit(1).unwrap();
    let days = index.days();
    assert_eq!(days.len(), 3);
    let searcher = index.searcher();
    let outside = Searcher::open(dir.path()).unwrap();

    assert_eq!(index.drop_days_before(days[0]).unwrap(), 0);
    assert_eq!(index.drop_days_before(days[1]).unwrap(), 1);
    assert_eq!(index.days(), days[1..].to_vec());
    assert!(!dir.path().join(format!("date={}", days[0])).exists());
    let kept = events
        .iter()
        .filter(|e| chrono_day(e.time) >= days[1])
        .count() as u64;
    assert_eq!(searcher.doc_count(), kept);
    assert_eq!(count(&searcher, ""), kept);
    // The other process notices at its next refresh (the next commit).
    index.commit(2).unwrap();
    assert_eq!(count(&outside, ""), kept);
    // Late events of a dropped day are not indexed again.
    index.add(&events[..1], &[]).unwrap();
    index.commit(3).unwrap();
    assert_eq!(count(&searcher, ""), kept);
    assert_eq!(index.days(), days[1..].to_vec());

    assert_eq!(
        index.drop_days_before(days[2].succ_opt().unwrap()).unwrap(),
        2
    );
    assert_eq!(searcher.doc_count(), 0);
    drop(index);
    let index = SearchIndex::open(dir.path(), IndexOptions::default()).unwrap();
    assert!(index.days().is_empty());
    assert_eq!(index.committed_seq(), 3);
}
