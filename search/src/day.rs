//! One day index: the tantivy index, its reader and its field handles.

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use tantivy::store::Compressor;
use tantivy::{Index, IndexReader, IndexSettings, ReloadPolicy};

use crate::SearchError;
use crate::schema::{Fields, tantivy_schema};
use crate::text::register_tokenizers;

/// Index settings of every day index: lz4 doc store (only the small normalised fields are
/// stored) in 64 KiB blocks (see README: a fifth smaller than tantivy's 16 KiB default).
pub fn tantivy_index_settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Lz4,
        docstore_blocksize: 64 * 1024,
        ..IndexSettings::default()
    }
}

pub(crate) struct DayHandle {
    pub day: NaiveDate,
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Arc<Fields>,
}

impl DayHandle {
    fn from_index(day: NaiveDate, index: Index) -> Result<DayHandle, SearchError> {
        register_tokenizers(&index);
        let fields = Arc::new(Fields::new(&index.schema())?);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(DayHandle {
            day,
            index,
            reader,
            fields,
        })
    }

    /// Opens an existing day index.
    pub fn open(day: NaiveDate, path: &Path) -> Result<DayHandle, SearchError> {
        let index = Index::open_in_dir(path)
            .map_err(|error| SearchError::Index(format!("open {}: {error}", path.display())))?;
        DayHandle::from_index(day, index)
    }

    /// Creates a day index (the directory may exist and be empty).
    pub fn create(day: NaiveDate, path: &Path, positions: bool) -> Result<DayHandle, SearchError> {
        std::fs::create_dir_all(path)
            .map_err(|error| SearchError::io(format!("create {}", path.display()), error))?;
        let index = Index::builder()
            .schema(tantivy_schema(positions))
            .settings(tantivy_index_settings())
            .create_in_dir(path)
            .map_err(|error| SearchError::Index(format!("create {}: {error}", path.display())))?;
        DayHandle::from_index(day, index)
    }

    /// The commit payload: the highest commit seq any document of the last tantivy commit
    /// may carry (`None` before the first commit).
    pub fn payload_seq(&self) -> Result<Option<u64>, SearchError> {
        let metas = self.index.load_metas()?;
        match metas.payload {
            None => Ok(None),
            Some(payload) => payload.trim().parse::<u64>().map(Some).map_err(|_| {
                SearchError::Index(format!(
                    "day index {} has an unreadable commit payload {payload:?}",
                    self.day
                ))
            }),
        }
    }
}
