//! The columnar store's writer: atomic, crash-safe commits of events, alerts and dead letters
//! together with the caller's resume state (where its sources stood, its detection state).
//!
//! # Commit protocol
//!
//! Invariant: a crash at any instant leaves no partial file visible to a reader and, after
//! [`ColumnarStore::open`], no lost and no duplicated row. A commit has three steps:
//!
//! 1. **prepare** — every data file of the batch is written in its final partition directory
//!    under a hidden temporary name, `.part-<seq>-<n>.<ext>.tmp`, then fsynced together with its
//!    directory. Readers ignore these names: tables list only `*.parquet`, and Spark/DuckDB/Trino
//!    skip dot-files too.
//! 2. **publish** — the commit record `_commits/<seq:020>.json`, naming every file and holding
//!    the resume state and cumulative totals, is written to a temporary name, fsynced, renamed into
//!    place and the `_commits` directory fsynced. This rename is the commit point.
//! 3. **finish** — each temporary file is renamed to its final name `part-<seq:020>-<n:04>.<ext>`
//!    and the directories fsynced; commit records older than the last [`KEPT_COMMITS`] are
//!    pruned.
//!
//! Recovery on open: every retained commit record is rolled forward (pending renames done, so a
//! crash after publish loses nothing); then every temporary file left in the tables is deleted
//! (a crash before publish leaves nothing behind, and the source replays from the previous
//! state, so nothing is duplicated). The newest record's state is [`ColumnarStore::state`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};

use chrono::Utc;
use event::{Alert, DeadLetter, Event};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tracing::{debug, info, warn};

use crate::files::{self, ALERTS_LAYOUT, EVENTS_LAYOUT};
use crate::ledger::{self, CommitKind, Ledger, LedgerEntry, LedgerFile};
use crate::parts::PartName;
use crate::schema::{alerts_batch, alerts_file_schema, events_batch, events_file_schema};
use crate::{Config, StoreError};

/// Directory (under the data directory) of the `events` table.
pub const EVENTS_DIR: &str = "events";
/// Directory of the `alerts` table.
pub const ALERTS_DIR: &str = "alerts";
/// Directory of the dead-letter JSON lines.
pub const DEAD_LETTERS_DIR: &str = "dead_letters";
/// Directory of the commit log.
pub const COMMITS_DIR: &str = "_commits";
/// Directory where files replaced or removed by compaction and retention wait, under their
/// commit's seq, until no query can still be reading them.
pub const RETIRED_DIR: &str = "_retired";
/// How many commit records are kept; older ones are pruned after each commit.
pub const KEPT_COMMITS: usize = 8;

const LOCK_FILE: &str = ".kubetrail.lock";
/// Format of new commit records. Format 1 named the state `checkpoint`; it is read as is.
/// Format 3 added the ledger fields (`kind`, `prev`, `reason`, `removed`, files' `sha256`).
const RECORD_FORMAT: u32 = 3;
const READABLE_FORMATS: [u32; 3] = [1, 2, 3];

/// Cumulative counters of everything committed to this data directory, persisted in each
/// commit record so they survive restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Sequence number of the newest commit, 0 before the first.
    pub last_seq: u64,
    pub commits: u64,
    pub events: u64,
    pub alerts: u64,
    pub dead_letters: u64,
    /// Data files written (Parquet and JSON lines).
    pub files: u64,
    /// Bytes of data files written.
    pub bytes: u64,
}

/// What one commit wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitInfo {
    /// Sequence number of the commit; for a no-op commit (nothing to write, no state) the
    /// sequence number of the previous commit.
    pub seq: u64,
    pub events: usize,
    pub alerts: usize,
    pub dead_letters: usize,
    /// Rows dropped because their `event_id` (or `alert_id`) repeated within the batch.
    pub duplicates: usize,
    pub files: usize,
    pub bytes: u64,
}

/// One data file named by a commit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileEntry {
    /// Table directory: `events`, `alerts` or `dead_letters`.
    table: String,
    /// Partition path inside the table, e.g. `date=2026-01-01/hour=03`.
    partition: String,
    /// Final file name, e.g. `part-00000000000000000042-0000.parquet`.
    name: String,
    rows: u64,
    bytes: u64,
    /// SHA-256 of the file, lowercase hex (records of format 3 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    /// In the bucket: moved there from `staged` when the commit finishes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    remote: bool,
    /// The hidden name the file was uploaded under, in the bucket (see
    /// [`crate::compaction::Merged::stage`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    staged: Option<String>,
}

impl FileEntry {
    /// Path under the data directory, `/`-separated, as the ledger names it.
    fn ledger_path(&self) -> String {
        format!("{}/{}/{}", self.table, self.partition, self.name)
    }

    fn dir(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(&self.table).join(&self.partition)
    }

    fn final_path(&self, data_dir: &Path) -> PathBuf {
        self.dir(data_dir).join(&self.name)
    }

    fn tmp_path(&self, data_dir: &Path) -> PathBuf {
        self.dir(data_dir).join(format!(".{}.tmp", self.name))
    }
}

