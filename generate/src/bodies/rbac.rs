//! Roles, ClusterRoles, their bindings and the ClusterRole list.

use crate::json::{Arg, fill, raw, string};
use crate::rng::Rng;
use crate::templates::{self, Template};

use super::{BindingBody, Form, Meta, RoleBody, RoleRules, helm_metadata, object_head};

/// Benign rule sets: `(apiGroups, resources, verbs)` per rule, all specific.
const RULE_SETS: &[&[(&str, &str, &str)]] = &[
    &[
        (
            r#""""#,
            r#""pods","services","endpoints""#,
            r#""get","list","watch""#,
        ),
        (
            r#""apps""#,
            r#""deployments","replicasets""#,
            r#""get","list","watch""#,
        ),
    ],
    &[
        (
            r#""monitoring.coreos.com""#,
            r#""alertmanagers","prometheuses","prometheusrules","servicemonitors","podmonitors""#,
            r#""get","list","watch","create","update","patch","delete""#,
        ),
        (
            r#""apps""#,
            r#""statefulsets""#,
            r#""get","list","watch","create","update","delete""#,
        ),
        (
            r#""""#,
            r#""configmaps""#,
            r#""get","list","watch","create","update","delete""#,
        ),
        (
            r#""""#,
            r#""services","services/finalizers","endpoints""#,
            r#""get","create","update","delete""#,
        ),
        (r#""""#, r#""nodes""#, r#""list","watch""#),
        (r#""""#, r#""namespaces""#, r#""get","list","watch""#),
    ],
    &[
        (
            r#""cert-manager.io""#,
            r#""certificates","certificaterequests","issuers","clusterissuers""#,
            r#""get","list","watch","update""#,
        ),
        (r#""""#, r#""events""#, r#""create","patch""#),
    ],
    &[
        (r#""""#, r#""configmaps""#, r#""get","list","watch""#),
        (
            r#""coordination.k8s.io""#,
            r#""leases""#,
            r#""get","create","update""#,
        ),
        (r#""""#, r#""events""#, r#""create","patch""#),
    ],
    &[
        (
            r#""networking.k8s.io""#,
            r#""ingresses","ingressclasses""#,
            r#""get","list","watch""#,
        ),
        (
            r#""networking.k8s.io""#,
            r#""ingresses/status""#,
            r#""update""#,
        ),
        (
            r#""discovery.k8s.io""#,
            r#""endpointslices""#,
            r#""list","watch","get""#,
        ),
    ],
];

fn write_rules(buf: &mut Vec<u8>, rules: RoleRules) {
    raw(buf, r#","rules":["#);
    match rules {
        RoleRules::Wildcard => raw(
            buf,
            r#"{"verbs":["*"],"apiGroups":["*"],"resources":["*"]}"#,
        ),
        RoleRules::Benign(index) => {
            for (position, (groups, resources, verbs)) in
                RULE_SETS[index % RULE_SETS.len()].iter().enumerate()
            {
                if position > 0 {
                    buf.push(b',');
                }
                fill(
                    buf,
                    r#"{"verbs":[~],"apiGroups":[~],"resources":[~]}"#,
                    &[Arg::Raw(verbs), Arg::Raw(groups), Arg::Raw(resources)],
                );
            }
        }
    }
    buf.push(b']');
}

/// The head of an RBAC object up to its open `metadata`: Helm's labels when Helm made it, and in a
/// response its `managedFields` from `managed_fields` (filled with the manager and the creation time).
fn rbac_metadata(
    buf: &mut Vec<u8>,
    kind: &str,
    meta: &Meta<'_>,
    namespaced: bool,
    helm_release: Option<&str>,
    form: Form,
    managed_fields: Template,
) {
    object_head(
        buf,
        kind,
        "rbac.authorization.k8s.io/v1",
        meta,
        namespaced,
        form,
    );
    helm_metadata(buf, helm_release, meta.namespace);
    if form == Form::Response {
        let manager = if helm_release.is_some() {
            "helm"
        } else {
            "kubectl-create"
        };
        raw(buf, r#","managedFields":"#);
        managed_fields.fill(buf, &[Arg::Raw(manager), Arg::Secs(meta.created)]);
    }
}

pub(super) fn write_role(buf: &mut Vec<u8>, role: &RoleBody<'_>, form: Form) {
    let kind = if role.cluster { "ClusterRole" } else { "Role" };
    rbac_metadata(
        buf,
        kind,
        &role.meta,
        !role.cluster,
        role.helm_release,
        form,
        templates::ROLE_MANAGED_FIELDS,
    );
    buf.push(b'}');
    write_rules(buf, role.rules);
    buf.push(b'}');
}

pub(super) fn write_role_list(
    buf: &mut Vec<u8>,
    count: usize,
    resource_version: i64,
    seed: u64,
    now: i64,
) {
    fill(
        buf,
        r#"{"kind":"ClusterRoleList","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"resourceVersion":"~"},"items":["#,
        &[Arg::Int(resource_version)],
    );
    let mut rng = Rng::new(seed);
    for index in 0..count {
        if index > 0 {
            buf.push(b',');
        }
        let base = crate::catalog::ROLE_NAMES[index % crate::catalog::ROLE_NAMES.len()];
        let name = if index < crate::catalog::ROLE_NAMES.len() {
            base.to_owned()
        } else {
            format!("system:controller:{base}-{index}")
        };
        let meta = Meta {
            name: &name,
            namespace: "",
            uid: rng.next_u128(),
            resource_version: resource_version - rng.range(1000, 900_000),
            created: now - rng.range(86_400, 86_400 * 90) * 1_000_000,
            now,
        };
        write_role(
            buf,
            &RoleBody {
                cluster: true,
                meta,
                rules: RoleRules::Benign(index),
                helm_release: Some(base),
            },
            Form::Response,
        );
    }
    raw(buf, "]}");
}

pub(super) fn write_binding(buf: &mut Vec<u8>, binding: &BindingBody<'_>, form: Form) {
    let kind = if binding.cluster {
        "ClusterRoleBinding"
    } else {
        "RoleBinding"
    };
    rbac_metadata(
        buf,
        kind,
        &binding.meta,
        !binding.cluster,
        binding.helm_release,
        form,
        templates::BINDING_MANAGED_FIELDS,
    );
    raw(buf, r#"},"subjects":[{"kind":"#);
    string(buf, binding.subject_kind);
    if binding.subject_kind != "ServiceAccount" {
        raw(buf, r#","apiGroup":"rbac.authorization.k8s.io""#);
    }
    raw(buf, r#","name":"#);
    string(buf, binding.subject_name);
    if binding.subject_kind == "ServiceAccount" {
        raw(buf, r#","namespace":"#);
        string(buf, binding.subject_namespace);
    }
    fill(
        buf,
        r#"}],"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"~","name":"~"}}"#,
        &[Arg::Raw(binding.role_kind), Arg::Raw(binding.role_name)],
    );
}
