//! Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs: controllers writing
//! status, humans and Argo CD changing them.

use crate::bodies::{Body, WorkloadBody, WorkloadChange};
use crate::catalog::{self as cat, A, APPS, Resource};
use crate::generator::{Generator, Request};

/// How a workload or ReplicaSet is written: the verb, the subresource and what the body shows.
#[derive(Debug, Clone, Copy)]
struct Write {
    verb: &'static str,
    subresource: &'static str,
    change: WorkloadChange,
}

impl Write {
    const CREATE: Write = Write::new("create", "", WorkloadChange::Create);
    const PATCH: Write = Write::new("patch", "", WorkloadChange::Patch);
    const DELETE: Write = Write::new("delete", "", WorkloadChange::Delete);
    /// A controller's `update` of `/status`.
    const STATUS: Write = Write::new("update", "status", WorkloadChange::Status);
    /// A controller's `update` of the whole object.
    const UPDATE: Write = Write::new("update", "", WorkloadChange::Status);

    const fn new(verb: &'static str, subresource: &'static str, change: WorkloadChange) -> Write {
        Write {
            verb,
            subresource,
            change,
        }
    }
}

impl Generator {
    /// The Deployment controller writing `/status`, now and then in a conflict.
    pub(super) fn deployment_status(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment"]);
        let code = self.sometimes((1, 30), 409, 200);
        self.workload_write(buf, index, A::DeploymentController, Write::STATUS, code);
    }

    /// A human reading, creating, restarting or deleting a workload.
    pub(super) fn human_deployment(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment", "StatefulSet", "DaemonSet"]);
        let actor = *self.rng.weighted(&[
            (A::AdminHelm, 60u32),
            (A::AdminKubectl, 15),
            (A::Alice, 15),
            (A::Bob, 10),
        ]);
        match self.rng.below(10) {
            0..=3 => {
                let resource = resource_of(APPS[index].kind);
                self.get_or_missing(
                    buf,
                    actor,
                    resource,
                    APPS[index].namespace,
                    APPS[index].name,
                    (1, 3),
                );
            }
            4..=6 => self.workload_write(buf, index, actor, Write::CREATE, 201),
            7 | 8 => self.workload_write(buf, index, actor, Write::PATCH, 200),
            _ => self.workload_write(buf, index, actor, Write::DELETE, 200),
        }
    }

    /// Argo CD patching a workload.
    pub(super) fn gitops_patch(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment", "StatefulSet"]);
        self.workload_write(
            buf,
            index,
            A::ArgocdApplicationController,
            Write::PATCH,
            200,
        );
    }

