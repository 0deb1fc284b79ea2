//! The kubelet port's TLS: its serving certificate and key (given with
//! `--kubelet-cert/--kubelet-key`, or issued through a `kubelet-serving`
//! CSR), client certificates verified against `--client-ca` (optional at
//! the TLS layer so that bearer-token callers can reach the
//! authentication step, which then requires one or the other). ring only.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{NodeError, Result};

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| NodeError::io("reading", path, e))
}

fn tls(e: impl std::fmt::Display) -> NodeError {
    NodeError::Tls(e.to_string())
}

/// A rustls server configuration; `cert` and `key` may be the same file
/// (the kubelet's `kubelet-server-current.pem` holds both).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| tls(format!("{}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(tls(format!("{}: no certificate", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| tls(format!("{}: {e}", key.display())))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls)?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&read(ca)?) {
                roots
                    .add(c.map_err(|e| tls(format!("{}: {e}", ca.display())))?)
                    .map_err(|e| tls(format!("{}: {e}", ca.display())))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(tls)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_single_cert(chain, key).map_err(tls)?;
    // HTTP/1.1 only: the API server upgrades exec/attach/port-forward
    // connections, which HTTP/2 cannot carry.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}
