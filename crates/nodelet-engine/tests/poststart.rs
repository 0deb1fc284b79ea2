//! postStart rules (reference §2): gating of the next container, Running
//! only after the hook, failure handling, and a hanging hook.

mod common;

use std::time::Duration;

use common::*;
use nodelet_engine::EngineEvent;
use nodelet_runtime::fake::{ExecScript, Match, OnStop, Run, Script};
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn next_container_is_created_only_after_post_start_returned() {
    let h = setup().await;
    h.fake
        .exec_script(&["ps1"], ExecScript::ok_after(Duration::from_secs(3)));
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        ctr("c1", json!({"lifecycle": {"postStart": exec_hook(&["ps1"])}})),
        ctr("c2", json!({})),
    ]}}));
    h.until(10, |h| h.phase("p") == "Running").await;
    let hook_end = h.first(is_exec_end("c1", "ps1"));
    let c2_created = h.first(is_create("c2"));
    assert!((hook_end - 3.0).abs() < 0.01, "hook ended at {hook_end}");
    assert!(
        c2_created >= hook_end,
        "c2 created at {c2_created}, before the hook returned at {hook_end}"
    );
    assert!(h.index(is_create("c2")) > h.index(is_exec_end("c1", "ps1")));
    // The hook raced the entrypoint: c1 was started before the hook ran.
    assert!(h.index(is_start("c1")) < h.index(is_exec("c1", "ps1")));
}

#[tokio::test(start_paused = true)]
async fn container_is_running_only_after_post_start_completed() {
    let h = setup().await;
    h.fake
        .exec_script(&["ps"], ExecScript::ok_after(Duration::from_secs(5)));
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        ctr("c1", json!({"lifecycle": {"postStart": exec_hook(&["ps"])}})),
    ]}}));
    h.until(3, |h| h.now() >= 2.0).await;
    let st = h.cstatus("p", "c1");
    assert_eq!(
        h.waiting_reason("p", "c1").as_deref(),
        Some("ContainerCreating")
    );
    assert_eq!(st.started, Some(false));
    assert!(!st.ready);
    assert_eq!(h.phase("p"), "Pending");
    h.until(10, |h| h.phase("p") == "Running").await;
    assert!(
        h.now() >= 5.0,
        "Running before the hook returned, at {}",
        h.now()
    );
    let st = h.cstatus("p", "c1");
    let running = st.state.unwrap().running.unwrap();
    // startedAt is the process's real start (t=0), not the hook's end.
    let started = running.started_at.unwrap().0;
    let origin: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    assert!(
        started.duration_since(origin).as_secs_f64() < 0.5,
        "startedAt {started}"
    );
    assert_eq!(st.started, Some(true));
    assert!(st.ready);
}

#[tokio::test(start_paused = true)]
async fn post_start_failure_kills_runs_pre_stop_and_restarts_with_back_off() {
    let h = setup().await;
    h.fake.exec_script(&["bad"], ExecScript::fail(3, "boom"));
    h.fake
        .exec_script(&["pre"], ExecScript::ok_after(Duration::from_secs(1)));
    let mut sub = h.engine.subscribe();
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        ctr("c1", json!({"lifecycle": {"postStart": exec_hook(&["bad"]), "preStop": exec_hook(&["pre"])}})),
    ]}}));
    h.until(60, |h| h.times(is_start("c1")).len() >= 3).await;

    assert!(h.has_event("FailedPostStartHook", "PostStartHook failed"));
    assert!(h.has_event("Killing", "FailedPostStartHook"));
    let ev = h
        .events()
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("FailedPostStartHook"))
        .unwrap();
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert_eq!(
        ev.involved_object.field_path.as_deref(),
        Some("spec.containers{c1}")
    );
    // preStop still ran, after the failed postStart and before the signal.
    let bad_end = h.index(is_exec_end("c1", "bad"));
    let pre = h.index(is_exec("c1", "pre"));
    let term = h.index(is_signal("c1", 15));
    assert!(
        bad_end < pre && pre < term,
        "order: bad_end {bad_end}, pre {pre}, term {term}"
    );

    // Waiting PostStartHookError with the handler's message was published.
    let mut seen = None;
    while let Ok(ev) = sub.try_recv() {
        if let EngineEvent::PodUpdated(p) = ev {
            let st = p.status.unwrap().container_statuses.unwrap().remove(0);
            if let Some(w) = st.state.and_then(|s| s.waiting)
                && w.reason.as_deref() == Some("PostStartHookError")
            {
                seen = w.message;
            }
        }
    }
    let msg = seen.expect("a Waiting PostStartHookError status");
    assert!(
        msg.starts_with("Exec lifecycle hook ([bad]) for Container \"c1\" in Pod \"p_default("),
        "{msg}"
    );

    // Restarts: first immediately, then after 10 s counted from the finish.
    let starts = h.times(is_start("c1"));
    let exits = h.times(is_exited("c1"));
    assert!(
        starts[1] - exits[0] < 0.01,
        "first restart not immediate: {starts:?} {exits:?}"
    );
    assert!(
        (starts[2] - exits[1] - 10.0).abs() < 0.01,
        "second restart: {starts:?} {exits:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn hanging_post_start_blocks_running_until_deletion_cancels_it() {
    let h = setup().await;
    h.fake.exec_script(&["hang"], ExecScript::hang());
    h.fake.script(
        Match::Name("c1".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::Die,
        },
    );
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        ctr("c1", json!({"lifecycle": {"postStart": exec_hook(&["hang"])}})),
        ctr("c2", json!({})),
    ]}}));
    h.until(200, |h| h.now() >= 100.0).await;
    assert_eq!(h.phase("p"), "Pending");
    assert_eq!(
        h.waiting_reason("p", "c1").as_deref(),
        Some("ContainerCreating")
    );
    assert!(
        h.times(is_create("c2")).is_empty(),
        "c2 must wait for c1's postStart"
    );
    h.delete("p", None).await;
    h.gone("p").await;
    assert!(h.times(is_create("c2")).is_empty());
    assert!(h.now() < 101.0, "deletion took until {}", h.now());
    assert!(h.fake.containers().is_empty());
    assert_eq!(h.fake.sandbox_count(), 0);
}
