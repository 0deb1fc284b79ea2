//! `Engine::update_pod`: the one way a pod already on the node changes —
//! the kubelet's `HandlePodUpdates` → pod worker `UpdatePod`. Both front
//! doors use it: the embedded API after its update validation (standalone),
//! node mode with each modified pod its watch delivers. The engine does not
//! validate (the API server did); it records the new object and lets the
//! pod worker react (see `worker::changes`): new images restart their
//! containers, a new `activeDeadlineSeconds` re-arms the deadline, new
//! container resources are a resize, new ephemeral containers are
//! started; labels and annotations are announced
//! on `Shared::metadata` (downward API volumes refresh from there).

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio::sync::watch;

use super::{Engine, namespace_of};
use crate::error::{EngineError, Result};
use crate::podkey::PodKey;
use crate::worker::state::{Slot, SlotKind};

impl Engine {
    /// Applies `pod` (the whole new object) to the pod of that name.
    /// `precondition`: the resourceVersion the caller based its change on
    /// (`Conflict` when the pod moved on). Returns the pod as it is now;
    /// watchers see the change.
    ///
    /// Taken from `pod`: labels, annotations, finalizers, owner references,
    /// managed fields, generation, and the spec (its `nodeName` kept when
    /// `pod` has none). Kept from the engine's record: uid, creation and
    /// deletion timestamps, status.
    pub fn update_pod(&self, pod: Pod, precondition: Option<&str>) -> Result<Pod> {
        self.check_adopted()?;
        let namespace = namespace_of(&pod.metadata);
        let name = pod.metadata.name.clone().unwrap_or_default();
        let not_found = || EngineError::NotFound {
            kind: "Pod",
            namespace: namespace.clone(),
            name: name.clone(),
        };
        let conflict = || EngineError::Conflict {
            kind: "Pod",
            namespace: namespace.clone(),
            name: name.clone(),
        };
        let shared = {
            let pods = self.lock();
            match pods.get(&PodKey::new(&namespace, &name)) {
                Some(h) if h.live() => h.shared.clone(),
                _ => return Err(not_found()),
            }
        };
        {
            let mut rec = shared.lock();
            if let Some(uid) = pod.metadata.uid.as_deref().filter(|u| !u.is_empty())
                && uid != rec.uid
            {
                // Another pod of the same name: a delete and a create.
                return Err(conflict());
            }
            if let Some(rv) = precondition.filter(|rv| !rv.is_empty()) {
                let current = shared.pod().and_then(|p| p.metadata.resource_version);
                if current.as_deref() != Some(rv) {
                    return Err(conflict());
                }
            }
            let before = (
                rec.pod.metadata.labels.clone(),
                rec.pod.metadata.annotations.clone(),
            );
            let m = &mut rec.pod.metadata;
            let new = pod.metadata;
            m.labels = new.labels;
            m.annotations = new.annotations;
            m.finalizers = new.finalizers;
            m.owner_references = new.owner_references;
            m.managed_fields = new.managed_fields;
            if new.generation.is_some() {
                m.generation = new.generation;
            }
            let metadata_changed = (m.labels.clone(), m.annotations.clone()) != before;
            if let Some(mut spec) = pod.spec {
                let node = rec.pod.spec.as_ref().and_then(|s| s.node_name.clone());
                if spec.node_name.as_deref().unwrap_or("").is_empty() {
                    spec.node_name = node;
                }
                for slot in rec.slots.iter_mut() {
                    let list = match slot.kind {
                        SlotKind::Regular => Some(&spec.containers),
                        SlotKind::Init | SlotKind::Sidecar => spec.init_containers.as_ref(),
                        // Immutable once added (the API server's rule).
                        SlotKind::Ephemeral => None,
                    };
                    if let Some(c) = list
                        .into_iter()
                        .flatten()
                        .find(|c| c.name == slot.spec.name)
                    {
                        slot.spec = c.clone();
                    }
                }
                // Debug containers added (`pods/ephemeralcontainers`): a
                // slot each, started by the worker's next sync.
                for e in spec.ephemeral_containers.iter().flatten() {
                    if !rec.slots.iter().any(|s| s.spec.name == e.name) {
                        rec.slots.push(Slot::ephemeral(e));
                        rec.timeline
                            .spec
                            .containers
                            .push(nodelet_timeline::ContainerRef {
                                name: e.name.clone(),
                                kind: "ephemeral".to_owned(),
                            });
                        rec.timeline_dirty = true;
                    }
                }
                rec.pod.spec = Some(spec);
            }
            if metadata_changed {
                shared.metadata.send_replace(rec.pod.metadata.clone());
            }
        }
        shared.publish();
        // The worker compares the pod with what runs on its next sync.
        let _ = shared.notify.send(());
        shared.pod().ok_or_else(not_found)
    }

    /// The pod's metadata now and on every change made through
    /// [`Engine::update_pod`] (`None`: no such pod). The hook point for
    /// whatever projects labels and annotations into a running pod.
    pub fn watch_pod_metadata(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<watch::Receiver<ObjectMeta>> {
        let pods = self.lock();
        let h = pods.get(&PodKey::new(namespace, name))?;
        h.live().then(|| h.shared.metadata.subscribe())
    }
}
