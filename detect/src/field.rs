//! Field names of the rule language, resolved once at load time, and how each reads an event.
//!
//! A field yields zero or more values. List-valued fields and paths that cross a list
//! (`pod_specs.containers.privileged`, `raw.requestObject.subjects.name`) yield one value per
//! element; a test on such a field holds when any value satisfies it.

use std::cell::OnceCell;

use event::{Container, ContainerKind, Event, ImageRef, PodSpec, Volume};

/// One value read from an event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A JSON `null` found along a raw path (e.g. a merge patch removing a key).
    Null,
    /// A JSON object or array found at the end of a raw path.
    Composite(&'a serde_json::Value),
}

/// Scalar and list fields of `Event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventField {
    EventId,
    Time,
    Cluster,
    Source,
    AuditId,
    Stage,
    Level,
    Verb,
    RequestUri,
    User,
    UserGroups,
    ImpersonatedUser,
    ActorKind,
    SourceIps,
    UserAgent,
    Resource,
    Subresource,
    ApiGroup,
    Namespace,
    Name,
    ResponseCode,
    Decision,
    Reason,
    ExecCommand,
    PsaViolations,
    FalcoRule,
    FalcoPriority,
    ContainerId,
    PodName,
}

const EVENT_FIELDS: &[(&str, EventField)] = &[
    ("event_id", EventField::EventId),
    ("time", EventField::Time),
    ("cluster", EventField::Cluster),
    ("source", EventField::Source),
    ("audit_id", EventField::AuditId),
    ("stage", EventField::Stage),
    ("level", EventField::Level),
    ("verb", EventField::Verb),
    ("request_uri", EventField::RequestUri),
    ("user", EventField::User),
    ("user_groups", EventField::UserGroups),
    ("impersonated_user", EventField::ImpersonatedUser),
    ("actor_kind", EventField::ActorKind),
    ("source_ips", EventField::SourceIps),
    ("user_agent", EventField::UserAgent),
    ("resource", EventField::Resource),
    ("subresource", EventField::Subresource),
    ("api_group", EventField::ApiGroup),
    ("namespace", EventField::Namespace),
    ("name", EventField::Name),
    ("response_code", EventField::ResponseCode),
    ("decision", EventField::Decision),
    ("reason", EventField::Reason),
    ("exec_command", EventField::ExecCommand),
    ("psa_violations", EventField::PsaViolations),
    ("falco_rule", EventField::FalcoRule),
    ("falco_priority", EventField::FalcoPriority),
    ("container_id", EventField::ContainerId),
    ("pod_name", EventField::PodName),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PodSpecField {
    OwnerKind,
    HostNetwork,
    HostPid,
    HostIpc,
    ServiceAccount,
    AutomountServiceAccountToken,
    RunAsUser,
    RunAsNonRoot,
    SeccompProfile,
}

const POD_SPEC_FIELDS: &[(&str, PodSpecField)] = &[
    ("owner_kind", PodSpecField::OwnerKind),
    ("host_network", PodSpecField::HostNetwork),
    ("host_pid", PodSpecField::HostPid),
    ("host_ipc", PodSpecField::HostIpc),
    ("service_account", PodSpecField::ServiceAccount),
    (
        "automount_service_account_token",
        PodSpecField::AutomountServiceAccountToken,
    ),
    ("run_as_user", PodSpecField::RunAsUser),
    ("run_as_non_root", PodSpecField::RunAsNonRoot),
    ("seccomp_profile", PodSpecField::SeccompProfile),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContainerField {
    Name,
    Kind,
    Image,
    Privileged,
    AllowPrivilegeEscalation,
    RunAsUser,
    RunAsNonRoot,
    ReadOnlyRootFilesystem,
    CapabilitiesAdd,
    CapabilitiesDrop,
    SeccompProfile,
    HostPorts,
}

const CONTAINER_FIELDS: &[(&str, ContainerField)] = &[
    ("name", ContainerField::Name),
    ("kind", ContainerField::Kind),
    ("image", ContainerField::Image),
    ("privileged", ContainerField::Privileged),
    (
        "allow_privilege_escalation",
        ContainerField::AllowPrivilegeEscalation,
    ),
    ("run_as_user", ContainerField::RunAsUser),
    ("run_as_non_root", ContainerField::RunAsNonRoot),
    (
        "read_only_root_filesystem",
        ContainerField::ReadOnlyRootFilesystem,
    ),
    ("capabilities_add", ContainerField::CapabilitiesAdd),
    ("capabilities_drop", ContainerField::CapabilitiesDrop),
    ("seccomp_profile", ContainerField::SeccompProfile),
    ("host_ports", ContainerField::HostPorts),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VolumeField {
    Name,
    HostPath,
}

const VOLUME_FIELDS: &[(&str, VolumeField)] = &[
    ("name", VolumeField::Name),
    ("host_path", VolumeField::HostPath),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageField {
    Reference,
    Registry,
    Repository,
    Tag,
    Digest,
}

const IMAGE_FIELDS: &[(&str, ImageField)] = &[
    ("reference", ImageField::Reference),
    ("registry", ImageField::Registry),
    ("repository", ImageField::Repository),
    ("tag", ImageField::Tag),
    ("digest", ImageField::Digest),
];

/// A field name resolved at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    Event(EventField),
    PodSpec(PodSpecField),
    Container(ContainerField),
    Volume(VolumeField),
    Image(ImageField),
    /// A path into the raw event JSON; arrays along the path fan out.
    Raw(Vec<String>),
    /// What a write changed since the object's last write (stateful; absent without one).
    Change(ChangeField),
}

/// `changes.*`: the object-state fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeField {
    HasPrevious,
    ImagesAdded,
    ContainersAdded,
    PrivilegedAdded,
    HostNamespacesAdded,
    CapabilitiesAdded,
    HostPathsAdded,
}

const CHANGE_FIELDS: &[(&str, ChangeField)] = &[
    ("has_previous", ChangeField::HasPrevious),
    ("images_added", ChangeField::ImagesAdded),
    ("containers_added", ChangeField::ContainersAdded),
    ("privileged_added", ChangeField::PrivilegedAdded),
    ("host_namespaces_added", ChangeField::HostNamespacesAdded),
    ("capabilities_added", ChangeField::CapabilitiesAdded),
    ("host_paths_added", ChangeField::HostPathsAdded),
];

/// The lists a `for_any` block can range over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collection {
    PodSpecs,
    Containers,
    Volumes,
    Images,
}

impl Collection {
    pub(crate) fn parse(name: &str) -> Option<Collection> {
        match name {
            "pod_specs" => Some(Collection::PodSpecs),
            "pod_specs.containers" => Some(Collection::Containers),
            "pod_specs.volumes" => Some(Collection::Volumes),
            "images" => Some(Collection::Images),
            _ => None,
        }
    }
}

/// Every field name a rule may use, for error messages and documentation.
pub(crate) fn known_field_names() -> Vec<String> {
    let mut names: Vec<String> = EVENT_FIELDS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    names.extend(
        POD_SPEC_FIELDS
            .iter()
            .map(|(name, _)| format!("pod_specs.{name}")),
    );
    names.extend(
        CONTAINER_FIELDS
            .iter()
            .map(|(name, _)| format!("pod_specs.containers.{name}")),
    );
    names.extend(
        VOLUME_FIELDS
            .iter()
            .map(|(name, _)| format!("pod_specs.volumes.{name}")),
    );
    names.extend(
        IMAGE_FIELDS
            .iter()
            .map(|(name, _)| format!("images.{name}")),
    );
    names.extend(
        CHANGE_FIELDS
            .iter()
            .map(|(name, _)| format!("changes.{name}")),
    );
    names.push("raw.<path>".to_owned());
    names
}

fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table
        .iter()
        .find(|(candidate, _)| *candidate == name)
        .map(|(_, value)| *value)
}

