//! The stateful side of detection: windows, new terms, sequences, absences and suppression,
//! kept per rule and group key. Time is event time (never the wall clock), so a file gives the
//! same alerts through `detect` as through `serve`. State is bounded (oldest groups evicted and
//! counted) and serialisable, so it is snapshotted with the source checkpoints.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use event::{Alert, Event};
use serde::{Deserialize, Serialize};

use crate::Engine;
use crate::compile::{Aggregate, CompiledRule};
use crate::engine::{Hit, build_alert, group_key};
use crate::field::EvalContext;

/// Most event ids one stateful alert lists.
const MAX_ALERT_EVENTS: usize = 50;
/// How long after `kubectl exec`/`attach` into a pod a Falco alert in that pod is attributed
/// to the person who opened the session (microseconds).
const EXEC_ATTRIBUTION_WINDOW: i64 = 30 * 60 * 1_000_000;
/// Clock skew tolerated between the API server and the node running Falco (microseconds).
const EXEC_ATTRIBUTION_SKEW: i64 = 60 * 1_000_000;

/// Bounds of the detection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateLimits {
    /// Groups (keys) kept per rule; beyond it the least recently seen are evicted.
    pub max_keys_per_rule: usize,
    /// Events older than the newest event seen minus this are too late for stateful rules
    /// (stateless rules still see them). Microseconds.
    pub lateness_micros: i64,
}

impl Default for StateLimits {
    fn default() -> Self {
        StateLimits {
            max_keys_per_rule: 100_000,
            lateness_micros: 60_000_000,
        }
    }
}

/// Counters of the state, for metrics and `rules coverage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateStats {
    /// Groups held across all rules.
    pub keys: u64,
    /// Groups evicted because a rule reached `max_keys_per_rule`.
    pub evicted: u64,
    /// Events too late for stateful rules.
    pub late: u64,
    /// Alerts withheld by a rule's `suppress` period.
    pub suppressed: u64,
}

/// A rule engine with memory: stateless rules alert as in `Engine`; stateful rules update
/// their state and alert when it says so.
#[derive(Debug)]
pub struct Detector {
    engine: Arc<Engine>,
    limits: StateLimits,
    state: State,
}

/// Everything the detector remembers; what a snapshot holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// Newest event time seen (microseconds).
    watermark: i64,
    rules: BTreeMap<String, RuleState>,
    /// Open interactive sessions by pod (`cluster␟namespace␟pod`): who ran exec/attach.
    #[serde(default)]
    exec_sessions: HashMap<String, ExecSession>,
    /// Last pod spec per object (`cluster␟resource␟namespace␟name`), for `changes.*`.
    #[serde(default)]
    objects: HashMap<String, crate::objects::SpecSummary>,
    stats: StateStats,
}

/// The last `exec`/`attach` into a pod, to attribute the pod's Falco alerts to a person.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExecSession {
    time: i64,
    actor: String,
    event_id: String,
    command: Vec<String>,
}

