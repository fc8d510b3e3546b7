//! Arrow schemas of the `events` and `alerts` tables and the conversion of model rows into
//! record batches.
//!
//! Column names are the normalised field names of design.md §3 (a contract). Enums are stored as
//! their lowercase strings (`k8s_audit`, `human`, `allow`), times as `Timestamp(µs, "UTC")`,
//! lists as `List<Utf8>`, pod specs and images as `List<Struct>`. The partition columns `date`
//! (`YYYY-MM-DD`) and `hour` (`HH`) come from the directory names, not from the files.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::json::ReaderBuilder;
use datafusion::arrow::record_batch::RecordBatch;
use event::{Alert, Event};
use serde::Serialize;

use crate::StoreError;

/// Partition column holding the UTC day, `YYYY-MM-DD`.
pub const DATE_COLUMN: &str = "date";
/// Partition column holding the UTC hour, `HH` (events only).
pub const HOUR_COLUMN: &str = "hour";
/// The event-time column both tables are sorted and pruned on.
pub const TIME_COLUMN: &str = "time";

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn list_of(name: &str, item: DataType) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new_list_field(item, true))),
        true,
    )
}

fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn container_fields() -> Fields {
    Fields::from(vec![
        utf8("name"),
        utf8("kind"),
        utf8("image"),
        Field::new("privileged", DataType::Boolean, true),
        Field::new("allow_privilege_escalation", DataType::Boolean, true),
        Field::new("run_as_user", DataType::Int64, true),
        Field::new("run_as_non_root", DataType::Boolean, true),
        Field::new("read_only_root_filesystem", DataType::Boolean, true),
        list_of("capabilities_add", DataType::Utf8),
        list_of("capabilities_drop", DataType::Utf8),
        utf8("seccomp_profile"),
        list_of("host_ports", DataType::Int64),
    ])
}

fn pod_spec_fields() -> Fields {
    Fields::from(vec![
        utf8("owner_kind"),
        Field::new("host_network", DataType::Boolean, true),
        Field::new("host_pid", DataType::Boolean, true),
        Field::new("host_ipc", DataType::Boolean, true),
        utf8("service_account"),
        Field::new("automount_service_account_token", DataType::Boolean, true),
        Field::new("run_as_user", DataType::Int64, true),
        Field::new("run_as_non_root", DataType::Boolean, true),
        utf8("seccomp_profile"),
        list_of("containers", DataType::Struct(container_fields())),
        list_of(
            "volumes",
            DataType::Struct(Fields::from(vec![utf8("name"), utf8("host_path")])),
        ),
    ])
}

fn image_fields() -> Fields {
    Fields::from(vec![
        utf8("reference"),
        utf8("registry"),
        utf8("repository"),
        utf8("tag"),
        utf8("digest"),
    ])
}

/// Schema of the event Parquet files: the normalised fields of [`Event`] plus `raw`.
pub fn events_file_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new(TIME_COLUMN, time_type(), false),
        Field::new("cluster", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        utf8("audit_id"),
        utf8("stage"),
        utf8("level"),
        utf8("verb"),
        utf8("request_uri"),
        utf8("user"),
        list_of("user_groups", DataType::Utf8),
        utf8("impersonated_user"),
        utf8("actor_kind"),
        list_of("source_ips", DataType::Utf8),
        utf8("user_agent"),
        utf8("resource"),
        utf8("subresource"),
        utf8("api_group"),
        utf8("namespace"),
        utf8("name"),
        Field::new("response_code", DataType::Int32, true),
        utf8("decision"),
        utf8("reason"),
        list_of("pod_specs", DataType::Struct(pod_spec_fields())),
        list_of("images", DataType::Struct(image_fields())),
        list_of("exec_command", DataType::Utf8),
        list_of("psa_violations", DataType::Utf8),
        utf8("falco_rule"),
        utf8("falco_priority"),
        utf8("container_id"),
        utf8("pod_name"),
        Field::new("raw", DataType::Utf8, false),
    ]))
}

