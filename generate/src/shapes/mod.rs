//! Cluster shapes: the benign traffic of managed platforms (EKS, GKE, AKS), OpenShift, GitOps,
//! Helm, CI and common add-ons, mixed into the base traffic of [`crate::benign`].
//!
//! Each shape is a weighted table of [`Step`]s: most are one request described as data
//! ([`Op`]), the rest small functions in this module's files (grouped by shape) that build a body.
//! The identities are in [`actors`]. A shape's table draws half of the benign picks; the other
//! half is the base mix, so the control plane, kubelets and people of the base cluster stay.

mod actors;
mod addons;
mod delivery;
mod managed;
mod nodes;
mod openshift;

pub(crate) use actors::SHAPE_ACTORS;

use crate::benign::Activity;
use crate::bodies::{self, Body, TokenBody};
use crate::catalog::{self as cat, A, APPS, Resource};
use crate::generator::{Generator, Request, name_suffix, uid_of};
use crate::json::Arg;
use crate::templates::{self, Template};

/// The kind of cluster whose benign traffic is generated; see [`crate::Options::shape`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClusterShape {
    /// The measured kubeadm cluster of the base mix alone (the default; output unchanged).
    #[default]
    Kubeadm,
    /// Managed EKS: `eks:*` platform users, aws-node, aws-load-balancer-controller, Karpenter.
    Eks,
    /// GKE: `system:gke-*`, `system:clustermetrics`, `system:l7-lb-controller`, gke-metadata-server.
    Gke,
    /// AKS: `aksService`, `masterclient`, cloud-node-manager, konnectivity-agent.
    Aks,
    /// OpenShift: `openshift-*` operators on secrets, configmaps, RBAC, CRDs and installer pods;
    /// nodes and host-network operators on public addresses.
    OpenShift,
    /// Argo CD and Flux applying workloads, RBAC and CRDs (server-side apply).
    GitOps,
    /// Helm releases (`sh.helm.release.v1.*` secrets) from a person and a CI service account.
    Helm,
    /// cert-manager: certificates, TLS secrets, CA injection into webhooks and CRDs.
    CertManager,
    /// Prometheus, the Prometheus operator, kube-state-metrics and metrics-server.
    Monitoring,
    /// Istio and Linkerd: control planes, sidecar-injector webhooks, proxy tokens.
    ServiceMesh,
    /// Kubelets and host-network agents on public addresses (bare metal at a hosting provider).
    PublicNodes,
    /// CI service accounts (in-cluster runners) deploying with kubectl server-side apply.
    CiDeploy,
}

impl ClusterShape {
    /// Every shape, the default first.
    pub const ALL: &'static [ClusterShape] = &[
        ClusterShape::Kubeadm,
        ClusterShape::Eks,
        ClusterShape::Gke,
        ClusterShape::Aks,
        ClusterShape::OpenShift,
        ClusterShape::GitOps,
        ClusterShape::Helm,
        ClusterShape::CertManager,
        ClusterShape::Monitoring,
        ClusterShape::ServiceMesh,
        ClusterShape::PublicNodes,
        ClusterShape::CiDeploy,
    ];

    /// The shape's name, as [`ClusterShape::from_name`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            ClusterShape::Kubeadm => "kubeadm",
            ClusterShape::Eks => "eks",
            ClusterShape::Gke => "gke",
            ClusterShape::Aks => "aks",
            ClusterShape::OpenShift => "openshift",
            ClusterShape::GitOps => "gitops",
            ClusterShape::Helm => "helm",
            ClusterShape::CertManager => "cert-manager",
            ClusterShape::Monitoring => "monitoring",
            ClusterShape::ServiceMesh => "service-mesh",
            ClusterShape::PublicNodes => "public-nodes",
            ClusterShape::CiDeploy => "ci",
        }
    }

    pub fn from_name(name: &str) -> Option<ClusterShape> {
        ClusterShape::ALL
            .iter()
            .copied()
            .find(|shape| shape.name() == name)
    }

    /// The shape's own steps; empty for the base mix alone.
    pub(crate) fn steps(self) -> &'static [(Step, u32)] {
        match self {
            ClusterShape::Kubeadm => &[],
            ClusterShape::Eks => managed::EKS,
            ClusterShape::Gke => managed::GKE,
            ClusterShape::Aks => managed::AKS,
            ClusterShape::OpenShift => openshift::OPENSHIFT,
            ClusterShape::GitOps => delivery::GITOPS,
            ClusterShape::Helm => delivery::HELM,
            ClusterShape::CertManager => addons::CERT_MANAGER,
            ClusterShape::Monitoring => addons::MONITORING,
            ClusterShape::ServiceMesh => addons::SERVICE_MESH,
            ClusterShape::PublicNodes => nodes::PUBLIC_NODES,
            ClusterShape::CiDeploy => delivery::CI,
        }
    }
}

