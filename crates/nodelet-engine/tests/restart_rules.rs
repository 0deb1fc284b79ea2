//! Container-level restart policy and restart rules (KEP-5307,
//! ContainerRestartRules and RestartAllContainersOnContainerExits, both on
//! in v1.37): each decision of `ContainerShouldRestart` for regular and
//! init containers, the pod phase that follows, probe kill messages, and
//! the in-place RestartAllContainers reset, on the fake runtime under the
//! paused clock.

mod common;

use std::time::Duration;

use common::*;
use nodelet_runtime::fake::{Match, OnStop, Run, Script};
use serde_json::{Value, json};

fn exits_after(h: &H, name: &str, millis: u64, code: i32) {
    h.fake.script(
        Match::Name(name.into()),
        Script {
            run: Run::ExitAfter(Duration::from_millis(millis), code),
            on_stop: OnStop::Die,
        },
    );
}

fn rules(action: &str, op: &str, codes: &[i32]) -> Value {
    json!([{"action": action, "exitCodes": {"operator": op, "values": codes}}])
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

fn condition(h: &H, pod: &str, type_: &str) -> Option<(String, Option<String>)> {
    let st = h.get(pod)?.status?;
    st.conditions?
        .into_iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status, c.reason))
}

#[tokio::test(start_paused = true)]
async fn rule_match_restarts_with_back_off_in_a_never_pod() {
    let h = setup().await;
    exits_after(&h, "c", 1000, 42);
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {"restartPolicy": "Never", "containers": [
        ctr("c", json!({"restartPolicy": "Never", "restartPolicyRules": rules("Restart", "In", &[42])}))
    ]}}));
    h.until(100, |h| h.times(is_start("c")).len() >= 4).await;
    // CrashLoopBackOff as for any restart: 0 (first), then 10, 20 s.
    assert_eq!(delays(&h, "c")[..3], [0.0, 10.0, 20.0]);
    assert_eq!(h.phase("p"), "Running");
    h.until(20, |h| {
        h.waiting_reason("p", "c").as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    let st = h.cstatus("p", "c");
    assert!(st.restart_count >= 3);
    let last = st.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.exit_code, 42);
    assert!(h.has_event(
        "BackOff",
        "Back-off restarting failed container c in pod p_default(u1)"
    ));
}

#[tokio::test(start_paused = true)]
async fn rule_mismatch_falls_back_to_the_container_policy() {
    let h = setup().await;
    exits_after(&h, "never", 1000, 1);
    exits_after(&h, "onfailure", 1000, 1);
    // Container policy Never beats the pod's Always.
    h.apply(json!({"metadata": {"name": "a"}, "spec": {"restartPolicy": "Always", "containers": [
        ctr("never", json!({"restartPolicy": "Never", "restartPolicyRules": rules("Restart", "In", &[42])}))
    ]}}));
    // Container policy OnFailure beats the pod's Never.
    h.apply(json!({"metadata": {"name": "b"}, "spec": {"restartPolicy": "Never", "containers": [
        ctr("onfailure", json!({"restartPolicy": "OnFailure", "restartPolicyRules": rules("Restart", "In", &[42])}))
    ]}}));
    h.until(30, |h| {
        h.phase("a") == "Failed" && h.times(is_start("onfailure")).len() >= 2
    })
    .await;
    h.until(60, |h| h.now() >= 40.0).await;
    assert_eq!(h.times(is_start("never")).len(), 1);
    let st = h.cstatus("a", "never");
    assert_eq!(st.restart_count, 0);
    assert_eq!(st.state.unwrap().terminated.unwrap().exit_code, 1);
    assert_eq!(h.phase("b"), "Running");
}

#[tokio::test(start_paused = true)]
async fn container_policy_always_restarts_in_a_never_pod() {
    let h = setup().await;
    exits_after(&h, "c", 1000, 0);
    h.apply(
        json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Never", "containers": [
            ctr("c", json!({"restartPolicy": "Always"}))
        ]}}),
    );
    h.until(30, |h| h.cstatus("p", "c").restart_count > 0).await;
    assert_eq!(h.phase("p"), "Running");
}

