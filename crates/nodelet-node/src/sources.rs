//! The engine's lookups in node mode ([`nodelet_engine::sources::Sources`]
//! over the API server), as the kubelet's watch-based managers
//! (`pkg/kubelet/util/manager/watch_based_manager.go`): each ConfigMap and
//! Secret a pod on this node refers to is watched on its own (a list/watch
//! with `metadata.name=<name>` in its namespace, which is what the Node
//! authorizer lets a node read: only objects its pods reference), from the
//! moment the pod is registered until the last pod referring to it is
//! gone. Lookups are then answered from the watch's cache, and each change
//! a watch sees is announced on [`Sources::changes`] so mounted files follow
//! it. Services (for the service-link variables) come from one watch of
//! every Service, as the kubelet's service lister. Service account tokens
//! are the API server's: a TokenRequest (`serviceaccounts/<name>/token`,
//! bound to the pod), as the kubelet's token manager asks for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::api::authentication::v1 as authn;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use nodelet_engine::sources::{
    ObjectChange, SourceError, Sources, TokenGrant, TokenRequest, env_references,
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::error::is_not_found;

/// How long a lookup waits for a new watch's first list (the kubelet
/// polls a second, then fails the sync and retries it later).
const SYNC_WAIT: Duration = Duration::from_secs(5);

type Key = (String, String);

struct Watched<K: kube::Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    stop: CancellationToken,
    refs: usize,
}

/// What one pod refers to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refs {
    pub config_maps: Vec<Key>,
    pub secrets: Vec<Key>,
}

/// The ConfigMaps and Secrets a pod needs: environment, volumes
/// (configMap, secret, projected) and image pull secrets.
pub fn pod_refs(pod: &Pod) -> Refs {
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let mut r = Refs::default();
    let Some(spec) = &pod.spec else { return r };
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    for c in containers {
        let (cms, secrets) = env_references(c);
        r.config_maps
            .extend(cms.into_iter().map(|n| (ns.clone(), n)));
        r.secrets
            .extend(secrets.into_iter().map(|n| (ns.clone(), n)));
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            r.config_maps.push((ns.clone(), cm.name.clone()));
        }
        if let Some(name) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            r.secrets.push((ns.clone(), name));
        }
        for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &p.config_map {
                r.config_maps.push((ns.clone(), cm.name.clone()));
            }
            if let Some(s) = &p.secret {
                r.secrets.push((ns.clone(), s.name.clone()));
            }
        }
    }
    for s in spec.image_pull_secrets.iter().flatten() {
        r.secrets.push((ns.clone(), s.name.clone()));
    }
    r.config_maps.sort();
    r.config_maps.dedup();
    r.secrets.sort();
    r.secrets.dedup();
    r
}

pub struct NodeSources {
    client: kube::Client,
    config_maps: Mutex<HashMap<Key, Watched<ConfigMap>>>,
    secrets: Mutex<HashMap<Key, Watched<Secret>>>,
    pods: Mutex<HashMap<String, Refs>>,
    services: Store<Service>,
    changes: broadcast::Sender<ObjectChange>,
    stop: CancellationToken,
}

/// How many changes a slow subscriber may fall behind before it re-reads.
const CHANGES_CAPACITY: usize = 1024;

