//! Retention by class, with legal holds.
//!
//! Four classes, each with its own period (whole UTC days, by the partition's date):
//! raw events, events an alert names (kept as long as their alert unless configured shorter),
//! alerts, and dead letters. A partition past its class's period goes whole when nothing in
//! it must stay; when some rows must stay (an alerted event still in its class, a row a legal
//! hold covers), the partition is rewritten with only those rows, in one file. Everything a
//! run removes and writes is one chained `retention` commit (see [`crate::ledger`]), so a crash
//! leaves the old files or the new ones, never a mix, and `verify` tells policy from tampering.
//!
//! [`plan`] only reads (it is `kubetrail retention run --dry-run`);
//! [`crate::ColumnarStore::apply_retention`] plans and commits.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, BooleanArray, ListArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::StoreError;
use crate::commit::{ALERTS_DIR, DEAD_LETTERS_DIR, EVENTS_DIR, relative_path};
use crate::files;
use crate::holds::Hold;
use crate::parts::PartName;

/// Days each class is kept; `None` keeps it for ever. Resolved from the `[store]` table by
/// [`crate::Config::retention_policy`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub events: Option<u32>,
    pub alerted_events: Option<u32>,
    pub alerts: Option<u32>,
    pub dead_letters: Option<u32>,
}

impl Policy {
    /// Whether any class expires.
    pub fn is_enabled(&self) -> bool {
        self.events.is_some()
            || self.alerted_events.is_some()
            || self.alerts.is_some()
            || self.dead_letters.is_some()
    }

    /// "events …, alerted events …, alerts …, dead letters …", each period as `days` puts it.
    pub fn describe(&self, days: impl Fn(Option<u32>) -> String) -> String {
        format!(
            "events {}, alerted events {}, alerts {}, dead letters {}",
            days(self.events),
            days(self.alerted_events),
            days(self.alerts),
            days(self.dead_letters)
        )
    }

    fn cutoff(days: Option<u32>, today: NaiveDate) -> Option<NaiveDate> {
        today.checked_sub_days(chrono::Days::new(u64::from(days?)))
    }
}

/// What a run does to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Every file goes.
    Remove,
    /// The files are replaced by one holding the rows that must stay.
    Rewrite,
}

/// One partition a run removes or rewrites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub kind: ActionKind,
    /// `events`, `alerts` or `dead_letters`.
    pub table: &'static str,
    /// e.g. `date=2026-01-01/hour=03`.
    pub partition: String,
    /// Why: the class and its period.
    pub class: String,
    pub files: usize,
    pub bytes: u64,
    /// Rows before and after (rewrites; a removal without reading knows neither).
    pub rows: Option<u64>,
    pub kept_rows: u64,
    /// Of the kept rows, those a legal hold covers.
    pub held_rows: u64,
}

impl fmt::Display for Action {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ActionKind::Remove => "remove",
            ActionKind::Rewrite => "rewrite",
        };
        write!(
            formatter,
            "{what} {}/{} ({}): {} files, {} bytes",
            self.table, self.partition, self.class, self.files, self.bytes
        )?;
        if let (ActionKind::Rewrite, Some(rows)) = (self.kind, self.rows) {
            write!(
                formatter,
                "; keeps {} of {rows} rows ({} held by a legal hold)",
                self.kept_rows, self.held_rows
            )?;
        }
        Ok(())
    }
}

/// Partitions left in place only because a legal hold covers them (or rows in them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub table: &'static str,
    pub partition: String,
    pub holds: Vec<String>,
}

