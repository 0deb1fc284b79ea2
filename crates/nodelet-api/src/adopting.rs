//! After an agent restart the API answers at once, serving each stored pod
//! as last recorded while the engine re-adopts it (its status corrected
//! when its worker publishes). What needs a pod under management waits
//! here until re-adoption has ended: every change (any method but
//! GET/HEAD) and the streams into a pod's containers (exec, attach, logs,
//! port forwarding), which need its running containers known.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::backend::Backend;

/// The pod subresources that reach into running containers.
const STREAMS: [&str; 4] = ["/exec", "/attach", "/log", "/portforward"];

fn must_wait(method: &Method, path: &str) -> bool {
    !(method == Method::GET || method == Method::HEAD) || STREAMS.iter().any(|s| path.ends_with(s))
}

pub async fn wait(State(backend): State<Arc<dyn Backend>>, req: Request, next: Next) -> Response {
    if must_wait(req.method(), req.uri().path()) {
        backend.adopted().await;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pass_changes_and_streams_wait() {
        assert!(!must_wait(&Method::GET, "/api/v1/pods"));
        assert!(!must_wait(&Method::GET, "/api/v1/namespaces/d/pods/p"));
        assert!(!must_wait(&Method::HEAD, "/readyz"));
        assert!(must_wait(&Method::POST, "/api/v1/namespaces/d/pods"));
        assert!(must_wait(&Method::DELETE, "/api/v1/namespaces/d/pods/p"));
        assert!(must_wait(
            &Method::PATCH,
            "/api/v1/namespaces/d/pods/p/status"
        ));
        assert!(must_wait(&Method::GET, "/api/v1/namespaces/d/pods/p/exec"));
        assert!(must_wait(&Method::GET, "/api/v1/namespaces/d/pods/p/log"));
        assert!(must_wait(
            &Method::GET,
            "/api/v1/namespaces/d/pods/p/portforward"
        ));
    }
}
