//! The cast of a small production cluster: API resources, identities with their user agents, namespaces and workloads.
//!
//! Shares and names follow the measured mix of the hkerma PerfSPEC sample (kubeadm cluster, Helm
//! churn, 16,563 events): control-plane components, kubelets, kube-system controllers, operator
//! service accounts in app namespaces, and a few humans using kubectl and Helm.

/// One API resource as it appears in `objectRef` and request URIs.
#[derive(Debug)]
pub(crate) struct Resource {
    pub plural: &'static str,
    /// Empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub namespaced: bool,
}

impl Resource {
    pub(crate) fn is_workload(&self) -> bool {
        matches!(
            self.plural,
            "pods"
                | "deployments"
                | "replicasets"
                | "daemonsets"
                | "statefulsets"
                | "jobs"
                | "cronjobs"
        )
    }

    pub(crate) fn is_rbac(&self) -> bool {
        self.group == "rbac.authorization.k8s.io"
    }
}

macro_rules! resources {
    ($($name:ident = $plural:literal, $group:literal, $version:literal, $namespaced:literal;)*) => {
        $(pub(crate) const $name: Resource = Resource {
            plural: $plural, group: $group, version: $version, namespaced: $namespaced,
        };)*
    };
}

resources! {
    PODS = "pods", "", "v1", true;
    SECRETS = "secrets", "", "v1", true;
    CONFIGMAPS = "configmaps", "", "v1", true;
    SERVICES = "services", "", "v1", true;
    ENDPOINTS = "endpoints", "", "v1", true;
    EVENTS = "events", "", "v1", true;
    SERVICEACCOUNTS = "serviceaccounts", "", "v1", true;
    NODES = "nodes", "", "v1", false;
    NAMESPACES = "namespaces", "", "v1", false;
    PERSISTENTVOLUMES = "persistentvolumes", "", "v1", false;
    PERSISTENTVOLUMECLAIMS = "persistentvolumeclaims", "", "v1", true;
    RESOURCEQUOTAS = "resourcequotas", "", "v1", true;
    LIMITRANGES = "limitranges", "", "v1", true;
    DEPLOYMENTS = "deployments", "apps", "v1", true;
    REPLICASETS = "replicasets", "apps", "v1", true;
    STATEFULSETS = "statefulsets", "apps", "v1", true;
    DAEMONSETS = "daemonsets", "apps", "v1", true;
    CONTROLLERREVISIONS = "controllerrevisions", "apps", "v1", true;
    JOBS = "jobs", "batch", "v1", true;
    CRONJOBS = "cronjobs", "batch", "v1", true;
    LEASES = "leases", "coordination.k8s.io", "v1", true;
    ENDPOINTSLICES = "endpointslices", "discovery.k8s.io", "v1", true;
    NETWORKPOLICIES = "networkpolicies", "networking.k8s.io", "v1", true;
    INGRESSES = "ingresses", "networking.k8s.io", "v1", true;
    ROLES = "roles", "rbac.authorization.k8s.io", "v1", true;
    ROLEBINDINGS = "rolebindings", "rbac.authorization.k8s.io", "v1", true;
    CLUSTERROLES = "clusterroles", "rbac.authorization.k8s.io", "v1", false;
    CLUSTERROLEBINDINGS = "clusterrolebindings", "rbac.authorization.k8s.io", "v1", false;
    CRDS = "customresourcedefinitions", "apiextensions.k8s.io", "v1", false;
    FLOWSCHEMAS = "flowschemas", "flowcontrol.apiserver.k8s.io", "v1", false;
    PRIORITYLEVELS = "prioritylevelconfigurations", "flowcontrol.apiserver.k8s.io", "v1", false;
    APISERVICES = "apiservices", "apiregistration.k8s.io", "v1", false;
    VOLUMEATTACHMENTS = "volumeattachments", "storage.k8s.io", "v1", false;
    CSIDRIVERS = "csidrivers", "storage.k8s.io", "v1", false;
    PROMETHEUSRULES = "prometheusrules", "monitoring.coreos.com", "v1", true;
    SERVICEMONITORS = "servicemonitors", "monitoring.coreos.com", "v1", true;
    PROMETHEUSES = "prometheuses", "monitoring.coreos.com", "v1", true;
    CERTIFICATES = "certificates", "cert-manager.io", "v1", true;
    CONSTRAINTTEMPLATES = "constrainttemplates", "templates.gatekeeper.sh", "v1", false;
    TOKENREVIEWS = "tokenreviews", "authentication.k8s.io", "v1", false;
    // Used by the cluster shapes (`crate::shapes`).
    SUBJECTACCESSREVIEWS = "subjectaccessreviews", "authorization.k8s.io", "v1", false;
    CSRS = "certificatesigningrequests", "certificates.k8s.io", "v1", false;
    MUTATINGWEBHOOKS = "mutatingwebhookconfigurations", "admissionregistration.k8s.io", "v1", false;
    VALIDATINGWEBHOOKS = "validatingwebhookconfigurations", "admissionregistration.k8s.io", "v1", false;
    STORAGECLASSES = "storageclasses", "storage.k8s.io", "v1", false;
    HPAS = "horizontalpodautoscalers", "autoscaling", "v2", true;
    PDBS = "poddisruptionbudgets", "policy", "v1", true;
    PODMONITORS = "podmonitors", "monitoring.coreos.com", "v1", true;
    CERTIFICATEREQUESTS = "certificaterequests", "cert-manager.io", "v1", true;
    ISSUERS = "issuers", "cert-manager.io", "v1", true;
    CLUSTERISSUERS = "clusterissuers", "cert-manager.io", "v1", false;
    ORDERS = "orders", "acme.cert-manager.io", "v1", true;
    APPLICATIONS = "applications", "argoproj.io", "v1alpha1", true;
    APPPROJECTS = "appprojects", "argoproj.io", "v1alpha1", true;
    KUSTOMIZATIONS = "kustomizations", "kustomize.toolkit.fluxcd.io", "v1", true;
    HELMRELEASES = "helmreleases", "helm.toolkit.fluxcd.io", "v2", true;
    GITREPOSITORIES = "gitrepositories", "source.toolkit.fluxcd.io", "v1", true;
    TARGETGROUPBINDINGS = "targetgroupbindings", "elbv2.k8s.aws", "v1beta1", true;
    ENICONFIGS = "eniconfigs", "crd.k8s.amazonaws.com", "v1alpha1", false;
    NODECLAIMS = "nodeclaims", "karpenter.sh", "v1", false;
    NODEPOOLS = "nodepools", "karpenter.sh", "v1", false;
    EC2NODECLASSES = "ec2nodeclasses", "karpenter.k8s.aws", "v1", false;
    MANAGEDCERTIFICATES = "managedcertificates", "networking.gke.io", "v1", true;
    BACKENDCONFIGS = "backendconfigs", "cloud.google.com", "v1", true;
    CLUSTEROPERATORS = "clusteroperators", "config.openshift.io", "v1", false;
    KUBEAPISERVERS = "kubeapiservers", "operator.openshift.io", "v1", false;
    ROUTES = "routes", "route.openshift.io", "v1", true;
    VIRTUALSERVICES = "virtualservices", "networking.istio.io", "v1beta1", true;
    DESTINATIONRULES = "destinationrules", "networking.istio.io", "v1beta1", true;
    PEERAUTHENTICATIONS = "peerauthentications", "security.istio.io", "v1beta1", true;
    LINKERDSERVERS = "servers", "policy.linkerd.io", "v1beta1", true;
}

