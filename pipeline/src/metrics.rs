//! The pipeline's counters: kept once here, added to by the detect and commit steps on every
//! path (`serve`, `import`, `detect`), read by the summaries of `import` and `detect`, and
//! exported through a Prometheus registry as `kubetrail_*` at `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use event::Alert;
use ingest::Batch;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Running totals of one pipeline.
#[derive(Debug, Default)]
pub struct Stats {
    /// Lines read from the sources, dead letters included.
    pub lines: Counter,
    /// Bytes read from the sources (decompressed).
    pub bytes: Counter,
    /// Events decoded (after deduplication).
    pub events: Counter,
    /// Events dropped by policy (`RequestReceived` stage).
    pub filtered: Counter,
    /// Events dropped as already seen (same `event_id`).
    pub duplicates: Counter,
    /// Lines rejected as malformed or too long.
    pub dead_letters: Counter,
    /// Alerts raised.
    pub alerts: Counter,
    /// Store commits.
    pub commits: Counter,
    /// Events committed to the store.
    pub committed_events: Counter,
    /// Partitions retention removed or rewrote.
    pub retention_partitions: Counter,
    /// Bytes of the files retention removed or rewrote.
    pub retention_bytes: Counter,
    /// Events committed already past the events' retention period (a backfill).
    pub past_retention: Counter,
    /// Partitions retention kept only for a legal hold (counted at each run).
    pub retention_held: Counter,
    /// Files compaction merged away.
    pub compacted_files: Counter,
    /// Bytes of the files compaction merged away.
    pub compacted_bytes: Counter,
    /// Rule sets reloaded.
    pub rule_reloads: Counter,
    /// Rule reloads rejected.
    pub rule_reload_failures: Counter,
    /// Event time of the newest event seen (microseconds), for the lag gauge.
    newest_event_micros: AtomicI64,
    alerts_by_rule: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    /// Counts a batch that went through detection.
    pub fn add_batch(&self, batch: &Batch, duplicates: usize, alerts: &[Alert]) {
        if let Some(newest) = batch.events.iter().map(|event| event.time).max() {
            self.newest_event_micros
                .fetch_max(newest, Ordering::Relaxed);
        }
        self.lines.inc_by(batch.stats.lines);
        self.bytes.inc_by(batch.stats.bytes);
        self.events.inc_by(batch.events.len() as u64);
        self.filtered.inc_by(batch.stats.filtered);
        self.duplicates.inc_by(duplicates as u64);
        self.dead_letters.inc_by(batch.dead_letters.len() as u64);
        self.add_alerts(alerts);
    }

    /// Counts alerts raised.
    pub fn add_alerts(&self, alerts: &[Alert]) {
        if alerts.is_empty() {
            return;
        }
        self.alerts.inc_by(alerts.len() as u64);
        let mut by_rule = self
            .alerts_by_rule
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for alert in alerts {
            match by_rule.get_mut(&alert.rule_id) {
                Some(count) => *count += 1,
                None => {
                    by_rule.insert(alert.rule_id.clone(), 1);
                }
            }
        }
    }

    /// Counts what one retention run removed, rewrote and kept for a hold.
    pub fn add_retention(&self, plan: &store::retention::Plan) {
        self.retention_partitions.inc_by(plan.actions.len() as u64);
        self.retention_bytes
            .inc_by(plan.actions.iter().map(|action| action.bytes).sum());
        self.retention_held.inc_by(plan.held.len() as u64);
    }

    /// Counts what one compaction commit merged.
    pub fn add_compaction(&self, summary: &store::compaction::Summary) {
        self.compacted_files.inc_by(summary.files_in as u64);
        self.compacted_bytes.inc_by(summary.bytes_in);
    }

    /// Counts one store commit of `events` events.
    pub fn add_commit(&self, events: usize) {
        self.commits.inc();
        self.committed_events.inc_by(events as u64);
    }

