//! End-to-end checks of the generated stream (one test binary): helpers shared by the modules,
//! which check the stream as a whole, the benign traffic and the labelled attacks.

mod attacks;
mod benign;
mod stream;

use generate::{Options, generate};
use serde_json::Value;

fn run(seed: u64, attacks: bool, events: u64) -> (Vec<u8>, Vec<u8>) {
    let mut out = Vec::new();
    let mut labels = Vec::new();
    let options = Options {
        seed,
        attacks,
        ..Options::default()
    };
    let summary = generate(options, events, &mut out, Some(&mut labels)).expect("generate");
    assert_eq!(summary.events, events);
    assert_eq!(summary.bytes, out.len() as u64);
    (out, labels)
}

fn parse(out: &[u8]) -> Vec<Value> {
    out.split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_slice(line)
                .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(line)))
        })
        .collect()
}

fn text<'a>(event: &'a Value, pointer: &str) -> &'a str {
    event.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn is_uuid_v4(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            14 => *byte == b'4',
            19 => matches!(byte, b'8' | b'9' | b'a' | b'b'),
            _ => byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase(),
        })
}

fn is_system(username: &str) -> bool {
    username.starts_with("system:node:")
        || username.starts_with("system:serviceaccount:kube-system:")
        || matches!(
            username,
            "system:kube-controller-manager" | "system:kube-scheduler" | "system:apiserver"
        )
}

fn pod_specs(event: &Value) -> Vec<&Value> {
    let mut specs = Vec::new();
    for body in ["requestObject", "responseObject"] {
        let Some(object) = event.get(body) else {
            continue;
        };
        for pointer in [
            "/spec",
            "/spec/template/spec",
            "/spec/jobTemplate/spec/template/spec",
        ] {
            if let Some(spec) = object.pointer(pointer)
                && spec.get("containers").is_some()
            {
                specs.push(spec);
            }
        }
    }
    specs
}

fn risky(spec: &Value) -> Option<String> {
    if spec.get("hostNetwork") == Some(&Value::Bool(true))
        || spec.get("hostPID") == Some(&Value::Bool(true))
    {
        return Some("host namespaces".into());
    }
    for volume in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if volume.get("hostPath").is_some() {
            return Some("hostPath".into());
        }
    }
    for container in spec["containers"].as_array().into_iter().flatten() {
        if container.pointer("/securityContext/privileged") == Some(&Value::Bool(true)) {
            return Some("privileged".into());
        }
        let image = container["image"].as_str().unwrap_or("");
        let trusted = ["registry.k8s.io/", "docker.io/", "ghcr.io/", "quay.io/"]
            .iter()
            .any(|prefix| image.starts_with(prefix));
        if !trusted
            || !image.rsplit('/').next().unwrap_or("").contains(':')
            || image.ends_with(":latest")
        {
            return Some(format!("image {image}"));
        }
    }
    None
}
