//! A container's volume mounts (the kubelet's `makeMounts`): each
//! `volumeMounts[]` entry becomes a bind of the set-up volume, or of a
//! safely prepared `subPath` of it; API-data volumes are always read-only;
//! propagation and bind options as asked. Errors are the kubelet's and make
//! the container fail with `CreateContainerConfigError`.

use k8s_openapi::api::core::v1::Container;
use nodelet_runtime::volume::SubpathRequest;
use nodelet_runtime::{MountPropagation, MountSpec};
use nodelet_spec::volume::{check_subpath, expand_subpath_expr};

use crate::worker::Worker;

impl Worker {
    pub(crate) async fn container_mounts(
        &self,
        spec: &Container,
        env: &[(String, String)],
    ) -> Result<Vec<MountSpec>, String> {
        let mounted = self.shared.volumes.mounted();
        let uid = self.shared.lock().uid.clone();
        let host = self.shared.ctx.runtime.volumes();
        let mut out = Vec::new();
        for (index, m) in spec.volume_mounts.iter().flatten().enumerate() {
            let Some(vol) = mounted.get(&m.name) else {
                return Err(format!(
                    "cannot find volume {:?} to mount into container {:?}",
                    m.name, spec.name
                ));
            };
            let mut sub_path = m.sub_path.clone().unwrap_or_default();
            if let Some(expr) = m.sub_path_expr.as_deref().filter(|e| !e.is_empty()) {
                sub_path = expand_subpath_expr(expr, |name| {
                    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
                })
                .map_err(|e| e.to_string())?;
            }
            let mut host_path = vol.path.clone();
            if !sub_path.is_empty() {
                check_subpath(&sub_path).map_err(|e| e.to_string())?;
                host_path = host
                    .prepare_subpath(&SubpathRequest {
                        pod_uid: uid.clone(),
                        volume: m.name.clone(),
                        container: spec.name.clone(),
                        index,
                        volume_path: vol.path.clone(),
                        sub_path,
                        mount_name: m.name.clone(),
                    })
                    .await
                    .map_err(|e| e.0)?;
            }
            let propagation = match m.mount_propagation.as_deref() {
                None | Some("None") => MountPropagation::Private,
                Some("HostToContainer") => MountPropagation::HostToContainer,
                Some("Bidirectional") => MountPropagation::Bidirectional,
                Some(other) => return Err(format!("invalid MountPropagation mode: {other:?}")),
            };
            recursive_read_only(m)?;
            out.push(MountSpec {
                host_path,
                container_path: m.mount_path.clone(),
                read_only: m.read_only.unwrap_or(false) || vol.kind.forces_read_only(),
                propagation,
                options: m.bind_mount_options.clone().unwrap_or_default(),
            });
        }
        Ok(out)
    }
}

/// `resolveRecursiveReadOnly` for a runtime without recursive read-only
/// mounts (runc as shipped here): `IfPossible` is a plain read-only mount,
/// `Enabled` cannot be honoured.
fn recursive_read_only(m: &k8s_openapi::api::core::v1::VolumeMount) -> Result<(), String> {
    let wrap = |e: String| format!("failed to resolve recursive read-only mode: {e}");
    match m.recursive_read_only.as_deref() {
        None | Some("Disabled") => Ok(()),
        Some(_) if !m.read_only.unwrap_or(false) => Err(wrap(format!(
            "volume {:?} requested recursive read-only mode, but it is not read-only",
            m.name
        ))),
        Some(_) if m.mount_propagation.as_deref().is_some_and(|p| p != "None") => {
            Err(wrap(format!(
                "volume {:?} requested recursive read-only mode, but it is not compatible with propagation {:?}",
                m.name,
                m.mount_propagation.as_deref().unwrap_or("")
            )))
        }
        Some("IfPossible") => Ok(()),
        Some("Enabled") => Err(wrap(format!(
            "volume {:?} requested recursive read-only mode, but it is not supported by the runtime",
            m.name
        ))),
        Some(other) => Err(wrap(format!("unknown recursive read-only mode {other:?}"))),
    }
}
