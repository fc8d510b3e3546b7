//! The tantivy schema of a day index and how an `Event` becomes a document.

use std::net::{IpAddr, Ipv6Addr};

use event::Event;
use tantivy::TantivyDocument;
use tantivy::schema::{
    FAST, Field, IndexRecordOption, IpAddrOptions, NumericOptions, Schema, TextFieldIndexing,
    TextOptions,
};

use crate::SearchError;
use crate::text::{KEYS_TOKENIZER, VALUES_TOKENIZER};

/// What kind of values a field holds, which decides how a query value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Untokenised, case-sensitive string (tantivy `raw` tokenizer).
    Exact,
    /// The raw event JSON, tokenised and lowercased.
    Text,
    /// IP addresses (IPv4 stored as IPv4-mapped IPv6).
    Ip,
    /// The HTTP response code, u64.
    Code,
    /// Event time, i64 microseconds since the epoch.
    Time,
}

/// A field users can name in a query.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FieldDef {
    pub name: &'static str,
    pub kind: Kind,
    /// Has a fast column, so it can be a facet.
    pub facet: bool,
}

const fn def(name: &'static str, kind: Kind, facet: bool) -> FieldDef {
    FieldDef { name, kind, facet }
}

/// The field bare terms search: the words of the raw JSON's values.
pub(crate) const RAW: &str = "raw";
/// The words of the raw JSON's object keys (searched together with `raw` for single words).
pub(crate) const RAW_KEYS: &str = "raw_keys";

/// Every queryable field, in the order error messages list them.
pub(crate) const FIELDS: &[FieldDef] = &[
    def(RAW, Kind::Text, false),
    def("event_id", Kind::Exact, false),
    def("time", Kind::Time, false),
    def("cluster", Kind::Exact, true),
    def("source", Kind::Exact, true),
    def("verb", Kind::Exact, true),
    def("user", Kind::Exact, true),
    def("groups", Kind::Exact, true),
    def("impersonated_user", Kind::Exact, true),
    def("actor_kind", Kind::Exact, true),
    def("ip", Kind::Ip, true),
    def("user_agent", Kind::Exact, true),
    def("resource", Kind::Exact, true),
    def("subresource", Kind::Exact, true),
    def("api_group", Kind::Exact, true),
    def("namespace", Kind::Exact, true),
    def("name", Kind::Exact, true),
    def("code", Kind::Code, true),
    def("decision", Kind::Exact, true),
    def("falco_rule", Kind::Exact, true),
    def("falco_priority", Kind::Exact, true),
    def("pod_name", Kind::Exact, true),
    def("rule", Kind::Exact, true),
    def("image", Kind::Exact, true),
];

/// Other names accepted for a field: the `Event`/SQL column names and the `Hit` member names.
const ALIASES: &[(&str, &str)] = &[
    ("response_code", "code"),
    ("source_ips", "ip"),
    ("source_ip", "ip"),
    ("user_groups", "groups"),
    ("rule_id", "rule"),
    ("rule_ids", "rule"),
    ("images", "image"),
];

/// The field called `name` (or one of its aliases).
pub(crate) fn lookup(name: &str) -> Option<&'static FieldDef> {
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, target)| target);
    FIELDS.iter().find(|def| def.name == name)
}