    /// Alerts raised so far, by rule id.
    pub fn alerts_by_rule(&self) -> BTreeMap<String, u64> {
        self.alerts_by_rule
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Adds these counters to `registry` (prefix it with `kubetrail`), with the sinks'
    /// delivery metrics when there is an outbox.
    pub fn register(
        self: &Arc<Stats>,
        registry: &mut Registry,
        sinks: Option<sinks::SinkMetricsHandle>,
    ) {
        for (name, help, counter) in [
            (
                "ingest_lines",
                "Lines read from the sources, dead letters included.",
                &self.lines,
            ),
            (
                "ingest_bytes",
                "Bytes read from the sources (decompressed).",
                &self.bytes,
            ),
            ("ingest_events", "Events decoded.", &self.events),
            (
                "ingest_filtered",
                "Events dropped by policy (RequestReceived stage).",
                &self.filtered,
            ),
            (
                "ingest_duplicates",
                "Events dropped as already seen (same event_id).",
                &self.duplicates,
            ),
            (
                "dead_letters",
                "Lines rejected as malformed or too long.",
                &self.dead_letters,
            ),
            ("alerts", "Alerts raised.", &self.alerts),
            ("store_commits", "Store commits.", &self.commits),
            (
                "store_events",
                "Events committed to the store.",
                &self.committed_events,
            ),
            (
                "retention_partitions",
                "Partitions retention removed or rewrote.",
                &self.retention_partitions,
            ),
            (
                "retention_bytes",
                "Bytes of the files retention removed or rewrote.",
                &self.retention_bytes,
            ),
            (
                "events_past_retention",
                "Events committed already older than the events' retention period (a backfill); kept until the next retention run.",
                &self.past_retention,
            ),
            (
                "retention_held_partitions",
                "Partitions past their period kept for a legal hold, counted at each retention run.",
                &self.retention_held,
            ),
            (
                "compacted_files",
                "Small files compaction merged into larger ones.",
                &self.compacted_files,
            ),
            (
                "compacted_bytes",
                "Bytes of the small files compaction merged.",
                &self.compacted_bytes,
            ),
            ("rule_reloads", "Rule sets reloaded.", &self.rule_reloads),
            (
                "rule_reload_failures",
                "Rule reloads rejected.",
                &self.rule_reload_failures,
            ),
        ] {
            registry.register(name, help, counter.clone());
        }
        registry.register_collector(Box::new(Collected {
            stats: Arc::clone(self),
            sinks,
        }));
    }
}

/// What is computed at scrape time: the lag, alerts by rule, the sinks' delivery.
#[derive(Debug)]
struct Collected {
    stats: Arc<Stats>,
    sinks: Option<sinks::SinkMetricsHandle>,
}

impl Collector for Collected {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let newest = self.stats.newest_event_micros.load(Ordering::Relaxed);
        if newest > 0 {
            let lag = (chrono::Utc::now().timestamp_micros() - newest) as f64 / 1e6;
            gauge(
                &mut encoder,
                "ingest_lag_seconds",
                "Wall clock minus the event time of the newest event seen.",
                lag.max(0.0),
            )?;
            gauge(
                &mut encoder,
                "ingest_newest_event_timestamp_seconds",
                "Event time of the newest event seen.",
                newest as f64 / 1e6,
            )?;
        }
        let by_rule = self.stats.alerts_by_rule();
        let mut family = encoder.encode_descriptor(
            "alerts_by_rule",
            "Alerts raised, by rule.",
            None,
            MetricType::Counter,
        )?;
        for (rule_id, count) in &by_rule {
            ConstCounter::new(*count)
                .encode(family.encode_family(&[("rule_id", rule_id.as_str())])?)?;
        }
        let Some(sinks) = &self.sinks else {
            return Ok(());
        };
        let sinks = sinks.snapshot();
        type Read = fn(&sinks::SinkMetrics) -> u64;
        for (name, help, kind, read) in [
            (
                "sink_delivered",
                "Alerts a sink delivered.",
                MetricType::Counter,
                (|m| m.delivered) as Read,
            ),
            (
                "sink_failed_attempts",
                "Failed delivery attempts.",
                MetricType::Counter,
                |m| m.failed_attempts,
            ),
            (
                "sink_retries",
                "Delivery retries.",
                MetricType::Counter,
                |m| m.retries,
            ),
            (
                "sink_pending",
                "Alerts queued for a sink.",
                MetricType::Gauge,
                |m| m.pending,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for (sink, metrics) in &sinks {
                let labels = [("sink", sink.as_str())];
                let value = read(metrics);
                match kind {
                    MetricType::Counter => {
                        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
                    }
                    _ => ConstGauge::new(value as i64).encode(family.encode_family(&labels)?)?,
                }
            }
        }
        Ok(())
    }
}

/// Adds the write-ahead log's counters (`kubetrail_wal_*`) to `registry`, read at scrape time.
pub fn register_wal(registry: &mut Registry, log: ingest::PushLog) {
    registry.register_collector(Box::new(WalCollected { log }));
}

#[derive(Debug)]
struct WalCollected {
    log: ingest::PushLog,
}

impl Collector for WalCollected {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let metrics = self.log.metrics();
        for (name, help, value) in [
            (
                "wal_pending_bytes",
                "Bytes in the write-ahead log not yet committed to the store.",
                metrics.pending_bytes,
            ),
            (
                "wal_retained_bytes",
                "Bytes of the write-ahead log's segments on disk (pending and kept for dedupe).",
                metrics.retained_bytes,
            ),
            (
                "wal_failing",
                "1 while the write-ahead log refuses every append: an fsync failed and it could not yet cut back what that fsync left undecided (see /readyz).",
                u64::from(metrics.failing),
            ),
        ] {
            ConstGauge::new(value as i64).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
        for (name, help, value) in [
            (
                "wal_appends",
                "Pushed bodies appended to the write-ahead log.",
                metrics.appends,
            ),
            (
                "wal_appended_bytes",
                "Bytes appended to the write-ahead log.",
                metrics.appended_bytes,
            ),
            (
                "wal_fsyncs",
                "fsyncs of the write-ahead log (one per group of concurrent appends).",
                metrics.fsyncs,
            ),
            (
                "wal_duplicate_events",
                "Pushed events dropped at append because the log held them already (retries).",
                metrics.duplicate_keys,
            ),
            (
                "wal_refused_full",
                "Appends refused (503) because wal.max_pending_bytes were not yet committed.",
                metrics.refused_full,
            ),
            (
                "wal_refused_disk_full",
                "Appends refused (503) because the disk was full.",
                metrics.refused_disk_full,
            ),
            (
                "wal_fsync_failures",
                "fsyncs of the write-ahead log that failed; the appends they covered were answered 503 and taken back.",
                metrics.sync_failures,
            ),
        ] {
            ConstCounter::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Counter,
            )?)?;
        }
        Ok(())
    }
}