fn pod_key(cluster: &str, namespace: &str, pod: &str) -> String {
    format!("{cluster}{KEY_SEPARATOR}{namespace}{KEY_SEPARATOR}{pod}")
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RuleState {
    /// When the rule first saw a matching event (for `new_term.learn`).
    first_seen: Option<i64>,
    groups: HashMap<String, Group>,
    /// Suppression: group key → (suppressed until, repeats withheld).
    suppressed: HashMap<String, (i64, u64)>,
}

/// The state of one group of one rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Group {
    /// Last time the group was touched; eviction removes the smallest.
    touched: i64,
    kind: GroupKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum GroupKind {
    /// Threshold: matching events in the window, oldest first.
    Window(VecDeque<(i64, String)>),
    /// Distinct count: value → (last time, event id).
    Distinct(BTreeMap<String, (i64, String)>),
    /// New term: the term was last seen at `touched`.
    Seen,
    /// Sequence: started at, next step (1-based index into `then`), events so far.
    Sequence {
        started: i64,
        next: usize,
        events: Vec<String>,
    },
    /// Absence: the expected event must come before `deadline`.
    Pending { deadline: i64, event: Box<Event> },
}

impl Detector {
    pub fn new(engine: Arc<Engine>, limits: StateLimits) -> Detector {
        Detector {
            engine,
            limits,
            state: State::default(),
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Swaps the rules (hot reload). State of rules that still exist is kept; state of rules
    /// that are gone is dropped.
    pub fn set_engine(&mut self, engine: Arc<Engine>) {
        self.state
            .rules
            .retain(|rule_id, _| engine.rule_index(rule_id).is_some());
        self.engine = engine;
    }

    /// Counters of the state; `keys` is counted here, off the per-event path.
    pub fn stats(&self) -> StateStats {
        let keys = self
            .state
            .rules
            .values()
            .map(|rule| (rule.groups.len() + rule.suppressed.len()) as u64)
            .sum::<u64>()
            + self.state.exec_sessions.len() as u64
            + self.state.objects.len() as u64;
        StateStats {
            keys,
            ..self.state.stats
        }
    }

    /// The state as JSON, to be stored with the checkpoint it belongs to.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).unwrap_or(serde_json::Value::Null)
    }

    /// Restores a snapshot taken by `snapshot`; state of rules no longer loaded is dropped.
    pub fn restore(&mut self, snapshot: &serde_json::Value) -> Result<(), String> {
        let state: State = serde_json::from_value(snapshot.clone())
            .map_err(|error| format!("detection state snapshot is unreadable: {error}"))?;
        self.state = state;
        let engine = Arc::clone(&self.engine);
        self.set_engine(engine);
        Ok(())
    }

    /// Evaluates events in order, appending alerts.
    pub fn process_batch(&mut self, events: &[Event], alerts: &mut Vec<Alert>) {
        for event in events {
            self.process(event, alerts);
        }
    }

    /// Evaluates one event: absences whose time has passed fire first, then later sequence
    /// steps and expected events, then every rule whose condition matches.
    pub fn process(&mut self, event: &Event, alerts: &mut Vec<Alert>) {
        let engine = Arc::clone(&self.engine);
        let (changes, evicted) = crate::objects::observe(
            &mut self.state.objects,
            event,
            self.limits.max_keys_per_rule,
        );
        self.state.stats.evicted += evicted;
        let ctx = EvalContext::with_changes(event, changes.as_ref());
        let late = event.time < self.state.watermark - self.limits.lateness_micros;
        if late {
            self.state.stats.late += 1;
        } else {
            self.advance(event.time, alerts);
        }
        self.track_exec_session(event);
        let mut hits = Vec::new();
        engine.hits(&ctx, !late, &mut hits);
        for hit in hits {
            let rule = engine.rule(hit.rule());
            match (hit, &rule.aggregate) {
                (Hit::Match(_), None) => {
                    let alert = build_alert(rule, &ctx, &[]);
                    self.emit(rule, &ctx, alert, alerts);
                }
                (hit, Some(aggregate)) => self.stateful(rule, aggregate, hit, &ctx, alerts),
                (_, None) => {}
            }
        }
    }

    /// Moves event time forward to `time`: absences past their deadline fire and expired
    /// sequences are dropped. Live, `serve` also calls this with the wall clock so a stream
    /// that goes silent is noticed.
    pub fn advance(&mut self, time: i64, alerts: &mut Vec<Alert>) {
        if time <= self.state.watermark {
            return;
        }
        self.state.watermark = time;
        let engine = Arc::clone(&self.engine);
        let mut fired = Vec::new();
        for (rule_id, rule_state) in &mut self.state.rules {
            let Some(index) = engine.rule_index(rule_id) else {
                continue;
            };
            let rule = engine.rule(index);
            match &rule.aggregate {
                Some(Aggregate::Absence { .. }) => {
                    let mut expired: Vec<(String, Group)> = Vec::new();
                    rule_state.groups.retain(|key, group| match &group.kind {
                        GroupKind::Pending { deadline, .. } if *deadline <= time => {
                            expired.push((key.clone(), group.clone()));
                            false
                        }
                        _ => true,
                    });
                    expired.sort_by_key(|(_, group)| group.touched);
                    for (_, group) in expired {
                        if let GroupKind::Pending { event, .. } = group.kind {
                            fired.push((index, event));
                        }
                    }
                }
                Some(Aggregate::Sequence { within, .. }) => {
                    rule_state.groups.retain(|_, group| match &group.kind {
                        GroupKind::Sequence { started, .. } => started + within >= time,
                        _ => true,
                    });
                }
                _ => {}
            }
        }
        for (index, event) in fired {
            let rule = engine.rule(index);
            let ctx = EvalContext::new(&event);
            let mut alert = build_alert(rule, &ctx, &[]);
            alert.fields.insert(
                "expected_within_seconds".to_owned(),
                serde_json::Value::from(match &rule.aggregate {
                    Some(Aggregate::Absence { within, .. }) => within / 1_000_000,
                    _ => 0,
                }),
            );
            self.emit(rule, &ctx, alert, alerts);
        }
    }

    /// Live only: moves event time to the wall clock `now` when the stream is live (its newest
    /// event is no older than twice the longest absence window), so a stream that goes silent
    /// is noticed. A historical file's events are far older than `now`, so replaying one
    /// through `serve` ticks nothing and gives the alerts `detect` gives.
    pub fn tick(&mut self, now: i64, alerts: &mut Vec<Alert>) {
        let Some(horizon) = self.engine.longest_absence() else {
            return;
        };
        if self.state.watermark > 0 && now - self.state.watermark <= 2 * horizon {
            self.advance(now, alerts);
        }
    }

    fn stateful(
        &mut self,
        rule: &CompiledRule,
        aggregate: &Aggregate,
        hit: Hit,
        ctx: &EvalContext<'_>,
        alerts: &mut Vec<Alert>,
    ) {
        let event = ctx.event;
        let time = event.time;
        let limits = self.limits;
        let rule_state = self.state.rules.entry(rule.info.id.clone()).or_default();
        let first_seen = *rule_state.first_seen.get_or_insert(time);
        let mut fire: Option<(Vec<String>, serde_json::Map<String, serde_json::Value>)> = None;
        match (aggregate, hit) {
            (Aggregate::Threshold { count, within, by }, Hit::Match(_)) => {
                let key = group_key(by, ctx);
                let group = touch(
                    rule_state,
                    &key,
                    time,
                    || GroupKind::Window(VecDeque::new()),
                );
                if let GroupKind::Window(window) = &mut group.kind {
                    window.push_back((time, event.event_id.clone()));
                    while window.front().is_some_and(|(at, _)| *at <= time - within) {
                        window.pop_front();
                    }
                    if window.len() >= *count as usize {
                        let ids = window.drain(..).map(|(_, id)| id).collect::<Vec<_>>();
                        let mut fields = serde_json::Map::new();
                        fields.insert("count".to_owned(), serde_json::Value::from(ids.len()));
                        fields.insert(
                            "window_seconds".to_owned(),
                            serde_json::Value::from(within / 1_000_000),
                        );
                        fire = Some((ids, fields));
                    }
                }
            }
            (
                Aggregate::Distinct {
                    field,
                    count,
                    within,
                    by,
                },
                Hit::Match(_),
            ) => {
                let key = group_key(by, ctx);
                let values = crate::engine::field_texts(field, ctx);
                let group = touch(rule_state, &key, time, || {
                    GroupKind::Distinct(BTreeMap::new())
                });
                if let GroupKind::Distinct(seen) = &mut group.kind {
                    seen.retain(|_, (at, _)| *at > time - within);
                    for value in values {
                        seen.insert(value, (time, event.event_id.clone()));
                    }
                    if seen.len() >= *count as usize {
                        let mut entries: Vec<(String, (i64, String))> =
                            std::mem::take(seen).into_iter().collect();
                        entries.sort_by_key(|(_, (at, _))| *at);
                        let mut ids: Vec<String> = Vec::new();
                        for (_, (_, id)) in &entries {
                            if !ids.contains(id) {
                                ids.push(id.clone());
                            }
                        }
                        let mut fields = serde_json::Map::new();
                        fields.insert(
                            "distinct_count".to_owned(),
                            serde_json::Value::from(entries.len()),
                        );
                        fields.insert(
                            "distinct_values".to_owned(),
                            serde_json::Value::from(
                                entries
                                    .iter()
                                    .take(MAX_ALERT_EVENTS)
                                    .map(|(value, _)| value.clone())
                                    .collect::<Vec<_>>(),
                            ),
                        );
                        fields.insert(
                            "window_seconds".to_owned(),
                            serde_json::Value::from(within / 1_000_000),
                        );
                        fire = Some((ids, fields));
                    }
                }
            }
            (
                Aggregate::NewTerm {
                    fields: term_fields,
                    history,
                    learn,
                },
                Hit::Match(_),
            ) => {
                let key = group_key(term_fields, ctx);
                let previous = rule_state.groups.get(&key).map(|group| group.touched);
                touch(rule_state, &key, time, || GroupKind::Seen);
                let is_new = previous.is_none_or(|last| last < time - history);
                if is_new && time >= first_seen + learn {
                    let mut fields = serde_json::Map::new();
                    fields.insert("new_term".to_owned(), serde_json::Value::from(key));
                    fire = Some((Vec::new(), fields));
                }
            }
            (Aggregate::Sequence { by, steps, .. }, Hit::Match(_)) => {
                let key = group_key(by, ctx);
                if !key_is_empty(&key) && !steps.is_empty() {
                    let group = touch(rule_state, &key, time, || GroupKind::Sequence {
                        started: time,
                        next: 0,
                        events: Vec::new(),
                    });
                    // A new first step restarts the sequence for this key.
                    group.kind = GroupKind::Sequence {
                        started: time,
                        next: 0,
                        events: vec![event.event_id.clone()],
                    };
                }
            }
            (Aggregate::Sequence { within, steps, .. }, Hit::Step(_, step)) => {
                let key = group_key(&steps[step].by, ctx);
                if let Some(group) = rule_state.groups.get_mut(&key)
                    && let GroupKind::Sequence {
                        started,
                        next,
                        events,
                    } = &mut group.kind
                    && *next == step
                    && time <= *started + within
                {
                    events.push(event.event_id.clone());
                    *next += 1;
                    group.touched = time;
                    if *next == steps.len() {
                        let ids = std::mem::take(events);
                        rule_state.groups.remove(&key);
                        let mut fields = serde_json::Map::new();
                        fields.insert("steps".to_owned(), serde_json::Value::from(ids.len()));
                        fire = Some((ids, fields));
                    }
                }
            }
            (Aggregate::Absence { within, by, .. }, Hit::Match(_)) => {
                let key = group_key(by, ctx);
                let group = touch(rule_state, &key, time, || GroupKind::Seen);
                group.kind = GroupKind::Pending {
                    deadline: time + within,
                    event: Box::new(event.clone()),
                };
            }
            (Aggregate::Absence { by, .. }, Hit::Expect(_)) => {
                let key = group_key(by, ctx);
                if rule_state
                    .groups
                    .get(&key)
                    .is_some_and(|group| matches!(group.kind, GroupKind::Pending { .. }))
                {
                    rule_state.groups.remove(&key);
                }
            }
            _ => {}
        }
        let evicted = evict(rule_state, limits.max_keys_per_rule);
        self.state.stats.evicted += evicted;
        if let Some((mut ids, extra)) = fire {
            if !ids.contains(&event.event_id) {
                ids.push(event.event_id.clone());
            }
            if ids.len() > MAX_ALERT_EVENTS {
                let cut = ids.len() - MAX_ALERT_EVENTS;
                ids.drain(..cut);
            }
            let mut alert = build_alert(rule, ctx, &ids);
            alert.fields.extend(extra);
            self.emit(rule, ctx, alert, alerts);
        }
    }

    /// Remembers who opened an interactive session into a pod (allowed exec/attach).
    fn track_exec_session(&mut self, event: &Event) {
        if event.source != event::Source::K8sAudit
            || event.resource.as_deref() != Some("pods")
            || !matches!(event.subresource.as_deref(), Some("exec" | "attach"))
            || event.decision == Some(event::Decision::Forbid)
        {
            return;
        }
        let (Some(namespace), Some(pod), Some(actor)) =
            (&event.namespace, &event.name, &event.user)
        else {
            return;
        };
        let sessions = &mut self.state.exec_sessions;
        if sessions.len() >= self.limits.max_keys_per_rule {
            let oldest_kept = event.time - EXEC_ATTRIBUTION_WINDOW;
            let before = sessions.len();
            sessions.retain(|_, session| session.time > oldest_kept);
            if sessions.len() >= self.limits.max_keys_per_rule
                && let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, session)| session.time)
                    .map(|(key, _)| key.clone())
            {
                sessions.remove(&oldest);
            }
            self.state.stats.evicted += (before - sessions.len()) as u64;
        }
        sessions.insert(
            pod_key(&event.cluster, namespace, pod),
            ExecSession {
                time: event.time,
                actor: actor.clone(),
                event_id: event.event_id.clone(),
                command: event.exec_command.clone(),
            },
        );
    }

    /// Attributes an alert on a Falco event to the person whose exec/attach session into the
    /// same pod preceded it: `actor` becomes that person (the process user stays in
    /// `fields.process_user`) and the session's audit event joins `event_ids`.
    fn attribute_to_exec_session(&self, event: &Event, alert: &mut Alert) {
        if event.source != event::Source::Falco {
            return;
        }
        let (Some(namespace), Some(pod)) = (&event.namespace, &event.pod_name) else {
            return;
        };
        let Some(session) = self
            .state
            .exec_sessions
            .get(&pod_key(&event.cluster, namespace, pod))
        else {
            return;
        };
        if event.time < session.time - EXEC_ATTRIBUTION_SKEW
            || event.time > session.time + EXEC_ATTRIBUTION_WINDOW
        {
            return;
        }
        if let Some(process_user) = alert.actor.take() {
            alert.fields.insert(
                "process_user".to_owned(),
                serde_json::Value::from(process_user),
            );
        }
        alert.actor = Some(session.actor.clone());
        alert.fields.insert(
            "exec_user".to_owned(),
            serde_json::Value::from(session.actor.clone()),
        );
        alert.fields.insert(
            "exec_command".to_owned(),
            serde_json::Value::from(session.command.clone()),
        );
        alert.fields.insert(
            "exec_event_id".to_owned(),
            serde_json::Value::from(session.event_id.clone()),
        );
        if !alert.event_ids.contains(&session.event_id) {
            alert.event_ids.insert(0, session.event_id.clone());
            alert.alert_id = event::alert_id(&alert.rule_id, &alert.event_ids);
        }
    }

    /// Attributes Falco alerts, applies the rule's suppression, then appends the alert.
    fn emit(
        &mut self,
        rule: &CompiledRule,
        ctx: &EvalContext<'_>,
        mut alert: Alert,
        alerts: &mut Vec<Alert>,
    ) {
        self.attribute_to_exec_session(ctx.event, &mut alert);
        if let Some(suppress) = &rule.suppress {
            let key = group_key(&suppress.by, ctx);
            let time = ctx.event.time;
            let rule_state = self.state.rules.entry(rule.info.id.clone()).or_default();
            match rule_state.suppressed.get_mut(&key) {
                Some((until, repeats)) if time < *until => {
                    *repeats += 1;
                    self.state.stats.suppressed += 1;
                    return;
                }
                Some((until, repeats)) => {
                    if *repeats > 0 {
                        alert.fields.insert(
                            "suppressed_repeats".to_owned(),
                            serde_json::Value::from(*repeats),
                        );
                    }
                    *until = time + suppress.period;
                    *repeats = 0;
                }
                None => {
                    rule_state
                        .suppressed
                        .insert(key, (time + suppress.period, 0));
                }
            }
            let oldest_kept = time - suppress.period;
            if rule_state.suppressed.len() > self.limits.max_keys_per_rule {
                rule_state
                    .suppressed
                    .retain(|_, (until, _)| *until > oldest_kept);
            }
        }
        alerts.push(alert);
    }
}

