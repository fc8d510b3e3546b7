//! Pod specs carried by writes to Pods and workloads: which bodies hold one, where the spec
//! sits in each kind, and the security-relevant fields read from it.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

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
    if let Some(response) = request.response_object.and_then(read_object)
        && response.kind.0.as_deref() == Some(kind)
    {
        return response.pod_spec(kind).into_iter().collect();
    }
    match request.request_object.and_then(read_object) {
        Some(object) => object.pod_spec(kind).into_iter().collect(),
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

/// Reads a body in one typed pass that skips everything but the pod-spec fields. Fields of
/// the wrong JSON type read as absent. JSON the typed pass refuses (duplicate keys, which
/// the API server accepts with the last one winning) is normalised through `Value` first.
fn read_object(raw: &RawValue) -> Option<ObjectWire> {
    let text = raw.get();
    if !text.starts_with('{') {
        return None;
    }
    match serde_json::from_str::<ObjectWire>(text) {
        Ok(object) => Some(object),
        Err(_) => {
            let value: Value = serde_json::from_str(text).ok()?;
            serde_json::from_value(value).ok()
        }
    }
}

impl ObjectWire {
    /// The pod spec inside this object of `kind` (or a patch of one).
    fn pod_spec(self, kind: &str) -> Option<PodSpec> {
        let template_spec = |template: Option<TemplateWire>| template?.spec.0.map(|spec| *spec);
        let spec = match kind {
            "Pod" => self.spec.0,
            "CronJob" => self
                .spec
                .0
                .and_then(|spec| spec.job_template.0)
                .and_then(|job| job.spec.0)
                .and_then(|job_spec| template_spec(job_spec.template.0)),
            "PodTemplate" => template_spec(self.template.0),
            _ => self.spec.0.and_then(|spec| template_spec(spec.template.0)),
        }?;
        let owner_kind = self.kind.0.unwrap_or_else(|| kind.to_owned());
        let security_context = spec.security_context.0.unwrap_or_default();
        let mut containers = Vec::new();
        for (list, container_kind) in [
            (spec.containers, ContainerKind::Container),
            (spec.init_containers, ContainerKind::Init),
            (spec.ephemeral_containers, ContainerKind::Ephemeral),
        ] {
            containers.extend(
                list.0
                    .unwrap_or_default()
                    .into_iter()
                    // Strategic-merge-patch directives such as `{"$patch":"delete","name":"x"}`.
                    .filter(|container| !container.patch_directive)
                    .map(|container| container.into_container(container_kind)),
            );
        }
        let volumes = spec
            .volumes
            .0
            .unwrap_or_default()
            .into_iter()
            .filter(|volume| !volume.patch_directive)
            .map(|volume| Volume {
                name: volume.name.0.unwrap_or_default(),
                host_path: volume.host_path.0.and_then(|host_path| host_path.path.0),
            })
            .collect();
        Some(PodSpec {
            owner_kind,
            host_network: spec.host_network.0.unwrap_or(false),
            host_pid: spec.host_pid.0.unwrap_or(false),
            host_ipc: spec.host_ipc.0.unwrap_or(false),
            service_account: spec.service_account_name.0.or(spec.service_account.0),
            automount_service_account_token: spec.automount_service_account_token.0,
            run_as_user: security_context.run_as_user.0,
            run_as_non_root: security_context.run_as_non_root.0,
            seccomp_profile: security_context
                .seccomp_profile
                .0
                .and_then(|profile| profile.kind.0),
            containers,
            volumes,
        })
    }
}

impl ContainerWire {
    fn into_container(self, kind: ContainerKind) -> Container {
        let context = self.security_context.0.unwrap_or_default();
        let capabilities = context.capabilities.0.unwrap_or_default();
        Container {
            name: self.name.0.unwrap_or_default(),
            kind: Some(kind),
            image: self.image.0.unwrap_or_default(),
            privileged: context.privileged.0,
            allow_privilege_escalation: context.allow_privilege_escalation.0,
            run_as_user: context.run_as_user.0,
            run_as_non_root: context.run_as_non_root.0,
            read_only_root_filesystem: context.read_only_root_filesystem.0,
            capabilities_add: capabilities.add.0.unwrap_or_default(),
            capabilities_drop: capabilities.drop.0.unwrap_or_default(),
            seccomp_profile: context.seccomp_profile.0.and_then(|profile| profile.kind.0),
            host_ports: self
                .ports
                .0
                .unwrap_or_default()
                .into_iter()
                .filter_map(|port| port.host_port.0)
                .filter(|port| *port != 0)
                .collect(),
        }
    }
}

// The wire shapes: only the fields read above; every field is `Lenient`.

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ObjectWire {
    kind: Lenient<String>,
    spec: Lenient<SpecWire>,
    /// `PodTemplate.template`.
    template: Lenient<TemplateWire>,
}

/// A Pod's spec, a workload's spec (with `template`) or a CronJob's (with `jobTemplate`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SpecWire {
    template: Lenient<TemplateWire>,
    job_template: Lenient<Box<JobTemplateWire>>,
    containers: Lenient<Vec<ContainerWire>>,
    init_containers: Lenient<Vec<ContainerWire>>,
    ephemeral_containers: Lenient<Vec<ContainerWire>>,
    volumes: Lenient<Vec<VolumeWire>>,
    host_network: Lenient<bool>,
    #[serde(rename = "hostPID")]
    host_pid: Lenient<bool>,
    #[serde(rename = "hostIPC")]
    host_ipc: Lenient<bool>,
    service_account_name: Lenient<String>,
    service_account: Lenient<String>,
    automount_service_account_token: Lenient<bool>,
    security_context: Lenient<SecurityContextWire>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TemplateWire {
    spec: Lenient<Box<SpecWire>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JobTemplateWire {
    spec: Lenient<SpecWire>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ContainerWire {
    name: Lenient<String>,
    image: Lenient<String>,
    security_context: Lenient<SecurityContextWire>,
    ports: Lenient<Vec<PortWire>>,
    #[serde(rename = "$patch", deserialize_with = "present")]
    patch_directive: bool,
}

/// Pod-level and container-level `securityContext` fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SecurityContextWire {
    privileged: Lenient<bool>,
    allow_privilege_escalation: Lenient<bool>,
    run_as_user: Lenient<i64>,
    run_as_non_root: Lenient<bool>,
    read_only_root_filesystem: Lenient<bool>,
    capabilities: Lenient<CapabilitiesWire>,
    seccomp_profile: Lenient<SeccompProfileWire>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CapabilitiesWire {
    add: Lenient<Vec<String>>,
    drop: Lenient<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SeccompProfileWire {
    #[serde(rename = "type")]
    kind: Lenient<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PortWire {
    host_port: Lenient<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct VolumeWire {
    name: Lenient<String>,
    host_path: Lenient<HostPathWire>,
    #[serde(rename = "$patch", deserialize_with = "present")]
    patch_directive: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HostPathWire {
    path: Lenient<String>,
}

/// A key that is present, whatever its value.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// A value of the expected JSON type, or `None` for any other type (skipped, not an error),
/// the way the API server's own decoding would have refused it rather than this reader.
#[derive(Debug)]
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

/// The JSON types a `Lenient` value accepts; every other type reads as `None`.
trait Shape: Sized {
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_i64(_: i64) -> Option<Self> {
        None
    }
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    fn from_str(_: &str) -> Option<Self> {
        None
    }
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl Shape for bool {
    fn from_bool(value: bool) -> Option<Self> {
        Some(value)
    }
}

impl Shape for i64 {
    fn from_i64(value: i64) -> Option<Self> {
        Some(value)
    }
    fn from_u64(value: u64) -> Option<Self> {
        i64::try_from(value).ok()
    }
}

impl Shape for String {
    fn from_str(value: &str) -> Option<Self> {
        Some(value.to_owned())
    }
}

/// Arrays keep the elements of the expected type and drop the others.
impl<T: Shape + for<'de> Deserialize<'de>> Shape for Vec<T> {
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Lenient<T>>()? {
            items.extend(item.0);
        }
        Ok(Some(items))
    }
}

impl<T: Shape> Shape for Box<T> {
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        Ok(T::from_map(map)?.map(Box::new))
    }
}

/// Objects: read with their derived `Deserialize`.
macro_rules! object_shape {
    ($($wire:ty),* $(,)?) => {$(
        impl Shape for $wire {
            fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
                Self::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
            }
        }
    )*};
}

object_shape!(
    SpecWire,
    TemplateWire,
    JobTemplateWire,
    ContainerWire,
    SecurityContextWire,
    CapabilitiesWire,
    SeccompProfileWire,
    PortWire,
    VolumeWire,
    HostPathWire,
);

impl<'de, T: Shape> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(LenientVisitor(PhantomData))
            .map(Lenient)
    }
}

struct LenientVisitor<T>(PhantomData<T>);

impl<'de, T: Shape> Visitor<'de> for LenientVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(T::from_bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(T::from_i64(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(T::from_u64(value))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(T::from_str(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::from_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::from_seq(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(verb: &str, resource: &str, api_group: Option<&str>, body: &str) -> Vec<PodSpec> {
        let raw = RawValue::from_string(body.to_owned()).expect("valid JSON");
        extract_pod_specs(PodSpecRequest {
            verb: Some(verb),
            resource: Some(resource),
            subresource: None,
            api_group,
            request_object: Some(&raw),
            response_object: None,
        })
    }

    #[test]
    fn fields_of_the_wrong_type_read_as_absent_and_the_rest_is_kept() {
        let body = r#"{"kind":"Pod","spec":{"hostPID":"yes","hostNetwork":true,
            "serviceAccountName":7,"serviceAccount":"legacy",
            "securityContext":{"runAsUser":1.5,"runAsNonRoot":true},
            "containers":["junk",{"name":"a","image":"x","ports":[{"hostPort":"80"},{"hostPort":8080},{"hostPort":0}],
              "securityContext":{"privileged":true,"capabilities":{"add":["SYS_ADMIN",3],"drop":"ALL"}}},
              {"$patch":"delete","name":"b"}],
            "volumes":[{"name":"v","hostPath":{"path":"/etc"}},{"name":"w","hostPath":"nope"}]}}"#;
        let specs = specs("create", "pods", None, body);
        assert_eq!(specs.len(), 1);
        let spec = &specs[0];
        assert!(!spec.host_pid);
        assert!(spec.host_network);
        assert_eq!(spec.service_account.as_deref(), Some("legacy"));
        assert_eq!(spec.run_as_user, None);
        assert_eq!(spec.run_as_non_root, Some(true));
        assert_eq!(spec.containers.len(), 1);
        let container = &spec.containers[0];
        assert_eq!(container.privileged, Some(true));
        assert_eq!(container.capabilities_add, ["SYS_ADMIN"]);
        assert!(container.capabilities_drop.is_empty());
        assert_eq!(container.host_ports, [8080]);
        assert_eq!(spec.volumes.len(), 2);
        assert_eq!(spec.volumes[0].host_path.as_deref(), Some("/etc"));
        assert_eq!(spec.volumes[1].host_path, None);
    }

    #[test]
    fn duplicate_keys_are_read_with_the_last_one_winning() {
        let body = r#"{"kind":"Pod","spec":{"hostPID":false,"hostPID":true,"containers":[]}}"#;
        let specs = specs("create", "pods", None, body);
        assert!(specs[0].host_pid, "a duplicate key must not hide hostPID");
    }

    #[test]
    fn cronjob_and_workload_templates_are_found() {
        let container =
            r#"{"containers":[{"name":"c","image":"i","securityContext":{"privileged":true}}]}"#;
        let cronjob = format!(
            r#"{{"kind":"CronJob","spec":{{"jobTemplate":{{"spec":{{"template":{{"spec":{container}}}}}}}}}}}"#
        );
        let specs = specs("create", "cronjobs", Some("batch"), &cronjob);
        assert_eq!(specs[0].owner_kind, "CronJob");
        assert_eq!(specs[0].containers[0].privileged, Some(true));
        let deployment = format!(r#"{{"spec":{{"template":{{"spec":{container}}}}}}}"#);
        let specs = super::tests::specs("patch", "deployments", Some("apps"), &deployment);
        assert_eq!(specs[0].owner_kind, "Deployment");
        assert_eq!(specs[0].containers[0].name, "c");
    }
}
