//! Generation of the OCI runtime spec (`config.json`) of one container from
//! the pod-level sandbox, the container config and the image, following
//! what containerd's CRI plugin produces for Kubernetes: join the pod's
//! pinned namespaces, managed `/etc/hosts`, explicit cgroupfs
//! `cgroupsPath`; the security defaults (capabilities, masked paths,
//! seccomp, AppArmor) come from [`crate::oci::defaults`].

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxCpu, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory,
    LinuxNamespace, LinuxNamespaceType, LinuxResources, Mount, PosixRlimitBuilder, PosixRlimitType,
    Root, Spec, User,
};

use crate::error::{Result, RuntimeError};
use crate::oci::cgroups;
use crate::oci::process::ProcessPlan;
use crate::types::{ContainerConfig, SandboxInfo};

pub use crate::oci::defaults::capabilities::{
    ALL_CAPS, DEFAULT_CAPS, caps_from_mask, current_capabilities, effective_capabilities,
};
use crate::oci::defaults::{apparmor, capabilities, masked_paths, seccomp, userns};

/// Per-container files bind-mounted over the image's `/etc`.
#[derive(Debug, Clone)]
pub struct EtcFiles {
    pub hostname: PathBuf,
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
}

/// Everything the spec is made from.
pub struct BundleInputs<'a> {
    pub config: &'a ContainerConfig,
    pub sandbox: &'a SandboxInfo,
    pub host_pid: bool,
    /// A process namespace to join instead of a new one: `/proc/<pid>/ns/pid`
    /// of the target container's init, or the pod's shared one (see
    /// [`pid_namespace`]).
    pub pid_ns: Option<&'a Path>,
    pub process: &'a ProcessPlan,
    pub rootfs: &'a Path,
    pub cgroups_path: &'a str,
    /// Whether the container gets a cgroup namespace of its own: on a
    /// cgroup v2 host, as containerd's CRI does; on v1 and hybrid hosts it
    /// stays in the host's, as containerd and podman keep it there (the
    /// container still sees only its own cgroup at `/sys/fs/cgroup/<c>`,
    /// which runc binds in; a private one would cost every start a cgroup
    /// mount per hierarchy, about 2 ms of CPU).
    pub cgroup_ns: bool,
    pub etc: &'a EtcFiles,
    /// The agent's current RLIMIT_NOFILE hard limit; the container's can
    /// never be set above it (no CAP_SYS_RESOURCE on some hosts).
    pub nofile_hard: u64,
    /// What "all capabilities" means on this host ([`current_capabilities`]).
    pub all_caps: &'a [String],
    /// Host device nodes given to a privileged container (see
    /// [`host_devices`]); ignored otherwise.
    pub host_devices: &'a [LinuxDevice],
    /// Bound at `/dev/shm`: the sandbox's shared tmpfs, or the host's
    /// `/dev/shm` with hostIPC (see [`crate::oci::shm`]).
    pub shm: &'a Path,
    /// The state root: `Localhost` seccomp profiles are under `seccomp/`.
    pub state_root: &'a Path,
    /// Whether the host enforces AppArmor ([`apparmor::host_enabled`]).
    pub apparmor_enabled: bool,
}

/// Every char/block device node under `dev` (the host's `/dev`), for
/// privileged containers as containerd does; pseudo-terminals and the
/// runtime-managed mounts are skipped.
pub fn host_devices(dev: &Path) -> Vec<LinuxDevice> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    let mut stack = vec![dev.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            let Ok(md) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = md.file_type();
            if ft.is_dir() {
                let name = e.file_name();
                if !["pts", "shm", "mqueue", "fd"].iter().any(|n| name == *n) {
                    stack.push(path);
                }
                continue;
            }
            let typ = if ft.is_char_device() {
                LinuxDeviceType::C
            } else if ft.is_block_device() {
                LinuxDeviceType::B
            } else {
                continue;
            };
            // /dev/console and /dev/ptmx belong to the container's own
            // terminal setup.
            if path == dev.join("console") || path == dev.join("ptmx") {
                continue;
            }
            let rdev = md.rdev();
            let built = LinuxDeviceBuilder::default()
                .path(Path::new("/dev").join(path.strip_prefix(dev).unwrap_or(&path)))
                .typ(typ)
                .major(libc::major(rdev) as i64)
                .minor(libc::minor(rdev) as i64)
                .file_mode(md.mode() & 0o7777)
                .uid(md.uid())
                .gid(md.gid())
                .build();
            if let Ok(d) = built {
                out.push(d);
            }
        }
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    out
}

