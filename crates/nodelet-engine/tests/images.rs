//! The kubelet's image manager rules (`image_manager.go`) under the paused
//! clock: pull policies, the image back-off (10 s doubling to 300 s from
//! the last failed pull, found at the pod worker's 10 s resyncs), the
//! waiting reasons ErrImagePull / ImagePullBackOff / ErrImageNeverPull /
//! InvalidImageName, the events and their texts, and pull secrets reaching
//! the runtime.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use nodelet_runtime::PullPolicy;
use nodelet_runtime::fake::Op;
use nodelet_spec::Object;
use serde_json::json;

fn pulls(h: &H, image: &'static str) -> Vec<f64> {
    h.times(move |op| matches!(op, Op::PullImage { image: i } if i == image))
}

fn ensures(h: &H, image: &'static str) -> Vec<(PullPolicy, Vec<String>)> {
    h.fake
        .calls()
        .into_iter()
        .filter_map(|c| match c.op {
            Op::EnsureImage {
                image: i,
                policy,
                secrets,
            } if i == image => Some((policy, secrets)),
            _ => None,
        })
        .collect()
}

fn count(h: &H, reason: &str, message: &str) -> i32 {
    h.events()
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason) && e.message.as_deref() == Some(message))
        .map(|e| e.count.unwrap_or(1))
        .sum()
}

#[tokio::test(start_paused = true)]
async fn failed_pulls_back_off_10s_doubling_to_300s_from_the_last_failure() {
    let h = setup().await;
    h.fake
        .fail_image("reg.example/app:1", "unexpected status: 401 Unauthorized");
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "reg.example/app:1"}]}}));

    // t=0: first pull fails.
    h.until(1, |h| {
        h.waiting_reason("p", "c").as_deref() == Some("ErrImagePull")
    })
    .await;
    let w = h.cstatus("p", "c").state.unwrap().waiting.unwrap();
    assert_eq!(
        w.message.as_deref(),
        Some("unexpected status: 401 Unauthorized")
    );
    assert_eq!(h.phase("p"), "Pending");
    // t=10: the worker syncs again, the 10 s window has passed: pull again
    // (fails, back-off now 20 s from t=10).
    h.until(11, |h| pulls(h, "reg.example/app:1").len() == 2)
        .await;
    assert_eq!(h.waiting_reason("p", "c").as_deref(), Some("ErrImagePull"));
    // t=20: inside the window: ImagePullBackOff, with the last error.
    h.until(11, |h| {
        h.waiting_reason("p", "c").as_deref() == Some("ImagePullBackOff")
    })
    .await;
    let w = h.cstatus("p", "c").state.unwrap().waiting.unwrap();
    assert_eq!(
        w.message.as_deref(),
        Some(
            "Back-off pulling image \"reg.example/app:1\": ErrImagePull: unexpected status: 401 Unauthorized"
        )
    );
    h.until(1000, |h| pulls(h, "reg.example/app:1").len() >= 8)
        .await;
    let t: Vec<f64> = pulls(&h, "reg.example/app:1")
        .iter()
        .map(|t| t.round())
        .collect();
    // 10, 20, 40, 80, 160, 300, 300: each window starts at a failure and
    // ends at the first 10 s resync after it.
    assert_eq!(t, [0.0, 10.0, 30.0, 70.0, 150.0, 310.0, 610.0, 910.0]);

    assert!(count(&h, "Pulling", "Pulling image \"reg.example/app:1\"") >= 8);
    assert!(
        count(
            &h,
            "Failed",
            "Failed to pull image \"reg.example/app:1\": unexpected status: 401 Unauthorized"
        ) >= 8
    );
    assert!(count(&h, "Failed", "Error: ErrImagePull") >= 8);
    assert!(
        count(
            &h,
            "BackOff",
            "Back-off pulling image \"reg.example/app:1\""
        ) >= 1
    );
    assert!(count(&h, "Failed", "Error: ImagePullBackOff") >= 1);
    let types: BTreeMap<String, String> = h
        .events()
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.type_.unwrap_or_default()))
        .collect();
    assert_eq!(types["Pulling"], "Normal");
    assert_eq!(types["BackOff"], "Normal");
    assert_eq!(types["Failed"], "Warning");
    assert!(h.times(is_create("c")).is_empty());

    // Fixed: the next resync after the window pulls and starts it.
    h.fake.heal_image("reg.example/app:1");
    h.until(320, |h| h.phase("p") == "Running").await;
    assert_eq!(pulls(&h, "reg.example/app:1").len(), 9);
}

