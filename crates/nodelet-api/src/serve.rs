//! Serving: HTTPS (rustls, ring only) on a TCP address and plain HTTP on a
//! unix socket, both with the same router. Connections carry how they were
//! authenticated into each request as a [`ConnAuth`] extension.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::auth::ConnAuth;
use crate::backend::Backend;
use crate::error::ApiError;
use crate::{kubeconfig, pki, routes};

/// Where and how to serve.
#[derive(Debug)]
pub struct ServeConfig {
    /// State directory: `<root>/pki/`, `<root>/kubeconfig` live here.
    pub root: PathBuf,
    /// HTTPS address; `None` serves the unix socket only.
    pub listen: Option<SocketAddr>,
    /// More HTTPS listeners, already bound (the pod bridge's address, where
    /// pods reach the `kubernetes` service). Not written to the kubeconfig.
    pub also_listen: Vec<std::net::TcpListener>,
    /// Unix socket path (mode 0600, no TLS); `None` for none.
    pub unix_socket: Option<PathBuf>,
    /// Cancel to stop accepting and return.
    pub shutdown: CancellationToken,
    /// Service account tokens (issued and accepted); `None` for none.
    pub tokens: Option<Arc<crate::tokens::TokenAuthority>>,
    /// PodSecurity admission defaults (baseline unless told otherwise).
    pub pod_security: crate::admission::PodSecurityConfig,
    /// Request limits (body, headers, timeouts, rate, watches).
    pub limits: crate::limits::Limits,
    /// `--audit-log`: where mutating requests are recorded.
    pub audit_log: Option<PathBuf>,
}

impl ServeConfig {
    /// 127.0.0.1:6443 and `<root>/api.sock`.
    pub fn new(root: PathBuf) -> Self {
        ServeConfig {
            unix_socket: Some(root.join("api.sock")),
            root,
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 6443))),
            also_listen: Vec::new(),
            shutdown: CancellationToken::new(),
            tokens: None,
            pod_security: crate::admission::PodSecurityConfig::default(),
            limits: crate::limits::Limits::default(),
            audit_log: None,
        }
    }
}

/// Installs ring as the process-wide rustls provider (idempotent).
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn tls_config(p: &pki::Pki) -> Result<rustls::ServerConfig, ApiError> {
    let tls = |e: String| ApiError::internal(format!("TLS setup: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let ca =
        CertificateDer::from_pem_slice(p.ca_cert_pem.as_bytes()).map_err(|e| tls(e.to_string()))?;
    roots.add(ca).map_err(|e| tls(e.to_string()))?;
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| tls(e.to_string()))?;
    let chain = vec![
        CertificateDer::from_pem_slice(p.server_cert_pem.as_bytes())
            .map_err(|e| tls(e.to_string()))?,
    ];
    let key = PrivateKeyDer::from_pem_slice(p.server_key_pem.as_bytes())
        .map_err(|e| tls(e.to_string()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Serves one connection with the router, tagging requests with `auth`.
async fn serve_conn<S>(
    io: S,
    router: Router,
    auth: ConnAuth,
    user: Option<crate::rbac::CertUser>,
    peer: Option<SocketAddr>,
    limits: Arc<crate::limits::Limits>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(auth);
        if let Some(u) = &user {
            req.extensions_mut().insert(u.clone());
        }
        if let Some(p) = peer {
            req.extensions_mut().insert(crate::audit::Peer(p));
        }
        router.clone().oneshot(req.map(axum::body::Body::new))
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client that never finishes its request head is cut; an oversized
    // head is answered 431 (HTTP/1) or refused (HTTP/2).
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(io), svc)
        .await
    {
        tracing::debug!("connection ended: {e}");
    }
}

/// Serves the API until `cfg.shutdown` is cancelled. Creates the PKI on
/// first start and (re)writes `<root>/kubeconfig`.
pub async fn serve(backend: Arc<dyn Backend>, cfg: ServeConfig) -> Result<(), ApiError> {
    install_crypto_provider();
    let p = pki::ensure(&cfg.root)?;
    crate::rbac::bootstrap::ensure(&*backend).await?;
    let audit = match &cfg.audit_log {
        Some(path) => Some(Arc::new(crate::audit::AuditLog::open(path)?)),
        None => None,
    };
    let limits = Arc::new(cfg.limits.clone());
    let router = routes::router_full(
        backend,
        &p.token,
        cfg.tokens.clone(),
        cfg.pod_security.clone(),
        routes::ApiOptions {
            limits: cfg.limits.clone(),
            audit,
        },
    );
    let mut tasks = tokio::task::JoinSet::new();

    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(&p)?));
    let mut listeners = Vec::new();
    if let Some(addr) = cfg.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ApiError::internal(format!("listening on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| ApiError::internal(format!("listening on {addr}: {e}")))?;
        pki::write_private(
            &kubeconfig::address_file(&cfg.root),
            &format!("https://{local}\n"),
        )?;
        kubeconfig::write_kubeconfig(&cfg.root)?;
        listeners.push(listener);
    }
    for l in cfg.also_listen {
        let l = tokio::net::TcpListener::from_std(l)
            .map_err(|e| ApiError::internal(format!("listening: {e}")))?;
        listeners.push(l);
    }
    for listener in listeners {
        let acceptor = acceptor.clone();
        let router = router.clone();
        let limits = limits.clone();
        let stop = cfg.shutdown.clone();
        tasks.spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = listener.accept() => match r {
                        Ok(x) => x,
                        Err(e) => { tracing::warn!("accept: {e}"); continue; }
                    },
                };
                let acceptor = acceptor.clone();
                let router = router.clone();
                let limits = limits.clone();
                tokio::spawn(async move {
                    let tls = match acceptor.accept(stream).await {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::debug!("TLS handshake: {e}");
                            return;
                        }
                    };
                    let (auth, user) = match tls.get_ref().1.peer_certificates() {
                        Some(c) if !c.is_empty() => (
                            ConnAuth::ClientCert,
                            crate::rbac::UserInfo::from_certificate(&c[0])
                                .map(crate::rbac::CertUser),
                        ),
                        _ => (ConnAuth::None, None),
                    };
                    serve_conn(tls, router, auth, user, Some(peer), limits).await;
                });
            }
        });
    }

    if let Some(path) = &cfg.unix_socket {
        // A stale socket from a previous run would make bind fail.
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path)
            .map_err(|e| ApiError::internal(format!("binding {}: {e}", path.display())))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| ApiError::internal(format!("chmod {}: {e}", path.display())))?;
        let stop = cfg.shutdown.clone();
        tasks.spawn(async move {
            loop {
                let stream = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = listener.accept() => match r {
                        Ok((s, _)) => s,
                        Err(e) => { tracing::warn!("accept: {e}"); continue; }
                    },
                };
                tokio::spawn(serve_conn(
                    stream,
                    router.clone(),
                    ConnAuth::Local,
                    None,
                    None,
                    limits.clone(),
                ));
            }
        });
    }

    while tasks.join_next().await.is_some() {}
    Ok(())
}
