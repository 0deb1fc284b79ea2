//! 100 create/start/stop/remove cycles (a sandbox each) leave no cgroup
//! dir, mount, netns pin, veth, IPAM lease, process or fd behind.

mod common;

use common::*;
use nodelet_runtime::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_cycles_leak_nothing() {
    if !require_real("hundred_cycles_leak_nothing") {
        return;
    }
    let h = Harness::new(31, "runc").await;
    // One warm-up cycle so lazily created things (bridge, lock files, the
    // tokio blocking pool's fds) exist before counting.
    let cycle = |i: usize| {
        let h = &h;
        async move {
            let sb =
                h.rt.create_sandbox(&h.sandbox_config(&format!("leak-{i}")))
                    .await
                    .unwrap();
            let c = h.container(&sb, "main", &["sh", "-c", "sleep 30"]);
            let id = h.rt.create_container(&sb, &c).await.unwrap();
            h.rt.start_container(&id).await.unwrap();
            h.rt.signal(&id, Signal::SIGKILL).await.unwrap();
            let st = h.rt.wait(&id).await.unwrap();
            assert_eq!(st.exit_code, 137);
            h.rt.remove_container(&id).await.unwrap();
            h.rt.remove_sandbox(&sb.id).await.unwrap();
        }
    };
    cycle(0).await;
    let before = h.leaks();
    for i in 1..=100 {
        cycle(i).await;
    }
    let after = h.leaks();
    assert_eq!(before, after, "resources leaked over 100 cycles");
    assert_eq!(after.cgroup_dirs, 0, "{after:?}");
    assert_eq!(after.processes, 0, "{after:?}");
    assert_eq!(after.veths, 0, "{after:?}");
    assert!(h.rt.list_containers().await.unwrap().is_empty());
    assert!(h.rt.list_sandboxes().await.unwrap().is_empty());
    eprintln!("leak counts before/after 100 cycles: {after:?}");
    h.teardown().await;
}
