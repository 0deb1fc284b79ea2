//! Termination rules (reference §3): preStop → stop signal → SIGKILL at
//! grace expiry, grace arithmetic, force delete, exited containers, hanging
//! preStop, parallel preStops, sidecar ordering, stop signal sources.

mod common;

use std::time::Duration;

use common::*;
use nodelet_runtime::fake::{ExecScript, Match, OnStop, Run, Script};
use serde_json::json;

fn ignore_term(h: &H, name: &str) {
    h.fake.script(
        Match::Name(name.into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::Ignore,
        },
    );
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.01
}

/// Applies `p`, waits until it runs, advances to t=5, deletes with `grace`.
async fn run_then_delete(h: &H, p: serde_json::Value, grace: Option<i64>) -> f64 {
    h.apply(p);
    h.until(10, |h| h.phase("p") == "Running").await;
    h.until(10, |h| h.now() >= 5.0).await;
    let t = h.now();
    h.delete("p", grace).await;
    t
}

#[tokio::test(start_paused = true)]
async fn pre_stop_then_stop_signal_then_sigkill_at_grace_expiry() {
    let h = setup().await;
    ignore_term(&h, "c1");
    h.fake
        .exec_script(&["pre"], ExecScript::ok_after(Duration::from_secs(1)));
    let del = run_then_delete(
        &h,
        json!({"metadata": {"name": "p"}, "spec": {
        "terminationGracePeriodSeconds": 6,
        "containers": [ctr("c1", json!({"lifecycle": {"preStop": exec_hook(&["pre"])}}))]}}),
        None,
    )
    .await;
    h.gone("p").await;
    let pre = h.first(is_exec("c1", "pre"));
    let term = h.first(is_signal("c1", 15));
    let kill = h.first(is_signal("c1", 9));
    assert!(near(pre, del), "preStop at {pre}, deleted at {del}");
    assert!(near(term, del + 1.0), "SIGTERM at {term}");
    assert!(
        near(kill, del + 6.0),
        "SIGKILL at {kill}: grace 6 from the deletion"
    );
    assert!(h.has_event("Killing", "Stopping container c1"));
    assert!(h.index(is_exec("c1", "pre")) < h.index(is_signal("c1", 15)));
    assert!(h.get("p").is_none());
    assert!(h.fake.containers().is_empty());
    assert_eq!(h.fake.sandbox_count(), 0);
    assert!(h.store.get_object("Pod", "default", "p").unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn pre_stop_time_counts_against_grace_in_whole_seconds() {
    let h = setup().await;
    ignore_term(&h, "c1");
    h.fake
        .exec_script(&["pre"], ExecScript::ok_after(Duration::from_millis(3500)));
    let del = run_then_delete(
        &h,
        json!({"metadata": {"name": "p"}, "spec": {
        "terminationGracePeriodSeconds": 10,
        "containers": [ctr("c1", json!({"lifecycle": {"preStop": exec_hook(&["pre"])}}))]}}),
        None,
    )
    .await;
    h.gone("p").await;
    let term = h.first(is_signal("c1", 15));
    let kill = h.first(is_signal("c1", 9));
    assert!(near(term, del + 3.5), "SIGTERM at {term}");
    // 10 - 3 (whole seconds of the 3.5 s preStop) = 7 s after SIGTERM.
    assert!(
        near(kill - term, 7.0),
        "SIGKILL {} s after SIGTERM",
        kill - term
    );
}

#[tokio::test(start_paused = true)]
async fn at_least_two_seconds_between_stop_signal_and_sigkill_after_pre_stop() {
    let h = setup().await;
    ignore_term(&h, "c1");
    h.fake
        .exec_script(&["pre"], ExecScript::ok_after(Duration::from_secs(4)));
    let del = run_then_delete(
        &h,
        json!({"metadata": {"name": "p"}, "spec": {
        "terminationGracePeriodSeconds": 5,
        "containers": [ctr("c1", json!({"lifecycle": {"preStop": exec_hook(&["pre"])}}))]}}),
        None,
    )
    .await;
    h.gone("p").await;
    let term = h.first(is_signal("c1", 15));
    let kill = h.first(is_signal("c1", 9));
    assert!(near(term, del + 4.0), "SIGTERM at {term}");
    assert!(
        near(kill - term, 2.0),
        "SIGKILL {} s after SIGTERM, want 2 (not 1)",
        kill - term
    );
}

#[tokio::test(start_paused = true)]
async fn deletion_grace_overrides_the_spec() {
    let h = setup().await;
    ignore_term(&h, "c1");
    let del = run_then_delete(
        &h,
        json!({"metadata": {"name": "p"}, "spec": {
        "terminationGracePeriodSeconds": 30, "containers": [ctr("c1", json!({}))]}}),
        Some(3),
    )
    .await;
    let pod = h.get("p").unwrap();
    assert_eq!(pod.metadata.deletion_grace_period_seconds, Some(3));
    assert!(pod.metadata.deletion_timestamp.is_some());
    h.gone("p").await;
    let term = h.first(is_signal("c1", 15));
    let kill = h.first(is_signal("c1", 9));
    assert!(near(term, del));
    assert!(near(kill, del + 3.0), "SIGKILL at {kill}");
}

#[tokio::test(start_paused = true)]
async fn force_delete_gives_pre_stop_one_second_then_two_before_sigkill() {
    let h = setup().await;
    ignore_term(&h, "c1");
    h.fake.exec_script(&["pre"], ExecScript::hang());
    let del = run_then_delete(
        &h,
        json!({"metadata": {"name": "p"}, "spec": {
        "terminationGracePeriodSeconds": 30,
        "containers": [ctr("c1", json!({"lifecycle": {"preStop": exec_hook(&["pre"])}}))]}}),
        Some(0),
    )
    .await;
    h.gone("p").await;
    assert!(near(h.first(is_exec("c1", "pre")), del));
    let term = h.first(is_signal("c1", 15));
    let kill = h.first(is_signal("c1", 9));
    assert!(near(term, del + 1.0), "SIGTERM at {term}: preStop gets 1 s");
    assert!(
        near(kill, del + 3.0),
        "SIGKILL at {kill}: then the 2 s minimum"
    );
}

#[tokio::test(start_paused = true)]
async fn pre_stop_is_not_run_for_an_exited_container() {
    let h = setup().await;
    h.fake.script(
        Match::Name("done".into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(1), 0),
            on_stop: OnStop::Die,
        },
    );
    h.apply(
        json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Never", "containers": [
            ctr("done", json!({"lifecycle": {"preStop": exec_hook(&["pre-done"])}})),
            ctr("live", json!({"lifecycle": {"preStop": exec_hook(&["pre-live"])}})),
        ]}}),
    );
    h.until(10, |h| !h.times(is_exited("done")).is_empty())
        .await;
    h.until(10, |h| h.now() >= 5.0).await;
    h.delete("p", None).await;
    h.gone("p").await;
    assert!(
        h.times(is_exec("done", "pre-done")).is_empty(),
        "preStop ran for an exited container"
    );
    assert!(h.times(is_signal("done", 15)).is_empty());
    assert_eq!(h.times(is_exec("live", "pre-live")).len(), 1);
    assert!(!h.has_event("Killing", "Stopping container done"));
    assert!(h.has_event("Killing", "Stopping container live"));
}

