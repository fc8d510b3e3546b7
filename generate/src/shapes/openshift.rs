//! OpenShift: the cluster operators of `openshift-*` namespaces reconciling their operands'
//! secrets, configmaps, RBAC, CRDs and static-pod installers; kubelets and host-network
//! operators on the machine network's public addresses.

use crate::bodies::Body;
use crate::catalog::{self as cat, A};
use crate::generator::{Generator, Request, uid_of};
use crate::json::Arg;
use crate::templates;

use super::{AddonApply, CaInjection, Step, op};

const INSTALLER_IMAGE: &str = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4c2d8e1f0a9b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";
const OCP_NODES: &[&str] = &["master-0.ocp.example.com", "worker-0.ocp.example.com"];
const KAS: &[&str] = &["openshift-kube-apiserver"];
const CONFIG: &[&str] = &["openshift-config"];
const CONFIG_MANAGED: &[&str] = &["openshift-config-managed"];
const KAS_SECRETS: &[&str] = &[
    "localhost-serving-cert-certkey",
    "service-network-serving-certkey",
    "external-loadbalancer-serving-certkey",
    "kube-apiserver-cert-syncer-client-cert-key",
    "node-kubeconfigs",
    "aggregator-client",
    "check-endpoints-client-cert-key",
];
const AUTH_NAMESPACES: &[&str] = &[
    "openshift-authentication",
    "openshift-oauth-apiserver",
    "openshift-config",
    "openshift-config-managed",
];
const AUTH_SECRETS: &[&str] = &[
    "v4-0-config-system-session",
    "v4-0-config-system-router-certs",
    "v4-0-config-system-serving-cert",
    "v4-0-config-system-ocp-branding-template",
    "etcd-client",
    "encryption-config",
];
const OPERATOR_CRDS: &[(&str, &str, &str)] = &[
    ("operator.openshift.io", "KubeAPIServer", "kubeapiservers"),
    ("operator.openshift.io", "Authentication", "authentications"),
    ("operator.openshift.io", "Etcd", "etcds"),
    ("config.openshift.io", "ClusterOperator", "clusteroperators"),
    (
        "machineconfiguration.openshift.io",
        "MachineConfig",
        "machineconfigs",
    ),
    ("route.openshift.io", "Route", "routes"),
];
const OPERATORS: &[&str] = &[
    "kube-apiserver",
    "authentication",
    "etcd",
    "machine-config",
    "network",
    "ingress",
    "cloud-credential",
    "openshift-apiserver",
];

