//! What every namespace holds from its start in a cluster: the `default`
//! ServiceAccount (made by the service account controller) and the
//! `kube-root-ca.crt` ConfigMap with the cluster CA (made by the root CA
//! publisher). nodelet has no controllers and namespaces exist implicitly,
//! so the API makes them when a namespace is first used or read.

use std::sync::Mutex;

use nodelet_spec::admission::service_account::DEFAULT_SERVICE_ACCOUNT;
use nodelet_spec::volume::ROOT_CA_CONFIG_MAP;
use nodelet_store::Store;
use serde_json::{Value, json};

use crate::error::ApiError;

/// The `default` ServiceAccount of `ns` as the controller creates it.
pub fn default_service_account(ns: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": ns,
                     "uid": uuid::Uuid::new_v4().to_string(),
                     "creationTimestamp": jiff::Timestamp::now().to_string()}
    })
}

fn root_ca(ns: &str, ca_pem: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": ROOT_CA_CONFIG_MAP, "namespace": ns,
                     "uid": uuid::Uuid::new_v4().to_string(),
                     "creationTimestamp": jiff::Timestamp::now().to_string(),
                     "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
        "data": {"ca.crt": ca_pem}
    })
}

/// Makes the per-namespace objects exist (restoring them when deleted, as
/// the controllers would).
pub struct NamespaceDefaults {
    ca_pem: String,
    /// Serialises the check-then-create of concurrent requests.
    lock: Mutex<()>,
}

impl NamespaceDefaults {
    pub fn new(ca_pem: String) -> Self {
        NamespaceDefaults {
            ca_pem,
            lock: Mutex::new(()),
        }
    }

    pub fn ensure(&self, store: &Store, ns: &str) -> Result<(), ApiError> {
        let err = |e: nodelet_store::StoreError| ApiError::internal(e.to_string());
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if store
            .get_object("ServiceAccount", ns, DEFAULT_SERVICE_ACCOUNT)
            .map_err(err)?
            .is_none()
        {
            store
                .put_object(
                    "ServiceAccount",
                    ns,
                    DEFAULT_SERVICE_ACCOUNT,
                    &default_service_account(ns),
                )
                .map_err(err)?;
        }
        let current = store
            .get_object("ConfigMap", ns, ROOT_CA_CONFIG_MAP)
            .map_err(err)?;
        let stale = match &current {
            None => true,
            Some((v, _)) => v["data"]["ca.crt"].as_str() != Some(self.ca_pem.as_str()),
        };
        if stale {
            let mut cm = root_ca(ns, &self.ca_pem);
            if let Some((old, _)) = current {
                cm["metadata"]["uid"] = old["metadata"]["uid"].clone();
                cm["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"].clone();
            }
            store
                .put_object("ConfigMap", ns, ROOT_CA_CONFIG_MAP, &cm)
                .map_err(err)?;
        }
        Ok(())
    }
}
