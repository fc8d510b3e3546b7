//! Injected attack scenarios: each instance is one or a few realistic events, labelled by scenario name.

use crate::Label;
use crate::bodies::{
    self, Body, PodBody, Risk, RoleBody, RoleRules, Spec, WorkloadBody, WorkloadChange,
};
use crate::catalog::{self as cat, A, Level};
use crate::generator::{Call, Generator, Pending, Reason, Request, Stage, Target, resource_uri};
use crate::json;

/// Scenario names, in the order the generator cycles through them. They map to detection rules
/// (`secret_enumeration` → k8s.secret_read_non_system, `pod_exec` → k8s.pod_exec, ...).
pub const SCENARIOS: &[&str] = &[
    "secret_enumeration",
    "cluster_admin_binding",
    "wildcard_clusterrole",
    "pod_exec",
    "privileged_pod",
    "hostpath_pod",
    "hostnetwork_pod",
    "networkpolicy_deleted",
    "psa_labels_weakened",
    "serviceaccount_token_request",
    "anonymous_access",
    "forbidden_burst",
    "untrusted_image",
];

/// One event of a scenario instance; later steps wait in the generator's queue.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    scenario: usize,
    index: u32,
    count: u32,
    actor: A,
    variant: u64,
    audit_id: u128,
    received: i64,
    pod: String,
    namespace: &'static str,
}

const HUMAN_ATTACKERS: &[A] = &[A::Mallory, A::Bob, A::Alice];
const SECRET_NAMESPACES: &[&str] = &[
    "kube-system",
    "payments",
    "monitoring",
    "argocd",
    "cert-manager",
    "default",
    "shop",
];
const BURST_TARGETS: &[(&cat::Resource, &str)] = &[
    (&cat::PODS, "kube-system"),
    (&cat::NODES, ""),
    (&cat::CLUSTERROLES, ""),
    (&cat::DEPLOYMENTS, "kube-system"),
    (&cat::DAEMONSETS, "kube-system"),
    (&cat::SERVICEACCOUNTS, "kube-system"),
    (&cat::CONFIGMAPS, "kube-system"),
    (&cat::NAMESPACES, ""),
    (&cat::PERSISTENTVOLUMES, ""),
    (&cat::ROLES, "payments"),
    (&cat::ROLEBINDINGS, "payments"),
    (&cat::CLUSTERROLEBINDINGS, ""),
    (&cat::EVENTS, "kube-system"),
    (&cat::SERVICES, "payments"),
    (&cat::NETWORKPOLICIES, "payments"),
    (&cat::LEASES, "kube-system"),
    (&cat::CRDS, ""),
    (&cat::JOBS, "payments"),
    (&cat::CRONJOBS, "payments"),
    (&cat::INGRESSES, "shop"),
    (&cat::STATEFULSETS, "monitoring"),
    (&cat::REPLICASETS, "kube-system"),
    (&cat::PODS, "payments"),
    (&cat::DEPLOYMENTS, "payments"),
];

fn label(scenario: usize, audit_id: u128) -> Label {
    Label {
        audit_id: json::uuid_string(audit_id),
        scenario: SCENARIOS[scenario],
    }
}

