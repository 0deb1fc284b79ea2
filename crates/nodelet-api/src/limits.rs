//! Bounds on what one client can make the API do: request body size (the
//! API server's 3 MiB), header size and read timeouts (applied by `serve`
//! on each connection), a slow body cut, a per-user request rate (token
//! bucket; 429 with `Retry-After`), a per-user number of open watches and
//! a number of exec/attach/port-forward sessions per user and in all (each
//! holds a runtime process or connection for as long as the client likes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http_body_util::BodyExt;

use crate::error::ApiError;
use crate::query::Query;
use crate::rbac::UserInfo;

/// The API server's request body limit (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body (413 beyond).
    pub max_body_bytes: usize,
    /// Largest request head (431 beyond); Go's default 1 MiB.
    pub max_header_bytes: usize,
    /// A connection that has not sent a whole request head in this time
    /// is closed.
    pub header_read_timeout: Duration,
    /// A body not received in this time is answered 408 and the
    /// connection closed (a client trickling its body).
    pub body_read_timeout: Duration,
    /// Sustained requests per second per user (also the burst).
    pub requests_per_second: f64,
    /// Watches one user may hold open at once.
    pub max_watches_per_user: usize,
    /// Exec, attach and port-forward sessions one user may hold at once.
    pub max_sessions_per_user: usize,
    /// Exec, attach and port-forward sessions of all users together.
    pub max_sessions: usize,
}

impl Default for Limits {
    /// Generous for kubectl and tests; a runaway client is still bounded.
    fn default() -> Self {
        Limits {
            max_body_bytes: MAX_BODY_BYTES,
            max_header_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
            requests_per_second: 1000.0,
            max_watches_per_user: 1000,
            max_sessions_per_user: 64,
            max_sessions: 256,
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The per-user counters behind [`limit`].
pub struct LimitState {
    pub limits: Limits,
    buckets: Mutex<HashMap<String, Bucket>>,
    watches: Arc<Mutex<HashMap<String, usize>>>,
    sessions: Arc<Mutex<Sessions>>,
}

/// Open exec/attach/port-forward sessions, per user and in all.
#[derive(Default)]
struct Sessions {
    per_user: HashMap<String, usize>,
    total: usize,
}

impl LimitState {
    pub fn new(limits: Limits) -> Self {
        LimitState {
            limits,
            buckets: Mutex::new(HashMap::new()),
            watches: Arc::new(Mutex::new(HashMap::new())),
            sessions: Arc::new(Mutex::new(Sessions::default())),
        }
    }

    /// A session slot for `user`, or the 429 message saying which bound
    /// is full.
    fn open_session(&self, user: &str) -> Result<SessionSlot, String> {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if s.total >= self.limits.max_sessions {
            return Err(format!(
                "too many exec, attach and port-forward sessions: {} open on this node (--max-sessions)",
                self.limits.max_sessions
            ));
        }
        let n = s.per_user.get(user).copied().unwrap_or(0);
        if n >= self.limits.max_sessions_per_user {
            return Err(format!(
                "too many exec, attach and port-forward sessions: user {user:?} already has {n} open (--max-sessions-per-user)"
            ));
        }
        s.per_user.insert(user.to_string(), n + 1);
        s.total += 1;
        Ok(SessionSlot {
            _guard: Arc::new(SessionGuard {
                user: user.to_string(),
                sessions: self.sessions.clone(),
            }),
        })
    }

    /// Takes one token of `user`'s bucket, or says how many seconds until
    /// there is one.
    fn take(&self, user: &str) -> Result<(), u32> {
        let rate = self.limits.requests_per_second.max(0.001);
        let burst = rate.max(1.0);
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = b.entry(user.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - bucket.tokens) / rate).ceil() as u32).max(1))
        }
    }

    fn open_watch(&self, user: &str) -> Option<WatchSlot> {
        let mut w = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        let n = w.entry(user.to_string()).or_insert(0);
        if *n >= self.limits.max_watches_per_user {
            return None;
        }
        *n += 1;
        Some(WatchSlot {
            user: user.to_string(),
            watches: self.watches.clone(),
        })
    }
}

/// One open watch; released when the response body is dropped.
struct WatchSlot {
    user: String,
    watches: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut w = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = w.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.remove(&self.user);
            }
        }
    }
}

/// One open exec, attach or port-forward session, put in the request's
/// extensions by [`limit`]; the handler keeps a clone for as long as the
/// upgraded connection lives. Released when the last clone is dropped.
#[derive(Clone)]
pub struct SessionSlot {
    _guard: Arc<SessionGuard>,
}

struct SessionGuard {
    user: String,
    sessions: Arc<Mutex<Sessions>>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.per_user.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.per_user.remove(&self.user);
            }
        }
    }
}

