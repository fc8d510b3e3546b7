//! The stateful side of detection: windows, new terms, sequences, absences and suppression,
//! kept per rule and group key. Time is event time (never the wall clock), so a file gives the
//! same alerts through `detect` as through `serve`. State is bounded (oldest groups evicted and
//! counted) and serialisable, so it is snapshotted with the source checkpoints.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use event::{Alert, AlertSource, Event};
use serde::{Deserialize, Serialize};

use crate::compile::{Aggregate, CompiledRule, Step};
use crate::engine::{Hit, build_alert, for_each_text, group_key_into};
use crate::field::{EvalContext, Field, copied_for_alert, copy_for_alert};
use crate::{DetectError, Engine};

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
    /// Buffers reused from event to event.
    scratch: Scratch,
}

#[derive(Debug, Default)]
struct Scratch {
    /// Results of costly tests on repeating values; cleared when the rules change.
    memo: crate::condition::MemoSlots,
    hits: Vec<Hit>,
    key: String,
    text: String,
    /// Absence rules with a pending record still in the batch (`GroupKind::Pending`).
    unsettled: Vec<u32>,
}

/// Everything the detector remembers; what a snapshot holds.
#[derive(Debug, Clone)]
struct State {
    /// Newest event time seen (microseconds).
    watermark: i64,
    /// Per rule, by the engine's rule index.
    rules: Vec<RuleState>,
    /// Open interactive sessions by pod (`cluster␟namespace␟pod`): who ran exec/attach.
    exec_sessions: HashMap<String, ExecSession>,
    /// Last pod spec per object (`cluster␟resource␟namespace␟name`), for `changes.*`.
    objects: HashMap<String, crate::objects::SpecSummary>,
    /// Networks each cluster's kubelets and control plane called from.
    networks: crate::networks::ClusterNetworks,
    stats: StateStats,
    /// No absence deadline or sequence expiry of any rule falls before this time (a lower
    /// bound: `advance` looks at the groups only once time reaches it).
    next_check: i64,
}

impl State {
    fn new(rules: usize) -> State {
        State {
            watermark: 0,
            rules: vec![RuleState::default(); rules],
            exec_sessions: HashMap::new(),
            objects: HashMap::new(),
            networks: crate::networks::ClusterNetworks::default(),
            stats: StateStats::default(),
            next_check: i64::MAX,
        }
    }
}

/// The detection state as JSON (`Detector::snapshot`), to be stored with the checkpoint it
/// belongs to and given back to `Detector::restore`. Opaque and cheap to keep: the JSON text,
/// serialised as the JSON object it holds, so a snapshot stored by an earlier version (a plain
/// JSON value) deserialises into one and restores.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Snapshot(Box<serde_json::value::RawValue>);

impl Snapshot {
    /// The snapshot's JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    fn value(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.as_json()).ok()
    }
}

impl PartialEq for Snapshot {
    /// Snapshots are equal when they hold the same JSON value: the order of object keys
    /// (groups are kept in hash maps) does not count.
    fn eq(&self, other: &Snapshot) -> bool {
        self.as_json() == other.as_json() || self.value() == other.value()
    }
}

/// The snapshot form of `State`: rule states by rule id.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    watermark: i64,
    rules: BTreeMap<&'a str, &'a RuleState>,
    exec_sessions: &'a HashMap<String, ExecSession>,
    objects: &'a HashMap<String, crate::objects::SpecSummary>,
    networks: &'a crate::networks::ClusterNetworks,
    stats: StateStats,
}

