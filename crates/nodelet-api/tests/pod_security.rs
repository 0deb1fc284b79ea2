//! PodSecurity admission through the real router: nodelet's default
//! (baseline enforced), the namespace labels overriding it, upstream's 403
//! text and the `Warning` headers kubectl prints, for POST and for a
//! server-side apply that creates.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use nodelet_api::admission::PodSecurityConfig;
use nodelet_api::{ConnAuth, Kind, WatchEventType};
use nodelet_spec::podsecurity::Level;
use serde_json::{Value, json};
use support::mem::{Mem, MemBackend};
use tower::ServiceExt;

struct T {
    router: axum::Router,
    mem: Arc<MemBackend>,
    _dir: tempfile::TempDir,
}

fn setup(cfg: PodSecurityConfig) -> T {
    let dir = tempfile::tempdir().unwrap();
    let mem = MemBackend::new(dir.path().to_path_buf());
    T {
        router: nodelet_api::router_with(Arc::new(Mem(mem.clone())), "t", None, cfg),
        mem,
        _dir: dir,
    }
}

impl T {
    fn namespace(&self, name: &str, labels: Value) {
        self.mem.put(
            Kind::Namespace,
            "",
            name,
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": name, "labels": labels}}),
            WatchEventType::Added,
        );
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        ct: &str,
        body: Value,
    ) -> (StatusCode, Vec<String>, Value) {
        let mut r = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", ct)
            .body(Body::from(body.to_string()))
            .unwrap();
        r.extensions_mut().insert(ConnAuth::Local);
        let resp = self.router.clone().oneshot(r).await.unwrap();
        let code = resp.status();
        let warnings = resp
            .headers()
            .get_all("warning")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (code, warnings, serde_json::from_slice(&bytes).unwrap())
    }

    async fn create(&self, ns: &str, pod: Value) -> (StatusCode, Vec<String>, Value) {
        self.send(
            "POST",
            &format!("/api/v1/namespaces/{ns}/pods"),
            "application/json",
            pod,
        )
        .await
    }
}