/// The process namespace a container joins: the one of the target its
/// config names (an ephemeral container's `targetContainerName`) if any,
/// else the pod's shared one (`shareProcessNamespace: true`, held by the
/// sandbox's pause); `None`: a namespace of its own (or, with hostPID,
/// the host's, which [`build_spec`] decides).
pub fn pid_namespace<'a>(target: Option<&'a Path>, sandbox: &'a SandboxInfo) -> Option<&'a Path> {
    target.or(sandbox.namespaces.pid.as_deref())
}

fn bind(dest: &str, src: &Path, ro: bool) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some("bind".to_string()));
    m.set_source(Some(src.to_path_buf()));
    let mut opts = vec!["rbind".to_string(), "rprivate".to_string()];
    opts.push(if ro { "ro" } else { "rw" }.to_string());
    m.set_options(Some(opts));
    m
}

/// Builds the spec.
pub fn build_spec(inp: &BundleInputs<'_>) -> Result<Spec> {
    let cfg = inp.config;
    let sec = &cfg.security;
    let mut spec = Spec::default();
    // Joining the pod's UTS namespace: the hostname was set when it was
    // pinned; setting it again here would need a private UTS namespace.
    spec.set_hostname(None);

    let mut root = Root::default();
    root.set_path(inp.rootfs.to_path_buf());
    root.set_readonly(Some(sec.read_only_root_filesystem));
    spec.set_root(Some(root));

    // Process.
    let p = inp.process;
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(p.args.clone()));
    process.set_env(Some(p.env.clone()));
    process.set_cwd(PathBuf::from(&p.cwd));
    process.set_terminal(Some(cfg.tty));
    let mut user = User::default();
    user.set_uid(p.uid);
    user.set_gid(p.gid);
    if !p.additional_gids.is_empty() {
        user.set_additional_gids(Some(p.additional_gids.clone()));
    }
    process.set_user(user);
    let cap_names = effective_capabilities(
        sec.privileged,
        &sec.capabilities_add,
        &sec.capabilities_drop,
        inp.all_caps,
    );
    process.set_capabilities(Some(capabilities::linux_capabilities(&cap_names)?));
    process.set_apparmor_profile(apparmor::process_profile(
        sec.apparmor.as_ref(),
        sec.privileged,
        inp.apparmor_enabled,
    )?);
    // Kubernetes' allowPrivilegeEscalation defaults to true: only set
    // no_new_privs when the pod asked for `allowPrivilegeEscalation: false`.
    process.set_no_new_privileges(Some(sec.no_new_privileges));
    let nofile = 1024u64.min(inp.nofile_hard);
    let rlimit = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .hard(nofile)
        .soft(nofile)
        .build()
        .map_err(|e| RuntimeError::Other(format!("rlimit: {e}")))?;
    process.set_rlimits(Some(vec![rlimit]));
    spec.set_process(Some(process));

    // Mounts: runc's defaults plus the pod's managed /etc files and volumes.
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    if sec.privileged {
        // Privileged containers see /sys read-write, as with Docker.
        for m in mounts.iter_mut() {
            if m.destination() == Path::new("/sys")
                && let Some(opts) = m.options().clone()
            {
                m.set_options(Some(opts.into_iter().filter(|o| o != "ro").collect()));
            }
        }
    }
    // The pod's containers share one /dev/shm (runc's default is a
    // private tmpfs per container).
    mounts.retain(|m| m.destination() != Path::new("/dev/shm"));
    let mut shm = bind("/dev/shm", inp.shm, false);
    if let Some(o) = shm.options().clone() {
        let extra = ["nosuid", "nodev", "noexec"].map(String::from);
        shm.set_options(Some(o.into_iter().chain(extra).collect()));
    }
    mounts.push(shm);
    if inp.sandbox.namespaces.uts.is_some() {
        mounts.push(bind("/etc/hostname", &inp.etc.hostname, false));
    }
    mounts.push(bind("/etc/hosts", &inp.etc.hosts, false));
    mounts.push(bind("/etc/resolv.conf", &inp.etc.resolv_conf, false));
    mounts.extend(super::volume_mounts::ordered(&cfg.mounts).map(super::volume_mounts::oci_mount));
    spec.set_mounts(Some(mounts));

    // Linux: namespaces, cgroups, resources, masked paths.
    let mut linux = spec.linux().clone().unwrap_or_default();
    let ns = |t: LinuxNamespaceType, path: Option<&PathBuf>| {
        let mut n = LinuxNamespace::default();
        n.set_typ(t);
        n.set_path(path.cloned());
        n
    };
    let s = &inp.sandbox.namespaces;
    let mut namespaces = vec![ns(LinuxNamespaceType::Mount, None)];
    if inp.cgroup_ns {
        namespaces.push(ns(LinuxNamespaceType::Cgroup, None));
    }
    if !inp.host_pid {
        let pid_ns = inp.pid_ns.map(Path::to_path_buf);
        namespaces.push(ns(LinuxNamespaceType::Pid, pid_ns.as_ref()));
    }
    // `None` means the host's namespace (hostNetwork / hostIPC): no entry.
    if let Some(p) = &s.net {
        namespaces.push(ns(LinuxNamespaceType::Network, Some(p)));
    }
    if let Some(p) = &s.ipc {
        namespaces.push(ns(LinuxNamespaceType::Ipc, Some(p)));
    }
    if let Some(p) = &s.uts {
        namespaces.push(ns(LinuxNamespaceType::Uts, Some(p)));
    }
    linux.set_namespaces(Some(namespaces));
    userns::apply(&mut linux, inp.sandbox);
    linux.set_cgroups_path(Some(PathBuf::from(inp.cgroups_path)));
    if let Some(p) = super::volume_mounts::rootfs_propagation(&cfg.mounts) {
        linux.set_rootfs_propagation(Some(p.to_string()));
    }

    let (mem, shares, quota) = cgroups::limits(&cfg.resources);
    let mut res = LinuxResources::default();
    let mut dev = LinuxDeviceCgroup::default();
    dev.set_allow(sec.privileged);
    dev.set_access(Some("rwm".to_string()));
    res.set_devices(Some(vec![dev]));
    if let Some(limit) = mem {
        let mut m = LinuxMemory::default();
        m.set_limit(Some(limit));
        res.set_memory(Some(m));
    }
    let mut cpu = LinuxCpu::default();
    cpu.set_shares(Some(shares));
    if let Some(q) = quota {
        cpu.set_quota(Some(q));
        cpu.set_period(Some(cgroups::CPU_PERIOD_US));
    }
    res.set_cpu(Some(cpu));
    linux.set_resources(Some(res));
    masked_paths::apply(&mut linux, sec.privileged, sec.proc_mount_unmasked);
    linux.set_seccomp(seccomp::for_container(
        &sec.seccomp,
        sec.privileged,
        &cap_names,
        inp.state_root,
    )?);
    if sec.privileged {
        linux.set_devices(Some(inp.host_devices.to_vec()));
    }
    // The pod's sysctls: runc writes them in the namespaces the container
    // joined (the pod's pinned IPC/UTS/net), so every container of the
    // pod sets the same values there.
    if !sec.sysctls.is_empty() {
        linux.set_sysctl(Some(sec.sysctls.clone().into_iter().collect()));
    }
    spec.set_linux(Some(linux));

    let mut ann = std::collections::HashMap::new();
    ann.insert("io.kubernetes.pod.uid".to_string(), cfg.pod_uid.clone());
    ann.insert("io.kubernetes.container.name".to_string(), cfg.name.clone());
    ann.insert(
        "io.kubernetes.cri.sandbox-id".to_string(),
        inp.sandbox.id.clone(),
    );
    spec.set_annotations(Some(ann));
    Ok(spec)
}

