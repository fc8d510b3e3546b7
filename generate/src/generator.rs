//! The event stream: clock, pending long-running requests and bursts, the benign traffic mix and event rendering.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::bodies::{self, Body, Form, Meta, Risk, Spec};
use crate::catalog::{self as cat, A, ACTORS, APPS, ActorKind, App, Credential, Level, Resource};
use crate::json::{self, Arg, fill, raw, string};
use crate::rng::Rng;
use crate::{Label, Options, benign};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    ResponseStarted,
    ResponseComplete,
}

/// Who allowed the request, for the `authorization.k8s.io/reason` annotation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reason {
    Actor,
    Discovery,
    PublicInfo,
    Forbid,
}

/// The object a resource request names (`objectRef`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub resource: &'static Resource,
    pub namespace: &'a str,
    pub name: &'a str,
    pub subresource: &'a str,
}

/// One audit event to render.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub stage: Stage,
    pub audit_id: u128,
    pub verb: &'static str,
    pub uri: &'a str,
    pub actor: A,
    pub impersonated: Option<A>,
    pub target: Option<Target<'a>>,
    pub code: i64,
    pub level: Level,
    pub received: i64,
    pub stage_time: i64,
    pub reason: Reason,
}

/// One resource request to emit: who does what to which object, and the answer the
/// generator intends (a system identity may still draw a benign 403). Built with
/// [`Request::new`] and the setters; unset parts are empty, the code 200 and the bodies none.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub actor: A,
    pub verb: &'static str,
    pub resource: &'static Resource,
    pub namespace: &'a str,
    pub name: &'a str,
    pub subresource: &'a str,
    pub query: &'a str,
    pub code: i64,
    pub request: &'a Body<'a>,
    pub response: &'a Body<'a>,
}

impl<'a> Request<'a> {
    pub fn new(actor: A, verb: &'static str, resource: &'static Resource) -> Request<'a> {
        Request {
            actor,
            verb,
            resource,
            namespace: "",
            name: "",
            subresource: "",
            query: "",
            code: 200,
            request: &Body::None,
            response: &Body::None,
        }
    }

    pub fn namespace(self, namespace: &'a str) -> Request<'a> {
        Request { namespace, ..self }
    }

    pub fn name(self, name: &'a str) -> Request<'a> {
        Request { name, ..self }
    }

    pub fn subresource(self, subresource: &'a str) -> Request<'a> {
        Request {
            subresource,
            ..self
        }
    }

    pub fn query(self, query: &'a str) -> Request<'a> {
        Request { query, ..self }
    }

    pub fn code(self, code: i64) -> Request<'a> {
        Request { code, ..self }
    }

    pub fn request_body(self, request: &'a Body<'a>) -> Request<'a> {
        Request { request, ..self }
    }

    pub fn response_body(self, response: &'a Body<'a>) -> Request<'a> {
        Request { response, ..self }
    }
}

/// Work scheduled for a later event.
#[derive(Debug)]
pub(crate) enum Pending {
    Discovery {
        actor: A,
        next: usize,
        end: usize,
    },
    WatchEnd {
        actor: A,
        resource: &'static Resource,
        namespace: String,
        name: String,
        uri: String,
        audit_id: u128,
        received: i64,
    },
    Attack(crate::attacks::Step),
}

#[derive(Debug)]
struct Scheduled {
    ready: i64,
    sequence: u64,
    urgent: bool,
    pending: Pending,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.ready, self.sequence) == (other.ready, other.sequence)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.ready, self.sequence).cmp(&(other.ready, other.sequence))
    }
}

/// Pre-rendered identity fragments.
#[derive(Debug)]
struct RenderedActor {
    /// `,"user":{...}`
    user: Vec<u8>,
    /// `,"impersonatedUser":{...}`
    impersonated: Vec<u8>,
    /// `,"sourceIPs":[...],"userAgent":"..."`
    client: Vec<u8>,
}

/// Per-workload identity that stays stable over the stream.
#[derive(Debug)]
pub(crate) struct AppState {
    pub template_hash: String,
    pub uid: u128,
    pub replicaset_uid: u128,
    pub created: i64,
    pub cluster_ip: (i64, i64),
}

