//! Secrets, ConfigMaps, ServiceAccounts and their tokens.

use crate::bodies::Body;
use crate::catalog::{self as cat, A, APPS};
use crate::generator::{Generator, Request, actor_namespace, uid_of};

use super::{CACHED_LIST_QUERY, OPERATORS, helm_create};

impl Generator {
    /// A kubelet reading a Secret its pods mount: get, or a single-object watch or list.
    pub(super) fn node_secret_read(&mut self, buf: &mut Vec<u8>) {
        let node = *self.rng.pick(cat::NODES_ALL);
        let name = *self.rng.pick(cat::SECRET_NAMES);
        let namespace = self.namespace();
        match self.rng.below(10) {
            0..=4 => self.get(buf, node, &cat::SECRETS, namespace, name),
            5..=7 => self.node_object_read(buf, node, &cat::SECRETS, namespace, name, true),
            _ => self.node_object_read(buf, node, &cat::SECRETS, namespace, name, false),
        };
    }

    /// The controller manager, garbage collector or namespace controller on Secrets.
    pub(super) fn control_plane_secret(&mut self, buf: &mut Vec<u8>) {
        let name = *self.rng.pick(cat::SECRET_NAMES);
        match self.rng.below(6) {
            0 | 1 => self.get(
                buf,
                A::ControllerManager,
                &cat::SECRETS,
                "kube-system",
                name,
            ),
            2 => self.request(
                buf,
                Request::new(A::ControllerManager, "create", &cat::SECRETS)
                    .namespace("kube-system")
                    .code(201),
            ),
            3 => self.list(
                buf,
                A::GarbageCollector,
                &cat::SECRETS,
                "",
                CACHED_LIST_QUERY,
            ),
            4 => self.watch(buf, A::GarbageCollector, &cat::SECRETS, "", ""),
            _ => {
                let namespace = self.namespace();
                self.list(
                    buf,
                    A::NamespaceController,
                    &cat::SECRETS,
                    namespace,
                    "limit=500",
                )
            }
        };
    }

    /// The Prometheus operator writing the Secrets it generates.
    pub(super) fn operator_secret_write(&mut self, buf: &mut Vec<u8>) {
        let name = *self.rng.pick(&[
            "prometheus-k8s-tls-assets-0",
            "prometheus-k8s-web-config",
            "alertmanager-main-generated",
            "alertmanager-main-tls-assets-0",
            "alertmanager-main-web-config",
            "prometheus-k8s",
        ]);
        let (verb, code) = *self.rng.weighted(&[
            (("update", 200i64), 55u32),
            (("delete", 404), 38),
            (("create", 201), 7),
        ]);
        let path_name = if verb == "create" { "" } else { name };
        self.request(
            buf,
            Request::new(A::PrometheusOperator, verb, &cat::SECRETS)
                .namespace("monitoring")
                .name(path_name)
                .code(code),
        );
    }

    /// A human (mostly Helm) getting, creating or deleting a ConfigMap.
    pub(super) fn human_config_map(&mut self, buf: &mut Vec<u8>) {
        let actor = self.helm_or_human((3, 4));
        let name = *self.rng.pick(cat::CONFIG_NAMES);
        let namespace = self.namespace();
        match self.rng.below(10) {
            0..=4 => self.get_or_missing(buf, actor, &cat::CONFIGMAPS, namespace, name, (2, 5)),
            5..=8 => self.request(buf, helm_create(actor, &cat::CONFIGMAPS, namespace)),
            _ => self.request(
                buf,
                Request::new(actor, "delete", &cat::CONFIGMAPS)
                    .namespace(namespace)
                    .name(name),
            ),
        };
    }

    /// A kubelet watching or listing a ConfigMap its pods mount.
    pub(super) fn node_config_map(&mut self, buf: &mut Vec<u8>) {
        let node = *self.rng.pick(cat::NODES_ALL);
        let name = *self.rng.pick(&[
            "kube-root-ca.crt",
            "kube-proxy",
            "coredns",
            "grafana-dashboards",
            "app-settings",
        ]);
        let namespace = self.namespace();
        let watch = self.rng.chance(3, 5);
        self.node_object_read(buf, node, &cat::CONFIGMAPS, namespace, name, watch);
    }

