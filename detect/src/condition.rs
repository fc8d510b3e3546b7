//! Compiled conditions: the tree a rule's `condition` becomes, and how it is evaluated.

use globset::GlobSet;
use ipnet::IpNet;
use regex::Regex;

use std::cell::RefCell;
use std::hash::Hasher;

use crate::field::{Collection, EvalContext, EventField, Field, Scope, Val};

/// A literal from a rule, with every typed reading prepared at load time.
#[derive(Debug, Clone)]
pub(crate) struct Literal {
    pub(crate) text: String,
    pub(crate) int: Option<i64>,
    pub(crate) float: Option<f64>,
    pub(crate) boolean: Option<bool>,
    pub(crate) null: bool,
}

impl Literal {
    pub(crate) fn from_text(text: String) -> Literal {
        let int = text.parse().ok();
        let float = text.parse().ok();
        let boolean = match text.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        Literal {
            text,
            int,
            float,
            boolean,
            null: false,
        }
    }

    pub(crate) fn null() -> Literal {
        Literal {
            text: "null".to_owned(),
            int: None,
            float: None,
            boolean: None,
            null: true,
        }
    }

    /// Whether the literal only matches strings written verbatim in JSON (`shows_verbatim`).
    fn shows_verbatim(&self) -> bool {
        !self.null
            && self.int.is_none()
            && self.float.is_none()
            && self.boolean.is_none()
            && shows_verbatim(&self.text)
    }

