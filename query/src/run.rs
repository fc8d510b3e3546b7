//! Running one read-only statement with a row limit and a timeout.

use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;

use crate::QueryError;
use crate::read_only::{check_read_only, one_line};

/// Bounds on one SQL statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// Rows returned at most; more are cut off and the result marked truncated.
    pub max_rows: usize,
    /// Wall time allowed for planning and execution.
    pub timeout: Duration,
}

impl SqlLimits {
    pub const DEFAULT_MAX_ROWS: usize = 10_000;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
}

impl Default for SqlLimits {
    fn default() -> Self {
        SqlLimits {
            max_rows: SqlLimits::DEFAULT_MAX_ROWS,
            timeout: SqlLimits::DEFAULT_TIMEOUT,
        }
    }
}

/// The answer to a statement.
#[derive(Debug, Clone)]
pub struct SqlResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// True when the statement produced more than `max_rows` rows and the rest were dropped.
    pub truncated: bool,
}

impl SqlResult {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Runs one read-only statement: checked by [`check_read_only`], then planned with DDL, DML
/// and statements disabled, executed with at most `limits.max_rows + 1` rows pulled (to detect
/// truncation) and cancelled after `limits.timeout`.
pub async fn run_sql(
    context: &SessionContext,
    statement: &str,
    limits: &SqlLimits,
) -> Result<SqlResult, QueryError> {
    check_read_only(statement)?;
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let work = async {
        let frame = context
            .sql_with_options(statement, options)
            .await
            .map_err(classify)?;
        let schema = SchemaRef::new(frame.schema().as_arrow().clone());
        // EXPLAIN and DESCRIBE must stay at the root of the plan; their output is small.
        let frame = match frame.logical_plan() {
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) | LogicalPlan::DescribeTable(_) => {
                frame
            }
            _ => frame
                .limit(0, Some(limits.max_rows.saturating_add(1)))
                .map_err(classify)?,
        };
        let batches = frame.collect().await.map_err(classify)?;
        Ok::<_, QueryError>((schema, batches))
    };
    let (schema, batches) = tokio::time::timeout(limits.timeout, work)
        .await
        .map_err(|_| QueryError::Timeout {
            seconds: limits.timeout.as_secs().max(1),
        })??;
    let (batches, truncated) = truncate(batches, limits.max_rows);
    Ok(SqlResult {
        schema,
        batches,
        truncated,
    })
}

fn truncate(batches: Vec<RecordBatch>, max_rows: usize) -> (Vec<RecordBatch>, bool) {
    let mut kept = Vec::with_capacity(batches.len());
    let mut remaining = max_rows;
    let mut truncated = false;
    for batch in batches {
        if batch.num_rows() <= remaining {
            remaining -= batch.num_rows();
            kept.push(batch);
        } else {
            truncated = true;
            if remaining > 0 {
                kept.push(batch.slice(0, remaining));
                remaining = 0;
            }
        }
    }
    (kept, truncated)
}

/// Sorts an engine error into the caller's fault (`Invalid`) or ours (`Execution`).
fn classify(error: DataFusionError) -> QueryError {
    use datafusion::arrow::error::ArrowError;
    let message = one_line(&error.to_string());
    let caller = match error.find_root() {
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_) => true,
        DataFusionError::ArrowError(arrow, _) => matches!(
            arrow.as_ref(),
            ArrowError::CastError(_)
                | ArrowError::ParseError(_)
                | ArrowError::DivideByZero
                | ArrowError::ArithmeticOverflow(_)
                | ArrowError::InvalidArgumentError(_)
        ),
        _ => false,
    };
    if caller {
        QueryError::Invalid { message }
    } else {
        QueryError::Execution { message }
    }
}

/// Plans one read-only statement like [`run_sql`] and returns its rows as a stream, for
/// exports. The stream yields at most `max_rows` rows; planning is bounded by `timeout`, the
/// caller bounds the streaming.
pub async fn stream_sql(
    context: &SessionContext,
    statement: &str,
    limits: &SqlLimits,
) -> Result<(SchemaRef, SendableRecordBatchStream), QueryError> {
    check_read_only(statement)?;
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let work = async {
        let frame = context
            .sql_with_options(statement, options)
            .await
            .map_err(classify)?;
        let frame = match frame.logical_plan() {
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) | LogicalPlan::DescribeTable(_) => {
                frame
            }
            _ => frame.limit(0, Some(limits.max_rows)).map_err(classify)?,
        };
        let schema = SchemaRef::new(frame.schema().as_arrow().clone());
        let stream = frame.execute_stream().await.map_err(classify)?;
        Ok::<_, QueryError>((schema, stream))
    };
    tokio::time::timeout(limits.timeout, work)
        .await
        .map_err(|_| QueryError::Timeout {
            seconds: limits.timeout.as_secs().max(1),
        })?
}

/// An engine error met while streaming, sorted like the others.
pub fn stream_error(error: DataFusionError) -> QueryError {
    classify(error)
}
