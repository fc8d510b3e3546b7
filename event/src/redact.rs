//! Secret redaction (contract, design.md §3): Secret `data`/`stringData` values, the
//! last-applied annotation of Secrets, TokenRequest and TokenReview tokens, and
//! `Authorization`/`Bearer` credentials in any text. Keys stay; values become `"<redacted>"`.
//! Also the rule for dead-letter excerpts.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem;

use serde_json::Value;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "<redacted>";

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const EXCERPT_MAX_BYTES: usize = 200;
const EXCERPT_FORBIDDEN_WORDS: [&[u8]; 7] = [
    b"data",
    b"stringdata",
    b"token",
    b"authorization",
    b"bearer",
    b"password",
    b"secret",
];

/// The excerpt of a rejected line kept in a `DeadLetter`: its first 200 bytes at most, cut at
/// a character boundary, or `None` when the line contains (in any case) `data`,
/// `stringData`, `token`, `authorization`, `bearer`, `password` or `secret`.
pub fn dead_letter_excerpt(line: &[u8]) -> Option<String> {
    if EXCERPT_FORBIDDEN_WORDS
        .iter()
        .any(|word| positions_ignore_case(line, word, word[0]).next().is_some())
    {
        return None;
    }
    let head = &line[..line.len().min(EXCERPT_MAX_BYTES)];
    let valid = match std::str::from_utf8(head) {
        Ok(text) => text,
        // Either the cut fell inside a character or the line is not UTF-8: keep what is valid.
        Err(error) => std::str::from_utf8(&head[..error.valid_up_to()]).unwrap_or_default(),
    };
    Some(valid.to_owned())
}

/// Replace credentials in free text or raw JSON: the value after an `Authorization` key or
/// header name (`Authorization: Bearer x`, `"authorization":"Basic y"`, URL-encoded forms)
/// and the token after `Bearer `. The result stays valid JSON when the input was.
pub fn redact_credentials(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut edits = Edits::new(text);
    let mut from = 0;
    credential_words(bytes, |position, word| {
        if position < from {
            return;
        }
        let credential = match word {
            CredentialWord::Authorization => {
                authorization_value(text, position + AUTHORIZATION.len())
            }
            CredentialWord::Bearer => bearer_token(bytes, position + BEARER.len()),
        };
        if let Some((start, end)) = credential {
            edits.replace(start, end);
            from = end;
        }
    });
    match edits.finish() {
        Some(redacted) => Cow::Owned(redacted),
        None => Cow::Borrowed(text),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CredentialWord {
    Authorization,
    Bearer,
}

const AUTHORIZATION: &[u8] = b"authorization";
const BEARER: &[u8] = b"bearer";
/// Bytes compared per block; the test below compiles to a few SIMD instructions per block.
const BLOCK: usize = 32;
/// Offsets of the second byte of each word's pair: `bearer`'s last `r`, `authorization`'s `z`.
const BEARER_PAIR: usize = 5;
const AUTHORIZATION_PAIR: usize = 7;

/// Every position (ascending) where `authorization` or `bearer` starts, in any ASCII case.
/// Every event's whole text is searched, so this runs at memory speed: blocks where no byte
/// pair (`b`…`r`, `a`…`z`, case folded by `| 0x20`) lines up are skipped with one branch.
fn credential_words(bytes: &[u8], mut found: impl FnMut(usize, CredentialWord)) {
    let full_blocks_end = bytes.len().saturating_sub(BLOCK + AUTHORIZATION_PAIR) / BLOCK * BLOCK;
    let mut start = 0;
    while start < full_blocks_end {
        if block_may_hold_word(bytes, start) {
            words_at(bytes, start..start + BLOCK, &mut found);
        }
        start += BLOCK;
    }
    words_at(bytes, full_blocks_end..bytes.len(), &mut found);
}

fn words_at(
    bytes: &[u8],
    positions: std::ops::Range<usize>,
    found: &mut impl FnMut(usize, CredentialWord),
) {
    for position in positions {
        let rest = &bytes[position..];
        let folded = |offset: usize| rest.get(offset).map(|byte| byte | 0x20);
        let pair = match rest[0] | 0x20 {
            b'a' => folded(AUTHORIZATION_PAIR) == Some(b'z'),
            b'b' => folded(BEARER_PAIR) == Some(b'r'),
            _ => false,
        };
        if !pair {
            continue;
        }
        match rest[0] | 0x20 {
            b'a' if starts_with_ignore_case(rest, AUTHORIZATION) => {
                found(position, CredentialWord::Authorization);
            }
            b'b' if starts_with_ignore_case(rest, BEARER) => {
                found(position, CredentialWord::Bearer);
            }
            _ => {}
        }
    }
}

/// Whether one of the `BLOCK` positions from `start` begins a byte pair of either word;
/// needs `start + BLOCK + AUTHORIZATION_PAIR <= bytes.len()`.
fn block_may_hold_word(bytes: &[u8], start: usize) -> bool {
    let first = &bytes[start..start + BLOCK];
    let bearer_pair = &bytes[start + BEARER_PAIR..start + BEARER_PAIR + BLOCK];
    let authorization_pair = &bytes[start + AUTHORIZATION_PAIR..start + AUTHORIZATION_PAIR + BLOCK];
    let mut any = 0u8;
    for index in 0..BLOCK {
        let lower = first[index] | 0x20;
        let bearer = (lower == b'b') & ((bearer_pair[index] | 0x20) == b'r');
        let authorization = (lower == b'a') & ((authorization_pair[index] | 0x20) == b'z');
        any |= u8::from(bearer | authorization);
    }
    any != 0
}

/// Redact credentials in place; true when something changed.
pub(crate) fn redact_credentials_in(text: &mut String) -> bool {
    match redact_credentials(text) {
        Cow::Borrowed(_) => false,
        Cow::Owned(redacted) => {
            *text = redacted;
            true
        }
    }
}

static SECRET_KIND: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\"Secret"));
static TOKEN_KINDS: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\"TokenRe"));

