//! `fsGroup` ownership (`volume.SetVolumeOwnership`): every file and
//! directory of the volume gets the group, group read (and write for a
//! writable volume) permission, directories also setgid and group execute,
//! so new files inherit the group. Symlinks are re-owned but never
//! chmod'ed (that would change their target).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::{Ownership, VolumeError, VolumeResult};

const RW_MASK: u32 = 0o660;
const RO_MASK: u32 = 0o440;
const EXEC_MASK: u32 = 0o110;
const SETGID: u32 = 0o2000;

/// Applies `ownership` to everything under `dir` (nothing without an
/// fsGroup).
pub fn apply(dir: &Path, ownership: Ownership) -> VolumeResult<()> {
    let Some(gid) = ownership.fs_group else {
        return Ok(());
    };
    let gid = u32::try_from(gid).map_err(|_| VolumeError(format!("invalid fsGroup {gid}")))?;
    walk(dir, gid, ownership.read_only)
        .map_err(|e| VolumeError::io(format!("applying fsGroup {gid} to {}", dir.display()), e))
}

fn change(path: &Path, gid: u32, read_only: bool) -> std::io::Result<std::fs::Metadata> {
    let md = std::fs::symlink_metadata(path)?;
    std::os::unix::fs::lchown(path, None, Some(gid))?;
    if md.file_type().is_symlink() {
        return Ok(md);
    }
    let mut mask = if read_only { RO_MASK } else { RW_MASK };
    if md.is_dir() {
        mask |= SETGID | EXEC_MASK;
    }
    let mode = (md.mode() & 0o7777) | mask;
    if mode != md.mode() & 0o7777 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(md)
}

fn walk(path: &Path, gid: u32, read_only: bool) -> std::io::Result<()> {
    let md = change(path, gid, read_only)?;
    if md.is_dir() {
        for entry in std::fs::read_dir(path)? {
            walk(&entry?.path(), gid, read_only)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_bits_and_setgid() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o400)).unwrap();
        std::os::unix::fs::symlink("f", d.path().join("l")).unwrap();
        let gid = std::fs::metadata(d.path()).unwrap().gid();
        apply(
            d.path(),
            Ownership {
                fs_group: Some(i64::from(gid)),
                read_only: true,
            },
        )
        .unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o7777, 0o440);
        assert_eq!(std::fs::metadata(d.path()).unwrap().mode() & 0o2000, 0o2000);
    }
}
