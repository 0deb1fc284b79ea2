//! Which source a volume has, and whether a single node can provide it.

use k8s_openapi::api::core::v1::Volume;

/// The volume types nodelet provides, or the field of one it cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    EmptyDir,
    HostPath,
    ConfigMap,
    Secret,
    DownwardApi,
    Projected,
    /// A source that needs something a lone node does not have (a
    /// PersistentVolume binding, a storage driver, a registry pull): the
    /// JSON name of its field, e.g. `persistentVolumeClaim`.
    Unsupported(&'static str),
    /// No source at all (validation refuses it; defaulting makes it an
    /// emptyDir).
    None,
}

impl VolumeKind {
    /// The kubelet plugin's on-disk name (`kubernetes.io~configmap`), for
    /// the volume's directory.
    pub fn plugin_dir(self) -> &'static str {
        match self {
            VolumeKind::EmptyDir => "kubernetes.io~empty-dir",
            VolumeKind::HostPath => "kubernetes.io~host-path",
            VolumeKind::ConfigMap => "kubernetes.io~configmap",
            VolumeKind::Secret => "kubernetes.io~secret",
            VolumeKind::DownwardApi => "kubernetes.io~downward-api",
            VolumeKind::Projected => "kubernetes.io~projected",
            VolumeKind::Unsupported(_) | VolumeKind::None => "unsupported",
        }
    }

    /// Volumes of API data are always mounted read-only (the kubelet's
    /// `ReadOnlyAPIDataVolumes`): the writer owns their content.
    pub fn forces_read_only(self) -> bool {
        matches!(
            self,
            VolumeKind::ConfigMap
                | VolumeKind::Secret
                | VolumeKind::DownwardApi
                | VolumeKind::Projected
        )
    }

    /// Secrets and projections (which may hold tokens) live on tmpfs, so
    /// they never reach a disk, as the kubelet wraps them in a memory
    /// emptyDir.
    pub fn on_tmpfs(self) -> bool {
        matches!(self, VolumeKind::Secret | VolumeKind::Projected)
    }
}

/// The kind of `v`'s source (the first set one; validation makes sure
/// there is exactly one).
pub fn volume_kind(v: &Volume) -> VolumeKind {
    if v.empty_dir.is_some() {
        return VolumeKind::EmptyDir;
    }
    if v.host_path.is_some() {
        return VolumeKind::HostPath;
    }
    if v.config_map.is_some() {
        return VolumeKind::ConfigMap;
    }
    if v.secret.is_some() {
        return VolumeKind::Secret;
    }
    if v.downward_api.is_some() {
        return VolumeKind::DownwardApi;
    }
    if v.projected.is_some() {
        return VolumeKind::Projected;
    }
    let unsupported: [(bool, &'static str); 24] = [
        (v.persistent_volume_claim.is_some(), "persistentVolumeClaim"),
        (v.ephemeral.is_some(), "ephemeral"),
        (v.csi.is_some(), "csi"),
        (v.image.is_some(), "image"),
        (v.git_repo.is_some(), "gitRepo"),
        (v.nfs.is_some(), "nfs"),
        (v.iscsi.is_some(), "iscsi"),
        (v.fc.is_some(), "fc"),
        (v.rbd.is_some(), "rbd"),
        (v.cephfs.is_some(), "cephfs"),
        (v.glusterfs.is_some(), "glusterfs"),
        (v.flex_volume.is_some(), "flexVolume"),
        (v.flocker.is_some(), "flocker"),
        (v.cinder.is_some(), "cinder"),
        (v.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (v.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
        (v.azure_disk.is_some(), "azureDisk"),
        (v.azure_file.is_some(), "azureFile"),
        (v.vsphere_volume.is_some(), "vsphereVolume"),
        (v.quobyte.is_some(), "quobyte"),
        (v.photon_persistent_disk.is_some(), "photonPersistentDisk"),
        (v.portworx_volume.is_some(), "portworxVolume"),
        (v.scale_io.is_some(), "scaleIO"),
        (v.storageos.is_some(), "storageos"),
    ];
    unsupported
        .into_iter()
        .find(|(set, _)| *set)
        .map_or(VolumeKind::None, |(_, f)| VolumeKind::Unsupported(f))
}

/// Why nodelet refuses a source, in one sentence naming what it needs.
pub fn unsupported_detail(field: &str) -> String {
    let needs = match field {
        "persistentVolumeClaim" | "ephemeral" => {
            "a cluster (a control plane that binds claims to PersistentVolumes and a storage provisioner)"
        }
        "csi" => "a cluster with a CSI driver installed on the node",
        "image" => "image volumes, which nodelet does not mount yet",
        "gitRepo" => {
            "git on the node (the source is deprecated upstream: clone in an init container into an emptyDir instead)"
        }
        _ => "a cluster with that storage system (in-tree storage drivers are not part of nodelet)",
    };
    format!(
        "{field} volumes need {needs}; on a single node nodelet supports emptyDir, hostPath, configMap, secret, downwardAPI and projected volumes"
    )
}