#[tokio::test(start_paused = true)]
async fn hanging_pre_stop_keeps_the_pod_terminating_until_grace_expires() {
    let h = setup().await;
    h.fake.exec_script(&["pre"], ExecScript::hang());
    let del = run_then_delete(
        &h,
        json!({"metadata": {"name": "p"}, "spec": {
        "terminationGracePeriodSeconds": 20,
        "containers": [ctr("c1", json!({"lifecycle": {"preStop": exec_hook(&["pre"])}}))]}}),
        None,
    )
    .await;
    h.until(30, |h| h.now() >= del + 19.0).await;
    let pod = h
        .get("p")
        .expect("still there while preStop runs within grace");
    assert!(pod.metadata.deletion_timestamp.is_some());
    assert!(h.times(is_signal("c1", 15)).is_empty());
    h.gone("p").await;
    let term = h.first(is_signal("c1", 15));
    assert!(near(term, del + 20.0), "SIGTERM at {term}");
    assert!(h.now() - del < 20.5, "gone at {}", h.now());
}

#[tokio::test(start_paused = true)]
async fn all_pre_stops_start_together() {
    let h = setup().await;
    for c in ["a", "b", "side"] {
        h.fake.exec_script(
            &[&format!("pre-{c}")],
            ExecScript::ok_after(Duration::from_secs(2)),
        );
    }
    let del = run_then_delete(&h, json!({"metadata": {"name": "p"}, "spec": {
        "initContainers": [ctr("side", json!({"restartPolicy": "Always", "lifecycle": {"preStop": exec_hook(&["pre-side"])}}))],
        "containers": [
            ctr("a", json!({"lifecycle": {"preStop": exec_hook(&["pre-a"])}})),
            ctr("b", json!({"lifecycle": {"preStop": exec_hook(&["pre-b"])}})),
        ]}}), None).await;
    h.gone("p").await;
    for (c, cmd) in [("a", "pre-a"), ("b", "pre-b"), ("side", "pre-side")] {
        let t = h.first(|op| matches!(op, nodelet_runtime::fake::Op::ExecStart { name, command } if name == c && command[0] == cmd));
        assert!(
            near(t, del),
            "{c}'s preStop started at {t}, deletion at {del}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn sidecars_stop_after_regular_containers_in_reverse_order() {
    let h = setup().await;
    // The regular container takes 3 s to exit after SIGTERM; so does s2.
    h.fake.script(
        Match::Name("c1".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::ExitAfter(Duration::from_secs(3), 0),
        },
    );
    h.fake.script(
        Match::Name("s2".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::ExitAfter(Duration::from_secs(3), 0),
        },
    );
    let del = run_then_delete(
        &h,
        json!({"metadata": {"name": "p"}, "spec": {
        "initContainers": [
            ctr("s1", json!({"restartPolicy": "Always"})),
            ctr("s2", json!({"restartPolicy": "Always"})),
        ],
        "containers": [ctr("c1", json!({}))]}}),
        None,
    )
    .await;
    h.gone("p").await;
    let c1 = h.first(is_signal("c1", 15));
    let s2 = h.first(is_signal("s2", 15));
    let s1 = h.first(is_signal("s1", 15));
    assert!(near(c1, del));
    assert!(near(s2, del + 3.0), "s2 signalled at {s2}, after c1 exited");
    assert!(near(s1, del + 6.0), "s1 signalled at {s1}, after s2 exited");
    assert!(h.times(is_signal("s1", 9)).is_empty());
}

#[tokio::test(start_paused = true)]
async fn stop_signal_comes_from_lifecycle_then_image_then_sigterm() {
    let h = setup().await;
    h.fake.image_stop_signal("img-b", "SIGQUIT");
    h.fake.image_stop_signal("img-a", "SIGINT");
    run_then_delete(
        &h,
        json!({"metadata": {"name": "p"}, "spec": {
        "os": {"name": "linux"},
        "containers": [
            ctr("a", json!({"lifecycle": {"stopSignal": "SIGUSR1"}})),
            ctr("b", json!({})),
            ctr("c", json!({})),
        ]}}),
        None,
    )
    .await;
    h.gone("p").await;
    assert_eq!(
        h.times(is_signal("a", 10)).len(),
        1,
        "lifecycle.stopSignal wins over the image's"
    );
    assert_eq!(h.times(is_signal("b", 3)).len(), 1, "image STOPSIGNAL");
    assert_eq!(h.times(is_signal("c", 15)).len(), 1, "default SIGTERM");
}

#[tokio::test(start_paused = true)]
async fn a_second_delete_with_shorter_grace_restarts_the_kill() {
    let h = setup().await;
    ignore_term(&h, "c1");
    h.fake.exec_script(&["pre"], ExecScript::hang());
    let del = run_then_delete(
        &h,
        json!({"metadata": {"name": "p"}, "spec": {
        "terminationGracePeriodSeconds": 30,
        "containers": [ctr("c1", json!({"lifecycle": {"preStop": exec_hook(&["pre"])}}))]}}),
        None,
    )
    .await;
    h.until(10, |h| h.now() >= del + 5.0).await;
    assert!(h.times(is_signal("c1", 15)).is_empty());
    let force = h.now();
    let pod = h.engine.delete_pod("default", "p", Some(0)).unwrap();
    assert_eq!(pod.metadata.deletion_grace_period_seconds, Some(0));
    h.gone("p").await;
    let term = h.first(is_signal("c1", 15));
    let kill = h.first(is_signal("c1", 9));
    assert!(
        near(term, force + 1.0),
        "SIGTERM at {term}, force delete at {force}"
    );
    assert!(near(kill, force + 3.0), "SIGKILL at {kill}");
    assert_eq!(
        h.times(is_exec("c1", "pre")).len(),
        2,
        "preStop delivered again (at least once)"
    );
}

/// A SIGKILL that never reaches the process (the runtime said it sent it)
/// does not leave the deletion hanging: the kill is sent again until the
/// exit shows.
#[tokio::test(start_paused = true)]
async fn a_lost_sigkill_is_sent_again() {
    let h = setup().await;
    ignore_term(&h, "c1");
    h.fake.lose_kills("c1", 1);
    let del = run_then_delete(
        &h,
        json!({"metadata": {"name": "p"}, "spec": {
        "terminationGracePeriodSeconds": 2,
        "containers": [ctr("c1", json!({}))]}}),
        None,
    )
    .await;
    h.gone("p").await;
    let kills = h.times(is_signal("c1", 9));
    assert_eq!(kills.len(), 2, "SIGKILLs at {kills:?}");
    assert!(near(kills[0], del + 2.0), "first SIGKILL at {}", kills[0]);
    assert!(near(kills[1], del + 12.0), "second SIGKILL at {}", kills[1]);
}

/// upstream e2e "should never report container start when an init
/// container fails": a deleted pod's final status never shows a container
/// running beside a terminal phase. When the kill cannot observe how the
/// container ended (its exit record unreadable), the container ends
/// `ContainerStatusUnknown`, exit code 137, as the kubelet's
/// `TerminatePod` reports it, with the start it had.
#[tokio::test(start_paused = true)]
async fn a_kill_that_cannot_see_the_exit_ends_the_container_unknown() {
    use nodelet_engine::EngineEvent;
    let h = setup().await;
    h.fake.script(
        Match::Name("fail".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::Die,
        },
    );
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "initContainers": [ctr("fail", json!({}))],
        "containers": [ctr("blocked", json!({}))]}}));
    h.until(5, |h| {
        h.get("p").is_some()
            && h.cstatus("p", "fail")
                .state
                .is_some_and(|s| s.running.is_some())
    })
    .await;
    let mut sub = h.engine.subscribe();
    h.fake.fail_waits("fail", 1);
    h.delete("p", None).await;
    h.gone("p").await;
    let mut last = None;
    while let Ok(ev) = sub.try_recv() {
        if let EngineEvent::PodUpdated(p) = ev {
            let st = p.status.unwrap_or_default();
            let phase = st.phase.clone().unwrap_or_default();
            let running: Vec<_> = st
                .init_container_statuses
                .iter()
                .flatten()
                .chain(st.container_statuses.iter().flatten())
                .filter(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
                .map(|c| c.name.clone())
                .collect();
            assert!(
                !matches!(phase.as_str(), "Failed" | "Succeeded") || running.is_empty(),
                "terminal phase {phase} with {running:?} running"
            );
            last = Some(st);
        }
    }
    let st = last.expect("a status was published after the deletion");
    assert_eq!(st.phase.as_deref(), Some("Failed"));
    let init = &st.init_container_statuses.unwrap_or_default()[0];
    let t = init
        .state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .expect("the init container ends terminated");
    assert_eq!(t.exit_code, 137);
    assert_eq!(t.reason.as_deref(), Some("ContainerStatusUnknown"));
    assert_eq!(
        t.message.as_deref(),
        Some("The container could not be located when the pod was terminated")
    );
    assert!(t.started_at.is_some(), "a finish without a start: {t:?}");
    let blocked = &st.container_statuses.unwrap_or_default()[0];
    assert!(
        blocked.state.as_ref().is_some_and(|s| s.waiting.is_some()),
        "the blocked container never started: {blocked:?}"
    );
}

/// A container whose wait fails (it vanished under the agent) ends
/// `ContainerStatusUnknown` with the start it had, never a finish without
/// a start.
#[tokio::test(start_paused = true)]
async fn a_container_lost_while_running_keeps_its_start() {
    let h = setup().await;
    h.fake.script(
        Match::Name("c1".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::Die,
        },
    );
    h.fake.fail_waits("c1", 1);
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
        "restartPolicy": "Never",
        "containers": [ctr("c1", json!({}))]}}));
    h.until(5, |h| h.phase("p") == "Failed").await;
    let t = h
        .cstatus("p", "c1")
        .state
        .and_then(|s| s.terminated)
        .expect("terminated");
    assert_eq!(
        (t.exit_code, t.reason.as_deref()),
        (137, Some("ContainerStatusUnknown"))
    );
    assert!(t.started_at.is_some() && t.finished_at.is_some(), "{t:?}");
}