impl Generator {
    /// Emits the first event of an instance of `scenario` and queues the rest.
    pub(crate) fn start_attack(&mut self, buf: &mut Vec<u8>, scenario: usize) -> Option<Label> {
        let variant = self.rng.next_u64();
        let (actor, count) = match SCENARIOS[scenario] {
            "secret_enumeration" => (
                if variant.is_multiple_of(2) {
                    A::Mallory
                } else {
                    A::CompromisedFrontend
                },
                self.rng.range(4, 6) as u32,
            ),
            "cluster_admin_binding" | "wildcard_clusterrole" => (
                if variant.is_multiple_of(3) {
                    A::CompromisedFrontend
                } else {
                    A::Mallory
                },
                1,
            ),
            "pod_exec" => (HUMAN_ATTACKERS[(variant % 3) as usize], 2),
            "anonymous_access" => (
                if variant.is_multiple_of(2) {
                    A::AnonymousCurl
                } else {
                    A::AnonymousPython
                },
                self.rng.range(1, 3) as u32,
            ),
            "forbidden_burst" => (
                if variant.is_multiple_of(2) {
                    A::CompromisedFrontend
                } else {
                    A::Carol
                },
                self.rng.range(20, 28) as u32,
            ),
            _ => (HUMAN_ATTACKERS[(variant % 3) as usize], 1),
        };
        let namespace = if actor == A::Bob {
            "shop"
        } else {
            *self.rng.pick(&["shop", "payments", "default"])
        };
        let pod = match namespace {
            "payments" => format!(
                "payments-api-{}-{}",
                self.apps[19].template_hash,
                suffix(variant)
            ),
            _ => format!(
                "frontend-{}-{}",
                self.apps[15].template_hash,
                suffix(variant)
            ),
        };
        let step = Step {
            scenario,
            index: 0,
            count,
            actor,
            variant,
            audit_id: 0,
            received: 0,
            pod,
            namespace,
        };
        self.attack_step(buf, step)
    }