/// Which request and response bodies of an audit event need their secrets redacted.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BodyRules {
    /// The event is about `secrets`: every object in the body is treated as a Secret and every
    /// JSON-patch `value` is redacted.
    pub secrets: bool,
    /// `serviceaccounts/token`: `status.token` of the top-level object.
    pub token_request: bool,
    /// `tokenreviews`: `spec.token` of the top-level object.
    pub token_review: bool,
}

impl BodyRules {
    pub(crate) fn for_resource(resource: Option<&str>, subresource: Option<&str>) -> BodyRules {
        BodyRules {
            secrets: resource == Some("secrets"),
            token_request: resource == Some("serviceaccounts") && subresource == Some("token"),
            token_review: resource == Some("tokenreviews"),
        }
    }

    /// Whether `body` may hold something to redact: always under these rules, otherwise only
    /// when it names a Secret, TokenRequest or TokenReview kind somewhere.
    pub(crate) fn applies_to(self, body: &str) -> bool {
        self.secrets
            || self.token_request
            || self.token_review
            || SECRET_KIND.find(body.as_bytes()).is_some()
            || TOKEN_KINDS.find(body.as_bytes()).is_some()
    }
}

/// Redact a parsed request or response body; true when something changed.
pub(crate) fn redact_body(body: &mut Value, rules: BodyRules) -> bool {
    let mut changed = false;
    if rules.token_request {
        changed |= redact_path(body, &["status", "token"]);
    }
    if rules.token_review {
        changed |= redact_path(body, &["spec", "token"]);
    }
    changed | redact_walk(body, rules.secrets)
}

