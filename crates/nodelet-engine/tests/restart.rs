//! Restart policy and CrashLoopBackOff (reference §3), and init containers.

mod common;

use std::time::Duration;

use common::*;
use nodelet_runtime::fake::{Match, OnStop, Run, Script};
use serde_json::json;

fn exits_after(h: &H, name: &str, secs: u64, code: i32) {
    h.fake.script(
        Match::Name(name.into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(secs), code),
            on_stop: OnStop::Die,
        },
    );
}

/// Delay between each exit and the next start.
fn delays(h: &H, name: &'static str) -> Vec<f64> {
    let starts = h.times(is_start(name));
    let exits = h.times(is_exited(name));
    starts
        .iter()
        .skip(1)
        .zip(&exits)
        .map(|(s, e)| (s - e).round())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn back_off_is_0_10_20_40_80_160_300_300_from_the_finish_time() {
    let h = setup().await;
    exits_after(&h, "c1", 1, 1);
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    h.until(1000, |h| h.times(is_start("c1")).len() >= 9).await;
    assert_eq!(
        delays(&h, "c1"),
        vec![0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]
    );

    // While waiting: CrashLoopBackOff with kubelet's message, and BackOff.
    h.until(20, |h| {
        h.waiting_reason("p", "c1").as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    let st = h.cstatus("p", "c1");
    let w = st.state.unwrap().waiting.unwrap();
    assert_eq!(
        w.message.as_deref(),
        Some("back-off 5m0s restarting failed container=c1 pod=p_default(u1)")
    );
    assert_eq!(st.restart_count, 8);
    let last = st.last_state.unwrap().terminated.unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert!(last.container_id.unwrap().starts_with("nodelet://"));
    assert!(h.has_event(
        "BackOff",
        "Back-off restarting failed container c1 in pod p_default(u1)"
    ));
    assert_eq!(h.phase("p"), "Running");
}

#[tokio::test(start_paused = true)]
async fn crash_loop_messages_use_go_durations() {
    let h = setup().await;
    exits_after(&h, "c1", 1, 1);
    let mut sub = h.engine.subscribe();
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    h.until(400, |h| h.times(is_start("c1")).len() >= 7).await;
    let mut messages = Vec::new();
    while let Ok(ev) = sub.try_recv() {
        if let nodelet_engine::EngineEvent::PodUpdated(p) = ev {
            let st = p.status.unwrap().container_statuses.unwrap().remove(0);
            if let Some(m) = st.state.and_then(|s| s.waiting).and_then(|w| w.message) {
                let d = m.split(' ').nth(1).unwrap().to_owned();
                if messages.last() != Some(&d) {
                    messages.push(d);
                }
            }
        }
    }
    assert_eq!(messages, vec!["10s", "20s", "40s", "1m20s", "2m40s"]);
}

#[tokio::test(start_paused = true)]
async fn back_off_resets_after_ten_minutes_of_running() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    h.until(5, |h| h.now() >= 1.0).await;
    assert!(h.fake.trigger_exit("c1", 1));
    h.until(5, |h| h.times(is_start("c1")).len() == 2).await;
    assert!(h.fake.trigger_exit("c1", 1));
    h.until(30, |h| h.times(is_start("c1")).len() == 3).await;
    assert_eq!(delays(&h, "c1"), vec![0.0, 10.0]);
    // This run lasts more than 10 minutes: the next restart is immediate.
    h.until(700, |h| h.now() >= 620.0).await;
    assert!(h.fake.trigger_exit("c1", 1));
    h.until(30, |h| h.times(is_start("c1")).len() == 4).await;
    assert_eq!(delays(&h, "c1"), vec![0.0, 10.0, 0.0]);
    // ... and the back-off starts again from 10 s.
    assert!(h.fake.trigger_exit("c1", 1));
    h.until(30, |h| h.times(is_start("c1")).len() == 5).await;
    assert_eq!(delays(&h, "c1"), vec![0.0, 10.0, 0.0, 10.0]);
}

#[tokio::test(start_paused = true)]
async fn restart_policy_never_ends_in_failed_or_succeeded() {
    let h = setup().await;
    exits_after(&h, "bad", 1, 3);
    exits_after(&h, "good", 1, 0);
    h.apply(json!({"metadata": {"name": "f"}, "spec": {"restartPolicy": "Never", "containers": [ctr("bad", json!({}))]}}));
    h.apply(json!({"metadata": {"name": "s"}, "spec": {"restartPolicy": "Never", "containers": [ctr("good", json!({}))]}}));
    h.until(30, |h| {
        h.phase("f") == "Failed" && h.phase("s") == "Succeeded"
    })
    .await;
    h.until(30, |h| h.now() >= 20.0).await;
    assert_eq!(h.times(is_start("bad")).len(), 1);
    assert_eq!(h.times(is_start("good")).len(), 1);
    let t = h.cstatus("f", "bad").state.unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
    let t = h.cstatus("s", "good").state.unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    let ready = h.get("s").unwrap().status.unwrap().conditions.unwrap();
    let ready = ready.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("False", Some("PodCompleted"))
    );
}

#[tokio::test(start_paused = true)]
async fn restart_policy_on_failure_restarts_only_non_zero_exits() {
    let h = setup().await;
    exits_after(&h, "ok", 1, 0);
    exits_after(&h, "bad", 1, 2);
    h.apply(
        json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "OnFailure", "containers": [
            ctr("ok", json!({})), ctr("bad", json!({})),
        ]}}),
    );
    h.until(60, |h| h.times(is_start("bad")).len() >= 3).await;
    assert_eq!(h.times(is_start("ok")).len(), 1);
    assert_eq!(h.phase("p"), "Running");
}

