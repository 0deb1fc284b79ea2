//! Pods from the API server into the engine: a kube-rs `watcher` on the
//! pods bound to this node (`spec.nodeName=<node>`, the kubelet's
//! apiserver config source) feeds the same engine as standalone mode,
//! through its front door ([`Engine::apply`], [`Engine::delete_pod`]).
//!
//! - A new pod is admitted ([`super::admit`]) and started; one with a
//!   terminal phase is not (the kubelet never restarts a finished pod).
//! - A pod with `deletionTimestamp` is deleted gracefully with its
//!   `deletionGracePeriodSeconds`; a pod the engine no longer has is
//!   finalised (terminal status, then deleted with grace 0).
//! - A pod that disappeared from the API server (watch DELETE, or absent
//!   from a re-list: after nodelet's own restart or an API-server outage)
//!   is deleted from the engine; the ones still listed are adopted, as the
//!   engine re-adopted their containers from its local store.
//! - A pod recreated under the same name (a new uid) waits until the old
//!   one is gone.
//! - Changes of a running pod go through [`PodSource::update_pod`], the
//!   single place for pod updates.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use nodelet_engine::{Engine, EngineError};
use nodelet_spec::Object;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::admit;
use super::status::{final_delete, patch_status, reported_status};
use super::view::{ApiPods, Key, key_of};
use crate::events::EventSink;
use crate::sources::NodeSources;

/// The annotation the kubelet puts on mirror pods of static pods.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

pub struct PodSource {
    pub client: kube::Client,
    pub engine: Arc<Engine>,
    pub node_name: String,
    pub view: ApiPods,
    pub sources: Arc<NodeSources>,
    pub events: EventSink,
    /// Told when a mirror pod disappears or is being deleted (static pods
    /// create it again).
    pub mirror_gone: mpsc::UnboundedSender<Key>,
    /// Told when a mirror pod appears (the status reporter fills it in).
    pub mirror_seen: mpsc::UnboundedSender<Key>,
    /// `--max-pods`: pods beyond it are rejected (`OutOfpods`).
    pub max_pods: u32,
    /// `--allowed-unsafe-sysctls` with the safe set (`SysctlForbidden`).
    pub sysctls: nodelet_spec::sysctl::Allowlist,
}

pub fn is_mirror(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION))
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// Conditions others own on the API object (readiness gates, …).
fn external(pod: &Pod) -> Vec<PodCondition> {
    nodelet_engine::pod_conditions::external(
        pod.status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or(&[]),
    )
}

fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

