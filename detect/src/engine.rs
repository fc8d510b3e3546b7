//! The rule index and evaluation: picks the rules that can apply to an event, evaluates their
//! conditions and builds alerts. Pure: no IO, no clock, no randomness, so live and retro
//! detection agree. Stateful rules report hits to the `Detector` (`state.rs`), which owns
//! their memory.
//!
//! Every event is first reduced to a `Profile`: its resource, verb, subresource and stage as
//! small integers (interned from the rules' prefilters) and a bit set of the fields it has.
//! Rules, later sequence steps and absence expectations are listed per (resource, verb) cell
//! in rule order, and each carries a `Gate` (stage, decision, subresource, required fields)
//! checked with integer compares before any condition is evaluated.

use std::collections::HashMap;
use std::fmt::Write as _;

use event::{ActorKind, Alert, AlertSource, Decision, Event, Severity, Source};
use rustc_hash::FxHashMap;

use crate::RuleSet;
use crate::compile::{Aggregate, CompiledRule, Piece, Prefilter};
use crate::field::{EvalContext, EventField, Field, RawPaths, Scope, Val};

/// Most values a list-valued alert field carries, so one event cannot make a huge alert.
const MAX_FIELD_VALUES: usize = 64;

/// Strings of one kind (resources, verbs, ...) named by the rules, as small integers:
/// 0 is "absent", `1..=n` the known strings, `n + 1` any other string.
/// Keyed by FxHash: the keys come from rule files and lookups never insert, so a fast unkeyed
/// hash is safe here.
#[derive(Debug, Default)]
struct Symbols {
    ids: FxHashMap<Box<str>, u32>,
}

const ABSENT: u32 = 0;

impl Symbols {
    fn intern(&mut self, text: &str) {
        let next = u32::try_from(self.ids.len() + 1).unwrap_or(u32::MAX);
        self.ids.entry(text.into()).or_insert(next);
    }

    fn other(&self) -> u32 {
        u32::try_from(self.ids.len() + 1).unwrap_or(u32::MAX)
    }

    /// Ids run from 0 to `width() - 1`.
    fn width(&self) -> usize {
        self.ids.len() + 2
    }

    fn id(&self, text: Option<&str>) -> u32 {
        match text {
            None => ABSENT,
            Some(text) => self.ids.get(text).copied().unwrap_or_else(|| self.other()),
        }
    }

    fn ids(&self, texts: &[String]) -> Vec<u32> {
        texts.iter().map(|text| self.id(Some(text))).collect()
    }
}

/// An event reduced to what the gates and the index look at.
#[derive(Debug, Clone, Copy)]
struct Profile {
    resource: u32,
    verb: u32,
    subresource: u32,
    /// `None`: the event has no stage (Falco), which every rule accepts.
    stage: Option<u32>,
    forbid: bool,
    /// `actor_kind` and `decision` as one bit each (`enum_bits`); 0 when absent.
    actor_kind: u8,
    decision: u8,
    features: u64,
}

const ACTOR_KINDS: [ActorKind; 5] = [
    ActorKind::Human,
    ActorKind::Serviceaccount,
    ActorKind::Node,
    ActorKind::System,
    ActorKind::Anonymous,
];
const DECISIONS: [Decision; 2] = [Decision::Allow, Decision::Forbid];

fn actor_kind_bit(kind: ActorKind) -> u8 {
    match kind {
        ActorKind::Human => 1,
        ActorKind::Serviceaccount => 2,
        ActorKind::Node => 4,
        ActorKind::System => 8,
        ActorKind::Anonymous => 16,
    }
}

fn decision_bit(decision: Decision) -> u8 {
    match decision {
        Decision::Allow => 1,
        Decision::Forbid => 2,
    }
}

/// The bits of the enum values whose text is one of `allowed` (`u8::MAX`: no filter).
fn enum_bits<T: Copy>(
    allowed: Option<&Vec<String>>,
    values: &[T],
    text: impl Fn(T) -> &'static str,
    bit: impl Fn(T) -> u8,
) -> u8 {
    match allowed {
        None => u8::MAX,
        Some(allowed) => values
            .iter()
            .filter(|value| {
                allowed
                    .iter()
                    .any(|text_allowed| text_allowed == text(**value))
            })
            .fold(0, |bits, value| bits | bit(*value)),
    }
}

/// The cheap checks of a rule or a step, as integers.
#[derive(Debug, Clone)]
struct Gate {
    stages: Vec<u32>,
    include_denied: bool,
    subresources: Option<Vec<u32>>,
    features: u64,
    /// Allowed `actor_kind` and `decision` bits (`u8::MAX`: any, even absent).
    actor_kinds: u8,
    decisions: u8,
}