impl Field {
    /// Resolves a field name; the error says why it is not one.
    pub(crate) fn parse(name: &str) -> Result<Field, String> {
        if let Some(path) = name.strip_prefix("raw.") {
            return parse_raw_path(path).map(Field::Raw);
        }
        let found = if let Some(rest) = name.strip_prefix("pod_specs.containers.") {
            lookup(CONTAINER_FIELDS, rest).map(Field::Container)
        } else if let Some(rest) = name.strip_prefix("pod_specs.volumes.") {
            lookup(VOLUME_FIELDS, rest).map(Field::Volume)
        } else if let Some(rest) = name.strip_prefix("pod_specs.") {
            lookup(POD_SPEC_FIELDS, rest).map(Field::PodSpec)
        } else if let Some(rest) = name.strip_prefix("images.") {
            lookup(IMAGE_FIELDS, rest).map(Field::Image)
        } else if let Some(rest) = name.strip_prefix("changes.") {
            lookup(CHANGE_FIELDS, rest).map(Field::Change)
        } else {
            lookup(EVENT_FIELDS, name).map(Field::Event)
        };
        found.ok_or_else(|| format!("unknown field `{name}`"))
    }

    /// Whether the field always yields a list (so alert `fields` show it as a JSON array).
    pub(crate) fn is_list(&self) -> bool {
        match self {
            Field::Event(field) => matches!(
                field,
                EventField::UserGroups
                    | EventField::SourceIps
                    | EventField::ExecCommand
                    | EventField::PsaViolations
            ),
            Field::PodSpec(_) | Field::Container(_) | Field::Volume(_) | Field::Image(_) => true,
            Field::Change(field) => *field != ChangeField::HasPrevious,
            Field::Raw(_) => false,
        }
    }

