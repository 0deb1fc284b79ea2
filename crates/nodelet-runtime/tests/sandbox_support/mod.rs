//! Shared helpers of the sandbox integration tests: host requirements,
//! an isolated network per test (own bridge, subnet, IPAM dir, pin dir), and
//! commands run inside pinned namespaces.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nodelet_runtime::sandbox::{CniOptions, PodNetwork, SandboxManager};
use nodelet_runtime::{PortMapping, SandboxConfig};
use nodelet_testsupport::Needs;

/// Whether the sandbox tests can run; panics naming what is missing
/// unless NODELET_SKIP_REAL=1.
pub fn require_real(test: &str) -> bool {
    Needs::root(test, "namespaces, bridges and iptables need it")
        .cni(&["bridge", "host-local", "portmap", "loopback"])
        .tool("nsenter", "util-linux")
        .tool("busybox", "busybox-static")
        .tool("iptables-save", "iptables")
        .tool("ip", "iproute2")
        .tool("nft", "nftables")
        .check()
}

/// A private network for one test. Dropping it deletes its bridge.
pub struct TestNet {
    pub dir: tempfile::TempDir,
    pub options: CniOptions,
    pub manager: SandboxManager,
}

impl TestNet {
    /// `n` picks the bridge `nlt<n>`, network `nlt-<n>` and subnet
    /// `10.251.<n>.0/24`, so tests running in parallel do not collide.
    /// Pods go through the CNI plugins.
    pub fn new(n: u8) -> TestNet {
        TestNet::with(n, PodNetwork::Cni)
    }

    /// The same network with pods attached natively.
    pub fn native(n: u8) -> TestNet {
        TestNet::with(n, PodNetwork::Native)
    }

    pub fn with(n: u8, pod_network: PodNetwork) -> TestNet {
        let dir = tempfile::tempdir().unwrap();
        let options = CniOptions {
            conf_dir: dir.path().join("cni-conf"),
            bin_dirs: vec![PathBuf::from("/usr/lib/cni")],
            subnet: format!("10.251.{n}.0/24"),
            bridge: format!("nlt{n}"),
            network_name: format!("nlt-{n}"),
            cache_dir: dir.path().join("cni-cache"),
            pod_network,
            bridge_routes: Vec::new(),
        };
        let manager = SandboxManager::new(
            &dir.path().join("sandboxes"),
            &dir.path().join("ns"),
            options.clone(),
        )
        .unwrap();
        TestNet {
            dir,
            options,
            manager,
        }
    }

    /// Another manager of the same sandboxes and network (what an agent
    /// restarted with another `--pod-network` sees).
    pub fn manager_with(&self, pod_network: PodNetwork) -> SandboxManager {
        SandboxManager::new(
            &self.dir.path().join("sandboxes"),
            &self.run_dir(),
            CniOptions {
                pod_network,
                ..self.options.clone()
            },
        )
        .unwrap()
    }

    /// nodelet's masquerade table of this network.
    pub fn masq_table(&self) -> String {
        format!("nodelet-pods-{}", self.options.network_name)
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("ns")
    }

    /// host-local's lease files of this network (IP-named files only).
    pub fn lease_files(&self) -> usize {
        let dir = self
            .options
            .ipam_data_dir()
            .join(&self.options.network_name);
        match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .parse::<std::net::IpAddr>()
                        .is_ok()
                })
                .count(),
            Err(_) => 0,
        }
    }

    /// Host-side veths attached to this test's bridge.
    pub fn bridge_veths(&self) -> usize {
        if !Path::new("/sys/class/net")
            .join(&self.options.bridge)
            .exists()
        {
            return 0;
        }
        let out = sh(&["ip", "-o", "link", "show", "master", &self.options.bridge]);
        out.lines().filter(|l| !l.trim().is_empty()).count()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        // The pin space's mount (and whatever a failed test left): each
        // would be a line of every later runc's mount table.
        let _ = nodelet_runtime::volume::mounts::unmount_all_under(self.dir.path());
        let _ = Command::new("ip")
            .args(["link", "del", &self.options.bridge])
            .output();
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.masq_table()])
            .output();
    }
}

pub fn pod(name: &str, ports: Vec<PortMapping>) -> SandboxConfig {
    SandboxConfig {
        pod_uid: format!("uid-{name}"),
        pod_name: name.to_string(),
        pod_namespace: "default".to_string(),
        hostname: name.to_string(),
        host_network: false,
        host_pid: false,
        host_ipc: false,
        port_mappings: ports,
        dns: None,
        labels: BTreeMap::new(),
        user_namespace: false,
        share_process_namespace: false,
    }
}

/// Runs a command, returning stdout; panics with its stderr on failure.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a command succeeds (for reachability checks).
pub fn succeeds(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// One ICMP echo from the host's network namespace or a pinned one.
pub fn ping_from(netns: Option<&Path>, ip: &str) -> bool {
    let ns_arg = netns.map(|p| format!("--net={}", p.display()));
    let mut args: Vec<&str> = Vec::new();
    if let Some(a) = &ns_arg {
        args.extend(["nsenter", a.as_str()]);
    }
    args.extend(["busybox", "ping", "-c1", "-W2", ip]);
    succeeds(&args)
}

pub fn iptables_save() -> String {
    sh(&["iptables-save"])
}

/// Sandboxes whose pins are left under the pin directory `run_dir` (in
/// the pin space or on the host).
pub fn pin_dirs(run_dir: &Path) -> usize {
    nodelet_runtime::sandbox::pin_space::pinned_sandboxes(run_dir)
        .unwrap()
        .len()
}

/// Detaches every mount under a test's own directory when dropped
/// (declare it after the directory, so it goes first).
pub struct MountGuard(pub PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = nodelet_runtime::volume::mounts::unmount_all_under(&self.0);
    }
}

pub fn count_dir(path: &Path) -> usize {
    std::fs::read_dir(path).map(|d| d.count()).unwrap_or(0)
}

/// The listener starts asynchronously; readiness is awaited by retrying,
/// bounded, without asserting anything about time.
pub fn http_get_with_retry(addr: SocketAddr) -> Result<String, String> {
    let mut last = String::new();
    for _ in 0..50 {
        match http_get(addr) {
            Ok(body) => return Ok(body),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last)
}

pub fn http_get(addr: SocketAddr) -> Result<String, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}