    /// Emits one step of a scenario; returns its label (the closing stage of an exec carries none,
    /// so every labelled auditID appears once in the labels).
    pub(crate) fn attack_step(&mut self, buf: &mut Vec<u8>, mut step: Step) -> Option<Label> {
        let scenario = step.scenario;
        let actor = step.actor;
        let label_id = match SCENARIOS[scenario] {
            "secret_enumeration" => {
                let namespace = SECRET_NAMESPACES[((step.variant >> 8) as usize
                    + step.index as usize)
                    % SECRET_NAMESPACES.len()];
                if step.index % 3 == 2 {
                    let name = *self.rng.pick(cat::SECRET_NAMES);
                    self.get(buf, actor, &cat::SECRETS, namespace, name)
                } else {
                    self.list(buf, actor, &cat::SECRETS, namespace, "limit=500")
                }
            }
            "cluster_admin_binding" => {
                let name = format!("debug-access-{}", suffix(step.variant));
                let uid = self.rng.next_u128();
                let meta = self.meta(&name, "", uid, self.now);
                let (subject_kind, subject_name, subject_namespace) =
                    match (actor, step.variant % 3) {
                        (A::CompromisedFrontend, _) => ("ServiceAccount", "frontend", "shop"),
                        (_, 0) => ("User", "mallory@partner.example", ""),
                        (_, 1) => ("ServiceAccount", "default", "default"),
                        _ => ("Group", "oidc:contractors", ""),
                    };
                let body = Body::Binding(bodies::BindingBody {
                    cluster: true,
                    meta,
                    role_kind: "ClusterRole",
                    role_name: "cluster-admin",
                    subject_kind,
                    subject_name,
                    subject_namespace,
                    helm_release: None,
                });
                self.request(
                    buf,
                    Request::new(actor, "create", &cat::CLUSTERROLEBINDINGS)
                        .query("fieldManager=kubectl-create&fieldValidation=Strict")
                        .code(201)
                        .request_body(&body)
                        .response_body(&body),
                )
            }
            "wildcard_clusterrole" => {
                let name =
                    *self
                        .rng
                        .pick(&["ops-superuser", "support-tools", "backup-operator-full"]);
                let uid = self.rng.next_u128();
                let meta = self.meta(name, "", uid, self.now);
                let body = Body::Role(RoleBody {
                    cluster: true,
                    meta,
                    rules: RoleRules::Wildcard,
                    helm_release: None,
                });
                self.request(
                    buf,
                    Request::new(actor, "create", &cat::CLUSTERROLES)
                        .query("fieldManager=kubectl-create&fieldValidation=Strict")
                        .code(201)
                        .request_body(&body)
                        .response_body(&body),
                )
            }
            "pod_exec" => self.exec_step(buf, &mut step),
            "privileged_pod" => self.risky_workload(
                buf,
                &step,
                Risk::Privileged,
                "docker.io/library/ubuntu:22.04",
            ),
            "hostpath_pod" => {
                let path = ["/", "/var/run/docker.sock", "/etc"][(step.variant % 3) as usize];
                self.risky_workload(
                    buf,
                    &step,
                    Risk::HostPath(path),
                    "docker.io/library/alpine:3.19",
                )
            }
            "hostnetwork_pod" => self.risky_workload(
                buf,
                &step,
                Risk::HostNamespaces,
                "docker.io/nicolaka/netshoot:v0.12",
            ),
            "networkpolicy_deleted" => {
                let name = *self.rng.pick(&[
                    "default-deny-ingress",
                    "allow-frontend-to-cart",
                    "deny-egress-metadata",
                ]);
                self.request(
                    buf,
                    Request::new(actor, "delete", &cat::NETWORKPOLICIES)
                        .namespace(step.namespace)
                        .name(name)
                        .request_body(&Body::DeleteOptions),
                )
            }
            "psa_labels_weakened" => {
                let namespace = if actor == A::Bob {
                    "shop"
                } else {
                    *self.rng.pick(&["payments", "shop", "default"])
                };
                let body = Body::NamespaceLabelPatch {
                    key: "pod-security.kubernetes.io/enforce",
                    value: "privileged",
                };
                let verb = if step.variant.is_multiple_of(4) {
                    "update"
                } else {
                    "patch"
                };
                self.request(
                    buf,
                    Request::new(actor, verb, &cat::NAMESPACES)
                        .name(namespace)
                        .query("fieldManager=kubectl-label")
                        .request_body(&body),
                )
            }
            "serviceaccount_token_request" => {
                let (service_account, namespace) = *self.rng.pick(&[
                    ("argocd-application-controller", "argocd"),
                    ("clusterrole-aggregation-controller", "kube-system"),
                    ("prometheus-k8s", "monitoring"),
                    ("default", "payments"),
                ]);
                let expiration_seconds = if step.variant.is_multiple_of(2) {
                    3600
                } else {
                    31_536_000
                };
                self.token_request(
                    buf,
                    actor,
                    service_account,
                    namespace,
                    expiration_seconds,
                    None,
                )
            }
            "anonymous_access" => {
                let (verb, resource, namespace) = [
                    ("list", &cat::SECRETS, "kube-system"),
                    ("list", &cat::PODS, ""),
                    ("list", &cat::CONFIGMAPS, "kube-system"),
                    ("list", &cat::SECRETS, "default"),
                ][((step.variant >> 4) as usize + step.index as usize) % 4];
                self.request(
                    buf,
                    Request::new(actor, verb, resource).namespace(namespace),
                )
            }
            "forbidden_burst" => {
                let (resource, namespace) = BURST_TARGETS
                    [((step.variant >> 4) as usize + step.index as usize) % BURST_TARGETS.len()];
                self.request(
                    buf,
                    Request::new(actor, "list", resource)
                        .namespace(namespace)
                        .query("limit=500")
                        .code(403),
                )
            }
            // "untrusted_image", the last scenario.
            _ => {
                let image = if step.variant.is_multiple_of(2) {
                    "evil.example.io/miner:latest"
                } else {
                    "203.0.113.7:5000/tool"
                };
                self.risky_workload(buf, &step, Risk::None, image)
            }
        };
        step.index += 1;
        if step.index < step.count {
            let gap = match SCENARIOS[scenario] {
                "forbidden_burst" => self.rng.range(60_000, 220_000),
                "pod_exec" => self.rng.range(3_000_000, 45_000_000),
                _ => self.rng.range(800_000, 4_000_000),
            };
            let ready = self.now + gap;
            self.schedule(ready, true, Pending::Attack(step));
        }
        (label_id != 0).then(|| label(scenario, label_id))
    }

