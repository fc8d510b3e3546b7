//! Evaluation: reading the values of a field from one event (`Field::visit`), through the
//! per-event context (raw JSON parsed at most once) and the elements a `for_any` has bound.

use std::cell::OnceCell;

use event::{Container, ContainerKind, Event, ImageRef, PodSpec, Volume};

use super::raw::RawPaths;
use super::{
    ANNOTATION_PSA_AUDIT_VIOLATIONS, ANNOTATION_PSA_ENFORCE_POLICY, ChangeField, ContainerField,
    EventField, Field, ImageField, PodSpecField, Val, VolumeField,
};

const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

impl Field {
    /// Whether reading the field crossed a list in this event (raw paths through arrays), so
    /// alert `fields` show its values as an array even when there is one.
    pub(crate) fn fans_out(&self, ctx: &EvalContext<'_>) -> bool {
        fn crosses(value: &serde_json::Value, path: &[String]) -> bool {
            match (value, path.split_first()) {
                (serde_json::Value::Array(_), _) => true,
                (serde_json::Value::Object(_), Some((key, _))) if key == super::RAW_ANY_KEY => true,
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
            Field::Event(EventField::ExecCommandLine) => opt_str(ctx.exec_command_line(), visit),
            Field::Event(EventField::PsaAuditLevel) => opt_str(
                ctx.raw_annotation(ANNOTATION_PSA_AUDIT_VIOLATIONS)
                    .and_then(psa_level_of_violations),
                visit,
            ),
            Field::Event(EventField::Owner) => opt_str(ctx.owner(), visit),
            Field::Event(EventField::SourceIpNetwork) => opt_str(
                ctx.networks
                    .and_then(|networks| networks.place(event))
                    .map(crate::networks::Placement::as_str),
                visit,
            ),
            Field::Event(EventField::PsaEnforceLevel) => opt_str(
                ctx.raw_annotation(ANNOTATION_PSA_ENFORCE_POLICY)
                    .map(psa_level_of_policy),
                visit,
            ),
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
                    ChangeField::ImageRegistriesAdded => &changes.image_registries_added,
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

fn visit_json<'e>(
    value: &'e serde_json::Value,
    path: &[String],
    in_list: bool,
    visit: &mut dyn FnMut(Val<'e>, bool) -> bool,
) -> bool {
    use serde_json::Value;
    match (value, path.split_first()) {
        (Value::Array(items), _) => items.iter().any(|item| visit_json(item, path, true, visit)),
        (Value::Object(map), Some((key, rest))) if key == super::RAW_ANY_KEY => map
            .values()
            .any(|child| visit_json(child, rest, true, visit)),
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
        EventField::SaNamespace => opt_str(service_account_of(event).map(|(ns, _)| ns), visit),
        EventField::SaName => opt_str(service_account_of(event).map(|(_, name)| name), visit),
        EventField::SourceIpLast => opt_str(event.source_ips.last().map(String::as_str), visit),
        EventField::UserAgentName => {
            opt_str(event.user_agent.as_deref().map(user_agent_name), visit)
        }
        EventField::ExecPublicIps => event
            .exec_command
            .iter()
            .any(|argument| public_ips_in(argument).any(|ip| visit(Val::Str(ip), true))),
        // Read through the context (`Field::visit`): they need its caches.
        EventField::ExecCommandLine
        | EventField::PsaAuditLevel
        | EventField::PsaEnforceLevel
        | EventField::Owner
        | EventField::SourceIpNetwork => false,
    }
}

/// The value of a scalar string field of the event: `Some(None)` when it is absent, `None`
/// when `field` is not such a field (lists, numbers, fields read through the context).
pub(crate) fn scalar_str(event: &Event, field: EventField) -> Option<Option<&str>> {
    let value = match field {
        EventField::EventId => Some(event.event_id.as_str()),
        EventField::Cluster => Some(event.cluster.as_str()),
        EventField::Source => Some(event.source.as_str()),
        EventField::AuditId => event.audit_id.as_deref(),
        EventField::Stage => event.stage.as_deref(),
        EventField::Level => event.level.as_deref(),
        EventField::Verb => event.verb.as_deref(),
        EventField::RequestUri => event.request_uri.as_deref(),
        EventField::User => event.user.as_deref(),
        EventField::ImpersonatedUser => event.impersonated_user.as_deref(),
        EventField::ActorKind => event.actor_kind.map(|kind| kind.as_str()),
        EventField::UserAgent => event.user_agent.as_deref(),
        EventField::Resource => event.resource.as_deref(),
        EventField::Subresource => event.subresource.as_deref(),
        EventField::ApiGroup => event.api_group.as_deref(),
        EventField::Namespace => event.namespace.as_deref(),
        EventField::Name => event.name.as_deref(),
        EventField::Decision => event.decision.map(|decision| decision.as_str()),
        EventField::Reason => event.reason.as_deref(),
        EventField::FalcoRule => event.falco_rule.as_deref(),
        EventField::FalcoPriority => event.falco_priority.as_deref(),
        EventField::ContainerId => event.container_id.as_deref(),
        EventField::PodName => event.pod_name.as_deref(),
        EventField::SaNamespace => service_account_of(event).map(|(namespace, _)| namespace),
        EventField::SaName => service_account_of(event).map(|(_, name)| name),
        EventField::SourceIpLast => event.source_ips.last().map(String::as_str),
        EventField::UserAgentName => event.user_agent.as_deref().map(user_agent_name),
        EventField::Time
        | EventField::UserGroups
        | EventField::SourceIps
        | EventField::ResponseCode
        | EventField::ExecCommand
        | EventField::PsaViolations
        | EventField::ExecCommandLine
        | EventField::ExecPublicIps
        | EventField::PsaAuditLevel
        | EventField::PsaEnforceLevel
        | EventField::Owner
        | EventField::SourceIpNetwork => return None,
    };
    Some(value)
}

/// The product name that starts a user agent: `kubectl` of `kubectl/v1.31.0 (linux/amd64)
/// kubernetes/abc`, `python-requests` of `python-requests/2.31`, `Go-http-client` of
/// `Go-http-client/2.0`; a user agent without `/` or a space is its own name.
pub(crate) fn user_agent_name(user_agent: &str) -> &str {
    let user_agent = user_agent.trim_start();
    let end = user_agent
        .find(|c: char| c == '/' || c.is_whitespace())
        .unwrap_or(user_agent.len());
    &user_agent[..end]
}

/// The IPv4 addresses written in `text` (dotted quads standing alone: not inside a longer
/// run of letters, digits and dots, so `v1.2.3.4` and `1.2.3.4.5` are no address) that
/// are globally routable: not private, shared (100.64.0.0/10), loopback, link-local,
/// multicast, broadcast or unspecified.
pub(crate) fn public_ips_in(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .filter(|token| token.len() >= 7 && token.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .filter(|token| {
            token
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(is_public_ipv4)
        })
}

fn is_public_ipv4(ip: std::net::Ipv4Addr) -> bool {
    let [first, second, ..] = ip.octets();
    let shared = first == 100 && (64..128).contains(&second);
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || shared
        || first == 0
        || first >= 240)
}

/// The (namespace, name) of a service account user: `system:serviceaccount:<ns>:<name>`.
fn service_account_of(event: &Event) -> Option<(&str, &str)> {
    let rest = event
        .user
        .as_deref()?
        .strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty()).then_some((namespace, name))
}

/// The level of `would violate PodSecurity "restricted:latest": ...` (`restricted`).
fn psa_level_of_violations(text: &str) -> Option<&str> {
    let start = text.find("PodSecurity \"")? + "PodSecurity \"".len();
    let policy = &text[start..];
    let policy = &policy[..policy.find('"')?];
    let level = policy.split(':').next().unwrap_or(policy);
    (!level.is_empty()).then_some(level)
}

/// The level of an `enforce-policy` annotation such as `baseline:v1.31` (`baseline`).
fn psa_level_of_policy(text: &str) -> &str {
    text.split(':').next().unwrap_or(text)
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
    /// The raw paths the rules read; `None` parses the whole document.
    raw_paths: Option<&'e RawPaths>,
    /// Whether the raw text has `\\u` or `\\/` escapes (`raw_may_contain`).
    raw_escapes: OnceCell<bool>,
    /// `exec_command_line`, joined on first use.
    command_line: OnceCell<Option<String>>,
    /// `owner`, resolved on first use.
    owner: OnceCell<Option<String>>,
    /// What this write changed in the object's pod spec (stateful detection only).
    pub(crate) changes: Option<&'e crate::objects::Changes>,
    /// The networks learned per cluster (stateful detection only).
    pub(crate) networks: Option<&'e crate::networks::ClusterNetworks>,
    /// The detector's remembered test results (stateful detection only).
    pub(crate) memo: Option<&'e crate::condition::Memo>,
}

impl<'e> EvalContext<'e> {
    pub(crate) fn new(event: &'e Event, raw_paths: Option<&'e RawPaths>) -> EvalContext<'e> {
        EvalContext {
            event,
            raw: OnceCell::new(),
            raw_paths,
            raw_escapes: OnceCell::new(),
            command_line: OnceCell::new(),
            owner: OnceCell::new(),
            changes: None,
            networks: None,
            memo: None,
        }
    }

    pub(crate) fn with_changes(
        event: &'e Event,
        changes: Option<&'e crate::objects::Changes>,
        raw_paths: Option<&'e RawPaths>,
    ) -> EvalContext<'e> {
        EvalContext {
            changes,
            ..EvalContext::new(event, raw_paths)
        }
    }

    /// The raw event as JSON (only the paths the rules read); `None` when it is not valid JSON.
    pub(crate) fn raw(&self) -> Option<&serde_json::Value> {
        self.raw
            .get_or_init(|| match self.raw_paths {
                Some(paths) => paths.parse(&self.event.raw),
                None => serde_json::from_str(&self.event.raw).ok(),
            })
            .as_ref()
    }

    /// Whether the raw text may hold a JSON string containing one of `literals` (printable
    /// ASCII without `"` and `\\`): it contains one verbatim, or uses `\\u` or `\\/` escapes
    /// (which could spell one differently), or was already parsed (then the tests themselves
    /// are as cheap).
    pub(crate) fn raw_may_contain(&self, literals: &[String]) -> bool {
        if self.raw.get().is_some() {
            return true;
        }
        let raw = self.event.raw.as_str();
        *self.raw_escapes.get_or_init(|| has_spelling_escapes(raw))
            || literals
                .iter()
                .any(|literal| raw.contains(literal.as_str()))
    }

    /// A string annotation of the raw audit event.
    fn raw_annotation(&self, key: &str) -> Option<&str> {
        self.raw()?.get("annotations")?.get(key)?.as_str()
    }

    /// The exec command's arguments joined by spaces; `None` without a command.
    fn exec_command_line(&self) -> Option<&str> {
        self.command_line
            .get_or_init(|| {
                let command = &self.event.exec_command;
                (!command.is_empty()).then(|| command.join(" "))
            })
            .as_deref()
    }

    /// The workload behind the object written (`owner`); `None` without a name or kind.
    fn owner(&self) -> Option<&str> {
        self.owner
            .get_or_init(|| {
                let event = self.event;
                let kind = match event.pod_specs.first() {
                    Some(spec) => spec.owner_kind.as_str(),
                    None => super::kind_of_resource(event.resource.as_deref()?)?,
                };
                let name = event.name.as_deref()?;
                let metadata = |body: &str| self.raw()?.get(body)?.get("metadata");
                let controller = ["requestObject", "responseObject"]
                    .into_iter()
                    .find_map(|body| controller_of(metadata(body)?));
                let template_hash =
                    ["requestObject", "responseObject"]
                        .into_iter()
                        .find_map(|body| {
                            metadata(body)?
                                .get("labels")?
                                .get(super::LABEL_POD_TEMPLATE_HASH)?
                                .as_str()
                        });
                Some(super::workload_of(kind, name, controller, template_hash))
            })
            .as_deref()
    }

    #[cfg(test)]
    pub(crate) fn raw_parsed(&self) -> bool {
        self.raw.get().is_some()
    }
}

/// The controlling owner reference of an object's metadata as (kind, name): the one marked
/// `controller: true`, else the only one.
fn controller_of(metadata: &serde_json::Value) -> Option<(&str, &str)> {
    let references = metadata.get("ownerReferences")?.as_array()?;
    let reference = references
        .iter()
        .find(|reference| reference.get("controller") == Some(&serde_json::Value::Bool(true)))
        .or(match references.as_slice() {
            [only] => Some(only),
            _ => None,
        })?;
    Some((
        reference.get("kind")?.as_str()?,
        reference.get("name")?.as_str()?,
    ))
}

/// Whether JSON text has a `\\u` or `\\/` escape (`\\\\u` counts too: a cheap, safe answer).
fn has_spelling_escapes(text: &str) -> bool {
    let mut from = 0;
    while let Some(offset) = text[from..].find('\\') {
        let at = from + offset;
        if matches!(text.as_bytes().get(at + 1), Some(b'u' | b'/')) {
            return true;
        }
        from = at + 1;
    }
    false
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
    fn user_agent_names_are_the_product_before_the_version() {
        for (agent, name) in [
            (
                "kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc",
                "kubectl",
            ),
            ("python-requests/2.31.0", "python-requests"),
            ("Go-http-client/2.0", "Go-http-client"),
            ("curl", "curl"),
            (" Mozilla/5.0 (X11)", "Mozilla"),
            ("my agent", "my"),
        ] {
            assert_eq!(user_agent_name(agent), name, "{agent}");
        }
    }

    #[test]
    fn public_ips_are_standalone_globally_routable_quads() {
        fn found(text: &str) -> Vec<&str> {
            public_ips_in(text).collect()
        }
        assert_eq!(found("ssh root@198.51.100.23"), ["198.51.100.23"]);
        assert_eq!(
            found("nc 45.33.32.156:4444 8.8.8.8"),
            ["45.33.32.156", "8.8.8.8"]
        );
        for quiet in [
            "10.0.0.1 172.16.5.4 192.168.1.1 127.0.0.1",
            "100.64.0.1 169.254.169.254 224.0.0.1 255.255.255.255 0.0.0.0 240.1.2.3",
            "v1.2.3.4 lib==2.31.0.1.5 1.2.3 300.1.1.1 01.2.3.4",
        ] {
            assert!(found(quiet).is_empty(), "{quiet}: {:?}", found(quiet));
        }
    }
}