/// The audit level a typical production policy gives a request (the first matching rule wins):
/// `Metadata` for secrets, configmaps and tokenreviews (bodies hold credentials);
/// `RequestResponse` for RBAC objects, token requests, and writes to workloads and CRDs;
/// `Request` for every other resource request; `Metadata` for non-resource URLs.
/// `RequestReceived` is omitted for every rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Metadata,
    Request,
    RequestResponse,
}

impl Level {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }

    pub(crate) fn for_request(resource: &Resource, subresource: Option<&str>, verb: &str) -> Level {
        let write = matches!(
            verb,
            "create" | "update" | "patch" | "delete" | "deletecollection"
        );
        match (resource.plural, subresource) {
            ("secrets" | "configmaps" | "tokenreviews", _) => Level::Metadata,
            ("serviceaccounts", Some("token")) => Level::RequestResponse,
            (_, Some("exec" | "attach" | "portforward" | "log" | "binding" | "eviction")) => {
                Level::Request
            }
            _ if resource.is_rbac() => Level::RequestResponse,
            ("customresourcedefinitions", _) if write => Level::RequestResponse,
            _ if resource.is_workload() && write => Level::RequestResponse,
            _ => Level::Request,
        }
    }
}

/// What an identity is, for choosing realistic traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActorKind {
    ControlPlane,
    Node,
    SystemServiceAccount,
    AppServiceAccount,
    Human,
    Anonymous,
}

/// How the identity authenticated, which decides `user.extra`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Credential {
    /// Nothing in `extra` (loopback, anonymous).
    None,
    /// A client certificate: `credential-id: X509SHA256=<hex>`.
    X509,
    /// A bound service-account token of a pod (`pod-name`, `pod-uid`, `node-name`, `node-uid`, `credential-id: JTI=`).
    PodToken {
        pod: &'static str,
        node: &'static str,
    },
    /// A token minted by kube-controller-manager for a controller (`credential-id: JTI=` only).
    ControllerToken,
    /// An OIDC login: no extra, but a `uid`-less user with team groups.
    Oidc,
}

#[derive(Debug)]
pub(crate) struct ActorDef {
    pub id: A,
    pub username: &'static str,
    pub groups: &'static [&'static str],
    pub credential: Credential,
    pub user_agent: &'static str,
    pub source_ip: &'static str,
    /// `authorization.k8s.io/reason` for resource requests this identity is allowed to make.
    pub reason: &'static str,
    pub kind: ActorKind,
}

