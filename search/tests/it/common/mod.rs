//! Fixture data for the search tests: real decoded events from the generator, alerts made
//! up over them, and ground-truth helpers.

#![allow(dead_code)]

use std::collections::HashSet;

use event::{Alert, AlertSource, DecodeOptions, Event, Severity};
use search::{SearchError, SearchRequest, SearchResponse, Searcher};

/// `n` generated events (with attacks) at `events_per_second`, decoded, duplicates dropped.
pub fn events(n: u64, seed: u64, events_per_second: f64) -> Vec<Event> {
    events_from(
        n,
        seed,
        events_per_second,
        generate::Options::DEFAULT_START_TIME_MICROS,
    )
}

pub fn events_from(n: u64, seed: u64, events_per_second: f64, start: i64) -> Vec<Event> {
    let mut out = Vec::new();
    generate::generate(
        generate::Options {
            seed,
            attacks: true,
            start_time_micros: start,
            events_per_second,
            ..generate::Options::default()
        },
        n,
        &mut out,
        None::<&mut std::io::Sink>,
    )
    .expect("generate");
    let mut events = Vec::new();
    let options = DecodeOptions::default();
    for line in out.split(|byte| *byte == b'\n') {
        if !line.is_empty() {
            event::decode_line(line, &options, &mut events).expect("decode a generated line");
        }
    }
    let mut seen = HashSet::new();
    events.retain(|event| seen.insert(event.event_id.clone()));
    events
}

pub fn alert(rule_id: &str, events: &[&Event]) -> Alert {
    Alert {
        alert_id: format!("{rule_id}-{}", events.len()),
        rule_id: rule_id.to_owned(),
        title: rule_id.to_owned(),
        severity: Severity::High,
        time: event::format_rfc3339_micros(events.first().map_or(0, |event| event.time)),
        event_ids: events.iter().map(|event| event.event_id.clone()).collect(),
        audit_ids: Vec::new(),
        cluster: "default".to_owned(),
        actor: None,
        namespace: None,
        resource: None,
        name: None,
        source: AlertSource::K8sAudit,
        attack: Vec::new(),
        summary: String::new(),
        fields: serde_json::Map::new(),
    }
}

/// Tokens of the raw text as the index sees them: runs of letters and digits, lowercased,
/// shorter than 40 bytes (tantivy's default tokenizer).
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
        .map(str::to_lowercase)
        .filter(|token| token.len() < 40)
        .collect()
}

/// An RFC 3339 timestamp value, which the raw text index leaves out.
pub fn is_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 16
        && b.len() <= 40
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16..]
            .iter()
            .all(|c| c.is_ascii_digit() || b":.-+Zz".contains(c))
        && [5, 6, 8, 9, 11, 12, 14, 15]
            .iter()
            .all(|i| b[*i].is_ascii_digit())
}

/// The words of a raw event as the index has them: `tokens` of the JSON text without its
/// timestamp values.
pub fn raw_words(raw: &str) -> Vec<String> {
    let mut text = raw.to_owned();
    for value in json_values(raw) {
        if is_timestamp(&value) {
            text = text.replace(&format!("\"{value}\""), "\"\"");
        }
    }
    tokens(&text)
}

/// Glob match with `*` and `?`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The values of a JSON text (strings, numbers, literals), not its keys.
pub fn json_values(raw: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(raw).expect("raw is JSON");
    let mut out = Vec::new();
    collect_values(&value, &mut out);
    out
}

fn collect_values(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_values(v, out)),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_values(v, out)),
        serde_json::Value::String(text) => out.push(text.clone()),
        other => out.push(other.to_string()),
    }
}

/// Whether the words of `phrase` follow each other inside one value of the raw JSON.
pub fn has_phrase(raw: &str, phrase: &[&str]) -> bool {
    json_values(raw)
        .into_iter()
        .filter(|v| !is_timestamp(v))
        .any(|value| {
            tokens(&value)
                .windows(phrase.len())
                .any(|window| window.iter().zip(phrase).all(|(a, b)| a == b))
        })
}

pub fn search(searcher: &Searcher, query: &str) -> SearchResponse {
    searcher
        .search(&SearchRequest {
            limit: 0,
            ..SearchRequest::new(query)
        })
        .unwrap_or_else(|error| panic!("{query}: {error}"))
}

pub fn count(searcher: &Searcher, query: &str) -> u64 {
    search(searcher, query).total
}

/// Every hit's event id, walking all pages.
pub fn walk(
    searcher: &Searcher,
    request: &SearchRequest,
) -> Result<Vec<(i64, String)>, SearchError> {
    let mut request = request.clone();
    let mut out = Vec::new();
    loop {
        let response = searcher.search(&request)?;
        out.extend(
            response
                .hits
                .iter()
                .map(|hit| (hit.time, hit.event_id.clone())),
        );
        match response.next_cursor {
            Some(cursor) => request.cursor = Some(cursor),
            None => return Ok(out),
        }
    }
}

pub fn query_error(searcher: &Searcher, request: &SearchRequest) -> String {
    match searcher.search(request) {
        Err(SearchError::Query { message }) => message,
        other => panic!("{:?} should be a query error, got {other:?}", request.query),
    }
}
