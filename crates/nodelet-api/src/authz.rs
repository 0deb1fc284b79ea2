//! The authorization step of every request: the request's attributes
//! against the RBAC policy, 403 with the API server's message when no
//! rule allows it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::backend::Backend;
use crate::error::ApiError;
use crate::query::Query;
use crate::rbac::policy::forbidden_request;
use crate::rbac::{Attributes, Policy, UserInfo};

pub async fn authorize(
    State(backend): State<Arc<dyn Backend>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(user) = req.extensions().get::<UserInfo>().cloned() else {
        return ApiError::unauthorized().into_response();
    };
    if user.is_privileged() {
        return next.run(req).await;
    }
    let a = Attributes::of(
        req.method(),
        req.uri().path(),
        &Query::parse(req.uri().query()),
    );
    let policy = match Policy::load(&*backend, Some(&a.namespace)).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let d = policy.decide(&user, &a);
    if d.allowed {
        tracing::trace!(user = %user.name, verb = %a.verb, path = %a.path, reason = %d.reason, "allowed");
        next.run(req).await
    } else {
        tracing::debug!(user = %user.name, verb = %a.verb, path = %a.path, "forbidden");
        forbidden_request(&user, &a).into_response()
    }
}
