//! The API over the real engine (fake runtime, real store): create, status
//! as the engine computes it, watch from the store's change log, events,
//! deletion, plain objects, and the 410 for a compacted resourceVersion.

mod fake_engine;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use http_body_util::BodyExt;
use nodelet_api::ConnAuth;
use serde_json::{Value, json};
use tower::ServiceExt;

struct H {
    router: axum::Router,
    _dir: tempfile::TempDir,
}

async fn setup() -> H {
    let (backend, dir) = fake_engine::backend().await;
    H {
        router: nodelet_api::router(backend, "t"),
        _dir: dir,
    }
}

fn req(method: &str, uri: &str, body: impl Into<String>) -> Request<Body> {
    req_ct(method, uri, "application/json", body)
}

fn req_ct(method: &str, uri: &str, ct: &str, body: impl Into<String>) -> Request<Body> {
    let mut r = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct)
        .body(Body::from(body.into()))
        .unwrap();
    r.extensions_mut().insert(ConnAuth::Local);
    r
}

impl H {
    async fn call(&self, method: &str, uri: &str, body: impl Into<String>) -> (StatusCode, Value) {
        self.call_ct(method, uri, "application/json", body).await
    }

    async fn call_ct(
        &self,
        method: &str,
        uri: &str,
        ct: &str,
        body: impl Into<String>,
    ) -> (StatusCode, Value) {
        let resp = self
            .router
            .clone()
            .oneshot(req_ct(method, uri, ct, body))
            .await
            .unwrap();
        let code = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Reads watch events until `until` matches one (or fails after 10 s).
    async fn watch_until(&self, uri: &str, until: impl Fn(&Value) -> bool) -> Vec<Value> {
        let resp = self
            .router
            .clone()
            .oneshot(req("GET", uri, ""))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body().into_data_stream();
        let mut buf = String::new();
        let mut seen = Vec::new();
        loop {
            let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
                .await
                .unwrap_or_else(|_| panic!("no matching watch event; saw {seen:#?}"))
                .unwrap()
                .unwrap();
            buf.push_str(std::str::from_utf8(&chunk).unwrap());
            while let Some(i) = buf.find('\n') {
                let line: String = buf.drain(..=i).collect();
                let ev: Value = serde_json::from_str(&line).unwrap();
                let done = until(&ev);
                seen.push(ev);
                if done {
                    return seen;
                }
            }
        }
    }
}

#[tokio::test]
async fn pod_lifecycle_through_the_api() {
    let h = setup().await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "app", "image": "busybox"}]}});
    let (code, created) = h
        .call("POST", "/api/v1/namespaces/default/pods", pod.to_string())
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(created["metadata"]["uid"].is_string());

    // The engine starts it; the watch (from the store's change log) shows it Running.
    let seen = h
        .watch_until(
            &format!("/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}"),
            |e| e["object"]["status"]["phase"] == "Running",
        )
        .await;
    assert!(seen.iter().all(|e| e["type"] == "MODIFIED"), "{seen:#?}");

    let (code, again) = h
        .call("POST", "/api/v1/namespaces/default/pods", pod.to_string())
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{again}");

    let (_, list) = h
        .call("GET", "/api/v1/pods?labelSelector=app%3Dweb", "")
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, evs) = h
        .call(
            "GET",
            "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb",
            "",
        )
        .await;
    let reasons: Vec<&str> = evs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"Started"), "{reasons:?}");

    // Plain JSON is not a patch type.
    let (code, v) = h
        .call(
            "PATCH",
            "/api/v1/namespaces/default/pods/web",
            r#"{"metadata":{"labels":{"x":"y"}}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
    // Labels may change (the engine's update path); most of the spec not.
    let (code, v) = h
        .call_ct(
            "PATCH",
            "/api/v1/namespaces/default/pods/web",
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"x":"y"}}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"]["labels"]["x"], "y");
    let (code, v) = h
        .call_ct(
            "PATCH",
            "/api/v1/namespaces/default/pods/web",
            "application/merge-patch+json",
            r#"{"spec":{"restartPolicy":"Never"}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["details"]["causes"][0]["field"], "spec");

    let (code, v) = h
        .call(
            "DELETE",
            "/api/v1/namespaces/default/pods/web",
            r#"{"gracePeriodSeconds":1}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert!(v["metadata"]["deletionTimestamp"].is_string(), "{v}");
    let (_, cur) = h
        .call("GET", "/api/v1/namespaces/default/pods/web", "")
        .await;
    let rv = cur["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("1")
        .to_string();
    h.watch_until(
        &format!("/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}"),
        |e| e["type"] == "DELETED",
    )
    .await;
    let (code, _) = h
        .call("GET", "/api/v1/namespaces/default/pods/web", "")
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn plain_objects_and_namespaces() {
    let h = setup().await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "team"}, "data": {"a": "1"}});
    let (code, v) = h
        .call("POST", "/api/v1/namespaces/team/configmaps", cm.to_string())
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    let (code, v) = h
        .call("GET", "/api/v1/namespaces/team/configmaps/cfg", "")
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["data"]["a"], "1");
    let rv = v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, v) = h
        .call("PUT", "/api/v1/namespaces/team/configmaps/cfg",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "team", "resourceVersion": "12345"}, "data": {}}).to_string())
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "stale resourceVersion: {v}");
    let (code, v) = h
        .call("PUT", "/api/v1/namespaces/team/configmaps/cfg",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "team", "resourceVersion": rv}, "data": {"b": "2"}}).to_string())
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["data"], json!({"b": "2"}));
    let (_, ns) = h.call("GET", "/api/v1/namespaces", "").await;
    let names: Vec<&str> = ns["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str())
        .collect();
    assert!(
        names.contains(&"team") && names.contains(&"kube-system"),
        "{names:?}"
    );
    let (code, _) = h
        .call("DELETE", "/api/v1/namespaces/team/configmaps/cfg", "")
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = h
        .call("GET", "/api/v1/namespaces/team/configmaps/cfg", "")
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, node) = h.call("GET", "/api/v1/nodes", "").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        node["items"][0]["status"]["nodeInfo"]["containerRuntimeVersion"],
        "fake://0"
    );
}

