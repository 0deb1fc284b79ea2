//! Upstream `test/e2e/common/node/lifecycle_hook.go` on real containers:
//! a handler pod (testbin serve, HTTP 8080 + HTTPS 8443) records
//! `GET /echo?msg=…`; a second pod's postStart/preStop hooks call it by exec
//! (busybox wget inside the container), httpGet and httpGet HTTPS.
//! The same on a sidecar (restartable init container). Subnets 10.253.1-6,
//! 20-21.

mod real_support;

use real_support::*;
use serde_json::{Value, json};

const GRACE: i64 = 15;

fn http_hook(ip: &str, scheme: &str, port: u16, msg: &str) -> Value {
    json!({"httpGet": {"host": ip, "scheme": scheme, "port": port, "path": format!("/echo?msg={msg}")}})
}

fn wget_hook(ip: &str, msg: &str) -> Value {
    exec_hook(&[
        "sh",
        "-c",
        &format!("wget -qO- http://{ip}:8080/echo?msg={msg}"),
    ])
}

/// A postStart hook's request is recorded by the time the pod is Running
/// (postStart is synchronous), and the hook pod is deleted cleanly.
async fn post_start_case(r: Real, hook: impl Fn(&str) -> Value) {
    let ip = r.handler_pod("pod-handle-http-request").await;
    r.apply(pod(
        "pod-with-poststart-hook",
        vec![idle("c", json!({"lifecycle": {"postStart": hook(&ip)}}))],
        json!({"terminationGracePeriodSeconds": GRACE}),
    ));
    r.running("pod-with-poststart-hook", 60).await;
    let rec = r.recorded(&ip).await;
    assert!(
        rec.iter().any(|(m, _)| m == "poststart"),
        "pod Running but the handler has not recorded poststart: {rec:?}"
    );
    let started = r.event("pod-with-poststart-hook", "Started", "").unwrap();
    assert_eq!(
        started.involved_object.field_path.as_deref(),
        Some("spec.containers{c}")
    );
    assert!(
        r.event("pod-with-poststart-hook", "FailedPostStartHook", "")
            .is_none()
    );
    assert!(
        r.event("pod-with-poststart-hook", "LifecycleHTTPFallback", "")
            .is_none()
    );
    r.delete_timed("pod-with-poststart-hook", None, 30).await;
    r.finish().await;
}

