//! Test helpers: an `Event` builder and the `check(event, expected_rule_ids)` helper.

#![allow(dead_code)]

use std::sync::OnceLock;

use detect::{Engine, RuleSet};
use event::{ActorKind, Alert, Container, Decision, Event, ImageRef, PodSpec, Source, Volume};

/// A normalised event built field by field; defaults describe an allowed, completed request.
pub struct EventBuilder {
    event: Event,
}

pub fn audit(verb: &str, resource: &str) -> EventBuilder {
    EventBuilder {
        event: Event {
            event_id: "0123456789abcdef0123456789abcdef".to_owned(),
            time: 1_767_225_600_000_000,
            cluster: "test".to_owned(),
            source: Source::K8sAudit,
            audit_id: Some("a1b2c3d4-0000-4000-8000-000000000001".to_owned()),
            stage: Some("ResponseComplete".to_owned()),
            level: Some("Metadata".to_owned()),
            verb: Some(verb.to_owned()),
            request_uri: Some(format!("/api/v1/namespaces/team-a/{resource}")),
            user: Some("alice@example.com".to_owned()),
            user_groups: vec!["system:authenticated".to_owned()],
            actor_kind: Some(ActorKind::Human),
            source_ips: vec!["10.0.0.7".to_owned()],
            user_agent: Some("kubectl/v1.32.0".to_owned()),
            resource: Some(resource.to_owned()),
            namespace: Some("team-a".to_owned()),
            response_code: Some(200),
            decision: Some(Decision::Allow),
            raw: "{}".to_owned(),
            ..Event::default()
        },
    }
}

pub fn falco(rule: &str, priority: &str) -> EventBuilder {
    let mut builder = audit("", "");
    let event = &mut builder.event;
    event.source = Source::Falco;
    event.audit_id = None;
    event.stage = None;
    event.level = None;
    event.verb = None;
    event.request_uri = None;
    event.user = None;
    event.user_groups.clear();
    event.actor_kind = None;
    event.source_ips.clear();
    event.user_agent = None;
    event.resource = None;
    event.response_code = None;
    event.decision = None;
    event.falco_rule = Some(rule.to_owned());
    event.falco_priority = Some(priority.to_owned());
    event.pod_name = Some("web-0".to_owned());
    event.container_id = Some("abc123".to_owned());
    builder
}

/// A pod spec with one container per (name, image, privileged).
pub fn pod_spec(owner_kind: &str, containers: &[(&str, &str, Option<bool>)]) -> PodSpec {
    PodSpec {
        owner_kind: owner_kind.to_owned(),
        containers: containers
            .iter()
            .map(|(name, image, privileged)| Container {
                name: (*name).to_owned(),
                image: (*image).to_owned(),
                privileged: *privileged,
                ..Container::default()
            })
            .collect(),
        ..PodSpec::default()
    }
}

pub fn image(
    reference: &str,
    registry: &str,
    repository: &str,
    tag: Option<&str>,
    digest: Option<&str>,
) -> ImageRef {
    ImageRef {
        reference: reference.to_owned(),
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    }
}

impl EventBuilder {
    pub fn user(mut self, user: &str, kind: ActorKind) -> Self {
        self.event.user = Some(user.to_owned());
        self.event.actor_kind = Some(kind);
        self
    }
    pub fn groups(mut self, groups: &[&str]) -> Self {
        self.event.user_groups = groups.iter().map(|group| (*group).to_owned()).collect();
        self
    }
    pub fn impersonating(mut self, user: &str) -> Self {
        self.event.impersonated_user = Some(user.to_owned());
        self
    }
    pub fn subresource(mut self, subresource: &str) -> Self {
        self.event.subresource = Some(subresource.to_owned());
        self
    }
    pub fn api_group(mut self, group: &str) -> Self {
        self.event.api_group = Some(group.to_owned());
        self
    }
    pub fn namespace(mut self, namespace: Option<&str>) -> Self {
        self.event.namespace = namespace.map(str::to_owned);
        self
    }
    pub fn name(mut self, name: &str) -> Self {
        self.event.name = Some(name.to_owned());
        self
    }
    pub fn uri(mut self, uri: &str) -> Self {
        self.event.request_uri = Some(uri.to_owned());
        self
    }
    pub fn source_ips(mut self, ips: &[&str]) -> Self {
        self.event.source_ips = ips.iter().map(|ip| (*ip).to_owned()).collect();
        self
    }
    pub fn user_agent(mut self, agent: &str) -> Self {
        self.event.user_agent = Some(agent.to_owned());
        self
    }
    pub fn denied(mut self) -> Self {
        self.event.decision = Some(Decision::Forbid);
        self.event.response_code = Some(403);
        self
    }
    pub fn stage(mut self, stage: &str) -> Self {
        self.event.stage = Some(stage.to_owned());
        self
    }
    /// The audit level (`Metadata` by default; rules reading bodies need `Request`).
    pub fn level(mut self, level: &str) -> Self {
        self.event.level = Some(level.to_owned());
        self
    }
    pub fn code(mut self, code: i32) -> Self {
        self.event.response_code = Some(code);
        self
    }
    pub fn exec(mut self, command: &[&str]) -> Self {
        self.event.exec_command = command.iter().map(|part| (*part).to_owned()).collect();
        self
    }
    pub fn raw(mut self, raw: serde_json::Value) -> Self {
        self.event.raw = raw.to_string();
        self
    }
    pub fn pod(mut self, pod: PodSpec) -> Self {
        self.event.pod_specs.push(pod);
        self
    }
    pub fn volume(mut self, host_path: &str) -> Self {
        let pod = self
            .event
            .pod_specs
            .last_mut()
            .expect("volume() after pod()");
        pod.volumes.push(Volume {
            name: "host".to_owned(),
            host_path: Some(host_path.to_owned()),
        });
        self
    }
    pub fn edit_pod(mut self, edit: impl FnOnce(&mut PodSpec)) -> Self {
        edit(
            self.event
                .pod_specs
                .last_mut()
                .expect("edit_pod() after pod()"),
        );
        self
    }
    pub fn image(mut self, image: ImageRef) -> Self {
        self.event.images.push(image);
        self
    }
    pub fn build(self) -> Event {
        self.event
    }
}

pub fn builtin_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(RuleSet::builtin().expect("built-in rules compile")))
}

pub fn alerts_for(event: &Event) -> Vec<Alert> {
    let mut alerts = Vec::new();
    builtin_engine().evaluate(event, &mut alerts);
    alerts
}

/// Asserts that the built-in rules raise exactly `expected` (rule ids, any order) for `event`.
#[track_caller]
pub fn check(event: impl Into<Event>, expected: &[&str]) {
    let event = event.into();
    let mut fired: Vec<String> = alerts_for(&event)
        .into_iter()
        .map(|alert| alert.rule_id)
        .collect();
    fired.sort();
    let mut expected: Vec<String> = expected.iter().map(|id| (*id).to_owned()).collect();
    expected.sort();
    assert_eq!(fired, expected, "rules fired for {event:#?}");
}

impl From<EventBuilder> for Event {
    fn from(builder: EventBuilder) -> Event {
        builder.build()
    }
}
