//! Host prerequisites, checked once at start-up so an operator gets one
//! clear sentence ("install the Debian package runc") instead of a cryptic
//! failure on the first pod ("cgroups in hybrid mode not supported").

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::oci::cgroups::{CgroupFs, CgroupMode};

/// One thing about this host that stops (or limits) real containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostProblem {
    pub kind: HostProblemKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostProblemKind {
    RuntimeMissing,
    NotRoot,
    NoOverlayfs,
    /// crun on hybrid cgroups with controllers on cgroup2.
    CrunHybridCgroups,
    NoMemoryCgroup,
    /// Informational: the nofile hard limit is below the container default
    /// (the container's is capped to it).
    LowNofileLimit,
}

impl HostProblem {
    /// Whether containers cannot run at all with this problem.
    pub fn is_fatal(&self) -> bool {
        self.kind != HostProblemKind::LowNofileLimit
    }
}

impl fmt::Display for HostProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Finds a binary given as a path or a name on `$PATH`.
pub fn resolve_binary(bin: &Path) -> Option<PathBuf> {
    if bin.components().count() > 1 {
        return is_executable(bin).then(|| bin.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(bin))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn is_crun(runtime: &Path) -> bool {
    runtime
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("crun"))
}

/// Checks the host for `runtime` with the real `/proc` and `/sys`.
pub fn host_check(runtime: &Path) -> Result<Vec<HostProblem>> {
    Ok(check_with(
        runtime,
        &CgroupFs::host(),
        &std::fs::read_to_string("/proc/filesystems").unwrap_or_default(),
        rustix::process::geteuid().is_root(),
        rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum,
    ))
}

/// The checks, with every host fact passed in (unit-testable).
pub fn check_with(
    runtime: &Path,
    cg: &CgroupFs,
    proc_filesystems: &str,
    is_root: bool,
    nofile_hard: Option<u64>,
) -> Vec<HostProblem> {
    let mut out = Vec::new();
    let name = runtime
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if resolve_binary(runtime).is_none() {
        let pkg = match name.as_str() {
            "runc" | "crun" => {
                format!("install the Debian package `{name}` (apt-get install {name})")
            }
            "youki" => "youki is not packaged by Debian 12: install its release binary".to_string(),
            _ => "install an OCI runtime (Debian packages `runc` or `crun`)".to_string(),
        };
        out.push(HostProblem {
            kind: HostProblemKind::RuntimeMissing,
            message: format!(
                "OCI runtime {:?} not found: {pkg}",
                runtime.display().to_string()
            ),
        });
    }
    if !is_root {
        out.push(HostProblem {
            kind: HostProblemKind::NotRoot,
            message: "nodelet must run as root to create containers (namespaces, cgroups, mounts)"
                .to_string(),
        });
    }
    let has_overlay = proc_filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"));
    if !has_overlay {
        out.push(HostProblem {
            kind: HostProblemKind::NoOverlayfs,
            message: "overlayfs is not available (no `overlay` in /proc/filesystems): run `modprobe overlay`"
                .to_string(),
        });
    }
    if cg.mode() != CgroupMode::V2 && !cg.root().join("memory").is_dir() {
        out.push(HostProblem {
            kind: HostProblemKind::NoMemoryCgroup,
            message: format!(
                "the cgroup v1 memory controller is not mounted at {}/memory: memory limits and OOM detection need it",
                cg.root().display()
            ),
        });
    }
    if is_crun(runtime) && cg.mode() == CgroupMode::Hybrid {
        let controllers = std::fs::read_to_string(cg.root().join("unified/cgroup.controllers"))
            .unwrap_or_default();
        let on_v2: Vec<&str> = controllers.split_whitespace().collect();
        if !on_v2.is_empty() {
            let hint = if on_v2.contains(&"hugetlb") {
                " (hugetlb is attached to cgroup2 at /sys/fs/cgroup/unified; mount it as a v1 hierarchy instead, or use runc)"
            } else {
                " (use runc, or move the controllers off cgroup2)"
            };
            out.push(HostProblem {
                kind: HostProblemKind::CrunHybridCgroups,
                message: format!(
                    "crun refuses this host's hybrid cgroup layout (\"cgroups in hybrid mode not supported\"): cgroup v1 controllers plus cgroup2 at {}/unified with controllers [{}]{hint}",
                    cg.root().display(),
                    on_v2.join(" ")
                ),
            });
        }
    }
    if let Some(hard) = nofile_hard
        && hard < 1024
    {
        out.push(HostProblem {
            kind: HostProblemKind::LowNofileLimit,
            message: format!(
                "RLIMIT_NOFILE hard limit is {hard}: containers get {hard} instead of 1024 (rlimits cannot be raised above the hard limit)"
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hybrid(controllers: &str) -> (tempfile::TempDir, CgroupFs) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("memory")).unwrap();
        std::fs::create_dir_all(t.path().join("unified")).unwrap();
        std::fs::write(t.path().join("unified/cgroup.controllers"), controllers).unwrap();
        let cg = CgroupFs::at(t.path());
        (t, cg)
    }

    #[test]
    fn crun_on_hybrid_with_hugetlb_is_reported() {
        let (_t, cg) = hybrid("hugetlb\n");
        let p = check_with(
            Path::new("/bin/sh-crun-missing"),
            &cg,
            "nodev\toverlay\n",
            true,
            Some(20000),
        );
        let kinds: Vec<_> = p.iter().map(|p| p.kind).collect();
        assert!(kinds.contains(&HostProblemKind::CrunHybridCgroups), "{p:?}");
        assert!(kinds.contains(&HostProblemKind::RuntimeMissing));
        let msg = &p
            .iter()
            .find(|p| p.kind == HostProblemKind::CrunHybridCgroups)
            .unwrap()
            .message;
        assert!(msg.contains("hugetlb") && msg.contains("hybrid"));
    }

    #[test]
    fn runc_on_hybrid_is_fine_and_missing_things_are_named() {
        let (_t, cg) = hybrid("hugetlb\n");
        let p = check_with(Path::new("sh"), &cg, "nodev\toverlay\n", true, Some(20000));
        assert!(p.is_empty(), "{p:?}");
        let p = check_with(
            Path::new("runc-nope"),
            &cg,
            "nodev\tproc\n",
            false,
            Some(512),
        );
        let msgs: Vec<String> = p.iter().map(|p| p.message.clone()).collect();
        assert!(
            msgs.iter().any(|m| m.contains("modprobe overlay")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.contains("root")));
        assert!(
            p.iter()
                .any(|p| p.kind == HostProblemKind::LowNofileLimit && !p.is_fatal())
        );
        let p = check_with(Path::new("/nonexistent/runc"), &cg, "overlay", true, None);
        assert!(p[0].message.contains("Debian package `runc`"), "{p:?}");
    }
}
