//! Secrets hygiene over the real engine and store (fake runtime): a pod
//! using a secret in env (secretKeyRef), as a volume and as its
//! imagePullSecret runs and is deleted; then every API answer (objects,
//! tables, events), the debug tracing, the audit log, the store's file and
//! its non-Secret records are searched for the secret values. They appear
//! nowhere (the Secret objects hold them base64-encoded only, as etcd).

mod fake_engine;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use nodelet_api::ConnAuth;
use serde_json::{Value, json};
use tower::ServiceExt;

const ENV_VALUE: &str = "EnvSecret-4f9c2a";
const FILE_VALUE: &str = "FileSecret-81b7e0";
const PULL_PASSWORD: &str = "PullPass-c03d5e";

/// Everything the agent traced, at debug.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Value,
    table: bool,
) -> (StatusCode, String) {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if table {
        b = b.header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io");
    }
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut r = b.body(Body::from(body)).unwrap();
    r.extensions_mut().insert(ConnAuth::Local);
    let resp = router.clone().oneshot(r).await.unwrap();
    let code = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn secret_values_appear_nowhere_after_a_full_lifecycle() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (backend, dir) = fake_engine::backend().await;
    let audit_path = dir.path().join("audit.log");
    let audit = Arc::new(nodelet_api::audit::AuditLog::open(&audit_path).unwrap());
    let router = nodelet_api::router_full(
        backend,
        "t",
        None,
        nodelet_api::admission::PodSecurityConfig::default(),
        nodelet_api::ApiOptions {
            limits: Default::default(),
            audit: Some(audit),
        },
    );
    let mut outputs = Vec::new();
    let docker = json!({"auths": {"registry.example": {"username": "u", "password": PULL_PASSWORD,
        "auth": base64_of(&format!("u:{PULL_PASSWORD}"))}}});
    for s in [
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app"},
               "stringData": {"token": ENV_VALUE, "file": FILE_VALUE}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull"}, "type": "kubernetes.io/dockerconfigjson",
               "stringData": {".dockerconfigjson": docker.to_string()}}),
    ] {
        let (code, body) = call(
            &router,
            "POST",
            "/api/v1/namespaces/default/secrets",
            s,
            false,
        )
        .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"imagePullSecrets": [{"name": "pull"}],
                 "containers": [{"name": "c", "image": "registry.example/app:1",
                     "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "app", "key": "token"}}}],
                     "volumeMounts": [{"name": "s", "mountPath": "/etc/s"}]}],
                 "volumes": [{"name": "s", "secret": {"secretName": "app"}}]}});
    let (code, body) = call(
        &router,
        "POST",
        "/api/v1/namespaces/default/pods",
        pod,
        false,
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let mut running = false;
    for _ in 0..100 {
        let (_, body) = call(
            &router,
            "GET",
            "/api/v1/namespaces/default/pods/p",
            Value::Null,
            false,
        )
        .await;
        if body.contains("\"phase\":\"Running\"") {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(running, "the pod did not reach Running");
    for (uri, table) in [
        ("/api/v1/namespaces/default/pods/p", false),
        ("/api/v1/namespaces/default/pods", true),
        ("/api/v1/namespaces/default/events", false),
        ("/api/v1/namespaces/default/events", true),
        ("/apis/events.k8s.io/v1/namespaces/default/events", false),
        ("/api/v1/namespaces/default/secrets", true),
        (
            "/apis/nodelet.dev/v1/namespaces/default/podtimelines",
            false,
        ),
    ] {
        outputs.push((
            uri.to_string(),
            call(&router, "GET", uri, Value::Null, table).await.1,
        ));
    }
    let (code, body) = call(
        &router,
        "DELETE",
        "/api/v1/namespaces/default/pods/p?gracePeriodSeconds=0",
        Value::Null,
        false,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    outputs.push(("delete".into(), body));
    tokio::time::sleep(Duration::from_millis(500)).await;
    outputs.push((
        "events after delete".into(),
        call(
            &router,
            "GET",
            "/api/v1/namespaces/default/events",
            Value::Null,
            false,
        )
        .await
        .1,
    ));

    outputs.push((
        "audit log".into(),
        std::fs::read_to_string(&audit_path).unwrap(),
    ));
    outputs.push((
        "tracing".into(),
        String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned(),
    ));
    // The store's file: the Secrets hold base64 only, so no plain value.
    let raw = std::fs::read(dir.path().join("state.redb")).unwrap();
    outputs.push((
        "store file".into(),
        String::from_utf8_lossy(&raw).into_owned(),
    ));
    assert!(
        outputs
            .iter()
            .any(|(w, t)| w == "tracing" && t.contains("DEBUG")),
        "debug tracing was captured"
    );

    let encoded = [ENV_VALUE, FILE_VALUE].map(base64_of);
    for (what, text) in &outputs {
        for v in [ENV_VALUE, FILE_VALUE, PULL_PASSWORD] {
            assert!(!text.contains(v), "{v} found in {what}:\n{text}");
        }
        if what != "store file" {
            for v in &encoded {
                assert!(
                    !text.contains(v.as_str()),
                    "{v} (base64) found in {what}:\n{text}"
                );
            }
        }
    }
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}