/// Where a watch announces what it sees: the kind's name and the channel.
type Announce = Option<(&'static str, broadcast::Sender<ObjectChange>)>;

/// The change a watch event is, if it is one (an object listed, added,
/// modified or deleted; list boundaries are not).
fn change_of<K: kube::Resource>(
    kind: &'static str,
    ev: &watcher::Event<K>,
) -> Option<ObjectChange> {
    match ev {
        watcher::Event::Apply(o) | watcher::Event::Delete(o) | watcher::Event::InitApply(o) => {
            let m = o.meta();
            Some(ObjectChange {
                kind,
                namespace: m.namespace.clone().unwrap_or_default(),
                name: m.name.clone().unwrap_or_default(),
            })
        }
        watcher::Event::Init | watcher::Event::InitDone => None,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts a reflector of `api` narrowed by `cfg`; it runs until `stop`,
/// announcing each object it sees on `announce`.
fn spawn_reflector<K>(
    api: Api<K>,
    cfg: watcher::Config,
    stop: CancellationToken,
    announce: Announce,
) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, cfg).default_backoff());
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                ev = stream.next() => match ev {
                    None => return,
                    Some(Err(e)) => tracing::debug!(error = %e, "lookup watch"),
                    Some(Ok(ev)) => {
                        if let Some((kind, tx)) = &announce
                            && let Some(c) = change_of(kind, &ev)
                        {
                            // No subscriber yet is fine: nothing to follow.
                            let _ = tx.send(c);
                        }
                    }
                },
            }
        }
    });
    store
}

impl NodeSources {
    /// Starts the Service watch. Must run inside a tokio runtime.
    pub fn new(client: kube::Client) -> Arc<Self> {
        let stop = CancellationToken::new();
        let services = spawn_reflector(
            Api::<Service>::all(client.clone()),
            watcher::Config::default(),
            stop.child_token(),
            None,
        );
        let (changes, _) = broadcast::channel(CHANGES_CAPACITY);
        Arc::new(NodeSources {
            client,
            config_maps: Mutex::new(HashMap::new()),
            secrets: Mutex::new(HashMap::new()),
            pods: Mutex::new(HashMap::new()),
            services,
            changes,
            stop,
        })
    }

    /// Stops every watch.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// Starts watching what `pod` refers to (`RegisterPod`). Idempotent.
    pub fn register_pod(&self, pod: &Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let refs = pod_refs(pod);
        let old = lock(&self.pods).insert(uid, refs.clone());
        if old.as_ref() == Some(&refs) {
            return;
        }
        self.acquire(&refs);
        if let Some(old) = old {
            self.release(&old);
        }
    }

    /// Stops watching what only the pod `uid` referred to (`UnregisterPod`).
    pub fn unregister_pod(&self, uid: &str) {
        if let Some(refs) = lock(&self.pods).remove(uid) {
            self.release(&refs);
        }
    }

    fn acquire(&self, refs: &Refs) {
        let mut cms = lock(&self.config_maps);
        for (ns, name) in &refs.config_maps {
            let w = cms.entry((ns.clone(), name.clone())).or_insert_with(|| {
                let stop = self.stop.child_token();
                Watched {
                    store: spawn_reflector(
                        Api::<ConfigMap>::namespaced(self.client.clone(), ns),
                        watcher::Config::default().fields(&format!("metadata.name={name}")),
                        stop.clone(),
                        Some(("ConfigMap", self.changes.clone())),
                    ),
                    stop,
                    refs: 0,
                }
            });
            w.refs += 1;
        }
        drop(cms);
        let mut secrets = lock(&self.secrets);
        for (ns, name) in &refs.secrets {
            let w = secrets
                .entry((ns.clone(), name.clone()))
                .or_insert_with(|| {
                    let stop = self.stop.child_token();
                    Watched {
                        store: spawn_reflector(
                            Api::<Secret>::namespaced(self.client.clone(), ns),
                            watcher::Config::default().fields(&format!("metadata.name={name}")),
                            stop.clone(),
                            Some(("Secret", self.changes.clone())),
                        ),
                        stop,
                        refs: 0,
                    }
                });
            w.refs += 1;
        }
    }

    fn release(&self, refs: &Refs) {
        fn drop_refs<K: kube::Resource<DynamicType = ()> + Clone>(
            map: &mut HashMap<Key, Watched<K>>,
            keys: &[Key],
        ) {
            for k in keys {
                if let Some(w) = map.get_mut(k) {
                    w.refs = w.refs.saturating_sub(1);
                    if w.refs == 0 {
                        w.stop.cancel();
                        map.remove(k);
                    }
                }
            }
        }
        drop_refs(&mut lock(&self.config_maps), &refs.config_maps);
        drop_refs(&mut lock(&self.secrets), &refs.secrets);
    }

