//! Tokenizers of the raw event JSON.
//!
//! Words are what tantivy's `default` analyzer makes of text (runs of letters and digits,
//! lowercased, dropped when 40 bytes or longer), so a query typed by a user is analysed with
//! that analyzer. The JSON is split in two fields:
//!
//! * `raw` (`kt_json_values`): the words of every value (strings, numbers, literals), with
//!   positions, and a position gap between two values, so a phrase matches inside one value.
//! * `raw_keys` (`kt_json_keys`): the words of object keys, without positions. Keys are 40 % of
//!   the words of an audit event and the same in every event; giving them positions would cost
//!   a quarter of the index for phrases nobody types.

use tantivy::Index;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

pub(crate) const VALUES_TOKENIZER: &str = "kt_json_values";
pub(crate) const KEYS_TOKENIZER: &str = "kt_json_keys";
/// Words of this many bytes or more are not indexed (tantivy's `RemoveLongFilter::limit(40)`).
const MAX_WORD_BYTES: usize = 40;

/// Registers the raw JSON tokenizers on an index; needed to write to it (not to search it).
pub fn register_tokenizers(index: &Index) {
    index
        .tokenizers()
        .register(VALUES_TOKENIZER, JsonTokenizer::values());
    index
        .tokenizers()
        .register(KEYS_TOKENIZER, JsonTokenizer::keys());
}

#[derive(Clone, Default)]
pub(crate) struct JsonTokenizer {
    keys: bool,
    token: Token,
}

impl JsonTokenizer {
    pub fn values() -> JsonTokenizer {
        JsonTokenizer::default()
    }

    pub fn keys() -> JsonTokenizer {
        JsonTokenizer {
            keys: true,
            token: Token::default(),
        }
    }
}

impl Tokenizer for JsonTokenizer {
    type TokenStream<'a> = JsonTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> JsonTokenStream<'a> {
        self.token.reset();
        JsonTokenStream {
            text,
            pos: 0,
            segment: None,
            keys: self.keys,
            position: 0,
            token: &mut self.token,
        }
    }
}

pub(crate) struct JsonTokenStream<'a> {
    text: &'a str,
    /// Scan position (bytes).
    pos: usize,
    /// The value or key being split into words: (end, where scanning resumes after it).
    segment: Option<(usize, usize)>,
    keys: bool,
    /// Position of the next word.
    position: usize,
    token: &'a mut Token,
}

/// An RFC 3339 timestamp (`2024-06-01T12:00:00.123456Z`): not words of the raw text. Event
/// time is the `time` field; the pieces of timestamps (`01t12`, `123456z`) would be a tenth of
/// the words and a fifth of the term dictionary, and nobody searches them.
fn is_timestamp(text: &[u8]) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd";
    text.len() >= SHAPE.len()
        && text.len() <= 40
        && SHAPE.iter().zip(text).all(|(shape, byte)| match shape {
            b'd' => byte.is_ascii_digit(),
            b'T' => matches!(byte, b'T' | b't' | b' '),
            other => other == byte,
        })
        && text[SHAPE.len()..].iter().all(|byte| {
            byte.is_ascii_digit() || matches!(byte, b':' | b'.' | b'-' | b'+' | b'Z' | b'z')
        })
}

/// Index of the closing quote of a string whose contents start at `start` (or the end).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return i,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    bytes.len()
}

impl JsonTokenStream<'_> {
    /// The next word in `[self.pos, end)`: its byte range.
    fn next_word(&mut self, end: usize) -> Option<(usize, usize)> {
        let slice = &self.text[self.pos..end];
        let mut chars = slice.char_indices();
        let start = loop {
            let (offset, c) = chars.next()?;
            if c.is_alphanumeric() {
                break offset;
            }
        };
        let stop = chars
            .find(|(_, c)| !c.is_alphanumeric())
            .map_or(slice.len(), |(offset, _)| offset);
        Some((self.pos + start, self.pos + stop))
    }

    /// Finds the next key or value this stream indexes; false at the end of the text.
    fn next_segment(&mut self) -> bool {
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() {
            let byte = bytes[self.pos];
            if byte == b'"' {
                let start = self.pos + 1;
                let end = string_end(bytes, start);
                let mut after = end + 1;
                let mut next = after;
                while next < bytes.len() && bytes[next].is_ascii_whitespace() {
                    next += 1;
                }
                let is_key = next < bytes.len() && bytes[next] == b':';
                after = after.min(bytes.len());
                if is_key == self.keys && (is_key || !is_timestamp(&bytes[start..end.max(start)])) {
                    self.pos = start;
                    self.segment = Some((end, after));
                    return true;
                }
                self.pos = after;
            } else if byte.is_ascii_alphanumeric() || byte == b'-' || byte >= 0x80 {
                // A number or literal (true, false, null), or stray text.
                let mut end = self.pos;
                while end < bytes.len()
                    && !matches!(bytes[end], b',' | b'}' | b']' | b':' | b'"')
                    && !bytes[end].is_ascii_whitespace()
                {
                    end += 1;
                }
                if !self.keys {
                    self.segment = Some((end, end));
                    return true;
                }
                self.pos = end;
            } else {
                self.pos += 1;
            }
        }
        false
    }
}