/// The Ready condition of a pod value: (status, reason).
fn ready(pod: &Value) -> (String, String) {
    let c = pod["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    (
        c["status"].as_str().unwrap().to_string(),
        c["reason"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn status_writes_keep_external_conditions_and_readiness_gates_hold_ready() {
    let h = setup().await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gated"},
        "spec": {"readinessGates": [{"conditionType": "example.com/lb"}],
                 "containers": [{"name": "app", "image": "busybox"}]}});
    let (code, created) = h
        .call("POST", "/api/v1/namespaces/default/pods", pod.to_string())
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap();
    let seen = h
        .watch_until(
            &format!("/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}"),
            |e| e["object"]["status"]["phase"] == "Running",
        )
        .await;
    let running = &seen.last().unwrap()["object"];
    // Containers run, but the gate's condition does not exist yet.
    assert_eq!(
        ready(running),
        ("False".to_string(), "ReadinessGatesNotReady".to_string())
    );
    let rv = running["metadata"]["resourceVersion"].as_str().unwrap();

    // Someone else (a load balancer controller) sets the gate; an attempt
    // to write an agent-owned field or condition does not stick.
    let u = "/api/v1/namespaces/default/pods/gated/status";
    let (code, v) = h
        .call_ct(
            "PATCH",
            u,
            "application/strategic-merge-patch+json",
            r#"{"status":{"phase":"Failed","conditions":[
                {"type":"example.com/lb","status":"True","reason":"Registered"},
                {"type":"Ready","status":"False","reason":"Mine"}]}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["status"]["phase"], "Running");
    assert_eq!(ready(&v), ("True".to_string(), String::new()));
    let lb: Vec<&Value> = v["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "example.com/lb")
        .collect();
    assert_eq!(lb.len(), 1);
    assert_eq!(lb[0]["reason"], "Registered");
    // Watchers see the change.
    h.watch_until(
        &format!("/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}"),
        |e| {
            e["object"]["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "example.com/lb"))
        },
    )
    .await;
    // A stale resourceVersion conflicts.
    let (code, v) = h
        .call_ct(
            "PATCH",
            u,
            "application/merge-patch+json",
            format!(r#"{{"metadata":{{"resourceVersion":"{rv}"}},"status":{{}}}}"#),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    // Setting the gate False holds Ready again (merge replaces the list).
    let (code, v) = h
        .call_ct(
            "PATCH",
            u,
            "application/merge-patch+json",
            r#"{"status":{"conditions":[{"type":"example.com/lb","status":"False"}]}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(
        ready(&v),
        ("False".to_string(), "ReadinessGatesNotReady".to_string())
    );
}
