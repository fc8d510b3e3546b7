//! The query language (Lucene/Kibana style, as users type it) and its translation to tantivy.
//!
//! ```text
//! query    := or
//! or       := and (("OR" | "||") and)*
//! and      := unary (("AND" | "&&")? unary)*          adjacent clauses are ANDed
//! unary    := ("NOT" | "-" | "!") unary | "+" unary | primary
//! primary  := "(" or ")" | FIELD ":" fvalue | value      bare values search `raw`
//! fvalue   := "(" or ")"                                  values inside default to FIELD
//!           | ("[" | "{") bound "TO" bound ("]" | "}")    "*" is an open bound
//!           | (">=" | ">" | "<=" | "<") value
//!           | value
//! value    := "quoted \" text" | unquoted                 unquoted runs to a space or paren;
//!                                                         `*`, `?` are wildcards, `\` escapes
//! ```
//!
//! Precedence is NOT > AND > OR. Keywords are upper case (`and`, `or` are search terms).
//! A value keeps every colon after the field's: `user:system:masters` is field `user`, value
//! `system:masters`. A field name must start with a letter; unknown names are an error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, Occur, PhraseQuery, Query, RangeQuery,
    RegexPhraseQuery, RegexQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};

use crate::SearchError;
use crate::schema::{self, FieldDef, Fields, Kind};

const MAX_QUERY_BYTES: usize = 16 * 1024;
const MAX_DEPTH: usize = 64;

/// One piece of an unquoted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Char(char),
    /// `*`: any run of characters.
    Star,
    /// `?`: one character.
    One,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// A literal value.
    Text(String),
    /// A value with wildcards.
    Pattern(Vec<Piece>),
    /// `[a TO b]`, `>=a`, ...
    Range {
        lower: Bound<String>,
        upper: Bound<String>,
    },
    /// `field:*`.
    Exists,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    All,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Leaf {
        field: &'static FieldDef,
        value: Value,
    },
}

/// Parse a user's query. `""` and `"*"` match everything.
pub(crate) fn parse(query: &str) -> Result<Node, SearchError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(SearchError::query(format!(
            "the query is {} bytes long; the limit is {MAX_QUERY_BYTES}",
            query.len()
        )));
    }
    let trimmed = query.trim();
    if trimmed.is_empty() || trimmed == "*" {
        return Ok(Node::All);
    }
    let mut parser = Parser {
        src: query,
        pos: 0,
        depth: 0,
    };
    let node = parser.parse_or(None)?;
    parser.skip_ws();
    match parser.peek() {
        None => Ok(node),
        Some(')') => Err(parser.error(parser.pos, "unmatched ')'")),
        Some(c) => Err(parser.error(parser.pos, &format!("unexpected '{c}'"))),
    }
}

