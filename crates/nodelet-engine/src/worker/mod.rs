//! The pod worker: one tokio task per pod, driving it from admission
//! through sandbox, init containers, containers, restarts, to termination
//! and removal.
//!
//! The loop is the kubelet's: *sync* (do the next thing the spec asks for:
//! create the sandbox, start the next init container, start or restart
//! containers subject to restart policy and back-off), *publish* status,
//! then sleep until something happens (a container exits, a back-off timer
//! fires, the pod is deleted, the engine shuts down). Starting a container
//! waits for its postStart hook, which is what gates the next container.

pub mod changes;
pub mod ctx;
pub mod deadline;
pub mod ephemeral;
pub mod hook;
pub mod kill;
pub mod ordering;
pub mod resize;
pub mod restart_all;
pub mod resume;
pub mod settings;
pub mod shared;
pub mod start;
pub mod state;
pub mod sync;
pub mod sysctls;
pub mod terminate;
pub mod volumes;
pub mod waiter;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use shared::Shared;

pub struct Worker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) backoff: Backoff,
    /// Image pull back-off and last pull errors (the kubelet's image manager).
    pub(crate) images: crate::images::ImagePulls,
    /// When to retry a failed sandbox creation.
    pub(crate) sandbox_retry: Option<tokio::time::Instant>,
    /// The regular containers finished for good: sidecars are not restarted.
    pub(crate) completed: bool,
    /// Retry state of volumes still being set up.
    pub(crate) volume_retry: volumes::VolumeRetry,
    /// What an agent restart left to finish (re-deliveries, kills), done
    /// first thing.
    pub(crate) resume: Vec<crate::recover::Resume>,
    notified: mpsc::UnboundedReceiver<()>,
    waiters: Vec<JoinHandle<()>>,
    gone: watch::Sender<bool>,
    /// The armed retry of a deferred or failed resize (see `resize`).
    resize_retry: Option<tokio::task::AbortHandle>,
}

/// What the facade keeps of a running worker.
pub struct WorkerHandle {
    pub shared: Arc<Shared>,
    pub gone: watch::Receiver<bool>,
    pub task: JoinHandle<()>,
}

impl WorkerHandle {
    /// Whether the pod still exists for the API. A pod leaves the store
    /// (and its watchers get DELETED) before its worker ends; from that
    /// moment it must not show in a list or a get either, or a client that
    /// lists at a resourceVersion past the deletion (kubectl's wait for a
    /// delete) would see a pod whose DELETED event it can never receive.
    pub fn live(&self) -> bool {
        !*self.gone.borrow() && !self.shared.is_removed()
    }
}

impl Worker {
    /// Spawns the worker of the pod in `rec`. `resume` lists containers
    /// already running (recovery) that need a waiter, and what else the
    /// restart left to do.
    pub fn spawn(
        ctx: Arc<ctx::EngineCtx>,
        rec: state::PodRecord,
        shutdown: CancellationToken,
        resume: crate::recover::Recovered,
    ) -> WorkerHandle {
        let adopted = resume.adopted.clone();
        let (notify, notified) = mpsc::unbounded_channel();
        // The node's maximum, lowered by the pod's annotation if it asks.
        let max = nodelet_spec::annotations::settings(&rec.pod)
            .crashloop_backoff_max
            .map_or(ctx.config.crashloop_backoff_max, |m| {
                m.min(ctx.config.crashloop_backoff_max)
            });
        let mut backoff = Backoff::with_max(max);
        for (name, entry) in &resume.backoff {
            backoff.restore(name, *entry);
        }
        let shared = Arc::new(Shared::new(ctx, rec, notify));
        let (gone_tx, gone) = watch::channel(false);
        let mut worker = Worker {
            shared: shared.clone(),
            shutdown,
            backoff,
            images: Default::default(),
            resume: resume.actions,
            sandbox_retry: None,
            completed: false,
            volume_retry: Default::default(),
            notified,
            waiters: Vec::new(),
            gone: gone_tx,
            resize_retry: None,
        };
        for i in adopted {
            worker.watch_container(i);
            worker.start_probes(i);
        }
        for i in resume.watch_only {
            worker.watch_container(i);
        }
        let task = tokio::spawn(worker.run());
        WorkerHandle { shared, gone, task }
    }