    /// Whether reading the field crossed a list in this event (raw paths through arrays), so
    /// alert `fields` show its values as an array even when there is one.
    pub(crate) fn fans_out(&self, ctx: &EvalContext<'_>) -> bool {
        fn crosses(value: &serde_json::Value, path: &[String]) -> bool {
            match (value, path.split_first()) {
                (serde_json::Value::Array(_), _) => true,
                (serde_json::Value::Object(map), Some((key, rest))) => map
                    .get(key.as_str())
                    .is_some_and(|child| crosses(child, rest)),
                _ => false,
            }
        }
        match self {
            Field::Raw(path) => ctx.raw().is_some_and(|root| crosses(root, path)),
            _ => self.is_list(),
        }
    }

    /// A rough evaluation cost, used to test cheap leaves first.
    pub(crate) fn cost(&self) -> u32 {
        match self {
            Field::Event(_) | Field::Change(_) => 1,
            Field::PodSpec(_) | Field::Volume(_) | Field::Image(_) => 2,
            Field::Container(_) => 3,
            Field::Raw(_) => 20,
        }
    }

    /// Calls `visit(value, is_list_element)` for every value of the field until it returns true;
    /// returns whether it did.
    pub(crate) fn visit<'e>(
        &self,
        ctx: &'e EvalContext<'e>,
        scope: &Scope<'e>,
        visit: &mut dyn FnMut(Val<'e>, bool) -> bool,
    ) -> bool {
        let event = ctx.event;
        match self {
            Field::Event(field) => visit_event_field(event, *field, visit),
            Field::PodSpec(field) => scope
                .pod_specs(event)
                .any(|pod| visit_pod_field(pod, *field, visit)),
            Field::Container(field) => scope
                .containers(event)
                .any(|container| visit_container_field(container, *field, visit)),
            Field::Volume(field) => scope.volumes(event).any(|volume| match field {
                VolumeField::Name => visit(Val::Str(&volume.name), false),
                VolumeField::HostPath => opt_str(volume.host_path.as_deref(), visit),
            }),
            Field::Image(field) => scope.images(event).any(|image| match field {
                ImageField::Reference => visit(Val::Str(&image.reference), false),
                ImageField::Registry => visit(Val::Str(&image.registry), false),
                ImageField::Repository => visit(Val::Str(&image.repository), false),
                ImageField::Tag => opt_str(image.tag.as_deref(), visit),
                ImageField::Digest => opt_str(image.digest.as_deref(), visit),
            }),
            Field::Raw(path) => match ctx.raw() {
                Some(root) => visit_json(root, path, false, visit),
                None => false,
            },
            Field::Change(field) => {
                let Some(changes) = ctx.changes else {
                    return false;
                };
                let list = match field {
                    ChangeField::HasPrevious => {
                        return visit(Val::Bool(changes.has_previous), false);
                    }
                    ChangeField::ImagesAdded => &changes.images_added,
                    ChangeField::ContainersAdded => &changes.containers_added,
                    ChangeField::PrivilegedAdded => &changes.privileged_added,
                    ChangeField::HostNamespacesAdded => &changes.host_namespaces_added,
                    ChangeField::CapabilitiesAdded => &changes.capabilities_added,
                    ChangeField::HostPathsAdded => &changes.host_paths_added,
                };
                list.iter().any(|value| visit(Val::Str(value), true))
            }
        }
    }
}

