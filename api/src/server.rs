//! Serving the router over plain HTTP or HTTPS (rustls), until cancelled.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::PeerCertificate;
use crate::{ApiError, ApiState, TlsConfig, router};

/// A running API server.
#[derive(Debug)]
pub struct RunningApi {
    pub state: ApiState,
    /// Where it listens (the port chosen when `api.listen` has port 0).
    pub address: SocketAddr,
    /// Ends once the server stopped after `cancel`.
    pub task: JoinHandle<()>,
}

/// Binds `api.listen` and serves `state` until `cancel` fires; a server that fails cancels
/// `cancel`, so the rest of the process stops too.
pub async fn start(state: ApiState, cancel: CancellationToken) -> Result<RunningApi, ApiError> {
    let config = &state.inner.config;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ApiError::Listen {
            address: config.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(|source| ApiError::Listen {
        address: config.listen,
        source,
    })?;
    let tls = config.tls.clone();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let task = tokio::spawn({
        let state = state.clone();
        async move {
            if let Err(error) = serve(listener, state.clone(), tls.as_ref(), cancel.clone()).await {
                tracing::error!(%error, "the API server stopped");
                cancel.cancel();
            }
            // The posture state is kept for the next start.
            state.save_posture().await;
        }
    });
    tracing::info!(%address, "query API listening on {scheme}://{address}/api/v1");
    Ok(RunningApi {
        state,
        address,
        task,
    })
}

/// Serves the API on `listener` until `cancel` fires; HTTPS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    tls: Option<&TlsConfig>,
    cancel: CancellationToken,
) -> Result<(), ApiError> {
    let shutdown = state.inner.shutdown.clone();
    tokio::spawn({
        let cancel = cancel.clone();
        async move {
            cancel.cancelled().await;
            shutdown.cancel();
        }
    });
    let app = router(state);
    let Some(tls) = tls else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await
            .map_err(|error| ApiError::internal(format!("the API server failed: {error}")));
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(tls)?));
    loop {
        let (stream, peer) = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(stream).await {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
            };
            // The verified client certificate (if any) goes on every request of the connection.
            let certificate = stream.get_ref().1.peer_certificates().and_then(|chain| {
                chain
                    .first()
                    .map(|leaf| Arc::new(peer_certificate(leaf.as_ref())))
            });
            let service = TowerToHyperService::new(tower::ServiceExt::map_request(
                app,
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    if let Some(certificate) = &certificate {
                        request
                            .extensions_mut()
                            .insert(PeerCertificate::clone(certificate));
                    }
                    request
                },
            ));
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                }
                () = cancel.cancelled() => connection.as_mut().graceful_shutdown(),
            }
        });
    }
}

/// The names a client certificate goes by: its subject common names, then its DNS subject
/// alternative names. Only called on certificates rustls verified against `client_ca`; one
/// whose names cannot be read goes by none, so it matches no `[[api.ingest_certificates]]`.
fn peer_certificate(der: &[u8]) -> PeerCertificate {
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    let mut names = Vec::new();
    if let Ok(certificate) = x509_cert::Certificate::from_der(der) {
        let tbs = certificate.tbs_certificate();
        for attribute in tbs.subject().iter() {
            if attribute.oid == x509_cert::der::oid::db::rfc4519::COMMON_NAME
                && let Ok(name) =
                    x509_cert::ext::pkix::name::DirectoryString::try_from(&attribute.value)
            {
                names.push(name.value().into_owned());
            }
        }
        if let Ok(Some((_, SubjectAltName(alternatives)))) = tbs.get_extension::<SubjectAltName>() {
            for name in alternatives {
                if let GeneralName::DnsName(dns) = name {
                    names.push(dns.to_string());
                }
            }
        }
    }
    PeerCertificate { names }
}

/// The roots client certificates must chain to.
fn client_roots(path: &std::path::Path) -> Result<rustls::RootCertStore, ApiError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(path).map_err(|error| {
        ApiError::Tls(format!(
            "cannot read the client CA {}: {error}",
            path.display()
        ))
    })? {
        let certificate = certificate.map_err(|error| {
            ApiError::Tls(format!(
                "cannot read the client CA {}: {error}",
                path.display()
            ))
        })?;
        roots.add(certificate).map_err(|error| {
            ApiError::Tls(format!(
                "unusable client CA certificate in {}: {error}",
                path.display()
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(ApiError::Tls(format!(
            "no certificate in the client CA {}",
            path.display()
        )));
    }
    Ok(roots)
}

/// The rustls configuration from PEM files: the certificate chain and its private key, and
/// the authorities of client certificates when `client_ca` is set.
fn server_config(tls: &TlsConfig) -> Result<rustls::ServerConfig, ApiError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(Iterator::collect)
        .map_err(|error| {
            ApiError::Tls(format!(
                "cannot read the certificate {}: {error}",
                tls.cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(ApiError::Tls(format!(
            "no certificate in {}",
            tls.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|error| {
        ApiError::Tls(format!(
            "cannot read the key {}: {error}",
            tls.key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| ApiError::Tls(format!("setup failed: {error}")))?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            // Clients without a certificate are still served (browsers, query tokens); a
            // certificate that is presented must be valid.
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(client_roots(path)?),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|error| {
                ApiError::Tls(format!(
                    "the client CA {} is unusable: {error}",
                    path.display()
                ))
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|error| ApiError::Tls(format!("the certificate or key is unusable: {error}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
