//! Compiled conditions: the tree a rule's `condition` becomes, and how it is evaluated.

use globset::GlobSet;
use ipnet::IpNet;
use regex::Regex;

use crate::field::{Collection, EvalContext, Field, Scope, Val};

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
                Val::Str(s) => s
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| nets.iter().any(|net| net.contains(&ip))),
                _ => false,
            },
            Op::Exists(_) => true,
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

    fn cost(&self) -> u32 {
        match self {
            Op::Regex(_) | Op::Glob(_) => 4,
            Op::Cidr(_) => 3,
            _ => 0,
        }
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
}

impl Node {
    pub(crate) fn eval<'e>(&self, ctx: &'e EvalContext<'e>, scope: &Scope<'e>) -> bool {
        match self {
            Node::All(children) => children.iter().all(|child| child.eval(ctx, scope)),
            Node::Any(children) => children.iter().any(|child| child.eval(ctx, scope)),
            Node::Not(child) => !child.eval(ctx, scope),
            Node::Test(field, Op::Exists(wanted)) => {
                field.visit(ctx, scope, &mut |_, _| true) == *wanted
            }
            Node::Test(field, op) => {
                field.visit(ctx, scope, &mut |value, in_list| op.matches(value, in_list))
            }
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

    /// A rough evaluation cost, so that `all`/`any` try cheap children first.
    pub(crate) fn cost(&self) -> u32 {
        match self {
            Node::All(children) | Node::Any(children) => children.iter().map(Node::cost).sum(),
            Node::Not(child) => child.cost(),
            Node::ForAny(_, child) => 4 + child.cost(),
            Node::Test(field, op) => field.cost() + op.cost(),
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
            Node::Test(..) => {}
        }
    }
}
