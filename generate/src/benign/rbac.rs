//! Roles, bindings and impersonation.

use crate::bodies::{self, Body, RoleBody, RoleRules};
use crate::catalog::{self as cat, A, APPS, Level};
use crate::generator::{Call, Generator, Reason, Request, Stage, Target, resource_uri, uid_of};

use super::helm_create;

impl Generator {
    /// The API server reading a bootstrap ClusterRole or ClusterRoleBinding.
    pub(super) fn api_server_rbac_get(&mut self, buf: &mut Vec<u8>) {
        let cluster_role = self.rng.chance(3, 5);
        let name = *self.rng.pick(&[
            "system:discovery",
            "system:basic-user",
            "system:public-info-viewer",
            "admin",
            "edit",
            "view",
            "system:aggregate-to-view",
            "system:node-proxier",
        ]);
        let created = self.now - 86_400 * 200 * 1_000_000;
        let meta = self.meta(name, "", uid_of(&["rbac", name]), created);
        if cluster_role {
            let body = Body::Role(RoleBody {
                cluster: true,
                meta,
                rules: RoleRules::Benign(name.len()),
                helm_release: None,
            });
            self.request(
                buf,
                Request::new(A::ApiServer, "get", &cat::CLUSTERROLES)
                    .name(name)
                    .response_body(&body),
            );
        } else {
            let body = Body::Binding(bodies::BindingBody {
                cluster: true,
                meta,
                role_kind: "ClusterRole",
                role_name: name,
                subject_kind: "Group",
                subject_name: "system:authenticated",
                subject_namespace: "",
                helm_release: None,
            });
            self.request(
                buf,
                Request::new(A::ApiServer, "get", &cat::CLUSTERROLEBINDINGS)
                    .name(name)
                    .response_body(&body),
            );
        }
    }

    /// Argo CD or kubectl listing every ClusterRole (a large response).
    pub(super) fn cluster_role_list(&mut self, buf: &mut Vec<u8>) {
        let actor = if self.rng.chance(1, 2) {
            A::ArgocdApplicationController
        } else {
            A::AdminKubectl
        };
        let count = self.rng.range(80, 260) as usize;
        let body = Body::RoleList {
            count,
            resource_version: self.resource_version,
            seed: self.rng.next_u64(),
            now: self.now,
        };
        self.request(
            buf,
            Request::new(actor, "list", &cat::CLUSTERROLES)
                .query("limit=500")
                .response_body(&body),
        );
    }

    /// An admin listing pods as another user (`kubectl --as`).
    pub(super) fn impersonation(&mut self, buf: &mut Vec<u8>) {
        let audit_id = self.audit_id();
        let mut uri = String::new();
        resource_uri(&mut uri, &cat::PODS, "shop", "", "", "limit=500");
        let latency = self.latency("list", Level::Request);
        let call = Call {
            stage: Stage::ResponseComplete,
            audit_id,
            verb: "list",
            uri: &uri,
            actor: A::AdminKubectl,
            impersonated: Some(A::Bob),
            target: Some(Target {
                resource: &cat::PODS,
                namespace: "shop",
                name: "",
                subresource: "",
            }),
            code: 200,
            level: Level::Request,
            received: self.now - latency,
            stage_time: self.now,
            reason: Reason::Actor,
        };
        self.render(buf, &call, &Body::None, &Body::None);
    }

    /// Helm (now and then a human) reading, creating or deleting an app's (Cluster)Role or binding.
    pub(super) fn helm_rbac(&mut self, buf: &mut Vec<u8>) {
        let actor = if self.rng.chance(9, 10) {
            A::AdminHelm
        } else {
            A::Alice
        };
        let name = *self.rng.pick(cat::ROLE_NAMES);
        let index = self.rng.index(APPS.len());
        let app = &APPS[index];
        let (resource, cluster, binding) = *self.rng.pick(&[
            (&cat::CLUSTERROLES, true, false),
            (&cat::CLUSTERROLEBINDINGS, true, true),
            (&cat::ROLES, false, false),
            (&cat::ROLEBINDINGS, false, true),
        ]);
        let namespace = if cluster { "" } else { app.namespace };
        let meta = self.meta(
            name,
            namespace,
            uid_of(&[resource.plural, namespace, name]),
            self.now,
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
            Body::Role(RoleBody {
                cluster,
                meta,
                rules: RoleRules::Benign(index),
                helm_release: Some(app.name),
            })
        };
        match self.rng.below(10) {
            0..=3 => {
                let code = self.sometimes((3, 5), 404, 200);
                self.request(
                    buf,
                    Request::new(actor, "get", resource)
                        .namespace(namespace)
                        .name(name)
                        .code(code)
                        .response_body(&body),
                )
            }
            4..=7 => self.request(
                buf,
                helm_create(actor, resource, namespace)
                    .request_body(&body)
                    .response_body(&body),
            ),
            _ => {
                let status = Body::Status {
                    code: 200,
                    status: "Success",
                    reason: "",
                    message: "",
                    name,
                    group: resource.group,
                    kind: resource.plural,
                };
                self.request(
                    buf,
                    Request::new(actor, "delete", resource)
                        .namespace(namespace)
                        .name(name)
                        .request_body(&Body::DeleteOptions)
                        .response_body(&status),
                )
            }
        };
    }
}
