//! Feature bits: which fields and collections an event has, as one `u64`, and which ones a
//! field or a `for_any` block needs, so that one AND skips a rule that cannot match.

use event::Event;

use super::{ChangeField, Collection, EventField, Field};

/// Feature bits of an event: bit `EventField as u32` when that field has a value, and the
/// bits below for collections. Rules and sequence steps carry the bits their condition
/// requires (`Node::requirements`), so one AND skips a rule that cannot match.
pub(super) const FEATURE_POD_SPECS: u64 = 1 << 40;
const FEATURE_CONTAINERS: u64 = 1 << 41;
const FEATURE_VOLUMES: u64 = 1 << 42;
pub(super) const FEATURE_IMAGES: u64 = 1 << 43;
const FEATURE_CHANGES: u64 = 1 << 44;

pub(super) const fn event_bit(field: EventField) -> u64 {
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

impl Field {
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
                EventField::SourceIpLast | EventField::SourceIpNetwork => {
                    event_bit(EventField::SourceIps)
                }
                EventField::ExecCommandLine | EventField::ExecPublicIps => {
                    event_bit(EventField::ExecCommand)
                }
                EventField::UserAgentName => event_bit(EventField::UserAgent),
                EventField::Owner => event_bit(EventField::Name),
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
}
