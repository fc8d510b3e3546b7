//! Synthetic, realistic audit events for the store's tests (deterministic from a seed).

#![allow(dead_code)]

use event::{
    ActorKind, Alert, AlertSource, Container, ContainerKind, DeadLetter, Decision, Event, ImageRef,
    PodSpec, Severity, Volume,
};
use serde_json::json;

/// A small xorshift generator: deterministic and dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    pub fn hex(&mut self, digits: usize) -> String {
        let mut out = String::with_capacity(digits);
        while out.len() < digits {
            out.push_str(&format!("{:016x}", self.next()));
        }
        out.truncate(digits);
        out
    }

    pub fn uuid(&mut self) -> String {
        let hex = self.hex(32);
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }
}

/// A stable uid per user name, as the API server reports it.
fn user_uid(user: &str) -> String {
    let mut rng = Rng::new(user.bytes().fold(7u64, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(byte as u64)
    }));
    rng.uuid()
}

/// 2026-01-01T00:00:00Z in microseconds.
pub const JAN_1_2026: i64 = 1_767_225_600_000_000;
pub const HOUR: i64 = 3_600_000_000;
pub const DAY: i64 = 24 * HOUR;

/// Calls `f` with every file under `dir`, recursively.
pub fn walk(dir: &std::path::Path, f: &mut dyn FnMut(&std::path::Path)) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(&path, f);
        } else {
            f(&path);
        }
    }
}

fn micros_to_rfc3339(micros: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros)
        .expect("time in range")
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// `count` audit events spread evenly over `span` microseconds from `start`, in shuffled order.
pub fn synthetic_events(count: usize, seed: u64, start: i64, span: i64) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let users = [
        "alice@example.com",
        "bob@example.com",
        "system:serviceaccount:kube-system:replicaset-controller",
        "system:serviceaccount:monitoring:prometheus",
        "system:node:ip-10-0-12-34.ec2.internal",
        "system:kube-scheduler",
        "system:anonymous",
    ];
    let verbs = [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let resources = [
        "pods",
        "secrets",
        "configmaps",
        "deployments",
        "services",
        "leases",
        "nodes",
        "events",
    ];
    let namespaces = [
        "default",
        "kube-system",
        "monitoring",
        "payments",
        "frontend",
        "ci",
    ];
    let agents = [
        "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46",
        "kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/system:serviceaccount:kube-system:replicaset-controller",
        "Prometheus/2.53.0",
        "kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46",
        "Go-http-client/2.0",
    ];
    let images = [
        "nginx:1.27",
        "registry.example.com:5000/payments/api:v3.2.1",
        "ghcr.io/acme/worker@sha256:ab12",
        "busybox",
    ];
    let mut events = Vec::with_capacity(count);
    for index in 0..count {
        let time =
            start + (span / count.max(1) as i64) * index as i64 + rng.below(1_000_000) as i64;
        let user = rng.pick(&users);
        let verb = rng.pick(&verbs);
        let resource = rng.pick(&resources);
        let namespace = rng.pick(&namespaces);
        let name = format!(
            "{}-{}",
            rng.pick(&["api", "worker", "web", "db", "cache"]),
            rng.hex(5)
        );
        let audit_id = rng.uuid();
        let code = if rng.below(10) == 0 { 403 } else { 200 };
        let source_ip = format!("10.{}.{}.{}", rng.below(4), rng.below(256), rng.below(256));
        let agent = rng.pick(&agents);
        let with_pod = resource == "pods" && verb == "create";
        let image = rng.pick(&images);
        let request_uri = format!(
            "/api/v1/namespaces/{namespace}/{resource}/{name}?resourceVersion={}",
            rng.below(1_000_000)
        );
        let mut raw = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": audit_id,
            "stage": "ResponseComplete",
            "requestURI": request_uri,
            "verb": verb,
            "user": {"username": user, "uid": user_uid(user), "groups": ["system:authenticated", rng.pick(&["dev", "ops", "system:serviceaccounts"])]},
            "sourceIPs": [source_ip],
            "userAgent": agent,
            "objectRef": {"resource": resource, "namespace": namespace, "name": name, "apiVersion": "v1", "resourceVersion": rng.below(10_000_000).to_string()},
            "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": micros_to_rfc3339(time),
            "stageTimestamp": micros_to_rfc3339(time + rng.below(50_000) as i64),
            "annotations": {
                "authorization.k8s.io/decision": if code == 403 { "forbid" } else { "allow" },
                "authorization.k8s.io/reason": format!("RBAC: allowed by ClusterRoleBinding \"{}\" of ClusterRole \"{}\" to User \"{user}\"", rng.pick(&["admins", "view", "edit"]), rng.pick(&["cluster-admin", "view", "edit"]))
            }
        });
        if with_pod {
            raw["requestObject"] = json!({"kind": "Pod", "spec": {"containers": [{"name": "main", "image": image, "securityContext": {"privileged": rng.below(5) == 0}}]}});
        }
        let pod_specs = if with_pod {
            vec![PodSpec {
                owner_kind: "Pod".to_owned(),
                service_account: Some("default".to_owned()),
                containers: vec![Container {
                    name: "main".to_owned(),
                    kind: Some(ContainerKind::Container),
                    image: image.to_owned(),
                    privileged: Some(rng.below(5) == 0),
                    capabilities_add: if rng.below(3) == 0 {
                        vec!["NET_ADMIN".to_owned()]
                    } else {
                        vec![]
                    },
                    host_ports: vec![8080],
                    ..Container::default()
                }],
                volumes: vec![Volume {
                    name: "host".to_owned(),
                    host_path: Some("/var/run/docker.sock".to_owned()),
                }],
                ..PodSpec::default()
            }]
        } else {
            vec![]
        };
        let images = if with_pod {
            vec![ImageRef {
                reference: image.to_owned(),
                registry: "docker.io".to_owned(),
                repository: "library/nginx".to_owned(),
                tag: Some("1.27".to_owned()),
                digest: None,
            }]
        } else {
            vec![]
        };
        let actor_kind = if user.starts_with("system:serviceaccount:") {
            ActorKind::Serviceaccount
        } else if user.starts_with("system:node:") {
            ActorKind::Node
        } else if user == "system:anonymous" {
            ActorKind::Anonymous
        } else if user.starts_with("system:") {
            ActorKind::System
        } else {
            ActorKind::Human
        };
        events.push(Event {
            event_id: format!("{:032x}", (index as u128) << 64 | rng.next() as u128),
            time,
            cluster: "prod-eu-1".to_owned(),
            audit_id: Some(audit_id),
            stage: Some("ResponseComplete".to_owned()),
            level: Some("Metadata".to_owned()),
            verb: Some(verb.to_owned()),
            request_uri: Some(request_uri),
            user: Some(user.to_owned()),
            user_groups: vec!["system:authenticated".to_owned()],
            actor_kind: Some(actor_kind),
            source_ips: vec![source_ip],
            user_agent: Some(agent.to_owned()),
            resource: Some(resource.to_owned()),
            api_group: Some(String::new()),
            namespace: Some(namespace.to_owned()),
            name: Some(name),
            response_code: Some(code),
            decision: Some(if code == 403 {
                Decision::Forbid
            } else {
                Decision::Allow
            }),
            pod_specs,
            images,
            raw: raw.to_string(),
            ..Event::default()
        });
    }
    // Arrival order is not time order.
    for index in (1..events.len()).rev() {
        let other = rng.below(index as u64 + 1) as usize;
        events.swap(index, other);
    }
    events
}