/// Produces one audit event per call; see the crate docs.
#[derive(Debug)]
pub struct Generator {
    pub(crate) rng: Rng,
    pub(crate) now: i64,
    mean_gap_micros: i64,
    started: bool,
    pub(crate) resource_version: i64,
    pending: BinaryHeap<Reverse<Scheduled>>,
    sequence: u64,
    emitted: u64,
    attacks: bool,
    next_attack_at: u64,
    attack_cursor: usize,
    actors: Vec<RenderedActor>,
    pub(crate) apps: Vec<AppState>,
    /// The cluster shape's own steps (empty for the base mix alone).
    shape_steps: &'static [(crate::shapes::Step, u32)],
}

pub(crate) fn actor_namespace(actor: A) -> &'static str {
    let username = cat::actor(actor).username;
    username
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split(':').next())
        .unwrap_or("default")
}

pub(crate) fn uid_of(parts: &[&str]) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update(b"/");
    }
    hasher.digest128()
}

fn render_actor(actor: &cat::ActorDef) -> RenderedActor {
    let mut user = Vec::new();
    raw(&mut user, r#","user":{"username":"#);
    string(&mut user, actor.username);
    let uid = uid_of(&["user", actor.username]);
    match actor.credential {
        Credential::PodToken { .. } | Credential::ControllerToken => {
            raw(&mut user, r#","uid":""#);
            json::uuid(&mut user, uid);
            user.push(b'"');
        }
        Credential::Oidc => {
            raw(&mut user, r#","uid":""#);
            json::uuid(&mut user, uid);
            user.push(b'"');
        }
        Credential::None | Credential::X509 => {}
    }
    let mut groups = Vec::new();
    raw(&mut groups, r#","groups":["#);
    for (index, group) in actor.groups.iter().enumerate() {
        if index > 0 {
            groups.push(b',');
        }
        string(&mut groups, group);
    }
    groups.push(b']');
    user.extend_from_slice(&groups);
    match actor.credential {
        Credential::X509 => {
            raw(
                &mut user,
                r#","extra":{"authentication.kubernetes.io/credential-id":["X509SHA256="#,
            );
            let mut rng = Rng::new(uid as u64);
            for _ in 0..4 {
                let word = rng.next_u64();
                for shift in (0..16).rev() {
                    user.push(b"0123456789abcdef"[((word >> (shift * 4)) & 15) as usize]);
                }
            }
            raw(&mut user, r#""]}"#);
        }
        Credential::PodToken { pod, node } => fill(
            &mut user,
            r#","extra":{"authentication.kubernetes.io/credential-id":["JTI=~"],"authentication.kubernetes.io/node-name":["~"],"authentication.kubernetes.io/node-uid":["~"],"authentication.kubernetes.io/pod-name":["~"],"authentication.kubernetes.io/pod-uid":["~"]}"#,
            &[
                Arg::Uuid(uid_of(&["jti", actor.username])),
                Arg::Raw(node),
                Arg::Uuid(uid_of(&["node", node])),
                Arg::Raw(pod),
                Arg::Uuid(uid_of(&["pod", pod])),
            ],
        ),
        Credential::ControllerToken => fill(
            &mut user,
            r#","extra":{"authentication.kubernetes.io/credential-id":["JTI=~"]}"#,
            &[Arg::Uuid(uid_of(&["jti", actor.username]))],
        ),
        Credential::None | Credential::Oidc => {}
    }
    user.push(b'}');
    let mut impersonated = Vec::new();
    raw(&mut impersonated, r#","impersonatedUser":{"username":"#);
    string(&mut impersonated, actor.username);
    impersonated.extend_from_slice(&groups);
    impersonated.push(b'}');
    let mut client = Vec::new();
    raw(&mut client, r#","sourceIPs":["#);
    string(&mut client, actor.source_ip);
    raw(&mut client, r#"],"userAgent":"#);
    string(&mut client, actor.user_agent);
    RenderedActor {
        user,
        impersonated,
        client,
    }
}

/// Appends a request URI for a resource request.
pub(crate) fn resource_uri(
    uri: &mut String,
    resource: &Resource,
    namespace: &str,
    name: &str,
    subresource: &str,
    query: &str,
) {
    uri.clear();
    if resource.group.is_empty() {
        uri.push_str("/api/v1");
    } else {
        uri.push_str("/apis/");
        uri.push_str(resource.group);
        uri.push('/');
        uri.push_str(resource.version);
    }
    if resource.namespaced && !namespace.is_empty() {
        uri.push_str("/namespaces/");
        uri.push_str(namespace);
    }
    uri.push('/');
    uri.push_str(resource.plural);
    if !name.is_empty() {
        uri.push('/');
        uri.push_str(name);
    }
    if !subresource.is_empty() {
        uri.push('/');
        uri.push_str(subresource);
    }
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(query);
    }
}

fn qualified(resource: &Resource) -> String {
    if resource.group.is_empty() {
        resource.plural.to_owned()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    }
}

/// `,"objectRef":{...}`.
fn write_object_ref(buf: &mut Vec<u8>, target: &Target<'_>) {
    fill(
        buf,
        r#","objectRef":{"resource":"~""#,
        &[Arg::Raw(target.resource.plural)],
    );
    if !target.namespace.is_empty() && target.resource.namespaced {
        fill(buf, r#","namespace":"~""#, &[Arg::Raw(target.namespace)]);
    }
    if !target.name.is_empty() {
        fill(buf, r#","name":"~""#, &[Arg::Raw(target.name)]);
    }
    if !target.resource.group.is_empty() {
        fill(
            buf,
            r#","apiGroup":"~""#,
            &[Arg::Raw(target.resource.group)],
        );
    }
    fill(
        buf,
        r#","apiVersion":"~""#,
        &[Arg::Raw(target.resource.version)],
    );
    if !target.subresource.is_empty() {
        fill(
            buf,
            r#","subresource":"~""#,
            &[Arg::Raw(target.subresource)],
        );
    }
    buf.push(b'}');
}

/// The failure fields of `responseStatus` (`status`, `message`, `reason`, `details`).
fn write_failure_status(buf: &mut Vec<u8>, message: &str, reason: &str, target: &Target<'_>) {
    raw(buf, r#","status":"Failure","message":"#);
    string(buf, message);
    fill(buf, r#","reason":"~","details":{"#, &[Arg::Raw(reason)]);
    if !target.name.is_empty() {
        fill(buf, r#""name":"~","#, &[Arg::Raw(target.name)]);
    }
    if !target.resource.group.is_empty() {
        fill(buf, r#""group":"~","#, &[Arg::Raw(target.resource.group)]);
    }
    fill(buf, r#""kind":"~"}"#, &[Arg::Raw(target.resource.plural)]);
}

/// `requestObject` and `responseObject` as far as the level keeps them; a failed request
/// answers with its `Status` instead of `response`.
fn write_bodies(
    buf: &mut Vec<u8>,
    call: &Call<'_>,
    target: &Target<'_>,
    failure_status: Option<&(String, &'static str)>,
    request: &Body<'_>,
    response: &Body<'_>,
) {
    if call.level >= Level::Request {
        let mark = buf.len();
        raw(buf, r#","requestObject":"#);
        if !bodies::write(buf, request, Form::Request) {
            buf.truncate(mark);
        }
    }
    if call.level == Level::RequestResponse && call.stage == Stage::ResponseComplete {
        let mark = buf.len();
        raw(buf, r#","responseObject":"#);
        let written = match failure_status {
            Some((message, reason)) => bodies::write(
                buf,
                &Body::Status {
                    code: call.code,
                    status: "Failure",
                    reason,
                    message,
                    name: target.name,
                    group: target.resource.group,
                    kind: target.resource.plural,
                },
                Form::Response,
            ),
            None => bodies::write(buf, response, Form::Response),
        };
        if !written {
            buf.truncate(mark);
        }
    }
}

/// The timestamps, the authorization annotations and the end of the line.
fn write_times_and_decision(buf: &mut Vec<u8>, call: &Call<'_>) {
    fill(
        buf,
        r#","requestReceivedTimestamp":"~","stageTimestamp":"~","annotations":{"authorization.k8s.io/decision":""#,
        &[Arg::Micros(call.received), Arg::Micros(call.stage_time)],
    );
    let reason = match call.reason {
        Reason::Forbid => {
            raw(buf, r#"forbid","authorization.k8s.io/reason":""}}"#);
            buf.push(b'\n');
            return;
        }
        Reason::Actor => cat::actor(call.actor).reason,
        Reason::Discovery => cat::DISCOVERY_REASON,
        Reason::PublicInfo => cat::PUBLIC_INFO_REASON,
    };
    raw(buf, r#"allow","authorization.k8s.io/reason":"#);
    string(buf, reason);
    raw(buf, "}}\n");
}

/// `message` and `reason` of a failed request, as the API server phrases them.
pub(crate) fn failure(
    code: i64,
    verb: &str,
    actor: A,
    target: &Target<'_>,
) -> (String, &'static str) {
    let name = target.name;
    let resource = target.resource;
    match code {
        404 => (
            format!("{} \"{name}\" not found", qualified(resource)),
            "NotFound",
        ),
        409 if verb == "create" => (
            format!("{} \"{name}\" already exists", qualified(resource)),
            "AlreadyExists",
        ),
        409 => (
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(resource)
            ),
            "Conflict",
        ),
        _ => {
            let who = cat::actor(actor).username;
            let subject = if name.is_empty() {
                qualified(resource)
            } else {
                format!("{} \"{name}\"", qualified(resource))
            };
            let plural = if target.subresource.is_empty() {
                resource.plural.to_owned()
            } else {
                format!("{}/{}", resource.plural, target.subresource)
            };
            let scope = if resource.namespaced && !target.namespace.is_empty() {
                format!("in the namespace \"{}\"", target.namespace)
            } else {
                "at the cluster scope".to_owned()
            };
            (
                format!(
                    "{subject} is forbidden: User \"{who}\" cannot {verb} resource \"{plural}\" in API group \"{}\" {scope}",
                    resource.group
                ),
                "Forbidden",
            )
        }
    }
}

pub(crate) fn name_suffix(rng: &mut Rng, length: usize) -> String {
    (0..length)
        .map(|_| char::from(cat::NAME_ALPHABET[rng.index(cat::NAME_ALPHABET.len())]))
        .collect()
}

impl Generator {
    /// A generator for `options`. A non-positive or non-finite rate falls back to the default
    /// rate ([`crate::generate`] rejects such options instead).
    pub fn new(options: Options) -> Generator {
        let rate = if options.events_per_second.is_finite() && options.events_per_second > 0.0 {
            options.events_per_second
        } else {
            Options::DEFAULT_EVENTS_PER_SECOND
        };
        let mean_gap_micros = ((1_000_000.0 / rate).round() as i64).max(1);
        let mut rng = Rng::new(options.seed);
        let apps = APPS
            .iter()
            .map(|app| AppState {
                template_hash: name_suffix(&mut rng, 10),
                uid: uid_of(&[app.kind, app.namespace, app.name]),
                replicaset_uid: uid_of(&["ReplicaSet", app.namespace, app.name]),
                created: options.start_time_micros - rng.range(86_400, 86_400 * 120) * 1_000_000,
                cluster_ip: (rng.range(0, 255), rng.range(1, 254)),
            })
            .collect();
        let first_attack = rng.range(300, 1200) as u64;
        Generator {
            rng,
            now: options.start_time_micros,
            mean_gap_micros,
            started: false,
            resource_version: 6_577_334,
            pending: BinaryHeap::new(),
            sequence: 0,
            emitted: 0,
            attacks: options.attacks,
            next_attack_at: first_attack,
            attack_cursor: 0,
            actors: ACTORS
                .iter()
                .chain(crate::shapes::SHAPE_ACTORS)
                .map(render_actor)
                .collect(),
            apps,
            shape_steps: options.shape.steps(),
        }
    }

    /// Appends one JSON line (with trailing `\n`) to `buf`; returns the label if the event belongs
    /// to an injected attack scenario.
    pub fn next_event(&mut self, buf: &mut Vec<u8>) -> Option<Label> {
        if self.started {
            self.now += self.rng.range(0, 2 * self.mean_gap_micros).max(1);
        }
        self.started = true;
        self.emitted += 1;
        if let Some(Reverse(top)) = self.pending.peek()
            && top.ready <= self.now
            && (top.urgent || self.rng.chance(7, 10))
        {
            let Reverse(scheduled) = self.pending.pop()?;
            return self.emit_pending(buf, scheduled.pending);
        }
        if self.attacks && self.emitted >= self.next_attack_at {
            self.next_attack_at = self.emitted + self.rng.range(1500, 2500) as u64;
            let scenario = self.attack_cursor % crate::attacks::SCENARIOS.len();
            self.attack_cursor += 1;
            return self.start_attack(buf, scenario);
        }
        if !self.shape_steps.is_empty() {
            let (numerator, denominator) = crate::shapes::SHAPE_SHARE;
            if self.rng.chance(numerator, denominator) {
                let step = *self.rng.weighted(self.shape_steps);
                self.shape_step(buf, step);
                return None;
            }
        }
        let activity = *self.rng.weighted(benign::ACTIVITIES);
        activity(self, buf);
        None
    }

    pub(crate) fn schedule(&mut self, ready: i64, urgent: bool, pending: Pending) {
        self.sequence += 1;
        self.pending.push(Reverse(Scheduled {
            ready,
            sequence: self.sequence,
            urgent,
            pending,
        }));
    }

    pub(crate) fn next_resource_version(&mut self) -> i64 {
        self.resource_version += self.rng.range(1, 40);
        self.resource_version
    }

    pub(crate) fn audit_id(&mut self) -> u128 {
        self.rng.next_u128()
    }

    fn emit_pending(&mut self, buf: &mut Vec<u8>, pending: Pending) -> Option<Label> {
        match pending {
            Pending::Discovery { actor, next, end } => {
                self.discovery_step(buf, actor, next, end);
                None
            }
            Pending::WatchEnd {
                actor,
                resource,
                namespace,
                name,
                uri,
                audit_id,
                received,
            } => {
                let call = Call {
                    stage: Stage::ResponseComplete,
                    audit_id,
                    verb: "watch",
                    uri: &uri,
                    actor,
                    impersonated: None,
                    target: Some(Target {
                        resource,
                        namespace: &namespace,
                        name: &name,
                        subresource: "",
                    }),
                    code: 200,
                    level: Level::for_request(resource, None, "watch"),
                    received,
                    stage_time: self.now,
                    reason: Reason::Actor,
                };
                self.render(buf, &call, &Body::None, &Body::None);
                None
            }
            Pending::Attack(step) => self.attack_step(buf, step),
        }
    }

    /// Writes a whole event line.
    pub(crate) fn render(
        &mut self,
        buf: &mut Vec<u8>,
        call: &Call<'_>,
        request: &Body<'_>,
        response: &Body<'_>,
    ) {
        raw(
            buf,
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":""#,
        );
        raw(buf, call.level.as_str());
        raw(buf, r#"","auditID":""#);
        json::uuid(buf, call.audit_id);
        raw(
            buf,
            match call.stage {
                Stage::ResponseStarted => r#"","stage":"ResponseStarted","requestURI":"#,
                Stage::ResponseComplete => r#"","stage":"ResponseComplete","requestURI":"#,
            },
        );
        string(buf, call.uri);
        raw(buf, r#","verb":""#);
        raw(buf, call.verb);
        buf.push(b'"');
        let actor = &self.actors[call.actor as usize];
        buf.extend_from_slice(&actor.user);
        if let Some(impersonated) = call.impersonated {
            buf.extend_from_slice(&self.actors[impersonated as usize].impersonated);
        }
        buf.extend_from_slice(&actor.client);
        let failure_status = call.target.as_ref().and_then(|target| {
            write_object_ref(buf, target);
            (call.code >= 400).then(|| {
                failure(
                    call.code,
                    call.verb,
                    call.impersonated.unwrap_or(call.actor),
                    target,
                )
            })
        });
        raw(buf, r#","responseStatus":{"metadata":{}"#);
        if let (Some((message, reason)), Some(target)) = (&failure_status, &call.target) {
            write_failure_status(buf, message, reason, target);
        }
        raw(buf, r#","code":"#);
        json::int(buf, call.code);
        buf.push(b'}');
        if let Some(target) = &call.target {
            write_bodies(
                buf,
                call,
                target,
                failure_status.as_ref(),
                request,
                response,
            );
        }
        write_times_and_decision(buf, call);
    }

    /// Latency in microseconds for a request of this shape.
    pub(crate) fn latency(&mut self, verb: &str, level: Level) -> i64 {
        let base = match verb {
            "get" => self.rng.range(600, 6_000),
            "list" => self.rng.range(2_000, 60_000),
            "watch" => self.rng.range(300, 2_000),
            "create" | "update" | "patch" => self.rng.range(3_000, 25_000),
            _ => self.rng.range(4_000, 40_000),
        };
        if level == Level::RequestResponse {
            base + self.rng.range(200, 3_000)
        } else {
            base
        }
    }

    /// `get` of one object, answered 200 without bodies; returns its auditID.
    pub(crate) fn get(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        resource: &'static Resource,
        namespace: &str,
        name: &str,
    ) -> u128 {
        self.request(
            buf,
            Request::new(actor, "get", resource)
                .namespace(namespace)
                .name(name),
        )
    }

    /// `list` of a kind (all namespaces when `namespace` is empty), answered 200.
    pub(crate) fn list(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        resource: &'static Resource,
        namespace: &str,
        query: &str,
    ) -> u128 {
        let request = Request::new(actor, "list", resource);
        self.request(buf, request.namespace(namespace).query(query))
    }

    /// `watch` of a kind (all namespaces when `namespace` is empty); the watch's end is scheduled.
    pub(crate) fn watch(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        resource: &'static Resource,
        namespace: &str,
        query: &str,
    ) -> u128 {
        let request = Request::new(actor, "watch", resource);
        self.request(buf, request.namespace(namespace).query(query))
    }

    /// Emits one resource request (or the ResponseStarted of a watch) and returns its auditID.
    pub(crate) fn request(&mut self, buf: &mut Vec<u8>, request: Request<'_>) -> u128 {
        let Request {
            actor,
            verb,
            resource,
            namespace,
            name,
            subresource,
            query,
            mut code,
            request,
            response,
        } = request;
        let mut reason = Reason::Actor;
        // A low, steady rate of benign 403s from system identities (startup races, node authorizer).
        let kind = cat::actor(actor).kind;
        if code < 300
            && matches!(
                kind,
                ActorKind::Node | ActorKind::ControlPlane | ActorKind::SystemServiceAccount
            )
            && self.rng.chance(1, 160)
        {
            code = 403;
        }
        if code == 403 {
            reason = Reason::Forbid;
        }
        let level = Level::for_request(
            resource,
            (!subresource.is_empty()).then_some(subresource),
            verb,
        );
        let mut uri = String::with_capacity(128);
        let watch_query;
        let query = if verb == "watch" {
            let seconds = self.rng.range(300, 600);
            let base = if query.is_empty() {
                String::new()
            } else {
                format!("{query}&")
            };
            watch_query = format!(
                "{base}allowWatchBookmarks=true&resourceVersion={}&timeout={}m{}s&timeoutSeconds={seconds}&watch=true",
                self.resource_version - self.rng.range(0, 5000),
                seconds / 60,
                seconds % 60
            );
            watch_query.as_str()
        } else {
            query
        };
        resource_uri(&mut uri, resource, namespace, name, subresource, query);
        let audit_id = self.audit_id();
        let latency = self.latency(verb, level);
        let stage = if verb == "watch" && code < 400 {
            Stage::ResponseStarted
        } else {
            Stage::ResponseComplete
        };
        let call = Call {
            stage,
            audit_id,
            verb,
            uri: &uri,
            actor,
            impersonated: None,
            target: Some(Target {
                resource,
                namespace,
                name,
                subresource,
            }),
            code,
            level,
            received: self.now - latency,
            stage_time: self.now,
            reason,
        };
        self.render(buf, &call, request, response);
        if stage == Stage::ResponseStarted {
            let seconds: i64 = query
                .split("timeoutSeconds=")
                .nth(1)
                .and_then(|rest| rest.split('&').next())
                .and_then(|text| text.parse().ok())
                .unwrap_or(300);
            let received = self.now - latency;
            self.schedule(
                received + seconds * 1_000_000,
                false,
                Pending::WatchEnd {
                    actor,
                    resource,
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    uri,
                    audit_id,
                    received,
                },
            );
        }
        audit_id
    }

    /// Emits discovery GET `next` of a client's sweep and schedules the one after it, up to `end`.
    pub(crate) fn discovery_step(&mut self, buf: &mut Vec<u8>, actor: A, next: usize, end: usize) {
        self.discovery_event(buf, actor, next);
        if next + 1 < end {
            let ready = self.now + self.rng.range(500, 4000);
            self.schedule(
                ready,
                false,
                Pending::Discovery {
                    actor,
                    next: next + 1,
                    end,
                },
            );
        }
    }

    fn discovery_event(&mut self, buf: &mut Vec<u8>, actor: A, index: usize) {
        let path = cat::DISCOVERY_PATHS[index % cat::DISCOVERY_PATHS.len()];
        let uri = if self.rng.chance(85, 100) {
            format!("{path}?timeout=32s")
        } else {
            path.to_owned()
        };
        self.non_resource(buf, actor, &uri, Reason::Discovery);
    }

    pub(crate) fn non_resource(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        uri: &str,
        reason: Reason,
    ) -> u128 {
        let audit_id = self.audit_id();
        let latency = self.rng.range(150, 2_500);
        let call = Call {
            stage: Stage::ResponseComplete,
            audit_id,
            verb: "get",
            uri,
            actor,
            impersonated: None,
            target: None,
            code: 200,
            level: Level::Metadata,
            received: self.now - latency,
            stage_time: self.now,
            reason,
        };
        self.render(buf, &call, &Body::None, &Body::None);
        audit_id
    }

    pub(crate) fn meta<'a>(
        &mut self,
        name: &'a str,
        namespace: &'a str,
        uid: u128,
        created: i64,
    ) -> Meta<'a> {
        let resource_version = self.next_resource_version();
        Meta {
            name,
            namespace,
            uid,
            resource_version,
            created,
            now: self.now,
        }
    }

    pub(crate) fn pick_app(&mut self, kinds: &[&str]) -> usize {
        loop {
            let index = self.rng.index(APPS.len());
            if kinds.contains(&APPS[index].kind) {
                return index;
            }
        }
    }

    pub(crate) fn spec_of(&mut self, app: &'static App, defaulted: bool) -> Spec<'static> {
        let env_count = match self.rng.below(10) {
            0..=3 => self.rng.index(3),
            4..=8 => 3 + self.rng.index(6),
            _ => 8 + self.rng.index(16),
        };
        Spec {
            app: app.name,
            container: app.name,
            image: app.image,
            port: app.port,
            service_account: app.service_account,
            env_count,
            risk: Risk::None,
            defaulted,
            restart_never: matches!(app.kind, "Job" | "CronJob"),
        }
    }

    /// A TokenRequest (`create serviceaccounts/token`) for `service_account`, bound to a pod when
    /// a kubelet asks.
    pub(crate) fn token_request(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        service_account: &str,
        namespace: &str,
        expiration_seconds: i64,
        bound_pod: Option<(&str, u128)>,
    ) -> u128 {
        let body = Body::Token(bodies::TokenBody {
            service_account,
            namespace,
            audience: "https://kubernetes.default.svc.cluster.local",
            expiration_seconds,
            token_seed: self.rng.next_u64(),
            now: self.now,
            bound_pod,
        });
        self.request(
            buf,
            Request::new(actor, "create", &cat::SERVICEACCOUNTS)
                .namespace(namespace)
                .name(service_account)
                .subresource("token")
                .code(201)
                .request_body(&body)
                .response_body(&body),
        )
    }
}
