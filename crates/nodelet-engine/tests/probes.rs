//! Startup, liveness and readiness probes against the fake runtime under
//! tokio's paused clock: initial delay, period, thresholds, startup gating,
//! the liveness kill with the probe's grace override, readiness driving the
//! Ready condition, and kubelet's event messages.

mod common;

use std::time::Duration;

use common::*;
use nodelet_runtime::fake::{ExecScript, Match, OnStop, Run, Script};
use serde_json::{Value, json};

fn exec_probe(cmd: &str, extra: Value) -> Value {
    let mut p = json!({"exec": {"command": [cmd]}});
    if let (Some(p), Some(e)) = (p.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            p.insert(k.clone(), v.clone());
        }
    }
    p
}

fn one_container_pod(c: Value, spec_extra: Value) -> Value {
    let mut spec = json!({"containers": [c]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), spec_extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({"metadata": {"name": "p", "uid": "u1"}, "spec": spec})
}

fn fail(h: &H, cmd: &str, output: &str) {
    h.fake.exec_script(&[cmd], ExecScript::fail(1, output));
}

fn succeed(h: &H, cmd: &str) {
    h.fake
        .exec_script(&[cmd], ExecScript::ok_after(Duration::ZERO));
}

fn event_count(h: &H, reason: &str, message: &str) -> i32 {
    h.events()
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason) && e.message.as_deref() == Some(message))
        .map(|e| e.count.unwrap_or(1))
        .sum()
}

fn condition(h: &H, type_: &str) -> (String, Option<String>) {
    let p = h.get("p").expect("pod");
    let c = p
        .status
        .and_then(|s| s.conditions)
        .into_iter()
        .flatten()
        .find(|c| c.type_ == type_)
        .expect("condition");
    (c.status, c.message)
}

#[tokio::test(start_paused = true)]
async fn first_probe_after_initial_delay_then_every_period() {
    let h = setup().await;
    let probe = exec_probe(
        "check",
        json!({"initialDelaySeconds": 5, "periodSeconds": 3}),
    );
    h.apply(one_container_pod(
        ctr("c", json!({"livenessProbe": probe})),
        json!({}),
    ));
    h.until(20, |h| h.times(is_exec("c", "check")).len() >= 4)
        .await;
    let start = h.first(is_start("c"));
    let probes: Vec<f64> = h
        .times(is_exec("c", "check"))
        .iter()
        .map(|t| (t - start).round())
        .collect();
    assert_eq!(probes, vec![5.0, 8.0, 11.0, 14.0]);
    // A passing liveness probe records nothing and kills nothing.
    assert!(h.times(is_signal("c", 15)).is_empty());
    assert!(!h.event_triples().iter().any(|(_, r, _)| r == "Unhealthy"));
}

