//! CustomResourceDefinitions and custom resources (Prometheus operator, Gatekeeper, cert-manager).

use crate::bodies::{self, Body};
use crate::catalog::{self as cat, A, APPS};
use crate::generator::{Generator, Request, uid_of};

use super::helm_create;

impl Generator {
    /// Helm creating a CustomResourceDefinition.
    pub(super) fn crd_create(&mut self, buf: &mut Vec<u8>) {
        self.crd_write(buf, false);
    }

    /// The API server updating a CustomResourceDefinition's status.
    pub(super) fn crd_status(&mut self, buf: &mut Vec<u8>) {
        self.crd_write(buf, true);
    }

    /// Helm or Argo CD getting or creating a PrometheusRule or ServiceMonitor.
    pub(super) fn custom_resource(&mut self, buf: &mut Vec<u8>) {
        let actor = if self.rng.chance(4, 5) {
            A::AdminHelm
        } else {
            A::ArgocdApplicationController
        };
        let (resource, kind) = if self.rng.chance(1, 2) {
            (&cat::PROMETHEUSRULES, "PrometheusRule")
        } else {
            (&cat::SERVICEMONITORS, "ServiceMonitor")
        };
        let index = self.rng.index(APPS.len());
        let name = APPS[index].name;
        if self.rng.chance(1, 2) {
            self.get_or_missing(buf, actor, resource, "monitoring", name, (1, 2));
        } else {
            let meta = self.meta(name, "monitoring", 0, self.now);
            let rules = self.rng.range(1, 12) as usize;
            let body = Body::CustomResource {
                meta,
                group: "monitoring.coreos.com",
                kind,
                rules,
            };
            self.request(
                buf,
                helm_create(actor, resource, "monitoring").request_body(&body),
            );
        }
    }

    /// The Prometheus operator writing a Prometheus' `/status`.
    pub(super) fn prometheus_status(&mut self, buf: &mut Vec<u8>) {
        let name = if self.rng.chance(2, 3) { "k8s" } else { "main" };
        let (resource, replicas) = if name == "k8s" {
            (&cat::PROMETHEUSES, 2)
        } else {
            (&cat::PROMETHEUSES, 3)
        };
        let created = self.apps[5].created;
        let meta = self.meta(name, "monitoring", uid_of(&["Prometheus", name]), created);
        let body = Body::PrometheusStatus { meta, replicas };
        self.request(
            buf,
            Request::new(A::PrometheusOperator, "update", resource)
                .namespace("monitoring")
                .name(name)
                .subresource("status")
                .request_body(&body),
        );
    }

    /// Gatekeeper's or cert-manager's informer on their custom resources.
    pub(super) fn gatekeeper_list(&mut self, buf: &mut Vec<u8>) {
        let list = self.rng.chance(3, 4);
        let resource = if self.rng.chance(1, 3) {
            &cat::CONSTRAINTTEMPLATES
        } else {
            &cat::CERTIFICATES
        };
        let actor = if resource.plural == "certificates" {
            A::CertManager
        } else {
            A::Gatekeeper
        };
        self.informer(buf, actor, resource, "", list);
    }

    /// A CustomResourceDefinition created by Helm, or its status updated by the API server.
    fn crd_write(&mut self, buf: &mut Vec<u8>, status_update: bool) {
        let (group, kind, plural) = *self.rng.pick(&[
            ("monitoring.coreos.com", "Prometheus", "prometheuses"),
            ("monitoring.coreos.com", "Alertmanager", "alertmanagers"),
            ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
            ("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
            ("cert-manager.io", "Certificate", "certificates"),
            ("cert-manager.io", "Issuer", "issuers"),
            ("argoproj.io", "Application", "applications"),
            ("argoproj.io", "AppProject", "appprojects"),
            (
                "templates.gatekeeper.sh",
                "ConstraintTemplate",
                "constrainttemplates",
            ),
        ]);
        let name = format!("{plural}.{group}");
        // Most CRDs are a few KB to tens of KB; the big operator CRDs reach hundreds of KB.
        let properties = match self.rng.below(100) {
            0..=59 => self.rng.range(8, 60),
            60..=96 => self.rng.range(60, 280),
            _ => self.rng.range(320, 900),
        } as usize;
        let created = self.now - self.rng.range(60, 86_400 * 30) * 1_000_000;
        let meta = self.meta(&name, "", uid_of(&["crd", &name]), created);
        let body = Body::Crd(bodies::CrdBody {
            meta,
            group,
            kind,
            plural,
            properties,
            status_update,
        });
        if status_update {
            self.request(
                buf,
                Request::new(A::ApiServer, "update", &cat::CRDS)
                    .name(&name)
                    .subresource("status")
                    .request_body(&body)
                    .response_body(&body),
            );
        } else {
            let code = self.sometimes((1, 3), 409, 201);
            self.request(
                buf,
                helm_create(A::AdminHelm, &cat::CRDS, "")
                    .code(code)
                    .request_body(&body)
                    .response_body(&body),
            );
        }
    }
}
