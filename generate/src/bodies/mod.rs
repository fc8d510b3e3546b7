//! Request and response bodies (`requestObject` / `responseObject`) written straight into the byte buffer.
//!
//! Every body is a pure function of its parameters, so the generator decides all randomness up front.
//! This module holds the body types, [`write`] and the metadata helpers shared by its submodules
//! (one per group of kinds); the long fixed parts of bodies are templates in `generate/bodies/`.

mod cluster;
mod extensions;
mod pods;
mod rbac;
mod workloads;

use crate::json::{Arg, fill, int, raw, string};
use crate::rng::Rng;
use crate::templates;

use cluster::{
    write_core_event, write_endpoint_slice, write_endpoints, write_lease, write_node_status_patch,
    write_service, write_token,
};
use extensions::{write_crd, write_custom_resource};
use pods::{pod_status_patch, write_pod};
use rbac::{write_binding, write_role, write_role_list};
use workloads::write_workload;

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
    /// A request body from a template of `generate/bodies/` (the cluster shapes' bodies), its
    /// one [`Arg::Nested`] hole, if any, filled from a second template.
    Filled {
        template: templates::Template,
        args: &'a [Arg<'a>],
        nested: Option<(templates::Template, &'a [Arg<'a>])>,
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
        (
            Body::Filled {
                template,
                args,
                nested,
            },
            Form::Request,
        ) => template.fill_with(buf, args, |buf, _| {
            if let Some((nested, args)) = nested {
                nested.fill(buf, args);
            }
        }),
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
        let mut written = false;
        for form in [Form::Request, Form::Response] {
            let mut buf = Vec::new();
            if write(&mut buf, &body, form) {
                written = true;
                let text = String::from_utf8(buf).expect("utf-8");
                if let Err(error) = serde_json::from_str::<serde_json::Value>(&text) {
                    panic!("{body:?} as {form:?}: {error}: {text}");
                }
                // The PromQL of a rule holds the only `~` a body may have.
                assert!(
                    !text.replace(extensions::CRASHLOOP_EXPR, "").contains('~'),
                    "unfilled hole in {text}"
                );
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
        assert!(written, "{body:?} has no form");
    }

    #[test]
    fn bodies_are_balanced_and_fully_filled() {
        for body in every_kind_of_body() {
            assert_valid(body);
        }
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
    fn every_template_is_filled_with_as_many_arguments_as_holes() {
        for body in every_kind_of_body() {
            assert_valid(body);
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
