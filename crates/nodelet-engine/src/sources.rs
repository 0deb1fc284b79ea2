//! The lookup seam: the objects a pod's containers depend on but that are
//! not the pod itself (ConfigMaps and Secrets for environment, volumes and
//! image pull credentials; Services for the service-link variables).
//!
//! This is the kubelet's `configmap.Manager` / `secret.Manager` /
//! service lister behind an interface: in standalone mode the objects live
//! in nodelet's own store ([`StoreSources`]); in node mode they come from
//! the cluster's API server (watch-backed caches). The engine never knows
//! which, so the same worker code serves both doors.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use nodelet_store::Store;
use serde::de::DeserializeOwned;

/// A lookup that could not be answered (the object's absence is `Ok(None)`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

#[async_trait]
pub trait Sources: Send + Sync + 'static {
    /// The ConfigMap `namespace/name`, `None` when it does not exist.
    async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ConfigMap>, SourceError>;

    /// The Secret `namespace/name`, `None` when it does not exist.
    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, SourceError>;

    /// Every Service the node knows, of any namespace (the kubelet's
    /// service lister: `default`'s services are linked into every pod).
    async fn services(&self) -> Result<Vec<Service>, SourceError>;
}

/// Standalone mode: the objects the embedded API stored.
pub struct StoreSources {
    store: Arc<Store>,
}

impl StoreSources {
    pub fn new(store: Arc<Store>) -> Self {
        StoreSources { store }
    }

    fn get<T: DeserializeOwned>(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<T>, SourceError> {
        let found = self
            .store
            .get_object(kind, namespace, name)
            .map_err(|e| SourceError(format!("reading {kind} {namespace}/{name}: {e}")))?;
        found
            .map(|(v, _)| serde_json::from_value(v))
            .transpose()
            .map_err(|e| SourceError(format!("decoding {kind} {namespace}/{name}: {e}")))
    }
}

#[async_trait]
impl Sources for StoreSources {
    async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ConfigMap>, SourceError> {
        self.get("ConfigMap", namespace, name)
    }

    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, SourceError> {
        self.get("Secret", namespace, name)
    }

    async fn services(&self) -> Result<Vec<Service>, SourceError> {
        let list = self
            .store
            .list_objects("Service", None)
            .map_err(|e| SourceError(format!("listing services: {e}")))?;
        Ok(list
            .into_iter()
            .filter_map(|(v, _)| serde_json::from_value(v).ok())
            .collect())
    }
}

/// The names of the ConfigMaps and Secrets a container's environment
/// refers to (`env[].valueFrom` and `envFrom`), so that only those are
/// looked up.
pub fn env_references(c: &k8s_openapi::api::core::v1::Container) -> (Vec<String>, Vec<String>) {
    let mut config_maps = Vec::new();
    let mut secrets = Vec::new();
    for e in c.env.iter().flatten() {
        if let Some(from) = &e.value_from {
            if let Some(r) = &from.config_map_key_ref {
                config_maps.push(r.name.clone());
            }
            if let Some(r) = &from.secret_key_ref {
                secrets.push(r.name.clone());
            }
        }
    }
    for f in c.env_from.iter().flatten() {
        if let Some(r) = &f.config_map_ref {
            config_maps.push(r.name.clone());
        }
        if let Some(r) = &f.secret_ref {
            secrets.push(r.name.clone());
        }
    }
    config_maps.sort();
    config_maps.dedup();
    secrets.sort();
    secrets.dedup();
    (config_maps, secrets)
}