impl std::fmt::Display for ClusterShape {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

impl std::str::FromStr for ClusterShape {
    type Err = String;

    fn from_str(text: &str) -> Result<ClusterShape, String> {
        ClusterShape::from_name(text).ok_or_else(|| {
            let names: Vec<&str> = ClusterShape::ALL.iter().map(|shape| shape.name()).collect();
            format!(
                "unknown cluster shape {text:?}; one of {}",
                names.join(", ")
            )
        })
    }
}

/// The share of benign picks a shape's table draws (numerator, denominator).
pub(crate) const SHAPE_SHARE: (u64, u64) = (1, 2);

/// The query of a `list` served from the watch cache, as client-go's reflectors send it.
const LIST: &str = "limit=500&resourceVersion=0";
/// The application namespaces of the base cluster.
const APP_NAMESPACES: &[&str] = &["shop", "payments", "redis", "logging", "default"];

/// One request described as data: `actor` runs `verb` on `resource` in one of `namespaces`
/// (none: cluster-wide or cluster-scoped) on one of `names` (none: the collection).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op {
    actor: A,
    verb: &'static str,
    resource: &'static Resource,
    namespaces: &'static [&'static str],
    names: &'static [&'static str],
    subresource: &'static str,
    query: &'static str,
    code: i64,
}

const fn op(actor: A, verb: &'static str, resource: &'static Resource) -> Op {
    let (query, code) = match verb.as_bytes() {
        b"list" => (LIST, 200),
        b"create" => ("", 201),
        _ => ("", 200),
    };
    Op {
        actor,
        verb,
        resource,
        namespaces: &[],
        names: &[],
        subresource: "",
        query,
        code,
    }
}

impl Op {
    const fn ns(self, namespaces: &'static [&'static str]) -> Op {
        Op { namespaces, ..self }
    }
    const fn names(self, names: &'static [&'static str]) -> Op {
        Op { names, ..self }
    }
    const fn sub(self, subresource: &'static str) -> Op {
        Op {
            subresource,
            ..self
        }
    }
    const fn query(self, query: &'static str) -> Op {
        Op { query, ..self }
    }
    const fn code(self, code: i64) -> Op {
        Op { code, ..self }
    }
}

/// A kubelet's TokenRequest for a pod of `service_account` (a projected token volume).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    node: A,
    service_account: &'static str,
    namespace: &'static str,
    audience: &'static str,
    expiration_seconds: i64,
}

/// A controller injecting its CA into one webhook of a webhook configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CaInjection {
    actor: A,
    resource: &'static Resource,
    configuration: &'static str,
    webhook: &'static str,
}

/// A platform add-on manager applying one of its DaemonSets (server-side apply).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddonApply {
    actor: A,
    namespace: &'static str,
    name: &'static str,
    manager: &'static str,
    pod_spec: Template,
    images: &'static [&'static str],
}

/// One entry of a shape's table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    Op(Op),
    /// A leader-election or node lease renewed (or read): holder, namespace, name.
    Lease(A, &'static str, &'static str),
    /// A kubelet's node status patch: the node and its name.
    NodeStatus(A, &'static str),
    Token(Token),
    CaInjection(CaInjection),
    AddonApply(AddonApply),
    Do(Activity),
}

impl Generator {
    pub(crate) fn shape_step(&mut self, buf: &mut Vec<u8>, step: Step) {
        match step {
            Step::Op(op) => self.shape_op(buf, &op),
            Step::Lease(actor, namespace, name) => self.shape_lease(buf, actor, namespace, name),
            Step::NodeStatus(node, name) => self.shape_node_status(buf, node, name),
            Step::Token(token) => self.shape_token(buf, &token),
            Step::CaInjection(injection) => self.ca_injection(buf, &injection),
            Step::AddonApply(apply) => self.addon_apply(buf, &apply),
            Step::Do(activity) => activity(self, buf),
        }
    }

