//! `GET /api/v1/objects/history?resource=&namespace=&name=`: every change to one object in
//! time order, who made it, and the JSON diff between successive versions where the audit level
//! recorded bodies.
//!
//! The search index finds the object's write events (fast); their bodies come from Parquet.
//! Each version is the response object when recorded (the object as stored), else the request
//! object of a create or update (the object as sent). A patch without a response body shows
//! its patch; a delete ends the object. Diffs leave out `metadata.managedFields` and
//! `metadata.resourceVersion`, which change on every write; the objects shown leave out
//! `metadata.managedFields`, as `kubectl get` does.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::extract::ApiQuery;
use crate::query_log::QueryNote;
use crate::routes_search::quoted;
use crate::{ApiError, ApiState, Principal};

/// Writes that change an object.
const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];
/// The stored columns a change is made from (reading only these halves the Parquet read).
const CHANGE_COLUMNS: [&str; 12] = [
    "time",
    "event_id",
    "verb",
    "subresource",
    "user",
    "impersonated_user",
    "user_agent",
    "source_ips",
    "response_code",
    "decision",
    "level",
    "raw",
];
/// Most changes shown.
const MAX_CHANGES: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryParams {
    resource: String,
    name: String,
    namespace: Option<String>,
    cluster: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Include writes to subresources (status, scale...).
    #[serde(default)]
    subresources: bool,
    /// The newest this many changes (default and most: [`MAX_CHANGES`]).
    limit: Option<usize>,
}

pub(crate) async fn history(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Response, ApiError> {
    for (what, value) in [("resource", &params.resource), ("name", &params.name)] {
        if value.trim().is_empty() {
            return Err(ApiError::bad_request(format!("{what} is required")));
        }
    }
    let mut query = format!(
        "resource:{} AND name:{} AND ({})",
        quoted(&params.resource),
        quoted(&params.name),
        WRITE_VERBS
            .iter()
            .map(|verb| format!("verb:{verb}"))
            .collect::<Vec<_>>()
            .join(" OR ")
    );
    // Without subresources, status writes (often most of a controller-managed object's
    // writes) are left out by the search itself, so the limit counts object changes only.
    if !params.subresources {
        query.push_str(" AND NOT subresource:*");
    }
    if let Some(namespace) = &params.namespace {
        query.push_str(&format!(" AND namespace:{}", quoted(namespace)));
    }
    if let Some(cluster) = &params.cluster {
        query.push_str(&format!(" AND cluster:{}", quoted(cluster)));
    }
    let limit = params.limit.unwrap_or(MAX_CHANGES);
    if !(1..=MAX_CHANGES).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_CHANGES}"
        )));
    }
    let (from, to) = crate::time::range(params.from.as_deref(), params.to.as_deref())?;
    // One more than asked for: the oldest change shown needs the version before it.
    let found = state
        .run_search(search::SearchRequest {
            query,
            from,
            to,
            limit: limit + 1,
            scope: principal.scope.to_search(),
            ..search::SearchRequest::default()
        })
        .await?;
    let hits: Vec<&search::Hit> = found
        .hits
        .iter()
        .filter(|hit| params.subresources || hit.subresource.is_none())
        // Without a namespace the object is cluster-scoped.
        .filter(|hit| params.namespace.is_some() || hit.namespace.is_none())
        .collect();
    let ids: Vec<String> = hits.iter().map(|hit| hit.event_id.clone()).collect();
    let times = hits
        .iter()
        .map(|hit| hit.time)
        .fold(None, |range: Option<(i64, i64)>, t| {
            Some(range.map_or((t, t), |(a, b)| (a.min(t), b.max(t))))
        });
    let mut rows = state
        .fetch_event_columns(&principal.scope, &ids, times, Some(&CHANGE_COLUMNS))
        .await?;
    rows.sort_by(|a, b| {
        let key = |row: &serde_json::Map<String, Value>| {
            (
                row.get("time").and_then(Value::as_str).map(str::to_owned),
                row.get("event_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            )
        };
        key(a).cmp(&key(b))
    });
    let mut changes = changes(&rows);
    // Older changes exist: the oldest one read only served as the version before the rest.
    let truncated = found.total as usize > limit;
    if truncated && changes.len() > limit {
        changes.remove(0);
    }
    let next_to = truncated
        .then(|| changes.first().and_then(|change| change["time"].as_str()))
        .flatten()
        .map(str::to_owned);
    let body = serde_json::json!({
        "resource": params.resource,
        "namespace": params.namespace,
        "name": params.name,
        "changes": changes,
        "truncated": truncated,
        "next_to": next_to,
    });
    let mut response = axum::Json(body).into_response();
    response.extensions_mut().insert(
        QueryNote::new()
            .with("resource", params.resource)
            .with("name", params.name)
            .with("rows", rows.len()),
    );
    Ok(response)
}

/// The change list from stored events in time order.
pub(crate) fn changes(rows: &[serde_json::Map<String, Value>]) -> Vec<Value> {
    let mut previous: Option<Value> = None;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let raw = row.get("raw").cloned().unwrap_or(Value::Null);
        let verb = row.get("verb").and_then(Value::as_str).unwrap_or_default();
        let denied = row.get("decision").and_then(Value::as_str) == Some("forbid")
            || row
                .get("response_code")
                .and_then(Value::as_i64)
                .is_some_and(|code| code >= 400);
        let response_object = raw.get("responseObject").filter(|o| is_object_body(o));
        let request_object = raw.get("requestObject").filter(|o| !o.is_null());
        let version = if denied {
            None
        } else {
            match verb {
                "delete" | "deletecollection" => Some(Value::Null),
                "patch" => response_object.cloned(),
                _ => response_object.or(request_object).cloned(),
            }
        };
        let mut change = serde_json::json!({
            "time": row.get("time"),
            "event_id": row.get("event_id"),
            "verb": verb,
            "subresource": row.get("subresource"),
            "user": row.get("user"),
            "impersonated_user": row.get("impersonated_user"),
            "user_agent": row.get("user_agent"),
            "source_ips": row.get("source_ips"),
            "response_code": row.get("response_code"),
            "decision": row.get("decision"),
            "level": row.get("level"),
            "applied": !denied,
        });
        if verb == "patch"
            && let Some(patch) = request_object
        {
            change["patch"] = patch.clone();
        }
        match (&previous, &version) {
            (_, None) if !denied => {
                change["diff"] = Value::Null;
                change["note"] = Value::String(
                    "no body recorded at this audit level; diff unavailable".to_owned(),
                );
            }
            (Some(before), Some(after)) if !before.is_null() && !after.is_null() => {
                let mut ops = Vec::new();
                diff(before, after, &mut String::new(), &mut ops);
                change["diff"] = Value::Array(ops);
            }
            _ => change["diff"] = Value::Null,
        }
        if let Some(version) = version {
            if !version.is_null() {
                let mut object = version.clone();
                // As `kubectl get` shows it: the field managers are bookkeeping, often half
                // the body, and never part of a diff.
                if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                    metadata.remove("managedFields");
                }
                change["object"] = object;
            }
            previous = Some(version);
        } else if !denied {
            // The state after this write is unknown: the next diff would be wrong.
            previous = None;
        }
        out.push(change);
    }
    out
}

