//! Shared harness of the OCI runtime integration tests: host requirements
//! (fail with what is missing, or skip with NODELET_SKIP_REAL=1), a busybox
//! test image built as an OCI layout from the host's busybox-static, and an
//! [`OciRuntime`] with private roots, bridge and subnet per test.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use nodelet_runtime::oci::{HostProblem, OciConfig, OciRuntime, host_check};
use nodelet_runtime::sandbox::CniOptions;
use nodelet_runtime::*;
use nodelet_testsupport::Needs;
pub use nodelet_testsupport::monitor_binary;
use sha2::{Digest, Sha256};

pub const IMAGE: &str = "nodelet.local/busybox:latest";

/// Whether real-container tests can run; panics naming what is missing
/// unless NODELET_SKIP_REAL=1.
pub fn require_real(test: &str) -> bool {
    let runc = runtime_problems("runc").into_iter().map(|p| p.message);
    Needs::pods(test).problems(runc).check()
}

/// The host problems that stop `runtime` here (e.g. crun on hybrid
/// cgroups); empty when it can run.
pub fn runtime_problems(runtime: &str) -> Vec<HostProblem> {
    host_check(Path::new(runtime))
        .unwrap()
        .into_iter()
        .filter(|p| p.is_fatal())
        .collect()
}

fn header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

const APPLETS: &[&str] = &[
    "sh", "env", "hostname", "cat", "ps", "ls", "head", "tail", "sleep", "dd", "true", "false",
    "echo", "id", "wget", "ping", "ip", "nc", "grep", "mkdir", "rm", "printf", "seq", "kill", "wc",
    "cut", "stty", "tty", "pwd", "touch", "test", "yes", "sort",
];

/// Writes an OCI image layout of a busybox image (one uncompressed layer)
/// under `dir` and returns its path.
pub fn build_busybox_layout(dir: &Path) -> PathBuf {
    let layout = dir.join("busybox-oci");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let add_dir = |tar: &mut tar::Builder<Vec<u8>>, p: &str, mode: u32| {
        let mut h = header();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(0);
        tar.append_data(&mut h, p, std::io::empty()).unwrap();
    };
    for (d, m) in [
        ("bin", 0o755),
        ("etc", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
    ] {
        add_dir(&mut tar, d, m);
    }
    let busybox = std::fs::read("/bin/busybox").unwrap();
    let mut h = header();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    h.set_mtime(0);
    tar.append_data(&mut h, "bin/busybox", &busybox[..])
        .unwrap();
    for a in APPLETS {
        let mut h = header();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(0);
        tar.append_link(&mut h, format!("bin/{a}"), "busybox")
            .unwrap();
    }
    let file = |tar: &mut tar::Builder<Vec<u8>>, p: &str, s: &str| {
        let mut h = header();
        h.set_mode(0o644);
        h.set_size(s.len() as u64);
        h.set_mtime(0);
        tar.append_data(&mut h, p, s.as_bytes()).unwrap();
    };
    file(
        &mut tar,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    );
    file(&mut tar, "etc/group", "root:x:0:\nnogroup:x:65534:\n");
    let layer = tar.into_inner().unwrap();
    let layer_digest = sha(&layer);
    std::fs::write(layout.join("blobs/sha256").join(&layer_digest), &layer).unwrap();
    let config = serde_json::json!({
        "architecture": match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a },
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FROM_IMAGE=yes"],
            "Cmd": ["sh"]
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]}
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = sha(&config);
    std::fs::write(layout.join("blobs/sha256").join(&config_digest), &config).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config_digest}"), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{layer_digest}"), "size": layer.len()}]
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = sha(&manifest);
    std::fs::write(
        layout.join("blobs/sha256").join(&manifest_digest),
        &manifest,
    )
    .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": IMAGE}
        }]
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    layout
}

/// One test's private runtime.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub cfg: OciConfig,
    pub rt: OciRuntime,
    pub bridge: String,
}

impl Harness {
    /// `n` picks bridge `nlo<n>` and subnet `10.252.<n>.0/24`.
    pub async fn new(n: u8, runtime: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let run_root = dir.path().join("run");
        let bridge = format!("nlo{n}");
        let cfg = OciConfig {
            root: root.clone(),
            run_root,
            runtime: PathBuf::from(runtime),
            monitor: monitor_binary(),
            cni: CniOptions {
                conf_dir: dir.path().join("cni-conf"),
                bin_dirs: vec![PathBuf::from("/usr/lib/cni")],
                subnet: format!("10.252.{n}.0/24"),
                bridge: bridge.clone(),
                network_name: format!("nlo-{n}"),
                cache_dir: dir.path().join("cni-cache"),
                ..CniOptions::default()
            },
            log_max_size: 10 << 20,
            log_max_files: 5,
            registry_config_dir: dir.path().join("certs.d"),
            max_concurrent_downloads:
                nodelet_runtime::image::registry::DEFAULT_CONCURRENT_DOWNLOADS,
        };
        let rt = OciRuntime::new(cfg.clone()).await.unwrap();
        let layout = build_busybox_layout(dir.path());
        rt.images().load(&layout).unwrap();
        Harness {
            dir,
            cfg,
            rt,
            bridge,
        }
    }

