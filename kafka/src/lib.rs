//! The settings every Kafka client of kubetrail needs (the source's consumers and the alert
//! sink's producers): bootstrap brokers, a client id, TLS and SASL, validated once and turned
//! into a librdkafka configuration.
//!
//! TLS and SASL are optional tables; which of them are present gives librdkafka's
//! `security.protocol` (`plaintext`, `ssl`, `sasl_plaintext`, `sasl_ssl`). Secret values are
//! never in the configuration file: the SASL password is read from a file or an environment
//! variable when the client is built, and no error, log line or `Debug` output shows it.

use std::path::PathBuf;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// Why a client's settings are unusable. Never holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{reason}")]
    Invalid { reason: String },
    #[error("failed to read the SASL password file {path}: {source}")]
    ReadPassword {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the environment variable {variable} (sasl.password_env) is not set")]
    PasswordUnset { variable: String },
}

/// TLS to the brokers (`tls = { ... }`); present, even empty, means TLS with the system's CA
/// certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// CA certificates (PEM) to verify the brokers with, instead of the system's.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, with `key`.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM, unencrypted) for mutual TLS, with `cert`.
    #[serde(default)]
    pub key: Option<PathBuf>,
}

/// SASL authentication (`sasl = { ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    /// A file holding the password (a trailing newline is ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
}

/// librdkafka's `sasl.mechanism`: the ones built in without Cyrus SASL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// What a client connects with, borrowed from a source's or a sink's table.
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    /// Bootstrap brokers, `host:port`.
    pub brokers: &'a [String],
    pub client_id: &'a str,
    pub tls: Option<&'a Tls>,
    pub sasl: Option<&'a Sasl>,
}

impl<'a> Connection<'a> {
    pub fn new(
        brokers: &'a [String],
        client_id: &'a str,
        tls: Option<&'a Tls>,
        sasl: Option<&'a Sasl>,
    ) -> Connection<'a> {
        Connection {
            brokers,
            client_id,
            tls,
            sasl,
        }
    }

    /// librdkafka's `security.protocol` for the tables present.
    pub fn security_protocol(&self) -> &'static str {
        match (self.sasl.is_some(), self.tls.is_some()) {
            (false, false) => "plaintext",
            (false, true) => "ssl",
            (true, false) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        }
    }

    /// Checks what serde cannot; the reason names the key at fault.
    pub fn validate(&self) -> Result<(), ClientError> {
        let invalid = |reason: String| Err(ClientError::Invalid { reason });
        if self.brokers.is_empty() {
            return invalid("brokers is empty".to_owned());
        }
        for broker in self.brokers {
            let valid = broker
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid || broker.contains(',') || broker.contains(char::is_whitespace) {
                return invalid(format!("broker {broker:?} is not host:port"));
            }
        }
        if self.client_id.trim().is_empty() {
            return invalid("client_id is empty".to_owned());
        }
        if let Some(sasl) = self.sasl {
            if sasl.username.is_empty() {
                return invalid("sasl.username is empty".to_owned());
            }
            match (&sasl.password_file, &sasl.password_env) {
                (Some(_), None) => {}
                (None, Some(variable)) if !variable.is_empty() => {}
                _ => {
                    return invalid(
                        "give exactly one of sasl.password_file and sasl.password_env".to_owned(),
                    );
                }
            }
        }
        if let Some(tls) = self.tls
            && tls.cert.is_some() != tls.key.is_some()
        {
            return invalid("tls.cert and tls.key go together".to_owned());
        }
        Ok(())
    }

    /// The librdkafka configuration: brokers, client id, security protocol, TLS files and
    /// SASL credentials (the password read now). Never print it: it holds the password.
    pub fn client_config(&self) -> Result<ClientConfig, ClientError> {
        self.validate()?;
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.brokers.join(","))
            .set("client.id", self.client_id)
            .set("security.protocol", self.security_protocol());
        if let Some(tls) = self.tls {
            for (key, path) in [
                ("ssl.ca.location", &tls.ca),
                ("ssl.certificate.location", &tls.cert),
                ("ssl.key.location", &tls.key),
            ] {
                if let Some(path) = path {
                    config.set(key, path.display().to_string());
                }
            }
        }
        if let Some(sasl) = self.sasl {
            config
                .set("sasl.mechanism", sasl.mechanism.as_str())
                .set("sasl.username", &sasl.username)
                .set("sasl.password", read_password(sasl)?);
        }
        Ok(config)
    }
}

