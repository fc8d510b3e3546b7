//! Compaction: the small files of a partition (low-traffic hours, a commit every second) merged
//! into files of a target size, so a query opens a few large files instead of thousands.
//!
//! A run has three steps, and only the last needs the writer:
//!
//! 1. [`plan`] lists the live files (see [`crate::parts`]) and groups, per partition, runs of
//!    files adjacent in commit order. A partition still being written (its hour or day ended
//!    less than `settle` ago) is merged only once it has `active_files` small files, so the
//!    current hour is not rewritten at every commit; a settled one is merged into files of up
//!    to the target size.
//! 2. [`merge`] streams each group's rows, in `time` order (a k-way merge of the sorted
//!    files, one batch per file in memory), into one hidden temporary file in the partition.
//!    It reads committed files only, so it runs beside the writer, on another thread.
//! 3. [`crate::ColumnarStore::commit_compaction`] gives each merged file its final name
//!    (`part-<seq>-<n>-<first>-<last>`, naming the commits it covers) in one chained
//!    `compaction` commit that adds it and removes what it replaces. From the rename on,
//!    readers see the merged file instead of the small ones; those are then moved to
//!    `_retired/` and deleted after a grace period longer than any query.
//!
//! A crash before the commit leaves a temporary file that the next open deletes; after it, the
//! open finishes the renames and moves. The rows never change: a compaction commit writes no
//! rows and the ledger tells its files apart from the pipeline's.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_expr::expressions::col;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::commit::{ALERTS_DIR, DEAD_LETTERS_DIR, EVENTS_DIR, RETIRED_DIR};
use crate::files::{self, ALERTS_LAYOUT, EVENTS_LAYOUT};
use crate::parts::PartName;
use crate::schema::{TIME_COLUMN, alerts_file_schema, events_file_schema};

/// How compaction picks files (`[store.compaction]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    /// Whether `serve` compacts in the background.
    pub enabled: bool,
    /// Merged files grow up to about this size (MiB of input).
    pub target_file_mb: u64,
    /// A partition counts as still written until this long after its hour (or day) ended.
    pub settle_minutes: u64,
    /// A partition still written is merged once it has this many small files.
    pub active_files: usize,
    /// How often `serve` looks for files to merge.
    pub interval_seconds: u64,
    /// Replaced files are deleted this long after the compaction (longer than any query).
    pub grace_seconds: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            enabled: true,
            target_file_mb: 128,
            settle_minutes: 10,
            active_files: 32,
            interval_seconds: 60,
            grace_seconds: 600,
        }
    }
}

impl Options {
    /// Checks values a parsed config may hold but compaction cannot use.
    pub fn validate(&self) -> Result<(), StoreError> {
        let invalid = |reason: &str| {
            Err(StoreError::InvalidConfig {
                reason: format!("compaction: {reason}"),
            })
        };
        if self.target_file_mb == 0 {
            return invalid("target_file_mb must be at least 1");
        }
        if self.active_files < 2 {
            return invalid("active_files must be at least 2");
        }
        if self.interval_seconds == 0 {
            return invalid("interval_seconds must be at least 1");
        }
        Ok(())
    }

    fn target_bytes(&self) -> u64 {
        self.target_file_mb.saturating_mul(1 << 20)
    }

    /// Files below this size count as small in a partition still written.
    fn small_bytes(&self) -> u64 {
        (self.target_bytes() / 16).max(1)
    }

    /// How long replaced files stay readable.
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.grace_seconds)
    }
}

/// Deletes the files compaction and retention retired more than `grace` ago, here and in the
/// bucket if there is one: by then no query that listed them is still running. Returns how
/// many retirements (and retired objects of the bucket) went.
pub fn purge_retired(
    data_dir: &Path,
    remote: Option<&crate::remote::Remote>,
    grace: Duration,
) -> Result<usize, StoreError> {
    let root = data_dir.join(RETIRED_DIR);
    let mut purged = 0;
    for (path, name, is_dir) in files::list_dir(&root)? {
        if !is_dir || !name.bytes().all(|byte| byte.is_ascii_digit()) {
            continue;
        }
        let age = std::fs::metadata(&path)
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok());
        if age.is_some_and(|age| age >= grace) {
            std::fs::remove_dir_all(&path).map_err(|source| StoreError::Remove {
                path: path.clone(),
                source,
            })?;
            purged += 1;
        }
    }
    if purged > 0 {
        files::sync_dir(&root)?;
    }
    if let Some(remote) = remote {
        purged += remote.purge_retired(grace)?;
    }
    Ok(purged)
}