/// Every identity in the cluster; the discriminant indexes [`ACTORS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum A {
    ControllerManager,
    Scheduler,
    ApiServer,
    NodeControlPlane,
    NodeWorker1,
    NodeWorker2,
    NodeWorker3,
    ReplicasetController,
    DeploymentController,
    StatefulsetController,
    DaemonSetController,
    JobController,
    CronjobController,
    EndpointsliceController,
    EndpointController,
    GarbageCollector,
    NamespaceController,
    ResourcequotaController,
    PersistentVolumeBinder,
    AttachdetachController,
    ClusterroleAggregation,
    KubeProxy,
    Coredns,
    PrometheusOperator,
    KubeStateMetrics,
    Prometheus,
    Grafana,
    CertManager,
    CertManagerCainjector,
    ArgocdApplicationController,
    ArgocdServer,
    IngressNginx,
    Gatekeeper,
    AdminHelm,
    AdminKubectl,
    Alice,
    Bob,
    Carol,
    Probe,
    // Identities that appear only in attack scenarios.
    Mallory,
    CompromisedFrontend,
    AnonymousCurl,
    AnonymousPython,
    // Identities of the cluster shapes, defined in `crate::shapes::SHAPE_ACTORS` (same order).
    EksNode1,
    EksNode2,
    EksCertificateController,
    EksNodeManager,
    EksPodIdentityWebhook,
    EksAddonManager,
    EksClusterEventWatcher,
    AwsNode,
    AwsLoadBalancerController,
    Karpenter,
    GkeNode1,
    GkeNode2,
    GkeCommonWebhooks,
    GkeClusterMetrics,
    GkeL7LbController,
    GkeAddonManager,
    GcpControllerManager,
    GkeClusterAutoscaler,
    GkeMetadataServer,
    AksNode1,
    AksNode2,
    AksService,
    AksMasterClient,
    AksCloudNodeManager,
    OcpMaster,
    OcpWorker,
    OcpKubeApiserverOperator,
    OcpAuthenticationOperator,
    OcpEtcdOperator,
    OcpMachineConfigOperator,
    OcpMachineConfigDaemon,
    OcpNetworkOperator,
    OcpClusterVersionOperator,
    OcpIngressOperator,
    OcpCloudCredentialOperator,
    OcpOauthServer,
    OcpOvnkubeNode,
    OcpServiceCa,
    ArgocdApplicationsetController,
    FluxKustomizeController,
    FluxHelmController,
    FluxSourceController,
    HelmDeveloper,
    CiHelmDeployer,
    CiGitlabDeployer,
    CiGithubActions,
    CertManagerWebhook,
    MetricsServer,
    Istiod,
    LinkerdDestination,
    LinkerdIdentity,
    LinkerdProxyInjector,
    PublicNode1,
    PublicNode2,
    PublicNode3,
    PublicKubeProxy,
    PublicCalicoNode,
}

pub(crate) const SA_GROUPS_KUBE_SYSTEM: &[&str] = &[
    "system:serviceaccounts",
    "system:serviceaccounts:kube-system",
    "system:authenticated",
];
pub(crate) const NODE_GROUPS: &[&str] = &["system:nodes", "system:authenticated"];

macro_rules! controller {
    ($id:ident, $name:literal) => {
        ActorDef {
            id: A::$id,
            username: concat!("system:serviceaccount:kube-system:", $name),
            groups: SA_GROUPS_KUBE_SYSTEM,
            credential: Credential::ControllerToken,
            user_agent: concat!(
                "kube-controller-manager/v1.29.4 (linux/amd64) kubernetes/55019c8/system:serviceaccount:kube-system:",
                $name
            ),
            source_ip: "10.0.0.10",
            reason: concat!(
                "RBAC: allowed by ClusterRoleBinding \"system:controller:",
                $name,
                "\" of ClusterRole \"system:controller:",
                $name,
                "\" to ServiceAccount \"",
                $name,
                "/kube-system\""
            ),
            kind: ActorKind::SystemServiceAccount,
        }
    };
}

macro_rules! node {
    ($id:ident, $name:literal, $ip:literal) => {
        ActorDef {
            id: A::$id,
            username: concat!("system:node:", $name),
            groups: NODE_GROUPS,
            credential: Credential::X509,
            user_agent: "kubelet/v1.29.4 (linux/amd64) kubernetes/55019c8",
            source_ip: $ip,
            reason: "",
            kind: ActorKind::Node,
        }
    };
}

/// A pod's service account with a bound token, allowed by a ClusterRoleBinding of `$role`.
macro_rules! pod_service_account {
    ($id:ident, $ns:literal, $name:literal, $groups:expr, $kind:ident, $pod:literal, $node:literal, $ip:literal, $ua:literal, $role:literal) => {
        ActorDef {
            id: A::$id,
            username: concat!("system:serviceaccount:", $ns, ":", $name),
            groups: $groups,
            credential: Credential::PodToken {
                pod: $pod,
                node: $node,
            },
            user_agent: $ua,
            source_ip: $ip,
            reason: concat!(
                "RBAC: allowed by ClusterRoleBinding \"",
                $role,
                "\" of ClusterRole \"",
                $role,
                "\" to ServiceAccount \"",
                $name,
                "/",
                $ns,
                "\""
            ),
            kind: ActorKind::$kind,
        }
    };
}
pub(crate) use pod_service_account;