impl PodSource {
    pub async fn run(self, stop: CancellationToken) {
        // Pods change only once the engine re-adopted the stored ones.
        tokio::select! {
            () = stop.cancelled() => return,
            () = self.engine.adopted() => {}
        }
        let api: Api<Pod> = Api::all(self.client.clone());
        let cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", self.node_name));
        let mut stream = watcher(api, cfg).default_backoff().boxed();
        // Pods whose previous incarnation (same name, other uid) is still
        // terminating in the engine: the latest object, retried once the
        // old one is gone.
        let mut waiting: HashMap<Key, Pod> = HashMap::new();
        let (gone_tx, mut gone_rx) = mpsc::unbounded_channel::<Key>();
        let mut listing: Option<HashSet<(Key, String)>> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                Some(key) = gone_rx.recv() => {
                    if let Some(pod) = waiting.remove(&key) {
                        self.sync(pod, &mut waiting, &gone_tx).await;
                    }
                }
                ev = stream.next() => {
                    let Some(ev) = ev else { return };
                    match ev {
                        Ok(watcher::Event::Init) => listing = Some(HashSet::new()),
                        Ok(watcher::Event::InitApply(pod)) => {
                            if let Some(l) = listing.as_mut() {
                                l.insert((key_of(&pod), uid(&pod)));
                            }
                            self.sync(pod, &mut waiting, &gone_tx).await;
                        }
                        Ok(watcher::Event::InitDone) => {
                            if let Some(l) = listing.take() {
                                self.reconcile(&l);
                            }
                            self.view.mark_synced();
                        }
                        Ok(watcher::Event::Apply(pod)) => {
                            self.sync(pod, &mut waiting, &gone_tx).await;
                        }
                        Ok(watcher::Event::Delete(pod)) => {
                            waiting.remove(&key_of(&pod));
                            self.removed(&pod);
                        }
                        Err(e) => tracing::warn!(error = %e, "pod watch (re-listing)"),
                    }
                }
            }
        }
    }

    /// One pod as the API server has it now.
    async fn sync(
        &self,
        pod: Pod,
        waiting: &mut HashMap<Key, Pod>,
        gone: &mpsc::UnboundedSender<Key>,
    ) {
        let fresh = self.view.set(&pod);
        if is_mirror(&pod) {
            if fresh {
                // A new mirror has no status yet: the reporter sends the
                // static pod's (it only hears of engine changes otherwise).
                let _ = self.mirror_seen.send(key_of(&pod));
            }
            // The static pod runs from its manifest; the mirror is only
            // its reflection in the API (see crate::static_pods). A mirror
            // being deleted (gracefully) is replaced, as the kubelet's
            // SyncPod does: deleted with grace 0, then created again.
            if pod.metadata.deletion_timestamp.is_some() {
                let _ = self.mirror_gone.send(key_of(&pod));
            }
            return;
        }
        let key = key_of(&pod);
        let (ns, name) = (&key.0, &key.1);
        let running = self.engine.get_pod(ns, name);
        if let Some(old) = &running
            && old.metadata.uid.as_deref() != pod.metadata.uid.as_deref()
        {
            // The engine still runs an older pod of this name: it is gone
            // from the API server (force-deleted); stop it, then start
            // this one.
            if old.metadata.deletion_timestamp.is_none() {
                let grace = old.metadata.deletion_grace_period_seconds;
                let _ = self.engine.delete_pod(ns, name, grace);
            }
            let first = waiting.insert(key.clone(), pod).is_none();
            if first {
                let engine = self.engine.clone();
                let gone = gone.clone();
                tokio::spawn(async move {
                    engine.wait_pod_gone(&key.0, &key.1).await;
                    let _ = gone.send(key);
                });
            }
            return;
        }
        if pod.metadata.deletion_timestamp.is_some() {
            if running.is_some() {
                let grace = pod.metadata.deletion_grace_period_seconds;
                match self.engine.delete_pod(ns, name, grace) {
                    Ok(_) => {}
                    // It left the engine since `get_pod` (its removal was
                    // under way): finish the API object here, as for a pod
                    // the engine never had, so the deletion cannot stall.
                    Err(EngineError::NotFound { .. }) => self.finalize_orphan(&pod).await,
                    Err(e) => tracing::warn!(pod = %name, error = %e, "deleting pod"),
                }
            } else {
                self.finalize_orphan(&pod).await;
            }
            return;
        }
        if let Some(have) = running {
            let spec_changed = have.spec != pod.spec;
            let meta_changed = have.metadata.labels != pod.metadata.labels
                || have.metadata.annotations != pod.metadata.annotations;
            if spec_changed || meta_changed {
                self.update_pod(pod.clone());
            }
            let ext = external(&pod);
            let have_ext = external(&have);
            if ext != have_ext
                && let Err(e) = self.engine.set_external_conditions(ns, name, &ext)
            {
                tracing::debug!(pod = %name, error = %e, "passing on external conditions");
            }
            return;
        }
        if terminal(&pod) {
            return;
        }
        let active = self
            .engine
            .list_pods()
            .iter()
            .filter(|p| !terminal(p))
            .count();
        if let Err(r) = admit::admit(&pod, active, self.max_pods, &self.sysctls) {
            self.reject(&pod, &r).await;
            return;
        }
        self.sources.register_pod(&pod);
        let ext = external(&pod);
        let mut desired = pod;
        desired.metadata.managed_fields = None;
        desired.status = None;
        match self.engine.apply(vec![Object::Pod(Box::new(desired))]) {
            Ok(_) => {
                if !ext.is_empty() {
                    let _ = self.engine.set_external_conditions(ns, name, &ext);
                }
            }
            Err(EngineError::ShutDown) => {}
            Err(e) => tracing::warn!(pod = %name, error = %e, "starting pod"),
        }
    }

    /// The one path for changes of a pod the engine runs (labels,
    /// annotations, an image, activeDeadlineSeconds, container resources):
    /// `Engine::update_pod`, the same path the embedded API's pod updates
    /// take (the kubelet's `HandlePodUpdates`). The API server validated
    /// the change; the engine records it and the pod worker reacts.
    fn update_pod(&self, mut pod: Pod) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        self.sources.register_pod(&pod);
        pod.metadata.managed_fields = None;
        pod.status = None;
        match self.engine.update_pod(pod, None) {
            Ok(_) | Err(EngineError::ShutDown) => {}
            // Gone meanwhile: the watch's delete follows.
            Err(EngineError::NotFound { .. }) => {
                tracing::debug!(pod = %name, "updated pod is gone");
            }
            Err(e) => tracing::warn!(pod = %name, error = %e, "applying the pod's update"),
        }
    }

    /// After a (re-)list: engine pods the API server does not have any more
    /// are deleted; static pods are the manifests' business.
    fn reconcile(&self, listed: &HashSet<(Key, String)>) {
        let keys: HashSet<&Key> = listed.iter().map(|(k, _)| k).collect();
        self.view.lock().retain(|k, _| keys.contains(k));
        for pod in self.engine.list_pods() {
            if nodelet_engine::status::is_static(&pod) {
                continue;
            }
            let entry = (key_of(&pod), uid(&pod));
            if listed.contains(&entry) || pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            tracing::info!(pod = %entry.0.1, namespace = %entry.0.0, "the API server no longer has this pod; deleting it");
            let grace = pod.metadata.deletion_grace_period_seconds;
            let _ = self.engine.delete_pod(&entry.0.0, &entry.0.1, grace);
        }
    }

    /// The API object is gone (deleted with grace 0, or finalised).
    fn removed(&self, pod: &Pod) {
        let key = key_of(pod);
        self.view.remove(&key, &uid(pod));
        if is_mirror(pod) {
            let _ = self.mirror_gone.send(key);
            return;
        }
        if let Some(have) = self.engine.get_pod(&key.0, &key.1)
            && have.metadata.uid == pod.metadata.uid
            && have.metadata.deletion_timestamp.is_none()
        {
            let grace = pod.metadata.deletion_grace_period_seconds;
            let _ = self.engine.delete_pod(&key.0, &key.1, grace);
        }
    }

    /// A pod being deleted that the engine does not run (it finished before
    /// nodelet restarted, never started, or the engine removed it a moment
    /// ago and the status reporter has not finished it yet): its status
    /// becomes terminal and the object is deleted with grace 0. The
    /// engine's own final status is sent when it still has it (the pod's
    /// true end); else the kubelet's `TerminatePod` one (Failed, containers
    /// it cannot account for `ContainerStatusUnknown`).
    async fn finalize_orphan(&self, pod: &Pod) {
        let key = key_of(pod);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &key.0);
        let u = uid(pod);
        // Under the pod's writer lock, marked ended first: a status of the
        // engine's decided meanwhile must not land after this one.
        let writer = self.view.status_writer(&u).await;
        // A terminal status of ours the watch does not show yet is the
        // truer one: the containers' real ends rather than "unknown".
        let reported_end = self.view.ended(&u);
        self.view.mark_ended(&u);
        let status = if reported_end {
            None
        } else if let Some(last) = self.engine.removed_pod(&key.0, &key.1, &u) {
            tracing::debug!(pod = %key.1, "finishing a removed pod with the engine's final status");
            Some(reported_status(&last))
        } else if !terminal(pod) {
            Some(terminated_unaccounted(pod))
        } else {
            None
        };
        if let Some(status) = status
            && let Err(e) = patch_status(&api, &key.1, &u, &status).await
        {
            tracing::debug!(pod = %key.1, error = %e, "terminal status of an orphaned pod");
        }
        drop(writer);
        if let Err(e) = final_delete(&api, &key.1, &u).await {
            tracing::warn!(pod = %key.1, error = %e, "deleting a terminated pod");
        }
    }

    /// `rejectPod`: the pod is not started; Failed with the reason.
    async fn reject(&self, pod: &Pod, r: &admit::Rejection) {
        let key = key_of(pod);
        let message = &r.message;
        tracing::warn!(pod = %key.1, namespace = %key.0, reason = r.reason, "rejecting pod: {message}");
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &key.0);
        let status = admit::rejected_status(r);
        let u = uid(pod);
        let writer = self.view.status_writer(&u).await;
        self.view.mark_ended(&u);
        if let Err(e) = patch_status(&api, &key.1, &u, &status).await {
            tracing::warn!(pod = %key.1, error = %e, "reporting the rejection");
        }
        drop(writer);
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
        let e = k8s_openapi::api::core::v1::Event {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(format!("{}.{:x}", key.1, now.0.as_nanosecond())),
                namespace: Some(key.0.clone()),
                ..Default::default()
            },
            involved_object: k8s_openapi::api::core::v1::ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(key.1.clone()),
                namespace: Some(key.0.clone()),
                uid: pod.metadata.uid.clone(),
                ..Default::default()
            },
            type_: Some("Warning".into()),
            reason: Some(r.reason.into()),
            message: Some(message.clone()),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..Default::default()
        };
        self.events.engine_event(e);
    }
}

