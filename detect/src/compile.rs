//! The rule-file format (YAML) and its compiler: lists and macros are expanded, field names
//! resolved, regexes, globs and CIDRs built, and a cheap prefilter derived for every rule.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use event::{Severity, Source};
use globset::{Glob, GlobSetBuilder};
use ipnet::IpNet;
use regex::Regex;
use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

use crate::condition::{Comparison, Literal, Node, Op};
use crate::error::DetectError;
use crate::field::{Collection, EventField, Field, known_field_names};

/// A rule's metadata, as listed by `kubetrail rules list` and `GET /rules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    /// MITRE ATT&CK technique ids.
    pub attack: Vec<String>,
    pub description: String,
    /// Which events the rule reads.
    pub source: Source,
    /// Where the rule was defined: a file path or `builtin:<file>`.
    pub origin: String,
    /// The rule as written (YAML, its inline tests left out).
    pub definition: String,
}

/// One rules document as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    lists: BTreeMap<String, Vec<Yaml>>,
    #[serde(default)]
    macros: BTreeMap<String, Yaml>,
    #[serde(default)]
    rules: Vec<Yaml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    title: String,
    severity: Severity,
    #[serde(default)]
    attack: Vec<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    source: Option<Source>,
    #[serde(default)]
    include_denied: bool,
    #[serde(default)]
    stages: Option<Vec<String>>,
    condition: Yaml,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    fields: Option<Vec<String>>,
    #[serde(default)]
    severity_from: Option<SeverityFromSpec>,
    /// Stateful operators (at most one): the condition picks the events they count.
    #[serde(default)]
    threshold: Option<ThresholdSpec>,
    #[serde(default)]
    distinct: Option<DistinctSpec>,
    #[serde(default)]
    new_term: Option<NewTermSpec>,
    #[serde(default)]
    sequence: Option<SequenceSpec>,
    #[serde(default)]
    absence: Option<AbsenceSpec>,
    /// At most one alert per group in this period; repeats are counted into the next alert.
    #[serde(default)]
    suppress: Option<SuppressSpec>,
    /// Inline tests run by `kubetrail rules test`.
    #[serde(default)]
    tests: Vec<crate::rule_tests::TestSpec>,
    /// Audit level the rule needs (default: inferred from the fields it reads).
    #[serde(default)]
    level: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdSpec {
    count: u32,
    within: String,
    #[serde(default)]
    by: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DistinctSpec {
    field: String,
    count: u32,
    within: String,
    #[serde(default)]
    by: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTermSpec {
    fields: Vec<String>,
    history: String,
    /// No alerts until the rule has watched this long (the baseline is learnt first).
    #[serde(default)]
    learn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SequenceSpec {
    within: String,
    /// Key of the first step (the rule's condition).
    by: Vec<String>,
    /// Later steps, in order; each names the fields that must equal the first step's key.
    then: Vec<StepSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    condition: Yaml,
    by: Vec<String>,
    #[serde(default)]
    include_denied: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AbsenceSpec {
    within: String,
    #[serde(default)]
    by: Vec<String>,
    /// The event that must follow the rule's condition within `within`.
    expect: Yaml,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppressSpec {
    #[serde(default)]
    by: Vec<String>,
    #[serde(rename = "for")]
    period: String,
    /// Only alerts whose event also matches this are withheld; every alert (re)starts the
    /// period. Default: every alert.
    #[serde(default)]
    only: Option<Yaml>,
}

/// A stateful operator, compiled. Times are microseconds.
#[derive(Debug, Clone)]
pub(crate) enum Aggregate {
    Threshold {
        count: u32,
        within: i64,
        by: Vec<Field>,
    },
    Distinct {
        field: Field,
        count: u32,
        within: i64,
        by: Vec<Field>,
    },
    NewTerm {
        fields: Vec<Field>,
        history: i64,
        learn: i64,
    },
    Sequence {
        within: i64,
        by: Vec<Field>,
        steps: Vec<Step>,
    },
    Absence {
        within: i64,
        by: Vec<Field>,
        expect: Node,
        /// Cheap checks every expected event passes (from `expect`).
        expect_prefilter: Prefilter,
    },
}

/// A later step of a sequence.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) condition: Node,
    pub(crate) by: Vec<Field>,
    pub(crate) include_denied: bool,
    /// Cheap checks every event matching the step passes (from its condition).
    pub(crate) prefilter: Prefilter,
}

#[derive(Debug, Clone)]
pub(crate) struct Suppress {
    pub(crate) by: Vec<Field>,
    pub(crate) period: i64,
    /// Only alerts of events matching this are withheld (`None`: all).
    pub(crate) only: Option<Node>,
}

/// A rule's window: a positive duration.
fn window(text: &str) -> Result<i64, String> {
    match parse_duration(text)? {
        0 => Err(format!("duration {text:?} must be positive")),
        micros => Ok(micros),
    }
}

/// Parses `30s`, `5m`, `2h`, `14d` (and `500ms`) into microseconds.
pub(crate) fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {text:?} needs a unit (ms, s, m, h, d)"))?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("duration {text:?} does not start with a whole number"))?;
    let unit_micros = match unit {
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return Err(format!("duration {text:?}: unknown unit {unit:?}")),
    };
    number
        .checked_mul(unit_micros)
        .ok_or_else(|| format!("duration {text:?} is too long"))
}

fn parse_fields(names: &[String], what: &str) -> Result<Vec<Field>, String> {
    names
        .iter()
        .map(|name| Field::parse(name).map_err(|message| format!("in {what}: {message}")))
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeverityFromSpec {
    field: String,
    map: BTreeMap<String, Severity>,
}

/// A rule's severity read from an event field (e.g. Falco's priority), case-insensitively.
#[derive(Debug, Clone)]
pub(crate) struct SeverityFrom {
    pub(crate) field: Field,
    pub(crate) map: Vec<(String, Severity)>,
}

/// Cheap checks on plain event fields that every match must pass; derived from the
/// top-level conjuncts of the condition, so they never change a rule's result.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prefilter {
    pub(crate) verbs: Option<Vec<String>>,
    pub(crate) resources: Option<Vec<String>>,
    /// Allowed subresources; `None` inside means "no subresource".
    pub(crate) subresources: Option<Vec<Option<String>>>,
    /// Feature bits (`field::event_features`) the event must have (`Node::requirements`).
    pub(crate) features: u64,
    /// Allowed `actor_kind` and `decision` values.
    pub(crate) actor_kinds: Option<Vec<String>>,
    pub(crate) decisions: Option<Vec<String>>,
}

/// A piece of a summary template.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Text(String),
    Field(Field),
    Actor,
}

/// A compiled rule, ready for the engine.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub(crate) info: RuleInfo,
    /// Audit stages the rule reads; events without a stage (Falco) always pass.
    pub(crate) stages: Vec<String>,
    /// The stages include one logged before the response ends (`ResponseStarted`,
    /// `RequestReceived`) and a final one, so one request can match twice: the detector
    /// keeps the first stage it sees of each request (`auditID`).
    pub(crate) spans_stages: bool,
    pub(crate) include_denied: bool,
    pub(crate) condition: Node,
    pub(crate) prefilter: Prefilter,
    pub(crate) summary: Vec<Piece>,
    pub(crate) fields: Vec<(String, Field)>,
    pub(crate) severity_from: Option<SeverityFrom>,
    pub(crate) aggregate: Option<Aggregate>,
    pub(crate) suppress: Option<Suppress>,
    pub(crate) tests: Vec<crate::rule_tests::TestSpec>,
    pub(crate) level: Option<crate::coverage::AuditLevel>,
}

impl CompiledRule {
    /// Calls `visit` for every field the rule reads: conditions, keys, alert fields, summary.
    pub(crate) fn for_each_field(&self, visit: &mut dyn FnMut(&Field)) {
        self.condition.for_each_field(visit);
        self.for_each_alert_field(visit);
        match &self.aggregate {
            Some(Aggregate::Threshold { by, .. }) => by.iter().for_each(&mut *visit),
            Some(Aggregate::Distinct { field, by, .. }) => {
                visit(field);
                by.iter().for_each(&mut *visit);
            }
            Some(Aggregate::NewTerm { fields, .. }) => fields.iter().for_each(&mut *visit),
            Some(Aggregate::Sequence { by, steps, .. }) => {
                by.iter().for_each(&mut *visit);
                for step in steps {
                    step.condition.for_each_field(visit);
                    step.by.iter().for_each(&mut *visit);
                }
            }
            Some(Aggregate::Absence { by, expect, .. }) => {
                by.iter().for_each(&mut *visit);
                expect.for_each_field(visit);
            }
            None => {}
        }
    }

    /// Calls `visit` for every field an alert of the rule reads once the rule fired: alert
    /// fields, summary, `severity_from` and the suppression key.
    pub(crate) fn for_each_alert_field(&self, visit: &mut dyn FnMut(&Field)) {
        self.fields.iter().for_each(|(_, field)| visit(field));
        for piece in &self.summary {
            if let Piece::Field(field) = piece {
                visit(field);
            }
        }
        if let Some(from) = &self.severity_from {
            visit(&from.field);
        }
        if let Some(suppress) = &self.suppress {
            suppress.by.iter().for_each(&mut *visit);
            if let Some(only) = &suppress.only {
                only.for_each_field(visit);
            }
        }
    }
}

/// A regex no text matches: what `regex` compiles to when its list of patterns is empty.
const NEVER_MATCHES: &str = r"[^\s\S]";

/// Default stages: one alert per request, even for long-running requests logged twice.
const DEFAULT_STAGES: &[&str] = &["ResponseComplete", "Panic"];

/// The stages that end a request: a request is logged at one of them at most once.
pub(crate) fn is_final_stage(stage: &str) -> bool {
    matches!(stage, "ResponseComplete" | "Panic")
}

/// A list or macro body with where it was defined.
#[derive(Debug, Clone)]
struct Definition<T> {
    body: T,
    origin: String,
}

/// Lists and macros visible to the rules of one load.
#[derive(Debug, Default, Clone)]
pub(crate) struct Definitions {
    lists: HashMap<String, Definition<Vec<Yaml>>>,
    macros: HashMap<String, Definition<Yaml>>,
}

/// One parsed document with its rules still as YAML (so errors can name the rule).
#[derive(Debug, Clone)]
pub(crate) struct Document {
    origin: String,
    file: FileSpec,
}

impl Document {
    pub(crate) fn defines_list(&self, name: &str) -> bool {
        self.file.lists.contains_key(name)
    }

    /// Replaces the items of list `name` if this document defines it; true if it did.
    pub(crate) fn override_list(&mut self, name: &str, items: &[String]) -> bool {
        match self.file.lists.get_mut(name) {
            Some(list) => {
                *list = items
                    .iter()
                    .map(|item| Yaml::String(item.clone()))
                    .collect();
                true
            }
            None => false,
        }
    }
}

pub(crate) fn parse_document(text: &str, origin: &str) -> Result<Document, DetectError> {
    let file: FileSpec = if text.trim().is_empty() {
        FileSpec {
            lists: BTreeMap::new(),
            macros: BTreeMap::new(),
            rules: Vec::new(),
        }
    } else {
        serde_yaml_ng::from_str(text).map_err(|error| DetectError::ParseRule {
            origin: origin.to_owned(),
            message: error.to_string(),
        })?
    };
    Ok(Document {
        origin: origin.to_owned(),
        file,
    })
}

/// What compiling a set of documents produced: the rules that compiled and every error.
#[derive(Debug, Default)]
pub(crate) struct CompileOutput {
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) errors: Vec<(Option<String>, DetectError)>,
    /// Local lists and macros no rule used: (kind, name).
    pub(crate) unused: Vec<(&'static str, String)>,
}

/// Compiles documents that share their lists and macros; `library` supplies definitions
/// the documents do not define themselves (the built-in ones, for user rule files).
pub(crate) fn compile_documents(
    documents: &[Document],
    library: Option<&Definitions>,
) -> CompileOutput {
    let mut output = CompileOutput::default();
    let mut definitions = Definitions::default();
    for document in documents {
        for (name, items) in &document.file.lists {
            if let Some(previous) = definitions.lists.get(name) {
                output.errors.push((
                    None,
                    duplicate_definition("list", name, &previous.origin, &document.origin),
                ));
                continue;
            }
            let definition = Definition {
                body: items.clone(),
                origin: document.origin.clone(),
            };
            definitions.lists.insert(name.clone(), definition);
        }
        for (name, body) in &document.file.macros {
            if let Some(previous) = definitions.macros.get(name) {
                output.errors.push((
                    None,
                    duplicate_definition("macro", name, &previous.origin, &document.origin),
                ));
                continue;
            }
            let definition = Definition {
                body: body.clone(),
                origin: document.origin.clone(),
            };
            definitions.macros.insert(name.clone(), definition);
        }
    }
    let mut used_lists = BTreeSet::new();
    let mut used_macros = BTreeSet::new();
    let mut seen_ids: HashMap<String, String> = HashMap::new();
    for document in documents {
        for rule in &document.file.rules {
            let mut compiler = Compiler {
                local: &definitions,
                library,
                macro_stack: Vec::new(),
                list_stack: Vec::new(),
                referenced: Vec::new(),
                used_lists: &mut used_lists,
                used_macros: &mut used_macros,
            };
            match compiler.compile_rule(rule, &document.origin) {
                Ok(compiled) => {
                    if let Some(first) = seen_ids.get(&compiled.info.id) {
                        let error = DetectError::DuplicateRule {
                            rule_id: compiled.info.id.clone(),
                            first: first.clone(),
                            second: document.origin.clone(),
                        };
                        output.errors.push((Some(compiled.info.id.clone()), error));
                        continue;
                    }
                    seen_ids.insert(compiled.info.id.clone(), document.origin.clone());
                    output.rules.push(compiled);
                }
                Err((rule_id, error)) => output.errors.push((rule_id, error)),
            }
        }
    }
    // Macros nobody uses are still checked, so a typo in one is found before it is needed.
    let mut macro_names: Vec<&String> = definitions.macros.keys().collect();
    macro_names.sort();
    for name in macro_names {
        let definition = &definitions.macros[name];
        let mut scratch_lists = BTreeSet::new();
        let mut scratch_macros = BTreeSet::new();
        let mut compiler = Compiler {
            local: &definitions,
            library,
            macro_stack: vec![name.clone()],
            list_stack: Vec::new(),
            referenced: Vec::new(),
            used_lists: &mut scratch_lists,
            used_macros: &mut scratch_macros,
        };
        let checked = compiler.condition(&definition.body);
        if !used_macros.contains(name) {
            used_lists.extend(scratch_lists);
            output.unused.push(("macro", name.clone()));
        }
        if let Err(message) = checked {
            let error = DetectError::CompileDefinition {
                kind: "macro",
                name: name.clone(),
                origin: definition.origin.clone(),
                message,
            };
            output.errors.push((None, error));
        }
    }
    let mut list_names: Vec<&String> = definitions.lists.keys().collect();
    list_names.sort();
    for name in list_names {
        let mut scratch_lists = BTreeSet::new();
        let mut scratch_macros = BTreeSet::new();
        let mut compiler = Compiler {
            local: &definitions,
            library,
            macro_stack: Vec::new(),
            list_stack: Vec::new(),
            referenced: Vec::new(),
            used_lists: &mut scratch_lists,
            used_macros: &mut scratch_macros,
        };
        if let Err(message) = compiler.list(name) {
            let error = DetectError::CompileDefinition {
                kind: "list",
                name: name.clone(),
                origin: definitions.lists[name].origin.clone(),
                message,
            };
            output.errors.push((None, error));
        }
        if !used_lists.contains(name) {
            output.unused.push(("list", name.clone()));
        }
    }
    output
}

/// The lists and macros of some documents, to serve as a library for other documents.
pub(crate) fn definitions_of(documents: &[Document]) -> Definitions {
    let mut definitions = Definitions::default();
    for document in documents {
        for (name, items) in &document.file.lists {
            let definition = Definition {
                body: items.clone(),
                origin: document.origin.clone(),
            };
            definitions.lists.entry(name.clone()).or_insert(definition);
        }
        for (name, body) in &document.file.macros {
            let definition = Definition {
                body: body.clone(),
                origin: document.origin.clone(),
            };
            definitions.macros.entry(name.clone()).or_insert(definition);
        }
    }
    definitions
}

/// Every list the documents define, with `$name` items replaced by that list's items; the
/// first definition of a name wins. Items that are not scalars, and lists that contain
/// themselves, are left out (the compiler reports them).
pub(crate) fn expanded_lists(documents: &[Document]) -> BTreeMap<String, Vec<String>> {
    let definitions = definitions_of(documents);
    fn expand(
        definitions: &Definitions,
        name: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) {
        if stack.iter().any(|open| open == name) {
            return;
        }
        let Some(definition) = definitions.lists.get(name) else {
            return;
        };
        stack.push(name.to_owned());
        for item in &definition.body {
            match item {
                Yaml::String(text) if text.starts_with('$') && !text.starts_with("$$") => {
                    expand(definitions, &text[1..], stack, out);
                }
                _ => {
                    if let Ok(literal) = scalar_literal(item)
                        && !literal.null
                    {
                        out.push(literal.text);
                    }
                }
            }
        }
        stack.pop();
    }
    definitions
        .lists
        .keys()
        .map(|name| {
            let mut items = Vec::new();
            expand(&definitions, name, &mut Vec::new(), &mut items);
            (name.clone(), items)
        })
        .collect()
}

fn duplicate_definition(kind: &'static str, name: &str, first: &str, second: &str) -> DetectError {
    DetectError::CompileDefinition {
        kind,
        name: name.to_owned(),
        origin: second.to_owned(),
        message: format!("already defined in {first}"),
    }
}

struct Compiler<'a> {
    local: &'a Definitions,
    library: Option<&'a Definitions>,
    macro_stack: Vec<String>,
    list_stack: Vec<String>,
    /// Field names the condition tests, in order of first use.
    referenced: Vec<(String, Field)>,
    used_lists: &'a mut BTreeSet<String>,
    used_macros: &'a mut BTreeSet<String>,
}

