//! The pipeline's counters in the Prometheus text format, for the API's `/metrics`.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use query::http::{MetricsSource, metrics_label};

use crate::pipeline::Counters;

/// The counters of one running pipeline.
#[derive(Debug)]
pub struct PipelineMetrics(pub Arc<Counters>);

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

impl MetricsSource for PipelineMetrics {
    fn render(&self, out: &mut String) {
        let c = &self.0;
        let get = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        counter(
            out,
            "kubetrail_ingest_lines_total",
            "Lines read from the sources, dead letters included.",
            get(&c.lines),
        );
        counter(
            out,
            "kubetrail_ingest_bytes_total",
            "Bytes read from the sources (decompressed).",
            get(&c.bytes),
        );
        counter(
            out,
            "kubetrail_ingest_events_total",
            "Events decoded.",
            get(&c.events),
        );
        counter(
            out,
            "kubetrail_ingest_filtered_total",
            "Events dropped by policy (RequestReceived stage).",
            get(&c.filtered),
        );
        counter(
            out,
            "kubetrail_ingest_duplicates_total",
            "Events dropped as already seen (same event_id).",
            get(&c.duplicates),
        );
        counter(
            out,
            "kubetrail_dead_letters_total",
            "Lines rejected as malformed or too long.",
            get(&c.dead_letters),
        );
        counter(
            out,
            "kubetrail_alerts_total",
            "Alerts raised.",
            get(&c.alerts),
        );
        counter(
            out,
            "kubetrail_store_commits_total",
            "Store commits.",
            get(&c.commits),
        );
        counter(
            out,
            "kubetrail_store_events_total",
            "Events committed to the store.",
            get(&c.committed_events),
        );
        counter(
            out,
            "kubetrail_rule_reloads_total",
            "Rule sets reloaded.",
            get(&c.rule_reloads),
        );
        counter(
            out,
            "kubetrail_rule_reload_failures_total",
            "Rule reloads rejected.",
            get(&c.rule_reload_failures),
        );
        let newest = c.newest_event_micros.load(Ordering::Relaxed);
        if newest > 0 {
            let lag = (chrono::Utc::now().timestamp_micros() - newest) as f64 / 1e6;
            gauge(
                out,
                "kubetrail_ingest_lag_seconds",
                "Wall clock minus the event time of the newest event seen.",
                lag.max(0.0),
            );
            gauge(
                out,
                "kubetrail_ingest_newest_event_timestamp_seconds",
                "Event time of the newest event seen.",
                newest as f64 / 1e6,
            );
        }
        out.push_str("# HELP kubetrail_alerts_by_rule_total Alerts raised, by rule.\n# TYPE kubetrail_alerts_by_rule_total counter\n");
        for (rule, count) in c
            .alerts_by_rule
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "kubetrail_alerts_by_rule_total{{rule_id=\"{}\"}} {count}",
                metrics_label(rule)
            );
        }
        let sinks = c
            .sinks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !sinks.is_empty() {
            for (name, help, value) in [
                (
                    "kubetrail_sink_delivered_total",
                    "Alerts a sink delivered.",
                    (|m: &sinks::SinkMetrics| m.delivered) as fn(&sinks::SinkMetrics) -> u64,
                ),
                (
                    "kubetrail_sink_failed_attempts_total",
                    "Failed delivery attempts.",
                    |m| m.failed_attempts,
                ),
                ("kubetrail_sink_retries_total", "Delivery retries.", |m| {
                    m.retries
                }),
                ("kubetrail_sink_pending", "Alerts queued for a sink.", |m| {
                    m.pending
                }),
            ] {
                let kind = if name.ends_with("_total") {
                    "counter"
                } else {
                    "gauge"
                };
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for (sink, metrics) in sinks.iter() {
                    let _ = writeln!(
                        out,
                        "{name}{{sink=\"{}\"}} {}",
                        metrics_label(sink),
                        value(metrics)
                    );
                }
            }
        }
    }
}
