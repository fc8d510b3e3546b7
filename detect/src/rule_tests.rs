//! Inline rule tests (`tests:` in a rule file), run by `kubetrail rules test`: each test feeds
//! a few events through a fresh `Detector` holding only its rule and counts that rule's alerts.
//!
//! A test event is written as the parts of an audit Event (or a Falco alert, recognised by its
//! `rule` and `output` keys) that matter to the rule; the rest comes from a default allowed
//! `get` by a human (`alice`). Objects merge key by key, `null` removes a default. Unless an
//! event sets `stageTimestamp`, event *i* happens *i* seconds after the test's start; `_at:
//! 10m` places it 10 minutes after the start instead.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use serde_yaml_ng::Value as Yaml;

use crate::compile::parse_duration;
use crate::state::{Detector, StateLimits};
use crate::{Engine, RuleSet};

/// One inline test as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestSpec {
    #[serde(default)]
    name: Option<String>,
    events: Vec<Yaml>,
    /// How many alerts the rule must raise over these events (0: must not alert).
    pub(crate) expect: u32,
}

/// The result of one inline test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub rule_id: String,
    /// The test's name, or `#<n>` (1-based).
    pub name: String,
    pub expected: u32,
    /// Alerts raised; `None` when the test could not run.
    pub got: Option<u32>,
    /// Why the test could not run.
    pub error: Option<String>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.got == Some(self.expected)
    }
}

/// Start of every test: 2026-01-01T00:00:00Z.
const TEST_START_MICROS: i64 = 1_767_225_600_000_000;

/// Runs every inline test of every rule in `rules`, in rule order.
pub fn run_tests(rules: &RuleSet) -> Vec<TestOutcome> {
    run_compiled(rules.compiled())
}

/// Runs every inline test of the rules an engine runs (what `serve` loaded), in rule order.
pub fn run_engine_tests(engine: &Engine) -> Vec<TestOutcome> {
    run_compiled(engine.compiled())
}

fn run_compiled(compiled: &[crate::compile::CompiledRule]) -> Vec<TestOutcome> {
    let mut outcomes = Vec::new();
    for rule in compiled {
        for (index, test) in rule.tests.iter().enumerate() {
            let name = test
                .name
                .clone()
                .unwrap_or_else(|| format!("#{}", index + 1));
            let single = RuleSet::from_compiled(vec![rule.clone()]);
            let result = run_one(single, &rule.info.id, test, index);
            let (got, error) = match result {
                Ok(got) => (Some(got), None),
                Err(error) => (None, Some(error)),
            };
            outcomes.push(TestOutcome {
                rule_id: rule.info.id.clone(),
                name,
                expected: test.expect,
                got,
                error,
            });
        }
    }
    outcomes
}

fn run_one(rules: RuleSet, rule_id: &str, test: &TestSpec, index: usize) -> Result<u32, String> {
    let mut detector = Detector::new(Arc::new(Engine::new(rules)), StateLimits::default());
    let options = event::DecodeOptions {
        cluster: "test".to_owned(),
        keep_request_received: false,
    };
    let mut events = Vec::new();
    for (position, yaml) in test.events.iter().enumerate() {
        let value = test_event(yaml, rule_id, index, position)?;
        let line = serde_json::to_vec(&value).map_err(|error| error.to_string())?;
        event::decode_line(&line, &options, &mut events)
            .map_err(|error| format!("event {} does not decode: {error}", position + 1))?;
    }
    let mut alerts = Vec::new();
    detector.process_batch(&events, &mut alerts);
    let count = alerts
        .iter()
        .filter(|alert| alert.rule_id == rule_id)
        .count();
    u32::try_from(count).map_err(|error| error.to_string())
}

/// The full JSON of test event `position` of test `test_index` of `rule_id`.
fn test_event(
    yaml: &Yaml,
    rule_id: &str,
    test_index: usize,
    position: usize,
) -> Result<Value, String> {
    let mut given: Value = serde_json::to_value(yaml)
        .map_err(|error| format!("event {} is not JSON-like: {error}", position + 1))?;
    let Value::Object(given_map) = &mut given else {
        return Err(format!("event {} is not a mapping", position + 1));
    };
    let offset = match given_map.remove("_at") {
        Some(Value::String(at)) => parse_duration(&at)?,
        Some(other) => return Err(format!("_at must be a duration like 10m, not {other}")),
        None => i64::try_from(position).unwrap_or(0) * 1_000_000,
    };
    let time = event::format_rfc3339_micros(TEST_START_MICROS + offset);
    let is_falco = given_map.contains_key("rule") && given_map.contains_key("output");
    let mut base = if is_falco {
        json!({"time": time, "priority": "Warning", "hostname": "node-1", "output_fields": {}})
    } else {
        json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "RequestResponse",
            "auditID": format!("{rule_id}-{test_index}-{position}"),
            "stage": "ResponseComplete",
            "requestURI": "/api/v1/namespaces/default/pods",
            "verb": "get",
            "user": {"username": "alice", "groups": ["system:authenticated"]},
            "sourceIPs": ["203.0.113.7"],
            "userAgent": "kubectl/v1.31.0 (linux/amd64) kubernetes/abcdef0",
            "responseStatus": {"metadata": {}, "code": 200},
            "requestReceivedTimestamp": time,
            "stageTimestamp": time,
            "annotations": {
                "authorization.k8s.io/decision": "allow",
                "authorization.k8s.io/reason": ""
            }
        })
    };
    merge(&mut base, given);
    Ok(base)
}

/// Merges `overlay` into `base`: objects key by key, `null` removes, anything else replaces.
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => merge_maps(base, overlay),
        (base, overlay) => *base = overlay,
    }
}

fn merge_maps(base: &mut Map<String, Value>, overlay: Map<String, Value>) {
    for (key, value) in overlay {
        if value.is_null() {
            base.remove(&key);
        } else if let Some(existing) = base.get_mut(&key) {
            merge(existing, value);
        } else {
            base.insert(key, value);
        }
    }
}
