//! Local-storage eviction (the kubelet eviction manager's
//! `localStorageEviction`, checked every `evictionMonitoringPeriod`,
//! 10 s), in upstream's order: a disk emptyDir over its `sizeLimit`
//! (`emptyDirLimitEviction`), the pod over its containers' total
//! `ephemeral-storage` limit (its containers' writable layers and logs
//! plus its disk emptyDirs), then a container over its own limit. The pod
//! is evicted — phase `Failed`, reason `Evicted`, the kubelet's message, a
//! Warning `Evicted` event — and its containers are killed with a 1 s
//! grace (the eviction's zero override, raised to the pod worker's
//! minimum) and not restarted. A memory emptyDir needs no check: its tmpfs
//! is sized by the limit (`ENOSPC` instead).
//!
//! The measuring runs in its own task (a `du` of a large volume or layer
//! takes time); it tells the worker, which ends the pod.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use nodelet_spec::local_storage::{self, Limit};
use nodelet_spec::volume::emptydir_size_limit;
use tokio::task::JoinHandle;

use crate::events::EventType;
use crate::worker::Worker;
use crate::worker::shared::Shared;

pub const REASON: &str = "Evicted";
/// `evictionMonitoringPeriod`.
pub const PERIOD: Duration = Duration::from_secs(10);
/// The grace an eviction kills with (`evictPod`'s 0, which the pod worker
/// raises to its 1 s minimum).
const GRACE_SECS: i64 = 1;

/// `emptyDirMessageFmt` (the trailing space is upstream's).
pub fn message(volume: &str, limit: &str) -> String {
    format!("Usage of EmptyDir volume {volume:?} exceeds the limit {limit:?}. ")
}

/// The pod's disk emptyDirs with a positive `sizeLimit`: (volume, limit
/// bytes, limit as written).
fn limited(pod: &Pod) -> Vec<(String, u64, String)> {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            let e = v.empty_dir.as_ref()?;
            if e.medium.as_deref() == Some("Memory") {
                return None;
            }
            let bytes = emptydir_size_limit(e)?;
            let written = e.size_limit.as_ref()?.0.clone();
            Some((v.name.clone(), u64::try_from(bytes).ok()?, written))
        })
        .collect()
}

/// What a pod's monitor checks.
struct Limits {
    /// Disk emptyDirs with a `sizeLimit`.
    empty_dirs: Vec<(String, u64, String)>,
    /// Every disk emptyDir: they count towards the pod's total.
    disk_volumes: Vec<String>,
    /// The pod's total `ephemeral-storage` limit (bytes, as printed).
    pod: Option<(u64, String)>,
    containers: Vec<Limit>,
}

impl Limits {
    fn of(pod: &Pod) -> Option<Limits> {
        let spec = pod.spec.as_ref()?;
        let l = Limits {
            empty_dirs: limited(pod),
            disk_volumes: spec
                .volumes
                .iter()
                .flatten()
                .filter(|v| {
                    v.empty_dir
                        .as_ref()
                        .is_some_and(|e| e.medium.as_deref() != Some("Memory"))
                })
                .map(|v| v.name.clone())
                .collect(),
            pod: local_storage::pod_limit(spec),
            containers: local_storage::container_limits(spec),
        };
        (!l.empty_dirs.is_empty() || l.pod.is_some()).then_some(l)
    }
}

/// Starts the usage monitor of a pod with limited disk emptyDirs or
/// `ephemeral-storage` limits.
pub fn spawn(shared: Arc<Shared>) -> Option<JoinHandle<()>> {
    let limits = Limits::of(&shared.lock().pod)?;
    Some(tokio::spawn(monitor(shared, limits)))
}

async fn monitor(shared: Arc<Shared>, limits: Limits) {
    let clock = shared.ctx.clock.clone();
    loop {
        tokio::select! {
            () = clock.sleep(PERIOD) => {}
            () = shared.deleting.cancelled() => return,
        }
        if let Some(msg) = over_limit(&shared, &limits).await {
            *shared
                .volumes
                .evict
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(msg);
            let _ = shared.notify.send(());
            return;
        }
    }
}

/// The eviction message when something is over its limit. What cannot be
/// measured is not evicted for (the kubelet skips pods without stats).
async fn over_limit(shared: &Shared, limits: &Limits) -> Option<String> {
    let host = shared.ctx.runtime.volumes();
    let mounted = shared.volumes.mounted();
    let mut volumes_used = 0u64;
    for name in &limits.disk_volumes {
        let Some(m) = mounted.get(name) else { continue };
        let Ok(used) = host.usage(&m.path).await else {
            continue;
        };
        if let Some((_, _, written)) = limits
            .empty_dirs
            .iter()
            .find(|(n, limit, _)| n == name && used > *limit)
        {
            return Some(message(name, written));
        }
        volumes_used = volumes_used.saturating_add(used);
    }
    let (pod_limit, pod_written) = limits.pod.as_ref()?;
    let running: Vec<(String, String)> = {
        let rec = shared.lock();
        rec.slots
            .iter()
            .filter_map(|s| Some((s.name().to_owned(), s.current.as_ref()?.id.clone())))
            .collect()
    };
    let mut per_container = Vec::with_capacity(running.len());
    for (name, id) in running {
        if let Ok(used) = shared.ctx.runtime.disk_usage(&id).await {
            per_container.push((name, used));
        }
    }
    let total = per_container
        .iter()
        .fold(volumes_used, |t, (_, used)| t.saturating_add(*used));
    if total > *pod_limit {
        return Some(local_storage::pod_message(pod_written));
    }
    limits.containers.iter().find_map(|l| {
        per_container
            .iter()
            .any(|(name, used)| *name == l.container && *used > l.bytes)
            .then(|| local_storage::container_message(&l.container, &l.written))
    })
}

impl Worker {
    /// Ends the pod if the monitor found an emptyDir over its limit.
    /// Returns whether the pod is (now) ended by the agent.
    pub(crate) async fn enforce_eviction(&mut self) -> bool {
        if self.shared.lock().terminal.is_some() {
            return true;
        }
        let Some(msg) = self
            .shared
            .volumes
            .evict
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return false;
        };
        let shared = self.shared.clone();
        let alive = {
            let mut rec = shared.lock();
            rec.terminal = Some((REASON.to_owned(), msg.clone()));
            (0..rec.slots.len())
                .filter(|&i| rec.slots[i].is_alive() && rec.slots[i].current.is_some())
                .collect::<Vec<usize>>()
        };
        shared.event(None, EventType::Warning, REASON, &msg);
        shared.publish();
        if !alive.is_empty() {
            let deleting = shared.deleting.clone();
            tokio::select! {
                () = self.kill_slots(&alive, GRACE_SECS, crate::worker::kill::KillFrom::Start("evicted")) => {}
                () = deleting.cancelled() => {}
            }
        }
        self.completed = true;
        true
    }
}