    fn interrupted(&self) -> bool {
        self.shutdown.is_cancelled() || self.shared.deleting.is_cancelled()
    }

    /// Starts the waiter of the slot's current container.
    pub(crate) fn watch_container(&mut self, i: usize) {
        if let Some(h) = waiter::spawn(self.shared.clone(), i) {
            self.waiters.push(h);
        }
    }

    /// Starts the probes of the slot's container (once it is Running).
    pub(crate) fn start_probes(&mut self, i: usize) {
        let probes = crate::probes::spawn(self.shared.clone(), i);
        self.waiters.extend(probes);
    }

    async fn run(mut self) {
        {
            let now = self.shared.ctx.clock.now();
            self.shared.lock().acknowledge(now);
        }
        self.register_allocation();
        self.shared.publish();
        if !self.resume.is_empty() {
            let shutdown = self.shutdown.clone();
            tokio::select! {
                () = self.resume_all() => {}
                () = shutdown.cancelled() => {}
            }
            self.shared.publish();
        }
        let mut quick_rounds = 0;
        loop {
            if self.interrupted() {
                break;
            }
            // Shutdown must not wait for a hanging postStart: the sync is
            // dropped mid-way; the container lives on and is adopted later.
            let shutdown = self.shutdown.clone();
            tokio::select! {
                () = self.sync() => {}
                () = shutdown.cancelled() => break,
            }
            self.shared.publish();
            if self.interrupted() {
                break;
            }
            // A start that failed without a process (image, config) left a
            // decision pending that no exit will wake us for: sync again now
            // (bounded, in case nothing can progress).
            if self.decision_pending() && quick_rounds < 3 {
                quick_rounds += 1;
                continue;
            }
            quick_rounds = 0;
            let wake = self.next_wake();
            let clock = self.shared.ctx.clock.clone();
            let timer = async {
                match wake {
                    Some(at) => {
                        let now = clock.instant();
                        clock.sleep(at.saturating_duration_since(now)).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.notified.recv() => {}
                () = timer => {}
                () = self.shared.deleting.cancelled() => {}
                () = self.shutdown.cancelled() => {}
            }
        }
        if self.shutdown.is_cancelled() && !self.shared.deleting.is_cancelled() {
            // Containers outlive the agent: stop watching, kill nothing.
            for w in &self.waiters {
                w.abort();
            }
            return;
        }
        let shutdown = self.shutdown.clone();
        tokio::select! {
            () = self.terminate() => {}
            // Interrupted termination resumes after the agent restarts
            // (the pod keeps its deletionTimestamp in the store).
            () = shutdown.cancelled() => {}
        }
        for w in &self.waiters {
            w.abort();
        }
        if !shutdown.is_cancelled() {
            let _ = self.gone.send(true);
        }
    }

    /// Whether a container ended and no restart decision was taken yet.
    fn decision_pending(&self) -> bool {
        let rec = self.shared.lock();
        rec.slots.iter().any(|s| {
            matches!(
                s.phase,
                state::SlotPhase::Exited {
                    restart_at: None,
                    ..
                }
            )
        })
    }

    /// The earliest back-off expiry among the containers, or the
    /// `activeDeadlineSeconds` deadline if sooner.
    fn next_wake(&self) -> Option<tokio::time::Instant> {
        let deadline = self.deadline();
        let rec = self.shared.lock();
        rec.slots
            .iter()
            .filter_map(|s| match &s.phase {
                state::SlotPhase::Exited { restart_at, .. } => *restart_at,
                _ => None,
            })
            .chain(self.sandbox_retry.filter(|_| rec.sandbox.is_none()))
            .chain(deadline)
            .chain(self.volume_retry.next_retry())
            .min()
    }
}