#[tokio::test(start_paused = true)]
async fn restart_policy_always_restarts_successful_exits_too() {
    let h = setup().await;
    exits_after(&h, "c1", 1, 0);
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    h.until(60, |h| h.times(is_start("c1")).len() >= 3).await;
    assert_eq!(delays(&h, "c1")[..2], [0.0, 10.0]);
}

#[tokio::test(start_paused = true)]
async fn init_containers_complete_in_order_before_regular_containers() {
    let h = setup().await;
    exits_after(&h, "i1", 2, 0);
    exits_after(&h, "i2", 3, 0);
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
        "initContainers": [ctr("i1", json!({})), ctr("i2", json!({}))],
        "containers": [ctr("c1", json!({}))]}}));
    h.until(1, |h| h.now() >= 1.0).await;
    assert_eq!(h.phase("p"), "Pending");
    assert_eq!(
        h.waiting_reason("p", "c1").as_deref(),
        Some("PodInitializing")
    );
    assert_eq!(
        h.waiting_reason("p", "i2").as_deref(),
        Some("PodInitializing")
    );
    let conds = h.get("p").unwrap().status.unwrap().conditions.unwrap();
    let init = conds.iter().find(|c| c.type_ == "Initialized").unwrap();
    assert_eq!(init.status, "False");
    assert_eq!(
        init.message.as_deref(),
        Some("containers with incomplete status: [i1 i2]")
    );
    h.until(10, |h| h.phase("p") == "Running").await;
    assert!(h.first(is_create("i2")) >= h.first(is_exited("i1")));
    assert!(h.index(is_create("i2")) > h.index(is_exited("i1")));
    assert!(h.index(is_create("c1")) > h.index(is_exited("i2")));
    assert!((h.first(is_start("c1")) - 5.0).abs() < 0.01);
    let t = h.cstatus("p", "i1").state.unwrap().terminated.unwrap();
    assert_eq!(t.reason.as_deref(), Some("Completed"));
}

#[tokio::test(start_paused = true)]
async fn failed_init_container_with_never_fails_the_pod() {
    let h = setup().await;
    exits_after(&h, "i1", 1, 1);
    h.apply(
        json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Never",
        "initContainers": [ctr("i1", json!({}))],
        "containers": [ctr("c1", json!({}))]}}),
    );
    h.until(10, |h| h.phase("p") == "Failed").await;
    h.until(30, |h| h.now() >= 20.0).await;
    assert!(h.times(is_create("c1")).is_empty());
    assert_eq!(h.times(is_start("i1")).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn failed_init_container_is_retried_with_back_off_under_always() {
    let h = setup().await;
    exits_after(&h, "i1", 1, 1);
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
        "initContainers": [ctr("i1", json!({}))],
        "containers": [ctr("c1", json!({}))]}}));
    h.until(60, |h| h.times(is_start("i1")).len() >= 3).await;
    assert_eq!(delays(&h, "i1")[..2], [0.0, 10.0]);
    assert!(h.times(is_create("c1")).is_empty());
    assert_eq!(h.phase("p"), "Pending");
}

