//! Precision as a number: the built-in rules over the benign traffic of every cluster shape the
//! generator knows (managed EKS, GKE and AKS, OpenShift, GitOps, Helm, CI, add-ons, nodes on
//! public addresses) must raise no high or critical alert. Prints alerts per million events by
//! severity per shape (`cargo test -p detect --test it precision -- --nocapture`).

use std::collections::BTreeMap;
use std::sync::Arc;

use detect::{Detector, Engine, RuleSet, StateLimits};
use event::{Alert, Severity};
use generate::{ClusterShape, Options};

/// Benign events per shape: about 24 minutes of a busy cluster at 70 events/s.
const EVENTS_PER_SHAPE: u64 = 100_000;
/// Events per detector batch, as the pipeline sends them.
const BATCH: usize = 4_096;

/// Rules whose high or critical alerts on benign traffic are known and tracked elsewhere.
const EXEMPT: &[&str] = &[];

/// High alerts the benign mix earns by design, per (rule, user): the base mix's Helm churn
/// (kept byte-identical) now and then uninstalls Gatekeeper, which is what the rule is for.
const TRUE_POSITIVES: &[(&str, &str)] = &[("k8s.security_tool_deleted", "kubernetes-admin")];

/// What the detector raised on one shape's traffic.
struct Outcome {
    shape: ClusterShape,
    events: usize,
    /// Per (severity, rule id, exempt): the count and one summary.
    alerts: BTreeMap<(Severity, String, bool), (u64, String)>,
}

impl Outcome {
    fn per_million(&self, severity: Severity, exempt: bool) -> f64 {
        let count: u64 = self
            .alerts
            .iter()
            .filter(|((level, _, exempted), _)| *level == severity && *exempted == exempt)
            .map(|(_, (count, _))| count)
            .sum();
        count as f64 * 1e6 / self.events as f64
    }

    fn serious(&self) -> Vec<String> {
        self.alerts
            .iter()
            .filter(|((severity, _, exempt), _)| *severity >= Severity::High && !exempt)
            .map(|((severity, rule, _), (count, summary))| {
                format!("{} {rule} x{count}: {summary}", severity.as_str())
            })
            .collect()
    }

    fn others(&self) -> Vec<String> {
        self.alerts
            .iter()
            .filter(|((severity, _, exempt), _)| *severity < Severity::High || *exempt)
            .map(|((severity, rule, exempt), (count, _))| {
                let exempt = if *exempt { " (exempt)" } else { "" };
                format!("{} {rule}{exempt} x{count}", severity.as_str())
            })
            .collect()
    }
}

fn run(shape: ClusterShape) -> Outcome {
    let options = Options {
        seed: 11,
        shape,
        ..Options::default()
    };
    let mut lines = Vec::with_capacity(256 << 20);
    generate::generate(options, EVENTS_PER_SHAPE, &mut lines, None::<&mut Vec<u8>>)
        .expect("generate");
    let decode = event::DecodeOptions::default();
    let engine = Arc::new(Engine::new(RuleSet::builtin().expect("built-in rules")));
    let mut detector = Detector::new(engine, StateLimits::default());
    let mut events = Vec::with_capacity(BATCH);
    let mut alerts: Vec<Alert> = Vec::new();
    let mut outcome = Outcome {
        shape,
        events: 0,
        alerts: BTreeMap::new(),
    };
    let tally = |alerts: &mut Vec<Alert>, outcome: &mut Outcome| {
        for alert in alerts.drain(..) {
            let actor = alert.actor.as_deref().unwrap_or_default();
            let exempt = EXEMPT.contains(&alert.rule_id.as_str())
                || TRUE_POSITIVES.contains(&(alert.rule_id.as_str(), actor));
            let entry = outcome
                .alerts
                .entry((alert.severity, alert.rule_id, exempt))
                .or_insert((0, alert.summary));
            entry.0 += 1;
        }
    };
    for line in lines
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
    {
        event::decode_line(line, &decode, &mut events).expect("generated events decode");
        if events.len() >= BATCH {
            outcome.events += events.len();
            detector.process_batch(&events, &mut alerts);
            events.clear();
            tally(&mut alerts, &mut outcome);
        }
    }
    outcome.events += events.len();
    detector.process_batch(&events, &mut alerts);
    tally(&mut alerts, &mut outcome);
    outcome
}

#[test]
fn benign_traffic_of_every_cluster_shape_raises_no_high_or_critical_alert() {
    // Two workers: the shapes split between them.
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let workers: Vec<_> = [0, 1]
            .into_iter()
            .map(|worker| {
                scope.spawn(move || {
                    ClusterShape::ALL
                        .iter()
                        .skip(worker)
                        .step_by(2)
                        .map(|shape| run(*shape))
                        .collect::<Vec<Outcome>>()
                })
            })
            .collect();
        let mut outcomes: Vec<Outcome> = workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("worker"))
            .collect();
        outcomes.sort_by_key(|outcome| {
            ClusterShape::ALL
                .iter()
                .position(|shape| *shape == outcome.shape)
        });
        outcomes
    });
    eprintln!(
        "alerts per million benign events ({EVENTS_PER_SHAPE} events per shape)\n{:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "shape", "info", "low", "medium", "high", "critical", "exempt"
    );
    let mut failures = Vec::new();
    for outcome in &outcomes {
        let exempt: f64 = [Severity::High, Severity::Critical]
            .into_iter()
            .map(|severity| outcome.per_million(severity, true))
            .sum();
        eprintln!(
            "{:<14} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
            outcome.shape.name(),
            outcome.per_million(Severity::Info, false),
            outcome.per_million(Severity::Low, false),
            outcome.per_million(Severity::Medium, false),
            outcome.per_million(Severity::High, false),
            outcome.per_million(Severity::Critical, false),
            exempt,
        );
        assert_eq!(outcome.events as u64, EVENTS_PER_SHAPE, "{}", outcome.shape);
        let serious = outcome.serious();
        if !serious.is_empty() {
            failures.push(format!(
                "{}: {}\n  other alerts: {}",
                outcome.shape,
                serious.join("\n  "),
                outcome.others().join(", ")
            ));
        }
    }
    for outcome in &outcomes {
        eprintln!("{}: {}", outcome.shape, outcome.others().join(", "));
    }
    assert!(
        failures.is_empty(),
        "high or critical alerts on benign traffic:\n{}",
        failures.join("\n")
    );
}
