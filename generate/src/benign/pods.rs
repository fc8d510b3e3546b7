//! Pods: kubelets, controllers and the scheduler on them, operators watching them, humans reading
//! them.

use crate::bodies::Body;
use crate::catalog::{self as cat, A, APPS};
use crate::generator::{Generator, Request, uid_of};

use super::CACHED_LIST_QUERY;

impl Generator {
    /// A kubelet reading one of its pods.
    pub(super) fn node_pod_get(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment", "StatefulSet", "DaemonSet"]);
        let (pod, _, _) = self.pod_of(index);
        let node = *self.rng.pick(cat::WORKER_NODES);
        self.get_or_missing(buf, node, &cat::PODS, APPS[index].namespace, &pod, (1, 25));
    }

    /// A kubelet patching `pods/status` of a running pod.
    pub(super) fn pod_status(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment", "StatefulSet", "DaemonSet"]);
        let pod = self.owned_pod(index);
        let body = self.pod_body(index, &pod);
        let node = match body.node {
            "worker-1" => A::NodeWorker1,
            "worker-2" => A::NodeWorker2,
            _ => A::NodeWorker3,
        };
        let body = Body::PodStatusPatch(body);
        self.request(
            buf,
            Request::new(node, "patch", &cat::PODS)
                .namespace(APPS[index].namespace)
                .name(&pod.name)
                .subresource("status")
                .request_body(&body)
                .response_body(&body),
        );
    }

    /// A workload controller creating a pod.
    pub(super) fn pod_create(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment", "StatefulSet", "DaemonSet"]);
        let pod = self.owned_pod(index);
        let actor = match pod.owner_kind {
            "StatefulSet" => A::StatefulsetController,
            "DaemonSet" => A::DaemonSetController,
            _ => A::ReplicasetController,
        };
        let body = Body::Pod(self.pod_body(index, &pod));
        self.request(
            buf,
            Request::new(actor, "create", &cat::PODS)
                .namespace(APPS[index].namespace)
                .code(201)
                .request_body(&body)
                .response_body(&body),
        );
    }

    /// The scheduler binding a pod to a node.
    pub(super) fn pod_binding(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment"]);
        let (pod, _, _) = self.pod_of(index);
        let node = cat::NODE_NAMES[1 + self.rng.index(3)];
        let uid = uid_of(&["Pod", APPS[index].namespace, &pod]);
        let body = Body::PodBindingTarget {
            pod: &pod,
            namespace: APPS[index].namespace,
            uid,
            node,
        };
        self.request(
            buf,
            Request::new(A::Scheduler, "create", &cat::PODS)
                .namespace(APPS[index].namespace)
                .name(&pod)
                .subresource("binding")
                .code(201)
                .request_body(&body),
        );
    }

    /// An operator listing pods from the watch cache.
    pub(super) fn pod_list(&mut self, buf: &mut Vec<u8>) {
        let actor = *self.rng.pick(&[
            A::KubeStateMetrics,
            A::Prometheus,
            A::ArgocdApplicationController,
            A::Gatekeeper,
        ]);
        let namespace = if self.rng.chance(1, 2) {
            ""
        } else {
            self.namespace()
        };
        self.list(buf, actor, &cat::PODS, namespace, CACHED_LIST_QUERY);
    }

    /// An operator watching all pods.
    pub(super) fn pod_watch(&mut self, buf: &mut Vec<u8>) {
        let actor = *self
            .rng
            .pick(&[A::KubeStateMetrics, A::Prometheus, A::IngressNginx]);
        self.watch(buf, actor, &cat::PODS, "", "");
    }

    /// The ReplicaSet controller deleting a pod.
    pub(super) fn pod_delete(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment"]);
        let pod = self.owned_pod(index);
        let body = Body::Pod(self.pod_body(index, &pod));
        self.request(
            buf,
            Request::new(A::ReplicasetController, "delete", &cat::PODS)
                .namespace(APPS[index].namespace)
                .name(&pod.name)
                .request_body(&Body::DeleteOptions)
                .response_body(&body),
        );
    }

    /// A human listing pods, getting one or reading its log.
    pub(super) fn human_pods(&mut self, buf: &mut Vec<u8>) {
        let actor = self.human();
        let index = self.pick_app(&["Deployment", "StatefulSet"]);
        let namespace = APPS[index].namespace;
        match self.rng.below(5) {
            0..=2 => self.list(buf, actor, &cat::PODS, namespace, "limit=500"),
            3 => {
                let (pod, _, _) = self.pod_of(index);
                self.get(buf, actor, &cat::PODS, namespace, &pod)
            }
            _ => {
                let (pod, _, _) = self.pod_of(index);
                let query = format!("container={}&tailLines=100", APPS[index].name);
                self.request(
                    buf,
                    Request::new(actor, "get", &cat::PODS)
                        .namespace(namespace)
                        .name(&pod)
                        .subresource("log")
                        .query(&query),
                )
            }
        };
    }
}
