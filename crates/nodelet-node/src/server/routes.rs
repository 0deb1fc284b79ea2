//! The kubelet server's handlers. Exec, attach and logs translate the
//! kubelet's URL shape into the embedded API's stream handlers
//! (`nodelet_api::streams`): the container comes from the path, and the
//! API server's stream flags `input`/`output`/`error`/`tty` (its
//! `streamParams`) become `stdin`/`stdout`/`stderr`/`tty`. Port-forward
//! is the embedded API's SPDY handler as it is.

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use nodelet_api::streams::{self, LogOpts, Mode, Query};
use serde_json::json;

use super::{ServerState, plain};

pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/pods", get(pods))
        .route("/pods/", get(pods))
        .route("/runningpods/", get(pods))
        .route("/containerLogs/{ns}/{pod}/{container}", get(container_logs))
        .route("/exec/{ns}/{pod}/{container}", any(exec))
        .route("/exec/{ns}/{pod}/{uid}/{container}", any(exec_uid))
        .route("/attach/{ns}/{pod}/{container}", any(attach))
        .route("/attach/{ns}/{pod}/{uid}/{container}", any(attach_uid))
        .route("/portForward/{ns}/{pod}", any(port_forward))
        .route("/portForward/{ns}/{pod}/{uid}", any(port_forward_uid))
        .route("/metrics", get(super::metrics::metrics))
        .route("/metrics/resource", get(super::metrics::resource))
        .route("/stats/summary", get(super::stats::summary))
        .with_state(state)
}

async fn pods(State(st): State<ServerState>) -> Response {
    let items: Vec<serde_json::Value> = st
        .engine
        .list_pods()
        .iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect();
    axum::Json(json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}))
        .into_response()
}

/// The stream query the embedded API's handler reads.
fn stream_query(raw: Option<&str>, container: &str) -> Query {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let k = match k.as_ref() {
            "input" => "stdin",
            "output" => "stdout",
            "error" => "stderr",
            "container" => continue,
            other => other,
        };
        out.append_pair(k, &v);
    }
    out.append_pair("container", container);
    Query::parse(Some(&out.finish()))
}

/// The pod's uid when the path names one (`/exec/{ns}/{pod}/{uid}/{c}`):
/// a stream for another incarnation of the pod is refused.
fn check_uid(st: &ServerState, ns: &str, pod: &str, uid: &str) -> Option<Response> {
    match st.engine.get_pod(ns, pod) {
        Some(p) if p.metadata.uid.as_deref() == Some(uid) => None,
        _ => Some(plain(404, format!("pod {pod:?} (uid {uid}) not found"))),
    }
}

async fn stream(
    st: ServerState,
    mode: Mode,
    ns: String,
    pod: String,
    container: String,
    req: Request,
) -> Response {
    let (mut parts, _) = req.into_parts();
    let q = stream_query(parts.uri.query(), &container);
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .ok();
    if ws.is_none() {
        // The API server passes WebSockets through when the node declares
        // ExtendWebSocketsToKubelet; a SPDY upgrade means it did not.
        return plain(
            400,
            "Upgrade request required: this node serves exec and attach over WebSocket (v5.channel.k8s.io)",
        );
    }
    // Sessions reach a node through the API server, which bounds them.
    match streams::exec_ws(st.streams.clone(), mode, ns, pod, q, ws, None).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn exec(
    State(st): State<ServerState>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    stream(st, Mode::Exec, ns, pod, container, req).await
}

async fn exec_uid(
    State(st): State<ServerState>,
    Path((ns, pod, uid, container)): Path<(String, String, String, String)>,
    req: Request,
) -> Response {
    if let Some(r) = check_uid(&st, &ns, &pod, &uid) {
        return r;
    }
    stream(st, Mode::Exec, ns, pod, container, req).await
}

async fn attach(
    State(st): State<ServerState>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    stream(st, Mode::Attach, ns, pod, container, req).await
}

async fn attach_uid(
    State(st): State<ServerState>,
    Path((ns, pod, uid, container)): Path<(String, String, String, String)>,
    req: Request,
) -> Response {
    if let Some(r) = check_uid(&st, &ns, &pod, &uid) {
        return r;
    }
    stream(st, Mode::Attach, ns, pod, container, req).await
}

/// `/portForward`: the embedded API's port-forward handler unchanged (a
/// SPDY/3.1 session, plain or tunnelled in a WebSocket as kubectl 1.31+
/// and an API server passing WebSockets through speak it), each stream
/// pair connected into the pod's network namespace by the runtime.
async fn port_forward(
    State(st): State<ServerState>,
    Path((ns, pod)): Path<(String, String)>,
    req: Request,
) -> Response {
    streams::port_forward(st.streams.clone(), ns, pod, req)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn port_forward_uid(
    State(st): State<ServerState>,
    Path((ns, pod, uid)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    if let Some(r) = check_uid(&st, &ns, &pod, &uid) {
        return r;
    }
    streams::port_forward(st.streams.clone(), ns, pod, req)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The log query the embedded API's handler reads: the kubelet's legacy
/// `tail` (`all` = no limit) becomes `tailLines`.
fn log_query(raw: Option<&str>, container: &str) -> Query {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "container" => continue,
            "tail" if v == "all" => continue,
            "tail" => {
                out.append_pair("tailLines", &v);
            }
            other => {
                out.append_pair(other, &v);
            }
        }
    }
    out.append_pair("container", container);
    Query::parse(Some(&out.finish()))
}

async fn container_logs(
    State(st): State<ServerState>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let Some(p) = st.engine.get_pod(&ns, &pod) else {
        return plain(404, format!("pod {pod:?} does not exist"));
    };
    let spec = p.spec.as_ref();
    let known = spec.is_some_and(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
            .map(|c| &c.name)
            .chain(s.ephemeral_containers.iter().flatten().map(|c| &c.name))
            .any(|n| *n == container)
    });
    if !known {
        return plain(
            404,
            format!("container {container:?} not found in pod {pod:?}"),
        );
    }
    let q = log_query(raw.as_deref(), &container);
    let opts = match LogOpts::from_query(&q) {
        Ok(o) => o,
        Err(_) => return plain(400, r#"{"message": "Unable to decode query."}"#),
    };
    match streams::logs(st.streams.clone(), ns, pod, opts).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_server_stream_flags_become_the_handlers() {
        let q = stream_query(
            Some("command=sh&command=-c&command=echo+hi&input=1&output=1&tty=1"),
            "c1",
        );
        assert_eq!(q.all("command"), ["sh", "-c", "echo hi"]);
        assert!(q.flag("stdin"));
        assert!(q.flag("stdout"));
        assert!(!q.flag("stderr"));
        assert!(q.flag("tty"));
        assert_eq!(q.get("container"), Some("c1"));
    }

    #[test]
    fn legacy_tail_becomes_tail_lines() {
        let q = log_query(Some("tail=5&follow=true&container=x"), "c");
        assert_eq!(q.get("tailLines"), Some("5"));
        assert_eq!(q.get("container"), Some("c"));
        assert!(q.flag("follow"));
        let q = log_query(Some("tail=all"), "c");
        assert_eq!(q.get("tailLines"), None);
    }
}
