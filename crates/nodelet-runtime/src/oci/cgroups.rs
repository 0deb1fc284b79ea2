//! cgroupfs driver facts nodelet needs itself (the OCI runtime creates and
//! configures each container's cgroup from `cgroupsPath`): where a
//! container's cgroup lives, the Kubernetes resource → cgroup value math,
//! OOM-kill detection after exit, usage stats, and removal of empty cgroups
//! (runc leaves the pod-level parents behind).
//!
//! Supports cgroup v1 (including the hybrid layout with a cgroup2 mount at
//! `unified`) and pure v2.

use std::path::{Path, PathBuf};

use crate::types::{ContainerStats, Resources};

/// Kubernetes' CPU CFS period (µs).
pub const CPU_PERIOD_US: u64 = 100_000;
/// Kernel minimum CFS quota (µs), as kubelet clamps.
const MIN_QUOTA_US: i64 = 1_000;
/// kubelet's minimum cpu.shares (BestEffort).
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;

/// Which cgroup layout the host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Only cgroup v1 hierarchies.
    V1,
    /// v1 controllers plus a cgroup2 mount at `<root>/unified`.
    Hybrid,
    /// cgroup2 mounted at the root.
    V2,
}

/// The cgroupfs of this host.
#[derive(Debug, Clone)]
pub struct CgroupFs {
    root: PathBuf,
    mode: CgroupMode,
}

impl CgroupFs {
    /// Looks at `/sys/fs/cgroup`.
    pub fn host() -> CgroupFs {
        CgroupFs::at(Path::new("/sys/fs/cgroup"))
    }

    pub fn at(root: &Path) -> CgroupFs {
        let mode = if root.join("cgroup.controllers").exists() {
            CgroupMode::V2
        } else if root.join("unified/cgroup.controllers").exists() {
            CgroupMode::Hybrid
        } else {
            CgroupMode::V1
        };
        CgroupFs {
            root: root.to_path_buf(),
            mode,
        }
    }

    pub fn mode(&self) -> CgroupMode {
        self.mode
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The hierarchy roots a cgroup path exists under (every v1 hierarchy
    /// plus the cgroup2 one in hybrid mode; just the root on v2).
    pub fn hierarchies(&self) -> Vec<PathBuf> {
        if self.mode == CgroupMode::V2 {
            return vec![self.root.clone()];
        }
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd.flatten() {
                // Joined controllers (cpu,cpuacct) show up as symlinks too.
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    out.push(e.path());
                }
            }
        }
        out.sort();
        out
    }

    /// Directory of a cgroup (path relative to the cgroup root, with or
    /// without leading '/') for one controller; `None` controller = v2.
    pub fn dir(&self, controller: Option<&str>, cgroup: &str) -> PathBuf {
        let rel = cgroup.trim_start_matches('/');
        match (self.mode, controller) {
            (CgroupMode::V2, _) => self.root.join(rel),
            (_, Some(c)) => self.root.join(c).join(rel),
            (CgroupMode::Hybrid, None) => self.root.join("unified").join(rel),
            (CgroupMode::V1, None) => self.root.join("memory").join(rel),
        }
    }

    /// Creates the pod-level parent in the hierarchies resource limits are
    /// accounted in, so pod-level accounting exists before any container.
    /// (cpuset is left to the runtime, which initialises cpus/mems.)
    pub fn create_parent(&self, parent: &str) -> std::io::Result<()> {
        let rel = parent.trim_start_matches('/');
        if self.mode == CgroupMode::V2 {
            return std::fs::create_dir_all(self.root.join(rel));
        }
        for h in self.hierarchies() {
            if h.file_name().is_some_and(|n| n == "cpuset") {
                continue;
            }
            std::fs::create_dir_all(h.join(rel))?;
        }
        Ok(())
    }

