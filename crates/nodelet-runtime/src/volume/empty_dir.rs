//! The directory of a pod-owned volume (the kubelet's `emptyDir` plugin,
//! which configMap, secret, downwardAPI and projected volumes wrap):
//! created with its mode whatever the umask, and for `Memory` a tmpfs
//! mounted on it. Set-up is idempotent: an existing directory or tmpfs is
//! kept with its contents (container restarts, agent restarts).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::mount::MsFlags;

use super::{Medium, VolumeError, VolumeResult, mounts};

/// Creates `dir` (and its parents) with `mode`, mounting a tmpfs for
/// `Medium::Memory`.
pub fn setup(dir: &Path, medium: Medium, mode: u32) -> VolumeResult<()> {
    std::fs::create_dir_all(dir).map_err(|e| VolumeError::io(dir.display(), e))?;
    let set_mode = || {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| VolumeError::io(dir.display(), e))
    };
    match medium {
        Medium::Disk => set_mode(),
        Medium::Memory { size } => {
            if mounts::is_mount_point(dir)? {
                return Ok(());
            }
            set_mode()?;
            // Like the kubelet, the default leaves tmpfs' own root mode
            // (1777); an explicit emptyDir `mode` is passed on.
            let mut opts = Vec::new();
            if mode != 0o777 {
                opts.push(format!("mode={mode:o}"));
            }
            if let Some(size) = size.filter(|s| *s > 0) {
                opts.push(format!("size={size}"));
            }
            let opts = opts.join(",");
            nix::mount::mount(
                Some("tmpfs"),
                dir,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(opts.as_str()),
            )
            .map_err(|e| {
                VolumeError(format!(
                    "mounting tmpfs at {}: {}",
                    dir.display(),
                    std::io::Error::from_raw_os_error(e as i32)
                ))
            })
        }
    }
}
