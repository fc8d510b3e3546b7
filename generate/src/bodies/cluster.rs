//! The control plane's objects: Leases, Events, Services and their endpoints, node status and
//! service account tokens.

use crate::json::{Arg, fill, raw};
use crate::rng::Rng;
use crate::templates;

use super::{Form, Meta, TokenBody, hex64, image_repository};

pub(super) fn write_lease(buf: &mut Vec<u8>, meta: &Meta<'_>, holder: &str, duration: i64) {
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
pub(super) fn write_core_event(
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

/// One pod behind a Service: worker `node` (1 to 3), pod IP `10.244.<node>.<ip>`, the pod name's
/// suffix and uid.
struct Backend {
    node: i64,
    ip: i64,
    pod: i64,
    uid: u128,
}

/// Writes `count` comma-separated backends drawn from `seed`, each by `write`.
fn write_backends(
    buf: &mut Vec<u8>,
    seed: u64,
    count: i64,
    mut write: impl FnMut(&mut Vec<u8>, Backend),
) {
    let mut rng = Rng::new(seed);
    for index in 0..count {
        if index > 0 {
            buf.push(b',');
        }
        let node = rng.range(1, 3);
        let ip = rng.range(2, 250);
        let pod = rng.range(10_000, 99_999);
        let uid = rng.next_u128();
        write(buf, Backend { node, ip, pod, uid });
    }
}

pub(super) fn write_endpoint_slice(
    buf: &mut Vec<u8>,
    meta: &Meta<'_>,
    service: &str,
    port: i64,
    endpoints: i64,
    seed: u64,
) {
    let write_endpoints = |buf: &mut Vec<u8>, _| {
        write_backends(buf, seed, endpoints, |buf, backend| {
            let zone = ["a", "b", "c"][(backend.node as usize - 1) % 3];
            templates::ENDPOINT_SLICE_ENDPOINT.fill(
                buf,
                &[
                    Arg::Int(backend.node),
                    Arg::Int(backend.ip),
                    Arg::Raw(meta.namespace),
                    Arg::Raw(service),
                    Arg::Int(backend.pod),
                    Arg::Uuid(backend.uid),
                    Arg::Int(backend.node),
                    Arg::Raw(zone),
                    Arg::Raw(zone),
                ],
            );
        });
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

pub(super) fn write_endpoints(
    buf: &mut Vec<u8>,
    meta: &Meta<'_>,
    port: i64,
    addresses: i64,
    seed: u64,
) {
    let write_addresses = |buf: &mut Vec<u8>, _| {
        write_backends(buf, seed, addresses, |buf, backend| {
            templates::ENDPOINTS_ADDRESS.fill(
                buf,
                &[
                    Arg::Int(backend.node),
                    Arg::Int(backend.ip),
                    Arg::Int(backend.node),
                    Arg::Raw(meta.namespace),
                    Arg::Raw(meta.name),
                    Arg::Int(backend.pod),
                    Arg::Uuid(backend.uid),
                ],
            );
        });
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

pub(super) fn write_node_status_patch(buf: &mut Vec<u8>, node: &str, now: i64, with_images: bool) {
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

pub(super) fn write_service(
    buf: &mut Vec<u8>,
    meta: &Meta<'_>,
    app: &str,
    port: i64,
    cluster_ip: (i64, i64),
) {
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

pub(super) fn write_token(buf: &mut Vec<u8>, token: &TokenBody<'_>, form: Form) {
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
