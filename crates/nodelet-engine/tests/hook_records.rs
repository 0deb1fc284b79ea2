//! issue 15 through the engine (fake runtime, paused clock): a postStart
//! past its `hooks.nodelet.dev/post-start-timeout` fails at the limit with
//! the event saying so and the container restarts; every delivery leaves a
//! HookDelivery record with its result, exit code and output; with
//! `hooks.nodelet.dev/output: events` the failure event carries the output;
//! the metrics count the deliveries; without annotations nothing changes.

mod common;

use std::time::Duration;

use common::*;
use nodelet_runtime::fake::{ExecScript, Match, OnStop, Run, Script};
use serde_json::json;

fn records(h: &H) -> Vec<serde_json::Value> {
    h.store
        .list_objects("HookDelivery", Some("default"))
        .unwrap()
        .into_iter()
        .map(|(v, _)| v)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_post_start_past_its_timeout_fails_at_the_limit_and_the_container_restarts() {
    let h = setup().await;
    h.fake.exec_script(
        &["sleep", "3600"],
        ExecScript {
            takes: None,
            exit_code: 0,
            stdout: String::new(),
            stderr: String::new(),
        },
    );
    h.apply(json!({"metadata": {"name": "p", "annotations": {
        "hooks.nodelet.dev/post-start-timeout": "2s"}},
    "spec": {"containers": [
        ctr("c1", json!({"lifecycle": {"postStart": exec_hook(&["sleep", "3600"])}})),
    ]}}));
    h.until(30, |h| h.times(is_start("c1")).len() >= 2).await;
    let ev = h
        .events()
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("FailedPostStartHook"))
        .expect("FailedPostStartHook");
    assert_eq!(
        ev.message.as_deref(),
        Some("PostStartHook failed: timed out after 2s")
    );
    let first_kill = h.first(is_signal("c1", 15));
    assert!(
        (first_kill - 2.0).abs() < 0.1,
        "killed at {first_kill}, not at the 2s limit"
    );
    let recs = records(&h);
    let first = recs
        .iter()
        .find(|r| r["metadata"]["name"] == "p.c1.poststart.0")
        .unwrap_or_else(|| panic!("record of the first delivery: {recs:#?}"));
    assert_eq!(first["status"]["phase"], "TimedOut");
    assert_eq!(first["status"]["reason"], "TimedOut");
    assert_eq!(first["spec"]["timeout"], "2s");
    assert_eq!(first["spec"]["handler"]["type"], "Exec");
    assert_eq!(first["metadata"]["labels"]["nodelet.dev/container"], "c1");
    let m = h.engine.metrics_text();
    assert!(
        m.contains("nodelet_hook_delivery_duration_seconds_count{hook=\"PostStart\",handler=\"Exec\",result=\"TimedOut\"}"),
        "{m}"
    );
}

#[tokio::test(start_paused = true)]
async fn records_show_output_and_the_opt_in_event_carries_it() {
    let h = setup().await;
    h.fake.exec_script(
        &["bad"],
        ExecScript {
            takes: Some(Duration::from_millis(300)),
            exit_code: 3,
            stdout: "checking config\n".into(),
            stderr: "config missing\n".into(),
        },
    );
    h.fake
        .exec_script(&["good"], ExecScript::ok_after(Duration::from_secs(1)));
    h.apply(
        json!({"metadata": {"name": "p", "annotations": {"hooks.nodelet.dev/output": "events"}},
        "spec": {"containers": [
            ctr("c1", json!({"lifecycle": {"postStart": exec_hook(&["bad"])}})),
        ]}}),
    );
    h.apply(json!({"metadata": {"name": "q"}, "spec": {"containers": [
        ctr("c1", json!({"lifecycle": {"postStart": exec_hook(&["good"])}})),
    ]}}));
    h.until(30, |h| {
        h.phase("q") == "Running"
            && h.event_triples()
                .iter()
                .any(|(_, r, _)| r == "FailedPostStartHook")
    })
    .await;
    let ev = h
        .events()
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("FailedPostStartHook"))
        .unwrap();
    let msg = ev.message.unwrap();
    assert!(msg.starts_with("PostStartHook failed, output: "), "{msg}");
    assert!(
        msg.contains("checking config") && msg.contains("config missing"),
        "{msg}"
    );
    h.until(5, |h| records(h).len() >= 2).await;
    let recs = records(&h);
    let bad = recs.iter().find(|r| r["spec"]["podName"] == "p").unwrap();
    assert_eq!(bad["status"]["phase"], "Failed");
    assert_eq!(bad["status"]["exitCode"], 3);
    assert_eq!(bad["status"]["stdout"]["head"], "checking config\n");
    assert_eq!(bad["status"]["stderr"]["head"], "config missing\n");
    assert!((bad["status"]["durationSeconds"].as_f64().unwrap() - 0.3).abs() < 0.01);
    let good = recs.iter().find(|r| r["spec"]["podName"] == "q").unwrap();
    assert_eq!(good["status"]["phase"], "Succeeded");
    assert_eq!(good["status"]["attempt"], 1);
    assert_eq!(good["status"]["durationSeconds"], 1.0);
}

#[tokio::test(start_paused = true)]
async fn a_pod_lowers_its_crashloop_backoff_maximum() {
    let h = setup().await;
    h.fake.script(
        Match::Name("c1".into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(1), 1),
            on_stop: OnStop::Die,
        },
    );
    h.apply(json!({"metadata": {"name": "p", "annotations": {"nodelet.dev/crashloop-backoff-max": "2s"}},
        "spec": {"containers": [ctr("c1", json!({}))]}}));
    h.until(60, |h| h.times(is_start("c1")).len() >= 5).await;
    let starts = h.times(is_start("c1"));
    let exits = h.times(is_exited("c1"));
    let delays: Vec<f64> = starts
        .iter()
        .skip(1)
        .zip(&exits)
        .map(|(s, e)| (s - e).round())
        .collect();
    // The kubelet's would be 0, 10, 20, 40; capped at 2 s (below 10 s the
    // initial back-off is the maximum too).
    assert_eq!(delays, [0.0, 2.0, 2.0, 2.0]);
}
