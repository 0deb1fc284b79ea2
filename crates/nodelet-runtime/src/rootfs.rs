//! A container's root filesystem: overlayfs over the image's unpacked layer
//! directories, with a private upper/work directory in the container dir.
//!
//! `<container_dir>/upper` and `work` hold the container's writes;
//! `<container_dir>/rootfs` is the mount point. Layers are passed as
//! lowerdirs top-first. The classic `mount(2)` option string must fit in a
//! page; for images with many layers we switch to the new mount API
//! (`fsconfig` "lowerdir+", one layer per call, Linux >= 6.8), which has no
//! such limit.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::error::{Result, RuntimeError};

/// Longest option string we hand to mount(2): a page minus headroom.
const MAX_MOUNT_DATA: usize = 3500;

fn check_layer_path(p: &Path) -> Result<String> {
    let s = p
        .to_str()
        .ok_or_else(|| RuntimeError::Other(format!("{}: layer path is not UTF-8", p.display())))?;
    if !p.is_absolute() || s.contains([',', ':', '\n']) {
        return Err(RuntimeError::Other(format!(
            "{s}: layer paths must be absolute without ',' or ':'"
        )));
    }
    Ok(s.to_string())
}

fn mkdir(p: &Path) -> Result<()> {
    fs::create_dir_all(p).map_err(|e| RuntimeError::io(p, e))
}

/// Mounts the overlay for `layers` (bottom first, as in
/// `ResolvedImage::layers`) at `<container_dir>/rootfs` and returns that
/// path. Idempotent: an existing mount there is reused.
pub fn mount_rootfs(layers: &[PathBuf], container_dir: &Path) -> Result<PathBuf> {
    if layers.is_empty() {
        return Err(RuntimeError::Other(
            "an image needs at least one layer".into(),
        ));
    }
    let upper = container_dir.join("upper");
    let work = container_dir.join("work");
    let rootfs = container_dir.join("rootfs");
    for d in [&upper, &work, &rootfs] {
        mkdir(d)?;
    }
    let rootfs = fs::canonicalize(&rootfs).map_err(|e| RuntimeError::io(&rootfs, e))?;
    if is_mounted(&rootfs)? {
        return Ok(rootfs);
    }
    let upper = fs::canonicalize(&upper).map_err(|e| RuntimeError::io(&upper, e))?;
    let work = fs::canonicalize(&work).map_err(|e| RuntimeError::io(&work, e))?;
    let mut lower = Vec::new();
    for l in layers.iter().rev() {
        lower.push(check_layer_path(l)?);
    }
    let upper_s = check_layer_path(&upper)?;
    let work_s = check_layer_path(&work)?;
    let data = format!(
        "lowerdir={},upperdir={upper_s},workdir={work_s}",
        lower.join(":")
    );
    if data.len() <= MAX_MOUNT_DATA {
        nix::mount::mount(
            Some("overlay"),
            &rootfs,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|e| mount_error(&rootfs, &data, e as i32))?;
    } else {
        mount_many(&lower, &upper_s, &work_s, &rootfs)?;
    }
    Ok(rootfs)
}

fn mount_error(rootfs: &Path, what: &str, errno: i32) -> RuntimeError {
    let shown: String = what.chars().take(300).collect();
    RuntimeError::Host(format!(
        "mounting overlay at {} ({shown}): {}",
        rootfs.display(),
        std::io::Error::from_raw_os_error(errno)
    ))
}

/// The new mount API path: one `lowerdir+` per layer (top first).
fn mount_many(lower: &[String], upper: &str, work: &str, rootfs: &Path) -> Result<()> {
    use rustix::mount::{
        FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, fsconfig_create,
        fsconfig_set_string, fsmount, fsopen, move_mount,
    };
    let err = |what: &str, e: rustix::io::Errno| mount_error(rootfs, what, e.raw_os_error());
    let fs_fd = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| err("fsopen", e))?;
    for l in lower {
        fsconfig_set_string(&fs_fd, "lowerdir+", l.as_str())
            .map_err(|e| err("lowerdir+ (needs Linux >= 6.8 for this many layers)", e))?;
    }
    fsconfig_set_string(&fs_fd, "upperdir", upper).map_err(|e| err("upperdir", e))?;
    fsconfig_set_string(&fs_fd, "workdir", work).map_err(|e| err("workdir", e))?;
    fsconfig_create(&fs_fd).map_err(|e| err("create", e))?;
    let mnt = fsmount(
        &fs_fd,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::empty(),
    )
    .map_err(|e| err("fsmount", e))?;
    move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        rootfs,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| err("move_mount", e))
}

/// Unmounts `<container_dir>/rootfs` (all stacked mounts there). Already
/// unmounted or missing is fine; a busy mount is detached lazily.
pub fn unmount_rootfs(container_dir: &Path) -> Result<()> {
    let rootfs = container_dir.join("rootfs");
    let rootfs = match fs::canonicalize(&rootfs) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(RuntimeError::io(&rootfs, e)),
    };
    for _ in 0..16 {
        if !is_mounted(&rootfs)? {
            return Ok(());
        }
        match nix::mount::umount2(&rootfs, MntFlags::empty()) {
            Ok(()) => {}
            Err(nix::errno::Errno::EBUSY) => {
                nix::mount::umount2(&rootfs, MntFlags::MNT_DETACH)
                    .map_err(|e| RuntimeError::io(&rootfs, e.into()))?;
            }
            Err(nix::errno::Errno::EINVAL) => return Ok(()),
            Err(e) => return Err(RuntimeError::io(&rootfs, e.into())),
        }
    }
    Err(RuntimeError::Other(format!(
        "{}: still mounted after repeated unmounts",
        rootfs.display()
    )))
}

/// Whether `path` (canonical) is a mount point in our mount namespace.
pub fn is_mounted(path: &Path) -> Result<bool> {
    if let Some(answer) =
        crate::mountpoint::is_mount_root(path).map_err(|e| RuntimeError::io(path, e))?
    {
        return Ok(answer);
    }
    let info = "/proc/self/mountinfo";
    let text = fs::read_to_string(info).map_err(|e| RuntimeError::io(info, e))?;
    let want = path.as_os_str().as_encoded_bytes();
    Ok(text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape_mountinfo(mp) == want))
}

/// Undoes mountinfo's octal escapes (`\040` for space etc.).
fn unescape_mountinfo(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn unescapes_mountinfo() {
        assert_eq!(super::unescape_mountinfo("/a\\040b"), b"/a b");
        assert_eq!(super::unescape_mountinfo("/plain"), b"/plain");
    }
}
