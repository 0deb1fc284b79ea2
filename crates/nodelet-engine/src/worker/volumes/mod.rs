//! A pod's volumes: set up after the sandbox and before the first init
//! container, as the kubelet's `WaitForAttachAndMount` gates `SyncPod`;
//! kept (and shared by all containers) until the pod is gone; their files
//! kept current while it runs.
//!
//! - Only volumes some container mounts are set up (the kubelet's desired
//!   state of world holds just those).
//! - A volume that cannot be set up (a missing ConfigMap, a hostPath of
//!   the wrong type) gets a `FailedMount` event with the kubelet's text and
//!   is retried with the kubelet's exponential back-off (0.5 s doubling to
//!   2 m 2 s), or at once when a ConfigMap or Secret of the pod's namespace
//!   changes. Containers wait in `ContainerCreating`. After 2 m 3 s without
//!   success the pod also gets `Unable to attach or mount volumes: ...`.
//! - Files follow their sources ([`updates`]): ConfigMap/Secret changes,
//!   the pod's labels and annotations (announced by `Engine::update_pod` on
//!   `Shared::metadata`), and token rotation at 80% of a token's lifetime.
//! - A disk emptyDir over its `sizeLimit` evicts the pod ([`eviction`]).
//! - Removal belongs to the pod's teardown ([`crate::teardown`]).

pub mod eviction;
pub mod messages;
pub mod mounts;
pub mod payload;
pub mod updates;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Volume};
use nodelet_runtime::volume::{Medium, Ownership, VolumeSetup};
use nodelet_spec::volume::{VolumeKind, emptydir_memory_size, pod_memory_limit, volume_kind};
use tokio::time::Instant;

use super::Worker;
use crate::events::EventType;

/// The kubelet's volume operation back-off.
const INITIAL_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(122);
/// `podAttachAndMountTimeout`.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(123);

/// A volume that is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountedVolume {
    /// What containers bind (the volume dir, or the hostPath).
    pub path: PathBuf,
    pub kind: VolumeKind,
}

/// A service account token the pod's projected volumes hold.
#[derive(Debug, Clone)]
pub struct CachedToken {
    pub token: String,
    /// When the kubelet would refresh it: 80% of its lifetime, at most 24 h.
    pub refresh_at: Instant,
}

/// What the worker, the updater task and the facade share about volumes.
pub struct VolumeShared {
    /// Set-up volumes by name; containers mount from here.
    pub mounted: Mutex<BTreeMap<String, MountedVolume>>,
    /// Serialises writes to the pod's volume dirs (the atomic writer
    /// wants one writer at a time).
    pub write_lock: tokio::sync::Mutex<()>,
    /// A source changed while volumes were still missing: retry now.
    pub retry_now: AtomicBool,
    /// Tokens by (volume, source index).
    pub tokens: Mutex<HashMap<(String, usize), CachedToken>>,
    /// The eviction message once an emptyDir went over its `sizeLimit`
    /// ([`eviction`]); the worker takes it and ends the pod.
    pub evict: Mutex<Option<String>>,
}

impl Default for VolumeShared {
    fn default() -> Self {
        VolumeShared {
            mounted: Mutex::default(),
            write_lock: tokio::sync::Mutex::new(()),
            retry_now: AtomicBool::new(false),
            tokens: Mutex::default(),
            evict: Mutex::default(),
        }
    }
}

impl VolumeShared {
    pub fn mounted(&self) -> BTreeMap<String, MountedVolume> {
        self.mounted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The worker's own retry bookkeeping.
#[derive(Debug, Default)]
pub struct VolumeRetry {
    /// Volume → (next attempt, current back-off).
    next: BTreeMap<String, (Instant, Duration)>,
    /// Since when the pod waits for volumes (the timeout event).
    waiting_since: Option<Instant>,
    /// The updater and eviction monitor tasks run.
    pub(crate) updater: bool,
}

impl VolumeRetry {
    /// The earliest scheduled retry, if volumes are still missing.
    pub fn next_retry(&self) -> Option<Instant> {
        self.next.values().map(|(at, _)| *at).min()
    }
}

/// Names of the volumes some container (init, regular or ephemeral)
/// mounts.
pub fn referenced(pod: &Pod) -> BTreeSet<String> {
    let Some(spec) = pod.spec.as_ref() else {
        return BTreeSet::new();
    };
    let mut out = BTreeSet::new();
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for m in c.volume_mounts.iter().flatten() {
            out.insert(m.name.clone());
        }
    }
    for c in spec.ephemeral_containers.iter().flatten() {
        for m in c.volume_mounts.iter().flatten() {
            out.insert(m.name.clone());
        }
    }
    out
}

pub fn fs_group(pod: &Pod) -> Option<i64> {
    pod.spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.fs_group)
}

