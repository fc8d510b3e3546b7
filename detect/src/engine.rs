//! The rule index and evaluation: picks the rules that can apply to an event, evaluates their
//! conditions and builds alerts. Pure: no IO, no clock, no randomness, so live and retro
//! detection agree. Stateful rules report hits to the `Detector` (`state.rs`), which owns
//! their memory.

use std::collections::HashMap;

use event::{Alert, AlertSource, Decision, Event, Severity, Source};

use crate::RuleSet;
use crate::compile::{Aggregate, CompiledRule, Piece};
use crate::field::{EvalContext, EventField, Field, Scope, Val};

/// Most values a list-valued alert field carries, so one event cannot make a huge alert.
const MAX_FIELD_VALUES: usize = 64;

/// Evaluates a rule set over events.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<CompiledRule>,
    /// Audit rules that require specific resources, by resource; indexes are in rule order.
    audit_by_resource: HashMap<String, Vec<u32>>,
    /// Audit rules that may match any resource.
    audit_any_resource: Vec<u32>,
    falco: Vec<u32>,
    /// Sequence and absence rules: their later steps and expected events are tried on every
    /// event of any source.
    multi_step: Vec<u32>,
    by_id: HashMap<String, u32>,
}

/// What one event did to one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hit {
    /// The rule's condition matched (the first step of a sequence, the trigger of an absence).
    Match(u32),
    /// Step `then[.1]` of a sequence rule matched.
    Step(u32, usize),
    /// The expected event of an absence rule matched.
    Expect(u32),
}

impl Hit {
    pub(crate) fn rule(self) -> u32 {
        match self {
            Hit::Match(index) | Hit::Step(index, _) | Hit::Expect(index) => index,
        }
    }
}

