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
    /// Derived: the namespace of a service account user (`system:serviceaccount:<ns>:<name>`).
    SaNamespace,
    /// Derived: the name of a service account user.
    SaName,
    /// Derived: the last `sourceIPs` entry, the address the API server saw the request from.
    SourceIpLast,
    /// Derived: the exec command's arguments joined by spaces.
    ExecCommandLine,
    /// Derived from the raw annotations: the Pod Security level of `audit-violations`.
    PsaAuditLevel,
    /// Derived from the raw annotations: the level of `enforce-policy`.
    PsaEnforceLevel,
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
    ("sa_namespace", EventField::SaNamespace),
    ("sa_name", EventField::SaName),
    ("source_ip_last", EventField::SourceIpLast),
    ("exec_command_line", EventField::ExecCommandLine),
    ("psa_audit_level", EventField::PsaAuditLevel),
    ("psa_enforce_level", EventField::PsaEnforceLevel),
];

/// Pod Security annotations of audit events, read by the `psa_*_level` fields.
const ANNOTATION_PSA_AUDIT_VIOLATIONS: &str = "pod-security.kubernetes.io/audit-violations";
const ANNOTATION_PSA_ENFORCE_POLICY: &str = "pod-security.kubernetes.io/enforce-policy";
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

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
    ImageRegistriesAdded,
    ContainersAdded,
    PrivilegedAdded,
    HostNamespacesAdded,
    CapabilitiesAdded,
    HostPathsAdded,
}