    /// An operator's ConfigMap informer.
    pub(super) fn operator_config_map(&mut self, buf: &mut Vec<u8>) {
        let actor = *self.rng.pick(OPERATORS);
        let namespace = actor_namespace(actor);
        let list = self.rng.chance(2, 3);
        self.informer(buf, actor, &cat::CONFIGMAPS, namespace, list);
    }

    /// The controller manager reading or updating an app's ServiceAccount.
    pub(super) fn service_account_read(&mut self, buf: &mut Vec<u8>) {
        let index = self.rng.index(APPS.len());
        let app = &APPS[index];
        if self.rng.chance(3, 4) {
            self.get(
                buf,
                A::ControllerManager,
                &cat::SERVICEACCOUNTS,
                app.namespace,
                app.service_account,
            );
        } else {
            let meta = self.meta(
                app.service_account,
                app.namespace,
                uid_of(&["ServiceAccount", app.namespace, app.service_account]),
                self.now,
            );
            let body = Body::ServiceAccount {
                meta,
                helm_release: app.name,
            };
            self.request(
                buf,
                Request::new(A::ControllerManager, "update", &cat::SERVICEACCOUNTS)
                    .namespace(app.namespace)
                    .name(app.service_account)
                    .request_body(&body),
            );
        }
    }

    /// A human (mostly Helm) getting, creating or deleting a ServiceAccount.
    pub(super) fn human_service_account(&mut self, buf: &mut Vec<u8>) {
        let index = self.rng.index(APPS.len());
        let app = &APPS[index];
        let actor = self.helm_or_human((4, 5));
        match self.rng.below(10) {
            0..=4 => self.get_or_missing(
                buf,
                actor,
                &cat::SERVICEACCOUNTS,
                app.namespace,
                app.service_account,
                (1, 2),
            ),
            5..=8 => {
                let meta = self.meta(app.service_account, app.namespace, 0, self.now);
                let body = Body::ServiceAccount {
                    meta,
                    helm_release: app.name,
                };
                self.request(
                    buf,
                    helm_create(actor, &cat::SERVICEACCOUNTS, app.namespace).request_body(&body),
                )
            }
            _ => self.request(
                buf,
                Request::new(actor, "delete", &cat::SERVICEACCOUNTS)
                    .namespace(app.namespace)
                    .name(app.service_account)
                    .request_body(&Body::DeleteOptions),
            ),
        };
    }

    /// A kubelet requesting a pod-bound service account token.
    pub(super) fn node_token(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment", "StatefulSet", "DaemonSet"]);
        let (pod, _, _) = self.pod_of(index);
        let app = &APPS[index];
        let node = *self.rng.pick(cat::WORKER_NODES);
        let pod_uid = uid_of(&["Pod", app.namespace, &pod]);
        let bound_pod = Some((pod.as_str(), pod_uid));
        let (service_account, namespace) = (app.service_account, app.namespace);
        self.token_request(buf, node, service_account, namespace, 3607, bound_pod);
    }

    /// The controller manager requesting a token for one of its controllers.
    pub(super) fn controller_token(&mut self, buf: &mut Vec<u8>) {
        let name = *self.rng.pick(&[
            "replicaset-controller",
            "deployment-controller",
            "endpointslice-controller",
            "namespace-controller",
            "generic-garbage-collector",
        ]);
        self.token_request(buf, A::ControllerManager, name, "kube-system", 3600, None);
    }

    /// An operator reviewing a bearer token.
    pub(super) fn token_review(&mut self, buf: &mut Vec<u8>) {
        let actor = *self
            .rng
            .pick(&[A::KubeStateMetrics, A::PrometheusOperator, A::IngressNginx]);
        self.request(
            buf,
            Request::new(actor, "create", &cat::TOKENREVIEWS).code(201),
        );
    }
}
