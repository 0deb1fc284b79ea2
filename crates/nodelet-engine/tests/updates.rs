//! Pod updates through `Engine::update_pod` (the path both front doors
//! share), under the paused clock: metadata, image changes (definition
//! changed → restart with preStop/postStart), activeDeadlineSeconds, and
//! in-place resize (NotRequired, RestartContainer, Infeasible, Deferred,
//! memory decrease below usage). Includes the upstream e2e cases "Pods
//! should be updated", "should allow activeDeadlineSeconds to be updated"
//! and "should have their auto-restart back-off timer reset on image
//! update" (test/e2e/common/node/pods.go).

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::Pod;
use nodelet_engine::allocations::Requests;
use nodelet_engine::{EngineConfig, EngineError};
use nodelet_runtime::fake::{ExecScript, FakeRuntime, Match, OnStop, Op, Run, Script};
use serde_json::{Value, json};

/// The pod as the engine has it, changed by `edit` (JSON), applied with
/// `update_pod` (as the API does after validation).
fn update(h: &H, name: &str, edit: impl FnOnce(&mut Value)) -> Pod {
    let pod = h.get(name).expect("pod exists");
    let mut v = serde_json::to_value(&pod).unwrap();
    v.as_object_mut().unwrap().remove("status");
    edit(&mut v);
    let generation = v["metadata"]["generation"].as_i64().unwrap_or(1);
    v["metadata"]["generation"] = json!(generation + 1);
    let pod: Pod = serde_json::from_value(v).unwrap();
    h.engine.update_pod(pod, None).unwrap()
}

fn is_update(name: &'static str) -> impl Fn(&Op) -> bool {
    move |op| matches!(op, Op::UpdateResources { name: n, .. } if n == name)
}

fn condition(p: &Pod, ty: &str) -> Option<k8s_openapi::api::core::v1::PodCondition> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == ty)
        .cloned()
}

/// e2e "Pods should be updated": a label change is visible, the pod keeps
/// running untouched; metadata subscribers hear of it, env is not redone.
#[tokio::test(start_paused = true)]
async fn pods_should_be_updated() {
    let h = setup().await;
    h.apply(
        json!({"metadata": {"name": "p", "uid": "u1", "generation": 1,
                                "labels": {"name": "foo", "time": "1"}},
                   "spec": {"containers": [ctr("c", json!({}))]}}),
    );
    h.until(5, |h| h.phase("p") == "Running").await;
    let mut meta = h.engine.watch_pod_metadata("default", "p").unwrap();
    meta.mark_unchanged();
    let rv = h.get("p").unwrap().metadata.resource_version;
    let p = update(&h, "p", |v| {
        v["metadata"]["labels"]["time"] = json!("2");
        v["metadata"]["annotations"] = json!({"note": "x"});
    });
    assert_eq!(p.metadata.labels.as_ref().unwrap()["time"], "2");
    assert_ne!(p.metadata.resource_version, rv);
    assert!(meta.has_changed().unwrap());
    assert_eq!(
        meta.borrow_and_update().annotations.as_ref().unwrap()["note"],
        "x"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.phase("p"), "Running");
    assert_eq!(
        h.times(is_create("c")).len(),
        1,
        "no container was restarted"
    );
    assert!(h.times(is_signal("c", 15)).is_empty());
    // The status reports the generation the agent acted on.
    let st = h.get("p").unwrap().status.unwrap();
    assert_eq!(st.observed_generation, Some(2));
    assert_eq!(st.qos_class.as_deref(), Some("BestEffort"));
}

#[tokio::test(start_paused = true)]
async fn stale_resource_version_or_other_uid_conflicts() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"},
                   "spec": {"containers": [ctr("c", json!({}))]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    let pod = h.get("p").unwrap();
    let err = h.engine.update_pod(pod.clone(), Some("1")).unwrap_err();
    assert!(matches!(err, EngineError::Conflict { .. }), "{err}");
    let mut other = pod.clone();
    other.metadata.uid = Some("someone-else".into());
    assert!(matches!(
        h.engine.update_pod(other, None),
        Err(EngineError::Conflict { .. })
    ));
    let rv = pod.metadata.resource_version.clone();
    h.engine.update_pod(pod, rv.as_deref()).unwrap();
}

