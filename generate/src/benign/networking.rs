//! Services, Endpoints, EndpointSlices and Ingresses.

use crate::bodies::Body;
use crate::catalog::{self as cat, A, APPS};
use crate::generator::{Generator, Request, actor_namespace, name_suffix, uid_of};

use super::{KUBE_PROXY_SELECTOR, helm_create};

impl Generator {
    /// An operator reading or updating the Service in front of an app.
    pub(super) fn operator_service(&mut self, buf: &mut Vec<u8>) {
        let actor = *self.rng.pick(&[
            A::PrometheusOperator,
            A::PrometheusOperator,
            A::IngressNginx,
            A::ArgocdApplicationController,
        ]);
        let namespace = actor_namespace(actor);
        let index = self.pick_app(&["Deployment", "StatefulSet"]);
        let app = &APPS[index];
        let name = if namespace == app.namespace {
            app.name
        } else {
            "operated"
        };
        if self.rng.chance(1, 2) {
            self.get(buf, actor, &cat::SERVICES, namespace, name);
        } else {
            let created = self.apps[index].created;
            let body = self.service_body(index, name, namespace, created);
            self.request(
                buf,
                Request::new(actor, "update", &cat::SERVICES)
                    .namespace(namespace)
                    .name(name)
                    .request_body(&body),
            );
        }
    }

    /// A human (mostly Helm) getting or creating an app's Service.
    pub(super) fn human_service(&mut self, buf: &mut Vec<u8>) {
        let actor = self.human();
        let index = self.pick_app(&["Deployment", "StatefulSet"]);
        let app = &APPS[index];
        if self.rng.chance(1, 2) {
            self.get_or_missing(buf, actor, &cat::SERVICES, app.namespace, app.name, (1, 3));
        } else {
            let body = self.service_body(index, app.name, app.namespace, self.now);
            self.request(
                buf,
                helm_create(actor, &cat::SERVICES, app.namespace).request_body(&body),
            );
        }
    }

    /// The EndpointSlice controller writing a slice, or kube-proxy watching them.
    pub(super) fn endpoint_slice(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment", "StatefulSet"]);
        let app = &APPS[index];
        let name = format!("{}-{}", app.name, name_suffix(&mut self.rng, 5));
        let created = self.apps[index].created;
        let meta = self.meta(
            &name,
            app.namespace,
            uid_of(&["EndpointSlice", app.namespace, &name]),
            created,
        );
        let seed = self.rng.next_u64();
        let endpoints = app.replicas.max(1) + self.rng.range(0, 2);
        let body = Body::EndpointSlice {
            meta,
            service: app.name,
            port: app.port,
            endpoints,
            seed,
        };
        let slices = Request::new(A::EndpointsliceController, "update", &cat::ENDPOINTSLICES)
            .namespace(app.namespace)
            .request_body(&body);
        match self.rng.below(10) {
            0..=6 => {
                let code = self.sometimes((1, 30), 409, 200);
                self.request(buf, slices.name(&name).code(code))
            }
            7 | 8 => self.request(
                buf,
                Request {
                    verb: "create",
                    ..slices
                }
                .code(201),
            ),
            _ => self.watch(
                buf,
                A::KubeProxy,
                &cat::ENDPOINTSLICES,
                "",
                KUBE_PROXY_SELECTOR,
            ),
        };
    }

    /// The Endpoints controller updating an app's Endpoints.
    pub(super) fn endpoints(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment", "StatefulSet"]);
        let app = &APPS[index];
        let created = self.apps[index].created;
        let meta = self.meta(
            app.name,
            app.namespace,
            uid_of(&["Endpoints", app.namespace, app.name]),
            created,
        );
        let seed = self.rng.next_u64();
        let body = Body::Endpoints {
            meta,
            port: app.port,
            addresses: app.replicas.max(1),
            seed,
        };
        self.request(
            buf,
            Request::new(A::EndpointController, "update", &cat::ENDPOINTS)
                .namespace(app.namespace)
                .name(app.name)
                .request_body(&body),
        );
    }

    /// The ingress controller reading Ingresses.
    pub(super) fn ingress_read(&mut self, buf: &mut Vec<u8>) {
        let verb = *self.rng.pick(&["list", "watch", "get"]);
        let name = if verb == "get" { "storefront" } else { "" };
        self.request(
            buf,
            Request::new(A::IngressNginx, verb, &cat::INGRESSES)
                .namespace("shop")
                .name(name),
        );
    }
}
