//! CPU and memory limits/requests of a running container land in its own
//! cgroup at the explicit path nodelet chose (cgroupfs driver; v1/hybrid
//! or v2), as the kernel reports them.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use nodelet_runtime::*;

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_requests_reach_the_container_cgroup() {
    if !require_real("limits_and_requests_reach_the_container_cgroup") {
        return;
    }
    let h = Harness::new(55, "runc").await;
    let sb = h.rt.create_sandbox(&h.sandbox_config("res")).await.unwrap();
    let mut c = h.container(&sb, "main", &["sleep", "600"]);
    c.resources = Resources {
        memory_limit_bytes: Some(48 << 20),
        memory_request_bytes: Some(16 << 20),
        cpu_limit_millis: Some(250),
        cpu_request_millis: Some(100),
    };
    let id = h.rt.create_container(&sb, &c).await.unwrap();
    let started = h.rt.start_container(&id).await.unwrap();
    let cg = h.rt.cgroup_path(&id).unwrap();
    let rel = cg.trim_start_matches('/');
    assert!(
        rel.starts_with(&sb.cgroup_parent),
        "{cg} not under {}",
        sb.cgroup_parent
    );
    let root = Path::new("/sys/fs/cgroup");
    if root.join("memory").is_dir() {
        // v1 (or hybrid, like this machine).
        assert_eq!(
            read(root.join("memory").join(rel).join("memory.limit_in_bytes")),
            (48u64 << 20).to_string()
        );
        assert_eq!(
            read(root.join("cpu").join(rel).join("cpu.cfs_quota_us")),
            "25000"
        );
        assert_eq!(
            read(root.join("cpu").join(rel).join("cpu.cfs_period_us")),
            "100000"
        );
        // Requests → shares: 100m = 102 (kubelet's milliCPUToShares).
        assert_eq!(read(root.join("cpu").join(rel).join("cpu.shares")), "102");
        let procs = read(root.join("memory").join(rel).join("cgroup.procs"));
        assert!(
            procs.lines().any(|p| p == started.pid.to_string()),
            "{procs}"
        );
    } else {
        assert_eq!(
            read(root.join(rel).join("memory.max")),
            (48u64 << 20).to_string()
        );
        assert_eq!(read(root.join(rel).join("cpu.max")), "25000 100000");
        let procs = read(root.join(rel).join("cgroup.procs"));
        assert!(
            procs.lines().any(|p| p == started.pid.to_string()),
            "{procs}"
        );
    }
    h.rt.signal(&id, Signal::SIGKILL).await.unwrap();
    h.rt.wait(&id).await.unwrap();
    h.teardown().await;
}