/// Splits a raw path on dots; `\.` is a literal dot and `["key"]` a whole key.
fn parse_raw_path(path: &str) -> Result<Vec<String>, String> {
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

fn visit_json<'e>(
    value: &'e serde_json::Value,
    path: &[String],
    in_list: bool,
    visit: &mut dyn FnMut(Val<'e>, bool) -> bool,
) -> bool {
    use serde_json::Value;
    match (value, path.split_first()) {
        (Value::Array(items), _) => items.iter().any(|item| visit_json(item, path, true, visit)),
        (Value::Object(map), Some((key, rest))) => match map.get(key.as_str()) {
            Some(child) => visit_json(child, rest, false, visit),
            None => false,
        },
        (_, Some(_)) => false,
        (Value::Object(_), None) => visit(Val::Composite(value), in_list),
        (Value::Null, None) => visit(Val::Null, in_list),
        (Value::Bool(b), None) => visit(Val::Bool(*b), in_list),
        (Value::String(s), None) => visit(Val::Str(s), in_list),
        (Value::Number(n), None) => match n.as_i64() {
            Some(i) => visit(Val::Int(i), in_list),
            None => visit(Val::Float(n.as_f64().unwrap_or(f64::NAN)), in_list),
        },
    }
}

fn opt_str<'e>(value: Option<&'e str>, visit: &mut dyn FnMut(Val<'e>, bool) -> bool) -> bool {
    value.is_some_and(|s| visit(Val::Str(s), false))
}

fn opt_bool<'e>(value: Option<bool>, visit: &mut dyn FnMut(Val<'e>, bool) -> bool) -> bool {
    value.is_some_and(|b| visit(Val::Bool(b), false))
}

fn opt_int<'e>(value: Option<i64>, visit: &mut dyn FnMut(Val<'e>, bool) -> bool) -> bool {
    value.is_some_and(|i| visit(Val::Int(i), false))
}

fn str_list<'e>(values: &'e [String], visit: &mut dyn FnMut(Val<'e>, bool) -> bool) -> bool {
    values.iter().any(|s| visit(Val::Str(s), true))
}

