//! Raw JSON paths: how a `raw.*` field name splits into keys, the paths a field reads, and
//! a parser that keeps only the paths a rule set reads.

use super::{
    ANNOTATION_PSA_AUDIT_VIOLATIONS, ANNOTATION_PSA_ENFORCE_POLICY, EventField, Field,
    LABEL_POD_TEMPLATE_HASH, RAW_ANY_KEY,
};

/// The raw paths a rule set reads, as a tree: raw JSON is parsed into only these paths
/// (`RawPaths::parse`), so a large body costs a skim, not a tree of allocations.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawPaths {
    /// A path ends here: keep the whole value.
    keep: bool,
    children: Vec<(String, RawPaths)>,
}

impl RawPaths {
    pub(crate) fn add(&mut self, path: &[&str]) {
        match path.split_first() {
            None => self.keep = true,
            Some((first, rest)) => {
                let position = match self.children.iter().position(|(key, _)| key == first) {
                    Some(position) => position,
                    None => {
                        self.children
                            .push(((*first).to_owned(), RawPaths::default()));
                        self.children.len() - 1
                    }
                };
                self.children[position].1.add(rest);
            }
        }
    }

    fn child(&self, key: &str) -> Option<&RawPaths> {
        self.children
            .iter()
            .find(|(candidate, _)| candidate == key)
            .map(|(_, child)| child)
    }

    /// Parses `text` keeping only these paths: along every path, objects keep only the keys
    /// on a path and arrays keep every element; where a path ends the value is kept whole.
    /// Values off every path become `null` or are left out, which no path can observe, so
    /// fields read the same as from the fully parsed document. `None` for invalid JSON.
    pub(crate) fn parse(&self, text: &str) -> Option<serde_json::Value> {
        use serde::de::DeserializeSeed;
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let value = Project(self).deserialize(&mut deserializer).ok()?;
        deserializer.end().ok()?;
        Some(value)
    }
}

/// A node that keeps its value whole.
static KEEP: RawPaths = RawPaths {
    keep: true,
    children: Vec::new(),
};

/// Deserialises a value keeping the paths of a `RawPaths` node.
struct Project<'t>(&'t RawPaths);

impl<'de> serde::de::DeserializeSeed<'de> for Project<'_> {
    type Value = serde_json::Value;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<serde_json::Value, D::Error> {
        if self.0.keep {
            serde::Deserialize::deserialize(deserializer)
        } else {
            deserializer.deserialize_any(self)
        }
    }
}

impl<'de> serde::de::Visitor<'de> for Project<'_> {
    type Value = serde_json::Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    // A scalar where a path goes on is never read: only its place matters.
    fn visit_bool<E>(self, _: bool) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_i64<E>(self, _: i64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_u64<E>(self, _: u64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_f64<E>(self, _: f64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_str<E>(self, _: &str) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_unit<E>(self) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<serde_json::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Project(self.0))? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<serde_json::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let child = match (self.0.child(&key), self.0.child(RAW_ANY_KEY)) {
                // A key named on a path and `*` too: keep the value whole.
                (Some(_), Some(_)) => Some(&KEEP),
                (Some(child), None) | (None, Some(child)) => Some(child),
                (None, None) => None,
            };
            match child {
                Some(child) => {
                    let value = map.next_value_seed(Project(child))?;
                    object.insert(key.into_owned(), value);
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(serde_json::Value::Object(object))
    }
}

/// An object key, borrowed from the text when it has no escapes.
struct KeySeed;

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = std::borrow::Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed {
    type Value = std::borrow::Cow<'de, str>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(key))
    }
    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(key.to_owned()))
    }
    fn visit_string<E>(self, key: String) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(key))
    }
}

