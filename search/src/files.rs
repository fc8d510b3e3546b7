//! The directory layout: `date=YYYY-MM-DD/` day indexes, `_state.json`, the writer lock.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use tracing::warn;

use crate::SearchError;

pub(crate) const STATE_FILE: &str = "_state.json";
pub(crate) const LOCK_FILE: &str = ".writer.lock";
const STATE_VERSION: u32 = 1;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// `_state.json`: the last fully committed sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    pub version: u32,
    pub seq: u64,
}

impl State {
    pub fn new(seq: u64) -> State {
        State {
            version: STATE_VERSION,
            seq,
        }
    }
}

/// Reads `_state.json`; `None` when there is none yet.
pub(crate) fn read_state(dir: &Path) -> Result<Option<State>, SearchError> {
    read_versioned(
        dir,
        STATE_FILE,
        |state: &State| state.version,
        STATE_VERSION,
    )
}

/// Reads and parses the JSON file `dir/name`, whose `version_of` must be `version`; `None`
/// when there is none.
pub(crate) fn read_versioned<T: serde::de::DeserializeOwned>(
    dir: &Path,
    name: &str,
    version_of: impl Fn(&T) -> u32,
    version: u32,
) -> Result<Option<T>, SearchError> {
    let path = dir.join(name);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(SearchError::io(format!("read {}", path.display()), error)),
    };
    let value: T = serde_json::from_slice(&bytes).map_err(|error| SearchError::State {
        path: path.clone(),
        message: error.to_string(),
    })?;
    if version_of(&value) != version {
        return Err(SearchError::State {
            path,
            message: format!(
                "version {} is not the supported version {version}",
                version_of(&value)
            ),
        });
    }
    Ok(Some(value))
}

/// Writes `_state.json` atomically: a temporary file, fsync, rename, fsync of the directory.
pub(crate) fn write_state(dir: &Path, state: &State) -> Result<(), SearchError> {
    let bytes = serde_json::to_vec(state).map_err(|error| SearchError::State {
        path: dir.join(STATE_FILE),
        message: error.to_string(),
    })?;
    write_atomically(dir, STATE_FILE, &bytes)
}

/// Replaces `dir/name` with `bytes` atomically: a temporary file, fsync, rename, fsync of the
/// directory.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), SearchError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let context = |what: &str| format!("{what} {}", tmp.display());
    let mut file = File::create(&tmp).map_err(|error| SearchError::io(context("create"), error))?;
    file.write_all(bytes)
        .map_err(|error| SearchError::io(context("write"), error))?;
    file.sync_all()
        .map_err(|error| SearchError::io(context("fsync"), error))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(|error| {
        SearchError::io(
            format!("rename {} to {}", tmp.display(), path.display()),
            error,
        )
    })?;
    fsync_dir(dir)
}

pub(crate) fn fsync_dir(dir: &Path) -> Result<(), SearchError> {
    File::open(dir)
        .and_then(|file| file.sync_all())
        .map_err(|error| SearchError::io(format!("fsync {}", dir.display()), error))
}

/// The UTC day of a time in microseconds since the epoch.
pub(crate) fn day_of(micros: i64) -> NaiveDate {
    let days = micros.div_euclid(MICROS_PER_DAY) + UNIX_EPOCH_DAYS_FROM_CE;
    i32::try_from(days)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .unwrap_or(if micros < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        })
}

/// `[start, end)` of a day in microseconds since the epoch.
pub(crate) fn day_range(day: NaiveDate) -> (i64, i64) {
    let start = (i64::from(day.num_days_from_ce()) - UNIX_EPOCH_DAYS_FROM_CE) * MICROS_PER_DAY;
    (start, start.saturating_add(MICROS_PER_DAY))
}

pub(crate) fn day_dir_name(day: NaiveDate) -> String {
    format!("date={}", day.format("%Y-%m-%d"))
}

