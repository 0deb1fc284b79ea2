//! `shareProcessNamespace: true` end to end through OciRuntime + runc, as
//! the Kubernetes task page "Share Process Namespace between Containers in
//! a Pod" shows it: the pod's containers see each other's processes, PID 1
//! is the pause, a container can signal another's process and reach its
//! filesystem through `/proc/<pid>/root`; orphans are reaped by the pause;
//! a restarted agent keeps using the namespace; removing the sandbox
//! leaves no pause, pin, mount or cgroup. A normal pod sees none of it.

mod common;

use std::time::Duration;

use common::*;
use nodelet_runtime::sandbox::pause;
use nodelet_runtime::*;

/// Runs `script` in a new container of `sb` to its end; returns the log.
async fn output(h: &Harness, sb: &SandboxInfo, name: &str, script: &str) -> String {
    let c = h.container(sb, name, &["sh", "-c", script]);
    let (id, st) = h.run_to_exit(sb, &c).await;
    let log = cri_log_text(&h.rt.log_path(&id));
    assert_eq!(st.exit_code, 0, "{name}: {log}");
    log
}

async fn exec(rt: &dyn Runtime, id: &str, script: &str) -> String {
    let out = rt
        .exec(
            id,
            &ExecRequest {
                command: ["sh", "-c", script].map(String::from).to_vec(),
                env: vec![],
                timeout: Some(Duration::from_secs(20)),
            },
        )
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.exit_code,
        0,
        "{script}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Finds the process whose command line is exactly `cmdline` (words joined
/// by spaces) without matching itself, and prints `found=<pid>`.
fn find_script(cmdline: &str) -> String {
    format!(
        "for p in /proc/[0-9]*; do c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); \
         [ \"$c\" = \"{cmdline} \" ] && echo found=${{p#/proc/}}; done; true"
    )
}

/// Whether a line of `log` starts with `prefix`.
fn has_line(log: &str, prefix: &str) -> bool {
    log.lines().any(|l| l.starts_with(prefix))
}

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
async fn containers_of_a_shared_process_namespace_see_each_other() {
    if !require_real("containers_of_a_shared_process_namespace_see_each_other") {
        return;
    }
    let h = Harness::new(57, "runc").await;
    let before = h.leaks();
    let mut cfg = h.sandbox_config("shared-pid");
    cfg.share_process_namespace = true;
    let sb = h.rt.create_sandbox(&cfg).await.unwrap();
    let pin = sb
        .namespaces
        .pid
        .clone()
        .expect("a pinned process namespace");
    let pause_pid = pause::find(&pin).expect("the pause process runs");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pause_pid}/cmdline")).unwrap(),
        "/pause\0"
    );
    let status = std::fs::read_to_string(format!("/proc/{pause_pid}/status")).unwrap();
    assert!(status.contains("Uid:\t65535\t65535"), "{status}");
    assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
    let pause_cgroup = pause::cgroup_of(&sb.cgroup_parent);
    let cg = std::fs::read_to_string(format!("/proc/{pause_pid}/cgroup")).unwrap();
    assert!(cg.contains(&format!("/{pause_cgroup}\n")), "{cg}");

    // The task page's nginx: a process with a file of its own.
    let a = h.container(
        &sb,
        "nginx",
        &["sh", "-c", "echo from-nginx > /tmp/marker; exec sleep 3141"],
    );
    let a_id = h.rt.create_container(&sb, &a).await.unwrap();
    h.rt.start_container(&a_id).await.unwrap();
    // Give it the moment to write its marker and exec sleep.
    let mut seen = String::new();
    for _ in 0..50 {
        seen = exec(&h.rt, &a_id, &find_script("sleep 3141")).await;
        if has_line(&seen, "found=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(has_line(&seen, "found="), "{seen}");

    // The task page's shell: ps, /proc/<pid>/root, kill -HUP.
    let script = format!(
        "echo init=$(tr '\\0' ' ' < /proc/1/cmdline); ps; {}; \
         for p in $(for p in /proc/[0-9]*; do c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); \
         [ \"$c\" = \"sleep 3141 \" ] && echo ${{p#/proc/}}; done); do \
           echo marker=$(cat /proc/$p/root/tmp/marker); kill -TERM $p && echo signalled; done",
        find_script("sleep 3141")
    );
    let log = output(&h, &sb, "shell", &script).await;
    assert!(
        log.lines().any(|l| l == "init=/pause"),
        "PID 1 is the pause: {log}"
    );
    assert!(
        has_line(&log, "found="),
        "the other container's process: {log}"
    );
    assert!(
        has_line(&log, "marker=from-nginx"),
        "its /proc/<pid>/root: {log}"
    );
    assert!(has_line(&log, "signalled"), "{log}");
    let st = tokio::time::timeout(Duration::from_secs(20), h.rt.wait(&a_id))
        .await
        .expect("the signalled container ends")
        .unwrap();
    assert_eq!(st.signal, Some(Signal::SIGTERM), "{st:?}");

    // Orphans are the pause's to reap.
    let b = h.container(&sb, "keeper", &["sleep", "600"]);
    let b_id = h.rt.create_container(&sb, &b).await.unwrap();
    h.rt.start_container(&b_id).await.unwrap();
    let orphan = exec(&h.rt, &b_id, "sleep 2 >/dev/null 2>&1 & echo $!").await;
    let orphan = orphan.trim().to_string();
    let ppid = exec(&h.rt, &b_id, &format!("grep PPid /proc/{orphan}/status")).await;
    assert_eq!(ppid.trim(), "PPid:\t1", "re-parented to the pause");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let gone = exec(
        &h.rt,
        &b_id,
        &format!("test -e /proc/{orphan} && cat /proc/{orphan}/stat; echo checked"),
    )
    .await;
    assert_eq!(gone.trim(), "checked", "the orphan was not reaped: {gone}");

    // A restarted agent joins the same namespace.
    let rt2 = h.reopen().await;
    let sb2 = rt2
        .list_sandboxes()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.id == sb.id)
        .expect("the sandbox survives");
    // Through its own descriptor of the pin space, the same namespace.
    let pin2 = sb2.namespaces.pid.clone().expect("the pid pin survives");
    let ns_id = |p: &std::path::Path| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).unwrap();
        (m.dev(), m.ino())
    };
    assert_eq!(
        ns_id(&pin2),
        ns_id(&pin),
        "{} vs {}",
        pin2.display(),
        pin.display()
    );
    let c = h.container(
        &sb2,
        "after-restart",
        &["sh", "-c", &find_script("sleep 600")],
    );
    let c_id = rt2.create_container(&sb2, &c).await.unwrap();
    rt2.start_container(&c_id).await.unwrap();
    assert_eq!(rt2.wait(&c_id).await.unwrap().exit_code, 0);
    let log = cri_log_text(&rt2.log_path(&c_id));
    assert!(has_line(&log, "found="), "{log}");

    // Removal: no pause, pin, mount or cgroup left.
    rt2.signal(&b_id, Signal::SIGKILL).await.unwrap();
    rt2.wait(&b_id).await.unwrap();
    for c in rt2.list_containers().await.unwrap() {
        rt2.remove_container(&c.id).await.unwrap();
    }
    rt2.remove_sandbox(&sb.id).await.unwrap();
    assert!(dead(pause_pid), "the pause process outlived its sandbox");
    assert!(pause::find(&pin).is_none());
    assert!(!pin.exists(), "{} left behind", pin.display());
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(&pin.display().to_string()),
        "pin still mounted"
    );
    assert!(!cgroup_exists(&pause_cgroup), "pause cgroup left behind");
    drop(rt2);
    let after = h.leaks();
    assert_eq!(after.mounts, before.mounts, "{after:?} vs {before:?}");
    assert_eq!(after.netns_pins, before.netns_pins);
    assert_eq!(after.cgroup_dirs, before.cgroup_dirs);
    assert_eq!(after.processes, before.processes);
    // Everything is gone already (and `h.rt` still caches what `rt2`
    // removed): only the bridge is left, for Drop.
    drop(h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_of_a_normal_pod_have_their_own_process_namespace() {
    if !require_real("containers_of_a_normal_pod_have_their_own_process_namespace") {
        return;
    }
    let h = Harness::new(58, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("own-pid"))
            .await
            .unwrap();
    assert_eq!(sb.namespaces.pid, None);
    let space =
        nodelet_runtime::sandbox::pin_space::PinSpace::open(&h.cfg.run_root.join("ns")).unwrap();
    assert!(!space.dir(&sb.id).join("pid").exists());
    assert!(space.dir(&sb.id).join("net").exists());
    let a = h.container(&sb, "sleeper", &["sleep", "2718"]);
    let a_id = h.rt.create_container(&sb, &a).await.unwrap();
    h.rt.start_container(&a_id).await.unwrap();
    let log = output(
        &h,
        &sb,
        "probe",
        &format!(
            "echo init=$(tr '\\0' ' ' < /proc/1/cmdline); {}",
            find_script("sleep 2718")
        ),
    )
    .await;
    assert!(log.contains("init=sh -c "), "its own PID 1: {log}");
    assert!(!has_line(&log, "found="), "sees another container: {log}");
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_process_namespace_in_a_pod_user_namespace() {
    if !require_real("a_shared_process_namespace_in_a_pod_user_namespace") {
        return;
    }
    let h = Harness::new(59, "runc").await;
    let mut cfg = h.sandbox_config("userns-pid");
    cfg.share_process_namespace = true;
    cfg.user_namespace = true;
    let sb = h.rt.create_sandbox(&cfg).await.unwrap();
    let pin = sb
        .namespaces
        .pid
        .clone()
        .expect("a pinned process namespace");
    let pause_pid = pause::find(&pin).expect("the pause process runs");
    // uid 65535 of the pod's user namespace, i.e. its last host id.
    let m = sb.id_mapping.expect("an id mapping");
    let status = std::fs::read_to_string(format!("/proc/{pause_pid}/status")).unwrap();
    let host_uid = m.host_id + 65535;
    assert!(
        status.contains(&format!("Uid:\t{host_uid}\t{host_uid}")),
        "{status}"
    );
    let a = h.container(&sb, "sleeper", &["sleep", "1618"]);
    let a_id = h.rt.create_container(&sb, &a).await.unwrap();
    h.rt.start_container(&a_id).await.unwrap();
    let log = output(
        &h,
        &sb,
        "probe",
        &format!(
            "echo init=$(tr '\\0' ' ' < /proc/1/cmdline); ps; {}",
            find_script("sleep 1618")
        ),
    )
    .await;
    assert!(log.lines().any(|l| l == "init=/pause"), "{log}");
    assert!(has_line(&log, "found="), "{log}");
    h.rt.signal(&a_id, Signal::SIGKILL).await.unwrap();
    h.rt.wait(&a_id).await.unwrap();
    h.teardown().await;
    assert!(dead(pause_pid), "the pause process outlived its sandbox");
    assert!(!pin.exists());
}
