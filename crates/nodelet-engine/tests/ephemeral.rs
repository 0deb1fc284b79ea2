//! Ephemeral (debug) containers added to a running pod through
//! `Engine::update_pod` (what `pods/ephemeralcontainers` and node mode's
//! watch both end in), under the paused clock: started at once with the
//! kubelet's events, reported in `ephemeralContainerStatuses`, never
//! restarted, no part of the pod's readiness, sharing a target's process
//! namespace, started even while init containers still run, killed with
//! the pod. The upstream e2e cases are "Ephemeral Containers will start an
//! ephemeral container in an existing pod" and "should update the ephemeral
//! containers in an existing pod" (test/e2e/common/node/ephemeral_containers.go).

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use nodelet_runtime::fake::{Match, Run, Script};
use serde_json::{Value, json};

fn add_ephemeral(h: &H, pod: &str, ec: Value) -> Pod {
    let p = h.get(pod).expect("pod exists");
    let mut v = serde_json::to_value(&p).unwrap();
    v.as_object_mut().unwrap().remove("status");
    let list = v["spec"]["ephemeralContainers"].as_array().cloned();
    let mut list = list.unwrap_or_default();
    list.push(ec);
    v["spec"]["ephemeralContainers"] = Value::Array(list);
    let g = v["metadata"]["generation"].as_i64().unwrap_or(1);
    v["metadata"]["generation"] = json!(g + 1);
    h.engine
        .update_pod(serde_json::from_value(v).unwrap(), None)
        .unwrap()
}

fn estatus(h: &H, pod: &str, name: &str) -> Option<ContainerStatus> {
    h.get(pod)?
        .status?
        .ephemeral_container_statuses?
        .into_iter()
        .find(|s| s.name == name)
}

fn running(h: &H, pod: &str, name: &str) -> bool {
    estatus(h, pod, name)
        .and_then(|s| s.state)
        .is_some_and(|s| s.running.is_some())
}

#[tokio::test(start_paused = true)]
async fn an_added_debug_container_starts_once_and_never_restarts() {
    let h = setup().await;
    h.fake.script(
        Match::Name("debugger".into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(3), 1),
            ..Default::default()
        },
    );
    h.apply(
        json!({"metadata": {"name": "p", "uid": "u1", "generation": 1},
                   "spec": {"containers": [ctr("app", json!({}))]}}),
    );
    h.until(5, |h| h.phase("p") == "Running").await;
    let p = add_ephemeral(
        &h,
        "p",
        json!({"name": "debugger", "image": "busybox", "stdin": true, "tty": true,
               "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}),
    );
    assert_eq!(p.metadata.generation, Some(2));
    h.until(5, |h| running(h, "p", "debugger")).await;
    let st = estatus(&h, "p", "debugger").unwrap();
    assert!(!st.ready, "debug containers are never ready");
    assert_eq!(st.started, None, "the prober does not look at them");
    assert!(h.has_event("Created", "Created container: debugger"));
    assert!(h.has_event("Started", "Started container debugger"));
    let field_paths: Vec<String> = h
        .events()
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("Started"))
        .filter_map(|e| e.involved_object.field_path)
        .collect();
    assert!(
        field_paths.contains(&"spec.ephemeralContainers{debugger}".to_owned()),
        "{field_paths:?}"
    );
    // Readiness and phase are the regular containers' business.
    let cond = |h: &H| {
        h.get("p")
            .unwrap()
            .status
            .unwrap()
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap()
            .status
    };
    assert_eq!(cond(&h), "True");

    // It exits after 3 s (code 1, pod restartPolicy Always): never again.
    h.until(10, |h| {
        estatus(h, "p", "debugger")
            .and_then(|s| s.state)
            .is_some_and(|s| s.terminated.is_some_and(|t| t.exit_code == 1))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(h.times(is_create("debugger")).len(), 1, "not restarted");
    assert_eq!(estatus(&h, "p", "debugger").unwrap().restart_count, 0);
    assert_eq!(h.phase("p"), "Running");
    assert_eq!(cond(&h), "True");

    // A second one is added beside it (the e2e "update" case); the first
    // stays as it is.
    add_ephemeral(&h, "p", json!({"name": "debugger2", "image": "agnhost"}));
    h.until(5, |h| running(h, "p", "debugger2")).await;
    assert_eq!(h.times(is_create("debugger")).len(), 1);
    let spec = h.get("p").unwrap().spec.unwrap();
    assert_eq!(spec.ephemeral_containers.unwrap().len(), 2);

    // Deleted with the pod.
    h.delete("p", Some(5)).await;
    h.gone("p").await;
    assert!(!h.times(is_signal("debugger2", 15)).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_target_shares_its_process_namespace() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"},
                   "spec": {"containers": [ctr("app", json!({}))]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    add_ephemeral(
        &h,
        "p",
        json!({"name": "dbg", "image": "busybox", "targetContainerName": "app"}),
    );
    h.until(5, |h| running(h, "p", "dbg")).await;
    let app_id = h
        .engine
        .container_id("default", "p", "app")
        .expect("app runs");
    let dbg_id = h
        .engine
        .container_id("default", "p", "dbg")
        .expect("dbg runs");
    assert_eq!(
        h.fake
            .container_config(&dbg_id)
            .expect("created")
            .pid_namespace_of,
        Some(app_id.clone())
    );
    assert_eq!(
        h.fake
            .container_config(&app_id)
            .expect("created")
            .pid_namespace_of,
        None
    );
}

/// A pod stuck in an init container can still be debugged: the kubelet
/// starts ephemeral containers before init containers.
#[tokio::test(start_paused = true)]
async fn starts_while_an_init_container_still_runs() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"},
                   "spec": {"initContainers": [ctr("stuck", json!({}))],
                            "containers": [ctr("app", json!({}))]}}));
    h.until(5, |h| !h.times(is_start("stuck")).is_empty()).await;
    add_ephemeral(&h, "p", json!({"name": "dbg", "image": "busybox"}));
    h.until(5, |h| running(h, "p", "dbg")).await;
    assert_eq!(h.phase("p"), "Pending");
    assert!(h.times(is_create("app")).is_empty());
}

/// A target that has no container yet: the kubelet's `getTargetID` error,
/// as a config error retried later.
#[tokio::test(start_paused = true)]
async fn a_target_without_a_container_is_a_config_error() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"},
                   "spec": {"initContainers": [ctr("stuck", json!({}))],
                            "containers": [ctr("app", json!({}))]}}));
    h.until(5, |h| !h.times(is_start("stuck")).is_empty()).await;
    add_ephemeral(
        &h,
        "p",
        json!({"name": "dbg", "image": "busybox", "targetContainerName": "app"}),
    );
    h.until(5, |h| {
        estatus(h, "p", "dbg")
            .and_then(|s| s.state)
            .and_then(|s| s.waiting)
            .and_then(|w| w.reason)
            .as_deref()
            == Some("CreateContainerConfigError")
    })
    .await;
    assert!(h.has_event("Failed", "Error: unable to find target container app"));
    assert!(h.times(is_create("dbg")).is_empty());
}