/// Merges `groups` in order (see [`merge`]) until `budget` bytes of input are merged,
/// uploading the offloaded ones to `remote` (see [`Merged::stage`]). On an error, what was
/// merged is given up.
pub fn merge_all(
    config: &crate::Config,
    groups: impl IntoIterator<Item = Group>,
    remote: Option<&crate::remote::Remote>,
    budget: u64,
) -> Result<Vec<Merged>, StoreError> {
    let mut merged = Vec::new();
    let mut bytes = 0u64;
    for group in groups {
        if bytes >= budget {
            break;
        }
        bytes += group.bytes();
        let done = merge(config, group).and_then(|mut done| match remote {
            Some(remote) => match done.stage(remote) {
                Ok(()) => Ok(done),
                Err(error) => {
                    done.discard();
                    Err(error)
                }
            },
            None => Ok(done),
        });
        match done {
            Ok(done) => merged.push(done),
            Err(error) => {
                merged.into_iter().for_each(Merged::discard);
                return Err(error);
            }
        }
    }
    Ok(merged)
}

/// One input of a group: a live file of the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub name: String,
    pub part: PartName,
    pub bytes: u64,
}

/// Files of one partition, adjacent in commit order, to merge into one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `events`, `alerts` or `dead_letters`.
    pub table: &'static str,
    /// E.g. `date=2026-01-01/hour=03`.
    pub partition: String,
    pub inputs: Vec<Input>,
    /// The merged file goes to the bucket (a settled partition, a bucket configured).
    pub offload: bool,
}

impl Group {
    /// The commits whose rows the merged file holds.
    pub fn covers(&self) -> (u64, u64) {
        let first = self.inputs.iter().map(|input| input.part.first).min();
        let last = self.inputs.iter().map(|input| input.part.last).max();
        (first.unwrap_or(0), last.unwrap_or(0))
    }

    pub fn bytes(&self) -> u64 {
        self.inputs.iter().map(|input| input.bytes).sum()
    }

    pub(crate) fn extension(&self) -> &'static str {
        if self.table == DEAD_LETTERS_DIR {
            "jsonl"
        } else {
            "parquet"
        }
    }

    /// Input paths under the data directory, `/`-separated, as the ledger names files.
    pub fn input_paths(&self) -> Vec<String> {
        self.inputs
            .iter()
            .map(|input| format!("{}/{}/{}", self.table, self.partition, input.name))
            .collect()
    }
}

/// A group merged into a hidden temporary file, waiting for its compaction commit.
#[derive(Debug)]
pub struct Merged {
    pub group: Group,
    /// The temporary file, in the partition directory.
    pub(crate) tmp_path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    pub(crate) sha256: String,
    /// Uploaded to the bucket under a hidden name (an offloaded group), the local file gone:
    /// the commit only renames it there.
    pub(crate) staged: Option<(crate::remote::Remote, String)>,
}

impl Merged {
    /// Deletes the temporary file (when its commit is given up).
    pub fn discard(self) {
        if let Some((remote, key)) = &self.staged {
            if let Err(error) = remote.delete(key) {
                tracing::warn!(key, %error, "failed to remove a merged file given up from the bucket");
            }
            return;
        }
        if let Err(error) = files::remove_file(&self.tmp_path) {
            tracing::warn!(path = %self.tmp_path.display(), %error, "failed to remove a merged file given up");
        }
    }

    /// Whether the merged file is still there to commit.
    pub(crate) fn is_present(&self) -> bool {
        self.staged.is_some() || self.tmp_path.exists()
    }

