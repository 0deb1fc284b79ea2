//! Routing, errors, selectors, patches, tables and watch through the real
//! router over the in-memory backend (no network).

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use http_body_util::BodyExt;
use nodelet_api::ConnAuth;
use serde_json::{Value, json};
use support::mem::{Mem, MemBackend};
use tower::ServiceExt;

const TOKEN: &str = "secret-token";

struct T {
    router: axum::Router,
    _dir: tempfile::TempDir,
}

fn setup() -> T {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(Mem(MemBackend::new(dir.path().to_path_buf())));
    T {
        router: nodelet_api::router(backend, TOKEN),
        _dir: dir,
    }
}

fn req(method: &str, uri: &str, ct: Option<&str>, body: impl Into<String>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(ct) = ct {
        b = b.header("content-type", ct);
    }
    let mut r = b.body(Body::from(body.into())).unwrap();
    r.extensions_mut().insert(ConnAuth::Local);
    r
}

impl T {
    async fn send(&self, r: Request<Body>) -> (StatusCode, Value) {
        let resp = self.router.clone().oneshot(r).await.unwrap();
        let code = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (code, v)
    }
    async fn call(
        &self,
        method: &str,
        uri: &str,
        ct: Option<&str>,
        body: impl Into<String>,
    ) -> (StatusCode, Value) {
        self.send(req(method, uri, ct, body)).await
    }
    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call("GET", uri, None, "").await
    }
    async fn create_pod(&self, name: &str, labels: Value) -> (StatusCode, Value) {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}});
        self.call(
            "POST",
            "/api/v1/namespaces/default/pods",
            Some("application/json"),
            pod.to_string(),
        )
        .await
    }
}

#[tokio::test]
async fn anonymous_tls_requests_are_unauthorized_but_token_works() {
    let t = setup();
    let mut r = req("GET", "/api/v1/namespaces/default/pods", None, "");
    r.extensions_mut().insert(ConnAuth::None);
    let (code, v) = t.send(r).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(v["reason"], "Unauthorized");
    assert_eq!(v["kind"], "Status");
    let mut r = Request::builder()
        .uri("/api/v1/namespaces/default/pods")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    r.extensions_mut().insert(ConnAuth::None);
    assert_eq!(t.send(r).await.0, StatusCode::OK);
    let mut r = Request::builder()
        .uri("/version")
        .header("authorization", "Bearer nope")
        .body(Body::empty())
        .unwrap();
    r.extensions_mut().insert(ConnAuth::None);
    assert_eq!(t.send(r).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn create_get_list_and_errors() {
    let t = setup();
    let (code, v) = t.create_pod("web", json!({"app": "web"})).await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["spec"]["restartPolicy"], "Always",
        "defaulted before the backend"
    );
    let (code, v) = t.create_pod("web", json!({})).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(v["reason"], "AlreadyExists");
    assert_eq!(v["message"], "pods \"web\" already exists");
    let (code, v) = t.get("/api/v1/namespaces/default/pods/nope").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(v["message"], "pods \"nope\" not found");
    let (code, v) = t.get("/api/v1/namespaces/default/pods/web").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["kind"], "Pod");
    let (_, v) = t.get("/api/v1/pods").await;
    assert_eq!(v["kind"], "PodList");
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert!(
        v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let (code, _) = t.get("/api/v1/namespaces/default/widgets").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, v) = t
        .call("PUT", "/api/v1/namespaces/default/pods", None, "")
        .await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["reason"], "MethodNotAllowed");
}

#[tokio::test]
async fn invalid_pod_is_422_with_causes() {
    let t = setup();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"},
        "spec": {"containers": [{"name": "app"}]}});
    let (code, v) = t
        .call(
            "POST",
            "/api/v1/namespaces/default/pods",
            Some("application/json"),
            pod.to_string(),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["reason"], "Invalid");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Pod \"bad\" is invalid: "),
        "{v}"
    );
    let causes = v["details"]["causes"].as_array().unwrap();
    assert!(
        causes.iter().any(
            |c| c["field"] == "spec.containers[0].image" && c["reason"] == "FieldValueRequired"
        ),
        "{v}"
    );
    let (code, v) = t.call("POST", "/api/v1/namespaces/default/pods", Some("application/json"),
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"a","image":"b","bogus":1}]}}"#).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("unknown field"),
        "{v}"
    );
}

