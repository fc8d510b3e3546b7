//! The control plane's own traffic: leader-election leases, events, namespaces, flow control,
//! APIServices and quota.

use crate::bodies::Body;
use crate::catalog::{self as cat, A, APPS};
use crate::generator::{Generator, Request, actor_namespace, name_suffix, uid_of};
use crate::json;

impl Generator {
    /// The API server reading its own objects (the `kubernetes` Service, system namespaces, ...).
    pub(super) fn api_server_get(&mut self, buf: &mut Vec<u8>) {
        let resource = *self.rng.pick(&[
            &cat::SERVICES,
            &cat::ENDPOINTS,
            &cat::ENDPOINTSLICES,
            &cat::SERVICEACCOUNTS,
            &cat::NAMESPACES,
        ]);
        let (namespace, name) = match resource.plural {
            "namespaces" => (
                "",
                *self
                    .rng
                    .pick(&["default", "kube-system", "kube-public", "kube-node-lease"]),
            ),
            "serviceaccounts" => (
                "kube-system",
                *self.rng.pick(&["default", "kube-proxy", "coredns"]),
            ),
            _ => ("default", "kubernetes"),
        };
        self.get(buf, A::ApiServer, resource, namespace, name);
    }

    /// A kubelet or controller bumping the count of a repeated Event.
    pub(super) fn event_patch(&mut self, buf: &mut Vec<u8>) {
        let actor = *self.rng.pick(&[
            A::NodeWorker1,
            A::NodeWorker2,
            A::Scheduler,
            A::DeploymentController,
        ]);
        let namespace = self.namespace();
        let name = format!(
            "{}.{:x}",
            name_suffix(&mut self.rng, 8),
            self.rng.next_u64() >> 12
        );
        let body = Body::EventCountPatch {
            count: self.rng.range(2, 40),
            now: self.now,
        };
        self.request(
            buf,
            Request::new(actor, "patch", &cat::EVENTS)
                .namespace(namespace)
                .name(&name)
                .request_body(&body),
        );
    }

    /// The API server reading a FlowSchema or PriorityLevelConfiguration.
    pub(super) fn flow_control_get(&mut self, buf: &mut Vec<u8>) {
        let (resource, name) = if self.rng.chance(3, 5) {
            (
                &cat::FLOWSCHEMAS,
                *self.rng.pick(&[
                    "exempt",
                    "probes",
                    "system-leader-election",
                    "workload-leader-election",
                    "system-nodes",
                    "kube-controller-manager",
                    "kube-scheduler",
                    "service-accounts",
                    "global-default",
                    "catch-all",
                ]),
            )
        } else {
            (
                &cat::PRIORITYLEVELS,
                *self.rng.pick(&[
                    "exempt",
                    "system",
                    "node-high",
                    "leader-election",
                    "workload-high",
                    "workload-low",
                    "global-default",
                    "catch-all",
                ]),
            )
        };
        self.get(buf, A::ApiServer, resource, "", name);
    }

    /// The API server or namespace controller reading a Namespace, or Helm creating one.
    pub(super) fn namespace_request(&mut self, buf: &mut Vec<u8>) {
        let name = self.namespace();
        match self.rng.below(10) {
            0..=5 => self.get(buf, A::ApiServer, &cat::NAMESPACES, "", name),
            6 | 7 => {
                let code = self.sometimes((1, 2), 409, 201);
                let meta = self.meta(name, "", 0, self.now);
                let body = Body::Namespace { meta };
                self.request(
                    buf,
                    Request::new(A::AdminHelm, "create", &cat::NAMESPACES)
                        .code(code)
                        .request_body(&body),
                )
            }
            _ => self.get(buf, A::NamespaceController, &cat::NAMESPACES, "", name),
        };
    }

    /// The namespace controller emptying a namespace being deleted.
    pub(super) fn namespace_cleanup(&mut self, buf: &mut Vec<u8>) {
        let resource = *self.rng.pick(&[
            &cat::CONFIGMAPS,
            &cat::SERVICES,
            &cat::SERVICEACCOUNTS,
            &cat::EVENTS,
            &cat::LEASES,
            &cat::ROLEBINDINGS,
            &cat::ROLES,
            &cat::CONTROLLERREVISIONS,
            &cat::PERSISTENTVOLUMECLAIMS,
            &cat::LIMITRANGES,
        ]);
        let namespace = *self.rng.pick(&[
            "helm-smoke-test",
            "review-pr-1432",
            "review-pr-1437",
            "loadtest",
        ]);
        let verb = if self.rng.chance(1, 2) {
            "deletecollection"
        } else {
            "list"
        };
        self.request(
            buf,
            Request::new(A::NamespaceController, verb, resource).namespace(namespace),
        );
    }

    /// The API server reading or deleting an APIService.
    pub(super) fn api_service(&mut self, buf: &mut Vec<u8>) {
        let name = *self.rng.pick(&[
            "v1.apps",
            "v1.batch",
            "v1beta1.metrics.k8s.io",
            "v1.monitoring.coreos.com",
            "v1.cert-manager.io",
            "v1alpha1.argoproj.io",
        ]);
        if self.rng.chance(1, 2) {
            self.get(buf, A::ApiServer, &cat::APISERVICES, "", name);
        } else {
            let code = self.sometimes((1, 2), 404, 200);
            self.request(
                buf,
                Request::new(A::ApiServer, "delete", &cat::APISERVICES)
                    .name(name)
                    .code(code)
                    .request_body(&Body::DeleteOptions),
            );
        }
    }