#[tokio::test(start_paused = true)]
async fn without_container_policy_the_pod_policy_decides_and_rules_are_ignored() {
    let h = setup().await;
    exits_after(&h, "ok", 1000, 0);
    exits_after(&h, "fails", 1000, 42);
    h.apply(json!({"metadata": {"name": "s"}, "spec": {"restartPolicy": "OnFailure", "containers": [ctr("ok", json!({}))]}}));
    // Rules without a container policy never apply (the API server
    // refuses them; the engine ignores them as the kubelet does).
    h.apply(
        json!({"metadata": {"name": "f"}, "spec": {"restartPolicy": "Never", "containers": [
            ctr("fails", json!({"restartPolicyRules": rules("Restart", "In", &[42])}))
        ]}}),
    );
    h.until(30, |h| {
        h.phase("s") == "Succeeded" && h.phase("f") == "Failed"
    })
    .await;
    assert_eq!(h.times(is_start("ok")).len(), 1);
    assert_eq!(h.times(is_start("fails")).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_never_pod_stays_running_while_one_container_will_restart() {
    let h = setup().await;
    exits_after(&h, "done", 500, 1);
    exits_after(&h, "again", 1000, 3);
    h.apply(
        json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Never", "containers": [
            ctr("done", json!({})),
            ctr("again", json!({"restartPolicy": "OnFailure"})),
        ]}}),
    );
    // Both have exited once: "done" for good, "again" in back-off.
    h.until(30, |h| {
        h.waiting_reason("p", "again").as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    assert_eq!(h.phase("p"), "Running");
    assert_eq!(
        h.cstatus("p", "done")
            .state
            .unwrap()
            .terminated
            .unwrap()
            .exit_code,
        1
    );
}

#[tokio::test(start_paused = true)]
async fn init_container_rules_and_policies() {
    let h = setup().await;
    // Fails for good: container policy Never in an Always pod.
    exits_after(&h, "init-never", 500, 1);
    h.apply(
        json!({"metadata": {"name": "a"}, "spec": {"restartPolicy": "Always",
        "initContainers": [ctr("init-never", json!({"restartPolicy": "Never"}))],
        "containers": [ctr("main-a", json!({}))]}}),
    );
    // Restarted by its OnFailure policy in a Never pod.
    exits_after(&h, "init-onfailure", 500, 1);
    h.apply(
        json!({"metadata": {"name": "b"}, "spec": {"restartPolicy": "Never",
        "initContainers": [ctr("init-onfailure", json!({"restartPolicy": "OnFailure"}))],
        "containers": [ctr("main-b", json!({}))]}}),
    );
    // Restarted by a rule (exit 42), then completes: the pod goes on.
    h.apply(json!({"metadata": {"name": "c"}, "spec": {"restartPolicy": "Never",
        "initContainers": [ctr("init-rule", json!({"restartPolicy": "Never", "restartPolicyRules": rules("Restart", "In", &[42])}))],
        "containers": [ctr("main-c", json!({}))]}}));
    h.until(5, |h| h.times(is_start("init-rule")).len() == 1)
        .await;
    assert!(h.fake.trigger_exit("init-rule", 42));
    h.until(30, |h| h.times(is_start("init-rule")).len() == 2)
        .await;
    assert_eq!(h.phase("c"), "Pending");
    assert!(h.fake.trigger_exit("init-rule", 0));
    h.until(30, |h| h.phase("c") == "Running").await;

    h.until(30, |h| {
        h.phase("a") == "Failed" && h.times(is_start("init-onfailure")).len() >= 2
    })
    .await;
    assert_eq!(h.times(is_start("init-never")).len(), 1);
    assert!(h.times(is_start("main-a")).is_empty());
    assert_eq!(h.phase("b"), "Pending");
    assert!(h.times(is_start("main-b")).is_empty());
}

#[tokio::test(start_paused = true)]
async fn liveness_kill_messages_follow_the_container_policy() {
    let h = setup().await;
    h.fake
        .exec_script(&["fail"], nodelet_runtime::fake::ExecScript::fail(1, ""));
    let probe = json!({"exec": {"command": ["fail"]}, "periodSeconds": 1, "failureThreshold": 1});
    h.apply(
        json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Always",
        "initContainers": [ctr("side", json!({"restartPolicy": "Always", "livenessProbe": probe}))],
        "containers": [ctr("c", json!({"restartPolicy": "Never", "livenessProbe": probe}))]}}),
    );
    h.until(30, |h| {
        h.has_event("Killing", "Container c failed liveness probe")
            && h.has_event("Killing", "Init container side failed liveness probe")
    })
    .await;
    h.until(30, |h| h.times(is_start("side")).len() >= 2).await;
    h.until(30, |h| h.now() >= 30.0).await;
    assert_eq!(h.times(is_start("c")).len(), 1, "policy Never: no restart");
}