/// A snapshot read back (`SnapshotRef`).
#[derive(Deserialize)]
struct SnapshotData {
    watermark: i64,
    rules: BTreeMap<String, RuleState>,
    #[serde(default)]
    exec_sessions: HashMap<String, ExecSession>,
    #[serde(default)]
    objects: HashMap<String, crate::objects::SpecSummary>,
    #[serde(default)]
    networks: crate::networks::ClusterNetworks,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RuleState {
    /// When the rule first saw a matching event (for `new_term.learn`).
    first_seen: Option<i64>,
    groups: HashMap<String, Group>,
    /// Suppression: group key → (suppressed until, repeats withheld).
    suppressed: HashMap<String, (i64, u64)>,
    /// Rules that read several stages of a request (`CompiledRule::spans_stages`): requests
    /// (`auditID`) that matched at a stage before the final one → when. The final stage of
    /// the same request is then skipped, so each request counts once, at the first stage
    /// logged, whatever stages the audit policy records.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    requests: HashMap<String, i64>,
    /// No group's absence deadline or sequence expiry falls before this time.
    #[serde(skip, default = "unknown_check")]
    next_check: i64,
    /// The key and event of the last absence group removed, reused by the next one.
    #[serde(skip)]
    spare: Option<(String, Box<Event>)>,
    /// Some pending record of the rule still points into the batch (`Detector::settle`).
    #[serde(skip)]
    unsettled: bool,
}

impl Default for RuleState {
    fn default() -> RuleState {
        RuleState {
            first_seen: None,
            groups: HashMap::new(),
            suppressed: HashMap::new(),
            requests: HashMap::new(),
            next_check: i64::MAX,
            spare: None,
            unsettled: false,
        }
    }
}

/// After a restore, the groups' deadlines are unknown until `advance` looks at them.
fn unknown_check() -> i64 {
    i64::MIN
}

impl RuleState {
    /// Whether the state holds anything (what a snapshot keeps).
    fn is_used(&self) -> bool {
        self.first_seen.is_some()
            || !self.groups.is_empty()
            || !self.suppressed.is_empty()
            || !self.requests.is_empty()
    }