/// "raw, event_id, time, ..." for error messages.
pub(crate) fn field_list() -> String {
    FIELDS
        .iter()
        .map(|def| def.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// "cluster, source, ..." for error messages about facets.
pub(crate) fn facet_list() -> String {
    FIELDS
        .iter()
        .filter(|def| def.facet)
        .map(|def| def.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Exact string fields, stored in the doc store unless listed in `NOT_STORED`.
const EXACT: &[&str] = &[
    "cluster",
    "source",
    "verb",
    "user",
    "groups",
    "impersonated_user",
    "actor_kind",
    "user_agent",
    "resource",
    "subresource",
    "api_group",
    "namespace",
    "name",
    "decision",
    "falco_rule",
    "falco_priority",
    "pod_name",
    "rule",
    "image",
];
const NOT_STORED: &[&str] = &["image"];

/// Build the schema of a day index. `positions`: index token positions of the raw text (needed
/// for phrase queries across tokens, see README).
pub fn tantivy_schema(positions: bool) -> Schema {
    let mut builder = Schema::builder();
    let raw_indexing = TextFieldIndexing::default()
        .set_tokenizer("raw")
        .set_fieldnorms(false)
        .set_index_option(IndexRecordOption::Basic);
    builder.add_text_field(
        "event_id",
        TextOptions::default()
            .set_indexing_options(raw_indexing.clone())
            .set_stored(),
    );
    builder.add_i64_field("time", FAST);
    builder.add_u64_field("tie", FAST);
    builder.add_u64_field("seq", NumericOptions::default().set_indexed().set_fast());
    for name in EXACT {
        let mut options = TextOptions::default()
            .set_indexing_options(raw_indexing.clone())
            .set_fast("raw");
        if !NOT_STORED.contains(name) {
            options = options.set_stored();
        }
        builder.add_text_field(name, options);
    }
    builder.add_ip_addr_field(
        "ip",
        IpAddrOptions::default()
            .set_indexed()
            .set_fast()
            .set_stored(),
    );
    builder.add_u64_field(
        "code",
        NumericOptions::default()
            .set_indexed()
            .set_fast()
            .set_stored(),
    );
    let record = if positions {
        IndexRecordOption::WithFreqsAndPositions
    } else {
        IndexRecordOption::Basic
    };
    builder.add_text_field(
        RAW,
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(VALUES_TOKENIZER)
                .set_fieldnorms(false)
                .set_index_option(record),
        ),
    );
    builder.add_text_field(
        RAW_KEYS,
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(KEYS_TOKENIZER)
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::Basic),
        ),
    );
    builder.build()
}

/// Field handles of a day index schema.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    pub event_id: Field,
    pub time: Field,
    pub tie: Field,
    pub seq: Field,
    pub raw: Field,
    pub raw_keys: Field,
    pub ip: Field,
    pub code: Field,
    pub cluster: Field,
    pub source: Field,
    pub verb: Field,
    pub user: Field,
    pub groups: Field,
    pub impersonated_user: Field,
    pub actor_kind: Field,
    pub user_agent: Field,
    pub resource: Field,
    pub subresource: Field,
    pub api_group: Field,
    pub namespace: Field,
    pub name: Field,
    pub decision: Field,
    pub falco_rule: Field,
    pub falco_priority: Field,
    pub pod_name: Field,
    pub rule: Field,
    pub image: Field,
    /// Whether the raw text has positions (phrase queries).
    pub positions: bool,
}

impl Fields {
    pub fn new(schema: &Schema) -> Result<Fields, SearchError> {
        let get = |name: &str| {
            schema
                .get_field(name)
                .map_err(|_| SearchError::Index(format!("index schema has no field {name}")))
        };
        let raw = get(RAW)?;
        let positions = schema
            .get_field_entry(raw)
            .field_type()
            .get_index_record_option()
            .is_some_and(|option| option.has_positions());
        Ok(Fields {
            event_id: get("event_id")?,
            time: get("time")?,
            tie: get("tie")?,
            seq: get("seq")?,
            raw,
            raw_keys: get(RAW_KEYS)?,
            ip: get("ip")?,
            code: get("code")?,
            cluster: get("cluster")?,
            source: get("source")?,
            verb: get("verb")?,
            user: get("user")?,
            groups: get("groups")?,
            impersonated_user: get("impersonated_user")?,
            actor_kind: get("actor_kind")?,
            user_agent: get("user_agent")?,
            resource: get("resource")?,
            subresource: get("subresource")?,
            api_group: get("api_group")?,
            namespace: get("namespace")?,
            name: get("name")?,
            decision: get("decision")?,
            falco_rule: get("falco_rule")?,
            falco_priority: get("falco_priority")?,
            pod_name: get("pod_name")?,
            rule: get("rule")?,
            image: get("image")?,
            positions,
        })
    }

    /// The tantivy field of a queryable field name (already resolved through `lookup`).
    pub fn by_name(&self, name: &str) -> Option<Field> {
        Some(match name {
            RAW => self.raw,
            "event_id" => self.event_id,
            "time" => self.time,
            "ip" => self.ip,
            "code" => self.code,
            "cluster" => self.cluster,
            "source" => self.source,
            "verb" => self.verb,
            "user" => self.user,
            "groups" => self.groups,
            "impersonated_user" => self.impersonated_user,
            "actor_kind" => self.actor_kind,
            "user_agent" => self.user_agent,
            "resource" => self.resource,
            "subresource" => self.subresource,
            "api_group" => self.api_group,
            "namespace" => self.namespace,
            "name" => self.name,
            "decision" => self.decision,
            "falco_rule" => self.falco_rule,
            "falco_priority" => self.falco_priority,
            "pod_name" => self.pod_name,
            "rule" => self.rule,
            "image" => self.image,
            _ => return None,
        })
    }
}