    fn equals(&self, value: Val<'_>) -> bool {
        match value {
            Val::Str(s) => !self.null && s == self.text,
            Val::Int(i) => self.int == Some(i),
            Val::Float(f) => self.float == Some(f),
            Val::Bool(b) => self.boolean == Some(b),
            Val::Null => self.null,
            Val::Composite(_) => false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Comparison {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A leaf operator with its compiled operand(s). Operands given as a list match if any matches.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Equals(Vec<Literal>),
    Contains(Vec<Literal>),
    StartsWith(Vec<String>),
    EndsWith(Vec<String>),
    Regex(Regex),
    Glob(GlobSet),
    Cidr(Vec<IpNet>),
    Exists(bool),
    Compare(Comparison, f64),
    /// Some value of the field equals some value of another field (read in the same scope).
    EqualsField(Field),
}

fn numeric(value: Val<'_>) -> Option<f64> {
    match value {
        Val::Int(i) => Some(i as f64),
        Val::Float(f) => Some(f),
        Val::Str(s) => s.parse().ok(),
        Val::Bool(_) | Val::Null | Val::Composite(_) => None,
    }
}

impl Op {
    fn matches(&self, value: Val<'_>, in_list: bool) -> bool {
        match self {
            Op::Equals(literals) => literals.iter().any(|literal| literal.equals(value)),
            Op::Contains(literals) => match value {
                Val::Str(s) if !in_list => literals
                    .iter()
                    .any(|literal| !literal.null && s.contains(&literal.text)),
                _ => literals.iter().any(|literal| literal.equals(value)),
            },
            Op::StartsWith(prefixes) => {
                matches!(value, Val::Str(s) if prefixes.iter().any(|prefix| s.starts_with(prefix.as_str())))
            }
            Op::EndsWith(suffixes) => {
                matches!(value, Val::Str(s) if suffixes.iter().any(|suffix| s.ends_with(suffix.as_str())))
            }
            Op::Regex(regex) => matches!(value, Val::Str(s) if regex.is_match(s)),
            Op::Glob(globs) => matches!(value, Val::Str(s) if globs.is_match(s)),
            Op::Cidr(nets) => match value {
                // An empty `$list` (e.g. indicators not configured): nothing to parse for.
                Val::Str(_) if nets.is_empty() => false,
                Val::Str(s) => s
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| nets.iter().any(|net| net.contains(&ip))),
                _ => false,
            },
            Op::Exists(_) | Op::EqualsField(_) => true,
            Op::Compare(comparison, operand) => {
                numeric(value).is_some_and(|number| match comparison {
                    Comparison::Gt => number > *operand,
                    Comparison::Gte => number >= *operand,
                    Comparison::Lt => number < *operand,
                    Comparison::Lte => number <= *operand,
                })
            }
        }
    }

    /// Regex, glob and CIDR tests: worth remembering per value (`Memo`).
    fn is_costly(&self) -> bool {
        match self {
            Op::Regex(_) | Op::Cidr(_) => true,
            Op::Glob(globs) => !globs.is_empty(),
            _ => false,
        }
    }

    fn cost(&self) -> u32 {
        match self {
            Op::Regex(_) | Op::Glob(_) => 4,
            Op::Cidr(_) => 3,
            Op::EqualsField(other) => other.cost(),
            _ => 0,
        }
    }
}

/// A test through the field's visitor (any field, any operator but `equals_field`).
fn test_values<'e>(ctx: &'e EvalContext<'e>, scope: &Scope<'e>, field: &Field, op: &Op) -> bool {
    match (op, ctx.memo) {
        (Op::Exists(wanted), _) => field.visit(ctx, scope, &mut |_, _| true) == *wanted,
        (op, Some(memo))
            if op.is_costly() && matches!(field, Field::Event(event) if is_repetitive(*event)) =>
        {
            field.visit(ctx, scope, &mut |value, in_list| match value {
                Val::Str(text) => memo.matches(op, text),
                other => op.matches(other, in_list),
            })
        }
        (op, _) => field.visit(ctx, scope, &mut |value, in_list| op.matches(value, in_list)),
    }
}

/// Fields whose values repeat from event to event (identities, user agents, addresses,
/// resources), so the results of costly tests on them are worth remembering (`Memo`).
fn is_repetitive(field: EventField) -> bool {
    matches!(
        field,
        EventField::Cluster
            | EventField::Source
            | EventField::Stage
            | EventField::Level
            | EventField::Verb
            | EventField::User
            | EventField::UserGroups
            | EventField::ImpersonatedUser
            | EventField::ActorKind
            | EventField::SourceIps
            | EventField::SourceIpLast
            | EventField::UserAgent
            | EventField::Resource
            | EventField::Subresource
            | EventField::ApiGroup
            | EventField::Namespace
            | EventField::Decision
            | EventField::FalcoRule
            | EventField::FalcoPriority
            | EventField::SaNamespace
            | EventField::SaName
    )
}

/// Slots of a `Memo` (a power of two).
const MEMO_SLOTS: usize = 2048;
/// Longer values are tested, not remembered.
const MEMO_MAX_TEXT: usize = 256;

/// Remembered results of costly tests (regex, glob, CIDR) on string values, per detector: a
/// direct-mapped cache keyed by the operator (its address in the engine) and the value.
/// Results are exact (a hit compares the whole value); the cache only saves time. The
/// detector keeps the slots (`MemoSlots`) and lends them to one event's evaluation.
pub(crate) struct Memo {
    slots: RefCell<Vec<MemoSlot>>,
}

/// The slots of a `Memo`, kept by a detector between events.
#[derive(Default)]
pub(crate) struct MemoSlots(Vec<MemoSlot>);

impl std::fmt::Debug for MemoSlots {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let used = self.0.iter().filter(|slot| slot.op != 0).count();
        formatter
            .debug_struct("MemoSlots")
            .field("used", &used)
            .finish()
    }
}

impl MemoSlots {
    /// Forgets every result (the operators' addresses may be reused by another engine).
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

#[derive(Default, Clone)]
struct MemoSlot {
    op: usize,
    hash: u64,
    text: String,
    result: bool,
}

impl Memo {
    /// Borrows the slots for one event.
    pub(crate) fn lend(slots: &mut MemoSlots) -> Memo {
        Memo {
            slots: RefCell::new(std::mem::take(&mut slots.0)),
        }
    }

    /// Gives the slots back.
    pub(crate) fn give_back(self, slots: &mut MemoSlots) {
        slots.0 = self.slots.into_inner();
    }

