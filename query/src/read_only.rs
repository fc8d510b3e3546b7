//! The read-only gate: parses a statement with DataFusion's own parser and admits only one
//! query-like statement that reads the registered tables.

use std::ops::ControlFlow;

use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{SetExpr, Statement, TableFactor, Visit, Visitor};

use crate::QueryError;

/// Table functions that generate rows without reading anything.
const ALLOWED_TABLE_FUNCTIONS: &[&str] = &["generate_series", "range"];

const ALLOWED: &str = "only SELECT, WITH, EXPLAIN, SHOW and DESCRIBE are allowed";

fn refused(reason: impl Into<String>) -> QueryError {
    QueryError::Refused {
        reason: reason.into(),
    }
}

/// Accepts exactly one statement that only reads: `SELECT`, `WITH`, `VALUES`, `EXPLAIN` of
/// such a query, `SHOW` and `DESCRIBE`. Refuses DDL, DML, `COPY`, `CREATE EXTERNAL TABLE`,
/// `SET`/`RESET`, `SELECT ... INTO`, file or URL table references (`FROM 'x.parquet'`), table
/// functions other than row generators, and several statements.
pub fn check_read_only(statement: &str) -> Result<(), QueryError> {
    let statements = DFParser::parse_sql(statement).map_err(|error| QueryError::Invalid {
        message: one_line(&error.to_string()),
    })?;
    match statements.len() {
        0 => Err(QueryError::Invalid {
            message: "empty statement".to_owned(),
        }),
        1 => check_statement(&statements[0]),
        count => Err(refused(format!(
            "exactly one statement is allowed, got {count}"
        ))),
    }
}

fn check_statement(statement: &DfStatement) -> Result<(), QueryError> {
    match statement {
        DfStatement::Statement(statement) => check_sql_statement(statement),
        DfStatement::Explain(explain) => check_statement(&explain.statement),
        DfStatement::CreateExternalTable(_) => Err(refused(format!(
            "CREATE EXTERNAL TABLE is not allowed; {ALLOWED}"
        ))),
        DfStatement::CopyTo(_) => Err(refused(format!("COPY is not allowed; {ALLOWED}"))),
        DfStatement::Reset(_) => Err(refused(format!("RESET is not allowed; {ALLOWED}"))),
    }
}

fn check_sql_statement(statement: &Statement) -> Result<(), QueryError> {
    match statement {
        Statement::Query(_) => match statement.visit(&mut ReadOnlyVisitor::default()) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(error) => Err(error),
        },
        Statement::Explain { statement, .. } => check_sql_statement(statement),
        Statement::ExplainTable { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCreate { .. } => Ok(()),
        other => Err(refused(format!(
            "{} is not allowed; {ALLOWED}",
            statement_kind(other)
        ))),
    }
}

/// The leading keywords of a statement, e.g. `INSERT` or `CREATE TABLE`.
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or_default().to_uppercase();
    match first.as_str() {
        "CREATE" | "DROP" | "ALTER" | "TRUNCATE" => {
            let second = words.next().unwrap_or_default().to_uppercase();
            format!("{first} {second}")
        }
        _ => first,
    }
}

/// Deepest expression nesting admitted. Planning and optimising recurse over the expression
/// tree, and `a = 1 OR a = 2 OR …` nests one level per term: a thousand terms would overflow
/// a thread's stack and abort the server, so deeper expressions are refused up front.
pub const MAX_EXPRESSION_DEPTH: usize = 128;

/// Walks a query: every table reference must name a registered table, every nested statement
/// must be a query, no expression nests deeper than [`MAX_EXPRESSION_DEPTH`].
#[derive(Default)]
struct ReadOnlyVisitor {
    depth: usize,
}

impl Visitor for ReadOnlyVisitor {
    type Break = QueryError;

    fn pre_visit_expr(
        &mut self,
        _: &datafusion::sql::sqlparser::ast::Expr,
    ) -> ControlFlow<QueryError> {
        self.depth += 1;
        if self.depth > MAX_EXPRESSION_DEPTH {
            return ControlFlow::Break(refused(format!(
                "an expression nests deeper than {MAX_EXPRESSION_DEPTH} levels; write a long \
                 list of alternatives as `column IN (…)`"
            )));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(
        &mut self,
        _: &datafusion::sql::sqlparser::ast::Expr,
    ) -> ControlFlow<QueryError> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<QueryError> {
        match statement {
            Statement::Query(_) => ControlFlow::Continue(()),
            other => ControlFlow::Break(refused(format!(
                "{} is not allowed inside a query",
                statement_kind(other)
            ))),
        }
    }

    fn pre_visit_query(
        &mut self,
        query: &datafusion::sql::sqlparser::ast::Query,
    ) -> ControlFlow<QueryError> {
        match check_set_expr(&query.body) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }

    fn pre_visit_table_factor(&mut self, table_factor: &TableFactor) -> ControlFlow<QueryError> {
        match check_table_factor(table_factor) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }
}

fn check_set_expr(body: &SetExpr) -> Result<(), QueryError> {
    match body {
        SetExpr::Select(select) if select.into.is_some() => {
            Err(refused("SELECT INTO is not allowed"))
        }
        SetExpr::SetOperation { left, right, .. } => {
            check_set_expr(left)?;
            check_set_expr(right)
        }
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => Err(
            refused(format!("data modification is not allowed; {ALLOWED}")),
        ),
        _ => Ok(()),
    }
}

fn check_table_factor(table_factor: &TableFactor) -> Result<(), QueryError> {
    match table_factor {
        TableFactor::Table { name, args, .. } => {
            for part in &name.0 {
                let Some(ident) = part.as_ident() else {
                    return Err(refused(format!("table reference {name} is not allowed")));
                };
                let looks_like_path =
                    ident.value.contains(['/', '\\', ':']) || ident.value.contains("://");
                if ident.quote_style == Some('\'') || looks_like_path {
                    return Err(refused(format!(
                        "file and URL tables are not allowed ({name}); query the tables events and alerts"
                    )));
                }
            }
            if args.is_some() {
                let function = name.to_string().to_lowercase();
                if !ALLOWED_TABLE_FUNCTIONS.contains(&function.as_str()) {
                    return Err(refused(format!("table function {name} is not allowed")));
                }
            }
            Ok(())
        }
        TableFactor::TableFunction { .. } | TableFactor::Function { .. } => {
            Err(refused("table functions are not allowed"))
        }
        _ => Ok(()),
    }
}

/// Flattens a multi-line engine message into one line.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