    /// `kubectl exec` into an app pod: ResponseStarted (101) now, ResponseComplete when the shell ends.
    fn exec_step(&mut self, buf: &mut Vec<u8>, step: &mut Step) -> u128 {
        let websocket = step.actor == A::Bob;
        let verb = if websocket { "get" } else { "create" };
        let command = [
            "sh&command=-c&command=cat+%2Fetc%2Fshadow",
            "bash",
            "sh&command=-c&command=env",
        ][(step.variant % 3) as usize];
        let container = if step.namespace == "payments" {
            "payments-api"
        } else {
            "frontend"
        };
        let query =
            format!("command={command}&container={container}&stdin=true&stdout=true&tty=true");
        let mut uri = String::new();
        resource_uri(
            &mut uri,
            &cat::PODS,
            step.namespace,
            &step.pod,
            "exec",
            &query,
        );
        let first = step.index == 0;
        if first {
            step.audit_id = self.audit_id();
            step.received = self.now - self.rng.range(2_000, 9_000);
        }
        let call = Call {
            stage: if first {
                Stage::ResponseStarted
            } else {
                Stage::ResponseComplete
            },
            audit_id: step.audit_id,
            verb,
            uri: &uri,
            actor: step.actor,
            impersonated: None,
            target: Some(Target {
                resource: &cat::PODS,
                namespace: step.namespace,
                name: &step.pod,
                subresource: "exec",
            }),
            code: 101,
            level: Level::for_request(&cat::PODS, Some("exec"), verb),
            received: step.received,
            stage_time: self.now,
            reason: Reason::Actor,
        };
        self.render(buf, &call, &Body::None, &Body::None);
        if first { step.audit_id } else { 0 }
    }

    /// A Pod (`kubectl run`/apply) or Deployment created by a human with a risky spec or image.
    fn risky_workload(
        &mut self,
        buf: &mut Vec<u8>,
        step: &Step,
        risk: Risk,
        image: &'static str,
    ) -> u128 {
        let name = ["debug-tools", "node-debugger", "perf-check", "tmp-shell"]
            [((step.variant >> 2) % 4) as usize];
        let spec = Spec {
            app: name,
            container: name,
            image,
            port: 8080,
            service_account: "default",
            env_count: (step.variant % 3) as usize,
            risk,
            defaulted: false,
            restart_never: false,
        };
        let namespace = step.namespace;
        let uid = self.rng.next_u128();
        let meta = self.meta(name, namespace, uid, self.now);
        if (step.variant >> 6).is_multiple_of(2) {
            let node_index = 1 + self.rng.index(3);
            let pod = PodBody {
                meta,
                spec,
                owner: None,
                template_hash: "",
                node: cat::NODE_NAMES[node_index],
                pod_ip: (node_index as i64, self.rng.range(2, 250)),
            };
            let body = Body::Pod(pod);
            self.request(
                buf,
                Request::new(step.actor, "create", &cat::PODS)
                    .namespace(namespace)
                    .query("fieldManager=kubectl-run")
                    .code(201)
                    .request_body(&body)
                    .response_body(&body),
            )
        } else {
            let body = Body::Workload(WorkloadBody {
                kind: "Deployment",
                meta,
                spec,
                replicas: 1,
                generation: 1,
                change: WorkloadChange::Create,
                template_hash: "",
                manager: "kubectl-client-side-apply",
            });
            self.request(
                buf,
                Request::new(step.actor, "create", &cat::DEPLOYMENTS)
                    .namespace(namespace)
                    .query("fieldManager=kubectl-client-side-apply&fieldValidation=Strict")
                    .code(201)
                    .request_body(&body)
                    .response_body(&body),
            )
        }
    }
}

fn suffix(variant: u64) -> String {
    (0..5)
        .map(|shift| {
            char::from(
                cat::NAME_ALPHABET
                    [((variant >> (shift * 5 + 20)) % cat::NAME_ALPHABET.len() as u64) as usize],
            )
        })
        .collect()
}