/// Writes `config.json` into the bundle directory, mode 0600: it holds the
/// container's environment, Secret values from `secretKeyRef` included.
pub fn write_spec(spec: &Spec, bundle: &Path) -> Result<()> {
    let path = bundle.join("config.json");
    let json = serde_json::to_vec_pretty(spec)
        .map_err(|e| RuntimeError::Other(format!("serializing config.json: {e}")))?;
    super::record::write_private(&path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Resources, SandboxNamespaces, SecurityConfig};

    fn cfg(security: SecurityConfig) -> ContainerConfig {
        ContainerConfig {
            pod_uid: "uid1".into(),
            name: "c".into(),
            attempt: 0,
            image: "nodelet.local/busybox".into(),
            command: None,
            args: None,
            env: vec![],
            working_dir: None,
            security,
            resources: Resources {
                memory_limit_bytes: Some(32 << 20),
                cpu_limit_millis: Some(250),
                ..Default::default()
            },
            mounts: vec![],
            stdin: false,
            stdin_once: false,
            tty: false,
            labels: Default::default(),
            termination_message: None,
            pid_namespace_of: None,
        }
    }

    fn all() -> Vec<String> {
        ALL_CAPS.iter().map(|s| s.to_string()).collect()
    }

    fn json(sec: SecurityConfig, host_pid: bool) -> serde_json::Value {
        json_with(sec, host_pid, None)
    }

    fn json_with(sec: SecurityConfig, host_pid: bool, pid_ns: Option<&Path>) -> serde_json::Value {
        spec_json(sec, host_pid, pid_ns, None)
    }

    /// The spec as `OciRuntime` builds it: `target` is the process
    /// namespace of a target container, `pod_pid` the sandbox's pinned one.
    fn spec_json(
        sec: SecurityConfig,
        host_pid: bool,
        target: Option<&Path>,
        pod_pid: Option<&str>,
    ) -> serde_json::Value {
        spec_json_cgroupns(sec, host_pid, target, pod_pid, true)
    }

    /// As [`spec_json`], `cgroup_ns` as the runtime passes it for the
    /// host's cgroup layout.
    fn spec_json_cgroupns(
        sec: SecurityConfig,
        host_pid: bool,
        target: Option<&Path>,
        pod_pid: Option<&str>,
        cgroup_ns: bool,
    ) -> serde_json::Value {
        let devs = host_devices(Path::new("/dev"));
        let c = cfg(sec);
        let sb = SandboxInfo {
            id: "sb".into(),
            pod_uid: "uid1".into(),
            ips: vec!["10.244.0.5".parse().unwrap()],
            host_ip: None,
            namespaces: SandboxNamespaces {
                net: Some("/run/nodelet/ns/sb/net".into()),
                ipc: Some("/run/nodelet/ns/sb/ipc".into()),
                uts: Some("/run/nodelet/ns/sb/uts".into()),
                user: None,
                pid: pod_pid.map(PathBuf::from),
            },
            cgroup_parent: "nodelet/poduid1".into(),
            id_mapping: None,
        };
        let p = ProcessPlan {
            args: vec!["sh".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
        };
        let etc = EtcFiles {
            hostname: "/c/hostname".into(),
            hosts: "/c/hosts".into(),
            resolv_conf: "/c/resolv.conf".into(),
        };
        let spec = build_spec(&BundleInputs {
            config: &c,
            sandbox: &sb,
            host_pid,
            pid_ns: pid_namespace(target, &sb),
            process: &p,
            rootfs: Path::new("/c/rootfs"),
            cgroups_path: "/nodelet/poduid1/abc",
            cgroup_ns,
            etc: &etc,
            nofile_hard: 512,
            host_devices: &devs,
            all_caps: &all(),
            shm: Path::new("/run/nodelet/shm/sb"),
            state_root: Path::new("/nonexistent-nodelet-root"),
            apparmor_enabled: false,
        })
        .unwrap();
        serde_json::to_value(&spec).unwrap()
    }

    #[test]
    fn a_target_container_shares_its_process_namespace() {
        let pid_of = |j: &serde_json::Value| {
            j["linux"]["namespaces"]
                .as_array()
                .and_then(|a| a.iter().find(|n| n["type"] == "pid").cloned())
        };
        let own = json(SecurityConfig::default(), false);
        assert_eq!(pid_of(&own), Some(serde_json::json!({"type": "pid"})));
        let target = json_with(
            SecurityConfig::default(),
            false,
            Some(Path::new("/proc/4242/ns/pid")),
        );
        assert_eq!(
            pid_of(&target),
            Some(serde_json::json!({"type": "pid", "path": "/proc/4242/ns/pid"}))
        );
        let host = json_with(SecurityConfig::default(), true, None);
        assert_eq!(pid_of(&host), None, "hostPID: the host's namespace");
    }

    #[test]
    fn a_shared_process_namespace_is_joined_by_its_pin() {
        let pid_of = |j: &serde_json::Value| {
            j["linux"]["namespaces"]
                .as_array()
                .and_then(|a| a.iter().find(|n| n["type"] == "pid").cloned())
        };
        let pin = "/run/nodelet/ns/sb/pid";
        let shared = spec_json(SecurityConfig::default(), false, None, Some(pin));
        assert_eq!(
            pid_of(&shared),
            Some(serde_json::json!({"type": "pid", "path": pin}))
        );
        // An ephemeral container's target still wins (it is in the same
        // namespace anyway when the pod shares one).
        let target = spec_json(
            SecurityConfig::default(),
            false,
            Some(Path::new("/proc/4242/ns/pid")),
            Some(pin),
        );
        assert_eq!(
            pid_of(&target),
            Some(serde_json::json!({"type": "pid", "path": "/proc/4242/ns/pid"}))
        );
        // Without the flag: a namespace of its own.
        let own = spec_json(SecurityConfig::default(), false, None, None);
        assert_eq!(pid_of(&own), Some(serde_json::json!({"type": "pid"})));
    }

    #[test]
    fn pod_sysctls_go_into_the_spec() {
        let j = json(SecurityConfig::default(), false);
        assert!(j["linux"].get("sysctl").is_none());
        let sec = SecurityConfig {
            sysctls: [("kernel.shm_rmid_forced".to_string(), "1".to_string())].into(),
            ..SecurityConfig::default()
        };
        let j = json(sec, false);
        assert_eq!(j["linux"]["sysctl"]["kernel.shm_rmid_forced"], "1");
    }

    #[test]
    fn a_cgroup_namespace_only_when_asked() {
        let has_cgroup_ns = |j: serde_json::Value| {
            j["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["type"] == "cgroup")
        };
        let sec = SecurityConfig::default;
        assert!(has_cgroup_ns(spec_json_cgroupns(
            sec(),
            false,
            None,
            None,
            true
        )));
        assert!(!has_cgroup_ns(spec_json_cgroupns(
            sec(),
            false,
            None,
            None,
            false
        )));
    }

    #[test]
    fn pod_namespaces_joined_and_limits() {
        let j = json(SecurityConfig::default(), false);
        assert!(j.get("hostname").is_none());
        let ns = j["linux"]["namespaces"].as_array().unwrap();
        let find = |t: &str| ns.iter().find(|n| n["type"] == t).cloned();
        assert_eq!(find("network").unwrap()["path"], "/run/nodelet/ns/sb/net");
        assert_eq!(find("uts").unwrap()["path"], "/run/nodelet/ns/sb/uts");
        assert!(find("pid").unwrap().get("path").is_none());
        assert!(find("mount").is_some() && find("cgroup").is_some());
        assert_eq!(j["linux"]["cgroupsPath"], "/nodelet/poduid1/abc");
        assert_eq!(j["linux"]["resources"]["memory"]["limit"], 32 << 20);
        assert_eq!(j["linux"]["resources"]["cpu"]["quota"], 25_000);
        assert_eq!(j["linux"]["resources"]["cpu"]["period"], 100_000);
        assert_eq!(j["linux"]["resources"]["cpu"]["shares"], 256);
        // Capped at the agent's hard limit.
        assert_eq!(j["process"]["rlimits"][0]["hard"], 512);
        assert_eq!(j["process"]["noNewPrivileges"], false);
        assert_eq!(j["root"]["readonly"], false);
        let caps = j["process"]["capabilities"]["bounding"].as_array().unwrap();
        assert_eq!(caps.len(), DEFAULT_CAPS.len());
        assert!(!j["linux"]["maskedPaths"].as_array().unwrap().is_empty());
        let dests: Vec<&str> = j["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        for d in [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "/etc/hosts",
            "/etc/hostname",
            "/etc/resolv.conf",
        ] {
            assert!(dests.contains(&d), "{d} missing from {dests:?}");
        }
        let shm: Vec<&serde_json::Value> = j["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["destination"] == "/dev/shm")
            .collect();
        assert_eq!(shm.len(), 1, "{shm:?}");
        assert_eq!(shm[0]["source"], "/run/nodelet/shm/sb");
        assert_eq!(shm[0]["type"], "bind");
        let hp = json(SecurityConfig::default(), true);
        let ns = hp["linux"]["namespaces"].as_array().unwrap();
        assert!(!ns.iter().any(|n| n["type"] == "pid"));
    }

    #[test]
    fn privileged_and_readonly() {
        let j = json(
            SecurityConfig {
                privileged: true,
                read_only_root_filesystem: true,
                ..Default::default()
            },
            false,
        );
        assert_eq!(j["root"]["readonly"], true);
        assert!(j["linux"].get("maskedPaths").is_none());
        assert_eq!(j["linux"]["resources"]["devices"][0]["allow"], true);
        let devs = j["linux"]["devices"].as_array().unwrap();
        assert!(
            devs.iter().any(|d| d["path"] == "/dev/null"
                && d["type"] == "c"
                && d["major"] == 1
                && d["minor"] == 3),
            "{devs:?}"
        );
        assert!(!devs.iter().any(|d| d["path"] == "/dev/ptmx"));
        let caps = j["process"]["capabilities"]["bounding"].as_array().unwrap();
        assert_eq!(caps.len(), ALL_CAPS.len());
    }

    #[test]
    fn no_new_privileges_when_escalation_is_disallowed() {
        let j = json(
            SecurityConfig {
                no_new_privileges: true,
                ..Default::default()
            },
            false,
        );
        assert_eq!(j["process"]["noNewPrivileges"], true);
    }

    #[test]
    fn seccomp_masks_and_apparmor_follow_the_security_context() {
        use crate::types::{AppArmorProfile, SeccompProfile};
        let j = json(SecurityConfig::default(), false);
        assert!(j["linux"].get("seccomp").is_none(), "Unconfined by default");
        let masked = j["linux"]["maskedPaths"].as_array().unwrap();
        assert!(masked.iter().any(|p| p == "/sys/devices/virtual/powercap"));
        assert!(j["process"].get("apparmorProfile").is_none());

        let rd = SecurityConfig {
            seccomp: SeccompProfile::RuntimeDefault,
            apparmor: Some(AppArmorProfile::Unconfined),
            ..Default::default()
        };
        let j = json(rd.clone(), false);
        assert_eq!(j["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        // Privileged: no filter even when asked for.
        let j = json(
            SecurityConfig {
                privileged: true,
                ..rd
            },
            false,
        );
        assert!(j["linux"].get("seccomp").is_none());
        let j = json(
            SecurityConfig {
                proc_mount_unmasked: true,
                ..Default::default()
            },
            false,
        );
        assert!(j["linux"].get("maskedPaths").is_none());
        assert!(j["linux"].get("readonlyPaths").is_none());
    }
}
