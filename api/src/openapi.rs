//! The OpenAPI 3.1 document of the API, served at `/api/v1/openapi.json`. The end-to-end
//! tests (`kubetrail/tests/api.rs`) check real responses of the routes against the schemas here.

use axum::Json;

/// The document.
pub fn openapi() -> serde_json::Value {
    let error = serde_json::json!({ "$ref": "#/components/schemas/Error" });
    let errors = |codes: &[u16]| -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for code in codes {
            map.insert(
                code.to_string(),
                serde_json::json!({
                    "description": reason(*code),
                    "content": { "application/json": { "schema": error } }
                }),
            );
        }
        serde_json::Value::Object(map)
    };
    let ok = |schema: &str, description: &str, codes: &[u16]| -> serde_json::Value {
        let mut responses = errors(codes);
        responses.as_object_mut().expect("object").insert(
            "200".to_owned(),
            serde_json::json!({
                "description": description,
                "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
            }),
        );
        responses
    };
    let query = |name: &str, description: &str, schema: serde_json::Value| serde_json::json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema });
    let string = serde_json::json!({ "type": "string" });
    let integer = serde_json::json!({ "type": "integer", "minimum": 1 });
    let time = |name: &str| {
        query(
            name,
            "RFC 3339 time or relative to now (15m, 24h, 7d)",
            serde_json::json!({ "type": "string" }),
        )
    };
    let reader = [400, 401, 403, 429, 503];
    serde_json::json!({
        "openapi": "3.1.0",
        "info": {
            "title": "kubetrail query API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Search, SQL, alerts, timelines and object history over Kubernetes audit and Falco events. Every route except /healthz, /readyz and this document needs `Authorization: Bearer <token>`; roles: viewer < analyst < admin; ingest routes take ingest tokens only, or a client certificate named in [[api.ingest_certificates]] over HTTPS with [api.tls] client_ca. A token restricted to namespaces or clusters sees only their events and alerts, in every route."
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "clientCertificate": { "type": "mutualTLS", "description": "A client certificate of the authority in [api.tls] client_ca whose subject CN or DNS name an [[api.ingest_certificates]] entry names (ingest routes only)." }
            },
            "schemas": schemas(),
        },
        "security": [ { "bearer": [] } ],
        "paths": {
            "/healthz": { "get": { "summary": "Liveness", "security": [], "responses": ok("Status", "alive", &[]) } },
            "/readyz": { "get": { "summary": "Readiness: the store is open, and the write-ahead log of pushed events accepts appends", "security": [], "responses": ok("Status", "ready", &[503]) } },
            "/metrics": { "get": { "summary": "Prometheus metrics (viewer)", "responses": {
                "200": { "description": "Prometheus text format", "content": { "text/plain": { "schema": string } } },
                "401": { "description": "no or unknown token", "content": { "application/json": { "schema": error } } }
            } } },
            "/api/v1/openapi.json": { "get": { "summary": "This document", "security": [], "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": { "schema": { "type": "object" } } } } } } },
            "/api/v1/search": { "get": {
                "summary": "Search events (viewer; format=ndjson|csv exports need analyst)",
                "parameters": [
                    query("q", "Query: field:value, AND/OR/NOT, \"phrases\", wildcards (*), ranges (code:[400 TO 499]), bare terms match the raw event", string.clone()),
                    time("from"), time("to"),
                    query("limit", "Hits per page (default 50, at most 1000; exports stream up to the export limit)", integer.clone()),
                    query("cursor", "next_cursor of the previous page", string.clone()),
                    query("facets", "Comma-separated fields to count top values of", string.clone()),
                    query("histogram", "true: counts per time bucket", serde_json::json!({ "type": "boolean" })),
                    query("format", "json (default), ndjson or csv", serde_json::json!({ "type": "string", "enum": ["json", "ndjson", "csv"] })),
                ],
                "responses": ok("SearchResponse", "hits newest first, total, histogram, facets", &reader)
            } },
            "/api/v1/sql": { "post": {
                "summary": "Read-only SQL over the tables events and alerts (analyst)",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/SqlRequest" } } } },
                "responses": ok("SqlResponse", "rows (format=json); ndjson and csv stream", &[400, 401, 403, 408, 413, 429, 503])
            } },
            "/api/v1/events/{event_id}": { "get": {
                "summary": "One stored event with its raw (redacted) body (viewer)",
                "parameters": [ { "name": "event_id", "in": "path", "required": true, "schema": string } ],
                "responses": ok("StoredEvent", "the event", &[400, 401, 403, 404, 429, 503])
            } },
            "/api/v1/alerts": { "get": {
                "summary": "List, filter or group alerts, newest first (viewer)",
                "parameters": [
                    time("from"), time("to"),
                    query("rule_id", "Comma-separated rule ids", string.clone()),
                    query("min_severity", "info, low, medium, high or critical", string.clone()),
                    query("namespace", "Namespace", string.clone()),
                    query("cluster", "Cluster", string.clone()),
                    query("actor", "Actor", string.clone()),
                    query("acked", "true: acknowledged only; false: open only", serde_json::json!({ "type": "boolean" })),
                    query("group_by", "Comma-separated columns (rule_id, severity, actor, cluster, namespace, resource, name, source): one row per group with a count", string.clone()),
                    query("limit", "Alerts per page (default 100, at most 1000)", integer.clone()),
                    query("cursor", "next_cursor of the previous page", string.clone()),
                ],
                "responses": ok("AlertList", "alerts (or groups with group_by)", &reader)
            } },
            "/api/v1/alerts/{alert_id}/ack": { "post": {
                "summary": "Acknowledge an alert (analyst); the first acknowledgement stands",
                "parameters": [ { "name": "alert_id", "in": "path", "required": true, "schema": string } ],
                "requestBody": { "required": false, "content": { "application/json": { "schema": { "type": "object", "properties": { "note": { "type": "string" } }, "additionalProperties": false } } } },
                "responses": {
                    "201": { "description": "acknowledged now", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Ack" } } } },
                    "200": { "description": "already acknowledged", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Ack" } } } },
                    "400": { "description": reason(400), "content": { "application/json": { "schema": error } } },
                    "401": { "description": reason(401), "content": { "application/json": { "schema": error } } },
                    "403": { "description": reason(403), "content": { "application/json": { "schema": error } } },
                    "404": { "description": reason(404), "content": { "application/json": { "schema": error } } }
                }
            } },
            "/api/v1/holds": {
                "get": {
                    "summary": "Legal holds (admin with an unrestricted token): active ones, or all with their releases",
                    "parameters": [ query("all", "Released holds too", serde_json::json!({ "type": "boolean" })) ],
                    "responses": ok("HoldList", "the holds, oldest first", &[400, 401, 403, 429])
                },
                "post": {
                    "summary": "Place a legal hold (admin with an unrestricted token): retention deletes nothing it covers until it is released; the caller's token name is recorded",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": {
                        "type": "object", "required": ["from", "to", "reason"], "additionalProperties": false,
                        "properties": { "from": string, "to": string, "cluster": string, "namespace": string, "reason": string }
                    } } } },
                    "responses": {
                        "201": { "description": "placed", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Hold" } } } },
                        "400": { "description": reason(400), "content": { "application/json": { "schema": error } } },
                        "401": { "description": reason(401), "content": { "application/json": { "schema": error } } },
                        "403": { "description": reason(403), "content": { "application/json": { "schema": error } } }
                    }
                }
            },
            "/api/v1/holds/{hold_id}/release": { "post": {
                "summary": "Release a legal hold (admin with an unrestricted token), recording who and why",
                "parameters": [ { "name": "hold_id", "in": "path", "required": true, "schema": string } ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["reason"], "additionalProperties": false, "properties": { "reason": string }
                } } } },
                "responses": ok("Hold", "the hold, released", &[400, 401, 403, 404])
            } },
            "/api/v1/rules": { "get": { "summary": "The running rules, each with its YAML definition (viewer)", "responses": ok("Rules", "rules", &[401, 403, 503]) } },
            "/api/v1/rules/status": { "get": {
                "summary": "The running rules' inline tests (passed, failed, failures) and their coverage over the most recent stored events (up to 20,000 since `from`, default 24h): which rules are blind at the audit level the cluster logs (viewer)",
                "parameters": [ time("from") ],
                "responses": ok("RuleStatus", "tests per rule and coverage lines", &[400, 401, 429, 503])
            } },
            "/api/v1/me": { "get": { "summary": "The caller: token name, role, namespace and cluster restrictions, and what the role allows (viewer)", "responses": ok("Me", "the caller", &[401, 429]) } },
            "/api/v1/fields": { "get": { "summary": "The search language's fields, and those that take facets (viewer)", "responses": ok("Fields", "field names", &[401, 429]) } },
            "/api/v1/signin": { "post": {
                "summary": "Exchange a one-time sign-in code (from a link `kubetrail demo` prints) for its token; the code then stops working",
                "security": [],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["code"], "additionalProperties": false, "properties": { "code": { "type": "string" } } } } } },
                "responses": ok("SignIn", "the token and who it is", &[400, 401])
            } },
            "/api/v1/timeline": { "get": {
                "summary": "One identity's requests, newest first, with impersonation, exec sessions, denials and alerts flagged (viewer)",
                "parameters": [
                    { "name": "actor", "in": "query", "required": true, "description": "User name (also matched as the impersonated user)", "schema": string },
                    time("from"), time("to"),
                    query("limit", "Entries per page (default 100, at most 1000)", integer.clone()),
                    query("cursor", "next_cursor of the previous page", string.clone()),
                ],
                "responses": ok("Timeline", "entries with flags, a histogram and top values", &reader)
            } },
            "/api/v1/objects/history": { "get": {
                "summary": "Every change to one object, who made it, and the JSON diff between versions where bodies were recorded (viewer)",
                "parameters": [
                    { "name": "resource", "in": "query", "required": true, "schema": string },
                    { "name": "name", "in": "query", "required": true, "schema": string },
                    query("namespace", "Namespace (leave out for cluster-scoped objects)", string.clone()),
                    query("cluster", "Cluster", string.clone()),
                    time("from"), time("to"),
                    query("subresources", "Include writes to subresources (status, scale...)", serde_json::json!({ "type": "boolean" })),
                    query("limit", "The newest this many changes (default and at most 1000); older ones with `to` set to the answer's `next_to`", serde_json::json!({ "type": "integer", "minimum": 1, "maximum": 1000 })),
                ],
                "responses": ok("ObjectHistory", "changes in time order", &reader)
            } },
            "/api/v1/posture": { "get": {
                "summary": "The hardening checklist per cluster and namespace, from the object bodies the audit stream has shown: pass, fail or unknown (with a hint) per check, with evidence event ids and offending objects (viewer). A namespace-restricted token sees its namespaces and no cluster-wide checks.",
                "parameters": [
                    query("cluster", "Only this cluster", string.clone()),
                    query("namespace", "Only this namespace (no cluster-wide checks)", string.clone()),
                    time("from"), time("to"),
                    query("max_age_secs", "Without from/to: accept a report made up to this many seconds ago even if writes arrived since (then `stale: true`; a newer one is being made). Default: current", serde_json::json!({ "type": "integer", "minimum": 0 })),
                ],
                "responses": ok("Posture", "the checklist", &reader)
            } },
            "/api/v1/tail": { "get": {
                "summary": "Events and alerts as they arrive, as server-sent events (`event`, `alert`, `lagged`) (viewer)",
                "parameters": [
                    query("q", "Search syntax filter", string.clone()),
                    query("events", "Send events (default true)", serde_json::json!({ "type": "boolean" })),
                    query("alerts", "Send alerts (default true)", serde_json::json!({ "type": "boolean" })),
                ],
                "responses": {
                    "200": { "description": "text/event-stream", "content": { "text/event-stream": { "schema": string } } },
                    "400": { "description": reason(400), "content": { "application/json": { "schema": error } } },
                    "401": { "description": reason(401), "content": { "application/json": { "schema": error } } }
                }
            } },
            "/api/v1/ingest/audit": { "post": {
                "summary": "The API server's audit webhook: an audit.k8s.io/v1 EventList (ingest token or client certificate), gzip allowed. Answered once the body is fsynced in the write-ahead log (not after the store commit); a retried batch is stored once. 503 with Retry-After when the log or the disk is full.",
                "security": [ { "bearer": [] }, { "clientCertificate": [] } ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object" } } } },
                "responses": ok("Accepted", "durable in the write-ahead log", &[400, 401, 413, 503])
            } },
            "/api/v1/ingest/falco": { "post": {
                "summary": "Falco http_output or falcosidekick (ingest token or client certificate), gzip allowed. Answered once the body is fsynced in the write-ahead log; 503 with Retry-After when the log or the disk is full.",
                "security": [ { "bearer": [] }, { "clientCertificate": [] } ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object" } } } },
                "responses": ok("Accepted", "durable in the write-ahead log", &[400, 401, 413, 503])
            } },
        }
    })
}

