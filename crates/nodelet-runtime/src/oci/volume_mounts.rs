//! Pod volume mounts in the OCI spec, as containerd's CRI plugin writes
//! them: a recursive bind with `rprivate`, `rslave` (HostToContainer) or
//! `rshared` (Bidirectional), the root's propagation raised to match, and
//! the source checked to be a shared (or slave) mount, else the mount
//! could not propagate and containerd refuses it with these messages.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use crate::error::{Result, RuntimeError};
use crate::types::{MountPropagation, MountSpec};
use crate::volume::mounts::propagation_of;

/// The OCI mount of one volume.
pub fn oci_mount(m: &MountSpec) -> Mount {
    let mut mount = Mount::default();
    mount.set_destination(PathBuf::from(&m.container_path));
    mount.set_typ(Some("bind".to_string()));
    mount.set_source(Some(m.host_path.clone()));
    let prop = match m.propagation {
        MountPropagation::Private => "rprivate",
        MountPropagation::HostToContainer => "rslave",
        MountPropagation::Bidirectional => "rshared",
    };
    let mut opts = vec!["rbind".to_string(), prop.to_string()];
    opts.push(if m.read_only { "ro" } else { "rw" }.to_string());
    opts.extend(m.options.iter().cloned());
    mount.set_options(Some(opts));
    mount
}

/// Parents before children (containerd sorts by path depth, stably), so a
/// mount at `/data/sub` is not hidden by one at `/data`.
pub fn ordered(mounts: &[MountSpec]) -> impl Iterator<Item = &MountSpec> {
    let mut v: Vec<&MountSpec> = mounts.iter().collect();
    v.sort_by_key(|m| {
        Path::new(&m.container_path)
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .count()
    });
    v.into_iter()
}

/// `rootfsPropagation` the container needs for its mounts, if any.
pub fn rootfs_propagation(mounts: &[MountSpec]) -> Option<&'static str> {
    if mounts
        .iter()
        .any(|m| m.propagation == MountPropagation::Bidirectional)
    {
        Some("rshared")
    } else if mounts
        .iter()
        .any(|m| m.propagation == MountPropagation::HostToContainer)
    {
        Some("rslave")
    } else {
        None
    }
}

/// containerd's `ensureShared` / `ensureSharedOrSlave` for every mount
/// that asks for propagation.
pub fn check_sources(mounts: &[MountSpec]) -> Result<()> {
    for m in mounts {
        let want_shared = match m.propagation {
            MountPropagation::Private => continue,
            MountPropagation::Bidirectional => true,
            MountPropagation::HostToContainer => false,
        };
        let (mount_point, prop) =
            propagation_of(&m.host_path).map_err(|e| RuntimeError::Other(e.to_string()))?;
        let ok = prop == "shared" || (!want_shared && prop == "slave");
        if !ok {
            return Err(RuntimeError::Other(format!(
                "path {:?} is mounted on {:?} but it is not a {} mount",
                display(&m.host_path),
                display(&mount_point),
                if want_shared {
                    "shared"
                } else {
                    "shared or slave"
                }
            )));
        }
    }
    Ok(())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
