//! A small Kubernetes REST client for the agent's unix socket: plain
//! HTTP/1.1 (the socket's 0600 mode is the authentication), JSON bodies,
//! streamed bodies for watches and logs, WebSocket for exec.
//!
//! One connection per request keeps it simple: requests are few and local.

pub mod container;
pub mod error;
pub mod exec;
pub mod resource;
mod stream;

use std::path::PathBuf;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::UnixStream;

pub use error::{ApiStatus, ClientError};
pub use stream::BodyStream;

/// Where the agent listens when nothing else is said.
pub const DEFAULT_SOCKET: &str = "/run/nodelet/nodelet.sock";

/// `Accept` for `kubectl get`-style tables, with a plain-JSON fallback.
pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

pub const JSON: &str = "application/json";

#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Client {
            socket: socket.into(),
        }
    }

    /// Connects to the socket; an absent socket or a refused connection
    /// means the agent is not running.
    pub(crate) async fn dial(&self) -> Result<UnixStream, ClientError> {
        UnixStream::connect(&self.socket).await.map_err(|e| {
            use std::io::ErrorKind::{ConnectionRefused, NotFound};
            match e.kind() {
                NotFound | ConnectionRefused => ClientError::Unreachable(self.socket.clone()),
                _ => ClientError::Connect {
                    socket: self.socket.clone(),
                    error: e,
                },
            }
        })
    }

    /// Sends one request; non-2xx answers become [`ClientError::Api`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Response<Incoming>, ClientError> {
        let io = TokioIo::new(self.dial().await?);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        // The connection future drives the socket; it ends with the response body.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "localhost")
            .header(ACCEPT, accept);
        let body = match body {
            Some((content_type, bytes)) => {
                builder = builder.header(CONTENT_TYPE, content_type);
                Full::new(Bytes::from(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        let req = builder
            .body(body)
            .map_err(|e| ClientError::Transport(format!("building the request for {path}: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let code = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?
            .to_bytes();
        Err(ClientError::Api(ApiStatus::from_body(code, &bytes)))
    }

    /// A request whose answer is one JSON document.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, &Value)>,
    ) -> Result<Value, ClientError> {
        let body = body.map(|(ct, v)| (ct, v.to_string().into_bytes()));
        let resp = self.send(method, path, accept, body).await?;
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(format!("{path}: {e}")))
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.json(Method::GET, path, JSON, None).await
    }

    /// A GET whose body is read as it arrives (watches, followed logs).
    pub async fn stream(&self, path: &str, accept: &str) -> Result<BodyStream, ClientError> {
        let resp = self.send(Method::GET, path, accept, None).await?;
        Ok(BodyStream::new(resp.into_body()))
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds `path?k=v&...` from the pairs, encoding values.
pub fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_string();
    }
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("{path}?{}", q.join("&"))
}

#[cfg(test)]
mod tests;