impl Worker {
    /// Sets up what is missing; `true` once every mounted volume is ready.
    pub(crate) async fn volumes_ready(&mut self) -> bool {
        let pod = self.shared.lock().pod.clone();
        let wanted = referenced(&pod);
        let vols = &self.shared.volumes;
        let missing: Vec<Volume> = {
            let mounted = vols.mounted.lock().unwrap_or_else(|e| e.into_inner());
            pod.spec
                .iter()
                .flat_map(|s| s.volumes.iter().flatten())
                .filter(|v| wanted.contains(&v.name) && !mounted.contains_key(&v.name))
                .cloned()
                .collect()
        };
        if !self.volume_retry.updater {
            self.volume_retry.updater = true;
            if let Some(h) = updates::spawn(self.shared.clone()) {
                self.waiters.push(h);
            }
            if let Some(h) = eviction::spawn(self.shared.clone()) {
                self.waiters.push(h);
            }
        }
        if missing.is_empty() {
            self.volume_retry.waiting_since = None;
            self.volume_retry.next.clear();
            return true;
        }
        let clock = self.shared.ctx.clock.clone();
        let now = clock.instant();
        let force = vols.retry_now.swap(false, Ordering::SeqCst);
        let since = *self.volume_retry.waiting_since.get_or_insert(now);
        let mut still = Vec::new();
        for v in &missing {
            let due = force
                || self
                    .volume_retry
                    .next
                    .get(&v.name)
                    .is_none_or(|(at, _)| *at <= now);
            if !due {
                still.push(v.name.clone());
                continue;
            }
            let result = {
                let _w = self.shared.volumes.write_lock.lock().await;
                self.set_up(v, &pod).await
            };
            match result {
                Ok(m) => {
                    self.volume_retry.next.remove(&v.name);
                    vols.mounted
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(v.name.clone(), m);
                }
                Err(e) => {
                    self.shared.event(
                        None,
                        EventType::Warning,
                        "FailedMount",
                        &messages::setup_failed(&v.name, &e),
                    );
                    let now = clock.instant();
                    let backoff = match self.volume_retry.next.get(&v.name) {
                        Some((_, b)) => (*b * 2).min(MAX_RETRY),
                        None => INITIAL_RETRY,
                    };
                    self.volume_retry
                        .next
                        .insert(v.name.clone(), (now + backoff, backoff));
                    still.push(v.name.clone());
                }
            }
        }
        if still.is_empty() {
            self.volume_retry.waiting_since = None;
            return true;
        }
        if clock.instant().saturating_duration_since(since) >= MOUNT_TIMEOUT {
            self.shared.event(
                None,
                EventType::Warning,
                "FailedMount",
                &messages::timed_out(&still),
            );
            self.volume_retry.waiting_since = Some(clock.instant());
        }
        false
    }

    /// One volume, as its plugin's `SetUp`.
    async fn set_up(&self, v: &Volume, pod: &Pod) -> Result<MountedVolume, String> {
        let ctx = &self.shared.ctx;
        let host = ctx.runtime.volumes();
        let kind = volume_kind(v);
        let uid = self.shared.lock().uid.clone();
        let ownership = Ownership {
            fs_group: fs_group(pod),
            read_only: kind.forces_read_only(),
        };
        let dir_setup = |medium: Medium, mode: u32| VolumeSetup {
            pod_uid: uid.clone(),
            name: v.name.clone(),
            plugin: kind.plugin_dir().to_owned(),
            medium,
            mode,
            ownership,
        };
        match kind {
            VolumeKind::EmptyDir => {
                let e = v.empty_dir.clone().unwrap_or_default();
                let medium = if e.medium.as_deref() == Some("Memory") {
                    Medium::Memory {
                        size: emptydir_memory_size(&e, pod),
                    }
                } else if e.medium.as_deref().unwrap_or("").is_empty() {
                    Medium::Disk
                } else {
                    return Err(format!(
                        "unknown storage medium {:?}",
                        e.medium.unwrap_or_default()
                    ));
                };
                let mode = e.mode.map_or(0o777, |m| (m as u32) & 0o7777);
                let path = host
                    .setup(&dir_setup(medium, mode))
                    .await
                    .map_err(|e| e.0)?;
                Ok(MountedVolume { path, kind })
            }
            VolumeKind::HostPath => {
                let h = v.host_path.clone().unwrap_or_default();
                let path = host
                    .host_path(&h.path, h.type_.as_deref().unwrap_or(""))
                    .await
                    .map_err(|e| e.0)?;
                Ok(MountedVolume { path, kind })
            }
            VolumeKind::ConfigMap
            | VolumeKind::Secret
            | VolumeKind::DownwardApi
            | VolumeKind::Projected => {
                // Fetch first: a missing source creates nothing.
                let payload = payload::volume_payload(&self.shared, pod, v).await?;
                let medium = if kind.on_tmpfs() {
                    Medium::Memory {
                        size: pod_memory_limit(pod),
                    }
                } else {
                    Medium::Disk
                };
                let path = host
                    .setup(&dir_setup(medium, 0o777))
                    .await
                    .map_err(|e| e.0)?;
                host.write_payload(&path, &payload, ownership, &payload::context(pod, &v.name))
                    .await
                    .map_err(|e| e.0)?;
                Ok(MountedVolume { path, kind })
            }
            VolumeKind::Unsupported(field) => Err(nodelet_spec::volume::unsupported_detail(field)),
            VolumeKind::None => Err("volume has no source".to_owned()),
        }
    }
}
