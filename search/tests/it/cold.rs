//! Cold days: day indexes kept in the bucket only, fetched back for searches that need them
//! and brought back for writes, through a `ColdStore` that copies from a directory standing in
//! for the bucket.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;
use search::{
    ColdStore, IndexOptions, NaiveDate, SearchError, SearchIndex, SearchRequest, Searcher,
};

/// "The bucket": a copy of each day index, made by [`publish`].
#[derive(Debug)]
struct Bucket {
    dir: PathBuf,
    fetches: AtomicUsize,
}

impl ColdStore for Bucket {
    fn fetch(&self, day: NaiveDate, into: &Path) -> Result<(), SearchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let from = self.dir.join(format!("date={day}"));
        let entries =
            std::fs::read_dir(&from).map_err(|error| SearchError::Index(error.to_string()))?;
        for entry in entries {
            let entry = entry.map_err(|error| SearchError::Index(error.to_string()))?;
            std::fs::copy(entry.path(), into.join(entry.file_name()))
                .map_err(|error| SearchError::Index(error.to_string()))?;
        }
        Ok(())
    }
}

/// Copies `day`'s index to the bucket; returns its `meta.json`.
fn publish(index_dir: &Path, bucket: &Bucket, day: NaiveDate) -> Vec<u8> {
    let from = index_dir.join(format!("date={day}"));
    let to = bucket.dir.join(format!("date={day}"));
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".lock") {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
    std::fs::read(to.join("meta.json")).unwrap()
}

fn total(searcher: &Searcher, from: Option<i64>, to: Option<i64>) -> u64 {
    searcher
        .search(&SearchRequest {
            query: "*".to_owned(),
            from,
            to,
            limit: 1,
            ..SearchRequest::default()
        })
        .unwrap()
        .total
}

#[test]
fn cold_days_leave_local_disk_and_come_back_for_searches_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    let index_dir = dir.path().join("search");
    let bucket = Arc::new(Bucket {
        dir: dir.path().join("bucket"),
        fetches: AtomicUsize::new(0),
    });
    let events = events(3_000, 23, 0.02);
    let mut index = SearchIndex::open(&index_dir, IndexOptions::default()).unwrap();
    index.set_cold_store(bucket.clone(), 1);
    index.add(&events, &[]).unwrap();
    index.commit(1).unwrap();
    let days = index.days();
    assert_eq!(days.len(), 3);
    let searcher = index.searcher();
    let all = events.len() as u64;
    assert_eq!(total(&searcher, None, None), all);

    // A copy that is not the day's current index is refused.
    assert!(!index.make_cold(days[0], b"{}").unwrap());
    let meta = publish(&index_dir, &bucket, days[0]);
    assert!(index.make_cold(days[0], &meta).unwrap());
    assert!(!index_dir.join(format!("date={}", days[0])).exists());
    assert_eq!(index.days(), days[1..].to_vec());
    assert_eq!(index.cold_days(), vec![days[0]]);
    assert_eq!(search::cold_days(&index_dir).unwrap().len(), 1);

    // A search that does not meet the cold day fetches nothing; one that does fetches it once
    // into the cache and answers with every event.
    let start_of = |day: NaiveDate| {
        day.and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros()
    };
    let day1_start = start_of(days[1]);
    assert!(total(&searcher, Some(day1_start), None) < all);
    assert_eq!(bucket.fetches.load(Ordering::SeqCst), 0);
    assert_eq!(total(&searcher, None, None), all);
    assert_eq!(total(&searcher, None, None), all);
    assert_eq!(searcher.doc_count(), all);
    assert_eq!(bucket.fetches.load(Ordering::SeqCst), 1);
    // Another process's searcher sees the day as cold too, and fetches it through its store.
    let outside = Searcher::open(&index_dir).unwrap();
    assert!(outside.search(&SearchRequest::new("*")).is_err());
    outside.with_cold_store(bucket.clone(), 1);
    assert_eq!(total(&outside, None, None), all);

    // A second cold day: the cache keeps one day, so the first is fetched again when needed.
    let meta = publish(&index_dir, &bucket, days[1]);
    assert!(index.make_cold(days[1], &meta).unwrap());
    assert_eq!(total(&searcher, None, None), all);
    assert_eq!(total(&searcher, None, None), all);
    assert!(bucket.fetches.load(Ordering::SeqCst) >= 3);

    // A write to a cold day (a backfill) brings it back first: nothing it held is lost.
    let late = events_from(200, 29, 1.0, start_of(days[0]) + 3_600_000_000);
    index.add(&late, &[]).unwrap();
    index.commit(2).unwrap();
    assert!(index_dir.join(format!("date={}", days[0])).exists());
    assert_eq!(index.cold_days(), vec![days[1]]);
    assert_eq!(total(&searcher, None, None), all + late.len() as u64);

    // Reopened, the cold day stays cold; retention drops it like a local one.
    drop(index);
    let mut index = SearchIndex::open(&index_dir, IndexOptions::default()).unwrap();
    index.set_cold_store(bucket.clone(), 1);
    assert_eq!(index.cold_days(), vec![days[1]]);
    assert_eq!(index.drop_days_before(days[2]).unwrap(), 2);
    assert!(index.cold_days().is_empty());
    assert_eq!(
        total(&index.searcher(), None, None),
        events
            .iter()
            .filter(|event| event.time >= start_of(days[2]))
            .count() as u64
    );
}