/// The kubelet's `TerminatePod` for a pod whose end nobody observed:
/// Failed, and every container (init ones too) that was created and shows
/// no termination ends `ContainerStatusUnknown` with exit code 137; one
/// that never started (still Waiting, no container ID) stays so.
fn terminated_unaccounted(pod: &Pod) -> serde_json::Value {
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus};
    let unaccounted = |mut c: ContainerStatus| {
        let created = c.container_id.as_deref().is_some_and(|id| !id.is_empty())
            || c.state.as_ref().is_some_and(|s| s.running.is_some());
        if created && c.state.as_ref().is_none_or(|s| s.terminated.is_none()) {
            c.state = Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: 137,
                    reason: Some("ContainerStatusUnknown".into()),
                    message: Some(nodelet_engine::status::UNKNOWN_AT_TERMINATION.into()),
                    ..Default::default()
                }),
                ..Default::default()
            });
            c.ready = false;
            c.started = Some(false);
        }
        c
    };
    let mut status = serde_json::json!({"phase": "Failed"});
    let current = pod.status.as_ref();
    for (field, list) in [
        (
            "containerStatuses",
            current.and_then(|s| s.container_statuses.clone()),
        ),
        (
            "initContainerStatuses",
            current.and_then(|s| s.init_container_statuses.clone()),
        ),
    ] {
        if let Some(list) = list {
            let list: Vec<_> = list.into_iter().map(unaccounted).collect();
            status[field] = serde_json::to_value(list).unwrap_or_default();
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    /// upstream e2e "should never report container start when an init
    /// container fails": the init container that ran ends unknown, the
    /// regular one it blocked stays Waiting.
    #[test]
    fn an_orphan_ends_its_created_init_containers_too() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "status": {
                "phase": "Pending",
                "initContainerStatuses": [{
                    "name": "fail", "image": "i", "imageID": "", "ready": false,
                    "restartCount": 0, "containerID": "nodelet://abc",
                    "state": {"running": {"startedAt": "2026-12-06T00:00:00Z"}}
                }],
                "containerStatuses": [{
                    "name": "blocked", "image": "i", "imageID": "", "ready": false,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "PodInitializing"}}
                }]
            }
        }))
        .unwrap();
        let st = terminated_unaccounted(&pod);
        assert_eq!(st["phase"], "Failed");
        let init = &st["initContainerStatuses"][0]["state"];
        assert_eq!(init["terminated"]["exitCode"], 137);
        assert_eq!(init["terminated"]["reason"], "ContainerStatusUnknown");
        assert!(init.get("running").is_none(), "{init}");
        assert_eq!(
            st["containerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
    }
}
