//! Managed control planes: EKS, GKE and AKS, their platform users, node agents and add-ons.

use crate::catalog::{self as cat, A};
use crate::generator::Generator;
use crate::templates;

use super::{APP_NAMESPACES, AddonApply, Step, Token, op};

const KUBE_SYSTEM: &[&str] = &["kube-system"];
const EKS_NODES: &[&str] = &["ip-10-0-12-34.ec2.internal", "ip-10-0-45-181.ec2.internal"];
const GKE_NODES: &[&str] = &[
    "gke-prod-default-pool-8f1c2a3b-x7k2",
    "gke-prod-default-pool-8f1c2a3b-q9m4",
];
const AKS_NODES: &[&str] = &[
    "aks-nodepool1-31718369-vmss000000",
    "aks-nodepool1-31718369-vmss000001",
];
const APP_SERVICE_ACCOUNTS: &[&str] = &["frontend", "cart", "checkout", "payments-api", "default"];
const APP_PODS: &[&str] = &[
    "frontend-7c9f8d6b5-x2k8p",
    "cart-5d8f7c9b6-m4q2w",
    "checkout-6b9c8d7f5-p8x2k",
    "payments-api-7f8d9c6b5-k2m8x",
];
const NODE_PODS: &str =
    "fieldSelector=spec.nodeName%3Dip-10-0-12-34.ec2.internal&limit=500&resourceVersion=0";

