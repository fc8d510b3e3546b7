//! Where alerts go besides the `alerts` table: JSON lines on standard output and to a file
//! (written before the batch moves on), the configured `[[alerts.sinks]]` (webhook, Slack,
//! Alertmanager... through the durable outbox of the `sinks` crate, so a destination that is
//! down or a restart loses nothing), and a callback (`demo`, `bench latency`).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use event::Alert;

use crate::config::AlertsConfig;

/// Called with each alert as it is delivered.
pub type AlertCallback = Box<dyn FnMut(&Alert) + Send>;

/// How long a clean shutdown waits for the outbox to deliver what it holds.
const DRAIN_ON_SHUTDOWN: Duration = Duration::from_secs(10);

/// Every place alerts are delivered to, besides the store.
#[derive(Default)]
pub struct AlertSinks {
    stdout: bool,
    file: Option<BufWriter<File>>,
    callback: Option<AlertCallback>,
    outbox: Option<sinks::Outbox>,
}

impl AlertSinks {
    /// Opens the sinks named by the configuration; the outbox of `[[alerts.sinks]]` lives in
    /// `outbox_dir`.
    pub async fn open_with_outbox(
        config: &AlertsConfig,
        outbox_dir: &Path,
    ) -> anyhow::Result<AlertSinks> {
        let mut sinks = AlertSinks::open(config)?;
        if !config.sinks.is_empty() {
            let outbox = sinks::Outbox::open(outbox_dir, &config.sinks)
                .await
                .with_context(|| {
                    format!("failed to open the alert outbox {}", outbox_dir.display())
                })?;
            sinks.outbox = Some(outbox);
        }
        Ok(sinks)
    }

    /// Waits (a bounded time) for the outbox to deliver what it holds, then stops it. What is
    /// left is delivered after the next start.
    pub async fn close(self) {
        let Some(outbox) = self.outbox else {
            return;
        };
        if let Err(error) = outbox.drain(DRAIN_ON_SHUTDOWN).await {
            tracing::warn!(%error, "alerts not yet delivered stay in the outbox for the next start");
        }
        for (name, metrics) in outbox.metrics() {
            tracing::info!(
                sink = %name,
                delivered = metrics.delivered,
                failed_attempts = metrics.failed_attempts,
                pending = metrics.pending,
                "alert sink totals"
            );
        }
        if let Err(error) = outbox.shutdown(DRAIN_ON_SHUTDOWN).await {
            tracing::warn!(%error, "alert outbox did not stop cleanly");
        }
    }

    /// Opens the local sinks (stdout, file) named by the configuration.
    pub fn open(config: &AlertsConfig) -> anyhow::Result<AlertSinks> {
        let file = match &config.file {
            Some(path) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("failed to open alert file {}", path.display()))?;
                Some(BufWriter::new(file))
            }
            None => None,
        };
        Ok(AlertSinks {
            stdout: config.stdout,
            file,
            callback: None,
            outbox: None,
        })
    }

    /// Adds a callback that sees every alert.
    pub fn with_callback(mut self, callback: AlertCallback) -> AlertSinks {
        self.callback = Some(callback);
        self
    }

    /// Delivery counters of the outbox's sinks (none without `[[alerts.sinks]]`).
    pub fn metrics(&self) -> Vec<(String, sinks::SinkMetrics)> {
        self.outbox
            .as_ref()
            .map(sinks::Outbox::metrics)
            .unwrap_or_default()
    }

    /// Delivers a batch of alerts: local sinks are written and flushed, remote ones are
    /// durably queued in the outbox, before returning.
    pub async fn deliver(&mut self, alerts: &[Alert]) -> anyhow::Result<()> {
        self.deliver_local(alerts)?;
        if let Some(outbox) = &self.outbox
            && !alerts.is_empty()
        {
            outbox
                .enqueue(alerts)
                .await
                .context("failed to queue alerts in the outbox")?;
        }
        Ok(())
    }

    fn deliver_local(&mut self, alerts: &[Alert]) -> anyhow::Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        if self.stdout {
            let mut out = std::io::stdout().lock();
            write_json_lines(&mut out, alerts).context("failed to write alerts to stdout")?;
        }
        if let Some(file) = &mut self.file {
            write_json_lines(file, alerts).context("failed to write alerts to the alert file")?;
        }
        if let Some(callback) = &mut self.callback {
            alerts.iter().for_each(callback);
        }
        Ok(())
    }
}

/// Writes alerts as JSON lines (the alert JSON contract) and flushes.
pub fn write_json_lines(out: &mut impl Write, alerts: &[Alert]) -> std::io::Result<()> {
    for alert in alerts {
        serde_json::to_writer(&mut *out, alert)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
