//! Volume orchestration rules against the fake runtime and its in-memory
//! volume host, under tokio's paused clock: FailedMount and the kubelet's
//! retry back-off, event-driven retry when the source appears, mounts given
//! to containers, live updates of ConfigMaps, Secrets, labels and tokens,
//! and removal with the pod.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use nodelet_engine::clock::TokioClock;
use nodelet_engine::sources::{SourceError, StoreSources, TokenGrant, TokenIssuer, TokenRequest};
use nodelet_engine::{Engine, EngineConfig};
use nodelet_runtime::MountPropagation;
use nodelet_runtime::fake::FakeRuntime;
use nodelet_runtime::fake_volumes::VolumeOp;
use nodelet_spec::Object;
use nodelet_store::Store;
use serde_json::json;

fn config_map(name: &str, data: &[(&str, &str)]) -> Object {
    let mut cm = ConfigMap {
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    };
    cm.metadata.name = Some(name.into());
    cm.metadata.namespace = Some("default".into());
    Object::ConfigMap(Box::new(cm))
}

fn cm_pod() -> serde_json::Value {
    json!({"metadata": {"name": "p"}, "spec": {
    "containers": [ctr("c", json!({"volumeMounts": [
        {"name": "cfg", "mountPath": "/etc/cfg"},
        {"name": "scratch", "mountPath": "/scratch", "mountPropagation": "HostToContainer"},
        {"name": "cfg", "mountPath": "/one", "subPath": "a"}
    ]}))],
    "volumes": [
        {"name": "cfg", "configMap": {"name": "settings"}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "unused", "configMap": {"name": "nowhere"}}
    ]}})
}

fn text(h: &H, name: &str, file: &str) -> Option<String> {
    let pod = h.get("p")?;
    let uid = pod.metadata.uid?;
    let payload = h.fake.fake_volumes().payload(&uid, name)?;
    payload
        .get(file)
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())
}

#[tokio::test(start_paused = true)]
async fn missing_config_map_holds_the_pod_and_its_creation_starts_it() {
    let h = setup().await;
    h.apply(cm_pod());
    h.until(3, |h| {
        h.has_event(
            "FailedMount",
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"settings\" not found",
        )
    })
    .await;
    assert_eq!(
        h.waiting_reason("p", "c").as_deref(),
        Some("ContainerCreating")
    );
    assert!(h.fake.containers().is_empty());
    // Retries back off: 0.5 s, 1 s, 2 s, 4 s... (8 attempts in 60 s).
    tokio::time::sleep(Duration::from_secs(60)).await;
    let attempts = h
        .events()
        .iter()
        .find(|e| e.reason.as_deref() == Some("FailedMount"))
        .and_then(|e| e.count)
        .unwrap_or(0);
    assert!((6..=8).contains(&attempts), "{attempts} attempts in 60 s");
    // The ConfigMap appears: the next attempt is at once, not after the
    // back-off (which is 32 s by now).
    let t = h.now();
    h.engine
        .apply(vec![config_map("settings", &[("a", "1")])])
        .unwrap();
    h.until(2, |h| h.fake.containers().len() == 1).await;
    assert!(
        h.now() - t < 1.0,
        "started {} s after the ConfigMap",
        h.now() - t
    );
    let mounts = h.fake.container_mounts("c").unwrap();
    assert_eq!(mounts.len(), 3);
    let cfg = mounts
        .iter()
        .find(|m| m.container_path == "/etc/cfg")
        .unwrap();
    assert!(cfg.read_only, "configMap volumes are read-only");
    let scratch = mounts
        .iter()
        .find(|m| m.container_path == "/scratch")
        .unwrap();
    assert!(!scratch.read_only);
    assert_eq!(scratch.propagation, MountPropagation::HostToContainer);
    let one = mounts.iter().find(|m| m.container_path == "/one").unwrap();
    assert!(one.host_path.ends_with("cfg/a"), "{one:?}");
    assert_eq!(text(&h, "cfg", "a").as_deref(), Some("1"));
    // The volume no container mounts was never set up.
    assert!(
        !h.fake
            .fake_volumes()
            .ops()
            .iter()
            .any(|o| matches!(o, VolumeOp::Setup { name, .. } if name == "unused"))
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_event_after_two_minutes_three_seconds() {
    let h = setup().await;
    h.apply(cm_pod());
    let msg = "Unable to attach or mount volumes: unmounted volumes=[cfg], unattached volumes=[], failed to process volumes=[]: timed out waiting for the condition";
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(!h.has_event("FailedMount", msg));
    h.until(130, |h| h.has_event("FailedMount", msg)).await;
    assert!(h.now() >= 123.0 && h.now() < 250.0, "at {}", h.now());
}

#[tokio::test(start_paused = true)]
async fn config_map_and_label_changes_reach_the_files() {
    let h = setup().await;
    h.engine
        .apply(vec![config_map("settings", &[("a", "1")])])
        .unwrap();
    h.apply(json!({"metadata": {"name": "p", "labels": {"k": "v1"}}, "spec": {
        "containers": [ctr("c", json!({"volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/cfg"},
            {"name": "info", "mountPath": "/etc/info"}
        ]}))],
        "volumes": [
            {"name": "cfg", "configMap": {"name": "settings"}},
            {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}
        ]}}));
    h.until(2, |h| h.fake.containers().len() == 1).await;
    assert_eq!(text(&h, "info", "labels").as_deref(), Some("k=\"v1\""));
    h.engine
        .apply(vec![config_map("settings", &[("a", "2")])])
        .unwrap();
    h.until(1, |h| text(h, "cfg", "a").as_deref() == Some("2"))
        .await;
    // A change in another namespace or of another object writes nothing.
    let writes = |h: &H| {
        h.fake
            .fake_volumes()
            .ops()
            .iter()
            .filter(|o| matches!(o, VolumeOp::Write { changed: true, .. }))
            .count()
    };
    let before = writes(&h);
    h.engine
        .apply(vec![config_map("other", &[("a", "9")])])
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(writes(&h), before);
    // A label change through the one update path rewrites the file.
    {
        let mut pod = h.get("p").unwrap();
        pod.metadata.labels = Some([("k".to_string(), "v2".to_string())].into());
        h.engine.update_pod(pod, None).unwrap();
    }
    h.until(1, |h| {
        text(h, "info", "labels").as_deref() == Some("k=\"v2\"")
    })
    .await;
    // A deleted source keeps the last good files and says so.
    h.engine
        .delete_object("ConfigMap", "default", "settings")
        .unwrap();
    h.until(1, |h| {
        h.has_event(
            "FailedMount",
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"settings\" not found",
        )
    })
    .await;
    assert_eq!(text(&h, "cfg", "a").as_deref(), Some("2"));
    // Volumes go with the pod.
    h.delete("p", Some(0)).await;
    h.gone("p").await;
    h.engine.resources_released().await;
    assert!(h.fake.fake_volumes().dirs().is_empty());
}

