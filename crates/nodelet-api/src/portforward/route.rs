//! `GET|POST /api/v1/namespaces/{ns}/pods/{name}/portforward`: the
//! WebSocket tunnel (`SPDY/3.1+portforward.k8s.io`) or the plain SPDY/3.1
//! upgrade, then one SPDY session whose stream pairs are forwarded into
//! the pod.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;

use super::streams::{Connect, Forwarder};
use super::{PROTOCOL_V1, WS_TUNNEL_PROTOCOL, spdy, ws};
use crate::error::ApiError;
use crate::streams::PodStreams;

fn header_values<'a>(h: &'a HeaderMap, name: &str) -> impl Iterator<Item = String> + 'a {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .collect::<Vec<_>>()
        .into_iter()
}

pub async fn handle(
    backend: Arc<dyn PodStreams>,
    ns: String,
    name: String,
    req: Request,
) -> Result<Response, ApiError> {
    let (connect, target) = backend.port_forward(&ns, &name).await?;
    let (mut parts, _) = req.into_parts();
    // The session counts against --max-sessions while it lasts.
    let slot = parts
        .extensions
        .get::<crate::limits::SessionSlot>()
        .cloned();
    let is_ws =
        header_values(&parts.headers, "upgrade").any(|u| u.eq_ignore_ascii_case("websocket"));
    if is_ws {
        if !header_values(&parts.headers, "sec-websocket-protocol").any(|p| p == WS_TUNNEL_PROTOCOL)
        {
            return Err(ApiError::bad_request(format!(
                "unable to upgrade: port forwarding over a WebSocket needs the subprotocol {WS_TUNNEL_PROTOCOL}"
            )));
        }
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
            .await
            .map_err(|e| ApiError::bad_request(format!("unable to upgrade: {e}")))?;
        return Ok(upgrade
            .protocols([WS_TUNNEL_PROTOCOL])
            .on_upgrade(move |socket| async move {
                let _slot = slot;
                session(ws::bytes_of(socket), connect, target).await
            })
            .into_response());
    }
    let spdy = header_values(&parts.headers, "upgrade").any(|u| u.eq_ignore_ascii_case("SPDY/3.1"));
    if !spdy {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let offered: Vec<String> = header_values(&parts.headers, "x-stream-protocol-version").collect();
    if !offered.is_empty() && !offered.iter().any(|p| p == PROTOCOL_V1) {
        return Err(ApiError::new(
            403,
            "Forbidden",
            format!(
                "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports [\"{PROTOCOL_V1}\"]"
            ),
        ));
    }
    let on_upgrade = parts
        .extensions
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or_else(|| ApiError::bad_request("unable to upgrade: connection cannot be upgraded"))?;
    tokio::spawn(async move {
        let _slot = slot;
        match on_upgrade.await {
            Ok(upgraded) => session(TokioIo::new(upgraded), connect, target).await,
            Err(e) => tracing::debug!("port-forward: upgrade failed: {e}"),
        }
    });
    let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = resp.headers_mut();
    h.insert("connection", HeaderValue::from_static("Upgrade"));
    h.insert("upgrade", HeaderValue::from_static("SPDY/3.1"));
    if !offered.is_empty() {
        h.insert(
            "x-stream-protocol-version",
            HeaderValue::from_static(PROTOCOL_V1),
        );
    }
    Ok(resp)
}

async fn session<T>(io: T, connect: Arc<dyn Connect>, target: String)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let fwd = Forwarder::new(connect, target, "");
    if let Err(e) = spdy::serve(io, move |s| fwd.stream(s)).await {
        tracing::debug!("port-forward session ended: {e}");
    }
}
