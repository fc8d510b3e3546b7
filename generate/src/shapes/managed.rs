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
        1200,
    ),
    (
        Step::Lease(A::EksNode2, "kube-node-lease", EKS_NODES[1]),
        1200,
    ),
    (Step::NodeStatus(A::EksNode1, EKS_NODES[0]), 500),
    (Step::NodeStatus(A::EksNode2, EKS_NODES[1]), 500),
    (
        Step::Op(op(A::EksNode1, "get", &cat::NODES).names(&["ip-10-0-12-34.ec2.internal"])),
        600,
    ),
    (
        Step::Op(op(A::EksNode2, "get", &cat::NODES).names(&["ip-10-0-45-181.ec2.internal"])),
        600,
    ),
    (
        Step::Op(
            op(A::EksNode1, "get", &cat::PODS)
                .ns(APP_NAMESPACES)
                .names(APP_PODS),
        ),
        400,
    ),
    (
        Step::Token(Token {
            node: A::EksNode1,
            service_account: "aws-node",
            namespace: "kube-system",
            audience: "https://kubernetes.default.svc",
            expiration_seconds: 3607,
        }),
        160,
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
        160,
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
        100,
    ),
    (
        Step::Op(op(A::EksCertificateController, "list", &cat::CSRS)),
        80,
    ),
    (
        Step::Op(op(A::EksCertificateController, "watch", &cat::CSRS)),
        120,
    ),
    (Step::Do(Generator::eks_csr_approve), 2),
    (
        Step::Op(
            op(A::EksNodeManager, "get", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&["aws-auth"]),
        ),
        400,
    ),
    (Step::Op(op(A::EksNodeManager, "list", &cat::NODES)), 160),
    (
        Step::Op(op(A::EksNodeManager, "get", &cat::NODES).names(EKS_NODES)),
        160,
    ),
    (
        Step::Op(
            op(A::EksPodIdentityWebhook, "get", &cat::SERVICEACCOUNTS)
                .ns(APP_NAMESPACES)
                .names(APP_SERVICE_ACCOUNTS),
        ),
        700,
    ),
    (
        Step::Op(op(A::EksPodIdentityWebhook, "watch", &cat::SERVICEACCOUNTS)),
        80,
    ),
    (
        Step::Op(op(A::EksPodIdentityWebhook, "list", &cat::SERVICEACCOUNTS)),
        40,
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
        1,
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
        1,
    ),
    (
        Step::Op(
            op(A::EksAddonManager, "patch", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&["kube-proxy-config", "coredns", "amazon-vpc-cni"])
                .query("fieldManager=eks&force=true"),
        ),
        2,
    ),
    (
        Step::Op(
            op(A::EksAddonManager, "get", &cat::DAEMONSETS)
                .ns(KUBE_SYSTEM)
                .names(&["aws-node", "kube-proxy"]),
        ),
        160,
    ),
    (
        Step::Op(
            op(A::EksAddonManager, "get", &cat::DEPLOYMENTS)
                .ns(KUBE_SYSTEM)
                .names(&["coredns"]),
        ),
        80,
    ),
    (
        Step::Op(
            op(A::EksAddonManager, "get", &cat::SERVICEACCOUNTS)
                .ns(KUBE_SYSTEM)
                .names(&["aws-node", "coredns", "kube-proxy"]),
        ),
        80,
    ),
    (
        Step::Op(op(A::EksClusterEventWatcher, "watch", &cat::EVENTS)),
        80,
    ),
    (
        Step::Op(op(A::EksClusterEventWatcher, "list", &cat::EVENTS)),
        60,
    ),
    (
        Step::Op(op(A::AwsNode, "list", &cat::PODS).query(NODE_PODS)),
        200,
    ),
    (
        Step::Op(
            op(A::AwsNode, "watch", &cat::PODS)
                .query("fieldSelector=spec.nodeName%3Dip-10-0-12-34.ec2.internal"),
        ),
        200,
    ),
    (
        Step::Op(op(A::AwsNode, "get", &cat::NODES).names(&["ip-10-0-12-34.ec2.internal"])),
        400,
    ),
    (
        Step::Op(op(A::AwsNode, "patch", &cat::NODES).names(&["ip-10-0-12-34.ec2.internal"])),
        80,
    ),
    (Step::Op(op(A::AwsNode, "list", &cat::ENICONFIGS)), 60),
    (Step::Op(op(A::AwsNode, "watch", &cat::ENICONFIGS)), 60),
    (
        Step::Lease(
            A::AwsLoadBalancerController,
            "kube-system",
            "aws-load-balancer-controller-leader",
        ),
        600,
    ),
    (
        Step::Op(op(A::AwsLoadBalancerController, "watch", &cat::INGRESSES)),
        100,
    ),
    (
        Step::Op(op(A::AwsLoadBalancerController, "list", &cat::SERVICES)),
        100,
    ),
    (
        Step::Op(op(
            A::AwsLoadBalancerController,
            "watch",
            &cat::ENDPOINTSLICES,
        )),
        100,
    ),
    (
        Step::Op(op(
            A::AwsLoadBalancerController,
            "watch",
            &cat::TARGETGROUPBINDINGS,
        )),
        100,
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
        200,
    ),
    (
        Step::Op(
            op(A::AwsLoadBalancerController, "update", &cat::INGRESSES)
                .ns(&["shop"])
                .names(&["shop"])
                .sub("status"),
        ),
        60,
    ),
    (
        Step::Op(
            op(A::AwsLoadBalancerController, "get", &cat::SECRETS)
                .ns(KUBE_SYSTEM)
                .names(&["aws-load-balancer-tls"]),
        ),
        60,
    ),
    (
        Step::Lease(A::Karpenter, "karpenter", "karpenter-leader-election"),
        600,
    ),
    (Step::Op(op(A::Karpenter, "list", &cat::PODS)), 120),
    (Step::Op(op(A::Karpenter, "watch", &cat::PODS)), 120),
    (Step::Op(op(A::Karpenter, "watch", &cat::NODES)), 120),
    (Step::Op(op(A::Karpenter, "list", &cat::NODECLAIMS)), 120),
    (Step::Op(op(A::Karpenter, "watch", &cat::NODEPOOLS)), 60),
    (
        Step::Op(op(A::Karpenter, "get", &cat::EC2NODECLASSES).names(&["default"])),
        80,
    ),
    (
        Step::Op(
            op(A::Karpenter, "patch", &cat::NODECLAIMS)
                .names(&["default-x2k8p", "default-m4q7w"])
                .sub("status"),
        ),
        120,
    ),
    (
        Step::Op(op(A::Karpenter, "patch", &cat::NODES).names(EKS_NODES)),
        80,
    ),
    (Step::Op(op(A::Karpenter, "create", &cat::NODECLAIMS)), 2),
    (
        Step::Op(
            op(A::Karpenter, "create", &cat::PODS)
                .ns(APP_NAMESPACES)
                .names(APP_PODS)
                .sub("eviction"),
        ),
        3,
    ),
    (
        Step::Op(
            op(A::Karpenter, "get", &cat::SECRETS)
                .ns(&["karpenter"])
                .names(&["karpenter-cert"]),
        ),
        40,
    ),
];

