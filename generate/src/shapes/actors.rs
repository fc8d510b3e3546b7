//! The identities of the cluster shapes, indexed by [`A`] after the base cast of [`ACTORS`](crate::catalog::ACTORS).
//!
//! User names, groups and user agents are as these components present themselves in real audit
//! logs; control planes of managed clusters and pods talk from private addresses, host-network
//! pods from their node's address (public in the OpenShift and public-node shapes).

use crate::catalog::{A, ActorDef, ActorKind, Credential, NODE_GROUPS, SA_GROUPS_KUBE_SYSTEM};

/// A kubelet: `system:node:<name>` with its client certificate.
macro_rules! node {
    ($id:ident, $name:literal, $ip:literal, $ua:expr) => {
        ActorDef {
            id: A::$id,
            username: concat!("system:node:", $name),
            groups: NODE_GROUPS,
            credential: Credential::X509,
            user_agent: $ua,
            source_ip: $ip,
            reason: "",
            kind: ActorKind::Node,
        }
    };
}

/// A platform user with a client certificate, bound by a ClusterRoleBinding of its own name.
macro_rules! platform {
    ($id:ident, $user:literal, $groups:expr, $ua:literal, $ip:literal, $role:literal) => {
        ActorDef {
            id: A::$id,
            username: $user,
            groups: $groups,
            credential: Credential::X509,
            user_agent: $ua,
            source_ip: $ip,
            reason: concat!(
                "RBAC: allowed by ClusterRoleBinding \"",
                $role,
                "\" of ClusterRole \"",
                $role,
                "\" to User \"",
                $user,
                "\""
            ),
            kind: ActorKind::ControlPlane,
        }
    };
}

/// A pod's service account: `system:serviceaccount:<ns>:<name>` with a bound token.
macro_rules! sa {
    ($id:ident, $ns:literal, $name:literal, $kind:ident, $pod:literal, $node:literal, $ip:literal, $ua:literal, $role:literal) => {
        crate::catalog::pod_service_account!(
            $id,
            $ns,
            $name,
            &[
                "system:serviceaccounts",
                concat!("system:serviceaccounts:", $ns),
                "system:authenticated",
            ],
            $kind,
            $pod,
            $node,
            $ip,
            $ua,
            $role
        )
    };
}

const AUTHENTICATED: &[&str] = &["system:authenticated"];
const MASTERS: &[&str] = &["system:masters", "system:authenticated"];
const EKS_KUBELET: &str = "kubelet/v1.29.3-eks-ae9a62a (linux/amd64) kubernetes/e5b8d74";
const GKE_KUBELET: &str = "kubelet/v1.29.4-gke.1043002 (linux/amd64) kubernetes/4e8df5f";
const AKS_KUBELET: &str = "kubelet/v1.29.4 (linux/amd64) kubernetes/55019c8";
const OCP_KUBELET: &str = "kubelet/v1.28.9+2f7b992 (linux/amd64) kubernetes/2f7b992";
const PUBLIC_KUBELET: &str = "kubelet/v1.30.2 (linux/amd64) kubernetes/3968350";

