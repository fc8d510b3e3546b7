//! Where alerts go besides the `alerts` table (the `[alerts]` table of the configuration):
//! JSON lines on standard output and to a file (written before the batch moves on), the
//! configured `[[alerts.sinks]]` (webhook, Slack, Alertmanager... through the durable
//! [`Outbox`], so a destination that is down or a restart loses nothing), and a callback
//! (`demo`, `bench latency`).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use event::Alert;
use serde::Deserialize;

use crate::{Outbox, SinkConfig, SinkError, SinkMetrics};

/// The `[alerts]` table: where alerts go besides the `alerts` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Print each alert as a JSON line on standard output.
    #[serde(default)]
    pub stdout: bool,
    /// Append each alert as a JSON line to this file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Remote and other sinks, delivered through the durable outbox (`[[alerts.sinks]]`).
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// Where the outbox keeps undelivered alerts (default: `_outbox` in the data directory).
    #[serde(default)]
    pub outbox_dir: Option<PathBuf>,
}

impl AlertsConfig {
    /// Checks the sinks (names, URLs, secrets, file paths).
    pub fn validate(&self) -> Result<(), SinkError> {
        crate::validate_sinks(&self.sinks)
    }

    /// The outbox directory: `outbox_dir`, or `_outbox` in the data directory.
    pub fn outbox_dir(&self, data_dir: &Path) -> PathBuf {
        self.outbox_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("_outbox"))
    }
}

/// Called with each alert as it is delivered.
pub type AlertCallback = Box<dyn FnMut(&Alert) + Send>;

/// How long a clean shutdown waits for the outbox to deliver what it holds.
const DRAIN_ON_SHUTDOWN: Duration = Duration::from_secs(10);

/// Every place alerts are delivered to, besides the store.
#[derive(Default)]
pub struct AlertOutputs {
    stdout: bool,
    file: Option<(PathBuf, BufWriter<File>)>,
    callback: Option<AlertCallback>,
    outbox: Option<Outbox>,
}

impl std::fmt::Debug for AlertOutputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertOutputs")
            .field("stdout", &self.stdout)
            .field("file", &self.file.is_some())
            .field("callback", &self.callback.is_some())
            .field("outbox", &self.outbox)
            .finish()
    }
}

impl AlertOutputs {
    /// Opens the outputs named by the configuration; the outbox of `[[alerts.sinks]]` lives
    /// in `outbox_dir`. Must run inside a Tokio runtime when there are sinks.
    pub async fn open_with_outbox(
        config: &AlertsConfig,
        outbox_dir: &Path,
    ) -> Result<AlertOutputs, SinkError> {
        let mut outputs = AlertOutputs::open(config)?;
        if !config.sinks.is_empty() {
            outputs.outbox = Some(Outbox::open(outbox_dir, &config.sinks).await?);
        }
        Ok(outputs)
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

    /// Opens the local outputs (stdout, file) named by the configuration.
    pub fn open(config: &AlertsConfig) -> Result<AlertOutputs, SinkError> {
        let file = match &config.file {
            Some(path) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| SinkError::io("open the alert file", path, source))?;
                Some((path.clone(), BufWriter::new(file)))
            }
            None => None,
        };
        Ok(AlertOutputs {
            stdout: config.stdout,
            file,
            callback: None,
            outbox: None,
        })
    }

    /// Adds a callback that sees every alert.
    pub fn with_callback(mut self, callback: AlertCallback) -> AlertOutputs {
        self.callback = Some(callback);
        self
    }

    /// Reads the outbox's sink metrics while it runs (none without `[[alerts.sinks]]`).
    pub fn metrics_handle(&self) -> Option<crate::SinkMetricsHandle> {
        self.outbox.as_ref().map(Outbox::metrics_handle)
    }

    /// Delivery counters of the outbox's sinks (none without `[[alerts.sinks]]`).
    pub fn metrics(&self) -> Vec<(String, SinkMetrics)> {
        self.outbox
            .as_ref()
            .map(Outbox::metrics)
            .unwrap_or_default()
    }

    /// Delivers a batch of alerts: local sinks are written and flushed, remote ones are
    /// durably queued in the outbox, before returning.
    pub async fn deliver(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        self.deliver_local(alerts)?;
        if let Some(outbox) = &self.outbox
            && !alerts.is_empty()
        {
            outbox.enqueue(alerts).await?;
        }
        Ok(())
    }

    fn deliver_local(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        if alerts.is_empty() {
            return Ok(());
        }
        if self.stdout {
            let mut out = std::io::stdout().lock();
            write_json_lines(&mut out, alerts).map_err(SinkError::Stdout)?;
        }
        if let Some((path, file)) = &mut self.file {
            write_json_lines(file, alerts)
                .map_err(|source| SinkError::io("write alerts to", path.as_path(), source))?;
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