/// The sort tie-break of an event: the first 16 hex digits of its id (ids are 32 lowercase hex
/// digits), or an FNV-1a hash of the id when it is not hex.
pub fn tie_of(event_id: &str) -> u64 {
    let bytes = event_id.as_bytes();
    if bytes.len() >= 16
        && let Ok(value) = u64::from_str_radix(&event_id[..16], 16)
    {
        return value;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// An IP address as the index stores it.
pub(crate) fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// A stored address back as text: IPv4-mapped addresses as IPv4.
pub(crate) fn ip_text(ip: Ipv6Addr) -> String {
    match ip.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => ip.to_string(),
    }
}

fn add_opt(doc: &mut TantivyDocument, field: Field, value: &Option<String>) {
    if let Some(value) = value
        && !value.is_empty()
    {
        doc.add_text(field, value);
    }
}

fn add_distinct<'a>(
    doc: &mut TantivyDocument,
    field: Field,
    values: impl Iterator<Item = &'a str>,
    seen: &mut Vec<&'a str>,
) {
    seen.clear();
    for value in values {
        if !value.is_empty() && !seen.contains(&value) {
            seen.push(value);
            doc.add_text(field, value);
        }
    }
}

/// The document of one event. `rules`: ids of the alerts that fired on it; `seq`: the commit
/// sequence number the document belongs to.
pub(crate) fn build_doc(
    fields: &Fields,
    event: &Event,
    rules: &[&str],
    seq: u64,
) -> TantivyDocument {
    let mut doc = TantivyDocument::with_capacity(2 * event.raw.len() + 512);
    doc.add_text(fields.event_id, &event.event_id);
    doc.add_i64(fields.time, event.time);
    doc.add_u64(fields.tie, tie_of(&event.event_id));
    doc.add_u64(fields.seq, seq);
    if !event.cluster.is_empty() {
        doc.add_text(fields.cluster, &event.cluster);
    }
    doc.add_text(fields.source, event.source.as_str());
    add_opt(&mut doc, fields.verb, &event.verb);
    add_opt(&mut doc, fields.user, &event.user);
    let mut seen = Vec::new();
    add_distinct(
        &mut doc,
        fields.groups,
        event.user_groups.iter().map(String::as_str),
        &mut seen,
    );
    add_opt(&mut doc, fields.impersonated_user, &event.impersonated_user);
    if let Some(kind) = event.actor_kind {
        doc.add_text(fields.actor_kind, kind.as_str());
    }
    let mut ips: Vec<Ipv6Addr> = Vec::with_capacity(event.source_ips.len());
    for text in &event.source_ips {
        if let Ok(ip) = text.trim().parse::<IpAddr>() {
            let ip = to_v6(ip);
            if !ips.contains(&ip) {
                ips.push(ip);
                doc.add_ip_addr(fields.ip, ip);
            }
        }
    }
    add_opt(&mut doc, fields.user_agent, &event.user_agent);
    add_opt(&mut doc, fields.resource, &event.resource);
    add_opt(&mut doc, fields.subresource, &event.subresource);
    add_opt(&mut doc, fields.api_group, &event.api_group);
    add_opt(&mut doc, fields.namespace, &event.namespace);
    add_opt(&mut doc, fields.name, &event.name);
    if let Some(code) = event.response_code
        && let Ok(code) = u64::try_from(code)
    {
        doc.add_u64(fields.code, code);
    }
    if let Some(decision) = event.decision {
        doc.add_text(fields.decision, decision.as_str());
    }
    add_opt(&mut doc, fields.falco_rule, &event.falco_rule);
    add_opt(&mut doc, fields.falco_priority, &event.falco_priority);
    add_opt(&mut doc, fields.pod_name, &event.pod_name);
    add_distinct(&mut doc, fields.rule, rules.iter().copied(), &mut seen);
    add_distinct(
        &mut doc,
        fields.image,
        event.images.iter().map(|image| image.reference.as_str()),
        &mut seen,
    );
    doc.add_text(fields.raw, &event.raw);
    doc.add_text(fields.raw_keys, &event.raw);
    doc
}
