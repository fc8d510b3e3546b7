//! The query language evaluated in memory against one event or alert (the live tail), with
//! the same meaning as a search of the index.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::ops::Bound;

use event::{Alert, Event};
use tantivy::tokenizer::{TextAnalyzer, TokenStream, Tokenizer, TokenizerManager};

use crate::SearchError;
use crate::query::{
    self, Compiler, Node, Piece, Value, cidr, code_class, ip_pattern_block, parse_code, parse_ip,
    parse_time, pattern_words, wildcard_match,
};
use crate::schema::{self, Fields, Kind, to_v6};
use crate::text::JsonTokenizer;

/// A parsed query that tells whether one event (or alert) matches, without an index: the live
/// tail's filter. `parse` rejects exactly what `Searcher::search` rejects.
///
/// Events carry no alert ids, so `rule:` never matches an event; for an alert, `rule` is its
/// rule id, `user` its actor, and the raw text its JSON.
#[derive(Debug, Clone)]
pub struct Matcher {
    node: Node,
}

/// The words of one raw JSON text: values with positions, keys.
struct Words {
    /// position → word, for values.
    values: HashMap<usize, String>,
    keys: Vec<String>,
}

impl Words {
    fn of(raw: &str) -> Words {
        let mut values = HashMap::new();
        let mut tokenizer = JsonTokenizer::values();
        let mut stream = tokenizer.token_stream(raw);
        while stream.advance() {
            values.insert(stream.token().position, stream.token().text.clone());
        }
        let mut keys = Vec::new();
        let mut tokenizer = JsonTokenizer::keys();
        let mut stream = tokenizer.token_stream(raw);
        while stream.advance() {
            keys.push(stream.token().text.clone());
        }
        Words { values, keys }
    }

    fn any_word(&self, matches: impl Fn(&str) -> bool) -> bool {
        self.values.values().any(|word| matches(word)) || self.keys.iter().any(|word| matches(word))
    }

    /// Value words at the given offsets (relative to the first) passing each test.
    fn phrase(&self, parts: &[(usize, WordTest)]) -> bool {
        let Some((first_offset, first)) = parts.first() else {
            return false;
        };
        self.values.iter().any(|(position, word)| {
            first.test(word)
                && position >= first_offset
                && parts.iter().skip(1).all(|(offset, test)| {
                    self.values
                        .get(&(position - first_offset + offset))
                        .is_some_and(|word| test.test(word))
                })
        })
    }
}

/// One word of a phrase: literal or wildcard.
enum WordTest {
    Is(String),
    Like(Vec<Piece>),
}

impl WordTest {
    fn test(&self, word: &str) -> bool {
        match self {
            WordTest::Is(wanted) => wanted == word,
            WordTest::Like(pattern) => wildcard_match(pattern, word),
        }
    }
}

/// What a query can ask of an event or an alert.
trait Subject {
    fn exact(&self, field: &str) -> Vec<&str>;
    fn ips(&self) -> Vec<Ipv6Addr>;
    fn code(&self) -> Option<u64>;
    fn time(&self) -> Option<i64>;
    fn raw(&self) -> String;
}

fn opt(value: &Option<String>) -> Vec<&str> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .into_iter()
        .collect()
}

