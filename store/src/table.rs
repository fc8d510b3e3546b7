//! Read side: a DataFusion session with the `events` and `alerts` tables registered as listing
//! tables over the hive partitions, with partition pruning driven by `time` predicates.
//!
//! # How a `time` filter prunes partitions
//!
//! DataFusion prunes hive partitions only with predicates on the partition columns themselves.
//! [`TimePartitionedTable`] wraps the listing table and, at scan time, derives from each pushed
//! down predicate on `time` (`=`, `<`, `<=`, `>`, `>=`, `BETWEEN`, combined with `AND`/`OR`,
//! against timestamp or RFC 3339 string literals) an implied predicate on `date`/`hour`, e.g.
//! `time >= '2026-01-01T05:30:00Z'` adds `date > '2026-01-01' OR (date = '2026-01-01' AND hour >=
//! '05')`. The derived predicate is only ever weaker than the original (hour granularity), so it
//! never removes a matching row; the original predicate still filters rows and prunes Parquet row
//! groups with their `time` statistics. Filters on `date`/`hour` directly prune as usual.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::Result as DataFusionResult;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType, col, lit,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::StoreError;
use crate::commit::{ALERTS_DIR, EVENTS_DIR};
use crate::files::{parse_rfc3339_micros, partition_of};
use crate::schema::{
    DATE_COLUMN, HOUR_COLUMN, TIME_COLUMN, alerts_file_schema, events_file_schema,
};

/// A session over the data directory with the tables `events` and `alerts` registered.
///
/// The session has the information schema on (`SHOW TABLES`, `SHOW COLUMNS`), Parquet filter
/// pushdown on (late materialisation: `raw` is decoded only for matching rows), and no URL
/// tables (`SELECT * FROM 'file.parquet'` is not a table). Read-only enforcement lives in the
/// `query` crate.
pub async fn session_context(data_dir: &Path) -> Result<SessionContext, StoreError> {
    if !data_dir.is_dir() {
        return Err(StoreError::DataDirMissing {
            path: data_dir.to_owned(),
        });
    }
    let data_dir = data_dir
        .canonicalize()
        .map_err(|source| StoreError::ReadDir {
            path: data_dir.to_owned(),
            source,
        })?;
    let mut config = SessionConfig::new().with_information_schema(true);
    config.options_mut().execution.parquet.pushdown_filters = true;
    config.options_mut().execution.parquet.reorder_filters = true;
    // No list-files cache: a long-lived session must see files committed after it was made.
    let runtime = RuntimeEnvBuilder::new()
        .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
        .build_arc()
        .map_err(|source| StoreError::RegisterTable {
            table: "events",
            source,
        })?;
    let context = SessionContext::new_with_config_rt(config, runtime);
    // Tables are read through the live, read-only view of the data directory.
    let local = datafusion::execution::object_store::ObjectStoreUrl::local_filesystem();
    let data_dir_location = datafusion::object_store::path::Path::from_absolute_path(&data_dir)
        .map_err(|error| StoreError::RegisterTable {
            table: "events",
            source: datafusion::error::DataFusionError::External(Box::new(error)),
        })?;
    let mut live = crate::live_store::LiveStore::new(
        Arc::new(datafusion::object_store::local::LocalFileSystem::new()),
        data_dir_location,
    );
    // Settled partitions in a bucket are read from there, as if they were here.
    if let Some(remote) = crate::remote::recorded(&data_dir)? {
        let (store, prefix) = crate::remote::Remote::open(&remote)?.object_store();
        live = live.with_remote(store, prefix, remote.writer.clone());
    }
    context
        .runtime_env()
        .register_object_store(local.as_ref(), Arc::new(live));

    let events = TimePartitionedTable::new(
        &data_dir.join(EVENTS_DIR),
        events_file_schema(),
        &[DATE_COLUMN, HOUR_COLUMN],
    )
    .map_err(|source| StoreError::RegisterTable {
        table: "events",
        source,
    })?;
    context
        .register_table("events", Arc::new(events))
        .map_err(|source| StoreError::RegisterTable {
            table: "events",
            source,
        })?;

    let alerts = TimePartitionedTable::new(
        &data_dir.join(ALERTS_DIR),
        alerts_file_schema(),
        &[DATE_COLUMN],
    )
    .map_err(|source| StoreError::RegisterTable {
        table: "alerts",
        source,
    })?;
    context
        .register_table("alerts", Arc::new(alerts))
        .map_err(|source| StoreError::RegisterTable {
            table: "alerts",
            source,
        })?;
    Ok(context)
}

/// A hive-partitioned Parquet listing table whose scans also prune partitions by `time`
/// predicates (see the module docs).
#[derive(Debug)]
pub struct TimePartitionedTable {
    inner: ListingTable,
    /// Whether the table is partitioned by hour below date.
    has_hour: bool,
}

