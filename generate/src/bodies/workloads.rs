//! Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs.

use crate::json::{Arg, fill, raw};
use crate::templates;

use super::pods::write_spec;
use super::{Form, Spec, WorkloadBody, WorkloadChange};

pub(super) fn write_workload(buf: &mut Vec<u8>, workload: &WorkloadBody<'_>, form: Form) {
    let meta = &workload.meta;
    match (workload.change, form) {
        (WorkloadChange::Delete, Form::Request) => {
            templates::DELETE_OPTIONS.fill(buf, &[]);
            return;
        }
        (WorkloadChange::Delete, Form::Response) => {
            let plural = plural_of(workload.kind);
            fill(
                buf,
                r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"~","group":"~","kind":"~","uid":"~"}}"#,
                &[
                    Arg::Raw(meta.name),
                    Arg::Raw(group_of(workload.kind)),
                    Arg::Raw(plural),
                    Arg::Uuid(meta.uid),
                ],
            );
            return;
        }
        (WorkloadChange::Patch, Form::Request) => {
            fill(
                buf,
                r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"~"}}}}}"#,
                &[Arg::Secs(meta.now)],
            );
            return;
        }
        _ => {}
    }
    let api_version = if group_of(workload.kind) == "batch" {
        "batch/v1"
    } else {
        "apps/v1"
    };
    let server_side = form == Form::Response || workload.change == WorkloadChange::Status;
    write_workload_metadata(buf, workload, api_version, server_side);
    raw(buf, r#"},"spec":{"#);
    let spec = Spec {
        defaulted: workload.spec.defaulted || server_side,
        ..workload.spec
    };
    write_workload_spec(buf, workload, &spec);
    buf.push(b'}');
    if server_side {
        write_workload_status(buf, workload);
    }
    buf.push(b'}');
}

