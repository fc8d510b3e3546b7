//! The event stream: clock, pending long-running requests and bursts, the benign traffic mix and event rendering.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::bodies::{
    self, Body, Form, Meta, PodBody, Risk, RoleBody, RoleRules, Spec, WorkloadBody, WorkloadChange,
};
use crate::catalog::{self as cat, A, ACTORS, APPS, ActorKind, App, Credential, Level, Resource};
use crate::json::{self, Arg, fill, raw, string};
use crate::rng::Rng;
use crate::{Label, Options};

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
    resource_version: i64,
    pending: BinaryHeap<Reverse<Scheduled>>,
    sequence: u64,
    emitted: u64,
    attacks: bool,
    next_attack_at: u64,
    attack_cursor: usize,
    actors: Vec<RenderedActor>,
    pub(crate) apps: Vec<AppState>,
}

/// Benign activities and their weights per pick. Discovery starts a burst of many events; the
/// weights are set so the event mix matches the measured sample (about half discovery GETs,
/// get ≈ 70 % of verbs, 200 ≈ 90 % of codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    Discovery,
    Probe,
    OpenApi,
    Metrics,
    NodeSecretRead,
    ControlPlaneSecret,
    OperatorSecretWrite,
    Lease,
    OperatorService,
    HumanService,
    ApiServerGet,
    EventCreate,
    EventPatch,
    NodePodGet,
    PodStatus,
    PodCreate,
    PodBinding,
    PodList,
    PodWatch,
    PodDelete,
    HumanPods,
    DeploymentStatus,
    HumanDeployment,
    GitOpsPatch,
    ReplicaSetWrite,
    OtherWorkloadStatus,
    JobCreate,
    EndpointSlice,
    Endpoints,
    NodeGet,
    NodeStatus,
    NodeWatch,
    ServiceAccountRead,
    HumanServiceAccount,
    NodeToken,
    ControllerToken,
    PersistentVolume,
    HumanConfigMap,
    NodeConfigMap,
    OperatorConfigMap,
    ApiServerRbacGet,
    HelmRbac,
    ClusterRoleList,
    FlowControl,
    Namespace,
    NamespaceCleanup,
    CrdCreate,
    CrdStatus,
    CustomResource,
    PrometheusStatus,
    GatekeeperList,
    VolumeAttachment,
    ApiService,
    Quota,
    Impersonation,
    Ingress,
    TokenReview,
    CsiDriver,
}

const BENIGN: &[(Activity, u32)] = &[
    (Activity::Discovery, 190),
    (Activity::Probe, 190),
    (Activity::OpenApi, 15),
    (Activity::Metrics, 10),
    (Activity::NodeSecretRead, 100),
    (Activity::ControlPlaneSecret, 60),
    (Activity::OperatorSecretWrite, 180),
    (Activity::Lease, 430),
    (Activity::OperatorService, 250),
    (Activity::HumanService, 80),
    (Activity::ApiServerGet, 120),
    (Activity::EventCreate, 280),
    (Activity::EventPatch, 90),
    (Activity::NodePodGet, 110),
    (Activity::PodStatus, 230),
    (Activity::PodCreate, 60),
    (Activity::PodBinding, 35),
    (Activity::PodList, 70),
    (Activity::PodWatch, 20),
    (Activity::PodDelete, 20),
    (Activity::HumanPods, 50),
    (Activity::DeploymentStatus, 170),
    (Activity::HumanDeployment, 55),
    (Activity::GitOpsPatch, 20),
    (Activity::ReplicaSetWrite, 140),
    (Activity::OtherWorkloadStatus, 35),
    (Activity::JobCreate, 15),
    (Activity::EndpointSlice, 200),
    (Activity::Endpoints, 50),
    (Activity::NodeGet, 145),
    (Activity::NodeStatus, 100),
    (Activity::NodeWatch, 15),
    (Activity::ServiceAccountRead, 135),
    (Activity::HumanServiceAccount, 70),
    (Activity::NodeToken, 35),
    (Activity::ControllerToken, 20),
    (Activity::PersistentVolume, 150),
    (Activity::HumanConfigMap, 120),
    (Activity::NodeConfigMap, 150),
    (Activity::OperatorConfigMap, 110),
    (Activity::ApiServerRbacGet, 130),
    (Activity::HelmRbac, 180),
    (Activity::ClusterRoleList, 2),
    (Activity::FlowControl, 110),
    (Activity::Namespace, 65),
    (Activity::NamespaceCleanup, 80),
    (Activity::CrdCreate, 25),
    (Activity::CrdStatus, 25),
    (Activity::CustomResource, 80),
    (Activity::PrometheusStatus, 55),
    (Activity::GatekeeperList, 110),
    (Activity::VolumeAttachment, 55),
    (Activity::ApiService, 35),
    (Activity::Quota, 40),
    (Activity::Impersonation, 5),
    (Activity::Ingress, 30),
    (Activity::TokenReview, 40),
    (Activity::CsiDriver, 10),
];

/// How a workload or ReplicaSet is written: the verb, the subresource and what the body shows.
#[derive(Debug, Clone, Copy)]
struct Write {
    verb: &'static str,
    subresource: &'static str,
    change: WorkloadChange,
}

impl Write {
    const CREATE: Write = Write::new("create", "", WorkloadChange::Create);
    const PATCH: Write = Write::new("patch", "", WorkloadChange::Patch);
    const DELETE: Write = Write::new("delete", "", WorkloadChange::Delete);
    /// A controller's `update` of `/status`.
    const STATUS: Write = Write::new("update", "status", WorkloadChange::Status);
    /// A controller's `update` of the whole object.
    const UPDATE: Write = Write::new("update", "", WorkloadChange::Status);

    const fn new(verb: &'static str, subresource: &'static str, change: WorkloadChange) -> Write {
        Write {
            verb,
            subresource,
            change,
        }
    }
}

/// The query of a `list` served from the watch cache, as client-go's reflectors send it.
const CACHED_LIST_QUERY: &str = "limit=500&resourceVersion=0";

/// kube-proxy's selector for the EndpointSlices it programs.
const KUBE_PROXY_SELECTOR: &str = "labelSelector=%21service.kubernetes.io%2Fheadless%2C%21service.kubernetes.io%2Fservice-proxy-name";

/// Operators and controllers that run in app namespaces.
const OPERATORS: &[A] = &[
    A::PrometheusOperator,
    A::KubeStateMetrics,
    A::Prometheus,
    A::Grafana,
    A::CertManager,
    A::CertManagerCainjector,
    A::ArgocdApplicationController,
    A::ArgocdServer,
    A::IngressNginx,
    A::Gatekeeper,
];

const HUMANS: &[(A, u32)] = &[
    (A::AdminHelm, 50),
    (A::AdminKubectl, 20),
    (A::Alice, 15),
    (A::Bob, 10),
    (A::Carol, 5),
];

pub(crate) fn actor_namespace(actor: A) -> &'static str {
    let username = cat::actor(actor).username;
    username
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split(':').next())
        .unwrap_or("default")
}

