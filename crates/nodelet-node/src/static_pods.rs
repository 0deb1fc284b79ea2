//! Static pods (`--pod-manifest-path`, the kubelet's file config source
//! `pkg/kubelet/config/file.go` and mirror client `pod/mirror_client.go`):
//! every manifest file in the directory (names starting with `.` are
//! skipped) runs as a pod of this node, through the same engine door as
//! any other pod, with what the kubelet gives a static pod: name
//! `<name>-<node>`, `spec.nodeName`, a uid hashed from the manifest and
//! the node, and the `kubernetes.io/config.{hash,seen,source}` annotations.
//!
//! Its reflection in the API server is a mirror pod: the same pod with
//! `kubernetes.io/config.mirror: <hash>` and the Node as owner (what
//! NodeRestriction lets a node create). Its status is reported on the
//! mirror ([`crate::pods::status`]); a deleted mirror is created again.
//! The directory is watched (inotify): a changed manifest is a new pod
//! (the old one is stopped first), a removed one stops its pod and
//! deletes its mirror.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use nodelet_engine::Engine;
use nodelet_spec::Object;
use notify::Watcher;
use sha2::Digest;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::error::api_code;
use crate::pods::source::MIRROR_ANNOTATION;
use crate::pods::view::{ApiPods, Key, key_of};

pub const HASH_ANNOTATION: &str = "kubernetes.io/config.hash";
pub const SEEN_ANNOTATION: &str = "kubernetes.io/config.seen";
pub const SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";

/// Re-reading the directory waits this long after a change settles, so an
/// editor's write-then-rename is read once.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// A static pod made from a manifest, as the kubelet's `applyDefaults`.
pub fn static_pod(mut pod: Pod, manifest: &[u8], source: &Path, node: &str) -> Pod {
    nodelet_spec::defaults::default_pod(&mut pod);
    let name = pod.metadata.name.clone().unwrap_or_default();
    pod.metadata.name = Some(format!("{name}-{}", node.to_lowercase()));
    let mut h = sha2::Sha256::new();
    h.update(manifest);
    h.update(node.as_bytes());
    h.update(source.as_os_str().as_encoded_bytes());
    let hash = hex::encode(h.finalize())[..32].to_string();
    pod.metadata.uid = Some(hash.clone());
    let ann = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    ann.insert(HASH_ANNOTATION.into(), hash);
    ann.insert(SEEN_ANNOTATION.into(), Timestamp::now().to_string());
    ann.insert(SOURCE_ANNOTATION.into(), "file".into());
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_name = Some(node.to_owned());
    }
    pod.status = None;
    pod
}

/// The mirror of a static pod (`CreateMirrorPod`).
pub fn mirror_of(pod: &Pod, node: &str, node_uid: &str) -> Pod {
    let mut m = pod.clone();
    let hash = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(HASH_ANNOTATION).cloned())
        .unwrap_or_default();
    m.metadata.uid = None;
    m.metadata.resource_version = None;
    m.metadata.creation_timestamp = None;
    m.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(MIRROR_ANNOTATION.into(), hash);
    m.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: node.to_owned(),
        uid: node_uid.to_owned(),
        controller: Some(true),
        ..Default::default()
    }]);
    m.status = None;
    m
}

/// Reads every manifest of `dir` into static pods, keyed by pod key;
/// unreadable or invalid files are logged and skipped, as the kubelet.
pub fn read_dir(dir: &Path, node: &str) -> HashMap<Key, Pod> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    files.sort();
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let manifests = match nodelet_spec::load::load_bytes(&f.display().to_string(), &bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(file = %f.display(), "static pod manifest: {e}");
                continue;
            }
        };
        for m in manifests {
            let Object::Pod(pod) = m.object else {
                tracing::warn!(file = %f.display(), "static pod manifest: only pods are run from a manifest directory");
                continue;
            };
            let pod = static_pod(*pod, &bytes, &f, node);
            let errs = nodelet_spec::validate::validate_pod(&pod);
            if !errs.is_empty() {
                tracing::warn!(file = %f.display(), "static pod manifest: {errs}");
                continue;
            }
            out.insert(key_of(&pod), pod);
        }
    }
    out
}

fn hash_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(HASH_ANNOTATION)
        .map(String::as_str)
}

pub struct StaticPods {
    pub dir: PathBuf,
    pub node: String,
    pub engine: Arc<Engine>,
    pub client: kube::Client,
    pub view: ApiPods,
    pub node_uid: watch::Receiver<Option<String>>,
    /// Mirror pods the API server no longer has (from the pod watch).
    pub mirror_gone: mpsc::UnboundedReceiver<Key>,
}

