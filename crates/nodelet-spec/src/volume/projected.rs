//! A projected volume's files (`projected.collectData`): the union of its
//! configMap, secret, downwardAPI and serviceAccountToken sources. Errors
//! of the sources are aggregated; sources that worked still count.

use k8s_openapi::api::core::v1::{ConfigMap, Pod, ProjectedVolumeSource, Secret};

use super::payload::{FileDefaults, FileProjection, Payload, PayloadError, clean};
use super::{config_map_payload, downward_api_payload, secret_payload};

/// What the projection's sources resolved to; the caller looked them up.
pub trait ProjectionInputs {
    fn config_map(&self, name: &str) -> Option<&ConfigMap>;
    fn secret(&self, name: &str) -> Option<&Secret>;
    /// The token of the `index`-th source (a `serviceAccountToken`), or
    /// why it could not be had.
    fn token(&self, index: usize) -> Result<&str, String>;
}

/// One `serviceAccountToken` source, as a token request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenProjection {
    /// Position in `sources`.
    pub index: usize,
    pub path: String,
    /// Empty: the API server's default audiences.
    pub audience: String,
    pub expiration_seconds: i64,
}

/// The `serviceAccountToken` sources of a projection.
pub fn projected_tokens(source: &ProjectedVolumeSource) -> Vec<TokenProjection> {
    source
        .sources
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(index, s)| {
            let t = s.service_account_token.as_ref()?;
            Some(TokenProjection {
                index,
                path: t.path.clone(),
                audience: t.audience.clone().unwrap_or_default(),
                expiration_seconds: t.expiration_seconds.unwrap_or(3600),
            })
        })
        .collect()
}

/// The files. `fs_group`: with a group set, token files are written 0600
/// (the ownership pass then makes them 0640), as the kubelet does.
pub fn projected_payload(
    source: &ProjectedVolumeSource,
    pod: &Pod,
    node_name: &str,
    node_allocatable: Option<&crate::env::Allocatable>,
    inputs: &dyn ProjectionInputs,
    fs_group: Option<i64>,
) -> Result<Payload, PayloadError> {
    let defaults = FileDefaults {
        mode: source.default_mode.unwrap_or(super::DEFAULT_FILE_MODE),
        user: source.default_user,
    };
    let mut out = Payload::new();
    let mut errs = Vec::new();
    for (index, s) in source.sources.iter().flatten().enumerate() {
        let part = if let Some(c) = &s.config_map {
            let optional = c.optional.unwrap_or(false);
            config_map_payload(
                &c.name,
                c.items.as_deref().unwrap_or(&[]),
                inputs.config_map(&c.name),
                defaults,
                optional,
            )
        } else if let Some(c) = &s.secret {
            let optional = c.optional.unwrap_or(false);
            secret_payload(
                &c.name,
                c.items.as_deref().unwrap_or(&[]),
                inputs.secret(&c.name),
                defaults,
                optional,
            )
        } else if let Some(d) = &s.downward_api {
            downward_api_payload(
                d.items.as_deref().unwrap_or(&[]),
                pod,
                node_name,
                node_allocatable,
                defaults,
            )
        } else if let Some(t) = &s.service_account_token {
            let mode = if fs_group.is_some() {
                0o600
            } else {
                defaults.mode
            };
            inputs
                .token(index)
                .map(|tok| {
                    let mut p = Payload::new();
                    p.insert(
                        clean(&t.path),
                        FileProjection {
                            data: tok.as_bytes().to_vec(),
                            mode,
                            user: t.user.or(defaults.user),
                        },
                    );
                    p
                })
                .map_err(PayloadError)
        } else if s.cluster_trust_bundle.is_some() {
            Err(PayloadError(
                "clusterTrustBundle projections are not supported by nodelet (they need the cluster's ClusterTrustBundle objects)".into(),
            ))
        } else if s.pod_certificate.is_some() {
            Err(PayloadError(
                "podCertificate projections are not supported by nodelet (they need a cluster's certificate signers)".into(),
            ))
        } else {
            Ok(Payload::new())
        };
        match part {
            Ok(p) => out.extend(p),
            Err(e) => errs.push(e.0),
        }
    }
    match PayloadError::aggregate(errs) {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMapProjection, DownwardAPIProjection, DownwardAPIVolumeFile, KeyToPath,
        ObjectFieldSelector, SecretProjection, ServiceAccountTokenProjection, VolumeProjection,
    };

    struct In {
        cm: Option<ConfigMap>,
    }
    impl ProjectionInputs for In {
        fn config_map(&self, _: &str) -> Option<&ConfigMap> {
            self.cm.as_ref()
        }
        fn secret(&self, _: &str) -> Option<&Secret> {
            None
        }
        fn token(&self, index: usize) -> Result<&str, String> {
            if index == 0 {
                Ok("tok")
            } else {
                Err("no".into())
            }
        }
    }

    fn source() -> ProjectedVolumeSource {
        ProjectedVolumeSource {
            default_mode: Some(0o644),
            default_user: None,
            sources: Some(vec![
                VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        path: "token".into(),
                        expiration_seconds: Some(3607),
                        audience: None,
                        user: None,
                    }),
                    ..Default::default()
                },
                VolumeProjection {
                    config_map: Some(ConfigMapProjection {
                        name: "kube-root-ca.crt".into(),
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

    #[test]
    fn kube_api_access_shape() {
        let mut pod = Pod::default();
        pod.metadata.namespace = Some("team".into());
        let cm = ConfigMap {
            data: Some([("ca.crt".to_string(), "PEM".to_string())].into()),
            ..Default::default()
        };
        let p = projected_payload(&source(), &pod, "n", None, &In { cm: Some(cm) }, None).unwrap();
        assert_eq!(p["token"].data, b"tok");
        assert_eq!(p["ca.crt"].data, b"PEM");
        assert_eq!(p["namespace"].data, b"team");
        let toks = projected_tokens(&source());
        assert_eq!(toks.len(), 1);
        assert_eq!(toks[0].expiration_seconds, 3607);
        // fsGroup: the token is 0600 before the ownership pass.
        let cm = ConfigMap {
            data: Some([("ca.crt".to_string(), "PEM".to_string())].into()),
            ..Default::default()
        };
        let p =
            projected_payload(&source(), &pod, "n", None, &In { cm: Some(cm) }, Some(7)).unwrap();
        assert_eq!(p["token"].mode, 0o600);
    }

    #[test]
    fn missing_sources_are_aggregated() {
        let mut s = source();
        s.sources.as_mut().unwrap().push(VolumeProjection {
            secret: Some(SecretProjection {
                name: "s".into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        let e =
            projected_payload(&s, &Pod::default(), "n", None, &In { cm: None }, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[configmap \"kube-root-ca.crt\" not found, secret \"s\" not found]"
        );
    }
}