pub(crate) const SHAPE_ACTORS: &[ActorDef] = &[
    // --- Managed EKS -------------------------------------------------------------------
    node!(
        EksNode1,
        "ip-10-0-12-34.ec2.internal",
        "10.0.12.34",
        EKS_KUBELET
    ),
    node!(
        EksNode2,
        "ip-10-0-45-181.ec2.internal",
        "10.0.45.181",
        EKS_KUBELET
    ),
    platform!(
        EksCertificateController,
        "eks:certificate-controller",
        AUTHENTICATED,
        "eks-certificates-controller/v0.0.0 (linux/amd64) kubernetes/$Format",
        "10.0.115.20",
        "eks:certificate-controller"
    ),
    platform!(
        EksNodeManager,
        "eks:node-manager",
        AUTHENTICATED,
        "eks-node-manager/v0.0.0 (linux/amd64) kubernetes/$Format",
        "10.0.115.20",
        "eks:node-manager"
    ),
    platform!(
        EksPodIdentityWebhook,
        "eks:pod-identity-mutating-webhook",
        AUTHENTICATED,
        "amazon-eks-pod-identity-webhook/v0.0.0 (linux/amd64) kubernetes/$Format",
        "10.0.115.20",
        "eks:podidentitymutatingwebhook"
    ),
    platform!(
        EksAddonManager,
        "eks:addon-manager",
        AUTHENTICATED,
        "eks-addon-manager/v0.0.0 (linux/amd64) kubernetes/$Format",
        "10.0.115.20",
        "eks:addon-manager"
    ),
    platform!(
        EksClusterEventWatcher,
        "eks:cluster-event-watcher",
        AUTHENTICATED,
        "eks-cluster-event-watcher/v0.0.0 (linux/amd64) kubernetes/$Format",
        "10.0.115.20",
        "eks:cluster-event-watcher"
    ),
    sa!(
        AwsNode,
        "kube-system",
        "aws-node",
        SystemServiceAccount,
        "aws-node-7xk2p",
        "ip-10-0-12-34.ec2.internal",
        "10.0.12.34",
        "aws-node/v1.18.1 (linux/amd64) kubernetes/$Format",
        "aws-node"
    ),
    sa!(
        AwsLoadBalancerController,
        "kube-system",
        "aws-load-balancer-controller",
        SystemServiceAccount,
        "aws-load-balancer-controller-5f8d9c7b6-q2w8r",
        "ip-10-0-45-181.ec2.internal",
        "10.0.44.17",
        "controller/v0.0.0 (linux/amd64) kubernetes/$Format",
        "aws-load-balancer-controller-role"
    ),
    sa!(
        Karpenter,
        "karpenter",
        "karpenter",
        AppServiceAccount,
        "karpenter-6b9f8d7c5-m8k2v",
        "ip-10-0-12-34.ec2.internal",
        "10.0.21.88",
        "karpenter/v1.0.6 (linux/amd64) kubernetes/$Format",
        "karpenter-core"
    ),
    // --- GKE -------------------------------------------------------------------------
    node!(
        GkeNode1,
        "gke-prod-default-pool-8f1c2a3b-x7k2",
        "10.128.0.14",
        GKE_KUBELET
    ),
    node!(
        GkeNode2,
        "gke-prod-default-pool-8f1c2a3b-q9m4",
        "10.128.0.15",
        GKE_KUBELET
    ),
    platform!(
        GkeCommonWebhooks,
        "system:gke-common-webhooks",
        AUTHENTICATED,
        "gke-common-webhooks/v0.0.0 (linux/amd64) kubernetes/$Format",
        "172.16.0.2",
        "system:gke-common-webhooks"
    ),
    platform!(
        GkeClusterMetrics,
        "system:clustermetrics",
        AUTHENTICATED,
        "clustermetrics/v0.0.0 (linux/amd64) kubernetes/$Format",
        "172.16.0.2",
        "system:clustermetrics"
    ),
    platform!(
        GkeL7LbController,
        "system:l7-lb-controller",
        AUTHENTICATED,
        "glbc/v0.0.0 (linux/amd64) kubernetes/$Format",
        "172.16.0.2",
        "system:controller:glbc"
    ),
    platform!(
        GkeAddonManager,
        "system:addon-manager",
        AUTHENTICATED,
        "kubectl/v1.29.4 (linux/amd64) kubernetes/4e8df5f",
        "172.16.0.2",
        "system:addon-manager"
    ),
    platform!(
        GcpControllerManager,
        "system:gcp-controller-manager",
        AUTHENTICATED,
        "gcp-controller-manager/v0.0.0 (linux/amd64) kubernetes/$Format",
        "172.16.0.2",
        "system:gcp-controller-manager"
    ),
    platform!(
        GkeClusterAutoscaler,
        "system:cluster-autoscaler",
        AUTHENTICATED,
        "cluster-autoscaler/v1.29.2-gke.100 (linux/amd64) kubernetes/$Format",
        "172.16.0.2",
        "cluster-autoscaler"
    ),
    sa!(
        GkeMetadataServer,
        "kube-system",
        "gke-metadata-server",
        SystemServiceAccount,
        "gke-metadata-server-4xk8p",
        "gke-prod-default-pool-8f1c2a3b-x7k2",
        "10.128.0.14",
        "gke-metadata-server/v0.0.0 (linux/amd64) kubernetes/$Format",
        "gke-metadata-server"
    ),
    // --- AKS -------------------------------------------------------------------------
    node!(
        AksNode1,
        "aks-nodepool1-31718369-vmss000000",
        "10.224.0.4",
        AKS_KUBELET
    ),
    node!(
        AksNode2,
        "aks-nodepool1-31718369-vmss000001",
        "10.224.0.5",
        AKS_KUBELET
    ),
    platform!(
        AksService,
        "aksService",
        MASTERS,
        "Go-http-client/2.0",
        "172.31.12.3",
        "aks-service-rolebinding"
    ),
    platform!(
        AksMasterClient,
        "masterclient",
        MASTERS,
        "kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8",
        "172.31.12.3",
        "cluster-admin"
    ),
    sa!(
        AksCloudNodeManager,
        "kube-system",
        "cloud-node-manager",
        SystemServiceAccount,
        "cloud-node-manager-8d2xq",
        "aks-nodepool1-31718369-vmss000000",
        "10.224.0.4",
        "cloud-node-manager/v1.29.4 (linux/amd64) kubernetes/$Format",
        "cloud-node-manager"
    ),
    // --- OpenShift (bare metal, machine network on public addresses) ------------------
    node!(
        OcpMaster,
        "master-0.ocp.example.com",
        "147.28.145.10",
        OCP_KUBELET
    ),
    node!(
        OcpWorker,
        "worker-0.ocp.example.com",
        "147.28.145.20",
        OCP_KUBELET
    ),
    sa!(
        OcpKubeApiserverOperator,
        "openshift-kube-apiserver-operator",
        "kube-apiserver-operator",
        AppServiceAccount,
        "kube-apiserver-operator-7c9d8f6b5-xk2pq",
        "master-0.ocp.example.com",
        "10.128.0.23",
        "cluster-kube-apiserver-operator/v0.0.0 (linux/amd64) kubernetes/$Format",
        "system:openshift:operator:kube-apiserver-operator"
    ),
    sa!(
        OcpAuthenticationOperator,
        "openshift-authentication-operator",
        "authentication-operator",
        AppServiceAccount,
        "authentication-operator-5f7b8c9d6-m2x8k",
        "master-0.ocp.example.com",
        "10.128.0.31",
        "authentication-operator/v0.0.0 (linux/amd64) kubernetes/$Format",
        "system:openshift:operator:authentication"
    ),
    sa!(
        OcpEtcdOperator,
        "openshift-etcd-operator",
        "etcd-operator",
        AppServiceAccount,
        "etcd-operator-6d8c7b9f5-p4q7w",
        "master-0.ocp.example.com",
        "10.128.0.17",
        "cluster-etcd-operator/v0.0.0 (linux/amd64) kubernetes/$Format",
        "system:openshift:operator:etcd-operator"
    ),
    sa!(
        OcpMachineConfigOperator,
        "openshift-machine-config-operator",
        "machine-config-operator",
        AppServiceAccount,
        "machine-config-operator-7b6c5d8f9-v8n2x",
        "master-0.ocp.example.com",
        "10.128.0.40",
        "machine-config-operator/v0.0.0 (linux/amd64) kubernetes/$Format",
        "custom-account-openshift-machine-config-operator"
    ),
    sa!(
        OcpMachineConfigDaemon,
        "openshift-machine-config-operator",
        "machine-config-daemon",
        AppServiceAccount,
        "machine-config-daemon-x9k2m",
        "worker-0.ocp.example.com",
        "147.28.145.20",
        "machine-config-daemon/v0.0.0 (linux/amd64) kubernetes/$Format",
        "machine-config-daemon"
    ),
    sa!(
        OcpNetworkOperator,
        "openshift-network-operator",
        "cluster-network-operator",
        AppServiceAccount,
        "network-operator-5c8d7f6b9-k7x2p",
        "master-0.ocp.example.com",
        "147.28.145.10",
        "cluster-network-operator/v0.0.0 (linux/amd64) kubernetes/$Format",
        "cluster-network-operator"
    ),
    sa!(
        OcpClusterVersionOperator,
        "openshift-cluster-version",
        "default",
        AppServiceAccount,
        "cluster-version-operator-6f9c8d7b5-t2w8q",
        "master-0.ocp.example.com",
        "147.28.145.10",
        "cluster-version-operator/v0.0.0 (linux/amd64) kubernetes/$Format",
        "cluster-version-operator"
    ),
    sa!(
        OcpIngressOperator,
        "openshift-ingress-operator",
        "ingress-operator",
        AppServiceAccount,
        "ingress-operator-8c7d6f5b9-r4m2x",
        "master-0.ocp.example.com",
        "10.128.0.52",
        "ingress-operator/v0.0.0 (linux/amd64) kubernetes/$Format",
        "openshift-ingress-operator"
    ),
    sa!(
        OcpCloudCredentialOperator,
        "openshift-cloud-credential-operator",
        "cloud-credential-operator",
        AppServiceAccount,
        "cloud-credential-operator-7d9b8c6f5-w8x2k",
        "master-0.ocp.example.com",
        "10.128.0.61",
        "cloud-credential-operator/v0.0.0 (linux/amd64) kubernetes/$Format",
        "cloud-credential-operator-role"
    ),
    sa!(
        OcpOauthServer,
        "openshift-authentication",
        "oauth-openshift",
        AppServiceAccount,
        "oauth-openshift-6b8c9d7f5-h2k8m",
        "master-0.ocp.example.com",
        "10.128.0.70",
        "oauth-server/v0.0.0 (linux/amd64) kubernetes/$Format",
        "system:openshift:openshift-authentication"
    ),
    sa!(
        OcpOvnkubeNode,
        "openshift-ovn-kubernetes",
        "ovn-kubernetes-node",
        AppServiceAccount,
        "ovnkube-node-p8x2k",
        "worker-0.ocp.example.com",
        "147.28.145.20",
        "ovnkube/v0.0.0 (linux/amd64) kubernetes/$Format",
        "openshift-ovn-kubernetes-node-limited"
    ),
    sa!(
        OcpServiceCa,
        "openshift-service-ca",
        "service-ca",
        AppServiceAccount,
        "service-ca-5b8c9d7f6-x2m8k",
        "master-0.ocp.example.com",
        "10.128.0.45",
        "service-ca-operator/v0.0.0 (linux/amd64) kubernetes/$Format",
        "system:openshift:controller:service-ca"
    ),
    // --- GitOps, Helm and CI ----------------------------------------------------------
    sa!(
        ArgocdApplicationsetController,
        "argocd",
        "argocd-applicationset-controller",
        AppServiceAccount,
        "argocd-applicationset-controller-6c8d9f7b5-x2k8p",
        "worker-1",
        "10.244.1.31",
        "argocd-applicationset-controller/v0.0.0 (linux/amd64) kubernetes/$Format",
        "argocd-applicationset-controller"
    ),
    sa!(
        FluxKustomizeController,
        "flux-system",
        "kustomize-controller",
        AppServiceAccount,
        "kustomize-controller-7f8c9d6b5-m4x2q",
        "worker-2",
        "10.244.2.40",
        "kustomize-controller/v1.3.0 (linux/amd64) kubernetes/$Format",
        "cluster-reconciler-flux-system"
    ),
    sa!(
        FluxHelmController,
        "flux-system",
        "helm-controller",
        AppServiceAccount,
        "helm-controller-5d9c8b7f6-k8x2w",
        "worker-3",
        "10.244.3.41",
        "helm-controller/v1.0.1 (linux/amd64) kubernetes/$Format",
        "cluster-reconciler-flux-system"
    ),
    sa!(
        FluxSourceController,
        "flux-system",
        "source-controller",
        AppServiceAccount,
        "source-controller-6b7c8d9f5-p2x8m",
        "worker-1",
        "10.244.1.42",
        "source-controller/v1.3.0 (linux/amd64) kubernetes/$Format",
        "crd-controller-flux-system"
    ),
    ActorDef {
        id: A::HelmDeveloper,
        username: "dave@example.com",
        groups: &["oidc:developers", "system:authenticated"],
        credential: Credential::Oidc,
        user_agent: "Helm/3.15.2",
        source_ip: "192.168.10.61",
        reason: "RBAC: allowed by RoleBinding \"developers-edit/shop\" of ClusterRole \"edit\" to Group \"oidc:developers\"",
        kind: ActorKind::Human,
    },
    sa!(
        CiHelmDeployer,
        "ci",
        "helm-deployer",
        AppServiceAccount,
        "runner-x8k2q-project-42-concurrent-0",
        "worker-2",
        "10.244.2.77",
        "Helm/3.14.4",
        "ci-deployer"
    ),
    sa!(
        CiGitlabDeployer,
        "ci",
        "gitlab-deployer",
        AppServiceAccount,
        "runner-m2k8x-project-17-concurrent-1",
        "worker-3",
        "10.244.3.78",
        "kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8",
        "ci-deployer"
    ),
    sa!(
        CiGithubActions,
        "ci",
        "github-actions",
        AppServiceAccount,
        "arc-runner-set-2x8kq-runner-p4m8x",
        "worker-1",
        "10.244.1.80",
        "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
        "ci-deployer"
    ),
    // --- Add-ons ------------------------------------------------------------------------
    sa!(
        CertManagerWebhook,
        "cert-manager",
        "cert-manager-webhook",
        AppServiceAccount,
        "cert-manager-webhook-7d8c9f6b5-q8x2k",
        "worker-1",
        "10.244.1.19",
        "webhook/v1.14.5 (linux/amd64) cert-manager/v1.14.5",
        "cert-manager-webhook:subjectaccessreviews"
    ),
    sa!(
        MetricsServer,
        "kube-system",
        "metrics-server",
        SystemServiceAccount,
        "metrics-server-6d94bc8694-x2k8p",
        "worker-1",
        "10.244.1.9",
        "metrics-server/v0.7.1 (linux/amd64) kubernetes/$Format",
        "system:metrics-server"
    ),
    sa!(
        Istiod,
        "istio-system",
        "istiod",
        AppServiceAccount,
        "istiod-7d9c8b6f5-m2x8k",
        "worker-2",
        "10.244.2.50",
        "pilot-discovery/1.22.1 (linux/amd64) kubernetes/$Format",
        "istiod-clusterrole-istio-system"
    ),
    sa!(
        LinkerdDestination,
        "linkerd",
        "linkerd-destination",
        AppServiceAccount,
        "linkerd-destination-6c8d9f7b5-x8k2m",
        "worker-1",
        "10.244.1.60",
        "controller/v0.0.0 (linux/amd64) kubernetes/$Format",
        "linkerd-linkerd-destination-policy"
    ),
    sa!(
        LinkerdIdentity,
        "linkerd",
        "linkerd-identity",
        AppServiceAccount,
        "linkerd-identity-5f8c7d9b6-q2x8p",
        "worker-3",
        "10.244.3.61",
        "identity/v0.0.0 (linux/amd64) kubernetes/$Format",
        "linkerd-linkerd-identity"
    ),
    sa!(
        LinkerdProxyInjector,
        "linkerd",
        "linkerd-proxy-injector",
        AppServiceAccount,
        "linkerd-proxy-injector-7b9c8d6f5-k2m8x",
        "worker-2",
        "10.244.2.62",
        "proxy-injector/v0.0.0 (linux/amd64) kubernetes/$Format",
        "linkerd-linkerd-proxy-injector"
    ),
    // --- Nodes on public addresses (bare metal, one provider) ---------------------------
    node!(PublicNode1, "node-fsn1-1", "95.217.10.21", PUBLIC_KUBELET),
    node!(PublicNode2, "node-fsn1-2", "95.217.10.22", PUBLIC_KUBELET),
    node!(PublicNode3, "node-hel1-1", "65.21.44.13", PUBLIC_KUBELET),
    ActorDef {
        id: A::PublicKubeProxy,
        username: "system:serviceaccount:kube-system:kube-proxy",
        groups: SA_GROUPS_KUBE_SYSTEM,
        credential: Credential::PodToken {
            pod: "kube-proxy-8xk2q",
            node: "node-fsn1-1",
        },
        user_agent: "kube-proxy/v1.30.2 (linux/amd64) kubernetes/3968350",
        source_ip: "95.217.10.21",
        reason: "RBAC: allowed by ClusterRoleBinding \"kubeadm:node-proxier\" of ClusterRole \"system:node-proxier\" to ServiceAccount \"kube-proxy/kube-system\"",
        kind: ActorKind::SystemServiceAccount,
    },
    sa!(
        PublicCalicoNode,
        "kube-system",
        "calico-node",
        SystemServiceAccount,
        "calico-node-q8x2m",
        "node-fsn1-2",
        "95.217.10.22",
        "calico-node/v3.27.3 (linux/amd64) kubernetes/$Format",
        "calico-node"
    ),
];
