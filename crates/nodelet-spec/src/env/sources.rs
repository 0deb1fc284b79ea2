//! ConfigMap and Secret lookups for `envFrom` and `valueFrom` references.
//!
//! The kubelet resolves these against the pod's namespace only; a missing
//! object is an error unless the reference is `optional`. Error texts are
//! the kubelet's (its object managers return API-style NotFound errors for
//! the resources `configmap` / `secret`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::{EnvContext, EnvError, namespace_of};

/// The data of one ConfigMap or Secret as strings.
pub(crate) type Data = BTreeMap<String, String>;

/// Which kind of object a reference names; drives the error texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceKind {
    ConfigMap,
    Secret,
}

/// Caches lookups so that each object is converted once per container,
/// like the kubelet's per-call `configMaps` / `secrets` maps.
pub(crate) struct Sources<'c, 'a> {
    ctx: &'c EnvContext<'a>,
    namespace: String,
    config_maps: BTreeMap<String, Data>,
    secrets: BTreeMap<String, Data>,
}

impl<'c, 'a> Sources<'c, 'a> {
    pub(crate) fn new(ctx: &'c EnvContext<'a>) -> Self {
        Sources {
            ctx,
            namespace: namespace_of(&ctx.pod.metadata).to_owned(),
            config_maps: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }
    }

    /// The object's data, `Ok(None)` when it is missing and `optional`.
    pub(crate) fn get(
        &mut self,
        kind: SourceKind,
        name: &str,
        optional: bool,
    ) -> Result<Option<&Data>, EnvError> {
        let cache = match kind {
            SourceKind::ConfigMap => &mut self.config_maps,
            SourceKind::Secret => &mut self.secrets,
        };
        if !cache.contains_key(name) {
            let found = match kind {
                SourceKind::ConfigMap => {
                    find_config_map(self.ctx.config_maps, &self.namespace, name)
                        .map(config_map_data)
                }
                SourceKind::Secret => {
                    find_secret(self.ctx.secrets, &self.namespace, name).map(secret_data)
                }
            };
            match found {
                Some(data) => {
                    cache.insert(name.to_owned(), data);
                }
                None if optional => return Ok(None),
                None => {
                    return Err(match kind {
                        SourceKind::ConfigMap => EnvError::ConfigMapNotFound {
                            name: name.to_owned(),
                        },
                        SourceKind::Secret => EnvError::SecretNotFound {
                            name: name.to_owned(),
                        },
                    });
                }
            }
        }
        Ok(cache.get(name))
    }

    /// One key of an object: `Ok(None)` when the object or key is missing
    /// and the reference is optional.
    pub(crate) fn key(
        &mut self,
        kind: SourceKind,
        name: &str,
        key: &str,
        optional: bool,
    ) -> Result<Option<String>, EnvError> {
        let namespace = self.namespace.clone();
        let Some(data) = self.get(kind, name, optional)? else {
            return Ok(None);
        };
        match data.get(key) {
            Some(value) => Ok(Some(value.clone())),
            None if optional => Ok(None),
            None => {
                let (key, name) = (key.to_owned(), name.to_owned());
                Err(match kind {
                    SourceKind::ConfigMap => EnvError::ConfigMapKeyNotFound {
                        key,
                        namespace,
                        name,
                    },
                    SourceKind::Secret => EnvError::SecretKeyNotFound {
                        key,
                        namespace,
                        name,
                    },
                })
            }
        }
    }
}

fn find_config_map<'x>(all: &'x [ConfigMap], namespace: &str, name: &str) -> Option<&'x ConfigMap> {
    // Last one wins, as a later manifest entry replaces an earlier one.
    all.iter().rev().find(|c| {
        c.metadata.name.as_deref() == Some(name) && namespace_of(&c.metadata) == namespace
    })
}

fn find_secret<'x>(all: &'x [Secret], namespace: &str, name: &str) -> Option<&'x Secret> {
    all.iter().rev().find(|s| {
        s.metadata.name.as_deref() == Some(name) && namespace_of(&s.metadata) == namespace
    })
}

/// Only `data` is used for the environment; `binaryData` never is (upstream
/// reads `configMap.Data`).
fn config_map_data(config_map: &ConfigMap) -> Data {
    config_map.data.clone().unwrap_or_default()
}

/// `data` decoded as UTF-8 (lossily, where the kubelet's `string(bytes)`
/// would pass invalid bytes through), overlaid with `stringData` the way
/// the API server merges it on write.
fn secret_data(secret: &Secret) -> Data {
    let mut data: Data = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    if let Some(string_data) = &secret.string_data {
        data.extend(string_data.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    data
}
