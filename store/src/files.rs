//! File-level building blocks of a commit: partition keys, Parquet and JSON-lines writers that
//! fsync, and directory syncing.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;

use crate::StoreError;
use crate::ledger::HashingWriter;

/// The UTC `(date, hour)` of a time in microseconds; out-of-range times fall in 1970-01-01/00.
pub(crate) fn partition_of(micros: i64) -> (String, String) {
    let time = DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or(DateTime::UNIX_EPOCH);
    (
        time.format("%Y-%m-%d").to_string(),
        time.format("%H").to_string(),
    )
}

/// Parses an RFC 3339 time into microseconds since the epoch.
pub(crate) fn parse_rfc3339_micros(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.timestamp_micros())
}

/// How one table's Parquet files are laid out: which columns get no dictionary, no statistics,
/// a bloom filter.
pub(crate) struct ParquetLayout {
    /// Column index of `time`, the sort key.
    pub time_column: usize,
    /// High-cardinality columns where a dictionary only costs space.
    pub plain_columns: &'static [&'static str],
    /// Columns whose min/max statistics cannot prune anything.
    pub no_statistics_columns: &'static [&'static str],
    /// Columns looked up by equality (ids): bloom filters let readers skip row groups.
    pub bloom_columns: &'static [&'static str],
}

pub(crate) const EVENTS_LAYOUT: ParquetLayout = ParquetLayout {
    time_column: 1,
    plain_columns: &["event_id", "audit_id", "raw"],
    no_statistics_columns: &["raw"],
    bloom_columns: &["event_id"],
};

pub(crate) const ALERTS_LAYOUT: ParquetLayout = ParquetLayout {
    time_column: 4,
    plain_columns: &["alert_id", "fields"],
    no_statistics_columns: &["fields"],
    bloom_columns: &["alert_id"],
};

pub(crate) fn writer_properties(
    layout: &ParquetLayout,
    zstd_level: i32,
    row_group_rows: usize,
) -> WriterProperties {
    let level = ZstdLevel::try_new(zstd_level).unwrap_or_default();
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: layout.time_column as i32,
            descending: false,
            nulls_first: false,
        }]))
        .set_created_by(format!("kubetrail {}", env!("CARGO_PKG_VERSION")));
    for column in layout.plain_columns {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(*column), false);
    }
    for column in layout.no_statistics_columns {
        builder = builder
            .set_column_statistics_enabled(ColumnPath::from(*column), EnabledStatistics::None);
    }
    for column in layout.bloom_columns {
        builder = builder
            .set_column_bloom_filter_enabled(ColumnPath::from(*column), true)
            .set_column_bloom_filter_fpp(ColumnPath::from(*column), 0.01)
            .set_column_bloom_filter_max_ndv(ColumnPath::from(*column), row_group_rows as u64);
    }
    builder.build()
}

/// Writes the record batches `batches` yields (one row group's worth at a time, so a large
/// commit never holds more than one Arrow copy of a row group) as one Parquet file at `path`
/// and fsyncs it.
pub(crate) fn write_parquet(
    path: &Path,
    schema: SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch, StoreError>>,
    properties: WriterProperties,
) -> Result<Written, StoreError> {
    let file = File::create(path).map_err(|source| StoreError::WriteFile {
        path: path.to_owned(),
        source,
    })?;
    let parquet_error = |source| StoreError::WriteParquet {
        path: path.to_owned(),
        source,
    };
    let mut writer = ArrowWriter::try_new(HashingWriter::new(file), schema, Some(properties))
        .map_err(parquet_error)?;
    for batch in batches {
        writer.write(&batch?).map_err(parquet_error)?;
    }
    let (file, sha256) = writer.into_inner().map_err(parquet_error)?.finish();
    Ok(Written {
        bytes: sync_file(&file, path)?,
        sha256,
    })
}

