//! Releasing a deleted pod's resources after the pod is gone from the API.
//!
//! The kubelet reports a pod terminated once its containers stopped and
//! removes the containers later by garbage collection. nodelet does the
//! same: a deleted pod leaves the store (and the API) when every container
//! stopped and its exit is recorded; removing the containers (`runc
//! delete`, rootfs unmount, cgroups), the sandbox (CNI DEL, namespace pins)
//! and their records happens here, in a bounded background queue. That work
//! is several process spawns per pod and took seconds when 200 pods were
//! deleted at once.
//!
//! Volumes go last: their mounts (tmpfs, subPath binds) are released and
//! their directories removed once no container of the pod exists, never
//! deleting through a mount (hostPath contents stay).
//!
//! # Durable
//! The queue is not kept in memory only: a job is exactly "the container
//! records in the store and the runtime's containers/sandboxes/volume dirs
//! whose pod is no longer in the store". Those records are deleted only after their
//! resource is released, so if the agent stops or crashes midway,
//! [`Teardown::orphans`] at the next start finds the rest and queues it
//! again. [`crate::Engine::shutdown`] waits for the queue to drain.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use nodelet_runtime::Runtime;
use nodelet_store::Store;
use tokio::sync::{Semaphore, watch};

use crate::store_io::durable;

/// How many pods are torn down at once: each teardown is mostly process
/// spawns (runc, CNI plugins, iptables), CPU-bound; more in parallel only
/// queue on the cores and the xtables lock.
pub const TEARDOWN_CONCURRENCY: usize = 4;

/// What one pod left behind.
#[derive(Debug, Clone, Default)]
pub struct Job {
    /// For logs: `<name>_<namespace>(<uid>)`.
    pub pod: String,
    pub containers: Vec<String>,
    pub sandboxes: Vec<String>,
    /// The pod uid whose volume directories go (after its containers).
    pub volumes_of: Option<String>,
}

pub struct Teardown {
    runtime: Arc<dyn Runtime>,
    store: Arc<Store>,
    limit: Arc<Semaphore>,
    /// Jobs queued or running.
    pending: watch::Sender<usize>,
}

impl Teardown {
    pub fn new(runtime: Arc<dyn Runtime>, store: Arc<Store>) -> Arc<Self> {
        Arc::new(Teardown {
            runtime,
            store,
            limit: Arc::new(Semaphore::new(TEARDOWN_CONCURRENCY)),
            pending: watch::channel(0).0,
        })
    }

    /// Queues `job`; it runs as soon as one of the
    /// [`TEARDOWN_CONCURRENCY`] slots is free. Must be called inside a
    /// tokio runtime.
    pub fn enqueue(self: &Arc<Self>, job: Job) {
        self.pending.send_modify(|n| *n += 1);
        let this = self.clone();
        tokio::spawn(async move {
            // The semaphore is never closed.
            let permit = this.limit.clone().acquire_owned().await;
            this.run(&job).await;
            drop(permit);
            this.pending.send_modify(|n| *n = n.saturating_sub(1));
        });
    }

    /// Resolves once nothing is queued or running.
    pub async fn idle(&self) {
        let mut rx = self.pending.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Jobs queued or running.
    pub fn pending(&self) -> usize {
        *self.pending.borrow()
    }

    async fn run(&self, job: &Job) {
        let t = std::time::Instant::now();
        let mut containers_left = false;
        for id in &job.containers {
            // The record goes only once the container is gone: it is what a
            // restarted agent finds the leftovers by.
            if let Err(e) = self.runtime.remove_container(id).await {
                tracing::warn!(container = %id, pod = %job.pod, error = %e, "could not remove container");
                containers_left = true;
                continue;
            }
            if let Err(e) = durable(|| self.store.journal_forget(id)) {
                tracing::warn!(container = %id, error = %e, "could not forget hook journal");
            }
            if let Err(e) = durable(|| self.store.delete_container(id)) {
                tracing::warn!(container = %id, error = %e, "could not delete container record");
            }
        }
        for sb in &job.sandboxes {
            if let Err(e) = self.runtime.remove_sandbox(sb).await {
                tracing::warn!(sandbox = %sb, pod = %job.pod, error = %e, "could not remove sandbox");
            }
        }
        // A container still there may still use the volumes: they wait
        // for the next agent start's orphan sweep.
        if let Some(uid) = job.volumes_of.as_deref().filter(|_| !containers_left)
            && let Err(e) = self.runtime.volumes().remove_pod(uid).await
        {
            tracing::warn!(pod = %job.pod, error = %e, "could not remove volumes");
        }
        tracing::debug!(pod = %job.pod, elapsed_ms = t.elapsed().as_millis() as u64, "pod resources released");
    }

    /// What pods no longer in the store left behind (a teardown interrupted
    /// by an agent stop or crash), one job per pod uid: runtime containers
    /// and sandboxes, and store container records, of unknown pods.
    pub async fn orphans(&self, live_uids: &HashSet<String>) -> Vec<Job> {
        let mut jobs: BTreeMap<String, Job> = BTreeMap::new();
        fn of<'a>(jobs: &'a mut BTreeMap<String, Job>, uid: &str) -> &'a mut Job {
            jobs.entry(uid.to_owned()).or_insert_with(|| Job {
                pod: format!("(deleted pod {uid})"),
                ..Job::default()
            })
        }
        let add_container = |jobs: &mut BTreeMap<String, Job>, uid: &str, id: &str| {
            let j = of(jobs, uid);
            if !j.containers.iter().any(|c| c == id) {
                j.containers.push(id.to_owned());
            }
        };
        match self.store.list_containers() {
            Ok(records) => {
                for (id, rec) in records {
                    let uid = rec.get("podUid").and_then(|v| v.as_str()).unwrap_or("");
                    if !live_uids.contains(uid) {
                        add_container(&mut jobs, uid, &id);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list container records"),
        }
        match self.runtime.list_containers().await {
            Ok(cs) => {
                for c in cs.iter().filter(|c| !live_uids.contains(&c.pod_uid)) {
                    add_container(&mut jobs, &c.pod_uid, &c.id);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list runtime containers"),
        }
        match self.runtime.list_sandboxes().await {
            Ok(sbs) => {
                for sb in sbs.into_iter().filter(|s| !live_uids.contains(&s.pod_uid)) {
                    of(&mut jobs, &sb.pod_uid).sandboxes.push(sb.id);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list sandboxes"),
        }
        match self.runtime.volumes().pods().await {
            Ok(uids) => {
                for uid in uids.into_iter().filter(|u| !live_uids.contains(u)) {
                    of(&mut jobs, &uid).volumes_of = Some(uid.clone());
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list pod volumes"),
        }
        jobs.into_values().collect()
    }
}