macro_rules! app_sa {
    ($id:ident, $ns:literal, $name:literal, $groups:expr, $pod:literal, $node:literal, $ip:literal, $ua:literal, $role:literal) => {
        pod_service_account!(
            $id,
            $ns,
            $name,
            $groups,
            AppServiceAccount,
            $pod,
            $node,
            $ip,
            $ua,
            $role
        )
    };
}

pub(crate) const ACTORS: &[ActorDef] = &[
    ActorDef {
        id: A::ControllerManager,
        username: "system:kube-controller-manager",
        groups: &["system:authenticated"],
        credential: Credential::X509,
        user_agent: "kube-controller-manager/v1.29.4 (linux/amd64) kubernetes/55019c8/leader-election",
        source_ip: "10.0.0.10",
        reason: "RBAC: allowed by ClusterRoleBinding \"system:kube-controller-manager\" of ClusterRole \"system:kube-controller-manager\" to User \"system:kube-controller-manager\"",
        kind: ActorKind::ControlPlane,
    },
    ActorDef {
        id: A::Scheduler,
        username: "system:kube-scheduler",
        groups: &["system:authenticated"],
        credential: Credential::X509,
        user_agent: "kube-scheduler/v1.29.4 (linux/amd64) kubernetes/55019c8/scheduler",
        source_ip: "10.0.0.10",
        reason: "RBAC: allowed by ClusterRoleBinding \"system:kube-scheduler\" of ClusterRole \"system:kube-scheduler\" to User \"system:kube-scheduler\"",
        kind: ActorKind::ControlPlane,
    },
    ActorDef {
        id: A::ApiServer,
        username: "system:apiserver",
        groups: &["system:authenticated", "system:masters"],
        credential: Credential::None,
        user_agent: "kube-apiserver/v1.29.4 (linux/amd64) kubernetes/55019c8",
        source_ip: "::1",
        reason: "",
        kind: ActorKind::ControlPlane,
    },
    node!(NodeControlPlane, "cp-1", "10.0.0.10"),
    node!(NodeWorker1, "worker-1", "10.0.0.21"),
    node!(NodeWorker2, "worker-2", "10.0.0.22"),
    node!(NodeWorker3, "worker-3", "10.0.0.23"),
    controller!(ReplicasetController, "replicaset-controller"),
    controller!(DeploymentController, "deployment-controller"),
    controller!(StatefulsetController, "statefulset-controller"),
    controller!(DaemonSetController, "daemon-set-controller"),
    controller!(JobController, "job-controller"),
    controller!(CronjobController, "cronjob-controller"),
    controller!(EndpointsliceController, "endpointslice-controller"),
    controller!(EndpointController, "endpoint-controller"),
    controller!(GarbageCollector, "generic-garbage-collector"),
    controller!(NamespaceController, "namespace-controller"),
    controller!(ResourcequotaController, "resourcequota-controller"),
    controller!(PersistentVolumeBinder, "persistent-volume-binder"),
    controller!(AttachdetachController, "attachdetach-controller"),
    controller!(ClusterroleAggregation, "clusterrole-aggregation-controller"),
    app_sa!(
        KubeProxy,
        "kube-system",
        "kube-proxy",
        SA_GROUPS_KUBE_SYSTEM,
        "kube-proxy-x7k2p",
        "worker-1",
        "10.0.0.21",
        "kube-proxy/v1.29.4 (linux/amd64) kubernetes/55019c8",
        "system:node-proxier"
    ),
    app_sa!(
        Coredns,
        "kube-system",
        "coredns",
        SA_GROUPS_KUBE_SYSTEM,
        "coredns-76f75df574-9qzvd",
        "worker-2",
        "10.244.2.3",
        "coredns/v1.11.1 (linux/amd64) kubernetes/$Format",
        "system:coredns"
    ),
    app_sa!(
        PrometheusOperator,
        "monitoring",
        "prometheus-operator",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:monitoring",
            "system:authenticated"
        ],
        "prometheus-operator-6d9d8b8c5f-h2x8q",
        "worker-1",
        "10.244.1.14",
        "PrometheusOperator/0.72.0",
        "prometheus-operator"
    ),
    app_sa!(
        KubeStateMetrics,
        "monitoring",
        "kube-state-metrics",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:monitoring",
            "system:authenticated"
        ],
        "kube-state-metrics-7f6b9c8d4-pl5vw",
        "worker-3",
        "10.244.3.9",
        "v2.12.0 (linux/amd64) kubernetes/kube-state-metrics",
        "kube-state-metrics"
    ),
    app_sa!(
        Prometheus,
        "monitoring",
        "prometheus-k8s",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:monitoring",
            "system:authenticated"
        ],
        "prometheus-k8s-0",
        "worker-2",
        "10.244.2.21",
        "Prometheus/2.51.2",
        "prometheus-k8s"
    ),
    app_sa!(
        Grafana,
        "monitoring",
        "grafana",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:monitoring",
            "system:authenticated"
        ],
        "grafana-5c8d7f9b6-m4t7r",
        "worker-3",
        "10.244.3.17",
        "OpenAPI-Generator/29.0.0/python",
        "grafana-clusterrole"
    ),
    app_sa!(
        CertManager,
        "cert-manager",
        "cert-manager",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:cert-manager",
            "system:authenticated"
        ],
        "cert-manager-7ddd8cdb9f-wq2lk",
        "worker-1",
        "10.244.1.8",
        "cert-manager-controller/v1.14.5 (linux/amd64) cert-manager/0e1b0ef2f25e3a4f6b1e2f0cf2d8f37d2b2c8a1b",
        "cert-manager-controller-certificates"
    ),
    app_sa!(
        CertManagerCainjector,
        "cert-manager",
        "cert-manager-cainjector",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:cert-manager",
            "system:authenticated"
        ],
        "cert-manager-cainjector-57cd76c845-7vfnb",
        "worker-2",
        "10.244.2.11",
        "cert-manager-cainjector/v1.14.5 (linux/amd64) cert-manager/0e1b0ef2f25e3a4f6b1e2f0cf2d8f37d2b2c8a1b",
        "cert-manager-cainjector"
    ),
    app_sa!(
        ArgocdApplicationController,
        "argocd",
        "argocd-application-controller",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:argocd",
            "system:authenticated"
        ],
        "argocd-application-controller-0",
        "worker-3",
        "10.244.3.25",
        "argocd-application-controller/v2.10.9 (linux/amd64) kubernetes/$Format",
        "argocd-application-controller"
    ),
    app_sa!(
        ArgocdServer,
        "argocd",
        "argocd-server",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:argocd",
            "system:authenticated"
        ],
        "argocd-server-6b9c7d5f8-zx4kq",
        "worker-1",
        "10.244.1.30",
        "argocd-server/v2.10.9 (linux/amd64) kubernetes/$Format",
        "argocd-server"
    ),
    app_sa!(
        IngressNginx,
        "ingress-nginx",
        "ingress-nginx",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:ingress-nginx",
            "system:authenticated"
        ],
        "ingress-nginx-controller-5d88495688-bn7xd",
        "worker-2",
        "10.244.2.5",
        "nginx-ingress-controller/v1.10.1 (linux/amd64) ingress-nginx/4fb5aac1dd3669daa3a14d9de3e3cdb371b4c518",
        "ingress-nginx"
    ),
    app_sa!(
        Gatekeeper,
        "gatekeeper-system",
        "gatekeeper-admin",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:gatekeeper-system",
            "system:authenticated"
        ],
        "gatekeeper-controller-manager-7b8f5d6c9-r2k8m",
        "worker-3",
        "10.244.3.12",
        "gatekeeper/v3.16.0 (linux/amd64) 9c5aa4b/2024-04-02T18:32:11Z",
        "gatekeeper-manager-role"
    ),
    ActorDef {
        id: A::AdminHelm,
        username: "kubernetes-admin",
        groups: &["kubeadm:cluster-admins", "system:authenticated"],
        credential: Credential::X509,
        user_agent: "Helm/3.14.4",
        source_ip: "10.0.0.5",
        reason: "RBAC: allowed by ClusterRoleBinding \"kubeadm:cluster-admins\" of ClusterRole \"cluster-admin\" to Group \"kubeadm:cluster-admins\"",
        kind: ActorKind::Human,
    },
    ActorDef {
        id: A::AdminKubectl,
        username: "kubernetes-admin",
        groups: &["kubeadm:cluster-admins", "system:authenticated"],
        credential: Credential::X509,
        user_agent: "kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8",
        source_ip: "10.0.0.5",
        reason: "RBAC: allowed by ClusterRoleBinding \"kubeadm:cluster-admins\" of ClusterRole \"cluster-admin\" to Group \"kubeadm:cluster-admins\"",
        kind: ActorKind::Human,
    },
    ActorDef {
        id: A::Alice,
        username: "alice@example.com",
        groups: &["oidc:platform-team", "system:authenticated"],
        credential: Credential::Oidc,
        user_agent: "kubectl/v1.29.1 (darwin/arm64) kubernetes/bc401b9",
        source_ip: "192.168.10.21",
        reason: "RBAC: allowed by ClusterRoleBinding \"platform-team-admin\" of ClusterRole \"admin\" to Group \"oidc:platform-team\"",
        kind: ActorKind::Human,
    },
    ActorDef {
        id: A::Bob,
        username: "bob@example.com",
        groups: &["oidc:developers", "system:authenticated"],
        credential: Credential::Oidc,
        user_agent: "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
        source_ip: "192.168.10.34",
        reason: "RBAC: allowed by RoleBinding \"developers-edit/shop\" of ClusterRole \"edit\" to Group \"oidc:developers\"",
        kind: ActorKind::Human,
    },
    ActorDef {
        id: A::Carol,
        username: "carol@example.com",
        groups: &["oidc:sre", "system:authenticated"],
        credential: Credential::Oidc,
        user_agent: "kubectl/v1.29.3 (windows/amd64) kubernetes/6813625",
        source_ip: "192.168.10.57",
        reason: "RBAC: allowed by ClusterRoleBinding \"sre-view\" of ClusterRole \"view\" to Group \"oidc:sre\"",
        kind: ActorKind::Human,
    },
    ActorDef {
        id: A::Probe,
        username: "system:anonymous",
        groups: &["system:unauthenticated"],
        credential: Credential::None,
        user_agent: "kube-probe/1.29",
        source_ip: "10.0.0.10",
        reason: PUBLIC_INFO_REASON,
        kind: ActorKind::Anonymous,
    },
    ActorDef {
        id: A::Mallory,
        username: "mallory@partner.example",
        groups: &["oidc:contractors", "system:authenticated"],
        credential: Credential::Oidc,
        user_agent: "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
        source_ip: "198.51.100.77",
        reason: "RBAC: allowed by ClusterRoleBinding \"contractors-ops\" of ClusterRole \"cluster-admin\" to Group \"oidc:contractors\"",
        kind: ActorKind::Human,
    },
    app_sa!(
        CompromisedFrontend,
        "shop",
        "frontend",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:shop",
            "system:authenticated"
        ],
        "frontend-7c9f8d6b5-k2v9x",
        "worker-2",
        "10.244.2.17",
        "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
        "frontend-debug"
    ),
    ActorDef {
        id: A::AnonymousCurl,
        username: "system:anonymous",
        groups: &["system:unauthenticated"],
        credential: Credential::None,
        user_agent: "curl/8.5.0",
        source_ip: "203.0.113.45",
        reason: "RBAC: allowed by ClusterRoleBinding \"legacy-anonymous-read\" of ClusterRole \"cluster-admin\" to User \"system:anonymous\"",
        kind: ActorKind::Anonymous,
    },
    ActorDef {
        id: A::AnonymousPython,
        username: "system:anonymous",
        groups: &["system:unauthenticated"],
        credential: Credential::None,
        user_agent: "python-requests/2.31.0",
        source_ip: "198.51.100.9",
        reason: "RBAC: allowed by ClusterRoleBinding \"legacy-anonymous-read\" of ClusterRole \"cluster-admin\" to User \"system:anonymous\"",
        kind: ActorKind::Anonymous,
    },
];