/// What a run removes, rewrites and keeps for a hold.
#[derive(Debug, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub held: Vec<Held>,
    /// Files removed, as paths under the data directory.
    pub(crate) removed: Vec<String>,
    /// Partitions rewritten: table, partition, the kept rows.
    pub(crate) rewrites: Vec<Rewrite>,
    /// Event days whose every event goes (their search index goes whole).
    pub emptied_days: BTreeSet<NaiveDate>,
    /// Event days that keep some events: the `event_id`s that go.
    pub removed_event_ids: BTreeMap<NaiveDate, Vec<String>>,
    /// The retention commit that carried it out (`None` for a dry run or nothing to do).
    pub seq: Option<u64>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// "N partitions, N files, N bytes": what the plan removes or rewrites.
    pub fn summary(&self) -> String {
        let mut files = 0;
        let mut bytes = 0;
        for action in &self.actions {
            files += action.files;
            bytes += action.bytes;
        }
        format!(
            "{} partitions, {files} files, {bytes} bytes",
            self.actions.len()
        )
    }
}

#[derive(Debug)]
pub(crate) struct Rewrite {
    pub table: &'static str,
    pub partition: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    /// The commits whose rows the rewritten file holds (see [`crate::parts`]).
    pub covers: Option<(u64, u64)>,
}

/// Plans a retention run over `data_dir` as of `today`: reads, never writes.
pub fn plan(
    data_dir: &Path,
    policy: &Policy,
    holds: &[Hold],
    today: NaiveDate,
) -> Result<Plan, StoreError> {
    let tiers = Tiers::open(data_dir)?;
    let data_dir = &tiers;
    let active: Vec<&Hold> = holds.iter().filter(|hold| hold.is_active()).collect();
    let mut plan = Plan::default();
    if let Some(cutoff) = Policy::cutoff(policy.dead_letters, today) {
        plan_dead_letters(data_dir, cutoff, policy, &active, &mut plan)?;
    }
    let alerts_cutoff = Policy::cutoff(policy.alerts, today);
    if let Some(cutoff) = alerts_cutoff {
        plan_alerts(data_dir, cutoff, policy, &active, &mut plan)?;
    }
    if let Some(cutoff) = Policy::cutoff(policy.events, today) {
        let alerted_cutoff = Policy::cutoff(policy.alerted_events, today);
        plan_events(data_dir, cutoff, alerted_cutoff, policy, &active, &mut plan)?;
    }
    Ok(plan)
}

fn days_label(days: Option<u32>) -> String {
    days.map_or_else(|| "kept for ever".to_owned(), |days| format!("{days} days"))
}