impl TimePartitionedTable {
    /// A table over `dir` (`dir/date=YYYY-MM-DD[/hour=HH]/*.parquet`) with files of `file_schema`
    /// sorted by `time`.
    pub fn new(
        dir: &Path,
        file_schema: SchemaRef,
        partition_columns: &[&str],
    ) -> DataFusionResult<Self> {
        let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(
                partition_columns
                    .iter()
                    .map(|name| ((*name).to_owned(), DataType::Utf8))
                    .collect(),
            )
            .with_file_sort_order(vec![vec![col(TIME_COLUMN).sort(true, false)]]);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(file_schema);
        Ok(TimePartitionedTable {
            inner: ListingTable::try_new(config)?,
            has_hour: partition_columns.contains(&HOUR_COLUMN),
        })
    }

    /// The partition predicates implied by `filters`.
    pub fn partition_filters(&self, filters: &[Expr]) -> Vec<Expr> {
        filters
            .iter()
            .filter_map(|filter| self.partition_filter(filter))
            .collect()
    }

    /// A predicate on the partition columns implied by `expr`, if `expr` constrains `time`.
    fn partition_filter(&self, expr: &Expr) -> Option<Expr> {
        match expr {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::And,
                right,
            }) => match (self.partition_filter(left), self.partition_filter(right)) {
                (Some(left), Some(right)) => Some(left.and(right)),
                (Some(one), None) | (None, Some(one)) => Some(one),
                (None, None) => None,
            },
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Or,
                right,
            }) => Some(
                self.partition_filter(left)?
                    .or(self.partition_filter(right)?),
            ),
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (op, micros) = if is_time_column(left) {
                    (*op, literal_micros(right)?)
                } else if is_time_column(right) {
                    (op.swap()?, literal_micros(left)?)
                } else {
                    return None;
                };
                match op {
                    Operator::Eq => Some(self.at_or_after(micros).and(self.at_or_before(micros))),
                    Operator::GtEq => Some(self.at_or_after(micros)),
                    Operator::Gt => Some(self.at_or_after(micros.checked_add(1)?)),
                    Operator::LtEq => Some(self.at_or_before(micros)),
                    Operator::Lt => Some(self.at_or_before(micros.checked_sub(1)?)),
                    _ => None,
                }
            }
            Expr::Between(between) if !between.negated && is_time_column(&between.expr) => {
                let low = literal_micros(&between.low)?;
                let high = literal_micros(&between.high)?;
                Some(self.at_or_after(low).and(self.at_or_before(high)))
            }
            _ => None,
        }
    }

    /// Partitions that may hold times `>= micros`.
    fn at_or_after(&self, micros: i64) -> Expr {
        let (date, hour) = partition_of(micros);
        if self.has_hour {
            col(DATE_COLUMN).gt(lit(date.clone())).or(col(DATE_COLUMN)
                .eq(lit(date))
                .and(col(HOUR_COLUMN).gt_eq(lit(hour))))
        } else {
            col(DATE_COLUMN).gt_eq(lit(date))
        }
    }

    /// Partitions that may hold times `<= micros`.
    fn at_or_before(&self, micros: i64) -> Expr {
        let (date, hour) = partition_of(micros);
        if self.has_hour {
            col(DATE_COLUMN).lt(lit(date.clone())).or(col(DATE_COLUMN)
                .eq(lit(date))
                .and(col(HOUR_COLUMN).lt_eq(lit(hour))))
        } else {
            col(DATE_COLUMN).lt_eq(lit(date))
        }
    }
}

fn is_time_column(expr: &Expr) -> bool {
    matches!(expr, Expr::Column(column) if column.name == TIME_COLUMN)
}

/// The instant of a timestamp literal (any unit) or an RFC 3339 string literal, possibly cast,
/// in microseconds. Sub-microsecond parts are truncated, which the hour-granular partition
/// predicates absorb.
fn literal_micros(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Literal(value, _) => scalar_micros(value),
        Expr::Cast(cast) => literal_micros(&cast.expr),
        Expr::TryCast(cast) => literal_micros(&cast.expr),
        _ => None,
    }
}

fn scalar_micros(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::TimestampSecond(Some(seconds), _) => seconds.checked_mul(1_000_000),
        ScalarValue::TimestampMillisecond(Some(millis), _) => millis.checked_mul(1_000),
        ScalarValue::TimestampMicrosecond(Some(micros), _) => Some(*micros),
        ScalarValue::TimestampNanosecond(Some(nanos), _) => Some(nanos.div_euclid(1_000)),
        ScalarValue::Utf8(Some(text))
        | ScalarValue::LargeUtf8(Some(text))
        | ScalarValue::Utf8View(Some(text)) => parse_rfc3339_micros(text),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for TimePartitionedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DataFusionResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DataFusionResult<Arc<dyn ExecutionPlan>> {
        let args = ScanArgs::default()
            .with_projection(projection.map(|projection| projection.as_slice()))
            .with_filters(Some(filters))
            .with_limit(limit);
        Ok(self.scan_with_args(state, args).await?.into_inner())
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> DataFusionResult<ScanResult> {
        let mut filters: Vec<Expr> = args.filters().map(<[Expr]>::to_vec).unwrap_or_default();
        let derived = self.partition_filters(&filters);
        filters.extend(derived);
        let inner_args = ScanArgs::default()
            .with_projection(args.projection())
            .with_filters(Some(&filters))
            .with_limit(args.limit())
            .with_statistics_requests(args.statistics_requests());
        self.inner.scan_with_args(state, inner_args).await
    }
}
