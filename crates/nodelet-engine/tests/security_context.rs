//! The kubelet's container-level security checks in the engine: the
//! runAsNonRoot verification against the image's user (Waiting
//! CreateContainerConfigError with the kubelet's message, no container
//! created), and the security settings that reach the runtime.

mod common;

use common::*;
use nodelet_runtime::SeccompProfile;
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn run_as_non_root_refuses_root_images_with_the_kubelets_message() {
    let h = setup().await;
    h.fake.image_user("img-named", "nginx");
    h.fake.image_user("img-numeric", "1000:1000");
    h.apply(json!({"metadata": {"name": "p", "uid": "u-1"}, "spec": {
    "securityContext": {"runAsNonRoot": true},
    "containers": [
        ctr("root", json!({})),
        ctr("named", json!({"image": "img-named"})),
        ctr("numeric", json!({"image": "img-numeric"})),
        ctr("explicit", json!({"securityContext": {"runAsUser": 1001}})),
    ]}}));
    h.until(5, |h| {
        h.waiting_reason("p", "root").as_deref() == Some("CreateContainerConfigError")
            && h.waiting_reason("p", "named").as_deref() == Some("CreateContainerConfigError")
    })
    .await;
    let root = h.cstatus("p", "root");
    assert_eq!(
        root.state.unwrap().waiting.unwrap().message.as_deref(),
        Some(
            "container has runAsNonRoot and image will run as root (pod: \"p_default(u-1)\", container: root)"
        )
    );
    assert!(h.has_event(
        "Failed",
        "Error: container has runAsNonRoot and image will run as root (pod: \"p_default(u-1)\", container: root)"
    ));
    assert!(h.has_event(
        "Failed",
        "Error: container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root (pod: \"p_default(u-1)\", container: named)"
    ));
    // Nothing was created for the refused containers; the others ran.
    assert!(h.times(is_create("root")).is_empty());
    assert!(h.times(is_create("named")).is_empty());
    h.until(5, |h| {
        !h.times(is_start("numeric")).is_empty() && !h.times(is_start("explicit")).is_empty()
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn security_settings_reach_the_runtime() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
    "securityContext": {
        "seccompProfile": {"type": "RuntimeDefault"},
        "supplementalGroups": [4000], "fsGroup": 5000
    },
    "containers": [ctr("c", json!({"securityContext": {
        "seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/audit.json"},
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true
    }}))]}}));
    h.until(5, |h| !h.times(is_start("c")).is_empty()).await;
    let (id, _, _) = h
        .fake
        .containers()
        .into_iter()
        .find(|(_, n, _)| n == "c")
        .expect("container created");
    let created = h.fake.container_config(&id).unwrap();
    let s = &created.security;
    assert_eq!(
        s.seccomp,
        SeccompProfile::Localhost("profiles/audit.json".into())
    );
    assert_eq!(s.supplemental_groups, vec![4000, 5000]);
    assert!(s.no_new_privileges && s.read_only_root_filesystem);
}