    /// For an offloaded group: uploads the merged file to the bucket under a hidden name
    /// (engines skip dot-files; the tables list `*.parquet` only) and deletes it here, so its
    /// commit only renames it in the bucket. Slow (the upload), so it runs where the merge
    /// does, not on the writer. A no-op for a group that stays local.
    pub fn stage(&mut self, remote: &crate::remote::Remote) -> Result<(), StoreError> {
        if !self.group.offload || self.staged.is_some() {
            return Ok(());
        }
        let name = self
            .tmp_path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let key = format!("{}/{}/{name}", self.group.table, self.group.partition);
        remote.upload(&self.tmp_path, &key)?;
        files::remove_file(&self.tmp_path)?;
        self.staged = Some((remote.clone(), key));
        Ok(())
    }
}

/// What one compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// The compaction commit, `None` when nothing was merged.
    pub seq: Option<u64>,
    pub groups: usize,
    pub files_in: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub rows: u64,
    /// Earlier retirements deleted (their grace period over).
    pub purged: usize,
}

impl Summary {
    /// Adds what a later commit of the same run did (its seq is the run's last).
    pub(crate) fn add(&mut self, later: Summary) {
        self.seq = later.seq.or(self.seq);
        self.groups += later.groups;
        self.files_in += later.files_in;
        self.bytes_in += later.bytes_in;
        self.bytes_out += later.bytes_out;
        self.rows += later.rows;
        self.purged += later.purged;
    }
}

/// Groups the live files of `data_dir` to merge as of `now`, among files holding rows of
/// commits up to `max_seq` only (the search index's: a merged file must not mix rows it has
/// indexed with rows it has not). With `offload` (a bucket configured) every settled
/// partition's files go to the bucket, a lone file too. Reads directory listings only.
pub fn plan(
    data_dir: &Path,
    options: &Options,
    now: DateTime<Utc>,
    max_seq: u64,
    offload: bool,
) -> Result<Vec<Group>, StoreError> {
    let mut groups = Vec::new();
    for table in [EVENTS_DIR, ALERTS_DIR, DEAD_LETTERS_DIR] {
        for (partition, dir, ends) in partitions(&data_dir.join(table))? {
            let settled = now >= ends + chrono::Duration::minutes(options.settle_minutes as i64);
            let mut inputs = Vec::new();
            for (path, name, is_dir) in files::list_dir(&dir)? {
                if is_dir || name.starts_with('.') {
                    continue;
                }
                let Some(part) = PartName::parse(&name) else {
                    continue;
                };
                let bytes = std::fs::metadata(&path).map(|meta| meta.len()).unwrap_or(0);
                inputs.push(Input { name, part, bytes });
            }
            crate::parts::retain_live(&mut inputs, |input| Some(input.part));
            inputs.sort_by_key(|input| (input.part.first, input.part.last, input.part.n));
            // Only a prefix in commit order: files above `max_seq` end the runs.
            let eligible = inputs
                .iter()
                .position(|input| input.part.last > max_seq)
                .unwrap_or(inputs.len());
            inputs.truncate(eligible);
            let offload = offload && settled;
            for run in runs(&inputs, options, settled, offload) {
                groups.push(Group {
                    table,
                    partition: partition.clone(),
                    inputs: run,
                    offload,
                });
            }
        }
    }
    Ok(groups)
}

/// Runs of adjacent files to merge: up to the target size once settled; while still written,
/// only runs of at least `active_files` small files.
fn runs(inputs: &[Input], options: &Options, settled: bool, offload: bool) -> Vec<Vec<Input>> {
    let target = options.target_bytes();
    let mut runs = Vec::new();
    let mut current: Vec<Input> = Vec::new();
    let mut current_bytes = 0u64;
    let close = |current: &mut Vec<Input>, runs: &mut Vec<Vec<Input>>| {
        let enough = if offload {
            !current.is_empty()
        } else if settled {
            current.len() >= 2
        } else {
            current.len() >= options.active_files
        };
        if enough {
            runs.push(std::mem::take(current));
        } else {
            current.clear();
        }
    };
    for input in inputs {
        let fits = if settled {
            input.bytes < target && current_bytes + input.bytes <= target
        } else {
            input.bytes < options.small_bytes()
        };
        if !fits {
            close(&mut current, &mut runs);
            current_bytes = 0;
            if settled && (input.bytes < target || offload) {
                current_bytes = input.bytes;
                current.push(input.clone());
            }
            continue;
        }
        current_bytes += input.bytes;
        current.push(input.clone());
    }
    close(&mut current, &mut runs);
    runs
}