    /// Objects currently watched: (config maps, secrets).
    pub fn watched(&self) -> (usize, usize) {
        (lock(&self.config_maps).len(), lock(&self.secrets).len())
    }
}

/// Reads `key` from its watch's cache once it has listed, or with a GET
/// when no registered pod refers to it.
async fn lookup<K>(
    watched: Option<Store<K>>,
    api: Api<K>,
    kind: &str,
    key: &Key,
) -> Result<Option<K>, SourceError>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    match watched {
        Some(store) => {
            match tokio::time::timeout(SYNC_WAIT, store.wait_until_ready()).await {
                Ok(Ok(())) => {}
                _ => {
                    return Err(SourceError(format!(
                        "failed to sync {kind} cache: timed out waiting for the condition"
                    )));
                }
            }
            Ok(store
                .get(&ObjectRef::new(&key.1).within(&key.0))
                .map(|o| (*o).clone()))
        }
        None => match api.get(&key.1).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(SourceError(format!(
                "getting {kind} {}/{}: {e}",
                key.0, key.1
            ))),
        },
    }
}

#[async_trait]
impl Sources for NodeSources {
    async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ConfigMap>, SourceError> {
        let key = (namespace.to_owned(), name.to_owned());
        let store = lock(&self.config_maps).get(&key).map(|w| w.store.clone());
        let api = Api::namespaced(self.client.clone(), namespace);
        lookup(store, api, "configmap", &key).await
    }

    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, SourceError> {
        let key = (namespace.to_owned(), name.to_owned());
        let store = lock(&self.secrets).get(&key).map(|w| w.store.clone());
        let api = Api::namespaced(self.client.clone(), namespace);
        lookup(store, api, "secret", &key).await
    }

    async fn services(&self) -> Result<Vec<Service>, SourceError> {
        match tokio::time::timeout(SYNC_WAIT, self.services.wait_until_ready()).await {
            Ok(Ok(())) => Ok(self
                .services
                .state()
                .iter()
                .map(|s| (**s).clone())
                .collect()),
            _ => Err(SourceError(
                "services have not yet been read at least once, cannot construct envvars".into(),
            )),
        }
    }

    async fn service_account_token(&self, req: &TokenRequest) -> Result<TokenGrant, SourceError> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &req.namespace);
        let tr: authn::TokenRequest = api
            .create_subresource(
                "token",
                &req.service_account,
                &PostParams::default(),
                &token_request(req),
            )
            .await
            .map_err(|e| {
                SourceError(format!(
                    "failed to fetch token: serviceaccounts \"{}\" token in namespace {}: {e}",
                    req.service_account, req.namespace
                ))
            })?;
        grant_of(tr).map_err(|m| {
            SourceError(format!(
                "failed to fetch token for service account {}/{}: {m}",
                req.namespace, req.service_account
            ))
        })
    }

    fn changes(&self) -> broadcast::Receiver<ObjectChange> {
        self.changes.subscribe()
    }
}