const CHANGE_FIELDS: &[(&str, ChangeField)] = &[
    ("has_previous", ChangeField::HasPrevious),
    ("images_added", ChangeField::ImagesAdded),
    ("image_registries_added", ChangeField::ImageRegistriesAdded),
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
            Field::Event(EventField::PsaAuditLevel | EventField::PsaEnforceLevel) => 20,
            Field::Event(EventField::ExecCommandLine) => 2,
            Field::Event(_) | Field::Change(_) => 1,
            Field::PodSpec(_) | Field::Volume(_) | Field::Image(_) => 2,
            Field::Container(_) => 3,
            Field::Raw(_) => 20,
        }
    }

    /// The feature bit (see `event_features`) that must be set for the field to have a value
    /// in the event (a necessary condition, not a sufficient one); 0 when none is known.
    pub(crate) fn requirement(&self) -> u64 {
        match self {
            Field::Event(field) => match field {
                EventField::EventId
                | EventField::Time
                | EventField::Cluster
                | EventField::Source
                | EventField::PsaAuditLevel
                | EventField::PsaEnforceLevel => 0,
                EventField::SaNamespace | EventField::SaName => event_bit(EventField::User),
                EventField::SourceIpLast => event_bit(EventField::SourceIps),
                EventField::ExecCommandLine => event_bit(EventField::ExecCommand),
                other => event_bit(*other),
            },
            Field::PodSpec(_) => FEATURE_POD_SPECS,
            Field::Container(_) => FEATURE_POD_SPECS | FEATURE_CONTAINERS,
            Field::Volume(_) => FEATURE_POD_SPECS | FEATURE_VOLUMES,
            Field::Image(_) => FEATURE_IMAGES,
            Field::Change(ChangeField::HasPrevious) => FEATURE_CHANGES,
            Field::Change(field) => FEATURE_CHANGES | change_bit(*field),
            Field::Raw(_) => 0,
        }
    }

    /// The raw path the field reads, if it reads one (`raw.*` and fields derived from raw).
    pub(crate) fn raw_path(&self) -> Option<Vec<&str>> {
        match self {
            Field::Raw(path) => Some(path.iter().map(String::as_str).collect()),
            Field::Event(EventField::PsaAuditLevel) => {
                Some(vec!["annotations", ANNOTATION_PSA_AUDIT_VIOLATIONS])
            }
            Field::Event(EventField::PsaEnforceLevel) => {
                Some(vec!["annotations", ANNOTATION_PSA_ENFORCE_POLICY])
            }
            _ => None,
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

/// Feature bits of an event: bit `EventField as u32` when that field has a value, and the
/// bits below for collections. Rules and sequence steps carry the bits their condition
/// requires (`Node::requirements`), so one AND skips a rule that cannot match.
const FEATURE_POD_SPECS: u64 = 1 << 40;
const FEATURE_CONTAINERS: u64 = 1 << 41;
const FEATURE_VOLUMES: u64 = 1 << 42;
const FEATURE_IMAGES: u64 = 1 << 43;
const FEATURE_CHANGES: u64 = 1 << 44;

const fn event_bit(field: EventField) -> u64 {
    1 << (field as u32)
}

const fn change_bit(field: ChangeField) -> u64 {
    1 << (48 + field as u32)
}

/// The bit of a `for_any` collection being non-empty.
pub(crate) fn collection_requirement(collection: Collection) -> u64 {
    match collection {
        Collection::PodSpecs => FEATURE_POD_SPECS,
        Collection::Containers => FEATURE_POD_SPECS | FEATURE_CONTAINERS,
        Collection::Volumes => FEATURE_POD_SPECS | FEATURE_VOLUMES,
        Collection::Images => FEATURE_IMAGES,
    }
}

/// The feature bits of an event (see `Field::requirement`).
pub(crate) fn event_features(event: &Event, changes: Option<&crate::objects::Changes>) -> u64 {
    let mut bits = 0;
    for (field, present) in [
        (EventField::AuditId, event.audit_id.is_some()),
        (EventField::Stage, event.stage.is_some()),
        (EventField::Level, event.level.is_some()),
        (EventField::Verb, event.verb.is_some()),
        (EventField::RequestUri, event.request_uri.is_some()),
        (EventField::User, event.user.is_some()),
        (EventField::UserGroups, !event.user_groups.is_empty()),
        (
            EventField::ImpersonatedUser,
            event.impersonated_user.is_some(),
        ),
        (EventField::ActorKind, event.actor_kind.is_some()),
        (EventField::SourceIps, !event.source_ips.is_empty()),
        (EventField::UserAgent, event.user_agent.is_some()),
        (EventField::Resource, event.resource.is_some()),
        (EventField::Subresource, event.subresource.is_some()),
        (EventField::ApiGroup, event.api_group.is_some()),
        (EventField::Namespace, event.namespace.is_some()),
        (EventField::Name, event.name.is_some()),
        (EventField::ResponseCode, event.response_code.is_some()),
        (EventField::Decision, event.decision.is_some()),
        (EventField::Reason, event.reason.is_some()),
        (EventField::ExecCommand, !event.exec_command.is_empty()),
        (EventField::PsaViolations, !event.psa_violations.is_empty()),
        (EventField::FalcoRule, event.falco_rule.is_some()),
        (EventField::FalcoPriority, event.falco_priority.is_some()),
        (EventField::ContainerId, event.container_id.is_some()),
        (EventField::PodName, event.pod_name.is_some()),
    ] {
        if present {
            bits |= event_bit(field);
        }
    }
    if !event.pod_specs.is_empty() {
        bits |= FEATURE_POD_SPECS;
        if event.pod_specs.iter().any(|pod| !pod.containers.is_empty()) {
            bits |= FEATURE_CONTAINERS;
        }
        if event.pod_specs.iter().any(|pod| !pod.volumes.is_empty()) {
            bits |= FEATURE_VOLUMES;
        }
    }
    if !event.images.is_empty() {
        bits |= FEATURE_IMAGES;
    }
    if let Some(changes) = changes {
        bits |= FEATURE_CHANGES;
        for (field, list) in [
            (ChangeField::ImagesAdded, &changes.images_added),
            (
                ChangeField::ImageRegistriesAdded,
                &changes.image_registries_added,
            ),
            (ChangeField::ContainersAdded, &changes.containers_added),
            (ChangeField::PrivilegedAdded, &changes.privileged_added),
            (
                ChangeField::HostNamespacesAdded,
                &changes.host_namespaces_added,
            ),
            (ChangeField::CapabilitiesAdded, &changes.capabilities_added),
            (ChangeField::HostPathsAdded, &changes.host_paths_added),
        ] {
            if !list.is_empty() {
                bits |= change_bit(field);
            }
        }
    }
    bits
}

/// `alert_need` bits beyond the feature bits: the raw text.
const NEED_RAW: u64 = 1 << 63;

/// What every alert reads of its event (identity, actor, object; exec attribution).
pub(crate) const ALWAYS_COPIED: u64 = event_bit(EventField::AuditId)
    | event_bit(EventField::User)
    | event_bit(EventField::ImpersonatedUser)
    | event_bit(EventField::Resource)
    | event_bit(EventField::Namespace)
    | event_bit(EventField::Name)
    | event_bit(EventField::PodName);

/// What of an event an alert reading `field` needs kept (for `copy_for_alert`).
pub(crate) fn alert_need(field: &Field) -> u64 {
    let raw = if field.raw_path().is_some() {
        NEED_RAW
    } else {
        0
    };
    field.requirement() | raw
}

/// Makes `target` a copy of the parts of `source` that `needs` (`alert_need` bits plus
/// `ALWAYS_COPIED`) names; the other parts are emptied. Reuses `target`'s allocations, so
/// keeping the last event of a group (absence rules) costs copies, not allocations.
pub(crate) fn copy_for_alert(target: &mut Event, source: &Event, needs: u64) {
    fn opt(target: &mut Option<String>, source: &Option<String>, keep: bool) {
        match (keep, source) {
            (true, Some(text)) => match target {
                Some(kept) => kept.clone_from(text),
                None => *target = Some(text.clone()),
            },
            _ => *target = None,
        }
    }
    fn list<T: Clone>(target: &mut Vec<T>, source: &[T], keep: bool) {
        target.clear();
        if keep {
            target.extend_from_slice(source);
        }
    }
    let has = |field: EventField| needs & event_bit(field) != 0;
    let Event {
        event_id,
        time,
        cluster,
        source: event_source,
        audit_id,
        stage,
        level,
        verb,
        request_uri,
        user,
        user_groups,
        impersonated_user,
        actor_kind,
        source_ips,
        user_agent,
        resource,
        subresource,
        api_group,
        namespace,
        name,
        response_code,
        decision,
        reason,
        pod_specs,
        images,
        exec_command,
        psa_violations,
        falco_rule,
        falco_priority,
        container_id,
        pod_name,
        raw,
    } = target;
    event_id.clone_from(&source.event_id);
    *time = source.time;
    cluster.clone_from(&source.cluster);
    *event_source = source.source;
    opt(audit_id, &source.audit_id, has(EventField::AuditId));
    opt(stage, &source.stage, has(EventField::Stage));
    opt(level, &source.level, has(EventField::Level));
    opt(verb, &source.verb, has(EventField::Verb));
    opt(
        request_uri,
        &source.request_uri,
        has(EventField::RequestUri),
    );
    opt(user, &source.user, has(EventField::User));
    list(
        user_groups,
        &source.user_groups,
        has(EventField::UserGroups),
    );
    opt(
        impersonated_user,
        &source.impersonated_user,
        has(EventField::ImpersonatedUser),
    );
    *actor_kind = source.actor_kind.filter(|_| has(EventField::ActorKind));
    list(source_ips, &source.source_ips, has(EventField::SourceIps));
    opt(user_agent, &source.user_agent, has(EventField::UserAgent));
    opt(resource, &source.resource, has(EventField::Resource));
    opt(
        subresource,
        &source.subresource,
        has(EventField::Subresource),
    );
    opt(api_group, &source.api_group, has(EventField::ApiGroup));
    opt(namespace, &source.namespace, has(EventField::Namespace));
    opt(name, &source.name, has(EventField::Name));
    *response_code = source
        .response_code
        .filter(|_| has(EventField::ResponseCode));
    *decision = source.decision.filter(|_| has(EventField::Decision));
    opt(reason, &source.reason, has(EventField::Reason));
    list(pod_specs, &source.pod_specs, needs & FEATURE_POD_SPECS != 0);
    list(images, &source.images, needs & FEATURE_IMAGES != 0);
    list(
        exec_command,
        &source.exec_command,
        has(EventField::ExecCommand),
    );
    list(
        psa_violations,
        &source.psa_violations,
        has(EventField::PsaViolations),
    );
    opt(falco_rule, &source.falco_rule, has(EventField::FalcoRule));
    opt(
        falco_priority,
        &source.falco_priority,
        has(EventField::FalcoPriority),
    );
    opt(
        container_id,
        &source.container_id,
        has(EventField::ContainerId),
    );
    opt(pod_name, &source.pod_name, has(EventField::PodName));
    raw.clear();
    if needs & NEED_RAW != 0 {
        raw.push_str(&source.raw);
    }
}

/// A copy of `source` reduced to what `needs` names (see `copy_for_alert`).
pub(crate) fn copied_for_alert(source: &Event, needs: u64) -> Event {
    let mut target = Event::default();
    copy_for_alert(&mut target, source, needs);
    target
}

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
            match self.0.child(&key) {
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
        EventField::SaNamespace => opt_str(service_account_of(event).map(|(ns, _)| ns), visit),
        EventField::SaName => opt_str(service_account_of(event).map(|(_, name)| name), visit),
        EventField::SourceIpLast => opt_str(event.source_ips.last().map(String::as_str), visit),
        // Read through the context (`Field::visit`): they need its caches.
        EventField::ExecCommandLine | EventField::PsaAuditLevel | EventField::PsaEnforceLevel => {
            false
        }
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
        EventField::Time
        | EventField::UserGroups
        | EventField::SourceIps
        | EventField::ResponseCode
        | EventField::ExecCommand
        | EventField::PsaViolations
        | EventField::ExecCommandLine
        | EventField::PsaAuditLevel
        | EventField::PsaEnforceLevel => return None,
    };
    Some(value)
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
    /// What this write changed in the object's pod spec (stateful detection only).
    pub(crate) changes: Option<&'e crate::objects::Changes>,
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
            changes: None,
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

    #[cfg(test)]
    pub(crate) fn raw_parsed(&self) -> bool {
        self.raw.get().is_some()
    }
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