/// init (completes), sidecar, source (exits 42 once: RestartAllContainers),
/// regular: the upstream e2e's first RestartAllContainers case.
fn restart_all_pod() -> Value {
    json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {"restartPolicy": "Never",
    "initContainers": [
        ctr("init", json!({})),
        ctr("side", json!({"restartPolicy": "Always"})),
    ],
    "containers": [
        ctr("source", json!({"restartPolicy": "Never", "restartPolicyRules": rules("RestartAllContainers", "In", &[42])})),
        ctr("regular", json!({})),
    ]}})
}

#[tokio::test(start_paused = true)]
async fn restart_all_containers_kills_resets_and_reruns_everything() {
    let h = setup().await;
    exits_after(&h, "init", 100, 0);
    let mut sub = h.engine.subscribe();
    h.apply(restart_all_pod());
    h.until(10, |h| {
        h.phase("p") == "Running" && h.times(is_start("regular")).len() == 1
    })
    .await;
    assert_eq!(
        condition(&h, "p", "AllContainersRestarting"),
        Some(("False".to_owned(), None))
    );
    let before = h.fake.calls().len();
    h.until(5, |h| h.now() >= 3.0).await;
    assert!(h.fake.trigger_exit("source", 42));
    h.until(30, |h| {
        ["init", "side", "source", "regular"]
            .iter()
            .all(|c| h.cstatus("p", c).restart_count == 1)
            && h.phase("p") == "Running"
            && h.times(is_start("regular")).len() == 2
    })
    .await;

    // Killed with the kubelet's message, regular containers first, no
    // back-off afterwards, init containers re-run in order.
    let kills: Vec<String> = h
        .events()
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("Killing"))
        .map(|e| {
            assert_eq!(e.message.as_deref(), Some("killing"));
            e.involved_object.field_path.unwrap_or_default()
        })
        .collect();
    assert_eq!(
        kills,
        vec!["spec.containers{regular}", "spec.initContainers{side}"]
    );
    let order: Vec<String> = h.fake.calls()[before..]
        .iter()
        .filter_map(|c| match &c.op {
            nodelet_runtime::fake::Op::Start { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["init", "side", "source", "regular"]);
    let exit = h.times(is_exited("source"))[0];
    let restart = h.times(is_start("source"))[1];
    assert!(
        restart - exit < 1.0,
        "no back-off after a reset: {exit} → {restart}"
    );
    assert!(!h.event_triples().iter().any(|(_, r, _)| r == "BackOff"));
    // The containers before the reset were removed from the runtime (an
    // agent restart then finds only the new ones); attempt numbers go on.
    let mut left: Vec<(String, u32)> = h
        .fake
        .containers()
        .into_iter()
        .map(|(_, name, attempt)| (name, attempt))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [("init", 1), ("regular", 1), ("side", 1), ("source", 1)].map(|(n, a)| (n.to_owned(), a))
    );

    for c in ["init", "side", "source", "regular"] {
        let st = h.cstatus("p", c);
        let last = st.last_state.unwrap().terminated.unwrap();
        assert_eq!(last.exit_code, 137, "{c}");
        assert_eq!(last.reason.as_deref(), Some("RestartingAllContainers"));
        assert_eq!(
            last.message.as_deref(),
            Some("The container is removed because RestartAllContainers in place")
        );
        assert!(last.container_id.is_none() && last.finished_at.is_none());
    }
    assert_eq!(
        condition(&h, "p", "AllContainersRestarting"),
        Some(("False".to_owned(), None))
    );

    // What was published on the way: the condition True while the reset
    // ran, the removed containers Waiting RestartingAllContainers, the pod
    // never Failed and always Initialized.
    let mut saw_true = false;
    let mut saw_waiting = false;
    while let Ok(ev) = sub.try_recv() {
        let nodelet_engine::EngineEvent::PodUpdated(p) = ev else {
            continue;
        };
        let st = p.status.unwrap();
        assert_ne!(st.phase.as_deref(), Some("Failed"));
        let conds = st.conditions.unwrap_or_default();
        if conds.iter().any(|c| {
            c.type_ == "AllContainersRestarting"
                && c.status == "True"
                && c.reason.as_deref() == Some("RestartAllContainersStarted")
                && c.message.as_deref() == Some("container exited with restart policy rule")
        }) {
            saw_true = true;
        }
        if saw_true {
            assert!(
                conds
                    .iter()
                    .any(|c| c.type_ == "Initialized" && c.status == "True"),
                "{conds:?}"
            );
        }
        let waiting = st
            .container_statuses
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| s.state?.waiting)
            .any(|w| {
                w.reason.as_deref() == Some("RestartingAllContainers")
                    && w.message.as_deref()
                        == Some("The container is removed because RestartAllContainers in place")
            });
        saw_waiting |= waiting;
    }
    assert!(saw_true && saw_waiting);
}

