//! In-place resource updates of a running container through OciRuntime +
//! runc (`runc update`): the cgroup shows the new memory limit and CPU
//! quota/shares, the process keeps running (same pid), nothing restarts.

mod common;

use common::*;
use nodelet_runtime::oci::cgroups::CgroupMode;
use nodelet_runtime::*;

/// (memory limit, cpu quota, cpu shares or weight) read from the cgroup.
fn cgroup_limits(rt: &nodelet_runtime::oci::OciRuntime, id: &str) -> (String, String, String) {
    let fs = rt.cgroupfs();
    let path = rt.cgroup_path(id).unwrap();
    let read = |p: std::path::PathBuf| {
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_string()
    };
    match fs.mode() {
        CgroupMode::V2 => {
            let d = fs.dir(None, &path);
            (
                read(d.join("memory.max")),
                read(d.join("cpu.max")),
                read(d.join("cpu.weight")),
            )
        }
        _ => (
            read(fs.dir(Some("memory"), &path).join("memory.limit_in_bytes")),
            read(fs.dir(Some("cpu"), &path).join("cpu.cfs_quota_us")),
            read(fs.dir(Some("cpu"), &path).join("cpu.shares")),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_change_in_place() {
    if !require_real("resources_change_in_place") {
        return;
    }
    let h = Harness::new(91, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("resize"))
            .await
            .unwrap();
    let mut c = h.container(&sb, "main", &["sleep", "600"]);
    c.resources = Resources {
        memory_limit_bytes: Some(64 << 20),
        memory_request_bytes: Some(32 << 20),
        cpu_limit_millis: Some(500),
        cpu_request_millis: Some(250),
    };
    let id = h.rt.create_container(&sb, &c).await.unwrap();
    let started = h.rt.start_container(&id).await.unwrap();
    let v2 = h.rt.cgroupfs().mode() == CgroupMode::V2;
    let (mem, quota, _) = cgroup_limits(&h.rt, &id);
    assert_eq!(mem, (64u64 << 20).to_string());
    assert!(quota.starts_with("50000"), "quota {quota}");

    h.rt.update_container_resources(
        &id,
        &Resources {
            memory_limit_bytes: Some(128 << 20),
            memory_request_bytes: Some(64 << 20),
            cpu_limit_millis: Some(1000),
            cpu_request_millis: Some(500),
        },
    )
    .await
    .unwrap();
    let (mem, quota, shares) = cgroup_limits(&h.rt, &id);
    assert_eq!(mem, (128u64 << 20).to_string());
    assert!(quota.starts_with("100000"), "quota {quota}");
    if v2 {
        assert_eq!(shares, oci::cgroups::cpu_weight(512).to_string());
    } else {
        assert_eq!(shares, "512");
    }
    // Same process, still running.
    match h.rt.container_state(&id).await.unwrap() {
        ContainerState::Running { pid, .. } => assert_eq!(pid, started.pid),
        other => panic!("not running after the update: {other:?}"),
    }
    // A container that is gone is an error naming it.
    assert!(
        h.rt.update_container_resources("nosuch", &Resources::default())
            .await
            .is_err()
    );
    h.rt.signal(&id, Signal::SIGKILL).await.unwrap();
    h.rt.wait(&id).await.unwrap();
    h.teardown().await;
}
