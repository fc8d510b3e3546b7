//! Field names of the rule language, resolved once at load time.
//!
//! A field yields zero or more values. List-valued fields and paths that cross a list
//! (`pod_specs.containers.privileged`, `raw.requestObject.subjects.name`) yield one value per
//! element; a test on such a field holds when any value satisfies it.
//!
//! How fields are read lives beside this: `eval` (reading values from an event), `features`
//! (which fields an event has, as bits), `projection` (what of an event an alert keeps) and
//! `raw` (paths into the raw JSON).

mod eval;
mod features;
mod projection;
mod raw;

pub(crate) use eval::{EvalContext, Scope, scalar_str};
pub(crate) use features::{collection_requirement, event_features};
pub(crate) use projection::{ALWAYS_COPIED, alert_need, copied_for_alert, copy_for_alert};
pub(crate) use raw::RawPaths;

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
    /// Derived: the globally routable IP addresses written in the exec command.
    ExecPublicIps,
    /// Derived: the product name that starts the user agent (`kubectl`, `curl`).
    UserAgentName,
    /// Derived from the raw annotations: the Pod Security level of `audit-violations`.
    PsaAuditLevel,
    /// Derived from the raw annotations: the level of `enforce-policy`.
    PsaEnforceLevel,
    /// Derived from the object's kind, name, controller owner reference and
    /// `pod-template-hash` label: the workload behind it (`Deployment/web`).
    Owner,
    /// Derived from the detector's learned networks: where `source_ip_last` lies for the
    /// event's cluster (`cluster`, `learning`, `outside`).
    SourceIpNetwork,
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
    ("exec_public_ips", EventField::ExecPublicIps),
    ("user_agent_name", EventField::UserAgentName),
    ("psa_audit_level", EventField::PsaAuditLevel),
    ("psa_enforce_level", EventField::PsaEnforceLevel),
    ("owner", EventField::Owner),
    ("source_ip_network", EventField::SourceIpNetwork),
];

/// A raw path segment that stands for every key of an object (`raw.requestObject.data.*`).
pub(crate) const RAW_ANY_KEY: &str = "*";

/// The label the Deployment controller puts on its ReplicaSets and their pods; the
/// ReplicaSet's name is the Deployment's plus `-<hash>`.
const LABEL_POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Kinds of the workload resources, for `owner` when the event carries no pod spec.
const WORKLOAD_KINDS: &[(&str, &str)] = &[
    ("pods", "Pod"),
    ("deployments", "Deployment"),
    ("replicasets", "ReplicaSet"),
    ("statefulsets", "StatefulSet"),
    ("daemonsets", "DaemonSet"),
    ("jobs", "Job"),
    ("cronjobs", "CronJob"),
    ("replicationcontrollers", "ReplicationController"),
];

fn kind_of_resource(resource: &str) -> Option<&'static str> {
    WORKLOAD_KINDS
        .iter()
        .find(|(candidate, _)| *candidate == resource)
        .map(|(_, kind)| *kind)
}

/// The workload behind an object of `kind` named `name` (`Kind/name`): its controller when
/// it has one, raised one level where the name says so: a ReplicaSet named
/// `<deployment>-<pod-template-hash>` stands for its Deployment, a Job named
/// `<cronjob>-<scheduled minute>` (eight or more digits) for its CronJob. So a Deployment,
/// its ReplicaSets and their pods share one owner, as do a CronJob, its Jobs and their pods.
fn workload_of(
    kind: &str,
    name: &str,
    controller: Option<(&str, &str)>,
    template_hash: Option<&str>,
) -> String {
    let (kind, name) = controller.unwrap_or((kind, name));
    let deployment = (kind == "ReplicaSet")
        .then(|| template_hash.and_then(|hash| name.strip_suffix(hash)?.strip_suffix('-')))
        .flatten()
        .filter(|deployment| !deployment.is_empty());
    if let Some(deployment) = deployment {
        return format!("Deployment/{deployment}");
    }
    let cronjob = (kind == "Job")
        .then(|| {
            let (prefix, minute) = name.rsplit_once('-')?;
            (minute.len() >= 8 && minute.bytes().all(|byte| byte.is_ascii_digit()))
                .then_some(prefix)
        })
        .flatten()
        .filter(|cronjob| !cronjob.is_empty());
    match cronjob {
        Some(cronjob) => format!("CronJob/{cronjob}"),
        None => format!("{kind}/{name}"),
    }
}

/// Pod Security annotations of audit events, read by the `psa_*_level` fields.
const ANNOTATION_PSA_AUDIT_VIOLATIONS: &str = "pod-security.kubernetes.io/audit-violations";
const ANNOTATION_PSA_ENFORCE_POLICY: &str = "pod-security.kubernetes.io/enforce-policy";

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
            return raw::parse_raw_path(path).map(Field::Raw);
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
                    | EventField::ExecPublicIps
                    | EventField::PsaViolations
            ),
            Field::PodSpec(_) | Field::Container(_) | Field::Volume(_) | Field::Image(_) => true,
            Field::Change(field) => *field != ChangeField::HasPrevious,
            Field::Raw(_) => false,
        }
    }

    /// A rough evaluation cost, used to test cheap leaves first.
    pub(crate) fn cost(&self) -> u32 {
        match self {
            Field::Event(
                EventField::PsaAuditLevel | EventField::PsaEnforceLevel | EventField::Owner,
            ) => 20,
            Field::Event(EventField::ExecCommandLine | EventField::ExecPublicIps) => 2,
            Field::Event(_) | Field::Change(_) => 1,
            Field::PodSpec(_) | Field::Volume(_) | Field::Image(_) => 2,
            Field::Container(_) => 3,
            Field::Raw(_) => 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_the_workloads_behind_objects() {
        let hash = Some("7d9f8c6b5");
        let cases = [
            ("Deployment", "web", None, None, "Deployment/web"),
            (
                "ReplicaSet",
                "web-7d9f8c6b5",
                Some(("Deployment", "web")),
                hash,
                "Deployment/web",
            ),
            (
                "Pod",
                "web-7d9f8c6b5-x2x4z",
                Some(("ReplicaSet", "web-7d9f8c6b5")),
                hash,
                "Deployment/web",
            ),
            // A ReplicaSet of its own: no hash label, or a name the hash does not end.
            (
                "Pod",
                "cache-abcde",
                Some(("ReplicaSet", "cache")),
                None,
                "ReplicaSet/cache",
            ),
            (
                "Pod",
                "x-1",
                Some(("ReplicaSet", "other")),
                hash,
                "ReplicaSet/other",
            ),
            (
                "Pod",
                "backup-29012345-abcde",
                Some(("Job", "backup-29012345")),
                None,
                "CronJob/backup",
            ),
            (
                "Job",
                "backup-29012345",
                Some(("CronJob", "backup")),
                None,
                "CronJob/backup",
            ),
            (
                "Pod",
                "migrate-1-abcde",
                Some(("Job", "migrate-1")),
                None,
                "Job/migrate-1",
            ),
            (
                "Pod",
                "node-agent-abcde",
                Some(("DaemonSet", "node-agent")),
                None,
                "DaemonSet/node-agent",
            ),
            (
                "Pod",
                "db-0",
                Some(("StatefulSet", "db")),
                None,
                "StatefulSet/db",
            ),
            ("Pod", "debug", None, None, "Pod/debug"),
        ];
        for (kind, name, controller, template_hash, expected) in cases {
            assert_eq!(
                workload_of(kind, name, controller, template_hash),
                expected,
                "{kind}/{name}"
            );
        }
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
