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
    /// every table and older search indexes are deleted. `None`: keep everything. The default
    /// of every class `[store.retention]` leaves out.
    pub retention_days: Option<u32>,
    /// Retention per class (`[store.retention]`).
    pub retention: RetentionClasses,
    /// Merging small files (`[store.compaction]`).
    pub compaction: crate::compaction::Options,
    /// The bucket settled partitions move to (`[store.object_store]`); local disk only when
    /// left out.
    pub object_store: Option<crate::remote::RemoteConfig>,
}

/// Days kept per class of data; a class left out takes `retention_days` (alerted events take
/// the alerts' period: an event an alert names is kept as long as its alert).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionClasses {
    /// Every event.
    pub events_days: Option<u32>,
    /// Events an alert names, at least as long as `events_days`.
    pub alerted_events_days: Option<u32>,
    pub alerts_days: Option<u32>,
    pub dead_letters_days: Option<u32>,
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
        let classes = [
            ("retention_days", self.retention_days),
            ("retention.events_days", self.retention.events_days),
            (
                "retention.alerted_events_days",
                self.retention.alerted_events_days,
            ),
            ("retention.alerts_days", self.retention.alerts_days),
            (
                "retention.dead_letters_days",
                self.retention.dead_letters_days,
            ),
        ];
        for (name, days) in classes {
            if days == Some(0) {
                return Err(StoreError::InvalidConfig {
                    reason: format!("{name} must be at least 1 (leave it out to keep everything)"),
                });
            }
        }
        let policy = self.retention_policy();
        let shorter = match (policy.alerted_events, policy.events) {
            (Some(alerted), Some(events)) => alerted < events,
            (Some(_), None) => true,
            _ => false,
        };
        if shorter {
            return Err(StoreError::InvalidConfig {
                reason: "alerted events would be kept for less time than all events: retention.alerted_events_days must be at least the events' period".to_owned(),
            });
        }
        self.compaction.validate()?;
        if let Some(remote) = &self.object_store {
            remote.validate()?;
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

impl Config {
    /// This data directory's writer id in a shared bucket (`object_store.writer`).
    pub fn writer(&self) -> Option<&str> {
        self.object_store
            .as_ref()
            .and_then(|remote| remote.writer.as_deref())
    }

    /// The days each class is kept, `retention_days` filling in the classes left out.
    pub fn retention_policy(&self) -> crate::retention::Policy {
        let or_all = |days: Option<u32>| days.or(self.retention_days);
        let alerts = or_all(self.retention.alerts_days);
        crate::retention::Policy {
            events: or_all(self.retention.events_days),
            alerted_events: self.retention.alerted_events_days.or(alerts),
            alerts,
            dead_letters: or_all(self.retention.dead_letters_days),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(Config::DEFAULT_DATA_DIR),
            zstd_level: Config::DEFAULT_ZSTD_LEVEL,
            row_group_rows: Config::DEFAULT_ROW_GROUP_ROWS,
            retention_days: None,
            retention: RetentionClasses::default(),
            compaction: crate::compaction::Options::default(),
            object_store: None,
        }
    }
}