pub(super) const EKS: &[(Step, u32)] = &[
    (
        Step::Lease(A::EksNode1, "kube-node-lease", EKS_NODES[0]),
        60,
    ),
    (
        Step::Lease(A::EksNode2, "kube-node-lease", EKS_NODES[1]),
        60,
    ),
    (Step::NodeStatus(A::EksNode1, EKS_NODES[0]), 25),
    (Step::NodeStatus(A::EksNode2, EKS_NODES[1]), 25),
    (
        Step::Op(op(A::EksNode1, "get", &cat::NODES).names(&["ip-10-0-12-34.ec2.internal"])),
        30,
    ),
    (
        Step::Op(op(A::EksNode2, "get", &cat::NODES).names(&["ip-10-0-45-181.ec2.internal"])),
        30,
    ),
    (
        Step::Op(
            op(A::EksNode1, "get", &cat::PODS)
                .ns(APP_NAMESPACES)
                .names(APP_PODS),
        ),
        20,
    ),
    (
        Step::Token(Token {
            node: A::EksNode1,
            service_account: "aws-node",
            namespace: "kube-system",
            audience: "https://kubernetes.default.svc",
            expiration_seconds: 3607,
        }),
        8,
    ),
    // IRSA: the projected web identity token for STS lasts a day.
    (
        Step::Token(Token {
            node: A::EksNode2,
            service_account: "payments-api",
            namespace: "payments",
            audience: "sts.amazonaws.com",
            expiration_seconds: 86_400,
        }),
        8,
    ),
    // EKS Pod Identity.
    (
        Step::Token(Token {
            node: A::EksNode1,
            service_account: "loki",
            namespace: "logging",
            audience: "pods.eks.amazonaws.com",
            expiration_seconds: 86_400,
        }),
        5,
    ),
    (
        Step::Op(op(A::EksCertificateController, "list", &cat::CSRS)),
        4,
    ),
    (
        Step::Op(op(A::EksCertificateController, "watch", &cat::CSRS)),
        6,
    ),
    (Step::Do(Generator::eks_csr_approve), 8),
    (
        Step::Op(
            op(A::EksNodeManager, "get", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&["aws-auth"]),
        ),
        20,
    ),
    (Step::Op(op(A::EksNodeManager, "list", &cat::NODES)), 8),
    (
        Step::Op(op(A::EksNodeManager, "get", &cat::NODES).names(EKS_NODES)),
        8,
    ),
    (
        Step::Op(
            op(A::EksPodIdentityWebhook, "get", &cat::SERVICEACCOUNTS)
                .ns(APP_NAMESPACES)
                .names(APP_SERVICE_ACCOUNTS),
        ),
        35,
    ),
    (
        Step::Op(op(A::EksPodIdentityWebhook, "watch", &cat::SERVICEACCOUNTS)),
        4,
    ),
    (
        Step::Op(op(A::EksPodIdentityWebhook, "list", &cat::SERVICEACCOUNTS)),
        2,
    ),
    (
        Step::AddonApply(AddonApply {
            actor: A::EksAddonManager,
            namespace: "kube-system",
            name: "aws-node",
            manager: "eks",
            pod_spec: templates::AWS_NODE_POD_SPEC,
            images: &["v1.18.1-eksbuild.3", "v1.18.1-eksbuild.3"],
        }),
        3,
    ),
    (
        Step::AddonApply(AddonApply {
            actor: A::EksAddonManager,
            namespace: "kube-system",
            name: "kube-proxy",
            manager: "eks",
            pod_spec: templates::KUBE_PROXY_POD_SPEC,
            images: &[
                "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.29.3-minimal-eksbuild.2",
            ],
        }),
        2,
    ),
    (
        Step::Op(
            op(A::EksAddonManager, "patch", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&["kube-proxy-config", "coredns", "amazon-vpc-cni"])
                .query("fieldManager=eks&force=true"),
        ),
        4,
    ),
    (
        Step::Op(
            op(A::EksAddonManager, "get", &cat::DAEMONSETS)
                .ns(KUBE_SYSTEM)
                .names(&["aws-node", "kube-proxy"]),
        ),
        8,
    ),
    (
        Step::Op(
            op(A::EksAddonManager, "get", &cat::DEPLOYMENTS)
                .ns(KUBE_SYSTEM)
                .names(&["coredns"]),
        ),
        4,
    ),
    (
        Step::Op(
            op(A::EksAddonManager, "get", &cat::SERVICEACCOUNTS)
                .ns(KUBE_SYSTEM)
                .names(&["aws-node", "coredns", "kube-proxy"]),
        ),
        4,
    ),
    (
        Step::Op(op(A::EksClusterEventWatcher, "watch", &cat::EVENTS)),
        4,
    ),
    (
        Step::Op(op(A::EksClusterEventWatcher, "list", &cat::EVENTS)),
        3,
    ),
    (
        Step::Op(op(A::AwsNode, "list", &cat::PODS).query(NODE_PODS)),
        10,
    ),
    (
        Step::Op(
            op(A::AwsNode, "watch", &cat::PODS)
                .query("fieldSelector=spec.nodeName%3Dip-10-0-12-34.ec2.internal"),
        ),
        10,
    ),
    (
        Step::Op(op(A::AwsNode, "get", &cat::NODES).names(&["ip-10-0-12-34.ec2.internal"])),
        20,
    ),
    (
        Step::Op(op(A::AwsNode, "patch", &cat::NODES).names(&["ip-10-0-12-34.ec2.internal"])),
        4,
    ),
    (Step::Op(op(A::AwsNode, "list", &cat::ENICONFIGS)), 3),
    (Step::Op(op(A::AwsNode, "watch", &cat::ENICONFIGS)), 3),
    (
        Step::Lease(
            A::AwsLoadBalancerController,
            "kube-system",
            "aws-load-balancer-controller-leader",
        ),
        30,
    ),
    (
        Step::Op(op(A::AwsLoadBalancerController, "watch", &cat::INGRESSES)),
        5,
    ),
    (
        Step::Op(op(A::AwsLoadBalancerController, "list", &cat::SERVICES)),
        5,
    ),
    (
        Step::Op(op(
            A::AwsLoadBalancerController,
            "watch",
            &cat::ENDPOINTSLICES,
        )),
        5,
    ),
    (
        Step::Op(op(
            A::AwsLoadBalancerController,
            "watch",
            &cat::TARGETGROUPBINDINGS,
        )),
        5,
    ),
    (
        Step::Op(
            op(
                A::AwsLoadBalancerController,
                "patch",
                &cat::TARGETGROUPBINDINGS,
            )
            .ns(&["shop", "payments"])
            .names(&["k8s-shop-frontend-3f2a1b", "k8s-payments-api-9c8d7e"])
            .sub("status"),
        ),
        10,
    ),
    (
        Step::Op(
            op(A::AwsLoadBalancerController, "update", &cat::INGRESSES)
                .ns(&["shop"])
                .names(&["shop"])
                .sub("status"),
        ),
        3,
    ),
    (
        Step::Op(
            op(A::AwsLoadBalancerController, "get", &cat::SECRETS)
                .ns(KUBE_SYSTEM)
                .names(&["aws-load-balancer-tls"]),
        ),
        3,
    ),
    (
        Step::Lease(A::Karpenter, "karpenter", "karpenter-leader-election"),
        30,
    ),
    (Step::Op(op(A::Karpenter, "list", &cat::PODS)), 6),
    (Step::Op(op(A::Karpenter, "watch", &cat::PODS)), 6),
    (Step::Op(op(A::Karpenter, "watch", &cat::NODES)), 6),
    (Step::Op(op(A::Karpenter, "list", &cat::NODECLAIMS)), 6),
    (Step::Op(op(A::Karpenter, "watch", &cat::NODEPOOLS)), 3),
    (
        Step::Op(op(A::Karpenter, "get", &cat::EC2NODECLASSES).names(&["default"])),
        4,
    ),
    (
        Step::Op(
            op(A::Karpenter, "patch", &cat::NODECLAIMS)
                .names(&["default-x2k8p", "default-m4q7w"])
                .sub("status"),
        ),
        6,
    ),
    (
        Step::Op(op(A::Karpenter, "patch", &cat::NODES).names(EKS_NODES)),
        4,
    ),
    (Step::Op(op(A::Karpenter, "create", &cat::NODECLAIMS)), 1),
    (
        Step::Op(
            op(A::Karpenter, "create", &cat::PODS)
                .ns(APP_NAMESPACES)
                .names(APP_PODS)
                .sub("eviction"),
        ),
        2,
    ),
    (
        Step::Op(
            op(A::Karpenter, "get", &cat::SECRETS)
                .ns(&["karpenter"])
                .names(&["karpenter-cert"]),
        ),
        2,
    ),
];

