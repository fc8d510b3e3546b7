//! Request and response bodies (`requestObject` / `responseObject`) written straight into the byte buffer.
//!
//! Every body is a pure function of its parameters, so the generator decides all randomness up front.

use crate::json::{Arg, fill, int, raw, string};
use crate::rng::Rng;
use crate::templates;

/// Whether a body is written as the client sent it or as the server returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Request,
    Response,
}

/// The risky part of an attack pod spec; benign specs use [`Risk::None`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Risk {
    None,
    Privileged,
    HostPath(&'static str),
    HostNamespaces,
}

/// Server-side identity of an object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: u128,
    pub resource_version: i64,
    pub created: i64,
    pub now: i64,
}

/// A pod template or pod spec.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec<'a> {
    pub app: &'a str,
    pub container: &'a str,
    pub image: &'a str,
    pub port: i64,
    pub service_account: &'a str,
    pub env_count: usize,
    pub risk: Risk,
    /// Controllers send defaulted specs; kubectl sends what the user wrote.
    pub defaulted: bool,
    pub restart_never: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct PodBody<'a> {
    pub meta: Meta<'a>,
    pub spec: Spec<'a>,
    /// `(kind, name, uid)` of the owning controller.
    pub owner: Option<(&'a str, &'a str, u128)>,
    pub template_hash: &'a str,
    pub node: &'a str,
    pub pod_ip: (i64, i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkloadChange {
    /// `kubectl apply` / Helm create.
    Create,
    /// A controller writing `/status` (the whole object goes both ways).
    Status,
    /// A strategic-merge patch from kubectl/Argo CD (restart or image bump).
    Patch,
    /// Delete with `propagationPolicy: Background`.
    Delete,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkloadBody<'a> {
    pub kind: &'a str,
    pub meta: Meta<'a>,
    pub spec: Spec<'a>,
    pub replicas: i64,
    pub generation: i64,
    pub change: WorkloadChange,
    pub template_hash: &'a str,
    pub manager: &'a str,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum RoleRules {
    /// One of the benign rule sets, chosen by index.
    Benign(usize),
    /// `apiGroups/resources/verbs: ["*"]`.
    Wildcard,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RoleBody<'a> {
    pub cluster: bool,
    pub meta: Meta<'a>,
    pub rules: RoleRules,
    pub helm_release: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct BindingBody<'a> {
    pub cluster: bool,
    pub meta: Meta<'a>,
    pub role_kind: &'a str,
    pub role_name: &'a str,
    pub subject_kind: &'a str,
    pub subject_name: &'a str,
    pub subject_namespace: &'a str,
    pub helm_release: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct CrdBody<'a> {
    pub meta: Meta<'a>,
    pub group: &'a str,
    pub kind: &'a str,
    pub plural: &'a str,
    /// Number of generated schema properties; drives the size (about 180 bytes each).
    pub properties: usize,
    pub status_update: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenBody<'a> {
    pub service_account: &'a str,
    pub namespace: &'a str,
    pub audience: &'a str,
    pub expiration_seconds: i64,
    pub token_seed: u64,
    pub now: i64,
    /// The pod the token is bound to, when a kubelet asks.
    pub bound_pod: Option<(&'a str, u128)>,
}

/// A body to write; the generator decides whether the level keeps it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'a> {
    None,
    Pod(PodBody<'a>),
    PodStatusPatch(PodBody<'a>),
    Workload(WorkloadBody<'a>),
    Role(RoleBody<'a>),
    RoleList {
        count: usize,
        resource_version: i64,
        seed: u64,
        now: i64,
    },
    Binding(BindingBody<'a>),
    Lease {
        meta: Meta<'a>,
        holder: &'a str,
        duration: i64,
    },
    CoreEvent {
        meta: Meta<'a>,
        kind: &'a str,
        object: &'a str,
        reason: &'a str,
        message: &'a str,
        component: &'a str,
        host: &'a str,
        count: i64,
    },
    EndpointSlice {
        meta: Meta<'a>,
        service: &'a str,
        port: i64,
        endpoints: i64,
        seed: u64,
    },
    NodeStatusPatch {
        node: &'a str,
        now: i64,
        with_images: bool,
    },
    Service {
        meta: Meta<'a>,
        app: &'a str,
        port: i64,
        cluster_ip: (i64, i64),
    },
    ServiceAccount {
        meta: Meta<'a>,
        helm_release: &'a str,
    },
    Namespace {
        meta: Meta<'a>,
    },
    NamespaceLabelPatch {
        key: &'a str,
        value: &'a str,
    },
    Crd(CrdBody<'a>),
    CustomResource {
        meta: Meta<'a>,
        group: &'a str,
        kind: &'a str,
        rules: usize,
    },
    PrometheusStatus {
        meta: Meta<'a>,
        replicas: i64,
    },
    PodBindingTarget {
        pod: &'a str,
        namespace: &'a str,
        uid: u128,
        node: &'a str,
    },
    Token(TokenBody<'a>),
    DeleteOptions,
    EventCountPatch {
        count: i64,
        now: i64,
    },
    Endpoints {
        meta: Meta<'a>,
        port: i64,
        addresses: i64,
        seed: u64,
    },
    /// A `Status` returned for a failed request or a finished delete.
    Status {
        code: i64,
        status: &'a str,
        reason: &'a str,
        message: &'a str,
        name: &'a str,
        group: &'a str,
        kind: &'a str,
    },
}

/// Writes `body` in `form`; returns false (writing nothing) when the body has no such form.
pub(crate) fn write(buf: &mut Vec<u8>, body: &Body<'_>, form: Form) -> bool {
    match (body, form) {
        (Body::None, _) => return false,
        (Body::Pod(pod), _) => write_pod(buf, pod, form, false),
        (Body::PodStatusPatch(pod), Form::Request) => pod_status_patch(buf, pod),
        (Body::PodStatusPatch(pod), Form::Response) => write_pod(buf, pod, Form::Response, true),
        (Body::Workload(workload), _) => write_workload(buf, workload, form),
        (Body::Role(role), _) => write_role(buf, role, form),
        (
            Body::RoleList {
                count,
                resource_version,
                seed,
                now,
            },
            Form::Response,
        ) => write_role_list(buf, *count, *resource_version, *seed, *now),
        (Body::Binding(binding), _) => write_binding(buf, binding, form),
        (
            Body::Lease {
                meta,
                holder,
                duration,
            },
            Form::Request,
        ) => write_lease(buf, meta, holder, *duration),
        (
            Body::CoreEvent {
                meta,
                kind,
                object,
                reason,
                message,
                component,
                host,
                count,
            },
            Form::Request,
        ) => write_core_event(
            buf, meta, kind, object, reason, message, component, host, *count,
        ),
        (
            Body::EndpointSlice {
                meta,
                service,
                port,
                endpoints,
                seed,
            },
            Form::Request,
        ) => write_endpoint_slice(buf, meta, service, *port, *endpoints, *seed),
        (
            Body::NodeStatusPatch {
                node,
                now,
                with_images,
            },
            Form::Request,
        ) => write_node_status_patch(buf, node, *now, *with_images),
        (
            Body::Service {
                meta,
                app,
                port,
                cluster_ip,
            },
            Form::Request,
        ) => write_service(buf, meta, app, *port, *cluster_ip),
        (Body::ServiceAccount { meta, helm_release }, Form::Request) => templates::SERVICE_ACCOUNT
            .fill(
                buf,
                &[
                    Arg::Raw(meta.name),
                    Arg::Raw(meta.namespace),
                    Arg::Raw(helm_release),
                    Arg::Raw(meta.name),
                    Arg::Raw(helm_release),
                    Arg::Raw(meta.namespace),
                ],
            ),
        (Body::Namespace { meta }, Form::Request) => templates::NAMESPACE.fill(
            buf,
            &[
                Arg::Raw(meta.name),
                Arg::Raw(meta.name),
                Arg::Raw(meta.name),
            ],
        ),
        (Body::NamespaceLabelPatch { key, value }, Form::Request) => fill(
            buf,
            r#"{"metadata":{"labels":{"~":"~"}}}"#,
            &[Arg::Raw(key), Arg::Raw(value)],
        ),
        (Body::Crd(crd), _) => write_crd(buf, crd, form),
        (
            Body::CustomResource {
                meta,
                group,
                kind,
                rules,
            },
            Form::Request,
        ) => write_custom_resource(buf, meta, group, kind, *rules),
        (Body::PrometheusStatus { meta, replicas }, Form::Request) => templates::PROMETHEUS_STATUS
            .fill(
                buf,
                &[
                    Arg::Raw(meta.name),
                    Arg::Raw(meta.namespace),
                    Arg::Uuid(meta.uid),
                    Arg::Int(meta.resource_version),
                    Arg::Secs(meta.created),
                    Arg::Int(*replicas),
                    Arg::Int(*replicas),
                    Arg::Int(*replicas),
                    Arg::Int(*replicas),
                    Arg::Secs(meta.created),
                    Arg::Secs(meta.now),
                    Arg::Int(*replicas),
                    Arg::Int(*replicas),
                    Arg::Int(*replicas),
                ],
            ),
        (
            Body::PodBindingTarget {
                pod,
                namespace,
                uid,
                node,
            },
            Form::Request,
        ) => templates::POD_BINDING.fill(
            buf,
            &[
                Arg::Raw(pod),
                Arg::Raw(namespace),
                Arg::Uuid(*uid),
                Arg::Raw(node),
            ],
        ),
        (Body::Token(token), _) => write_token(buf, token, form),
        (Body::DeleteOptions, Form::Request) => templates::DELETE_OPTIONS.fill(buf, &[]),
        (Body::EventCountPatch { count, now }, Form::Request) => fill(
            buf,
            r#"{"count":~,"lastTimestamp":"~"}"#,
            &[Arg::Int(*count), Arg::Secs(*now)],
        ),
        (
            Body::Endpoints {
                meta,
                port,
                addresses,
                seed,
            },
            Form::Request,
        ) => write_endpoints(buf, meta, *port, *addresses, *seed),
        (
            Body::Status {
                code,
                status,
                reason,
                message,
                name,
                group,
                kind,
            },
            Form::Response,
        ) => write_status(buf, *code, status, reason, message, name, group, kind),
        _ => return false,
    }
    true
}

fn write_endpoints(buf: &mut Vec<u8>, meta: &Meta<'_>, port: i64, addresses: i64, seed: u64) {
    let write_addresses = |buf: &mut Vec<u8>, _| {
        let mut rng = Rng::new(seed);
        for index in 0..addresses {
            if index > 0 {
                buf.push(b',');
            }
            let node = rng.range(1, 3);
            templates::ENDPOINTS_ADDRESS.fill(
                buf,
                &[
                    Arg::Int(node),
                    Arg::Int(rng.range(2, 250)),
                    Arg::Int(node),
                    Arg::Raw(meta.namespace),
                    Arg::Raw(meta.name),
                    Arg::Int(rng.range(10_000, 99_999)),
                    Arg::Uuid(rng.next_u128()),
                ],
            );
        }
    };
    templates::ENDPOINTS.fill_with(
        buf,
        &[
            Arg::Raw(meta.name),
            Arg::Raw(meta.namespace),
            Arg::Uuid(meta.uid),
            Arg::Int(meta.resource_version),
            Arg::Secs(meta.created),
            Arg::Raw(meta.name),
            Arg::Secs(meta.now),
            Arg::Nested,
            Arg::Int(port),
        ],
        write_addresses,
    );
}

#[allow(clippy::too_many_arguments)]
fn write_status(
    buf: &mut Vec<u8>,
    code: i64,
    status: &str,
    reason: &str,
    message: &str,
    name: &str,
    group: &str,
    kind: &str,
) {
    raw(
        buf,
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"#,
    );
    string(buf, status);
    if !message.is_empty() {
        raw(buf, r#","message":"#);
        string(buf, message);
    }
    if !reason.is_empty() {
        raw(buf, r#","reason":"#);
        string(buf, reason);
    }
    raw(buf, r#","details":{"name":"#);
    string(buf, name);
    if !group.is_empty() {
        raw(buf, r#","group":"#);
        string(buf, group);
    }
    raw(buf, r#","kind":"#);
    string(buf, kind);
    raw(buf, r#"},"code":"#);
    int(buf, code);
    buf.push(b'}');
}

const ENV_NAMES: &[(&str, &str)] = &[
    ("LOG_LEVEL", "info"),
    ("LOG_FORMAT", "json"),
    ("GOMAXPROCS", "2"),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://otel-collector.monitoring.svc:4317",
    ),
    ("OTEL_SERVICE_NAME", "~"),
    ("HTTP_PORT", "8080"),
    ("METRICS_ADDR", ":9090"),
    ("FEATURE_FLAGS", "new-checkout,fast-cart"),
    ("CACHE_TTL_SECONDS", "300"),
    ("REDIS_ADDR", "redis-master.redis.svc.cluster.local:6379"),
    ("DB_HOST", "postgres.payments.svc.cluster.local"),
    ("TZ", "UTC"),
];

fn write_spec(buf: &mut Vec<u8>, spec: &Spec<'_>, token_volume: Option<&str>) {
    buf.push(b'{');
    let host_path = match spec.risk {
        Risk::HostPath(path) => Some(path),
        _ => None,
    };
    // An app with a few settings also gets a scratch volume.
    let scratch = host_path.is_none() && !spec.restart_never && spec.env_count > 2;
    if token_volume.is_some() || host_path.is_some() || scratch {
        raw(buf, r#""volumes":["#);
        if let Some(suffix) = token_volume {
            templates::TOKEN_VOLUME.fill(buf, &[Arg::Raw(suffix)]);
            if host_path.is_some() || scratch {
                buf.push(b',');
            }
        }
        if let Some(path) = host_path {
            fill(
                buf,
                r#"{"name":"host","hostPath":{"path":"~","type":""}}"#,
                &[Arg::Raw(path)],
            );
        } else if scratch {
            raw(buf, r#"{"name":"tmp","emptyDir":{}}"#);
        }
        raw(buf, "],");
    }
    fill(
        buf,
        r#""containers":[{"name":"~","image":"~","#,
        &[Arg::Raw(spec.container), Arg::Raw(spec.image)],
    );
    if spec.restart_never {
        raw(buf, r#""command":["/bin/sh","-c"],"args":["sleep 3600"],"#);
    } else {
        fill(
            buf,
            r#""ports":[{"name":"http","containerPort":~,"protocol":"TCP"}],"#,
            &[Arg::Int(spec.port)],
        );
    }
    if spec.env_count > 0 {
        raw(buf, r#""env":["#);
        for index in 0..spec.env_count {
            if index > 0 {
                buf.push(b',');
            }
            let (name, value) = ENV_NAMES[index % ENV_NAMES.len()];
            raw(buf, r#"{"name":""#);
            raw(buf, name);
            if index >= ENV_NAMES.len() {
                buf.push(b'_');
                int(buf, (index / ENV_NAMES.len()) as i64);
            }
            raw(buf, r#"","value":""#);
            if value == "~" {
                raw(buf, spec.app);
            } else {
                raw(buf, value);
            }
            raw(buf, r#""}"#);
        }
        raw(buf, r#"],"#);
    }
    raw(
        buf,
        r#""resources":{"limits":{"cpu":"500m","memory":"512Mi"},"requests":{"cpu":"100m","memory":"128Mi"}}"#,
    );
    if token_volume.is_some() || host_path.is_some() || scratch {
        raw(buf, r#","volumeMounts":["#);
        if let Some(suffix) = token_volume {
            fill(
                buf,
                r#"{"name":"kube-api-access-~","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}"#,
                &[Arg::Raw(suffix)],
            );
            if host_path.is_some() || scratch {
                buf.push(b',');
            }
        }
        if host_path.is_some() {
            raw(buf, r#"{"name":"host","mountPath":"/host"}"#);
        } else if scratch {
            raw(buf, r#"{"name":"tmp","mountPath":"/tmp"}"#);
        }
        buf.push(b']');
    }
    if !spec.restart_never {
        fill(
            buf,
            r#","livenessProbe":{"httpGet":{"path":"/healthz","port":~,"scheme":"HTTP"},"initialDelaySeconds":10,"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3},"readinessProbe":{"httpGet":{"path":"/readyz","port":~,"scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":5,"successThreshold":1,"failureThreshold":3}"#,
            &[Arg::Int(spec.port), Arg::Int(spec.port)],
        );
    }
    if spec.defaulted {
        raw(
            buf,
            r#","terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent""#,
        );
    }
    match spec.risk {
        Risk::Privileged => raw(
            buf,
            r#","securityContext":{"privileged":true,"runAsUser":0}"#,
        ),
        Risk::HostPath(_) | Risk::HostNamespaces => {
            raw(buf, r#","securityContext":{"runAsUser":0}"#)
        }
        Risk::None => raw(
            buf,
            r#","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"readOnlyRootFilesystem":true,"runAsNonRoot":true}"#,
        ),
    }
    raw(buf, "}]");
    if spec.restart_never {
        raw(buf, r#","restartPolicy":"Never""#);
    } else if spec.defaulted {
        raw(buf, r#","restartPolicy":"Always""#);
    }
    if spec.defaulted {
        raw(
            buf,
            r#","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst""#,
        );
    }
    if spec.risk == Risk::HostNamespaces {
        raw(buf, r#","hostNetwork":true,"hostPID":true"#);
    }
    fill(
        buf,
        r#","serviceAccountName":"~""#,
        &[Arg::Raw(spec.service_account)],
    );
    if spec.defaulted {
        fill(
            buf,
            r#","serviceAccount":"~""#,
            &[Arg::Raw(spec.service_account)],
        );
    }
    if spec.risk == Risk::None {
        raw(
            buf,
            r#","securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}"#,
        );
    } else if spec.defaulted {
        raw(buf, r#","securityContext":{}"#);
    }
    if spec.defaulted {
        raw(buf, r#","schedulerName":"default-scheduler""#);
    }
    buf.push(b'}');
}

fn write_pod(buf: &mut Vec<u8>, pod: &PodBody<'_>, form: Form, running: bool) {
    let meta = &pod.meta;
    let token_suffix = &pod.meta.name[pod.meta.name.len().saturating_sub(5)..];
    raw(buf, r#"{"kind":"Pod","apiVersion":"v1","metadata":{"#);
    match pod.owner {
        Some((_, owner, _)) => fill(
            buf,
            r#""name":"~","generateName":"~-","namespace":"~","#,
            &[
                Arg::Raw(meta.name),
                Arg::Raw(owner),
                Arg::Raw(meta.namespace),
            ],
        ),
        None => fill(
            buf,
            r#""name":"~","namespace":"~","#,
            &[Arg::Raw(meta.name), Arg::Raw(meta.namespace)],
        ),
    }
    write_server_fields(buf, meta, form);
    buf.push(b',');
    match pod.owner {
        Some((kind, owner, owner_uid)) => {
            fill(
                buf,
                r#""labels":{"app.kubernetes.io/name":"~","app.kubernetes.io/instance":"~","pod-template-hash":"~"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"~","name":"~","uid":"~","controller":true,"blockOwnerDeletion":true}]"#,
                &[
                    Arg::Raw(pod.spec.app),
                    Arg::Raw(pod.spec.app),
                    Arg::Raw(pod.template_hash),
                    Arg::Raw(kind),
                    Arg::Raw(owner),
                    Arg::Uuid(owner_uid),
                ],
            );
            if form == Form::Response {
                raw(buf, r#","managedFields":["#);
                templates::POD_CONTROLLER_FIELDS.fill(
                    buf,
                    &[
                        Arg::Secs(meta.created),
                        Arg::Uuid(owner_uid),
                        Arg::Raw(pod.spec.container),
                    ],
                );
                if running {
                    buf.push(b',');
                    templates::POD_KUBELET_FIELDS.fill(
                        buf,
                        &[
                            Arg::Secs(meta.now),
                            Arg::Int(pod.pod_ip.0),
                            Arg::Int(pod.pod_ip.1),
                        ],
                    );
                }
                buf.push(b']');
            }
        }
        None => {
            fill(buf, r#""labels":{"run":"~"}"#, &[Arg::Raw(meta.name)]);
            if form == Form::Response {
                raw(buf, r#","managedFields":["#);
                templates::POD_RUN_FIELDS.fill(
                    buf,
                    &[Arg::Secs(meta.created), Arg::Raw(pod.spec.container)],
                );
                buf.push(b']');
            }
        }
    }
    raw(buf, r#"},"spec":"#);
    let with_token = form == Form::Response || pod.owner.is_some();
    let spec = Spec {
        defaulted: pod.spec.defaulted || form == Form::Response,
        ..pod.spec
    };
    // The admission chain adds the projected token volume; a kubectl request body does not carry it.
    let before = buf.len();
    write_spec(buf, &spec, with_token.then_some(token_suffix));
    if form == Form::Response || running {
        // Splice scheduling fields in before the spec's closing brace.
        buf.truncate(buf.len() - 1);
        if running {
            fill(buf, r#","nodeName":"~""#, &[Arg::Raw(pod.node)]);
        }
        raw(buf, r#","tolerations":"#);
        templates::POD_TOLERATIONS.fill(buf, &[]);
        raw(
            buf,
            r#","priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"}"#,
        );
    }
    debug_assert!(buf.len() > before);
    if form == Form::Response {
        if running {
            raw(buf, r#","status":"#);
            let conditions = |buf: &mut Vec<u8>, _| {
                for (index, condition) in
                    ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
                        .iter()
                        .enumerate()
                {
                    if index > 0 {
                        buf.push(b',');
                    }
                    fill(
                        buf,
                        r#"{"type":"~","status":"True","lastProbeTime":null,"lastTransitionTime":"~"}"#,
                        &[Arg::Raw(condition), Arg::Secs(meta.created + 2_000_000)],
                    );
                }
            };
            templates::POD_RUNNING_STATUS.fill_with(
                buf,
                &[
                    Arg::Nested,
                    Arg::Raw(node_ip(pod.node)),
                    Arg::Raw(node_ip(pod.node)),
                    Arg::Int(pod.pod_ip.0),
                    Arg::Int(pod.pod_ip.1),
                    Arg::Int(pod.pod_ip.0),
                    Arg::Int(pod.pod_ip.1),
                    Arg::Secs(meta.created + 1_000_000),
                    Arg::Raw(pod.spec.container),
                    Arg::Secs(meta.created + 3_000_000),
                    Arg::Raw(pod.spec.image),
                    Arg::Raw(image_repository(pod.spec.image)),
                    Arg::Raw(&hex64(meta.uid as u64 ^ 0x5eed)),
                    Arg::Raw(&hex64(meta.uid as u64)),
                ],
                conditions,
            );
            buf.push(b'}');
        } else {
            raw(
                buf,
                r#","status":{"phase":"Pending","qosClass":"Burstable"}}"#,
            );
        }
    } else {
        buf.push(b'}');
    }
}

fn node_ip(node: &str) -> &'static str {
    match node {
        "cp-1" => "10.0.0.10",
        "worker-1" => "10.0.0.21",
        "worker-2" => "10.0.0.22",
        _ => "10.0.0.23",
    }
}

fn image_repository(image: &str) -> &str {
    match image.rfind(':') {
        Some(colon) if !image[colon..].contains('/') => &image[..colon],
        _ => image,
    }
}

/// 64 hex characters derived from a seed, for digests and container ids.
fn hex64(seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut text = String::with_capacity(64);
    for _ in 0..4 {
        let word = rng.next_u64();
        for shift in (0..16).rev() {
            text.push(char::from(
                b"0123456789abcdef"[((word >> (shift * 4)) & 15) as usize],
            ));
        }
    }
    text
}

fn pod_status_patch(buf: &mut Vec<u8>, pod: &PodBody<'_>) {
    templates::POD_STATUS_PATCH.fill(
        buf,
        &[
            Arg::Uuid(pod.meta.uid),
            Arg::Secs(pod.meta.now),
            Arg::Secs(pod.meta.now),
            Arg::Raw(&hex64(pod.meta.uid as u64)),
            Arg::Raw(pod.spec.image),
            Arg::Raw(image_repository(pod.spec.image)),
            Arg::Raw(&hex64(pod.meta.uid as u64 ^ 0x5eed)),
            Arg::Raw(pod.spec.container),
            Arg::Secs(pod.meta.created + 3_000_000),
            Arg::Int(pod.pod_ip.0),
            Arg::Int(pod.pod_ip.1),
            Arg::Int(pod.pod_ip.0),
            Arg::Int(pod.pod_ip.1),
        ],
    );
}

fn write_workload(buf: &mut Vec<u8>, workload: &WorkloadBody<'_>, form: Form) {
    let meta = &workload.meta;
    match (workload.change, form) {
        (WorkloadChange::Delete, Form::Request) => {
            templates::DELETE_OPTIONS.fill(buf, &[]);
            return;
        }
        (WorkloadChange::Delete, Form::Response) => {
            let plural = plural_of(workload.kind);
            fill(
                buf,
                r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"~","group":"~","kind":"~","uid":"~"}}"#,
                &[
                    Arg::Raw(meta.name),
                    Arg::Raw(group_of(workload.kind)),
                    Arg::Raw(plural),
                    Arg::Uuid(meta.uid),
                ],
            );
            return;
        }
        (WorkloadChange::Patch, Form::Request) => {
            fill(
                buf,
                r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"~"}}}}}"#,
                &[Arg::Secs(meta.now)],
            );
            return;
        }
        _ => {}
    }
    let api_version = if group_of(workload.kind) == "batch" {
        "batch/v1"
    } else {
        "apps/v1"
    };
    fill(
        buf,
        r#"{"kind":"~","apiVersion":"~","metadata":{"name":"~","namespace":"~","#,
        &[
            Arg::Raw(workload.kind),
            Arg::Raw(api_version),
            Arg::Raw(meta.name),
            Arg::Raw(meta.namespace),
        ],
    );
    let server_side = form == Form::Response || workload.change == WorkloadChange::Status;
    if server_side {
        fill(
            buf,
            r#""uid":"~","resourceVersion":"~","generation":~,"creationTimestamp":"~","#,
            &[
                Arg::Uuid(meta.uid),
                Arg::Int(meta.resource_version),
                Arg::Int(workload.generation),
                Arg::Secs(meta.created),
            ],
        );
    } else {
        raw(buf, r#""creationTimestamp":null,"#);
    }
    fill(
        buf,
        r#""labels":{"app.kubernetes.io/name":"~","app.kubernetes.io/instance":"~","app.kubernetes.io/version":"~","app.kubernetes.io/managed-by":"Helm"},"annotations":{"meta.helm.sh/release-name":"~","meta.helm.sh/release-namespace":"~""#,
        &[
            Arg::Raw(workload.spec.app),
            Arg::Raw(workload.spec.app),
            Arg::Raw(image_tag(workload.spec.image)),
            Arg::Raw(workload.spec.app),
            Arg::Raw(meta.namespace),
        ],
    );
    if workload.kind == "Deployment" && server_side {
        fill(
            buf,
            r#","deployment.kubernetes.io/revision":"~""#,
            &[Arg::Int(workload.generation)],
        );
    }
    buf.push(b'}');
    if server_side {
        raw(buf, r#","managedFields":"#);
        templates::WORKLOAD_MANAGED_FIELDS.fill(
            buf,
            &[
                Arg::Raw(workload.manager),
                Arg::Raw(api_version),
                Arg::Secs(meta.created),
                Arg::Raw(workload.spec.container),
                Arg::Raw(api_version),
                Arg::Secs(meta.now),
            ],
        );
    }
    raw(buf, r#"},"spec":{"#);
    let spec = Spec {
        defaulted: workload.spec.defaulted || server_side,
        ..workload.spec
    };
    match workload.kind {
        "CronJob" => {
            raw(
                buf,
                r#""schedule":"30 2 * * *","concurrencyPolicy":"Forbid","jobTemplate":{"spec":{"backoffLimit":2,"template":{"metadata":{"creationTimestamp":null,"labels":{"app.kubernetes.io/name":""#,
            );
            raw(buf, spec.app);
            raw(buf, r#""}},"spec":"#);
            write_spec(
                buf,
                &Spec {
                    restart_never: true,
                    ..spec
                },
                None,
            );
            raw(buf, "}}}");
        }
        "Job" => {
            raw(
                buf,
                r#""backoffLimit":4,"completions":1,"parallelism":1,"template":{"metadata":{"creationTimestamp":null,"labels":{"app.kubernetes.io/name":""#,
            );
            raw(buf, spec.app);
            raw(buf, r#""}},"spec":"#);
            write_spec(
                buf,
                &Spec {
                    restart_never: true,
                    ..spec
                },
                None,
            );
            buf.push(b'}');
        }
        _ => {
            if workload.kind != "DaemonSet" {
                fill(buf, r#""replicas":~,"#, &[Arg::Int(workload.replicas)]);
            }
            if workload.kind == "StatefulSet" {
                fill(
                    buf,
                    r#""serviceName":"~","podManagementPolicy":"OrderedReady","#,
                    &[Arg::Raw(spec.app)],
                );
            }
            let hash_label = |buf: &mut Vec<u8>| {
                if workload.kind == "ReplicaSet" {
                    fill(
                        buf,
                        r#","pod-template-hash":"~""#,
                        &[Arg::Raw(workload.template_hash)],
                    );
                }
            };
            fill(
                buf,
                r#""selector":{"matchLabels":{"app.kubernetes.io/instance":"~","app.kubernetes.io/name":"~""#,
                &[Arg::Raw(spec.app), Arg::Raw(spec.app)],
            );
            hash_label(buf);
            fill(
                buf,
                r#"}},"template":{"metadata":{"creationTimestamp":null,"labels":{"app.kubernetes.io/instance":"~","app.kubernetes.io/name":"~""#,
                &[Arg::Raw(spec.app), Arg::Raw(spec.app)],
            );
            hash_label(buf);
            raw(buf, r#"}},"spec":"#);
            write_spec(buf, &spec, None);
            buf.push(b'}');
            if spec.defaulted {
                match workload.kind {
                    "Deployment" => raw(
                        buf,
                        r#","strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}},"revisionHistoryLimit":10,"progressDeadlineSeconds":600"#,
                    ),
                    "StatefulSet" | "DaemonSet" => raw(
                        buf,
                        r#","updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":0}},"revisionHistoryLimit":10"#,
                    ),
                    _ => {}
                }
            }
        }
    }
    buf.push(b'}');
    if server_side {
        write_workload_status(buf, workload);
    }
    buf.push(b'}');
}

fn write_workload_status(buf: &mut Vec<u8>, workload: &WorkloadBody<'_>) {
    let meta = &workload.meta;
    match workload.kind {
        "CronJob" => fill(
            buf,
            r#","status":{"lastScheduleTime":"~","lastSuccessfulTime":"~"}"#,
            &[
                Arg::Secs(meta.now - 3_600_000_000),
                Arg::Secs(meta.now - 3_590_000_000),
            ],
        ),
        "Job" => fill(
            buf,
            r#","status":{"startTime":"~","active":1,"ready":0,"uncountedTerminatedPods":{}}"#,
            &[Arg::Secs(meta.now)],
        ),
        "DaemonSet" => fill(
            buf,
            r#","status":{"currentNumberScheduled":3,"numberMisscheduled":0,"desiredNumberScheduled":3,"numberReady":3,"observedGeneration":~,"updatedNumberScheduled":3,"numberAvailable":3}"#,
            &[Arg::Int(workload.generation)],
        ),
        _ => {
            fill(
                buf,
                r#","status":{"observedGeneration":~,"replicas":~,"updatedReplicas":~,"readyReplicas":~,"availableReplicas":~"#,
                &[
                    Arg::Int(workload.generation),
                    Arg::Int(workload.replicas),
                    Arg::Int(workload.replicas),
                    Arg::Int(workload.replicas),
                    Arg::Int(workload.replicas),
                ],
            );
            if workload.kind == "Deployment" {
                raw(buf, r#","conditions":"#);
                templates::DEPLOYMENT_CONDITIONS.fill(
                    buf,
                    &[
                        Arg::Secs(meta.now),
                        Arg::Secs(meta.now),
                        Arg::Secs(meta.now),
                        Arg::Secs(meta.created),
                        Arg::Raw(meta.name),
                        Arg::Raw(workload.template_hash),
                    ],
                );
            }
            buf.push(b'}');
        }
    }
}

fn image_tag(image: &str) -> &str {
    match image.rfind(':') {
        Some(colon) if !image[colon..].contains('/') => &image[colon + 1..],
        _ => "latest",
    }
}

fn plural_of(kind: &str) -> &'static str {
    match kind {
        "Deployment" => "deployments",
        "ReplicaSet" => "replicasets",
        "StatefulSet" => "statefulsets",
        "DaemonSet" => "daemonsets",
        "Job" => "jobs",
        "CronJob" => "cronjobs",
        _ => "pods",
    }
}

fn group_of(kind: &str) -> &'static str {
    match kind {
        "Job" | "CronJob" => "batch",
        "Pod" => "",
        _ => "apps",
    }
}

/// Benign rule sets: `(apiGroups, resources, verbs)` per rule, all specific.
const RULE_SETS: &[&[(&str, &str, &str)]] = &[
    &[
        (
            r#""""#,
            r#""pods","services","endpoints""#,
            r#""get","list","watch""#,
        ),
        (
            r#""apps""#,
            r#""deployments","replicasets""#,
            r#""get","list","watch""#,
        ),
    ],
    &[
        (
            r#""monitoring.coreos.com""#,
            r#""alertmanagers","prometheuses","prometheusrules","servicemonitors","podmonitors""#,
            r#""get","list","watch","create","update","patch","delete""#,
        ),
        (
            r#""apps""#,
            r#""statefulsets""#,
            r#""get","list","watch","create","update","delete""#,
        ),
        (
            r#""""#,
            r#""configmaps""#,
            r#""get","list","watch","create","update","delete""#,
        ),
        (
            r#""""#,
            r#""services","services/finalizers","endpoints""#,
            r#""get","create","update","delete""#,
        ),
        (r#""""#, r#""nodes""#, r#""list","watch""#),
        (r#""""#, r#""namespaces""#, r#""get","list","watch""#),
    ],
    &[
        (
            r#""cert-manager.io""#,
            r#""certificates","certificaterequests","issuers","clusterissuers""#,
            r#""get","list","watch","update""#,
        ),
        (r#""""#, r#""events""#, r#""create","patch""#),
    ],
    &[
        (r#""""#, r#""configmaps""#, r#""get","list","watch""#),
        (
            r#""coordination.k8s.io""#,
            r#""leases""#,
            r#""get","create","update""#,
        ),
        (r#""""#, r#""events""#, r#""create","patch""#),
    ],
    &[
        (
            r#""networking.k8s.io""#,
            r#""ingresses","ingressclasses""#,
            r#""get","list","watch""#,
        ),
        (
            r#""networking.k8s.io""#,
            r#""ingresses/status""#,
            r#""update""#,
        ),
        (
            r#""discovery.k8s.io""#,
            r#""endpointslices""#,
            r#""list","watch","get""#,
        ),
    ],
];

fn write_rules(buf: &mut Vec<u8>, rules: RoleRules) {
    raw(buf, r#","rules":["#);
    match rules {
        RoleRules::Wildcard => raw(
            buf,
            r#"{"verbs":["*"],"apiGroups":["*"],"resources":["*"]}"#,
        ),
        RoleRules::Benign(index) => {
            for (position, (groups, resources, verbs)) in
                RULE_SETS[index % RULE_SETS.len()].iter().enumerate()
            {
                if position > 0 {
                    buf.push(b',');
                }
                fill(
                    buf,
                    r#"{"verbs":[~],"apiGroups":[~],"resources":[~]}"#,
                    &[Arg::Raw(verbs), Arg::Raw(groups), Arg::Raw(resources)],
                );
            }
        }
    }
    buf.push(b']');
}

fn helm_metadata(buf: &mut Vec<u8>, release: Option<&str>, namespace: &str) {
    if let Some(release) = release {
        fill(
            buf,
            r#","labels":{"app.kubernetes.io/instance":"~","app.kubernetes.io/managed-by":"Helm"},"annotations":{"meta.helm.sh/release-name":"~","meta.helm.sh/release-namespace":"~"}"#,
            &[
                Arg::Raw(release),
                Arg::Raw(release),
                Arg::Raw(if namespace.is_empty() {
                    "default"
                } else {
                    namespace
                }),
            ],
        );
    }
}

fn object_head(
    buf: &mut Vec<u8>,
    kind: &str,
    api_version: &str,
    meta: &Meta<'_>,
    namespaced: bool,
    form: Form,
) {
    fill(
        buf,
        r#"{"kind":"~","apiVersion":"~","metadata":"#,
        &[Arg::Raw(kind), Arg::Raw(api_version)],
    );
    metadata_head(buf, meta, namespaced, form);
}

/// The start of `metadata`: `{"name"`, `namespace` when `namespaced`, and the server's fields,
/// left open for more fields.
fn metadata_head(buf: &mut Vec<u8>, meta: &Meta<'_>, namespaced: bool, form: Form) {
    fill(buf, r#"{"name":"~""#, &[Arg::Raw(meta.name)]);
    if namespaced {
        fill(buf, r#","namespace":"~""#, &[Arg::Raw(meta.namespace)]);
    }
    buf.push(b',');
    write_server_fields(buf, meta, form);
}

/// The metadata the API server sets (`uid`, `resourceVersion`, `creationTimestamp`) as a response
/// shows them; a request carries only `"creationTimestamp":null`. No separating comma.
fn write_server_fields(buf: &mut Vec<u8>, meta: &Meta<'_>, form: Form) {
    if form == Form::Response {
        fill(
            buf,
            r#""uid":"~","resourceVersion":"~","creationTimestamp":"~""#,
            &[
                Arg::Uuid(meta.uid),
                Arg::Int(meta.resource_version),
                Arg::Secs(meta.created),
            ],
        );
    } else {
        raw(buf, r#""creationTimestamp":null"#);
    }
}

fn write_role(buf: &mut Vec<u8>, role: &RoleBody<'_>, form: Form) {
    let kind = if role.cluster { "ClusterRole" } else { "Role" };
    object_head(
        buf,
        kind,
        "rbac.authorization.k8s.io/v1",
        &role.meta,
        !role.cluster,
        form,
    );
    helm_metadata(buf, role.helm_release, role.meta.namespace);
    if form == Form::Response {
        raw(buf, r#","managedFields":"#);
        templates::ROLE_MANAGED_FIELDS.fill(
            buf,
            &[
                Arg::Raw(if role.helm_release.is_some() {
                    "helm"
                } else {
                    "kubectl-create"
                }),
                Arg::Secs(role.meta.created),
            ],
        );
    }
    buf.push(b'}');
    write_rules(buf, role.rules);
    buf.push(b'}');
}

fn write_role_list(buf: &mut Vec<u8>, count: usize, resource_version: i64, seed: u64, now: i64) {
    fill(
        buf,
        r#"{"kind":"ClusterRoleList","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"resourceVersion":"~"},"items":["#,
        &[Arg::Int(resource_version)],
    );
    let mut rng = Rng::new(seed);
    for index in 0..count {
        if index > 0 {
            buf.push(b',');
        }
        let base = crate::catalog::ROLE_NAMES[index % crate::catalog::ROLE_NAMES.len()];
        let name = if index < crate::catalog::ROLE_NAMES.len() {
            base.to_owned()
        } else {
            format!("system:controller:{base}-{index}")
        };
        let meta = Meta {
            name: &name,
            namespace: "",
            uid: rng.next_u128(),
            resource_version: resource_version - rng.range(1000, 900_000),
            created: now - rng.range(86_400, 86_400 * 90) * 1_000_000,
            now,
        };
        write_role(
            buf,
            &RoleBody {
                cluster: true,
                meta,
                rules: RoleRules::Benign(index),
                helm_release: Some(base),
            },
            Form::Response,
        );
    }
    raw(buf, "]}");
}

fn write_binding(buf: &mut Vec<u8>, binding: &BindingBody<'_>, form: Form) {
    let kind = if binding.cluster {
        "ClusterRoleBinding"
    } else {
        "RoleBinding"
    };
    object_head(
        buf,
        kind,
        "rbac.authorization.k8s.io/v1",
        &binding.meta,
        !binding.cluster,
        form,
    );
    helm_metadata(buf, binding.helm_release, binding.meta.namespace);
    if form == Form::Response {
        raw(buf, r#","managedFields":"#);
        templates::BINDING_MANAGED_FIELDS.fill(
            buf,
            &[
                Arg::Raw(if binding.helm_release.is_some() {
                    "helm"
                } else {
                    "kubectl-create"
                }),
                Arg::Secs(binding.meta.created),
            ],
        );
    }
    raw(buf, r#"},"subjects":[{"kind":"#);
    string(buf, binding.subject_kind);
    if binding.subject_kind != "ServiceAccount" {
        raw(buf, r#","apiGroup":"rbac.authorization.k8s.io""#);
    }
    raw(buf, r#","name":"#);
    string(buf, binding.subject_name);
    if binding.subject_kind == "ServiceAccount" {
        raw(buf, r#","namespace":"#);
        string(buf, binding.subject_namespace);
    }
    fill(
        buf,
        r#"}],"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"~","name":"~"}}"#,
        &[Arg::Raw(binding.role_kind), Arg::Raw(binding.role_name)],
    );
}

fn write_lease(buf: &mut Vec<u8>, meta: &Meta<'_>, holder: &str, duration: i64) {
    templates::LEASE.fill(
        buf,
        &[
            Arg::Raw(meta.name),
            Arg::Raw(meta.namespace),
            Arg::Uuid(meta.uid),
            Arg::Int(meta.resource_version),
            Arg::Secs(meta.created),
            Arg::Raw(lease_manager(meta.namespace, meta.name)),
            Arg::Secs(meta.now),
            Arg::Raw(holder),
            Arg::Int(duration),
            Arg::Micros(meta.created),
            Arg::Micros(meta.now),
        ],
    );
}

fn lease_manager(namespace: &str, name: &str) -> &'static str {
    match (namespace, name) {
        ("kube-node-lease", _) => "kubelet",
        (_, "kube-scheduler") => "kube-scheduler",
        (_, "kube-controller-manager") => "kube-controller-manager",
        _ => "manager",
    }
}

#[allow(clippy::too_many_arguments)]
fn write_core_event(
    buf: &mut Vec<u8>,
    meta: &Meta<'_>,
    kind: &str,
    object: &str,
    reason: &str,
    message: &str,
    component: &str,
    host: &str,
    count: i64,
) {
    let source = |buf: &mut Vec<u8>, _| {
        fill(buf, r#"{"component":"~""#, &[Arg::Raw(component)]);
        if !host.is_empty() {
            fill(buf, r#","host":"~""#, &[Arg::Raw(host)]);
        }
        buf.push(b'}');
    };
    templates::CORE_EVENT.fill_with(
        buf,
        &[
            Arg::Raw(meta.name),
            Arg::Raw(meta.namespace),
            Arg::Raw(kind),
            Arg::Raw(meta.namespace),
            Arg::Raw(object),
            Arg::Uuid(meta.uid),
            Arg::Raw(if kind == "Pod" { "v1" } else { "apps/v1" }),
            Arg::Int(meta.resource_version),
            Arg::Raw(reason),
            Arg::Esc(message),
            Arg::Nested,
            Arg::Secs(meta.created),
            Arg::Secs(meta.now),
            Arg::Int(count),
            Arg::Raw(component),
            Arg::Raw(host),
        ],
        source,
    );
}

fn write_endpoint_slice(
    buf: &mut Vec<u8>,
    meta: &Meta<'_>,
    service: &str,
    port: i64,
    endpoints: i64,
    seed: u64,
) {
    let write_endpoints = |buf: &mut Vec<u8>, _| {
        let mut rng = Rng::new(seed);
        for index in 0..endpoints {
            if index > 0 {
                buf.push(b',');
            }
            let node = rng.range(1, 3);
            let zone = ["a", "b", "c"][(node as usize - 1) % 3];
            templates::ENDPOINT_SLICE_ENDPOINT.fill(
                buf,
                &[
                    Arg::Int(node),
                    Arg::Int(rng.range(2, 250)),
                    Arg::Raw(meta.namespace),
                    Arg::Raw(service),
                    Arg::Int(rng.range(10_000, 99_999)),
                    Arg::Uuid(rng.next_u128()),
                    Arg::Int(node),
                    Arg::Raw(zone),
                    Arg::Raw(zone),
                ],
            );
        }
    };
    templates::ENDPOINT_SLICE.fill_with(
        buf,
        &[
            Arg::Raw(meta.name),
            Arg::Raw(service),
            Arg::Raw(meta.namespace),
            Arg::Uuid(meta.uid),
            Arg::Int(meta.resource_version),
            Arg::Int(meta.resource_version % 97 + 1),
            Arg::Secs(meta.created),
            Arg::Raw(service),
            Arg::Raw(service),
            Arg::Secs(meta.now),
            Arg::Raw(service),
            Arg::Uuid(meta.uid ^ 0xabc),
            Arg::Secs(meta.now),
            Arg::Uuid(meta.uid ^ 0xabc),
            Arg::Nested,
            Arg::Int(port),
        ],
        write_endpoints,
    );
}

const NODE_IMAGES: &[(&str, i64)] = &[
    ("registry.k8s.io/etcd:3.5.12-0", 57_236_178),
    ("registry.k8s.io/kube-apiserver:v1.29.4", 35_135_204),
    (
        "registry.k8s.io/kube-controller-manager:v1.29.4",
        33_432_140,
    ),
    ("registry.k8s.io/kube-proxy:v1.29.4", 28_077_522),
    ("registry.k8s.io/kube-scheduler:v1.29.4", 18_512_876),
    ("registry.k8s.io/coredns/coredns:v1.11.1", 18_182_961),
    ("quay.io/prometheus/prometheus:v2.51.2", 98_128_443),
    ("quay.io/argoproj/argocd:v2.10.9", 178_233_551),
    ("docker.io/grafana/grafana:10.4.2", 121_552_044),
    ("ghcr.io/acme-shop/frontend:2.3.1", 41_827_311),
    ("ghcr.io/acme-shop/payments-api:1.8.0", 38_119_820),
    ("registry.k8s.io/pause:3.9", 321_520),
];

fn write_node_status_patch(buf: &mut Vec<u8>, node: &str, now: i64, with_images: bool) {
    raw(
        buf,
        r#"{"status":{"$setElementOrder/conditions":[{"type":"MemoryPressure"},{"type":"DiskPressure"},{"type":"PIDPressure"},{"type":"Ready"}],"conditions":["#,
    );
    let conditions = [
        (
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        (
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        (
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        (
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status. AppArmor enabled",
        ),
    ];
    for (index, (kind, status, reason, message)) in conditions.iter().enumerate() {
        if index > 0 {
            buf.push(b',');
        }
        fill(
            buf,
            r#"{"lastHeartbeatTime":"~","type":"~","status":"~","reason":"~","message":"~"}"#,
            &[
                Arg::Secs(now),
                Arg::Raw(kind),
                Arg::Raw(status),
                Arg::Raw(reason),
                Arg::Raw(message),
            ],
        );
    }
    buf.push(b']');
    if with_images {
        raw(buf, r#","images":["#);
        for (index, (image, size)) in NODE_IMAGES.iter().enumerate() {
            if index > 0 {
                buf.push(b',');
            }
            fill(
                buf,
                r#"{"names":["~@sha256:~","~"],"sizeBytes":~}"#,
                &[
                    Arg::Raw(image_repository(image)),
                    Arg::Raw(&hex64(*size as u64)),
                    Arg::Raw(image),
                    Arg::Int(*size),
                ],
            );
        }
        raw(buf, r#"],"nodeInfo":"#);
        templates::NODE_INFO.fill(
            buf,
            &[
                Arg::Raw(&hex64(node.len() as u64)[..32]),
                Arg::Uuid(node.len() as u128 * 7919),
                Arg::Uuid(node.len() as u128 * 104_729),
            ],
        );
    }
    raw(buf, "}}");
}

fn write_service(buf: &mut Vec<u8>, meta: &Meta<'_>, app: &str, port: i64, cluster_ip: (i64, i64)) {
    templates::SERVICE.fill(
        buf,
        &[
            Arg::Raw(meta.name),
            Arg::Raw(meta.namespace),
            Arg::Uuid(meta.uid),
            Arg::Int(meta.resource_version),
            Arg::Secs(meta.created),
            Arg::Raw(app),
            Arg::Raw(app),
            Arg::Raw(meta.namespace),
            Arg::Secs(meta.created),
            Arg::Int(port),
            Arg::Raw(app),
            Arg::Int(cluster_ip.0),
            Arg::Int(cluster_ip.1),
            Arg::Int(cluster_ip.0),
            Arg::Int(cluster_ip.1),
        ],
    );
}

const SCHEMA_WORDS: &[&str] = &[
    "affinity",
    "alerting",
    "annotations",
    "baseImage",
    "configMaps",
    "containers",
    "disableCompaction",
    "enableAdminAPI",
    "evaluationInterval",
    "externalLabels",
    "externalUrl",
    "hostAliases",
    "image",
    "imagePullSecrets",
    "initContainers",
    "listenLocal",
    "logFormat",
    "logLevel",
    "minReadySeconds",
    "nodeSelector",
    "paused",
    "podMetadata",
    "portName",
    "priorityClassName",
    "queryLogFile",
    "remoteRead",
    "remoteWrite",
    "replicaExternalLabelName",
    "resources",
    "retention",
    "retentionSize",
    "routePrefix",
    "ruleNamespaceSelector",
    "ruleSelector",
    "scrapeInterval",
    "scrapeTimeout",
    "secrets",
    "securityContext",
    "serviceAccountName",
    "shards",
    "storage",
    "tolerations",
    "topologySpreadConstraints",
    "tsdb",
    "volumeMounts",
    "volumes",
    "walCompression",
    "web",
];

const SCHEMA_SENTENCES: &[&str] = &[
    "Defines the duration for which the object is retained before it is garbage collected by the operator.",
    "If specified, the pod's scheduling constraints. Only applies when the pods are created by the operator.",
    "List of references to secrets in the same namespace to use for pulling images from registries.",
    "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    "Specification of the desired behavior of the resource. This field is merged with the defaults of the controller.",
    "Name of the port to use for the service; the default is web. Changing this restarts all replicas.",
    "Defines the resource requests and limits of the main container; when not set, the defaults of the namespace LimitRange apply.",
];

/// Writes an object schema with `count` generated properties (nested up to three levels).
fn write_schema_properties(buf: &mut Vec<u8>, rng: &mut Rng, count: usize, depth: usize) {
    raw(buf, r#"{"type":"object","properties":"#);
    write_property_map(buf, rng, count, depth);
    buf.push(b'}');
}

/// Writes `{"<name>":{<schema>},...}` with `count` properties in total, nested ones included.
fn write_property_map(buf: &mut Vec<u8>, rng: &mut Rng, count: usize, depth: usize) {
    buf.push(b'{');
    let mut written = 0;
    let mut index = 0;
    while written < count {
        if index > 0 {
            buf.push(b',');
        }
        let word = SCHEMA_WORDS[rng.index(SCHEMA_WORDS.len())];
        fill(
            buf,
            r#""~~":{"description":"~","#,
            &[
                Arg::Raw(word),
                Arg::Int(index as i64),
                Arg::Raw(SCHEMA_SENTENCES[rng.index(SCHEMA_SENTENCES.len())]),
            ],
        );
        index += 1;
        written += 1;
        let remaining = count - written;
        if depth < 3 && remaining > 8 && rng.chance(1, 4) {
            let child = (remaining / 3).clamp(2, 40);
            raw(buf, r#""type":"object","properties":"#);
            write_property_map(buf, rng, child, depth + 1);
            buf.push(b'}');
            written += child;
        } else {
            match rng.below(4) {
                0 => raw(buf, r#""type":"string"}"#),
                1 => raw(buf, r#""type":"integer","format":"int32","minimum":0}"#),
                2 => raw(buf, r#""type":"boolean"}"#),
                _ => raw(
                    buf,
                    r#""type":"array","items":{"type":"string"},"x-kubernetes-list-type":"atomic"}"#,
                ),
            }
        }
    }
    buf.push(b'}');
}

fn write_crd(buf: &mut Vec<u8>, crd: &CrdBody<'_>, form: Form) {
    let meta = &crd.meta;
    let server_side = form == Form::Response || crd.status_update;
    let singular = crd.kind.to_ascii_lowercase();
    let nested = |buf: &mut Vec<u8>, hole| match hole {
        0 => {
            let form = if server_side {
                Form::Response
            } else {
                Form::Request
            };
            metadata_head(buf, meta, false, form);
            raw(
                buf,
                r#","annotations":{"controller-gen.kubebuilder.io/version":"v0.14.0","operator.prometheus.io/version":"0.72.0"}}"#,
            );
        }
        1 => {
            let mut rng = Rng::new(meta.uid as u64 ^ crd.properties as u64);
            write_schema_properties(buf, &mut rng, crd.properties, 0);
        }
        _ if server_side => templates::CRD_STATUS.fill(
            buf,
            &[
                Arg::Secs(meta.created),
                Arg::Secs(meta.created),
                Arg::Raw(crd.plural),
                Arg::Raw(&singular),
                Arg::Raw(crd.kind),
                Arg::Raw(crd.kind),
            ],
        ),
        _ => raw(
            buf,
            r#"{"acceptedNames":{"plural":"","kind":""},"storedVersions":null}"#,
        ),
    };
    templates::CRD.fill_with(
        buf,
        &[
            Arg::Nested,
            Arg::Raw(crd.group),
            Arg::Raw(crd.plural),
            Arg::Raw(&singular),
            Arg::Raw(crd.kind),
            Arg::Raw(crd.kind),
            Arg::Raw(crd.kind),
            Arg::Nested,
            Arg::Nested,
        ],
        nested,
    );
}

/// A PromQL expression; it holds `=~`, so it cannot sit inside a `~` template.
const CRASHLOOP_EXPR: &str = r#"max_over_time(kube_pod_container_status_waiting_reason{reason=\"CrashLoopBackOff\", job=\"kube-state-metrics\", namespace=~\".*\"}[5m]) >= 1"#;

fn write_custom_resource(
    buf: &mut Vec<u8>,
    meta: &Meta<'_>,
    group: &str,
    kind: &str,
    rules: usize,
) {
    let spec = |buf: &mut Vec<u8>, _| {
        if kind == "ServiceMonitor" {
            templates::SERVICE_MONITOR_SPEC
                .fill(buf, &[Arg::Raw(meta.namespace), Arg::Raw(meta.name)]);
            return;
        }
        raw(buf, r#"{"groups":[{"name":"kubernetes-apps","rules":["#);
        for index in 0..rules {
            if index > 0 {
                buf.push(b',');
            }
            templates::CRASHLOOP_ALERT
                .fill(buf, &[Arg::Int(index as i64), Arg::Raw(CRASHLOOP_EXPR)]);
        }
        raw(buf, "]}]}");
    };
    templates::CUSTOM_RESOURCE.fill_with(
        buf,
        &[
            Arg::Raw(group),
            Arg::Raw(kind),
            Arg::Raw(meta.name),
            Arg::Raw(meta.namespace),
            Arg::Raw(meta.namespace),
            Arg::Nested,
        ],
        spec,
    );
}

/// A JWT-shaped token (three base64url segments) derived from a seed.
fn write_jwt(buf: &mut Vec<u8>, seed: u64) {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    raw(buf, "eyJhbGciOiJSUzI1NiIsImtpZCI6I");
    let mut rng = Rng::new(seed);
    for (index, length) in [40usize, 780, 342].iter().enumerate() {
        if index > 0 {
            buf.push(b'.');
            if index == 1 {
                raw(
                    buf,
                    "eyJhdWQiOlsiaHR0cHM6Ly9rdWJlcm5ldGVzLmRlZmF1bHQuc3ZjIl0sImV4cCI6",
                );
            }
        }
        for _ in 0..*length {
            buf.push(ALPHABET[rng.index(ALPHABET.len())]);
        }
    }
}

fn write_token(buf: &mut Vec<u8>, token: &TokenBody<'_>, form: Form) {
    let nested = |buf: &mut Vec<u8>, hole| match (hole, form) {
        (0, Form::Response) => fill(buf, r#""~""#, &[Arg::Secs(token.now)]),
        (1, _) => match token.bound_pod {
            Some((pod, uid)) => fill(
                buf,
                r#"{"kind":"Pod","apiVersion":"v1","name":"~","uid":"~"}"#,
                &[Arg::Raw(pod), Arg::Uuid(uid)],
            ),
            None => raw(buf, "null"),
        },
        (2, Form::Response) => {
            raw(buf, r#"{"token":""#);
            write_jwt(buf, token.token_seed);
            fill(
                buf,
                r#"","expirationTimestamp":"~"}"#,
                &[Arg::Secs(token.now + token.expiration_seconds * 1_000_000)],
            );
        }
        (2, Form::Request) => raw(buf, r#"{"token":"","expirationTimestamp":null}"#),
        _ => raw(buf, "null"),
    };
    templates::TOKEN_REQUEST.fill_with(
        buf,
        &[
            Arg::Raw(token.service_account),
            Arg::Raw(token.namespace),
            Arg::Nested,
            Arg::Raw(token.audience),
            Arg::Int(token.expiration_seconds),
            Arg::Nested,
            Arg::Nested,
        ],
        nested,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta<'static> {
        Meta {
            name: "web",
            namespace: "shop",
            uid: 42,
            resource_version: 1000,
            created: 1_700_000_000_000_000,
            now: 1_700_000_100_000_000,
        }
    }

    fn spec(risk: Risk) -> Spec<'static> {
        Spec {
            app: "web",
            container: "web",
            image: "ghcr.io/acme-shop/frontend:2.3.1",
            port: 8080,
            service_account: "web",
            env_count: 14,
            risk,
            defaulted: false,
            restart_never: false,
        }
    }

    fn assert_valid(body: Body<'_>) {
        for form in [Form::Request, Form::Response] {
            let mut buf = Vec::new();
            if write(&mut buf, &body, form) {
                let text = String::from_utf8(buf).expect("utf-8");
                assert!(!text.contains('~'), "unfilled hole in {text}");
                // Balanced braces and brackets outside strings is a cheap validity check here;
                // the integration tests parse whole events with serde_json.
                let mut depth = 0i64;
                let mut in_string = false;
                let mut escaped = false;
                for character in text.chars() {
                    match (in_string, escaped, character) {
                        (true, true, _) => escaped = false,
                        (true, false, '\\') => escaped = true,
                        (true, false, '"') => in_string = false,
                        (false, _, '"') => in_string = true,
                        (false, _, '{' | '[') => depth += 1,
                        (false, _, '}' | ']') => depth -= 1,
                        _ => {}
                    }
                    assert!(depth >= 0, "{text}");
                }
                assert_eq!(depth, 0, "{text}");
            }
        }
    }

    #[test]
    fn bodies_are_balanced_and_fully_filled() {
        let pod = PodBody {
            meta: meta(),
            spec: spec(Risk::None),
            owner: Some(("ReplicaSet", "web-7d9c8b6f5d", 7)),
            template_hash: "7d9c8b6f5d",
            node: "worker-1",
            pod_ip: (1, 20),
        };
        assert_valid(Body::Pod(pod));
        assert_valid(Body::PodStatusPatch(pod));
        for risk in [Risk::Privileged, Risk::HostPath("/"), Risk::HostNamespaces] {
            assert_valid(Body::Pod(PodBody {
                owner: None,
                spec: spec(risk),
                ..pod
            }));
        }
        for kind in [
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
            "DaemonSet",
            "Job",
            "CronJob",
        ] {
            for change in [
                WorkloadChange::Create,
                WorkloadChange::Status,
                WorkloadChange::Patch,
                WorkloadChange::Delete,
            ] {
                assert_valid(Body::Workload(WorkloadBody {
                    kind,
                    meta: meta(),
                    spec: spec(Risk::None),
                    replicas: 2,
                    generation: 3,
                    change,
                    template_hash: "7d9c8b6f5d",
                    manager: "helm",
                }));
            }
        }
        assert_valid(Body::Role(RoleBody {
            cluster: true,
            meta: meta(),
            rules: RoleRules::Wildcard,
            helm_release: None,
        }));
        assert_valid(Body::RoleList {
            count: 30,
            resource_version: 5_000_000,
            seed: 1,
            now: meta().now,
        });
        assert_valid(Body::Crd(CrdBody {
            meta: meta(),
            group: "monitoring.coreos.com",
            kind: "Prometheus",
            plural: "prometheuses",
            properties: 300,
            status_update: false,
        }));
        assert_valid(Body::Token(TokenBody {
            service_account: "default",
            namespace: "shop",
            audience: "https://kubernetes.default.svc",
            expiration_seconds: 3600,
            token_seed: 9,
            now: meta().now,
            bound_pod: Some(("web-1", 5)),
        }));
        assert_valid(Body::NodeStatusPatch {
            node: "worker-1",
            now: meta().now,
            with_images: true,
        });
        assert_valid(Body::EndpointSlice {
            meta: meta(),
            service: "web",
            port: 80,
            endpoints: 4,
            seed: 3,
        });
    }

    /// At least one body of every kind and shape, so that every template and branch is written.
    fn every_kind_of_body() -> Vec<Body<'static>> {
        let pod = PodBody {
            meta: meta(),
            spec: spec(Risk::None),
            owner: Some(("ReplicaSet", "web-7d9c8b6f5d", 7)),
            template_hash: "7d9c8b6f5d",
            node: "worker-1",
            pod_ip: (1, 20),
        };
        let mut bodies = vec![
            Body::Pod(pod),
            Body::PodStatusPatch(pod),
            Body::Pod(PodBody {
                spec: Spec {
                    restart_never: true,
                    ..spec(Risk::None)
                },
                ..pod
            }),
        ];
        for risk in [
            Risk::None,
            Risk::Privileged,
            Risk::HostPath("/"),
            Risk::HostNamespaces,
        ] {
            for env_count in [0, 2, 3, 14] {
                let spec = Spec {
                    env_count,
                    ..spec(risk)
                };
                bodies.push(Body::Pod(PodBody {
                    owner: None,
                    spec,
                    ..pod
                }));
                bodies.push(Body::PodStatusPatch(PodBody { spec, ..pod }));
            }
        }
        for kind in [
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
            "DaemonSet",
            "Job",
            "CronJob",
        ] {
            for change in [
                WorkloadChange::Create,
                WorkloadChange::Status,
                WorkloadChange::Patch,
                WorkloadChange::Delete,
            ] {
                bodies.push(Body::Workload(WorkloadBody {
                    kind,
                    meta: meta(),
                    spec: spec(Risk::None),
                    replicas: 2,
                    generation: 3,
                    change,
                    template_hash: "7d9c8b6f5d",
                    manager: "helm",
                }));
            }
        }
        for (cluster, helm_release) in [(true, None), (false, Some("web"))] {
            for rules in [RoleRules::Wildcard, RoleRules::Benign(1)] {
                bodies.push(Body::Role(RoleBody {
                    cluster,
                    meta: meta(),
                    rules,
                    helm_release,
                }));
            }
            for subject_kind in ["ServiceAccount", "Group"] {
                bodies.push(Body::Binding(BindingBody {
                    cluster,
                    meta: meta(),
                    role_kind: "ClusterRole",
                    role_name: "view",
                    subject_kind,
                    subject_name: "web",
                    subject_namespace: "shop",
                    helm_release,
                }));
            }
        }
        bodies.push(Body::RoleList {
            count: 30,
            resource_version: 5_000_000,
            seed: 1,
            now: meta().now,
        });
        bodies.push(Body::Lease {
            meta: meta(),
            holder: "cp-1_abc",
            duration: 15,
        });
        for host in ["", "worker-1"] {
            bodies.push(Body::CoreEvent {
                meta: meta(),
                kind: "Pod",
                object: "web-1",
                reason: "Pulled",
                message: "Container image \"x\" already present on machine",
                component: "kubelet",
                host,
                count: 2,
            });
        }
        bodies.push(Body::EndpointSlice {
            meta: meta(),
            service: "web",
            port: 80,
            endpoints: 4,
            seed: 3,
        });
        for with_images in [false, true] {
            bodies.push(Body::NodeStatusPatch {
                node: "worker-1",
                now: meta().now,
                with_images,
            });
        }
        bodies.push(Body::Service {
            meta: meta(),
            app: "web",
            port: 8080,
            cluster_ip: (1, 2),
        });
        bodies.push(Body::ServiceAccount {
            meta: meta(),
            helm_release: "web",
        });
        bodies.push(Body::Namespace { meta: meta() });
        bodies.push(Body::NamespaceLabelPatch {
            key: "team",
            value: "shop",
        });
        for status_update in [false, true] {
            bodies.push(Body::Crd(CrdBody {
                meta: meta(),
                group: "monitoring.coreos.com",
                kind: "Prometheus",
                plural: "prometheuses",
                properties: 300,
                status_update,
            }));
        }
        for kind in ["PrometheusRule", "ServiceMonitor"] {
            bodies.push(Body::CustomResource {
                meta: meta(),
                group: "monitoring.coreos.com",
                kind,
                rules: 3,
            });
        }
        bodies.push(Body::PrometheusStatus {
            meta: meta(),
            replicas: 2,
        });
        bodies.push(Body::PodBindingTarget {
            pod: "web-1",
            namespace: "shop",
            uid: 5,
            node: "worker-2",
        });
        for bound_pod in [None, Some(("web-1", 5))] {
            bodies.push(Body::Token(TokenBody {
                service_account: "default",
                namespace: "shop",
                audience: "https://kubernetes.default.svc",
                expiration_seconds: 3600,
                token_seed: 9,
                now: meta().now,
                bound_pod,
            }));
        }
        bodies.push(Body::DeleteOptions);
        bodies.push(Body::EventCountPatch {
            count: 3,
            now: meta().now,
        });
        bodies.push(Body::Endpoints {
            meta: meta(),
            port: 8080,
            addresses: 3,
            seed: 4,
        });
        bodies.push(Body::Status {
            code: 404,
            status: "Failure",
            reason: "NotFound",
            message: "pods \"web\" not found",
            name: "web",
            group: "",
            kind: "pods",
        });
        bodies
    }

    #[test]
    fn every_body_parses_and_fills_every_template_with_its_holes() {
        for body in every_kind_of_body() {
            let mut written = false;
            for form in [Form::Request, Form::Response] {
                let mut buf = Vec::new();
                if write(&mut buf, &body, form) {
                    written = true;
                    if let Err(error) = serde_json::from_slice::<serde_json::Value>(&buf) {
                        panic!(
                            "{body:?} as {form:?}: {error}: {}",
                            String::from_utf8_lossy(&buf)
                        );
                    }
                }
            }
            assert!(written, "{body:?} has no form");
        }
        let used = templates::tests::used();
        for template in templates::ALL {
            let uses = used
                .get(template.name)
                .unwrap_or_else(|| panic!("{} is never filled", template.name));
            let holes = templates::tests::holes(template);
            for args in uses {
                assert_eq!(*args, holes, "{}: arguments for its holes", template.name);
            }
        }
    }

    #[test]
    fn crd_size_grows_with_properties() {
        let mut small = Vec::new();
        let mut large = Vec::new();
        let crd = CrdBody {
            meta: meta(),
            group: "example.io",
            kind: "Widget",
            plural: "widgets",
            properties: 10,
            status_update: false,
        };
        write(&mut small, &Body::Crd(crd), Form::Request);
        write(
            &mut large,
            &Body::Crd(CrdBody {
                properties: 700,
                ..crd
            }),
            Form::Request,
        );
        assert!(large.len() > 100_000, "{}", large.len());
        assert!(small.len() < 10_000, "{}", small.len());
    }

    #[test]
    fn token_response_carries_a_jwt_and_request_does_not() {
        let token = TokenBody {
            service_account: "default",
            namespace: "shop",
            audience: "https://kubernetes.default.svc",
            expiration_seconds: 3600,
            token_seed: 9,
            now: 1_700_000_000_000_000,
            bound_pod: None,
        };
        let mut request = Vec::new();
        let mut response = Vec::new();
        write(&mut request, &Body::Token(token), Form::Request);
        write(&mut response, &Body::Token(token), Form::Response);
        let response = String::from_utf8(response).unwrap();
        assert!(
            response.contains(r#""token":"eyJhbGciOiJSUzI1NiIsImtpZCI6I"#),
            "{response}"
        );
        assert!(
            response.contains(r#""creationTimestamp":"2023-11-14T22:13:20Z""#),
            "{response}"
        );
        assert!(
            String::from_utf8(request)
                .unwrap()
                .contains(r#""token":"""#)
        );
    }
}