fn key_is_empty(key: &str) -> bool {
    key.chars().all(|c| c == KEY_SEPARATOR)
}

/// Separates the values of a group key.
pub(crate) const KEY_SEPARATOR: char = '\u{1f}';

/// The group for `key`, created by `new` if absent, with `touched` set to `time`.
fn touch<'s>(
    rule_state: &'s mut RuleState,
    key: &str,
    time: i64,
    new: impl FnOnce() -> GroupKind,
) -> &'s mut Group {
    let group = rule_state
        .groups
        .entry(key.to_owned())
        .or_insert_with(|| Group {
            touched: time,
            kind: new(),
        });
    group.touched = group.touched.max(time);
    group
}

/// Drops the least recently touched tenth of the groups when there are more than `max`.
fn evict(rule_state: &mut RuleState, max: usize) -> u64 {
    if rule_state.groups.len() <= max.max(1) {
        return 0;
    }
    let mut times: Vec<i64> = rule_state
        .groups
        .values()
        .map(|group| group.touched)
        .collect();
    let drop = (rule_state.groups.len() - max.max(1)).max(max / 10).max(1);
    let (_, cutoff, _) = times.select_nth_unstable(drop - 1);
    let cutoff = *cutoff;
    let before = rule_state.groups.len();
    let mut budget = drop;
    rule_state.groups.retain(|_, group| {
        if budget > 0 && group.touched <= cutoff {
            budget -= 1;
            false
        } else {
            true
        }
    });
    (before - rule_state.groups.len()) as u64
}