fn redact_walk(value: &mut Value, in_secret: bool) -> bool {
    let mut changed = false;
    match value {
        Value::Array(items) => {
            for item in items {
                if in_secret
                    && is_json_patch_operation(item)
                    && let Some(patch_value) = item.get_mut("value")
                {
                    changed |= set_redacted(patch_value);
                }
                changed |= redact_walk(item, in_secret);
            }
        }
        Value::Object(map) => {
            let (token_path, is_secret_kind): (Option<&[&str]>, bool) =
                match map.get("kind").and_then(Value::as_str) {
                    Some("TokenRequest") => (Some(&["status", "token"]), false),
                    Some("TokenReview") => (Some(&["spec", "token"]), false),
                    Some("Secret" | "SecretList") => (None, true),
                    _ => (None, false),
                };
            let is_secret = in_secret || is_secret_kind;
            for (key, child) in map.iter_mut() {
                if is_secret && (key == "data" || key == "stringData") {
                    changed |= redact_map_values(child);
                } else if is_secret && key == LAST_APPLIED {
                    changed |= set_redacted(child);
                } else {
                    changed |= redact_walk(child, is_secret);
                }
            }
            if let Some(path) = token_path {
                changed |= redact_path(value, path);
            }
        }
        _ => {}
    }
    changed
}

fn is_json_patch_operation(value: &Value) -> bool {
    value.get("op").is_some_and(Value::is_string) && value.get("path").is_some_and(Value::is_string)
}

fn redact_map_values(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => map
            .values_mut()
            .fold(false, |changed, value| set_redacted(value) | changed),
        Value::Null => false,
        other => set_redacted(other),
    }
}

fn redact_path(value: &mut Value, path: &[&str]) -> bool {
    let mut current = value;
    for key in path {
        match current.get_mut(*key) {
            Some(next) => current = next,
            None => return false,
        }
    }
    set_redacted(current)
}

fn set_redacted(value: &mut Value) -> bool {
    if value.is_null() || value.as_str() == Some(REDACTED) {
        return false;
    }
    *value = Value::String(REDACTED.to_owned());
    true
}

/// The credential after an `authorization` key or header name ending at `index`, if any.
fn authorization_value(text: &str, mut index: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    // The closing quote of a JSON key, plain or escaped inside a string.
    if bytes.get(index) == Some(&b'"') {
        index += 1;
    } else if bytes[index..].starts_with(b"\\\"") {
        index += 2;
    }
    while matches!(bytes.get(index), Some(b' ' | b'\t')) {
        index += 1;
    }
    if matches!(bytes.get(index), Some(b':' | b'=')) {
        index += 1;
    } else if starts_with_ignore_case(&bytes[index..], b"%3a")
        || starts_with_ignore_case(&bytes[index..], b"%3d")
    {
        index += 3;
    } else {
        return None;
    }
    index = skip_separators(bytes, index);
    if bytes.get(index) == Some(&b'[') {
        index = skip_separators(bytes, index + 1);
    }
    let (start, end) = if bytes.get(index) == Some(&b'"') {
        (index + 1, json_string_end(bytes, index + 1)?)
    } else if bytes[index..].starts_with(b"\\\"") {
        let start = index + 2;
        let length = bytes[start..]
            .iter()
            .position(|&byte| byte == b'\\' || byte == b'"');
        (start, start + length.unwrap_or(bytes.len() - start))
    } else {
        // `Scheme credential` or a bare credential.
        let word_end = index
            + bytes[index..]
                .iter()
                .take_while(|byte| byte.is_ascii_alphabetic())
                .count();
        let credential = skip_separators(bytes, word_end);
        let credential_end = token_end(bytes, credential);
        if word_end > index && credential > word_end {
            // A scheme: its credential, unless already redacted.
            (
                index,
                if credential_end > credential {
                    credential_end
                } else {
                    index
                },
            )
        } else {
            (index, token_end(bytes, index))
        }
    };
    (end > start && &text[start..end] != REDACTED).then_some((start, end))
}

/// The token after a `bearer` word ending at `after`, if any.
fn bearer_token(bytes: &[u8], after: usize) -> Option<(usize, usize)> {
    let start = skip_separators(bytes, after);
    let end = token_end(bytes, start);
    (start > after && end > start).then_some((start, end))
}

/// Builds a copy of a text with byte ranges (at ASCII boundaries, in increasing order)
/// replaced by `REDACTED`; allocates only on the first replacement.
struct Edits<'a> {
    text: &'a str,
    output: Option<String>,
    copied: usize,
}

