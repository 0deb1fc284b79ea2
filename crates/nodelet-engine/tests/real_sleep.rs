//! Upstream sleep-hook e2e cases (`lifecycle_hook.go`, "sleep action"),
//! scaled down from 50/100/30 s: a preStop sleep inside the grace, cut by a
//! shorter deletion grace, not run for an exited container, and zero
//! seconds. Subnets 10.253.7-10.

mod real_support;

use real_support::*;
use serde_json::json;

fn sleep_hook(seconds: i64) -> serde_json::Value {
    json!({"sleep": {"seconds": seconds}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_stop_sleep_runs_within_grace() {
    let Some(r) = Real::new("pre_stop_sleep_runs_within_grace", 7).await else {
        return;
    };
    r.apply(pod(
        "pod-with-prestop-sleep-hook",
        vec![idle("c", json!({"lifecycle": {"preStop": sleep_hook(5)}}))],
        json!({"terminationGracePeriodSeconds": 10}),
    ));
    r.running("pod-with-prestop-sleep-hook", 60).await;
    let took = secs(
        r.delete_timed("pod-with-prestop-sleep-hook", None, 30)
            .await,
    );
    assert!(
        (5.0..13.0).contains(&took),
        "deletion took {took:.2}s, want the 5 s sleep and < grace 10 s + slack"
    );
    assert!(
        r.event("pod-with-prestop-sleep-hook", "FailedPreStopHook", "")
            .is_none()
    );
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_stop_sleep_is_cut_by_a_shorter_deletion_grace() {
    let Some(r) = Real::new("pre_stop_sleep_is_cut_by_a_shorter_deletion_grace", 8).await else {
        return;
    };
    r.apply(pod(
        "pod-with-prestop-sleep-hook",
        vec![idle("c", json!({"lifecycle": {"preStop": sleep_hook(5)}}))],
        json!({"terminationGracePeriodSeconds": 10}),
    ));
    r.running("pod-with-prestop-sleep-hook", 60).await;
    let took = secs(
        r.delete_timed("pod-with-prestop-sleep-hook", Some(3), 30)
            .await,
    );
    // The sleep is cut at the 3 s grace; the container then exits on the
    // stop signal at once (the 2 s floor is a bound, not a wait).
    assert!(
        (3.0..7.0).contains(&took),
        "deletion with grace 3 took {took:.2}s, want ≥ 3 s and < 5 s + slack"
    );
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleep_hook_is_not_run_for_an_exited_container() {
    let Some(r) = Real::new("sleep_hook_is_not_run_for_an_exited_container", 9).await else {
        return;
    };
    r.apply(pod(
        "pod-with-prestop-sleep-hook",
        vec![ctr(
            "c",
            BUSYBOX,
            &["sh", "-c", "sleep 1"],
            json!({"lifecycle": {"preStop": sleep_hook(10)}}),
        )],
        json!({"terminationGracePeriodSeconds": 30, "restartPolicy": "Never"}),
    ));
    r.phase_is("pod-with-prestop-sleep-hook", "Succeeded", 60)
        .await;
    let took = secs(
        r.delete_timed("pod-with-prestop-sleep-hook", None, 30)
            .await,
    );
    assert!(
        took < 5.0,
        "deleting a pod whose container exited took {took:.2}s: the 10 s preStop sleep ran"
    );
    assert!(
        r.event("pod-with-prestop-sleep-hook", "Killing", "")
            .is_none(),
        "an exited container was killed: {:?}",
        r.event_triples("pod-with-prestop-sleep-hook")
    );
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_second_sleep_hooks_work() {
    let Some(r) = Real::new("zero_second_sleep_hooks_work", 10).await else {
        return;
    };
    r.apply(pod(
        "pod-with-zero-sleep-hooks",
        vec![idle(
            "c",
            json!({"lifecycle": {"postStart": sleep_hook(0), "preStop": sleep_hook(0)}}),
        )],
        json!({"terminationGracePeriodSeconds": 30}),
    ));
    r.running("pod-with-zero-sleep-hooks", 60).await;
    let took = secs(r.delete_timed("pod-with-zero-sleep-hooks", None, 30).await);
    assert!(took < 5.0, "deletion took {took:.2}s");
    let ev = r.event_triples("pod-with-zero-sleep-hooks");
    assert!(
        !ev.iter().any(|e| e.1.starts_with("Failed")),
        "hook failures: {ev:?}"
    );
    let term = r.last_terminated("pod-with-zero-sleep-hooks", "c").unwrap();
    assert_eq!(term.exit_code, 0, "{term:?}");
    r.finish().await;
}