pub(super) const GKE: &[(Step, u32)] = &[
    (
        Step::Lease(A::GkeNode1, "kube-node-lease", GKE_NODES[0]),
        60,
    ),
    (
        Step::Lease(A::GkeNode2, "kube-node-lease", GKE_NODES[1]),
        60,
    ),
    (Step::NodeStatus(A::GkeNode1, GKE_NODES[0]), 25),
    (Step::NodeStatus(A::GkeNode2, GKE_NODES[1]), 25),
    (
        Step::Op(
            op(A::GkeNode1, "get", &cat::NODES).names(&["gke-prod-default-pool-8f1c2a3b-x7k2"]),
        ),
        30,
    ),
    (
        Step::Op(
            op(A::GkeNode2, "get", &cat::PODS)
                .ns(APP_NAMESPACES)
                .names(APP_PODS),
        ),
        20,
    ),
    (
        Step::Token(Token {
            node: A::GkeNode1,
            service_account: "konnectivity-agent",
            namespace: "kube-system",
            audience: "system:konnectivity-server",
            expiration_seconds: 3600,
        }),
        8,
    ),
    (
        Step::Token(Token {
            node: A::GkeNode2,
            service_account: "checkout",
            namespace: "shop",
            audience: "acme-prod.svc.id.goog",
            expiration_seconds: 172_800,
        }),
        5,
    ),
    (Step::Op(op(A::GkeCommonWebhooks, "list", &cat::NODES)), 5),
    (Step::Op(op(A::GkeCommonWebhooks, "watch", &cat::PODS)), 5),
    (
        Step::Op(
            op(A::GkeCommonWebhooks, "get", &cat::MUTATINGWEBHOOKS)
                .names(&["pod-ready.config.common-webhooks.networking.gke.io"]),
        ),
        6,
    ),
    (Step::Do(Generator::gke_webhook_update), 3),
    (
        Step::Lease(
            A::GkeCommonWebhooks,
            "kube-system",
            "gke-common-webhook-lock",
        ),
        20,
    ),
    (Step::Op(op(A::GkeClusterMetrics, "list", &cat::NODES)), 10),
    (Step::Op(op(A::GkeClusterMetrics, "list", &cat::PODS)), 10),
    (
        Step::Op(op(A::GkeL7LbController, "watch", &cat::INGRESSES)),
        5,
    ),
    (
        Step::Op(op(A::GkeL7LbController, "list", &cat::SERVICES)),
        5,
    ),
    (
        Step::Op(op(A::GkeL7LbController, "watch", &cat::BACKENDCONFIGS)),
        3,
    ),
    (
        Step::Op(
            op(A::GkeL7LbController, "get", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&["ingress-uid"]),
        ),
        8,
    ),
    (
        Step::Op(
            op(A::GkeL7LbController, "get", &cat::SECRETS)
                .ns(&["shop", "payments"])
                .names(&["shop-tls", "payments-api-tls"]),
        ),
        8,
    ),
    (
        Step::Op(
            op(A::GkeL7LbController, "update", &cat::INGRESSES)
                .ns(&["shop"])
                .names(&["shop"])
                .sub("status"),
        ),
        3,
    ),
    (
        Step::Op(op(A::GkeL7LbController, "create", &cat::EVENTS).ns(&["shop"])),
        3,
    ),
    (
        Step::Lease(A::GkeL7LbController, "kube-system", "ingress-gce-lock"),
        20,
    ),
    (
        Step::Op(op(A::GkeL7LbController, "watch", &cat::MANAGEDCERTIFICATES)),
        2,
    ),
    (
        Step::AddonApply(AddonApply {
            actor: A::GkeAddonManager,
            namespace: "kube-system",
            name: "gke-metadata-server",
            manager: "kubectl-client-side-apply",
            pod_spec: templates::GKE_METADATA_SERVER_POD_SPEC,
            images: &[
                "gke.gcr.io/gke-metadata-server:gke_metadata_server_20240405.00_p0@sha256:5c4a2b0f0b1c6e4d1c2e0d6a4b8f9e1d3c7a5b9e0f2d4c6a8b0e2f4a6c8d0e2f",
            ],
        }),
        2,
    ),
    (
        Step::Op(
            op(A::GkeAddonManager, "get", &cat::DAEMONSETS)
                .ns(KUBE_SYSTEM)
                .names(&["gke-metadata-server", "netd", "fluentbit-gke", "pdcsi-node"]),
        ),
        6,
    ),
    (
        Step::Op(
            op(A::GkeAddonManager, "list", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .query("labelSelector=addonmanager.kubernetes.io%2Fmode%3DReconcile"),
        ),
        4,
    ),
    (
        Step::Op(
            op(A::GkeAddonManager, "patch", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&["kube-dns", "fluentbit-gke-config-v1.3.0"]),
        ),
        2,
    ),
    (
        Step::Op(op(A::GcpControllerManager, "watch", &cat::CSRS)),
        4,
    ),
    (Step::Do(Generator::gke_csr_approve), 6),
    (
        Step::Op(op(A::GcpControllerManager, "list", &cat::NODES)),
        4,
    ),
    (
        Step::Op(
            op(A::GcpControllerManager, "get", &cat::SERVICEACCOUNTS)
                .ns(APP_NAMESPACES)
                .names(APP_SERVICE_ACCOUNTS),
        ),
        6,
    ),
    (
        Step::Lease(
            A::GcpControllerManager,
            "kube-system",
            "gcp-controller-manager",
        ),
        20,
    ),
    (Step::Op(op(A::GkeClusterAutoscaler, "list", &cat::PODS)), 5),
    (
        Step::Op(op(A::GkeClusterAutoscaler, "watch", &cat::NODES)),
        5,
    ),
    (Step::Op(op(A::GkeClusterAutoscaler, "list", &cat::PDBS)), 3),
    (
        Step::Op(
            op(A::GkeClusterAutoscaler, "update", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&["cluster-autoscaler-status"]),
        ),
        10,
    ),
    (
        Step::Lease(A::GkeClusterAutoscaler, "kube-system", "cluster-autoscaler"),
        20,
    ),
    (
        Step::Op(
            op(A::GkeMetadataServer, "watch", &cat::PODS)
                .query("fieldSelector=spec.nodeName%3Dgke-prod-default-pool-8f1c2a3b-x7k2"),
        ),
        5,
    ),
    (
        Step::Op(
            op(A::GkeMetadataServer, "get", &cat::SERVICEACCOUNTS)
                .ns(APP_NAMESPACES)
                .names(APP_SERVICE_ACCOUNTS),
        ),
        15,
    ),
];

pub(super) const AKS: &[(Step, u32)] = &[
    (
        Step::Lease(A::AksNode1, "kube-node-lease", AKS_NODES[0]),
        60,
    ),
    (
        Step::Lease(A::AksNode2, "kube-node-lease", AKS_NODES[1]),
        60,
    ),
    (Step::NodeStatus(A::AksNode1, AKS_NODES[0]), 25),
    (Step::NodeStatus(A::AksNode2, AKS_NODES[1]), 25),
    (
        Step::Op(op(A::AksNode1, "get", &cat::NODES).names(&["aks-nodepool1-31718369-vmss000000"])),
        30,
    ),
    (
        Step::Op(
            op(A::AksNode2, "get", &cat::PODS)
                .ns(APP_NAMESPACES)
                .names(APP_PODS),
        ),
        20,
    ),
    (
        Step::Token(Token {
            node: A::AksNode1,
            service_account: "konnectivity-agent",
            namespace: "kube-system",
            audience: "system:konnectivity-server",
            expiration_seconds: 3600,
        }),
        8,
    ),
    // Microsoft Entra Workload ID: the federated token for Entra.
    (
        Step::Token(Token {
            node: A::AksNode2,
            service_account: "payments-api",
            namespace: "payments",
            audience: "api://AzureADTokenExchange",
            expiration_seconds: 3600,
        }),
        5,
    ),
    (
        Step::Op(op(A::AksService, "get", &cat::NODES).names(AKS_NODES)),
        12,
    ),
    (
        Step::Op(op(A::AksService, "list", &cat::NODES).query("limit=500")),
        6,
    ),
    (
        Step::Op(op(A::AksService, "patch", &cat::NODES).names(AKS_NODES)),
        4,
    ),
    (
        Step::Op(op(A::AksService, "get", &cat::NAMESPACES).names(&["kube-system", "default"])),
        6,
    ),
    (
        Step::Op(
            op(A::AksService, "get", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&[
                    "coredns-custom",
                    "cluster-autoscaler-status",
                    "overlay-upgrade-data",
                ]),
        ),
        8,
    ),
    (
        Step::Op(
            op(A::AksService, "get", &cat::DEPLOYMENTS)
                .ns(KUBE_SYSTEM)
                .names(&["coredns", "metrics-server", "konnectivity-agent"]),
        ),
        8,
    ),
    (
        Step::Op(
            op(A::AksService, "list", &cat::PODS)
                .ns(KUBE_SYSTEM)
                .query("limit=500"),
        ),
        4,
    ),
    (
        Step::AddonApply(AddonApply {
            actor: A::AksMasterClient,
            namespace: "kube-system",
            name: "cloud-node-manager",
            manager: "kubectl-client-side-apply",
            pod_spec: templates::CLOUD_NODE_MANAGER_POD_SPEC,
            images: &["mcr.microsoft.com/oss/kubernetes/azure-cloud-node-manager:v1.29.4"],
        }),
        2,
    ),
    (
        Step::AddonApply(AddonApply {
            actor: A::AksMasterClient,
            namespace: "kube-system",
            name: "kube-proxy",
            manager: "kubectl-client-side-apply",
            pod_spec: templates::KUBE_PROXY_POD_SPEC,
            images: &["mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.29.4-hotfix.20240501"],
        }),
        2,
    ),
    (
        Step::AddonApply(AddonApply {
            actor: A::AksMasterClient,
            namespace: "kube-system",
            name: "azure-ip-masq-agent",
            manager: "kubectl-client-side-apply",
            pod_spec: templates::IP_MASQ_AGENT_POD_SPEC,
            images: &["mcr.microsoft.com/aks/ip-masq-agent-v2:v0.1.11"],
        }),
        1,
    ),
    (
        Step::Op(
            op(A::AksMasterClient, "get", &cat::DAEMONSETS)
                .ns(KUBE_SYSTEM)
                .names(&[
                    "kube-proxy",
                    "cloud-node-manager",
                    "azure-ip-masq-agent",
                    "csi-azuredisk-node",
                ]),
        ),
        10,
    ),
    (
        Step::Op(
            op(A::AksMasterClient, "get", &cat::DEPLOYMENTS)
                .ns(KUBE_SYSTEM)
                .names(&["coredns", "metrics-server", "konnectivity-agent"]),
        ),
        8,
    ),
    (
        Step::Op(
            op(A::AksMasterClient, "get", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&[
                    "azure-ip-masq-agent-config-reconciled",
                    "coredns",
                    "konnectivity-agent-autoscaler",
                ]),
        ),
        8,
    ),
    (
        Step::Op(
            op(A::AksMasterClient, "patch", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&[
                    "azure-ip-masq-agent-config-reconciled",
                    "konnectivity-agent-autoscaler",
                ]),
        ),
        3,
    ),
    (
        Step::Op(
            op(A::AksMasterClient, "get", &cat::SERVICEACCOUNTS)
                .ns(KUBE_SYSTEM)
                .names(&["konnectivity-agent", "cloud-node-manager", "coredns"]),
        ),
        6,
    ),
    (
        Step::Op(
            op(A::AksCloudNodeManager, "get", &cat::NODES)
                .names(&["aks-nodepool1-31718369-vmss000000"]),
        ),
        25,
    ),
    (
        Step::Op(
            op(A::AksCloudNodeManager, "patch", &cat::NODES)
                .names(&["aks-nodepool1-31718369-vmss000000"])
                .sub("status"),
        ),
        8,
    ),
    (
        Step::Op(
            op(A::AksCloudNodeManager, "watch", &cat::NODES)
                .query("fieldSelector=metadata.name%3Daks-nodepool1-31718369-vmss000000"),
        ),
        4,
    ),
    (
        Step::Lease(
            A::ControllerManager,
            "kube-system",
            "cloud-controller-manager",
        ),
        15,
    ),
];

impl Generator {
    fn eks_csr_approve(&mut self, buf: &mut Vec<u8>) {
        self.approve_csr(
            buf,
            A::EksCertificateController,
            EKS_NODES,
            "AutoApproved",
            "Auto approving self kubelet server certificate after SubjectAccessReview.",
        );
    }

    fn gke_csr_approve(&mut self, buf: &mut Vec<u8>) {
        self.approve_csr(
            buf,
            A::GcpControllerManager,
            GKE_NODES,
            "AutoApproved",
            "Auto approving kubelet serving certificate after SubjectAccessReview.",
        );
    }

    fn gke_webhook_update(&mut self, buf: &mut Vec<u8>) {
        self.write_webhook_configuration(
            buf,
            A::GkeCommonWebhooks,
            "update",
            "MutatingWebhookConfiguration",
            "pod-ready.config.common-webhooks.networking.gke.io",
            "pod-ready.common-webhooks.networking.gke.io",
            ("kube-system", "gke-common-webhooks", "/pod-ready"),
            "Ignore",
            "gke-common-webhooks",
        );
    }
}