    /// A second runtime on the same roots (as after an agent restart).
    pub async fn reopen(&self) -> OciRuntime {
        OciRuntime::new(self.cfg.clone()).await.unwrap()
    }

    /// What every pod uid of this harness ends in: its bridge (unique among
    /// the harnesses running at once) and the test process. Cleanup and leak
    /// counts look only at these, so tests running concurrently in one test
    /// binary never remove or count each other's pod cgroups.
    fn pod_suffix(&self) -> String {
        format!("-{}-{}", self.bridge, std::process::id())
    }

    pub fn sandbox_config(&self, name: &str) -> SandboxConfig {
        SandboxConfig {
            pod_uid: format!("uid-{name}{}", self.pod_suffix()),
            pod_name: name.to_string(),
            pod_namespace: "default".to_string(),
            hostname: name.to_string(),
            host_network: false,
            host_pid: false,
            host_ipc: false,
            port_mappings: vec![],
            dns: None,
            labels: BTreeMap::new(),
            user_namespace: false,
            share_process_namespace: false,
        }
    }

    pub fn container(&self, sb: &SandboxInfo, name: &str, cmd: &[&str]) -> ContainerConfig {
        ContainerConfig {
            pod_uid: sb.pod_uid.clone(),
            name: name.to_string(),
            attempt: 0,
            image: IMAGE.to_string(),
            command: Some(cmd.iter().map(|s| s.to_string()).collect()),
            args: None,
            env: vec![],
            working_dir: None,
            security: SecurityConfig::default(),
            resources: Resources::default(),
            mounts: vec![],
            stdin: false,
            stdin_once: false,
            tty: false,
            labels: BTreeMap::new(),
            termination_message: None,
            pid_namespace_of: None,
        }
    }

    /// Creates, starts and waits for a container; returns (id, status).
    pub async fn run_to_exit(&self, sb: &SandboxInfo, c: &ContainerConfig) -> (String, ExitStatus) {
        let id = self.rt.create_container(sb, c).await.unwrap();
        self.rt.start_container(&id).await.unwrap();
        let st = self.rt.wait(&id).await.unwrap();
        (id, st)
    }

    /// Removes every container and sandbox (checking that this works),
    /// then the test bridge (in Drop).
    pub async fn teardown(self) {
        for c in self.rt.list_containers().await.unwrap() {
            let _ = self.rt.signal(&c.id, Signal::SIGKILL).await;
            self.rt.remove_container(&c.id).await.unwrap();
        }
        for s in self.rt.list_sandboxes().await.unwrap() {
            self.rt.remove_sandbox(&s.id).await.unwrap();
        }
    }
}