impl Engine {
    pub fn new(rules: RuleSet) -> Engine {
        let rules = rules.into_compiled();
        let mut audit_by_resource: HashMap<String, Vec<u32>> = HashMap::new();
        let mut audit_any_resource = Vec::new();
        let mut falco = Vec::new();
        let mut multi_step = Vec::new();
        let mut by_id = HashMap::new();
        for (index, rule) in rules.iter().enumerate() {
            let index = u32::try_from(index).expect("fewer than 2^32 rules");
            by_id.insert(rule.info.id.clone(), index);
            if matches!(
                rule.aggregate,
                Some(Aggregate::Sequence { .. } | Aggregate::Absence { .. })
            ) {
                multi_step.push(index);
            }
            match (rule.info.source, &rule.prefilter.resources) {
                (Source::Falco, _) => falco.push(index),
                (Source::K8sAudit, Some(resources)) => {
                    for resource in resources {
                        let entry = audit_by_resource.entry(resource.clone()).or_default();
                        if entry.last() != Some(&index) {
                            entry.push(index);
                        }
                    }
                }
                (Source::K8sAudit, None) => audit_any_resource.push(index),
            }
        }
        Engine {
            rules,
            audit_by_resource,
            audit_any_resource,
            falco,
            multi_step,
            by_id,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub(crate) fn rule(&self, index: u32) -> &CompiledRule {
        &self.rules[index as usize]
    }

    /// Whether the event passes the rule's cheap gates (stage, decision, verb, resource).
    pub(crate) fn is_candidate(&self, rule: &CompiledRule, event: &Event) -> bool {
        passes_gates(rule, event)
            && rule.prefilter.resources.as_ref().is_none_or(|resources| {
                event
                    .resource
                    .as_deref()
                    .is_some_and(|resource| resources.iter().any(|r| r == resource))
            })
    }

    /// The longest `absence.within` of the rules, if any rule has one.
    pub(crate) fn longest_absence(&self) -> Option<i64> {
        self.multi_step
            .iter()
            .filter_map(|&index| match &self.rule(index).aggregate {
                Some(Aggregate::Absence { within, .. }) => Some(*within),
                _ => None,
            })
            .max()
    }

    pub(crate) fn rule_index(&self, rule_id: &str) -> Option<u32> {
        self.by_id.get(rule_id).copied()
    }

    /// Appends to `alerts` one alert per stateless rule the event matches, in rule order.
    /// Stateful rules need a `Detector`.
    pub fn evaluate(&self, event: &Event, alerts: &mut Vec<Alert>) {
        self.evaluate_in(&EvalContext::new(event), alerts);
    }

    fn evaluate_in(&self, ctx: &EvalContext<'_>, alerts: &mut Vec<Alert>) {
        let mut hits = Vec::new();
        self.hits(ctx, false, &mut hits);
        for hit in hits {
            if let Hit::Match(index) = hit {
                alerts.push(build_alert(self.rule(index), ctx, &[]));
            }
        }
    }

    /// Appends what the event does to each rule: later sequence steps and expected events
    /// first, then condition matches in rule order. With `stateful` false, only stateless
    /// rules are tried.
    pub(crate) fn hits(&self, ctx: &EvalContext<'_>, stateful: bool, hits: &mut Vec<Hit>) {
        if stateful {
            for &index in &self.multi_step {
                let rule = self.rule(index);
                match &rule.aggregate {
                    Some(Aggregate::Sequence { steps, .. }) => {
                        for (step_index, step) in steps.iter().enumerate() {
                            if passes_stage_and_decision(rule, step.include_denied, ctx.event)
                                && step.condition.eval(ctx, &Scope::default())
                            {
                                hits.push(Hit::Step(index, step_index));
                            }
                        }
                    }
                    Some(Aggregate::Absence { expect, .. })
                        if passes_stage_and_decision(rule, rule.include_denied, ctx.event)
                            && expect.eval(ctx, &Scope::default()) =>
                    {
                        hits.push(Hit::Expect(index));
                    }
                    _ => {}
                }
            }
        }
        let mut try_rule = |index: u32| {
            let rule = self.rule(index);
            if (stateful || rule.aggregate.is_none())
                && passes_gates(rule, ctx.event)
                && rule.condition.eval(ctx, &Scope::default())
            {
                hits.push(Hit::Match(index));
            }
        };
        let event = ctx.event;
        match event.source {
            Source::Falco => {
                for &index in &self.falco {
                    try_rule(index);
                }
            }
            Source::K8sAudit => {
                let indexed: &[u32] = event
                    .resource
                    .as_deref()
                    .and_then(|resource| self.audit_by_resource.get(resource))
                    .map_or(&[], Vec::as_slice);
                let any = self.audit_any_resource.as_slice();
                let (mut i, mut j) = (0, 0);
                loop {
                    let next = match (indexed.get(i), any.get(j)) {
                        (Some(&a), Some(&b)) if a < b => {
                            i += 1;
                            a
                        }
                        (_, Some(&b)) => {
                            j += 1;
                            b
                        }
                        (Some(&a), None) => {
                            i += 1;
                            a
                        }
                        (None, None) => break,
                    };
                    try_rule(next);
                }
            }
        }
    }
}

/// Stage and decision checks of a rule (or of one step of it).
fn passes_stage_and_decision(rule: &CompiledRule, include_denied: bool, event: &Event) -> bool {
    if let Some(stage) = event.stage.as_deref()
        && !rule.stages.iter().any(|allowed| allowed == stage)
    {
        return false;
    }
    include_denied || event.decision != Some(Decision::Forbid)
}

/// The cheap checks: stage, decision and the prefilter on verb and subresource.
fn passes_gates(rule: &CompiledRule, event: &Event) -> bool {
    if !passes_stage_and_decision(rule, rule.include_denied, event) {
        return false;
    }
    if let Some(verbs) = &rule.prefilter.verbs {
        match event.verb.as_deref() {
            Some(verb) if verbs.iter().any(|allowed| allowed == verb) => {}
            _ => return false,
        }
    }
    if let Some(subresources) = &rule.prefilter.subresources {
        let subresource = event.subresource.as_deref();
        if !subresources
            .iter()
            .any(|allowed| allowed.as_deref() == subresource)
        {
            return false;
        }
    }
    true
}

fn json_of(value: Val<'_>) -> serde_json::Value {
    match value {
        Val::Str(s) => serde_json::Value::String(s.to_owned()),
        Val::Int(i) => serde_json::Value::from(i),
        Val::Float(f) => serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Val::Bool(b) => serde_json::Value::Bool(b),
        Val::Null => serde_json::Value::Null,
        Val::Composite(value) => value.clone(),
    }
}

fn text_of(value: Val<'_>) -> String {
    match value {
        Val::Str(s) => s.to_owned(),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => f.to_string(),
        Val::Bool(b) => b.to_string(),
        Val::Null => "null".to_owned(),
        Val::Composite(value) => value.to_string(),
    }
}

/// The values of a field as alert JSON: arrays for list fields, scalars otherwise; `None` if absent.
fn field_json(field: &Field, ctx: &EvalContext<'_>) -> Option<serde_json::Value> {
    let mut values = Vec::new();
    let mut any_in_list = false;
    field.visit(ctx, &Scope::default(), &mut |value, in_list| {
        any_in_list |= in_list;
        values.push(json_of(value));
        values.len() >= MAX_FIELD_VALUES
    });
    if values.is_empty() {
        None
    } else if any_in_list || values.len() > 1 || field.fans_out(ctx) {
        Some(serde_json::Value::Array(values))
    } else {
        values.pop()
    }
}

/// The actor of an audit event; `"<user> as <impersonated>"` for an impersonated request.
fn actor_of(event: &Event) -> Option<String> {
    match (&event.user, &event.impersonated_user) {
        (Some(user), Some(impersonated)) => Some(format!("{user} as {impersonated}")),
        (Some(user), None) => Some(user.clone()),
        (None, _) => None,
    }
}

pub(crate) fn render_summary(pieces: &[Piece], ctx: &EvalContext<'_>) -> String {
    let mut summary = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => summary.push_str(text),
            Piece::Actor => summary.push_str(actor_of(ctx.event).as_deref().unwrap_or("-")),
            Piece::Field(field) => {
                let separator = if *field == Field::Event(EventField::ExecCommand) {
                    " "
                } else {
                    ", "
                };
                let mut count = 0;
                field.visit(ctx, &Scope::default(), &mut |value, _| {
                    if count > 0 {
                        summary.push_str(separator);
                    }
                    summary.push_str(&text_of(value));
                    count += 1;
                    count >= MAX_FIELD_VALUES
                });
                if count == 0 {
                    summary.push('-');
                }
            }
        }
    }
    // One line: values may carry newlines (exec arguments, say).
    summary
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn severity_of(rule: &CompiledRule, ctx: &EvalContext<'_>) -> Severity {
    let Some(from) = &rule.severity_from else {
        return rule.info.severity;
    };
    let mut found = None;
    from.field.visit(ctx, &Scope::default(), &mut |value, _| {
        if let Val::Str(text) = value {
            found = from
                .map
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(text))
                .map(|(_, severity)| *severity);
        }
        found.is_some()
    });
    found.unwrap_or(rule.info.severity)
}

