//! Who is calling: bearer tokens from the configuration, kept as SHA-256 hashes, each with a
//! role and an optional restriction to namespaces and clusters.
//!
//! A presented token is hashed and looked up; the plain token is never stored or logged. The
//! lookup compares hashes of a 256-bit secret, so its timing tells a caller nothing useful.

use std::collections::HashMap;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::ApiError;

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Search, events, timelines, object history, live tail, alerts, metrics.
    Viewer,
    /// Viewer, plus SQL, exports (CSV, NDJSON) and acknowledging alerts.
    Analyst,
    /// Analyst, plus rules and configuration.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

/// One `[[api.tokens]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds the token; appears in the query log and in acknowledgements.
    pub name: String,
    /// Hex SHA-256 of the token (`kubetrail token` prints one; or `printf %s TOKEN | sha256sum`).
    pub sha256: String,
    pub role: Role,
    /// Only events and alerts of these namespaces are visible (cluster-scoped ones are not).
    #[serde(default)]
    pub namespaces: Option<Vec<String>>,
    /// Only events and alerts of these clusters are visible.
    #[serde(default)]
    pub clusters: Option<Vec<String>>,
}

/// One `[[api.ingest_tokens]]` entry: a credential for the ingest routes only.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestTokenConfig {
    pub name: String,
    pub sha256: String,
    /// The cluster the pushed events come from (audit events do not name one).
    pub cluster: String,
}

/// One `[[api.ingest_certificates]]` entry: a client certificate that may call the ingest
/// routes without a token (the API server's webhook kubeconfig can present one). The
/// certificate must chain to `api.tls.client_ca`; this entry says which one it is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestCertificateConfig {
    pub name: String,
    /// The certificate's subject common name (CN), or one of its DNS subject alternative names.
    pub subject: String,
    /// The cluster the pushed events come from.
    pub cluster: String,
}

/// The names of the verified client certificate of a TLS connection: its subject common
/// names and DNS subject alternative names. The server puts it on every request of the
/// connection; plain HTTP requests never carry one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    pub names: Vec<String>,
}

/// An authenticated caller of the ingest routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestClient {
    pub name: String,
    pub cluster: String,
}

/// What a caller is restricted to; `None` means no restriction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scope {
    pub namespaces: Option<Vec<String>>,
    pub clusters: Option<Vec<String>>,
}

impl Scope {
    pub fn is_unrestricted(&self) -> bool {
        self.namespaces.is_none() && self.clusters.is_none()
    }

    /// Whether an event or alert with this cluster and namespace is visible.
    pub fn allows(&self, cluster: &str, namespace: Option<&str>) -> bool {
        self.clusters
            .as_ref()
            .is_none_or(|clusters| clusters.iter().any(|c| c == cluster))
            && self.namespaces.as_ref().is_none_or(|namespaces| {
                namespace.is_some_and(|namespace| namespaces.iter().any(|n| n == namespace))
            })
    }

    pub fn to_search(&self) -> search::Scope {
        search::Scope {
            namespaces: self.namespaces.clone(),
            clusters: self.clusters.clone(),
        }
    }
}

/// An authenticated caller of the query routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    pub scope: Scope,
}

impl Principal {
    /// 403 unless the caller's role includes `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role; token {:?} has {}",
                role.as_str(),
                self.name,
                self.role.as_str()
            )))
        }
    }
}

/// The token tables, by hash.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: HashMap<[u8; 32], Principal>,
    ingest: HashMap<[u8; 32], IngestClient>,
    /// Ingest callers by client certificate subject.
    certificates: HashMap<String, IngestClient>,
}

/// The hash of a token's configuration entry.
fn parse_hash(name: &str, hex: &str) -> Result<[u8; 32], ApiError> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(format!(
            "token {name:?}: sha256 must be 64 hex digits (the SHA-256 of the token, not the token)"
        )));
    }
    let mut hash = [0u8; 32];
    for (index, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[index * 2..index * 2 + 2], 16)
            .map_err(|_| invalid(format!("token {name:?}: sha256 is not hex")))?;
    }
    Ok(hash)
}

fn invalid(reason: String) -> ApiError {
    ApiError::InvalidConfig(reason)
}

