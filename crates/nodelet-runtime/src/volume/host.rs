//! [`VolumeHost`] on the real node: the operations of this module's
//! siblings, run off the async threads (they are file system and mount
//! calls).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use nodelet_spec::volume::Payload;

use super::{
    Ownership, SubpathRequest, VolumeError, VolumeHost, VolumeResult, VolumeSetup, atomic_writer,
    empty_dir, host_path, layout, mounts, ownership, subpath, usage,
};

pub struct HostVolumes {
    root: PathBuf,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> VolumeResult<T> + Send + 'static,
) -> VolumeResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| VolumeError(format!("volume task: {e}")))?
}

impl HostVolumes {
    /// Volumes under `<root>/volumes`, which becomes a shared mount.
    pub fn new(root: &Path) -> VolumeResult<HostVolumes> {
        let dir = layout::volumes_root(root);
        std::fs::create_dir_all(&dir).map_err(|e| VolumeError::io(dir.display(), e))?;
        mounts::make_rshared(&dir)?;
        Ok(HostVolumes {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Undoes the shared bind of `<root>/volumes` when no pod has volumes
    /// any more (an agent stopping with nothing to adopt leaves no mount).
    pub fn release_if_idle(&self) -> VolumeResult<()> {
        let dir = layout::volumes_root(&self.root);
        let busy = std::fs::read_dir(&dir)
            .map(|mut rd| rd.next().is_some())
            .unwrap_or(false);
        if busy {
            return Ok(());
        }
        mounts::unmount_all_under(&dir)
    }
}

#[async_trait]
impl VolumeHost for HostVolumes {
    async fn setup(&self, req: &VolumeSetup) -> VolumeResult<PathBuf> {
        if !layout::is_pod_uid(&req.pod_uid)
            || !layout::is_component(&req.name)
            || !layout::is_component(&req.plugin)
        {
            return Err(VolumeError(format!(
                "invalid volume {:?} of pod {:?}",
                req.name, req.pod_uid
            )));
        }
        let dir = layout::volume_dir(&self.root, &req.pod_uid, &req.plugin, &req.name);
        let req = req.clone();
        blocking(move || {
            empty_dir::setup(&dir, req.medium, req.mode)?;
            ownership::apply(&dir, req.ownership)?;
            Ok(dir)
        })
        .await
    }

    async fn write_payload(
        &self,
        dir: &Path,
        payload: &Payload,
        own: Ownership,
        context: &str,
    ) -> VolumeResult<bool> {
        let (dir, payload, context) = (dir.to_path_buf(), payload.clone(), context.to_owned());
        blocking(move || {
            let changed = atomic_writer::write(&dir, &payload, &context)?;
            if changed {
                ownership::apply(&dir, own)?;
            }
            Ok(changed)
        })
        .await
    }

    async fn host_path(&self, path: &str, type_: &str) -> VolumeResult<PathBuf> {
        let (path, type_) = (path.to_owned(), type_.to_owned());
        blocking(move || host_path::check(&path, &type_)).await
    }

    async fn prepare_subpath(&self, req: &SubpathRequest) -> VolumeResult<PathBuf> {
        let (root, req) = (self.root.clone(), req.clone());
        blocking(move || subpath::prepare(&root, &req)).await
    }

    async fn usage(&self, path: &Path) -> VolumeResult<u64> {
        let path = path.to_path_buf();
        blocking(move || usage::usage(&path)).await
    }

    async fn remove_pod(&self, pod_uid: &str) -> VolumeResult<()> {
        if !layout::is_pod_uid(pod_uid) {
            return Err(VolumeError(format!("invalid pod uid {pod_uid:?}")));
        }
        let dir = layout::pod_dir(&self.root, pod_uid);
        blocking(move || {
            if std::fs::symlink_metadata(&dir).is_err() {
                return Ok(());
            }
            mounts::unmount_all_under(&dir)?;
            // Never delete through a mount that is still there (a subPath
            // bind of a hostPath would take host data with it).
            if !mounts::mounts_under(&dir)?.is_empty() {
                return Err(VolumeError(format!(
                    "mounts remain under {}",
                    dir.display()
                )));
            }
            std::fs::remove_dir_all(&dir).map_err(|e| VolumeError::io(dir.display(), e))
        })
        .await
    }

    async fn pods(&self) -> VolumeResult<Vec<String>> {
        let dir = layout::volumes_root(&self.root);
        blocking(move || {
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(VolumeError::io(dir.display(), e)),
            };
            Ok(rd
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| layout::is_pod_uid(n))
                .collect())
        })
        .await
    }
}