struct Issuer(AtomicU32, tokio::time::Instant);

#[async_trait]
impl TokenIssuer for Issuer {
    async fn issue(&self, req: &TokenRequest) -> Result<TokenGrant, SourceError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        let origin: jiff::Timestamp = ORIGIN.parse().unwrap();
        let elapsed = jiff::SignedDuration::try_from(self.1.elapsed()).unwrap();
        Ok(TokenGrant {
            token: format!(
                "tok{n}-{}-{}-{}",
                req.service_account,
                req.expiration_seconds,
                req.bound_pod
                    .as_ref()
                    .map(|b| b.name.as_str())
                    .unwrap_or("")
            ),
            expiration: origin + elapsed + jiff::SignedDuration::from_secs(req.expiration_seconds),
        })
    }
}

#[tokio::test(start_paused = true)]
async fn projected_tokens_rotate_at_eighty_percent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("state.redb")).unwrap());
    let fake = FakeRuntime::with_wall_origin(ORIGIN.parse().unwrap());
    let sources = StoreSources::new(store.clone()).with_token_issuer(Arc::new(Issuer(
        AtomicU32::new(0),
        tokio::time::Instant::now(),
    )));
    let engine = Engine::with_sources(
        Arc::new(fake.clone()),
        store,
        Arc::new(TokioClock::new(ORIGIN.parse().unwrap())),
        Arc::new(sources),
        EngineConfig::new("node1"),
    )
    .await
    .unwrap();
    engine.adopted().await;
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("kube-root-ca.crt".into());
    cm.metadata.namespace = Some("default".into());
    cm.data = Some([("ca.crt".to_string(), "PEM".to_string())].into());
    engine.apply(vec![Object::ConfigMap(Box::new(cm))]).unwrap();
    let mut p: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [ctr("c", json!({}))]}}))
    .unwrap();
    nodelet_spec::defaults::default_pod(&mut p);
    nodelet_spec::admission::service_account::admit_pod(&mut p, &Default::default(), "abcde");
    engine.apply(vec![Object::Pod(Box::new(p))]).unwrap();
    let uid = || {
        engine
            .get_pod("default", "p")
            .and_then(|p| p.metadata.uid)
            .unwrap_or_default()
    };
    let token = || {
        fake.fake_volumes()
            .payload(&uid(), "kube-api-access-abcde")
            .and_then(|p| {
                p.get("token")
                    .map(|f| String::from_utf8_lossy(&f.data).into_owned())
            })
    };
    let t0 = tokio::time::Instant::now();
    while fake.containers().is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
    assert_eq!(token().as_deref(), Some("tok0-default-3607-p"));
    let payload = fake
        .fake_volumes()
        .payload(&uid(), "kube-api-access-abcde")
        .unwrap();
    assert_eq!(payload["ca.crt"].data, b"PEM");
    assert_eq!(payload["namespace"].data, b"default");
    // 80% of 3607 s = 2885.6 s.
    tokio::time::sleep(Duration::from_secs(2880)).await;
    assert_eq!(token().as_deref(), Some("tok0-default-3607-p"));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(token().as_deref(), Some("tok1-default-3607-p"));
}