impl Auth {
    /// Builds the tables; refuses malformed hashes, duplicate names, hashes or subjects, and
    /// empty scopes or clusters.
    pub fn new(
        tokens: &[TokenConfig],
        ingest: &[IngestTokenConfig],
        certificates: &[IngestCertificateConfig],
    ) -> Result<Auth, ApiError> {
        let mut auth = Auth::default();
        let mut names = std::collections::HashSet::new();
        for token in tokens {
            if !names.insert(token.name.as_str()) {
                return Err(invalid(format!(
                    "token name {:?} is used twice",
                    token.name
                )));
            }
            for (what, list) in [
                ("namespaces", &token.namespaces),
                ("clusters", &token.clusters),
            ] {
                if list.as_ref().is_some_and(Vec::is_empty) {
                    return Err(invalid(format!(
                        "token {:?}: {what} = [] would show nothing; leave it out for no restriction",
                        token.name
                    )));
                }
            }
            let hash = parse_hash(&token.name, &token.sha256)?;
            let principal = Principal {
                name: token.name.clone(),
                role: token.role,
                scope: Scope {
                    namespaces: token.namespaces.clone(),
                    clusters: token.clusters.clone(),
                },
            };
            if auth.tokens.insert(hash, principal).is_some() {
                return Err(invalid(format!(
                    "token {:?}: the same hash is used twice",
                    token.name
                )));
            }
        }
        for token in ingest {
            if !names.insert(token.name.as_str()) {
                return Err(invalid(format!(
                    "token name {:?} is used twice",
                    token.name
                )));
            }
            let hash = parse_hash(&token.name, &token.sha256)?;
            if token.cluster.trim().is_empty() {
                return Err(invalid(format!(
                    "ingest token {:?}: cluster is empty",
                    token.name
                )));
            }
            let client = IngestClient {
                name: token.name.clone(),
                cluster: token.cluster.clone(),
            };
            if auth.tokens.contains_key(&hash) || auth.ingest.insert(hash, client).is_some() {
                return Err(invalid(format!(
                    "ingest token {:?}: its hash is used by another token",
                    token.name
                )));
            }
        }
        for certificate in certificates {
            if !names.insert(certificate.name.as_str()) {
                return Err(invalid(format!(
                    "name {:?} is used twice",
                    certificate.name
                )));
            }
            if certificate.cluster.trim().is_empty() || certificate.subject.trim().is_empty() {
                return Err(invalid(format!(
                    "ingest certificate {:?}: subject and cluster must not be empty",
                    certificate.name
                )));
            }
            let client = IngestClient {
                name: certificate.name.clone(),
                cluster: certificate.cluster.clone(),
            };
            if auth
                .certificates
                .insert(certificate.subject.clone(), client)
                .is_some()
            {
                return Err(invalid(format!(
                    "ingest certificate {:?}: subject {:?} is named by another entry",
                    certificate.name, certificate.subject
                )));
            }
        }
        Ok(auth)
    }

    /// Adds a token at run time (`demo` makes one up).
    pub fn add(&mut self, token: &str, principal: Principal) {
        self.tokens.insert(digest(token), principal);
    }

    /// The caller of a query route, from `Authorization: Bearer <token>`.
    pub fn principal(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let token = bearer(headers)?;
        self.tokens
            .get(&digest(token))
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))
    }

    /// The principal a token stands for, if it is a query token.
    pub fn principal_of_token(&self, token: &str) -> Option<Principal> {
        self.tokens.get(&digest(token)).cloned()
    }

    /// The caller of an ingest route: by its bearer token when it sends one, else by the
    /// verified client certificate of its connection.
    pub fn ingest_client(
        &self,
        headers: &HeaderMap,
        peer: Option<&PeerCertificate>,
    ) -> Result<IngestClient, ApiError> {
        if let Some(peer) = peer
            && !headers.contains_key(axum::http::header::AUTHORIZATION)
        {
            return peer
                .names
                .iter()
                .find_map(|name| self.certificates.get(name))
                .cloned()
                .ok_or_else(|| {
                    ApiError::unauthorized(format!(
                        "the client certificate ({}) is not an ingest certificate",
                        peer.names.join(", ")
                    ))
                });
        }
        let token = bearer(headers)?;
        self.ingest
            .get(&digest(token))
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("not an ingest token"))
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <token>"))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::unauthorized(
            "expected Authorization: Bearer <token>",
        ));
    }
    Ok(token)
}

pub(crate) fn digest(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest.as_ref());
    hash
}

