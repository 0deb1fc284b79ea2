//! The ServiceAccount admission plugin
//! (`plugin/pkg/admission/serviceaccount`): a pod gets the `default`
//! service account unless it names one, and, unless
//! `automountServiceAccountToken` says no (the pod's choice first, then the
//! account's), every container that has nothing mounted at
//! `/var/run/secrets/kubernetes.io/serviceaccount` gets the
//! `kube-api-access-<5 random>` projected volume there: a bound token
//! (3607 s), the cluster CA from the `kube-root-ca.crt` ConfigMap, and the
//! namespace.

use k8s_openapi::api::core::v1::{
    ConfigMapProjection, DownwardAPIProjection, DownwardAPIVolumeFile, KeyToPath,
    ObjectFieldSelector, Pod, ProjectedVolumeSource, ServiceAccount, ServiceAccountTokenProjection,
    Volume, VolumeMount, VolumeProjection,
};

use crate::volume::{ROOT_CA_CONFIG_MAP, SERVICE_ACCOUNT_MOUNT_PATH};

pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
/// Prefix of the volume's name.
pub const VOLUME_PREFIX: &str = "kube-api-access-";
/// `serviceaccount.WarnOnlyBoundTokenExpirationSeconds`: one hour and 7 s,
/// the marker the API server extends (and warns about) for old clients.
pub const TOKEN_EXPIRATION_SECONDS: i64 = 3607;