impl<'a> Edits<'a> {
    fn new(text: &'a str) -> Edits<'a> {
        Edits {
            text,
            output: None,
            copied: 0,
        }
    }

    fn replace(&mut self, start: usize, end: usize) {
        let output = self
            .output
            .get_or_insert_with(|| String::with_capacity(self.text.len()));
        output.push_str(&self.text[self.copied..start]);
        output.push_str(REDACTED);
        self.copied = end;
    }

    fn finish(self) -> Option<String> {
        let mut output = self.output?;
        output.push_str(&self.text[self.copied..]);
        Some(output)
    }
}

/// Skip spaces between a scheme or header name and its value, plain, URL-encoded or
/// JSON-escaped.
fn skip_separators(bytes: &[u8], mut index: usize) -> usize {
    loop {
        let rest = &bytes[index.min(bytes.len())..];
        let step = match rest {
            [b' ' | b'\t' | b'+', ..] => 1,
            [b'\\', b't', ..] => 2,
            _ if rest.starts_with(b"%20") || rest.starts_with(b"%09") => 3,
            _ if rest.starts_with(b"\\u0020") => 6,
            _ => return index,
        };
        index += step;
    }
}

/// End of a credential starting at `start`: it stops at whitespace, quotes, escapes and
/// delimiters (and at `<`, so `<redacted>` is not redacted again).
fn token_end(bytes: &[u8], start: usize) -> usize {
    let length = bytes[start.min(bytes.len())..]
        .iter()
        .position(|&byte| {
            byte.is_ascii_whitespace()
                || matches!(
                    byte,
                    b'"' | b'\''
                        | b'\\'
                        | b','
                        | b';'
                        | b'&'
                        | b'<'
                        | b'>'
                        | b'('
                        | b')'
                        | b'['
                        | b']'
                        | b'{'
                        | b'}'
                        | b'`'
                )
        })
        .unwrap_or(bytes.len().saturating_sub(start));
    start + length
}

/// Index of the closing quote of a JSON string whose content starts at `start`.
fn json_string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut index = start;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'"' => return Some(index),
            _ => index += 1,
        }
    }
    None
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Positions where the lowercase ASCII `needle` occurs in any case, in increasing order.
/// The scan visits the occurrences of the byte `anchor` of the needle (in either case) with
/// one SIMD pass, so pick its rarest byte.
pub(crate) fn positions_ignore_case<'h>(
    haystack: &'h [u8],
    needle: &'static [u8],
    anchor: u8,
) -> impl Iterator<Item = usize> + 'h {
    let offset = needle.iter().position(|&byte| byte == anchor).unwrap_or(0);
    let anchor = needle[offset];
    memchr::memchr2_iter(anchor, anchor.to_ascii_uppercase(), haystack)
        .filter_map(move |hit| hit.checked_sub(offset))
        .filter(move |&start| starts_with_ignore_case(&haystack[start..], needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_credential_words(bytes: &[u8]) -> Vec<(usize, CredentialWord)> {
        (0..bytes.len())
            .filter_map(|position| {
                let rest = &bytes[position..];
                if starts_with_ignore_case(rest, AUTHORIZATION) {
                    Some((position, CredentialWord::Authorization))
                } else if starts_with_ignore_case(rest, BEARER) {
                    Some((position, CredentialWord::Bearer))
                } else {
                    None
                }
            })
            .collect()
    }

    proptest! {
        /// The block search finds exactly what a byte-by-byte search finds, wherever the words
        /// fall relative to block edges and in whatever case.
        #[test]
        fn credential_word_search_matches_a_naive_scan(
            pieces in proptest::collection::vec(
                prop_oneof![
                    "[a-zA-Z0-9 :=\"{}]{0,40}",
                    "(?i)authorization",
                    "(?i)bearer",
                    "(?i)(a|au|b|be|bea)[a-z]{0,9}(z|r)",
                ],
                0..30,
            )
        ) {
            let text = pieces.concat();
            let mut found = Vec::new();
            credential_words(text.as_bytes(), |position, word| found.push((position, word)));
            prop_assert_eq!(found, naive_credential_words(text.as_bytes()));
        }
    }

    #[test]
    fn credentials_beyond_the_first_blocks_are_redacted() {
        let padding = "x".repeat(100);
        let text = format!(
            r#"{{"a":"{padding}","h":"AUTHORIZATION: basic abc","u":"{padding} BeArEr tok.en {padding}"}}"#
        );
        let redacted = redact_credentials(&text);
        assert!(!redacted.contains("abc"), "{redacted}");
        assert!(!redacted.contains("tok.en"), "{redacted}");
        assert_eq!(redacted.matches(REDACTED).count(), 2, "{redacted}");
    }

    #[test]
    fn credentials_in_text_are_redacted() {
        let cases: &[(&str, &str)] = &[
            (
                "curl -H Authorization: Bearer eyJhbGc.x-y_z http://a",
                "curl -H Authorization: <redacted> http://a",
            ),
            (
                r#"{"Authorization":"Basic dXNlcjpwYXNz","x":1}"#,
                r#"{"Authorization":"<redacted>","x":1}"#,
            ),
            (
                r#"{"authorization": ["Bearer abc"]}"#,
                r#"{"authorization": ["<redacted>"]}"#,
            ),
            (
                r#"{"output":"-H \"Authorization: Bearer abc\" x"}"#,
                r#"{"output":"-H \"Authorization: <redacted>\" x"}"#,
            ),
            (
                "command=Authorization%3A%20Bearer%20abc&command=x",
                "command=Authorization%3A%20<redacted>&command=x",
            ),
            ("token is bearer  abc.def", "token is bearer  <redacted>"),
            ("BEARER abc", "BEARER <redacted>"),
            (
                "Authorization: Bearer <redacted>",
                "Authorization: Bearer <redacted>",
            ),
            ("authorization=secretvalue;", "authorization=<redacted>;"),
            (
                r#"{"text":"Bearer\u0020abc"}"#,
                r#"{"text":"Bearer\u0020<redacted>"}"#,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_credentials(input), *expected, "{input}");
            // Idempotent.
            assert_eq!(redact_credentials(expected), *expected, "{expected}");
        }
    }

    #[test]
    fn kubernetes_annotation_keys_are_not_credentials() {
        let text = r#"{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by rbac.authorization.k8s.io","bearerTokenFile":"/x","authorization":{"mode":"Webhook"}}"#;
        assert!(matches!(redact_credentials(text), Cow::Borrowed(_)));
    }

    #[test]
    fn excerpt_is_cut_at_a_character_boundary() {
        let mut line = "a".repeat(199).into_bytes();
        line.extend_from_slice("é and more".as_bytes());
        assert_eq!(dead_letter_excerpt(&line).unwrap(), "a".repeat(199));
        assert_eq!(
            dead_letter_excerpt(b"{\"short\":1}").unwrap(),
            "{\"short\":1}"
        );
        assert_eq!(dead_letter_excerpt(b"\xff\xfeabc"), Some(String::new()));
    }

    #[test]
    fn excerpt_is_withheld_when_the_line_looks_secret() {
        for line in [
            &b"{\"data\":{}}"[..],
            b"{\"StringData\":1}",
            b"TOKEN",
            b"Authorization",
            b"bearer",
            b"my Password",
            b"a secret",
        ] {
            assert_eq!(
                dead_letter_excerpt(line),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        let mut long = "x".repeat(300);
        long.push_str("password");
        assert_eq!(dead_letter_excerpt(long.as_bytes()), None);
    }

    #[test]
    fn secret_bodies_keep_keys_and_lose_values() {
        let mut body: Value = serde_json::from_str(
            r#"{"kind":"SecretList","items":[{"kind":"Secret","data":{"password":"c2VjcmV0"},
                "metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}","keep":"me"}}}]}"#,
        )
        .unwrap();
        assert!(redact_body(&mut body, BodyRules::default()));
        assert_eq!(body["items"][0]["data"]["password"], REDACTED);
        assert_eq!(
            body["items"][0]["metadata"]["annotations"][LAST_APPLIED],
            REDACTED
        );
        assert_eq!(body["items"][0]["metadata"]["annotations"]["keep"], "me");
        assert!(
            !redact_body(&mut body, BodyRules::default()),
            "already redacted"
        );
    }
}