struct Parser<'a> {
    src: &'a str,
    /// Byte offset.
    pos: usize,
    depth: usize,
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.bump();
        }
    }

    /// A character position (not bytes) for messages, counted from 1.
    fn error(&self, byte_pos: usize, message: &str) -> SearchError {
        let column = self.src[..byte_pos.min(self.src.len())].chars().count() + 1;
        SearchError::query(format!("{message} at position {column}"))
    }

    /// `keyword` at the cursor, followed by a space, a parenthesis, a quote or the end.
    fn at_keyword(&self, keyword: &str) -> bool {
        let rest = self.rest();
        rest.starts_with(keyword)
            && rest[keyword.len()..]
                .chars()
                .next()
                .is_none_or(|c| is_space(c) || c == '(' || c == '"')
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        if self.at_keyword(keyword) {
            self.pos += keyword.len();
            true
        } else {
            false
        }
    }

    fn eat_str(&mut self, text: &str) -> bool {
        if self.rest().starts_with(text) {
            self.pos += text.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), SearchError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(self.pos, "the query nests too deeply"));
        }
        Ok(())
    }

    fn parse_or(&mut self, default: Option<&'static FieldDef>) -> Result<Node, SearchError> {
        let mut items = vec![self.parse_and(default)?];
        loop {
            self.skip_ws();
            if self.eat_keyword("OR") || self.eat_str("||") {
                items.push(self.parse_and(default)?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Node::All)
        } else {
            Node::Or(items)
        })
    }

    fn parse_and(&mut self, default: Option<&'static FieldDef>) -> Result<Node, SearchError> {
        let mut items = vec![self.parse_unary(default)?];
        loop {
            self.skip_ws();
            match self.peek() {
                None | Some(')') => break,
                _ => {}
            }
            if self.at_keyword("OR") || self.rest().starts_with("||") {
                break;
            }
            let _explicit = self.eat_keyword("AND") || self.eat_str("&&");
            items.push(self.parse_unary(default)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Node::All)
        } else {
            Node::And(items)
        })
    }

    fn parse_unary(&mut self, default: Option<&'static FieldDef>) -> Result<Node, SearchError> {
        self.skip_ws();
        self.enter()?;
        let followed_by_term = self.peek_second().is_some_and(|c| !is_space(c));
        let node = if self.eat_keyword("NOT") {
            Node::Not(Box::new(self.parse_unary(default)?))
        } else {
            match self.peek() {
                Some('-' | '!') if followed_by_term => {
                    self.bump();
                    Node::Not(Box::new(self.parse_unary(default)?))
                }
                Some('+') if followed_by_term => {
                    self.bump();
                    self.parse_unary(default)?
                }
                None => return Err(self.error(self.pos, "expected a search term")),
                _ if self.at_keyword("AND") || self.at_keyword("OR") => {
                    return Err(self.error(self.pos, "expected a search term before the operator"));
                }
                _ if self.rest().starts_with("&&") || self.rest().starts_with("||") => {
                    return Err(self.error(self.pos, "expected a search term before the operator"));
                }
                _ => self.parse_primary(default)?,
            }
        };
        self.depth -= 1;
        Ok(node)
    }

    fn parse_group(&mut self, default: Option<&'static FieldDef>) -> Result<Node, SearchError> {
        let open = self.pos;
        self.bump(); // '('
        self.enter()?;
        self.skip_ws();
        if self.peek() == Some(')') {
            return Err(self.error(open, "empty parentheses"));
        }
        let node = self.parse_or(default)?;
        self.skip_ws();
        if self.bump() != Some(')') {
            return Err(self.error(open, "missing ')' for the '('"));
        }
        self.depth -= 1;
        Ok(node)
    }

    fn parse_primary(&mut self, default: Option<&'static FieldDef>) -> Result<Node, SearchError> {
        match self.peek() {
            Some('(') => self.parse_group(default),
            Some(')') => Err(self.error(self.pos, "unexpected ')'")),
            _ => self.parse_clause(default),
        }
    }

    /// `name:` at the cursor: the name and the byte offset after the colon.
    fn field_prefix(&self) -> Option<(&'a str, usize)> {
        let rest: &'a str = &self.src[self.pos..];
        let mut chars = rest.char_indices();
        let (_, first) = chars.next()?;
        if !first.is_ascii_alphabetic() {
            return None;
        }
        for (index, c) in chars {
            if c == ':' {
                return Some((&rest[..index], self.pos + index + 1));
            }
            if !(c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                return None;
            }
        }
        None
    }

    fn parse_clause(&mut self, default: Option<&'static FieldDef>) -> Result<Node, SearchError> {
        let start = self.pos;
        if let Some((name, after)) = self.field_prefix() {
            let Some(field) = schema::lookup(name) else {
                return Err(SearchError::query(format!(
                    "unknown field '{name}' at position {}; valid fields are: {} \
                     (put a value that contains ':' in quotes)",
                    self.src[..start].chars().count() + 1,
                    schema::field_list()
                )));
            };
            self.pos = after;
            return self.parse_field_value(field, name);
        }
        let field = match default {
            Some(field) => field,
            None => {
                schema::lookup(schema::RAW).ok_or_else(|| SearchError::query("no raw field"))?
            }
        };
        let value = self.parse_value(&[])?;
        Ok(Node::Leaf { field, value })
    }

    fn parse_field_value(
        &mut self,
        field: &'static FieldDef,
        name: &str,
    ) -> Result<Node, SearchError> {
        let value = match self.peek() {
            None => {
                return Err(self.error(self.pos, &format!("expected a value after '{name}:'")));
            }
            Some(c) if is_space(c) || c == ')' => {
                return Err(self.error(self.pos, &format!("expected a value after '{name}:'")));
            }
            Some('(') => return self.parse_group(Some(field)),
            Some('[' | '{') => self.parse_range()?,
            Some('>' | '<') => self.parse_comparison()?,
            Some(_) => self.parse_value(&[])?,
        };
        Ok(Node::Leaf { field, value })
    }

    fn parse_range(&mut self) -> Result<Value, SearchError> {
        let open_pos = self.pos;
        let inclusive_lower = self.bump() == Some('[');
        self.skip_ws();
        let lower = self.parse_bound(&[])?;
        self.skip_ws();
        if !self.eat_keyword("TO") {
            return Err(self.error(self.pos, "expected 'TO' in the range"));
        }
        self.skip_ws();
        if self.peek().is_none() {
            return Err(self.error(open_pos, "unterminated range"));
        }
        let upper = self.parse_bound(&[']', '}'])?;
        self.skip_ws();
        let inclusive_upper = match self.bump() {
            Some(']') => true,
            Some('}') => false,
            _ => return Err(self.error(open_pos, "missing ']' or '}' for the range")),
        };
        let wrap = |bound: Option<String>, inclusive: bool| match bound {
            None => Bound::Unbounded,
            Some(value) if inclusive => Bound::Included(value),
            Some(value) => Bound::Excluded(value),
        };
        Ok(Value::Range {
            lower: wrap(lower, inclusive_lower),
            upper: wrap(upper, inclusive_upper),
        })
    }

    /// A range bound: `None` for `*`.
    fn parse_bound(&mut self, stops: &[char]) -> Result<Option<String>, SearchError> {
        let start = self.pos;
        match self.parse_value(stops)? {
            Value::Text(text) => Ok(Some(text)),
            Value::Exists => Ok(None),
            _ => Err(self.error(start, "a range bound cannot have wildcards")),
        }
    }

    fn parse_comparison(&mut self) -> Result<Value, SearchError> {
        let start = self.pos;
        let op = if self.eat_str(">=") {
            ">="
        } else if self.eat_str("<=") {
            "<="
        } else if self.eat_str(">") {
            ">"
        } else {
            self.bump();
            "<"
        };
        let value = match self.peek() {
            Some(c) if !is_space(c) && c != ')' => self.parse_value(&[])?,
            _ => return Err(self.error(self.pos, &format!("expected a value after '{op}'"))),
        };
        let Value::Text(text) = value else {
            return Err(self.error(start, "a comparison needs a plain value"));
        };
        let (lower, upper) = match op {
            ">=" => (Bound::Included(text), Bound::Unbounded),
            ">" => (Bound::Excluded(text), Bound::Unbounded),
            "<=" => (Bound::Unbounded, Bound::Included(text)),
            _ => (Bound::Unbounded, Bound::Excluded(text)),
        };
        Ok(Value::Range { lower, upper })
    }

    /// A quoted or unquoted value. Unquoted values end at a space, a parenthesis or one of
    /// `stops`.
    fn parse_value(&mut self, stops: &[char]) -> Result<Value, SearchError> {
        let start = self.pos;
        if self.peek() == Some('"') {
            self.bump();
            let mut text = String::new();
            loop {
                match self.bump() {
                    None => return Err(self.error(start, "unterminated quote")),
                    Some('"') => break,
                    Some('\\') => match self.bump() {
                        Some(c) => text.push(c),
                        None => return Err(self.error(start, "unterminated quote")),
                    },
                    Some(c) => text.push(c),
                }
            }
            return Ok(Value::Text(text));
        }
        let mut pieces = Vec::new();
        let mut wild = false;
        while let Some(c) = self.peek() {
            if is_space(c) || c == '(' || c == ')' || stops.contains(&c) {
                break;
            }
            self.bump();
            match c {
                '\\' => match self.bump() {
                    Some(escaped) => pieces.push(Piece::Char(escaped)),
                    None => return Err(self.error(self.pos, "'\\' at the end of the query")),
                },
                '*' => {
                    wild = true;
                    pieces.push(Piece::Star);
                }
                '?' => {
                    wild = true;
                    pieces.push(Piece::One);
                }
                c => pieces.push(Piece::Char(c)),
            }
        }
        if pieces.is_empty() {
            return Err(self.error(start, "expected a value"));
        }
        if pieces == [Piece::Star] {
            return Ok(Value::Exists);
        }
        if wild {
            return Ok(Value::Pattern(pieces));
        }
        Ok(Value::Text(
            pieces
                .into_iter()
                .filter_map(|piece| match piece {
                    Piece::Char(c) => Some(c),
                    _ => None,
                })
                .collect(),
        ))
    }
}

