//! Request bodies: contract JSON lines and arrays, Slack messages and Alertmanager alerts.
//! Pure functions of the alerts; no IO.

use event::{Alert, Severity};
use serde_json::{Map, Value, json};

/// An alert read back from the outbox: its sequence number, the parsed alert and the JSON
/// line exactly as it was queued (the alert JSON contract).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueuedAlert {
    pub(crate) seq: u64,
    pub(crate) alert: Alert,
    pub(crate) json: String,
}

/// One JSON document per line, each followed by `\n`.
pub(crate) fn json_lines(alerts: &[QueuedAlert]) -> Vec<u8> {
    let mut body = Vec::with_capacity(alerts.iter().map(|a| a.json.len() + 1).sum());
    for alert in alerts {
        body.extend_from_slice(alert.json.as_bytes());
        body.push(b'\n');
    }
    body
}

/// A JSON array of contract alerts, built from the queued JSON so the bytes are exactly
/// what the contract says.
pub(crate) fn webhook_body(alerts: &[QueuedAlert]) -> Vec<u8> {
    let mut body = Vec::with_capacity(alerts.iter().map(|a| a.json.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (index, alert) in alerts.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(alert.json.as_bytes());
    }
    body.push(b']');
    body
}

/// Slack's limits on the parts of a message, in characters.
const SLACK_HEADER_MAX_CHARS: usize = 150;
const SLACK_SECTION_MAX_CHARS: usize = 3000;
const SLACK_FIELD_MAX_CHARS: usize = 2000;
const SLACK_TEXT_MAX_CHARS: usize = 3000;

/// One Slack message for the batch: `text` is the notification fallback, `blocks` show
/// each alert as a header, its summary, a field grid and a context line, separated by
/// dividers.
pub(crate) fn slack_body(alerts: &[QueuedAlert]) -> Vec<u8> {
    let mut blocks = Vec::with_capacity(alerts.len() * 5);
    for (index, queued) in alerts.iter().enumerate() {
        if index > 0 {
            blocks.push(json!({"type": "divider"}));
        }
        blocks.extend(slack_blocks(&queued.alert));
    }
    let text = match alerts {
        [only] => format!(
            "[{}] {}: {}",
            severity_upper(only.alert.severity),
            only.alert.title,
            only.alert.summary
        ),
        _ => {
            let titles: Vec<String> = alerts
                .iter()
                .map(|q| format!("[{}] {}", severity_upper(q.alert.severity), q.alert.title))
                .collect();
            format!("{} kubetrail alerts: {}", alerts.len(), titles.join("; "))
        }
    };
    let message = json!({
        "text": truncate(&slack_escape(&text), SLACK_TEXT_MAX_CHARS),
        "blocks": blocks,
    });
    serde_json::to_vec(&message).expect("a JSON value always serialises")
}

fn slack_blocks(alert: &Alert) -> [Value; 4] {
    let or_dash = |value: Option<&String>| {
        value
            .filter(|v| !v.is_empty())
            .map_or_else(|| "-".to_owned(), |v| slack_escape(v))
    };
    let object = match (alert.resource.as_deref(), alert.name.as_deref()) {
        (Some(resource), Some(name)) => slack_escape(&format!("{resource}/{name}")),
        (Some(resource), None) => slack_escape(resource),
        (None, Some(name)) => slack_escape(name),
        (None, None) => "-".to_owned(),
    };
    let attack = if alert.attack.is_empty() {
        "-".to_owned()
    } else {
        slack_escape(&alert.attack.join(", "))
    };
    let fields = [
        ("Severity", alert.severity.as_str().to_owned()),
        ("Rule", format!("`{}`", slack_escape(&alert.rule_id))),
        ("Actor", or_dash(alert.actor.as_ref())),
        ("Cluster", slack_escape(&alert.cluster)),
        ("Namespace", or_dash(alert.namespace.as_ref())),
        ("Object", object),
        ("ATT&CK", attack),
    ];
    let fields: Vec<Value> = fields
        .iter()
        .map(|(label, value)| {
            json!({
                "type": "mrkdwn",
                "text": truncate(&format!("*{}*\n{value}", slack_escape(label)), SLACK_FIELD_MAX_CHARS),
            })
        })
        .collect();
    [
        json!({
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(
                    &format!(
                        "{} {}: {}",
                        severity_emoji(alert.severity),
                        severity_upper(alert.severity),
                        alert.title
                    ),
                    SLACK_HEADER_MAX_CHARS,
                ),
                "emoji": true,
            },
        }),
        json!({
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": truncate(&slack_escape(&alert.summary), SLACK_SECTION_MAX_CHARS),
            },
        }),
        json!({"type": "section", "fields": fields}),
        json!({
            "type": "context",
            "elements": [{
                "type": "mrkdwn",
                "text": truncate(
                    &format!(
                        "alert_id `{}` · {} · source {}",
                        slack_escape(&alert.alert_id),
                        slack_escape(&alert.time),
                        alert.source.as_str()
                    ),
                    SLACK_SECTION_MAX_CHARS,
                ),
            }],
        }),
    ]
}

