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
        800,
    ),
    (
        Step::Lease(
            A::CertManagerCainjector,
            "kube-system",
            "cert-manager-cainjector-leader-election",
        ),
        800,
    ),
    (Step::Op(op(A::CertManager, "watch", &cat::SECRETS)), 100),
    (Step::Op(op(A::CertManager, "list", &cat::SECRETS)), 40),
    (
        Step::Op(op(A::CertManager, "watch", &cat::CERTIFICATES)),
        80,
    ),
    (
        Step::Op(op(A::CertManager, "watch", &cat::CERTIFICATEREQUESTS)),
        80,
    ),
    (Step::Op(op(A::CertManager, "watch", &cat::ORDERS)), 60),
    (Step::Op(op(A::CertManager, "watch", &cat::ISSUERS)), 40),
    (
        Step::Op(op(A::CertManager, "watch", &cat::CLUSTERISSUERS)),
        40,
    ),
    (
        Step::Op(
            op(A::CertManager, "get", &cat::SECRETS)
                .ns(APP_NAMESPACES)
                .names(TLS_SECRETS)
                .code(200),
        ),
        500,
    ),
    (
        Step::Op(
            op(A::CertManager, "update", &cat::SECRETS)
                .ns(APP_NAMESPACES)
                .names(TLS_SECRETS),
        ),
        10,
    ),
    (
        Step::Op(op(A::CertManager, "create", &cat::SECRETS).ns(APP_NAMESPACES)),
        4,
    ),
    (
        Step::Op(
            op(A::CertManager, "get", &cat::SECRETS)
                .ns(CERT_MANAGER_NS)
                .names(&["letsencrypt-prod-account-key", "ca-key-pair"]),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::CertManager, "patch", &cat::CERTIFICATES)
                .ns(APP_NAMESPACES)
                .names(CERTIFICATES)
                .sub("status"),
        ),
        300,
    ),
    (
        Step::Op(op(A::CertManager, "create", &cat::CERTIFICATEREQUESTS).ns(APP_NAMESPACES)),
        60,
    ),
    (
        Step::Op(
            op(A::CertManager, "patch", &cat::CERTIFICATEREQUESTS)
                .ns(APP_NAMESPACES)
                .names(&["shop-1", "payments-api-3", "grafana-7"])
                .sub("status"),
        ),
        120,
    ),
    (
        Step::Op(op(A::CertManager, "create", &cat::EVENTS).ns(APP_NAMESPACES)),
        160,
    ),
    (
        Step::Op(op(
            A::CertManagerCainjector,
            "watch",
            &cat::VALIDATINGWEBHOOKS,
        )),
        60,
    ),
    (
        Step::Op(op(
            A::CertManagerCainjector,
            "watch",
            &cat::MUTATINGWEBHOOKS,
        )),
        60,
    ),
    (
        Step::Op(op(A::CertManagerCainjector, "watch", &cat::CRDS)),
        60,
    ),
    (
        Step::Op(op(A::CertManagerCainjector, "watch", &cat::APISERVICES)),
        40,
    ),
    (
        Step::Op(op(A::CertManagerCainjector, "watch", &cat::SECRETS)),
        60,
    ),
    (
        Step::Op(
            op(A::CertManagerCainjector, "get", &cat::CERTIFICATES)
                .ns(CERT_MANAGER_NS)
                .names(&["cert-manager-webhook-ca"]),
        ),
        120,
    ),
    (
        Step::CaInjection(CaInjection {
            actor: A::CertManagerCainjector,
            resource: &cat::VALIDATINGWEBHOOKS,
            configuration: "cert-manager-webhook",
            webhook: "webhook.cert-manager.io",
        }),
        2,
    ),
    (
        Step::CaInjection(CaInjection {
            actor: A::CertManagerCainjector,
            resource: &cat::MUTATINGWEBHOOKS,
            configuration: "cert-manager-webhook",
            webhook: "webhook.cert-manager.io",
        }),
        2,
    ),
    (
        Step::CaInjection(CaInjection {
            actor: A::CertManagerCainjector,
            resource: &cat::MUTATINGWEBHOOKS,
            configuration: "opentelemetry-operator-mutation",
            webhook: "mpod.kb.io",
        }),
        1,
    ),
    (
        Step::Op(op(
            A::CertManagerWebhook,
            "create",
            &cat::SUBJECTACCESSREVIEWS,
        )),
        200,
    ),
    (
        Step::Op(
            op(A::CertManagerWebhook, "get", &cat::SECRETS)
                .ns(CERT_MANAGER_NS)
                .names(&["cert-manager-webhook-ca"]),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::CertManagerWebhook, "update", &cat::SECRETS)
                .ns(CERT_MANAGER_NS)
                .names(&["cert-manager-webhook-ca"]),
        ),
        20,
    ),
    (
        Step::Op(
            op(A::CertManagerWebhook, "watch", &cat::SECRETS)
                .ns(CERT_MANAGER_NS)
                .query("fieldSelector=metadata.name%3Dcert-manager-webhook-ca"),
        ),
        60,
    ),
];