#[tokio::test(start_paused = true)]
async fn image_pull_failure_is_retried_under_image_pull_back_off() {
    let h = setup().await;
    h.fake.fail_image("img-c1", "manifest unknown");
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    h.until(25, |h| {
        h.waiting_reason("p", "c1").as_deref() == Some("ImagePullBackOff")
    })
    .await;
    let w = h.cstatus("p", "c1").state.unwrap().waiting.unwrap();
    assert_eq!(
        w.message.as_deref(),
        Some("Back-off pulling image \"img-c1\": ErrImagePull: manifest unknown")
    );
    assert!(h.has_event(
        "Failed",
        "Failed to pull image \"img-c1\": manifest unknown"
    ));
    assert!(h.has_event("Failed", "Error: ErrImagePull"));
    assert!(h.has_event("BackOff", "Back-off pulling image \"img-c1\""));
    assert_eq!(h.phase("p"), "Pending");
    let pulls = |h: &H| {
        h.times(
            |op| matches!(op, nodelet_runtime::fake::Op::PullImage { image } if image == "img-c1"),
        )
    };
    h.until(40, |h| pulls(h).len() >= 3).await;
    let t = pulls(&h);
    assert_eq!(((t[1] - t[0]).round(), (t[2] - t[1]).round()), (10.0, 20.0));
    assert!(h.times(is_create("c1")).is_empty());
}

#[tokio::test(start_paused = true)]
async fn sidecars_are_stopped_and_not_restarted_when_the_pod_completes() {
    let h = setup().await;
    exits_after(&h, "c1", 2, 0);
    h.apply(
        json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Never",
        "initContainers": [ctr("s1", json!({"restartPolicy": "Always"}))],
        "containers": [ctr("c1", json!({}))]}}),
    );
    h.until(10, |h| h.phase("p") == "Succeeded").await;
    h.until(60, |h| h.now() >= 50.0).await;
    assert_eq!(h.phase("p"), "Succeeded");
    let term = h.first(is_signal("s1", 15));
    assert!(
        (term - h.first(is_exited("c1"))).abs() < 0.01,
        "s1 stopped at {term}"
    );
    assert_eq!(
        h.times(is_start("s1")).len(),
        1,
        "a sidecar of a completed pod is not restarted"
    );
    assert!(h.has_event("Killing", "Stopping container s1"));
}

#[tokio::test(start_paused = true)]
async fn a_crashing_sidecar_is_restarted_and_the_pod_keeps_running() {
    let h = setup().await;
    exits_after(&h, "s1", 1, 1);
    h.apply(
        json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Never",
        "initContainers": [ctr("s1", json!({"restartPolicy": "Always"}))],
        "containers": [ctr("c1", json!({}))]}}),
    );
    h.until(60, |h| h.times(is_start("s1")).len() >= 3).await;
    assert_eq!(delays(&h, "s1")[..2], [0.0, 10.0]);
    assert_eq!(h.phase("p"), "Running");
    assert_eq!(h.times(is_start("c1")).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn sandbox_failure_is_reported_and_retried() {
    let h = setup().await;
    h.fake.fail_sandboxes(2);
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    h.until(60, |h| h.phase("p") == "Running").await;
    let tries = h.times(|op| matches!(op, nodelet_runtime::fake::Op::CreateSandbox { .. }));
    assert_eq!(tries.len(), 3);
    assert_eq!(
        ((tries[1] - tries[0]).round(), (tries[2] - tries[1]).round()),
        (10.0, 20.0)
    );
    assert!(h.has_event(
        "FailedCreatePodSandBox",
        "Failed to create pod sandbox: network setup failed: fake: no IP addresses available"
    ));
}

#[tokio::test(start_paused = true)]
async fn deleting_a_pod_in_back_off_is_immediate_and_kills_nothing() {
    let h = setup().await;
    exits_after(&h, "c1", 1, 1);
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    h.until(30, |h| {
        h.waiting_reason("p", "c1").as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    let del = h.now();
    h.delete("p", None).await;
    h.gone("p").await;
    assert!(h.now() - del < 0.5, "gone after {} s", h.now() - del);
    assert!(h.times(is_signal("c1", 15)).is_empty());
    assert!(!h.has_event("Killing", "Stopping container c1"));
    // Removal runs in the background once the pod is gone.
    h.engine.resources_released().await;
    assert!(
        h.fake.containers().is_empty(),
        "exited containers are removed too"
    );
}

#[tokio::test(start_paused = true)]
async fn an_oom_killed_container_reports_oom_killed() {
    let h = setup().await;
    h.fake.script(
        Match::Name("c1".into()),
        Script {
            run: Run::OomAfter(Duration::from_secs(2)),
            on_stop: OnStop::Die,
        },
    );
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Never", "containers": [ctr("c1", json!({}))]}}));
    h.until(10, |h| h.phase("p") == "Failed").await;
    let t = h.cstatus("p", "c1").state.unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
    assert_eq!(t.started_at.unwrap().0.to_string(), "2026-01-01T00:00:00Z");
    assert_eq!(t.finished_at.unwrap().0.to_string(), "2026-01-01T00:00:02Z");
}