pub(super) const OPENSHIFT: &[(Step, u32)] = &[
    (
        Step::Lease(A::OcpMaster, "kube-node-lease", OCP_NODES[0]),
        1000,
    ),
    (
        Step::Lease(A::OcpWorker, "kube-node-lease", OCP_NODES[1]),
        1000,
    ),
    (Step::NodeStatus(A::OcpMaster, OCP_NODES[0]), 400),
    (Step::NodeStatus(A::OcpWorker, OCP_NODES[1]), 400),
    (
        Step::Op(
            op(A::OcpMaster, "get", &cat::SECRETS)
                .ns(KAS)
                .names(KAS_SECRETS),
        ),
        300,
    ),
    (
        Step::Op(
            op(A::OcpMaster, "watch", &cat::CONFIGMAPS)
                .ns(KAS)
                .query("fieldSelector=metadata.name%3Dconfig"),
        ),
        200,
    ),
    (
        Step::Op(op(A::OcpWorker, "get", &cat::NODES).names(&["worker-0.ocp.example.com"])),
        400,
    ),
    // The kube-apiserver operator: its operand's certificates and configuration.
    (
        Step::Lease(
            A::OcpKubeApiserverOperator,
            "openshift-kube-apiserver-operator",
            "kube-apiserver-operator-lock",
        ),
        600,
    ),
    (
        Step::Op(
            op(A::OcpKubeApiserverOperator, "get", &cat::SECRETS)
                .ns(KAS)
                .names(KAS_SECRETS),
        ),
        600,
    ),
    (
        Step::Op(
            op(A::OcpKubeApiserverOperator, "update", &cat::SECRETS)
                .ns(KAS)
                .names(KAS_SECRETS),
        ),
        20,
    ),
    (
        Step::Op(
            op(A::OcpKubeApiserverOperator, "get", &cat::SECRETS)
                .ns(CONFIG)
                .names(&["etcd-client", "pull-secret"]),
        ),
        100,
    ),
    (
        Step::Op(
            op(A::OcpKubeApiserverOperator, "watch", &cat::SECRETS).ns(&[
                "openshift-kube-apiserver",
                "openshift-config",
                "openshift-config-managed",
                "openshift-kube-apiserver-operator",
            ]),
        ),
        120,
    ),
    (
        Step::Op(op(A::OcpKubeApiserverOperator, "list", &cat::SECRETS).ns(&[
            "openshift-kube-apiserver",
            "openshift-config",
            "openshift-config-managed",
        ])),
        80,
    ),
    (
        Step::Op(
            op(A::OcpKubeApiserverOperator, "get", &cat::CONFIGMAPS)
                .ns(KAS)
                .names(&[
                    "config",
                    "kube-apiserver-pod",
                    "revision-status-12",
                    "kubelet-serving-ca",
                ]),
        ),
        500,
    ),
    (
        Step::Op(
            op(A::OcpKubeApiserverOperator, "update", &cat::CONFIGMAPS)
                .ns(CONFIG_MANAGED)
                .names(&["kube-apiserver-client-ca", "kube-apiserver-server-ca"]),
        ),
        20,
    ),
    (
        Step::Op(
            op(A::OcpKubeApiserverOperator, "update", &cat::KUBEAPISERVERS)
                .names(&["cluster"])
                .sub("status"),
        ),
        200,
    ),
    (
        Step::Op(
            op(
                A::OcpKubeApiserverOperator,
                "update",
                &cat::CLUSTEROPERATORS,
            )
            .names(&["kube-apiserver"])
            .sub("status"),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::OcpKubeApiserverOperator, "get", &cat::PODS)
                .ns(KAS)
                .names(&[
                    "kube-apiserver-master-0.ocp.example.com",
                    "installer-12-master-0.ocp.example.com",
                ]),
        ),
        200,
    ),
    (Step::Do(Generator::ocp_installer_pod), 2),
    (Step::Do(Generator::ocp_operator_rbac), 120),
    // The authentication operator and the OAuth server.
    (
        Step::Lease(
            A::OcpAuthenticationOperator,
            "openshift-authentication-operator",
            "cluster-authentication-operator-lock",
        ),
        500,
    ),
    (
        Step::Op(
            op(A::OcpAuthenticationOperator, "get", &cat::SECRETS)
                .ns(AUTH_NAMESPACES)
                .names(AUTH_SECRETS),
        ),
        500,
    ),
    (
        Step::Op(
            op(A::OcpAuthenticationOperator, "update", &cat::SECRETS)
                .ns(&["openshift-authentication", "openshift-oauth-apiserver"])
                .names(AUTH_SECRETS),
        ),
        10,
    ),
    (
        Step::Op(op(A::OcpAuthenticationOperator, "watch", &cat::SECRETS).ns(AUTH_NAMESPACES)),
        100,
    ),
    (
        Step::Op(
            op(A::OcpAuthenticationOperator, "get", &cat::SECRETS)
                .ns(&["kube-system"])
                .names(&["kubeadmin"]),
        ),
        60,
    ),
    (
        Step::Op(
            op(A::OcpAuthenticationOperator, "get", &cat::CONFIGMAPS)
                .ns(AUTH_NAMESPACES)
                .names(&[
                    "v4-0-config-system-cliconfig",
                    "v4-0-config-system-service-ca",
                    "oauth-openshift",
                ]),
        ),
        300,
    ),
    (
        Step::Op(
            op(
                A::OcpAuthenticationOperator,
                "update",
                &cat::CLUSTEROPERATORS,
            )
            .names(&["authentication"])
            .sub("status"),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::OcpOauthServer, "get", &cat::SECRETS)
                .ns(&["kube-system"])
                .names(&["kubeadmin"]),
        ),
        60,
    ),
    (
        Step::Op(op(A::OcpOauthServer, "create", &cat::TOKENREVIEWS)),
        80,
    ),
    // etcd operator: the etcd certificates in openshift-config and openshift-etcd.
    (
        Step::Lease(
            A::OcpEtcdOperator,
            "openshift-etcd-operator",
            "openshift-cluster-etcd-operator-lock",
        ),
        500,
    ),
    (
        Step::Op(
            op(A::OcpEtcdOperator, "get", &cat::SECRETS)
                .ns(&["openshift-etcd", "openshift-config"])
                .names(&[
                    "etcd-all-certs",
                    "etcd-signer",
                    "etcd-metric-signer",
                    "etcd-client",
                ]),
        ),
        300,
    ),
    (
        Step::Op(
            op(A::OcpEtcdOperator, "update", &cat::CONFIGMAPS)
                .ns(&["openshift-etcd"])
                .names(&["etcd-endpoints", "etcd-pod"]),
        ),
        20,
    ),
    // Machine config: the daemon DaemonSet (privileged, the host's root) and the nodes.
    (
        Step::Lease(
            A::OcpMachineConfigOperator,
            "openshift-machine-config-operator",
            "machine-config",
        ),
        400,
    ),
    (
        Step::AddonApply(AddonApply {
            actor: A::OcpMachineConfigOperator,
            namespace: "openshift-machine-config-operator",
            name: "machine-config-daemon",
            manager: "machine-config-operator",
            pod_spec: templates::MACHINE_CONFIG_DAEMON_POD_SPEC,
            images: &[
                "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c",
                "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:1f2e3d4c5b6a79881726354453627180919a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
            ],
        }),
        1,
    ),
    (
        Step::Op(
            op(A::OcpMachineConfigOperator, "get", &cat::SECRETS)
                .ns(&["openshift-machine-config-operator", "openshift-config"])
                .names(&["machine-config-server-tls", "pull-secret"]),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::OcpMachineConfigDaemon, "get", &cat::NODES).names(&["worker-0.ocp.example.com"]),
        ),
        300,
    ),
    (
        Step::Op(
            op(A::OcpMachineConfigDaemon, "patch", &cat::NODES)
                .names(&["worker-0.ocp.example.com"]),
        ),
        80,
    ),
    // Network operator and OVN-Kubernetes (host network: public addresses).
    (
        Step::Op(
            op(A::OcpNetworkOperator, "get", &cat::CONFIGMAPS)
                .ns(&["openshift-network-operator", "openshift-ovn-kubernetes"])
                .names(&["applied-cluster", "ovnkube-config"]),
        ),
        200,
    ),
    (
        Step::Op(
            op(A::OcpNetworkOperator, "update", &cat::CLUSTEROPERATORS)
                .names(&["network"])
                .sub("status"),
        ),
        120,
    ),
    (
        Step::Lease(
            A::OcpNetworkOperator,
            "openshift-network-operator",
            "network-operator-lock",
        ),
        400,
    ),
    (
        Step::Op(op(A::OcpOvnkubeNode, "watch", &cat::ENDPOINTSLICES)),
        120,
    ),
    (
        Step::Op(
            op(A::OcpOvnkubeNode, "watch", &cat::PODS)
                .query("fieldSelector=spec.nodeName%3Dworker-0.ocp.example.com"),
        ),
        120,
    ),
    (
        Step::Op(op(A::OcpOvnkubeNode, "get", &cat::NODES).names(&["worker-0.ocp.example.com"])),
        200,
    ),
    (
        Step::Op(op(A::OcpOvnkubeNode, "patch", &cat::NODES).names(&["worker-0.ocp.example.com"])),
        60,
    ),
    // Cluster version operator: reads every operator's manifests' objects.
    (
        Step::Op(
            op(A::OcpClusterVersionOperator, "get", &cat::DEPLOYMENTS)
                .ns(&[
                    "openshift-kube-apiserver-operator",
                    "openshift-authentication-operator",
                    "openshift-etcd-operator",
                    "openshift-ingress-operator",
                    "openshift-machine-config-operator",
                ])
                .names(&[
                    "kube-apiserver-operator",
                    "authentication-operator",
                    "etcd-operator",
                    "ingress-operator",
                    "machine-config-operator",
                ])
                .code(200),
        ),
        300,
    ),
    (
        Step::Op(op(A::OcpClusterVersionOperator, "get", &cat::CLUSTEROPERATORS).names(OPERATORS)),
        300,
    ),
    (
        Step::Op(
            op(
                A::OcpClusterVersionOperator,
                "get",
                &cat::CLUSTERROLEBINDINGS,
            )
            .names(&[
                "system:openshift:operator:kube-apiserver-operator",
                "system:openshift:operator:authentication",
                "cluster-version-operator",
            ]),
        ),
        160,
    ),
    (
        Step::Op(op(A::OcpClusterVersionOperator, "get", &cat::CRDS).names(&[
            "kubeapiservers.operator.openshift.io",
            "clusteroperators.config.openshift.io",
            "machineconfigs.machineconfiguration.openshift.io",
        ])),
        160,
    ),
    (Step::Do(Generator::ocp_crd_apply), 1),
    (
        Step::Lease(
            A::OcpClusterVersionOperator,
            "openshift-cluster-version",
            "version",
        ),
        400,
    ),
    // The service CA: serving certificates for annotated services, its CA bundle injected into
    // webhooks, CRD conversion and API services that ask for it.
    (
        Step::CaInjection(CaInjection {
            actor: A::OcpServiceCa,
            resource: &cat::VALIDATINGWEBHOOKS,
            configuration: "autoscaling.openshift.io",
            webhook: "clusterautoscalers.autoscaling.openshift.io",
        }),
        3,
    ),
    (
        Step::CaInjection(CaInjection {
            actor: A::OcpServiceCa,
            resource: &cat::MUTATINGWEBHOOKS,
            configuration: "machine-api",
            webhook: "default.machine.machine.openshift.io",
        }),
        3,
    ),
    (Step::Op(op(A::OcpServiceCa, "watch", &cat::SERVICES)), 60),
    (
        Step::Op(op(A::OcpServiceCa, "watch", &cat::VALIDATINGWEBHOOKS)),
        40,
    ),
    (
        Step::Op(op(A::OcpServiceCa, "watch", &cat::MUTATINGWEBHOOKS)),
        40,
    ),
    (Step::Op(op(A::OcpServiceCa, "watch", &cat::CRDS)), 40),
    (
        Step::Op(
            op(A::OcpServiceCa, "get", &cat::SECRETS)
                .ns(&[
                    "openshift-kube-apiserver-operator",
                    "openshift-authentication",
                    "openshift-ingress",
                ])
                .names(&[
                    "serving-cert",
                    "v4-0-config-system-serving-cert",
                    "router-metrics-certs-default",
                ]),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::OcpServiceCa, "update", &cat::SECRETS)
                .ns(&[
                    "openshift-kube-apiserver-operator",
                    "openshift-authentication",
                    "openshift-ingress",
                ])
                .names(&[
                    "serving-cert",
                    "v4-0-config-system-serving-cert",
                    "router-metrics-certs-default",
                ]),
        ),
        2,
    ),
    (
        Step::Op(
            op(A::OcpServiceCa, "update", &cat::CONFIGMAPS)
                .ns(&["openshift-config-managed"])
                .names(&["service-ca"]),
        ),
        2,
    ),
    (
        Step::Lease(
            A::OcpServiceCa,
            "openshift-service-ca",
            "service-ca-controller-lock",
        ),
        300,
    ),
    // Ingress operator: router certificates.
    (
        Step::Op(
            op(A::OcpIngressOperator, "get", &cat::SECRETS)
                .ns(&[
                    "openshift-ingress",
                    "openshift-ingress-operator",
                    "openshift-config-managed",
                ])
                .names(&[
                    "router-certs-default",
                    "router-ca",
                    "router-metrics-certs-default",
                ]),
        ),
        240,
    ),
    (
        Step::Op(
            op(A::OcpIngressOperator, "update", &cat::SECRETS)
                .ns(&["openshift-config-managed"])
                .names(&["router-certs"]),
        ),
        5,
    ),
    (
        Step::Op(op(A::OcpIngressOperator, "watch", &cat::ROUTES)),
        60,
    ),
    (
        Step::Lease(
            A::OcpIngressOperator,
            "openshift-ingress-operator",
            "ingress-operator-lock",
        ),
        300,
    ),
    // Cloud credential operator: the root credentials in kube-system, minted ones per component.
    (
        Step::Op(
            op(A::OcpCloudCredentialOperator, "get", &cat::SECRETS)
                .ns(&["kube-system"])
                .names(&["aws-creds"]),
        ),
        80,
    ),
    (
        Step::Op(
            op(A::OcpCloudCredentialOperator, "get", &cat::SECRETS)
                .ns(&[
                    "openshift-image-registry",
                    "openshift-ingress-operator",
                    "openshift-machine-api",
                ])
                .names(&[
                    "installer-cloud-credentials",
                    "cloud-credentials",
                    "aws-cloud-credentials",
                ]),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::OcpCloudCredentialOperator, "update", &cat::SECRETS)
                .ns(&[
                    "openshift-image-registry",
                    "openshift-ingress-operator",
                    "openshift-machine-api",
                ])
                .names(&[
                    "installer-cloud-credentials",
                    "cloud-credentials",
                    "aws-cloud-credentials",
                ]),
        ),
        3,
    ),
];