fn valid_rule_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
}

impl Compiler<'_> {
    fn compile_rule(
        &mut self,
        rule: &Yaml,
        origin: &str,
    ) -> Result<CompiledRule, (Option<String>, DetectError)> {
        let id_hint = rule.get("id").and_then(Yaml::as_str).map(str::to_owned);
        let definition = {
            let mut shown = rule.clone();
            if let Some(mapping) = shown.as_mapping_mut() {
                mapping.remove("tests");
            }
            serde_yaml_ng::to_string(&shown).unwrap_or_default()
        };
        let spec: RuleSpec = serde_yaml_ng::from_value(rule.clone()).map_err(|error| {
            let rule_id = id_hint.clone().unwrap_or_else(|| "<no id>".to_owned());
            let message = error.to_string();
            (
                id_hint.clone(),
                DetectError::CompileRule {
                    rule_id,
                    origin: origin.to_owned(),
                    message,
                },
            )
        })?;
        let fail = |message: String| {
            let error = DetectError::CompileRule {
                rule_id: spec.id.clone(),
                origin: origin.to_owned(),
                message,
            };
            (Some(spec.id.clone()), error)
        };
        if !valid_rule_id(&spec.id) {
            return Err(fail(
                "rule ids use lowercase letters, digits, `_`, `.` and `-`".to_owned(),
            ));
        }
        if spec.title.trim().is_empty() {
            return Err(fail("title is empty".to_owned()));
        }
        let condition = self.condition(&spec.condition).map_err(fail)?;
        let source = spec.source.unwrap_or(Source::K8sAudit);
        let prefilter = prefilter_of(&condition);
        let mut condition = condition.with_raw_prefilter();
        condition.optimise();
        let stages = match spec.stages {
            Some(stages) if stages.is_empty() => return Err(fail("stages is empty".to_owned())),
            Some(stages) => stages,
            None => DEFAULT_STAGES
                .iter()
                .map(|stage| (*stage).to_owned())
                .collect(),
        };
        let spans_stages = stages.iter().any(|stage| !is_final_stage(stage))
            && stages.iter().any(|stage| is_final_stage(stage));
        let fields = match spec.fields {
            Some(names) => names
                .into_iter()
                .map(|name| Field::parse(&name).map(|field| (name, field)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|message| fail(format!("in fields: {message}")))?,
            None => std::mem::take(&mut self.referenced),
        };
        let summary = match &spec.summary {
            Some(template) => parse_template(template)
                .map_err(|message| fail(format!("in summary: {message}")))?,
            None => default_summary(&spec.title, source),
        };
        let severity_from = match spec.severity_from {
            Some(from) => {
                let field = Field::parse(&from.field)
                    .map_err(|message| fail(format!("in severity_from: {message}")))?;
                let map = from
                    .map
                    .into_iter()
                    .map(|(key, severity)| (key.to_ascii_lowercase(), severity))
                    .collect();
                Some(SeverityFrom { field, map })
            }
            None => None,
        };
        let operators = [
            spec.threshold.is_some(),
            spec.distinct.is_some(),
            spec.new_term.is_some(),
            spec.sequence.is_some(),
            spec.absence.is_some(),
        ];
        if operators.iter().filter(|set| **set).count() > 1 {
            return Err(fail(
                "a rule has at most one of threshold, distinct, new_term, sequence, absence"
                    .to_owned(),
            ));
        }
        let aggregate = if let Some(threshold) = spec.threshold {
            if threshold.count == 0 {
                return Err(fail("threshold.count must be positive".to_owned()));
            }
            Some(Aggregate::Threshold {
                count: threshold.count,
                within: window(&threshold.within).map_err(fail)?,
                by: parse_fields(&threshold.by, "threshold.by").map_err(fail)?,
            })
        } else if let Some(distinct) = spec.distinct {
            if distinct.count == 0 {
                return Err(fail("distinct.count must be positive".to_owned()));
            }
            Some(Aggregate::Distinct {
                field: Field::parse(&distinct.field)
                    .map_err(|message| fail(format!("in distinct.field: {message}")))?,
                count: distinct.count,
                within: window(&distinct.within).map_err(fail)?,
                by: parse_fields(&distinct.by, "distinct.by").map_err(fail)?,
            })
        } else if let Some(new_term) = spec.new_term {
            if new_term.fields.is_empty() {
                return Err(fail("new_term.fields is empty".to_owned()));
            }
            Some(Aggregate::NewTerm {
                fields: parse_fields(&new_term.fields, "new_term.fields").map_err(fail)?,
                history: window(&new_term.history).map_err(fail)?,
                learn: match &new_term.learn {
                    Some(learn) => parse_duration(learn).map_err(fail)?,
                    None => 0,
                },
            })
        } else if let Some(sequence) = spec.sequence {
            if sequence.then.is_empty() {
                return Err(fail("sequence.then is empty".to_owned()));
            }
            let by = parse_fields(&sequence.by, "sequence.by").map_err(fail)?;
            let mut steps = Vec::with_capacity(sequence.then.len());
            for (index, step) in sequence.then.iter().enumerate() {
                let condition = self.condition(&step.condition).map_err(|message| {
                    fail(format!("in sequence step {}: {message}", index + 2))
                })?;
                let prefilter = prefilter_of(&condition);
                let mut condition = condition.with_raw_prefilter();
                condition.optimise();
                let step_by = parse_fields(&step.by, "sequence.then.by").map_err(fail)?;
                if step_by.len() != by.len() {
                    return Err(fail(format!(
                        "sequence step {} has {} key fields; the first step has {}",
                        index + 2,
                        step_by.len(),
                        by.len()
                    )));
                }
                steps.push(Step {
                    prefilter,
                    condition,
                    by: step_by,
                    include_denied: step.include_denied,
                });
            }
            Some(Aggregate::Sequence {
                within: window(&sequence.within).map_err(fail)?,
                by,
                steps,
            })
        } else if let Some(absence) = spec.absence {
            let expect = self
                .condition(&absence.expect)
                .map_err(|message| fail(format!("in absence.expect: {message}")))?;
            let expect_prefilter = prefilter_of(&expect);
            let mut expect = expect.with_raw_prefilter();
            expect.optimise();
            Some(Aggregate::Absence {
                within: window(&absence.within).map_err(fail)?,
                by: parse_fields(&absence.by, "absence.by").map_err(fail)?,
                expect_prefilter,
                expect,
            })
        } else {
            None
        };
        let suppress = match spec.suppress {
            Some(suppress) => Some(Suppress {
                by: parse_fields(&suppress.by, "suppress.by").map_err(fail)?,
                period: window(&suppress.period).map_err(fail)?,
                only: match &suppress.only {
                    Some(only) => {
                        let only = self
                            .condition(only)
                            .map_err(|message| fail(format!("in suppress.only: {message}")))?;
                        let mut only = only.with_raw_prefilter();
                        only.optimise();
                        Some(only)
                    }
                    None => None,
                },
            }),
            None => None,
        };
        let level = match &spec.level {
            Some(text) => Some(crate::coverage::AuditLevel::parse(text).ok_or_else(|| {
                fail(format!(
                    "level {text:?} is not one of Metadata, Request, RequestResponse"
                ))
            })?),
            None => None,
        };
        let info = RuleInfo {
            id: spec.id,
            title: spec.title,
            severity: spec.severity,
            attack: spec.attack,
            description: spec.description.trim().to_owned(),
            source,
            origin: origin.to_owned(),
            definition,
        };
        Ok(CompiledRule {
            info,
            stages,
            spans_stages,
            include_denied: spec.include_denied,
            condition,
            prefilter,
            summary,
            fields,
            severity_from,
            aggregate,
            suppress,
            tests: spec.tests,
            level,
        })
    }

    fn lookup_macro(&self, name: &str) -> Option<&Yaml> {
        self.local
            .macros
            .get(name)
            .or_else(|| self.library.and_then(|library| library.macros.get(name)))
            .map(|definition| &definition.body)
    }

    fn lookup_list(&self, name: &str) -> Option<&Vec<Yaml>> {
        self.local
            .lists
            .get(name)
            .or_else(|| self.library.and_then(|library| library.lists.get(name)))
            .map(|definition| &definition.body)
    }

    fn condition(&mut self, node: &Yaml) -> Result<Node, String> {
        match node {
            Yaml::String(name) => self.macro_reference(name),
            Yaml::Mapping(map) => {
                let key_of = |key: &str| map.get(key);
                if let Some(children) = key_of("all") {
                    self.only_keys(map, &["all"])?;
                    Ok(Node::All(self.children("all", children)?))
                } else if let Some(children) = key_of("any") {
                    self.only_keys(map, &["any"])?;
                    Ok(Node::Any(self.children("any", children)?))
                } else if let Some(child) = key_of("not") {
                    self.only_keys(map, &["not"])?;
                    Ok(Node::Not(Box::new(self.condition(child)?)))
                } else if let Some(collection) = key_of("for_any") {
                    self.only_keys(map, &["for_any", "where"])?;
                    let name = collection
                        .as_str()
                        .ok_or("`for_any` takes a collection name")?;
                    let collection = Collection::parse(name).ok_or_else(|| {
                        format!(
                            "`for_any: {name}` is not a collection (pod_specs, pod_specs.containers, pod_specs.volumes, images)"
                        )
                    })?;
                    let body = key_of("where").ok_or("`for_any` needs a `where` condition")?;
                    Ok(Node::ForAny(collection, Box::new(self.condition(body)?)))
                } else if let Some(field) = key_of("field") {
                    self.test(map, field)
                } else {
                    Err(format!(
                        "a condition is `all`, `any`, `not`, `for_any`, a `field` test or a macro name; found {}",
                        describe(node)
                    ))
                }
            }
            other => Err(format!(
                "a condition is a mapping or a macro name; found {}",
                describe(other)
            )),
        }
    }

    fn only_keys(&self, map: &serde_yaml_ng::Mapping, allowed: &[&str]) -> Result<(), String> {
        for key in map.keys() {
            let key = key.as_str().unwrap_or("<non-string key>");
            if !allowed.contains(&key) {
                return Err(format!("unexpected key `{key}` beside `{}`", allowed[0]));
            }
        }
        Ok(())
    }

    fn children(&mut self, key: &str, children: &Yaml) -> Result<Vec<Node>, String> {
        let items = children
            .as_sequence()
            .ok_or_else(|| format!("`{key}` takes a list of conditions"))?;
        if items.is_empty() {
            return Err(format!("`{key}` has no conditions"));
        }
        items.iter().map(|child| self.condition(child)).collect()
    }

    fn macro_reference(&mut self, name: &str) -> Result<Node, String> {
        if self.macro_stack.iter().any(|open| open == name) {
            return Err(format!(
                "macro `{name}` refers to itself ({} -> {name})",
                self.macro_stack.join(" -> ")
            ));
        }
        let body = self
            .lookup_macro(name)
            .cloned()
            .ok_or_else(|| format!("unknown macro `{name}`"))?;
        self.used_macros.insert(name.to_owned());
        self.macro_stack.push(name.to_owned());
        let compiled = self
            .condition(&body)
            .map_err(|message| format!("in macro `{name}`: {message}"));
        self.macro_stack.pop();
        compiled
    }

    fn test(&mut self, map: &serde_yaml_ng::Mapping, field: &Yaml) -> Result<Node, String> {
        let name = field.as_str().ok_or("`field` takes a field name")?;
        let field = Field::parse(name).map_err(|message| {
            if message.starts_with("unknown field") {
                format!(
                    "{message}; known fields: {}",
                    known_field_names().join(", ")
                )
            } else {
                message
            }
        })?;
        let mut ops = map.iter().filter(|(key, _)| key.as_str() != Some("field"));
        let (op_name, operand) = match (ops.next(), ops.next()) {
            (Some((key, value)), None) => (key.as_str().unwrap_or("<non-string key>"), value),
            (None, _) => return Err(format!("test on `{name}` has no operator")),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "test on `{name}` has several operators; combine tests with `all`/`any`"
                ));
            }
        };
        let op = self.op(name, op_name, operand)?;
        if !self.referenced.iter().any(|(known, _)| known == name) {
            self.referenced.push((name.to_owned(), field.clone()));
        }
        if let (Op::EqualsField(other), Some(other_name)) = (&op, operand.as_str())
            && !self.referenced.iter().any(|(known, _)| known == other_name)
        {
            self.referenced.push((other_name.to_owned(), other.clone()));
        }
        Ok(Node::Test(field, op))
    }

    fn op(&mut self, field: &str, op_name: &str, operand: &Yaml) -> Result<Op, String> {
        let op = match op_name {
            "equals" => Op::Equals(self.literals(operand, false)?),
            "in" => Op::Equals(self.literals(operand, true)?),
            "contains" => Op::Contains(self.literals(operand, false)?),
            "starts_with" => Op::StartsWith(self.strings(operand)?),
            "ends_with" => Op::EndsWith(self.strings(operand)?),
            "regex" => {
                let patterns = self.strings(operand)?;
                // No pattern (an empty `$list`) matches nothing; the empty alternation below
                // would match everything.
                if patterns.is_empty() {
                    return Ok(Op::Regex(Regex::new(NEVER_MATCHES).expect("a valid regex")));
                }
                let joined = patterns
                    .iter()
                    .map(|pattern| format!("(?:{pattern})"))
                    .collect::<Vec<_>>()
                    .join("|");
                let regex = Regex::new(&joined)
                    .map_err(|error| format!("bad regex for `{field}`: {error}"))?;
                Op::Regex(regex)
            }
            "glob" => {
                let mut builder = GlobSetBuilder::new();
                for pattern in self.strings(operand)? {
                    let glob = Glob::new(&pattern)
                        .map_err(|error| format!("bad glob for `{field}`: {error}"))?;
                    builder.add(glob);
                }
                Op::Glob(
                    builder
                        .build()
                        .map_err(|error| format!("bad glob for `{field}`: {error}"))?,
                )
            }
            "cidr" => {
                let nets = self
                    .strings(operand)?
                    .iter()
                    .map(|text| {
                        text.parse::<IpNet>()
                            .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                            .map_err(|_| format!("bad CIDR `{text}` for `{field}`"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Op::Cidr(nets)
            }
            "exists" => Op::Exists(
                operand
                    .as_bool()
                    .ok_or_else(|| format!("`exists` on `{field}` takes true or false"))?,
            ),
            "equals_field" => {
                let other = operand
                    .as_str()
                    .ok_or_else(|| format!("`equals_field` on `{field}` takes a field name"))?;
                if other.starts_with('$') {
                    return Err(format!(
                        "`equals_field` on `{field}` takes a field name, not a list"
                    ));
                }
                Op::EqualsField(
                    Field::parse(other)
                        .map_err(|message| format!("in `equals_field` on `{field}`: {message}"))?,
                )
            }
            "gt" | "gte" | "lt" | "lte" => {
                let number = operand
                    .as_f64()
                    .ok_or_else(|| format!("`{op_name}` on `{field}` takes a number"))?;
                let comparison = match op_name {
                    "gt" => Comparison::Gt,
                    "gte" => Comparison::Gte,
                    "lt" => Comparison::Lt,
                    _ => Comparison::Lte,
                };
                Op::Compare(comparison, number)
            }
            other => {
                return Err(format!(
                    "unknown operator `{other}` on `{field}` (equals, in, contains, starts_with, ends_with, regex, glob, cidr, exists, gt, gte, lt, lte, equals_field)"
                ));
            }
        };
        Ok(op)
    }

    /// Operands: a scalar, a list of scalars, or `$name` for a named list.
    fn literals(&mut self, operand: &Yaml, must_be_list: bool) -> Result<Vec<Literal>, String> {
        match operand {
            Yaml::String(text) if text.starts_with('$') && !text.starts_with("$$") => {
                self.list(&text[1..])
            }
            Yaml::Sequence(items) => {
                // `[]` written in the rule is a mistake; `[$a, $b]` whose lists are empty (the
                // configuration emptied them) is not: it matches nothing.
                if items.is_empty() {
                    return Err("empty list of values".to_owned());
                }
                let mut literals = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Yaml::String(text) if text.starts_with('$') && !text.starts_with("$$") => {
                            literals.extend(self.list(&text[1..])?);
                        }
                        _ => literals.push(scalar_literal(item)?),
                    }
                }
                Ok(literals)
            }
            _ if must_be_list => Err(format!(
                "`in` takes a list or a `$list` name; found {}",
                describe(operand)
            )),
            _ => Ok(vec![scalar_literal(operand)?]),
        }
    }

    fn strings(&mut self, operand: &Yaml) -> Result<Vec<String>, String> {
        let literals = self.literals(operand, false)?;
        literals
            .into_iter()
            .map(|literal| {
                if literal.null {
                    Err("null is not a string".to_owned())
                } else {
                    Ok(literal.text)
                }
            })
            .collect()
    }

    /// Expands a named list; its items may name other lists with `$name`.
    pub(crate) fn list(&mut self, name: &str) -> Result<Vec<Literal>, String> {
        if self.list_stack.iter().any(|open| open == name) {
            return Err(format!("list `{name}` contains itself"));
        }
        let items = self
            .lookup_list(name)
            .cloned()
            .ok_or_else(|| format!("unknown list `{name}`"))?;
        self.used_lists.insert(name.to_owned());
        self.list_stack.push(name.to_owned());
        let mut literals = Vec::with_capacity(items.len());
        let mut result = Ok(());
        for item in &items {
            match item {
                Yaml::String(text) if text.starts_with('$') && !text.starts_with("$$") => {
                    match self.list(&text[1..]) {
                        Ok(nested) => literals.extend(nested),
                        Err(message) => {
                            result = Err(message);
                            break;
                        }
                    }
                }
                _ => match scalar_literal(item) {
                    Ok(literal) => literals.push(literal),
                    Err(message) => {
                        result = Err(format!("in list `{name}`: {message}"));
                        break;
                    }
                },
            }
        }
        self.list_stack.pop();
        result.map(|()| literals)
    }
}

fn scalar_literal(value: &Yaml) -> Result<Literal, String> {
    match value {
        Yaml::String(text) => {
            let text = text
                .strip_prefix('$')
                .filter(|rest| rest.starts_with('$'))
                .unwrap_or(text);
            Ok(Literal::from_text(text.to_owned()))
        }
        Yaml::Number(number) => Ok(Literal::from_text(number.to_string())),
        Yaml::Bool(b) => Ok(Literal::from_text(b.to_string())),
        Yaml::Null => Ok(Literal::null()),
        other => Err(format!(
            "expected a scalar value; found {}",
            describe(other)
        )),
    }
}

fn describe(value: &Yaml) -> String {
    match value {
        Yaml::Null => "null".to_owned(),
        Yaml::Bool(b) => format!("`{b}`"),
        Yaml::Number(n) => format!("`{n}`"),
        Yaml::String(s) => format!("`{s}`"),
        Yaml::Sequence(_) => "a list".to_owned(),
        Yaml::Mapping(map) => {
            let keys: Vec<&str> = map.keys().filter_map(Yaml::as_str).collect();
            format!("a mapping with keys {}", keys.join(", "))
        }
        Yaml::Tagged(tagged) => format!("a value tagged {}", tagged.tag),
    }
}

/// Collects requirements on verb, resource and subresource from top-level conjuncts
/// (nested `all`s, e.g. from macros, count as top level).
fn prefilter_of(condition: &Node) -> Prefilter {
    fn conjuncts<'n>(node: &'n Node, out: &mut Vec<&'n Node>) {
        match node {
            Node::All(children) => children.iter().for_each(|child| conjuncts(child, out)),
            other => out.push(other),
        }
    }
    let mut prefilter = Prefilter {
        features: condition.requirements(),
        ..Prefilter::default()
    };
    let mut all = Vec::new();
    conjuncts(condition, &mut all);
    for conjunct in all {
        let Node::Test(Field::Event(field), op) = conjunct else {
            continue;
        };
        let texts = match op {
            Op::Equals(literals) if literals.iter().all(|literal| !literal.null) => Some(
                literals
                    .iter()
                    .map(|literal| literal.text.clone())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        };
        match (field, texts, op) {
            (EventField::Verb, Some(texts), _) if prefilter.verbs.is_none() => {
                prefilter.verbs = Some(texts)
            }
            (EventField::Resource, Some(texts), _) if prefilter.resources.is_none() => {
                prefilter.resources = Some(texts);
            }
            (EventField::Subresource, Some(texts), _) if prefilter.subresources.is_none() => {
                prefilter.subresources = Some(texts.into_iter().map(Some).collect());
            }
            (EventField::Subresource, None, Op::Exists(false))
                if prefilter.subresources.is_none() =>
            {
                prefilter.subresources = Some(vec![None]);
            }
            (EventField::ActorKind, Some(texts), _) if prefilter.actor_kinds.is_none() => {
                prefilter.actor_kinds = Some(texts);
            }
            (EventField::Decision, Some(texts), _) if prefilter.decisions.is_none() => {
                prefilter.decisions = Some(texts);
            }
            _ => {}
        }
    }
    prefilter
}

/// Parses `"{user} exec into {namespace}/{name}"`; `{{` and `}}` are literal braces.
pub(crate) fn parse_template(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(other) => name.push(other),
                        None => return Err(format!("unclosed `{{{name}` in template")),
                    }
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                let name = name.trim();
                if name == "actor" {
                    pieces.push(Piece::Actor);
                } else {
                    pieces.push(Piece::Field(Field::parse(name)?));
                }
            }
            '}' => return Err("unmatched `}` in template (write `}}` for a brace)".to_owned()),
            other => text.push(other),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn default_summary(title: &str, source: Source) -> Vec<Piece> {
    match source {
        Source::K8sAudit => vec![
            Piece::Text(format!("{title}: ")),
            Piece::Actor,
            Piece::Text(" ".to_owned()),
            Piece::Field(Field::Event(EventField::Verb)),
            Piece::Text(" ".to_owned()),
            Piece::Field(Field::Event(EventField::Resource)),
            Piece::Text(" ".to_owned()),
            Piece::Field(Field::Event(EventField::Namespace)),
            Piece::Text("/".to_owned()),
            Piece::Field(Field::Event(EventField::Name)),
        ],
        Source::Falco => vec![
            Piece::Text(format!("{title}: ")),
            Piece::Field(Field::Event(EventField::FalcoRule)),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_fields_actor_and_escaped_braces() {
        let pieces = parse_template("{actor} ran {exec_command} {{x}}").unwrap();
        assert!(matches!(pieces[0], Piece::Actor));
        assert!(matches!(
            pieces[2],
            Piece::Field(Field::Event(EventField::ExecCommand))
        ));
        assert!(matches!(&pieces[3], Piece::Text(text) if text == " {x}"));
        assert!(
            parse_template("{nope}")
                .unwrap_err()
                .contains("unknown field `nope`")
        );
        assert!(parse_template("{user").is_err());
        assert!(parse_template("a } b").is_err());
    }

    #[test]
    fn prefilter_comes_from_top_level_conjuncts_only() {
        let document = parse_document(
            r#"
rules:
  - id: t.one
    title: t
    severity: low
    condition:
      all:
        - {field: verb, in: [create, update]}
        - {field: resource, equals: pods}
        - {field: subresource, exists: false}
        - any:
            - {field: namespace, equals: a}
"#,
            "test",
        )
        .unwrap();
        let output = compile_documents(&[document], None);
        assert!(output.errors.is_empty(), "{:?}", output.errors);
        let prefilter = &output.rules[0].prefilter;
        assert_eq!(
            prefilter.verbs.as_deref(),
            Some(&["create".to_owned(), "update".to_owned()][..])
        );
        assert_eq!(
            prefilter.resources.as_deref(),
            Some(&["pods".to_owned()][..])
        );
        assert_eq!(prefilter.subresources.as_deref(), Some(&[None][..]));
    }
}