/// The commit log entry `_commits/<seq:020>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CommitRecord {
    format: u32,
    seq: u64,
    committed_at: String,
    /// The caller's resume state, opaque JSON the store never reads; carried forward from the
    /// previous commit when a commit gives none. (`checkpoint` in records of format 1.)
    #[serde(alias = "checkpoint")]
    state: Option<Box<RawValue>>,
    /// What the commit did; rows written unless it says otherwise.
    #[serde(default)]
    kind: CommitKind,
    /// SHA-256 of the previous ledger line (records of format 3 on): the record is the
    /// write-ahead copy of its ledger line (see [`crate::ledger`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prev: Option<String>,
    /// Why files were removed (retention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    files: Vec<FileEntry>,
    /// Files this commit deletes, as paths under the data directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    removed: Vec<String>,
    totals: StoreStats,
}

impl CommitRecord {
    /// The record's ledger line; `None` for records written before the ledger (format < 3).
    pub(crate) fn ledger_entry(&self) -> Option<LedgerEntry> {
        let prev = self.prev.clone()?;
        Some(LedgerEntry {
            seq: self.seq,
            kind: self.kind,
            committed_at: self.committed_at.clone(),
            prev,
            reason: self.reason.clone(),
            added: self
                .files
                .iter()
                .map(|file| LedgerFile {
                    path: file.ledger_path(),
                    bytes: file.bytes,
                    sha256: file.sha256.clone().unwrap_or_default(),
                    remote: file.remote,
                })
                .collect(),
            removed: self.removed.clone(),
        })
    }
}

/// A prepared commit: its files are written under temporary names, nothing is visible yet.
/// Pass it to [`ColumnarStore::publish`] then [`ColumnarStore::finish`].
#[derive(Debug)]
pub struct CommitPlan {
    record: CommitRecord,
    info: CommitInfo,
}

impl CommitPlan {
    /// Sequence number this commit will have.
    pub fn seq(&self) -> u64 {
        self.record.seq
    }

    /// Temporary paths of the prepared files.
    pub fn tmp_paths(&self, data_dir: &Path) -> Vec<PathBuf> {
        self.record
            .files
            .iter()
            .map(|file| file.tmp_path(data_dir))
            .collect()
    }
}

/// Writer of the hive-partitioned Parquet tables under one data directory. One writer per data
/// directory (enforced with a file lock).
#[derive(Debug)]
pub struct ColumnarStore {
    config: Config,
    /// Held for the store's lifetime; dropping it releases the lock.
    _lock: File,
    ledger: Ledger,
    last: Option<CommitRecord>,
    /// Set between publish and finish: a failed finish is rolled forward before the next commit.
    needs_recovery: bool,
    /// The bucket settled partitions move to, if configured.
    remote: Option<crate::remote::Remote>,
}

