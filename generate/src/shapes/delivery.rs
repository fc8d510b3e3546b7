//! Delivery: Argo CD and Flux reconciling from Git, Helm releases, CI service accounts deploying.

use crate::catalog::{self as cat, A};
use crate::generator::{Generator, Request};

use super::{APP_NAMESPACES, Step, op};

const ARGO: A = A::ArgocdApplicationController;
const ARGO_APPLY: &str = "fieldManager=argocd-controller&force=true";
const FLUX_APPLY: &str = "fieldManager=kustomize-controller&force=true";
const FLUX_DRY_RUN: &str = "dryRun=All&fieldManager=kustomize-controller&force=true";
const KUBECTL_APPLY: &str = "fieldManager=kubectl&fieldValidation=Strict&force=false";
const ARGOCD: &[&str] = &["argocd"];
const FLUX_SYSTEM: &[&str] = &["flux-system"];
const APPLICATIONS: &[&str] = &[
    "shop",
    "payments",
    "monitoring",
    "cert-manager",
    "ingress-nginx",
    "logging",
];
/// CRDs of the add-ons a GitOps repository ships.
const ADDON_CRDS: &[(&str, &str, &str)] = &[
    ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
    ("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
    ("cert-manager.io", "Certificate", "certificates"),
    ("cert-manager.io", "ClusterIssuer", "clusterissuers"),
    ("external-secrets.io", "ExternalSecret", "externalsecrets"),
];
/// Helm releases and their namespaces.
const RELEASES: &[(&str, &str)] = &[
    ("frontend", "shop"),
    ("cart", "shop"),
    ("payments-api", "payments"),
    ("redis", "redis"),
    ("loki", "logging"),
    ("kube-prometheus-stack", "monitoring"),
];

pub(super) const GITOPS: &[(Step, u32)] = &[
    // Argo CD's cluster cache: a watch on every resource type, secrets included.
    (Step::Op(op(ARGO, "watch", &cat::SECRETS)), 80),
    (
        Step::Op(op(ARGO, "list", &cat::SECRETS).query("limit=500")),
        40,
    ),
    (Step::Op(op(ARGO, "watch", &cat::CONFIGMAPS)), 80),
    (
        Step::Op(op(ARGO, "list", &cat::DEPLOYMENTS).query("limit=500")),
        60,
    ),
    (Step::Op(op(ARGO, "watch", &cat::DEPLOYMENTS)), 80),
    (Step::Op(op(ARGO, "watch", &cat::CLUSTERROLES)), 60),
    (Step::Op(op(ARGO, "watch", &cat::ROLEBINDINGS)), 60),
    (Step::Op(op(ARGO, "watch", &cat::CRDS)), 60),
    (Step::Op(op(ARGO, "watch", &cat::SERVICES)), 60),
    (Step::Op(op(ARGO, "watch", &cat::PODS)), 80),
    (
        Step::Op(op(ARGO, "watch", &cat::APPLICATIONS).ns(ARGOCD)),
        80,
    ),
    (
        Step::Op(
            op(ARGO, "patch", &cat::APPLICATIONS)
                .ns(ARGOCD)
                .names(APPLICATIONS),
        ),
        800,
    ),
    (
        Step::Op(
            op(ARGO, "get", &cat::APPPROJECTS)
                .ns(ARGOCD)
                .names(&["default", "platform"]),
        ),
        200,
    ),
    (Step::Do(Generator::argocd_apply_workload), 600),
    (Step::Do(Generator::argocd_apply_rbac), 2),
    (Step::Do(Generator::argocd_apply_crd), 1),
    (
        Step::Op(
            op(ARGO, "patch", &cat::SERVICES)
                .ns(APP_NAMESPACES)
                .names(&["frontend", "cart", "checkout", "payments-api"])
                .query(ARGO_APPLY),
        ),
        160,
    ),
    (
        Step::Op(
            op(ARGO, "patch", &cat::CONFIGMAPS)
                .ns(APP_NAMESPACES)
                .names(&["app-settings", "frontend-config"])
                .query(ARGO_APPLY),
        ),
        160,
    ),
    (
        Step::Op(
            op(A::ArgocdServer, "get", &cat::APPLICATIONS)
                .ns(ARGOCD)
                .names(APPLICATIONS),
        ),
        400,
    ),
    (
        Step::Op(
            op(A::ArgocdServer, "list", &cat::SECRETS)
                .ns(ARGOCD)
                .query("labelSelector=argocd.argoproj.io%2Fsecret-type%3Dcluster"),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::ArgocdServer, "get", &cat::SECRETS)
                .ns(ARGOCD)
                .names(&[
                    "argocd-secret",
                    "argocd-notifications-secret",
                    "repo-2891843261",
                ]),
        ),
        160,
    ),
    (
        Step::Op(
            op(
                A::ArgocdApplicationsetController,
                "watch",
                &cat::APPLICATIONS,
            )
            .ns(ARGOCD),
        ),
        60,
    ),
    (
        Step::Op(
            op(
                A::ArgocdApplicationsetController,
                "patch",
                &cat::APPLICATIONS,
            )
            .ns(ARGOCD)
            .names(APPLICATIONS),
        ),
        160,
    ),
    (
        Step::Op(
            op(
                A::ArgocdApplicationsetController,
                "create",
                &cat::APPLICATIONS,
            )
            .ns(ARGOCD)
            .code(409),
        ),
        1,
    ),
    (
        Step::Lease(
            A::ArgocdApplicationsetController,
            "argocd",
            "58ac56fa.applicationsets.argoproj.io",
        ),
        400,
    ),
    // Flux: a dry run and then the apply, status of the Kustomizations, release storage.
    (Step::Do(Generator::flux_apply_workload), 500),
    (Step::Do(Generator::flux_apply_rbac), 2),
    (Step::Do(Generator::flux_apply_crd), 1),
    (
        Step::Op(
            op(A::FluxKustomizeController, "patch", &cat::KUSTOMIZATIONS)
                .ns(FLUX_SYSTEM)
                .names(&["flux-system", "apps", "infrastructure", "monitoring"])
                .sub("status"),
        ),
        500,
    ),
    (
        Step::Op(
            op(A::FluxKustomizeController, "get", &cat::SECRETS)
                .ns(FLUX_SYSTEM)
                .names(&["sops-age"]),
        ),
        120,
    ),
    (
        Step::Lease(
            A::FluxKustomizeController,
            "flux-system",
            "kustomize-controller-leader-election",
        ),
        400,
    ),
    (Step::Do(Generator::flux_helm_release_storage), 300),
    (
        Step::Op(
            op(A::FluxHelmController, "patch", &cat::HELMRELEASES)
                .ns(FLUX_SYSTEM)
                .names(&["kube-prometheus-stack", "cert-manager", "ingress-nginx"])
                .sub("status"),
        ),
        300,
    ),
    (
        Step::Lease(
            A::FluxHelmController,
            "flux-system",
            "helm-controller-leader-election",
        ),
        400,
    ),
    (
        Step::Op(
            op(A::FluxSourceController, "get", &cat::SECRETS)
                .ns(FLUX_SYSTEM)
                .names(&["flux-system"]),
        ),
        160,
    ),
    (
        Step::Op(
            op(A::FluxSourceController, "patch", &cat::GITREPOSITORIES)
                .ns(FLUX_SYSTEM)
                .names(&["flux-system"])
                .sub("status"),
        ),
        300,
    ),
    (
        Step::Lease(
            A::FluxSourceController,
            "flux-system",
            "source-controller-leader-election",
        ),
        400,
    ),
];

