//! Pod sysctls on real containers (runc through the engine): the e2e
//! "[sig-node] Sysctls" cases one node runs — a safe sysctl given with
//! dots or with slashes is set in the pod's namespace (the container reads
//! it back, the host's value is untouched), and an unsafe one not allowed
//! ends the pod `Failed`/`SysctlForbidden` before anything is created.

mod real_support;

use real_support::*;
use serde_json::json;

const SHM_RMID_FORCED: &str = "/proc/sys/kernel/shm_rmid_forced";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_sysctls_are_set_in_the_pod_or_forbidden() {
    let Some(r) = Real::new("pod_sysctls_are_set_in_the_pod_or_forbidden", 77).await else {
        return;
    };
    let host_before = std::fs::read_to_string(SHM_RMID_FORCED).unwrap();
    for (pod_name, sysctl) in [
        ("dots", "kernel.shm_rmid_forced"),
        ("slashes", "kernel/shm_rmid_forced"),
    ] {
        r.apply(pod(
            pod_name,
            vec![idle("c", json!({}))],
            json!({"securityContext": {"sysctls": [{"name": sysctl, "value": "1"}]}}),
        ));
    }
    r.apply(pod(
        "unsafe",
        vec![idle("c", json!({}))],
        json!({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "10000000000"}]}}),
    ));
    for pod_name in ["dots", "slashes"] {
        r.running(pod_name, 60).await;
        let out = r.exec(pod_name, "c", &["cat", SHM_RMID_FORCED]).await;
        assert_eq!(out.exit_code, 0, "{pod_name}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1",
            "{pod_name}: {out:?}"
        );
    }
    // Set in the pod's IPC namespace only.
    assert_eq!(
        std::fs::read_to_string(SHM_RMID_FORCED).unwrap(),
        host_before
    );

    let p = r.phase_is("unsafe", "Failed", 30).await;
    let st = p.status.unwrap();
    assert_eq!(st.reason.as_deref(), Some("SysctlForbidden"));
    assert_eq!(
        st.message.as_deref(),
        Some("Pod was rejected: forbidden sysctl: \"kernel.msgmax\" not allowlisted")
    );
    assert!(
        r.event(
            "unsafe",
            "SysctlForbidden",
            "forbidden sysctl: \"kernel.msgmax\" not allowlisted"
        )
        .is_some(),
        "{:?}",
        r.event_triples("unsafe")
    );
    r.finish().await;
}
