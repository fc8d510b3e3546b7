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