pub(crate) fn parse_day_dir(name: &str) -> Option<NaiveDate> {
    let date = name.strip_prefix("date=")?;
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

/// The day index directories under `dir`, oldest first.
pub(crate) fn list_days(dir: &Path) -> Result<Vec<(NaiveDate, PathBuf)>, SearchError> {
    let entries = fs::read_dir(dir)
        .map_err(|error| SearchError::io(format!("list {}", dir.display()), error))?;
    let mut days = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|error| SearchError::io(format!("list {}", dir.display()), error))?;
        let name = entry.file_name();
        if let Some(day) = name.to_str().and_then(parse_day_dir)
            && entry.path().is_dir()
        {
            days.push((day, entry.path()));
        }
    }
    days.sort();
    Ok(days)
}

/// Removes a day index directory: renamed aside first, so a crash never leaves a half-deleted
/// day that looks like an index.
pub(crate) fn remove_day_dir(dir: &Path, day: NaiveDate) -> Result<(), SearchError> {
    let path = dir.join(day_dir_name(day));
    let trash = dir.join(format!(".trash-{}", day_dir_name(day)));
    if path.exists() {
        fs::rename(&path, &trash).map_err(|error| {
            SearchError::io(
                format!("rename {} to {}", path.display(), trash.display()),
                error,
            )
        })?;
        fsync_dir(dir)?;
    }
    remove_trash(dir)
}

/// Deletes leftovers of interrupted removals and state writes.
pub(crate) fn remove_trash(dir: &Path) -> Result<(), SearchError> {
    let entries = fs::read_dir(dir)
        .map_err(|error| SearchError::io(format!("list {}", dir.display()), error))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if name.starts_with(".trash-") || name.starts_with(".fetch-") {
            fs::remove_dir_all(&path)
                .map_err(|error| SearchError::io(format!("remove {}", path.display()), error))?;
        } else if name == format!(".{STATE_FILE}.tmp")
            || name == format!(".{}.tmp", crate::cold::COLD_FILE)
        {
            fs::remove_file(&path)
                .map_err(|error| SearchError::io(format!("remove {}", path.display()), error))?;
        }
    }
    Ok(())
}

/// Whether `name` is a temporary file of tantivy's atomic writes (`meta.json` and
/// `.managed.json` are written to `.tmpXXXXXX` and renamed): in flight while a writer runs,
/// left behind by a kill.
pub(crate) fn is_interrupted_write(name: &str) -> bool {
    name.strip_prefix(".tmp").is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|byte| byte.is_ascii_alphanumeric())
    })
}

/// Deletes the temporary files of atomic writes a kill interrupted in the day index `dir`
/// (called at open, with the writer's lock held, so none is in flight).
pub(crate) fn remove_interrupted_writes(dir: &Path) -> Result<(), SearchError> {
    let entries = fs::read_dir(dir)
        .map_err(|error| SearchError::io(format!("read {}", dir.display()), error))?;
    for entry in entries {
        let entry =
            entry.map_err(|error| SearchError::io(format!("read {}", dir.display()), error))?;
        if is_interrupted_write(&entry.file_name().to_string_lossy()) {
            let path = entry.path();
            fs::remove_file(&path)
                .map_err(|error| SearchError::io(format!("remove {}", path.display()), error))?;
            warn!(path = %path.display(), "removed the temporary file of an interrupted index write");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_files_of_atomic_writes_are_told_apart() {
        assert!(is_interrupted_write(".tmpQ2x9Zk"));
        for name in [
            ".tmp",
            "meta.json",
            ".tantivy-meta.lock",
            ".tmp-x",
            "x.tmpA",
        ] {
            assert!(!is_interrupted_write(name), "{name}");
        }
    }

    #[test]
    fn days_and_ranges() {
        let day = day_of(1_717_243_200_000_000); // 2024-06-01T12:00:00Z
        assert_eq!(day, NaiveDate::from_ymd_opt(2024, 6, 1).unwrap());
        assert_eq!(
            day_range(day),
            (1_717_200_000_000_000, 1_717_286_400_000_000)
        );
        assert_eq!(day_of(-1), NaiveDate::from_ymd_opt(1969, 12, 31).unwrap());
        assert_eq!(parse_day_dir(&day_dir_name(day)), Some(day));
        assert_eq!(parse_day_dir("date=2024-13-01"), None);
        assert_eq!(day.year(), 2024);
    }
}
