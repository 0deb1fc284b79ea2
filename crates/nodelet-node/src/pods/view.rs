//! What node mode last saw of each pod bound to it in the API server: its
//! uid, whether it is being deleted, its status there. Written by the pod
//! watch ([`super::source`]), read by the status reporter
//! ([`super::status`]) to know which API object an engine pod is, whether
//! its final deletion is due, and whether a status is already there.

use std::collections::HashMap;
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

#[derive(Clone, Default)]
pub struct ApiPods(
    Arc<Mutex<HashMap<Key, ApiPod>>>,
    Arc<std::sync::atomic::AtomicBool>,
);

impl ApiPods {
    /// Whether the pod watch has listed once: before, a pod missing here
    /// may just not be seen yet.
    pub fn synced(&self) -> bool {
        self.1.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn mark_synced(&self) {
        self.1.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn lock(&self) -> MutexGuard<'_, HashMap<Key, ApiPod>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
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
    }
}
