//! postStart ordering and failure on real containers (upstream
//! `test/e2e_node/container_lifecycle_test.go` and the kubelet's
//! postStart failure path): a failing hook kills and restarts with
//! back-off, container 2 waits for container 1's hook, init containers
//! finish before the next postStart. Subnets 10.253.14-16.

mod real_support;

use std::time::Duration;

use real_support::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_start_failure_kills_and_restarts_with_back_off() {
    let Some(r) = Real::new("post_start_failure_kills_and_restarts_with_back_off", 14).await else {
        return;
    };
    let name = "pod-with-failing-poststart";
    r.apply(pod(
        name,
        vec![idle(
            "c",
            json!({"lifecycle": {"postStart": exec_hook(&["badcommand"])}}),
        )],
        json!({"terminationGracePeriodSeconds": 5}),
    ));
    // First restart is immediate, the next one waits 10 s: the BackOff
    // event comes after the second failure.
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    while r.event(name, "BackOff", "").is_none() {
        assert!(
            tokio::time::Instant::now() < end,
            "no BackOff within 30 s: {:#?}",
            r.event_triples(name)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed = r.event(name, "FailedPostStartHook", "").unwrap();
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(failed.message.as_deref(), Some("PostStartHook failed"));
    assert_eq!(
        failed.involved_object.field_path.as_deref(),
        Some("spec.containers{c}")
    );
    assert!(
        failed.count.unwrap_or(1) >= 2,
        "two attempts failed, one aggregated event: {failed:?}"
    );
    let killing = r.event(name, "Killing", "").unwrap();
    assert_eq!(killing.message.as_deref(), Some("FailedPostStartHook"));
    let backoff = r.event(name, "BackOff", "").unwrap();
    assert_eq!(backoff.type_.as_deref(), Some("Warning"));
    assert!(
        backoff.message.as_deref().unwrap().starts_with(&format!(
            "Back-off restarting failed container c in pod {name}_default("
        )),
        "{backoff:?}"
    );
    let seen = r.statuses_seen(name, "c");
    let hook_error = seen.iter().find_map(|(_, s)| {
        s.state
            .as_ref()
            .and_then(|st| st.waiting.as_ref())
            .filter(|w| w.reason.as_deref() == Some("PostStartHookError"))
            .cloned()
    });
    let hook_error =
        hook_error.unwrap_or_else(|| panic!("never Waiting/PostStartHookError: {seen:#?}"));
    let msg = hook_error.message.unwrap_or_default();
    assert!(
        msg.contains("badcommand"),
        "PostStartHookError message should carry the handler's error: {msg:?}"
    );
    // The first restart is immediate: two Started events within a few
    // seconds, not 10 s apart.
    let starts: Vec<_> = r
        .seen()
        .into_iter()
        .filter_map(|s| match &s.what {
            nodelet_engine::EngineEvent::Event(e) if e.reason.as_deref() == Some("Started") => {
                Some((s.at, e.count.unwrap_or(1)))
            }
            _ => None,
        })
        .collect();
    assert!(
        starts.iter().any(|(_, n)| *n >= 2),
        "no second start: {starts:?}"
    );
    let first_restart = starts[1].0 - starts[0].0;
    assert!(
        first_restart < Duration::from_secs(6),
        "first restart after {first_restart:?}, want immediate"
    );
    let p = r.get(name).unwrap();
    let cs = &p.status.unwrap().container_statuses.unwrap()[0];
    assert!(cs.restart_count >= 1, "{cs:?}");
    let waiting = cs.state.as_ref().and_then(|s| s.waiting.clone());
    if let Some(w) = waiting.filter(|w| w.reason.as_deref() == Some("CrashLoopBackOff")) {
        assert!(
            w.message
                .unwrap_or_default()
                .starts_with("back-off 10s restarting failed container=c pod="),
        );
    }
    r.delete_timed(name, None, 30).await;
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_container_waits_for_first_post_start() {
    let Some(r) = Real::new("second_container_waits_for_first_post_start", 15).await else {
        return;
    };
    let name = "pod-two-containers";
    r.apply(pod(
        name,
        vec![
            idle(
                "c1",
                json!({"lifecycle": {"postStart": exec_hook(&["sh", "-c", "sleep 3"])}}),
            ),
            idle("c2", json!({})),
        ],
        json!({"terminationGracePeriodSeconds": 5}),
    ));
    r.running(name, 60).await;
    let c1_started = r.event_seen(name, "Started", Some("c1")).unwrap();
    let c2_created = r.event_seen(name, "Created", Some("c2")).unwrap();
    let c2_started = r.event_seen(name, "Started", Some("c2")).unwrap();
    // c1 turns Running only once its hook returned: the hook's end.
    let c1_running = r
        .statuses_seen(name, "c1")
        .into_iter()
        .find(|(_, s)| s.state.as_ref().is_some_and(|st| st.running.is_some()))
        .map(|(at, _)| at)
        .unwrap();
    assert!(
        c1_running - c1_started >= Duration::from_millis(2900),
        "c1 Running {:?} after its start: the 3 s hook did not gate it",
        c1_running - c1_started
    );
    assert!(
        c2_created >= c1_running,
        "c2 created {:?} before c1's postStart returned",
        c1_running - c2_created
    );
    assert!(
        c2_created - c1_started >= Duration::from_millis(2900),
        "c2 created {:?} after c1 started, inside c1's 3 s postStart",
        c2_created - c1_started
    );
    assert!(c2_started >= c2_created);
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_finish_before_post_start() {
    let Some(r) = Real::new("init_containers_finish_before_post_start", 16).await else {
        return;
    };
    let ip = r.handler_pod("pod-handle-http-request").await;
    let name = "pod-with-init";
    let wget = |msg: &str| format!("wget -qO- http://{ip}:8080/echo?msg={msg}");
    r.apply(pod(
        name,
        vec![idle(
            "main",
            json!({"lifecycle": {"postStart": exec_hook(&["sh", "-c", &wget("poststart")])}}),
        )],
        json!({"terminationGracePeriodSeconds": 5, "initContainers": [
            ctr("init", BUSYBOX, &["sh", "-c", &format!("{} && sleep 1", wget("init"))], json!({}))
        ]}),
    ));
    r.running(name, 60).await;
    let rec = r.recorded(&ip).await;
    let at = |m: &str| {
        rec.iter()
            .find(|(x, _)| x == m)
            .map(|(_, t)| *t)
            .unwrap_or_else(|| panic!("{m} not recorded: {rec:?}"))
    };
    let (init, post) = (at("init"), at("poststart"));
    let init_term = r.last_terminated(name, "init").unwrap();
    assert_eq!(init_term.exit_code, 0);
    assert_eq!(init_term.reason.as_deref(), Some("Completed"));
    let init_finished = init_term.finished_at.clone().unwrap().0;
    assert!(init < post, "init at {init}, postStart at {post}");
    assert!(
        init_finished <= post,
        "init container finished at {init_finished}, after postStart ran at {post}"
    );
    r.finish().await;
}
