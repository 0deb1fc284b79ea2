//! Real containers through OciRuntime + runc: hostname, env, logs, exec
//! (filesystem, pid namespace, cgroup charging), OOM, exit codes.

mod common;

use std::time::Duration;

use common::*;
use nodelet_runtime::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostname_env_and_cri_logs() {
    if !require_real("hostname_env_and_cri_logs") {
        return;
    }
    let h = Harness::new(1, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("web-1"))
            .await
            .unwrap();
    let mut c = h.container(
        &sb,
        "main",
        &["sh", "-c", "hostname; env; echo to-stderr >&2; exit 3"],
    );
    c.env = vec![
        ("GREETING".into(), "hello world".into()),
        ("FROM_IMAGE".into(), "overridden".into()),
    ];
    let (id, st) = h.run_to_exit(&sb, &c).await;
    assert_eq!(st.exit_code, 3);
    assert_eq!(st.reason(), "Error");
    assert!(!st.oom_killed);
    let log = cri_log_text(&h.rt.log_path(&id));
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "web-1", "log: {log}");
    assert!(lines.contains(&"GREETING=hello world"), "log: {log}");
    assert!(lines.contains(&"FROM_IMAGE=overridden"), "log: {log}");
    assert!(lines.iter().any(|l| l.starts_with("PATH=")), "log: {log}");
    assert!(lines.contains(&"to-stderr"));
    let raw = std::fs::read_to_string(h.rt.log_path(&id)).unwrap();
    assert!(
        raw.lines().any(|l| l.contains(" stderr F to-stderr")),
        "{raw}"
    );
    // Exited state is stable and wait returns at once again.
    assert!(matches!(
        h.rt.container_state(&id).await.unwrap(),
        ContainerState::Exited(_)
    ));
    assert_eq!(h.rt.wait(&id).await.unwrap().exit_code, 3);
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_sees_container_fs_pid_ns_and_cgroup() {
    if !require_real("exec_sees_container_fs_pid_ns_and_cgroup") {
        return;
    }
    let h = Harness::new(2, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("exec-pod"))
            .await
            .unwrap();
    let c = h.container(
        &sb,
        "main",
        &[
            "sh",
            "-c",
            "echo marker-content > /tmp/marker; exec sleep 600",
        ],
    );
    let id = h.rt.create_container(&sb, &c).await.unwrap();
    let started = h.rt.start_container(&id).await.unwrap();
    assert!(started.pid > 0);
    let exec = |cmd: &[&str]| ExecRequest {
        command: cmd.iter().map(|s| s.to_string()).collect(),
        env: vec![("EXTRA".into(), "1".into())],
        timeout: Some(Duration::from_secs(20)),
    };
    // The file written by the entrypoint is visible to exec.
    let mut out = ExecOutput {
        exit_code: 1,
        stdout: vec![],
        stderr: vec![],
    };
    for _ in 0..50 {
        out =
            h.rt.exec(&id, &exec(&["cat", "/tmp/marker"]))
                .await
                .unwrap();
        if out.exit_code == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(out.exit_code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "marker-content\n");
    // PID 1 in the exec's pid namespace is the container's sleep.
    let out =
        h.rt.exec(&id, &exec(&["cat", "/proc/1/cmdline"]))
            .await
            .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .replace('\0', " ")
            .trim(),
        "sleep 600"
    );
    let out = h.rt.exec(&id, &exec(&["ps"])).await.unwrap();
    let ps = String::from_utf8_lossy(&out.stdout);
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().next() == Some("1") && l.contains("sleep 600")),
        "{ps}"
    );
    // Exec env adds to the container's.
    let out = h.rt.exec(&id, &exec(&["env"])).await.unwrap();
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(
        env.contains("EXTRA=1") && env.contains("FROM_IMAGE=yes"),
        "{env}"
    );
    // Exit code passes through.
    assert_eq!(
        h.rt.exec(&id, &exec(&["sh", "-c", "exit 7"]))
            .await
            .unwrap()
            .exit_code,
        7
    );
    // Memory of an exec is charged to the container's cgroup.
    let cg = h.rt.cgroup_path(&id).unwrap();
    let before = h.rt.cgroupfs().memory_peak(&cg).unwrap();
    let out =
        h.rt.exec(
            &id,
            &exec(&["sh", "-c", "head -c 67108864 /dev/zero | tail | wc -c"]),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    let after = h.rt.cgroupfs().memory_peak(&cg).unwrap();
    assert!(
        after >= before + (48 << 20),
        "peak before {before} after {after}"
    );
    let stats = h.rt.stats(&id).await.unwrap();
    assert!(stats.pids >= 1 && stats.memory_usage_bytes > 0, "{stats:?}");
    // A timeout kills the exec'd process.
    let t0 = std::time::Instant::now();
    let r =
        h.rt.exec(
            &id,
            &ExecRequest {
                command: vec!["sleep".into(), "300".into()],
                env: vec![],
                timeout: Some(Duration::from_millis(500)),
            },
        )
        .await;
    assert!(matches!(r, Err(RuntimeError::ExecTimeout(_))), "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(30));
    let out = h.rt.exec(&id, &exec(&["ps"])).await.unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("sleep 300"));
    // Stop it (SIGTERM would be ignored: sleep is PID 1 of its pid
    // namespace without a handler, exactly as under kubelet).
    h.rt.signal(&id, Signal::SIGKILL).await.unwrap();
    let st = h.rt.wait(&id).await.unwrap();
    assert_eq!(st.exit_code, 137);
    assert_eq!(st.signal, Some(Signal::SIGKILL));
    assert_eq!(st.reason(), "Error");
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_killed_with_32mi_limit() {
    if !require_real("oom_killed_with_32mi_limit") {
        return;
    }
    let h = Harness::new(3, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("oom-pod"))
            .await
            .unwrap();
    let mut c = h.container(
        &sb,
        "hog",
        &["sh", "-c", "head -c 67108864 /dev/zero | tail"],
    );
    c.resources.memory_limit_bytes = Some(32 << 20);
    let (_id, st) = h.run_to_exit(&sb, &c).await;
    assert!(st.oom_killed, "{st:?}");
    assert_eq!(st.reason(), "OOMKilled");
    assert_ne!(st.exit_code, 0);
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_policies() {
    if !require_real("image_policies") {
        return;
    }
    let h = Harness::new(4, "runc").await;
    let req = |image: &str, policy| nodelet_runtime::ImageRequest::new(image, policy);
    let info =
        h.rt.ensure_image(&req(IMAGE, PullPolicy::IfNotPresent))
            .await
            .unwrap();
    assert!(info.id.starts_with("sha256:") && !info.pulled);
    // Loaded nodelet.local images are never pulled, even with Always.
    let always =
        h.rt.ensure_image(&req(IMAGE, PullPolicy::Always))
            .await
            .unwrap();
    assert!(!always.pulled);
    let e =
        h.rt.ensure_image(&req("nodelet.local/nope:1", PullPolicy::Never))
            .await
            .unwrap_err();
    assert_eq!(
        e.to_string(),
        "container image \"nodelet.local/nope:1\" is not present with pull policy of Never"
    );
    let e =
        h.rt.ensure_image(&req("nodelet.local/nope:1", PullPolicy::IfNotPresent))
            .await
            .unwrap_err();
    assert!(
        e.to_string().contains("never pulled from a registry"),
        "{e}"
    );
    // Nothing listens on port 1: the pull fails saying so.
    let e =
        h.rt.ensure_image(&req("127.0.0.1:1/library/alpine:3", PullPolicy::Always))
            .await
            .unwrap_err();
    assert!(e.to_string().contains("failed to do request"), "{e}");
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_context_user_readonly_and_tty() {
    if !require_real("security_context_user_readonly_and_tty") {
        return;
    }
    let h = Harness::new(5, "runc").await;
    let sb = h.rt.create_sandbox(&h.sandbox_config("sec")).await.unwrap();
    let mut c = h.container(
        &sb,
        "main",
        &[
            "sh",
            "-c",
            "id; pwd; touch /probe 2>/dev/null && echo rw || echo ro",
        ],
    );
    c.security.run_as_user = Some(65534);
    c.security.read_only_root_filesystem = true;
    c.working_dir = Some("/tmp".into());
    let (id, st) = h.run_to_exit(&sb, &c).await;
    assert_eq!(st.exit_code, 0);
    let log = cri_log_text(&h.rt.log_path(&id));
    assert_eq!(
        // The primary gid is among the supplementary groups, as containerd
        // sets them.
        log,
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n/tmp\nro\n",
        "{log}"
    );
    // Privileged: every capability, host devices, no masked /proc paths.
    let mut p = h.container(
        &sb,
        "priv",
        &["sh", "-c", "grep CapEff /proc/self/status; test -c /dev/kmsg && echo kmsg; cat /proc/kcore >/dev/null 2>&1; echo done"],
    );
    p.security.privileged = true;
    let (id, st) = h.run_to_exit(&sb, &p).await;
    assert_eq!(st.exit_code, 0);
    let log = cri_log_text(&h.rt.log_path(&id));
    assert!(
        log.starts_with(&format!("CapEff:\t{}\nkmsg\n", our_cap_bnd())),
        "{log:?}"
    );
    // A TTY container's output reaches the log through the monitor's pty.
    let mut t = h.container(&sb, "tty", &["sh", "-c", "tty"]);
    t.tty = true;
    let (id, st) = h.run_to_exit(&sb, &t).await;
    assert_eq!(st.exit_code, 0);
    let log = cri_log_text(&h.rt.log_path(&id));
    assert!(log.starts_with("/dev/pts/"), "{log:?}");
    h.teardown().await;
}

/// This process's bounding set: what a privileged container gets.
fn our_cap_bnd() -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_string()
}