fn uid_of(parts: &[&str]) -> u128 {
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

fn name_suffix(rng: &mut Rng, length: usize) -> String {
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
            actors: ACTORS.iter().map(render_actor).collect(),
            apps,
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
        let activity = *self.rng.weighted(BENIGN);
        self.emit_benign(buf, activity);
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
        let mut failure_status = None;
        if let Some(target) = &call.target {
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
            if call.code >= 400 {
                failure_status = Some(failure(
                    call.code,
                    call.verb,
                    call.impersonated.unwrap_or(call.actor),
                    target,
                ));
            }
        }
        raw(buf, r#","responseStatus":{"metadata":{}"#);
        if let (Some((message, reason)), Some(target)) = (&failure_status, &call.target) {
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
        raw(buf, r#","code":"#);
        json::int(buf, call.code);
        buf.push(b'}');
        if call.target.is_some() && call.level >= Level::Request {
            let mark = buf.len();
            raw(buf, r#","requestObject":"#);
            if !bodies::write(buf, request, Form::Request) {
                buf.truncate(mark);
            }
        }
        if call.target.is_some()
            && call.level == Level::RequestResponse
            && call.stage == Stage::ResponseComplete
        {
            let mark = buf.len();
            raw(buf, r#","responseObject":"#);
            let written = match (&failure_status, &call.target) {
                (Some((message, reason)), Some(target)) => bodies::write(
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
                _ => bodies::write(buf, response, Form::Response),
            };
            if !written {
                buf.truncate(mark);
            }
        }
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

    /// An informer's request: the initial `list` from the watch cache, or the `watch` after it.
    fn informer(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        resource: &'static Resource,
        namespace: &str,
        list: bool,
    ) -> u128 {
        if list {
            self.list(buf, actor, resource, namespace, CACHED_LIST_QUERY)
        } else {
            self.watch(buf, actor, resource, namespace, "")
        }
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
    fn discovery_step(&mut self, buf: &mut Vec<u8>, actor: A, next: usize, end: usize) {
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

    /// A pod of a Deployment app: `(pod name, owner kind, owner name)`.
    fn pod_of(&mut self, index: usize) -> (String, &'static str, String) {
        let app = &APPS[index];
        let state = &self.apps[index];
        match app.kind {
            "StatefulSet" => (
                format!("{}-{}", app.name, self.rng.below(app.replicas as u64)),
                "StatefulSet",
                app.name.to_owned(),
            ),
            "DaemonSet" => (
                format!("{}-{}", app.name, name_suffix(&mut self.rng, 5)),
                "DaemonSet",
                app.name.to_owned(),
            ),
            _ => {
                let replica_set = format!("{}-{}", app.name, state.template_hash);
                (
                    format!("{replica_set}-{}", name_suffix(&mut self.rng, 5)),
                    "ReplicaSet",
                    replica_set,
                )
            }
        }
    }

    fn pod_body<'a>(
        &mut self,
        index: usize,
        name: &'a str,
        owner: Option<(&'a str, &'a str, u128)>,
        template_hash: &'a str,
    ) -> PodBody<'a> {
        let app = &APPS[index];
        let created = self.now - self.rng.range(5, 86_400 * 3) * 1_000_000;
        let meta = self.meta(
            name,
            app.namespace,
            uid_of(&["Pod", app.namespace, name]),
            created,
        );
        let spec = self.spec_of(app, true);
        let node_index = 1 + self.rng.index(3);
        PodBody {
            meta,
            spec,
            owner,
            template_hash,
            node: cat::NODE_NAMES[node_index],
            pod_ip: (node_index as i64, self.rng.range(2, 250)),
        }
    }

    /// The Service in front of app `index`, named `name` in `namespace`.
    fn service_body<'a>(
        &mut self,
        index: usize,
        name: &'a str,
        namespace: &'a str,
        created: i64,
    ) -> Body<'a> {
        let app = &APPS[index];
        let cluster_ip = self.apps[index].cluster_ip;
        let meta = self.meta(
            name,
            namespace,
            uid_of(&["Service", namespace, name]),
            created,
        );
        Body::Service {
            meta,
            app: app.name,
            port: app.port,
            cluster_ip,
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

    fn human(&mut self) -> A {
        *self.rng.weighted(HUMANS)
    }

    fn namespace(&mut self) -> &'static str {
        let namespace: &&'static str = self.rng.weighted(cat::NAMESPACE_WEIGHTS);
        namespace
    }

    fn emit_benign(&mut self, buf: &mut Vec<u8>, activity: Activity) {
        let none = Body::None;
        match activity {
            Activity::Discovery => {
                let (actor, start, end) = match self.rng.below(100) {
                    0..=54 => {
                        let actor = if self.rng.chance(3, 4) {
                            A::AdminHelm
                        } else {
                            self.human()
                        };
                        (actor, 0, cat::DISCOVERY_PATHS.len())
                    }
                    55..=84 => {
                        let actor = *self.rng.pick(OPERATORS);
                        let start = self.rng.index(8);
                        (actor, start, start + self.rng.range(6, 24) as usize)
                    }
                    _ => {
                        let actor = *self.rng.pick(&[
                            A::GarbageCollector,
                            A::ResourcequotaController,
                            A::NamespaceController,
                            A::ControllerManager,
                        ]);
                        let start = self.rng.index(20);
                        (actor, start, start + self.rng.range(4, 20) as usize)
                    }
                };
                self.discovery_step(buf, actor, start, end);
            }
            Activity::Probe => {
                let path = *self.rng.weighted(&[
                    ("/readyz", 70u32),
                    ("/livez", 20),
                    ("/healthz", 7),
                    ("/version", 3),
                ]);
                self.non_resource(buf, A::Probe, path, Reason::PublicInfo);
            }
            Activity::OpenApi => {
                let actor = self.human();
                let path = *self.rng.pick(&[
                    "/openapi/v2?timeout=32s",
                    "/openapi/v3?timeout=32s",
                    "/version?timeout=32s",
                ]);
                self.non_resource(buf, actor, path, Reason::Discovery);
            }
            Activity::Metrics => {
                self.non_resource(buf, A::Prometheus, "/metrics", Reason::Actor);
            }
            Activity::NodeSecretRead => {
                let node = *self.rng.pick(cat::NODES_ALL);
                let name = *self.rng.pick(cat::SECRET_NAMES);
                let namespace = self.namespace();
                match self.rng.below(10) {
                    0..=4 => self.get(buf, node, &cat::SECRETS, namespace, name),
                    5..=7 => {
                        let query = format!("fieldSelector=metadata.name%3D{name}");
                        self.watch(buf, node, &cat::SECRETS, namespace, &query)
                    }
                    _ => {
                        let query = format!(
                            "fieldSelector=metadata.name%3D{name}&limit=500&resourceVersion=0"
                        );
                        self.list(buf, node, &cat::SECRETS, namespace, &query)
                    }
                };
            }
            Activity::ControlPlaneSecret => {
                let name = *self.rng.pick(cat::SECRET_NAMES);
                match self.rng.below(6) {
                    0 | 1 => self.get(
                        buf,
                        A::ControllerManager,
                        &cat::SECRETS,
                        "kube-system",
                        name,
                    ),
                    2 => self.request(
                        buf,
                        Request::new(A::ControllerManager, "create", &cat::SECRETS)
                            .namespace("kube-system")
                            .code(201),
                    ),
                    3 => self.list(
                        buf,
                        A::GarbageCollector,
                        &cat::SECRETS,
                        "",
                        CACHED_LIST_QUERY,
                    ),
                    4 => self.watch(buf, A::GarbageCollector, &cat::SECRETS, "", ""),
                    _ => {
                        let namespace = self.namespace();
                        self.list(
                            buf,
                            A::NamespaceController,
                            &cat::SECRETS,
                            namespace,
                            "limit=500",
                        )
                    }
                };
            }
            Activity::OperatorSecretWrite => {
                let name = *self.rng.pick(&[
                    "prometheus-k8s-tls-assets-0",
                    "prometheus-k8s-web-config",
                    "alertmanager-main-generated",
                    "alertmanager-main-tls-assets-0",
                    "alertmanager-main-web-config",
                    "prometheus-k8s",
                ]);
                let (verb, code) = *self.rng.weighted(&[
                    (("update", 200i64), 55u32),
                    (("delete", 404), 38),
                    (("create", 201), 7),
                ]);
                let path_name = if verb == "create" { "" } else { name };
                self.request(
                    buf,
                    Request::new(A::PrometheusOperator, verb, &cat::SECRETS)
                        .namespace("monitoring")
                        .name(path_name)
                        .code(code),
                );
            }
            Activity::Lease => self.lease(buf),
            Activity::OperatorService => {
                let actor = *self.rng.pick(&[
                    A::PrometheusOperator,
                    A::PrometheusOperator,
                    A::IngressNginx,
                    A::ArgocdApplicationController,
                ]);
                let namespace = actor_namespace(actor);
                let index = self.pick_app(&["Deployment", "StatefulSet"]);
                let app = &APPS[index];
                let name = if namespace == app.namespace {
                    app.name
                } else {
                    "operated"
                };
                if self.rng.chance(1, 2) {
                    self.get(buf, actor, &cat::SERVICES, namespace, name);
                } else {
                    let created = self.apps[index].created;
                    let body = self.service_body(index, name, namespace, created);
                    self.request(
                        buf,
                        Request::new(actor, "update", &cat::SERVICES)
                            .namespace(namespace)
                            .name(name)
                            .request_body(&body),
                    );
                }
            }
            Activity::HumanService => {
                let actor = self.human();
                let index = self.pick_app(&["Deployment", "StatefulSet"]);
                let app = &APPS[index];
                if self.rng.chance(1, 2) {
                    let code = if self.rng.chance(1, 3) { 404 } else { 200 };
                    self.request(
                        buf,
                        Request::new(actor, "get", &cat::SERVICES)
                            .namespace(app.namespace)
                            .name(app.name)
                            .code(code),
                    );
                } else {
                    let body = self.service_body(index, app.name, app.namespace, self.now);
                    self.request(
                        buf,
                        Request::new(actor, "create", &cat::SERVICES)
                            .namespace(app.namespace)
                            .query("fieldManager=helm")
                            .code(201)
                            .request_body(&body),
                    );
                }
            }
            Activity::ApiServerGet => {
                let resource = *self.rng.pick(&[
                    &cat::SERVICES,
                    &cat::ENDPOINTS,
                    &cat::ENDPOINTSLICES,
                    &cat::SERVICEACCOUNTS,
                    &cat::NAMESPACES,
                ]);
                let (namespace, name) = match resource.plural {
                    "namespaces" => (
                        "",
                        *self.rng.pick(&[
                            "default",
                            "kube-system",
                            "kube-public",
                            "kube-node-lease",
                        ]),
                    ),
                    "serviceaccounts" => (
                        "kube-system",
                        *self.rng.pick(&["default", "kube-proxy", "coredns"]),
                    ),
                    _ => ("default", "kubernetes"),
                };
                self.get(buf, A::ApiServer, resource, namespace, name);
            }
            Activity::EventCreate => self.core_event(buf),
            Activity::EventPatch => {
                let actor = *self.rng.pick(&[
                    A::NodeWorker1,
                    A::NodeWorker2,
                    A::Scheduler,
                    A::DeploymentController,
                ]);
                let namespace = self.namespace();
                let name = format!(
                    "{}.{:x}",
                    name_suffix(&mut self.rng, 8),
                    self.rng.next_u64() >> 12
                );
                let body = Body::EventCountPatch {
                    count: self.rng.range(2, 40),
                    now: self.now,
                };
                self.request(
                    buf,
                    Request::new(actor, "patch", &cat::EVENTS)
                        .namespace(namespace)
                        .name(&name)
                        .request_body(&body),
                );
            }
            Activity::NodePodGet => {
                let index = self.pick_app(&["Deployment", "StatefulSet", "DaemonSet"]);
                let (pod, _, _) = self.pod_of(index);
                let node = *self.rng.pick(cat::WORKER_NODES);
                let code = if self.rng.chance(1, 25) { 404 } else { 200 };
                self.request(
                    buf,
                    Request::new(node, "get", &cat::PODS)
                        .namespace(APPS[index].namespace)
                        .name(&pod)
                        .code(code),
                );
            }
            Activity::PodStatus => {
                let index = self.pick_app(&["Deployment", "StatefulSet", "DaemonSet"]);
                let (pod, owner_kind, owner) = self.pod_of(index);
                let owner_uid = self.apps[index].replicaset_uid;
                let hash = self.apps[index].template_hash.clone();
                let body = self.pod_body(index, &pod, Some((owner_kind, &owner, owner_uid)), &hash);
                let node = match body.node {
                    "worker-1" => A::NodeWorker1,
                    "worker-2" => A::NodeWorker2,
                    _ => A::NodeWorker3,
                };
                let body = Body::PodStatusPatch(body);
                self.request(
                    buf,
                    Request::new(node, "patch", &cat::PODS)
                        .namespace(APPS[index].namespace)
                        .name(&pod)
                        .subresource("status")
                        .request_body(&body)
                        .response_body(&body),
                );
            }
            Activity::PodCreate => {
                let index = self.pick_app(&["Deployment", "StatefulSet", "DaemonSet"]);
                let (pod, owner_kind, owner) = self.pod_of(index);
                let owner_uid = self.apps[index].replicaset_uid;
                let actor = match owner_kind {
                    "StatefulSet" => A::StatefulsetController,
                    "DaemonSet" => A::DaemonSetController,
                    _ => A::ReplicasetController,
                };
                let hash = self.apps[index].template_hash.clone();
                let body = Body::Pod(self.pod_body(
                    index,
                    &pod,
                    Some((owner_kind, &owner, owner_uid)),
                    &hash,
                ));
                self.request(
                    buf,
                    Request::new(actor, "create", &cat::PODS)
                        .namespace(APPS[index].namespace)
                        .code(201)
                        .request_body(&body)
                        .response_body(&body),
                );
            }
            Activity::PodBinding => {
                let index = self.pick_app(&["Deployment"]);
                let (pod, _, _) = self.pod_of(index);
                let node = cat::NODE_NAMES[1 + self.rng.index(3)];
                let uid = uid_of(&["Pod", APPS[index].namespace, &pod]);
                let body = Body::PodBindingTarget {
                    pod: &pod,
                    namespace: APPS[index].namespace,
                    uid,
                    node,
                };
                self.request(
                    buf,
                    Request::new(A::Scheduler, "create", &cat::PODS)
                        .namespace(APPS[index].namespace)
                        .name(&pod)
                        .subresource("binding")
                        .code(201)
                        .request_body(&body),
                );
            }
            Activity::PodList => {
                let actor = *self.rng.pick(&[
                    A::KubeStateMetrics,
                    A::Prometheus,
                    A::ArgocdApplicationController,
                    A::Gatekeeper,
                ]);
                let namespace = if self.rng.chance(1, 2) {
                    ""
                } else {
                    self.namespace()
                };
                self.list(buf, actor, &cat::PODS, namespace, CACHED_LIST_QUERY);
            }
            Activity::PodWatch => {
                let actor = *self
                    .rng
                    .pick(&[A::KubeStateMetrics, A::Prometheus, A::IngressNginx]);
                self.watch(buf, actor, &cat::PODS, "", "");
            }
            Activity::PodDelete => {
                let index = self.pick_app(&["Deployment"]);
                let (pod, owner_kind, owner) = self.pod_of(index);
                let owner_uid = self.apps[index].replicaset_uid;
                let hash = self.apps[index].template_hash.clone();
                let body = Body::Pod(self.pod_body(
                    index,
                    &pod,
                    Some((owner_kind, &owner, owner_uid)),
                    &hash,
                ));
                self.request(
                    buf,
                    Request::new(A::ReplicasetController, "delete", &cat::PODS)
                        .namespace(APPS[index].namespace)
                        .name(&pod)
                        .request_body(&Body::DeleteOptions)
                        .response_body(&body),
                );
            }
            Activity::HumanPods => {
                let actor = self.human();
                let index = self.pick_app(&["Deployment", "StatefulSet"]);
                let namespace = APPS[index].namespace;
                match self.rng.below(5) {
                    0..=2 => self.list(buf, actor, &cat::PODS, namespace, "limit=500"),
                    3 => {
                        let (pod, _, _) = self.pod_of(index);
                        self.get(buf, actor, &cat::PODS, namespace, &pod)
                    }
                    _ => {
                        let (pod, _, _) = self.pod_of(index);
                        let query = format!("container={}&tailLines=100", APPS[index].name);
                        self.request(
                            buf,
                            Request::new(actor, "get", &cat::PODS)
                                .namespace(namespace)
                                .name(&pod)
                                .subresource("log")
                                .query(&query),
                        )
                    }
                };
            }
            Activity::DeploymentStatus => {
                let index = self.pick_app(&["Deployment"]);
                let code = if self.rng.chance(1, 30) { 409 } else { 200 };
                self.workload_write(buf, index, A::DeploymentController, Write::STATUS, code);
            }
            Activity::HumanDeployment => {
                let index = self.pick_app(&["Deployment", "StatefulSet", "DaemonSet"]);
                let actor = *self.rng.weighted(&[
                    (A::AdminHelm, 60u32),
                    (A::AdminKubectl, 15),
                    (A::Alice, 15),
                    (A::Bob, 10),
                ]);
                match self.rng.below(10) {
                    0..=3 => {
                        let resource = resource_of(APPS[index].kind);
                        let code = if self.rng.chance(1, 3) { 404 } else { 200 };
                        self.request(
                            buf,
                            Request::new(actor, "get", resource)
                                .namespace(APPS[index].namespace)
                                .name(APPS[index].name)
                                .code(code),
                        );
                    }
                    4..=6 => self.workload_write(buf, index, actor, Write::CREATE, 201),
                    7 | 8 => self.workload_write(buf, index, actor, Write::PATCH, 200),
                    _ => self.workload_write(buf, index, actor, Write::DELETE, 200),
                }
            }
            Activity::GitOpsPatch => {
                let index = self.pick_app(&["Deployment", "StatefulSet"]);
                self.workload_write(
                    buf,
                    index,
                    A::ArgocdApplicationController,
                    Write::PATCH,
                    200,
                );
            }
            Activity::ReplicaSetWrite => {
                let index = self.pick_app(&["Deployment"]);
                match self.rng.below(10) {
                    0..=6 => {
                        let code = if self.rng.chance(1, 25) { 409 } else { 200 };
                        self.replicaset_write(
                            buf,
                            index,
                            A::ReplicasetController,
                            Write::STATUS,
                            code,
                        )
                    }
                    7 | 8 => self.replicaset_write(
                        buf,
                        index,
                        A::DeploymentController,
                        Write::CREATE,
                        201,
                    ),
                    _ => self.replicaset_write(
                        buf,
                        index,
                        A::DeploymentController,
                        Write::UPDATE,
                        200,
                    ),
                }
            }
            Activity::OtherWorkloadStatus => {
                let index = self.pick_app(&["StatefulSet", "DaemonSet", "Job"]);
                let actor = match APPS[index].kind {
                    "StatefulSet" => A::StatefulsetController,
                    "DaemonSet" => A::DaemonSetController,
                    _ => A::JobController,
                };
                self.workload_write(buf, index, actor, Write::STATUS, 200);
            }
            Activity::JobCreate => {
                let index = self.pick_app(&["CronJob", "Job"]);
                if APPS[index].kind == "CronJob" && self.rng.chance(1, 2) {
                    self.workload_write(buf, index, A::CronjobController, Write::STATUS, 200);
                } else {
                    let job = self.pick_app(&["Job"]);
                    self.workload_write(buf, job, A::CronjobController, Write::CREATE, 201);
                }
            }
            Activity::EndpointSlice => {
                let index = self.pick_app(&["Deployment", "StatefulSet"]);
                let app = &APPS[index];
                let name = format!("{}-{}", app.name, name_suffix(&mut self.rng, 5));
                let created = self.apps[index].created;
                let meta = self.meta(
                    &name,
                    app.namespace,
                    uid_of(&["EndpointSlice", app.namespace, &name]),
                    created,
                );
                let seed = self.rng.next_u64();
                let endpoints = app.replicas.max(1) + self.rng.range(0, 2);
                let body = Body::EndpointSlice {
                    meta,
                    service: app.name,
                    port: app.port,
                    endpoints,
                    seed,
                };
                let slices =
                    Request::new(A::EndpointsliceController, "update", &cat::ENDPOINTSLICES)
                        .namespace(app.namespace)
                        .request_body(&body);
                match self.rng.below(10) {
                    0..=6 => {
                        let code = if self.rng.chance(1, 30) { 409 } else { 200 };
                        self.request(buf, slices.name(&name).code(code))
                    }
                    7 | 8 => self.request(
                        buf,
                        Request {
                            verb: "create",
                            ..slices
                        }
                        .code(201),
                    ),
                    _ => self.watch(
                        buf,
                        A::KubeProxy,
                        &cat::ENDPOINTSLICES,
                        "",
                        KUBE_PROXY_SELECTOR,
                    ),
                };
            }
            Activity::Endpoints => {
                let index = self.pick_app(&["Deployment", "StatefulSet"]);
                let app = &APPS[index];
                let created = self.apps[index].created;
                let meta = self.meta(
                    app.name,
                    app.namespace,
                    uid_of(&["Endpoints", app.namespace, app.name]),
                    created,
                );
                let seed = self.rng.next_u64();
                let body = Body::Endpoints {
                    meta,
                    port: app.port,
                    addresses: app.replicas.max(1),
                    seed,
                };
                self.request(
                    buf,
                    Request::new(A::EndpointController, "update", &cat::ENDPOINTS)
                        .namespace(app.namespace)
                        .name(app.name)
                        .request_body(&body),
                );
            }
            Activity::NodeGet => {
                let node_index = self.rng.index(4);
                let actor = if self.rng.chance(2, 3) {
                    cat::NODES_ALL[node_index]
                } else {
                    A::ControllerManager
                };
                let query = if actor == A::ControllerManager {
                    ""
                } else {
                    "resourceVersion=0&timeout=10s"
                };
                self.request(
                    buf,
                    Request::new(actor, "get", &cat::NODES)
                        .name(cat::NODE_NAMES[node_index])
                        .query(query),
                );
            }
            Activity::NodeStatus => {
                let node_index = self.rng.index(4);
                let with_images = self.rng.chance(1, 5);
                let body = Body::NodeStatusPatch {
                    node: cat::NODE_NAMES[node_index],
                    now: self.now,
                    with_images,
                };
                self.request(
                    buf,
                    Request::new(cat::NODES_ALL[node_index], "patch", &cat::NODES)
                        .name(cat::NODE_NAMES[node_index])
                        .subresource("status")
                        .query("timeout=10s")
                        .request_body(&body),
                );
            }
            Activity::NodeWatch => {
                let actor = *self.rng.pick(&[
                    A::KubeStateMetrics,
                    A::Prometheus,
                    A::IngressNginx,
                    A::KubeProxy,
                ]);
                self.watch(buf, actor, &cat::NODES, "", "");
            }
            Activity::ServiceAccountRead => {
                let index = self.rng.index(APPS.len());
                let app = &APPS[index];
                if self.rng.chance(3, 4) {
                    self.get(
                        buf,
                        A::ControllerManager,
                        &cat::SERVICEACCOUNTS,
                        app.namespace,
                        app.service_account,
                    );
                } else {
                    let meta = self.meta(
                        app.service_account,
                        app.namespace,
                        uid_of(&["ServiceAccount", app.namespace, app.service_account]),
                        self.now,
                    );
                    let body = Body::ServiceAccount {
                        meta,
                        helm_release: app.name,
                    };
                    self.request(
                        buf,
                        Request::new(A::ControllerManager, "update", &cat::SERVICEACCOUNTS)
                            .namespace(app.namespace)
                            .name(app.service_account)
                            .request_body(&body),
                    );
                }
            }
            Activity::HumanServiceAccount => {
                let index = self.rng.index(APPS.len());
                let app = &APPS[index];
                let actor = if self.rng.chance(4, 5) {
                    A::AdminHelm
                } else {
                    self.human()
                };
                match self.rng.below(10) {
                    0..=4 => {
                        let code = if self.rng.chance(1, 2) { 404 } else { 200 };
                        self.request(
                            buf,
                            Request::new(actor, "get", &cat::SERVICEACCOUNTS)
                                .namespace(app.namespace)
                                .name(app.service_account)
                                .code(code),
                        )
                    }
                    5..=8 => {
                        let meta = self.meta(app.service_account, app.namespace, 0, self.now);
                        let body = Body::ServiceAccount {
                            meta,
                            helm_release: app.name,
                        };
                        self.request(
                            buf,
                            Request::new(actor, "create", &cat::SERVICEACCOUNTS)
                                .namespace(app.namespace)
                                .query("fieldManager=helm")
                                .code(201)
                                .request_body(&body),
                        )
                    }
                    _ => self.request(
                        buf,
                        Request::new(actor, "delete", &cat::SERVICEACCOUNTS)
                            .namespace(app.namespace)
                            .name(app.service_account)
                            .request_body(&Body::DeleteOptions),
                    ),
                };
            }
            Activity::NodeToken => {
                let index = self.pick_app(&["Deployment", "StatefulSet", "DaemonSet"]);
                let (pod, _, _) = self.pod_of(index);
                let app = &APPS[index];
                let node = *self.rng.pick(cat::WORKER_NODES);
                let pod_uid = uid_of(&["Pod", app.namespace, &pod]);
                let bound_pod = Some((pod.as_str(), pod_uid));
                let (service_account, namespace) = (app.service_account, app.namespace);
                self.token_request(buf, node, service_account, namespace, 3607, bound_pod);
            }
            Activity::ControllerToken => {
                let name = *self.rng.pick(&[
                    "replicaset-controller",
                    "deployment-controller",
                    "endpointslice-controller",
                    "namespace-controller",
                    "generic-garbage-collector",
                ]);
                self.token_request(buf, A::ControllerManager, name, "kube-system", 3600, None);
            }
            Activity::PersistentVolume => {
                if self.rng.chance(7, 8) {
                    let name = format!(
                        "pvc-{}",
                        json::uuid_string(uid_of(&["pv", &self.rng.below(12).to_string()]))
                    );
                    self.get(
                        buf,
                        A::PersistentVolumeBinder,
                        &cat::PERSISTENTVOLUMES,
                        "",
                        &name,
                    );
                } else {
                    let index = self.pick_app(&["StatefulSet"]);
                    let name = format!("data-{}-0", APPS[index].name);
                    self.get(
                        buf,
                        A::PersistentVolumeBinder,
                        &cat::PERSISTENTVOLUMECLAIMS,
                        APPS[index].namespace,
                        &name,
                    );
                }
            }
            Activity::HumanConfigMap => {
                let actor = if self.rng.chance(3, 4) {
                    A::AdminHelm
                } else {
                    self.human()
                };
                let name = *self.rng.pick(cat::CONFIG_NAMES);
                let namespace = self.namespace();
                match self.rng.below(10) {
                    0..=4 => {
                        let code = if self.rng.chance(2, 5) { 404 } else { 200 };
                        self.request(
                            buf,
                            Request::new(actor, "get", &cat::CONFIGMAPS)
                                .namespace(namespace)
                                .name(name)
                                .code(code),
                        )
                    }
                    5..=8 => self.request(
                        buf,
                        Request::new(actor, "create", &cat::CONFIGMAPS)
                            .namespace(namespace)
                            .query("fieldManager=helm")
                            .code(201),
                    ),
                    _ => self.request(
                        buf,
                        Request::new(actor, "delete", &cat::CONFIGMAPS)
                            .namespace(namespace)
                            .name(name),
                    ),
                };
            }
            Activity::NodeConfigMap => {
                let node = *self.rng.pick(cat::NODES_ALL);
                let name = *self.rng.pick(&[
                    "kube-root-ca.crt",
                    "kube-proxy",
                    "coredns",
                    "grafana-dashboards",
                    "app-settings",
                ]);
                let namespace = self.namespace();
                let query = format!("fieldSelector=metadata.name%3D{name}");
                if self.rng.chance(3, 5) {
                    self.watch(buf, node, &cat::CONFIGMAPS, namespace, &query);
                } else {
                    let query = format!("{query}&limit=500&resourceVersion=0");
                    self.list(buf, node, &cat::CONFIGMAPS, namespace, &query);
                }
            }
            Activity::OperatorConfigMap => {
                let actor = *self.rng.pick(OPERATORS);
                let namespace = actor_namespace(actor);
                let list = self.rng.chance(2, 3);
                self.informer(buf, actor, &cat::CONFIGMAPS, namespace, list);
            }
            Activity::ApiServerRbacGet => {
                let cluster_role = self.rng.chance(3, 5);
                let name = *self.rng.pick(&[
                    "system:discovery",
                    "system:basic-user",
                    "system:public-info-viewer",
                    "admin",
                    "edit",
                    "view",
                    "system:aggregate-to-view",
                    "system:node-proxier",
                ]);
                let created = self.now - 86_400 * 200 * 1_000_000;
                let meta = self.meta(name, "", uid_of(&["rbac", name]), created);
                if cluster_role {
                    let body = Body::Role(RoleBody {
                        cluster: true,
                        meta,
                        rules: RoleRules::Benign(name.len()),
                        helm_release: None,
                    });
                    self.request(
                        buf,
                        Request::new(A::ApiServer, "get", &cat::CLUSTERROLES)
                            .name(name)
                            .response_body(&body),
                    );
                } else {
                    let body = Body::Binding(bodies::BindingBody {
                        cluster: true,
                        meta,
                        role_kind: "ClusterRole",
                        role_name: name,
                        subject_kind: "Group",
                        subject_name: "system:authenticated",
                        subject_namespace: "",
                        helm_release: None,
                    });
                    self.request(
                        buf,
                        Request::new(A::ApiServer, "get", &cat::CLUSTERROLEBINDINGS)
                            .name(name)
                            .response_body(&body),
                    );
                }
            }
            Activity::HelmRbac => self.helm_rbac(buf),
            Activity::ClusterRoleList => {
                let actor = if self.rng.chance(1, 2) {
                    A::ArgocdApplicationController
                } else {
                    A::AdminKubectl
                };
                let count = self.rng.range(80, 260) as usize;
                let body = Body::RoleList {
                    count,
                    resource_version: self.resource_version,
                    seed: self.rng.next_u64(),
                    now: self.now,
                };
                self.request(
                    buf,
                    Request::new(actor, "list", &cat::CLUSTERROLES)
                        .query("limit=500")
                        .response_body(&body),
                );
            }
            Activity::FlowControl => {
                let (resource, name) = if self.rng.chance(3, 5) {
                    (
                        &cat::FLOWSCHEMAS,
                        *self.rng.pick(&[
                            "exempt",
                            "probes",
                            "system-leader-election",
                            "workload-leader-election",
                            "system-nodes",
                            "kube-controller-manager",
                            "kube-scheduler",
                            "service-accounts",
                            "global-default",
                            "catch-all",
                        ]),
                    )
                } else {
                    (
                        &cat::PRIORITYLEVELS,
                        *self.rng.pick(&[
                            "exempt",
                            "system",
                            "node-high",
                            "leader-election",
                            "workload-high",
                            "workload-low",
                            "global-default",
                            "catch-all",
                        ]),
                    )
                };
                self.get(buf, A::ApiServer, resource, "", name);
            }
            Activity::Namespace => {
                let name = self.namespace();
                match self.rng.below(10) {
                    0..=5 => self.get(buf, A::ApiServer, &cat::NAMESPACES, "", name),
                    6 | 7 => {
                        let code = if self.rng.chance(1, 2) { 409 } else { 201 };
                        let meta = self.meta(name, "", 0, self.now);
                        let body = Body::Namespace { meta };
                        self.request(
                            buf,
                            Request::new(A::AdminHelm, "create", &cat::NAMESPACES)
                                .code(code)
                                .request_body(&body),
                        )
                    }
                    _ => self.get(buf, A::NamespaceController, &cat::NAMESPACES, "", name),
                };
            }
            Activity::NamespaceCleanup => {
                let resource = *self.rng.pick(&[
                    &cat::CONFIGMAPS,
                    &cat::SERVICES,
                    &cat::SERVICEACCOUNTS,
                    &cat::EVENTS,
                    &cat::LEASES,
                    &cat::ROLEBINDINGS,
                    &cat::ROLES,
                    &cat::CONTROLLERREVISIONS,
                    &cat::PERSISTENTVOLUMECLAIMS,
                    &cat::LIMITRANGES,
                ]);
                let namespace = *self.rng.pick(&[
                    "helm-smoke-test",
                    "review-pr-1432",
                    "review-pr-1437",
                    "loadtest",
                ]);
                let verb = if self.rng.chance(1, 2) {
                    "deletecollection"
                } else {
                    "list"
                };
                self.request(
                    buf,
                    Request::new(A::NamespaceController, verb, resource).namespace(namespace),
                );
            }
            Activity::CrdCreate => self.crd_write(buf, false),
            Activity::CrdStatus => self.crd_write(buf, true),
            Activity::CustomResource => {
                let actor = if self.rng.chance(4, 5) {
                    A::AdminHelm
                } else {
                    A::ArgocdApplicationController
                };
                let (resource, kind) = if self.rng.chance(1, 2) {
                    (&cat::PROMETHEUSRULES, "PrometheusRule")
                } else {
                    (&cat::SERVICEMONITORS, "ServiceMonitor")
                };
                let index = self.rng.index(APPS.len());
                let name = APPS[index].name;
                if self.rng.chance(1, 2) {
                    let code = if self.rng.chance(1, 2) { 404 } else { 200 };
                    self.request(
                        buf,
                        Request::new(actor, "get", resource)
                            .namespace("monitoring")
                            .name(name)
                            .code(code),
                    );
                } else {
                    let meta = self.meta(name, "monitoring", 0, self.now);
                    let rules = self.rng.range(1, 12) as usize;
                    let body = Body::CustomResource {
                        meta,
                        group: "monitoring.coreos.com",
                        kind,
                        rules,
                    };
                    self.request(
                        buf,
                        Request::new(actor, "create", resource)
                            .namespace("monitoring")
                            .query("fieldManager=helm")
                            .code(201)
                            .request_body(&body),
                    );
                }
            }
            Activity::PrometheusStatus => {
                let name = if self.rng.chance(2, 3) { "k8s" } else { "main" };
                let (resource, replicas) = if name == "k8s" {
                    (&cat::PROMETHEUSES, 2)
                } else {
                    (&cat::PROMETHEUSES, 3)
                };
                let created = self.apps[5].created;
                let meta = self.meta(name, "monitoring", uid_of(&["Prometheus", name]), created);
                let body = Body::PrometheusStatus { meta, replicas };
                self.request(
                    buf,
                    Request::new(A::PrometheusOperator, "update", resource)
                        .namespace("monitoring")
                        .name(name)
                        .subresource("status")
                        .request_body(&body),
                );
            }
            Activity::GatekeeperList => {
                let list = self.rng.chance(3, 4);
                let resource = if self.rng.chance(1, 3) {
                    &cat::CONSTRAINTTEMPLATES
                } else {
                    &cat::CERTIFICATES
                };
                let actor = if resource.plural == "certificates" {
                    A::CertManager
                } else {
                    A::Gatekeeper
                };
                self.informer(buf, actor, resource, "", list);
            }
            Activity::VolumeAttachment => {
                let name = format!(
                    "csi-{:032x}{:032x}",
                    self.rng.next_u128(),
                    self.rng.next_u128()
                );
                let code = if self.rng.chance(4, 5) { 404 } else { 200 };
                self.request(
                    buf,
                    Request::new(A::AttachdetachController, "delete", &cat::VOLUMEATTACHMENTS)
                        .name(&name)
                        .code(code),
                );
            }
            Activity::ApiService => {
                let name = *self.rng.pick(&[
                    "v1.apps",
                    "v1.batch",
                    "v1beta1.metrics.k8s.io",
                    "v1.monitoring.coreos.com",
                    "v1.cert-manager.io",
                    "v1alpha1.argoproj.io",
                ]);
                if self.rng.chance(1, 2) {
                    self.get(buf, A::ApiServer, &cat::APISERVICES, "", name);
                } else {
                    let code = if self.rng.chance(1, 2) { 404 } else { 200 };
                    self.request(
                        buf,
                        Request::new(A::ApiServer, "delete", &cat::APISERVICES)
                            .name(name)
                            .code(code)
                            .request_body(&Body::DeleteOptions),
                    );
                }
            }
            Activity::Quota => {
                let resource = if self.rng.chance(1, 2) {
                    &cat::RESOURCEQUOTAS
                } else {
                    &cat::LIMITRANGES
                };
                let namespace = self.namespace();
                self.list(buf, A::ApiServer, resource, namespace, "");
            }
            Activity::Impersonation => {
                let audit_id = self.audit_id();
                let mut uri = String::new();
                resource_uri(&mut uri, &cat::PODS, "shop", "", "", "limit=500");
                let latency = self.latency("list", Level::Request);
                let call = Call {
                    stage: Stage::ResponseComplete,
                    audit_id,
                    verb: "list",
                    uri: &uri,
                    actor: A::AdminKubectl,
                    impersonated: Some(A::Bob),
                    target: Some(Target {
                        resource: &cat::PODS,
                        namespace: "shop",
                        name: "",
                        subresource: "",
                    }),
                    code: 200,
                    level: Level::Request,
                    received: self.now - latency,
                    stage_time: self.now,
                    reason: Reason::Actor,
                };
                self.render(buf, &call, &none, &none);
            }
            Activity::TokenReview => {
                let actor =
                    *self
                        .rng
                        .pick(&[A::KubeStateMetrics, A::PrometheusOperator, A::IngressNginx]);
                self.request(
                    buf,
                    Request::new(actor, "create", &cat::TOKENREVIEWS).code(201),
                );
            }
            Activity::CsiDriver => {
                let list = self.rng.chance(1, 2);
                self.informer(buf, A::Scheduler, &cat::CSIDRIVERS, "", list);
            }
            Activity::Ingress => {
                let verb = *self.rng.pick(&["list", "watch", "get"]);
                let name = if verb == "get" { "storefront" } else { "" };
                self.request(
                    buf,
                    Request::new(A::IngressNginx, verb, &cat::INGRESSES)
                        .namespace("shop")
                        .name(name),
                );
            }
        }
    }

    fn lease(&mut self, buf: &mut Vec<u8>) {
        let (actor, namespace, name, duration): (A, &str, &str, i64) = match self.rng.below(20) {
            0..=5 => (
                A::ControllerManager,
                "kube-system",
                "kube-controller-manager",
                15,
            ),
            6..=11 => (A::Scheduler, "kube-system", "kube-scheduler", 15),
            12..=15 => {
                let node_index = self.rng.index(4);
                (
                    cat::NODES_ALL[node_index],
                    "kube-node-lease",
                    cat::NODE_NAMES[node_index],
                    40,
                )
            }
            _ => {
                let actor = *self.rng.pick(&[
                    A::PrometheusOperator,
                    A::CertManager,
                    A::IngressNginx,
                    A::Gatekeeper,
                    A::CertManagerCainjector,
                ]);
                let namespace = actor_namespace(actor);
                let name = match actor {
                    A::PrometheusOperator => "prometheus-operator-lock",
                    A::CertManager => "cert-manager-controller",
                    A::IngressNginx => "ingress-nginx-leader",
                    A::Gatekeeper => "gatekeeper-controller-manager-leader",
                    _ => "cert-manager-cainjector-leader-election",
                };
                (actor, namespace, name, 15)
            }
        };
        if self.rng.chance(1, 2) {
            self.request(
                buf,
                Request::new(actor, "get", &cat::LEASES)
                    .namespace(namespace)
                    .name(name)
                    .query("timeout=5s"),
            );
        } else {
            let holder = format!(
                "{}_{}",
                if namespace == "kube-node-lease" {
                    name
                } else {
                    "cp-1"
                },
                json::uuid_string(uid_of(&["holder", name]))
            );
            let created = self.now - 86_400 * 30 * 1_000_000;
            let meta = self.meta(
                name,
                namespace,
                uid_of(&["Lease", namespace, name]),
                created,
            );
            let body = Body::Lease {
                meta,
                holder: &holder,
                duration,
            };
            self.request(
                buf,
                Request::new(actor, "update", &cat::LEASES)
                    .namespace(namespace)
                    .name(name)
                    .query("timeout=5s")
                    .request_body(&body),
            );
        }
    }

    fn core_event(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment", "StatefulSet", "DaemonSet"]);
        let app = &APPS[index];
        let (pod, _, _) = self.pod_of(index);
        let (actor, component, host, kind, object, reason, message): (
            A,
            &str,
            &str,
            &str,
            String,
            &str,
            String,
        ) = match self.rng.below(10) {
            0..=4 => {
                let node_index = 1 + self.rng.index(3);
                let (reason, message) = *self.rng.pick(&[
                    (
                        "Pulled",
                        "Container image \"IMAGE\" already present on machine",
                    ),
                    ("Created", "Created container CONTAINER"),
                    ("Started", "Started container CONTAINER"),
                    ("Killing", "Stopping container CONTAINER"),
                    (
                        "Unhealthy",
                        "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    ),
                ]);
                let message = message
                    .replace("IMAGE", app.image)
                    .replace("CONTAINER", app.name);
                (
                    cat::NODES_ALL[node_index],
                    "kubelet",
                    cat::NODE_NAMES[node_index],
                    "Pod",
                    pod.clone(),
                    reason,
                    message,
                )
            }
            5..=6 => (
                A::Scheduler,
                "default-scheduler",
                "",
                "Pod",
                pod.clone(),
                "Scheduled",
                format!(
                    "Successfully assigned {}/{} to worker-{}",
                    app.namespace,
                    pod,
                    1 + self.rng.index(3)
                ),
            ),
            7 | 8 => (
                A::ReplicasetController,
                "replicaset-controller",
                "",
                "ReplicaSet",
                format!("{}-{}", app.name, self.apps[index].template_hash),
                "SuccessfulCreate",
                format!("Created pod: {pod}"),
            ),
            _ => (
                A::DeploymentController,
                "deployment-controller",
                "",
                "Deployment",
                app.name.to_owned(),
                "ScalingReplicaSet",
                format!(
                    "Scaled up replica set {}-{} to {}",
                    app.name, self.apps[index].template_hash, app.replicas
                ),
            ),
        };
        let name = format!("{object}.{:x}", self.rng.next_u64() >> 12);
        let created = self.now - self.rng.range(0, 600) * 1_000_000;
        let meta = self.meta(
            &name,
            app.namespace,
            uid_of(&[kind, app.namespace, &object]),
            created,
        );
        let count = self.rng.range(1, 4);
        let body = Body::CoreEvent {
            meta,
            kind,
            object: &object,
            reason,
            message: &message,
            component,
            host,
            count,
        };
        self.request(
            buf,
            Request::new(actor, "create", &cat::EVENTS)
                .namespace(app.namespace)
                .code(201)
                .request_body(&body),
        );
    }

    fn workload_write(
        &mut self,
        buf: &mut Vec<u8>,
        index: usize,
        actor: A,
        write: Write,
        code: i64,
    ) {
        let change = write.change;
        let app = &APPS[index];
        let resource = resource_of(app.kind);
        let (uid, created) = (self.apps[index].uid, self.apps[index].created);
        let meta = self.meta(app.name, app.namespace, uid, created);
        let spec = self.spec_of(app, change == WorkloadChange::Status);
        let generation = self.rng.range(1, 40);
        let manager = match actor {
            A::AdminHelm => "helm",
            A::ArgocdApplicationController => "argocd-controller",
            A::CronjobController
            | A::JobController
            | A::DeploymentController
            | A::StatefulsetController
            | A::DaemonSetController => "kube-controller-manager",
            _ => "kubectl-client-side-apply",
        };
        let template_hash = self.apps[index].template_hash.clone();
        let template_hash = template_hash.as_str();
        let body = Body::Workload(WorkloadBody {
            kind: app.kind,
            meta,
            spec,
            replicas: app.replicas,
            generation,
            change,
            template_hash,
            manager,
        });
        let (name, query) = match change {
            WorkloadChange::Create => (
                "",
                if actor == A::AdminHelm {
                    "fieldManager=helm"
                } else {
                    "fieldManager=kubectl-client-side-apply&fieldValidation=Strict"
                },
            ),
            WorkloadChange::Patch => (app.name, "fieldManager=kubectl-rollout"),
            _ => (app.name, ""),
        };
        let request = if change == WorkloadChange::Delete {
            Body::DeleteOptions
        } else {
            body
        };
        self.request(
            buf,
            Request::new(actor, write.verb, resource)
                .namespace(app.namespace)
                .name(name)
                .subresource(write.subresource)
                .query(query)
                .code(code)
                .request_body(&request)
                .response_body(&body),
        );
    }

    fn replicaset_write(
        &mut self,
        buf: &mut Vec<u8>,
        index: usize,
        actor: A,
        write: Write,
        code: i64,
    ) {
        let app = &APPS[index];
        let name = format!("{}-{}", app.name, self.apps[index].template_hash);
        let (uid, created) = (self.apps[index].replicaset_uid, self.apps[index].created);
        let meta = self.meta(&name, app.namespace, uid, created);
        let spec = self.spec_of(app, true);
        let generation = self.rng.range(1, 6);
        let template_hash = self.apps[index].template_hash.clone();
        let template_hash = template_hash.as_str();
        let body = Body::Workload(WorkloadBody {
            kind: "ReplicaSet",
            meta,
            spec,
            replicas: app.replicas,
            generation,
            change: write.change,
            template_hash,
            manager: "kube-controller-manager",
        });
        let path_name = if write.verb == "create" {
            ""
        } else {
            name.as_str()
        };
        self.request(
            buf,
            Request::new(actor, write.verb, &cat::REPLICASETS)
                .namespace(app.namespace)
                .name(path_name)
                .subresource(write.subresource)
                .code(code)
                .request_body(&body)
                .response_body(&body),
        );
    }

    fn helm_rbac(&mut self, buf: &mut Vec<u8>) {
        let actor = if self.rng.chance(9, 10) {
            A::AdminHelm
        } else {
            A::Alice
        };
        let name = *self.rng.pick(cat::ROLE_NAMES);
        let index = self.rng.index(APPS.len());
        let app = &APPS[index];
        let (resource, cluster, binding) = *self.rng.pick(&[
            (&cat::CLUSTERROLES, true, false),
            (&cat::CLUSTERROLEBINDINGS, true, true),
            (&cat::ROLES, false, false),
            (&cat::ROLEBINDINGS, false, true),
        ]);
        let namespace = if cluster { "" } else { app.namespace };
        let meta = self.meta(
            name,
            namespace,
            uid_of(&[resource.plural, namespace, name]),
            self.now,
        );
        let body = if binding {
            Body::Binding(bodies::BindingBody {
                cluster,
                meta,
                role_kind: if cluster { "ClusterRole" } else { "Role" },
                role_name: name,
                subject_kind: "ServiceAccount",
                subject_name: app.service_account,
                subject_namespace: app.namespace,
                helm_release: Some(app.name),
            })
        } else {
            Body::Role(RoleBody {
                cluster,
                meta,
                rules: RoleRules::Benign(index),
                helm_release: Some(app.name),
            })
        };
        match self.rng.below(10) {
            0..=3 => {
                let code = if self.rng.chance(3, 5) { 404 } else { 200 };
                self.request(
                    buf,
                    Request::new(actor, "get", resource)
                        .namespace(namespace)
                        .name(name)
                        .code(code)
                        .response_body(&body),
                )
            }
            4..=7 => self.request(
                buf,
                Request::new(actor, "create", resource)
                    .namespace(namespace)
                    .query("fieldManager=helm")
                    .code(201)
                    .request_body(&body)
                    .response_body(&body),
            ),
            _ => {
                let status = Body::Status {
                    code: 200,
                    status: "Success",
                    reason: "",
                    message: "",
                    name,
                    group: resource.group,
                    kind: resource.plural,
                };
                self.request(
                    buf,
                    Request::new(actor, "delete", resource)
                        .namespace(namespace)
                        .name(name)
                        .request_body(&Body::DeleteOptions)
                        .response_body(&status),
                )
            }
        };
    }

    fn crd_write(&mut self, buf: &mut Vec<u8>, status_update: bool) {
        let (group, kind, plural) = *self.rng.pick(&[
            ("monitoring.coreos.com", "Prometheus", "prometheuses"),
            ("monitoring.coreos.com", "Alertmanager", "alertmanagers"),
            ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
            ("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
            ("cert-manager.io", "Certificate", "certificates"),
            ("cert-manager.io", "Issuer", "issuers"),
            ("argoproj.io", "Application", "applications"),
            ("argoproj.io", "AppProject", "appprojects"),
            (
                "templates.gatekeeper.sh",
                "ConstraintTemplate",
                "constrainttemplates",
            ),
        ]);
        let name = format!("{plural}.{group}");
        // Most CRDs are a few KB to tens of KB; the big operator CRDs reach hundreds of KB.
        let properties = match self.rng.below(100) {
            0..=59 => self.rng.range(8, 60),
            60..=96 => self.rng.range(60, 280),
            _ => self.rng.range(320, 900),
        } as usize;
        let created = self.now - self.rng.range(60, 86_400 * 30) * 1_000_000;
        let meta = self.meta(&name, "", uid_of(&["crd", &name]), created);
        let body = Body::Crd(bodies::CrdBody {
            meta,
            group,
            kind,
            plural,
            properties,
            status_update,
        });
        if status_update {
            self.request(
                buf,
                Request::new(A::ApiServer, "update", &cat::CRDS)
                    .name(&name)
                    .subresource("status")
                    .request_body(&body)
                    .response_body(&body),
            );
        } else {
            let code = if self.rng.chance(1, 3) { 409 } else { 201 };
            self.request(
                buf,
                Request::new(A::AdminHelm, "create", &cat::CRDS)
                    .query("fieldManager=helm")
                    .code(code)
                    .request_body(&body)
                    .response_body(&body),
            );
        }
    }
}

pub(crate) fn resource_of(kind: &str) -> &'static Resource {
    match kind {
        "StatefulSet" => &cat::STATEFULSETS,
        "DaemonSet" => &cat::DAEMONSETS,
        "Job" => &cat::JOBS,
        "CronJob" => &cat::CRONJOBS,
        "ReplicaSet" => &cat::REPLICASETS,
        "Pod" => &cat::PODS,
        _ => &cat::DEPLOYMENTS,
    }
}