/// The TokenRequest body the kubelet's token manager sends: audiences (none:
/// the API server's), the lifetime, and the pod it is bound to (the Node
/// authorizer lets a node ask only for tokens bound to its own pods).
fn token_request(req: &TokenRequest) -> authn::TokenRequest {
    authn::TokenRequest {
        metadata: Default::default(),
        spec: Some(authn::TokenRequestSpec {
            audiences: Some(req.audiences.clone()),
            expiration_seconds: Some(req.expiration_seconds),
            bound_object_ref: req.bound_pod.as_ref().map(|p| authn::BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(p.name.clone()),
                uid: Some(p.uid.clone()),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

/// The token and its expiry from the API server's answer.
fn grant_of(tr: authn::TokenRequest) -> Result<TokenGrant, String> {
    let status = tr
        .status
        .ok_or("the API server's TokenRequest has no status")?;
    let token = status
        .token
        .filter(|t| !t.is_empty())
        .ok_or("the API server returned no token")?;
    let expiration = status
        .expiration_timestamp
        .ok_or("the API server's TokenRequest has no expirationTimestamp")?;
    Ok(TokenGrant {
        token,
        expiration: expiration.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_cover_env_volumes_and_pull_secrets() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {
                "imagePullSecrets": [{"name": "pull"}],
                "containers": [{
                    "name": "c",
                    "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm1", "key": "k"}}}],
                    "envFrom": [{"secretRef": {"name": "s1"}}]
                }],
                "volumes": [
                    {"name": "v1", "configMap": {"name": "cm2"}},
                    {"name": "v2", "secret": {"secretName": "s2"}},
                    {"name": "v3", "projected": {"sources": [
                        {"configMap": {"name": "kube-root-ca.crt"}},
                        {"serviceAccountToken": {"path": "token"}}
                    ]}}
                ]
            }
        }))
        .unwrap();
        let r = pod_refs(&pod);
        fn names(v: &[Key]) -> Vec<&str> {
            v.iter().map(|(_, n)| n.as_str()).collect()
        }
        assert_eq!(names(&r.config_maps), ["cm1", "cm2", "kube-root-ca.crt"]);
        assert_eq!(names(&r.secrets), ["pull", "s1", "s2"]);
        assert!(r.config_maps.iter().all(|(ns, _)| ns == "ns"));
    }

    #[test]
    fn token_request_is_bound_to_the_pod() {
        let req = TokenRequest {
            namespace: "ns".into(),
            service_account: "default".into(),
            audiences: vec!["vault".into()],
            expiration_seconds: 3607,
            bound_pod: Some(nodelet_engine::sources::BoundPod {
                name: "p".into(),
                uid: "u-1".into(),
            }),
        };
        let body = serde_json::to_value(token_request(&req)).unwrap();
        assert_eq!(
            body["spec"],
            serde_json::json!({
                "audiences": ["vault"],
                "expirationSeconds": 3607,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u-1"}
            })
        );
        // No audience asked: the API server's own (an empty list).
        let own = TokenRequest {
            audiences: vec![],
            bound_pod: None,
            ..req
        };
        let body = serde_json::to_value(token_request(&own)).unwrap();
        assert_eq!(body["spec"]["audiences"], serde_json::json!([]));
        assert!(body["spec"].get("boundObjectRef").is_none());
    }

    #[test]
    fn grant_takes_the_token_and_its_expiry() {
        let tr: authn::TokenRequest = serde_json::from_value(serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": []},
            "status": {"token": "t0k", "expirationTimestamp": "2026-12-03T10:00:00Z"}
        }))
        .unwrap();
        let g = grant_of(tr).unwrap();
        assert_eq!(g.token, "t0k");
        assert_eq!(g.expiration.to_string(), "2026-12-03T10:00:00Z");
        let empty: authn::TokenRequest = serde_json::from_value(serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": []}
        }))
        .unwrap();
        assert!(grant_of(empty).unwrap_err().contains("no status"));
    }

    #[test]
    fn watch_events_are_changes_list_boundaries_are_not() {
        let cm: ConfigMap = serde_json::from_value(
            serde_json::json!({"metadata": {"name": "cm", "namespace": "ns"}}),
        )
        .unwrap();
        let want = Some(ObjectChange {
            kind: "ConfigMap",
            namespace: "ns".into(),
            name: "cm".into(),
        });
        assert_eq!(
            change_of("ConfigMap", &watcher::Event::Apply(cm.clone())),
            want
        );
        assert_eq!(
            change_of("ConfigMap", &watcher::Event::Delete(cm.clone())),
            want
        );
        assert_eq!(change_of("ConfigMap", &watcher::Event::InitApply(cm)), want);
        assert_eq!(
            change_of::<ConfigMap>("ConfigMap", &watcher::Event::Init),
            None
        );
        assert_eq!(
            change_of::<ConfigMap>("ConfigMap", &watcher::Event::InitDone),
            None
        );
    }
}