/// The definition of `actor`.
pub(crate) fn actor(actor: A) -> &'static ActorDef {
    let index = actor as usize;
    let definition = match ACTORS.get(index) {
        Some(definition) => definition,
        None => &crate::shapes::SHAPE_ACTORS[index - ACTORS.len()],
    };
    debug_assert_eq!(definition.id, actor);
    definition
}

pub(crate) const PUBLIC_INFO_REASON: &str = "RBAC: allowed by ClusterRoleBinding \"system:public-info-viewer\" of ClusterRole \"system:public-info-viewer\" to Group \"system:unauthenticated\"";
pub(crate) const DISCOVERY_REASON: &str = "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of ClusterRole \"system:discovery\" to Group \"system:authenticated\"";

pub(crate) const NODES_ALL: &[A] = &[
    A::NodeControlPlane,
    A::NodeWorker1,
    A::NodeWorker2,
    A::NodeWorker3,
];
pub(crate) const NODE_NAMES: &[&str] = &["cp-1", "worker-1", "worker-2", "worker-3"];
pub(crate) const WORKER_NODES: &[A] = &[A::NodeWorker1, A::NodeWorker2, A::NodeWorker3];

/// Group-versions a client-go discovery pass walks (`/apis/<group>/<version>?timeout=32s`).
pub(crate) const DISCOVERY_PATHS: &[&str] = &[
    "/api",
    "/apis",
    "/api/v1",
    "/apis/apiregistration.k8s.io/v1",
    "/apis/apps/v1",
    "/apis/events.k8s.io/v1",
    "/apis/authentication.k8s.io/v1",
    "/apis/authorization.k8s.io/v1",
    "/apis/autoscaling/v2",
    "/apis/autoscaling/v1",
    "/apis/batch/v1",
    "/apis/certificates.k8s.io/v1",
    "/apis/networking.k8s.io/v1",
    "/apis/policy/v1",
    "/apis/rbac.authorization.k8s.io/v1",
    "/apis/storage.k8s.io/v1",
    "/apis/admissionregistration.k8s.io/v1",
    "/apis/apiextensions.k8s.io/v1",
    "/apis/scheduling.k8s.io/v1",
    "/apis/coordination.k8s.io/v1",
    "/apis/node.k8s.io/v1",
    "/apis/discovery.k8s.io/v1",
    "/apis/flowcontrol.apiserver.k8s.io/v1",
    "/apis/flowcontrol.apiserver.k8s.io/v1beta3",
    "/apis/monitoring.coreos.com/v1",
    "/apis/monitoring.coreos.com/v1alpha1",
    "/apis/cert-manager.io/v1",
    "/apis/acme.cert-manager.io/v1",
    "/apis/argoproj.io/v1alpha1",
    "/apis/templates.gatekeeper.sh/v1",
    "/apis/templates.gatekeeper.sh/v1beta1",
    "/apis/constraints.gatekeeper.sh/v1beta1",
    "/apis/config.gatekeeper.sh/v1alpha1",
    "/apis/status.gatekeeper.sh/v1beta1",
    "/apis/mutations.gatekeeper.sh/v1",
    "/apis/expansion.gatekeeper.sh/v1alpha1",
    "/apis/externaldata.gatekeeper.sh/v1beta1",
    "/apis/snapshot.storage.k8s.io/v1",
    "/apis/metrics.k8s.io/v1beta1",
];