    /// Moves process `pid` into `cgroup` (made if missing) in every
    /// hierarchy but cpuset, whose new cgroups have no cpus or mems until
    /// someone sets them (the process keeps its cpuset). For a process the
    /// OCI runtime does not place: the pause of a shared process namespace.
    pub fn add_process(&self, cgroup: &str, pid: i32) -> std::io::Result<()> {
        let rel = cgroup.trim_start_matches('/');
        let dirs = if self.mode == CgroupMode::V2 {
            vec![self.root.join(rel)]
        } else {
            self.hierarchies()
                .into_iter()
                .filter(|h| h.file_name().is_none_or(|n| n != "cpuset"))
                .map(|h| h.join(rel))
                .collect()
        };
        for d in dirs {
            std::fs::create_dir_all(&d)?;
            std::fs::write(d.join("cgroup.procs"), pid.to_string())
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", d.display())))?;
        }
        Ok(())
    }

    /// Removes the cgroup directory in every hierarchy, deepest first; only
    /// empty cgroups can be removed (rmdir), which is the point: a cgroup
    /// with a live process is never torn away.
    pub fn remove(&self, cgroup: &str) -> std::io::Result<()> {
        let rel = cgroup.trim_start_matches('/');
        if rel.is_empty() {
            return Ok(());
        }
        let mut first_err = None;
        for h in self.hierarchies() {
            let d = h.join(rel);
            if let Err(e) = remove_tree(&d)
                && first_err.is_none()
            {
                first_err = Some(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Whether the kernel OOM-killed a process of this cgroup.
    pub fn oom_killed(&self, cgroup: &str) -> bool {
        match self.mode {
            CgroupMode::V2 => {
                read_key(&self.dir(None, cgroup).join("memory.events"), "oom_kill").unwrap_or(0) > 0
            }
            _ => {
                let d = self.dir(Some("memory"), cgroup);
                if let Some(n) = read_key(&d.join("memory.oom_control"), "oom_kill") {
                    return n > 0;
                }
                // Kernels before 4.13 have no counter: hitting the limit
                // is the best signal there is.
                read_u64(&d.join("memory.failcnt")).unwrap_or(0) > 0
            }
        }
    }

    /// Memory, CPU and pid usage of a cgroup.
    pub fn stats(&self, cgroup: &str) -> ContainerStats {
        match self.mode {
            CgroupMode::V2 => {
                let d = self.dir(None, cgroup);
                ContainerStats {
                    memory_usage_bytes: read_u64(&d.join("memory.current")).unwrap_or(0),
                    cpu_usage_nanos: read_key(&d.join("cpu.stat"), "usage_usec").unwrap_or(0)
                        * 1000,
                    pids: read_u64(&d.join("pids.current")).unwrap_or(0),
                }
            }
            _ => ContainerStats {
                memory_usage_bytes: read_u64(
                    &self
                        .dir(Some("memory"), cgroup)
                        .join("memory.usage_in_bytes"),
                )
                .unwrap_or(0),
                cpu_usage_nanos: read_u64(&self.dir(Some("cpuacct"), cgroup).join("cpuacct.usage"))
                    .unwrap_or(0),
                pids: read_u64(&self.dir(Some("pids"), cgroup).join("pids.current")).unwrap_or(0),
            },
        }
    }

    /// Peak memory usage (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`).
    pub fn memory_peak(&self, cgroup: &str) -> Option<u64> {
        match self.mode {
            CgroupMode::V2 => read_u64(&self.dir(None, cgroup).join("memory.peak")),
            _ => read_u64(
                &self
                    .dir(Some("memory"), cgroup)
                    .join("memory.max_usage_in_bytes"),
            ),
        }
    }
}

fn remove_tree(d: &Path) -> std::io::Result<()> {
    let rd = match std::fs::read_dir(d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in rd.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&e.path())?;
        }
    }
    match std::fs::remove_dir(d) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// Reads `key value` lines (memory.events, memory.oom_control, cpu.stat).
fn read_key(p: &Path, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(p).ok()?;
    s.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The container's explicit cgroupsPath: `/<cgroup_parent>/<container-id>`.
pub fn container_cgroup_path(cgroup_parent: &str, id: &str) -> String {
    format!("/{}/{}", cgroup_parent.trim_matches('/'), id)
}

/// CFS quota for a CPU limit in millicores (kubelet's MilliCPUToQuota).
pub fn cpu_quota(limit_millis: i64) -> i64 {
    let q = limit_millis.saturating_mul(CPU_PERIOD_US as i64) / 1000;
    q.max(MIN_QUOTA_US)
}

/// cpu.shares for a CPU request in millicores (kubelet's MilliCPUToShares).
pub fn cpu_shares(request_millis: Option<i64>) -> u64 {
    match request_millis {
        Some(m) if m > 0 => ((m as u64).saturating_mul(1024) / 1000).clamp(MIN_SHARES, MAX_SHARES),
        _ => MIN_SHARES,
    }
}

/// cgroup v2 cpu.weight for the same shares (the conversion runc and crun
/// apply, kept here for stats and tests).
pub fn cpu_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.saturating_sub(2)) * 9999) / 262_142
}

/// (memory limit, cpu shares, cpu quota) for the OCI resources block.
pub fn limits(r: &Resources) -> (Option<i64>, u64, Option<i64>) {
    (
        r.memory_limit_bytes.filter(|m| *m > 0),
        cpu_shares(r.cpu_request_millis.or(r.cpu_limit_millis)),
        r.cpu_limit_millis.filter(|m| *m > 0).map(cpu_quota),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_path() {
        assert_eq!(
            container_cgroup_path("nodelet/podabc", "0123"),
            "/nodelet/podabc/0123"
        );
        assert_eq!(container_cgroup_path("/nodelet/p/", "x"), "/nodelet/p/x");
    }

    #[test]
    fn cpu_math() {
        assert_eq!(cpu_quota(500), 50_000);
        assert_eq!(cpu_quota(2000), 200_000);
        assert_eq!(cpu_quota(1), MIN_QUOTA_US);
        assert_eq!(cpu_shares(None), 2);
        assert_eq!(cpu_shares(Some(1)), 2);
        assert_eq!(cpu_shares(Some(250)), 256);
        assert_eq!(cpu_shares(Some(1000)), 1024);
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(262_144), 10_000);
        let r = Resources {
            memory_limit_bytes: Some(32 << 20),
            memory_request_bytes: None,
            cpu_limit_millis: Some(500),
            cpu_request_millis: None,
        };
        // Kubernetes defaults the request to the limit.
        assert_eq!(limits(&r), (Some(32 << 20), 512, Some(50_000)));
    }

    #[test]
    fn modes_and_dirs() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("memory")).unwrap();
        std::fs::create_dir_all(t.path().join("unified")).unwrap();
        std::fs::write(t.path().join("unified/cgroup.controllers"), "hugetlb\n").unwrap();
        let fs = CgroupFs::at(t.path());
        assert_eq!(fs.mode(), CgroupMode::Hybrid);
        assert_eq!(fs.dir(Some("memory"), "/a/b"), t.path().join("memory/a/b"));
        std::fs::create_dir_all(t.path().join("memory/a/b")).unwrap();
        std::fs::write(
            t.path().join("memory/a/b/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        )
        .unwrap();
        assert!(fs.oom_killed("/a/b"));
        // rmdir of plain dirs with a regular file fails as it would with a
        // live cgroup: remove() reports it and keeps the dir.
        assert!(fs.remove("/a").is_err());
        std::fs::remove_file(t.path().join("memory/a/b/memory.oom_control")).unwrap();
        fs.remove("/a").unwrap();
        assert!(!t.path().join("memory/a").exists());
        let v2 = tempfile::tempdir().unwrap();
        std::fs::write(v2.path().join("cgroup.controllers"), "memory\n").unwrap();
        let fs2 = CgroupFs::at(v2.path());
        assert_eq!(fs2.mode(), CgroupMode::V2);
        std::fs::create_dir_all(v2.path().join("p/c")).unwrap();
        std::fs::write(
            v2.path().join("p/c/memory.events"),
            "low 0\noom 1\noom_kill 2\n",
        )
        .unwrap();
        assert!(fs2.oom_killed("p/c"));
    }
}