/// A response body that is the object (not a `Status`).
fn is_object_body(value: &Value) -> bool {
    value.is_object() && value.get("kind").and_then(Value::as_str) != Some("Status")
}

/// Paths left out of diffs (JSON pointers).
const IGNORED: [&str; 2] = ["/metadata/managedFields", "/metadata/resourceVersion"];

/// RFC 6902-style operations turning `before` into `after` (`add`, `remove`, `replace`, with
/// the old value on `remove` and `replace`).
pub(crate) fn diff(before: &Value, after: &Value, path: &mut String, ops: &mut Vec<Value>) {
    if IGNORED.contains(&path.as_str()) {
        return;
    }
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, old) in a {
                let len = path.len();
                push_key(path, key);
                match b.get(key) {
                    Some(new) => diff(old, new, path, ops),
                    None if !IGNORED.contains(&path.as_str()) => ops.push(serde_json::json!({
                        "op": "remove", "path": path.clone(), "old": old
                    })),
                    None => {}
                }
                path.truncate(len);
            }
            for (key, new) in b {
                if !a.contains_key(key) {
                    let len = path.len();
                    push_key(path, key);
                    if !IGNORED.contains(&path.as_str()) {
                        ops.push(
                            serde_json::json!({ "op": "add", "path": path.clone(), "value": new }),
                        );
                    }
                    path.truncate(len);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (old, new)) in a.iter().zip(b).enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&index.to_string());
                diff(old, new, path, ops);
                path.truncate(len);
            }
        }
        (a, b) if a != b => ops.push(serde_json::json!({
            "op": "replace", "path": path.clone(), "old": a, "value": b
        })),
        _ => {}
    }
}

/// Appends `/key` with JSON-pointer escaping (`~0`, `~1`).
fn push_key(path: &mut String, key: &str) {
    path.push('/');
    path.push_str(&key.replace('~', "~0").replace('/', "~1"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_name_what_changed_and_skip_noise() {
        let before = serde_json::json!({
            "metadata": {"name": "web", "resourceVersion": "1", "labels": {"app": "web"}},
            "spec": {"containers": [{"image": "nginx:1.25"}], "replicas": 2}
        });
        let after = serde_json::json!({
            "metadata": {"name": "web", "resourceVersion": "2", "labels": {"app": "web", "a/b": "x"}},
            "spec": {"containers": [{"image": "evil.io/miner:latest"}]}
        });
        let mut ops = Vec::new();
        diff(&before, &after, &mut String::new(), &mut ops);
        assert_eq!(
            ops,
            vec![
                serde_json::json!({"op": "add", "path": "/metadata/labels/a~1b", "value": "x"}),
                serde_json::json!({"op": "replace", "path": "/spec/containers/0/image", "old": "nginx:1.25", "value": "evil.io/miner:latest"}),
                serde_json::json!({"op": "remove", "path": "/spec/replicas", "old": 2}),
            ]
        );
    }
}
