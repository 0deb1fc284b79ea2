//! What a pod's volumes contain, as pure functions of the pod and the
//! objects they project (the kubelet's `pkg/volume/{configmap,secret,
//! downwardapi,projected}` `MakePayload`/`CollectData`), plus the pure parts
//! of mounting: `subPathExpr` expansion, the size of a memory-backed
//! emptyDir, and which volume types a single node can offer at all.
//!
//! The host side (writing these payloads with the atomic writer, tmpfs,
//! hostPath checks, safe subpaths) lives in `nodelet-runtime::volume`; the
//! orchestration (when to set up, retry, update) in the engine.

mod config_map;
mod downward_api;
mod kind;
mod memory;
mod payload;
mod projected;
mod secret;
mod subpath;

pub use config_map::config_map_payload;
pub use downward_api::downward_api_payload;
pub use kind::{VolumeKind, unsupported_detail, volume_kind};
pub use memory::{emptydir_memory_size, emptydir_size_limit, pod_memory_limit};
pub use payload::{FileDefaults, FileProjection, Payload, PayloadError};
pub use projected::{ProjectionInputs, TokenProjection, projected_payload, projected_tokens};
pub use secret::secret_payload;
pub use subpath::{SubPathError, check_subpath, expand_subpath_expr};

/// `0644`: the API's default mode of projected files.
pub const DEFAULT_FILE_MODE: i32 = 0o644;
/// Where the ServiceAccount admission plugin mounts the API credentials.
pub const SERVICE_ACCOUNT_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The ConfigMap holding the cluster CA in every namespace.
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
