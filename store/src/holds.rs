//! Legal holds: a time range, optionally narrowed to a cluster and a namespace, that retention
//! never deletes until the hold is released. Each hold records who placed it and why, and a
//! release records who lifted it and why; released holds stay in the file as history.
//!
//! Holds live in `<data_dir>/_holds/holds.json`, replaced atomically (temporary file, fsync,
//! rename, fsync of the directory) under `_holds/.lock`, so `kubetrail hold` can change them
//! while `serve` runs; retention reads them at every run.
//!
//! A data directory sharing its bucket with other writers (see [`crate::catalog`]) keeps its
//! holds in the bucket instead (`PREFIX/_holds/<generation>.json`, see
//! [`crate::generations`]): a hold placed through any replica holds every writer's data, and
//! a bucket that cannot be read stops retention rather than letting it run without the holds.
//! The first shared version starts from the local file.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::files;

/// Directory of the holds under the data directory.
pub const HOLDS_DIR: &str = "_holds";
const HOLDS_FILE: &str = "holds.json";
const LOCK_FILE: &str = ".lock";

/// One legal hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// `hold-<n>`, numbered in order of creation.
    pub id: String,
    /// Start of the held event time, inclusive (RFC 3339, UTC).
    pub from: String,
    /// End of the held event time, exclusive (RFC 3339, UTC).
    pub to: String,
    /// Only this cluster's rows are held (all clusters when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Only this namespace's rows are held (all namespaces when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub reason: String,
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<Release>,
}

/// Who lifted a hold, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub by: String,
    pub reason: String,
    /// RFC 3339, UTC.
    pub at: String,
}

/// What a new hold covers and why.
#[derive(Debug, Clone)]
pub struct NewHold {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    pub reason: String,
    pub by: String,
}

impl Hold {
    pub fn is_active(&self) -> bool {
        self.released.is_none()
    }

    /// The held range as µs since the epoch, `[from, to)`. A range edited by hand into
    /// something that does not parse holds all time: a hold errs on the side of keeping.
    fn range(&self) -> std::ops::Range<i64> {
        match (micros(&self.from), micros(&self.to)) {
            (Some(from), Some(to)) => from..to,
            _ => i64::MIN..i64::MAX,
        }
    }

    /// Whether the hold covers a row of this time (µs), cluster and namespace.
    pub fn covers(&self, micros: i64, cluster: &str, namespace: Option<&str>) -> bool {
        self.is_active()
            && self.range().contains(&micros)
            && self.cluster.as_deref().is_none_or(|held| held == cluster)
            && self
                .namespace
                .as_deref()
                .is_none_or(|held| namespace == Some(held))
    }

    /// Whether the hold's time range meets the UTC day `day`.
    pub fn overlaps_day(&self, day: NaiveDate) -> bool {
        let start = day
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros();
        let end = start + 86_400_000_000;
        let range = self.range();
        self.is_active() && range.start < end && range.end > start
    }

    /// Whether the hold covers whole rows regardless of cluster and namespace (what a dead
    /// letter, which has neither, needs).
    pub fn is_unscoped(&self) -> bool {
        self.cluster.is_none() && self.namespace.is_none()
    }
}

/// The bucket this data directory shares with other writers, if it does.
fn shared(data_dir: &Path) -> Result<Option<crate::remote::Remote>, StoreError> {
    match crate::remote::recorded(data_dir)? {
        Some(config) if config.writer.is_some() => Ok(Some(crate::remote::Remote::open(&config)?)),
        _ => Ok(None),
    }
}

/// Every hold, released ones included, oldest first.
pub fn list(data_dir: &Path) -> Result<Vec<Hold>, StoreError> {
    if let Some(remote) = shared(data_dir)?
        && let Some((_, holds)) = crate::generations::head::<Vec<Hold>>(&remote, HOLDS_DIR)?
    {
        return Ok(holds);
    }
    list_local(data_dir)
}

