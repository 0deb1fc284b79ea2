//! The host side of pod volumes: the kubelet's volume plugins and its
//! `volumemanager` mount operations for what a single node can offer
//! (emptyDir on disk or tmpfs, hostPath with its type checks, the
//! directories of configMap/secret/downwardAPI/projected volumes written
//! by the atomic writer, `fsGroup` ownership) and safe `subPath` binds.
//!
//! The engine decides *what* a volume holds (pure functions in
//! `nodelet_spec::volume`) and *when* to set it up or rewrite it; it
//! reaches the host only through [`VolumeHost`], so its retry and update
//! rules run against [`crate::fake`] under a paused clock.
//!
//! On disk, as the kubelet lays it out under its pod dir:
//! `<root>/volumes/<pod-uid>/volumes/kubernetes.io~<plugin>/<name>` and
//! `<root>/volumes/<pod-uid>/volume-subpaths/<volume>/<container>/<index>`.
//! `<root>/volumes` is made a shared mount once, as the kubelet makes its
//! root dir rshared, so `HostToContainer` and `Bidirectional` propagation
//! work for pod volumes.

pub mod atomic_writer;
pub mod empty_dir;
pub mod host;
pub mod host_path;
pub mod layout;
pub mod mounts;
pub mod ownership;
pub mod subpath;
pub mod usage;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
pub use host::HostVolumes;
use nodelet_spec::volume::Payload;

/// A volume operation failed; the text is what the kubelet would say (it
/// ends up in a `FailedMount` event or a container's waiting message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VolumeError(pub String);

impl VolumeError {
    pub fn io(what: impl std::fmt::Display, e: std::io::Error) -> Self {
        VolumeError(format!("{what}: {e}"))
    }
}

pub type VolumeResult<T> = Result<T, VolumeError>;

/// What backs a pod-owned volume directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    /// A directory on the node's disk.
    Disk,
    /// A tmpfs of `size` bytes (`None`: tmpfs' default, half the RAM).
    Memory { size: Option<i64> },
}

/// How volume contents are owned (`securityContext.fsGroup`): files get the
/// group and group permissions, as the kubelet's `SetVolumeOwnership`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ownership {
    pub fs_group: Option<i64>,
    /// API-data volumes are read-only to the pod: group read instead of
    /// read-write.
    pub read_only: bool,
}

/// A pod-owned volume directory to create (idempotent: an existing one is
/// kept with its contents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSetup {
    pub pod_uid: String,
    pub name: String,
    /// The kubelet plugin dir name, `kubernetes.io~empty-dir`.
    pub plugin: String,
    pub medium: Medium,
    /// Permission bits of the directory (emptyDir: 0777, or its `mode`).
    pub mode: u32,
    pub ownership: Ownership,
}

/// A `subPath` of a volume to bind for one container's mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubpathRequest {
    pub pod_uid: String,
    pub volume: String,
    pub container: String,
    /// The mount's index in the container's `volumeMounts`.
    pub index: usize,
    /// The volume's host path.
    pub volume_path: PathBuf,
    /// Relative, already checked for `..` and absolute paths.
    pub sub_path: String,
    /// `volumeMounts[].name`, for the messages.
    pub mount_name: String,
}

#[async_trait]
pub trait VolumeHost: Send + Sync + 'static {
    /// Creates the pod's volume directory (emptyDir, or the home of a
    /// projected kind) and returns its path.
    async fn setup(&self, req: &VolumeSetup) -> VolumeResult<PathBuf>;

    /// Writes `payload` into the set-up volume `dir` with the atomic
    /// writer (readers never see half an update). Returns whether anything
    /// changed on disk.
    async fn write_payload(
        &self,
        dir: &Path,
        payload: &Payload,
        ownership: Ownership,
        context: &str,
    ) -> VolumeResult<bool>;

    /// Checks (and for the `...OrCreate` types creates) a hostPath volume
    /// as the kubelet's `hostPath` plugin; returns the path to bind.
    async fn host_path(&self, path: &str, type_: &str) -> VolumeResult<PathBuf>;

    /// Resolves `subPath` inside the volume without ever leaving it
    /// (symlinks included) and binds the result at a per-container path,
    /// which is what the container mounts.
    async fn prepare_subpath(&self, req: &SubpathRequest) -> VolumeResult<PathBuf>;

    /// Bytes used under `path` (an emptyDir's `sizeLimit`).
    async fn usage(&self, path: &Path) -> VolumeResult<u64>;

    /// Unmounts and removes everything of the pod's volumes (never the
    /// contents of a hostPath). Idempotent.
    async fn remove_pod(&self, pod_uid: &str) -> VolumeResult<()>;

    /// Pod uids that have volume state on this node (to release what a
    /// crash left).
    async fn pods(&self) -> VolumeResult<Vec<String>>;
}
