//! Add-ons every kind of cluster runs: cert-manager, the Prometheus stack with
//! kube-state-metrics and metrics-server, and the Istio and Linkerd service meshes.

use crate::catalog::{self as cat, A};
use crate::generator::{Generator, Request};

use super::{APP_NAMESPACES, CaInjection, Step, Token, op};

const CERT_MANAGER_NS: &[&str] = &["cert-manager"];
const KUBE_SYSTEM: &[&str] = &["kube-system"];
const MONITORING_NS: &[&str] = &["monitoring"];
const TLS_SECRETS: &[&str] = &[
    "shop-tls",
    "payments-api-tls",
    "grafana-tls",
    "argocd-server-tls",
];
const CERTIFICATES: &[&str] = &["shop", "payments-api", "grafana", "argocd-server"];
const KSM: A = A::KubeStateMetrics;
/// kube-state-metrics' informers list from the watch cache.
const KSM_LIST: &str = "limit=500&resourceVersion=0";
const ISTIO_SECRETS: &str = "fieldSelector=type%21%3Dhelm.sh%2Frelease.v1";
const ISTIO_NS: &[&str] = &["istio-system"];

pub(super) const CERT_MANAGER: &[(Step, u32)] = &[
    (
        Step::Lease(A::CertManager, "kube-system", "cert-manager-controller"),
        40,
    ),
    (
        Step::Lease(
            A::CertManagerCainjector,
            "kube-system",
            "cert-manager-cainjector-leader-election",
        ),
        40,
    ),
    (Step::Op(op(A::CertManager, "watch", &cat::SECRETS)), 5),
    (Step::Op(op(A::CertManager, "list", &cat::SECRETS)), 2),
    (Step::Op(op(A::CertManager, "watch", &cat::CERTIFICATES)), 4),
    (
        Step::Op(op(A::CertManager, "watch", &cat::CERTIFICATEREQUESTS)),
        4,
    ),
    (Step::Op(op(A::CertManager, "watch", &cat::ORDERS)), 3),
    (Step::Op(op(A::CertManager, "watch", &cat::ISSUERS)), 2),
    (
        Step::Op(op(A::CertManager, "watch", &cat::CLUSTERISSUERS)),
        2,
    ),
    (
        Step::Op(
            op(A::CertManager, "get", &cat::SECRETS)
                .ns(APP_NAMESPACES)
                .names(TLS_SECRETS)
                .code(200),
        ),
        25,
    ),
    (
        Step::Op(
            op(A::CertManager, "update", &cat::SECRETS)
                .ns(APP_NAMESPACES)
                .names(TLS_SECRETS),
        ),
        6,
    ),
    (
        Step::Op(op(A::CertManager, "create", &cat::SECRETS).ns(APP_NAMESPACES)),
        2,
    ),
    (
        Step::Op(
            op(A::CertManager, "get", &cat::SECRETS)
                .ns(CERT_MANAGER_NS)
                .names(&["letsencrypt-prod-account-key", "ca-key-pair"]),
        ),
        6,
    ),
    (
        Step::Op(
            op(A::CertManager, "patch", &cat::CERTIFICATES)
                .ns(APP_NAMESPACES)
                .names(CERTIFICATES)
                .sub("status"),
        ),
        15,
    ),
    (
        Step::Op(op(A::CertManager, "create", &cat::CERTIFICATEREQUESTS).ns(APP_NAMESPACES)),
        3,
    ),
    (
        Step::Op(
            op(A::CertManager, "patch", &cat::CERTIFICATEREQUESTS)
                .ns(APP_NAMESPACES)
                .names(&["shop-1", "payments-api-3", "grafana-7"])
                .sub("status"),
        ),
        6,
    ),
    (
        Step::Op(op(A::CertManager, "create", &cat::EVENTS).ns(APP_NAMESPACES)),
        8,
    ),
    (
        Step::Op(op(
            A::CertManagerCainjector,
            "watch",
            &cat::VALIDATINGWEBHOOKS,
        )),
        3,
    ),
    (
        Step::Op(op(
            A::CertManagerCainjector,
            "watch",
            &cat::MUTATINGWEBHOOKS,
        )),
        3,
    ),
    (
        Step::Op(op(A::CertManagerCainjector, "watch", &cat::CRDS)),
        3,
    ),
    (
        Step::Op(op(A::CertManagerCainjector, "watch", &cat::APISERVICES)),
        2,
    ),
    (
        Step::Op(op(A::CertManagerCainjector, "watch", &cat::SECRETS)),
        3,
    ),
    (
        Step::Op(
            op(A::CertManagerCainjector, "get", &cat::CERTIFICATES)
                .ns(CERT_MANAGER_NS)
                .names(&["cert-manager-webhook-ca"]),
        ),
        6,
    ),
    (
        Step::CaInjection(CaInjection {
            actor: A::CertManagerCainjector,
            resource: &cat::VALIDATINGWEBHOOKS,
            configuration: "cert-manager-webhook",
            webhook: "webhook.cert-manager.io",
        }),
        6,
    ),
    (
        Step::CaInjection(CaInjection {
            actor: A::CertManagerCainjector,
            resource: &cat::MUTATINGWEBHOOKS,
            configuration: "cert-manager-webhook",
            webhook: "webhook.cert-manager.io",
        }),
        6,
    ),
    (
        Step::CaInjection(CaInjection {
            actor: A::CertManagerCainjector,
            resource: &cat::MUTATINGWEBHOOKS,
            configuration: "opentelemetry-operator-mutation",
            webhook: "mpod.kb.io",
        }),
        4,
    ),
    (
        Step::Op(op(
            A::CertManagerWebhook,
            "create",
            &cat::SUBJECTACCESSREVIEWS,
        )),
        10,
    ),
    (
        Step::Op(
            op(A::CertManagerWebhook, "get", &cat::SECRETS)
                .ns(CERT_MANAGER_NS)
                .names(&["cert-manager-webhook-ca"]),
        ),
        6,
    ),
    (
        Step::Op(
            op(A::CertManagerWebhook, "update", &cat::SECRETS)
                .ns(CERT_MANAGER_NS)
                .names(&["cert-manager-webhook-ca"]),
        ),
        1,
    ),
    (
        Step::Op(
            op(A::CertManagerWebhook, "watch", &cat::SECRETS)
                .ns(CERT_MANAGER_NS)
                .query("fieldSelector=metadata.name%3Dcert-manager-webhook-ca"),
        ),
        3,
    ),
];

