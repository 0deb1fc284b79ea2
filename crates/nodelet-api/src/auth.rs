//! Authentication: a verified client certificate (checked by TLS against
//! our CA), the bearer token, a service account token the API issued
//! (`system:serviceaccount:<ns>:<name>`), or the local unix socket (its
//! 0600 mode is the check). Everything else is answered 401 like the API
//! server does. The identity established ([`UserInfo`]) goes on the request
//! for authorization ([`crate::rbac`]), the limits and the audit log.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::rbac::{CertUser, UserInfo};

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

/// What a bearer token is checked against.
#[derive(Clone)]
pub struct Token {
    /// The admin token of `<root>/pki/token`.
    pub static_token: Arc<str>,
    /// Service account tokens, when the API issues them.
    pub service_accounts: Option<Arc<crate::tokens::TokenAuthority>>,
}

/// Compares without an early exit, so timing does not leak the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn require_auth(State(token): State<Token>, mut req: Request, next: Next) -> Response {
    let conn = req
        .extensions()
        .get::<ConnAuth>()
        .copied()
        .unwrap_or(ConnAuth::None);
    let user: Option<UserInfo> = match conn {
        // A verified certificate whose subject names no user is refused.
        ConnAuth::ClientCert => req.extensions().get::<CertUser>().map(|c| c.0.clone()),
        ConnAuth::Local => Some(UserInfo::admin()),
        ConnAuth::None => {
            let bearer = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match bearer {
                None => None,
                Some(t) if same(t.as_bytes(), token.static_token.as_bytes()) => {
                    Some(UserInfo::admin())
                }
                Some(t) => match token
                    .service_accounts
                    .as_ref()
                    .and_then(|a| a.authenticate_at(t, jiff::Timestamp::now()))
                {
                    Some(Ok(user)) => {
                        tracing::debug!(user = %user.username(), "service account request");
                        Some(UserInfo::service_account(&user.namespace, &user.name))
                    }
                    Some(Err(why)) => {
                        tracing::debug!("service account token refused: {why}");
                        None
                    }
                    None => None,
                },
            }
        }
    };
    if let Some(user) = user {
        req.extensions_mut().insert(user);
        next.run(req).await
    } else {
        ApiError::unauthorized().into_response()
    }
}