    fn shape_op(&mut self, buf: &mut Vec<u8>, op: &Op) {
        let namespace = if op.namespaces.is_empty() {
            ""
        } else {
            *self.rng.pick(op.namespaces)
        };
        let name = if op.names.is_empty() {
            ""
        } else {
            *self.rng.pick(op.names)
        };
        self.request(
            buf,
            Request::new(op.actor, op.verb, op.resource)
                .namespace(namespace)
                .name(name)
                .subresource(op.subresource)
                .query(op.query)
                .code(op.code),
        );
    }

    fn shape_lease(&mut self, buf: &mut Vec<u8>, actor: A, namespace: &str, name: &str) {
        if self.rng.chance(1, 4) {
            let request = Request::new(actor, "get", &cat::LEASES);
            self.request(
                buf,
                request.namespace(namespace).name(name).query("timeout=5s"),
            );
            return;
        }
        let holder = if namespace == "kube-node-lease" {
            name.to_owned()
        } else {
            format!(
                "{}_{}",
                name_suffix(&mut self.rng, 10),
                crate::json::uuid_string(uid_of(&["holder", namespace, name]))
            )
        };
        let created = self.now - 86_400 * 40 * 1_000_000;
        let duration = if namespace == "kube-node-lease" {
            40
        } else {
            137
        };
        self.renew_lease(buf, actor, (namespace, name), &holder, created, duration);
    }

    fn shape_node_status(&mut self, buf: &mut Vec<u8>, node: A, name: &str) {
        let body = Body::NodeStatusPatch {
            node: name,
            now: self.now,
            with_images: self.rng.chance(1, 10),
        };
        let code = self.sometimes((1, 50), 409, 200);
        self.request(
            buf,
            Request::new(node, "patch", &cat::NODES)
                .name(name)
                .subresource("status")
                .code(code)
                .request_body(&body),
        );
    }

    fn shape_token(&mut self, buf: &mut Vec<u8>, token: &Token) {
        let pod = format!(
            "{}-{}-{}",
            token.service_account,
            name_suffix(&mut self.rng, 9),
            name_suffix(&mut self.rng, 5)
        );
        let pod_uid = uid_of(&["Pod", token.namespace, &pod]);
        let body = Body::Token(TokenBody {
            service_account: token.service_account,
            namespace: token.namespace,
            audience: token.audience,
            expiration_seconds: token.expiration_seconds,
            token_seed: self.rng.next_u64(),
            now: self.now,
            bound_pod: Some((&pod, pod_uid)),
        });
        self.request(
            buf,
            Request::new(token.node, "create", &cat::SERVICEACCOUNTS)
                .namespace(token.namespace)
                .name(token.service_account)
                .subresource("token")
                .code(201)
                .request_body(&body)
                .response_body(&body),
        );
    }

    /// A base64 PEM bundle, stable per `seed`.
    fn ca_bundle(seed: &str) -> String {
        let hex = crate::json::uuid_string(uid_of(&["ca", seed]));
        format!(
            "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUREekNDQWZlZ0F3SUJBZ0lR{}Q0FURS0tLS0tCg==",
            hex.replace('-', "")
        )
    }

    fn ca_injection(&mut self, buf: &mut Vec<u8>, injection: &CaInjection) {
        let bundle = Generator::ca_bundle(injection.configuration);
        let args = [Arg::Raw(injection.webhook), Arg::Raw(&bundle)];
        let body = Body::Filled {
            template: templates::WEBHOOK_CA_PATCH,
            args: &args,
            nested: None,
        };
        let code = self.sometimes((1, 30), 409, 200);
        self.request(
            buf,
            Request::new(injection.actor, "patch", injection.resource)
                .name(injection.configuration)
                .code(code)
                .request_body(&body),
        );
    }