fn pod(name: &str, spec_extra: Value, container_extra: Value) -> Value {
    let mut c = json!({"name": "app", "image": "busybox:1.36"});
    for (k, v) in container_extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    let mut spec = json!({"containers": [c]});
    for (k, v) in spec_extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn baseline_is_enforced_by_default_with_upstreams_message() {
    let t = setup(PodSecurityConfig::default());
    let (code, _, v) = t
        .create(
            "default",
            pod(
                "hostnet",
                json!({"hostNetwork": true}),
                json!({"securityContext": {"privileged": true}}),
            ),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["reason"], "Forbidden");
    assert_eq!(
        v["message"],
        "pods \"hostnet\" is forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true), privileged (container \"app\" must not set securityContext.privileged=true)"
    );
    assert_eq!(v["details"]["name"], "hostnet");
    assert_eq!(v["details"]["kind"], "pods");
    // Nothing was stored.
    let (code, _, _) = t
        .send(
            "GET",
            "/api/v1/namespaces/default/pods/hostnet",
            "application/json",
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // A plain pod passes baseline without warnings.
    let (code, warnings, v) = t
        .create("default", pod("plain", json!({}), json!({})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[tokio::test]
async fn namespace_labels_choose_the_level_and_warn_in_headers() {
    let t = setup(PodSecurityConfig::default());
    t.namespace(
        "open",
        json!({"pod-security.kubernetes.io/enforce": "privileged",
               "pod-security.kubernetes.io/warn": "restricted"}),
    );
    // Privileged enforce admits a host-network pod; the restricted warn
    // level reports what it would refuse, as kubectl shows it.
    let (code, warnings, v) = t
        .create("open", pod("p", json!({"hostNetwork": true}), json!({})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert_eq!(
        warnings,
        vec![
            "299 - \"would violate PodSecurity \\\"restricted:latest\\\": host namespaces (hostNetwork=true), allowPrivilegeEscalation != false (container \\\"app\\\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \\\"app\\\" must set securityContext.capabilities.drop=[\\\"ALL\\\"]), runAsNonRoot != true (pod or container \\\"app\\\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \\\"app\\\" must set securityContext.seccompProfile.type to \\\"RuntimeDefault\\\" or \\\"Localhost\\\")\""
                .to_string()
        ]
    );

    // restricted enforce: a compliant pod passes, dry-run refusals too.
    t.namespace(
        "locked",
        json!({"pod-security.kubernetes.io/enforce": "restricted"}),
    );
    let good = pod(
        "good",
        json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}}),
        json!({"securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}),
    );
    let (code, warnings, v) = t.create("locked", good).await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert!(warnings.is_empty());
    let (code, _, v) = t
        .send(
            "POST",
            "/api/v1/namespaces/locked/pods?dryRun=All",
            "application/json",
            pod("bad", json!({}), json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("pods \"bad\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false"),
        "{v}"
    );
}

#[tokio::test]
async fn server_side_apply_that_creates_is_admitted() {
    let t = setup(PodSecurityConfig::default());
    let (code, _, v) = t
        .send(
            "PATCH",
            "/api/v1/namespaces/default/pods/hp?fieldManager=kubectl",
            "application/apply-patch+yaml",
            pod("hp", json!({"hostPID": true}), json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(
        v["message"],
        "pods \"hp\" is forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostPID=true)"
    );
}

#[tokio::test]
async fn privileged_default_admits_everything() {
    let t = setup(PodSecurityConfig::at(Level::Privileged));
    let (code, warnings, v) = t
        .create(
            "default",
            pod(
                "root",
                json!({"hostNetwork": true, "hostPID": true}),
                json!({"securityContext": {"privileged": true}}),
            ),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert!(warnings.is_empty());
}

/// With service account tokens on, both admission plugins run, in the API
/// server's order: the mutating ServiceAccount plugin first (a missing
/// account refuses the pod before PodSecurity looks at it), then
/// PodSecurity on the admitted pod (whose API access volume, a projected
/// one, baseline allows).
#[tokio::test]
async fn service_account_admission_runs_before_pod_security() {
    let dir = tempfile::tempdir().unwrap();
    let mem = MemBackend::new(dir.path().to_path_buf());
    let store = Arc::new(nodelet_store::Store::open(&dir.path().join("store.redb")).unwrap());
    let tokens = nodelet_api::tokens::TokenAuthority::open(dir.path(), store, "node-1").unwrap();
    let t = T {
        router: nodelet_api::router_with(
            Arc::new(Mem(mem.clone())),
            "t",
            Some(Arc::new(tokens)),
            PodSecurityConfig::default(),
        ),
        mem,
        _dir: dir,
    };
    // No account "ghost": the ServiceAccount plugin refuses first, even
    // though the pod would violate baseline too.
    let (code, _, v) = t
        .create(
            "default",
            pod(
                "early",
                json!({"serviceAccountName": "ghost", "hostNetwork": true}),
                json!({}),
            ),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(
        v["message"],
        "pods \"early\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found"
    );

    t.mem.put(
        Kind::ServiceAccount,
        "default",
        "default",
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "default", "namespace": "default"}}),
        WatchEventType::Added,
    );
    // The account exists: PodSecurity now decides.
    let (code, _, v) = t
        .create(
            "default",
            pod("hn", json!({"hostNetwork": true}), json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains(
            "violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true)"
        ),
        "{v}"
    );
    // A plain pod gets the API access volume and passes baseline.
    let (code, warnings, v) = t
        .create("default", pod("plain", json!({}), json!({})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert!(warnings.is_empty(), "{warnings:?}");
    let vols = v["spec"]["volumes"].as_array().unwrap();
    assert!(
        vols.iter().any(
            |v| v["name"].as_str().unwrap().starts_with("kube-api-access-")
                && v.get("projected").is_some()
        ),
        "{v}"
    );
}
