//! Pod updates through the API over the real engine (fake runtime): PUT
//! and the four PATCH types with resourceVersion preconditions (409), the
//! API server's 422 for forbidden changes (nothing changed), the
//! generation, and the `pods/{name}/resize` subresource.

mod fake_engine;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use nodelet_api::ConnAuth;
use serde_json::{Value, json};
use tower::ServiceExt;

struct H {
    router: axum::Router,
    _dir: tempfile::TempDir,
}

const POD: &str = "/api/v1/namespaces/default/pods/web";

async fn setup() -> H {
    let (backend, dir) = fake_engine::backend().await;
    let h = H {
        router: nodelet_api::router(backend, "t"),
        _dir: dir,
    };
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "busybox:1", "command": ["sleep", "3600"],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                          "limits": {"cpu": "200m", "memory": "128Mi"}}}]}});
    let (code, v) = h
        .call(
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            &pod.to_string(),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert_eq!(v["metadata"]["generation"], 1);
    h
}

impl H {
    async fn call(&self, method: &str, uri: &str, ct: &str, body: &str) -> (StatusCode, Value) {
        let mut r = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", ct)
            .body(Body::from(body.to_owned()))
            .unwrap();
        r.extensions_mut().insert(ConnAuth::Local);
        let resp = self.router.clone().oneshot(r).await.unwrap();
        let code = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn get(&self) -> Value {
        let (code, v) = self.call("GET", POD, "application/json", "").await;
        assert_eq!(code, StatusCode::OK, "{v}");
        v
    }
}

#[tokio::test]
async fn put_honours_the_resource_version() {
    let h = setup().await;
    // Read, then someone else changes the pod: the read copy is stale.
    let stale = h.get().await;
    let (code, v) = h
        .call(
            "PATCH",
            POD,
            "application/merge-patch+json",
            r#"{"metadata": {"labels": {"other": "x"}}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let mut stale = stale;
    stale["metadata"]["labels"]["time"] = json!("1");
    let (code, v) = h
        .call("PUT", POD, "application/json", &stale.to_string())
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        v["message"],
        "Operation cannot be fulfilled on pods \"web\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(v["reason"], "Conflict");
    let mut pod = h.get().await;
    pod["metadata"]["labels"]["time"] = json!("1");
    let (code, v) = h
        .call("PUT", POD, "application/json", &pod.to_string())
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"]["labels"]["time"], "1");
    // Labels are not spec: the generation stays.
    assert_eq!(v["metadata"]["generation"], 1);
    // Without a resourceVersion the update is unconditional.
    let mut pod = v.clone();
    pod["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    pod["metadata"]["labels"]["time"] = json!("2");
    let (code, v) = h
        .call("PUT", POD, "application/json", &pod.to_string())
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"]["labels"]["time"], "2");
}

#[tokio::test]
async fn every_patch_type_changes_labels_and_honours_preconditions() {
    let h = setup().await;
    let cases = [
        (
            "application/json-patch+json",
            r#"[{"op": "add", "path": "/metadata/labels/a", "value": "1"}]"#,
            "a",
        ),
        (
            "application/merge-patch+json",
            r#"{"metadata": {"labels": {"b": "2"}}}"#,
            "b",
        ),
        (
            "application/strategic-merge-patch+json",
            r#"{"metadata": {"labels": {"c": "3"}}}"#,
            "c",
        ),
    ];
    for (ct, patch, key) in cases {
        let (code, v) = h.call("PATCH", POD, ct, patch).await;
        assert_eq!(code, StatusCode::OK, "{ct}: {v}");
        assert!(v["metadata"]["labels"][key].is_string(), "{ct}: {v}");
    }
    let apply = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"d": "4"}}});
    let (code, v) = h
        .call(
            "PATCH",
            &format!("{POD}?fieldManager=test"),
            "application/apply-patch+yaml",
            &apply.to_string(),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"]["labels"]["d"], "4");
    // A stale resourceVersion in any patch is a 409.
    let stale = [
        ("application/json-patch+json", r#"[{"op": "replace", "path": "/metadata/resourceVersion", "value": "1"}, {"op": "add", "path": "/metadata/labels/e", "value": "5"}]"#.to_owned()),
        ("application/merge-patch+json", r#"{"metadata": {"resourceVersion": "1", "labels": {"e": "5"}}}"#.to_owned()),
        ("application/strategic-merge-patch+json", r#"{"metadata": {"resourceVersion": "1", "labels": {"e": "5"}}}"#.to_owned()),
        ("application/apply-patch+yaml", json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "resourceVersion": "1", "labels": {"e": "5"}}}).to_string()),
    ];
    for (ct, patch) in stale {
        let (code, v) = h
            .call("PATCH", &format!("{POD}?fieldManager=test"), ct, &patch)
            .await;
        assert_eq!(code, StatusCode::CONFLICT, "{ct}: {v}");
    }
    assert!(h.get().await["metadata"]["labels"]["e"].is_null());
    // The current resourceVersion passes.
    let rv = h.get().await["metadata"]["resourceVersion"].clone();
    let patch = json!({"metadata": {"resourceVersion": rv, "labels": {"e": "5"}}});
    let (code, v) = h
        .call(
            "PATCH",
            POD,
            "application/merge-patch+json",
            &patch.to_string(),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn forbidden_changes_are_refused_with_the_api_servers_message() {
    let h = setup().await;
    let before = h.get().await;
    let (code, v) = h
        .call(
            "PATCH",
            POD,
            "application/strategic-merge-patch+json",
            r#"{"spec": {"containers": [{"name": "app", "command": ["sh"]}]}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "Pod \"web\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n  core.PodSpec{\n"
        ),
        "{msg}"
    );
    assert!(msg.contains("+ \t\t\t\t\"sh\",\n"), "{msg}");
    assert_eq!(v["details"]["causes"][0]["field"], "spec");
    assert_eq!(v["details"]["causes"][0]["reason"], "FieldValueForbidden");
    let after = h.get().await;
    assert_eq!(before["spec"], after["spec"]);
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    // Resources change only through pods/resize.
    let (code, v) = h
        .call(
            "PATCH",
            POD,
            "application/strategic-merge-patch+json",
            r#"{"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "256Mi"}}}]}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // The deadline may be set, not raised.
    let (code, v) = h
        .call(
            "PATCH",
            POD,
            "application/merge-patch+json",
            r#"{"spec": {"activeDeadlineSeconds": 600}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let (code, v) = h
        .call(
            "PATCH",
            POD,
            "application/merge-patch+json",
            r#"{"spec": {"activeDeadlineSeconds": 900}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["message"],
        "Pod \"web\" is invalid: spec.activeDeadlineSeconds: Invalid value: 900: must be less than or equal to previous value"
    );
}

#[tokio::test]
async fn an_image_change_is_accepted_and_bumps_the_generation() {
    let h = setup().await;
    let (code, v) = h
        .call(
            "PATCH",
            POD,
            "application/strategic-merge-patch+json",
            r#"{"spec": {"containers": [{"name": "app", "image": "busybox:2"}]}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["spec"]["containers"][0]["image"], "busybox:2");
    assert_eq!(v["metadata"]["generation"], 2);
}

#[tokio::test]
async fn the_resize_subresource_changes_only_resources() {
    let h = setup().await;
    let resize = format!("{POD}/resize");
    let (code, v) = h.call("GET", &resize, "application/json", "").await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["kind"], "Pod");
    let (code, v) = h
        .call(
            "PATCH",
            &resize,
            "application/strategic-merge-patch+json",
            r#"{"spec": {"containers": [{"name": "app", "image": "ignored:1",
                "resources": {"limits": {"memory": "256Mi"}}}]}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(
        v["spec"]["containers"][0]["resources"]["limits"]["memory"],
        "256Mi"
    );
    assert_eq!(v["spec"]["containers"][0]["image"], "busybox:1");
    assert_eq!(v["metadata"]["generation"], 2);
    let (code, v) = h
        .call(
            "PATCH",
            &resize,
            "application/merge-patch+json",
            r#"{"spec": {"containers": [{"name": "app", "image": "busybox:1",
                "resources": {"limits": {"memory": "256Mi", "cpu": "200m", "ephemeral-storage": "1Gi"},
                              "requests": {"cpu": "100m", "memory": "64Mi"}}}]}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["message"],
        "Pod \"web\" is invalid: spec: Forbidden: only cpu and memory resources are mutable"
    );
    // A stale resourceVersion: 409.
    let (code, v) = h
        .call(
            "PATCH",
            &resize,
            "application/merge-patch+json",
            r#"{"metadata": {"resourceVersion": "1"}}"#,
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    // PUT of the whole pod works too.
    let mut pod = h.get().await;
    pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!("300m");
    let (code, v) = h
        .call("PUT", &resize, "application/json", &pod.to_string())
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(
        v["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        "300m"
    );
}

#[tokio::test]
async fn discovery_lists_pods_resize() {
    let h = setup().await;
    let (_, v) = h.call("GET", "/api/v1", "application/json", "").await;
    let names: Vec<&str> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"pods/resize"), "{names:?}");
}
