//! kubetrail's read-only SQL over the `events` and `alerts` tables of the columnar store, with a
//! row limit, a timeout and output as JSON lines, CSV or a table.
//!
//! Read-only is enforced twice: [`check_read_only`] inspects the parsed statement (one
//! statement; only queries, `EXPLAIN`, `SHOW`, `DESCRIBE`; no file or URL tables), and
//! [`run_sql`] plans with DataFusion's `SQLOptions` refusing DDL, DML and statements. The
//! session from [`store::session_context`] has no URL tables.

mod error;
mod output;
mod read_only;
mod run;

pub use error::QueryError;
pub use output::{
    OutputFormat, batch_rows, column_names, write_csv_header, write_csv_rows, write_jsonl_batch,
    write_results,
};
pub use read_only::{MAX_EXPRESSION_DEPTH, check_read_only, one_line};
pub use run::{SqlLimits, SqlResult, run_sql, stream_error, stream_sql};
pub use store::session_context;
