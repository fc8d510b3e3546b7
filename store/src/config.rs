//! Configuration of the columnar store (the `[store]` table of the config file).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Where and how the columnar store writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Root of the data directory (design.md §4 "Data directory").
    pub data_dir: PathBuf,
    /// zstd level of Parquet pages, 1..=22.
    pub zstd_level: i32,
    /// Maximum rows per Parquet row group.
    pub row_group_rows: usize,
    /// Keep this many days of data (by event time, whole UTC days); older day partitions of
    /// every table and older search indexes are deleted. `None`: keep everything.
    pub retention_days: Option<u32>,
}

impl Config {
    pub const DEFAULT_DATA_DIR: &'static str = "./kubetrail-data";
    pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
    pub const DEFAULT_ROW_GROUP_ROWS: usize = 65_536;

    /// A default config rooted at `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            ..Config::default()
        }
    }

    /// Checks the values a parsed config may hold but the store cannot use.
    pub fn validate(&self) -> Result<(), StoreError> {
        if !(1..=22).contains(&self.zstd_level) {
            return Err(StoreError::InvalidConfig {
                reason: format!(
                    "zstd_level must be between 1 and 22, got {}",
                    self.zstd_level
                ),
            });
        }
        if self.retention_days == Some(0) {
            return Err(StoreError::InvalidConfig {
                reason: "retention_days must be at least 1 (leave it out to keep everything)"
                    .to_owned(),
            });
        }
        if self.row_group_rows == 0 {
            return Err(StoreError::InvalidConfig {
                reason: "row_group_rows must be positive".to_owned(),
            });
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(StoreError::InvalidConfig {
                reason: "data_dir must not be empty".to_owned(),
            });
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(Config::DEFAULT_DATA_DIR),
            zstd_level: Config::DEFAULT_ZSTD_LEVEL,
            row_group_rows: Config::DEFAULT_ROW_GROUP_ROWS,
            retention_days: None,
        }
    }
}