pub(super) const HELM: &[(Step, u32)] = &[
    (Step::Do(Generator::helm_release_storage), 2400),
    (Step::Do(Generator::helm_apply_workload), 800),
    // `helm list -A`: every release record in the cluster.
    (
        Step::Op(op(A::AdminHelm, "list", &cat::SECRETS).query("labelSelector=owner%3Dhelm")),
        2,
    ),
    (
        Step::Op(
            op(A::CiHelmDeployer, "list", &cat::SECRETS)
                .query("labelSelector=owner%3Dhelm%2Cstatus%3Ddeployed"),
        ),
        1,
    ),
    (Step::Do(Generator::helm_apply_rbac), 2),
    (
        Step::Op(
            op(A::AdminHelm, "patch", &cat::CONFIGMAPS)
                .ns(APP_NAMESPACES)
                .names(&["app-settings", "frontend-config"])
                .query("fieldManager=helm"),
        ),
        200,
    ),
    (
        Step::Op(
            op(A::AdminHelm, "patch", &cat::SERVICES)
                .ns(APP_NAMESPACES)
                .names(&["frontend", "cart", "payments-api"])
                .query("fieldManager=helm"),
        ),
        160,
    ),
    (
        Step::Op(
            op(A::AdminHelm, "get", &cat::DEPLOYMENTS)
                .ns(APP_NAMESPACES)
                .names(&["frontend", "cart", "payments-api"]),
        ),
        300,
    ),
    (
        Step::Op(
            op(A::AdminHelm, "list", &cat::PODS)
                .ns(APP_NAMESPACES)
                .query("labelSelector=app.kubernetes.io%2Finstance%3Dfrontend"),
        ),
        160,
    ),
    (
        Step::Op(
            op(A::HelmDeveloper, "get", &cat::DEPLOYMENTS)
                .ns(&["shop"])
                .names(&["frontend", "cart", "checkout"]),
        ),
        240,
    ),
    (
        Step::Op(
            op(A::HelmDeveloper, "list", &cat::PODS)
                .ns(&["shop"])
                .query("labelSelector=app.kubernetes.io%2Finstance%3Dcart"),
        ),
        160,
    ),
    (
        Step::Op(
            op(A::HelmDeveloper, "patch", &cat::CONFIGMAPS)
                .ns(&["shop"])
                .names(&["cart-config", "app-settings"])
                .query("fieldManager=helm"),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::CiHelmDeployer, "get", &cat::DEPLOYMENTS)
                .ns(APP_NAMESPACES)
                .names(&["frontend", "cart", "payments-api", "redis-master"]),
        ),
        300,
    ),
    (
        Step::Op(
            op(A::CiHelmDeployer, "watch", &cat::PODS)
                .ns(APP_NAMESPACES)
                .query("labelSelector=app.kubernetes.io%2Finstance%3Dpayments-api"),
        ),
        120,
    ),
];