    /// The ReplicaSet or Deployment controller writing a ReplicaSet.
    pub(super) fn replicaset_sync(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["Deployment"]);
        match self.rng.below(10) {
            0..=6 => {
                let code = self.sometimes((1, 25), 409, 200);
                self.replicaset_write(buf, index, A::ReplicasetController, Write::STATUS, code)
            }
            7 | 8 => self.replicaset_write(buf, index, A::DeploymentController, Write::CREATE, 201),
            _ => self.replicaset_write(buf, index, A::DeploymentController, Write::UPDATE, 200),
        }
    }

    /// The StatefulSet, DaemonSet or Job controller writing `/status`.
    pub(super) fn other_workload_status(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["StatefulSet", "DaemonSet", "Job"]);
        let actor = match APPS[index].kind {
            "StatefulSet" => A::StatefulsetController,
            "DaemonSet" => A::DaemonSetController,
            _ => A::JobController,
        };
        self.workload_write(buf, index, actor, Write::STATUS, 200);
    }

    /// The CronJob controller writing a CronJob's status or creating its Job.
    pub(super) fn job_create(&mut self, buf: &mut Vec<u8>) {
        let index = self.pick_app(&["CronJob", "Job"]);
        if APPS[index].kind == "CronJob" && self.rng.chance(1, 2) {
            self.workload_write(buf, index, A::CronjobController, Write::STATUS, 200);
        } else {
            let job = self.pick_app(&["Job"]);
            self.workload_write(buf, job, A::CronjobController, Write::CREATE, 201);
        }
    }

    /// A `write` of app `index`'s workload by `actor`, answered `code`.
    fn workload_write(
        &mut self,
        buf: &mut Vec<u8>,
        index: usize,
        actor: A,
        write: Write,
        code: i64,
    ) {
        let change = write.change;
        let app = &APPS[index];
        let resource = resource_of(app.kind);
        let (uid, created) = (self.apps[index].uid, self.apps[index].created);
        let meta = self.meta(app.name, app.namespace, uid, created);
        let spec = self.spec_of(app, change == WorkloadChange::Status);
        let generation = self.rng.range(1, 40);
        let manager = match actor {
            A::AdminHelm => "helm",
            A::ArgocdApplicationController => "argocd-controller",
            A::CronjobController
            | A::JobController
            | A::DeploymentController
            | A::StatefulsetController
            | A::DaemonSetController => "kube-controller-manager",
            _ => "kubectl-client-side-apply",
        };
        let template_hash = self.apps[index].template_hash.clone();
        let template_hash = template_hash.as_str();
        let body = Body::Workload(WorkloadBody {
            kind: app.kind,
            meta,
            spec,
            replicas: app.replicas,
            generation,
            change,
            template_hash,
            manager,
        });
        let (name, query) = match change {
            WorkloadChange::Create => (
                "",
                if actor == A::AdminHelm {
                    "fieldManager=helm"
                } else {
                    "fieldManager=kubectl-client-side-apply&fieldValidation=Strict"
                },
            ),
            WorkloadChange::Patch => (app.name, "fieldManager=kubectl-rollout"),
            _ => (app.name, ""),
        };
        let request = if change == WorkloadChange::Delete {
            Body::DeleteOptions
        } else {
            body
        };
        self.request(
            buf,
            Request::new(actor, write.verb, resource)
                .namespace(app.namespace)
                .name(name)
                .subresource(write.subresource)
                .query(query)
                .code(code)
                .request_body(&request)
                .response_body(&body),
        );
    }

    /// A `write` of the current ReplicaSet of Deployment app `index` by `actor`, answered `code`.
    fn replicaset_write(
        &mut self,
        buf: &mut Vec<u8>,
        index: usize,
        actor: A,
        write: Write,
        code: i64,
    ) {
        let app = &APPS[index];
        let name = format!("{}-{}", app.name, self.apps[index].template_hash);
        let (uid, created) = (self.apps[index].replicaset_uid, self.apps[index].created);
        let meta = self.meta(&name, app.namespace, uid, created);
        let spec = self.spec_of(app, true);
        let generation = self.rng.range(1, 6);
        let template_hash = self.apps[index].template_hash.clone();
        let template_hash = template_hash.as_str();
        let body = Body::Workload(WorkloadBody {
            kind: "ReplicaSet",
            meta,
            spec,
            replicas: app.replicas,
            generation,
            change: write.change,
            template_hash,
            manager: "kube-controller-manager",
        });
        let path_name = if write.verb == "create" {
            ""
        } else {
            name.as_str()
        };
        self.request(
            buf,
            Request::new(actor, write.verb, &cat::REPLICASETS)
                .namespace(app.namespace)
                .name(path_name)
                .subresource(write.subresource)
                .code(code)
                .request_body(&body)
                .response_body(&body),
        );
    }
}

fn resource_of(kind: &str) -> &'static Resource {
    match kind {
        "StatefulSet" => &cat::STATEFULSETS,
        "DaemonSet" => &cat::DAEMONSETS,
        "Job" => &cat::JOBS,
        "CronJob" => &cat::CRONJOBS,
        "ReplicaSet" => &cat::REPLICASETS,
        "Pod" => &cat::PODS,
        _ => &cat::DEPLOYMENTS,
    }
}