/// The `date=` partitions of `table` before `cutoff`, as `(date, path, partition name)`.
fn expired_days(
    data_dir: &Tiers,
    table: &str,
    cutoff: NaiveDate,
) -> Result<Vec<(NaiveDate, PathBuf, String)>, StoreError> {
    let mut days = Vec::new();
    for (path, name, is_dir) in data_dir.list_dir(&data_dir.root.join(table))? {
        let Some(date) = name
            .strip_prefix("date=")
            .and_then(|date| NaiveDate::parse_from_str(date, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if is_dir && date < cutoff {
            days.push((date, path, name));
        }
    }
    Ok(days)
}

fn holds_of_day(active: &[&Hold], day: NaiveDate, unscoped_only: bool) -> Vec<String> {
    active
        .iter()
        .filter(|hold| hold.overlaps_day(day) && (!unscoped_only || hold.is_unscoped()))
        .map(|hold| hold.id.clone())
        .collect()
}

fn plan_dead_letters(
    data_dir: &Tiers,
    cutoff: NaiveDate,
    policy: &Policy,
    active: &[&Hold],
    plan: &mut Plan,
) -> Result<(), StoreError> {
    let class = format!("dead letters, {}", days_label(policy.dead_letters));
    for (day, path, partition) in expired_days(data_dir, DEAD_LETTERS_DIR, cutoff)? {
        // Dead letters have no cluster or namespace: only a hold on all of them keeps a day.
        let holding = holds_of_day(active, day, true);
        if !holding.is_empty() {
            plan.held.push(Held {
                table: DEAD_LETTERS_DIR,
                partition,
                holds: holding,
            });
            continue;
        }
        remove_whole(
            data_dir,
            DEAD_LETTERS_DIR,
            &path,
            partition,
            class.clone(),
            plan,
        )?;
    }
    Ok(())
}

fn plan_alerts(
    data_dir: &Tiers,
    cutoff: NaiveDate,
    policy: &Policy,
    active: &[&Hold],
    plan: &mut Plan,
) -> Result<(), StoreError> {
    let class = format!("alerts, {}", days_label(policy.alerts));
    for (day, path, partition) in expired_days(data_dir, ALERTS_DIR, cutoff)? {
        let holding = holds_of_day(active, day, false);
        if holding.is_empty() {
            remove_whole(data_dir, ALERTS_DIR, &path, partition, class.clone(), plan)?;
            continue;
        }
        let keep = |batch: &RecordBatch| -> (BooleanArray, u64) {
            let rows = RowKeys::of(batch);
            let mask: BooleanArray = (0..batch.num_rows())
                // An alert without a time is kept: nothing says its period is over.
                .map(|row| Some(rows.time(row).is_none() || rows.held(row, active)))
                .collect();
            let held = mask.true_count() as u64;
            (mask, held)
        };
        filter_partition(
            data_dir,
            ALERTS_DIR,
            &path,
            partition,
            class.clone(),
            holding,
            keep,
            plan,
        )?;
    }
    Ok(())
}

fn plan_events(
    data_dir: &Tiers,
    cutoff: NaiveDate,
    alerted_cutoff: Option<NaiveDate>,
    policy: &Policy,
    active: &[&Hold],
    plan: &mut Plan,
) -> Result<(), StoreError> {
    let class = format!(
        "raw events, {}; alerted events, {}",
        days_label(policy.events),
        days_label(policy.alerted_events)
    );
    let mut alerted: Option<HashSet<String>> = None;
    for (day, day_path, day_partition) in expired_days(data_dir, EVENTS_DIR, cutoff)? {
        let holding = holds_of_day(active, day, false);
        let alerted_stay = alerted_cutoff.is_none_or(|alerted_cutoff| day >= alerted_cutoff);
        if holding.is_empty() && !alerted_stay {
            let before = plan.actions.len();
            remove_whole(
                data_dir,
                EVENTS_DIR,
                &day_path,
                day_partition,
                class.clone(),
                plan,
            )?;
            if plan.actions.len() > before {
                plan.emptied_days.insert(day);
            }
            continue;
        }
        if alerted_stay && alerted.is_none() {
            alerted = Some(alerted_event_ids(data_dir, plan)?);
        }
        let alerted_ids = alerted.as_ref().filter(|_| alerted_stay);
        let mut kept_any = false;
        let mut any_action = false;
        for (hour_path, hour_name, is_dir) in data_dir.list_dir(&day_path)? {
            if !is_dir {
                continue;
            }
            let partition = format!("{day_partition}/{hour_name}");
            let keep = |batch: &RecordBatch| -> (BooleanArray, u64) {
                let rows = RowKeys::of(batch);
                let mut held = 0;
                let mask: BooleanArray = (0..batch.num_rows())
                    .map(|row| {
                        let is_held = rows.held(row, active);
                        held += u64::from(is_held);
                        let is_alerted =
                            alerted_ids.is_some_and(|ids| ids.contains(rows.event_id(row)));
                        Some(is_held || is_alerted)
                    })
                    .collect();
                (mask, held)
            };
            let before = plan.actions.len();
            let kept = filter_partition(
                data_dir,
                EVENTS_DIR,
                &hour_path,
                partition,
                class.clone(),
                holding.clone(),
                keep,
                plan,
            )?;
            any_action |= plan.actions.len() > before;
            kept_any |= kept > 0;
        }
        if any_action && !kept_any {
            plan.emptied_days.insert(day);
        }
    }
    Ok(())
}

/// The `event_id`s named by the alerts that stay after the alert actions already planned.
fn alerted_event_ids(data_dir: &Tiers, plan: &Plan) -> Result<HashSet<String>, StoreError> {
    let removed: HashSet<&str> = plan.removed.iter().map(String::as_str).collect();
    let mut ids = HashSet::new();
    for path in data_dir.live_parquet(ALERTS_DIR)? {
        if removed.contains(relative_path(data_dir.root, &path).as_str()) {
            continue;
        }
        for (_, event_ids) in crate::read_back::alert_events(data_dir.read(&path)?, &path)? {
            ids.extend(event_ids);
        }
    }
    for rewrite in plan
        .rewrites
        .iter()
        .filter(|rewrite| rewrite.table == ALERTS_DIR)
    {
        for batch in &rewrite.batches {
            if let Some(lists) = batch
                .column_by_name("event_ids")
                .and_then(|column| column.as_any().downcast_ref::<ListArray>())
            {
                for row in 0..lists.len() {
                    let list = lists.value(row);
                    let list = list.as_string::<i32>();
                    ids.extend((0..list.len()).map(|i| list.value(i).to_owned()));
                }
            }
        }
    }
    Ok(ids)
}

/// Plans the removal of every file under `path` (a partition directory), if it has any.
fn remove_whole(
    data_dir: &Tiers,
    table: &'static str,
    path: &Path,
    partition: String,
    class: String,
    plan: &mut Plan,
) -> Result<(), StoreError> {
    let found = data_dir.list_files(path)?;
    remove_files(data_dir, table, partition, class, &found, plan);
    Ok(())
}

/// Plans the removal of `found` (every file of one partition), if there is any.
fn remove_files(
    data_dir: &Tiers,
    table: &'static str,
    partition: String,
    class: String,
    found: &[(PathBuf, u64)],
    plan: &mut Plan,
) {
    if found.is_empty() {
        return;
    }
    let bytes = found.iter().map(|(_, bytes)| bytes).sum();
    plan.actions.push(Action {
        kind: ActionKind::Remove,
        table,
        partition,
        class,
        files: found.len(),
        bytes,
        rows: None,
        kept_rows: 0,
        held_rows: 0,
    });
    plan.removed.extend(
        found
            .iter()
            .map(|(file, _)| relative_path(data_dir.root, file)),
    );
}

/// Reads every Parquet file of one partition and keeps the rows `keep` marks: nothing to do
/// when all stay, a removal when none does, else a rewrite. Returns the rows kept.
#[allow(clippy::too_many_arguments)]
fn filter_partition(
    data_dir: &Tiers,
    table: &'static str,
    path: &Path,
    partition: String,
    class: String,
    holding: Vec<String>,
    keep: impl Fn(&RecordBatch) -> (BooleanArray, u64),
    plan: &mut Plan,
) -> Result<u64, StoreError> {
    let found = data_dir.list_files(path)?;
    if found.is_empty() {
        return Ok(0);
    }
    let (mut rows, mut kept_rows, mut held_rows) = (0u64, 0u64, 0u64);
    let mut kept = Vec::new();
    let mut schema = None;
    let mut gone_ids = Vec::new();
    let mut day = None;
    let mut covers: Option<(u64, u64)> = None;
    let mut readable: Vec<&PathBuf> = found
        .iter()
        .map(|(file, _)| file)
        .filter(|file| {
            // Not a table file (planted or left over): it goes with the partition.
            file_name(file).ends_with(".parquet") && !file_name(file).starts_with('.')
        })
        .collect();
    crate::parts::retain_live(&mut readable, |file| PartName::parse(&file_name(file)));
    for file in readable {
        if let Some(part) = PartName::parse(&file_name(file)) {
            covers = Some(covers.map_or((part.first, part.last), |(first, last)| {
                (first.min(part.first), last.max(part.last))
            }));
        }
        let parquet_error = |source| StoreError::ReadParquet {
            path: file.clone(),
            source,
        };
        let handle = data_dir.read(file)?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(handle).map_err(parquet_error)?;
        schema.get_or_insert_with(|| builder.schema().clone());
        for batch in builder.build().map_err(parquet_error)? {
            let batch = batch.map_err(|source| parquet_error(source.into()))?;
            let (mask, held) = keep(&batch);
            rows += batch.num_rows() as u64;
            held_rows += held;
            kept_rows += mask.true_count() as u64;
            if table == EVENTS_DIR {
                let keys = RowKeys::of(&batch);
                for row in 0..batch.num_rows() {
                    if !mask.value(row) {
                        gone_ids.push(keys.event_id(row).to_owned());
                        day = day.or_else(|| keys.time(row).map(day_of));
                    }
                }
            }
            let filtered = filter_record_batch(&batch, &mask)
                .map_err(|source| StoreError::BuildBatch { table, source })?;
            if filtered.num_rows() > 0 {
                kept.push(filtered);
            }
        }
    }
    if kept_rows == rows {
        if !holding.is_empty() {
            plan.held.push(Held {
                table,
                partition,
                holds: holding,
            });
        }
        return Ok(kept_rows);
    }
    if let Some(day) = day {
        plan.removed_event_ids
            .entry(day)
            .or_default()
            .extend(gone_ids);
    }
    if kept_rows == 0 {
        remove_files(data_dir, table, partition, class, &found, plan);
        return Ok(0);
    }
    let bytes = found.iter().map(|(_, bytes)| bytes).sum();
    plan.actions.push(Action {
        kind: ActionKind::Rewrite,
        table,
        partition: partition.clone(),
        class,
        files: found.len(),
        bytes,
        rows: Some(rows),
        kept_rows,
        held_rows,
    });
    if !holding.is_empty() {
        plan.held.push(Held {
            table,
            partition: partition.clone(),
            holds: holding,
        });
    }
    plan.removed.extend(
        found
            .iter()
            .map(|(file, _)| relative_path(data_dir.root, file)),
    );
    plan.rewrites.push(Rewrite {
        table,
        partition,
        schema: schema.expect("a Parquet file was read"),
        batches: kept,
        rows: kept_rows as usize,
        covers,
    });
    Ok(kept_rows)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn day_of(micros: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .date_naive()
}

/// The columns retention decides on, for events and alerts alike.
struct RowKeys<'a> {
    event_id: Option<&'a datafusion::arrow::array::StringArray>,
    time: Option<&'a datafusion::arrow::array::PrimitiveArray<TimestampMicrosecondType>>,
    cluster: Option<&'a datafusion::arrow::array::StringArray>,
    namespace: Option<&'a datafusion::arrow::array::StringArray>,
}

impl<'a> RowKeys<'a> {
    fn of(batch: &'a RecordBatch) -> RowKeys<'a> {
        let string = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|column| column.as_string_opt::<i32>())
        };
        RowKeys {
            event_id: string("event_id"),
            time: batch
                .column_by_name(crate::TIME_COLUMN)
                .and_then(|column| column.as_primitive_opt::<TimestampMicrosecondType>()),
            cluster: string("cluster"),
            namespace: string("namespace"),
        }
    }

    fn event_id(&self, row: usize) -> &'a str {
        self.event_id.map_or("", |column| column.value(row))
    }

    fn time(&self, row: usize) -> Option<i64> {
        self.time
            .filter(|column| column.is_valid(row))
            .map(|column| column.value(row))
    }

    fn cluster(&self, row: usize) -> &'a str {
        self.cluster.map_or("", |column| column.value(row))
    }

    /// Whether an active hold covers the row (a row without a time is covered by none).
    fn held(&self, row: usize, active: &[&Hold]) -> bool {
        self.time(row).is_some_and(|time| {
            active
                .iter()
                .any(|hold| hold.covers(time, self.cluster(row), self.namespace(row)))
        })
    }

    fn namespace(&self, row: usize) -> Option<&'a str> {
        self.namespace
            .filter(|column| column.is_valid(row))
            .map(|column| column.value(row))
    }
}

