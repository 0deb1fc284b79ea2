//! Sandboxes with a shared process namespace, made and removed again and
//! again, leave nothing: no pause process, pin, mount, cgroup or file
//! descriptor of ours. Alone in its test binary so no other test changes
//! the process-wide counts (fds) meanwhile.

mod common;

use common::*;
use nodelet_runtime::sandbox::pause;
use nodelet_runtime::*;

/// Whether host process `pid` is gone (or only a zombie left for the host's
/// init to reap).
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

fn cgroup_exists(rel: &str) -> bool {
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .any(|h| h.path().join(rel).is_dir())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_shared_sandbox_cycles_leak_nothing() {
    if !require_real("ten_shared_sandbox_cycles_leak_nothing") {
        return;
    }
    let h = Harness::new(60, "runc").await;
    let mut cfg = h.sandbox_config("pid-cycles");
    cfg.share_process_namespace = true;
    // Warm-up: the bridge and state dirs are made once and stay.
    let first = h.rt.create_sandbox(&cfg).await.unwrap();
    h.rt.remove_sandbox(&first.id).await.unwrap();
    let before = h.leaks();
    for cycle in 0..10 {
        let sb = h.rt.create_sandbox(&cfg).await.unwrap();
        let pin = sb.namespaces.pid.clone().unwrap();
        let pid = pause::find(&pin).expect("the pause process runs");
        h.rt.remove_sandbox(&sb.id).await.unwrap();
        assert!(dead(pid), "cycle {cycle}: pause {pid} still running");
        assert!(!pin.exists(), "cycle {cycle}");
        assert!(
            !cgroup_exists(&pause::cgroup_of(&sb.cgroup_parent)),
            "cycle {cycle}"
        );
    }
    assert_eq!(h.leaks(), before);
    h.teardown().await;
}