fn query_error(message: impl Into<String>) -> SearchError {
    SearchError::query(message)
}

fn push_regex_char(out: &mut String, c: char) {
    if matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
            | '"'
            | '<'
            | '>'
            | '@'
    ) {
        out.push('\\');
    }
    out.push(c);
}

/// A wildcard pattern as an (implicitly anchored) regex.
fn pattern_regex(pieces: &[Piece]) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Char(c) => push_regex_char(&mut out, *c),
            Piece::Star => out.push_str(".*"),
            Piece::One => out.push('.'),
        }
    }
    out
}

pub(crate) fn pattern_text(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Char(c) => *c,
            Piece::Star => '*',
            Piece::One => '?',
        })
        .collect()
}

fn boxed(query: impl Query) -> Box<dyn Query> {
    Box::new(query)
}

fn not(query: Box<dyn Query>) -> Box<dyn Query> {
    boxed(BooleanQuery::new(vec![
        (Occur::Must, boxed(AllQuery)),
        (Occur::MustNot, query),
    ]))
}

/// A wildcard value of raw text split into words like the tokenizer splits text (on anything
/// but letters and digits, lowercased), the wildcards kept inside words. A lone `*` before or
/// after a separator adds nothing (`foo-*` is `foo`).
pub(crate) fn pattern_words(pieces: &[Piece]) -> Vec<Vec<Piece>> {
    let mut words: Vec<Vec<Piece>> = vec![Vec::new()];
    for piece in pieces {
        let last = words.len() - 1;
        match piece {
            Piece::Char(c) if c.is_alphanumeric() => {
                words[last].extend(c.to_lowercase().map(Piece::Char))
            }
            Piece::Char(_) => words.push(Vec::new()),
            wildcard => words[last].push(wildcard.clone()),
        }
    }
    words.retain(|word| !word.is_empty());
    while words.first().is_some_and(|w| w == &[Piece::Star]) {
        words.remove(0);
    }
    while words.last().is_some_and(|w| w == &[Piece::Star]) {
        words.pop();
    }
    words
}