pub(super) const MONITORING: &[(Step, u32)] = &[
    // kube-state-metrics: one informer per kind, cluster-wide (secrets and configmaps included).
    (Step::Op(op(KSM, "watch", &cat::PODS)), 6),
    (Step::Op(op(KSM, "watch", &cat::NODES)), 4),
    (Step::Op(op(KSM, "watch", &cat::DEPLOYMENTS)), 4),
    (Step::Op(op(KSM, "watch", &cat::DAEMONSETS)), 4),
    (Step::Op(op(KSM, "watch", &cat::STATEFULSETS)), 4),
    (Step::Op(op(KSM, "watch", &cat::REPLICASETS)), 4),
    (Step::Op(op(KSM, "watch", &cat::JOBS)), 4),
    (Step::Op(op(KSM, "watch", &cat::CRONJOBS)), 4),
    (Step::Op(op(KSM, "watch", &cat::SERVICES)), 4),
    (Step::Op(op(KSM, "watch", &cat::ENDPOINTS)), 4),
    (Step::Op(op(KSM, "watch", &cat::CONFIGMAPS)), 4),
    (Step::Op(op(KSM, "watch", &cat::SECRETS)), 4),
    (Step::Op(op(KSM, "watch", &cat::NAMESPACES)), 4),
    (Step::Op(op(KSM, "watch", &cat::PERSISTENTVOLUMES)), 4),
    (Step::Op(op(KSM, "watch", &cat::PERSISTENTVOLUMECLAIMS)), 4),
    (Step::Op(op(KSM, "watch", &cat::RESOURCEQUOTAS)), 4),
    (Step::Op(op(KSM, "watch", &cat::LIMITRANGES)), 4),
    (Step::Op(op(KSM, "watch", &cat::HPAS)), 4),
    (Step::Op(op(KSM, "watch", &cat::PDBS)), 4),
    (Step::Op(op(KSM, "watch", &cat::INGRESSES)), 4),
    (Step::Op(op(KSM, "watch", &cat::NETWORKPOLICIES)), 4),
    (Step::Op(op(KSM, "watch", &cat::STORAGECLASSES)), 4),
    (Step::Op(op(KSM, "watch", &cat::CSRS)), 4),
    (Step::Op(op(KSM, "watch", &cat::LEASES)), 4),
    (Step::Op(op(KSM, "watch", &cat::MUTATINGWEBHOOKS)), 4),
    (Step::Op(op(KSM, "watch", &cat::VALIDATINGWEBHOOKS)), 4),
    (Step::Op(op(KSM, "watch", &cat::VOLUMEATTACHMENTS)), 4),
    (Step::Op(op(KSM, "list", &cat::SECRETS).query(KSM_LIST)), 1),
    (Step::Op(op(KSM, "list", &cat::PODS).query(KSM_LIST)), 1),
    (
        Step::Op(op(KSM, "list", &cat::CONFIGMAPS).query(KSM_LIST)),
        1,
    ),
    (Step::Op(op(KSM, "create", &cat::TOKENREVIEWS)), 4),
    (Step::Op(op(KSM, "create", &cat::SUBJECTACCESSREVIEWS)), 4),
    // Prometheus' service discovery.
    (
        Step::Op(op(A::Prometheus, "watch", &cat::PODS).ns(APP_NAMESPACES)),
        8,
    ),
    (
        Step::Op(op(A::Prometheus, "watch", &cat::SERVICES).ns(APP_NAMESPACES)),
        8,
    ),
    (
        Step::Op(op(A::Prometheus, "watch", &cat::ENDPOINTSLICES).ns(APP_NAMESPACES)),
        8,
    ),
    (
        Step::Op(op(A::Prometheus, "list", &cat::ENDPOINTS).ns(APP_NAMESPACES)),
        4,
    ),
    (Step::Op(op(A::Prometheus, "watch", &cat::NODES)), 3),
    // The operator: its custom resources everywhere, the generated secrets at home.
    (
        Step::Op(op(A::PrometheusOperator, "watch", &cat::SERVICEMONITORS)),
        4,
    ),
    (
        Step::Op(op(A::PrometheusOperator, "watch", &cat::PODMONITORS)),
        4,
    ),
    (
        Step::Op(op(A::PrometheusOperator, "watch", &cat::PROMETHEUSRULES)),
        4,
    ),
    (
        Step::Op(op(A::PrometheusOperator, "watch", &cat::NAMESPACES)),
        3,
    ),
    (
        Step::Op(op(A::PrometheusOperator, "watch", &cat::SECRETS).ns(MONITORING_NS)),
        3,
    ),
    (
        Step::Op(
            op(A::PrometheusOperator, "get", &cat::SECRETS)
                .ns(MONITORING_NS)
                .names(&[
                    "prometheus-k8s-tls-assets-0",
                    "prometheus-k8s-web-config",
                    "prometheus-k8s",
                    "alertmanager-main-generated",
                ]),
        ),
        15,
    ),
    (
        Step::Op(
            op(A::PrometheusOperator, "get", &cat::SECRETS)
                .ns(&["shop", "payments"])
                .names(&["frontend-metrics-auth", "payments-api-metrics-auth"]),
        ),
        4,
    ),
    (
        Step::Op(
            op(A::PrometheusOperator, "update", &cat::CONFIGMAPS)
                .ns(MONITORING_NS)
                .names(&["prometheus-k8s-rulefiles-0"]),
        ),
        6,
    ),
    (
        Step::Op(
            op(A::PrometheusOperator, "update", &cat::PROMETHEUSES)
                .ns(MONITORING_NS)
                .names(&["k8s"])
                .sub("status"),
        ),
        8,
    ),
    // metrics-server and the Grafana sidecars.
    (Step::Op(op(A::MetricsServer, "list", &cat::NODES)), 3),
    (Step::Op(op(A::MetricsServer, "watch", &cat::NODES)), 3),
    (Step::Op(op(A::MetricsServer, "watch", &cat::PODS)), 3),
    (
        Step::Op(
            op(A::MetricsServer, "get", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&["extension-apiserver-authentication"]),
        ),
        4,
    ),
    (
        Step::Op(op(A::MetricsServer, "create", &cat::SUBJECTACCESSREVIEWS)),
        15,
    ),
    (
        Step::Op(op(A::MetricsServer, "create", &cat::TOKENREVIEWS)),
        5,
    ),
    (
        Step::Op(
            op(A::Grafana, "watch", &cat::CONFIGMAPS)
                .ns(MONITORING_NS)
                .query("labelSelector=grafana_dashboard%3D1"),
        ),
        4,
    ),
    (
        Step::Op(
            op(A::Grafana, "watch", &cat::SECRETS)
                .ns(MONITORING_NS)
                .query("labelSelector=grafana_datasource%3D1"),
        ),
        3,
    ),
];