#[tokio::test(start_paused = true)]
async fn restart_all_on_an_init_container_exit_and_no_loop() {
    let h = setup().await;
    exits_after(&h, "init", 100, 0);
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Never",
        "initContainers": [
            ctr("side", json!({"restartPolicy": "Always"})),
            ctr("init", json!({})),
            ctr("source-init", json!({"restartPolicy": "Never", "restartPolicyRules": rules("RestartAllContainers", "In", &[42])})),
        ],
        "containers": [ctr("regular", json!({"restartPolicy": "Never", "restartPolicyRules": rules("RestartAllContainers", "In", &[42])}))]}}));
    h.until(10, |h| h.times(is_start("source-init")).len() == 1)
        .await;
    assert!(h.fake.trigger_exit("source-init", 42));
    h.until(30, |h| h.times(is_start("source-init")).len() == 2)
        .await;
    assert!(h.fake.trigger_exit("source-init", 0));
    h.until(30, |h| h.phase("p") == "Running").await;
    for c in ["side", "init", "source-init"] {
        assert_eq!(h.cstatus("p", c).restart_count, 1, "{c}");
    }
    // The regular container never ran before the reset: untouched.
    assert_eq!(h.cstatus("p", "regular").restart_count, 0);

    // A regular container's exit resets the init containers too; the
    // containers a reset kills (the sidecar dies of SIGTERM, 143) trigger
    // nothing more.
    assert!(h.fake.trigger_exit("regular", 42));
    h.until(30, |h| h.times(is_start("source-init")).len() == 3)
        .await;
    assert!(h.fake.trigger_exit("source-init", 0));
    h.until(30, |h| h.times(is_start("regular")).len() == 2)
        .await;
    h.until(120, |h| h.now() >= 100.0).await;
    assert_eq!(h.times(is_start("side")).len(), 3);
    assert_eq!(h.times(is_start("regular")).len(), 2);
    assert_eq!(h.cstatus("p", "regular").restart_count, 1);
    assert_eq!(h.phase("p"), "Running");
}

#[tokio::test(start_paused = true)]
async fn a_source_exiting_during_a_walk_resets_the_pod_rather_than_restarting_alone() {
    let h = setup().await;
    h.fake.exec_script(
        &["slow"],
        nodelet_runtime::fake::ExecScript::ok_after(Duration::from_secs(5)),
    );
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Always", "containers": [
        ctr("a", json!({"lifecycle": {"postStart": exec_hook(&["slow"])}})),
        ctr("source", json!({"restartPolicy": "Never", "restartPolicyRules": rules("RestartAllContainers", "In", &[42])})),
    ]}}));
    h.until(20, |h| h.times(is_start("source")).len() == 1)
        .await;
    // "a" restarts and sits in its 5 s postStart when "source" exits: the
    // walk reaches "source" only afterwards.
    assert!(h.fake.trigger_exit("a", 1));
    h.until(5, |h| h.times(is_start("a")).len() == 2).await;
    h.until(5, |h| h.now() >= h.times(is_start("a"))[1] + 1.0)
        .await;
    assert!(h.fake.trigger_exit("source", 42));
    h.until(30, |h| h.has_event("Killing", "killing")).await;
    h.until(30, |h| h.times(is_start("source")).len() == 2)
        .await;
    let last = h
        .cstatus("p", "source")
        .last_state
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(last.reason.as_deref(), Some("RestartingAllContainers"));
}