    /// Whether `event` is a later stage of a request the rule already matched; otherwise,
    /// an early stage is remembered so its final stage will be.
    fn seen_request(&mut self, event: &Event, max_keys: usize) -> bool {
        let (Some(stage), Some(audit_id)) = (event.stage.as_deref(), event.audit_id.as_deref())
        else {
            return false;
        };
        if crate::compile::is_final_stage(stage) {
            return self.requests.remove(audit_id).is_some();
        }
        if !self.requests.is_empty() && self.requests.len() >= max_keys {
            // The oldest half goes: a request whose final stage never came (a crash of the
            // API server) must not hold the space forever.
            let mut times: Vec<i64> = self.requests.values().copied().collect();
            let (_, median, _) = times.select_nth_unstable(max_keys / 2);
            let cut = *median;
            self.requests.retain(|_, time| *time > cut);
        }
        self.requests
            .insert(audit_id.to_owned(), event.time)
            .is_some()
    }
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
    /// Sequence: started at, next step (1-based index into `then`), events so far, and the
    /// sources they came from (bits: 1 audit, 2 Falco).
    Sequence {
        started: i64,
        next: usize,
        events: Vec<String>,
        #[serde(default)]
        sources: u8,
    },
    /// Absence: the expected event must come before `deadline`. `event` keeps what the
    /// alert reads of the triggering event (`field::copy_for_alert`); while the batch that
    /// holds the triggering event is being processed, `in_batch` is its position there and
    /// the copy is made once, when the batch ends (`Detector::settle`).
    Pending {
        deadline: i64,
        event: Box<Event>,
        #[serde(skip)]
        in_batch: Option<usize>,
    },
}

fn source_bit(source: event::Source) -> u8 {
    match source {
        event::Source::K8sAudit => 1,
        event::Source::Falco => 2,
    }
}

impl Detector {
    pub fn new(engine: Arc<Engine>, limits: StateLimits) -> Detector {
        Detector {
            state: State::new(engine.len()),
            engine,
            limits,
            scratch: Scratch::default(),
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Swaps the rules (hot reload). State of rules that still exist is kept; state of rules
    /// that are gone is dropped.
    pub fn set_engine(&mut self, engine: Arc<Engine>) {
        let old_engine = std::mem::replace(&mut self.engine, engine);
        let mut by_id: HashMap<&str, RuleState> = std::mem::take(&mut self.state.rules)
            .into_iter()
            .enumerate()
            .map(|(index, rule_state)| {
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                (old_engine.rule(index).info.id.as_str(), rule_state)
            })
            .collect();
        self.state.rules = self.rules_by_index(|id| by_id.remove(id));
        self.scratch.memo.clear();
    }

    /// A rule state per rule of the engine, taken from `take` by rule id (default if none).
    fn rules_by_index(&self, mut take: impl FnMut(&str) -> Option<RuleState>) -> Vec<RuleState> {
        let mut rules = Vec::with_capacity(self.engine.len());
        for index in 0..self.engine.len() {
            let id = &self
                .engine
                .rule(u32::try_from(index).unwrap_or(u32::MAX))
                .info
                .id;
            let mut rule_state = take(id).unwrap_or_default();
            rule_state.next_check = i64::MIN;
            rules.push(rule_state);
        }
        rules
    }

    /// Counters of the state; `keys` is counted here, off the per-event path.
    pub fn stats(&self) -> StateStats {
        let keys = self
            .state
            .rules
            .iter()
            .map(|rule| (rule.groups.len() + rule.suppressed.len() + rule.requests.len()) as u64)
            .sum::<u64>()
            + self.state.exec_sessions.len() as u64
            + self.state.objects.len() as u64
            + self.state.networks.len() as u64;
        StateStats {
            keys,
            ..self.state.stats
        }
    }

    /// The state as JSON, to be stored with the checkpoint it belongs to.
    pub fn snapshot(&self) -> Snapshot {
        let json = serde_json::value::to_raw_value(&self.snapshot_ref())
            .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned());
        Snapshot(json)
    }

    /// What `snapshot` serialises: the state with rule states by rule id (unused ones left out).
    fn snapshot_ref(&self) -> SnapshotRef<'_> {
        let rules = self
            .state
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule_state)| rule_state.is_used())
            .map(|(index, rule_state)| {
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                (self.engine.rule(index).info.id.as_str(), rule_state)
            })
            .collect();
        SnapshotRef {
            watermark: self.state.watermark,
            rules,
            exec_sessions: &self.state.exec_sessions,
            objects: &self.state.objects,
            networks: &self.state.networks,
            stats: self.state.stats,
        }
    }

    /// Restores a snapshot taken by `snapshot`; state of rules no longer loaded is dropped.
    pub fn restore(&mut self, snapshot: &Snapshot) -> Result<(), DetectError> {
        let SnapshotData {
            watermark,
            mut rules,
            exec_sessions,
            objects,
            networks,
            stats,
        } = serde_json::from_str(snapshot.as_json()).map_err(|error| {
            DetectError::RestoreState {
                message: error.to_string(),
            }
        })?;
        self.state = State {
            watermark,
            rules: self.rules_by_index(|id| rules.remove(id)),
            exec_sessions,
            objects,
            networks,
            stats,
            next_check: i64::MIN,
        };
        Ok(())
    }

    /// Evaluates events in order, appending alerts.
    pub fn process_batch(&mut self, events: &[Event], alerts: &mut Vec<Alert>) {
        let engine = Arc::clone(&self.engine);
        for position in 0..events.len() {
            self.process_with(&engine, events, position, alerts);
        }
        self.settle(&engine, events);
    }

    /// Evaluates one event: absences whose time has passed fire first, then later sequence
    /// steps and expected events, then every rule whose condition matches.
    pub fn process(&mut self, event: &Event, alerts: &mut Vec<Alert>) {
        let engine = Arc::clone(&self.engine);
        let batch = std::slice::from_ref(event);
        self.process_with(&engine, batch, 0, alerts);
        self.settle(&engine, batch);
    }

    /// Copies the events that pending absence records point to out of the batch.
    fn settle(&mut self, engine: &Engine, batch: &[Event]) {
        let mut unsettled = std::mem::take(&mut self.scratch.unsettled);
        for &index in &unsettled {
            let needs = engine.alert_needs(index);
            let rule_state = &mut self.state.rules[index as usize];
            rule_state.unsettled = false;
            for group in rule_state.groups.values_mut() {
                if let GroupKind::Pending {
                    event, in_batch, ..
                } = &mut group.kind
                    && let Some(position) = in_batch.take()
                {
                    copy_for_alert(event, &batch[position], needs);
                }
            }
        }
        unsettled.clear();
        self.scratch.unsettled = unsettled;
    }

    fn process_with(
        &mut self,
        engine: &Engine,
        batch: &[Event],
        position: usize,
        alerts: &mut Vec<Alert>,
    ) {
        let event = &batch[position];
        let (changes, evicted) = crate::objects::observe(
            &mut self.state.objects,
            event,
            self.limits.max_keys_per_rule,
        );
        self.state.stats.evicted += evicted;
        // Learned only when a rule reads them, and taken out for the event, so the context
        // can read them while rules update the state.
        let mut networks = std::mem::take(&mut self.state.networks);
        if engine.reads_networks() {
            self.state.stats.evicted += networks.observe(event);
        }
        let memo = crate::condition::Memo::lend(&mut self.scratch.memo);
        let mut ctx = EvalContext::with_changes(event, changes.as_ref(), Some(engine.raw_paths()));
        ctx.memo = Some(&memo);
        ctx.networks = engine.reads_networks().then_some(&networks);
        let late = event.time < self.state.watermark - self.limits.lateness_micros;
        if late {
            self.state.stats.late += 1;
        } else {
            self.advance_with(engine, event.time, batch, alerts);
        }
        self.track_exec_session(event);
        let mut hits = std::mem::take(&mut self.scratch.hits);
        hits.clear();
        engine.hits(&ctx, !late, &mut hits);
        for &hit in &hits {
            let index = hit.rule();
            let rule = engine.rule(index);
            if rule.spans_stages
                && matches!(hit, Hit::Match(_))
                && self.state.rules[index as usize]
                    .seen_request(event, self.limits.max_keys_per_rule)
            {
                continue;
            }
            match (hit, &rule.aggregate) {
                (Hit::Match(_), None) => {
                    let alert = build_alert(rule, &ctx, &[]);
                    self.emit(index, rule, &ctx, alert, alerts);
                }
                // An event that is both the expected event and a new trigger of an absence
                // rule (same key: same fields of the same event) replaces the pending
                // record; the `Match` does it in one step (`Trigger::replaces`).
                (Hit::Expect(_), Some(Aggregate::Absence { .. }))
                    if hits.contains(&Hit::Match(index)) => {}
                (hit, Some(aggregate)) => {
                    let trigger = Trigger {
                        position,
                        replaces: matches!(aggregate, Aggregate::Absence { .. })
                            && hits.contains(&Hit::Expect(index)),
                    };
                    self.stateful(engine, aggregate, hit, &ctx, trigger, alerts);
                }
                (_, None) => {}
            }
        }
        self.scratch.hits = hits;
        drop(ctx);
        memo.give_back(&mut self.scratch.memo);
        self.state.networks = networks;
    }

    /// Moves event time forward to `time`: absences past their deadline fire and expired
    /// sequences are dropped. Live, `serve` also calls this with the wall clock so a stream
    /// that goes silent is noticed.
    pub fn advance(&mut self, time: i64, alerts: &mut Vec<Alert>) {
        let engine = Arc::clone(&self.engine);
        self.advance_with(&engine, time, &[], alerts);
    }

    /// `advance` within a batch: pending records may still point into `batch`.
    fn advance_with(
        &mut self,
        engine: &Engine,
        time: i64,
        batch: &[Event],
        alerts: &mut Vec<Alert>,
    ) {
        if time <= self.state.watermark {
            return;
        }
        self.state.watermark = time;
        if time < self.state.next_check {
            return;
        }
        let mut fired: Vec<(u32, Box<Event>)> = Vec::new();
        let mut next_check = i64::MAX;
        for &index in engine.timed_rules() {
            let rule = engine.rule(index);
            let rule_state = &mut self.state.rules[index as usize];
            if time >= rule_state.next_check {
                let mut rule_next = i64::MAX;
                match &rule.aggregate {
                    Some(Aggregate::Absence { .. }) => {
                        let mut expired: Vec<(i64, Box<Event>)> = Vec::new();
                        rule_state.groups.retain(|_, group| {
                            let GroupKind::Pending { deadline, .. } = group.kind else {
                                return true;
                            };
                            if deadline > time {
                                rule_next = rule_next.min(deadline);
                                return true;
                            }
                            if let GroupKind::Pending {
                                mut event,
                                in_batch,
                                ..
                            } = std::mem::replace(&mut group.kind, GroupKind::Seen)
                            {
                                if let Some(position) = in_batch {
                                    copy_for_alert(
                                        &mut event,
                                        &batch[position],
                                        engine.alert_needs(index),
                                    );
                                }
                                expired.push((group.touched, event));
                            }
                            false
                        });
                        expired.sort_by_key(|(touched, _)| *touched);
                        fired.extend(expired.into_iter().map(|(_, event)| (index, event)));
                    }
                    Some(Aggregate::Sequence { within, .. }) => {
                        rule_state.groups.retain(|_, group| match &group.kind {
                            GroupKind::Sequence { started, .. } => {
                                let keep = started + within >= time;
                                if keep {
                                    let expiry = started.saturating_add(*within).saturating_add(1);
                                    rule_next = rule_next.min(expiry);
                                }
                                keep
                            }
                            _ => true,
                        });
                    }
                    _ => {}
                }
                rule_state.next_check = rule_next;
            }
            next_check = next_check.min(rule_state.next_check);
        }
        self.state.next_check = next_check;
        for (index, event) in fired {
            let rule = engine.rule(index);
            let ctx = EvalContext::new(&event, Some(engine.raw_paths()));
            let mut alert = build_alert(rule, &ctx, &[]);
            alert.fields.insert(
                "expected_within_seconds".to_owned(),
                serde_json::Value::from(match &rule.aggregate {
                    Some(Aggregate::Absence { within, .. }) => within / 1_000_000,
                    _ => 0,
                }),
            );
            self.emit(index, rule, &ctx, alert, alerts);
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

    /// Lowers the next time `advance` must look at the groups of rule `index`.
    fn check_by(&mut self, index: u32, time: i64) {
        let rule_state = &mut self.state.rules[index as usize];
        rule_state.next_check = rule_state.next_check.min(time);
        self.state.next_check = self.state.next_check.min(time);
    }

    /// Feeds one hit of an event to a stateful rule: the rule's operator updates the rule's
    /// state and may raise an alert.
    fn stateful(
        &mut self,
        engine: &Engine,
        aggregate: &Aggregate,
        hit: Hit,
        ctx: &EvalContext<'_>,
        trigger: Trigger,
        alerts: &mut Vec<Alert>,
    ) {
        let index = hit.rule();
        let time = ctx.event.time;
        let first_seen = *self.state.rules[index as usize]
            .first_seen
            .get_or_insert(time);
        let mut call = Call {
            index,
            ctx,
            trigger,
            key: std::mem::take(&mut self.scratch.key),
        };
        let fired = match (aggregate, hit) {
            (Aggregate::Threshold { count, within, by }, Hit::Match(_)) => {
                self.threshold(&mut call, by, *count, *within)
            }
            (
                Aggregate::Distinct {
                    field,
                    count,
                    within,
                    by,
                },
                Hit::Match(_),
            ) => self.distinct(&mut call, by, field, *count, *within),
            (
                Aggregate::NewTerm {
                    fields,
                    history,
                    learn,
                },
                Hit::Match(_),
            ) => self.new_term(&mut call, fields, *history, *learn, first_seen),
            (Aggregate::Sequence { by, steps, within }, Hit::Match(_)) => {
                self.sequence_start(&mut call, by, steps, *within);
                None
            }
            (Aggregate::Sequence { within, steps, .. }, Hit::Step(_, step)) => {
                self.sequence_step(&mut call, steps, step, *within)
            }
            (Aggregate::Absence { within, by, .. }, Hit::Match(_)) => {
                self.absence_trigger(&mut call, by, *within);
                None
            }
            (Aggregate::Absence { by, .. }, Hit::Expect(_)) => {
                self.absence_expected(&mut call, by);
                None
            }
            _ => None,
        };
        self.state.stats.evicted += evict(
            &mut self.state.rules[index as usize],
            self.limits.max_keys_per_rule,
        );
        self.scratch.key = call.key;
        if let Some(fired) = fired {
            self.fire(engine.rule(index), index, ctx, fired, alerts);
        }
    }

    /// `threshold`: `count` matching events of a group within `within` raise an alert, and
    /// the group's window starts again.
    fn threshold(
        &mut self,
        call: &mut Call<'_, '_>,
        by: &[Field],
        count: u32,
        within: i64,
    ) -> Option<Fired> {
        let (event, time) = (call.ctx.event, call.ctx.event.time);
        let rule_state = &mut self.state.rules[call.index as usize];
        let group = call.touch(rule_state, by, || GroupKind::Window(VecDeque::new()));
        let GroupKind::Window(window) = &mut group.kind else {
            return None;
        };
        window.push_back((time, event.event_id.clone()));
        while window.front().is_some_and(|(at, _)| *at <= time - within) {
            window.pop_front();
        }
        if window.len() < count as usize {
            return None;
        }
        let ids = window.drain(..).map(|(_, id)| id).collect::<Vec<_>>();
        let count = ids.len();
        Some(
            Fired::new(ids)
                .with("count", count)
                .with("window_seconds", within / 1_000_000),
        )
    }

    /// `distinct`: `count` distinct values of `field` in a group within `within` raise an
    /// alert, and the group's values start again.
    fn distinct(
        &mut self,
        call: &mut Call<'_, '_>,
        by: &[Field],
        field: &Field,
        count: u32,
        within: i64,
    ) -> Option<Fired> {
        let (event, time) = (call.ctx.event, call.ctx.event.time);
        let rule_state = &mut self.state.rules[call.index as usize];
        let group = call.touch(rule_state, by, || GroupKind::Distinct(BTreeMap::new()));
        let GroupKind::Distinct(seen) = &mut group.kind else {
            return None;
        };
        seen.retain(|_, (at, _)| *at > time - within);
        for_each_text(
            field,
            call.ctx,
            &mut self.scratch.text,
            &mut |value| match seen.get_mut(value) {
                Some((at, id)) => {
                    *at = time;
                    id.clone_from(&event.event_id);
                }
                None => {
                    seen.insert(value.to_owned(), (time, event.event_id.clone()));
                }
            },
        );
        if seen.len() < count as usize {
            return None;
        }
        let mut entries: Vec<(String, (i64, String))> = std::mem::take(seen).into_iter().collect();
        entries.sort_by_key(|(_, (at, _))| *at);
        let mut ids: Vec<String> = Vec::new();
        for (_, (_, id)) in &entries {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        let values = entries
            .iter()
            .take(MAX_ALERT_EVENTS)
            .map(|(value, _)| value.clone())
            .collect::<Vec<_>>();
        Some(
            Fired::new(ids)
                .with("distinct_count", entries.len())
                .with("distinct_values", values)
                .with("window_seconds", within / 1_000_000),
        )
    }

    /// `new_term`: a group key not seen for `history` raises an alert, once the rule has
    /// learnt for `learn` since its first match (`first_seen`).
    fn new_term(
        &mut self,
        call: &mut Call<'_, '_>,
        fields: &[Field],
        history: i64,
        learn: i64,
        first_seen: i64,
    ) -> Option<Fired> {
        call.group_key(fields);
        let time = call.ctx.event.time;
        let rule_state = &mut self.state.rules[call.index as usize];
        let previous = match rule_state.groups.get_mut(call.key.as_str()) {
            Some(group) => {
                let previous = group.touched;
                group.touched = previous.max(time);
                Some(previous)
            }
            None => {
                touch(rule_state, &call.key, time, || GroupKind::Seen);
                None
            }
        };
        let is_new = previous.is_none_or(|last| last < time - history);
        (is_new && time >= first_seen + learn)
            .then(|| Fired::new(Vec::new()).with("new_term", call.key.clone()))
    }

    /// `sequence`, first step: starts (or restarts) the group's sequence.
    fn sequence_start(
        &mut self,
        call: &mut Call<'_, '_>,
        by: &[Field],
        steps: &[Step],
        within: i64,
    ) {
        call.group_key(by);
        if key_is_empty(&call.key) || steps.is_empty() {
            return;
        }
        let (event, time) = (call.ctx.event, call.ctx.event.time);
        let rule_state = &mut self.state.rules[call.index as usize];
        let group = touch(rule_state, &call.key, time, || GroupKind::Sequence {
            started: time,
            next: 0,
            events: Vec::new(),
            sources: 0,
        });
        // A new first step restarts the sequence for this key.
        group.kind = GroupKind::Sequence {
            started: time,
            next: 0,
            events: vec![event.event_id.clone()],
            sources: source_bit(event.source),
        };
        self.check_by(call.index, time.saturating_add(within).saturating_add(1));
    }

    /// `sequence`, later step `step`: advances the group's sequence when it is the next step
    /// and in time; the last step raises an alert.
    fn sequence_step(
        &mut self,
        call: &mut Call<'_, '_>,
        steps: &[Step],
        step: usize,
        within: i64,
    ) -> Option<Fired> {
        call.group_key(&steps[step].by);
        let (event, time) = (call.ctx.event, call.ctx.event.time);
        let rule_state = &mut self.state.rules[call.index as usize];
        let group = rule_state.groups.get_mut(call.key.as_str())?;
        let GroupKind::Sequence {
            started,
            next,
            events,
            sources,
        } = &mut group.kind
        else {
            return None;
        };
        if *next != step || time > *started + within {
            return None;
        }
        events.push(event.event_id.clone());
        *sources |= source_bit(event.source);
        *next += 1;
        group.touched = time;
        if *next != steps.len() {
            return None;
        }
        let ids = std::mem::take(events);
        let correlated = *sources == 3;
        rule_state.groups.remove(call.key.as_str());
        let count = ids.len();
        Some(Fired {
            correlated,
            ..Fired::new(ids).with("steps", count)
        })
    }

    /// `absence`, trigger: the group now waits for the expected event until `within` from
    /// now; the record points into the batch until `settle`.
    fn absence_trigger(&mut self, call: &mut Call<'_, '_>, by: &[Field], within: i64) {
        call.group_key(by);
        let (event, time) = (call.ctx.event, call.ctx.event.time);
        let (key, trigger) = (&call.key, call.trigger);
        let deadline = time + within;
        let RuleState {
            groups,
            spare,
            unsettled,
            ..
        } = &mut self.state.rules[call.index as usize];
        // The record points into the batch; `settle` copies it once the batch ends,
        // so a trigger on every event costs no copy and no allocation.
        let mut record = || match spare.take() {
            Some((_, event)) => event,
            None => Box::new(copied_for_alert(event, 0)),
        };
        if let Some(group) = groups.get_mut(key.as_str()) {
            let pending = matches!(group.kind, GroupKind::Pending { .. });
            group.touched = if trigger.replaces && pending {
                time
            } else {
                group.touched.max(time)
            };
            match &mut group.kind {
                GroupKind::Pending {
                    deadline: due,
                    in_batch,
                    ..
                } => {
                    *due = deadline;
                    *in_batch = Some(trigger.position);
                }
                other => {
                    *other = GroupKind::Pending {
                        deadline,
                        event: record(),
                        in_batch: Some(trigger.position),
                    };
                }
            }
        } else {
            let (group_key, event) = match spare.take() {
                Some((mut group_key, event)) => {
                    group_key.clear();
                    group_key.push_str(key);
                    (group_key, event)
                }
                None => (key.clone(), Box::new(copied_for_alert(event, 0))),
            };
            let group = Group {
                touched: time,
                kind: GroupKind::Pending {
                    deadline,
                    event,
                    in_batch: Some(trigger.position),
                },
            };
            groups.insert(group_key, group);
        }
        if !*unsettled {
            *unsettled = true;
            self.scratch.unsettled.push(call.index);
        }
        self.check_by(call.index, deadline);
    }

    /// `absence`, expected event: the group's pending record is dropped (its key and event
    /// kept as the rule's spare).
    fn absence_expected(&mut self, call: &mut Call<'_, '_>, by: &[Field]) {
        call.group_key(by);
        let key = call.key.as_str();
        let rule_state = &mut self.state.rules[call.index as usize];
        let pending = rule_state
            .groups
            .get(key)
            .is_some_and(|group| matches!(group.kind, GroupKind::Pending { .. }));
        if pending
            && let Some((removed_key, group)) = rule_state.groups.remove_entry(key)
            && let GroupKind::Pending { event, .. } = group.kind
        {
            rule_state.spare = Some((removed_key, event));
        }
    }

    /// Raises the alert a stateful operator decided on, for the event of `ctx`.
    fn fire(
        &mut self,
        rule: &CompiledRule,
        index: u32,
        ctx: &EvalContext<'_>,
        fired: Fired,
        alerts: &mut Vec<Alert>,
    ) {
        let Fired {
            mut ids,
            fields,
            correlated,
        } = fired;
        let event = ctx.event;
        if !ids.contains(&event.event_id) {
            ids.push(event.event_id.clone());
        }
        if ids.len() > MAX_ALERT_EVENTS {
            let cut = ids.len() - MAX_ALERT_EVENTS;
            ids.drain(..cut);
        }
        let mut alert = build_alert(rule, ctx, &ids);
        alert.fields.extend(fields);
        if correlated {
            alert.source = AlertSource::Correlation;
        }
        self.emit(index, rule, ctx, alert, alerts);
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
        index: u32,
        rule: &CompiledRule,
        ctx: &EvalContext<'_>,
        mut alert: Alert,
        alerts: &mut Vec<Alert>,
    ) {
        self.attribute_to_exec_session(ctx.event, &mut alert);
        if let Some(suppress) = &rule.suppress {
            let mut key = String::new();
            group_key_into(&mut key, &suppress.by, ctx);
            let time = ctx.event.time;
            let rule_state = &mut self.state.rules[index as usize];
            let may_withhold = suppress
                .only
                .as_ref()
                .is_none_or(|only| only.eval(ctx, &crate::field::Scope::default()));
            match rule_state.suppressed.get_mut(&key) {
                Some((until, repeats)) if may_withhold && time < *until => {
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

/// Where the event being processed sits in its batch, and whether it also was the expected
/// event of the absence rule it triggers (then it replaces the pending record: the group
/// is touched as a new one, as removing and re-creating it would).
#[derive(Debug, Clone, Copy)]
struct Trigger {
    position: usize,
    replaces: bool,
}

/// What every stateful operator works on: one hit of one event on rule `index`, and the
/// group-key buffer (the detector's, lent for the call).
struct Call<'c, 'e> {
    index: u32,
    ctx: &'c EvalContext<'e>,
    trigger: Trigger,
    key: String,
}

impl Call<'_, '_> {
    /// Writes the event's group key for `by` into `key`.
    fn group_key(&mut self, by: &[Field]) {
        group_key_into(&mut self.key, by, self.ctx);
    }

    /// The group of the event's key for `by` (`touch`).
    fn touch<'s>(
        &mut self,
        rule_state: &'s mut RuleState,
        by: &[Field],
        new: impl FnOnce() -> GroupKind,
    ) -> &'s mut Group {
        self.group_key(by);
        touch(rule_state, &self.key, self.ctx.event.time, new)
    }
}

/// An alert a stateful operator decided to raise: the events that led to it (`fire` adds
/// the triggering one), the operator's own alert fields, and whether the events came from
/// both audit and Falco.
struct Fired {
    ids: Vec<String>,
    fields: serde_json::Map<String, serde_json::Value>,
    correlated: bool,
}

impl Fired {
    fn new(ids: Vec<String>) -> Fired {
        Fired {
            ids,
            fields: serde_json::Map::new(),
            correlated: false,
        }
    }

    fn with(mut self, name: &str, value: impl Into<serde_json::Value>) -> Fired {
        self.fields.insert(name.to_owned(), value.into());
        self
    }
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
    let groups = &mut rule_state.groups;
    if !groups.contains_key(key) {
        let group = Group {
            touched: time,
            kind: new(),
        };
        groups.insert(key.to_owned(), group);
    }
    let group = groups.get_mut(key).expect("the group was just inserted");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleSet;

    /// A detector that has seen a burst of denials and a few reads: windows, new terms and a
    /// pending absence in its state.
    fn busy_detector() -> Detector {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/stateful.yaml");
        let mut rules = RuleSet::load(&path).expect("the fixture compiles");
        rules.extend(RuleSet::builtin().unwrap()).unwrap();
        let mut detector = Detector::new(Arc::new(Engine::new(rules)), StateLimits::default());
        let events: Vec<Event> = (0..6)
            .map(|i| Event {
                event_id: format!("e{i}"),
                time: 1_767_225_600_000_000 + i * 1_000_000,
                cluster: "c".to_owned(),
                stage: Some("ResponseComplete".to_owned()),
                verb: Some(if i < 3 { "list" } else { "get" }.to_owned()),
                user: Some(format!("user-{}", i % 2)),
                resource: Some(if i < 3 { "pods" } else { "configmaps" }.to_owned()),
                response_code: Some(if i < 3 { 403 } else { 200 }),
                decision: Some(if i < 3 {
                    event::Decision::Forbid
                } else {
                    event::Decision::Allow
                }),
                raw: "{}".to_owned(),
                ..Event::default()
            })
            .collect();
        detector.process_batch(&events, &mut Vec::new());
        detector
    }

    #[test]
    fn a_snapshot_is_the_json_the_state_value_was() {
        let detector = busy_detector();
        let snapshot = detector.snapshot();
        // What `snapshot` returned before it was a `Snapshot`.
        let value = serde_json::to_value(detector.snapshot_ref()).unwrap();
        assert!(value["rules"].as_object().unwrap().len() >= 3, "{value}");
        let parsed: serde_json::Value = serde_json::from_str(snapshot.as_json()).unwrap();
        assert_eq!(parsed, value);
        assert_eq!(serde_json::to_value(&snapshot).unwrap(), value);
        assert_eq!(serde_json::from_value::<Snapshot>(value).unwrap(), snapshot);
    }
}
