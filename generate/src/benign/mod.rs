//! The benign traffic mix: a weighted table of activities, each a small method on [`Generator`] in
//! one of this module's files (grouped by the kind of object), and the helpers they share.

mod cluster;
mod config;
mod extensions;
mod networking;
mod nodes;
mod non_resource;
mod pods;
mod rbac;
mod workloads;

use crate::bodies::{Body, PodBody};
use crate::catalog::{self as cat, A, APPS, Resource};
use crate::generator::{Generator, Request, name_suffix, uid_of};

/// One benign activity: writes one event, or the first of a burst whose rest it schedules.
pub(crate) type Activity = fn(&mut Generator, &mut Vec<u8>);

/// Benign activities and their weights per pick. Discovery starts a burst of many events; the
/// weights are set so the event mix matches the measured sample (about half discovery GETs,
/// get ≈ 70 % of verbs, 200 ≈ 90 % of codes). The order is part of the output: a pick is one
/// draw over the summed weights.
pub(crate) const ACTIVITIES: &[(Activity, u32)] = &[
    (Generator::discovery_sweep, 190),
    (Generator::health_probe, 190),
    (Generator::openapi_get, 15),
    (Generator::metrics_scrape, 10),
    (Generator::node_secret_read, 100),
    (Generator::control_plane_secret, 60),
    (Generator::operator_secret_write, 180),
    (Generator::lease, 430),
    (Generator::operator_service, 250),
    (Generator::human_service, 80),
    (Generator::api_server_get, 120),
    (Generator::core_event, 280),
    (Generator::event_patch, 90),
    (Generator::node_pod_get, 110),
    (Generator::pod_status, 230),
    (Generator::pod_create, 60),
    (Generator::pod_binding, 35),
    (Generator::pod_list, 70),
    (Generator::pod_watch, 20),
    (Generator::pod_delete, 20),
    (Generator::human_pods, 50),
    (Generator::deployment_status, 170),
    (Generator::human_deployment, 55),
    (Generator::gitops_patch, 20),
    (Generator::replicaset_sync, 140),
    (Generator::other_workload_status, 35),
    (Generator::job_create, 15),
    (Generator::endpoint_slice, 200),
    (Generator::endpoints, 50),
    (Generator::node_get, 145),
    (Generator::node_status, 100),
    (Generator::node_watch, 15),
    (Generator::service_account_read, 135),
    (Generator::human_service_account, 70),
    (Generator::node_token, 35),
    (Generator::controller_token, 20),
    (Generator::persistent_volume_get, 150),
    (Generator::human_config_map, 120),
    (Generator::node_config_map, 150),
    (Generator::operator_config_map, 110),
    (Generator::api_server_rbac_get, 130),
    (Generator::helm_rbac, 180),
    (Generator::cluster_role_list, 2),
    (Generator::flow_control_get, 110),
    (Generator::namespace_request, 65),
    (Generator::namespace_cleanup, 80),
    (Generator::crd_create, 25),
    (Generator::crd_status, 25),
    (Generator::custom_resource, 80),
    (Generator::prometheus_status, 55),
    (Generator::gatekeeper_list, 110),
    (Generator::volume_attachment_delete, 55),
    (Generator::api_service, 35),
    (Generator::quota_list, 40),
    (Generator::impersonation, 5),
    (Generator::ingress_read, 30),
    (Generator::token_review, 40),
    (Generator::csi_driver_informer, 10),
];

/// The query of a `list` served from the watch cache, as client-go's reflectors send it.
const CACHED_LIST_QUERY: &str = "limit=500&resourceVersion=0";

/// kube-proxy's selector for the EndpointSlices it programs.
const KUBE_PROXY_SELECTOR: &str = "labelSelector=%21service.kubernetes.io%2Fheadless%2C%21service.kubernetes.io%2Fservice-proxy-name";

/// Operators and controllers that run in app namespaces.
const OPERATORS: &[A] = &[
    A::PrometheusOperator,
    A::KubeStateMetrics,
    A::Prometheus,
    A::Grafana,
    A::CertManager,
    A::CertManagerCainjector,
    A::ArgocdApplicationController,
    A::ArgocdServer,
    A::IngressNginx,
    A::Gatekeeper,
];

/// The people and their Helm and kubectl identities, weighted by how often each acts.
const HUMANS: &[(A, u32)] = &[
    (A::AdminHelm, 50),
    (A::AdminKubectl, 20),
    (A::Alice, 15),
    (A::Bob, 10),
    (A::Carol, 5),
];

/// A pod of a workload app and what its body names: the owner and the pod template hash.
struct OwnedPod {
    name: String,
    owner_kind: &'static str,
    owner: String,
    owner_uid: u128,
    template_hash: String,
}

/// A `create` from Helm (`fieldManager=helm`), answered 201.
fn helm_create<'a>(actor: A, resource: &'static Resource, namespace: &'a str) -> Request<'a> {
    Request::new(actor, "create", resource)
        .namespace(namespace)
        .query("fieldManager=helm")
        .code(201)
}

