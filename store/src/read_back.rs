//! Reading committed rows back without DataFusion, for stores derived from this one: the
//! search index catches up from the Parquet files of commits it has not seen (after a crash
//! between the two commits, or to rebuild it). File names carry the commits whose rows they hold
//! (see [`crate::parts`]), so this needs no commit record.

use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray, ListArray};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::file::reader::ChunkReader;

use crate::StoreError;
use crate::files::list_dir;
use crate::parts::PartName;

/// The live Parquet files of `table` (`events` or `alerts`) holding rows of commits after
/// `seq`, as `(last commit whose rows the file holds, path)`, in that order. A merged file
/// whose commits straddle `seq` is included (see [`live_files`] to tell).
pub fn files_after(
    data_dir: &Path,
    table: &str,
    seq: u64,
) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    Ok(live_files(data_dir, table)?
        .into_iter()
        .filter(|(part, _)| part.last > seq)
        .map(|(part, path)| (part.last, path))
        .collect())
}

/// Every live Parquet file of `table` (superseded files skipped, see [`crate::parts`]) with
/// what its name says, ordered by the commits whose rows it holds.
pub fn live_files(data_dir: &Path, table: &str) -> Result<Vec<(PartName, PathBuf)>, StoreError> {
    let mut files = Vec::new();
    collect(&data_dir.join(table), &mut files)?;
    files.sort_by_key(|(part, _)| (part.last, part.first, part.seq, part.n));
    Ok(files)
}

/// The live Parquet files of `table` in the partition of UTC day `day`.
pub fn day_files(
    data_dir: &Path,
    table: &str,
    day: chrono::NaiveDate,
) -> Result<Vec<PathBuf>, StoreError> {
    let mut files = Vec::new();
    let dir = data_dir
        .join(table)
        .join(day.format("date=%Y-%m-%d").to_string());
    collect(&dir, &mut files)?;
    files.sort_by_key(|(part, _)| (part.last, part.first, part.seq, part.n));
    Ok(files.into_iter().map(|(_, path)| path).collect())
}

fn collect(dir: &Path, files: &mut Vec<(PartName, PathBuf)>) -> Result<(), StoreError> {
    let mut here = Vec::new();
    for (path, name, is_dir) in list_dir(dir)? {
        if is_dir {
            if name.contains('=') {
                collect(&path, files)?;
            }
            continue;
        }
        if !name.ends_with(".parquet") {
            continue;
        }
        if let Some(part) = PartName::parse(&name) {
            here.push((part, path));
        }
    }
    crate::parts::retain_live(&mut here, |(part, _)| Some(*part));
    files.extend(here);
    Ok(())
}

fn reader(
    path: &Path,
    columns: &[&str],
) -> Result<datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader, StoreError> {
    let file = File::open(path).map_err(|source| StoreError::ReadParquet {
        path: path.to_owned(),
        source: source.into(),
    })?;
    reader_of(file, path, columns)
}

fn reader_of<R: ChunkReader + 'static>(
    source: R,
    path: &Path,
    columns: &[&str],
) -> Result<datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader, StoreError> {
    let error = |source| StoreError::ReadParquet {
        path: path.to_owned(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(source).map_err(error)?;
    let schema = builder.parquet_schema();
    let mask = ProjectionMask::columns(schema, columns.iter().copied());
    builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(error)
}

/// `(cluster, raw)` of every event in an events file: what decoding needs to rebuild them.
pub fn read_event_sources(path: &Path) -> Result<Vec<(String, String)>, StoreError> {
    let mut rows = Vec::new();
    for batch in reader(path, &["cluster", "raw"])? {
        let batch = batch.map_err(|source| StoreError::ReadParquet {
            path: path.to_owned(),
            source: source.into(),
        })?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .cloned()
        };
        let (Some(cluster), Some(raw)) = (column("cluster"), column("raw")) else {
            continue;
        };
        for row in 0..batch.num_rows() {
            rows.push((cluster.value(row).to_owned(), raw.value(row).to_owned()));
        }
    }
    Ok(rows)
}

/// `(rule_id, event_ids)` of every alert in an alerts file.
pub fn read_alert_events(path: &Path) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    let file = File::open(path).map_err(|source| StoreError::ReadParquet {
        path: path.to_owned(),
        source: source.into(),
    })?;
    alert_events(file, path)
}