    fn matches(&self, op: &Op, text: &str) -> bool {
        if text.len() > MEMO_MAX_TEXT {
            return op.matches(Val::Str(text), false);
        }
        let key = std::ptr::from_ref(op) as usize;
        let mut hasher = rustc_hash::FxHasher::default();
        hasher.write_usize(key);
        hasher.write(text.as_bytes());
        let hash = hasher.finish();
        let index = (hash >> (64 - MEMO_SLOTS.trailing_zeros())) as usize;
        let mut slots = self.slots.borrow_mut();
        if slots.is_empty() {
            slots.resize(MEMO_SLOTS, MemoSlot::default());
        }
        let slot = &mut slots[index];
        if slot.op == key && slot.hash == hash && slot.text == text {
            return slot.result;
        }
        let result = op.matches(Val::Str(text), false);
        slot.op = key;
        slot.hash = hash;
        slot.text.clear();
        slot.text.push_str(text);
        slot.result = result;
        result
    }
}

/// Whether any JSON encoder writes `text` verbatim inside a string unless it uses `\\u` or
/// `\\/` escapes: non-empty printable ASCII without `"` and `\\` (which are always escaped).
fn shows_verbatim(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\\'))
}

/// Whether two field values are equal: strings by text, numbers by value (an integer equals
/// the same float), booleans, nulls, and objects or arrays as JSON.
fn values_equal(a: Val<'_>, b: Val<'_>) -> bool {
    match (a, b) {
        (Val::Str(a), Val::Str(b)) => a == b,
        (Val::Int(a), Val::Int(b)) => a == b,
        (Val::Int(i), Val::Float(f)) | (Val::Float(f), Val::Int(i)) => i as f64 == f,
        (Val::Float(a), Val::Float(b)) => a == b,
        (Val::Bool(a), Val::Bool(b)) => a == b,
        (Val::Null, Val::Null) => true,
        (Val::Composite(a), Val::Composite(b)) => a == b,
        _ => false,
    }
}

/// One node of a compiled condition.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    ForAny(Collection, Box<Node>),
    Test(Field, Op),
    /// Added by the compiler in front of raw tests: the raw text contains one of these
    /// literals (or a `\u` or `\/` escape, which could hide one). A necessary condition of the tests
    /// it was derived from, tested with a substring search instead of a JSON parse.
    RawHas(Vec<String>),
}