/// The Kafka sources' figures in `/metrics`, added once the sources start.
#[derive(Debug, Clone, Default)]
pub struct KafkaMetrics {
    sources: Arc<Mutex<Vec<ingest::KafkaMetricsHandle>>>,
}

impl KafkaMetrics {
    /// Exports `source`'s figures from now on.
    pub fn add(&self, source: ingest::KafkaMetricsHandle) {
        self.sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(source);
    }
}

/// Adds the Kafka sources' figures (`kubetrail_kafka_*`: messages, messages/s, consumer lag per
/// partition) to `registry`, read at scrape time from the sources added to the result.
pub fn register_kafka(registry: &mut Registry) -> KafkaMetrics {
    let metrics = KafkaMetrics::default();
    registry.register_collector(Box::new(metrics.clone()));
    metrics
}

impl Collector for KafkaMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let sources = self
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if sources.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "kafka_messages_per_second",
            "Kafka messages read per second over the last 10 s, by consumer group.",
            None,
            MetricType::Gauge,
        )?;
        for source in &sources {
            ConstGauge::new(source.messages_per_second())
                .encode(family.encode_family(&[("group", source.group())])?)?;
        }
        let partitions: Vec<_> = sources
            .iter()
            .flat_map(|source| {
                source
                    .partitions()
                    .into_iter()
                    .map(move |((topic, partition), metrics)| {
                        (source.group(), topic, partition.to_string(), metrics)
                    })
            })
            .collect();
        let mut family = encoder.encode_descriptor(
            "kafka_messages",
            "Kafka messages read (dead letters included), by partition.",
            None,
            MetricType::Counter,
        )?;
        for (group, topic, partition, metrics) in &partitions {
            let labels = [
                ("group", *group),
                ("topic", topic.as_str()),
                ("partition", partition.as_str()),
            ];
            ConstCounter::new(metrics.messages).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "kafka_consumer_lag",
            "Messages in an assigned partition not read yet (high watermark minus next offset).",
            None,
            MetricType::Gauge,
        )?;
        for (group, topic, partition, metrics) in &partitions {
            let Some(lag) = metrics.lag() else {
                continue;
            };
            let labels = [
                ("group", *group),
                ("topic", topic.as_str()),
                ("partition", partition.as_str()),
            ];
            ConstGauge::new(lag).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}
