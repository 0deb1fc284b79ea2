//! Marks the directories that hold one subdirectory per pod or container
//! as the tops of unrelated hierarchies (`chattr +T`, `FS_TOPDIR_FL`).
//!
//! Why: on ext4 *without a journal* the inode allocator skips every free
//! inode of a block group whose deletion is younger than a minute (five
//! while its inode-table block is dirty), and it scans them from the start
//! of the group, for every new file and directory. ext4 puts a new
//! subdirectory in its parent's group, so every pod's files landed in the
//! group of `<root>/containers` — the group its previous pods were just
//! deleted from. A burst of pod starts right after a teardown then paid
//! for each allocation in proportion to the inodes freed minutes before:
//! on this project's reference machine 5,000 files took 0.2 s after one
//! teardown and 4 s after a few (10 % of all CPU in a 50-pod burst was
//! ext4's `recently_deleted`). With the flag, ext4's Orlov allocator
//! spreads the subdirectories over the groups as it does for `/home`'s:
//! the same 5,000 files take 0.15–0.2 s however much was deleted before.
//!
//! The flag is only a placement hint. A file system without it (xfs,
//! btrfs, tmpfs, overlay) refuses the ioctl; that is not an error, and
//! nothing else depends on the flag being set.

use std::path::Path;

use rustix::fs::{IFlags, ioctl_getflags, ioctl_setflags};

/// Sets `FS_TOPDIR_FL` on `dir` if its file system knows the flag.
/// Returns whether the flag is set afterwards; never fails, because the
/// flag changes where ext4 places inodes, not what any file holds.
pub fn mark(dir: &Path) -> bool {
    let Ok(f) = std::fs::File::open(dir) else {
        return false;
    };
    let Ok(flags) = ioctl_getflags(&f) else {
        return false;
    };
    if flags.contains(IFlags::TOPDIR) {
        return true;
    }
    match ioctl_setflags(&f, flags | IFlags::TOPDIR) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "directory placement hint (FS_TOPDIR_FL) not set");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_not_an_error() {
        assert!(!mark(Path::new("/nonexistent-nodelet-topdir")));
    }

    #[test]
    fn the_flag_is_set_where_the_file_system_has_it() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("containers");
        std::fs::create_dir(&d).unwrap();
        let f = std::fs::File::open(&d).unwrap();
        let supported = ioctl_getflags(&f).is_ok();
        let marked = mark(&d);
        if supported && marked {
            assert!(ioctl_getflags(&f).unwrap().contains(IFlags::TOPDIR));
            // Idempotent: a second call finds it set.
            assert!(mark(&d));
        } else {
            // tmpfs, overlay: the hint is skipped, nothing else changes.
            assert!(!marked);
        }
    }
}