/// The values of `field` as text (list fields give one per element).
pub(crate) fn field_texts(field: &Field, ctx: &EvalContext<'_>) -> Vec<String> {
    let mut values = Vec::new();
    field.visit(ctx, &Scope::default(), &mut |value, _| {
        values.push(text_of(value));
        values.len() >= MAX_FIELD_VALUES
    });
    values
}

/// The group key of an event: the values of `fields`, joined; an absent field gives "".
pub(crate) fn group_key(fields: &[Field], ctx: &EvalContext<'_>) -> String {
    let mut key = String::new();
    for (position, field) in fields.iter().enumerate() {
        if position > 0 {
            key.push(crate::state::KEY_SEPARATOR);
        }
        let mut first = true;
        field.visit(ctx, &Scope::default(), &mut |value, _| {
            if !first {
                key.push(',');
            }
            first = false;
            key.push_str(&text_of(value));
            false
        });
    }
    key
}

/// The alert of `rule` for the triggering event of `ctx`; `event_ids` lists every
/// contributing event (empty: just the triggering one).
pub(crate) fn build_alert(
    rule: &CompiledRule,
    ctx: &EvalContext<'_>,
    event_ids: &[String],
) -> Alert {
    let event = ctx.event;
    let event_ids = if event_ids.is_empty() {
        vec![event.event_id.clone()]
    } else {
        event_ids.to_vec()
    };
    let mut fields = serde_json::Map::new();
    for (name, field) in &rule.fields {
        if let Some(value) = field_json(field, ctx) {
            fields.insert(name.clone(), value);
        }
    }
    Alert {
        alert_id: event::alert_id(&rule.info.id, &event_ids),
        rule_id: rule.info.id.clone(),
        title: rule.info.title.clone(),
        severity: severity_of(rule, ctx),
        time: event::format_rfc3339_micros(event.time),
        event_ids,
        audit_ids: event.audit_id.iter().cloned().collect(),
        cluster: event.cluster.clone(),
        actor: actor_of(event),
        namespace: event.namespace.clone(),
        resource: event.resource.clone(),
        name: event.name.clone().or_else(|| event.pod_name.clone()),
        source: match event.source {
            Source::K8sAudit => AlertSource::K8sAudit,
            Source::Falco => AlertSource::Falco,
        },
        attack: rule.info.attack.clone(),
        summary: render_summary(&rule.summary, ctx),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(verb: &str, resource: &str, raw: &str) -> Event {
        Event {
            event_id: "e1".to_owned(),
            time: 0,
            cluster: "c".to_owned(),
            source: Source::K8sAudit,
            audit_id: None,
            stage: Some("ResponseComplete".to_owned()),
            level: None,
            verb: Some(verb.to_owned()),
            request_uri: None,
            user: Some("alice".to_owned()),
            user_groups: Vec::new(),
            impersonated_user: None,
            actor_kind: None,
            source_ips: Vec::new(),
            user_agent: None,
            resource: Some(resource.to_owned()),
            subresource: None,
            api_group: None,
            namespace: None,
            name: None,
            response_code: Some(200),
            decision: Some(Decision::Allow),
            reason: None,
            pod_specs: Vec::new(),
            images: Vec::new(),
            exec_command: Vec::new(),
            psa_violations: Vec::new(),
            falco_rule: None,
            falco_priority: None,
            container_id: None,
            pod_name: None,
            raw: raw.to_owned(),
        }
    }

    #[test]
    fn raw_is_parsed_only_when_a_rule_reaching_the_event_needs_it() {
        let engine = Engine::new(RuleSet::builtin().unwrap());
        let body = r#"{"requestObject":{"roleRef":{"name":"cluster-admin"}}}"#;
        let mut alerts = Vec::new();
        for (verb, resource) in [
            ("get", "configmaps"),
            ("list", "secrets"),
            ("get", "clusterrolebindings"),
        ] {
            let event = event(verb, resource, body);
            let ctx = EvalContext::new(&event);
            engine.evaluate_in(&ctx, &mut alerts);
            assert!(!ctx.raw_parsed(), "{verb} {resource} parsed raw");
        }
        let event = event("create", "clusterrolebindings", body);
        let ctx = EvalContext::new(&event);
        engine.evaluate_in(&ctx, &mut alerts);
        assert!(ctx.raw_parsed());
        let fired: Vec<&str> = alerts.iter().map(|alert| alert.rule_id.as_str()).collect();
        assert_eq!(
            fired,
            ["k8s.secret_read_non_system", "k8s.cluster_admin_binding"]
        );
    }

    #[test]
    fn engine_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
        assert_send_sync::<RuleSet>();
    }

    #[test]
    fn indexed_and_unindexed_rules_run_in_rule_order() {
        let text = "rules:\n  - {id: a.any, title: a, severity: low, condition: {field: user, equals: alice}}\n  - {id: b.pods, title: b, severity: low, condition: {all: [{field: resource, equals: pods}, {field: verb, equals: get}]}}\n  - {id: c.any, title: c, severity: low, condition: {field: verb, equals: get}}\n";
        let engine = Engine::new(RuleSet::from_yaml(text, "t").unwrap());
        let mut alerts = Vec::new();
        engine.evaluate(&event("get", "pods", "{}"), &mut alerts);
        let fired: Vec<&str> = alerts.iter().map(|alert| alert.rule_id.as_str()).collect();
        assert_eq!(fired, ["a.any", "b.pods", "c.any"]);
    }
}
