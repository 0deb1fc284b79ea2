//! The root filesystem of a container in a pod user namespace
//! (`hostUsers: false`): the image's layers are shared by every pod and
//! owned by host root, so each one is handed to overlayfs as an *idmapped*
//! mount (a detached `open_tree` clone with `MOUNT_ATTR_IDMAP` set to the
//! pod's user namespace, passed as `/proc/self/fd/N`: nothing is mounted
//! anywhere but the overlay, and the layers on disk are not changed), while
//! the container's own upper/work directories belong to the pod's mapped
//! root. Inside the container the image's files are owned by its own
//! root; on the host, whatever the container writes is owned by the pod's
//! unprivileged host ids. Needs Linux >= 5.19 (idmapped overlay layers,
//! detached mounts as layers); an older kernel gets a clear error.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::mount::{OpenTreeFlags, open_tree};

use crate::error::{Result, RuntimeError};
use crate::types::IdMapping;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

fn idmap_error(what: &str, layer: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::Host(format!(
        "hostUsers: false needs idmapped mounts of the image layers, which this kernel refused ({what} {}: {e}); a kernel >= 5.19 with idmapped overlayfs layers is required",
        layer.display()
    ))
}

/// A detached, idmapped clone of `layer`'s mount.
fn idmapped(layer: &Path, userns: &OwnedFd) -> Result<OwnedFd> {
    let fd = open_tree(
        rustix::fs::CWD,
        layer,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(|e| idmap_error("open_tree", layer, e.into()))?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: mount_setattr on an fd we own, with an empty path and
    // AT_EMPTY_PATH, reading `attr` (a valid, correctly sized struct) only
    // during the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        return Err(idmap_error(
            "mount_setattr",
            layer,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(fd)
}

/// Mounts the overlay of `layers` (bottom first) at
/// `<container_dir>/rootfs` for a container whose pod maps its ids with
/// `mapping` in the user namespace pinned at `userns`.
pub fn mount_rootfs_idmapped(
    layers: &[PathBuf],
    container_dir: &Path,
    userns: &Path,
    mapping: IdMapping,
) -> Result<PathBuf> {
    let ns = crate::sandbox::userns::open(userns)?;
    let mut fds = Vec::with_capacity(layers.len());
    let mut paths = Vec::with_capacity(layers.len());
    for l in layers {
        let fd = idmapped(l, &ns)?;
        paths.push(PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())));
        fds.push(fd);
    }
    // The container's root and its writes belong to the pod's root.
    for d in ["upper", "work"] {
        let p = container_dir.join(d);
        std::fs::create_dir_all(&p).map_err(|e| RuntimeError::io(&p, e))?;
        std::os::unix::fs::chown(&p, Some(mapping.host_id), Some(mapping.host_id))
            .map_err(|e| RuntimeError::io(&p, e))?;
    }
    // The overlay keeps private clones of its layers: the fds may close
    // once it is mounted.
    let r = crate::rootfs::mount_rootfs(&paths, container_dir);
    drop(fds);
    r
}