impl Drop for Harness {
    /// Best-effort cleanup for tests that panicked before `teardown`:
    /// kill and delete containers and pause processes, unmount rootfs and
    /// namespace pins,
    /// remove the pods' cgroups and the bridge.
    fn drop(&mut self) {
        let runc_root = self.cfg.run_root.join("runc");
        if let Ok(rd) = std::fs::read_dir(self.cfg.root.join("containers")) {
            for c in rd.flatten() {
                let _ = Command::new("runc")
                    .arg("--root")
                    .arg(&runc_root)
                    .args(["delete", "--force"])
                    .arg(c.file_name())
                    .stderr(std::process::Stdio::null())
                    .status();
                let _ =
                    nix::mount::umount2(&c.path().join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
            }
        }
        // Pins in the pin space die with it (its mount under the temporary
        // directory is detached below); pauses must be killed.
        let ns_dir = self.cfg.run_root.join("ns");
        let ids =
            nodelet_runtime::sandbox::pin_space::pinned_sandboxes(&ns_dir).unwrap_or_default();
        let space = nodelet_runtime::sandbox::pin_space::PinSpace::open(&ns_dir).ok();
        for id in ids {
            let dirs = [Some(ns_dir.join(&id)), space.as_ref().map(|s| s.dir(&id))];
            for dir in dirs.into_iter().flatten() {
                // A shared process namespace's pause (shareProcessNamespace).
                if let Some(pid) = nodelet_runtime::sandbox::pause::find(&dir.join("pid")) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                for ns in ["net", "ipc", "uts", "pid"] {
                    let _ = nix::mount::umount2(&dir.join(ns), nix::mount::MntFlags::MNT_DETACH);
                }
            }
        }
        // The runtime makes `<root>/volumes` a shared bind mount of its own;
        // left mounted, the temporary directory cannot be removed and every
        // later runc of the suite reads one more mountinfo line.
        let _ = nix::mount::umount2(
            &self.cfg.root.join("volumes"),
            nix::mount::MntFlags::MNT_DETACH,
        );
        // Whatever else a panicking test left mounted under its directory
        // (a pod's /dev/shm tmpfs, a volume's tmpfs or bind), deepest first.
        let _ = nodelet_runtime::volume::mounts::unmount_all_under(self.dir.path());
        let mine = self.pod_suffix();
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in rd.flatten() {
                if let Ok(pods) = std::fs::read_dir(h.path().join("nodelet")) {
                    for pod in pods.flatten() {
                        if pod.file_name().to_string_lossy().ends_with(&mine) {
                            if let Ok(cs) = std::fs::read_dir(pod.path()) {
                                for c in cs.flatten() {
                                    let _ = std::fs::remove_dir(c.path());
                                }
                            }
                            let _ = std::fs::remove_dir(pod.path());
                        }
                    }
                }
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
        // The native pod network's masquerade table of this network.
        let table = format!("nodelet-pods-{}", self.cfg.cni.network_name);
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &table])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The message texts of a CRI-format log (`<time> <stream> <F|P> <text>`),
/// asserting the format on the way.
pub fn cri_log_text(path: &Path) -> String {
    let raw = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = String::new();
    for line in raw.lines() {
        let mut parts = line.splitn(4, ' ');
        let ts = parts.next().unwrap();
        let stream = parts.next().unwrap_or("");
        let tag = parts.next().unwrap_or("");
        let text = parts.next().unwrap_or("");
        assert!(
            ts.ends_with('Z') && ts.contains('T'),
            "bad timestamp in {line:?}"
        );
        assert!(
            stream == "stdout" || stream == "stderr",
            "bad stream in {line:?}"
        );
        assert!(tag == "F" || tag == "P", "bad tag in {line:?}");
        out.push_str(text);
        if tag == "F" {
            out.push('\n');
        }
    }
    out
}

/// Counts of the resources a container/pod may leak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaks {
    pub cgroup_dirs: usize,
    pub mounts: usize,
    pub netns_pins: usize,
    pub veths: usize,
    pub leases: usize,
    pub processes: usize,
    pub fds: usize,
}

fn count_dirs(p: &Path) -> usize {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                n += 1 + count_dirs(&e.path());
            }
        }
    }
    n
}

impl Harness {
    pub fn leaks(&self) -> Leaks {
        // Only this harness's pods (see pod_suffix): other tests and test
        // binaries may run containers at the same time.
        let mine = self.pod_suffix();
        let mut cgroup_dirs = 0;
        for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            if let Ok(rd) = std::fs::read_dir(h.path().join("nodelet")) {
                for pod in rd.flatten() {
                    if pod.file_name().to_string_lossy().ends_with(&mine) {
                        cgroup_dirs += 1 + count_dirs(&pod.path());
                    }
                }
            }
        }
        let root = self.dir.path().to_string_lossy().to_string();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        // The pin space's own mount is made once and meant to stay.
        let mounts = mountinfo
            .lines()
            .filter(|l| l.contains(&root) && !l.contains("/ns/space "))
            .count();
        let netns_pins =
            nodelet_runtime::sandbox::pin_space::pinned_sandboxes(&self.cfg.run_root.join("ns"))
                .unwrap()
                .len();
        let links = Command::new("ip")
            .args(["-o", "link", "show", "master", &self.bridge])
            .output()
            .unwrap();
        let veths = String::from_utf8_lossy(&links.stdout).lines().count();
        let leases =
            count_files(&self.cfg.cni.cache_dir.join("networks")).saturating_sub(count_named(
                &self.cfg.cni.cache_dir.join("networks"),
                &["lock", "last_reserved_ip.0"],
            ));
        let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
        let processes = String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|l| l.contains(&root))
            .count();
        let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
        Leaks {
            cgroup_dirs,
            mounts,
            netns_pins,
            veths,
            leases,
            processes,
            fds,
        }
    }
}

fn count_files(p: &Path) -> usize {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                n += count_files(&e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

fn count_named(p: &Path, names: &[&str]) -> usize {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                n += count_named(&e.path(), names);
            } else if names
                .iter()
                .any(|x| e.file_name().to_string_lossy().starts_with(x))
            {
                n += 1;
            }
        }
    }
    n
}

pub fn write_all(p: &Path, s: &str) {
    std::fs::File::create(p)
        .unwrap()
        .write_all(s.as_bytes())
        .unwrap();
}