pub(super) const SERVICE_MESH: &[(Step, u32)] = &[
    // istiod: the mesh's configuration, endpoints and gateway credentials, everywhere.
    (
        Step::Op(op(A::Istiod, "watch", &cat::SECRETS).query(ISTIO_SECRETS)),
        4,
    ),
    (
        Step::Op(
            op(A::Istiod, "list", &cat::SECRETS)
                .query("fieldSelector=type%21%3Dhelm.sh%2Frelease.v1&limit=500&resourceVersion=0"),
        ),
        1,
    ),
    (Step::Op(op(A::Istiod, "watch", &cat::CONFIGMAPS)), 4),
    (Step::Op(op(A::Istiod, "watch", &cat::PODS)), 4),
    (Step::Op(op(A::Istiod, "watch", &cat::SERVICES)), 4),
    (Step::Op(op(A::Istiod, "watch", &cat::ENDPOINTSLICES)), 4),
    (Step::Op(op(A::Istiod, "watch", &cat::NAMESPACES)), 3),
    (Step::Op(op(A::Istiod, "watch", &cat::NODES)), 3),
    (Step::Op(op(A::Istiod, "watch", &cat::VIRTUALSERVICES)), 3),
    (Step::Op(op(A::Istiod, "watch", &cat::DESTINATIONRULES)), 3),
    (
        Step::Op(op(A::Istiod, "watch", &cat::PEERAUTHENTICATIONS)),
        3,
    ),
    (
        Step::Op(
            op(A::Istiod, "get", &cat::SECRETS)
                .ns(ISTIO_NS)
                .names(&["istio-ca-secret", "cacerts"]),
        ),
        6,
    ),
    (
        Step::Op(
            op(A::Istiod, "get", &cat::SECRETS)
                .ns(&["istio-ingress"])
                .names(&["shop-gateway-credential"]),
        ),
        3,
    ),
    (
        Step::Op(
            op(A::Istiod, "update", &cat::CONFIGMAPS)
                .ns(APP_NAMESPACES)
                .names(&["istio-ca-root-cert"]),
        ),
        8,
    ),
    (
        Step::Op(
            op(A::Istiod, "create", &cat::CONFIGMAPS)
                .ns(APP_NAMESPACES)
                .code(409),
        ),
        2,
    ),
    (Step::Op(op(A::Istiod, "create", &cat::TOKENREVIEWS)), 25),
    (
        Step::CaInjection(CaInjection {
            actor: A::Istiod,
            resource: &cat::MUTATINGWEBHOOKS,
            configuration: "istio-sidecar-injector",
            webhook: "namespace.sidecar-injector.istio.io",
        }),
        4,
    ),
    (
        Step::CaInjection(CaInjection {
            actor: A::Istiod,
            resource: &cat::VALIDATINGWEBHOOKS,
            configuration: "istio-validator-istio-system",
            webhook: "rev.validation.istio.io",
        }),
        4,
    ),
    (Step::Lease(A::Istiod, "istio-system", "istio-leader"), 15),
    (
        Step::Lease(
            A::Istiod,
            "istio-system",
            "istio-namespace-controller-election",
        ),
        15,
    ),
    // Every meshed pod's kubelet mints the proxy's istio-ca token.
    (
        Step::Token(Token {
            node: A::NodeWorker1,
            service_account: "frontend",
            namespace: "shop",
            audience: "istio-ca",
            expiration_seconds: 43_200,
        }),
        6,
    ),
    (
        Step::Token(Token {
            node: A::NodeWorker2,
            service_account: "payments-api",
            namespace: "payments",
            audience: "istio-ca",
            expiration_seconds: 43_200,
        }),
        6,
    ),
    (Step::Do(Generator::istio_injector_install), 3),
    // Linkerd: destination's discovery, identity's token reviews, the injector.
    (
        Step::Op(op(A::LinkerdDestination, "watch", &cat::ENDPOINTSLICES)),
        4,
    ),
    (Step::Op(op(A::LinkerdDestination, "watch", &cat::PODS)), 4),
    (
        Step::Op(op(A::LinkerdDestination, "watch", &cat::SERVICES)),
        4,
    ),
    (
        Step::Op(op(A::LinkerdDestination, "watch", &cat::LINKERDSERVERS)),
        3,
    ),
    (
        Step::Lease(
            A::LinkerdDestination,
            "linkerd",
            "linkerd-destination-write",
        ),
        15,
    ),
    (
        Step::Op(op(A::LinkerdIdentity, "create", &cat::TOKENREVIEWS)),
        20,
    ),
    (
        Step::Op(
            op(A::LinkerdIdentity, "get", &cat::SECRETS)
                .ns(&["linkerd"])
                .names(&["linkerd-identity-issuer"]),
        ),
        2,
    ),
    (
        Step::Op(op(A::LinkerdIdentity, "create", &cat::EVENTS).ns(&["linkerd"])),
        3,
    ),
    (
        Step::Op(op(A::LinkerdProxyInjector, "get", &cat::NAMESPACES).names(&["redis", "logging"])),
        6,
    ),
    (
        Step::Token(Token {
            node: A::NodeWorker3,
            service_account: "redis",
            namespace: "redis",
            audience: "identity.l5d.io",
            expiration_seconds: 86_400,
        }),
        5,
    ),
    (Step::Do(Generator::linkerd_injector_install), 3),
];