#[tokio::test]
async fn selectors_filter_lists() {
    let t = setup();
    t.create_pod("a", json!({"app": "web", "tier": "front"}))
        .await;
    t.create_pod("b", json!({"app": "db"})).await;
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, v) = t
        .get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
        .await;
    assert_eq!(names(&v), ["a"]);
    let (_, v) = t
        .get("/api/v1/namespaces/default/pods?labelSelector=app%20in%20(web,db),!tier")
        .await;
    assert_eq!(names(&v), ["b"]);
    let (_, v) = t
        .get("/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Db")
        .await;
    assert_eq!(names(&v), ["b"]);
    let (_, v) = t.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Da,reason%3DScheduled").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    let (code, v) = t
        .get("/api/v1/namespaces/default/pods?fieldSelector=spec.bogus%3D1")
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(v["message"], "field label not supported: spec.bogus");
}

#[tokio::test]
async fn patches_of_every_type() {
    let t = setup();
    t.create_pod("p", json!({"app": "web"})).await;
    let u = "/api/v1/namespaces/default/pods/p";
    let (code, v) = t
        .call(
            "PATCH",
            u,
            Some("application/merge-patch+json"),
            r#"{"metadata":{"labels":{"x":"1"}}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"]["labels"], json!({"app": "web", "x": "1"}));
    let (code, v) = t
        .call(
            "PATCH",
            u,
            Some("application/strategic-merge-patch+json"),
            r#"{"spec":{"containers":[{"name":"app","image":"busybox:1.37"}]}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["spec"]["containers"][0]["image"], "busybox:1.37");
    assert_eq!(
        v["spec"]["containers"][0]["command"],
        json!(["sleep", "3600"]),
        "merged by name"
    );
    let (code, v) = t
        .call(
            "PATCH",
            u,
            Some("application/json-patch+json"),
            r#"[{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}]"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"]["annotations"]["a"], "b");
    // Changing anything but the image is forbidden for pods.
    let (code, v) = t
        .call(
            "PATCH",
            u,
            Some("application/strategic-merge-patch+json"),
            r#"{"spec":{"containers":[{"name":"app","command":["true"]}]}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["details"]["causes"][0]["field"], "spec");
    // A stale resourceVersion in the patch is a conflict.
    let (code, v) = t
        .call(
            "PATCH",
            u,
            Some("application/merge-patch+json"),
            r#"{"metadata":{"resourceVersion":"1","labels":{"y":"2"}}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    // Server-side apply creates, then merges, recording the manager.
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"1\"\n";
    let (code, v) = t
        .call(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/cfg?fieldManager=kubectl",
            Some("application/apply-patch+yaml"),
            cm,
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert_eq!(v["metadata"]["managedFields"][0]["manager"], "kubectl");
    let cm2 = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  b: \"2\"\n";
    let (code, v) = t
        .call(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/cfg?fieldManager=kubectl",
            Some("application/apply-patch+yaml"),
            cm2,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["data"], json!({"a": "1", "b": "2"}));
    let (code, _) = t
        .call(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/cfg",
            Some("application/apply-patch+yaml"),
            cm2,
        )
        .await;
    assert_eq!(
        code,
        StatusCode::BAD_REQUEST,
        "fieldManager is required for apply"
    );
}

#[tokio::test]
async fn tables_for_kubectl_get() {
    let t = setup();
    t.create_pod("web", json!({})).await;
    let mut r = req("GET", "/api/v1/namespaces/default/pods", None, "");
    r.headers_mut().insert("accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json".parse().unwrap());
    let (code, v) = t.send(r).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["kind"], "Table");
    let cols: Vec<&str> = v["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    assert_eq!(v["rows"][0]["cells"][0], "web");
    assert_eq!(v["rows"][0]["cells"][1], "1/1");
    assert_eq!(v["rows"][0]["cells"][2], "Running");
    let mut r = req("GET", "/api/v1/nodes", None, "");
    r.headers_mut().insert(
        "accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io"
            .parse()
            .unwrap(),
    );
    let (_, v) = t.send(r).await;
    assert_eq!(v["rows"][0]["cells"][0], "mem");
    assert_eq!(v["rows"][0]["cells"][1], "Ready");
}

#[tokio::test]
async fn delete_with_grace_then_watch_sees_deleted() {
    let t = setup();
    let (_, created) = t.create_pod("w", json!({})).await;
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let r = req(
        "GET",
        &format!(
            "/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}&fieldSelector=metadata.name%3Dw"
        ),
        None,
        "",
    );
    let resp = t.router.clone().oneshot(r).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body().into_data_stream();
    let (code, v) = t
        .call(
            "DELETE",
            "/api/v1/namespaces/default/pods/w",
            Some("application/json"),
            r#"{"gracePeriodSeconds":1,"propagationPolicy":"Background"}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert!(v["metadata"]["deletionTimestamp"].is_string());
    let mut types = Vec::new();
    let mut buf = String::new();
    while !types.contains(&"DELETED".to_string()) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(i) = buf.find('\n') {
            let line: String = buf.drain(..=i).collect();
            let ev: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(ev["object"]["metadata"]["name"], "w");
            types.push(ev["type"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(types, ["MODIFIED", "DELETED"]);
    let (code, v) = t
        .call("DELETE", "/api/v1/namespaces/default/pods/w", None, "")
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{v}");
    let (code, v) = t
        .call(
            "DELETE",
            "/api/v1/namespaces/default/pods/x?propagationPolicy=Sideways",
            None,
            "",
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

#[tokio::test]
async fn watch_without_version_starts_with_added_and_too_old_is_gone() {
    let t = setup();
    t.create_pod("a", json!({})).await;
    let r = req(
        "GET",
        "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1",
        None,
        "",
    );
    let (_, v) = t.send(r).await;
    let text = v
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string());
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["metadata"]["name"], "a");
}

#[tokio::test]
async fn discovery_and_openapi() {
    let t = setup();
    let (_, v) = t.get("/version").await;
    assert_eq!(v["gitVersion"], "v1.37.0-nodelet");
    let mut r = req("GET", "/api", None, "");
    r.headers_mut().insert(
        "accept",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            .parse()
            .unwrap(),
    );
    let resp = t.router.clone().oneshot(r).await.unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let (_, v) = t.get("/apis").await;
    assert_eq!(v["groups"][0]["name"], "discovery.k8s.io");
    assert_eq!(v["groups"][1]["name"], "events.k8s.io");
    let (code, v) = t.get("/apis/discovery.k8s.io/v1").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["resources"][0]["name"], "endpointslices");
    let (code, v) = t.get("/openapi/v3/apis/discovery.k8s.io/v1").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        v["components"]["schemas"]["io.k8s.api.discovery.v1.EndpointSlice"]["x-kubernetes-group-version-kind"]
            [0]["group"],
        "discovery.k8s.io"
    );
    let (code, v) = t.get("/openapi/v3/api/v1").await;
    assert_eq!(code, StatusCode::OK);
    assert!(v["components"]["schemas"]["io.k8s.api.core.v1.Pod"].is_object());
    let (_, v) = t
        .get("/apis/events.k8s.io/v1/namespaces/default/events")
        .await;
    assert_eq!(v["apiVersion"], "events.k8s.io/v1");
    // kubectl's client-side validation (`kind: List`) asks for protobuf only.
    let mut r = req("GET", "/openapi/v2", None, "");
    r.headers_mut().insert(
        "accept",
        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
            .parse()
            .unwrap(),
    );
    let resp = t.router.clone().oneshot(r).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    // Document.swagger (field 1) = "2.0", then the definitions.
    assert_eq!(&body[..5], b"\x0a\x032.0");
    assert!(
        body.windows(22).any(|w| w == b"io.k8s.api.core.v1.Pod"),
        "the Pod definition is in the document"
    );
    let mut r = req("GET", "/openapi/v2", None, "");
    r.headers_mut()
        .insert("accept", "application/x-yaml".parse().unwrap());
    let resp = t.router.clone().oneshot(r).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_ACCEPTABLE);
}

/// The `nodelet.dev/v1` kinds are served under their group (a lookup of
/// core plurals only once made every one of these a route-level 404).
#[tokio::test]
async fn nodelet_group_kinds_are_served() {
    let t = setup();
    for (path, list) in [
        (
            "/apis/nodelet.dev/v1/namespaces/default/hookdeliveries",
            "HookDeliveryList",
        ),
        ("/apis/nodelet.dev/v1/hookdeliveries", "HookDeliveryList"),
        (
            "/apis/nodelet.dev/v1/namespaces/default/podtimelines",
            "PodTimelineList",
        ),
        ("/apis/nodelet.dev/v1/podtimelines", "PodTimelineList"),
    ] {
        let (code, v) = t.get(path).await;
        assert_eq!(code, StatusCode::OK, "{path}: {v}");
        assert_eq!(v["kind"], list, "{path}");
        assert_eq!(v["apiVersion"], "nodelet.dev/v1", "{path}");
    }
    let (code, v) = t
        .get("/apis/nodelet.dev/v1/namespaces/default/podtimelines/nope")
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(
        v["message"].as_str().unwrap_or("").contains("nope"),
        "a missing object names itself, not the route: {v}"
    );
    // Core kinds are not served under the nodelet group.
    let (code, _) = t.get("/apis/nodelet.dev/v1/namespaces/default/pods").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn logs_strip_cri_prefix() {
    let t = setup();
    t.create_pod("l", json!({})).await;
    let (code, v) = t.get("/api/v1/namespaces/default/pods/l/log").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v, Value::String("hello from app\n".into()));
    let (code, v) = t
        .get("/api/v1/namespaces/default/pods/l/log?container=zz")
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(v["message"], "container zz is not valid for pod l");
}

#[tokio::test]
async fn leaving_a_label_selection_is_a_deleted_event() {
    let t = setup();
    let (_, created) = t.create_pod("sel", json!({"app": "web"})).await;
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    // Without a resourceVersion the watch starts with the current objects.
    let r = req(
        "GET",
        "/api/v1/namespaces/default/pods?watch=true&labelSelector=app%3Dweb",
        None,
        "",
    );
    let resp = t.router.clone().oneshot(r).await.unwrap();
    let mut body = resp.into_body().into_data_stream();
    assert!(rv.parse::<u64>().unwrap() > 0);
    let (code, v) = t
        .call(
            "PATCH",
            "/api/v1/namespaces/default/pods/sel",
            Some("application/merge-patch+json"),
            r#"{"metadata":{"labels":{"app":"db"}}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let mut buf = String::new();
    let mut types = Vec::new();
    while types.len() < 2 {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(i) = buf.find('\n') {
            let line: String = buf.drain(..=i).collect();
            let ev: Value = serde_json::from_str(&line).unwrap();
            types.push(ev["type"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(types, ["ADDED", "DELETED"]);
}

#[tokio::test]
async fn status_subresource_writes_only_status() {
    let t = setup();
    let (_, pod) = t.create_pod("s", json!({"app": "web"})).await;
    let rv = pod["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let u = "/api/v1/namespaces/default/pods/s/status";
    // merge: spec and labels in the patch are ignored, status is taken.
    let (code, v) = t
        .call(
            "PATCH",
            u,
            Some("application/merge-patch+json"),
            r#"{"metadata":{"labels":{"x":"1"}},"spec":{"activeDeadlineSeconds":5},
                "status":{"conditions":[{"type":"example.com/lb","status":"True"}]}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["kind"], "Pod");
    assert_eq!(v["metadata"]["labels"], json!({"app": "web"}));
    assert!(v["spec"]["activeDeadlineSeconds"].is_null());
    assert_eq!(
        v["status"]["conditions"],
        json!([{"type": "example.com/lb", "status": "True"}])
    );
    // strategic: conditions merge by type.
    let (code, v) = t
        .call(
            "PATCH",
            u,
            Some("application/strategic-merge-patch+json"),
            r#"{"status":{"conditions":[{"type":"other","status":"False"}]}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let types: Vec<&str> = v["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["example.com/lb", "other"]);
    // json patch with an invalid condition status: 422 naming the field.
    let (code, v) = t
        .call(
            "PATCH",
            u,
            Some("application/json-patch+json"),
            r#"[{"op":"add","path":"/status/conditions/-","value":{"type":"x","status":"Maybe"}}]"#,
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["details"]["causes"][0]["field"],
        "status.conditions[2].status"
    );
    // A stale resourceVersion is a conflict, for PATCH and PUT.
    let stale =
        format!(r#"{{"metadata":{{"resourceVersion":"{rv}"}},"status":{{"phase":"Failed"}}}}"#);
    let (code, v) = t
        .call("PATCH", u, Some("application/merge-patch+json"), stale)
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    let (_, mut cur) = t.get("/api/v1/namespaces/default/pods/s").await;
    cur["status"]["phase"] = json!("Succeeded");
    cur["spec"]["containers"][0]["image"] = json!("changed");
    let (code, v) = t
        .call("PUT", u, Some("application/json"), cur.to_string())
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["status"]["phase"], "Succeeded");
    assert_eq!(v["spec"]["containers"][0]["image"], "busybox:1.36");
    let (code, v) = t
        .call("PUT", u, Some("application/json"), cur.to_string())
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "old resourceVersion: {v}");
    // apply needs a field manager; no create through status.
    let apply =
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"s"},"status":{"phase":"Running"}}"#;
    let (code, _) = t
        .call("PATCH", u, Some("application/apply-patch+yaml"), apply)
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, v) = t
        .call(
            "PATCH",
            &format!("{u}?fieldManager=m"),
            Some("application/apply-patch+yaml"),
            apply,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["status"]["phase"], "Running");
    let (code, _) = t
        .call(
            "PATCH",
            "/api/v1/namespaces/default/pods/nope/status?fieldManager=m",
            Some("application/apply-patch+yaml"),
            apply.replace("\"s\"", "\"nope\""),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    // dry run leaves the stored status alone; DELETE is not allowed.
    let (code, v) = t
        .call(
            "PATCH",
            &format!("{u}?dryRun=All"),
            Some("application/merge-patch+json"),
            r#"{"status":{"phase":"Failed"}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["status"]["phase"], "Failed");
    let (_, v) = t.get(u).await;
    assert_eq!(v["status"]["phase"], "Running");
    let (code, _) = t.call("DELETE", u, None, "").await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
}