/// Namespaces that exist, with the weight of resource traffic in them (measured shape: the busy
/// operator namespace first, then kube-system, then the rest).
pub(crate) const NAMESPACE_WEIGHTS: &[(&str, u32)] = &[
    ("monitoring", 24),
    ("kube-system", 18),
    ("argocd", 9),
    ("cert-manager", 5),
    ("ingress-nginx", 5),
    ("shop", 8),
    ("payments", 5),
    ("logging", 4),
    ("redis", 3),
    ("default", 5),
    ("gatekeeper-system", 2),
    ("kube-node-lease", 2),
    ("kube-public", 1),
];

/// A long-lived workload and the pods it runs.
#[derive(Debug)]
pub(crate) struct App {
    pub namespace: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
    pub image: &'static str,
    pub port: i64,
    pub service_account: &'static str,
    pub replicas: i64,
}

pub(crate) const APPS: &[App] = &[
    App {
        namespace: "kube-system",
        name: "coredns",
        kind: "Deployment",
        image: "registry.k8s.io/coredns/coredns:v1.11.1",
        port: 53,
        service_account: "coredns",
        replicas: 2,
    },
    App {
        namespace: "kube-system",
        name: "metrics-server",
        kind: "Deployment",
        image: "registry.k8s.io/metrics-server/metrics-server:v0.7.1",
        port: 10250,
        service_account: "metrics-server",
        replicas: 1,
    },
    App {
        namespace: "monitoring",
        name: "prometheus-operator",
        kind: "Deployment",
        image: "quay.io/prometheus-operator/prometheus-operator:v0.72.0",
        port: 8080,
        service_account: "prometheus-operator",
        replicas: 1,
    },
    App {
        namespace: "monitoring",
        name: "kube-state-metrics",
        kind: "Deployment",
        image: "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.12.0",
        port: 8080,
        service_account: "kube-state-metrics",
        replicas: 1,
    },
    App {
        namespace: "monitoring",
        name: "grafana",
        kind: "Deployment",
        image: "docker.io/grafana/grafana:10.4.2",
        port: 3000,
        service_account: "grafana",
        replicas: 1,
    },
    App {
        namespace: "monitoring",
        name: "prometheus-k8s",
        kind: "StatefulSet",
        image: "quay.io/prometheus/prometheus:v2.51.2",
        port: 9090,
        service_account: "prometheus-k8s",
        replicas: 2,
    },
    App {
        namespace: "monitoring",
        name: "alertmanager-main",
        kind: "StatefulSet",
        image: "quay.io/prometheus/alertmanager:v0.27.0",
        port: 9093,
        service_account: "alertmanager-main",
        replicas: 3,
    },
    App {
        namespace: "cert-manager",
        name: "cert-manager",
        kind: "Deployment",
        image: "quay.io/jetstack/cert-manager-controller:v1.14.5",
        port: 9402,
        service_account: "cert-manager",
        replicas: 1,
    },
    App {
        namespace: "cert-manager",
        name: "cert-manager-cainjector",
        kind: "Deployment",
        image: "quay.io/jetstack/cert-manager-cainjector:v1.14.5",
        port: 9402,
        service_account: "cert-manager-cainjector",
        replicas: 1,
    },
    App {
        namespace: "cert-manager",
        name: "cert-manager-webhook",
        kind: "Deployment",
        image: "quay.io/jetstack/cert-manager-webhook:v1.14.5",
        port: 10250,
        service_account: "cert-manager-webhook",
        replicas: 1,
    },
    App {
        namespace: "argocd",
        name: "argocd-server",
        kind: "Deployment",
        image: "quay.io/argoproj/argocd:v2.10.9",
        port: 8080,
        service_account: "argocd-server",
        replicas: 2,
    },
    App {
        namespace: "argocd",
        name: "argocd-repo-server",
        kind: "Deployment",
        image: "quay.io/argoproj/argocd:v2.10.9",
        port: 8081,
        service_account: "argocd-repo-server",
        replicas: 2,
    },
    App {
        namespace: "argocd",
        name: "argocd-application-controller",
        kind: "StatefulSet",
        image: "quay.io/argoproj/argocd:v2.10.9",
        port: 8082,
        service_account: "argocd-application-controller",
        replicas: 1,
    },
    App {
        namespace: "ingress-nginx",
        name: "ingress-nginx-controller",
        kind: "Deployment",
        image: "registry.k8s.io/ingress-nginx/controller:v1.10.1",
        port: 443,
        service_account: "ingress-nginx",
        replicas: 2,
    },
    App {
        namespace: "gatekeeper-system",
        name: "gatekeeper-controller-manager",
        kind: "Deployment",
        image: "docker.io/openpolicyagent/gatekeeper:v3.16.0",
        port: 8443,
        service_account: "gatekeeper-admin",
        replicas: 3,
    },
    App {
        namespace: "shop",
        name: "frontend",
        kind: "Deployment",
        image: "ghcr.io/acme-shop/frontend:2.3.1",
        port: 8080,
        service_account: "frontend",
        replicas: 3,
    },
    App {
        namespace: "shop",
        name: "cart",
        kind: "Deployment",
        image: "ghcr.io/acme-shop/cart:2.3.0",
        port: 8080,
        service_account: "cart",
        replicas: 2,
    },
    App {
        namespace: "shop",
        name: "checkout",
        kind: "Deployment",
        image: "ghcr.io/acme-shop/checkout:1.9.4",
        port: 8080,
        service_account: "checkout",
        replicas: 2,
    },
    App {
        namespace: "shop",
        name: "nightly-report",
        kind: "CronJob",
        image: "ghcr.io/acme-shop/report:1.2.0",
        port: 8080,
        service_account: "report",
        replicas: 1,
    },
    App {
        namespace: "payments",
        name: "payments-api",
        kind: "Deployment",
        image: "ghcr.io/acme-shop/payments-api:1.8.0",
        port: 8443,
        service_account: "payments-api",
        replicas: 3,
    },
    App {
        namespace: "payments",
        name: "ledger-migrate",
        kind: "Job",
        image: "ghcr.io/acme-shop/ledger:1.8.0",
        port: 8080,
        service_account: "payments-api",
        replicas: 1,
    },
    App {
        namespace: "redis",
        name: "redis-master",
        kind: "StatefulSet",
        image: "docker.io/library/redis:7.2.4",
        port: 6379,
        service_account: "redis",
        replicas: 1,
    },
    App {
        namespace: "logging",
        name: "loki",
        kind: "StatefulSet",
        image: "docker.io/grafana/loki:2.9.8",
        port: 3100,
        service_account: "loki",
        replicas: 1,
    },
    App {
        namespace: "logging",
        name: "promtail-gateway",
        kind: "DaemonSet",
        image: "docker.io/grafana/promtail:2.9.8",
        port: 3101,
        service_account: "promtail",
        replicas: 1,
    },
];

