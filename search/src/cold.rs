//! Cold days: day indexes kept in object storage rather than on local disk.
//!
//! A day index older than the hot period, once copied to the bucket whole, can be made cold
//! ([`crate::SearchIndex::make_cold`]): it is recorded in `_cold.json`, then its directory is
//! deleted. Searches whose time range meets a cold day fetch it through [`ColdStore`] into a
//! local cache (`_cache/date=…/`) that keeps the most recently used `cold_cache_days` days; a
//! write to a cold day (a backfill, a retention rewrite) first brings it back
//! (`date=…/` again, no longer cold). A day both cold and on local disk (a crash between the
//! two steps) is local: the record is dropped at open.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::SearchError;
use crate::day::DayHandle;
use crate::files::{self, day_dir_name};

/// Where cold days are: copies a day index into a local directory.
pub trait ColdStore: Send + Sync + std::fmt::Debug {
    /// Copies the day index of `day` into the empty directory `into` (its `meta.json` last).
    fn fetch(&self, day: NaiveDate, into: &Path) -> Result<(), SearchError>;
}

pub(crate) const COLD_FILE: &str = "_cold.json";
pub(crate) const CACHE_DIR: &str = "_cache";
const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColdFile {
    version: u32,
    /// `YYYY-MM-DD`.
    days: BTreeSet<String>,
}

/// The cold days recorded under `dir` (a search directory).
pub fn cold_days(dir: &Path) -> Result<BTreeSet<NaiveDate>, SearchError> {
    let Some(file) =
        files::read_versioned(dir, COLD_FILE, |file: &ColdFile| file.version, VERSION)?
    else {
        return Ok(BTreeSet::new());
    };
    file.days
        .iter()
        .map(|day| {
            NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| SearchError::State {
                path: dir.join(COLD_FILE),
                message: format!("{day:?} is not a day"),
            })
        })
        .collect()
}

/// Records `days` as the cold days under `dir`, atomically and durably.
pub(crate) fn write_cold_days(dir: &Path, days: &BTreeSet<NaiveDate>) -> Result<(), SearchError> {
    let path = dir.join(COLD_FILE);
    let bytes = serde_json::to_vec(&ColdFile {
        version: VERSION,
        days: days
            .iter()
            .map(|day| day.format("%Y-%m-%d").to_string())
            .collect(),
    })
    .map_err(|error| SearchError::State {
        path: path.clone(),
        message: error.to_string(),
    })?;
    files::write_atomically(dir, COLD_FILE, &bytes)
}

/// Fetches `day` through `store` into `dir/<day>` (via a hidden directory renamed into place,
/// so a day directory is never half there).
pub(crate) fn fetch_into(
    store: &dyn ColdStore,
    day: NaiveDate,
    dir: &Path,
) -> Result<PathBuf, SearchError> {
    let target = dir.join(day_dir_name(day));
    let partial = dir.join(format!(".fetch-{}", day_dir_name(day)));
    let remove = |path: &Path| match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(SearchError::io(format!("remove {}", path.display()), error)),
    };
    remove(&partial)?;
    std::fs::create_dir_all(&partial)
        .map_err(|error| SearchError::io(format!("create {}", partial.display()), error))?;
    if let Err(error) = store.fetch(day, &partial) {
        let _ = remove(&partial);
        return Err(error);
    }
    remove(&target)?;
    std::fs::rename(&partial, &target).map_err(|error| {
        SearchError::io(
            format!("rename {} to {}", partial.display(), target.display()),
            error,
        )
    })?;
    files::fsync_dir(dir)?;
    Ok(target)
}

/// Cold days fetched for searches, the most recently used kept.
pub(crate) struct ColdCache {
    store: std::sync::Arc<dyn ColdStore>,
    dir: PathBuf,
    capacity: usize,
    /// Day → (handle, last use).
    days: BTreeMap<NaiveDate, (DayHandle, u64)>,
    clock: u64,
}

impl ColdCache {
    /// A cache under `search_dir/_cache`, emptied (what it held may be stale).
    pub fn new(
        store: std::sync::Arc<dyn ColdStore>,
        search_dir: &Path,
        capacity: usize,
    ) -> ColdCache {
        let dir = search_dir.join(CACHE_DIR);
        if let Err(error) = std::fs::remove_dir_all(&dir)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            warn!(dir = %dir.display(), %error, "could not empty the cold day cache");
        }
        ColdCache {
            store,
            dir,
            capacity: capacity.max(1),
            days: BTreeMap::new(),
            clock: 0,
        }
    }

    /// The handle of cold day `day`, fetched if it is not cached; the least recently used
    /// days beyond the capacity leave the cache (searches holding them keep reading them).
    pub fn get(&mut self, day: NaiveDate) -> Result<&DayHandle, SearchError> {
        self.clock += 1;
        let clock = self.clock;
        if !self.days.contains_key(&day) {
            std::fs::create_dir_all(&self.dir).map_err(|error| {
                SearchError::io(format!("create {}", self.dir.display()), error)
            })?;
            let started = std::time::Instant::now();
            let path = fetch_into(self.store.as_ref(), day, &self.dir)?;
            let handle = DayHandle::open(day, &path)?;
            info!(%day, took_ms = started.elapsed().as_millis() as u64, "fetched a cold search day");
            self.days.insert(day, (handle, clock));
            while self.days.len() > self.capacity {
                let Some(oldest) = self
                    .days
                    .iter()
                    .filter(|(cached, _)| **cached != day)
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(day, _)| *day)
                else {
                    break;
                };
                self.forget(oldest);
            }
        }
        let entry = self.days.get_mut(&day).expect("cached just now");
        entry.1 = clock;
        Ok(&entry.0)
    }

    /// Drops `day` from the cache (retention dropped it, or it is local again).
    pub fn forget(&mut self, day: NaiveDate) {
        if self.days.remove(&day).is_some() {
            let path = self.dir.join(day_dir_name(day));
            if let Err(error) = std::fs::remove_dir_all(&path) {
                warn!(path = %path.display(), %error, "could not remove a cached cold day");
            }
        }
    }
}