/// `kubectl set image`: Killing with the kubelet's message, preStop within
/// the grace, then the new image at once, restartCount 1, postStart again.
#[tokio::test(start_paused = true)]
async fn image_change_restarts_the_container_with_its_hooks() {
    let h = setup().await;
    h.fake
        .exec_script(&["pre-stop"], ExecScript::ok_after(Duration::from_secs(2)));
    h.fake.exec_script(
        &["post-start"],
        ExecScript::ok_after(Duration::from_millis(100)),
    );
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 10, "containers": [ctr("c", json!({
            "lifecycle": {"preStop": exec_hook(&["pre-stop"]), "postStart": exec_hook(&["post-start"])}}))]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    let t = h.now();
    update(&h, "p", |v| {
        v["spec"]["containers"][0]["image"] = json!("img-new")
    });
    h.until(10, |h| {
        h.times(is_create("c")).len() == 2 && h.phase("p") == "Running"
    })
    .await;
    assert!(h.has_event(
        "Killing",
        "Container c definition changed, will be restarted"
    ));
    // preStop ran and finished before the stop signal.
    let pre = h.first(is_exec("c", "pre-stop"));
    let sig = h.first(is_signal("c", 15));
    assert!(
        pre >= t && sig - pre >= 1.9,
        "preStop at {pre}, SIGTERM at {sig}"
    );
    // The new container, with the new image, postStart again.
    let creates: Vec<(u32, f64)> = h
        .fake
        .calls()
        .iter()
        .filter_map(|c| match &c.op {
            Op::Create { attempt, .. } => Some((*attempt, h.secs(c.at))),
            _ => None,
        })
        .collect();
    assert_eq!(creates[1].0, 1);
    assert!(creates[1].1 >= sig);
    assert_eq!(h.times(is_exec("c", "post-start")).len(), 2);
    let st = h.cstatus("p", "c");
    assert_eq!(st.image, "img-new");
    assert_eq!(st.restart_count, 1);
    assert!(st.last_state.unwrap().terminated.is_some());
    // The new image went through ensure_image (pulled per policy).
    assert!(
        h.events()
            .iter()
            .any(|e| e.reason.as_deref() == Some("Pulled")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains("\"img-new\""))),
        "{:#?}",
        h.event_triples()
    );
}

