//! The pod's shared `/dev/shm`: one tmpfs per sandbox, bind-mounted into
//! each of its containers, as containerd and CRI-O do for the pause
//! sandbox (containers of a pod share the IPC namespace, so POSIX shared
//! memory must be shared too). With `hostIPC` containers get the host's
//! `/dev/shm` instead and no tmpfs is made.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::error::{Result, RuntimeError};

/// containerd's default size of a sandbox's `/dev/shm` (64 MiB).
const SHM_OPTIONS: &str = "mode=1777,size=65536k";

/// Where the sandbox's tmpfs lives (`<run_root>/shm/<sandbox-id>`).
pub fn shm_dir(run_root: &Path, sandbox_id: &str) -> PathBuf {
    run_root.join("shm").join(sandbox_id)
}

/// What a container of this sandbox binds at `/dev/shm`.
pub fn source(run_root: &Path, sandbox_id: &str, host_ipc: bool) -> PathBuf {
    if host_ipc {
        PathBuf::from("/dev/shm")
    } else {
        shm_dir(run_root, sandbox_id)
    }
}

/// Mounts the sandbox's tmpfs; idempotent (an existing mount is kept, so
/// data survives an agent restart).
pub fn setup(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
    if crate::rootfs::is_mounted(dir)? {
        return Ok(());
    }
    nix::mount::mount(
        Some("shm"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(SHM_OPTIONS),
    )
    .map_err(|e| RuntimeError::io(dir, std::io::Error::from_raw_os_error(e as i32)))
}

/// Unmounts and removes the sandbox's tmpfs; idempotent. Lazily detached:
/// a container still holding it open must not stop pod removal.
pub fn teardown(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    while crate::rootfs::is_mounted(dir)? {
        nix::mount::umount2(dir, MntFlags::MNT_DETACH)
            .map_err(|e| RuntimeError::io(dir, std::io::Error::from_raw_os_error(e as i32)))?;
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RuntimeError::io(dir, e)),
        _ => Ok(()),
    }
}
