//! Where pod volumes live on the node.

use std::path::{Path, PathBuf};

/// `<root>/volumes`: the shared mount all pod volumes are under.
pub fn volumes_root(root: &Path) -> PathBuf {
    root.join("volumes")
}

/// `<root>/volumes/<uid>`.
pub fn pod_dir(root: &Path, pod_uid: &str) -> PathBuf {
    volumes_root(root).join(pod_uid)
}

/// `<root>/volumes/<uid>/volumes/<plugin>/<name>`.
pub fn volume_dir(root: &Path, pod_uid: &str, plugin: &str, name: &str) -> PathBuf {
    pod_dir(root, pod_uid)
        .join("volumes")
        .join(plugin)
        .join(name)
}

/// `<root>/volumes/<uid>/volume-subpaths/<volume>/<container>/<index>`.
pub fn subpath_target(
    root: &Path,
    pod_uid: &str,
    volume: &str,
    container: &str,
    index: usize,
) -> PathBuf {
    pod_dir(root, pod_uid)
        .join("volume-subpaths")
        .join(volume)
        .join(container)
        .join(index.to_string())
}

/// A pod uid is what the API generates (a UUID); anything with a path
/// separator or dots could name another directory.
pub fn is_pod_uid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A volume or container name (a DNS label) is safe as one path component.
pub fn is_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}