/// Names of ConfigMaps, Services and friends per namespace, for gets and updates.
pub(crate) const CONFIG_NAMES: &[&str] = &[
    "kube-root-ca.crt",
    "grafana-dashboards",
    "prometheus-rules-0",
    "argocd-cm",
    "argocd-rbac-cm",
    "coredns",
    "kube-proxy",
    "ingress-nginx-controller",
    "cluster-info",
    "extension-apiserver-authentication",
    "loki-config",
    "app-settings",
];

/// Names of Secrets that system identities read (token, TLS and registry secrets).
pub(crate) const SECRET_NAMES: &[&str] = &[
    "bootstrap-token-abcdef",
    "cert-manager-webhook-ca",
    "ingress-nginx-admission",
    "prometheus-k8s-tls-assets-0",
    "alertmanager-main-generated",
    "argocd-secret",
    "registry-pull-secret",
    "gatekeeper-webhook-server-cert",
    "loki-s3-credentials",
    "payments-db-credentials",
];

/// ClusterRoles and Roles a Helm release ships; none with wildcards or cluster-admin.
pub(crate) const ROLE_NAMES: &[&str] = &[
    "prometheus-operator",
    "kube-state-metrics",
    "grafana-clusterrole",
    "cert-manager-controller-issuers",
    "cert-manager-controller-certificates",
    "argocd-server",
    "argocd-application-controller",
    "ingress-nginx",
    "gatekeeper-manager-role",
    "loki-clusterrole",
    "shop-deployer",
    "metrics-reader",
];

