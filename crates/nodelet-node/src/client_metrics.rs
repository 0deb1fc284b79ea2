//! Requests node mode makes to the API server, counted as client-go's
//! `rest_client_requests_total{code,host,method}` (which the kubelet's
//! `/metrics` carries): a tower layer on the kube-rs client. It is how the
//! node's API cost is measured (at idle: the Lease renewals only).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::http::{Request, Response};

/// Counts by (code, host, method); code `<error>` when no response came.
#[derive(Default)]
pub struct RequestCounts(Mutex<BTreeMap<(String, String, String), u64>>);

impl RequestCounts {
    fn record(&self, code: String, host: String, method: String) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((code, host, method))
            .or_default() += 1;
    }

    /// A snapshot: ((code, host, method), count).
    pub fn snapshot(&self) -> Vec<((String, String, String), u64)> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

#[derive(Clone)]
pub struct CountLayer(pub Arc<RequestCounts>);

impl<S> tower::Layer<S> for CountLayer {
    type Service = Count<S>;
    fn layer(&self, inner: S) -> Count<S> {
        Count {
            inner,
            counts: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Count<S> {
    inner: S,
    counts: Arc<RequestCounts>,
}

impl<S, B, RB> tower::Service<Request<B>> for Count<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let method = req.method().to_string();
        let host = req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let counts = self.counts.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let r = fut.await;
            let code = match &r {
                Ok(resp) => resp.status().as_u16().to_string(),
                Err(_) => "<error>".to_string(),
            };
            counts.record(code, host, method);
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use tower::{Layer, ServiceExt};

    use super::*;

    #[tokio::test]
    async fn counts_by_code_host_and_method() {
        let counts = Arc::new(RequestCounts::default());
        let inner = tower::service_fn(|req: Request<()>| async move {
            let code = if req.method() == "PUT" { 409 } else { 200 };
            Response::builder().status(code).body(())
        });
        let svc = CountLayer(counts.clone()).layer(inner);
        for m in ["GET", "PUT", "GET"] {
            let req = Request::builder()
                .method(m)
                .uri("https://127.0.0.1:6443/api/v1/nodes")
                .body(())
                .unwrap();
            svc.clone().oneshot(req).await.unwrap();
        }
        let key = |c: &str, m: &str| (c.to_string(), "127.0.0.1:6443".to_string(), m.to_string());
        assert_eq!(
            counts.snapshot(),
            [(key("200", "GET"), 2), (key("409", "PUT"), 1)]
        );
    }
}