impl ColumnarStore {
    /// Opens (creating) the data directory and recovers from any crash: completes a published
    /// commit whose renames were interrupted, deletes files of unpublished ones. The state of
    /// the last commit is then [`state`](Self::state).
    pub fn open(config: &Config) -> Result<ColumnarStore, StoreError> {
        config.validate()?;
        let data_dir = &config.data_dir;
        fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.clone(),
            source,
        })?;
        for dir in [EVENTS_DIR, ALERTS_DIR, DEAD_LETTERS_DIR, COMMITS_DIR] {
            files::create_dir_durable(data_dir, &data_dir.join(dir))?;
        }
        let lock_path = data_dir.join(LOCK_FILE);
        let lock = File::create(&lock_path).map_err(|source| StoreError::WriteFile {
            path: lock_path.clone(),
            source,
        })?;
        lock.try_lock().map_err(|error| {
            let source = match error {
                TryLockError::WouldBlock => std::io::Error::from(std::io::ErrorKind::WouldBlock),
                TryLockError::Error(error) => error,
            };
            StoreError::Locked {
                path: lock_path.clone(),
                source,
            }
        })?;
        let remote = match &config.object_store {
            Some(remote) => {
                crate::remote::bind(data_dir, remote)?;
                Some(crate::remote::Remote::open(remote)?)
            }
            None => match crate::remote::recorded(data_dir)? {
                // Settled partitions are in a bucket: without it they would look deleted.
                Some(recorded) => {
                    return Err(StoreError::InvalidConfig {
                        reason: format!(
                            "this data directory's settled partitions are in {}: configure [store.object_store] with that url",
                            recorded.url
                        ),
                    });
                }
                None => None,
            },
        };
        let mut store = ColumnarStore {
            config: config.clone(),
            _lock: lock,
            ledger: Ledger::open(data_dir)?,
            last: None,
            needs_recovery: true,
            remote,
        };
        store.recover()?;
        store.remove_abandoned_uploads()?;
        store.adopt_unchained()?;
        info!(data_dir = %data_dir.display(), last_seq = store.stats().last_seq, "opened columnar store");
        Ok(store)
    }

    /// Root of the data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// Cumulative counters over every commit to this data directory.
    pub fn stats(&self) -> StoreStats {
        self.last
            .as_ref()
            .map(|record| record.totals)
            .unwrap_or_default()
    }

    /// Retention by class with legal holds (see [`crate::retention`]): plans as of `today`,
    /// then removes and rewrites partitions in one chained `retention` commit. The record (and
    /// the ledger line) names every file removed and written, and why, so `verify` tells a
    /// deletion by policy from a deletion by someone. A crash mid-way is finished on the next
    /// open. Returns the plan carried out, with its commit's seq.
    pub fn apply_retention(
        &mut self,
        policy: &crate::retention::Policy,
        holds: &[crate::holds::Hold],
        today: chrono::NaiveDate,
    ) -> Result<crate::retention::Plan, StoreError> {
        let mut plan = crate::retention::plan(&self.config.data_dir, policy, holds, today)?;
        if plan.is_empty() {
            return Ok(plan);
        }
        if self.needs_recovery {
            self.recover()?;
        }
        let seq = self.stats().last_seq + 1;
        let mut writer = BatchWriter::new(&self.config, seq);
        let written = writer.write_rewrites(&plan.rewrites);
        if let Err(error) = written {
            writer.remove_written();
            return Err(error);
        }
        let files = writer.files;
        let label = policy
            .describe(|days| days.map_or_else(|| "for ever".to_owned(), |days| format!("{days}d")));
        let reason = format!("retention ({label}) as of {today}");
        self.commit_maintenance(
            CommitKind::Retention,
            Some(reason),
            files,
            std::mem::take(&mut plan.removed),
        )?;
        plan.seq = Some(seq);
        info!(seq, summary = %plan.summary(), "retention: partitions removed and rewritten");
        Ok(plan)
    }

    /// Compaction (see [`crate::compaction`]) run here and now: plans as of `now` among files
    /// of commits up to `max_seq`, merges and commits, a chained `compaction` commit per batch of
    /// groups (so a crash loses little work), then deletes retirements past the grace period.
    pub fn compact(
        &mut self,
        options: &crate::compaction::Options,
        now: chrono::DateTime<Utc>,
        max_seq: u64,
    ) -> Result<crate::compaction::Summary, StoreError> {
        const BATCH_GROUPS: usize = 64;
        let offload = self.remote.is_some();
        let groups =
            crate::compaction::plan(&self.config.data_dir, options, now, max_seq, offload)?;
        let mut summary = crate::compaction::Summary::default();
        let mut groups = groups.into_iter().peekable();
        while groups.peek().is_some() {
            let batch = groups.by_ref().take(BATCH_GROUPS);
            let merged =
                crate::compaction::merge_all(&self.config, batch, self.remote.as_ref(), u64::MAX)?;
            summary.add(self.commit_compaction(merged)?);
        }
        summary.purged = crate::compaction::purge_retired(
            &self.config.data_dir,
            self.remote.as_ref(),
            options.grace(),
        )?;
        Ok(summary)
    }

    /// Commits merged files (from [`crate::compaction::merge`], possibly run on another
    /// thread): one chained `compaction` commit adds each under its final name and removes
    /// the files it replaces. A group whose inputs are no longer all live (retention got there
    /// first) is given up.
    pub fn commit_compaction(
        &mut self,
        merged: Vec<crate::compaction::Merged>,
    ) -> Result<crate::compaction::Summary, StoreError> {
        if self.needs_recovery {
            self.recover()?;
        }
        let data_dir = self.config.data_dir.clone();
        let (current, stale): (Vec<_>, Vec<_>) = merged.into_iter().partition(|merged| {
            merged.is_present()
                && merged
                    .group
                    .input_paths()
                    .iter()
                    .all(|path| data_dir.join(path).is_file())
        });
        if !stale.is_empty() {
            info!(
                groups = stale.len(),
                "compaction: files changed since they were merged; merge given up"
            );
            stale
                .into_iter()
                .for_each(crate::compaction::Merged::discard);
        }
        let mut summary = crate::compaction::Summary::default();
        if current.is_empty() {
            return Ok(summary);
        }
        let seq = self.stats().last_seq + 1;
        let mut files = Vec::with_capacity(current.len());
        let mut removed = Vec::new();
        for (n, merged) in current.into_iter().enumerate() {
            let (first, last) = merged.group.covers();
            let part = PartName::replacing(seq, u32::try_from(n).unwrap_or(u32::MAX), first, last);
            let entry = FileEntry {
                table: merged.group.table.to_owned(),
                partition: merged.group.partition.clone(),
                name: part.file_name(self.config.writer(), merged.group.extension()),
                rows: merged.rows,
                bytes: merged.bytes,
                sha256: Some(merged.sha256.clone()),
                remote: merged.staged.is_some(),
                staged: merged.staged.as_ref().map(|(_, key)| key.clone()),
            };
            if merged.staged.is_none() {
                files::rename(&merged.tmp_path, &entry.tmp_path(&data_dir))?;
            }
            summary.groups += 1;
            summary.files_in += merged.group.inputs.len();
            summary.bytes_in += merged.group.bytes();
            summary.bytes_out += merged.bytes;
            summary.rows += merged.rows;
            removed.extend(merged.group.input_paths());
            files.push(entry);
        }
        let reason = format!(
            "compaction: {} files merged into {}",
            summary.files_in, summary.groups
        );
        self.commit_maintenance(CommitKind::Compaction, Some(reason), files, removed)?;
        summary.seq = Some(seq);
        info!(
            seq,
            groups = summary.groups,
            files = summary.files_in,
            bytes_in = summary.bytes_in,
            bytes_out = summary.bytes_out,
            "compaction: small files merged"
        );
        Ok(summary)
    }

    /// Takes the files of a data directory written before it had a ledger into the chain, as
    /// they are now, with an `adopt` commit: from here on `verify` checks them like any other.
    fn adopt_unchained(&mut self) -> Result<(), StoreError> {
        let Some(last) = &self.last else {
            return Ok(());
        };
        if last.prev.is_some() || self.ledger.head().is_some() {
            return Ok(());
        }
        let mut found = Vec::new();
        for table in [EVENTS_DIR, ALERTS_DIR, DEAD_LETTERS_DIR] {
            for (path, bytes) in files::list_files(&self.config.data_dir.join(table))? {
                if path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with('.'))
                {
                    continue;
                }
                let relative = relative_path(&self.config.data_dir, &path);
                let Some((partition, name)) = relative
                    .strip_prefix(table)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .and_then(|rest| rest.rsplit_once('/'))
                else {
                    continue;
                };
                found.push(FileEntry {
                    table: table.to_owned(),
                    partition: partition.to_owned(),
                    name: name.to_owned(),
                    rows: 0,
                    bytes,
                    sha256: Some(hash_file(&path)?),
                    remote: false,
                    staged: None,
                });
            }
        }
        info!(
            files = found.len(),
            "data written before the ledger: taking its files into the chain as they are"
        );
        let reason = "files written before this data directory had a ledger".to_owned();
        self.commit_maintenance(CommitKind::Adopt, Some(reason), found, Vec::new())
    }

    /// A commit of the store's own (retention, adoption): no rows, the resume state carried
    /// over, its files added or removed as the record says.
    fn commit_maintenance(
        &mut self,
        kind: CommitKind,
        reason: Option<String>,
        files: Vec<FileEntry>,
        removed: Vec<String>,
    ) -> Result<(), StoreError> {
        if self.needs_recovery {
            self.recover()?;
        }
        let previous = self.stats();
        let seq = previous.last_seq + 1;
        let written: u64 = files.iter().map(|file| file.bytes).sum();
        let files_written = if kind == CommitKind::Adopt {
            0
        } else {
            files.len() as u64
        };
        let written = if kind == CommitKind::Adopt {
            0
        } else {
            written
        };
        let record = CommitRecord {
            format: RECORD_FORMAT,
            seq,
            committed_at: now_rfc3339(),
            state: self.state().map(RawValue::to_owned),
            kind,
            prev: Some(self.ledger.prev().to_owned()),
            reason,
            files,
            removed,
            totals: StoreStats {
                last_seq: seq,
                commits: previous.commits + 1,
                files: previous.files + files_written,
                bytes: previous.bytes + written,
                ..previous
            },
        };
        let plan = CommitPlan {
            record,
            info: CommitInfo {
                seq,
                ..CommitInfo::default()
            },
        };
        self.publish(&plan)?;
        self.finish(plan)?;
        Ok(())
    }

    /// The resume state of the last commit (as the caller serialised it).
    pub fn state(&self) -> Option<&RawValue> {
        self.last
            .as_ref()
            .and_then(|record| record.state.as_deref())
    }

    /// Makes a batch durable atomically with the caller's resume state: after this returns, the
    /// rows are visible to queries and `state` is this state, also after a restart; if the
    /// process dies before, neither is. Synchronous and CPU-heavy: async callers run it in `spawn_blocking`.
    ///
    /// A batch with no rows but a state still commits (positions advance past filtered and
    /// dead lines); one with neither is a no-op. Repeated `event_id`s (and `alert_id`s) within
    /// the batch are stored once; across batches, deduplication is the pipeline's dedupe stage.
    pub fn commit(
        &mut self,
        events: &[Event],
        alerts: &[Alert],
        dead_letters: &[DeadLetter],
        state: Option<&RawValue>,
    ) -> Result<CommitInfo, StoreError> {
        if events.is_empty() && alerts.is_empty() && dead_letters.is_empty() && state.is_none() {
            return Ok(CommitInfo {
                seq: self.stats().last_seq,
                ..CommitInfo::default()
            });
        }
        let plan = self.prepare(events, alerts, dead_letters, state)?;
        self.publish(&plan)?;
        self.finish(plan)
    }

    /// Step 1 of [`commit`](Self::commit): writes and fsyncs every data file under a temporary
    /// name. Nothing is visible and nothing is committed yet.
    pub fn prepare(
        &mut self,
        events: &[Event],
        alerts: &[Alert],
        dead_letters: &[DeadLetter],
        state: Option<&RawValue>,
    ) -> Result<CommitPlan, StoreError> {
        if self.needs_recovery {
            self.recover()?;
        }
        let seq = self.stats().last_seq + 1;
        let mut writer = BatchWriter::new(&self.config, seq);
        let written = writer.write_all(events, alerts, dead_letters);
        let counts = match written {
            Ok(counts) => counts,
            Err(error) => {
                writer.remove_written();
                return Err(error);
            }
        };
        let previous = self.stats();
        let bytes: u64 = writer.files.iter().map(|file| file.bytes).sum();
        let info = CommitInfo {
            seq,
            events: counts.events,
            alerts: counts.alerts,
            dead_letters: counts.dead_letters,
            duplicates: counts.duplicates,
            files: writer.files.len(),
            bytes,
        };
        let totals = StoreStats {
            last_seq: seq,
            commits: previous.commits + 1,
            events: previous.events + counts.events as u64,
            alerts: previous.alerts + counts.alerts as u64,
            dead_letters: previous.dead_letters + counts.dead_letters as u64,
            files: previous.files + writer.files.len() as u64,
            bytes: previous.bytes + bytes,
        };
        let state = state
            .map(RawValue::to_owned)
            .or_else(|| self.state().map(RawValue::to_owned));
        let record = CommitRecord {
            format: RECORD_FORMAT,
            seq,
            committed_at: now_rfc3339(),
            state,
            kind: CommitKind::Commit,
            prev: Some(self.ledger.prev().to_owned()),
            reason: None,
            files: writer.files,
            removed: Vec::new(),
            totals,
        };
        Ok(CommitPlan { record, info })
    }

    /// Step 2 of [`commit`](Self::commit), the commit point: durably writes the commit record.
    /// From here on the batch and its state survive any crash.
    pub fn publish(&mut self, plan: &CommitPlan) -> Result<(), StoreError> {
        let last = self.stats().last_seq;
        if plan.record.seq != last + 1 {
            return Err(StoreError::OutOfOrderCommit {
                seq: plan.record.seq,
                last,
            });
        }
        let commits_dir = self.config.data_dir.join(COMMITS_DIR);
        let final_path = commits_dir.join(record_name(plan.record.seq));
        let tmp_path = commits_dir.join(format!(".{}.tmp", record_name(plan.record.seq)));
        let json = serde_json::to_string_pretty(&plan.record).map_err(|error| {
            StoreError::CorruptCommit {
                path: final_path.clone(),
                reason: error.to_string(),
            }
        })?;
        files::write_lines(&tmp_path, &[json])?;
        files::rename(&tmp_path, &final_path)?;
        files::sync_dir(&commits_dir)?;
        self.needs_recovery = true;
        self.last = Some(plan.record.clone());
        debug!(
            seq = plan.record.seq,
            files = plan.record.files.len(),
            "published commit"
        );
        Ok(())
    }

    /// Step 3 of [`commit`](Self::commit): renames the files to their visible names (or
    /// removes those a retention commit names), appends the commit's ledger line and prunes old
    /// commit records.
    pub fn finish(&mut self, plan: CommitPlan) -> Result<CommitInfo, StoreError> {
        roll_forward(
            &self.config.data_dir,
            &plan.record,
            &HashSet::new(),
            self.remote.as_ref(),
        )?;
        if let Some(entry) = plan.record.ledger_entry() {
            self.ledger.append(&entry)?;
        }
        prune_commits(&self.config.data_dir)?;
        self.needs_recovery = false;
        Ok(plan.info)
    }

    /// Deletes this data directory's merged files left staged in the bucket by a compaction
    /// that stopped before its commit (a kill during the upload or before the commit record):
    /// after `recover` finished every committed rename, no staged key of this writer is
    /// needed, and the data directory's lock keeps any other compaction of it away.
    fn remove_abandoned_uploads(&self) -> Result<(), StoreError> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let own = self.config.writer();
        for table in [EVENTS_DIR, ALERTS_DIR, DEAD_LETTERS_DIR] {
            for (relative, _) in remote.list(table)? {
                let name = relative.rsplit('/').next().unwrap_or(&relative);
                if crate::compaction::staged_by(name) == Some(own) {
                    warn!(key = %relative, "deleting a merged file an interrupted compaction left in the bucket");
                    remote.delete(&relative)?;
                }
            }
        }
        Ok(())
    }

    /// Rolls every retained commit forward, deletes temporary files of unpublished commits and
    /// loads the newest commit record.
    fn recover(&mut self) -> Result<(), StoreError> {
        let data_dir = self.config.data_dir.clone();
        let commits_dir = data_dir.join(COMMITS_DIR);
        let mut seqs = Vec::new();
        for (path, name, is_dir) in files::list_dir(&commits_dir)? {
            if is_dir {
                continue;
            }
            if let Some(seq) = parse_record_name(&name) {
                seqs.push((seq, path));
            } else if name.starts_with('.') && name.ends_with(".tmp") {
                files::remove_file(&path)?;
            }
        }
        seqs.sort();
        let mut records = seqs
            .iter()
            .map(|(_, path)| read_record(path))
            .collect::<Result<Vec<_>, _>>()?;
        // Files a retained retention commit removed are not missing.
        let retired: HashSet<&str> = records
            .iter()
            .flat_map(|record| record.removed.iter().map(String::as_str))
            .collect();
        for record in &records {
            roll_forward(&data_dir, record, &retired, self.remote.as_ref())?;
            // Records are pruned only after their line is durable, so the retained ones cover
            // whatever the ledger misses.
            if let Some(entry) = record.ledger_entry() {
                self.ledger.append(&entry)?;
            }
        }
        drop(retired);
        let newest = records.pop();
        let removed = remove_uncommitted(&data_dir)?;
        if removed > 0 {
            warn!(
                files = removed,
                "removed temporary files of an interrupted commit"
            );
        }
        prune_commits(&data_dir)?;
        self.last = newest;
        self.needs_recovery = false;
        Ok(())
    }
}