/// Translates a parsed query to a tantivy query for one day index's schema.
pub(crate) struct Compiler<'a> {
    fields: &'a Fields,
    analyzer: TextAnalyzer,
}

impl<'a> Compiler<'a> {
    pub fn new(fields: &'a Fields) -> Compiler<'a> {
        // The same analyzer the `raw` field is indexed with.
        let analyzer = TokenizerManager::default()
            .get("default")
            .unwrap_or_else(|| TextAnalyzer::from(tantivy::tokenizer::SimpleTokenizer::default()));
        Compiler { fields, analyzer }
    }

    pub fn compile(&mut self, node: &Node) -> Result<Box<dyn Query>, SearchError> {
        Ok(match node {
            Node::All => boxed(AllQuery),
            Node::Not(inner) => not(self.compile(inner)?),
            Node::And(items) => {
                let mut clauses = Vec::with_capacity(items.len() + 1);
                for item in items {
                    match item {
                        Node::Not(inner) => clauses.push((Occur::MustNot, self.compile(inner)?)),
                        Node::All => {}
                        item => clauses.push((Occur::Must, self.compile(item)?)),
                    }
                }
                if !clauses.iter().any(|(occur, _)| *occur == Occur::Must) {
                    clauses.push((Occur::Must, boxed(AllQuery)));
                }
                boxed(BooleanQuery::new(clauses))
            }
            Node::Or(items) => {
                let mut clauses = Vec::with_capacity(items.len());
                for item in items {
                    if *item == Node::All {
                        return Ok(boxed(AllQuery));
                    }
                    clauses.push((Occur::Should, self.compile(item)?));
                }
                boxed(BooleanQuery::new(clauses))
            }
            Node::Leaf { field, value } => self.leaf(field, value)?,
        })
    }

    fn field(&self, def: &FieldDef) -> Result<Field, SearchError> {
        self.fields
            .by_name(def.name)
            .ok_or_else(|| SearchError::Index(format!("index schema has no field {}", def.name)))
    }

    fn leaf(&mut self, def: &FieldDef, value: &Value) -> Result<Box<dyn Query>, SearchError> {
        let field = self.field(def)?;
        match def.kind {
            Kind::Text => self.text(def, field, value),
            Kind::Exact => exact(def, field, value),
            Kind::Ip => ip(def, field, value),
            Kind::Code => code(def, field, value),
            Kind::Time => time(def, field, value),
        }
    }

    /// Lowercased tokens of `text` with their positions, as the raw field was indexed.
    fn tokens(&mut self, text: &str) -> Vec<(usize, String)> {
        let mut tokens = Vec::new();
        let mut stream = self.analyzer.token_stream(text);
        while stream.advance() {
            let token = stream.token();
            tokens.push((token.position, token.text.clone()));
        }
        tokens
    }

    fn text(
        &mut self,
        def: &FieldDef,
        field: Field,
        value: &Value,
    ) -> Result<Box<dyn Query>, SearchError> {
        let positions = self.fields.positions;
        match value {
            Value::Exists => Ok(boxed(AllQuery)),
            Value::Range { .. } => Err(query_error(format!(
                "ranges are not supported on {}; name a field, e.g. code:[400 TO 499]",
                def.name
            ))),
            Value::Text(text) => {
                let tokens = self.tokens(text);
                let keys = self.fields.raw_keys;
                match tokens.len() {
                    0 => Err(query_error(format!(
                        "'{text}' has nothing to search for: the raw text index keeps runs of \
                         letters and digits shorter than 40 characters"
                    ))),
                    1 => Ok(word_query(field, keys, &tokens[0].1)),
                    _ if positions => Ok(boxed(PhraseQuery::new_with_offset(
                        tokens
                            .into_iter()
                            .map(|(position, token)| {
                                (position, Term::from_field_text(field, &token))
                            })
                            .collect(),
                    ))),
                    _ => Ok(all_of(
                        tokens
                            .into_iter()
                            .map(|(_, token)| {
                                term_query(Some(Term::from_field_text(field, &token)))
                            })
                            .collect(),
                    )),
                }
            }
            Value::Pattern(pieces) => {
                let tokens = pattern_words(pieces);
                let is_wild = |token: &[Piece]| token.iter().any(|p| !matches!(p, Piece::Char(_)));
                let literal = |token: &[Piece]| pattern_text(token);
                match tokens.len() {
                    0 => Ok(boxed(AllQuery)),
                    1 if is_wild(&tokens[0]) => {
                        let pattern = pattern_regex(&tokens[0]);
                        Ok(boxed(BooleanQuery::new(vec![
                            (Occur::Should, regex_query(&pattern, field)?),
                            (Occur::Should, regex_query(&pattern, self.fields.raw_keys)?),
                        ])))
                    }
                    1 => Ok(word_query(
                        field,
                        self.fields.raw_keys,
                        &literal(&tokens[0]),
                    )),
                    _ if positions => Ok(boxed(RegexPhraseQuery::new_with_offset(
                        field,
                        tokens
                            .iter()
                            .enumerate()
                            .map(|(offset, token)| (offset, pattern_regex(token)))
                            .collect(),
                    ))),
                    _ => {
                        let mut clauses = Vec::new();
                        for token in &tokens {
                            clauses.push(if is_wild(token) {
                                regex_query(&pattern_regex(token), field)?
                            } else {
                                term_query(Some(Term::from_field_text(field, &literal(token))))
                            });
                        }
                        Ok(all_of(clauses))
                    }
                }
            }
        }
    }
}

/// One word of raw text: in a value or in a key.
fn word_query(values: Field, keys: Field, word: &str) -> Box<dyn Query> {
    boxed(BooleanQuery::new(vec![
        (
            Occur::Should,
            term_query(Some(Term::from_field_text(values, word))),
        ),
        (
            Occur::Should,
            term_query(Some(Term::from_field_text(keys, word))),
        ),
    ]))
}

fn term_query(term: Option<Term>) -> Box<dyn Query> {
    match term {
        Some(term) => boxed(TermQuery::new(term, IndexRecordOption::Basic)),
        None => boxed(EmptyQuery),
    }
}

fn all_of(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    boxed(BooleanQuery::new(
        queries
            .into_iter()
            .map(|query| (Occur::Must, query))
            .collect(),
    ))
}

fn regex_query(pattern: &str, field: Field) -> Result<Box<dyn Query>, SearchError> {
    RegexQuery::from_pattern(pattern, field)
        .map(boxed)
        .map_err(|error| query_error(format!("wildcard pattern not usable: {error}")))
}

fn range_query(lower: Bound<Term>, upper: Bound<Term>) -> Box<dyn Query> {
    boxed(RangeQuery::new(lower, upper))
}

fn map_bound<T>(
    bound: &Bound<String>,
    convert: impl Fn(&str) -> Result<T, SearchError>,
) -> Result<Bound<T>, SearchError> {
    Ok(match bound {
        Bound::Included(value) => Bound::Included(convert(value)?),
        Bound::Excluded(value) => Bound::Excluded(convert(value)?),
        Bound::Unbounded => Bound::Unbounded,
    })
}

fn exists(def: &FieldDef) -> Box<dyn Query> {
    if def.facet {
        boxed(ExistsQuery::new(def.name.to_owned(), false))
    } else {
        boxed(AllQuery)
    }
}

fn exact(def: &FieldDef, field: Field, value: &Value) -> Result<Box<dyn Query>, SearchError> {
    match value {
        Value::Exists => Ok(exists(def)),
        Value::Text(text) => Ok(term_query(Some(Term::from_field_text(field, text)))),
        Value::Pattern(pieces) => regex_query(&pattern_regex(pieces), field),
        Value::Range { lower, upper } => {
            if matches!((lower, upper), (Bound::Unbounded, Bound::Unbounded)) {
                return Ok(exists(def));
            }
            let to_term = |text: &str| Ok(Term::from_field_text(field, text));
            Ok(range_query(
                map_bound(lower, to_term)?,
                map_bound(upper, to_term)?,
            ))
        }
    }
}

pub(crate) fn parse_ip(text: &str) -> Result<Ipv6Addr, SearchError> {
    text.parse::<IpAddr>()
        .map(schema::to_v6)
        .map_err(|_| query_error(format!("'{text}' is not an IP address")))
}

/// The first and last address of a CIDR block.
pub(crate) fn cidr(text: &str) -> Result<(Ipv6Addr, Ipv6Addr), SearchError> {
    let bad = || query_error(format!("'{text}' is not a CIDR block"));
    let (address, prefix) = text.split_once('/').ok_or_else(bad)?;
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    let address: IpAddr = address.parse().map_err(|_| bad())?;
    let (bits, prefix) = match address {
        IpAddr::V4(v4) if prefix <= 32 => (u128::from(v4.to_ipv6_mapped()), prefix + 96),
        IpAddr::V6(v6) if prefix <= 128 => (u128::from(v6), prefix),
        _ => return Err(bad()),
    };
    let host_mask = if prefix == 0 {
        u128::MAX
    } else {
        u128::MAX >> prefix
    };
    Ok((
        Ipv6Addr::from(bits & !host_mask),
        Ipv6Addr::from(bits | host_mask),
    ))
}

/// `10.0.*` is 10.0.0.0/16: the first and last address.
pub(crate) fn ip_pattern_block(pieces: &[Piece]) -> Result<(Ipv6Addr, Ipv6Addr), SearchError> {
    let text = pattern_text(pieces);
    let bad = || {
        query_error(format!(
            "'{text}': ip takes addresses, CIDR blocks (10.0.0.0/8), ranges or a trailing \
             IPv4 wildcard (10.0.*)"
        ))
    };
    let prefix = text.strip_suffix(".*").ok_or_else(bad)?;
    let octets: Vec<u8> = prefix
        .split('.')
        .map(|octet| octet.parse::<u8>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if octets.is_empty() || octets.len() > 3 {
        return Err(bad());
    }
    let mut full = [0u8; 4];
    full[..octets.len()].copy_from_slice(&octets);
    cidr(&format!("{}/{}", Ipv4Addr::from(full), octets.len() * 8))
}

/// `4xx` is [400, 499].
pub(crate) fn code_class(text: &str) -> Option<(u64, u64)> {
    if let [digit @ b'1'..=b'9', b'x' | b'X', b'x' | b'X'] = text.as_bytes() {
        let first = u64::from(digit - b'0') * 100;
        return Some((first, first + 99));
    }
    None
}

fn ip(def: &FieldDef, field: Field, value: &Value) -> Result<Box<dyn Query>, SearchError> {
    let block = |(first, last): (Ipv6Addr, Ipv6Addr)| {
        range_query(
            Bound::Included(Term::from_field_ip_addr(field, first)),
            Bound::Included(Term::from_field_ip_addr(field, last)),
        )
    };
    match value {
        Value::Exists => Ok(exists(def)),
        Value::Text(text) if text.contains('/') => Ok(block(cidr(text)?)),
        Value::Text(text) => Ok(term_query(Some(Term::from_field_ip_addr(
            field,
            parse_ip(text)?,
        )))),
        Value::Pattern(pieces) => Ok(block(ip_pattern_block(pieces)?)),
        Value::Range { lower, upper } => {
            if matches!((lower, upper), (Bound::Unbounded, Bound::Unbounded)) {
                return Ok(exists(def));
            }
            let to_term = |text: &str| Ok(Term::from_field_ip_addr(field, parse_ip(text)?));
            Ok(range_query(
                map_bound(lower, to_term)?,
                map_bound(upper, to_term)?,
            ))
        }
    }
}

pub(crate) fn parse_code(text: &str) -> Result<u64, SearchError> {
    text.parse::<u64>()
        .map_err(|_| query_error(format!("'{text}' is not a response code")))
}

fn code(def: &FieldDef, field: Field, value: &Value) -> Result<Box<dyn Query>, SearchError> {
    let to_term = |text: &str| Ok(Term::from_field_u64(field, parse_code(text)?));
    match value {
        Value::Exists => Ok(exists(def)),
        Value::Text(text) => {
            if let Some((first, last)) = code_class(text) {
                return Ok(range_query(
                    Bound::Included(Term::from_field_u64(field, first)),
                    Bound::Included(Term::from_field_u64(field, last)),
                ));
            }
            Ok(term_query(Some(to_term(text)?)))
        }
        Value::Pattern(pieces) => {
            // `4*`, `40?`: every code below 1000 whose digits match.
            let regex = pattern_regex(pieces);
            let terms: Vec<Term> = (0u64..1000)
                .filter(|code| wildcard_match(pieces, &code.to_string()))
                .map(|code| Term::from_field_u64(field, code))
                .collect();
            if terms.is_empty() {
                return Err(query_error(format!(
                    "'{}' matches no response code (pattern {regex})",
                    pattern_text(pieces)
                )));
            }
            Ok(boxed(TermSetQuery::new(terms)))
        }
        Value::Range { lower, upper } => {
            if matches!((lower, upper), (Bound::Unbounded, Bound::Unbounded)) {
                return Ok(exists(def));
            }
            Ok(range_query(
                map_bound(lower, to_term)?,
                map_bound(upper, to_term)?,
            ))
        }
    }
}

/// Whether `text` matches a wildcard pattern (`*` any run, `?` one character).
pub(crate) fn wildcard_match(pieces: &[Piece], text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    // Classic two-pointer wildcard matching with backtracking to the last star.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < chars.len() {
        match pieces.get(p) {
            Some(Piece::Char(c)) if *c == chars[t] => {
                p += 1;
                t += 1;
            }
            Some(Piece::One) => {
                p += 1;
                t += 1;
            }
            Some(Piece::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pieces[p.min(pieces.len())..]
        .iter()
        .all(|piece| *piece == Piece::Star)
}

/// A time in a query: RFC 3339, a date (`2024-06-01`, midnight UTC) or microseconds since
/// the epoch.
pub(crate) fn parse_time(text: &str) -> Result<i64, SearchError> {
    if let Ok(micros) = text.parse::<i64>() {
        return Ok(micros);
    }
    if let Some(micros) = event::parse_rfc3339_micros(text) {
        return Ok(micros);
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(midnight) = date.and_hms_opt(0, 0, 0)
    {
        return Ok(midnight.and_utc().timestamp_micros());
    }
    Err(query_error(format!(
        "'{text}' is not a time (RFC 3339, YYYY-MM-DD or microseconds since the epoch)"
    )))
}

fn time(def: &FieldDef, field: Field, value: &Value) -> Result<Box<dyn Query>, SearchError> {
    let to_term = |text: &str| Ok(Term::from_field_i64(field, parse_time(text)?));
    match value {
        Value::Exists => Ok(boxed(AllQuery)),
        Value::Text(text) => {
            let term = to_term(text)?;
            Ok(range_query(
                Bound::Included(term.clone()),
                Bound::Included(term),
            ))
        }
        Value::Pattern(_) => Err(query_error(format!(
            "{} takes a time or a range, not a wildcard",
            def.name
        ))),
        Value::Range { lower, upper } => {
            if matches!((lower, upper), (Bound::Unbounded, Bound::Unbounded)) {
                return Ok(boxed(AllQuery));
            }
            Ok(range_query(
                map_bound(lower, to_term)?,
                map_bound(upper, to_term)?,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(name: &str, value: Value) -> Node {
        Node::Leaf {
            field: schema::lookup(name).unwrap(),
            value,
        }
    }

    fn text(value: &str) -> Value {
        Value::Text(value.to_owned())
    }

    #[test]
    fn parses_fields_operators_and_precedence() {
        assert_eq!(parse("").unwrap(), Node::All);
        assert_eq!(parse(" * ").unwrap(), Node::All);
        assert_eq!(
            parse("user:alice AND verb:delete").unwrap(),
            Node::And(vec![
                leaf("user", text("alice")),
                leaf("verb", text("delete"))
            ])
        );
        assert_eq!(
            parse("a b OR c").unwrap(),
            Node::Or(vec![
                Node::And(vec![leaf("raw", text("a")), leaf("raw", text("b"))]),
                leaf("raw", text("c"))
            ])
        );
        assert_eq!(
            parse("NOT verb:get -verb:list").unwrap(),
            Node::And(vec![
                Node::Not(Box::new(leaf("verb", text("get")))),
                Node::Not(Box::new(leaf("verb", text("list"))))
            ])
        );
        assert_eq!(
            parse("verb:(create OR delete)").unwrap(),
            Node::Or(vec![
                leaf("verb", text("create")),
                leaf("verb", text("delete"))
            ])
        );
        assert_eq!(
            parse("(user:a)").unwrap(),
            leaf("user", text("a")),
            "a value ends at ')'"
        );
        assert_eq!(
            parse("android or").unwrap(),
            Node::And(vec![leaf("raw", text("android")), leaf("raw", text("or"))])
        );
    }

    #[test]
    fn values_keep_colons_and_wildcards() {
        assert_eq!(
            parse("user:system:masters").unwrap(),
            leaf("user", text("system:masters"))
        );
        assert_eq!(
            parse(r#"user:"system:serviceaccount:default:x""#).unwrap(),
            leaf("user", text("system:serviceaccount:default:x"))
        );
        assert!(matches!(
            parse("user:system:serviceaccount:kube-system:*").unwrap(),
            Node::Leaf {
                value: Value::Pattern(_),
                ..
            }
        ));
        assert_eq!(parse("name:*").unwrap(), leaf("name", Value::Exists));
        assert_eq!(parse(r"name:a\*b").unwrap(), leaf("name", text("a*b")));
        assert_eq!(
            parse("source_ips:10.0.0.1").unwrap(),
            leaf("ip", text("10.0.0.1"))
        );
    }

    #[test]
    fn ranges_and_comparisons() {
        assert_eq!(
            parse("code:[400 TO 499]").unwrap(),
            leaf(
                "code",
                Value::Range {
                    lower: Bound::Included("400".into()),
                    upper: Bound::Included("499".into())
                }
            )
        );
        assert_eq!(
            parse("code:{400 TO *]").unwrap(),
            leaf(
                "code",
                Value::Range {
                    lower: Bound::Excluded("400".into()),
                    upper: Bound::Unbounded
                }
            )
        );
        assert_eq!(
            parse("code:>=500").unwrap(),
            leaf(
                "code",
                Value::Range {
                    lower: Bound::Included("500".into()),
                    upper: Bound::Unbounded
                }
            )
        );
    }

    #[test]
    fn errors_are_query_errors_with_positions() {
        for (query, needle) in [
            ("usr:alice", "unknown field 'usr'"),
            ("User:alice", "valid fields are"),
            ("(user:alice", "missing ')'"),
            ("user:alice)", "unmatched ')'"),
            ("user:", "expected a value after 'user:'"),
            ("\"abc", "unterminated quote"),
            ("a AND", "expected a search term"),
            ("OR a", "expected a search term before the operator"),
            ("code:[1 TO", "unterminated range"),
            ("code:[1 TO 2", "missing ']'"),
            ("code:[1 2]", "expected 'TO'"),
            ("()", "empty parentheses"),
        ] {
            match parse(query) {
                Err(SearchError::Query { message }) => {
                    assert!(message.contains(needle), "{query}: {message}")
                }
                other => panic!("{query}: {other:?}"),
            }
        }
        let deep = "(".repeat(200) + "a" + &")".repeat(200);
        assert!(matches!(parse(&deep), Err(SearchError::Query { .. })));
    }

    #[test]
    fn wildcards_match_like_globs() {
        let pieces = |text: &str| match parse(&format!("user:{text}")).unwrap() {
            Node::Leaf {
                value: Value::Pattern(pieces),
                ..
            } => pieces,
            other => panic!("{other:?}"),
        };
        assert!(wildcard_match(&pieces("4*"), "404"));
        assert!(!wildcard_match(&pieces("4*"), "504"));
        assert!(wildcard_match(&pieces("*0?"), "404"));
        assert!(wildcard_match(&pieces("*a*b*"), "xxaybz"));
        assert!(!wildcard_match(&pieces("*a*b"), "xxaybz"));
        assert_eq!(pattern_regex(&pieces("a.b*")), r"a\.b.*");
    }

    #[test]
    fn cidr_blocks() {
        let (first, last) = cidr("10.1.0.0/16").unwrap();
        assert_eq!(schema::ip_text(first), "10.1.0.0");
        assert_eq!(schema::ip_text(last), "10.1.255.255");
        assert!(cidr("10.0.0.0/33").is_err());
        assert_eq!(parse_time("2024-06-01").unwrap(), 1_717_200_000_000_000);
    }
}