/// The name of the service account the pod runs as, after defaulting:
/// `serviceAccountName`, else the deprecated `serviceAccount`, else
/// `default`.
pub fn service_account_name(pod: &Pod) -> String {
    let spec = pod.spec.as_ref();
    spec.and_then(|s| s.service_account_name.clone())
        .filter(|n| !n.is_empty())
        .or_else(|| {
            spec.and_then(|s| s.service_account.clone())
                .filter(|n| !n.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_SERVICE_ACCOUNT.to_owned())
}

/// The plugin's `Admit` for a pod being created, given the service account
/// it names (the caller refuses the pod when that does not exist) and 5
/// random characters for the volume name.
pub fn admit_pod(pod: &mut Pod, account: &ServiceAccount, suffix: &str) {
    let name = service_account_name(pod);
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.service_account_name = Some(name.clone());
    // The v1 API mirrors the name into the deprecated field.
    spec.service_account = Some(name);
    let automount = spec
        .automount_service_account_token
        .or(account.automount_service_account_token)
        .unwrap_or(true);
    if automount {
        mount_token(spec, suffix);
    }
    if spec
        .image_pull_secrets
        .as_ref()
        .is_none_or(|s| s.is_empty())
        && let Some(secrets) = account
            .image_pull_secrets
            .as_ref()
            .filter(|s| !s.is_empty())
    {
        spec.image_pull_secrets = Some(secrets.clone());
    }
}

fn mount_token(spec: &mut k8s_openapi::api::core::v1::PodSpec, suffix: &str) {
    let existing = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name.starts_with(VOLUME_PREFIX))
        .map(|v| v.name.clone());
    let volume_name = existing
        .clone()
        .unwrap_or_else(|| format!("{VOLUME_PREFIX}{suffix}"));
    let mount = VolumeMount {
        name: volume_name.clone(),
        read_only: Some(true),
        mount_path: SERVICE_ACCOUNT_MOUNT_PATH.to_owned(),
        ..Default::default()
    };
    let mut needed = false;
    let mounts = spec
        .init_containers
        .iter_mut()
        .flatten()
        .map(|c| &mut c.volume_mounts)
        .chain(spec.containers.iter_mut().map(|c| &mut c.volume_mounts));
    for ms in mounts {
        let has = ms
            .iter()
            .flatten()
            .any(|m| m.mount_path == SERVICE_ACCOUNT_MOUNT_PATH);
        if !has {
            ms.get_or_insert_with(Vec::new).push(mount.clone());
            needed = true;
        }
    }
    if existing.is_none() && needed {
        spec.volumes.get_or_insert_with(Vec::new).push(Volume {
            name: volume_name,
            projected: Some(token_volume_source()),
            ..Default::default()
        });
    }
}

/// `TokenVolumeSource()`: the projection of a `kube-api-access-*` volume.
pub fn token_volume_source() -> ProjectedVolumeSource {
    ProjectedVolumeSource {
        default_mode: Some(crate::volume::DEFAULT_FILE_MODE),
        default_user: None,
        sources: Some(vec![
            VolumeProjection {
                service_account_token: Some(ServiceAccountTokenProjection {
                    path: "token".into(),
                    expiration_seconds: Some(TOKEN_EXPIRATION_SECONDS),
                    audience: None,
                    user: None,
                }),
                ..Default::default()
            },
            VolumeProjection {
                config_map: Some(ConfigMapProjection {
                    name: ROOT_CA_CONFIG_MAP.into(),
                    items: Some(vec![KeyToPath {
                        key: "ca.crt".into(),
                        path: "ca.crt".into(),
                        mode: None,
                        user: None,
                    }]),
                    optional: None,
                }),
                ..Default::default()
            },
            VolumeProjection {
                downward_api: Some(DownwardAPIProjection {
                    items: Some(vec![DownwardAPIVolumeFile {
                        path: "namespace".into(),
                        field_ref: Some(ObjectFieldSelector {
                            api_version: Some("v1".into()),
                            field_path: "metadata.namespace".into(),
                        }),
                        ..Default::default()
                    }]),
                }),
                ..Default::default()
            },
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn pod() -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers: vec![
                    Container {
                        name: "a".into(),
                        ..Default::default()
                    },
                    Container {
                        name: "b".into(),
                        volume_mounts: Some(vec![VolumeMount {
                            name: "mine".into(),
                            mount_path: SERVICE_ACCOUNT_MOUNT_PATH.into(),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    },
                ],
                init_containers: Some(vec![Container {
                    name: "i".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn adds_the_projected_volume_and_mounts() {
        let mut p = pod();
        admit_pod(&mut p, &ServiceAccount::default(), "x2b4z");
        let spec = p.spec.unwrap();
        assert_eq!(spec.service_account_name.as_deref(), Some("default"));
        assert_eq!(spec.service_account.as_deref(), Some("default"));
        let vols = spec.volumes.unwrap();
        assert_eq!(vols.len(), 1);
        assert_eq!(vols[0].name, "kube-api-access-x2b4z");
        let proj = vols[0].projected.as_ref().unwrap();
        assert_eq!(proj.default_mode, Some(0o644));
        let j = serde_json::to_value(proj).unwrap();
        assert_eq!(
            j["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3607
        );
        assert_eq!(j["sources"][1]["configMap"]["name"], "kube-root-ca.crt");
        assert_eq!(
            j["sources"][2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
            "metadata.namespace"
        );
        let m = &spec.containers[0].volume_mounts.as_ref().unwrap()[0];
        assert_eq!(m.mount_path, SERVICE_ACCOUNT_MOUNT_PATH);
        assert_eq!(m.read_only, Some(true));
        // A container with its own mount there keeps it.
        assert_eq!(spec.containers[1].volume_mounts.as_ref().unwrap().len(), 1);
        assert_eq!(
            spec.init_containers.unwrap()[0]
                .volume_mounts
                .as_ref()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn automount_pod_first_then_account() {
        let no = ServiceAccount {
            automount_service_account_token: Some(false),
            ..Default::default()
        };
        let mut p = pod();
        admit_pod(&mut p, &no, "aaaaa");
        assert!(p.spec.unwrap().volumes.is_none());
        let mut p = pod();
        p.spec.as_mut().unwrap().automount_service_account_token = Some(true);
        admit_pod(&mut p, &no, "aaaaa");
        assert_eq!(p.spec.unwrap().volumes.unwrap().len(), 1);
        let mut p = pod();
        p.spec.as_mut().unwrap().automount_service_account_token = Some(false);
        admit_pod(&mut p, &ServiceAccount::default(), "aaaaa");
        assert!(p.spec.unwrap().volumes.is_none());
    }
}
