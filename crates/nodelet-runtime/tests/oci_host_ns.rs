//! Pod-level namespace settings end to end through OciRuntime + runc:
//! hostNetwork / hostPID / hostIPC reach the container, a pod's containers
//! share one `/dev/shm` (removed with the sandbox), and
//! `allowPrivilegeEscalation: false` sets no_new_privs.

mod common;

use std::time::Duration;

use common::*;
use nodelet_runtime::oci::shm;
use nodelet_runtime::*;

/// Runs `script` in a new container of `sb` and returns its log text.
async fn output(h: &Harness, sb: &SandboxInfo, name: &str, script: &str) -> String {
    let c = h.container(sb, name, &["sh", "-c", script]);
    let (id, st) = h.run_to_exit(sb, &c).await;
    let log = cri_log_text(&h.rt.log_path(&id));
    assert_eq!(st.exit_code, 0, "{name}: {log}");
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_network_pid_and_ipc_reach_the_container() {
    if !require_real("host_network_pid_and_ipc_reach_the_container") {
        return;
    }
    let h = Harness::new(51, "runc").await;
    let me = std::process::id();
    let probe = format!(
        "cat /proc/net/dev; test -d /proc/{me} && echo SEES_AGENT_PID; \
         echo init=$(cat /proc/1/comm); echo host=$(hostname); \
         echo ipc > /dev/shm/nodelet-hostipc-{me}; true"
    );

    // A pod with its own namespaces first: it also creates the bridge, an
    // interface only the host's network namespace has.
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("own-ns"))
            .await
            .unwrap();
    let own = output(&h, &sb, "probe", &probe).await;
    assert!(!own.contains(&h.bridge), "pod netns sees the bridge: {own}");
    assert!(!own.contains("SEES_AGENT_PID"), "{own}");
    assert!(own.contains("host=own-ns"), "{own}");
    let shm_file = std::path::PathBuf::from(format!("/dev/shm/nodelet-hostipc-{me}"));
    assert!(!shm_file.exists(), "private /dev/shm leaked to the host");

    let mut cfg = h.sandbox_config("host-ns");
    cfg.host_network = true;
    cfg.host_pid = true;
    cfg.host_ipc = true;
    let hsb = h.rt.create_sandbox(&cfg).await.unwrap();
    let host = output(&h, &hsb, "probe", &probe).await;
    // hostNetwork: the host's interfaces, the node's hostname.
    assert!(host.contains(&format!("{}:", h.bridge)), "{host}");
    let node = nix::unistd::gethostname().unwrap();
    assert!(
        host.contains(&format!("host={}", node.to_string_lossy())),
        "{host}"
    );
    // hostPID: the host's processes, the host's init as pid 1.
    assert!(host.contains("SEES_AGENT_PID"), "{host}");
    let init = std::fs::read_to_string("/proc/1/comm").unwrap();
    assert!(host.contains(&format!("init={}", init.trim())), "{host}");
    // hostIPC: the host's /dev/shm.
    let got = std::fs::read_to_string(&shm_file);
    let _ = std::fs::remove_file(&shm_file);
    assert_eq!(got.unwrap(), "ipc\n");
    assert!(!shm::shm_dir(&h.cfg.run_root, &hsb.id).exists());
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_containers_share_dev_shm_and_no_new_privs() {
    if !require_real("pod_containers_share_dev_shm_and_no_new_privs") {
        return;
    }
    let h = Harness::new(52, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("shm-pod"))
            .await
            .unwrap();
    let dir = shm::shm_dir(&h.cfg.run_root, &sb.id);
    assert!(nodelet_runtime::rootfs::is_mounted(&dir).unwrap());

    let a = h.container(&sb, "writer", &["sleep", "600"]);
    let a_id = h.rt.create_container(&sb, &a).await.unwrap();
    h.rt.start_container(&a_id).await.unwrap();
    let out =
        h.rt.exec(
            &a_id,
            &ExecRequest {
                command: [
                    "sh",
                    "-c",
                    "echo shared-data > /dev/shm/seg; grep NoNewPrivs /proc/self/status",
                ]
                .map(String::from)
                .to_vec(),
                env: vec![],
                timeout: Some(Duration::from_secs(20)),
            },
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0, "{out:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("seg")).unwrap(),
        "shared-data\n"
    );

    let mut b = h.container(
        &sb,
        "reader",
        &[
            "sh",
            "-c",
            "cat /dev/shm/seg; grep NoNewPrivs /proc/self/status",
        ],
    );
    b.security.no_new_privileges = true;
    let (b_id, st) = h.run_to_exit(&sb, &b).await;
    let log = cri_log_text(&h.rt.log_path(&b_id));
    assert_eq!(st.exit_code, 0, "{log}");
    assert!(log.contains("shared-data"), "{log}");
    assert!(log.contains("NoNewPrivs:\t1"), "{log}");
    let plain = output(&h, &sb, "plain", "grep NoNewPrivs /proc/self/status").await;
    assert!(plain.contains("NoNewPrivs:\t0"), "{plain}");

    // Another pod does not see it.
    let other =
        h.rt.create_sandbox(&h.sandbox_config("other-pod"))
            .await
            .unwrap();
    let o = output(&h, &other, "look", "ls /dev/shm; echo done").await;
    assert!(!o.contains("seg"), "{o}");

    h.rt.signal(&a_id, Signal::SIGKILL).await.unwrap();
    h.rt.wait(&a_id).await.unwrap();
    for c in h.rt.list_containers().await.unwrap() {
        h.rt.remove_container(&c.id).await.unwrap();
    }
    h.rt.remove_sandbox(&sb.id).await.unwrap();
    assert!(!nodelet_runtime::rootfs::is_mounted(&dir).unwrap());
    assert!(!dir.exists(), "{} left behind", dir.display());
    h.teardown().await;
}
