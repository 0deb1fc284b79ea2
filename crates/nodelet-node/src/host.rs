//! Facts about the machine the node reports: capacity (CPUs, memory, the
//! root file system as ephemeral-storage), system info (kernel, OS image,
//! machine and boot ids) and the pressure signals behind the
//! MemoryPressure / DiskPressure / PIDPressure conditions (the kubelet's
//! cadvisor machine info and eviction manager signals, read from /proc and
//! statvfs).

use std::path::Path;

use crate::eviction::Eviction;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    pub cpus: u64,
    pub memory_bytes: u64,
    /// Size of the file system holding the node's root directory.
    pub ephemeral_storage_bytes: u64,
    pub kernel_version: String,
    pub os_image: String,
    pub machine_id: String,
    pub system_uuid: String,
    pub boot_id: String,
    pub hostname: String,
    pub architecture: &'static str,
}

/// What the eviction signals say right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
    pub pid: bool,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A `/proc/meminfo` field in bytes.
fn meminfo(field: &str) -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// The Go architecture name Kubernetes uses (`amd64`, `arm64`, …).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// statvfs of `path`: (total bytes, available bytes, total inodes, free inodes).
pub fn fs_usage(path: &Path) -> Option<(u64, u64, u64, u64)> {
    let st = nix_statvfs(path)?;
    Some(st)
}

fn nix_statvfs(path: &Path) -> Option<(u64, u64, u64, u64)> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points to writable
    // memory of the right size; statvfs fills it on success (return 0).
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so the struct is initialised.
    let st = unsafe { st.assume_init() };
    let frsize = st.f_frsize;
    Some((
        st.f_blocks * frsize,
        st.f_bavail * frsize,
        st.f_files,
        st.f_ffree,
    ))
}

impl HostInfo {
    /// Reads the machine's facts; `root` is nodelet's state directory.
    pub fn read(root: &Path) -> HostInfo {
        let machine_id = read("/etc/machine-id")
            .or_else(|| read("/var/lib/dbus/machine-id"))
            .unwrap_or_default();
        HostInfo {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
            memory_bytes: meminfo("MemTotal").unwrap_or(0),
            ephemeral_storage_bytes: fs_usage(root).map_or(0, |(total, ..)| total),
            kernel_version: read("/proc/sys/kernel/osrelease").unwrap_or_default(),
            os_image: os_image(),
            system_uuid: read("/sys/class/dmi/id/product_uuid")
                .map(|s| s.to_lowercase())
                .unwrap_or_else(|| machine_id.clone()),
            machine_id,
            boot_id: read("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
            hostname: read("/proc/sys/kernel/hostname").unwrap_or_else(|| "localhost".into()),
            architecture: go_arch(),
        }
    }
}

fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into())
}

/// The eviction manager's signals against the hard thresholds. PID
/// pressure has no default threshold in the kubelet, so it is never
/// signalled.
pub fn pressure(root: &Path, eviction: &Eviction) -> Pressure {
    let memory = match (meminfo("MemTotal"), meminfo("MemAvailable")) {
        (Some(total), Some(avail)) => avail < eviction.memory_available.amount(total),
        _ => false,
    };
    let disk = fs_usage(root).is_some_and(|(total, avail, files, ffree)| {
        avail < eviction.nodefs_available.amount(total)
            || avail < eviction.imagefs_available.amount(total)
            || ffree < eviction.nodefs_inodes_free.amount(files)
            || ffree < eviction.imagefs_inodes_free.amount(files)
    });
    Pressure {
        memory,
        disk,
        pid: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        let h = HostInfo::read(Path::new("/"));
        assert!(h.cpus >= 1);
        assert!(h.memory_bytes > 0);
        assert!(h.ephemeral_storage_bytes > 0);
        assert!(!h.kernel_version.is_empty());
        assert_eq!(h.architecture, go_arch());
    }
}