fn severity_upper(severity: Severity) -> String {
    severity.as_str().to_ascii_uppercase()
}

fn severity_emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => ":rotating_light:",
        Severity::High => ":red_circle:",
        Severity::Medium => ":large_orange_circle:",
        Severity::Low => ":large_yellow_circle:",
        Severity::Info => ":information_source:",
    }
}

/// Slack's `mrkdwn` and `text` treat `&`, `<` and `>` as control characters.
fn slack_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Cuts `text` to at most `max_chars` characters, ending in `…` when cut.
fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some(_) => {
            let keep: String = text.chars().take(max_chars.saturating_sub(1)).collect();
            keep + "…"
        }
    }
}

/// Alertmanager's `PostableAlerts`: a JSON array of `{labels, annotations, startsAt,
/// generatorURL}`. Absent values are left out (Alertmanager treats an empty label as no
/// label).
pub(crate) fn alertmanager_body(alerts: &[QueuedAlert], generator_url: Option<&str>) -> Vec<u8> {
    let postable: Vec<Value> = alerts
        .iter()
        .map(|queued| {
            let alert = &queued.alert;
            let mut labels = Map::new();
            labels.insert("alertname".into(), alert.rule_id.clone().into());
            labels.insert("severity".into(), alert.severity.as_str().into());
            labels.insert("cluster".into(), alert.cluster.clone().into());
            if let Some(namespace) = alert.namespace.as_ref().filter(|n| !n.is_empty()) {
                labels.insert("namespace".into(), namespace.clone().into());
            }
            labels.insert("rule_id".into(), alert.rule_id.clone().into());
            labels.insert("source".into(), alert.source.as_str().into());

            let mut annotations = Map::new();
            annotations.insert("summary".into(), alert.summary.clone().into());
            annotations.insert("title".into(), alert.title.clone().into());
            if let Some(actor) = alert.actor.as_ref().filter(|a| !a.is_empty()) {
                annotations.insert("actor".into(), actor.clone().into());
            }
            if !alert.attack.is_empty() {
                annotations.insert("attack".into(), alert.attack.join(",").into());
            }
            annotations.insert("alert_id".into(), alert.alert_id.clone().into());

            let mut postable = Map::new();
            postable.insert("labels".into(), Value::Object(labels));
            postable.insert("annotations".into(), Value::Object(annotations));
            postable.insert("startsAt".into(), alert.time.clone().into());
            if let Some(url) = generator_url {
                postable.insert(
                    "generatorURL".into(),
                    url.replace("{alert_id}", &alert.alert_id).into(),
                );
            }
            Value::Object(postable)
        })
        .collect();
    serde_json::to_vec(&postable).expect("a JSON value always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo", 4), "hél…");
    }

    #[test]
    fn slack_escape_escapes_control_characters() {
        assert_eq!(slack_escape("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