/// Schema of the `events` table: the file columns plus the partition columns `date` and `hour`.
pub fn events_schema() -> SchemaRef {
    with_partition_columns(&events_file_schema(), &[DATE_COLUMN, HOUR_COLUMN])
}

/// Schema of the alert Parquet files: the alert JSON contract (design.md §4), with `time` as a
/// timestamp and `fields` as JSON text.
pub fn alerts_file_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("alert_id", DataType::Utf8, false),
        Field::new("rule_id", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new(TIME_COLUMN, time_type(), true),
        list_of("event_ids", DataType::Utf8),
        list_of("audit_ids", DataType::Utf8),
        Field::new("cluster", DataType::Utf8, false),
        utf8("actor"),
        utf8("namespace"),
        utf8("resource"),
        utf8("name"),
        Field::new("source", DataType::Utf8, false),
        list_of("attack", DataType::Utf8),
        Field::new("summary", DataType::Utf8, false),
        Field::new("fields", DataType::Utf8, false),
    ]))
}

/// Schema of the `alerts` table: the file columns plus the partition column `date`.
pub fn alerts_schema() -> SchemaRef {
    with_partition_columns(&alerts_file_schema(), &[DATE_COLUMN])
}

fn with_partition_columns(file_schema: &Schema, partition_columns: &[&str]) -> SchemaRef {
    let mut fields: Vec<Field> = file_schema
        .fields()
        .iter()
        .map(|field| field.as_ref().clone())
        .collect();
    fields.extend(
        partition_columns
            .iter()
            .map(|name| Field::new(*name, DataType::Utf8, false)),
    );
    Arc::new(Schema::new(fields))
}

/// Builds one record batch of events, in the order given.
pub(crate) fn events_batch(events: &[&Event]) -> Result<RecordBatch, StoreError> {
    rows_batch("events", events_file_schema(), events)
}

/// One alert as stored: the contract fields with `time` in microseconds and `fields` as text.
#[derive(Serialize)]
struct AlertRow<'a> {
    alert_id: &'a str,
    rule_id: &'a str,
    title: &'a str,
    severity: &'static str,
    time: Option<i64>,
    event_ids: &'a [String],
    audit_ids: &'a [String],
    cluster: &'a str,
    actor: Option<&'a str>,
    namespace: Option<&'a str>,
    resource: Option<&'a str>,
    name: Option<&'a str>,
    source: &'static str,
    attack: &'a [String],
    summary: &'a str,
    fields: String,
}

/// Builds one record batch of alerts, in the order given; `times` are the parsed alert times.
pub(crate) fn alerts_batch(alerts: &[(&Alert, Option<i64>)]) -> Result<RecordBatch, StoreError> {
    let rows: Vec<AlertRow<'_>> = alerts
        .iter()
        .map(|(alert, time)| AlertRow {
            alert_id: &alert.alert_id,
            rule_id: &alert.rule_id,
            title: &alert.title,
            severity: alert.severity.as_str(),
            time: *time,
            event_ids: &alert.event_ids,
            audit_ids: &alert.audit_ids,
            cluster: &alert.cluster,
            actor: alert.actor.as_deref(),
            namespace: alert.namespace.as_deref(),
            resource: alert.resource.as_deref(),
            name: alert.name.as_deref(),
            source: alert.source.as_str(),
            attack: &alert.attack,
            summary: &alert.summary,
            fields: serde_json::Value::Object(alert.fields.clone()).to_string(),
        })
        .collect();
    rows_batch("alerts", alerts_file_schema(), &rows)
}

fn rows_batch<S: Serialize>(
    table: &'static str,
    schema: SchemaRef,
    rows: &[S],
) -> Result<RecordBatch, StoreError> {
    let build = || {
        let mut decoder = ReaderBuilder::new(schema.clone()).build_decoder()?;
        decoder.serialize(rows)?;
        Ok(decoder
            .flush()?
            .unwrap_or_else(|| RecordBatch::new_empty(schema.clone())))
    };
    build().map_err(|source| StoreError::BuildBatch { table, source })
}