impl Node {
    pub(crate) fn eval<'e>(&self, ctx: &'e EvalContext<'e>, scope: &Scope<'e>) -> bool {
        match self {
            Node::All(children) => children.iter().all(|child| child.eval(ctx, scope)),
            Node::Any(children) => children.iter().any(|child| child.eval(ctx, scope)),
            Node::Not(child) => !child.eval(ctx, scope),
            Node::Test(Field::Event(field), op) if !matches!(op, Op::EqualsField(_)) => {
                match crate::field::scalar_str(ctx.event, *field) {
                    Some(value) => match op {
                        Op::Exists(wanted) => value.is_some() == *wanted,
                        op => value.is_some_and(|value| match ctx.memo {
                            Some(memo) if op.is_costly() && is_repetitive(*field) => {
                                memo.matches(op, value)
                            }
                            _ => op.matches(Val::Str(value), false),
                        }),
                    },
                    None => test_values(ctx, scope, &Field::Event(*field), op),
                }
            }
            Node::Test(field, Op::Exists(wanted)) => {
                field.visit(ctx, scope, &mut |_, _| true) == *wanted
            }
            Node::Test(field, Op::EqualsField(other)) => field.visit(ctx, scope, &mut |a, _| {
                other.visit(ctx, scope, &mut |b, _| values_equal(a, b))
            }),
            Node::Test(field, op) => {
                field.visit(ctx, scope, &mut |value, in_list| op.matches(value, in_list))
            }
            Node::RawHas(literals) => ctx.raw_may_contain(literals),
            Node::ForAny(collection, child) => {
                let event = ctx.event;
                match collection {
                    Collection::PodSpecs => scope.pod_specs(event).any(|pod| {
                        child.eval(
                            ctx,
                            &Scope {
                                pod: Some(pod),
                                ..*scope
                            },
                        )
                    }),
                    Collection::Containers if scope.container.is_some() => child.eval(ctx, scope),
                    Collection::Containers => scope.pod_specs(event).any(|pod| {
                        pod.containers.iter().any(|container| {
                            child.eval(
                                ctx,
                                &Scope {
                                    pod: Some(pod),
                                    container: Some(container),
                                    ..*scope
                                },
                            )
                        })
                    }),
                    Collection::Volumes if scope.volume.is_some() => child.eval(ctx, scope),
                    Collection::Volumes => scope.pod_specs(event).any(|pod| {
                        pod.volumes.iter().any(|volume| {
                            child.eval(
                                ctx,
                                &Scope {
                                    pod: Some(pod),
                                    volume: Some(volume),
                                    ..*scope
                                },
                            )
                        })
                    }),
                    Collection::Images => scope.images(event).any(|image| {
                        child.eval(
                            ctx,
                            &Scope {
                                image: Some(image),
                                ..*scope
                            },
                        )
                    }),
                }
            }
        }
    }

    /// Feature bits (`field::event_features`) every event matching this node has: a test
    /// needs its field (except `exists: false`), `all` what any child needs, `any` what every
    /// child needs, `for_any` a non-empty collection.
    pub(crate) fn requirements(&self) -> u64 {
        match self {
            Node::All(children) => children
                .iter()
                .fold(0, |bits, child| bits | child.requirements()),
            Node::Any(children) => children
                .iter()
                .map(Node::requirements)
                .reduce(|a, b| a & b)
                .unwrap_or(0),
            Node::Not(_) => 0,
            Node::ForAny(collection, child) => {
                crate::field::collection_requirement(*collection) | child.requirements()
            }
            Node::Test(_, Op::Exists(false)) => 0,
            Node::Test(field, Op::EqualsField(other)) => field.requirement() | other.requirement(),
            Node::Test(field, _) => field.requirement(),
            Node::RawHas(_) => 0,
        }
    }

    /// Literals one of which the raw text contains whenever this node holds, if that is
    /// known. A raw test of plain-text values (`equals`, `in`, `contains`) needs one of its
    /// values in the text; any other raw test but `exists: false` needs the last key of its
    /// path. JSON shows such text verbatim unless it uses `\\u` or `\\/` escapes (see
    /// `Node::RawHas`).
    pub(crate) fn raw_literals(&self) -> Option<Vec<String>> {
        match self {
            Node::Test(Field::Raw(_), Op::Equals(literals) | Op::Contains(literals))
                if literals.iter().all(Literal::shows_verbatim) =>
            {
                Some(
                    literals
                        .iter()
                        .map(|literal| literal.text.clone())
                        .collect(),
                )
            }
            Node::Test(Field::Raw(path), op) if !matches!(op, Op::Exists(false)) => path
                .iter()
                .rfind(|key| key.as_str() != crate::field::RAW_ANY_KEY)
                .filter(|key| shows_verbatim(key))
                .map(|key| vec![key.clone()]),
            Node::Any(children) => {
                let mut all = Vec::new();
                for child in children {
                    all.extend(child.raw_literals()?);
                }
                (!all.is_empty()).then_some(all)
            }
            Node::All(children) => children.iter().find_map(Node::raw_literals),
            _ => None,
        }
    }

    /// Puts a `RawHas` test in front of the raw tests of a condition, when its top-level
    /// conjuncts give one (`raw_literals`). The result is the same; raw JSON that cannot
    /// match is never parsed.
    pub(crate) fn with_raw_prefilter(self) -> Node {
        let Some(mut literals) = self.raw_literals() else {
            return self;
        };
        literals.sort();
        literals.dedup();
        match self {
            Node::All(mut children) => {
                children.push(Node::RawHas(literals));
                Node::All(children)
            }
            other => Node::All(vec![Node::RawHas(literals), other]),
        }
    }

    /// Calls `visit` for every field the node reads.
    pub(crate) fn for_each_field(&self, visit: &mut dyn FnMut(&Field)) {
        match self {
            Node::All(children) | Node::Any(children) => {
                children
                    .iter()
                    .for_each(|child| child.for_each_field(visit));
            }
            Node::Not(child) | Node::ForAny(_, child) => child.for_each_field(visit),
            Node::Test(field, op) => {
                visit(field);
                if let Op::EqualsField(other) = op {
                    visit(other);
                }
            }
            Node::RawHas(_) => {}
        }
    }

    /// A rough evaluation cost, so that `all`/`any` try cheap children first.
    pub(crate) fn cost(&self) -> u32 {
        match self {
            Node::All(children) | Node::Any(children) => children.iter().map(Node::cost).sum(),
            Node::Not(child) => child.cost(),
            Node::ForAny(_, child) => 4 + child.cost(),
            Node::Test(field, op) => field.cost() + op.cost(),
            Node::RawHas(_) => 12,
        }
    }

    /// Reorders children of `all`/`any` by cost; the result is the same, only faster.
    pub(crate) fn optimise(&mut self) {
        match self {
            Node::All(children) | Node::Any(children) => {
                children.iter_mut().for_each(Node::optimise);
                children.sort_by_key(Node::cost);
            }
            Node::Not(child) | Node::ForAny(_, child) => child.optimise(),
            Node::Test(..) | Node::RawHas(_) => {}
        }
    }
}