impl Subject for Event {
    fn exact(&self, field: &str) -> Vec<&str> {
        match field {
            "event_id" => vec![self.event_id.as_str()],
            "cluster" => vec![self.cluster.as_str()],
            "source" => vec![self.source.as_str()],
            "verb" => opt(&self.verb),
            "user" => opt(&self.user),
            "groups" => self.user_groups.iter().map(String::as_str).collect(),
            "impersonated_user" => opt(&self.impersonated_user),
            "actor_kind" => self.actor_kind.map(|k| k.as_str()).into_iter().collect(),
            "user_agent" => opt(&self.user_agent),
            "resource" => opt(&self.resource),
            "subresource" => opt(&self.subresource),
            "api_group" => opt(&self.api_group),
            "namespace" => opt(&self.namespace),
            "name" => opt(&self.name),
            "decision" => self.decision.map(|d| d.as_str()).into_iter().collect(),
            "falco_rule" => opt(&self.falco_rule),
            "falco_priority" => opt(&self.falco_priority),
            "pod_name" => opt(&self.pod_name),
            "image" => self.images.iter().map(|i| i.reference.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    fn ips(&self) -> Vec<Ipv6Addr> {
        self.source_ips
            .iter()
            .filter_map(|ip| ip.trim().parse::<IpAddr>().ok().map(to_v6))
            .collect()
    }

    fn code(&self) -> Option<u64> {
        self.response_code.and_then(|code| u64::try_from(code).ok())
    }

    fn time(&self) -> Option<i64> {
        Some(self.time)
    }

    fn raw(&self) -> String {
        self.raw.clone()
    }
}

impl Subject for Alert {
    fn exact(&self, field: &str) -> Vec<&str> {
        match field {
            "event_id" => self.event_ids.iter().map(String::as_str).collect(),
            "cluster" => vec![self.cluster.as_str()],
            "source" => vec![self.source.as_str()],
            "user" => opt(&self.actor),
            "namespace" => opt(&self.namespace),
            "resource" => opt(&self.resource),
            "name" => opt(&self.name),
            "rule" => vec![self.rule_id.as_str()],
            _ => Vec::new(),
        }
    }

    fn ips(&self) -> Vec<Ipv6Addr> {
        Vec::new()
    }

    fn code(&self) -> Option<u64> {
        None
    }

    fn time(&self) -> Option<i64> {
        event::parse_rfc3339_micros(&self.time)
    }

    fn raw(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn in_range<T: PartialOrd>(value: &T, lower: &Bound<T>, upper: &Bound<T>) -> bool {
    (match lower {
        Bound::Included(low) => value >= low,
        Bound::Excluded(low) => value > low,
        Bound::Unbounded => true,
    }) && (match upper {
        Bound::Included(high) => value <= high,
        Bound::Excluded(high) => value < high,
        Bound::Unbounded => true,
    })
}

fn convert<T>(
    bound: &Bound<String>,
    parse: impl Fn(&str) -> Result<T, SearchError>,
) -> Option<Bound<T>> {
    Some(match bound {
        Bound::Included(text) => Bound::Included(parse(text).ok()?),
        Bound::Excluded(text) => Bound::Excluded(parse(text).ok()?),
        Bound::Unbounded => Bound::Unbounded,
    })
}

struct Evaluation<'a, S: Subject> {
    subject: &'a S,
    words: Option<Words>,
    analyzer: &'a mut TextAnalyzer,
}

impl<S: Subject> Evaluation<'_, S> {
    fn words(&mut self) -> &Words {
        self.words
            .get_or_insert_with(|| Words::of(&self.subject.raw()))
    }

    fn eval(&mut self, node: &Node) -> bool {
        match node {
            Node::All => true,
            Node::And(items) => items.iter().all(|item| self.eval(item)),
            Node::Or(items) => items.iter().any(|item| self.eval(item)),
            Node::Not(inner) => !self.eval(inner),
            Node::Leaf { field, value } => match field.kind {
                Kind::Exact => self.exact(field.name, value),
                Kind::Text => self.text(value),
                Kind::Ip => self.ip(value),
                Kind::Code => self.code(value),
                Kind::Time => self.time(value),
            },
        }
    }

    fn exact(&self, name: &str, value: &Value) -> bool {
        let values = self.subject.exact(name);
        match value {
            Value::Exists => !values.is_empty(),
            Value::Text(text) => values.iter().any(|v| v == text),
            Value::Pattern(pieces) => values.iter().any(|v| wildcard_match(pieces, v)),
            Value::Range { lower, upper } => {
                let lower = lower.as_ref().map(String::as_str);
                let upper = upper.as_ref().map(String::as_str);
                values.iter().any(|v| in_range(v, &lower, &upper))
            }
        }
    }

    fn text(&mut self, value: &Value) -> bool {
        match value {
            Value::Exists => true,
            Value::Range { .. } => false,
            Value::Text(text) => {
                let mut tokens = Vec::new();
                {
                    let mut stream = self.analyzer.token_stream(text);
                    while stream.advance() {
                        tokens.push((stream.token().position, stream.token().text.clone()));
                    }
                }
                let words = self.words();
                match tokens.as_slice() {
                    [] => false,
                    [(_, word)] => words.any_word(|w| w == word),
                    _ => {
                        let parts: Vec<(usize, WordTest)> = tokens
                            .iter()
                            .map(|(position, word)| (*position, WordTest::Is(word.clone())))
                            .collect();
                        words.phrase(&parts)
                    }
                }
            }
            Value::Pattern(pieces) => {
                let patterns = pattern_words(pieces);
                let words = self.words();
                match patterns.as_slice() {
                    [] => true,
                    [pattern] => words.any_word(|w| wildcard_match(pattern, w)),
                    _ => {
                        let parts: Vec<(usize, WordTest)> = patterns
                            .iter()
                            .enumerate()
                            .map(|(offset, pattern)| (offset, WordTest::Like(pattern.clone())))
                            .collect();
                        words.phrase(&parts)
                    }
                }
            }
        }
    }

    fn ip(&self, value: &Value) -> bool {
        let ips = self.subject.ips();
        let within =
            |(first, last): (Ipv6Addr, Ipv6Addr)| ips.iter().any(|ip| (first..=last).contains(ip));
        match value {
            Value::Exists => !ips.is_empty(),
            Value::Text(text) if text.contains('/') => cidr(text).is_ok_and(within),
            Value::Text(text) => parse_ip(text).is_ok_and(|wanted| ips.contains(&wanted)),
            Value::Pattern(pieces) => ip_pattern_block(pieces).is_ok_and(within),
            Value::Range { lower, upper } => {
                match (convert(lower, parse_ip), convert(upper, parse_ip)) {
                    (Some(lower), Some(upper)) => ips.iter().any(|ip| in_range(ip, &lower, &upper)),
                    _ => false,
                }
            }
        }
    }

    fn code(&self, value: &Value) -> bool {
        let Some(code) = self.subject.code() else {
            return false;
        };
        match value {
            Value::Exists => true,
            Value::Text(text) => match code_class(text) {
                Some((first, last)) => (first..=last).contains(&code),
                None => parse_code(text).is_ok_and(|wanted| wanted == code),
            },
            Value::Pattern(pieces) => code < 1000 && wildcard_match(pieces, &code.to_string()),
            Value::Range { lower, upper } => {
                match (convert(lower, parse_code), convert(upper, parse_code)) {
                    (Some(lower), Some(upper)) => in_range(&code, &lower, &upper),
                    _ => false,
                }
            }
        }
    }

    fn time(&self, value: &Value) -> bool {
        let Some(time) = self.subject.time() else {
            return false;
        };
        match value {
            Value::Exists => true,
            Value::Text(text) => parse_time(text).is_ok_and(|wanted| wanted == time),
            Value::Pattern(_) => false,
            Value::Range { lower, upper } => {
                match (convert(lower, parse_time), convert(upper, parse_time)) {
                    (Some(lower), Some(upper)) => in_range(&time, &lower, &upper),
                    _ => false,
                }
            }
        }
    }
}

fn analyzer() -> TextAnalyzer {
    TokenizerManager::default()
        .get("default")
        .unwrap_or_else(|| TextAnalyzer::from(tantivy::tokenizer::SimpleTokenizer::default()))
}

impl Matcher {
    /// Parses a query; a bad one is `SearchError::Query`, as for a search.
    pub fn parse(query_text: &str) -> Result<Matcher, SearchError> {
        let node = query::parse(query_text)?;
        // Compiling checks values (addresses, codes, times, patterns) exactly as a search does.
        let fields = Fields::new(&schema::tantivy_schema(true))?;
        Compiler::new(&fields).compile(&node)?;
        Ok(Matcher { node })
    }

    /// Whether `event` matches.
    pub fn matches(&self, event: &Event) -> bool {
        let mut analyzer = analyzer();
        Evaluation {
            subject: event,
            words: None,
            analyzer: &mut analyzer,
        }
        .eval(&self.node)
    }

    /// Whether `alert` matches (see the type's docs for what its fields are).
    pub fn matches_alert(&self, alert: &Alert) -> bool {
        let mut analyzer = analyzer();
        Evaluation {
            subject: alert,
            words: None,
            analyzer: &mut analyzer,
        }
        .eval(&self.node)
    }
}
