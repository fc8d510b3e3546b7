//! The wire model: one serde struct that reads an `audit.k8s.io` Event, an `EventList` or a
//! Falco alert in a single pass, borrowing strings from the input where it can and keeping
//! request and response bodies as raw JSON text.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

pub(crate) const ANNOTATION_DECISION: &str = "authorization.k8s.io/decision";
pub(crate) const ANNOTATION_REASON: &str = "authorization.k8s.io/reason";
pub(crate) const ANNOTATION_PSA_VIOLATIONS: &str = "pod-security.kubernetes.io/audit-violations";

/// A JSON string, borrowed from the input unless it had escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(value)))
    }
}

/// Any top-level JSON object this crate understands. Which fields are present decides what it
/// is (see `decode.rs`); unknown fields, legacy `metadata` and Falco `tags`/`uuid`/`source`
/// are skipped.
#[derive(Debug, Deserialize)]
pub(crate) struct Document<'a> {
    #[serde(borrow)]
    pub kind: Option<Text<'a>>,
    #[serde(borrow, rename = "apiVersion")]
    pub api_version: Option<Text<'a>>,

    // audit.k8s.io Event
    #[serde(borrow)]
    pub level: Option<Text<'a>>,
    #[serde(borrow, rename = "auditID")]
    pub audit_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub stage: Option<Text<'a>>,
    #[serde(borrow, rename = "requestURI")]
    pub request_uri: Option<Text<'a>>,
    #[serde(borrow)]
    pub verb: Option<Text<'a>>,
    #[serde(borrow)]
    pub user: Option<UserInfo<'a>>,
    #[serde(borrow, rename = "impersonatedUser")]
    pub impersonated_user: Option<UserInfo<'a>>,
    #[serde(rename = "sourceIPs")]
    pub source_ips: Option<Vec<String>>,
    #[serde(borrow, rename = "userAgent")]
    pub user_agent: Option<Text<'a>>,
    #[serde(borrow, rename = "objectRef")]
    pub object_ref: Option<ObjectRef<'a>>,
    #[serde(rename = "responseStatus")]
    pub response_status: Option<ResponseStatus>,
    #[serde(borrow, rename = "requestObject")]
    pub request_object: Option<&'a RawValue>,
    #[serde(borrow, rename = "responseObject")]
    pub response_object: Option<&'a RawValue>,
    #[serde(borrow, rename = "requestReceivedTimestamp")]
    pub request_received_timestamp: Option<Text<'a>>,
    #[serde(borrow, rename = "stageTimestamp")]
    pub stage_timestamp: Option<Text<'a>>,
    /// Legacy (v1alpha1/v1beta1) event time.
    #[serde(borrow)]
    pub timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    pub annotations: Option<Annotations<'a>>,

    // EventList
    #[serde(borrow)]
    pub items: Option<Vec<&'a RawValue>>,

    // Falco json_output / falcosidekick
    #[serde(borrow)]
    pub time: Option<Text<'a>>,
    #[serde(borrow)]
    pub rule: Option<Text<'a>>,
    #[serde(borrow)]
    pub priority: Option<Text<'a>>,
    #[serde(borrow)]
    pub output: Option<Text<'a>>,
    #[serde(borrow)]
    pub output_fields: Option<OutputFields<'a>>,
    #[serde(borrow)]
    pub hostname: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct UserInfo<'a> {
    #[serde(borrow)]
    pub username: Option<Text<'a>>,
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ObjectRef<'a> {
    #[serde(borrow)]
    pub resource: Option<Text<'a>>,
    #[serde(borrow)]
    pub namespace: Option<Text<'a>>,
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(borrow, rename = "apiGroup")]
    pub api_group: Option<Text<'a>>,
    #[serde(borrow)]
    pub subresource: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResponseStatus {
    pub code: Option<i32>,
}

/// The annotations the normaliser reads; all others are skipped without allocating.
#[derive(Debug, Default)]
pub(crate) struct Annotations<'a> {
    pub decision: Option<Text<'a>>,
    pub reason: Option<Text<'a>>,
    pub psa_violations: Option<Text<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Annotations<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(AnnotationsVisitor)
    }
}

struct AnnotationsVisitor;