/// The data directory and, when settled partitions went to a bucket, the bucket too, seen as
/// one tree: retention lists, reads and removes files wherever they are.
pub(crate) struct Tiers<'a> {
    root: &'a Path,
    remote: Option<crate::remote::Remote>,
    /// Every object of the bucket's tables: path relative to its prefix → size.
    remote_files: BTreeMap<String, u64>,
}

impl<'a> Tiers<'a> {
    fn open(root: &'a Path) -> Result<Tiers<'a>, StoreError> {
        let remote = match crate::remote::recorded(root)? {
            Some(config) => Some(crate::remote::Remote::open(&config)?),
            None => None,
        };
        let mut remote_files = BTreeMap::new();
        if let Some(remote) = &remote {
            for table in [EVENTS_DIR, ALERTS_DIR, DEAD_LETTERS_DIR] {
                remote_files.extend(remote.list(table)?);
            }
        }
        Ok(Tiers {
            root,
            remote,
            remote_files,
        })
    }

    /// The bucket's objects under `dir` (a path under the root), relative to `dir`.
    fn remote_under(&self, dir: &Path) -> impl Iterator<Item = (&str, u64)> {
        let prefix = format!("{}/", relative_path(self.root, dir));
        let skip = prefix.len();
        self.remote_files
            .range(prefix.clone()..)
            .take_while(move |(path, _)| path.starts_with(&prefix))
            .map(move |(path, size)| (&path[skip..], *size))
    }

    /// [`files::list_dir`] over both tiers.
    fn list_dir(&self, dir: &Path) -> Result<Vec<(PathBuf, String, bool)>, StoreError> {
        let mut entries = files::list_dir(dir)?;
        let mut seen: BTreeSet<String> = entries.iter().map(|(_, name, _)| name.clone()).collect();
        for (rest, _) in self.remote_under(dir) {
            let (name, is_dir) = match rest.split_once('/') {
                Some((name, _)) => (name, true),
                None => (rest, false),
            };
            if seen.insert(name.to_owned()) {
                entries.push((dir.join(name), name.to_owned(), is_dir));
            }
        }
        Ok(entries)
    }

    /// [`files::list_files`] over both tiers (bucket objects under their local paths).
    fn list_files(&self, dir: &Path) -> Result<Vec<(PathBuf, u64)>, StoreError> {
        let mut found = files::list_files(dir)?;
        let seen: HashSet<PathBuf> = found.iter().map(|(path, _)| path.clone()).collect();
        let remote: Vec<(PathBuf, u64)> = self
            .remote_under(dir)
            .map(|(rest, size)| (dir.join(rest), size))
            .filter(|(path, _)| !seen.contains(path))
            .collect();
        found.extend(remote);
        Ok(found)
    }

    /// The live Parquet files of `table` in both tiers.
    fn live_parquet(&self, table: &str) -> Result<Vec<PathBuf>, StoreError> {
        let parquet: Vec<PathBuf> = self
            .list_files(&self.root.join(table))?
            .into_iter()
            .map(|(path, _)| path)
            .filter(|path| {
                let name = file_name(path);
                name.ends_with(".parquet") && !name.starts_with('.')
            })
            .collect();
        let dir_of = |path: &PathBuf| {
            path.parent()
                .map(|dir| dir.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        Ok(crate::parts::retain_live_per_dir(parquet, dir_of, |path| {
            PartName::parse(&file_name(path))
        }))
    }

    /// A file's whole contents, from disk or else from the bucket.
    fn read(&self, path: &Path) -> Result<bytes::Bytes, StoreError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(bytes::Bytes::from(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => match &self.remote {
                Some(remote) => remote.read(&relative_path(self.root, path)),
                None => Err(StoreError::ReadFile {
                    path: path.to_owned(),
                    source: error,
                }),
            },
            Err(source) => Err(StoreError::ReadFile {
                path: path.to_owned(),
                source,
            }),
        }
    }
}
