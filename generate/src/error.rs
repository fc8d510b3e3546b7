//! Errors of the `generate` crate.

/// What failed while generating traffic.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("events per second must be a positive finite number, got {events_per_second}")]
    InvalidRate { events_per_second: f64 },
    #[error("failed to write generated events")]
    WriteEvents {
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write attack labels")]
    WriteLabels {
        #[source]
        source: std::io::Error,
    },
}
