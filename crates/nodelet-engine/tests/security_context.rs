//! The kubelet's container-level security checks in the engine: the
//! runAsNonRoot verification against the image's user (Waiting
//! CreateContainerConfigError with the kubelet's message, no container
//! created), and the security settings that reach the runtime (the
//! pod-level ones, as shareProcessNamespace, through the sandbox config).

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

/// e2e "Sysctls should support sysctls" (and "with slashes as
/// separator"): the pod's sysctls reach every container, dotted.
#[tokio::test(start_paused = true)]
async fn pod_sysctls_reach_the_runtime_dotted() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
    "securityContext": {"sysctls": [{"name": "kernel/shm_rmid_forced", "value": "1"}]},
    "containers": [ctr("c", json!({}))]}}));
    h.until(5, |h| !h.times(is_start("c")).is_empty()).await;
    let (id, _, _) = h
        .fake
        .containers()
        .into_iter()
        .find(|(_, n, _)| n == "c")
        .expect("container created");
    let created = h.fake.container_config(&id).unwrap();
    assert_eq!(
        created.security.sysctls,
        [("kernel.shm_rmid_forced".to_string(), "1".to_string())].into()
    );
}

/// e2e "Sysctls should not launch unsafe, but not explicitly enabled
/// sysctls on the node": the pod ends Failed/SysctlForbidden with the
/// kubelet's message and Warning event; nothing is created for it.
#[tokio::test(start_paused = true)]
async fn unsafe_sysctls_end_the_pod_as_sysctl_forbidden() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
    "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "10000000000"}]},
    "containers": [ctr("c", json!({}))]}}));
    h.until(5, |h| h.phase("p") == "Failed").await;
    let st = h.get("p").unwrap().status.unwrap();
    assert_eq!(st.reason.as_deref(), Some("SysctlForbidden"));
    assert_eq!(
        st.message.as_deref(),
        Some("Pod was rejected: forbidden sysctl: \"kernel.msgmax\" not allowlisted")
    );
    assert!(st.container_statuses.is_none(), "{st:?}");
    let conditions: Vec<&str> = st
        .conditions
        .iter()
        .flatten()
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(conditions, ["PodScheduled"]);
    assert!(h.has_event(
        "SysctlForbidden",
        "forbidden sysctl: \"kernel.msgmax\" not allowlisted"
    ));
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert!(h.times(is_create("c")).is_empty());
    assert!(h.fake.containers().is_empty());
}

/// `--allowed-unsafe-sysctls kernel.msg*` lets the same pod run.
#[tokio::test(start_paused = true)]
async fn allowed_unsafe_sysctls_run() {
    let mut config = nodelet_engine::EngineConfig::new("node1");
    config.sysctls = nodelet_spec::sysctl::Allowlist::for_node(None, &["kernel.msg*"]).unwrap();
    let h = setup_config(
        nodelet_runtime::fake::FakeRuntime::with_wall_origin(ORIGIN.parse().unwrap()),
        config,
    )
    .await;
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
    "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "10000"}]},
    "containers": [ctr("c", json!({}))]}}));
    h.until(5, |h| !h.times(is_start("c")).is_empty()).await;
}

#[tokio::test(start_paused = true)]
async fn share_process_namespace_reaches_the_sandbox() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "shared"}, "spec": {
    "shareProcessNamespace": true,
    "containers": [ctr("c", json!({}))]}}));
    h.apply(json!({"metadata": {"name": "own"}, "spec": {
    "containers": [ctr("c", json!({}))]}}));
    h.until(5, |h| h.fake.sandbox_configs().len() == 2).await;
    let configs = h.fake.sandbox_configs();
    let of = |name: &str| {
        configs
            .iter()
            .find(|c| c.pod_name == name)
            .unwrap_or_else(|| panic!("no sandbox for {name}"))
    };
    assert!(of("shared").share_process_namespace);
    assert!(!of("shared").host_pid);
    assert!(!of("own").share_process_namespace);
}
