//! Alert sinks of the first version: JSON lines on standard output, a JSON-lines file, and a
//! callback (used by `demo` to show alerts as they fire).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};

use anyhow::Context;
use event::Alert;

use crate::config::AlertsConfig;

/// Called with each alert as it is delivered.
pub type AlertCallback = Box<dyn FnMut(&Alert) + Send>;

/// Every place alerts are delivered to, besides the store.
#[derive(Default)]
pub struct AlertSinks {
    stdout: bool,
    file: Option<BufWriter<File>>,
    callback: Option<AlertCallback>,
}

impl AlertSinks {
    /// Opens the sinks named by the configuration.
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
        })
    }

    /// Adds a callback that sees every alert.
    pub fn with_callback(mut self, callback: AlertCallback) -> AlertSinks {
        self.callback = Some(callback);
        self
    }

    /// Delivers a batch of alerts to every sink; files are flushed before returning.
    pub fn deliver(&mut self, alerts: &[Alert]) -> anyhow::Result<()> {
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
