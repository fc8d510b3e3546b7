//! CustomResourceDefinitions (with generated schemas) and custom resources.

use crate::json::{Arg, fill, raw};
use crate::rng::Rng;
use crate::templates;

use super::{CrdBody, Form, Meta, metadata_head};

const SCHEMA_WORDS: &[&str] = &[
    "affinity",
    "alerting",
    "annotations",
    "baseImage",
    "configMaps",
    "containers",
    "disableCompaction",
    "enableAdminAPI",
    "evaluationInterval",
    "externalLabels",
    "externalUrl",
    "hostAliases",
    "image",
    "imagePullSecrets",
    "initContainers",
    "listenLocal",
    "logFormat",
    "logLevel",
    "minReadySeconds",
    "nodeSelector",
    "paused",
    "podMetadata",
    "portName",
    "priorityClassName",
    "queryLogFile",
    "remoteRead",
    "remoteWrite",
    "replicaExternalLabelName",
    "resources",
    "retention",
    "retentionSize",
    "routePrefix",
    "ruleNamespaceSelector",
    "ruleSelector",
    "scrapeInterval",
    "scrapeTimeout",
    "secrets",
    "securityContext",
    "serviceAccountName",
    "shards",
    "storage",
    "tolerations",
    "topologySpreadConstraints",
    "tsdb",
    "volumeMounts",
    "volumes",
    "walCompression",
    "web",
];

const SCHEMA_SENTENCES: &[&str] = &[
    "Defines the duration for which the object is retained before it is garbage collected by the operator.",
    "If specified, the pod's scheduling constraints. Only applies when the pods are created by the operator.",
    "List of references to secrets in the same namespace to use for pulling images from registries.",
    "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    "Specification of the desired behavior of the resource. This field is merged with the defaults of the controller.",
    "Name of the port to use for the service; the default is web. Changing this restarts all replicas.",
    "Defines the resource requests and limits of the main container; when not set, the defaults of the namespace LimitRange apply.",
];

/// Writes an object schema with `count` generated properties (nested up to three levels).
fn write_schema_properties(buf: &mut Vec<u8>, rng: &mut Rng, count: usize, depth: usize) {
    raw(buf, r#"{"type":"object","properties":"#);
    write_property_map(buf, rng, count, depth);
    buf.push(b'}');
}

/// Writes `{"<name>":{<schema>},...}` with `count` properties in total, nested ones included.
fn write_property_map(buf: &mut Vec<u8>, rng: &mut Rng, count: usize, depth: usize) {
    buf.push(b'{');
    let mut written = 0;
    let mut index = 0;
    while written < count {
        if index > 0 {
            buf.push(b',');
        }
        let word = SCHEMA_WORDS[rng.index(SCHEMA_WORDS.len())];
        fill(
            buf,
            r#""~~":{"description":"~","#,
            &[
                Arg::Raw(word),
                Arg::Int(index as i64),
                Arg::Raw(SCHEMA_SENTENCES[rng.index(SCHEMA_SENTENCES.len())]),
            ],
        );
        index += 1;
        written += 1;
        let remaining = count - written;
        if depth < 3 && remaining > 8 && rng.chance(1, 4) {
            let child = (remaining / 3).clamp(2, 40);
            raw(buf, r#""type":"object","properties":"#);
            write_property_map(buf, rng, child, depth + 1);
            buf.push(b'}');
            written += child;
        } else {
            match rng.below(4) {
                0 => raw(buf, r#""type":"string"}"#),
                1 => raw(buf, r#""type":"integer","format":"int32","minimum":0}"#),
                2 => raw(buf, r#""type":"boolean"}"#),
                _ => raw(
                    buf,
                    r#""type":"array","items":{"type":"string"},"x-kubernetes-list-type":"atomic"}"#,
                ),
            }
        }
    }
    buf.push(b'}');
}

pub(super) fn write_crd(buf: &mut Vec<u8>, crd: &CrdBody<'_>, form: Form) {
    let meta = &crd.meta;
    let server_side = form == Form::Response || crd.status_update;
    let singular = crd.kind.to_ascii_lowercase();
    let nested = |buf: &mut Vec<u8>, hole| match hole {
        0 => {
            let form = if server_side {
                Form::Response
            } else {
                Form::Request
            };
            metadata_head(buf, meta, false, form);
            raw(
                buf,
                r#","annotations":{"controller-gen.kubebuilder.io/version":"v0.14.0","operator.prometheus.io/version":"0.72.0"}}"#,
            );
        }
        1 => {
            let mut rng = Rng::new(meta.uid as u64 ^ crd.properties as u64);
            write_schema_properties(buf, &mut rng, crd.properties, 0);
        }
        _ if server_side => templates::CRD_STATUS.fill(
            buf,
            &[
                Arg::Secs(meta.created),
                Arg::Secs(meta.created),
                Arg::Raw(crd.plural),
                Arg::Raw(&singular),
                Arg::Raw(crd.kind),
                Arg::Raw(crd.kind),
            ],
        ),
        _ => raw(
            buf,
            r#"{"acceptedNames":{"plural":"","kind":""},"storedVersions":null}"#,
        ),
    };
    templates::CRD.fill_with(
        buf,
        &[
            Arg::Nested,
            Arg::Raw(crd.group),
            Arg::Raw(crd.plural),
            Arg::Raw(&singular),
            Arg::Raw(crd.kind),
            Arg::Raw(crd.kind),
            Arg::Raw(crd.kind),
            Arg::Nested,
            Arg::Nested,
        ],
        nested,
    );
}

/// A PromQL expression; it holds `=~`, so it cannot sit inside a `~` template.
pub(super) const CRASHLOOP_EXPR: &str = r#"max_over_time(kube_pod_container_status_waiting_reason{reason=\"CrashLoopBackOff\", job=\"kube-state-metrics\", namespace=~\".*\"}[5m]) >= 1"#;

pub(super) fn write_custom_resource(
    buf: &mut Vec<u8>,
    meta: &Meta<'_>,
    group: &str,
    kind: &str,
    rules: usize,
) {
    let spec = |buf: &mut Vec<u8>, _| {
        if kind == "ServiceMonitor" {
            templates::SERVICE_MONITOR_SPEC
                .fill(buf, &[Arg::Raw(meta.namespace), Arg::Raw(meta.name)]);
            return;
        }
        raw(buf, r#"{"groups":[{"name":"kubernetes-apps","rules":["#);
        for index in 0..rules {
            if index > 0 {
                buf.push(b',');
            }
            templates::CRASHLOOP_ALERT
                .fill(buf, &[Arg::Int(index as i64), Arg::Raw(CRASHLOOP_EXPR)]);
        }
        raw(buf, "]}]}");
    };
    templates::CUSTOM_RESOURCE.fill_with(
        buf,
        &[
            Arg::Raw(group),
            Arg::Raw(kind),
            Arg::Raw(meta.name),
            Arg::Raw(meta.namespace),
            Arg::Raw(meta.namespace),
            Arg::Nested,
        ],
        spec,
    );
}
