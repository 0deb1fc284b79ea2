//! emptyDir `sizeLimit` (the kubelet eviction manager's
//! `emptyDirLimitEviction`, checked every `evictionMonitoringPeriod`,
//! 10 s): a pod whose disk emptyDir uses more than its `sizeLimit` is
//! evicted — phase `Failed`, reason `Evicted`, the kubelet's message, a
//! Warning `Evicted` event — and its containers are killed with a 1 s
//! grace (the eviction's zero override, raised to the pod worker's
//! minimum) and not restarted. A memory emptyDir needs no check: its tmpfs
//! is sized by the limit (`ENOSPC` instead).
//!
//! The measuring runs in its own task (a `du` of a large volume takes
//! time); it tells the worker, which ends the pod.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
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

/// Starts the usage monitor of a pod with limited disk emptyDirs.
pub fn spawn(shared: Arc<Shared>) -> Option<JoinHandle<()>> {
    let limits = limited(&shared.lock().pod);
    if limits.is_empty() {
        return None;
    }
    Some(tokio::spawn(monitor(shared, limits)))
}

async fn monitor(shared: Arc<Shared>, limits: Vec<(String, u64, String)>) {
    let clock = shared.ctx.clock.clone();
    let host = shared.ctx.runtime.volumes();
    loop {
        tokio::select! {
            () = clock.sleep(PERIOD) => {}
            () = shared.deleting.cancelled() => return,
        }
        let mounted = shared.volumes.mounted();
        for (name, limit, written) in &limits {
            let Some(m) = mounted.get(name) else { continue };
            // A volume that cannot be measured is not evicted for (the
            // kubelet skips pods without stats).
            let Ok(used) = host.usage(&m.path).await else {
                continue;
            };
            if used > *limit {
                *shared
                    .volumes
                    .evict
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(message(name, written));
                let _ = shared.notify.send(());
                return;
            }
        }
    }
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