fn visit_event_field<'e>(
    event: &'e Event,
    field: EventField,
    visit: &mut dyn FnMut(Val<'e>, bool) -> bool,
) -> bool {
    match field {
        EventField::EventId => visit(Val::Str(&event.event_id), false),
        EventField::Time => visit(Val::Int(event.time), false),
        EventField::Cluster => visit(Val::Str(&event.cluster), false),
        EventField::Source => visit(Val::Str(event.source.as_str()), false),
        EventField::AuditId => opt_str(event.audit_id.as_deref(), visit),
        EventField::Stage => opt_str(event.stage.as_deref(), visit),
        EventField::Level => opt_str(event.level.as_deref(), visit),
        EventField::Verb => opt_str(event.verb.as_deref(), visit),
        EventField::RequestUri => opt_str(event.request_uri.as_deref(), visit),
        EventField::User => opt_str(event.user.as_deref(), visit),
        EventField::UserGroups => str_list(&event.user_groups, visit),
        EventField::ImpersonatedUser => opt_str(event.impersonated_user.as_deref(), visit),
        EventField::ActorKind => opt_str(event.actor_kind.map(|kind| kind.as_str()), visit),
        EventField::SourceIps => str_list(&event.source_ips, visit),
        EventField::UserAgent => opt_str(event.user_agent.as_deref(), visit),
        EventField::Resource => opt_str(event.resource.as_deref(), visit),
        EventField::Subresource => opt_str(event.subresource.as_deref(), visit),
        EventField::ApiGroup => opt_str(event.api_group.as_deref(), visit),
        EventField::Namespace => opt_str(event.namespace.as_deref(), visit),
        EventField::Name => opt_str(event.name.as_deref(), visit),
        EventField::ResponseCode => opt_int(event.response_code.map(i64::from), visit),
        EventField::Decision => opt_str(event.decision.map(|decision| decision.as_str()), visit),
        EventField::Reason => opt_str(event.reason.as_deref(), visit),
        EventField::ExecCommand => str_list(&event.exec_command, visit),
        EventField::PsaViolations => str_list(&event.psa_violations, visit),
        EventField::FalcoRule => opt_str(event.falco_rule.as_deref(), visit),
        EventField::FalcoPriority => opt_str(event.falco_priority.as_deref(), visit),
        EventField::ContainerId => opt_str(event.container_id.as_deref(), visit),
        EventField::PodName => opt_str(event.pod_name.as_deref(), visit),
    }
}

fn visit_pod_field<'e>(
    pod: &'e PodSpec,
    field: PodSpecField,
    visit: &mut dyn FnMut(Val<'e>, bool) -> bool,
) -> bool {
    match field {
        PodSpecField::OwnerKind => visit(Val::Str(&pod.owner_kind), false),
        PodSpecField::HostNetwork => visit(Val::Bool(pod.host_network), false),
        PodSpecField::HostPid => visit(Val::Bool(pod.host_pid), false),
        PodSpecField::HostIpc => visit(Val::Bool(pod.host_ipc), false),
        PodSpecField::ServiceAccount => opt_str(pod.service_account.as_deref(), visit),
        PodSpecField::AutomountServiceAccountToken => {
            opt_bool(pod.automount_service_account_token, visit)
        }
        PodSpecField::RunAsUser => opt_int(pod.run_as_user, visit),
        PodSpecField::RunAsNonRoot => opt_bool(pod.run_as_non_root, visit),
        PodSpecField::SeccompProfile => opt_str(pod.seccomp_profile.as_deref(), visit),
    }
}

fn container_kind_str(kind: ContainerKind) -> &'static str {
    match kind {
        ContainerKind::Container => "container",
        ContainerKind::Init => "init",
        ContainerKind::Ephemeral => "ephemeral",
    }
}

fn visit_container_field<'e>(
    container: &'e Container,
    field: ContainerField,
    visit: &mut dyn FnMut(Val<'e>, bool) -> bool,
) -> bool {
    match field {
        ContainerField::Name => visit(Val::Str(&container.name), false),
        ContainerField::Kind => opt_str(container.kind.map(container_kind_str), visit),
        ContainerField::Image => visit(Val::Str(&container.image), false),
        ContainerField::Privileged => opt_bool(container.privileged, visit),
        ContainerField::AllowPrivilegeEscalation => {
            opt_bool(container.allow_privilege_escalation, visit)
        }
        ContainerField::RunAsUser => opt_int(container.run_as_user, visit),
        ContainerField::RunAsNonRoot => opt_bool(container.run_as_non_root, visit),
        ContainerField::ReadOnlyRootFilesystem => {
            opt_bool(container.read_only_root_filesystem, visit)
        }
        ContainerField::CapabilitiesAdd => str_list(&container.capabilities_add, visit),
        ContainerField::CapabilitiesDrop => str_list(&container.capabilities_drop, visit),
        ContainerField::SeccompProfile => opt_str(container.seccomp_profile.as_deref(), visit),
        ContainerField::HostPorts => container
            .host_ports
            .iter()
            .any(|port| visit(Val::Int(*port), true)),
    }
}

