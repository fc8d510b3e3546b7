//! Benign traffic stays benign: no exec, no anonymous reads, secrets read only by system
//! identities, no risky pod specs.

use serde_json::Value;

use crate::{is_system, parse, pod_specs, risky, run, text};

#[test]
fn benign_traffic_is_benign() {
    let (out, labels) = run(9, false, 80_000);
    assert!(labels.is_empty());
    let events = parse(&out);
    let mut token_requests = 0;
    let mut workload_specs = 0;
    for event in &events {
        let username = text(event, "/user/username");
        let verb = text(event, "/verb");
        let resource = text(event, "/objectRef/resource");
        let subresource = text(event, "/objectRef/subresource");
        let uri = text(event, "/requestURI");
        assert!(
            !matches!(subresource, "exec" | "attach" | "portforward"),
            "{uri}"
        );
        if username == "system:anonymous" {
            let path = uri.split('?').next().unwrap_or("");
            assert!(
                matches!(path, "/healthz" | "/livez" | "/readyz" | "/version"),
                "anonymous {uri}"
            );
        }
        if resource == "secrets" && matches!(verb, "get" | "list" | "watch") {
            assert!(is_system(username), "{username} read secrets");
        }
        if resource == "serviceaccounts" && subresource == "token" {
            assert!(
                username.starts_with("system:node:")
                    || username == "system:kube-controller-manager",
                "{username}"
            );
            if event.pointer("/responseStatus/code") == Some(&Value::from(201)) {
                assert!(
                    event
                        .pointer("/responseObject/status/token")
                        .and_then(Value::as_str)
                        .is_some_and(|token| token.starts_with("eyJ"))
                );
                token_requests += 1;
            }
        }
        assert!(!(resource == "networkpolicies" && verb == "delete"));
        if resource == "namespaces" && matches!(verb, "patch" | "update") {
            assert!(!event.to_string().contains("pod-security.kubernetes.io"));
        }
        if matches!(
            resource,
            "clusterroles" | "roles" | "clusterrolebindings" | "rolebindings"
        ) && matches!(verb, "create" | "update" | "patch")
        {
            let body = event["requestObject"].to_string();
            assert!(!body.contains(r#""*""#), "wildcard in {body}");
            assert_ne!(text(event, "/requestObject/roleRef/name"), "cluster-admin");
        }
        if resource == "pods" && verb == "create" && subresource.is_empty() {
            assert!(
                username.starts_with("system:serviceaccount:kube-system:"),
                "{username} created a pod"
            );
        }
        for spec in pod_specs(event) {
            workload_specs += 1;
            assert_eq!(risky(spec), None, "{uri}");
        }
    }
    assert!(token_requests > 50, "{token_requests}");
    assert!(workload_specs > 2000, "{workload_specs}");
}

/// Each cluster shape: deterministic by seed, different from the base mix, valid JSON with no
/// attack labels, no exec or anonymous writes, and its own identities present.
#[test]
fn every_cluster_shape_is_deterministic_benign_and_has_its_identities() {
    use generate::{ClusterShape, Options, generate};

    let expected: &[(ClusterShape, &str)] = &[
        (ClusterShape::Eks, "eks:certificate-controller"),
        (ClusterShape::Gke, "system:gke-common-webhooks"),
        (ClusterShape::Aks, "aksService"),
        (
            ClusterShape::OpenShift,
            "system:serviceaccount:openshift-authentication-operator:authentication-operator",
        ),
        (
            ClusterShape::GitOps,
            "system:serviceaccount:flux-system:kustomize-controller",
        ),
        (ClusterShape::Helm, "system:serviceaccount:ci:helm-deployer"),
        (
            ClusterShape::CertManager,
            "system:serviceaccount:cert-manager:cert-manager-cainjector",
        ),
        (
            ClusterShape::Monitoring,
            "system:serviceaccount:kube-system:metrics-server",
        ),
        (
            ClusterShape::ServiceMesh,
            "system:serviceaccount:istio-system:istiod",
        ),
        (ClusterShape::PublicNodes, "system:node:node-fsn1-1"),
        (
            ClusterShape::CiDeploy,
            "system:serviceaccount:ci:gitlab-deployer",
        ),
    ];
    assert_eq!(expected.len() + 1, ClusterShape::ALL.len());
    let base = run(4, false, 3_000).0;
    for (shape, identity) in expected {
        let write = |seed| {
            let mut out = Vec::new();
            let mut labels = Vec::new();
            let options = Options {
                seed,
                shape: *shape,
                ..Options::default()
            };
            generate(options, 3_000, &mut out, Some(&mut labels)).expect("generate");
            assert!(labels.is_empty(), "{shape}");
            out
        };
        let out = write(4);
        assert_eq!(out, write(4), "{shape} is deterministic");
        assert_ne!(out, base, "{shape} differs from the base mix");
        let events = parse(&out);
        assert_eq!(events.len(), 3_000);
        assert!(
            events
                .iter()
                .any(|event| text(event, "/user/username") == *identity),
            "{shape}: no {identity}"
        );
        for event in &events {
            let subresource = text(event, "/objectRef/subresource");
            assert!(!matches!(subresource, "exec" | "attach" | "portforward"));
            if text(event, "/user/username") == "system:anonymous" {
                assert_eq!(text(event, "/verb"), "get", "{shape}");
            }
        }
    }
}
