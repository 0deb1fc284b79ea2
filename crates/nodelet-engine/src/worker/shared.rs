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
    /// When [`Shared::mark_removed`] was called.
    removed_at: Mutex<Option<tokio::time::Instant>>,
    /// The pod's volumes (see [`super::volumes`]).
    pub volumes: super::volumes::VolumeShared,
    /// The last status could not be written (store unavailable): write it
    /// on the next publish even if nothing changed.
    unpersisted: AtomicBool,
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
            removed_at: Mutex::new(None),
            volumes: Default::default(),
            unpersisted: AtomicBool::new(false),
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

    /// Whether [`Shared::mark_removed`] was called.
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::SeqCst)
    }

    /// Marks the pod removed; later [`Shared::publish`] calls do nothing.
    pub fn mark_removed(&self) {
        // Taken under `last` so a publish in flight finishes first.
        let _last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        self.removed.store(true, Ordering::SeqCst);
        *self.removed_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.ctx.clock.instant());
    }

    /// When the pod was removed, if it was.
    pub fn removed_at(&self) -> Option<tokio::time::Instant> {
        *self.removed_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a timeline mark for slot `i`'s container (or the pod).
    pub fn mark(&self, slot: Option<usize>, mut mark: nodelet_timeline::Mark) {
        let mut rec = self.lock();
        if let Some(s) = slot.and_then(|i| rec.slots.get(i)) {
            mark.container = Some(s.spec.name.clone());
            if mark.container_id.is_none() {
                mark.container_id = s.current.as_ref().map(|c| c.id.clone());
            }
        }
        rec.mark(mark);
    }

    /// Recomputes status; when the pod changed, persists and broadcasts it
    /// (with the timeline's new marks, in the same transaction).
    pub fn publish(&self) {
        if self.removed.load(Ordering::SeqCst) {
            return;
        }
        let (pod, timeline, terminal, uid) = {
            let mut rec = self.lock();
            let now = self.ctx.clock.now();
            status::refresh_conditions(&mut rec, now);
            let pod = status::pod_with_status(&rec);
            if !rec.start_observed
                && pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            {
                rec.start_observed = true;
                if let Some(t) = rec.start_time {
                    let secs = now.duration_since(t).as_secs_f64().max(0.0);
                    self.ctx.metrics.pod_start.observe(secs);
                }
            }
            let timeline = rec.timeline_dirty.then(|| rec.timeline.clone());
            rec.timeline_dirty = false;
            let terminal = status::is_terminal(status::phase(&rec));
            (pod, timeline, terminal, rec.uid.clone())
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
        let unchanged = unchanged && !self.unpersisted.load(Ordering::SeqCst);
        if unchanged && timeline.is_none() {
            return;
        }
        let mut pod = pod;
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let pod_value = if unchanged {
            None
        } else {
            match serde_json::to_value(&pod) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!(pod = %name, error = %e, "could not encode pod");
                    None
                }
            }
        };
        // Before the fsync, for the data plane (no copy when nothing
        // listens, as in node mode).
        if !unchanged && self.ctx.computed.receiver_count() > 0 {
            let _ = self.ctx.computed.send(Arc::new(pod.clone()));
        }
        let tl_value = timeline.as_ref().and_then(|t| serde_json::to_value(t).ok());
        let written = crate::store_io::durable(|| {
            self.ctx.store.batch(|b| {
                if let Some(t) = &tl_value {
                    b.put_object(nodelet_timeline::model::KIND, &ns, &name, t);
                }
                // Last, so the batch's resourceVersion is the pod's.
                if let Some(v) = &pod_value {
                    b.put_object("Pod", &ns, &name, v);
                }
            })
        });
        match written {
            Ok(rv) => {
                self.unpersisted.store(false, Ordering::SeqCst);
                if pod_value.is_some() {
                    pod.metadata.resource_version = Some(rv.to_string());
                }
            }
            Err(e) => {
                tracing::warn!(pod = %name, error = %e, "could not persist pod");
                self.ctx.storage.failed(&self.ctx, &e);
                if timeline.is_some() {
                    self.lock().timeline_dirty = true;
                }
                // Kept in memory and shown; written once the store recovers.
                self.unpersisted.store(true, Ordering::SeqCst);
                pod.metadata.resource_version = last
                    .as_ref()
                    .and_then(|p| p.metadata.resource_version.clone());
            }
        }
        if unchanged {
            return;
        }
        *last = Some(pod.clone());
        drop(last);
        let _ = self.ctx.tx.send(EngineEvent::PodUpdated(Box::new(pod)));
    }
}