impl StaticPods {
    pub async fn run(mut self, stop: CancellationToken) {
        // Pods change only once the engine re-adopted the stored ones.
        tokio::select! {
            () = stop.cancelled() => return,
            () = self.engine.adopted() => {}
        }
        let (tx, mut changed) = mpsc::channel::<()>(1);
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.is_ok_and(|e| !e.kind.is_access()) {
                let _ = tx.try_send(());
            }
        })
        .ok();
        if let Some(w) = watcher.as_mut()
            && let Err(e) = w.watch(&self.dir, notify::RecursiveMode::NonRecursive)
        {
            tracing::warn!(dir = %self.dir.display(), "watching the static pod directory: {e}");
        }
        let mut current: HashMap<Key, Pod> = HashMap::new();
        self.reload(&mut current).await;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                Some(()) = changed.recv() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    while changed.try_recv().is_ok() {}
                    self.reload(&mut current).await;
                }
                Some(key) = self.mirror_gone.recv() => {
                    if let Some(pod) = current.get(&key) {
                        self.ensure_mirror(pod).await;
                    }
                }
                r = self.node_uid.changed() => {
                    if r.is_err() {
                        return;
                    }
                    // Registered (again): mirrors need the Node as owner.
                    for pod in current.values() {
                        self.ensure_mirror(pod).await;
                    }
                }
            }
        }
    }

    /// Brings the engine and the mirrors in line with the directory.
    async fn reload(&self, current: &mut HashMap<Key, Pod>) {
        let wanted = read_dir(&self.dir, &self.node);
        for (key, old) in current.iter() {
            let same = wanted.get(key).is_some_and(|p| hash_of(p) == hash_of(old));
            if !same {
                tracing::info!(pod = %key.1, "static pod manifest changed or removed; stopping the pod");
                let _ = self.engine.delete_pod(&key.0, &key.1, None);
                self.delete_mirror(key).await;
            }
        }
        for (key, pod) in &wanted {
            let same = current.get(key).is_some_and(|p| hash_of(p) == hash_of(pod));
            if same {
                continue;
            }
            let engine = self.engine.clone();
            let pod2 = pod.clone();
            let key2 = key.clone();
            // The previous version must be gone before the new one starts
            // (pods are keyed by name in the engine).
            tokio::spawn(async move {
                engine.wait_pod_gone(&key2.0, &key2.1).await;
                if let Err(e) = engine.apply(vec![Object::Pod(Box::new(pod2))]) {
                    tracing::warn!(pod = %key2.1, error = %e, "starting static pod");
                }
            });
            self.ensure_mirror(pod).await;
        }
        *current = wanted;
    }

    async fn ensure_mirror(&self, pod: &Pod) {
        let Some(node_uid) = self.node_uid.borrow().clone() else {
            return;
        };
        let key = key_of(pod);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &key.0);
        let mirror = mirror_of(pod, &self.node, &node_uid);
        match api.create(&PostParams::default(), &mirror).await {
            Ok(_) => {}
            Err(e) if api_code(&e) == Some(409) => {
                // One exists: keep it if it mirrors this version and is not
                // being deleted (the kubelet's SyncPod: a mirror with a
                // deletionTimestamp is deleted at once and created again).
                if let Ok(existing) = api.get(&key.1).await {
                    let theirs = existing
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(MIRROR_ANNOTATION));
                    if theirs.map(String::as_str) != hash_of(pod)
                        || existing.metadata.deletion_timestamp.is_some()
                    {
                        self.delete_mirror_uid(&key, existing.metadata.uid.clone())
                            .await;
                        if let Err(e) = api.create(&PostParams::default(), &mirror).await {
                            tracing::warn!(pod = %key.1, error = %e, "creating the mirror pod");
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(pod = %key.1, error = %e, "creating the mirror pod"),
        }
    }

    async fn delete_mirror(&self, key: &Key) {
        let uid = self.view.get(key).map(|p| p.uid);
        self.delete_mirror_uid(key, uid).await;
    }

    /// Deletes the mirror with grace 0, only the one of `uid` when known.
    async fn delete_mirror_uid(&self, key: &Key, uid: Option<String>) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &key.0);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: uid.map(|u| Preconditions {
                uid: Some(u),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&key.1, &dp).await {
            Ok(_) => {}
            Err(e) if matches!(api_code(&e), Some(404) | Some(409)) => {}
            Err(e) => tracing::warn!(pod = %key.1, error = %e, "deleting the mirror pod"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    image: nodelet.local/busybox\n";

    #[test]
    fn static_pods_are_named_and_annotated_as_the_kubelets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web.yaml"), MANIFEST).unwrap();
        std::fs::write(dir.path().join(".hidden.yaml"), MANIFEST).unwrap();
        let pods = read_dir(dir.path(), "Node-1");
        assert_eq!(pods.len(), 1);
        let p = pods.values().next().unwrap();
        assert_eq!(p.metadata.name.as_deref(), Some("web-node-1"));
        assert_eq!(p.metadata.namespace.as_deref(), Some("default"));
        let ann = p.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann[SOURCE_ANNOTATION], "file");
        assert_eq!(Some(&ann[HASH_ANNOTATION]), p.metadata.uid.as_ref());
        assert_eq!(
            p.spec.as_ref().unwrap().node_name.as_deref(),
            Some("Node-1")
        );
        assert!(nodelet_engine::status::is_static(p));

        let again = read_dir(dir.path(), "Node-1");
        assert_eq!(
            hash_of(again.values().next().unwrap()),
            hash_of(p),
            "stable hash"
        );
        std::fs::write(
            dir.path().join("web.yaml"),
            MANIFEST.replace("busybox", "testbin"),
        )
        .unwrap();
        let changed = read_dir(dir.path(), "Node-1");
        assert_ne!(hash_of(changed.values().next().unwrap()), hash_of(p));
    }

    #[test]
    fn mirror_carries_the_hash_and_the_node_as_owner() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web.yaml"), MANIFEST).unwrap();
        let pods = read_dir(dir.path(), "n");
        let p = pods.values().next().unwrap();
        let m = mirror_of(p, "n", "node-uid");
        assert_eq!(m.metadata.uid, None);
        let ann = m.metadata.annotations.as_ref().unwrap();
        assert_eq!(Some(&ann[MIRROR_ANNOTATION]), p.metadata.uid.as_ref());
        let owner = &m.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("Node", "n", "node-uid")
        );
    }
}