/// e2e "should have their auto-restart back-off timer reset on image
/// update": a crash-looping container with a new image restarts at once.
#[tokio::test(start_paused = true)]
async fn back_off_is_reset_on_image_update() {
    let h = setup().await;
    h.fake.script(
        Match::Image("img-c".into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(1), 1),
            on_stop: OnStop::Die,
        },
    );
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"},
                   "spec": {"containers": [ctr("c", json!({}))]}}));
    h.until(200, |h| h.times(is_start("c")).len() >= 5).await;
    // Now in a 80 s back-off.
    h.until(5, |h| {
        h.waiting_reason("p", "c").as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    let t = h.now();
    update(&h, "p", |v| {
        v["spec"]["containers"][0]["image"] = json!("img-fixed")
    });
    h.until(5, |h| h.times(is_start("c")).len() >= 6).await;
    assert!(
        h.now() - t < 2.0,
        "restarted {}s after the update",
        h.now() - t
    );
    h.until(5, |h| h.phase("p") == "Running").await;
    assert_eq!(h.cstatus("p", "c").image, "img-fixed");
}

/// e2e "should allow activeDeadlineSeconds to be updated": set on a
/// running pod, it ends the pod (Failed, DeadlineExceeded) counted from
/// its start time, with preStop, and nothing restarts.
#[tokio::test(start_paused = true)]
async fn active_deadline_seconds_can_be_set_and_ends_the_pod() {
    let h = setup().await;
    h.fake
        .exec_script(&["pre-stop"], ExecScript::ok_after(Duration::from_secs(1)));
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"},
        "spec": {"containers": [ctr("c", json!({
            "lifecycle": {"preStop": exec_hook(&["pre-stop"])}}))]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    update(&h, "p", |v| v["spec"]["activeDeadlineSeconds"] = json!(5));
    h.until(10, |h| h.phase("p") == "Failed").await;
    let ended = h.now();
    assert!((4.9..5.2).contains(&ended), "ended at {ended}");
    let st = h.get("p").unwrap().status.unwrap();
    assert_eq!(st.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        st.message.as_deref(),
        Some("Pod was active on the node longer than the specified deadline")
    );
    assert!(h.has_event(
        "DeadlineExceeded",
        "Pod was active on the node longer than the specified deadline"
    ));
    h.until(10, |h| {
        h.cstatus("p", "c").state.unwrap().terminated.is_some()
    })
    .await;
    assert!(h.first(is_exec("c", "pre-stop")) >= 5.0);
    assert!(h.first(is_signal("c", 15)) >= 6.0);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(h.times(is_create("c")).len(), 1, "nothing restarts");
    assert_eq!(h.phase("p"), "Failed");
    // The pod stays until deleted; deleting it still works.
    h.delete("p", None).await;
    h.gone("p").await;
}

#[tokio::test(start_paused = true)]
async fn a_lowered_deadline_is_rearmed() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"},
        "spec": {"activeDeadlineSeconds": 30, "containers": [ctr("c", json!({}))]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    update(&h, "p", |v| v["spec"]["activeDeadlineSeconds"] = json!(3));
    h.until(10, |h| h.phase("p") == "Failed").await;
    assert!((2.9..3.2).contains(&h.now()), "ended at {}", h.now());
}

fn resources_pod(policy: &str) -> Value {
    json!({"metadata": {"name": "r", "uid": "ur", "generation": 1},
        "spec": {"containers": [ctr("c", json!({
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                          "limits": {"cpu": "200m", "memory": "128Mi"}},
            "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"},
                             {"resourceName": "memory", "restartPolicy": policy}]}))]}})
}

/// `kubectl patch --subresource resize` raising the memory limit with
/// NotRequired: the cgroup is updated, same container, no restart; status
/// shows the new resources; ResizeStarted then ResizeCompleted.
#[tokio::test(start_paused = true)]
async fn resize_not_required_updates_in_place() {
    let h = setup().await;
    h.apply(resources_pod("NotRequired"));
    h.until(5, |h| h.phase("r") == "Running").await;
    let st = h.cstatus("r", "c");
    let r = st.resources.unwrap();
    assert_eq!(r.limits.unwrap()["memory"].0, "128Mi");
    assert_eq!(st.allocated_resources.unwrap()["memory"].0, "64Mi");
    update(&h, "r", |v| {
        v["spec"]["containers"][0]["resources"]["limits"]["memory"] = json!("256Mi");
        v["spec"]["containers"][0]["resources"]["requests"]["memory"] = json!("96Mi");
    });
    h.until(5, |h| !h.times(is_update("c")).is_empty()).await;
    let id = h
        .fake
        .containers()
        .into_iter()
        .find(|c| c.1 == "c")
        .unwrap()
        .0;
    let res = h.fake.container_resources(&id).unwrap();
    assert_eq!(res.memory_limit_bytes, Some(256 << 20));
    assert_eq!(h.times(is_create("c")).len(), 1, "same container");
    assert!(h.times(is_signal("c", 15)).is_empty());
    h.until(5, |h| h.has_event("ResizeCompleted", &format!(
        "Pod resize completed: {}",
        r#"{"containers":[{"name":"c","resources":{"limits":{"cpu":"200m","memory":"256Mi"},"requests":{"cpu":"100m","memory":"96Mi"}}}],"generation":2}"#
    ))).await;
    assert!(h.has_event("ResizeStarted", &format!(
        "Pod resize started: {}",
        r#"{"containers":[{"name":"c","resources":{"limits":{"cpu":"200m","memory":"256Mi"},"requests":{"cpu":"100m","memory":"96Mi"}}}],"generation":2}"#
    )));
    let pod = h.get("r").unwrap();
    assert!(condition(&pod, "PodResizeInProgress").is_none());
    assert!(condition(&pod, "PodResizePending").is_none());
    let st = h.cstatus("r", "c");
    assert_eq!(st.resources.unwrap().limits.unwrap()["memory"].0, "256Mi");
    assert_eq!(st.allocated_resources.unwrap()["memory"].0, "96Mi");
    assert_eq!(st.restart_count, 0);
}

