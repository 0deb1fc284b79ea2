//! Authentication: a verified client certificate (checked by TLS against
//! our CA), the bearer token, or the local unix socket (its 0600 mode is the
//! check). Everything else is answered 401 like the API server does.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// How the connection a request arrived on was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnAuth {
    /// TLS with a client certificate signed by our CA.
    ClientCert,
    /// The unix socket.
    Local,
    /// TLS without a client certificate: the request needs the token.
    None,
}

/// The expected bearer token.
#[derive(Clone)]
pub struct Token(pub Arc<str>);

/// Compares without an early exit, so timing does not leak the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn require_auth(State(token): State<Token>, req: Request, next: Next) -> Response {
    let conn = req
        .extensions()
        .get::<ConnAuth>()
        .copied()
        .unwrap_or(ConnAuth::None);
    let ok = match conn {
        ConnAuth::ClientCert | ConnAuth::Local => true,
        ConnAuth::None => req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| same(t.trim().as_bytes(), token.0.as_bytes())),
    };
    if ok {
        next.run(req).await
    } else {
        ApiError::unauthorized().into_response()
    }
}