    fn addon_apply(&mut self, buf: &mut Vec<u8>, apply: &AddonApply) {
        let images: Vec<Arg<'_>> = apply.images.iter().map(|image| Arg::Raw(image)).collect();
        let args = [
            Arg::Raw(apply.name),
            Arg::Raw(apply.namespace),
            Arg::Raw(apply.name),
            Arg::Raw(apply.manager),
            Arg::Raw(apply.name),
            Arg::Raw(apply.name),
            Arg::Nested,
        ];
        let body = Body::Filled {
            template: templates::ADDON_DAEMONSET,
            args: &args,
            nested: Some((apply.pod_spec, &images)),
        };
        let query = format!("fieldManager={}&force=true", apply.manager);
        self.request(
            buf,
            Request::new(apply.actor, "patch", &cat::DAEMONSETS)
                .namespace(apply.namespace)
                .name(apply.name)
                .query(&query)
                .request_body(&body),
        );
    }

    /// `actor` applying an app's Deployment or StatefulSet: a server-side apply `patch` of the
    /// whole object with `query`, or its first `create`.
    pub(crate) fn apply_workload(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        manager: &str,
        query: &str,
    ) {
        let index = self.pick_app(&["Deployment", "StatefulSet"]);
        let app = &APPS[index];
        let resource = if app.kind == "StatefulSet" {
            &cat::STATEFULSETS
        } else {
            &cat::DEPLOYMENTS
        };
        let (uid, created) = (self.apps[index].uid, self.apps[index].created);
        let meta = self.meta(app.name, app.namespace, uid, created);
        let spec = self.spec_of(app, false);
        let generation = self.rng.range(2, 60);
        let template_hash = self.apps[index].template_hash.clone();
        let body = Body::Workload(bodies::WorkloadBody {
            kind: app.kind,
            meta,
            spec,
            replicas: app.replicas,
            generation,
            change: bodies::WorkloadChange::Create,
            template_hash: &template_hash,
            manager,
        });
        let code = self.sometimes((1, 40), 409, 200);
        self.request(
            buf,
            Request::new(actor, "patch", resource)
                .namespace(app.namespace)
                .name(app.name)
                .query(query)
                .code(code)
                .request_body(&body)
                .response_body(&body),
        );
    }

    /// `actor` on an app's (Cluster)Role or binding from the app's chart: `patch` for a
    /// server-side apply (`query` names the field manager), `update` for read-modify-write,
    /// `get` for the read before it.
    pub(crate) fn apply_rbac(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        verb: &'static str,
        query: &str,
    ) {
        let index = self.rng.index(APPS.len());
        let app = &APPS[index];
        let name = *self.rng.pick(cat::ROLE_NAMES);
        let (resource, cluster, binding) = *self.rng.pick(&[
            (&cat::CLUSTERROLES, true, false),
            (&cat::CLUSTERROLEBINDINGS, true, true),
            (&cat::ROLES, false, false),
            (&cat::ROLEBINDINGS, false, true),
        ]);
        let namespace = if cluster { "" } else { app.namespace };
        let created = self.now - self.rng.range(3_600, 86_400 * 60) * 1_000_000;
        let meta = self.meta(
            name,
            namespace,
            uid_of(&[resource.plural, namespace, name]),
            created,
        );
        let body = if binding {
            Body::Binding(bodies::BindingBody {
                cluster,
                meta,
                role_kind: if cluster { "ClusterRole" } else { "Role" },
                role_name: name,
                subject_kind: "ServiceAccount",
                subject_name: app.service_account,
                subject_namespace: app.namespace,
                helm_release: Some(app.name),
            })
        } else {
            Body::Role(bodies::RoleBody {
                cluster,
                meta,
                rules: bodies::RoleRules::Benign(index),
                helm_release: Some(app.name),
            })
        };
        let request = if verb == "get" { Body::None } else { body };
        self.request(
            buf,
            Request::new(actor, verb, resource)
                .namespace(namespace)
                .name(name)
                .query(query)
                .request_body(&request)
                .response_body(&body),
        );
    }