/// The partition directories of a table with the instant each one's time range ends.
fn partitions(table_dir: &Path) -> Result<Vec<(String, PathBuf, DateTime<Utc>)>, StoreError> {
    let mut found = Vec::new();
    for (day_path, day_name, is_dir) in files::list_dir(table_dir)? {
        let Some(day) = day_name
            .strip_prefix("date=")
            .and_then(|date| NaiveDate::parse_from_str(date, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if !is_dir {
            continue;
        }
        let mut hours = Vec::new();
        for (hour_path, hour_name, is_dir) in files::list_dir(&day_path)? {
            let Some(hour) = hour_name
                .strip_prefix("hour=")
                .and_then(|hour| hour.parse::<u32>().ok())
                .and_then(|hour| NaiveTime::from_hms_opt(hour, 0, 0))
            else {
                continue;
            };
            if is_dir {
                let ends = day.and_time(hour).and_utc() + chrono::Duration::hours(1);
                hours.push((format!("{day_name}/{hour_name}"), hour_path, ends));
            }
        }
        if hours.is_empty() {
            let ends = day.and_time(NaiveTime::MIN).and_utc() + chrono::Duration::days(1);
            found.push((day_name, day_path, ends));
        } else {
            found.extend(hours);
        }
    }
    Ok(found)
}

const STAGED_PREFIX: &str = ".part-compact-";
const STAGED_SUFFIX: &str = ".tmp";

/// The hidden name a group is merged (and staged in the bucket) under:
/// `.part-compact-<first>-<last>-<pid>[.<writer>].<ext>.tmp`. Staged in a bucket several
/// writers share, the name must be this writer's alone.
fn staged_name(group: &Group, writer: Option<&str>) -> String {
    let (first, last) = group.covers();
    let writer = writer
        .map(|writer| format!(".{writer}"))
        .unwrap_or_default();
    format!(
        "{STAGED_PREFIX}{first}-{last}-{}{writer}.{}{STAGED_SUFFIX}",
        std::process::id(),
        group.extension()
    )
}

/// For a name [`staged_name`] made: the writer it names (`Some(None)`: none); `None` for
/// any other name.
pub(crate) fn staged_by(name: &str) -> Option<Option<&str>> {
    let stem = name
        .strip_prefix(STAGED_PREFIX)?
        .strip_suffix(STAGED_SUFFIX)?;
    match stem.split('.').collect::<Vec<_>>().as_slice() {
        [_, _] => Some(None),
        [_, writer, _] => Some(Some(*writer)),
        _ => None,
    }
}

/// Merges the files of `group` into one hidden temporary file in its partition, rows in `time`
/// order. Reads committed files only: safe beside a running writer.
pub fn merge(config: &crate::Config, group: Group) -> Result<Merged, StoreError> {
    let dir = config.data_dir.join(group.table).join(&group.partition);
    let tmp_path = dir.join(staged_name(&group, config.writer()));
    let paths: Vec<PathBuf> = group
        .inputs
        .iter()
        .map(|input| dir.join(&input.name))
        .collect();
    let result = if group.table == DEAD_LETTERS_DIR {
        concatenate_lines(&paths, &tmp_path)
    } else {
        merge_parquet(config, group.table, &paths, &tmp_path)
    };
    match result {
        Ok((rows, written)) => Ok(Merged {
            group,
            tmp_path,
            rows,
            bytes: written.bytes,
            sha256: written.sha256,
            staged: None,
        }),
        Err(error) => {
            let _ = files::remove_file(&tmp_path);
            Err(error)
        }
    }
}

fn concatenate_lines(paths: &[PathBuf], to: &Path) -> Result<(u64, files::Written), StoreError> {
    let mut lines = Vec::new();
    for path in paths {
        let file = File::open(path).map_err(|source| StoreError::ReadFile {
            path: path.clone(),
            source,
        })?;
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|source| StoreError::ReadFile {
                path: path.clone(),
                source,
            })?;
            if !line.is_empty() {
                lines.push(line);
            }
        }
    }
    let written = files::write_lines(to, &lines)?;
    Ok((lines.len() as u64, written))
}