    /// The API server listing ResourceQuotas or LimitRanges for admission.
    pub(super) fn quota_list(&mut self, buf: &mut Vec<u8>) {
        let resource = if self.rng.chance(1, 2) {
            &cat::RESOURCEQUOTAS
        } else {
            &cat::LIMITRANGES
        };
        let namespace = self.namespace();
        self.list(buf, A::ApiServer, resource, namespace, "");
    }

    /// A leader-election or node lease: read it, or renew it with an update.
    pub(super) fn lease(&mut self, buf: &mut Vec<u8>) {
        let (actor, namespace, name, duration): (A, &str, &str, i64) = match self.rng.below(20) {
            0..=5 => (
                A::ControllerManager,
                "kube-system",
                "kube-controller-manager",
                15,
            ),
            6..=11 => (A::Scheduler, "kube-system", "kube-scheduler", 15),
            12..=15 => {
                let node_index = self.rng.index(4);
                (
                    cat::NODES_ALL[node_index],
                    "kube-node-lease",
                    cat::NODE_NAMES[node_index],
                    40,
                )
            }
            _ => {
                let actor = *self.rng.pick(&[
                    A::PrometheusOperator,
                    A::CertManager,
                    A::IngressNginx,
                    A::Gatekeeper,
                    A::CertManagerCainjector,
                ]);
                let namespace = actor_namespace(actor);
                let name = match actor {
                    A::PrometheusOperator => "prometheus-operator-lock",
                    A::CertManager => "cert-manager-controller",
                    A::IngressNginx => "ingress-nginx-leader",
                    A::Gatekeeper => "gatekeeper-controller-manager-leader",
                    _ => "cert-manager-cainjector-leader-election",
                };
                (actor, namespace, name, 15)
            }
        };
        if self.rng.chance(1, 2) {
            self.request(
                buf,
                Request::new(actor, "get", &cat::LEASES)
                    .namespace(namespace)
                    .name(name)
                    .query("timeout=5s"),
            );
        } else {
            let holder = format!(
                "{}_{}",
                if namespace == "kube-node-lease" {
                    name
                } else {
                    "cp-1"
                },
                json::uuid_string(uid_of(&["holder", name]))
            );
            let created = self.now - 86_400 * 30 * 1_000_000;
            self.renew_lease(buf, actor, (namespace, name), &holder, created, duration);
        }
    }

    /// The `update` of a Lease by its holder, renewing it for `duration` seconds.
    pub(crate) fn renew_lease(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        (namespace, name): (&str, &str),
        holder: &str,
        created: i64,
        duration: i64,
    ) {
        let meta = self.meta(
            name,
            namespace,
            uid_of(&["Lease", namespace, name]),
            created,
        );
        let body = Body::Lease {
            meta,
            holder,
            duration,
        };
        self.request(
            buf,
            Request::new(actor, "update", &cat::LEASES)
                .namespace(namespace)
                .name(name)
                .query("timeout=5s")
                .request_body(&body),
        );
    }

    /// A kubelet, the scheduler or a controller creating an Event about a pod or its owners.
    pub(super) fn core_event(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment", "StatefulSet", "DaemonSet"]);
        let app = &APPS[index];
        let (pod, _, _) = self.pod_of(index);
        let (actor, component, host, kind, object, reason, message): (
            A,
            &str,
            &str,
            &str,
            String,
            &str,
            String,
        ) = match self.rng.below(10) {
            0..=4 => {
                let node_index = 1 + self.rng.index(3);
                let (reason, message) = *self.rng.pick(&[
                    (
                        "Pulled",
                        "Container image \"IMAGE\" already present on machine",
                    ),
                    ("Created", "Created container CONTAINER"),
                    ("Started", "Started container CONTAINER"),
                    ("Killing", "Stopping container CONTAINER"),
                    (
                        "Unhealthy",
                        "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    ),
                ]);
                let message = message
                    .replace("IMAGE", app.image)
                    .replace("CONTAINER", app.name);
                (
                    cat::NODES_ALL[node_index],
                    "kubelet",
                    cat::NODE_NAMES[node_index],
                    "Pod",
                    pod.clone(),
                    reason,
                    message,
                )
            }
            5..=6 => (
                A::Scheduler,
                "default-scheduler",
                "",
                "Pod",
                pod.clone(),
                "Scheduled",
                format!(
                    "Successfully assigned {}/{} to worker-{}",
                    app.namespace,
                    pod,
                    1 + self.rng.index(3)
                ),
            ),
            7 | 8 => (
                A::ReplicasetController,
                "replicaset-controller",
                "",
                "ReplicaSet",
                format!("{}-{}", app.name, self.apps[index].template_hash),
                "SuccessfulCreate",
                format!("Created pod: {pod}"),
            ),
            _ => (
                A::DeploymentController,
                "deployment-controller",
                "",
                "Deployment",
                app.name.to_owned(),
                "ScalingReplicaSet",
                format!(
                    "Scaled up replica set {}-{} to {}",
                    app.name, self.apps[index].template_hash, app.replicas
                ),
            ),
        };
        let name = format!("{object}.{:x}", self.rng.next_u64() >> 12);
        let created = self.now - self.rng.range(0, 600) * 1_000_000;
        let meta = self.meta(
            &name,
            app.namespace,
            uid_of(&[kind, app.namespace, &object]),
            created,
        );
        let count = self.rng.range(1, 4);
        let body = Body::CoreEvent {
            meta,
            kind,
            object: &object,
            reason,
            message: &message,
            component,
            host,
            count,
        };
        self.request(
            buf,
            Request::new(actor, "create", &cat::EVENTS)
                .namespace(app.namespace)
                .code(201)
                .request_body(&body),
        );
    }
}