impl Gate {
    fn passes(&self, profile: &Profile) -> bool {
        (self.features & !profile.features) == 0
            && (self.include_denied || !profile.forbid)
            && (self.actor_kinds == u8::MAX || self.actor_kinds & profile.actor_kind != 0)
            && (self.decisions == u8::MAX || self.decisions & profile.decision != 0)
            && profile
                .stage
                .is_none_or(|stage| self.stages.contains(&stage))
            && self
                .subresources
                .as_ref()
                .is_none_or(|allowed| allowed.contains(&profile.subresource))
    }
}

/// The resource and verb ids an item is limited to (`None`: any).
type CellFilter = (Option<Vec<u32>>, Option<Vec<u32>>);

/// Items (rules or steps) per (resource, verb) cell, each list in item order.
#[derive(Debug, Default)]
struct Table {
    verbs: usize,
    cells: Vec<Box<[u32]>>,
}

impl Table {
    /// `filters[i]`: the resources and verbs item `i` is limited to (`None`: any), or `None`
    /// when the item does not belong in this table.
    fn build(resources: &Symbols, verbs: &Symbols, filters: &[Option<CellFilter>]) -> Table {
        let admits = |allowed: &Option<Vec<u32>>, id: u32| {
            allowed.as_ref().is_none_or(|allowed| allowed.contains(&id))
        };
        let mut cells = Vec::with_capacity(resources.width() * verbs.width());
        for resource in 0..resources.width() {
            for verb in 0..verbs.width() {
                let (resource, verb) = (resource as u32, verb as u32);
                let cell: Vec<u32> = filters
                    .iter()
                    .enumerate()
                    .filter_map(|(index, filter)| {
                        let (allowed_resources, allowed_verbs) = filter.as_ref()?;
                        (admits(allowed_resources, resource) && admits(allowed_verbs, verb))
                            .then_some(index as u32)
                    })
                    .collect();
                cells.push(cell.into_boxed_slice());
            }
        }
        Table {
            verbs: verbs.width(),
            cells,
        }
    }

    fn get(&self, profile: &Profile) -> &[u32] {
        self.cells
            .get(profile.resource as usize * self.verbs + profile.verb as usize)
            .map_or(&[], |cell| cell)
    }
}

/// A later step of a sequence rule, or the expected event of an absence rule.
#[derive(Debug)]
struct StepEntry {
    rule: u32,
    /// Index into the sequence's `then`; `None` for an absence rule's `expect`.
    step: Option<usize>,
    gate: Gate,
}