fn record_name(seq: u64) -> String {
    format!("{seq:020}.json")
}

fn parse_record_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    if digits.len() == 20 && digits.bytes().all(|byte| byte.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// The commit records in `data_dir`, oldest first, as `(seq, path)`.
pub(crate) fn record_paths(data_dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut records: Vec<(u64, PathBuf)> = files::list_dir(&data_dir.join(COMMITS_DIR))?
        .into_iter()
        .filter(|(_, _, is_dir)| !is_dir)
        .filter_map(|(path, name, _)| parse_record_name(&name).map(|seq| (seq, path)))
        .collect();
    records.sort();
    Ok(records)
}

/// [`read_record`], or `None` when the record is gone (pruned by a running writer).
pub(crate) fn read_record_if_present(path: &Path) -> Result<Option<CommitRecord>, StoreError> {
    match read_record(path) {
        Ok(record) => Ok(Some(record)),
        Err(StoreError::ReadCommit { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

fn read_record(path: &Path) -> Result<CommitRecord, StoreError> {
    let text = fs::read_to_string(path).map_err(|source| StoreError::ReadCommit {
        path: path.to_owned(),
        source,
    })?;
    let record: CommitRecord =
        serde_json::from_str(&text).map_err(|error| StoreError::CorruptCommit {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
    if !READABLE_FORMATS.contains(&record.format) {
        return Err(StoreError::CorruptCommit {
            path: path.to_owned(),
            reason: format!("unknown record format {}", record.format),
        });
    }
    Ok(record)
}

/// Renames the committed files still under their temporary names, then moves the files the
/// commit replaces or removes (compaction, retention) to `_retired/<seq>/` (where queries
/// that listed them before can still read them, until [`crate::compaction::purge_retired`]) and removes the
/// directories that empties, then syncs the directories. In that order a reader never misses
/// rows: until the rename it sees the old files, after it the live rule hides them (see
/// [`crate::parts`]).
fn roll_forward(
    data_dir: &Path,
    record: &CommitRecord,
    retired: &HashSet<&str>,
    remote: Option<&crate::remote::Remote>,
) -> Result<(), StoreError> {
    let mut dirs = BTreeSet::new();
    for file in &record.files {
        let tmp_path = file.tmp_path(data_dir);
        if file.remote {
            // The rename in the bucket is the instant readers switch to the file.
            let Some(remote) = remote else {
                return Err(StoreError::InvalidConfig {
                    reason: format!(
                        "commit {} names {} in a bucket, and no [store.object_store] is configured",
                        record.seq,
                        file.ledger_path()
                    ),
                });
            };
            if let Some(staged) = &file.staged {
                remote.rename(staged, &file.ledger_path())?;
            }
            continue;
        }
        let final_path = file.final_path(data_dir);
        if tmp_path.exists() {
            files::rename(&tmp_path, &final_path)?;
            dirs.insert(file.dir(data_dir));
        } else if !final_path.exists() && !retired.contains(file.ledger_path().as_str()) {
            warn!(seq = record.seq, path = %final_path.display(), "a committed file is missing, and no retention or compaction removed it (kubetrail verify tells more)");
        }
    }
    for dir in &dirs {
        files::sync_dir(dir)?;
    }
    if record.removed.is_empty() {
        return Ok(());
    }
    let retired_root = data_dir
        .join(RETIRED_DIR)
        .join(format!("{:020}", record.seq));
    let mut emptied = BTreeSet::new();
    let mut retired_dirs = BTreeSet::new();
    for path in &record.removed {
        let from = data_dir.join(path);
        if !from.exists() {
            // Not here, nor retired from here: in the bucket (or already retired there).
            if let Some(remote) = remote
                && !retired_root.join(path).exists()
            {
                remote.retire(path, record.seq)?;
            }
            continue;
        }
        let to = retired_root.join(path);
        if let Some(parent) = to.parent() {
            files::create_dir_durable(data_dir, parent)?;
            retired_dirs.insert(parent.to_owned());
        }
        files::rename(&from, &to)?;
        if let Some(parent) = from.parent() {
            emptied.insert(parent.to_owned());
        }
    }
    for dir in &retired_dirs {
        files::sync_dir(dir)?;
    }
    let mut synced = BTreeSet::new();
    for dir in emptied {
        let table = [EVENTS_DIR, ALERTS_DIR, DEAD_LETTERS_DIR]
            .into_iter()
            .map(|table| data_dir.join(table))
            .find(|table| dir.starts_with(table));
        synced.insert(match table {
            Some(table) => files::remove_empty_dirs(&dir, &table),
            None => dir,
        });
    }
    // A directory a removal emptied is gone; its nearest remaining parent is in the set.
    for dir in synced.iter().filter(|dir| dir.is_dir()) {
        files::sync_dir(dir)?;
    }
    Ok(())
}

/// Deletes temporary data files (`.part-*.tmp`) left by a commit that never published.
fn remove_uncommitted(data_dir: &Path) -> Result<usize, StoreError> {
    fn walk(dir: &Path, depth: usize, removed: &mut usize) -> Result<(), StoreError> {
        let mut removed_here = false;
        for (path, name, is_dir) in files::list_dir(dir)? {
            if is_dir {
                if depth > 0 {
                    walk(&path, depth - 1, removed)?;
                }
            } else if name.starts_with(".part-") && name.ends_with(".tmp") {
                files::remove_file(&path)?;
                *removed += 1;
                removed_here = true;
            }
        }
        if removed_here {
            files::sync_dir(dir)?;
        }
        Ok(())
    }
    let mut removed = 0;
    for table in [EVENTS_DIR, ALERTS_DIR, DEAD_LETTERS_DIR] {
        walk(&data_dir.join(table), 2, &mut removed)?;
    }
    Ok(removed)
}

/// Keeps the newest [`KEPT_COMMITS`] records. Older ones are fully rolled forward: a record is
/// pruned only after a newer commit finished.
fn prune_commits(data_dir: &Path) -> Result<(), StoreError> {
    let commits_dir = data_dir.join(COMMITS_DIR);
    let records = record_paths(data_dir)?;
    if records.len() <= KEPT_COMMITS {
        return Ok(());
    }
    let excess = records.len() - KEPT_COMMITS;
    for (_, path) in &records[..excess] {
        files::remove_file(path)?;
    }
    files::sync_dir(&commits_dir)
}

#[derive(Default)]
struct Counts {
    events: usize,
    alerts: usize,
    dead_letters: usize,
    duplicates: usize,
}

/// Writes the temporary files of one commit, remembering them for the record (or for cleanup).
struct BatchWriter<'a> {
    config: &'a Config,
    seq: u64,
    files: Vec<FileEntry>,
    dirs: BTreeSet<PathBuf>,
}

impl<'a> BatchWriter<'a> {
    fn new(config: &'a Config, seq: u64) -> BatchWriter<'a> {
        BatchWriter {
            config,
            seq,
            files: Vec::new(),
            dirs: BTreeSet::new(),
        }
    }

    fn write_all(
        &mut self,
        events: &[Event],
        alerts: &[Alert],
        dead_letters: &[DeadLetter],
    ) -> Result<Counts, StoreError> {
        let mut counts = Counts::default();
        self.write_events(events, &mut counts)?;
        self.write_alerts(alerts, &mut counts)?;
        self.write_dead_letters(dead_letters, &mut counts)?;
        for dir in &self.dirs {
            files::sync_dir(dir)?;
        }
        Ok(counts)
    }

    fn write_events(&mut self, events: &[Event], counts: &mut Counts) -> Result<(), StoreError> {
        let mut seen = HashSet::with_capacity(events.len());
        let mut unique: Vec<&Event> = events
            .iter()
            .filter(|event| seen.insert(event.event_id.as_str()))
            .collect();
        counts.duplicates += events.len() - unique.len();
        counts.events = unique.len();
        unique.sort_by(|left, right| {
            left.time
                .cmp(&right.time)
                .then_with(|| left.event_id.cmp(&right.event_id))
        });
        let mut partitions: BTreeMap<(String, String), Vec<&Event>> = BTreeMap::new();
        for event in unique {
            partitions
                .entry(files::partition_of(event.time))
                .or_default()
                .push(event);
        }
        let row_group_rows = self.config.row_group_rows.max(1);
        for ((date, hour), rows) in partitions {
            let properties =
                files::writer_properties(&EVENTS_LAYOUT, self.config.zstd_level, row_group_rows);
            let partition = format!("date={date}/hour={hour}");
            self.write_file(EVENTS_DIR, partition, "parquet", rows.len(), None, |path| {
                let batches = rows.chunks(row_group_rows).map(events_batch);
                files::write_parquet(path, events_file_schema(), batches, properties)
            })?;
        }
        Ok(())
    }

    fn write_alerts(&mut self, alerts: &[Alert], counts: &mut Counts) -> Result<(), StoreError> {
        let now = Utc::now().timestamp_micros();
        let mut seen = HashSet::with_capacity(alerts.len());
        let mut unique: Vec<(&Alert, Option<i64>)> = Vec::with_capacity(alerts.len());
        for alert in alerts {
            if !seen.insert(alert.alert_id.as_str()) {
                counts.duplicates += 1;
                continue;
            }
            let time = files::parse_rfc3339_micros(&alert.time);
            if time.is_none() {
                warn!(alert_id = %alert.alert_id, time = %alert.time, "alert time is not RFC 3339; stored without time");
            }
            unique.push((alert, time));
        }
        counts.alerts = unique.len();
        unique.sort_by(|left, right| {
            left.1
                .cmp(&right.1)
                .then_with(|| left.0.alert_id.cmp(&right.0.alert_id))
        });
        let mut partitions: BTreeMap<String, Vec<(&Alert, Option<i64>)>> = BTreeMap::new();
        for (alert, time) in unique {
            partitions
                .entry(files::partition_of(time.unwrap_or(now)).0)
                .or_default()
                .push((alert, time));
        }
        let row_group_rows = self.config.row_group_rows.max(1);
        for (date, rows) in partitions {
            let properties =
                files::writer_properties(&ALERTS_LAYOUT, self.config.zstd_level, row_group_rows);
            self.write_file(
                ALERTS_DIR,
                format!("date={date}"),
                "parquet",
                rows.len(),
                None,
                |path| {
                    let batches = rows.chunks(row_group_rows).map(alerts_batch);
                    files::write_parquet(path, alerts_file_schema(), batches, properties)
                },
            )?;
        }
        Ok(())
    }

    fn write_dead_letters(
        &mut self,
        dead_letters: &[DeadLetter],
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        counts.dead_letters = dead_letters.len();
        let now = Utc::now().timestamp_micros();
        let mut partitions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for dead_letter in dead_letters {
            let time = files::parse_rfc3339_micros(&dead_letter.time).unwrap_or(now);
            let line =
                serde_json::to_string(dead_letter).map_err(|error| StoreError::WriteFile {
                    path: self.config.data_dir.join(DEAD_LETTERS_DIR),
                    source: error.into(),
                })?;
            partitions
                .entry(files::partition_of(time).0)
                .or_default()
                .push(line);
        }
        for (date, lines) in partitions {
            self.write_file(
                DEAD_LETTERS_DIR,
                format!("date={date}"),
                "jsonl",
                lines.len(),
                None,
                |path| files::write_lines(path, &lines),
            )?;
        }
        Ok(())
    }

    /// Writes the rows retention keeps of each rewritten partition as one file.
    fn write_rewrites(&mut self, rewrites: &[crate::retention::Rewrite]) -> Result<(), StoreError> {
        let row_group_rows = self.config.row_group_rows.max(1);
        for rewrite in rewrites {
            let layout = if rewrite.table == EVENTS_DIR {
                &EVENTS_LAYOUT
            } else {
                &ALERTS_LAYOUT
            };
            let properties =
                files::writer_properties(layout, self.config.zstd_level, row_group_rows);
            self.write_file(
                rewrite.table,
                rewrite.partition.clone(),
                "parquet",
                rewrite.rows,
                rewrite.covers,
                |path| {
                    let batches = rewrite.batches.iter().cloned().map(Ok);
                    files::write_parquet(path, rewrite.schema.clone(), batches, properties)
                },
            )?;
        }
        for dir in &self.dirs {
            files::sync_dir(dir)?;
        }
        Ok(())
    }

    /// Writes one temporary file with `write` and records it.
    fn write_file(
        &mut self,
        table: &str,
        partition: String,
        extension: &str,
        rows: usize,
        covers: Option<(u64, u64)>,
        write: impl FnOnce(&Path) -> Result<files::Written, StoreError>,
    ) -> Result<(), StoreError> {
        let data_dir = &self.config.data_dir;
        let n = u32::try_from(self.files.len()).unwrap_or(u32::MAX);
        let part = match covers {
            Some((first, last)) => PartName::replacing(self.seq, n, first, last),
            None => PartName::new(self.seq, n),
        };
        let mut entry = FileEntry {
            table: table.to_owned(),
            partition,
            name: part.file_name(self.config.writer(), extension),
            rows: rows as u64,
            bytes: 0,
            sha256: None,
            remote: false,
            staged: None,
        };
        let dir = entry.dir(data_dir);
        files::create_dir_durable(data_dir, &dir)?;
        let final_path = entry.final_path(data_dir);
        if final_path.exists() {
            return Err(StoreError::FileExists { path: final_path });
        }
        let tmp_path = entry.tmp_path(data_dir);
        // Recorded before writing so a failed write is cleaned up too.
        self.files.push(entry.clone());
        let written = write(&tmp_path)?;
        entry.bytes = written.bytes;
        entry.sha256 = Some(written.sha256);
        if let Some(last) = self.files.last_mut() {
            *last = entry;
        }
        self.dirs.insert(dir);
        Ok(())
    }

    /// Best-effort cleanup after a failed prepare; whatever remains is removed on next open.
    fn remove_written(&self) {
        for file in &self.files {
            let path = file.tmp_path(&self.config.data_dir);
            if let Err(error) = files::remove_file(&path) {
                warn!(path = %path.display(), %error, "failed to remove temporary file of a failed commit");
            }
        }
    }
}

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// `path` under `data_dir`, `/`-separated, as the ledger names files.
pub(crate) fn relative_path(data_dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(data_dir).unwrap_or(path);
    relative
        .components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn hash_file(path: &Path) -> Result<String, StoreError> {
    ledger::sha256_file(path).map_err(|source| StoreError::ReadFile {
        path: path.to_owned(),
        source,
    })
}
