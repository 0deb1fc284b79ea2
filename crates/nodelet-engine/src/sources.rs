//! The lookup seam: the objects a pod's containers depend on but that are
//! not the pod itself (ConfigMaps and Secrets for environment, volumes and
//! image pull credentials; Services for the service-link variables;
//! service account tokens for projected volumes), and notice of their
//! changes so mounted files follow them.
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
use tokio::sync::broadcast;

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

    /// A service account token, as the API's TokenRequest
    /// (`serviceaccounts/<name>/token`) issues it: in node mode that call
    /// itself, in standalone mode nodelet's own issuer.
    async fn service_account_token(&self, req: &TokenRequest) -> Result<TokenGrant, SourceError>;

    /// ConfigMap and Secret changes from now on (the kubelet's watch-based
    /// managers), so mounted files follow them without polling. A lagging
    /// receiver should re-read everything it uses.
    fn changes(&self) -> broadcast::Receiver<ObjectChange>;
}

/// A ConfigMap or Secret that was created, changed or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectChange {
    /// `ConfigMap` or `Secret`.
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

/// The object a token is bound to (`TokenRequestSpec.boundObjectRef`): the
/// token stops being valid when that pod is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundPod {
    pub name: String,
    pub uid: String,
}

/// `TokenRequest` (authentication.k8s.io/v1) for one service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub namespace: String,
    pub service_account: String,
    /// Empty: the API server's own audience.
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
    pub bound_pod: Option<BoundPod>,
}

/// `TokenRequestStatus`: the token and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub token: String,
    pub expiration: jiff::Timestamp,
}

/// What issues tokens in standalone mode (nodelet's API provides it; the
/// engine must not depend on the API crate, so it is passed in at wiring).
#[async_trait]
pub trait TokenIssuer: Send + Sync + 'static {
    async fn issue(&self, req: &TokenRequest) -> Result<TokenGrant, SourceError>;
}

/// How many changes a slow subscriber may fall behind before it re-reads.
const CHANGES_CAPACITY: usize = 1024;

/// Standalone mode: the objects the embedded API stored.
pub struct StoreSources {
    store: Arc<Store>,
    tokens: Option<Arc<dyn TokenIssuer>>,
    changes: broadcast::Sender<ObjectChange>,
}

impl StoreSources {
    /// Objects from `store`; no token issuer (token requests fail, saying
    /// so).
    pub fn new(store: Arc<Store>) -> Self {
        let (changes, _) = broadcast::channel(CHANGES_CAPACITY);
        let tx = changes.clone();
        store.observe(Arc::new(move |r: &nodelet_store::ObjectRef| {
            let kind = match r.kind.as_str() {
                "ConfigMap" => "ConfigMap",
                "Secret" => "Secret",
                _ => return,
            };
            let _ = tx.send(ObjectChange {
                kind,
                namespace: r.namespace.clone(),
                name: r.name.clone(),
            });
        }));
        StoreSources {
            store,
            tokens: None,
            changes,
        }
    }

    /// Tokens from `issuer` (nodelet's API, wired in by the binary).
    pub fn with_token_issuer(mut self, issuer: Arc<dyn TokenIssuer>) -> Self {
        self.tokens = Some(issuer);
        self
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

    async fn service_account_token(&self, req: &TokenRequest) -> Result<TokenGrant, SourceError> {
        match &self.tokens {
            Some(t) => t.issue(req).await,
            None => Err(SourceError(
                "no service account token issuer: tokens are issued by nodelet's API (nodelet serve/run)"
                    .into(),
            )),
        }
    }

    fn changes(&self) -> broadcast::Receiver<ObjectChange> {
        self.changes.subscribe()
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