pub(super) const CI: &[(Step, u32)] = &[
    (Step::Do(Generator::ci_apply_workload), 800),
    (
        Step::Op(
            op(A::CiGitlabDeployer, "get", &cat::DEPLOYMENTS)
                .ns(APP_NAMESPACES)
                .names(&["frontend", "cart", "checkout", "payments-api"]),
        ),
        600,
    ),
    (
        Step::Op(
            op(A::CiGitlabDeployer, "watch", &cat::DEPLOYMENTS)
                .ns(APP_NAMESPACES)
                .query("fieldSelector=metadata.name%3Dfrontend"),
        ),
        300,
    ),
    (
        Step::Op(
            op(A::CiGitlabDeployer, "list", &cat::REPLICASETS)
                .ns(APP_NAMESPACES)
                .query("labelSelector=app.kubernetes.io%2Fname%3Dfrontend"),
        ),
        200,
    ),
    (
        Step::Op(
            op(A::CiGitlabDeployer, "list", &cat::PODS)
                .ns(APP_NAMESPACES)
                .query("labelSelector=app.kubernetes.io%2Fname%3Dfrontend"),
        ),
        200,
    ),
    (
        Step::Op(
            op(A::CiGitlabDeployer, "patch", &cat::CONFIGMAPS)
                .ns(APP_NAMESPACES)
                .names(&["app-settings", "frontend-config"])
                .query(KUBECTL_APPLY),
        ),
        200,
    ),
    (
        Step::Op(
            op(A::CiGitlabDeployer, "patch", &cat::SECRETS)
                .ns(APP_NAMESPACES)
                .names(&["app-env", "registry-pull-secret"])
                .query(KUBECTL_APPLY),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::CiGitlabDeployer, "patch", &cat::SERVICES)
                .ns(APP_NAMESPACES)
                .names(&["frontend", "cart"])
                .query(KUBECTL_APPLY),
        ),
        120,
    ),
    (
        Step::Op(
            op(A::CiGithubActions, "get", &cat::DEPLOYMENTS)
                .ns(&["shop", "payments"])
                .names(&["frontend", "checkout", "payments-api"]),
        ),
        500,
    ),
    (
        Step::Op(
            op(A::CiGithubActions, "watch", &cat::DEPLOYMENTS)
                .ns(&["shop", "payments"])
                .query("fieldSelector=metadata.name%3Dcheckout"),
        ),
        200,
    ),
    (
        Step::Op(
            op(A::CiGithubActions, "get", &cat::PODS)
                .ns(&["shop", "payments"])
                .names(&["checkout-6b9c8d7f5-p8x2k", "payments-api-7f8d9c6b5-k2m8x"])
                .sub("log")
                .query("container=checkout&tailLines=200"),
        ),
        100,
    ),
    (
        Step::Op(
            op(A::CiGithubActions, "list", &cat::EVENTS)
                .ns(&["shop", "payments"])
                .query("fieldSelector=involvedObject.name%3Dcheckout"),
        ),
        120,
    ),
];