    /// `actor` applying one of its CustomResourceDefinitions (server-side apply).
    pub(crate) fn apply_crd(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        crds: &[(&'static str, &'static str, &'static str)],
        query: &str,
    ) {
        let (group, kind, plural) = *self.rng.pick(crds);
        let name = format!("{plural}.{group}");
        let properties = self.rng.range(20, 240) as usize;
        let created = self.now - self.rng.range(86_400, 86_400 * 90) * 1_000_000;
        let meta = self.meta(&name, "", uid_of(&["crd", &name]), created);
        let body = Body::Crd(bodies::CrdBody {
            meta,
            group,
            kind,
            plural,
            properties,
            status_update: false,
        });
        self.request(
            buf,
            Request::new(actor, "patch", &cat::CRDS)
                .name(&name)
                .query(query)
                .request_body(&body)
                .response_body(&body),
        );
    }

    /// `actor` approving a kubelet-serving CSR of one of `nodes`.
    pub(crate) fn approve_csr(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        nodes: &[&str],
        reason: &str,
        message: &str,
    ) {
        let node = *self.rng.pick(nodes);
        let name = format!("csr-{}", name_suffix(&mut self.rng, 5));
        let requester = format!("system:node:{node}");
        let created = self.now - self.rng.range(1, 20) * 1_000_000;
        let resource_version = self.next_resource_version();
        let args = [
            Arg::Raw(&name),
            Arg::Uuid(uid_of(&["csr", &name])),
            Arg::Int(resource_version),
            Arg::Secs(created),
            Arg::Raw(&requester),
            Arg::Uuid(uid_of(&["user", &requester])),
            Arg::Raw(reason),
            Arg::Raw(message),
            Arg::Secs(self.now),
            Arg::Secs(self.now),
        ];
        let body = Body::Filled {
            template: templates::CSR_APPROVAL,
            args: &args,
            nested: None,
        };
        self.request(
            buf,
            Request::new(actor, "update", &cat::CSRS)
                .name(&name)
                .subresource("approval")
                .request_body(&body),
        );
    }

    /// `actor` creating or updating a webhook configuration (`kind` is its Kind).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_webhook_configuration(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        verb: &'static str,
        kind: &str,
        configuration: &'static str,
        webhook: &str,
        service: (&str, &str, &str),
        failure_policy: &str,
        manager: &str,
    ) {
        let bundle = Generator::ca_bundle(configuration);
        let (namespace, name, path) = service;
        let args = [
            Arg::Raw(kind),
            Arg::Raw(configuration),
            Arg::Raw(manager),
            Arg::Raw(namespace),
            Arg::Raw(webhook),
            Arg::Raw(namespace),
            Arg::Raw(name),
            Arg::Raw(path),
            Arg::Raw(&bundle),
            Arg::Raw(failure_policy),
            Arg::Raw(namespace),
        ];
        let body = Body::Filled {
            template: templates::WEBHOOK_CONFIGURATION,
            args: &args,
            nested: None,
        };
        let resource = if kind == "MutatingWebhookConfiguration" {
            &cat::MUTATINGWEBHOOKS
        } else {
            &cat::VALIDATINGWEBHOOKS
        };
        let (path_name, code) = if verb == "create" {
            ("", self.sometimes((1, 2), 409, 201))
        } else {
            (configuration, 200)
        };
        self.request(
            buf,
            Request::new(actor, verb, resource)
                .name(path_name)
                .code(code)
                .request_body(&body),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for shape in ClusterShape::ALL {
            assert_eq!(ClusterShape::from_name(shape.name()), Some(*shape));
            assert_eq!(shape.to_string().parse::<ClusterShape>(), Ok(*shape));
        }
        assert!("minikube".parse::<ClusterShape>().is_err());
        assert!(ClusterShape::Kubeadm.steps().is_empty());
    }

    #[test]
    fn every_shape_template_is_filled_with_as_many_arguments_as_holes() {
        // Every step of every table once, then a stretch of each shape's stream.
        for shape in ClusterShape::ALL {
            let options = crate::Options {
                shape: *shape,
                ..crate::Options::default()
            };
            let mut generator = Generator::new(options);
            let mut buf = Vec::new();
            for (step, _) in shape.steps() {
                generator.shape_step(&mut buf, *step);
                buf.clear();
            }
            for _ in 0..5_000 {
                generator.next_event(&mut buf);
                buf.clear();
            }
        }
        let used = templates::tests::used();
        for template in templates::SHAPE_ALL {
            let uses = used
                .get(template.name)
                .unwrap_or_else(|| panic!("{} is never filled", template.name));
            let holes = templates::tests::holes(template);
            for args in uses {
                assert_eq!(*args, holes, "{}: arguments for its holes", template.name);
            }
        }
    }
}