impl Generator {
    /// The kube-apiserver operator starting a revision's installer pod on a master: privileged,
    /// with the host's `/etc/kubernetes` (it writes the static pod manifest).
    fn ocp_installer_pod(&mut self, buf: &mut Vec<u8>) {
        let revision = self.rng.range(8, 30).to_string();
        let name = format!("installer-{revision}-master-0.ocp.example.com");
        let owner = uid_of(&["ConfigMap", "openshift-kube-apiserver", &revision]);
        let args = [
            Arg::Raw(&name),
            Arg::Raw(&revision),
            Arg::Uuid(owner),
            Arg::Raw(INSTALLER_IMAGE),
            Arg::Raw(&revision),
            Arg::Raw("master-0.ocp.example.com"),
        ];
        let body = Body::Filled {
            template: templates::OPENSHIFT_INSTALLER_POD,
            args: &args,
            nested: None,
        };
        self.request(
            buf,
            Request::new(A::OcpKubeApiserverOperator, "create", &cat::PODS)
                .namespace("openshift-kube-apiserver")
                .code(201)
                .request_body(&body),
        );
    }

    /// An operator reconciling its operand's RBAC with library-go's resourceapply: a read, and
    /// an update when the object drifted from the manifest (rare).
    fn ocp_operator_rbac(&mut self, buf: &mut Vec<u8>) {
        let actor = *self.rng.pick(&[
            A::OcpKubeApiserverOperator,
            A::OcpAuthenticationOperator,
            A::OcpClusterVersionOperator,
        ]);
        let verb = if self.rng.chance(1, 25) {
            "update"
        } else {
            "get"
        };
        self.apply_rbac(buf, actor, verb, "");
    }

    /// The cluster version operator applying a CRD of the release payload.
    fn ocp_crd_apply(&mut self, buf: &mut Vec<u8>) {
        self.apply_crd(buf, A::OcpClusterVersionOperator, OPERATOR_CRDS, "");
    }
}