/// Splits a raw path on dots; `\.` is a literal dot and `["key"]` a whole key.
pub(super) fn parse_raw_path(path: &str) -> Result<Vec<String>, String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars().peekable();
    let mut closed_bracket = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => current.push(escaped),
                None => return Err(format!("raw path `{path}` ends with a lone backslash")),
            },
            '.' => {
                if current.is_empty() && !closed_bracket {
                    return Err(format!("raw path `{path}` has an empty segment"));
                }
                if !closed_bracket {
                    segments.push(std::mem::take(&mut current));
                }
                closed_bracket = false;
            }
            '[' if chars.peek() == Some(&'"') => {
                chars.next();
                if !current.is_empty() {
                    segments.push(std::mem::take(&mut current));
                }
                let mut key = String::new();
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&']') => {
                            chars.next();
                            break;
                        }
                        Some(other) => key.push(other),
                        None => return Err(format!("raw path `{path}` has an unclosed [\"...\"]")),
                    }
                }
                segments.push(key);
                closed_bracket = true;
            }
            _ if closed_bracket => {
                return Err(format!("raw path `{path}` needs a dot after [\"...\"]"));
            }
            other => current.push(other),
        }
    }
    if !closed_bracket {
        if current.is_empty() {
            return Err(format!("raw path `{path}` has an empty segment"));
        }
        segments.push(current);
    }
    Ok(segments)
}

impl Field {
    /// The raw paths the field reads (`raw.*` and fields derived from raw); empty for the
    /// others.
    pub(crate) fn raw_paths(&self) -> Vec<Vec<&str>> {
        match self {
            Field::Raw(path) => vec![path.iter().map(String::as_str).collect()],
            Field::Event(EventField::PsaAuditLevel) => {
                vec![vec!["annotations", ANNOTATION_PSA_AUDIT_VIOLATIONS]]
            }
            Field::Event(EventField::PsaEnforceLevel) => {
                vec![vec!["annotations", ANNOTATION_PSA_ENFORCE_POLICY]]
            }
            Field::Event(EventField::Owner) => ["requestObject", "responseObject"]
                .into_iter()
                .flat_map(|body| {
                    [
                        vec![body, "metadata", "ownerReferences"],
                        vec![body, "metadata", "labels", LABEL_POD_TEMPLATE_HASH],
                    ]
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_paths_split_on_dots_with_escapes_and_brackets() {
        let check = |path: &str, expected: &[&str]| {
            assert_eq!(parse_raw_path(path).unwrap(), expected, "{path}");
        };
        check(
            "requestObject.roleRef.name",
            &["requestObject", "roleRef", "name"],
        );
        check(
            r"requestObject.metadata.labels.pod-security\.kubernetes\.io/enforce",
            &[
                "requestObject",
                "metadata",
                "labels",
                "pod-security.kubernetes.io/enforce",
            ],
        );
        check(
            r#"requestObject.metadata.labels.["pod-security.kubernetes.io/enforce"]"#,
            &[
                "requestObject",
                "metadata",
                "labels",
                "pod-security.kubernetes.io/enforce",
            ],
        );
        check(r#"annotations.["a.b"].c"#, &["annotations", "a.b", "c"]);
        check(
            r#"annotations["a.b"]["c.d"]"#,
            &["annotations", "a.b", "c.d"],
        );
        assert!(parse_raw_path("a..b").is_err());
        assert!(parse_raw_path("a.").is_err());
        assert!(parse_raw_path(r"a\").is_err());
        assert!(parse_raw_path(r#"a.["b"]c"#).is_err());
    }

    #[test]
    fn a_star_keeps_every_key_and_a_named_key_beside_it_keeps_the_value_whole() {
        let mut paths = RawPaths::default();
        paths.add(&["requestObject", "data", RAW_ANY_KEY]);
        paths.add(&["requestObject", "kind"]);
        let text =
            r#"{"requestObject":{"kind":"ConfigMap","data":{"a":"1","b":"2"},"spec":{"x":1}}}"#;
        let value = paths.parse(text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"requestObject": {"kind": "ConfigMap", "data": {"a": "1", "b": "2"}}})
        );
        let mut both = RawPaths::default();
        both.add(&["data", RAW_ANY_KEY, "x"]);
        both.add(&["data", "b"]);
        let value = both
            .parse(r#"{"data":{"a":{"x":1,"y":2},"b":{"x":3,"y":4}}}"#)
            .unwrap();
        assert_eq!(value["data"]["a"], serde_json::json!({"x": 1}));
        assert_eq!(value["data"]["b"], serde_json::json!({"x": 3, "y": 4}));
    }
}