fn reason(code: u16) -> &'static str {
    match code {
        400 => "bad request: the message says what is wrong",
        401 => "no token, or an unknown one",
        403 => "the token's role does not allow this",
        404 => "not found (or not visible to this token)",
        408 => "the query took longer than the time limit",
        413 => "request body too large",
        429 => "rate limit exceeded; see Retry-After",
        503 => "not ready yet; see Retry-After",
        _ => "error",
    }
}

fn schemas() -> serde_json::Value {
    let string = serde_json::json!({ "type": "string" });
    let nullable_string = serde_json::json!({ "type": ["string", "null"] });
    let strings = serde_json::json!({ "type": "array", "items": { "type": "string" } });
    let mut schemas = serde_json::Map::new();
    schemas.insert("Error".to_owned(), serde_json::json!({ "type": "object", "required": ["error"], "properties": { "error": string } }));
    schemas.insert("Status".to_owned(), serde_json::json!({ "type": "object", "required": ["status"], "properties": { "status": string } }));
    schemas.insert(
        "Hit".to_owned(),
        serde_json::json!({
            "type": "object",
            "required": ["event_id", "time", "cluster", "source"],
            "properties": {
                "event_id": string, "time": string, "cluster": string, "source": string,
                "verb": nullable_string, "user": nullable_string, "groups": strings,
                "impersonated_user": nullable_string, "actor_kind": nullable_string,
                "source_ips": strings, "user_agent": nullable_string, "resource": nullable_string,
                "subresource": nullable_string, "api_group": nullable_string,
                "namespace": nullable_string, "name": nullable_string,
                "response_code": { "type": ["integer", "null"] }, "decision": nullable_string,
                "falco_rule": nullable_string, "falco_priority": nullable_string,
                "pod_name": nullable_string, "rule_ids": strings
            }
        }),
    );
    schemas.insert("SearchResponse".to_owned(), serde_json::json!({
            "type": "object",
            "required": ["hits", "total", "next_cursor", "took_ms"],
            "properties": {
                "hits": { "type": "array", "items": { "$ref": "#/components/schemas/Hit" } },
                "total": { "type": "integer" },
                "next_cursor": nullable_string,
                "took_ms": { "type": "number" },
                "histogram": { "type": "array", "items": { "type": "object", "required": ["start", "count"], "properties": { "start": string, "count": { "type": "integer" } } } },
                "facets": { "type": "object", "additionalProperties": { "type": "array", "items": { "type": "object", "required": ["value", "count"], "properties": { "value": string, "count": { "type": "integer" } } } } }
            }
        }));
    schemas.insert(
        "SqlRequest".to_owned(),
        serde_json::json!({
            "type": "object",
            "required": ["sql"],
            "additionalProperties": false,
            "properties": {
                "sql": string,
                "format": { "type": "string", "enum": ["json", "ndjson", "csv"] },
                "max_rows": { "type": "integer", "minimum": 1 }
            }
        }),
    );
    schemas.insert("SqlResponse".to_owned(), serde_json::json!({
            "type": "object",
            "required": ["columns", "rows", "row_count", "truncated", "took_ms"],
            "properties": {
                "columns": { "type": "array", "items": { "type": "object", "required": ["name", "type"], "properties": { "name": string, "type": string } } },
                "rows": { "type": "array", "items": { "type": "object" } },
                "row_count": { "type": "integer" },
                "truncated": { "type": "boolean" },
                "took_ms": { "type": "number" }
            }
        }));
    schemas.insert("StoredEvent".to_owned(), serde_json::json!({
            "type": "object",
            "required": ["event_id", "time", "cluster", "source", "raw"],
            "properties": { "event_id": string, "time": string, "cluster": string, "source": string, "raw": { "type": "object" } }
        }));
    schemas.insert("Hold".to_owned(), serde_json::json!({
            "type": "object",
            "required": ["id", "from", "to", "reason", "created_by", "created_at"],
            "additionalProperties": false,
            "properties": {
                "id": string, "from": string, "to": string, "cluster": string, "namespace": string,
                "reason": string, "created_by": string, "created_at": string,
                "released": { "type": "object", "required": ["by", "reason", "at"], "additionalProperties": false,
                    "properties": { "by": string, "reason": string, "at": string } }
            }
        }));
    schemas.insert("HoldList".to_owned(), serde_json::json!({
            "type": "object",
            "required": ["holds"],
            "additionalProperties": false,
            "properties": { "holds": { "type": "array", "items": { "$ref": "#/components/schemas/Hold" } } }
        }));
    schemas.insert("Ack".to_owned(), serde_json::json!({
            "type": "object",
            "required": ["alert_id", "by", "at"],
            "properties": { "alert_id": string, "by": string, "at": string, "note": nullable_string }
        }));
    schemas.insert("Alert".to_owned(), serde_json::json!({
            "type": "object",
            "required": ["alert_id", "rule_id", "title", "severity", "time", "event_ids", "cluster", "source", "summary", "fields", "ack"],
            "properties": {
                "alert_id": string, "rule_id": string, "title": string,
                "severity": { "type": "string", "enum": ["info", "low", "medium", "high", "critical"] },
                "time": string, "event_ids": strings, "audit_ids": strings, "cluster": string,
                "actor": nullable_string, "namespace": nullable_string, "resource": nullable_string,
                "name": nullable_string, "source": string, "attack": strings, "summary": string,
                "fields": { "type": "object" },
                "ack": { "oneOf": [ { "type": "null" }, { "$ref": "#/components/schemas/Ack" } ] }
            }
        }));
    schemas.insert("AlertList".to_owned(), serde_json::json!({
            "type": "object",
            "properties": {
                "alerts": { "type": "array", "items": { "$ref": "#/components/schemas/Alert" } },
                "total": { "type": "integer" },
                "next_cursor": nullable_string,
                "groups": { "type": "array", "items": { "type": "object", "required": ["count", "first_time", "last_time", "sample_alert_id"], "properties": { "count": { "type": "integer" }, "first_time": string, "last_time": string, "sample_alert_id": string } } }
            }
        }));
    schemas.insert("Accepted".to_owned(), serde_json::json!({ "type": "object", "required": ["accepted"], "properties": { "accepted": { "type": "integer" } } }));
    schemas.insert("Timeline".to_owned(), serde_json::json!({
            "type": "object",
            "required": ["actor", "entries", "total", "next_cursor", "histogram", "facets", "took_ms"],
            "properties": {
                "actor": string,
                "entries": { "type": "array", "items": { "allOf": [ { "$ref": "#/components/schemas/Hit" } ], "type": "object", "required": ["flags"], "properties": { "flags": strings } } },
                "total": { "type": "integer" },
                "next_cursor": nullable_string,
                "flagged_on_page": { "type": "object", "additionalProperties": { "type": "integer" } },
                "histogram": { "type": "array" },
                "facets": { "type": "object" },
                "took_ms": { "type": "number" }
            }
        }));
    schemas.insert("ObjectHistory".to_owned(), serde_json::json!({
            "type": "object",
            "required": ["resource", "name", "changes", "truncated"],
            "properties": {
                "resource": string, "name": string, "namespace": nullable_string,
                "truncated": { "type": "boolean" },
                "next_to": { "type": ["string", "null"], "description": "When truncated: pass as `to` for the older changes" },
                "changes": { "type": "array", "items": { "type": "object", "required": ["time", "event_id", "verb", "applied", "diff"], "properties": {
                    "time": string, "event_id": string, "verb": string, "user": nullable_string,
                    "applied": { "type": "boolean" },
                    "diff": { "type": ["array", "null"], "items": { "type": "object", "required": ["op", "path"], "properties": { "op": { "type": "string", "enum": ["add", "remove", "replace"] }, "path": string } } },
                    "object": { "type": "object" }, "patch": {}, "note": string
                } } }
            }
        }));
    schemas.insert("Rules".to_owned(), serde_json::json!({
            "type": "object",
            "required": ["rules"],
            "properties": { "rules": { "type": "array", "items": { "type": "object", "required": ["id", "title", "severity", "source", "origin"], "properties": {
                "id": string, "title": string, "severity": string, "attack": strings,
                "description": string, "source": string, "origin": string, "definition": string
            } } } }
        }));
    schemas.insert("RuleStatus".to_owned(), serde_json::json!({
            "type": "object", "required": ["tests", "coverage", "coverage_events"],
            "properties": {
                "tests": { "type": "object", "additionalProperties": { "type": "object", "required": ["passed", "failed", "failures"], "properties": {
                    "passed": { "type": "integer" }, "failed": { "type": "integer" }, "failures": { "type": "array" }
                } } },
                "coverage": { "type": "array", "items": { "type": "object", "required": ["rule_id", "needs", "candidates", "at_level", "status", "message"], "properties": {
                    "rule_id": string, "needs": string, "candidates": { "type": "integer" }, "at_level": { "type": "integer" },
                    "status": { "type": "string", "enum": ["ok", "partial", "blind", "no_events", "no_source"] }, "message": string
                } } },
                "coverage_events": { "type": "integer" }
            }
        }));
    let me = serde_json::json!({
        "name": string, "role": { "type": "string", "enum": ["viewer", "analyst", "admin"] },
        "namespaces": { "type": ["array", "null"], "items": string },
        "clusters": { "type": ["array", "null"], "items": string },
        "can": { "type": "object", "additionalProperties": { "type": "boolean" } }
    });
    schemas.insert("Me".to_owned(), serde_json::json!({
            "type": "object", "required": ["name", "role", "namespaces", "clusters", "can"], "properties": me.clone()
        }));
    let mut sign_in = me.as_object().expect("object").clone();
    sign_in.insert("token".to_owned(), string.clone());
    schemas.insert(
        "SignIn".to_owned(),
        serde_json::json!({
            "type": "object", "required": ["token", "name", "role"], "properties": sign_in
        }),
    );
    schemas.insert(
        "Fields".to_owned(),
        serde_json::json!({
            "type": "object", "required": ["fields", "facets"],
            "properties": { "fields": strings, "facets": strings }
        }),
    );
    let check = serde_json::json!({
        "type": "object",
        "required": ["id", "status", "summary", "event_ids", "objects", "hint"],
        "additionalProperties": false,
        "properties": {
            "id": string,
            "status": { "type": "string", "enum": ["pass", "fail", "unknown"] },
            "summary": string,
            "event_ids": strings,
            "objects": { "type": "array", "items": { "type": "object", "required": ["resource", "namespace", "name", "reason"], "additionalProperties": false, "properties": {
                "resource": string, "namespace": nullable_string, "name": string, "reason": string
            } } },
            "hint": nullable_string
        }
    });
    schemas.insert("PostureCheck".to_owned(), check);
    let checks = serde_json::json!({ "type": "array", "items": { "$ref": "#/components/schemas/PostureCheck" } });
    schemas.insert("Posture".to_owned(), serde_json::json!({
            "type": "object",
            "required": ["clusters", "objects", "unknown_objects", "trusted_registries", "writes_read", "bodies_read", "took_ms"],
            "additionalProperties": false,
            "properties": {
                "clusters": { "type": "array", "items": { "type": "object", "required": ["cluster", "checks", "namespaces"], "additionalProperties": false, "properties": {
                    "cluster": string,
                    "checks": { "type": ["array", "null"], "items": { "$ref": "#/components/schemas/PostureCheck" } },
                    "namespaces": { "type": "array", "items": { "type": "object", "required": ["namespace", "created_in_view", "pod_security", "checks"], "additionalProperties": false, "properties": {
                        "namespace": string,
                        "created_in_view": { "type": "boolean" },
                        "pod_security": { "type": "object", "required": ["enforce", "audit", "warn"], "additionalProperties": false, "properties": {
                            "enforce": nullable_string, "audit": nullable_string, "warn": nullable_string
                        } },
                        "checks": checks
                    } } }
                } } },
                "objects": { "type": "integer" },
                "unknown_objects": { "type": "integer" },
                "trusted_registries": strings,
                "writes_read": { "type": "integer" },
                "bodies_read": { "type": "integer" },
                "stale": { "type": "boolean", "description": "Writes arrived since the report was made (only with max_age_secs)" },
                "as_of": { "type": "string", "description": "When the report was made; without from/to it comes from the state kept live and may be a few seconds older than the newest writes, a newer one being made meanwhile" },
                "took_ms": { "type": "number" }
            }
        }));
    serde_json::Value::Object(schemas)
}

pub(crate) async fn document() -> Json<serde_json::Value> {
    Json(openapi())
}