/// A preStop hook's request is recorded before the container stopped.
async fn pre_stop_case(r: Real, hook: impl Fn(&str) -> Value) {
    let ip = r.handler_pod("pod-handle-http-request").await;
    r.apply(pod(
        "pod-with-prestop-hook",
        vec![idle("c", json!({"lifecycle": {"preStop": hook(&ip)}}))],
        json!({"terminationGracePeriodSeconds": GRACE}),
    ));
    r.running("pod-with-prestop-hook", 60).await;
    let before = r.recorded(&ip).await;
    assert!(
        !before.iter().any(|(m, _)| m == "prestop"),
        "prestop delivered before deletion: {before:?}"
    );
    let took = r.delete_timed("pod-with-prestop-hook", None, 30).await;
    let rec = r.recorded(&ip).await;
    let at = rec
        .iter()
        .find(|(m, _)| m == "prestop")
        .map(|(_, t)| *t)
        .unwrap_or_else(|| panic!("handler did not record prestop: {rec:?}"));
    let term = r
        .last_terminated("pod-with-prestop-hook", "c")
        .expect("a Terminated status was published");
    let finished = term.finished_at.clone().expect("finishedAt").0;
    assert!(
        at <= finished,
        "preStop request at {at} after the container finished at {finished}"
    );
    // testbin pause exits on the stop signal: no wait for the grace.
    assert_eq!(term.exit_code, 0, "{term:?}");
    assert!(
        secs(took) < GRACE as f64,
        "deletion took {took:?}, grace {GRACE}"
    );
    assert!(
        r.event("pod-with-prestop-hook", "FailedPreStopHook", "")
            .is_none()
    );
    assert!(
        r.event("pod-with-prestop-hook", "Killing", "Stopping container c")
            .is_some()
    );
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_start_exec_hook_reaches_handler() {
    let Some(r) = Real::new("post_start_exec_hook_reaches_handler", 1).await else {
        return;
    };
    post_start_case(r, |ip| wget_hook(ip, "poststart")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_stop_exec_hook_reaches_handler() {
    let Some(r) = Real::new("pre_stop_exec_hook_reaches_handler", 2).await else {
        return;
    };
    pre_stop_case(r, |ip| wget_hook(ip, "prestop")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_start_http_hook_reaches_handler() {
    let Some(r) = Real::new("post_start_http_hook_reaches_handler", 3).await else {
        return;
    };
    post_start_case(r, |ip| http_hook(ip, "HTTP", 8080, "poststart")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_start_https_hook_reaches_handler() {
    let Some(r) = Real::new("post_start_https_hook_reaches_handler", 4).await else {
        return;
    };
    post_start_case(r, |ip| http_hook(ip, "HTTPS", 8443, "poststart")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_stop_http_hook_reaches_handler() {
    let Some(r) = Real::new("pre_stop_http_hook_reaches_handler", 5).await else {
        return;
    };
    pre_stop_case(r, |ip| http_hook(ip, "HTTP", 8080, "prestop")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_stop_https_hook_reaches_handler() {
    let Some(r) = Real::new("pre_stop_https_hook_reaches_handler", 6).await else {
        return;
    };
    pre_stop_case(r, |ip| http_hook(ip, "HTTPS", 8443, "prestop")).await;
}

/// A pod whose hooks sit on a sidecar (init container with
/// `restartPolicy: Always`) next to a plain main container.
fn sidecar_pod(name: &str, lifecycle: Value) -> Value {
    pod(
        name,
        vec![idle("main", json!({}))],
        json!({"terminationGracePeriodSeconds": GRACE, "initContainers": [
            idle("sidecar", json!({"restartPolicy": "Always", "lifecycle": lifecycle}))
        ]}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_post_start_exec_hook_runs_before_the_main_container() {
    let Some(r) = Real::new(
        "sidecar_post_start_exec_hook_runs_before_the_main_container",
        20,
    )
    .await
    else {
        return;
    };
    let ip = r.handler_pod("pod-handle-http-request").await;
    let name = "pod-with-sidecar-poststart";
    r.apply(sidecar_pod(
        name,
        json!({"postStart": wget_hook(&ip, "poststart")}),
    ));
    r.running(name, 60).await;
    let at = r.wait_recorded(&ip, "poststart", 1).await;
    // Sidecars start in order before the regular containers, each after
    // its postStart: the main container starts after the hook's request.
    let main = r
        .last_running_started_at(name, "main")
        .expect("main container Running");
    assert!(
        at <= main,
        "sidecar postStart at {at}, main started at {main}"
    );
    r.delete_timed(name, None, 30).await;
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_pre_stop_http_hook_reaches_handler() {
    let Some(r) = Real::new("sidecar_pre_stop_http_hook_reaches_handler", 21).await else {
        return;
    };
    let ip = r.handler_pod("pod-handle-http-request").await;
    let name = "pod-with-sidecar-prestop";
    r.apply(sidecar_pod(
        name,
        json!({"preStop": http_hook(&ip, "HTTP", 8080, "prestop")}),
    ));
    r.running(name, 60).await;
    r.delete_timed(name, None, 30).await;
    let at = r.wait_recorded(&ip, "prestop", 1).await;
    let sidecar = r
        .last_terminated(name, "sidecar")
        .expect("sidecar Terminated");
    let main = r.last_terminated(name, "main").expect("main Terminated");
    let (sidecar_end, main_end) = (
        sidecar.finished_at.clone().unwrap().0,
        main.finished_at.clone().unwrap().0,
    );
    assert!(
        at <= sidecar_end,
        "preStop at {at} after the sidecar ended at {sidecar_end}"
    );
    // Sidecars are stopped after the regular containers.
    assert!(
        main_end <= sidecar_end,
        "main ended {main_end}, sidecar {sidecar_end}"
    );
    r.finish().await;
}