/// Whether `path` opens a session (`pods/{name}/exec|attach|portforward`).
fn is_session(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    matches!(parts.next(), Some("exec" | "attach" | "portforward"))
        && parts.next().is_some()
        && parts.next() == Some("pods")
}

fn too_many(message: String, retry_after: u32) -> Response {
    let mut e = ApiError::new(429, "TooManyRequests", message);
    e.details.retry_after = Some(retry_after);
    e.into_response()
}

fn too_large(limit: usize) -> Response {
    ApiError::new(
        413,
        "RequestEntityTooLarge",
        format!("Request entity too large: limit is {limit}"),
    )
    .into_response()
}

pub async fn limit(State(st): State<Arc<LimitState>>, req: Request, next: Next) -> Response {
    let user = req
        .extensions()
        .get::<UserInfo>()
        .map(|u| u.name.clone())
        .unwrap_or_default();
    if let Err(after) = st.take(&user) {
        tracing::debug!(user = %user, "rate limited");
        return too_many(
            "Too many requests, please try again later.".to_string(),
            after,
        );
    }
    let watch = req.method() == Method::GET && Query::parse(req.uri().query()).flag("watch");
    let slot = if watch {
        match st.open_watch(&user) {
            Some(s) => Some(s),
            None => {
                return too_many(
                    format!(
                        "too many watches: user {user:?} already has {} open (--max-watches-per-user)",
                        st.limits.max_watches_per_user
                    ),
                    1,
                );
            }
        }
    } else {
        None
    };
    let mut req = req;
    if is_session(req.uri().path()) {
        match st.open_session(&user) {
            Ok(slot) => {
                req.extensions_mut().insert(slot);
            }
            Err(message) => {
                tracing::warn!(user = %user, "{message}");
                return too_many(message, 1);
            }
        }
    }
    let req = if req.headers().contains_key("upgrade") {
        // exec/attach/port-forward streams: no body to bound.
        req
    } else {
        let max = st.limits.max_body_bytes;
        let declared = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return too_large(max);
        }
        let (parts, body) = req.into_parts();
        let limited = http_body_util::Limited::new(body, max);
        let read = tokio::time::timeout(st.limits.body_read_timeout, limited.collect()).await;
        match read {
            Err(_) => {
                tracing::debug!(user = %user, "request body too slow");
                let mut r = ApiError::new(
                    408,
                    "Timeout",
                    format!(
                        "the request body was not received within {}s",
                        st.limits.body_read_timeout.as_secs()
                    ),
                )
                .into_response();
                r.headers_mut()
                    .insert("connection", axum::http::HeaderValue::from_static("close"));
                return r;
            }
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(max),
            Ok(Err(e)) => {
                return ApiError::bad_request(format!("reading the request body: {e}"))
                    .into_response();
            }
            Ok(Ok(collected)) => Request::from_parts(parts, Body::from(collected.to_bytes())),
        }
    };
    let resp = next.run(req).await;
    match slot {
        None => resp,
        Some(slot) => {
            let (parts, body) = resp.into_parts();
            let stream = body.into_data_stream().map(move |chunk| {
                let _held = &slot;
                chunk
            });
            Response::from_parts(parts, Body::from_stream(stream))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_the_pod_stream_subresources() {
        assert!(is_session("/api/v1/namespaces/default/pods/p/exec"));
        assert!(is_session("/api/v1/namespaces/default/pods/p/attach"));
        assert!(is_session("/api/v1/namespaces/default/pods/p/portforward"));
        assert!(!is_session("/api/v1/namespaces/default/pods/exec"));
        assert!(!is_session("/api/v1/namespaces/default/pods/p/log"));
        assert!(!is_session("/api/v1/namespaces/default/configmaps/exec"));
    }

    #[test]
    fn sessions_are_bounded_per_user_and_in_all_and_released_on_drop() {
        let st = LimitState::new(Limits {
            max_sessions_per_user: 2,
            max_sessions: 3,
            ..Default::default()
        });
        let a1 = st.open_session("a").unwrap();
        let _a2 = st.open_session("a").unwrap();
        let e = st.open_session("a").err().unwrap();
        assert!(e.contains("--max-sessions-per-user"), "{e}");
        let _b1 = st.open_session("b").unwrap();
        let e = st.open_session("c").err().unwrap();
        assert!(e.contains("3 open on this node (--max-sessions)"), "{e}");
        let again = a1.clone();
        drop(a1);
        assert!(
            st.open_session("c").is_err(),
            "a clone still holds the slot"
        );
        drop(again);
        assert!(st.open_session("c").is_ok());
    }
}
