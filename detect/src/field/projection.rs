//! Alert projection: what of an event a rule's alerts read, and copies of events reduced to
//! that (an absence rule keeps one per group until it fires).

use event::Event;

use super::features::{FEATURE_IMAGES, FEATURE_POD_SPECS, event_bit};
use super::{EventField, Field};

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
    let raw = if !field.raw_paths().is_empty() {
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