pub(super) const MONITORING: &[(Step, u32)] = &[
    // kube-state-metrics: one informer per kind, cluster-wide (secrets and configmaps included).
    (Step::Op(op(KSM, "watch", &cat::PODS)), 120),
    (Step::Op(op(KSM, "watch", &cat::NODES)), 80),
    (Step::Op(op(KSM, "watch", &cat::DEPLOYMENTS)), 80),
    (Step::Op(op(KSM, "watch", &cat::DAEMONSETS)), 80),
    (Step::Op(op(KSM, "watch", &cat::STATEFULSETS)), 80),
    (Step::Op(op(KSM, "watch", &cat::REPLICASETS)), 80),
    (Step::Op(op(KSM, "watch", &cat::JOBS)), 80),
    (Step::Op(op(KSM, "watch", &cat::CRONJOBS)), 80),
    (Step::Op(op(KSM, "watch", &cat::SERVICES)), 80),
    (Step::Op(op(KSM, "watch", &cat::ENDPOINTS)), 80),
    (Step::Op(op(KSM, "watch", &cat::CONFIGMAPS)), 80),
    (Step::Op(op(KSM, "watch", &cat::SECRETS)), 80),
    (Step::Op(op(KSM, "watch", &cat::NAMESPACES)), 80),
    (Step::Op(op(KSM, "watch", &cat::PERSISTENTVOLUMES)), 80),
    (Step::Op(op(KSM, "watch", &cat::PERSISTENTVOLUMECLAIMS)), 80),
    (Step::Op(op(KSM, "watch", &cat::RESOURCEQUOTAS)), 80),
    (Step::Op(op(KSM, "watch", &cat::LIMITRANGES)), 80),
    (Step::Op(op(KSM, "watch", &cat::HPAS)), 80),
    (Step::Op(op(KSM, "watch", &cat::PDBS)), 80),
    (Step::Op(op(KSM, "watch", &cat::INGRESSES)), 80),
    (Step::Op(op(KSM, "watch", &cat::NETWORKPOLICIES)), 80),
    (Step::Op(op(KSM, "watch", &cat::STORAGECLASSES)), 80),
    (Step::Op(op(KSM, "watch", &cat::CSRS)), 80),
    (Step::Op(op(KSM, "watch", &cat::LEASES)), 80),
    (Step::Op(op(KSM, "watch", &cat::MUTATINGWEBHOOKS)), 80),
    (Step::Op(op(KSM, "watch", &cat::VALIDATINGWEBHOOKS)), 80),
    (Step::Op(op(KSM, "watch", &cat::VOLUMEATTACHMENTS)), 80),
    (Step::Op(op(KSM, "list", &cat::SECRETS).query(KSM_LIST)), 20),
    (Step::Op(op(KSM, "list", &cat::PODS).query(KSM_LIST)), 20),
    (
        Step::Op(op(KSM, "list", &cat::CONFIGMAPS).query(KSM_LIST)),
        20,
    ),
    (Step::Op(op(KSM, "create", &cat::TOKENREVIEWS)), 80),
    (Step::Op(op(KSM, "create", &cat::SUBJECTACCESSREVIEWS)), 80),
    // Prometheus' service discovery.
    (
        Step::Op(op(A::Prometheus, "watch", &cat::PODS).ns(APP_NAMESPACES)),
        160,
    ),
    (
        Step::Op(op(A::Prometheus, "watch", &cat::SERVICES).ns(APP_NAMESPACES)),
        160,
    ),
    (
        Step::Op(op(A::Prometheus, "watch", &cat::ENDPOINTSLICES).ns(APP_NAMESPACES)),
        160,
    ),
    (
        Step::Op(op(A::Prometheus, "list", &cat::ENDPOINTS).ns(APP_NAMESPACES)),
        80,
    ),
    (Step::Op(op(A::Prometheus, "watch", &cat::NODES)), 60),
    // The operator: its custom resources everywhere, the generated secrets at home.
    (
        Step::Op(op(A::PrometheusOperator, "watch", &cat::SERVICEMONITORS)),
        80,
    ),
    (
        Step::Op(op(A::PrometheusOperator, "watch", &cat::PODMONITORS)),
        80,
    ),
    (
        Step::Op(op(A::PrometheusOperator, "watch", &cat::PROMETHEUSRULES)),
        80,
    ),
    (
        Step::Op(op(A::PrometheusOperator, "watch", &cat::NAMESPACES)),
        60,
    ),
    (
        Step::Op(op(A::PrometheusOperator, "watch", &cat::SECRETS).ns(MONITORING_NS)),
        60,
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
        300,
    ),
    (
        Step::Op(
            op(A::PrometheusOperator, "get", &cat::SECRETS)
                .ns(&["shop", "payments"])
                .names(&["frontend-metrics-auth", "payments-api-metrics-auth"]),
        ),
        80,
    ),
    (
        Step::Op(
            op(A::PrometheusOperator, "update", &cat::CONFIGMAPS)
                .ns(MONITORING_NS)
                .names(&["prometheus-k8s-rulefiles-0"]),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::PrometheusOperator, "update", &cat::PROMETHEUSES)
                .ns(MONITORING_NS)
                .names(&["k8s"])
                .sub("status"),
        ),
        160,
    ),
    // metrics-server and the Grafana sidecars.
    (Step::Op(op(A::MetricsServer, "list", &cat::NODES)), 60),
    (Step::Op(op(A::MetricsServer, "watch", &cat::NODES)), 60),
    (Step::Op(op(A::MetricsServer, "watch", &cat::PODS)), 60),
    (
        Step::Op(
            op(A::MetricsServer, "get", &cat::CONFIGMAPS)
                .ns(KUBE_SYSTEM)
                .names(&["extension-apiserver-authentication"]),
        ),
        80,
    ),
    (
        Step::Op(op(A::MetricsServer, "create", &cat::SUBJECTACCESSREVIEWS)),
        300,
    ),
    (
        Step::Op(op(A::MetricsServer, "create", &cat::TOKENREVIEWS)),
        100,
    ),
    (
        Step::Op(
            op(A::Grafana, "watch", &cat::CONFIGMAPS)
                .ns(MONITORING_NS)
                .query("labelSelector=grafana_dashboard%3D1"),
        ),
        80,
    ),
    (
        Step::Op(
            op(A::Grafana, "watch", &cat::SECRETS)
                .ns(MONITORING_NS)
                .query("labelSelector=grafana_datasource%3D1"),
        ),
        60,
    ),
];

