//! The `[api]` table of the configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::ApiError;
use crate::auth::{Auth, IngestCertificateConfig, IngestTokenConfig, TokenConfig};

/// The HTTP API: where it listens, who may call it, and its limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Serve the API at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Bearer tokens of the query routes (`[[api.tokens]]`).
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// Bearer tokens of the ingest routes only (`[[api.ingest_tokens]]`).
    #[serde(default)]
    pub ingest_tokens: Vec<IngestTokenConfig>,
    /// Client certificates allowed on the ingest routes (`[[api.ingest_certificates]]`; needs
    /// `api.tls.client_ca`).
    #[serde(default)]
    pub ingest_certificates: Vec<IngestCertificateConfig>,
    /// A TOML file of more `[[tokens]]`, `[[ingest_tokens]]` and `[[ingest_certificates]]`
    /// (the entries above, without `api.`), appended to these at start-up: credentials kept
    /// apart from the configuration, e.g. in a Kubernetes Secret.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// Serve HTTPS with these PEM files (rustls).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Largest request body accepted (bytes).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Requests per second each token may make on average...
    #[serde(default = "default_rate")]
    pub rate_limit_per_second: u32,
    /// ...and in a burst.
    #[serde(default = "default_burst")]
    pub rate_limit_burst: u32,
    /// Rows one SQL answer returns at most (JSON); exports go up to `export_max_rows`.
    #[serde(default = "default_sql_max_rows")]
    pub sql_max_rows: usize,
    /// Wall time one SQL statement or search may take.
    #[serde(default = "default_query_timeout_secs")]
    pub query_timeout_secs: u64,
    /// Rows (or hits) one CSV/NDJSON export streams at most.
    #[serde(default = "default_export_max_rows")]
    pub export_max_rows: usize,
    /// The log of every query made through the API (default: `_api/queries.jsonl` in the data
    /// directory).
    #[serde(default)]
    pub query_log: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM certificates of the authorities whose client certificates are verified. When set,
    /// the server asks every client for a certificate; one that does not chain to these fails
    /// the handshake, and a client without one is served as before (tokens). A verified
    /// certificate is a credential only for the ingest routes named in
    /// `[[api.ingest_certificates]]`.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// The credentials file (`api.credentials_file`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    #[serde(default)]
    tokens: Vec<TokenConfig>,
    #[serde(default)]
    ingest_tokens: Vec<IngestTokenConfig>,
    #[serde(default)]
    ingest_certificates: Vec<IngestCertificateConfig>,
}

impl ApiConfig {
    /// Appends the entries of `credentials_file`, when set, to those of the table.
    pub fn load_credentials(&mut self) -> Result<(), ApiError> {
        let Some(path) = &self.credentials_file else {
            return Ok(());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ApiError::Io {
            action: "read api.credentials_file",
            path: path.clone(),
            source,
        })?;
        let credentials: Credentials = toml::from_str(&text).map_err(|error| {
            ApiError::InvalidConfig(format!(
                "api.credentials_file {}: {}",
                path.display(),
                error.message().trim().replace('\n', " ")
            ))
        })?;
        self.tokens.extend(credentials.tokens);
        self.ingest_tokens.extend(credentials.ingest_tokens);
        self.ingest_certificates
            .extend(credentials.ingest_certificates);
        Ok(())
    }
}

fn default_true() -> bool {
    true
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body_bytes() -> usize {
    32 * 1024 * 1024
}

fn default_rate() -> u32 {
    50
}

fn default_burst() -> u32 {
    100
}

fn default_sql_max_rows() -> usize {
    query::SqlLimits::DEFAULT_MAX_ROWS
}

fn default_query_timeout_secs() -> u64 {
    30
}

fn default_export_max_rows() -> usize {
    1_000_000
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: true,
            listen: default_listen(),
            tokens: Vec::new(),
            ingest_tokens: Vec::new(),
            ingest_certificates: Vec::new(),
            credentials_file: None,
            tls: None,
            max_body_bytes: default_max_body_bytes(),
            rate_limit_per_second: default_rate(),
            rate_limit_burst: default_burst(),
            sql_max_rows: default_sql_max_rows(),
            query_timeout_secs: default_query_timeout_secs(),
            export_max_rows: default_export_max_rows(),
            query_log: None,
        }
    }
}

impl ApiConfig {
    /// Checks everything that can be checked without IO; returns the token tables.
    pub fn validate(&self) -> Result<Auth, ApiError> {
        let invalid = |reason: &str| Err(ApiError::InvalidConfig(reason.to_owned()));
        if self.max_body_bytes < 1024 {
            return invalid("api.max_body_bytes must be at least 1024");
        }
        if self.rate_limit_per_second == 0 || self.rate_limit_burst == 0 {
            return invalid("api.rate_limit_per_second and api.rate_limit_burst must be positive");
        }
        if self.sql_max_rows == 0 || self.export_max_rows == 0 || self.query_timeout_secs == 0 {
            return invalid(
                "api.sql_max_rows, api.export_max_rows and api.query_timeout_secs must be positive",
            );
        }
        if !self.ingest_certificates.is_empty()
            && self.tls.as_ref().is_none_or(|tls| tls.client_ca.is_none())
        {
            return invalid(
                "api.ingest_certificates needs api.tls.client_ca: the authority that signs them",
            );
        }
        Auth::new(&self.tokens, &self.ingest_tokens, &self.ingest_certificates)
    }
}