/// `metadata` of a workload: in a response or a status write with the server's fields and
/// `managedFields`, always with Helm's labels and annotations.
fn write_workload_metadata(
    buf: &mut Vec<u8>,
    workload: &WorkloadBody<'_>,
    api_version: &str,
    server_side: bool,
) {
    let meta = &workload.meta;
    fill(
        buf,
        r#"{"kind":"~","apiVersion":"~","metadata":{"name":"~","namespace":"~","#,
        &[
            Arg::Raw(workload.kind),
            Arg::Raw(api_version),
            Arg::Raw(meta.name),
            Arg::Raw(meta.namespace),
        ],
    );
    if server_side {
        fill(
            buf,
            r#""uid":"~","resourceVersion":"~","generation":~,"creationTimestamp":"~","#,
            &[
                Arg::Uuid(meta.uid),
                Arg::Int(meta.resource_version),
                Arg::Int(workload.generation),
                Arg::Secs(meta.created),
            ],
        );
    } else {
        raw(buf, r#""creationTimestamp":null,"#);
    }
    fill(
        buf,
        r#""labels":{"app.kubernetes.io/name":"~","app.kubernetes.io/instance":"~","app.kubernetes.io/version":"~","app.kubernetes.io/managed-by":"Helm"},"annotations":{"meta.helm.sh/release-name":"~","meta.helm.sh/release-namespace":"~""#,
        &[
            Arg::Raw(workload.spec.app),
            Arg::Raw(workload.spec.app),
            Arg::Raw(image_tag(workload.spec.image)),
            Arg::Raw(workload.spec.app),
            Arg::Raw(meta.namespace),
        ],
    );
    if workload.kind == "Deployment" && server_side {
        fill(
            buf,
            r#","deployment.kubernetes.io/revision":"~""#,
            &[Arg::Int(workload.generation)],
        );
    }
    buf.push(b'}');
    if server_side {
        raw(buf, r#","managedFields":"#);
        templates::WORKLOAD_MANAGED_FIELDS.fill(
            buf,
            &[
                Arg::Raw(workload.manager),
                Arg::Raw(api_version),
                Arg::Secs(meta.created),
                Arg::Raw(workload.spec.container),
                Arg::Raw(api_version),
                Arg::Secs(meta.now),
            ],
        );
    }
}

/// The inside of a workload's `spec`: replicas, selector and pod template, or a Job's template.
fn write_workload_spec(buf: &mut Vec<u8>, workload: &WorkloadBody<'_>, spec: &Spec<'_>) {
    match workload.kind {
        "CronJob" => {
            write_job_spec(
                buf,
                r#""schedule":"30 2 * * *","concurrencyPolicy":"Forbid","jobTemplate":{"spec":{"backoffLimit":2,"#,
                spec,
            );
            raw(buf, "}}");
        }
        "Job" => write_job_spec(
            buf,
            r#""backoffLimit":4,"completions":1,"parallelism":1,"#,
            spec,
        ),
        _ => {
            if workload.kind != "DaemonSet" {
                fill(buf, r#""replicas":~,"#, &[Arg::Int(workload.replicas)]);
            }
            if workload.kind == "StatefulSet" {
                fill(
                    buf,
                    r#""serviceName":"~","podManagementPolicy":"OrderedReady","#,
                    &[Arg::Raw(spec.app)],
                );
            }
            let hash_label = |buf: &mut Vec<u8>| {
                if workload.kind == "ReplicaSet" {
                    fill(
                        buf,
                        r#","pod-template-hash":"~""#,
                        &[Arg::Raw(workload.template_hash)],
                    );
                }
            };
            fill(
                buf,
                r#""selector":{"matchLabels":{"app.kubernetes.io/instance":"~","app.kubernetes.io/name":"~""#,
                &[Arg::Raw(spec.app), Arg::Raw(spec.app)],
            );
            hash_label(buf);
            fill(
                buf,
                r#"}},"template":{"metadata":{"creationTimestamp":null,"labels":{"app.kubernetes.io/instance":"~","app.kubernetes.io/name":"~""#,
                &[Arg::Raw(spec.app), Arg::Raw(spec.app)],
            );
            hash_label(buf);
            raw(buf, r#"}},"spec":"#);
            write_spec(buf, spec, None);
            buf.push(b'}');
            if spec.defaulted {
                match workload.kind {
                    "Deployment" => raw(
                        buf,
                        r#","strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}},"revisionHistoryLimit":10,"progressDeadlineSeconds":600"#,
                    ),
                    "StatefulSet" | "DaemonSet" => raw(
                        buf,
                        r#","updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":0}},"revisionHistoryLimit":10"#,
                    ),
                    _ => {}
                }
            }
        }
    }
}

/// `head`, then a Job's `"template"` with a pod spec that never restarts, up to its closing brace.
fn write_job_spec(buf: &mut Vec<u8>, head: &str, spec: &Spec<'_>) {
    raw(buf, head);
    raw(
        buf,
        r#""template":{"metadata":{"creationTimestamp":null,"labels":{"app.kubernetes.io/name":""#,
    );
    raw(buf, spec.app);
    raw(buf, r#""}},"spec":"#);
    write_spec(
        buf,
        &Spec {
            restart_never: true,
            ..*spec
        },
        None,
    );
    buf.push(b'}');
}

fn write_workload_status(buf: &mut Vec<u8>, workload: &WorkloadBody<'_>) {
    let meta = &workload.meta;
    match workload.kind {
        "CronJob" => fill(
            buf,
            r#","status":{"lastScheduleTime":"~","lastSuccessfulTime":"~"}"#,
            &[
                Arg::Secs(meta.now - 3_600_000_000),
                Arg::Secs(meta.now - 3_590_000_000),
            ],
        ),
        "Job" => fill(
            buf,
            r#","status":{"startTime":"~","active":1,"ready":0,"uncountedTerminatedPods":{}}"#,
            &[Arg::Secs(meta.now)],
        ),
        "DaemonSet" => fill(
            buf,
            r#","status":{"currentNumberScheduled":3,"numberMisscheduled":0,"desiredNumberScheduled":3,"numberReady":3,"observedGeneration":~,"updatedNumberScheduled":3,"numberAvailable":3}"#,
            &[Arg::Int(workload.generation)],
        ),
        _ => {
            fill(
                buf,
                r#","status":{"observedGeneration":~,"replicas":~,"updatedReplicas":~,"readyReplicas":~,"availableReplicas":~"#,
                &[
                    Arg::Int(workload.generation),
                    Arg::Int(workload.replicas),
                    Arg::Int(workload.replicas),
                    Arg::Int(workload.replicas),
                    Arg::Int(workload.replicas),
                ],
            );
            if workload.kind == "Deployment" {
                raw(buf, r#","conditions":"#);
                templates::DEPLOYMENT_CONDITIONS.fill(
                    buf,
                    &[
                        Arg::Secs(meta.now),
                        Arg::Secs(meta.now),
                        Arg::Secs(meta.now),
                        Arg::Secs(meta.created),
                        Arg::Raw(meta.name),
                        Arg::Raw(workload.template_hash),
                    ],
                );
            }
            buf.push(b'}');
        }
    }
}

fn image_tag(image: &str) -> &str {
    match image.rfind(':') {
        Some(colon) if !image[colon..].contains('/') => &image[colon + 1..],
        _ => "latest",
    }
}

fn plural_of(kind: &str) -> &'static str {
    match kind {
        "Deployment" => "deployments",
        "ReplicaSet" => "replicasets",
        "StatefulSet" => "statefulsets",
        "DaemonSet" => "daemonsets",
        "Job" => "jobs",
        "CronJob" => "cronjobs",
        _ => "pods",
    }
}

fn group_of(kind: &str) -> &'static str {
    match kind {
        "Job" | "CronJob" => "batch",
        "Pod" => "",
        _ => "apps",
    }
}
