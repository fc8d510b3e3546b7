//! `kubetrail rules coverage`: which rules can fire on the events a cluster actually sends.
//! A rule that reads request or response bodies cannot fire on events logged at `Metadata`
//! level; a Falco rule cannot fire without Falco events. Observing real traffic tells which
//! rules are blind, before an incident does.

use std::collections::BTreeMap;

use event::{Event, Source};
use serde::Serialize;

use crate::Engine;
use crate::compile::{Aggregate, CompiledRule};
use crate::condition::Node;
use crate::field::{Collection, Field};

/// Audit levels, lowest first (shared with the audit policy of `event`).
pub use event::AuditLevel;

/// The level a rule needs, from the fields its conditions read: request bodies and pod specs
/// need `Request`, response bodies `RequestResponse`, the rest `Metadata`.
pub(crate) fn needed_level(rule: &CompiledRule) -> AuditLevel {
    let mut level = level_of(&rule.condition);
    match &rule.aggregate {
        Some(Aggregate::Sequence { steps, .. }) => {
            for step in steps {
                level = level.max(level_of(&step.condition));
            }
        }
        Some(Aggregate::Absence { expect, .. }) => level = level.max(level_of(expect)),
        _ => {}
    }
    level
}

fn level_of(node: &Node) -> AuditLevel {
    match node {
        Node::All(children) | Node::Any(children) => children
            .iter()
            .map(level_of)
            .max()
            .unwrap_or(AuditLevel::Metadata),
        Node::Not(child) => level_of(child),
        Node::ForAny(collection, child) => {
            let own = match collection {
                Collection::PodSpecs
                | Collection::Containers
                | Collection::Volumes
                | Collection::Images => AuditLevel::Request,
            };
            own.max(level_of(child))
        }
        Node::Test(field, crate::condition::Op::EqualsField(other)) => {
            field_level(field).max(field_level(other))
        }
        Node::Test(field, _) => field_level(field),
        Node::RawHas(_) => AuditLevel::Metadata,
    }
}

fn field_level(field: &Field) -> AuditLevel {
    match field {
        Field::Raw(path) => match path.first().map(String::as_str) {
            Some("requestObject") => AuditLevel::Request,
            Some("responseObject") => AuditLevel::RequestResponse,
            _ => AuditLevel::Metadata,
        },
        Field::PodSpec(_) | Field::Container(_) | Field::Volume(_) | Field::Image(_) => {
            AuditLevel::Request
        }
        Field::Event(_) => AuditLevel::Metadata,
        Field::Change(_) => AuditLevel::Request,
    }
}

/// Observed traffic, per rule.
#[derive(Debug, Clone)]
pub struct Coverage {
    audit_events: u64,
    falco_events: u64,
    /// Per rule (engine order): events that pass its cheap gates, by audit level; and alerts.
    rules: Vec<(BTreeMap<AuditLevel, u64>, u64)>,
}

/// One rule's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageLine {
    pub rule_id: String,
    pub needs: AuditLevel,
    /// Events of the rule's resources and verbs (its candidates).
    pub candidates: u64,
    /// Candidates logged at the level the rule needs, or above.
    pub at_level: u64,
    /// Alerts the rule gave.
    pub alerts: u64,
    /// `ok`, `partial`, `blind` (events too low a level), `no_events`, `no_source`.
    pub status: &'static str,
    pub message: String,
}

impl Coverage {
    pub fn new(engine: &Engine) -> Coverage {
        Coverage {
            audit_events: 0,
            falco_events: 0,
            rules: vec![(BTreeMap::new(), 0); engine.len()],
        }
    }

    /// Counts one event for every rule whose gates it passes.
    pub fn observe(&mut self, engine: &Engine, event: &Event) {
        let level = match event.source {
            Source::Falco => {
                self.falco_events += 1;
                AuditLevel::RequestResponse
            }
            Source::K8sAudit => {
                self.audit_events += 1;
                event
                    .level
                    .as_deref()
                    .and_then(AuditLevel::parse)
                    .unwrap_or(AuditLevel::Metadata)
            }
        };
        for (index, (levels, _)) in self.rules.iter_mut().enumerate() {
            let rule = engine.rule(u32::try_from(index).unwrap_or(u32::MAX));
            if rule.info.source == event.source && engine.is_candidate(rule, event) {
                *levels.entry(level).or_default() += 1;
            }
        }
    }

    /// Counts an alert (to show which rules fired).
    pub fn observe_alert(&mut self, engine: &Engine, rule_id: &str) {
        self.observe_alerts(engine, rule_id, 1);
    }

    /// Counts `count` alerts of one rule.
    pub fn observe_alerts(&mut self, engine: &Engine, rule_id: &str, count: u64) {
        if let Some(index) = engine.rule_index(rule_id) {
            self.rules[index as usize].1 += count;
        }
    }

    pub fn report(&self, engine: &Engine) -> Vec<CoverageLine> {
        let mut lines = Vec::with_capacity(self.rules.len());
        for (index, (levels, alerts)) in self.rules.iter().enumerate() {
            let rule = engine.rule(u32::try_from(index).unwrap_or(u32::MAX));
            let needs = match rule.info.source {
                Source::Falco => AuditLevel::Metadata,
                Source::K8sAudit => rule.level.unwrap_or_else(|| needed_level(rule)),
            };
            let candidates: u64 = levels.values().sum();
            let at_level: u64 = levels
                .iter()
                .filter(|(level, _)| **level >= needs)
                .map(|(_, count)| count)
                .sum();
            let highest = levels.keys().next_back().copied();
            let (status, message) = if rule.info.source == Source::Falco && self.falco_events == 0 {
                (
                    "no_source",
                    "no Falco events: add a Falco source".to_owned(),
                )
            } else if rule.info.source == Source::K8sAudit && self.audit_events == 0 {
                ("no_source", "no audit events".to_owned())
            } else if candidates == 0 {
                (
                    "no_events",
                    "no events of the rule's resources and verbs were seen".to_owned(),
                )
            } else if at_level == 0 {
                (
                    "blind",
                    format!(
                        "needs level {} but its events arrive at {}: raise the audit policy level for them",
                        needs.as_str(),
                        highest.map_or("?", AuditLevel::as_str)
                    ),
                )
            } else if at_level < candidates {
                (
                    "partial",
                    format!(
                        "{} of {candidates} candidate events are below level {}",
                        candidates - at_level,
                        needs.as_str()
                    ),
                )
            } else {
                ("ok", format!("{alerts} alert(s)"))
            };
            lines.push(CoverageLine {
                rule_id: rule.info.id.clone(),
                needs,
                candidates,
                at_level,
                alerts: *alerts,
                status,
                message,
            });
        }
        lines
    }
}