#[tokio::test(start_paused = true)]
async fn an_agent_restart_during_a_reset_does_not_reset_again() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Never",
        "initContainers": [ctr("init", json!({}))],
        "containers": [
            ctr("source", json!({"restartPolicy": "Never", "restartPolicyRules": rules("RestartAllContainers", "In", &[42])})),
            ctr("regular", json!({})),
        ]}}));
    h.until(5, |h| h.times(is_start("init")).len() == 1).await;
    assert!(h.fake.trigger_exit("init", 0));
    h.until(5, |h| h.times(is_start("regular")).len() == 1)
        .await;
    assert!(h.fake.trigger_exit("source", 42));
    // The init container runs again (and waits); the engine stops there.
    h.until(10, |h| h.times(is_start("init")).len() == 2).await;
    h.engine.shutdown().await;

    let clock = std::sync::Arc::new(nodelet_engine::clock::TokioClock::new(
        ORIGIN.parse().unwrap(),
    ));
    let engine = nodelet_engine::Engine::new(
        std::sync::Arc::new(h.fake.clone()),
        h.store.clone(),
        clock,
        nodelet_engine::EngineConfig::new("node1"),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Adopted as it was: no second reset killed the init container.
    assert_eq!(h.times(is_start("init")).len(), 2);
    assert!(h.fake.trigger_exit("init", 0));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(h.times(is_start("source")).len(), 2);
    assert_eq!(h.times(is_start("regular")).len(), 2);
    let pod = engine.get_pod("default", "p").expect("pod");
    assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Running"));
    engine.delete_pod("default", "p", Some(1)).unwrap();
    engine.wait_pod_gone("default", "p").await;
}

/// Upstream's "should restart all containers on sidecar container exit":
/// a sidecar with the rule exits after the pod is up; every container,
/// the completed init container included, comes back with a
/// `lastState.terminated`.
#[tokio::test(start_paused = true)]
async fn restart_all_on_a_sidecar_exit_gives_every_container_a_last_state() {
    let h = setup().await;
    exits_after(&h, "init", 100, 0);
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {
        "restartPolicy": "Never",
        "initContainers": [
            ctr("init", json!({})),
            ctr("sidecar", json!({"restartPolicy": "Always"})),
            ctr("source-sidecar", json!({"restartPolicy": "Always",
                "restartPolicyRules": rules("RestartAllContainers", "In", &[42])})),
        ],
        "containers": [ctr("regular", json!({}))]}}));
    h.until(10, |h| h.phase("p") == "Running").await;
    h.until(60, |h| h.now() >= 30.0).await;
    let mut computed = h.engine.subscribe_computed();
    assert!(h.fake.trigger_exit("source-sidecar", 42));
    h.until(60, |h| {
        ["init", "sidecar", "source-sidecar", "regular"]
            .iter()
            .all(|c| {
                let s = h.cstatus("p", c);
                s.restart_count >= 1
                    && s.last_state
                        .as_ref()
                        .is_some_and(|l| l.terminated.is_some())
            })
    })
    .await;
    // The regular container is killed first (Never pod, exit 137): a
    // status published between the kills must not show the pod Failed —
    // node mode never takes a pod back from a terminal phase, which froze
    // the API server's view of this very spec.
    let mut phases = Vec::new();
    while let Ok(p) = computed.try_recv() {
        phases.extend(p.status.as_ref().and_then(|s| s.phase.clone()));
    }
    assert!(!phases.is_empty());
    assert!(
        phases.iter().all(|p| p != "Failed" && p != "Succeeded"),
        "{phases:?}"
    );
}
