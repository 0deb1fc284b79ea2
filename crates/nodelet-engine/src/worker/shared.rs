//! The part of a pod worker that others touch: the record behind a mutex,
//! the deletion token, the exit notifications, and publishing status
//! (store + broadcast) whenever it changed.
//!
//! **Metadata hook**: [`Shared::metadata`] holds the pod's current
//! metadata (labels, annotations, …) and is sent a new value whenever an
//! update changes them (`Engine::update_pod`). Whatever renders pod
//! metadata into a running pod (downward API volumes) subscribes to it
//! (`shared.metadata.subscribe()`) and rewrites its files on change;
//! environment variables are not affected (as upstream).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::ctx::EngineCtx;
use super::state::PodRecord;
use crate::broadcast::EngineEvent;
use crate::events::{EventTarget, EventType};
use crate::status;

pub struct Shared {
    pub ctx: Arc<EngineCtx>,
    rec: Mutex<PodRecord>,
    last: Mutex<Option<Pod>>,
    /// Cancelled when the pod is being deleted (stops postStart hooks and
    /// back-off waits, starts termination).
    pub deleting: CancellationToken,
    /// A container exited: the worker should sync.
    pub notify: mpsc::UnboundedSender<()>,
    /// Bumped when a second delete shortened the grace of a pod already
    /// terminating: the kill starts over with the shorter grace.
    pub grace_shrunk: watch::Sender<u64>,
    /// The pod's metadata as last updated; see the module doc.
    pub metadata: watch::Sender<ObjectMeta>,
    /// Set when cleanup starts: nothing may write the pod back afterwards.
    removed: AtomicBool,
    /// The pod's volumes (see [`super::volumes`]).
    pub volumes: super::volumes::VolumeShared,
}

impl Shared {
    pub fn new(ctx: Arc<EngineCtx>, rec: PodRecord, notify: mpsc::UnboundedSender<()>) -> Self {
        let metadata = watch::channel(rec.pod.metadata.clone()).0;
        Shared {
            metadata,
            ctx,
            rec: Mutex::new(rec),
            last: Mutex::new(None),
            deleting: CancellationToken::new(),
            notify,
            grace_shrunk: watch::channel(0).0,
            removed: AtomicBool::new(false),
            volumes: Default::default(),
        }
    }

    /// Never held across an await.
    pub fn lock(&self) -> MutexGuard<'_, PodRecord> {
        self.rec.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pod as last published (with status and resourceVersion).
    pub fn pod(&self) -> Option<Pod> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The event target for the pod (`slot: None`) or one container.
    pub fn target(&self, slot: Option<usize>) -> EventTarget {
        let rec = self.lock();
        EventTarget {
            namespace: rec.key.namespace.clone(),
            name: rec.key.name.clone(),
            uid: rec.uid.clone(),
            field_path: slot.and_then(|i| rec.slots.get(i)).map(|s| s.field_path()),
        }
    }

    pub fn event(&self, slot: Option<usize>, event_type: EventType, reason: &str, message: &str) {
        let target = self.target(slot);
        self.ctx
            .recorder
            .record(&target, event_type, reason, message);
    }

    /// `<name>_<namespace>(<uid>)`, kubelet's `format.Pod`.
    pub fn pod_desc(&self) -> String {
        let rec = self.lock();
        format!("{}_{}({})", rec.key.name, rec.key.namespace, rec.uid)
    }

    /// Marks the pod removed; later [`Shared::publish`] calls do nothing.
    pub fn mark_removed(&self) {
        // Taken under `last` so a publish in flight finishes first.
        let _last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        self.removed.store(true, Ordering::SeqCst);
    }

    /// Recomputes status; when the pod changed, persists and broadcasts it.
    pub fn publish(&self) {
        if self.removed.load(Ordering::SeqCst) {
            return;
        }
        let (pod, terminal, uid) = {
            let mut rec = self.lock();
            let now = self.ctx.clock.now();
            status::refresh_conditions(&mut rec, now);
            let terminal = status::is_terminal(status::phase(&rec));
            (status::pod_with_status(&rec), terminal, rec.uid.clone())
        };
        if terminal {
            // A finished pod holds no resources any more.
            self.ctx.allocations.release(&uid);
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if self.removed.load(Ordering::SeqCst) {
            return;
        }
        let unchanged = last.as_ref().is_some_and(|prev| {
            let mut prev = prev.clone();
            prev.metadata.resource_version = None;
            prev == pod
        });
        if unchanged {
            return;
        }
        let mut pod = pod;
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        match serde_json::to_value(&pod) {
            Ok(v) => {
                match crate::store_io::durable(|| self.ctx.store.put_object("Pod", &ns, &name, &v))
                {
                    Ok(rv) => pod.metadata.resource_version = Some(rv.to_string()),
                    Err(e) => tracing::warn!(pod = %name, error = %e, "could not persist pod"),
                }
            }
            Err(e) => tracing::warn!(pod = %name, error = %e, "could not encode pod"),
        }
        *last = Some(pod.clone());
        drop(last);
        let _ = self.ctx.tx.send(EngineEvent::PodUpdated(Box::new(pod)));
    }
}