impl Generator {
    fn argocd_apply_workload(&mut self, buf: &mut Vec<u8>) {
        self.apply_workload(buf, ARGO, "argocd-controller", ARGO_APPLY);
    }

    fn argocd_apply_rbac(&mut self, buf: &mut Vec<u8>) {
        self.apply_rbac(buf, ARGO, "patch", ARGO_APPLY);
    }

    fn argocd_apply_crd(&mut self, buf: &mut Vec<u8>) {
        self.apply_crd(buf, ARGO, ADDON_CRDS, ARGO_APPLY);
    }

    fn flux_apply_workload(&mut self, buf: &mut Vec<u8>) {
        let query = if self.rng.chance(1, 2) {
            FLUX_DRY_RUN
        } else {
            FLUX_APPLY
        };
        self.apply_workload(
            buf,
            A::FluxKustomizeController,
            "kustomize-controller",
            query,
        );
    }

    fn flux_apply_rbac(&mut self, buf: &mut Vec<u8>) {
        self.apply_rbac(buf, A::FluxKustomizeController, "patch", FLUX_APPLY);
    }

    fn flux_apply_crd(&mut self, buf: &mut Vec<u8>) {
        self.apply_crd(buf, A::FluxKustomizeController, ADDON_CRDS, FLUX_APPLY);
    }

    fn ci_apply_workload(&mut self, buf: &mut Vec<u8>) {
        let actor = *self.rng.pick(&[A::CiGitlabDeployer, A::CiGithubActions]);
        self.apply_workload(buf, actor, "kubectl", KUBECTL_APPLY);
    }

    fn helm_apply_workload(&mut self, buf: &mut Vec<u8>) {
        let actor = *self
            .rng
            .weighted(&[(A::AdminHelm, 3u32), (A::CiHelmDeployer, 2)]);
        self.apply_workload(buf, actor, "helm", "fieldManager=helm");
    }

    fn helm_apply_rbac(&mut self, buf: &mut Vec<u8>) {
        let actor = *self
            .rng
            .weighted(&[(A::AdminHelm, 3u32), (A::CiHelmDeployer, 2)]);
        self.apply_rbac(buf, actor, "patch", "fieldManager=helm");
    }

    fn helm_release_storage(&mut self, buf: &mut Vec<u8>) {
        let actor = *self.rng.weighted(&[
            (A::AdminHelm, 4u32),
            (A::HelmDeveloper, 2),
            (A::CiHelmDeployer, 4),
        ]);
        self.release_storage(buf, actor);
    }

    fn flux_helm_release_storage(&mut self, buf: &mut Vec<u8>) {
        self.release_storage(buf, A::FluxHelmController);
    }

    /// Helm's release storage (the Secrets driver): the query for a release's records, a new
    /// revision's record, the previous one marked superseded, the oldest beyond the history
    /// limit deleted.
    fn release_storage(&mut self, buf: &mut Vec<u8>, actor: A) {
        let (release, namespace) = if actor == A::HelmDeveloper {
            *self.rng.pick(&RELEASES[..2])
        } else {
            *self.rng.pick(RELEASES)
        };
        let revision = self.rng.range(12, 140);
        let (verb, name, query, code) = match self.rng.below(10) {
            0..=4 => {
                let status = if self.rng.chance(1, 2) {
                    "%2Cstatus%3Ddeployed"
                } else {
                    ""
                };
                let query = format!("labelSelector=name%3D{release}%2Cowner%3Dhelm{status}");
                ("list", String::new(), query, 200)
            }
            5 | 6 => ("create", String::new(), String::new(), 201),
            7 | 8 => (
                "update",
                format!("sh.helm.release.v1.{release}.v{}", revision - 1),
                String::new(),
                200,
            ),
            _ => (
                "delete",
                format!("sh.helm.release.v1.{release}.v{}", revision - 10),
                String::new(),
                200,
            ),
        };
        self.request(
            buf,
            Request::new(actor, verb, &cat::SECRETS)
                .namespace(namespace)
                .name(&name)
                .query(&query)
                .code(code),
        );
    }
}
