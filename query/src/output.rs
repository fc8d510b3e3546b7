//! Writing a result as JSON lines, CSV or a pretty table.

use std::io::Write;

use datafusion::arrow::json::writer::{JsonArray, LineDelimited, WriterBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use serde_json::Value;

use crate::{QueryError, SqlResult};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per row; timestamps RFC 3339, lists as arrays, structs as objects, nulls
    /// explicit.
    Jsonl,
    /// A header line then one line per row (RFC 4180 quoting); nested values as JSON text,
    /// nulls as empty fields.
    Csv,
    /// A pretty table for terminals.
    Table,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "jsonl" => Ok(OutputFormat::Jsonl),
            "csv" => Ok(OutputFormat::Csv),
            "table" => Ok(OutputFormat::Table),
            other => Err(format!(
                "unknown output format {other:?}, expected jsonl, csv or table"
            )),
        }
    }
}

/// Timestamps without a time zone are UTC by convention in kubetrail.
const NAIVE_TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.fZ";

/// Writes the rows of `result` to `out` in `format`. Truncation is not marked in the output:
/// callers report [`SqlResult::truncated`] out of band (stderr, an HTTP field).
pub fn write_results(
    result: &SqlResult,
    format: OutputFormat,
    out: &mut impl Write,
) -> Result<(), QueryError> {
    match format {
        OutputFormat::Jsonl => write_jsonl(&result.batches, out),
        OutputFormat::Csv => write_csv(result, out),
        OutputFormat::Table => {
            let table = pretty_format_batches_with_schema(result.schema.clone(), &result.batches)
                .map_err(|source| QueryError::Encode { source })?;
            writeln!(out, "{table}").map_err(|source| QueryError::Output { source })
        }
    }
}

fn json_builder() -> WriterBuilder {
    WriterBuilder::new()
        .with_explicit_nulls(true)
        .with_timestamp_format(NAIVE_TIMESTAMP_FORMAT.to_owned())
}

fn write_jsonl(batches: &[RecordBatch], out: &mut impl Write) -> Result<(), QueryError> {
    let mut writer = json_builder().build::<_, LineDelimited>(out);
    for batch in batches {
        writer
            .write(batch)
            .map_err(|source| QueryError::Encode { source })?;
    }
    writer
        .finish()
        .map_err(|source| QueryError::Encode { source })
}

fn write_csv(result: &SqlResult, out: &mut impl Write) -> Result<(), QueryError> {
    let names = column_names(&result.schema);
    write_csv_header(&names, out)?;
    for batch in &result.batches {
        write_csv_rows(&names, batch, out)?;
    }
    Ok(())
}

/// The column names of a schema, in order.
pub fn column_names(schema: &datafusion::arrow::datatypes::Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .map(|field| field.name().clone())
        .collect()
}

/// The CSV header line.
pub fn write_csv_header(names: &[String], out: &mut impl Write) -> Result<(), QueryError> {
    let header: Vec<String> = names.iter().map(|name| csv_field(name)).collect();
    writeln!(out, "{}", header.join(",")).map_err(|source| QueryError::Output { source })
}

/// The rows of one batch as CSV lines. Cells go through the JSON encoder so nested values and
/// timestamps read the same as in the jsonl format.
pub fn write_csv_rows(
    names: &[String],
    batch: &RecordBatch,
    out: &mut impl Write,
) -> Result<(), QueryError> {
    for row in batch_rows(batch)? {
        let cells: Vec<String> = names
            .iter()
            .map(|name| csv_field(&cell_text(row.get(name).unwrap_or(&Value::Null))))
            .collect();
        writeln!(out, "{}", cells.join(",")).map_err(|source| QueryError::Output { source })?;
    }
    Ok(())
}

/// The rows of one batch as JSON objects (timestamps RFC 3339, nulls explicit).
pub fn batch_rows(batch: &RecordBatch) -> Result<Vec<serde_json::Map<String, Value>>, QueryError> {
    let mut buffer = Vec::new();
    let mut writer = json_builder().build::<_, JsonArray>(&mut buffer);
    writer
        .write(batch)
        .map_err(|source| QueryError::Encode { source })?;
    writer
        .finish()
        .map_err(|source| QueryError::Encode { source })?;
    drop(writer);
    if buffer.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&buffer).map_err(|error| QueryError::Encode {
        source: datafusion::arrow::error::ArrowError::JsonError(error.to_string()),
    })
}

/// One batch as JSON lines.
pub fn write_jsonl_batch(batch: &RecordBatch, out: &mut impl Write) -> Result<(), QueryError> {
    write_jsonl(std::slice::from_ref(batch), out)
}

fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
