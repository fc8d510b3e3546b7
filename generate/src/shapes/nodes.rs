//! Nodes on public addresses: bare-metal servers at a hosting provider, their kubelets and the
//! host-network agents (kube-proxy, Calico) reaching the API server from the same addresses.

use crate::catalog::{self as cat, A};

use super::{APP_NAMESPACES, Step, Token, op};

const PUBLIC_NODES_NAMES: &[&str] = &["node-fsn1-1", "node-fsn1-2", "node-hel1-1"];
const KUBE_PROXY_SELECTOR: &str = "labelSelector=%21service.kubernetes.io%2Fheadless%2C%21service.kubernetes.io%2Fservice-proxy-name";
const APP_SECRETS: &[&str] = &[
    "registry-pull-secret",
    "payments-db-credentials",
    "shop-tls",
];
const APP_CONFIGMAPS: &[&str] = &["kube-root-ca.crt", "app-settings"];

pub(super) const PUBLIC_NODES: &[(Step, u32)] = &[
    (
        Step::Lease(A::PublicNode1, "kube-node-lease", PUBLIC_NODES_NAMES[0]),
        1200,
    ),
    (
        Step::Lease(A::PublicNode2, "kube-node-lease", PUBLIC_NODES_NAMES[1]),
        1200,
    ),
    (
        Step::Lease(A::PublicNode3, "kube-node-lease", PUBLIC_NODES_NAMES[2]),
        1200,
    ),
    (Step::NodeStatus(A::PublicNode1, PUBLIC_NODES_NAMES[0]), 400),
    (Step::NodeStatus(A::PublicNode2, PUBLIC_NODES_NAMES[1]), 400),
    (Step::NodeStatus(A::PublicNode3, PUBLIC_NODES_NAMES[2]), 400),
    (
        Step::Op(op(A::PublicNode1, "get", &cat::NODES).names(&["node-fsn1-1"])),
        500,
    ),
    (
        Step::Op(op(A::PublicNode2, "get", &cat::NODES).names(&["node-fsn1-2"])),
        500,
    ),
    (
        Step::Op(op(A::PublicNode3, "get", &cat::NODES).names(&["node-hel1-1"])),
        500,
    ),
    (
        Step::Op(
            op(A::PublicNode1, "get", &cat::SECRETS)
                .ns(APP_NAMESPACES)
                .names(APP_SECRETS),
        ),
        200,
    ),
    (
        Step::Op(
            op(A::PublicNode2, "watch", &cat::SECRETS)
                .ns(APP_NAMESPACES)
                .query("fieldSelector=metadata.name%3Dregistry-pull-secret"),
        ),
        200,
    ),
    (
        Step::Op(
            op(A::PublicNode3, "watch", &cat::CONFIGMAPS)
                .ns(APP_NAMESPACES)
                .query("fieldSelector=metadata.name%3Dkube-root-ca.crt"),
        ),
        200,
    ),
    (
        Step::Op(
            op(A::PublicNode1, "get", &cat::CONFIGMAPS)
                .ns(APP_NAMESPACES)
                .names(APP_CONFIGMAPS),
        ),
        160,
    ),
    (
        Step::Op(
            op(A::PublicNode2, "get", &cat::PODS)
                .ns(APP_NAMESPACES)
                .names(&["frontend-7c9f8d6b5-x2k8p", "cart-5d8f7c9b6-m4q2w"]),
        ),
        240,
    ),
    (
        Step::Op(
            op(A::PublicNode3, "watch", &cat::PODS)
                .query("fieldSelector=spec.nodeName%3Dnode-hel1-1"),
        ),
        100,
    ),
    (
        Step::Op(op(A::PublicNode1, "create", &cat::EVENTS).ns(APP_NAMESPACES)),
        200,
    ),
    (
        Step::Token(Token {
            node: A::PublicNode1,
            service_account: "frontend",
            namespace: "shop",
            audience: "https://kubernetes.default.svc.cluster.local",
            expiration_seconds: 3607,
        }),
        120,
    ),
    (
        Step::Token(Token {
            node: A::PublicNode2,
            service_account: "calico-node",
            namespace: "kube-system",
            audience: "https://kubernetes.default.svc.cluster.local",
            expiration_seconds: 3607,
        }),
        80,
    ),
    (
        Step::Token(Token {
            node: A::PublicNode3,
            service_account: "kube-proxy",
            namespace: "kube-system",
            audience: "https://kubernetes.default.svc.cluster.local",
            expiration_seconds: 3607,
        }),
        80,
    ),
    (
        Step::Op(op(A::PublicKubeProxy, "watch", &cat::ENDPOINTSLICES).query(KUBE_PROXY_SELECTOR)),
        120,
    ),
    (
        Step::Op(op(A::PublicKubeProxy, "watch", &cat::SERVICES).query(KUBE_PROXY_SELECTOR)),
        120,
    ),
    (
        Step::Op(op(A::PublicKubeProxy, "get", &cat::NODES).names(&["node-fsn1-1"])),
        80,
    ),
    (
        Step::Op(op(A::PublicCalicoNode, "get", &cat::NODES).names(&["node-fsn1-2"])),
        200,
    ),
    (
        Step::Op(
            op(A::PublicCalicoNode, "patch", &cat::NODES)
                .names(&["node-fsn1-2"])
                .sub("status"),
        ),
        80,
    ),
    (
        Step::Op(
            op(A::PublicCalicoNode, "get", &cat::CONFIGMAPS)
                .ns(&["kube-system"])
                .names(&["calico-config"]),
        ),
        80,
    ),
];