impl Generator {
    /// Helm upgrading Istio: it reads the sidecar injector webhook's configuration, and on a
    /// chart change (rare) writes it.
    fn istio_injector_install(&mut self, buf: &mut Vec<u8>) {
        if !self.rng.chance(1, 100) {
            let request = Request::new(A::AdminHelm, "get", &cat::MUTATINGWEBHOOKS);
            self.request(buf, request.name("istio-sidecar-injector"));
            return;
        }
        self.write_webhook_configuration(
            buf,
            A::AdminHelm,
            "create",
            "MutatingWebhookConfiguration",
            "istio-sidecar-injector",
            "namespace.sidecar-injector.istio.io",
            ("istio-system", "istiod", "/inject"),
            "Fail",
            "Helm",
        );
    }

    /// Helm upgrading Linkerd: it reads the proxy injector webhook's configuration, and on a
    /// chart change (rare) writes it (the chart's default failure policy is Ignore).
    fn linkerd_injector_install(&mut self, buf: &mut Vec<u8>) {
        if !self.rng.chance(1, 100) {
            let request = Request::new(A::AdminHelm, "get", &cat::MUTATINGWEBHOOKS);
            self.request(buf, request.name("linkerd-proxy-injector-webhook-config"));
            return;
        }
        self.write_webhook_configuration(
            buf,
            A::AdminHelm,
            "create",
            "MutatingWebhookConfiguration",
            "linkerd-proxy-injector-webhook-config",
            "linkerd-proxy-injector.linkerd.io",
            ("linkerd", "linkerd-proxy-injector", "/"),
            "Ignore",
            "Helm",
        );
    }
}