fn list_local(data_dir: &Path) -> Result<Vec<Hold>, StoreError> {
    let path = data_dir.join(HOLDS_DIR).join(HOLDS_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(StoreError::ReadFile { path, source }),
    };
    serde_json::from_str(&text).map_err(|error| StoreError::CorruptHolds {
        path,
        reason: error.to_string(),
    })
}

/// Places a hold; returns it with its id.
pub fn add(data_dir: &Path, new: NewHold) -> Result<Hold, StoreError> {
    if new.to <= new.from {
        return Err(StoreError::InvalidHold {
            reason: format!(
                "the range ends ({}) before it starts ({})",
                new.to, new.from
            ),
        });
    }
    if new.reason.trim().is_empty() || new.by.trim().is_empty() {
        return Err(StoreError::InvalidHold {
            reason: "a hold needs a reason and who places it".to_owned(),
        });
    }
    change(data_dir, |holds| {
        let hold = Hold {
            id: format!("hold-{}", holds.len() + 1),
            from: rfc3339(new.from),
            to: rfc3339(new.to),
            cluster: new.cluster.clone(),
            namespace: new.namespace.clone(),
            reason: new.reason.clone(),
            created_by: new.by.clone(),
            created_at: rfc3339(Utc::now()),
            released: None,
        };
        holds.push(hold.clone());
        Ok(hold)
    })
}

/// Releases the hold `id`; returns it as released.
pub fn release(data_dir: &Path, id: &str, by: &str, reason: &str) -> Result<Hold, StoreError> {
    if reason.trim().is_empty() || by.trim().is_empty() {
        return Err(StoreError::InvalidHold {
            reason: "a release needs a reason and who releases it".to_owned(),
        });
    }
    change(data_dir, |holds| {
        let hold = holds
            .iter_mut()
            .find(|hold| hold.id == id)
            .ok_or_else(|| StoreError::UnknownHold { id: id.to_owned() })?;
        if hold.released.is_some() {
            return Err(StoreError::InvalidHold {
                reason: format!("{id} is released already"),
            });
        }
        hold.released = Some(Release {
            by: by.to_owned(),
            reason: reason.to_owned(),
            at: rfc3339(Utc::now()),
        });
        Ok(hold.clone())
    })
}

/// Reads, changes and atomically replaces the holds file under its lock, or the bucket's
/// holds in a new generation when the data directory shares its bucket (`apply` then runs
/// again on a newer version if another writer changed them meanwhile).
fn change<T>(
    data_dir: &Path,
    mut apply: impl FnMut(&mut Vec<Hold>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if !data_dir.is_dir() {
        return Err(StoreError::DataDirMissing {
            path: data_dir.to_owned(),
        });
    }
    if let Some(remote) = shared(data_dir)? {
        let (answer, _) = crate::generations::update(
            &remote,
            HOLDS_DIR,
            || list_local(data_dir),
            |holds: &mut Vec<Hold>, _| apply(holds).map(|answer| (true, answer)),
        )?;
        return Ok(answer);
    }
    let dir = data_dir.join(HOLDS_DIR);
    files::create_dir_durable(data_dir, &dir)?;
    let lock_path = dir.join(LOCK_FILE);
    let lock = File::create(&lock_path).map_err(|source| StoreError::WriteFile {
        path: lock_path.clone(),
        source,
    })?;
    lock.lock().map_err(|source| StoreError::Locked {
        path: lock_path,
        source,
    })?;
    let mut holds = list_local(data_dir)?;
    let result = apply(&mut holds)?;
    let path: PathBuf = dir.join(HOLDS_FILE);
    let tmp = dir.join(format!(".{HOLDS_FILE}.tmp"));
    let json = serde_json::to_string_pretty(&holds).expect("holds serialise");
    files::write_lines(&tmp, &[json])?;
    files::rename(&tmp, &path)?;
    files::sync_dir(&dir)?;
    Ok(result)
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn micros(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.timestamp_micros())
}