/// With `RestartContainer` for memory the container is restarted (preStop
/// and all) and comes back with the new limit.
#[tokio::test(start_paused = true)]
async fn resize_restart_container_restarts_it() {
    let h = setup().await;
    h.apply(resources_pod("RestartContainer"));
    h.until(5, |h| h.phase("r") == "Running").await;
    update(&h, "r", |v| {
        v["spec"]["containers"][0]["resources"]["limits"]["memory"] = json!("256Mi");
    });
    h.until(10, |h| {
        h.times(is_create("c")).len() == 2 && h.phase("r") == "Running"
    })
    .await;
    assert!(h.has_event("Killing", "Container c resize requires restart"));
    assert!(h.times(is_update("c")).is_empty(), "no in-place update");
    let id = h
        .fake
        .containers()
        .into_iter()
        .find(|c| c.1 == "c" && c.2 == 1)
        .unwrap()
        .0;
    assert_eq!(
        h.fake.container_resources(&id).unwrap().memory_limit_bytes,
        Some(256 << 20)
    );
    h.until(5, |h| {
        h.events()
            .iter()
            .any(|e| e.reason.as_deref() == Some("ResizeCompleted"))
    })
    .await;
    assert_eq!(h.cstatus("r", "c").restart_count, 1);
}

fn small_node() -> EngineConfig {
    let mut c = EngineConfig::new("node1");
    c.allocatable = Some(Requests {
        cpu_millis: 2000,
        memory_bytes: 4 << 30,
    });
    c
}

/// e2e "Downward API should provide default limits.cpu/memory from node
/// allocatable": a container without limits reads the node's allocatable.
#[tokio::test(start_paused = true)]
async fn unset_limits_read_as_the_node_allocatable() {
    let h = setup_config(
        FakeRuntime::with_wall_origin(ORIGIN.parse().unwrap()),
        small_node(),
    )
    .await;
    let env = |name: &str, resource: &str| json!({"name": name, "valueFrom": {"resourceFieldRef": {"resource": resource}}});
    h.apply(json!({"metadata": {"name": "d"}, "spec": {"containers": [{
        "name": "c", "image": "img",
        "env": [env("CPU_LIMIT", "limits.cpu"), env("MEMORY_LIMIT", "limits.memory")]}]}}));
    h.until(5, |h| h.phase("d") == "Running").await;
    let got = h.fake.container_env("c").unwrap();
    let var = |n: &str| got.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(var("CPU_LIMIT").as_deref(), Some("2"));
    assert_eq!(var("MEMORY_LIMIT").as_deref(), Some("4294967296"));
}