/// The hex SHA-256 of a token, as the configuration wants it.
pub fn hash_token(token: &str) -> String {
    digest(token).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token: 32 bytes from the system's secure generator, hex.
pub fn generate_token() -> Result<String, ApiError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ApiError::internal("no secure random numbers available"))?;
    Ok(format!(
        "kt_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str, token: &str, role: Role) -> TokenConfig {
        TokenConfig {
            name: name.to_owned(),
            sha256: hash_token(token),
            role,
            namespaces: None,
            clusters: None,
        }
    }

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn tokens_are_found_by_hash_and_roles_order() {
        let auth = Auth::new(&[config("a", "secret-a", Role::Analyst)], &[], &[]).unwrap();
        let principal = auth.principal(&headers("Bearer secret-a")).unwrap();
        assert_eq!(principal.role, Role::Analyst);
        assert!(principal.require(Role::Viewer).is_ok());
        assert!(principal.require(Role::Analyst).is_ok());
        assert_eq!(
            principal
                .require(Role::Admin)
                .unwrap_err()
                .status()
                .as_u16(),
            403
        );
        for bad in ["Bearer nope", "Basic secret-a", "Bearer ", "secret-a"] {
            assert_eq!(
                auth.principal(&headers(bad)).unwrap_err().status().as_u16(),
                401
            );
        }
        assert_eq!(
            auth.principal(&HeaderMap::new())
                .unwrap_err()
                .status()
                .as_u16(),
            401
        );
    }

    #[test]
    fn ingest_tokens_are_separate() {
        let auth = Auth::new(
            &[config("a", "secret-a", Role::Admin)],
            &[IngestTokenConfig {
                name: "apiserver".to_owned(),
                sha256: hash_token("ingest-secret"),
                cluster: "prod".to_owned(),
            }],
            &[],
        )
        .unwrap();
        assert!(auth.principal(&headers("Bearer ingest-secret")).is_err());
        assert!(
            auth.ingest_client(&headers("Bearer secret-a"), None)
                .is_err()
        );
        assert_eq!(
            auth.ingest_client(&headers("Bearer ingest-secret"), None)
                .unwrap(),
            IngestClient {
                name: "apiserver".to_owned(),
                cluster: "prod".to_owned()
            }
        );
    }

    #[test]
    fn client_certificates_are_found_by_subject_and_a_token_wins() {
        let auth = Auth::new(
            &[],
            &[IngestTokenConfig {
                name: "token".to_owned(),
                sha256: hash_token("ingest-secret"),
                cluster: "dev".to_owned(),
            }],
            &[IngestCertificateConfig {
                name: "apiserver".to_owned(),
                subject: "kube-apiserver-audit".to_owned(),
                cluster: "prod".to_owned(),
            }],
        )
        .unwrap();
        let known = PeerCertificate {
            names: vec![
                "other.example".to_owned(),
                "kube-apiserver-audit".to_owned(),
            ],
        };
        let stranger = PeerCertificate {
            names: vec!["someone".to_owned()],
        };
        let by_certificate = auth.ingest_client(&HeaderMap::new(), Some(&known)).unwrap();
        assert_eq!(
            (
                by_certificate.name.as_str(),
                by_certificate.cluster.as_str()
            ),
            ("apiserver", "prod")
        );
        let error = auth
            .ingest_client(&HeaderMap::new(), Some(&stranger))
            .unwrap_err();
        assert_eq!(error.status().as_u16(), 401);
        assert!(error.to_string().contains("someone"), "{error}");
        assert!(auth.ingest_client(&HeaderMap::new(), None).is_err());
        // A token sent over a connection with a certificate is what counts.
        let by_token = auth
            .ingest_client(&headers("Bearer ingest-secret"), Some(&known))
            .unwrap();
        assert_eq!(by_token.cluster, "dev");
        assert!(
            auth.ingest_client(&headers("Bearer wrong"), Some(&known))
                .is_err()
        );
        let twice = IngestCertificateConfig {
            name: "again".to_owned(),
            subject: "kube-apiserver-audit".to_owned(),
            cluster: "prod".to_owned(),
        };
        let first = IngestCertificateConfig {
            name: "first".to_owned(),
            ..twice.clone()
        };
        assert!(Auth::new(&[], &[], &[first, twice]).is_err());
        let empty = IngestCertificateConfig {
            name: "empty".to_owned(),
            subject: " ".to_owned(),
            cluster: "prod".to_owned(),
        };
        assert!(Auth::new(&[], &[], &[empty]).is_err());
    }

    #[test]
    fn bad_configurations_are_refused() {
        let mut plain = config("a", "x", Role::Viewer);
        plain.sha256 = "not-a-hash".to_owned();
        assert!(Auth::new(&[plain], &[], &[]).is_err());
        let twice = [
            config("a", "x", Role::Viewer),
            config("a", "y", Role::Viewer),
        ];
        assert!(Auth::new(&twice, &[], &[]).is_err());
        let same_hash = [
            config("a", "x", Role::Viewer),
            config("b", "x", Role::Admin),
        ];
        assert!(Auth::new(&same_hash, &[], &[]).is_err());
        let mut empty = config("a", "x", Role::Viewer);
        empty.namespaces = Some(Vec::new());
        assert!(Auth::new(&[empty], &[], &[]).is_err());
    }

    #[test]
    fn scopes_hide_other_namespaces_and_cluster_scoped_objects() {
        let scope = Scope {
            namespaces: Some(vec!["team-a".to_owned()]),
            clusters: None,
        };
        assert!(scope.allows("c", Some("team-a")));
        assert!(!scope.allows("c", Some("team-b")));
        assert!(!scope.allows("c", None));
        let clusters = Scope {
            namespaces: None,
            clusters: Some(vec!["prod".to_owned()]),
        };
        assert!(clusters.allows("prod", None));
        assert!(!clusters.allows("dev", Some("x")));
    }

    #[test]
    fn generated_tokens_are_long_and_distinct() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert_eq!(hash_token("abc").len(), 64);
    }
}
