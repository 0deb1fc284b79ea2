//! Container security defaults and `securityContext`, proved from inside
//! real containers (runc, through the engine as a pod would run):
//! containerd's default capability set (`CapEff` 0xa80425fb), masked and
//! read-only `/proc`/`/sys` paths, no host processes visible, mounting,
//! module loading, ptrace of the agent and (without NET_RAW) raw sockets
//! all refused; seccomp `RuntimeDefault` (`Seccomp: 2`) and `Localhost`
//! profiles; `allowPrivilegeEscalation: false` (`NoNewPrivs: 1`);
//! read-only root filesystems; runAsUser/runAsGroup/supplementalGroups
//! (`Strict` and `Merge`); runAsNonRoot against the image's user;
//! privileged containers (all the agent's capabilities, no masks, host
//! devices); `shareProcessNamespace` (one process namespace for the
//! pod's init and app containers, the pause as PID 1).

mod real_support;

use nodelet_runtime::Runtime;
use real_support::*;
use serde_json::json;

/// `Key:\tvalue` lines of /proc/self/status as seen by `sh` in the
/// container (through `runc exec`, which applies the container's process
/// settings).
async fn status(r: &Real, pod: &str, c: &str) -> std::collections::HashMap<String, String> {
    let out = r.exec(pod, c, &["cat", "/proc/self/status"]).await;
    assert_eq!(out.exit_code, 0, "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

async fn sh(r: &Real, pod: &str, c: &str, script: &str) -> (i32, String) {
    let out = r.exec(pod, c, &["sh", "-c", script]).await;
    let mut s = String::from_utf8_lossy(&out.stdout).to_string();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.exit_code, s)
}

async fn probe(r: &Real, pod: &str, c: &str, what: &[&str]) -> String {
    let mut cmd = vec!["/testbin", "probe"];
    cmd.extend_from_slice(what);
    let out = r.exec(pod, c, &cmd).await;
    assert_eq!(out.exit_code, 0, "{out:?}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn agent_bounding_set() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_container_gets_containerds_defaults() {
    let Some(r) = Real::new("default_container_gets_containerds_defaults", 61).await else {
        return;
    };
    r.apply(pod("plain", vec![idle("c", json!({}))], json!({})));
    r.running("plain", 60).await;

    let st = status(&r, "plain", "c").await;
    // containerd's 14 default capabilities, nothing inheritable or ambient.
    assert_eq!(st["CapEff"], "00000000a80425fb", "{st:?}");
    assert_eq!(st["CapPrm"], "00000000a80425fb");
    assert_eq!(st["CapBnd"], "00000000a80425fb");
    assert_eq!(st["CapInh"], "0000000000000000");
    assert_eq!(st["CapAmb"], "0000000000000000");
    // The kubelet's default is Unconfined (no --seccomp-default), and
    // privilege escalation is allowed unless the pod says otherwise.
    assert_eq!(st["Seccomp"], "0");
    assert_eq!(st["NoNewPrivs"], "0");
    assert_eq!(st["Uid"], "0\t0\t0\t0");

    // Masked paths read empty, read-only ones refuse writes. (This kernel
    // has no /proc/kcore: CONFIG_PROC_KCORE is off; the spec still lists it.)
    let (_, out) = sh(
        &r,
        "plain",
        "c",
        "for f in /proc/keys /proc/timer_list /proc/kcore; do \
           [ -e $f ] && echo \"$f $(wc -c < $f)\" || echo \"$f absent\"; done; \
         echo firmware=$(ls /sys/firmware | wc -l) acpi=$(ls /proc/acpi | wc -l); \
         echo 1 > /proc/sysrq-trigger && echo sysrq-writable; \
         echo 0 > /proc/sys/kernel/panic && echo sys-writable; true",
    )
    .await;
    for want in ["/proc/keys 0", "/proc/timer_list 0", "firmware=0 acpi=0"] {
        assert!(out.contains(want), "{want:?} not in {out}");
    }
    assert!(
        !out.contains("writable"),
        "read-only /proc paths were writable: {out}"
    );
    let host_keys = std::fs::read_to_string("/proc/keys").unwrap_or_default();
    assert!(!host_keys.is_empty(), "the host's /proc/keys is not empty");

    // No host process is visible: only the container's own.
    let me = std::process::id();
    let (_, ps) = sh(
        &r,
        "plain",
        "c",
        "ls /proc | grep -E '^[0-9]+$' | wc -l; cat /proc/1/cmdline | tr '\\0' ' '",
    )
    .await;
    assert!(ps.contains("/testbin pause"), "{ps}");
    let (code, _) = sh(
        &r,
        "plain",
        "c",
        &format!("test -e /proc/{me}/cmdline && grep -q nodelet /proc/{me}/cmdline"),
    )
    .await;
    assert_ne!(code, 0, "the agent's process is visible in the container");

    // What root in a default container may and may not do.
    let p = probe(
        &r,
        "plain",
        "c",
        &["mount", "module", "raw-socket", "mknod"],
    )
    .await;
    assert!(p.contains("mount: Operation not permitted"), "{p}");
    assert!(!p.contains("module: ok"), "{p}");
    assert!(
        p.contains("raw-socket: ok"),
        "NET_RAW is a default capability: {p}"
    );
    assert!(
        p.contains("mknod: ok"),
        "MKNOD is a default capability: {p}"
    );
    // The rootfs is writable by default.
    assert_eq!(sh(&r, "plain", "c", "touch /written").await.0, 0);
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_security_context_from_inside() {
    let Some(r) = Real::new("restricted_security_context_from_inside", 62).await else {
        return;
    };
    let profiles = r.oci_config().root.join("seccomp/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(
        profiles.join("no-mkdir.json"),
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    r.apply(pod(
        "restricted",
        vec![
            idle(
                "c",
                json!({"securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "runAsUser": 1000, "runAsGroup": 3000,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                    "seccompProfile": {"type": "RuntimeDefault"}
                }}),
            ),
            idle(
                "root-no-raw",
                json!({"securityContext": {"capabilities": {"drop": ["NET_RAW"]}}}),
            ),
            idle(
                "local",
                json!({"securityContext": {"seccompProfile": {
                    "type": "Localhost", "localhostProfile": "profiles/no-mkdir.json"}}}),
            ),
        ],
        json!({"securityContext": {
            "supplementalGroups": [4000], "fsGroup": 5000, "supplementalGroupsPolicy": "Strict"
        }}),
    ));
    r.running("restricted", 60).await;

    let st = status(&r, "restricted", "c").await;
    assert_eq!(st["Seccomp"], "2", "RuntimeDefault filter: {st:?}");
    assert_eq!(st["NoNewPrivs"], "1");
    assert_eq!(st["Uid"], "1000\t1000\t1000\t1000");
    assert_eq!(st["Gid"], "3000\t3000\t3000\t3000");
    assert_eq!(
        st["Groups"], "3000 4000 5000",
        "primary, supplementalGroups, fsGroup"
    );
    // NET_BIND_SERVICE only (bit 10).
    assert_eq!(st["CapBnd"], "0000000000000400");
    let (code, out) = sh(&r, "restricted", "c", "touch /x").await;
    assert_ne!(code, 0);
    assert!(out.contains("Read-only file system"), "{out}");
    let p = probe(&r, "restricted", "c", &["userns", "raw-socket", "mount"]).await;
    // RuntimeDefault refuses new namespaces even where the kernel allows
    // unprivileged user namespaces.
    assert!(p.contains("userns: Operation not permitted"), "{p}");
    assert!(p.contains("raw-socket: Operation not permitted"), "{p}");
    assert!(p.contains("mount: Operation not permitted"), "{p}");

    let p = probe(&r, "restricted", "root-no-raw", &["raw-socket"]).await;
    assert!(p.contains("raw-socket: Operation not permitted"), "{p}");
    let st = status(&r, "restricted", "root-no-raw").await;
    assert_eq!(
        st["CapEff"], "00000000a80405fb",
        "default set minus NET_RAW"
    );

    let st = status(&r, "restricted", "local").await;
    assert_eq!(st["Seccomp"], "2");
    let (code, out) = sh(&r, "restricted", "local", "mkdir /tmp/d").await;
    assert_ne!(code, 0, "the Localhost profile denies mkdir: {out}");
    assert_eq!(sh(&r, "restricted", "local", "touch /tmp/f").await.0, 0);
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileged_host_pid_and_profile_errors() {
    let Some(r) = Real::new("privileged_host_pid_and_profile_errors", 63).await else {
        return;
    };
    r.apply(pod(
        "priv",
        vec![idle("c", json!({"securityContext": {"privileged": true}}))],
        json!({}),
    ));
    r.apply(pod(
        "hostpid",
        vec![idle("c", json!({}))],
        json!({"hostPID": true}),
    ));
    r.apply(pod(
        "missing-profile",
        vec![idle(
            "c",
            json!({"securityContext": {"seccompProfile": {
                "type": "Localhost", "localhostProfile": "nope.json"}}}),
        )],
        json!({}),
    ));
    r.running("priv", 60).await;
    r.running("hostpid", 60).await;

    let st = status(&r, "priv", "c").await;
    assert_eq!(
        st["CapEff"],
        agent_bounding_set(),
        "everything the agent holds"
    );
    assert_eq!(st["Seccomp"], "0");
    let (_, out) = sh(
        &r,
        "priv",
        "c",
        "echo keys=$(wc -c < /proc/keys) firmware=$(ls /sys/firmware | wc -l); ls /dev",
    )
    .await;
    assert!(!out.contains("keys=0"), "privileged: no masks: {out}");
    assert!(!out.contains("firmware=0"), "{out}");
    assert!(
        out.contains("kmsg") || out.contains("mem"),
        "host devices: {out}"
    );
    let p = probe(&r, "priv", "c", &["mount"]).await;
    assert!(p.contains("mount: ok"), "{p}");

    // hostPID: the host's processes are visible, but ptrace of the agent
    // needs CAP_SYS_PTRACE, which the default set lacks.
    let me = std::process::id().to_string();
    let p = probe(&r, "hostpid", "c", &["ptrace", &me]).await;
    assert!(
        p.contains(&format!("ptrace {me}: Operation not permitted")),
        "{p}"
    );

    // A Localhost profile that is not there: CreateContainerError with
    // containerd's message.
    let waiting_msg = |p: &k8s_openapi::api::core::v1::Pod, reason: &str| -> Option<String> {
        let s = p.status.as_ref()?.container_statuses.as_ref()?.first()?;
        let w = s.state.as_ref()?.waiting.as_ref()?;
        (w.reason.as_deref() == Some(reason)).then(|| w.message.clone().unwrap_or_default())
    };
    let pod = r
        .wait_pod("missing-profile", 30, "CreateContainerError", |p| {
            waiting_msg(p, "CreateContainerError").is_some()
        })
        .await;
    let msg = waiting_msg(&pod, "CreateContainerError").unwrap();
    assert!(
        msg.contains("failed to generate seccomp spec opts: cannot load seccomp profile")
            && msg.contains("seccomp/nope.json"),
        "{msg}"
    );
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_as_non_root_checks_the_images_user() {
    let Some(r) = Real::new("run_as_non_root_checks_the_images_user", 64).await else {
        return;
    };
    r.derive_image("testbin.tar", "nodelet.local/testbin:uid1000", |c| {
        c["config"]["User"] = json!("1000:1000");
    });
    r.derive_image("testbin.tar", "nodelet.local/testbin:named", |c| {
        c["config"]["User"] = json!("nobody");
    });
    let sc = json!({"securityContext": {"runAsNonRoot": true}});
    r.apply(pod(
        "nonroot",
        vec![
            idle("root", json!({})),
            ctr(
                "uid1000",
                "nodelet.local/testbin:uid1000",
                &["/testbin", "pause"],
                json!({}),
            ),
            ctr(
                "named",
                "nodelet.local/testbin:named",
                &["/testbin", "pause"],
                json!({}),
            ),
        ],
        sc,
    ));
    let state = |p: &k8s_openapi::api::core::v1::Pod, name: &str| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.iter().find(|s| s.name == name))
            .and_then(|s| s.state.clone())
    };
    r.wait_pod(
        "nonroot",
        60,
        "uid1000 running, root and named refused",
        |p| {
            state(p, "uid1000").is_some_and(|s| s.running.is_some())
                && state(p, "root")
                    .and_then(|s| s.waiting)
                    .is_some_and(|w| w.reason.as_deref() == Some("CreateContainerConfigError"))
                && state(p, "named")
                    .and_then(|s| s.waiting)
                    .is_some_and(|w| w.reason.as_deref() == Some("CreateContainerConfigError"))
        },
    )
    .await;
    let pod = r.get("nonroot").unwrap();
    let uid = pod.metadata.uid.clone().unwrap();
    let waiting = |name: &str| {
        pod.status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.state.clone()?.waiting)
    };
    let w = waiting("root").expect("root container waiting");
    assert_eq!(w.reason.as_deref(), Some("CreateContainerConfigError"));
    assert_eq!(
        w.message.as_deref(),
        Some(
            format!("container has runAsNonRoot and image will run as root (pod: \"nonroot_default({uid})\", container: root)")
                .as_str()
        )
    );
    let w = waiting("named").expect("named container waiting");
    assert!(
        w.message
            .as_deref()
            .unwrap()
            .starts_with("container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root"),
        "{w:?}"
    );
    let st = status(&r, "nonroot", "uid1000").await;
    assert_eq!(st["Uid"], "1000\t1000\t1000\t1000");
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_users_false_runs_in_a_user_namespace() {
    let Some(r) = Real::new("host_users_false_runs_in_a_user_namespace", 65).await else {
        return;
    };
    r.apply(pod(
        "userns",
        vec![
            idle("c", json!({})),
            idle(
                "unmasked",
                json!({"securityContext": {"procMount": "Unmasked"}}),
            ),
        ],
        json!({"hostUsers": false}),
    ));
    r.apply(pod("hostusers", vec![idle("c", json!({}))], json!({})));
    r.running("userns", 60).await;
    r.running("hostusers", 60).await;

    // Root inside is an unprivileged id block outside.
    let (code, out) = sh(
        &r,
        "userns",
        "c",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c '%u:%g' / /testbin /etc/passwd",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let maps: Vec<Vec<u64>> = out
        .lines()
        .take(2)
        .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
        .collect();
    assert_eq!(maps[0][0], 0);
    assert!(maps[0][1] >= 65536, "host id block: {out}");
    assert_eq!(maps[0][2], 65536);
    assert_eq!(maps[0], maps[1], "same block for users and groups");
    let host_id = maps[0][1];
    // The image's files (owned by host root) are the container root's.
    assert!(out.contains("\n0\n0:0\n0:0\n0:0"), "{out}");
    // The host sees the container's processes under the mapped id.
    let (_, pid) = sh(&r, "userns", "c", "echo $$").await;
    let _ = pid;
    let init =
        r.rt.container_state(&r.engine.container_id(NS, "userns", "c").unwrap())
            .await
            .unwrap();
    let nodelet_runtime::ContainerState::Running { pid, .. } = init else {
        panic!("not running: {init:?}");
    };
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = st.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(1).unwrap(),
        host_id.to_string(),
        "{uid_line}"
    );
    // Writes to the rootfs work and belong to the pod's ids on the host.
    assert_eq!(
        sh(&r, "userns", "c", "echo hi > /written && mkdir /d")
            .await
            .0,
        0
    );
    // Still masked by default; Unmasked shows the real /proc.
    let (_, out) = sh(&r, "userns", "c", "wc -c < /proc/timer_list").await;
    assert_eq!(out.trim(), "0", "masked in a user namespace too: {out}");
    let (_, out) = sh(&r, "userns", "unmasked", "wc -c < /proc/timer_list").await;
    assert_ne!(out.trim(), "0", "procMount: Unmasked: {out}");
    // Root in the pod's namespace is nobody to the host's files it can see.
    let p = probe(&r, "userns", "c", &["mount", "mknod"]).await;
    assert!(p.contains("mount: Operation not permitted"), "{p}");
    // Two pods never share a block; a host-users pod has none.
    let (_, out) = sh(&r, "hostusers", "c", "cat /proc/self/uid_map").await;
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"],
        "{out}"
    );
    r.finish().await;
}

/// How many processes a shell in `c` sees whose name is `testbin` (every
/// idle container's init).
async fn testbins_seen(r: &Real, pod: &str, c: &str) -> String {
    let (code, out) = sh(
        r,
        pod,
        c,
        "n=0; for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = testbin ] && n=$((n+1)); done; \
         echo init=$(cat /proc/1/comm) testbins=$n",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    out.trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_process_namespace_puts_the_pods_containers_together() {
    let Some(r) = Real::new(
        "share_process_namespace_puts_the_pods_containers_together",
        66,
    )
    .await
    else {
        return;
    };
    // The init container fails (and is retried, the pod never running)
    // unless its PID 1 is the pause.
    let init = ctr(
        "check",
        TESTBIN,
        &["sh", "-c", "[ \"$(cat /proc/1/comm)\" = pause ]"],
        json!({}),
    );
    r.apply(pod(
        "shared",
        vec![idle("a", json!({})), idle("b", json!({}))],
        json!({"shareProcessNamespace": true, "initContainers": [init]}),
    ));
    r.apply(pod(
        "own",
        vec![idle("a", json!({})), idle("b", json!({}))],
        json!({}),
    ));
    r.running("shared", 60).await;
    r.running("own", 60).await;
    assert_eq!(
        testbins_seen(&r, "shared", "a").await,
        "init=pause testbins=2"
    );
    assert_eq!(
        testbins_seen(&r, "own", "a").await,
        "init=testbin testbins=1"
    );
    let pins: Vec<_> =
        r.rt.list_sandboxes()
            .await
            .unwrap()
            .into_iter()
            .filter_map(|s| s.namespaces.pid)
            .collect();
    assert_eq!(pins.len(), 1, "one shared process namespace: {pins:?}");
    let pause = nodelet_runtime::sandbox::pause::find(&pins[0]).expect("its pause runs");
    r.finish().await;
    let stat = std::fs::read_to_string(format!("/proc/{pause}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty()
            || stat
                .rsplit_once(") ")
                .is_some_and(|(_, s)| s.starts_with('Z')),
        "the pause outlived its pod: {stat}"
    );
}