pub fn alert(alert_id: &str, time: &str, event_ids: &[&str]) -> Alert {
    let mut fields = serde_json::Map::new();
    fields.insert("verb".to_owned(), json!("create"));
    Alert {
        alert_id: alert_id.to_owned(),
        rule_id: "privileged-pod".to_owned(),
        title: "Privileged pod created".to_owned(),
        severity: Severity::High,
        time: time.to_owned(),
        event_ids: event_ids.iter().map(|id| (*id).to_owned()).collect(),
        audit_ids: vec![],
        cluster: "prod-eu-1".to_owned(),
        actor: Some("alice@example.com".to_owned()),
        namespace: Some("default".to_owned()),
        resource: Some("pods".to_owned()),
        name: Some("web-1".to_owned()),
        source: AlertSource::K8sAudit,
        attack: vec!["T1610".to_owned()],
        summary: "alice created privileged pod default/web-1".to_owned(),
        fields,
    }
}

pub fn dead_letter(time: &str, offset: u64) -> DeadLetter {
    DeadLetter {
        time: time.to_owned(),
        source: "/var/log/audit.log".to_owned(),
        offset,
        length: 12,
        reason: "expected value at line 1 column 1".to_owned(),
        excerpt: Some("not json at all".to_owned()),
    }
}

/// A resume state as the store takes it (opaque JSON).
pub fn state(value: serde_json::Value) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(&value).expect("state serialises")
}

/// Opens the store and reads back its last committed state as JSON.
pub fn open_store(
    config: &store::Config,
    what: &str,
) -> (store::ColumnarStore, Option<serde_json::Value>) {
    let store = store::ColumnarStore::open(config).expect(what);
    let state = store
        .state()
        .map(|raw| serde_json::from_str(raw.get()).expect("state is JSON"));
    (store, state)
}

/// The single integer a `SELECT count(*) ...` over `context` gives.
pub async fn count(context: &datafusion::prelude::SessionContext, sql: &str) -> i64 {
    use datafusion::arrow::array::AsArray;
    let batches = context
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    batches[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .value(0)
}