/// `(rule_id, event_ids)` of every alert in the alerts file `source` (read from `path`).
pub fn alert_events<R: ChunkReader + 'static>(
    source: R,
    path: &Path,
) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    let mut rows = Vec::new();
    for batch in reader_of(source, path, &["rule_id", "event_ids"])? {
        let batch = batch.map_err(|source| StoreError::ReadParquet {
            path: path.to_owned(),
            source: source.into(),
        })?;
        let rule = batch
            .column_by_name("rule_id")
            .and_then(|c| c.as_string_opt::<i32>())
            .cloned();
        let ids = batch
            .column_by_name("event_ids")
            .and_then(|c| c.as_any().downcast_ref::<ListArray>())
            .cloned();
        let (Some(rule), Some(ids)) = (rule, ids) else {
            continue;
        };
        for row in 0..batch.num_rows() {
            let list = ids.value(row);
            let list = list.as_string::<i32>();
            let event_ids = (0..list.len())
                .filter(|&i| list.is_valid(i))
                .map(|i| list.value(i).to_owned())
                .collect();
            rows.push((rule.value(row).to_owned(), event_ids));
        }
    }
    Ok(rows)
}

/// The `event_id`s of the newest committed events, at most `limit` (whole files, newest
/// commit first, so a few more may come), oldest first: what the pipeline's dedupe stage
/// remembers again after a restart, so an event stored before a crash and read again from a
/// source (a replayed Kafka message, a retried push) is not stored twice.
pub fn recent_event_ids(data_dir: &Path, limit: usize) -> Result<Vec<String>, StoreError> {
    let mut files = files_after(data_dir, crate::commit::EVENTS_DIR, 0)?;
    files.reverse();
    let mut newest_first: Vec<Vec<String>> = Vec::new();
    let mut count = 0usize;
    for (_, path) in files {
        if count >= limit {
            break;
        }
        let mut ids = Vec::new();
        for batch in reader(&path, &["event_id"])? {
            let batch = batch.map_err(|source| StoreError::ReadParquet {
                path: path.clone(),
                source: source.into(),
            })?;
            let Some(column) = batch
                .column_by_name("event_id")
                .and_then(|c| c.as_string_opt::<i32>())
            else {
                continue;
            };
            ids.extend((0..column.len()).map(|row| column.value(row).to_owned()));
        }
        count += ids.len();
        newest_first.push(ids);
    }
    Ok(newest_first.into_iter().rev().flatten().collect())
}

/// Rows of the live Parquet files of `table` per UTC day partition, from the files' footers,
/// those in the bucket (see [`crate::remote`]) included.
pub fn rows_per_day(
    data_dir: &Path,
    table: &str,
) -> Result<std::collections::BTreeMap<chrono::NaiveDate, u64>, StoreError> {
    /// Where a file is: here, or in the bucket (path relative to its prefix, size).
    enum At {
        Local(PathBuf),
        Remote(String, u64),
    }
    let remote = match crate::remote::recorded(data_dir)? {
        Some(config) => Some(crate::remote::Remote::open(&config)?),
        None => None,
    };
    // Files of both tiers, as (partition directory, name's meaning, where), so the live rule
    // sees them all.
    let mut found: Vec<(String, PartName, At)> = Vec::new();
    for (part, path) in live_files(data_dir, table)? {
        let relative = crate::commit::relative_path(data_dir, &path);
        let dir = relative
            .rsplit_once('/')
            .map_or("", |(dir, _)| dir)
            .to_owned();
        found.push((dir, part, At::Local(path)));
    }
    if let Some(remote) = &remote {
        // A file in both places (between its upload and its local retirement) counts once.
        let local: std::collections::BTreeSet<(String, PartName)> = found
            .iter()
            .map(|(dir, part, _)| (dir.clone(), *part))
            .collect();
        for (relative, size) in remote.list(table)? {
            let Some((dir, name)) = relative.rsplit_once('/') else {
                continue;
            };
            let Some(part) = name
                .ends_with(".parquet")
                .then(|| PartName::parse(name))
                .flatten()
            else {
                continue;
            };
            if !local.contains(&(dir.to_owned(), part)) {
                found.push((dir.to_owned(), part, At::Remote(relative.clone(), size)));
            }
        }
    }
    let live = crate::parts::retain_live_per_dir(
        found,
        |(dir, ..)| dir.clone(),
        |(_, part, _)| Some(*part),
    );
    let mut days = std::collections::BTreeMap::new();
    for (dir, _, at) in live {
        let Some(day) = dir
            .split('/')
            .filter_map(|part| part.strip_prefix("date="))
            .find_map(|date| chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok())
        else {
            continue;
        };
        let rows = match (at, &remote) {
            (At::Local(path), _) => local_rows(&path)?,
            (At::Remote(relative, size), Some(remote)) => remote.parquet_rows(&relative, size)?,
            (At::Remote(..), None) => 0,
        };
        *days.entry(day).or_insert(0) += rows;
    }
    Ok(days)
}

/// The rows of a local Parquet file, from its footer.
fn local_rows(path: &Path) -> Result<u64, StoreError> {
    let file = File::open(path).map_err(|source| StoreError::ReadParquet {
        path: path.to_owned(),
        source: source.into(),
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| {
        StoreError::ReadParquet {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok(u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0))
}