impl TokenStream for JsonTokenStream<'_> {
    fn advance(&mut self) -> bool {
        loop {
            let Some((end, after)) = self.segment else {
                if !self.next_segment() {
                    return false;
                }
                // A gap, so no phrase spans two values.
                self.position += 1;
                continue;
            };
            let Some((start, stop)) = self.next_word(end) else {
                self.pos = after;
                self.segment = None;
                continue;
            };
            self.pos = stop;
            let position = self.position;
            self.position += 1;
            if stop - start >= MAX_WORD_BYTES {
                continue;
            }
            let word = &self.text[start..stop];
            self.token.text.clear();
            if word.is_ascii() {
                self.token.text.push_str(word);
                self.token.text.make_ascii_lowercase();
            } else {
                self.token.text.push_str(&word.to_lowercase());
            }
            self.token.offset_from = start;
            self.token.offset_to = stop;
            self.token.position = position;
            self.token.position_length = 1;
            return true;
        }
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(mut tokenizer: JsonTokenizer, text: &str) -> Vec<(usize, String)> {
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push((stream.token().position, stream.token().text.clone()));
        }
        out
    }

    #[test]
    fn values_and_keys_are_split() {
        let json = r#"{"kind":"Event","user":{"username":"system:kube-Proxy","groups":["a b","c"]},"code":404,"ok":true,"n":null,"s":"x\"y\nz","k\"q":1,"t":"2024-06-01T12:00:00.123456Z","d":"2024-06-01"}"#;
        let values = words(JsonTokenizer::values(), json);
        let text: Vec<&str> = values.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(
            text,
            [
                "event", "system", "kube", "proxy", "a", "b", "c", "404", "true", "null", "x", "y",
                "nz", "1", "2024", "06", "01"
            ]
        );
        // Words of one value are adjacent; two values never are.
        let pos = |word: &str| values.iter().find(|(_, w)| w == word).unwrap().0;
        assert_eq!(pos("kube") + 1, pos("proxy"));
        assert_eq!(pos("a") + 1, pos("b"));
        assert!(pos("b") + 1 < pos("c"));
        assert!(pos("event") + 1 < pos("system"));
        let keys: Vec<String> = words(JsonTokenizer::keys(), json)
            .into_iter()
            .map(|(_, w)| w)
            .collect();
        assert_eq!(
            keys,
            [
                "kind", "user", "username", "groups", "code", "ok", "n", "s", "k", "q", "t", "d"
            ]
        );
        assert!(is_timestamp(b"2026-01-01T00:00:00+01:00"));
        assert!(is_timestamp(b"2026-01-01T00:00:00Z"));
        assert!(!is_timestamp(b"2026-01-01T00:00:00Z and more"));
    }

    #[test]
    fn long_words_are_dropped_and_unicode_lowercased() {
        let long = "a".repeat(40);
        let json = format!(r#"{{"v":"Ünïcode {long} ok"}}"#);
        let values = words(JsonTokenizer::values(), &json);
        assert_eq!(values.len(), 2);
        assert_eq!(values[0].1, "ünïcode");
        assert_eq!(values[1].1, "ok");
        assert_eq!(
            values[0].0 + 2,
            values[1].0,
            "the dropped word keeps its position"
        );
        assert!(words(JsonTokenizer::values(), "").is_empty());
        assert!(!words(JsonTokenizer::values(), "not json at all").is_empty());
        assert_eq!(words(JsonTokenizer::values(), r#""unterminated"#).len(), 1);
    }
}