fn read_password(sasl: &Sasl) -> Result<String, ClientError> {
    if let Some(path) = &sasl.password_file {
        let text = std::fs::read_to_string(path).map_err(|source| ClientError::ReadPassword {
            path: path.clone(),
            source,
        })?;
        return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
    }
    let variable = sasl.password_env.clone().unwrap_or_default();
    std::env::var(&variable).map_err(|_| ClientError::PasswordUnset { variable })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection<'a>(
        brokers: &'a [String],
        tls: Option<&'a Tls>,
        sasl: Option<&'a Sasl>,
    ) -> Connection<'a> {
        Connection::new(brokers, "kubetrail", tls, sasl)
    }

    fn reason(connection: Connection<'_>) -> String {
        match connection.validate() {
            Err(ClientError::Invalid { reason }) => reason,
            other => panic!("expected invalid settings, got {other:?}"),
        }
    }

    #[test]
    fn the_tables_present_give_the_security_protocol() {
        let brokers = ["k:9092".to_owned()];
        let tls = Tls::default();
        let sasl: Sasl = toml::from_str(
            "mechanism = \"SCRAM-SHA-512\"\nusername = \"u\"\npassword_env = \"KUBETRAIL_TEST_UNSET_PASSWORD\"\n",
        )
        .unwrap();
        assert_eq!(
            connection(&brokers, None, None).security_protocol(),
            "plaintext"
        );
        assert_eq!(
            connection(&brokers, Some(&tls), None).security_protocol(),
            "ssl"
        );
        assert_eq!(
            connection(&brokers, None, Some(&sasl)).security_protocol(),
            "sasl_plaintext"
        );
        assert_eq!(
            connection(&brokers, Some(&tls), Some(&sasl)).security_protocol(),
            "sasl_ssl"
        );
        // An unset variable is an error naming the variable, not the value.
        let error = connection(&brokers, None, Some(&sasl))
            .client_config()
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            "the environment variable KUBETRAIL_TEST_UNSET_PASSWORD (sasl.password_env) is not set"
        );
    }

    #[test]
    fn the_password_file_is_read_without_its_newline() {
        let dir = std::env::temp_dir().join(format!("kafka-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("password");
        std::fs::write(&path, "s3cret\n").unwrap();
        let brokers = ["k:9092".to_owned()];
        let sasl = Sasl {
            mechanism: SaslMechanism::Plain,
            username: "u".to_owned(),
            password_file: Some(path),
            password_env: None,
        };
        let config = connection(&brokers, None, Some(&sasl))
            .client_config()
            .unwrap();
        assert_eq!(config.get("sasl.password"), Some("s3cret"));
        assert_eq!(config.get("sasl.mechanism"), Some("PLAIN"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn invalid_settings_name_the_key() {
        let empty: [String; 0] = [];
        assert_eq!(reason(connection(&empty, None, None)), "brokers is empty");
        let bad = ["kafka".to_owned()];
        assert_eq!(
            reason(connection(&bad, None, None)),
            "broker \"kafka\" is not host:port"
        );
        let brokers = ["k:1".to_owned()];
        let sasl = Sasl {
            mechanism: SaslMechanism::Plain,
            username: "u".to_owned(),
            password_file: None,
            password_env: None,
        };
        assert_eq!(
            reason(connection(&brokers, None, Some(&sasl))),
            "give exactly one of sasl.password_file and sasl.password_env"
        );
        let tls = Tls {
            cert: Some("/c.pem".into()),
            ..Tls::default()
        };
        assert_eq!(
            reason(connection(&brokers, Some(&tls), None)),
            "tls.cert and tls.key go together"
        );
        assert!(toml::from_str::<Tls>("ca = \"/ca\"\ncrt = \"/c\"\n").is_err());
        assert!(toml::from_str::<Sasl>("mechanism = \"GSSAPI\"\nusername = \"u\"\n").is_err());
    }
}
