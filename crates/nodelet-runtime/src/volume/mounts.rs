//! Mount table helpers: which mounts lie under a directory, unmounting
//! them deepest first, and making the volumes root a shared mount.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use super::{VolumeError, VolumeResult};

/// Mount points at or below `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> VolumeResult<Vec<PathBuf>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| VolumeError::io("reading /proc/self/mountinfo", e))?;
    let prefix = dir.as_os_str().as_encoded_bytes();
    let mut out: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|mp| {
            mp.as_slice() == prefix
                || (mp.starts_with(prefix) && mp.get(prefix.len()) == Some(&b'/'))
        })
        .map(|mp| {
            use std::os::unix::ffi::OsStringExt;
            PathBuf::from(std::ffi::OsString::from_vec(mp))
        })
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    out.dedup();
    Ok(out)
}

/// Whether `path` is itself a mount point.
pub fn is_mount_point(path: &Path) -> VolumeResult<bool> {
    if let Some(answer) = crate::mountpoint::is_mount_root(path)
        .map_err(|e| VolumeError::io(format!("checking {}", path.display()), e))?
    {
        return Ok(answer);
    }
    Ok(mounts_under(path)?.iter().any(|m| m == path))
}

/// Detaches every mount at or below `dir` (lazily: a process still using
/// one must not keep the pod from going away).
pub fn unmount_all_under(dir: &Path) -> VolumeResult<()> {
    // Stacked mounts show up once per layer: repeat until none is left.
    for _ in 0..64 {
        let mounts = mounts_under(dir)?;
        if mounts.is_empty() {
            return Ok(());
        }
        for m in mounts {
            match nix::mount::umount2(&m, MntFlags::MNT_DETACH) {
                Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
                Err(e) => {
                    return Err(VolumeError(format!(
                        "unmounting {}: {}",
                        m.display(),
                        std::io::Error::from_raw_os_error(e as i32)
                    )));
                }
            }
        }
    }
    Err(VolumeError(format!(
        "mounts under {} keep reappearing",
        dir.display()
    )))
}

/// Makes `dir` a mount point of its own with shared propagation (bind onto
/// itself first), as the kubelet does with its root directory, so volume
/// mounts can propagate into containers that ask for it.
pub fn make_rshared(dir: &Path) -> VolumeResult<()> {
    let err = |what: &str, e: nix::errno::Errno| {
        VolumeError(format!(
            "{what} {}: {}",
            dir.display(),
            std::io::Error::from_raw_os_error(e as i32)
        ))
    };
    if !is_mount_point(dir)? {
        nix::mount::mount(
            Some(dir),
            dir,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| err("bind-mounting", e))?;
    }
    nix::mount::mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| err("making shared", e))
}

/// The propagation of the mount holding `path` (`shared`, `slave`,
/// `private`), as mountinfo's optional fields say, with the mount point.
pub fn propagation_of(path: &Path) -> VolumeResult<(PathBuf, &'static str)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| VolumeError::io("reading /proc/self/mountinfo", e))?;
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let t = target.as_os_str().as_encoded_bytes();
    let mut best: Option<(Vec<u8>, &'static str)> = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(mp) = fields.get(4).map(|m| unescape(m)) else {
            continue;
        };
        let covers = mp.as_slice() == b"/"
            || mp.as_slice() == t
            || (t.starts_with(&mp) && t.get(mp.len()) == Some(&b'/'));
        if !covers {
            continue;
        }
        let optional: Vec<&str> = fields
            .iter()
            .skip(6)
            .take_while(|f| **f != "-")
            .copied()
            .collect();
        let prop = if optional.iter().any(|f| f.starts_with("shared:")) {
            "shared"
        } else if optional.iter().any(|f| f.starts_with("master:")) {
            "slave"
        } else {
            "private"
        };
        // The longest (last, for stacked mounts) mount point wins.
        if best.as_ref().is_none_or(|(b, _)| mp.len() >= b.len()) {
            best = Some((mp, prop));
        }
    }
    let (mp, prop) = best.unwrap_or((b"/".to_vec(), "private"));
    use std::os::unix::ffi::OsStringExt;
    Ok((PathBuf::from(std::ffi::OsString::from_vec(mp)), prop))
}

fn unescape(s: &str) -> Vec<u8> {
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