#[tokio::test(start_paused = true)]
async fn resize_beyond_the_node_is_infeasible() {
    let h = setup_config(
        FakeRuntime::with_wall_origin(ORIGIN.parse().unwrap()),
        small_node(),
    )
    .await;
    h.apply(resources_pod("NotRequired"));
    h.until(5, |h| h.phase("r") == "Running").await;
    update(&h, "r", |v| {
        v["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!("8");
        v["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("8");
    });
    h.until(5, |h| {
        condition(&h.get("r").unwrap(), "PodResizePending").is_some()
    })
    .await;
    let c = condition(&h.get("r").unwrap(), "PodResizePending").unwrap();
    assert_eq!(c.reason.as_deref(), Some("Infeasible"));
    assert_eq!(
        c.message.as_deref(),
        Some("Node didn't have enough capacity: cpu, requested: 8000, capacity: 2000")
    );
    assert_eq!(c.observed_generation, Some(2));
    assert!(
        h.events()
            .iter()
            .any(|e| e.reason.as_deref() == Some("ResizeInfeasible")
                && e.type_.as_deref() == Some("Warning"))
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(h.times(is_update("c")).is_empty());
    // The container keeps its allocation; the spec shows the request.
    let st = h.cstatus("r", "c");
    assert_eq!(st.allocated_resources.unwrap()["cpu"].0, "100m");
    assert_eq!(st.resources.unwrap().limits.unwrap()["cpu"].0, "200m");
}

#[tokio::test(start_paused = true)]
async fn deferred_resize_proceeds_when_room_frees_up() {
    let h = setup_config(
        FakeRuntime::with_wall_origin(ORIGIN.parse().unwrap()),
        small_node(),
    )
    .await;
    h.apply(json!({"metadata": {"name": "big", "uid": "ub"},
        "spec": {"containers": [ctr("b", json!({"resources": {"requests": {"cpu": "1500m"}}}))]}}));
    h.apply(resources_pod("NotRequired"));
    h.until(5, |h| {
        h.phase("r") == "Running" && h.phase("big") == "Running"
    })
    .await;
    update(&h, "r", |v| {
        v["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!("1");
        v["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("1");
    });
    h.until(5, |h| {
        condition(&h.get("r").unwrap(), "PodResizePending").is_some()
    })
    .await;
    let c = condition(&h.get("r").unwrap(), "PodResizePending").unwrap();
    assert_eq!(c.reason.as_deref(), Some("Deferred"));
    assert_eq!(
        c.message.as_deref(),
        Some("Node didn't have enough resource: cpu, requested: 1000, used: 1500, capacity: 2000")
    );
    assert!(
        h.events()
            .iter()
            .any(|e| e.reason.as_deref() == Some("ResizeDeferred"))
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(h.times(is_update("c")).is_empty());
    // The big pod goes: the deferred resize is retried and applied.
    h.delete("big", Some(0)).await;
    h.gone("big").await;
    h.until(5, |h| !h.times(is_update("c")).is_empty()).await;
    h.until(5, |h| {
        condition(&h.get("r").unwrap(), "PodResizePending").is_none()
    })
    .await;
    assert_eq!(
        h.cstatus("r", "c").resources.unwrap().limits.unwrap()["cpu"].0,
        "1"
    );
}

/// A memory limit is not lowered below what the container uses: the resize
/// stays in progress with reason Error, and goes through once usage drops.
#[tokio::test(start_paused = true)]
async fn memory_limit_not_lowered_below_usage() {
    let h = setup().await;
    h.fake.set_memory_usage("c", 100 << 20);
    h.apply(resources_pod("NotRequired"));
    h.until(5, |h| h.phase("r") == "Running").await;
    update(&h, "r", |v| {
        v["spec"]["containers"][0]["resources"]["limits"]["memory"] = json!("80Mi");
    });
    h.until(5, |h| {
        condition(&h.get("r").unwrap(), "PodResizeInProgress")
            .is_some_and(|c| c.reason.as_deref() == Some("Error"))
    })
    .await;
    let c = condition(&h.get("r").unwrap(), "PodResizeInProgress").unwrap();
    assert_eq!(
        c.message.as_deref(),
        Some(
            "attempting to set container \"c\" memory limit (83886080) below current usage (104857600)"
        )
    );
    assert!(h.times(is_update("c")).is_empty());
    h.fake.set_memory_usage("c", 10 << 20);
    h.until(70, |h| !h.times(is_update("c")).is_empty()).await;
    h.until(5, |h| {
        condition(&h.get("r").unwrap(), "PodResizeInProgress").is_none()
    })
    .await;
    assert_eq!(
        h.cstatus("r", "c").resources.unwrap().limits.unwrap()["memory"].0,
        "80Mi"
    );
}
