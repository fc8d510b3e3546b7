//! SQL for a caller restricted to namespaces or clusters: a session whose `events` and
//! `alerts` are views with the restriction built in, so every statement (joins, subqueries,
//! aggregates, `EXPLAIN`) sees only the allowed rows.

use std::sync::Arc;

use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, col, lit};
use datafusion::prelude::SessionContext;

use crate::{ApiError, ApiState, Scope};

/// The restriction as a predicate over a table with `namespace` and `cluster` columns; `None`
/// when there is none.
pub(crate) fn scope_predicate(scope: &Scope) -> Option<Expr> {
    let list = |column: &str, values: &Option<Vec<String>>| {
        values.as_ref().map(|values| {
            col(column).in_list(values.iter().map(|v| lit(v.clone())).collect(), false)
        })
    };
    match (
        list("namespace", &scope.namespaces),
        list("cluster", &scope.clusters),
    ) {
        (Some(a), Some(b)) => Some(a.and(b)),
        (Some(a), None) | (None, Some(a)) => Some(a),
        (None, None) => None,
    }
}

impl ApiState {
    /// The session for `scope`: the shared one when unrestricted, else a fresh one with views.
    pub(crate) async fn scoped_sql(&self, scope: &Scope) -> Result<SessionContext, ApiError> {
        let base = self.sql_context().await?;
        let Some(predicate) = scope_predicate(scope) else {
            return Ok(base.clone());
        };
        let context = store::session_context(&self.inner.data_dir)
            .await
            .map_err(|error| {
                ApiError::unavailable(format!("the store is not open yet: {error}"))
            })?;
        for table in ["events", "alerts"] {
            let provider = context
                .deregister_table(table)?
                .ok_or_else(|| ApiError::internal(format!("table {table} is missing")))?;
            let plan = LogicalPlanBuilder::scan(table, provider_as_source(provider), None)?
                .filter(predicate.clone())?
                .build()?;
            context.register_table(table, Arc::new(ViewTable::new(plan, None)))?;
        }
        Ok(context)
    }
}
