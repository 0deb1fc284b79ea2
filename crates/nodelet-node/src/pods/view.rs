//! What node mode last saw of each pod bound to it in the API server: its
//! uid, whether it is being deleted, its status there. Written by the pod
//! watch ([`super::source`]), read by the status reporter
//! ([`super::status`]) to know which API object an engine pod is, whether
//! its final deletion is due, and whether a status is already there.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::core::v1::{Pod, PodStatus};

/// `(namespace, name)`.
pub type Key = (String, String);

pub fn key_of(pod: &Pod) -> Key {
    (
        pod.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiPod {
    pub uid: String,
    pub deleting: bool,
    pub status: Option<PodStatus>,
}

/// Writers of one pod's status (by API uid), one at a time.
type Writers = HashMap<String, Arc<tokio::sync::Mutex<()>>>;

#[derive(Clone, Default)]
pub struct ApiPods {
    pods: Arc<Mutex<HashMap<Key, ApiPod>>>,
    synced: Arc<AtomicBool>,
    /// Two paths write a pod's status: the status reporter (the engine's
    /// view) and an orphan's finalization (Failed, straight to the API).
    /// Both hold the pod's writer lock while they decide and send, so a
    /// decision is never made on a view the other is about to change.
    writers: Arc<Mutex<Writers>>,
    /// uids whose terminal status one of our paths wrote: the watch may
    /// not show it yet, and a terminal phase never goes back (the
    /// kubelet's status manager refuses that transition too).
    ended: Arc<Mutex<HashSet<String>>>,
}

impl ApiPods {
    /// Whether the pod watch has listed once: before, a pod missing here
    /// may just not be seen yet.
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    pub fn mark_synced(&self) {
        self.synced.store(true, Ordering::SeqCst);
    }

    pub fn lock(&self) -> MutexGuard<'_, HashMap<Key, ApiPod>> {
        self.pods.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pod's status writer lock (see `writers`).
    pub async fn status_writer(&self, uid: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = self
            .writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(uid.to_owned())
            .or_default()
            .clone();
        m.lock_owned().await
    }

    /// Records that a terminal status of `uid` was (or is being) written.
    pub fn mark_ended(&self, uid: &str) {
        self.ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid.to_owned());
    }

    /// Whether one of our paths wrote a terminal status for `uid`.
    pub fn ended(&self, uid: &str) -> bool {
        self.ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(uid)
    }

    /// Records the pod; true when it is a new API object for its key (none
    /// before, or another uid).
    pub fn set(&self, pod: &Pod) -> bool {
        let v = ApiPod {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            deleting: pod.metadata.deletion_timestamp.is_some(),
            status: pod.status.clone(),
        };
        let uid = v.uid.clone();
        self.lock()
            .insert(key_of(pod), v)
            .is_none_or(|old| old.uid != uid)
    }

    pub fn get(&self, key: &Key) -> Option<ApiPod> {
        self.lock().get(key).cloned()
    }

    /// Forgets the pod if it still is the one with `uid`.
    pub fn remove(&self, key: &Key, uid: &str) {
        let mut m = self.lock();
        if m.get(key).is_some_and(|p| p.uid == uid) {
            m.remove(key);
        }
        drop(m);
        self.writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
        self.ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
    }
}