impl<'de> Visitor<'de> for AnnotationsVisitor {
    type Value = Annotations<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a map of annotations")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut annotations = Annotations::default();
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let slot = match key.as_str() {
                ANNOTATION_DECISION => &mut annotations.decision,
                ANNOTATION_REASON => &mut annotations.reason,
                ANNOTATION_PSA_VIOLATIONS => &mut annotations.psa_violations,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value::<LooseText<'de>>()?.0;
        }
        Ok(annotations)
    }
}

/// The Falco `output_fields` the normaliser reads; values may be strings, numbers, booleans
/// or null, and `"<NA>"` or an empty string means absent.
#[derive(Debug, Default)]
pub(crate) struct OutputFields<'a> {
    pub container_id: Option<Text<'a>>,
    pub container_image_repository: Option<Text<'a>>,
    pub container_image_tag: Option<Text<'a>>,
    pub container_image_digest: Option<Text<'a>>,
    pub pod_name: Option<Text<'a>>,
    pub namespace: Option<Text<'a>>,
    pub audit_namespace: Option<Text<'a>>,
    pub user_name: Option<Text<'a>>,
    pub audit_user_name: Option<Text<'a>>,
    pub cluster_name: Option<Text<'a>>,
    pub audit_cluster_name: Option<Text<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for OutputFields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OutputFieldsVisitor)
    }
}

struct OutputFieldsVisitor;

impl<'de> Visitor<'de> for OutputFieldsVisitor {
    type Value = OutputFields<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a map of Falco output fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = OutputFields::default();
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let slot = match key.as_str() {
                "container.id" => &mut fields.container_id,
                "container.image.repository" => &mut fields.container_image_repository,
                "container.image.tag" => &mut fields.container_image_tag,
                "container.image.digest" => &mut fields.container_image_digest,
                "k8s.pod.name" => &mut fields.pod_name,
                "k8s.ns.name" => &mut fields.namespace,
                "ka.target.namespace" => &mut fields.audit_namespace,
                "user.name" => &mut fields.user_name,
                "ka.user.name" => &mut fields.audit_user_name,
                "k8s.cluster.name" => &mut fields.cluster_name,
                "ka.cluster.name" => &mut fields.audit_cluster_name,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value::<LooseText<'de>>()?.0;
        }
        Ok(fields)
    }
}

/// A scalar read as text: strings as they are, numbers and booleans printed, and null,
/// `"<NA>"`, `""`, arrays and objects as absent.
struct LooseText<'a>(Option<Text<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for LooseText<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseTextVisitor)
    }
}

struct LooseTextVisitor;

impl LooseTextVisitor {
    fn text<'a>(text: Text<'a>) -> LooseText<'a> {
        if text.as_str().is_empty() || text.as_str() == "<NA>" {
            LooseText(None)
        } else {
            LooseText(Some(text))
        }
    }

    fn printed<'a>(value: impl ToString) -> LooseText<'a> {
        LooseText(Some(Text(Cow::Owned(value.to_string()))))
    }
}

impl<'de> Visitor<'de> for LooseTextVisitor {
    type Value = LooseText<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a scalar value")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Self::text(Text(Cow::Borrowed(value))))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Self::text(Text(Cow::Owned(value.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Self::text(Text(Cow::Owned(value))))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(Self::printed(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(Self::printed(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(Self::printed(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Ok(Self::printed(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(LooseText(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(LooseText(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(LooseText(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(LooseText(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let document: Document<'_> =
            serde_json::from_str(r#"{"auditID":"plain","verb":"esc\"aped"}"#).unwrap();
        assert!(matches!(
            document.audit_id.unwrap().0,
            Cow::Borrowed("plain")
        ));
        assert!(matches!(document.verb.unwrap().0, Cow::Owned(ref verb) if verb == "esc\"aped"));
    }

    #[test]
    fn output_field_values_of_any_type_are_read_loosely() {
        let fields: OutputFields<'_> = serde_json::from_str(
            r#"{"container.id":"<NA>","k8s.pod.name":null,"k8s.ns.name":42,"user.name":true,
                "ka.user.name":["x"],"container.image.tag":"","ka.cluster.name":"prod","other":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(fields.container_id, None);
        assert_eq!(fields.pod_name, None);
        assert_eq!(fields.namespace.unwrap().as_str(), "42");
        assert_eq!(fields.user_name.unwrap().as_str(), "true");
        assert_eq!(fields.audit_user_name, None);
        assert_eq!(fields.container_image_tag, None);
        assert_eq!(fields.audit_cluster_name.unwrap().as_str(), "prod");
    }
}