pub(super) const GKE: &[(Step, u32)] = &[
    (
        Step::Lease(A::GkeNode1, "kube-node-lease", GKE_NODES[0]),
        1200,
    ),
    (
        Step::Lease(A::GkeNode2, "kube-node-lease", GKE_NODES[1]),
        1200,
    ),
    (Step::NodeStatus(A::GkeNode1, GKE_NODES[0]), 500),
    (Step::NodeStatus(A::GkeNode2, GKE_NODES[1]), 500),
    (
        Step::Op(
            op(A::GkeNode1, "get", &cat::NODES).names(&["gke-prod-default-pool-8f1c2a3b-x7k2"]),
        ),
        600,
    ),
    (
        Step::Op(
            op(A::GkeNode2, "get", &cat::PODS)
                .ns(APP_NAMESPACES)
                .names(APP_PODS),
        ),
        400,
    ),
    (
        Step::Token(Token {
            node: A::GkeNode1,
            service_account: "konnectivity-agent",
            namespace: "kube-system",
            audience: "system:konnectivity-server",
            expiration_seconds: 3600,
        }),
        160,
    ),
    (
        Step::Token(Token {
            node: A::GkeNode2,
            service_account: "checkout",
            namespace: "shop",
            audience: "acme-prod.svc.id.goog",
            expiration_seconds: 172_800,
        }),
        100,
    ),
    (Step::Op(op(A::GkeCommonWebhooks, "list", &cat::NODES)), 100),
    (Step::Op(op(A::GkeCommonWebhooks, "watch", &cat::PODS)), 100),
    (
        Step::Op(
            op(A::GkeCommonWebhooks, "get", &cat::MUTATINGWEBHOOKS)
                .names(&["pod-ready.config.common-webhooks.networking.gke.io"]),
        ),
        120,
    ),
    (Step::Do(Generator::gke_webhook_update), 2),
    (
        Step::Lease(
            A::GkeCommonWebhooks,
            "kube-system",
            "gke-common-webhook-lock",
        ),
        400,
    ),
    (Step::Op(op(A::GkeClusterMetrics, "list", &cat::NODES)), 200),
    (Step::Op(op(A::GkeClusterMetrics, "list", &cat::PODS)), 200),
    (
        Step::Op(op(A::GkeL7LbController, "watch", &cat::INGRESSES)),
        100,
    ),
    (
        Step::Op(op(A::GkeL7LbController, "list", &cat::SERVICES)),
        100,
    ),
    (
        Step::Op(op(A::GkeL7LbController, "watch", &cat::BACKENDCONFIGS)),
        60,
    ),
    (
        Step::Op(
            op(A::GkeL7LbController, "get", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&["ingress-uid"]),
        ),
        160,
    ),
    (
        Step::Op(
            op(A::GkeL7LbController, "get", &cat::SECRETS)
                .ns(&["shop", "payments"])
                .names(&["shop-tls", "payments-api-tls"]),
        ),
        160,
    ),
    (
        Step::Op(
            op(A::GkeL7LbController, "update", &cat::INGRESSES)
                .ns(&["shop"])
                .names(&["shop"])
                .sub("status"),
        ),
        60,
    ),
    (
        Step::Op(op(A::GkeL7LbController, "create", &cat::EVENTS).ns(&["shop"])),
        60,
    ),
    (
        Step::Lease(A::GkeL7LbController, "kube-system", "ingress-gce-lock"),
        400,
    ),
    (
        Step::Op(op(A::GkeL7LbController, "watch", &cat::MANAGEDCERTIFICATES)),
        40,
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
        1,
    ),
    (
        Step::Op(
            op(A::GkeAddonManager, "get", &cat::DAEMONSETS)
                .ns(KUBE_SYSTEM)
                .names(&["gke-metadata-server", "netd", "fluentbit-gke", "pdcsi-node"]),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::GkeAddonManager, "list", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .query("labelSelector=addonmanager.kubernetes.io%2Fmode%3DReconcile"),
        ),
        80,
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
        80,
    ),
    (Step::Do(Generator::gke_csr_approve), 2),
    (
        Step::Op(op(A::GcpControllerManager, "list", &cat::NODES)),
        80,
    ),
    (
        Step::Op(
            op(A::GcpControllerManager, "get", &cat::SERVICEACCOUNTS)
                .ns(APP_NAMESPACES)
                .names(APP_SERVICE_ACCOUNTS),
        ),
        120,
    ),
    (
        Step::Lease(
            A::GcpControllerManager,
            "kube-system",
            "gcp-controller-manager",
        ),
        400,
    ),
    (
        Step::Op(op(A::GkeClusterAutoscaler, "list", &cat::PODS)),
        100,
    ),
    (
        Step::Op(op(A::GkeClusterAutoscaler, "watch", &cat::NODES)),
        100,
    ),
    (
        Step::Op(op(A::GkeClusterAutoscaler, "list", &cat::PDBS)),
        60,
    ),
    (
        Step::Op(
            op(A::GkeClusterAutoscaler, "update", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&["cluster-autoscaler-status"]),
        ),
        200,
    ),
    (
        Step::Lease(A::GkeClusterAutoscaler, "kube-system", "cluster-autoscaler"),
        400,
    ),
    (
        Step::Op(
            op(A::GkeMetadataServer, "watch", &cat::PODS)
                .query("fieldSelector=spec.nodeName%3Dgke-prod-default-pool-8f1c2a3b-x7k2"),
        ),
        100,
    ),
    (
        Step::Op(
            op(A::GkeMetadataServer, "get", &cat::SERVICEACCOUNTS)
                .ns(APP_NAMESPACES)
                .names(APP_SERVICE_ACCOUNTS),
        ),
        300,
    ),
];