#[tokio::test(start_paused = true)]
async fn pulled_events_carry_both_durations_and_the_size() {
    let h = setup().await;
    h.fake.absent_image("reg.example/app:1");
    h.fake
        .pull_delay("reg.example/app:1", Duration::from_millis(1234));
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "reg.example/app:1", "imagePullPolicy": "IfNotPresent"}]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    let reasons: Vec<String> = h.event_triples().into_iter().map(|(_, r, _)| r).collect();
    assert_eq!(reasons, ["Pulling", "Pulled", "Created", "Started"]);
    assert!(h.has_event(
        "Pulled",
        "Successfully pulled image \"reg.example/app:1\" in 1.234s (1.234s including waiting). Image size: 1024 bytes."
    ));
    // A second pod: present, IfNotPresent: no pull, "already present".
    h.apply(json!({"metadata": {"name": "q"}, "spec": {"containers": [
        {"name": "c", "image": "reg.example/app:1", "imagePullPolicy": "IfNotPresent"}]}}));
    h.until(5, |h| h.phase("q") == "Running").await;
    assert_eq!(pulls(&h, "reg.example/app:1").len(), 1);
    assert!(h.has_event(
        "Pulled",
        "Container image \"reg.example/app:1\" already present on machine"
    ));
    // The status reports the image as the runtime resolved it.
    assert_eq!(
        h.cstatus("q", "c").image_id,
        "sha256:fake-reg.example/app:1"
    );
}

#[tokio::test(start_paused = true)]
async fn never_with_a_missing_image_waits_without_pulling() {
    let h = setup().await;
    h.fake.absent_image("reg.example/app:1");
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "reg.example/app:1", "imagePullPolicy": "Never"}]}}));
    h.until(1, |h| {
        h.waiting_reason("p", "c").as_deref() == Some("ErrImageNeverPull")
    })
    .await;
    let w = h.cstatus("p", "c").state.unwrap().waiting.unwrap();
    let msg = "Container image \"reg.example/app:1\" is not present with pull policy of Never";
    assert_eq!(w.message.as_deref(), Some(msg));
    assert!(h.has_event("ErrImageNeverPull", msg));
    assert!(h.has_event("Failed", "Error: ErrImageNeverPull"));
    // Checked again at every resync, never pulled.
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert_eq!(ensures(&h, "reg.example/app:1").len(), 4);
    assert!(pulls(&h, "reg.example/app:1").is_empty());
    // Loaded by hand: the next check starts it.
    h.fake.present_image("reg.example/app:1");
    h.until(11, |h| h.phase("p") == "Running").await;
}

#[tokio::test(start_paused = true)]
async fn an_invalid_reference_is_invalid_image_name() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "Nginx:latest"}]}}));
    h.until(1, |h| {
        h.waiting_reason("p", "c").as_deref() == Some("InvalidImageName")
    })
    .await;
    let msg = "Failed to apply default image tag \"Nginx:latest\": couldn't parse image name \"Nginx:latest\": invalid reference format: repository name (library/Nginx) must be lowercase";
    assert_eq!(
        h.cstatus("p", "c")
            .state
            .unwrap()
            .waiting
            .unwrap()
            .message
            .as_deref(),
        Some(msg)
    );
    assert!(h.has_event("InspectFailed", msg));
    assert!(h.has_event("Failed", "Error: InvalidImageName"));
    assert!(
        ensures(&h, "Nginx:latest").is_empty(),
        "the runtime is not asked"
    );
}

#[tokio::test(start_paused = true)]
async fn in_back_off_an_image_that_appeared_is_used() {
    let h = setup().await;
    h.fake.fail_image("reg.example/app:1", "boom");
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "reg.example/app:1", "imagePullPolicy": "IfNotPresent"}]}}));
    // Failures at t=0 and t=10: back-off until t=30.
    h.until(11, |h| pulls(h, "reg.example/app:1").len() == 2)
        .await;
    h.fake.present_image("reg.example/app:1");
    // t=20: in back-off, but the image is there now: it is used, no pull.
    h.until(11, |h| h.phase("p") == "Running").await;
    assert!(h.now() < 21.0, "{}", h.now());
    assert_eq!(pulls(&h, "reg.example/app:1").len(), 2);
    assert!(h.has_event(
        "Pulled",
        "Container image \"reg.example/app:1\" already present on machine"
    ));
}

#[tokio::test(start_paused = true)]
async fn pull_secrets_reach_the_runtime_and_missing_ones_are_reported() {
    let h = setup().await;
    let mut data = BTreeMap::new();
    data.insert(
        ".dockerconfigjson".to_string(),
        ByteString(br#"{"auths":{"reg.example":{"auth":"dTpw"}}}"#.to_vec()),
    );
    let secret = Secret {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("regcred".into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        data: Some(data),
        ..Default::default()
    };
    let opaque = Secret {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("opaque".into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    h.engine
        .apply(vec![
            Object::Secret(Box::new(secret)),
            Object::Secret(Box::new(opaque)),
        ])
        .unwrap();
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
        "imagePullSecrets": [{"name": "regcred"}, {"name": "opaque"}, {"name": "nosuch"}],
        "containers": [{"name": "c", "image": "reg.example/app:1"}]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    let calls = ensures(&h, "reg.example/app:1");
    assert_eq!(calls[0].0, PullPolicy::IfNotPresent);
    assert_eq!(
        calls[0].1,
        ["default/regcred"],
        "only docker config secrets"
    );
    assert!(h.has_event(
        "FailedToRetrieveImagePullSecret",
        "Unable to retrieve some image pull secrets (nosuch); attempting to pull the image may not succeed."
    ));
}