/// Evaluates a rule set over events.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<CompiledRule>,
    resources: Symbols,
    verbs: Symbols,
    subresources: Symbols,
    stages: Symbols,
    /// Per rule.
    gates: Vec<Gate>,
    /// Audit and Falco rules per cell.
    audit: Table,
    falco: Table,
    /// Sequence steps and absence expectations, in (rule, step) order, and per cell (of any
    /// source: a sequence may join an audit event to a Falco event).
    steps: Vec<StepEntry>,
    step_table: Table,
    /// Sequence and absence rules, by id (the order absences fire in when time passes).
    timed: Vec<u32>,
    /// Per rule: what its alerts read of an event (`field::copy_for_alert`).
    alert_needs: Vec<u64>,
    by_id: HashMap<String, u32>,
    /// Every raw path the rules read: raw JSON is parsed into these only.
    raw_paths: RawPaths,
    /// Some rule reads `source_ip_network`: the detector learns cluster networks only then.
    reads_networks: bool,
    /// The lists the rules were compiled with (for readers outside the rules, e.g. posture).
    lists: std::collections::BTreeMap<String, Vec<String>>,
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
        let (rules, lists) = rules.into_parts();
        let mut resources = Symbols::default();
        let mut verbs = Symbols::default();
        let mut subresources = Symbols::default();
        let mut stages = Symbols::default();
        let mut intern = |prefilter: &Prefilter| {
            for resource in prefilter.resources.iter().flatten() {
                resources.intern(resource);
            }
            for verb in prefilter.verbs.iter().flatten() {
                verbs.intern(verb);
            }
            for subresource in prefilter.subresources.iter().flatten().flatten() {
                subresources.intern(subresource);
            }
        };
        for rule in &rules {
            intern(&rule.prefilter);
            match &rule.aggregate {
                Some(Aggregate::Sequence { steps, .. }) => {
                    steps.iter().for_each(|step| intern(&step.prefilter));
                }
                Some(Aggregate::Absence {
                    expect_prefilter, ..
                }) => intern(expect_prefilter),
                _ => {}
            }
            for stage in &rule.stages {
                stages.intern(stage);
            }
        }
        let gate = |rule: &CompiledRule, prefilter: &Prefilter, include_denied: bool| Gate {
            stages: stages.ids(&rule.stages),
            include_denied,
            subresources: prefilter.subresources.as_ref().map(|allowed| {
                allowed
                    .iter()
                    .map(|subresource| subresources.id(subresource.as_deref()))
                    .collect()
            }),
            features: prefilter.features,
            actor_kinds: enum_bits(
                prefilter.actor_kinds.as_ref(),
                &ACTOR_KINDS,
                ActorKind::as_str,
                actor_kind_bit,
            ),
            decisions: enum_bits(
                prefilter.decisions.as_ref(),
                &DECISIONS,
                Decision::as_str,
                decision_bit,
            ),
        };
        let filter = |prefilter: &Prefilter| {
            (
                prefilter.resources.as_ref().map(|r| resources.ids(r)),
                prefilter.verbs.as_ref().map(|v| verbs.ids(v)),
            )
        };
        let mut gates = Vec::with_capacity(rules.len());
        let mut audit_filters = Vec::with_capacity(rules.len());
        let mut falco_filters = Vec::with_capacity(rules.len());
        let mut steps = Vec::new();
        let mut step_filters = Vec::new();
        let mut timed = Vec::new();
        let mut alert_needs = Vec::with_capacity(rules.len());
        let mut by_id = HashMap::new();
        let mut raw_paths = RawPaths::default();
        let mut reads_networks = false;
        for (index, rule) in rules.iter().enumerate() {
            let index = u32::try_from(index).expect("fewer than 2^32 rules");
            by_id.insert(rule.info.id.clone(), index);
            gates.push(gate(rule, &rule.prefilter, rule.include_denied));
            let own = Some(filter(&rule.prefilter));
            let (audit, falco) = match rule.info.source {
                Source::K8sAudit => (own, None),
                Source::Falco => (None, own),
            };
            audit_filters.push(audit);
            falco_filters.push(falco);
            match &rule.aggregate {
                Some(Aggregate::Sequence { steps: then, .. }) => {
                    timed.push(index);
                    for (step_index, step) in then.iter().enumerate() {
                        steps.push(StepEntry {
                            rule: index,
                            step: Some(step_index),
                            gate: gate(rule, &step.prefilter, step.include_denied),
                        });
                        step_filters.push(Some(filter(&step.prefilter)));
                    }
                }
                Some(Aggregate::Absence {
                    expect_prefilter, ..
                }) => {
                    timed.push(index);
                    steps.push(StepEntry {
                        rule: index,
                        step: None,
                        gate: gate(rule, expect_prefilter, rule.include_denied),
                    });
                    step_filters.push(Some(filter(expect_prefilter)));
                }
                _ => {}
            }
            let mut needs = crate::field::ALWAYS_COPIED;
            rule.for_each_alert_field(&mut |field| needs |= crate::field::alert_need(field));
            alert_needs.push(needs);
            rule.for_each_field(&mut |field| {
                for path in field.raw_paths() {
                    raw_paths.add(&path);
                }
                reads_networks |= *field == Field::Event(EventField::SourceIpNetwork);
            });
        }
        timed.sort_by(|a, b| rules[*a as usize].info.id.cmp(&rules[*b as usize].info.id));
        Engine {
            audit: Table::build(&resources, &verbs, &audit_filters),
            falco: Table::build(&resources, &verbs, &falco_filters),
            step_table: Table::build(&resources, &verbs, &step_filters),
            rules,
            resources,
            verbs,
            subresources,
            stages,
            gates,
            steps,
            timed,
            alert_needs,
            by_id,
            raw_paths,
            reads_networks,
            lists,
        }
    }

    /// A list the rules were compiled with, expanded, after `[detect.lists]` overrides (e.g.
    /// `trusted_registries`); `None` when no loaded rule file defines it.
    pub fn list(&self, name: &str) -> Option<&[String]> {
        self.lists.get(name).map(Vec::as_slice)
    }

    /// Number of rules.
    pub(crate) fn compiled(&self) -> &[CompiledRule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// What each loaded rule is, in rule order.
    pub fn rule_infos(&self) -> impl Iterator<Item = &crate::RuleInfo> {
        self.rules.iter().map(|rule| &rule.info)
    }

    pub(crate) fn rule(&self, index: u32) -> &CompiledRule {
        &self.rules[index as usize]
    }

    /// Every raw path the rules read.
    pub(crate) fn raw_paths(&self) -> &RawPaths {
        &self.raw_paths
    }

    /// Whether some rule reads `source_ip_network` (the learned cluster networks).
    pub(crate) fn reads_networks(&self) -> bool {
        self.reads_networks
    }

    /// What alerts of rule `index` read of an event (`field::copy_for_alert`).
    pub(crate) fn alert_needs(&self, index: u32) -> u64 {
        self.alert_needs[index as usize]
    }

    /// Sequence and absence rules, ordered by rule id.
    pub(crate) fn timed_rules(&self) -> &[u32] {
        &self.timed
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
        self.timed
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
        self.evaluate_in(&EvalContext::new(event, Some(&self.raw_paths)), alerts);
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

    fn profile(&self, ctx: &EvalContext<'_>) -> Profile {
        let event = ctx.event;
        Profile {
            resource: self.resources.id(event.resource.as_deref()),
            verb: self.verbs.id(event.verb.as_deref()),
            subresource: self.subresources.id(event.subresource.as_deref()),
            stage: event
                .stage
                .as_deref()
                .map(|stage| self.stages.id(Some(stage))),
            forbid: event.decision == Some(Decision::Forbid),
            actor_kind: event.actor_kind.map_or(0, actor_kind_bit),
            decision: event.decision.map_or(0, decision_bit),
            features: crate::field::event_features(event, ctx.changes),
        }
    }

    /// Appends what the event does to each rule: later sequence steps and expected events
    /// first (in rule order), then condition matches in rule order. With `stateful` false,
    /// only stateless rules are tried.
    pub(crate) fn hits(&self, ctx: &EvalContext<'_>, stateful: bool, hits: &mut Vec<Hit>) {
        let profile = self.profile(ctx);
        if stateful {
            for &entry in self.step_table.get(&profile) {
                let entry = &self.steps[entry as usize];
                if !entry.gate.passes(&profile) {
                    continue;
                }
                match (&self.rule(entry.rule).aggregate, entry.step) {
                    (Some(Aggregate::Sequence { steps, .. }), Some(step))
                        if steps[step].condition.eval(ctx, &Scope::default()) =>
                    {
                        hits.push(Hit::Step(entry.rule, step));
                    }
                    (Some(Aggregate::Absence { expect, .. }), None)
                        if expect.eval(ctx, &Scope::default()) =>
                    {
                        hits.push(Hit::Expect(entry.rule));
                    }
                    _ => {}
                }
            }
        }
        let table = match ctx.event.source {
            Source::K8sAudit => &self.audit,
            Source::Falco => &self.falco,
        };
        for &index in table.get(&profile) {
            let rule = self.rule(index);
            if (stateful || rule.aggregate.is_none())
                && self.gates[index as usize].passes(&profile)
                && rule.condition.eval(ctx, &Scope::default())
            {
                hits.push(Hit::Match(index));
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

/// Appends a value as text: strings as they are, numbers and booleans as Rust prints them,
/// `null`, and objects and arrays as compact JSON.
pub(crate) fn push_text(out: &mut String, value: Val<'_>) {
    match value {
        Val::Str(s) => out.push_str(s),
        Val::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Val::Float(f) => {
            let _ = write!(out, "{f}");
        }
        Val::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Val::Null => out.push_str("null"),
        Val::Composite(value) => {
            let _ = write!(out, "{value}");
        }
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
                    push_text(&mut summary, value);
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

/// Calls `visit` with the text of each value of `field` (at most `MAX_FIELD_VALUES`), written
/// into `scratch`.
pub(crate) fn for_each_text(
    field: &Field,
    ctx: &EvalContext<'_>,
    scratch: &mut String,
    visit: &mut dyn FnMut(&str),
) {
    let mut count = 0;
    field.visit(ctx, &Scope::default(), &mut |value, _| {
        scratch.clear();
        push_text(scratch, value);
        visit(scratch);
        count += 1;
        count >= MAX_FIELD_VALUES
    });
}

/// Writes the group key of an event into `key`: the values of `fields`, joined; an absent
/// field gives "".
pub(crate) fn group_key_into(key: &mut String, fields: &[Field], ctx: &EvalContext<'_>) {
    key.clear();
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
            push_text(key, value);
            false
        });
    }
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
            cluster: "c".to_owned(),
            stage: Some("ResponseComplete".to_owned()),
            verb: Some(verb.to_owned()),
            user: Some("alice".to_owned()),
            resource: Some(resource.to_owned()),
            response_code: Some(200),
            decision: Some(Decision::Allow),
            raw: raw.to_owned(),
            ..Event::default()
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
            let ctx = EvalContext::new(&event, Some(engine.raw_paths()));
            engine.evaluate_in(&ctx, &mut alerts);
            assert!(!ctx.raw_parsed(), "{verb} {resource} parsed raw");
        }
        let event = event("create", "clusterrolebindings", body);
        let ctx = EvalContext::new(&event, Some(engine.raw_paths()));
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
        assert_send_sync::<crate::Detector>();
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