/// A file written and fsynced: its size and SHA-256 (lowercase hex), hashed as it was written.
pub(crate) struct Written {
    pub bytes: u64,
    pub sha256: String,
}

/// Writes `lines` (each without its newline) to `path` and fsyncs it.
pub(crate) fn write_lines(path: &Path, lines: &[String]) -> Result<Written, StoreError> {
    let write_error = |source| StoreError::WriteFile {
        path: path.to_owned(),
        source,
    };
    let file = File::create(path).map_err(write_error)?;
    let mut writer = BufWriter::new(HashingWriter::new(file));
    for line in lines {
        writer.write_all(line.as_bytes()).map_err(write_error)?;
        writer.write_all(b"\n").map_err(write_error)?;
    }
    let (file, sha256) = writer
        .into_inner()
        .map_err(|error| write_error(error.into_error()))?
        .finish();
    Ok(Written {
        bytes: sync_file(&file, path)?,
        sha256,
    })
}

fn sync_file(file: &File, path: &Path) -> Result<u64, StoreError> {
    file.sync_all().map_err(|source| StoreError::Sync {
        path: path.to_owned(),
        source,
    })?;
    let metadata = file.metadata().map_err(|source| StoreError::Sync {
        path: path.to_owned(),
        source,
    })?;
    Ok(metadata.len())
}

/// Makes the entries of a directory (created, renamed, removed files) durable.
pub(crate) fn sync_dir(path: &Path) -> Result<(), StoreError> {
    let sync_error = |source| StoreError::Sync {
        path: path.to_owned(),
        source,
    };
    File::open(path)
        .map_err(sync_error)?
        .sync_all()
        .map_err(sync_error)
}

/// Creates `dir` and any missing ancestors below `root`, syncing each parent whose entries
/// changed so the new directories survive a crash.
pub(crate) fn create_dir_durable(root: &Path, dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut current = dir;
    while !current.is_dir() && current != root {
        missing.push(current.to_owned());
        match current.parent() {
            Some(parent) => current = parent,
            None => break,
        }
    }
    fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
        path: dir.to_owned(),
        source,
    })?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), StoreError> {
    fs::rename(from, to).map_err(|source| StoreError::Rename {
        from: from.to_owned(),
        to: to.to_owned(),
        source,
    })
}

pub(crate) fn remove_file(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Remove {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The entries of `dir` as `(path, file name, is_dir)`; a missing directory has none.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<(PathBuf, String, bool)>, StoreError> {
    let read_error = |source| StoreError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(read_error(source)),
    };
    let mut listed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_error)?;
        let is_dir = entry.file_type().map_err(read_error)?.is_dir();
        listed.push((
            entry.path(),
            entry.file_name().to_string_lossy().into_owned(),
            is_dir,
        ));
    }
    listed.sort_by(|left, right| left.1.cmp(&right.1));
    Ok(listed)
}

/// Every regular file under `dir` (recursively) with its size; a missing directory has none.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<(PathBuf, u64)>, StoreError> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for (path, _, is_dir) in list_dir(&dir)? {
            if is_dir {
                pending.push(path);
                continue;
            }
            let metadata = fs::symlink_metadata(&path).map_err(|source| StoreError::ReadDir {
                path: path.clone(),
                source,
            })?;
            found.push((path, metadata.len()));
        }
    }
    found.sort();
    Ok(found)
}

/// Removes `dir` and then each parent it leaves empty, stopping at `stop` (kept). Returns the
/// directory whose entries changed (to sync), which exists. A directory that is not empty
/// stays.
pub(crate) fn remove_empty_dirs(dir: &Path, stop: &Path) -> PathBuf {
    let mut current = dir.to_owned();
    while current != stop && current.starts_with(stop) {
        match fs::remove_dir(&current) {
            // Gone already (a retention commit finished again after a crash): look upwards.
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return current,
        }
        match current.parent() {
            Some(parent) => current = parent.to_owned(),
            None => break,
        }
    }
    current
}
