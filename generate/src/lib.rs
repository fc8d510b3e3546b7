//! Realistic synthetic Kubernetes audit traffic (audit.k8s.io/v1 JSON lines), deterministic by seed,
//! with optional labelled attack scenarios for testing detections.
//!
//! The benign mix is modelled on a measured real cluster sample (the hkerma PerfSPEC kubeadm
//! dataset): discovery bursts from Helm/kubectl and controllers, leader-election leases, kubelet
//! traffic, controller status writes, operators reconciling, and humans running Helm and kubectl.
//! [`Options::shape`] mixes in the traffic of another kind of cluster ([`ClusterShape`]: managed
//! EKS, GKE, AKS, OpenShift, GitOps, Helm, CI, cert-manager, monitoring, service meshes, nodes on
//! public addresses), benign only, for measuring a rule pack's precision.
//! Levels follow a typical policy (see `catalog::Level::for_request`); `RequestReceived` is omitted.

mod attacks;
mod benign;
mod bodies;
mod catalog;
mod error;
mod generator;
mod json;
mod rng;
mod shapes;
mod templates;

use std::collections::BTreeMap;
use std::io::Write;

pub use attacks::SCENARIOS;
pub use error::GenerateError;
pub use generator::Generator;
pub use shapes::ClusterShape;

/// How to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub seed: u64,
    /// Inject labelled attack scenarios, about one instance every 2,000 events.
    pub attacks: bool,
    /// `stageTimestamp` of the first event, in microseconds since the Unix epoch.
    pub start_time_micros: i64,
    /// Simulated request rate used for timestamps; the measured sample ran at about 68 events/s.
    pub events_per_second: f64,
    /// The kind of cluster: besides the default base mix ([`ClusterShape::Kubeadm`], whose
    /// output never changes), a shape draws half of the benign events from its own identities
    /// and activities (managed platforms, OpenShift, GitOps, Helm, CI, add-ons). Benign only:
    /// attacks are injected the same way in every shape.
    pub shape: ClusterShape,
}

impl Options {
    /// 2024-06-01T12:00:00Z: a fixed default so output never depends on the wall clock.
    pub const DEFAULT_START_TIME_MICROS: i64 = 1_717_243_200_000_000;
    pub const DEFAULT_EVENTS_PER_SECOND: f64 = 70.0;

    fn validate(&self) -> Result<(), GenerateError> {
        if self.events_per_second.is_finite() && self.events_per_second > 0.0 {
            Ok(())
        } else {
            Err(GenerateError::InvalidRate {
                events_per_second: self.events_per_second,
            })
        }
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            seed: 0,
            attacks: false,
            start_time_micros: Options::DEFAULT_START_TIME_MICROS,
            events_per_second: Options::DEFAULT_EVENTS_PER_SECOND,
            shape: ClusterShape::Kubeadm,
        }
    }
}

/// Names one event of an injected attack; serialised as `{"auditID": "...", "scenario": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Label {
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub scenario: &'static str,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub events: u64,
    pub bytes: u64,
    /// Labelled attack events per scenario name (only scenarios that occurred).
    pub attack_events: BTreeMap<&'static str, u64>,
}

/// Writes `events` JSON lines to `out` and, when given, one label line per attack event to `labels`.
pub fn generate(
    options: Options,
    events: u64,
    out: &mut impl Write,
    mut labels: Option<&mut impl Write>,
) -> Result<Summary, GenerateError> {
    options.validate()?;
    let mut generator = Generator::new(options);
    let mut summary = Summary::default();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut label_buf = Vec::new();
    for _ in 0..events {
        let label = generator.next_event(&mut buf);
        summary.events += 1;
        if let Some(label) = label {
            *summary.attack_events.entry(label.scenario).or_insert(0) += 1;
            if labels.is_some() {
                label_buf.extend_from_slice(br#"{"auditID":""#);
                label_buf.extend_from_slice(label.audit_id.as_bytes());
                label_buf.extend_from_slice(br#"","scenario":""#);
                label_buf.extend_from_slice(label.scenario.as_bytes());
                label_buf.extend_from_slice(b"\"}\n");
            }
        }
        if buf.len() >= 1 << 20 {
            summary.bytes += buf.len() as u64;
            out.write_all(&buf)
                .map_err(|source| GenerateError::WriteEvents { source })?;
            buf.clear();
        }
        if label_buf.len() >= 1 << 16
            && let Some(labels) = labels.as_mut()
        {
            labels
                .write_all(&label_buf)
                .map_err(|source| GenerateError::WriteLabels { source })?;
            label_buf.clear();
        }
    }
    summary.bytes += buf.len() as u64;
    out.write_all(&buf)
        .map_err(|source| GenerateError::WriteEvents { source })?;
    out.flush()
        .map_err(|source| GenerateError::WriteEvents { source })?;
    if let Some(labels) = labels.as_mut() {
        labels
            .write_all(&label_buf)
            .map_err(|source| GenerateError::WriteLabels { source })?;
        labels
            .flush()
            .map_err(|source| GenerateError::WriteLabels { source })?;
    }
    Ok(summary)
}
