//! Disk usage of a volume (the kubelet's `du`-based metrics for emptyDir
//! `sizeLimit`): allocated blocks of every file under a directory, each
//! inode counted once, never crossing into another filesystem.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{VolumeError, VolumeResult};

pub fn usage(dir: &Path) -> VolumeResult<u64> {
    let root = std::fs::symlink_metadata(dir).map_err(|e| VolumeError::io(dir.display(), e))?;
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.dev() != root.dev() || !seen.insert(md.ino()) {
            continue;
        }
        total = total.saturating_add(md.blocks().saturating_mul(512));
        if md.is_dir()
            && let Ok(rd) = std::fs::read_dir(&p)
        {
            stack.extend(rd.flatten().map(|e| e.path()));
        }
    }
    Ok(total)
}
