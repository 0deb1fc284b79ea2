//! The kubelet server on :10250 (`pkg/kubelet/server/server.go`): what the
//! API server (and metrics-server, monitoring) call on a node. HTTPS with
//! the node's serving certificate; every request authenticated and
//! authorised ([`auth`]) before its handler ([`routes`]):
//!
//! | path | what |
//! |---|---|
//! | `/healthz` | `ok` |
//! | `/pods`, `/runningpods/` | the node's pods (PodList) |
//! | `/containerLogs/{ns}/{pod}/{c}` | logs: follow, tailLines, previous, timestamps, sinceSeconds/sinceTime, limitBytes |
//! | `/exec/{ns}/{pod}[/{uid}]/{c}`, `/attach/…` | WebSocket `v5.channel.k8s.io` (and v4) |
//! | `/metrics` | Prometheus text, kubelet metric names |
//! | `/metrics/resource` | what metrics-server scrapes |
//! | `/stats/summary` | the Summary API |
//!
//! The stream endpoints are the embedded API's own code
//! (`nodelet_api::streams`), unchanged.

pub mod auth;
pub mod metrics;
pub mod routes;
pub mod stats;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::error::{NodeError, Result};
use auth::{Authorizer, ConnIdentity};

/// What the handlers share.
#[derive(Clone)]
pub struct ServerState {
    pub node: String,
    pub engine: Arc<nodelet_engine::Engine>,
    pub streams: Arc<dyn nodelet_api::PodStreams>,
    pub stats: Arc<stats::Stats>,
    pub metrics: Arc<metrics::NodeMetrics>,
}

fn plain(code: u16, msg: impl Into<String>) -> Response {
    let code = axum::http::StatusCode::from_u16(code)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [("content-type", "text/plain; charset=utf-8")],
        msg.into(),
    )
        .into_response()
}

/// Authentication and authorisation of every request.
async fn authn_authz(State(authz): State<Arc<Authorizer>>, req: Request, next: Next) -> Response {
    let conn = req
        .extensions()
        .get::<ConnIdentity>()
        .cloned()
        .unwrap_or(ConnIdentity::None);
    let user = match conn {
        ConnIdentity::Cert(u) => u,
        ConnIdentity::None => {
            let token = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|t| t.trim().to_owned());
            let Some(token) = token else {
                return plain(401, "Unauthorized");
            };
            match authz.authenticate_token(&token).await {
                Ok(Some(u)) => u,
                Ok(None) => return plain(401, "Unauthorized"),
                Err(e) => {
                    tracing::warn!(error = %e, "token review");
                    return plain(401, "Unauthorized");
                }
            }
        }
    };
    let verb = auth::verb(req.method());
    let subs = auth::subresources(req.uri().path());
    match authz.authorize(&user, verb, &subs).await {
        Ok(true) => next.run(req).await,
        Ok(false) => plain(403, auth::forbidden_message(&user.name, verb, &subs)),
        Err(e) => {
            tracing::warn!(user = %user.name, error = %e, "subject access review");
            plain(
                500,
                format!(
                    "Authorization error (user={}, verb={verb}, resource=nodes, subresource={})",
                    user.name, subs[0]
                ),
            )
        }
    }
}

/// Serves one connection, tagging its requests with who presented it.
async fn serve_conn<S>(io: S, router: Router, who: ConnIdentity)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(who.clone());
        router.clone().oneshot(req.map(axum::body::Body::new))
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(io), svc)
        .await
    {
        tracing::debug!("kubelet server connection ended: {e}");
    }
}

/// Binds `addr` (before anything else starts, so a taken port is an error
/// at start-up) and returns the serving future.
pub async fn bind(
    addr: SocketAddr,
    tls: rustls::ServerConfig,
    state: ServerState,
    authz: Arc<Authorizer>,
    stop: CancellationToken,
) -> Result<impl std::future::Future<Output = ()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| NodeError::io("listening on", addr.to_string(), e))?;
    let router =
        routes::router(state).layer(axum::middleware::from_fn_with_state(authz, authn_authz));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    Ok(async move {
        loop {
            let (stream, _) = tokio::select! {
                _ = stop.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => { tracing::warn!("kubelet server accept: {e}"); continue; }
                },
            };
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let tls = match acceptor.accept(stream).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::debug!("kubelet server TLS handshake: {e}");
                        return;
                    }
                };
                let who = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| auth::user_of_cert(c.as_ref()))
                    .map_or(ConnIdentity::None, ConnIdentity::Cert);
                serve_conn(tls, router, who).await;
            });
        }
    })
}