/// Rows per batch of the merge: the merge holds one batch of every input at once, so with many
/// inputs the batches shrink, keeping about `MERGE_MEMORY` of decoded rows (at ~2 KiB a row:
/// audit events carry their raw JSON) in memory whatever the fan-in.
fn merge_batch_rows(inputs: usize, row_group_rows: usize) -> usize {
    const MERGE_MEMORY: usize = 64 << 20;
    const ROW_BYTES: usize = 2 << 10;
    (MERGE_MEMORY / ROW_BYTES / inputs.max(1)).clamp(128, row_group_rows.clamp(128, 8192))
}

/// A k-way merge of sorted Parquet files (DataFusion's sort-preserving merge: one file per
/// input stream, one batch of each in memory) written as one Parquet file.
fn merge_parquet(
    config: &crate::Config,
    table: &'static str,
    paths: &[PathBuf],
    to: &Path,
) -> Result<(u64, files::Written), StoreError> {
    let (schema, layout): (SchemaRef, _) = if table == EVENTS_DIR {
        (events_file_schema(), &EVENTS_LAYOUT)
    } else {
        (alerts_file_schema(), &ALERTS_LAYOUT)
    };
    let plan_error = |source: datafusion::error::DataFusionError| StoreError::Compact {
        path: to.to_owned(),
        reason: source.to_string(),
    };
    let ordering = LexOrdering::new([PhysicalSortExpr::new(
        col(TIME_COLUMN, &schema).map_err(plan_error)?,
        SortOptions {
            descending: false,
            nulls_first: true,
        },
    )])
    .ok_or_else(|| {
        plan_error(datafusion::error::DataFusionError::Plan(
            "no ordering".into(),
        ))
    })?;
    let mut groups = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = std::fs::metadata(path)
            .map_err(|source| StoreError::ReadFile {
                path: path.clone(),
                source,
            })?
            .len();
        let absolute = std::path::absolute(path).map_err(|source| StoreError::ReadFile {
            path: path.clone(),
            source,
        })?;
        let location = absolute
            .to_string_lossy()
            .trim_start_matches('/')
            .to_owned();
        groups.push(FileGroup::new(vec![PartitionedFile::new(location, bytes)]));
    }
    let scan = FileScanConfigBuilder::new(
        ObjectStoreUrl::local_filesystem(),
        Arc::new(ParquetSource::new(schema.clone())),
    )
    .with_file_groups(groups)
    .with_output_ordering(vec![ordering.clone()])
    .build();
    let merged = SortPreservingMergeExec::new(ordering, DataSourceExec::from_data_source(scan));
    let row_group_rows = config.row_group_rows.max(1);
    let properties = files::writer_properties(layout, config.zstd_level, row_group_rows);
    // DataFusion's streams are polled on the store's runtime, on a thread of their own: the
    // caller may be anywhere, inside a runtime or not.
    let runtime = crate::blocking::runtime()?;
    crate::blocking::on_own_thread(runtime, |runtime| {
        let context = TaskContext::default().with_session_config(
            datafusion::prelude::SessionConfig::new()
                .with_batch_size(merge_batch_rows(paths.len(), row_group_rows)),
        );
        let mut stream = merged.execute(0, Arc::new(context)).map_err(plan_error)?;
        let mut rows = 0u64;
        let batches = std::iter::from_fn(|| {
            runtime.block_on(stream.next()).map(|batch| {
                batch
                    .inspect(|batch| rows += batch.num_rows() as u64)
                    .map_err(plan_error)
            })
        });
        let written = files::write_parquet(to, schema.clone(), batches, properties)?;
        Ok((rows, written))
    })
}
