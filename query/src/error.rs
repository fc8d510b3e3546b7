//! Errors of the query layer, split by whose fault they are: the caller's (`Refused`, `Invalid`,
//! `Timeout`: HTTP 4xx, CLI exit code 2) or ours (`Execution`, `Output`: HTTP 5xx, exit code 1).

/// Why a query was not answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The statement is valid SQL but not allowed (not read-only, several statements, files).
    #[error("refused: {reason}")]
    Refused { reason: String },
    /// The statement does not parse or plan (syntax, unknown table or column, bad cast).
    #[error("invalid query: {message}")]
    Invalid { message: String },
    #[error("query timed out after {seconds} s")]
    Timeout { seconds: u64 },
    /// The engine failed while running a valid query.
    #[error("query failed: {message}")]
    Execution { message: String },
    #[error("failed to write results")]
    Output { source: std::io::Error },
    #[error("failed to encode results")]
    Encode {
        source: datafusion::arrow::error::ArrowError,
    },
}

impl QueryError {
    /// True when the caller can fix the error by changing the statement.
    pub fn is_caller_error(&self) -> bool {
        matches!(
            self,
            QueryError::Refused { .. } | QueryError::Invalid { .. } | QueryError::Timeout { .. }
        )
    }
}
