//! Pod specs and pods: what controllers and kubectl send, what the API server and kubelets return.

use crate::json::{Arg, fill, int, raw};
use crate::templates;

use super::{Form, PodBody, Risk, Spec, hex64, image_repository, write_server_fields};

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

pub(super) fn write_spec(buf: &mut Vec<u8>, spec: &Spec<'_>, token_volume: Option<&str>) {
    buf.push(b'{');
    let volumes = Volumes::of(spec, token_volume);
    if !volumes.is_empty() {
        raw(buf, r#""volumes":["#);
        volumes.write(
            buf,
            |buf, suffix| templates::TOKEN_VOLUME.fill(buf, &[Arg::Raw(suffix)]),
            |buf, path| {
                fill(
                    buf,
                    r#"{"name":"host","hostPath":{"path":"~","type":""}}"#,
                    &[Arg::Raw(path)],
                )
            },
            r#"{"name":"tmp","emptyDir":{}}"#,
        );
        raw(buf, "],");
    }
    raw(buf, r#""containers":["#);
    write_container(buf, spec, &volumes);
    buf.push(b']');
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

/// The volumes of a pod spec: the projected service account token (by its name's suffix), a
/// hostPath, or else a scratch `emptyDir` for an app with a few settings.
struct Volumes<'a> {
    token: Option<&'a str>,
    host_path: Option<&'a str>,
    scratch: bool,
}

impl<'a> Volumes<'a> {
    fn of(spec: &Spec<'a>, token: Option<&'a str>) -> Volumes<'a> {
        let host_path = match spec.risk {
            Risk::HostPath(path) => Some(path),
            _ => None,
        };
        Volumes {
            token,
            host_path,
            scratch: host_path.is_none() && !spec.restart_never && spec.env_count > 2,
        }
    }

    fn is_empty(&self) -> bool {
        self.token.is_none() && self.host_path.is_none() && !self.scratch
    }

    /// Writes one comma-separated entry per volume (volumes or mounts): `token` with the token
    /// volume's suffix, `host` with the host path, `scratch` as is.
    fn write(
        &self,
        buf: &mut Vec<u8>,
        token: impl FnOnce(&mut Vec<u8>, &str),
        host: impl FnOnce(&mut Vec<u8>, &str),
        scratch: &str,
    ) {
        if let Some(suffix) = self.token {
            token(buf, suffix);
            if self.host_path.is_some() || self.scratch {
                buf.push(b',');
            }
        }
        if let Some(path) = self.host_path {
            host(buf, path);
        } else if self.scratch {
            raw(buf, scratch);
        }
    }
}

/// The pod spec's one container.
fn write_container(buf: &mut Vec<u8>, spec: &Spec<'_>, volumes: &Volumes<'_>) {
    fill(
        buf,
        r#"{"name":"~","image":"~","#,
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
    write_env(buf, spec);
    raw(
        buf,
        r#""resources":{"limits":{"cpu":"500m","memory":"512Mi"},"requests":{"cpu":"100m","memory":"128Mi"}}"#,
    );
    if !volumes.is_empty() {
        raw(buf, r#","volumeMounts":["#);
        volumes.write(
            buf,
            |buf, suffix| {
                fill(
                    buf,
                    r#"{"name":"kube-api-access-~","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}"#,
                    &[Arg::Raw(suffix)],
                )
            },
            |buf, _| raw(buf, r#"{"name":"host","mountPath":"/host"}"#),
            r#"{"name":"tmp","mountPath":"/tmp"}"#,
        );
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
    buf.push(b'}');
}

/// `"env":[...],` with `spec.env_count` variables, or nothing.
fn write_env(buf: &mut Vec<u8>, spec: &Spec<'_>) {
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
}

pub(super) fn write_pod(buf: &mut Vec<u8>, pod: &PodBody<'_>, form: Form, running: bool) {
    let token_suffix = &pod.meta.name[pod.meta.name.len().saturating_sub(5)..];
    raw(buf, r#"{"kind":"Pod","apiVersion":"v1","metadata":{"#);
    write_pod_metadata(buf, pod, form, running);
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
            write_running_status(buf, pod);
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

/// The inside of a pod's `metadata` after `{`: name (and `generateName` for an owned pod), the
/// server's fields, labels, owner and, in a response, `managedFields`.
fn write_pod_metadata(buf: &mut Vec<u8>, pod: &PodBody<'_>, form: Form, running: bool) {
    let meta = &pod.meta;
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
}

/// `,"status":{...}` of a running pod, and the pod's closing brace.
fn write_running_status(buf: &mut Vec<u8>, pod: &PodBody<'_>) {
    let meta = &pod.meta;
    raw(buf, r#","status":"#);
    let conditions = |buf: &mut Vec<u8>, _| {
        for (index, condition) in ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
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
}

fn node_ip(node: &str) -> &'static str {
    match node {
        "cp-1" => "10.0.0.10",
        "worker-1" => "10.0.0.21",
        "worker-2" => "10.0.0.22",
        _ => "10.0.0.23",
    }
}

pub(super) fn pod_status_patch(buf: &mut Vec<u8>, pod: &PodBody<'_>) {
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