/// Per-event evaluation state: the event and its raw JSON, parsed at most once, on demand.
pub(crate) struct EvalContext<'e> {
    pub(crate) event: &'e Event,
    raw: OnceCell<Option<serde_json::Value>>,
    /// What this write changed in the object's pod spec (stateful detection only).
    pub(crate) changes: Option<&'e crate::objects::Changes>,
}

impl<'e> EvalContext<'e> {
    pub(crate) fn new(event: &'e Event) -> EvalContext<'e> {
        EvalContext {
            event,
            raw: OnceCell::new(),
            changes: None,
        }
    }

    pub(crate) fn with_changes(
        event: &'e Event,
        changes: Option<&'e crate::objects::Changes>,
    ) -> EvalContext<'e> {
        EvalContext {
            changes,
            ..EvalContext::new(event)
        }
    }

    /// The raw event as JSON; `None` when it is not valid JSON.
    pub(crate) fn raw(&self) -> Option<&serde_json::Value> {
        self.raw
            .get_or_init(|| serde_json::from_str(&self.event.raw).ok())
            .as_ref()
    }

    #[cfg(test)]
    pub(crate) fn raw_parsed(&self) -> bool {
        self.raw.get().is_some()
    }
}

/// The elements a `for_any` block has bound; fields of a bound collection read only that element.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Scope<'e> {
    pub(crate) pod: Option<&'e PodSpec>,
    pub(crate) container: Option<&'e Container>,
    pub(crate) volume: Option<&'e Volume>,
    pub(crate) image: Option<&'e ImageRef>,
}

impl<'e> Scope<'e> {
    pub(crate) fn pod_specs(
        &self,
        event: &'e Event,
    ) -> impl Iterator<Item = &'e PodSpec> + use<'e> {
        let pods: &'e [PodSpec] = match self.pod {
            Some(pod) => std::slice::from_ref(pod),
            None => &event.pod_specs,
        };
        pods.iter()
    }

    pub(crate) fn containers(
        &self,
        event: &'e Event,
    ) -> Box<dyn Iterator<Item = &'e Container> + 'e> {
        match self.container {
            Some(container) => Box::new(std::iter::once(container)),
            None => Box::new(self.pod_specs(event).flat_map(|pod| pod.containers.iter())),
        }
    }

    pub(crate) fn volumes(&self, event: &'e Event) -> Box<dyn Iterator<Item = &'e Volume> + 'e> {
        match self.volume {
            Some(volume) => Box::new(std::iter::once(volume)),
            None => Box::new(self.pod_specs(event).flat_map(|pod| pod.volumes.iter())),
        }
    }

    pub(crate) fn images(&self, event: &'e Event) -> impl Iterator<Item = &'e ImageRef> + use<'e> {
        let images: &'e [ImageRef] = match self.image {
            Some(image) => std::slice::from_ref(image),
            None => &event.images,
        };
        images.iter()
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
    fn field_names_resolve_or_fail() {
        assert_eq!(
            Field::parse("verb").unwrap(),
            Field::Event(EventField::Verb)
        );
        assert_eq!(
            Field::parse("pod_specs.containers.privileged").unwrap(),
            Field::Container(ContainerField::Privileged)
        );
        assert_eq!(
            Field::parse("images.digest").unwrap(),
            Field::Image(ImageField::Digest)
        );
        assert!(
            Field::parse("verbs")
                .unwrap_err()
                .contains("unknown field `verbs`")
        );
        assert!(Field::parse("pod_specs.containers.nope").is_err());
    }
}