impl Generator {
    /// `rare` with probability `chance` (numerator, denominator), else `usual`: mostly a status code.
    pub(crate) fn sometimes(&mut self, chance: (u64, u64), rare: i64, usual: i64) -> i64 {
        if self.rng.chance(chance.0, chance.1) {
            rare
        } else {
            usual
        }
    }

    /// Helm with probability `chance` (numerator, denominator), else a human by [`HUMANS`].
    fn helm_or_human(&mut self, chance: (u64, u64)) -> A {
        if self.rng.chance(chance.0, chance.1) {
            A::AdminHelm
        } else {
            self.human()
        }
    }

    /// A `get` of one object that is not there (404) with probability `missing`.
    fn get_or_missing(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        resource: &'static Resource,
        namespace: &str,
        name: &str,
        missing: (u64, u64),
    ) -> u128 {
        let code = self.sometimes(missing, 404, 200);
        self.request(
            buf,
            Request::new(actor, "get", resource)
                .namespace(namespace)
                .name(name)
                .code(code),
        )
    }

    /// A kubelet following one object its pods use, by name: a `watch`, or the `list` from the
    /// watch cache before it.
    fn node_object_read(
        &mut self,
        buf: &mut Vec<u8>,
        node: A,
        resource: &'static Resource,
        namespace: &str,
        name: &str,
        watch: bool,
    ) -> u128 {
        let query = format!("fieldSelector=metadata.name%3D{name}");
        if watch {
            self.watch(buf, node, resource, namespace, &query)
        } else {
            let query = format!("{query}&{CACHED_LIST_QUERY}");
            self.list(buf, node, resource, namespace, &query)
        }
    }

    fn human(&mut self) -> A {
        *self.rng.weighted(HUMANS)
    }

    fn namespace(&mut self) -> &'static str {
        let namespace: &&'static str = self.rng.weighted(cat::NAMESPACE_WEIGHTS);
        namespace
    }

    /// An informer's request: the initial `list` from the watch cache, or the `watch` after it.
    fn informer(
        &mut self,
        buf: &mut Vec<u8>,
        actor: A,
        resource: &'static Resource,
        namespace: &str,
        list: bool,
    ) -> u128 {
        if list {
            self.list(buf, actor, resource, namespace, CACHED_LIST_QUERY)
        } else {
            self.watch(buf, actor, resource, namespace, "")
        }
    }

    /// A pod of a Deployment app: `(pod name, owner kind, owner name)`.
    fn pod_of(&mut self, index: usize) -> (String, &'static str, String) {
        let app = &APPS[index];
        let state = &self.apps[index];
        match app.kind {
            "StatefulSet" => (
                format!("{}-{}", app.name, self.rng.below(app.replicas as u64)),
                "StatefulSet",
                app.name.to_owned(),
            ),
            "DaemonSet" => (
                format!("{}-{}", app.name, name_suffix(&mut self.rng, 5)),
                "DaemonSet",
                app.name.to_owned(),
            ),
            _ => {
                let replica_set = format!("{}-{}", app.name, state.template_hash);
                (
                    format!("{replica_set}-{}", name_suffix(&mut self.rng, 5)),
                    "ReplicaSet",
                    replica_set,
                )
            }
        }
    }

    /// A pod of app `index` with its owner, for [`Generator::pod_body`].
    fn owned_pod(&mut self, index: usize) -> OwnedPod {
        let (name, owner_kind, owner) = self.pod_of(index);
        let state = &self.apps[index];
        OwnedPod {
            name,
            owner_kind,
            owner,
            owner_uid: state.replicaset_uid,
            template_hash: state.template_hash.clone(),
        }
    }

    /// The body of `pod` (of app `index`): created in the last days, on one of the workers.
    fn pod_body<'a>(&mut self, index: usize, pod: &'a OwnedPod) -> PodBody<'a> {
        let app = &APPS[index];
        let name = pod.name.as_str();
        let created = self.now - self.rng.range(5, 86_400 * 3) * 1_000_000;
        let meta = self.meta(
            name,
            app.namespace,
            uid_of(&["Pod", app.namespace, name]),
            created,
        );
        let spec = self.spec_of(app, true);
        let node_index = 1 + self.rng.index(3);
        PodBody {
            meta,
            spec,
            owner: Some((pod.owner_kind, &pod.owner, pod.owner_uid)),
            template_hash: &pod.template_hash,
            node: cat::NODE_NAMES[node_index],
            pod_ip: (node_index as i64, self.rng.range(2, 250)),
        }
    }

    /// The Service in front of app `index`, named `name` in `namespace`.
    fn service_body<'a>(
        &mut self,
        index: usize,
        name: &'a str,
        namespace: &'a str,
        created: i64,
    ) -> Body<'a> {
        let app = &APPS[index];
        let cluster_ip = self.apps[index].cluster_ip;
        let meta = self.meta(
            name,
            namespace,
            uid_of(&["Service", namespace, name]),
            created,
        );
        Body::Service {
            meta,
            app: app.name,
            port: app.port,
            cluster_ip,
        }
    }
}