pub(super) const AKS: &[(Step, u32)] = &[
    (
        Step::Lease(A::AksNode1, "kube-node-lease", AKS_NODES[0]),
        1200,
    ),
    (
        Step::Lease(A::AksNode2, "kube-node-lease", AKS_NODES[1]),
        1200,
    ),
    (Step::NodeStatus(A::AksNode1, AKS_NODES[0]), 500),
    (Step::NodeStatus(A::AksNode2, AKS_NODES[1]), 500),
    (
        Step::Op(op(A::AksNode1, "get", &cat::NODES).names(&["aks-nodepool1-31718369-vmss000000"])),
        600,
    ),
    (
        Step::Op(
            op(A::AksNode2, "get", &cat::PODS)
                .ns(APP_NAMESPACES)
                .names(APP_PODS),
        ),
        400,
    ),
    (
        Step::Token(Token {
            node: A::AksNode1,
            service_account: "konnectivity-agent",
            namespace: "kube-system",
            audience: "system:konnectivity-server",
            expiration_seconds: 3600,
        }),
        160,
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
        100,
    ),
    (
        Step::Op(op(A::AksService, "get", &cat::NODES).names(AKS_NODES)),
        240,
    ),
    (
        Step::Op(op(A::AksService, "list", &cat::NODES).query("limit=500")),
        120,
    ),
    (
        Step::Op(op(A::AksService, "patch", &cat::NODES).names(AKS_NODES)),
        5,
    ),
    (
        Step::Op(op(A::AksService, "get", &cat::NAMESPACES).names(&["kube-system", "default"])),
        120,
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
        160,
    ),
    (
        Step::Op(
            op(A::AksService, "get", &cat::DEPLOYMENTS)
                .ns(KUBE_SYSTEM)
                .names(&["coredns", "metrics-server", "konnectivity-agent"]),
        ),
        160,
    ),
    (
        Step::Op(
            op(A::AksService, "list", &cat::PODS)
                .ns(KUBE_SYSTEM)
                .query("limit=500"),
        ),
        80,
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
        1,
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
        1,
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
        200,
    ),
    (
        Step::Op(
            op(A::AksMasterClient, "get", &cat::DEPLOYMENTS)
                .ns(KUBE_SYSTEM)
                .names(&["coredns", "metrics-server", "konnectivity-agent"]),
        ),
        160,
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
        160,
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
        2,
    ),
    (
        Step::Op(
            op(A::AksMasterClient, "get", &cat::SERVICEACCOUNTS)
                .ns(KUBE_SYSTEM)
                .names(&["konnectivity-agent", "cloud-node-manager", "coredns"]),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::AksCloudNodeManager, "get", &cat::NODES)
                .names(&["aks-nodepool1-31718369-vmss000000"]),
        ),
        500,
    ),
    (
        Step::Op(
            op(A::AksCloudNodeManager, "patch", &cat::NODES)
                .names(&["aks-nodepool1-31718369-vmss000000"])
                .sub("status"),
        ),
        160,
    ),
    (
        Step::Op(
            op(A::AksCloudNodeManager, "watch", &cat::NODES)
                .query("fieldSelector=metadata.name%3Daks-nodepool1-31718369-vmss000000"),
        ),
        80,
    ),
    (
        Step::Lease(
            A::ControllerManager,
            "kube-system",
            "cloud-controller-manager",
        ),
        300,
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
