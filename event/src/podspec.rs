//! Pod specs carried by writes to Pods and workloads: which bodies hold one, where the spec
//! sits in each kind, and the security-relevant fields read from it.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::model::{Container, ContainerKind, PodSpec, Volume};

/// Kinds whose writes carry a pod spec, keyed by resource: (resource, API groups, kind).
const POD_SPEC_RESOURCES: &[(&str, &[&str], &str)] = &[
    ("pods", &[""], "Pod"),
    ("deployments", &["apps", "extensions"], "Deployment"),
    ("replicasets", &["apps", "extensions"], "ReplicaSet"),
    ("statefulsets", &["apps"], "StatefulSet"),
    ("daemonsets", &["apps", "extensions"], "DaemonSet"),
    ("jobs", &["batch"], "Job"),
    ("cronjobs", &["batch"], "CronJob"),
    ("replicationcontrollers", &[""], "ReplicationController"),
    ("podtemplates", &[""], "PodTemplate"),
];

/// What the normaliser knows about the request when it looks for pod specs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PodSpecRequest<'a> {
    pub verb: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub subresource: Option<&'a str>,
    /// `None` for the core group.
    pub api_group: Option<&'a str>,
    pub request_object: Option<&'a RawValue>,
    pub response_object: Option<&'a RawValue>,
}

/// The pod specs of a create, update or patch of a Pod (or its `ephemeralcontainers`) or a
/// workload. The spec comes from the response when it is an object of the expected kind,
/// else from the request when that is an object (a merge patch gives a partial spec; a
/// JSON-patch array gives none).
pub(crate) fn extract_pod_specs(request: PodSpecRequest<'_>) -> Vec<PodSpec> {
    if !matches!(request.verb, Some("create" | "update" | "patch")) {
        return Vec::new();
    }
    let Some(kind) = expected_kind(request.resource, request.subresource, request.api_group) else {
        return Vec::new();
    };
    if let Some(response) = request.response_object.and_then(parse_object)
        && response.get("kind").and_then(Value::as_str) == Some(kind)
    {
        return pod_spec_of(&response, kind).into_iter().collect();
    }
    match request.request_object.and_then(parse_object) {
        Some(object) => pod_spec_of(&object, kind).into_iter().collect(),
        None => Vec::new(),
    }
}

fn expected_kind(
    resource: Option<&str>,
    subresource: Option<&str>,
    api_group: Option<&str>,
) -> Option<&'static str> {
    let resource = resource?;
    let (_, groups, kind) = POD_SPEC_RESOURCES
        .iter()
        .find(|(candidate, _, _)| *candidate == resource)?;
    if !groups.contains(&api_group.unwrap_or("")) {
        return None;
    }
    match subresource {
        None => Some(kind),
        Some("ephemeralcontainers") if *kind == "Pod" => Some(kind),
        Some(_) => None,
    }
}

fn parse_object(raw: &RawValue) -> Option<Value> {
    if !raw.get().starts_with('{') {
        return None;
    }
    serde_json::from_str::<Value>(raw.get())
        .ok()
        .filter(Value::is_object)
}

/// The pod spec inside `object`, an object of `kind` (or a patch of one).
fn pod_spec_of(object: &Value, kind: &str) -> Option<PodSpec> {
    let path: &[&str] = match kind {
        "Pod" => &["spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        "PodTemplate" => &["template", "spec"],
        _ => &["spec", "template", "spec"],
    };
    let spec = path
        .iter()
        .try_fold(object, |value, key| value.get(key))?
        .as_object()?;
    let owner_kind = object.get("kind").and_then(Value::as_str).unwrap_or(kind);
    let security_context = spec.get("securityContext");
    let mut containers = Vec::new();
    for (key, container_kind) in [
        ("containers", ContainerKind::Container),
        ("initContainers", ContainerKind::Init),
        ("ephemeralContainers", ContainerKind::Ephemeral),
    ] {
        let Some(list) = spec.get(key).and_then(Value::as_array) else {
            continue;
        };
        containers.extend(
            list.iter()
                .filter_map(Value::as_object)
                // Strategic-merge-patch directives such as `{"$patch":"delete","name":"x"}`.
                .filter(|container| !container.contains_key("$patch"))
                .map(|container| read_container(container, container_kind)),
        );
    }
    let volumes = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(|volumes| {
            volumes
                .iter()
                .filter_map(Value::as_object)
                .filter(|volume| !volume.contains_key("$patch"))
                .map(|volume| Volume {
                    name: string(volume.get("name")).unwrap_or_default(),
                    host_path: string(
                        volume
                            .get("hostPath")
                            .and_then(|host_path| host_path.get("path")),
                    ),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(PodSpec {
        owner_kind: owner_kind.to_owned(),
        host_network: boolean(spec.get("hostNetwork")).unwrap_or(false),
        host_pid: boolean(spec.get("hostPID")).unwrap_or(false),
        host_ipc: boolean(spec.get("hostIPC")).unwrap_or(false),
        service_account: string(spec.get("serviceAccountName"))
            .or_else(|| string(spec.get("serviceAccount"))),
        automount_service_account_token: boolean(spec.get("automountServiceAccountToken")),
        run_as_user: integer(security_context.and_then(|context| context.get("runAsUser"))),
        run_as_non_root: boolean(security_context.and_then(|context| context.get("runAsNonRoot"))),
        seccomp_profile: seccomp_type(security_context),
        containers,
        volumes,
    })
}

fn read_container(container: &Map<String, Value>, kind: ContainerKind) -> Container {
    let security_context = container.get("securityContext");
    let field = |key: &str| security_context.and_then(|context| context.get(key));
    let capabilities = field("capabilities");
    let capability_list =
        |key: &str| strings(capabilities.and_then(|capabilities| capabilities.get(key)));
    let host_ports = container
        .get("ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|port| integer(port.get("hostPort")))
                .filter(|port| *port != 0)
                .collect()
        })
        .unwrap_or_default();
    Container {
        name: string(container.get("name")).unwrap_or_default(),
        kind: Some(kind),
        image: string(container.get("image")).unwrap_or_default(),
        privileged: boolean(field("privileged")),
        allow_privilege_escalation: boolean(field("allowPrivilegeEscalation")),
        run_as_user: integer(field("runAsUser")),
        run_as_non_root: boolean(field("runAsNonRoot")),
        read_only_root_filesystem: boolean(field("readOnlyRootFilesystem")),
        capabilities_add: capability_list("add"),
        capabilities_drop: capability_list("drop"),
        seccomp_profile: seccomp_type(security_context),
        host_ports,
    }
}

fn seccomp_type(security_context: Option<&Value>) -> Option<String> {
    string(security_context?.get("seccompProfile")?.get("type"))
}

fn string(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

fn boolean(value: Option<&Value>) -> Option<bool> {
    value.and_then(Value::as_bool)
}

fn integer(value: Option<&Value>) -> Option<i64> {
    value.and_then(Value::as_i64)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
