//! Safe `subPath` mounts (the kubelet's `subpath_linux.go`, done with
//! `openat2`): the subpath is resolved *inside* the volume with
//! `RESOLVE_BENEATH`, so neither `..` nor a symlink (absolute, or relative
//! and climbing out) can lead out of it, and magic links are refused. The
//! resolved file or directory is then bind-mounted from
//! `/proc/self/fd/<n>` onto a per-container target, so what the container
//! gets is exactly the inode that was checked, however the volume changes
//! between the check and the container start (symlink races). A missing
//! subpath is created as directories, one component at a time, under the
//! same rule, with the volume's mode.
//!
//! Errors name no host path: like the kubelet's, they would tell a pod
//! about the node's filesystem.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::{SubpathRequest, VolumeError, VolumeResult, layout, mounts};

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

fn open_beneath(dir: impl AsFd, path: &str, flags: OFlags) -> std::io::Result<OwnedFd> {
    rustix::fs::openat2(
        dir,
        path,
        flags | OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE,
    )
    .map_err(std::io::Error::from)
}

/// `SafeMakeDir`: creates the missing components of `sub` under `volume`
/// with `perm`, never following a link out of the volume.
fn safe_make_dir(volume: &OwnedFd, sub: &str, perm: u32) -> std::io::Result<()> {
    let parts: Vec<&str> = sub
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for i in 0..parts.len() {
        let prefix = parts[..=i].join("/");
        match open_beneath(volume, &prefix, OFlags::empty()) {
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let parent = if i == 0 {
            rustix::fs::openat(
                volume,
                ".",
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?
        } else {
            open_beneath(volume, &parts[..i].join("/"), OFlags::DIRECTORY)?
        };
        // mkdirat needs a real directory fd, not O_PATH.
        let parent_dir = rustix::fs::openat(
            &parent,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        match rustix::fs::mkdirat(&parent_dir, parts[i], Mode::from_raw_mode(perm)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let child = rustix::fs::openat(
            &parent_dir,
            parts[i],
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        // The umask must not narrow what the volume allows.
        rustix::fs::fchmod(&child, Mode::from_raw_mode(perm))?;
    }
    Ok(())
}

/// Prepares the bind source of one subPath mount; see the module docs.
pub fn prepare(root: &Path, req: &SubpathRequest) -> VolumeResult<PathBuf> {
    for c in [&req.volume, &req.container] {
        if !layout::is_component(c) {
            return Err(VolumeError(format!("invalid name {c:?} for a subPath")));
        }
    }
    if !layout::is_pod_uid(&req.pod_uid) {
        return Err(VolumeError(format!("invalid pod uid {:?}", req.pod_uid)));
    }
    let create_err = || {
        VolumeError(format!(
            "failed to create subPath directory for volumeMount {:?} of container {:?}",
            req.mount_name, req.container
        ))
    };
    let prepare_err = |why: &dyn std::fmt::Display| {
        tracing::warn!(volume = %req.volume, container = %req.container, sub_path = %req.sub_path, "subPath refused: {why}");
        VolumeError(format!(
            "failed to prepare subPath for volumeMount {:?} of container {:?}",
            req.mount_name, req.container
        ))
    };
    let volume: OwnedFd = rustix::fs::open(
        &req.volume_path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| prepare_err(&e))?;
    let fd = match open_beneath(&volume, &req.sub_path, OFlags::empty()) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let perm = rustix::fs::fstat(&volume)
                .map(|st| st.st_mode & 0o7777)
                .map_err(|_| create_err())?;
            if let Err(e) = safe_make_dir(&volume, &req.sub_path, perm) {
                tracing::warn!(volume = %req.volume, sub_path = %req.sub_path, "subPath mkdir refused: {e}");
                return Err(create_err());
            }
            open_beneath(&volume, &req.sub_path, OFlags::empty()).map_err(|e| prepare_err(&e))?
        }
        Err(e) => return Err(prepare_err(&e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| prepare_err(&e))?;
    let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory;

    let target = layout::subpath_target(root, &req.pod_uid, &req.volume, &req.container, req.index);
    // A container restart binds again (the subpath may have changed).
    if mounts::is_mount_point(&target)? {
        nix::mount::umount2(&target, MntFlags::MNT_DETACH).map_err(|e| prepare_err(&e))?;
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| prepare_err(&e))?;
    }
    match std::fs::symlink_metadata(&target) {
        Ok(md) if md.is_dir() == is_dir && !md.file_type().is_symlink() => {}
        Ok(md) => {
            let r = if md.is_dir() {
                std::fs::remove_dir(&target)
            } else {
                std::fs::remove_file(&target)
            };
            r.map_err(|e| prepare_err(&e))?;
            make_target(&target, is_dir).map_err(|e| prepare_err(&e))?;
        }
        Err(_) => make_target(&target, is_dir).map_err(|e| prepare_err(&e))?,
    }
    let source = format!("/proc/self/fd/{}", fd.as_raw_fd());
    nix::mount::mount(
        Some(source.as_str()),
        &target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| prepare_err(&e))?;
    // What got mounted must be the inode that was checked.
    let mounted = std::fs::metadata(&target).map_err(|e| prepare_err(&e))?;
    use std::os::unix::fs::MetadataExt;
    if mounted.ino() != st.st_ino || mounted.dev() != st.st_dev {
        let _ = nix::mount::umount2(&target, MntFlags::MNT_DETACH);
        return Err(prepare_err(&"the bind mount is not the checked file"));
    }
    Ok(target)
}

fn make_target(target: &Path, is_dir: bool) -> std::io::Result<()> {
    if is_dir {
        std::fs::create_dir(target)
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(target)
            .map(|_| ())
    }
}
