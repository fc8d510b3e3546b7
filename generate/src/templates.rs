//! The body templates in `generate/bodies/`: JSON with `~` holes, compiled in with `include_str!`.
//!
//! Each file is one JSON value (a whole body or an object or list inside one) with every hole
//! where a value stands, so a file with its holes replaced by `0` is valid JSON (a test checks
//! this). The `bodies` module fills them; the parts built by code (lists, optional fields) go in
//! [`Arg::Nested`](crate::json::Arg::Nested) holes.

use crate::json::{self, Arg};

/// One template file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Template {
    /// The file name in `generate/bodies/`.
    pub name: &'static str,
    /// The file's text without its final newline.
    pub text: &'static str,
}

impl Template {
    /// Appends the template with every hole filled from `args` (see [`json::fill`]).
    pub(crate) fn fill(self, buf: &mut Vec<u8>, args: &[Arg<'_>]) {
        self.fill_with(buf, args, |_, nested| {
            unreachable!("nested hole {nested} of {} without a writer", self.name)
        });
    }

    /// Appends the template, `nested` writing its [`Arg::Nested`] holes (see [`json::fill_with`]).
    pub(crate) fn fill_with(
        self,
        buf: &mut Vec<u8>,
        args: &[Arg<'_>],
        nested: impl FnMut(&mut Vec<u8>, usize),
    ) {
        #[cfg(test)]
        tests::record(self, args.len());
        json::fill_with(buf, self.text, args, nested);
    }
}

const fn without_final_newline(text: &'static str) -> &'static str {
    match text.as_bytes() {
        [rest @ .., b'\n'] => match std::str::from_utf8(rest) {
            Ok(text) => text,
            Err(_) => panic!("a template is not UTF-8"),
        },
        _ => text,
    }
}

macro_rules! templates {
    ($all:ident: $($constant:ident = $file:literal, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            pub(crate) const $constant: Template = Template {
                name: $file,
                text: without_final_newline(include_str!(concat!("../bodies/", $file))),
            };
        )*
        /// Every template of this list, for the tests.
        #[cfg(test)]
        pub(crate) const $all: &[Template] = &[$($constant),*];
    };
}

templates! {
    ALL:
    BINDING_MANAGED_FIELDS = "binding-managed-fields.json", "`managedFields` of a (Cluster)RoleBinding: manager, time.";
    CORE_EVENT = "core-event.json", "A core/v1 `Event`; `source` is nested.";
    CRASHLOOP_ALERT = "crashloop-alert.json", "One alerting rule of a PrometheusRule: index, expression.";
    CRD = "crd.json", "A CustomResourceDefinition; `metadata`, the spec schema and `status` are nested.";
    CRD_STATUS = "crd-status.json", "The `status` of an established CustomResourceDefinition.";
    CUSTOM_RESOURCE = "custom-resource.json", "A Helm-managed custom resource; its `spec` is nested.";
    DELETE_OPTIONS = "delete-options.json", "`DeleteOptions` with background propagation.";
    DEPLOYMENT_CONDITIONS = "deployment-conditions.json", "The `status.conditions` of an available Deployment.";
    ENDPOINT_SLICE = "endpoint-slice.json", "An EndpointSlice; its endpoints are nested.";
    ENDPOINT_SLICE_ENDPOINT = "endpoint-slice-endpoint.json", "One endpoint of an EndpointSlice.";
    ENDPOINTS = "endpoints.json", "An Endpoints object; its addresses are nested.";
    ENDPOINTS_ADDRESS = "endpoints-address.json", "One address of an Endpoints subset.";
    LEASE = "lease.json", "A leader-election or node Lease.";
    NAMESPACE = "namespace.json", "A Namespace as `kubectl create`/Helm sends it.";
    NODE_INFO = "node-info.json", "A node's `status.nodeInfo`.";
    POD_BINDING = "pod-binding.json", "The `Binding` the scheduler posts to `pods/binding`.";
    POD_CONTROLLER_FIELDS = "pod-controller-fields.json", "The controller manager's `managedFields` entry of an owned pod.";
    POD_KUBELET_FIELDS = "pod-kubelet-fields.json", "The kubelet's `managedFields` entry of a running pod.";
    POD_RUN_FIELDS = "pod-run-fields.json", "The `kubectl run` `managedFields` entry of a bare pod.";
    POD_RUNNING_STATUS = "pod-running-status.json", "The `status` of a running pod; its conditions are nested.";
    POD_STATUS_PATCH = "pod-status-patch.json", "The kubelet's strategic-merge patch of `pods/status`.";
    POD_TOLERATIONS = "pod-tolerations.json", "The default `not-ready`/`unreachable` tolerations.";
    PROMETHEUS_STATUS = "prometheus-status.json", "A Prometheus custom resource as its operator writes `/status`.";
    ROLE_MANAGED_FIELDS = "role-managed-fields.json", "`managedFields` of a (Cluster)Role: manager, time.";
    SERVICE = "service.json", "A Helm-managed ClusterIP Service.";
    SERVICE_ACCOUNT = "service-account.json", "A Helm-managed ServiceAccount.";
    SERVICE_MONITOR_SPEC = "service-monitor-spec.json", "The `spec` of a ServiceMonitor.";
    TOKEN_REQUEST = "token-request.json", "A TokenRequest; timestamp, bound object and status are nested.";
    TOKEN_VOLUME = "token-volume.json", "The projected service account token volume the admission chain adds.";
    WORKLOAD_MANAGED_FIELDS = "workload-managed-fields.json", "`managedFields` of a workload: Helm/kubectl entry and the controller's status entry.";
}

templates! {
    SHAPE_ALL:
    ADDON_DAEMONSET = "addon-daemonset.json", "A platform add-on DaemonSet as its add-on manager applies it; the pod spec is nested.";
    AWS_NODE_POD_SPEC = "aws-node-pod-spec.json", "The pod spec of EKS's aws-node (VPC CNI): init and main image tags.";
    CLOUD_NODE_MANAGER_POD_SPEC = "cloud-node-manager-pod-spec.json", "The pod spec of AKS's cloud-node-manager: image.";
    CSR_APPROVAL = "csr-approval.json", "A kubelet-serving CertificateSigningRequest with its Approved condition.";
    GKE_METADATA_SERVER_POD_SPEC = "gke-metadata-server-pod-spec.json", "The pod spec of GKE's gke-metadata-server: image.";
    IP_MASQ_AGENT_POD_SPEC = "ip-masq-agent-pod-spec.json", "The pod spec of AKS's azure-ip-masq-agent: image.";
    KUBE_PROXY_POD_SPEC = "kube-proxy-pod-spec.json", "The pod spec of a managed kube-proxy DaemonSet: image.";
    MACHINE_CONFIG_DAEMON_POD_SPEC = "machine-config-daemon-pod-spec.json", "The pod spec of OpenShift's machine-config-daemon: images.";
    OPENSHIFT_INSTALLER_POD = "openshift-installer-pod.json", "A static-pod installer pod of OpenShift's kube-apiserver operator: name, revision, owner uid, image, revision, node.";
    WEBHOOK_CA_PATCH = "webhook-ca-patch.json", "A patch of one webhook's `caBundle` (CA injection).";
    WEBHOOK_CONFIGURATION = "webhook-configuration.json", "A pod-mutating or validating webhook configuration.";
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::{ALL, SHAPE_ALL, Template};

    thread_local! {
        /// Per template name, the argument counts it was filled with on this thread.
        static USED: RefCell<BTreeMap<&'static str, Vec<usize>>> = const { RefCell::new(BTreeMap::new()) };
    }

    pub(crate) fn record(template: Template, args: usize) {
        USED.with(|used| {
            used.borrow_mut()
                .entry(template.name)
                .or_default()
                .push(args)
        });
    }

    /// The templates filled on this thread so far, with the argument counts of each use.
    pub(crate) fn used() -> BTreeMap<&'static str, Vec<usize>> {
        USED.with(|used| used.borrow().clone())
    }

    pub(crate) fn holes(template: &Template) -> usize {
        template.text.matches('~').count()
    }

    #[test]
    fn every_file_is_a_template_and_json_with_holes_filled() {
        let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/bodies");
        let mut files: Vec<String> = std::fs::read_dir(directory)
            .expect("bodies/")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        files.sort();
        let mut names: Vec<&str> = ALL
            .iter()
            .chain(SHAPE_ALL)
            .map(|template| template.name)
            .collect();
        names.sort();
        assert_eq!(files, names, "files in bodies/ and templates! must match");
        for template in ALL.iter().chain(SHAPE_ALL) {
            assert!(!template.text.ends_with('\n'), "{}", template.name);
            assert!(!template.text.contains('\n'), "{}: one line", template.name);
            let filled = template.text.replace('~', "0");
            if let Err(error) = serde_json::from_str::<serde_json::Value>(&filled) {
                panic!("{} with holes as 0: {error}: {filled}", template.name);
            }
        }
    }
}