#[tokio::test(start_paused = true)]
async fn liveness_failure_kills_with_the_probe_grace_and_restarts() {
    let h = setup().await;
    h.fake.script(
        Match::Name("c".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::Ignore,
        },
    );
    let msg = "cat: can't open '/tmp/healthy': No such file or directory\n";
    fail(&h, "check", msg);
    let probe = exec_probe(
        "check",
        json!({"periodSeconds": 10, "failureThreshold": 3, "terminationGracePeriodSeconds": 7}),
    );
    h.apply(one_container_pod(
        ctr("c", json!({"livenessProbe": probe})),
        json!({"terminationGracePeriodSeconds": 60}),
    ));
    h.until(60, |h| h.times(is_start("c")).len() >= 2).await;
    let start = h.first(is_start("c"));
    let probes: Vec<f64> = h
        .times(is_exec("c", "check"))
        .iter()
        .map(|t| (t - start).round())
        .collect();
    // Three failures (thresholds count in a row), then no probing of the
    // container being killed.
    assert_eq!(&probes[..3], &[0.0, 10.0, 20.0]);
    assert!(probes.iter().skip(3).all(|t| *t >= 27.0), "{probes:?}");
    assert_eq!((h.first(is_signal("c", 15)) - start).round(), 20.0);
    // The probe's terminationGracePeriodSeconds (7), not the pod's (60).
    assert_eq!((h.first(is_signal("c", 9)) - start).round(), 27.0);
    // One Unhealthy per failed probe (aggregated into one event), the
    // restarted container's first probe included.
    assert_eq!(
        event_count(&h, "Unhealthy", &format!("Liveness probe failed: {msg}")),
        h.times(is_exec_end("c", "check")).len() as i32
    );
    assert!(h.has_event(
        "Killing",
        "Container c failed liveness probe, will be restarted"
    ));
    // Unhealthy comes before Killing.
    let triples = h.event_triples();
    let unhealthy = triples.iter().position(|(_, r, _)| r == "Unhealthy");
    let killing = triples.iter().position(|(_, r, _)| r == "Killing");
    assert!(unhealthy < killing, "{triples:?}");
    h.until(5, |h| h.cstatus("p", "c").restart_count == 1).await;
    let st = h.cstatus("p", "c");
    assert_eq!(
        st.last_state.unwrap().terminated.unwrap().exit_code,
        137,
        "SIGKILLed"
    );
    // The new container is probed again, from scratch.
    let second = h.times(is_start("c"))[1];
    h.until(5, |h| {
        h.times(is_exec("c", "check")).iter().any(|t| *t >= second)
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn without_a_probe_grace_the_pods_grace_applies_and_never_does_not_restart() {
    let h = setup().await;
    h.fake.script(
        Match::Name("c".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::Ignore,
        },
    );
    fail(&h, "check", "");
    let probe = exec_probe("check", json!({"periodSeconds": 5, "failureThreshold": 1}));
    h.apply(one_container_pod(
        ctr("c", json!({"livenessProbe": probe})),
        json!({"terminationGracePeriodSeconds": 12, "restartPolicy": "Never"}),
    ));
    h.until(30, |h| h.phase("p") == "Failed").await;
    let term = h.first(is_signal("c", 15));
    assert_eq!((h.first(is_signal("c", 9)) - term).round(), 12.0);
    assert!(h.has_event("Unhealthy", "Liveness probe failed: "));
    assert!(h.has_event("Killing", "Container c failed liveness probe"));
    assert_eq!(h.times(is_start("c")).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn startup_probe_gates_liveness_and_readiness() {
    let h = setup().await;
    fail(&h, "startup", "not yet");
    let c = ctr(
        "c",
        json!({
            "startupProbe": exec_probe("startup", json!({"periodSeconds": 2, "failureThreshold": 30})),
            "livenessProbe": exec_probe("live", json!({"periodSeconds": 10})),
            "readinessProbe": exec_probe("ready", json!({"periodSeconds": 10})),
        }),
    );
    h.apply(one_container_pod(c, json!({})));
    h.until(10, |h| h.times(is_exec("c", "startup")).len() >= 3)
        .await;
    let st = h.cstatus("p", "c");
    assert_eq!((st.started, st.ready), (Some(false), false));
    assert!(h.times(is_exec("c", "live")).is_empty());
    assert!(h.times(is_exec("c", "ready")).is_empty());
    assert_eq!(condition(&h, "Ready").0, "False");
    assert_eq!(
        event_count(&h, "Unhealthy", "Startup probe failed: not yet"),
        3
    );

    succeed(&h, "startup");
    h.until(5, |h| h.cstatus("p", "c").ready).await;
    let ok = h.times(is_exec("c", "startup"))[3];
    let start = h.first(is_start("c"));
    assert_eq!((ok - start).round(), 6.0);
    // Liveness and readiness begin right after startup succeeded.
    assert_eq!(h.first(is_exec("c", "live")).round(), ok.round());
    assert_eq!(h.first(is_exec("c", "ready")).round(), ok.round());
    assert_eq!(h.cstatus("p", "c").started, Some(true));
    assert_eq!(condition(&h, "Ready").0, "True");
    assert_eq!(condition(&h, "ContainersReady").0, "True");
    // The startup probe stops once it succeeded.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(h.times(is_exec("c", "startup")).len(), 4);
}

#[tokio::test(start_paused = true)]
async fn startup_failure_kills_and_restarts() {
    let h = setup().await;
    fail(&h, "startup", "boom");
    let c = ctr(
        "c",
        json!({
            "startupProbe": exec_probe("startup", json!({"periodSeconds": 3, "failureThreshold": 2})),
            "livenessProbe": exec_probe("live", json!({})),
        }),
    );
    h.apply(one_container_pod(c, json!({})));
    h.until(30, |h| h.times(is_start("c")).len() >= 2).await;
    let start = h.first(is_start("c"));
    assert_eq!((h.first(is_signal("c", 15)) - start).round(), 3.0);
    assert!(h.has_event(
        "Killing",
        "Container c failed startup probe, will be restarted"
    ));
    assert_eq!(
        event_count(&h, "Unhealthy", "Startup probe failed: boom"),
        h.times(is_exec_end("c", "startup")).len() as i32
    );
    // Two probes of the first container, in timeline order before the kill.
    let killed = h.index(is_signal("c", 15));
    let calls = h.fake.calls();
    let is_startup = is_exec("c", "startup");
    assert_eq!(
        calls[..killed].iter().filter(|c| is_startup(&c.op)).count(),
        2
    );
    assert!(h.times(is_exec("c", "live")).is_empty());
}

#[tokio::test(start_paused = true)]
async fn readiness_drives_ready_and_the_pod_conditions() {
    let h = setup().await;
    fail(&h, "ready", "HTTP-ish no");
    let probe = exec_probe(
        "ready",
        json!({"periodSeconds": 5, "successThreshold": 2, "failureThreshold": 2}),
    );
    h.apply(one_container_pod(
        ctr("c", json!({"readinessProbe": probe})),
        json!({}),
    ));
    h.until(5, |h| h.phase("p") == "Running").await;
    // Running but not ready until the probe passes twice in a row.
    assert!(!h.cstatus("p", "c").ready);
    assert_eq!(h.cstatus("p", "c").started, Some(true));
    let (status, message) = condition(&h, "Ready");
    assert_eq!(status, "False");
    assert_eq!(
        message.as_deref(),
        Some("containers with unready status: [c]")
    );
    h.until(12, |h| h.times(is_exec("c", "ready")).len() >= 2)
        .await;
    assert!(h.has_event("Unhealthy", "Readiness probe failed: HTTP-ish no"));

    succeed(&h, "ready");
    let switched = h.now();
    h.until(20, |h| h.cstatus("p", "c").ready).await;
    let became_ready = h.now();
    // Two successes, one period apart.
    assert!(
        (5.0..=11.0).contains(&(became_ready - switched)),
        "{}",
        became_ready - switched
    );
    assert_eq!(condition(&h, "Ready").0, "True");
    assert_eq!(condition(&h, "ContainersReady").0, "True");

    fail(&h, "ready", "down");
    h.until(20, |h| !h.cstatus("p", "c").ready).await;
    assert_eq!(condition(&h, "Ready").0, "False");
    assert_eq!(
        event_count(&h, "Unhealthy", "Readiness probe failed: down"),
        2
    );
    // Readiness never kills.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(h.times(is_signal("c", 15)).is_empty());
    assert_eq!(h.phase("p"), "Running");
}

#[tokio::test(start_paused = true)]
async fn errors_are_reported_and_thrown_away() {
    let h = setup().await;
    let c = ctr(
        "c",
        json!({"livenessProbe": {"tcpSocket": {"port": "nope"}, "periodSeconds": 5, "failureThreshold": 1}}),
    );
    h.apply(one_container_pod(c, json!({})));
    tokio::time::sleep(Duration::from_secs(30)).await;
    let msg = "Liveness probe errored and resulted in unknown state: strconv.Atoi: parsing \"nope\": invalid syntax";
    assert!(
        event_count(&h, "Unhealthy", msg) >= 6,
        "{:?}",
        h.event_triples()
    );
    assert!(
        h.times(is_signal("c", 15)).is_empty(),
        "an error never kills"
    );
}

#[tokio::test(start_paused = true)]
async fn exec_timeout_is_a_failure() {
    let h = setup().await;
    h.fake.exec_script(&["slow"], ExecScript::hang());
    let probe = exec_probe(
        "slow",
        json!({"timeoutSeconds": 2, "periodSeconds": 10, "failureThreshold": 1}),
    );
    h.apply(one_container_pod(
        ctr("c", json!({"livenessProbe": probe})),
        json!({}),
    ));
    h.until(10, |h| !h.times(is_signal("c", 15)).is_empty())
        .await;
    let start = h.first(is_start("c"));
    assert_eq!((h.first(is_signal("c", 15)) - start).round(), 2.0);
    assert!(h.has_event(
        "Unhealthy",
        "Liveness probe failed: command \"slow\" timed out"
    ));
}

#[tokio::test(start_paused = true)]
async fn on_deletion_liveness_stops_and_readiness_goes_on_through_pre_stop() {
    let h = setup().await;
    h.fake
        .exec_script(&["prestop"], ExecScript::ok_after(Duration::from_secs(20)));
    let c = ctr(
        "c",
        json!({
            "livenessProbe": exec_probe("live", json!({"periodSeconds": 2})),
            "readinessProbe": exec_probe("ready", json!({"periodSeconds": 2})),
            "lifecycle": {"preStop": exec_hook(&["prestop"])},
        }),
    );
    h.apply(one_container_pod(
        c,
        json!({"terminationGracePeriodSeconds": 30}),
    ));
    h.until(5, |h| h.cstatus("p", "c").ready).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    h.delete("p", None).await;
    let deleted = h.now();
    h.gone("p").await;
    let after = |cmd: &'static str| {
        h.times(is_exec("c", cmd))
            .into_iter()
            .filter(|t| *t > deleted + 0.5)
            .count()
    };
    assert_eq!(after("live"), 0);
    assert!(after("ready") >= 8, "readiness kept probing during preStop");
}

#[tokio::test(start_paused = true)]
async fn a_sidecars_startup_probe_holds_back_the_next_init_container() {
    let h = setup().await;
    fail(&h, "sc-start", "warming up");
    h.fake.script(
        Match::Name("init".into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(1), 0),
            on_stop: OnStop::Die,
        },
    );
    let sidecar = ctr(
        "sidecar",
        json!({
            "restartPolicy": "Always",
            "startupProbe": exec_probe("sc-start", json!({"periodSeconds": 2, "failureThreshold": 30})),
        }),
    );
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {
        "initContainers": [sidecar, ctr("init", json!({}))],
        "containers": [ctr("c", json!({}))]
    }}));
    h.until(10, |h| h.times(is_exec("sidecar", "sc-start")).len() >= 3)
        .await;
    assert!(
        h.times(is_create("init")).is_empty(),
        "init waits for the sidecar"
    );
    assert_eq!(h.phase("p"), "Pending");
    assert_eq!(h.cstatus("p", "sidecar").started, Some(false));

    succeed(&h, "sc-start");
    h.until(10, |h| h.phase("p") == "Running").await;
    let started_ok = h.times(is_exec("sidecar", "sc-start"))[3];
    assert!(h.first(is_create("init")) >= started_ok);
    assert!(h.first(is_start("c")) > h.first(is_start("init")));
}