/// Alphabet Kubernetes uses for generated name suffixes.
pub(crate) const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_table_is_indexed_by_its_enum() {
        let shapes = crate::shapes::SHAPE_ACTORS;
        for (index, actor) in ACTORS.iter().chain(shapes).enumerate() {
            assert_eq!(actor.id as usize, index, "{}", actor.username);
        }
    }

    #[test]
    fn benign_images_come_from_trusted_registries_with_tags() {
        for app in APPS {
            let trusted = ["registry.k8s.io/", "docker.io/", "ghcr.io/", "quay.io/"];
            assert!(
                trusted.iter().any(|prefix| app.image.starts_with(prefix)),
                "{}",
                app.image
            );
            let last = app.image.rsplit('/').next().unwrap_or_default();
            assert!(
                last.contains(':') && !last.ends_with(":latest"),
                "{}",
                app.image
            );
        }
    }

    #[test]
    fn policy_levels() {
        assert_eq!(Level::for_request(&SECRETS, None, "get"), Level::Metadata);
        assert_eq!(
            Level::for_request(&CONFIGMAPS, None, "create"),
            Level::Metadata
        );
        assert_eq!(
            Level::for_request(&CLUSTERROLES, None, "get"),
            Level::RequestResponse
        );
        assert_eq!(
            Level::for_request(&PODS, None, "create"),
            Level::RequestResponse
        );
        assert_eq!(
            Level::for_request(&PODS, Some("status"), "patch"),
            Level::RequestResponse
        );
        assert_eq!(Level::for_request(&PODS, None, "get"), Level::Request);
        assert_eq!(
            Level::for_request(&PODS, Some("exec"), "create"),
            Level::Request
        );
        assert_eq!(
            Level::for_request(&SERVICEACCOUNTS, Some("token"), "create"),
            Level::RequestResponse
        );
        assert_eq!(Level::for_request(&LEASES, None, "update"), Level::Request);
    }
}