pub(super) const SERVICE_MESH: &[(Step, u32)] = &[
    // istiod: the mesh's configuration, endpoints and gateway credentials, everywhere.
    (
        Step::Op(op(A::Istiod, "watch", &cat::SECRETS).query(ISTIO_SECRETS)),
        80,
    ),
    (
        Step::Op(
            op(A::Istiod, "list", &cat::SECRETS)
                .query("fieldSelector=type%21%3Dhelm.sh%2Frelease.v1&limit=500&resourceVersion=0"),
        ),
        20,
    ),
    (Step::Op(op(A::Istiod, "watch", &cat::CONFIGMAPS)), 80),
    (Step::Op(op(A::Istiod, "watch", &cat::PODS)), 80),
    (Step::Op(op(A::Istiod, "watch", &cat::SERVICES)), 80),
    (Step::Op(op(A::Istiod, "watch", &cat::ENDPOINTSLICES)), 80),
    (Step::Op(op(A::Istiod, "watch", &cat::NAMESPACES)), 60),
    (Step::Op(op(A::Istiod, "watch", &cat::NODES)), 60),
    (Step::Op(op(A::Istiod, "watch", &cat::VIRTUALSERVICES)), 60),
    (Step::Op(op(A::Istiod, "watch", &cat::DESTINATIONRULES)), 60),
    (
        Step::Op(op(A::Istiod, "watch", &cat::PEERAUTHENTICATIONS)),
        60,
    ),
    (
        Step::Op(
            op(A::Istiod, "get", &cat::SECRETS)
                .ns(ISTIO_NS)
                .names(&["istio-ca-secret", "cacerts"]),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::Istiod, "get", &cat::SECRETS)
                .ns(&["istio-ingress"])
                .names(&["shop-gateway-credential"]),
        ),
        60,
    ),
    (
        Step::Op(
            op(A::Istiod, "update", &cat::CONFIGMAPS)
                .ns(APP_NAMESPACES)
                .names(&["istio-ca-root-cert"]),
        ),
        160,
    ),
    (
        Step::Op(
            op(A::Istiod, "create", &cat::CONFIGMAPS)
                .ns(APP_NAMESPACES)
                .code(409),
        ),
        40,
    ),
    (Step::Op(op(A::Istiod, "create", &cat::TOKENREVIEWS)), 500),
    (
        Step::CaInjection(CaInjection {
            actor: A::Istiod,
            resource: &cat::MUTATINGWEBHOOKS,
            configuration: "istio-sidecar-injector",
            webhook: "namespace.sidecar-injector.istio.io",
        }),
        2,
    ),
    (
        Step::CaInjection(CaInjection {
            actor: A::Istiod,
            resource: &cat::VALIDATINGWEBHOOKS,
            configuration: "istio-validator-istio-system",
            webhook: "rev.validation.istio.io",
        }),
        2,
    ),
    (Step::Lease(A::Istiod, "istio-system", "istio-leader"), 300),
    (
        Step::Lease(
            A::Istiod,
            "istio-system",
            "istio-namespace-controller-election",
        ),
        300,
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
        120,
    ),
    (
        Step::Token(Token {
            node: A::NodeWorker2,
            service_account: "payments-api",
            namespace: "payments",
            audience: "istio-ca",
            expiration_seconds: 43_200,
        }),
        120,
    ),
    (Step::Do(Generator::istio_injector_install), 60),
    // Linkerd: destination's discovery, identity's token reviews, the injector.
    (
        Step::Op(op(A::LinkerdDestination, "watch", &cat::ENDPOINTSLICES)),
        80,
    ),
    (Step::Op(op(A::LinkerdDestination, "watch", &cat::PODS)), 80),
    (
        Step::Op(op(A::LinkerdDestination, "watch", &cat::SERVICES)),
        80,
    ),
    (
        Step::Op(op(A::LinkerdDestination, "watch", &cat::LINKERDSERVERS)),
        60,
    ),
    (
        Step::Lease(
            A::LinkerdDestination,
            "linkerd",
            "linkerd-destination-write",
        ),
        300,
    ),
    (
        Step::Op(op(A::LinkerdIdentity, "create", &cat::TOKENREVIEWS)),
        400,
    ),
    (
        Step::Op(
            op(A::LinkerdIdentity, "get", &cat::SECRETS)
                .ns(&["linkerd"])
                .names(&["linkerd-identity-issuer"]),
        ),
        40,
    ),
    (
        Step::Op(op(A::LinkerdIdentity, "create", &cat::EVENTS).ns(&["linkerd"])),
        60,
    ),
    (
        Step::Op(op(A::LinkerdProxyInjector, "get", &cat::NAMESPACES).names(&["redis", "logging"])),
        120,
    ),
    (
        Step::Token(Token {
            node: A::NodeWorker3,
            service_account: "redis",
            namespace: "redis",
            audience: "identity.l5d.io",
            expiration_seconds: 86_400,
        }),
        100,
    ),
    (Step::Do(Generator::linkerd_injector_install), 60),
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