#[tokio::test(start_paused = true)]
async fn disk_empty_dir_over_its_size_limit_evicts_the_pod() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
    "containers": [ctr("c", json!({"volumeMounts": [
        {"name": "scratch", "mountPath": "/s"},
        {"name": "mem", "mountPath": "/m"}
    ]}))],
    "volumes": [
        {"name": "scratch", "emptyDir": {"sizeLimit": "1Mi"}},
        {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}
    ]}}));
    h.until(2, |h| h.fake.containers().len() == 1).await;
    let uid = h.get("p").unwrap().metadata.uid.unwrap();
    // At the limit is not over it; a memory emptyDir is never measured.
    h.fake.fake_volumes().set_usage(&uid, "scratch", 1 << 20);
    h.fake.fake_volumes().set_usage(&uid, "mem", 2 << 20);
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(h.phase("p"), "Running");
    h.fake
        .fake_volumes()
        .set_usage(&uid, "scratch", (1 << 20) + 1);
    let t = h.now();
    let msg = "Usage of EmptyDir volume \"scratch\" exceeds the limit \"1Mi\". ";
    h.until(11, |h| h.has_event("Evicted", msg)).await;
    assert!(h.now() - t <= 10.5, "noticed after {} s", h.now() - t);
    assert!(
        h.events().iter().any(
            |e| e.reason.as_deref() == Some("Evicted") && e.type_.as_deref() == Some("Warning")
        )
    );
    h.until(5, |h| {
        h.cstatus("p", "c")
            .state
            .is_some_and(|s| s.terminated.is_some())
    })
    .await;
    let status = h.get("p").unwrap().status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(status.reason.as_deref(), Some("Evicted"));
    assert_eq!(status.message.as_deref(), Some(msg));
    // Not restarted (restartPolicy Always), and the pod stays Failed.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(h.times(is_create("c")).len(), 1);
    assert_eq!(h.phase("p"), "Failed");
    h.delete("p", Some(0)).await;
    h.gone("p").await;
}

/// e2e "Pods Extended … evicted pods should be terminal": a container
/// writing past its `ephemeral-storage` limit gets the pod evicted (the
/// pod's total is checked first, as in the kubelet); a second container's
/// own limit is checked on its own.
#[tokio::test(start_paused = true)]
async fn ephemeral_storage_over_the_limit_evicts_the_pod() {
    let h = setup().await;
    let limited = |l: &str| json!({"resources": {"limits": {"ephemeral-storage": l}}});
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
        "restartPolicy": "OnFailure",
        "containers": [ctr("bar", limited("5Mi"))]}}));
    h.until(2, |h| h.phase("p") == "Running").await;
    h.fake.set_disk_usage("bar", 5 << 20);
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(h.phase("p"), "Running", "evicted at its limit");
    h.fake.set_disk_usage("bar", 10 << 20);
    let t = h.now();
    let msg = "Pod ephemeral local storage usage exceeds the total limit of containers 5Mi. ";
    h.until(11, |h| h.has_event("Evicted", msg)).await;
    assert!(h.now() - t <= 10.5, "noticed after {} s", h.now() - t);
    h.until(5, |h| h.phase("p") == "Failed").await;
    let status = h.get("p").unwrap().status.unwrap();
    assert_eq!(status.reason.as_deref(), Some("Evicted"));
    assert_eq!(status.message.as_deref(), Some(msg));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        h.times(is_create("bar")).len(),
        1,
        "restarted after the eviction"
    );
    h.delete("p", Some(0)).await;
    h.gone("p").await;

    // Within the pod's total (1Mi + 1Gi), but one container over its own.
    h.apply(json!({"metadata": {"name": "q"}, "spec": {
        "containers": [ctr("small", limited("1Mi")), ctr("big", limited("1Gi"))]}}));
    h.until(2, |h| h.phase("q") == "Running").await;
    h.fake.set_disk_usage("small", 2 << 20);
    let msg = "Container small exceeded its local ephemeral storage limit \"1Mi\". ";
    h.until(11, |h| h.has_event("Evicted", msg)).await;
    h.until(5, |h| h.phase("q") == "Failed").await;
}
