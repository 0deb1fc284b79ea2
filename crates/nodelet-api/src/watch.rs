//! Watch responses: newline-delimited `{"type":...,"object":...}` over a
//! chunked body, with initial ADDED events when no resourceVersion is given
//! (or `sendInitialEvents=true`), periodic BOOKMARKs when asked, Table
//! objects for `kubectl get -w`, and `timeoutSeconds`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::backend::{Backend, WatchEventType};
use crate::error::ApiError;
use crate::kind::Kind;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::table::{self, IncludeObject};

/// What a watch request selects and how it wants objects rendered.
pub struct WatchSpec {
    pub kind: Kind,
    pub ns: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub since: Option<u64>,
    pub send_initial: bool,
    pub bookmarks: bool,
    pub timeout: Option<Duration>,
    pub table: Option<IncludeObject>,
    /// Renders an object for the requested API group (events.k8s.io).
    pub convert: fn(&Value) -> Value,
}

impl WatchSpec {
    fn selects(&self, obj: &Value) -> bool {
        let ns_ok = match &self.ns {
            Some(ns) => obj["metadata"]["namespace"].as_str() == Some(ns.as_str()),
            None => true,
        };
        ns_ok && self.labels.matches(obj) && self.fields.matches(self.kind, obj)
    }
}

/// How often a bookmark is sent when `allowWatchBookmarks=true`.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

struct Renderer {
    kind: Kind,
    table: Option<IncludeObject>,
    convert: fn(&Value) -> Value,
    sent_columns: bool,
}

impl Renderer {
    fn event(&mut self, ty: &str, obj: &Value, rv: u64) -> Bytes {
        let object = match self.table {
            Some(inc) => {
                let mut t = table::table(
                    self.kind,
                    std::slice::from_ref(obj),
                    rv,
                    inc,
                    Timestamp::now(),
                );
                // The API server sends column definitions with the first event only.
                if self.sent_columns {
                    t["columnDefinitions"] = json!([]);
                }
                self.sent_columns = true;
                t
            }
            None => (self.convert)(obj),
        };
        line(&json!({"type": ty, "object": object}))
    }
}

fn object_key(o: &Value) -> (String, String) {
    let m = &o["metadata"];
    (
        m["namespace"].as_str().unwrap_or("").to_string(),
        m["name"].as_str().unwrap_or("").to_string(),
    )
}

fn bookmark(kind: Kind, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line(
        &json!({"type": "BOOKMARK", "object": {"kind": kind.name(), "apiVersion": kind.api_version(), "metadata": meta}}),
    )
}

/// Starts a watch; errors before the stream starts are plain HTTP errors.
pub async fn watch(backend: Arc<dyn Backend>, spec: WatchSpec) -> Result<Response, ApiError> {
    let mut initial = Vec::new();
    let start_rv = match spec.since {
        Some(rv) if rv > 0 && !spec.send_initial => rv,
        _ => {
            let (items, rv) = if spec.kind == Kind::Node {
                (
                    vec![
                        serde_json::to_value(backend.node())
                            .map_err(|e| ApiError::internal(e.to_string()))?,
                    ],
                    1,
                )
            } else {
                backend.list(spec.kind, spec.ns.as_deref()).await?
            };
            initial = items.into_iter().filter(|o| spec.selects(o)).collect();
            rv
        }
    };
    let mut renderer = Renderer {
        kind: spec.kind,
        table: spec.table,
        convert: spec.convert,
        sent_columns: false,
    };
    let mut head: Vec<Bytes> = initial
        .iter()
        .map(|o| renderer.event("ADDED", o, start_rv))
        .collect();
    if spec.send_initial && spec.bookmarks {
        head.push(bookmark(spec.kind, start_rv, true));
    }
    let events = match backend.watch(start_rv).await {
        Ok(s) => s,
        Err(e) if e.code == 410 => {
            let body = line(&json!({"type": "ERROR", "object": e.status_json()}));
            return Ok(([("content-type", "application/json")], body).into_response());
        }
        Err(e) => return Err(e),
    };
    let deadline = spec.timeout.map(|t| tokio::time::Instant::now() + t);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(64);
    tokio::spawn(async move {
        let mut events = events;
        for b in head {
            if tx.send(Ok(b)).await.is_err() {
                return;
            }
        }
        let mut last_rv = start_rv;
        // Objects this watcher has been told about and that still match.
        let mut seen: std::collections::HashSet<(String, String)> =
            initial.iter().map(object_key).collect();
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            let sleep_until = deadline
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600 * 24));
            let out = tokio::select! {
                _ = tokio::time::sleep_until(sleep_until) => {
                    if deadline.is_some() { return; }
                    continue;
                }
                _ = tx.closed() => return,
                _ = ticker.tick(), if spec.bookmarks && spec.table.is_none() => bookmark(spec.kind, last_rv, false),
                ev = events.next() => {
                    let Some(ev) = ev else { return };
                    last_rv = last_rv.max(ev.rv);
                    if ev.kind != spec.kind {
                        continue;
                    }
                    let key = object_key(&ev.object);
                    let ty = if spec.selects(&ev.object) {
                        if ev.event_type == WatchEventType::Deleted {
                            seen.remove(&key);
                        } else {
                            seen.insert(key);
                        }
                        ev.event_type.as_str()
                    } else if ev.event_type == WatchEventType::Modified && seen.remove(&key) {
                        // It left the selection: to this watcher it is gone,
                        // as the API server reports it.
                        "DELETED"
                    } else {
                        continue;
                    };
                    renderer.event(ty, &ev.object, ev.rv)
                }
            };
            if tx.send(Ok(out)).await.is_err() {
                return;
            }
        }
    });
    let body = Body::from_stream(receiver_stream(rx));
    Ok(([("content-type", "application/json")], body).into_response())
}

/// A channel receiver as a stream (for streaming response bodies).
pub fn receiver_stream<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
}
