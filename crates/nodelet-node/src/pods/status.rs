//! Pod status to the API server, as the kubelet's status manager
//! (`pkg/kubelet/status/status_manager.go`) sends it: the engine publishes
//! every change ([`nodelet_engine::EngineEvent::PodUpdated`]); changes of
//! one pod are coalesced into its latest status, which is PATCHed to
//! `pods/status` only when it differs from what the server has. The patch
//! is a strategic merge patch carrying `metadata.uid` as a precondition
//! (`statusutil.PatchPodStatus`): no resourceVersion, so it never
//! conflicts with other writers, and it cannot land on a pod recreated
//! under the same name. Only the conditions the kubelet owns are sent, so
//! conditions others write (readiness gates) stay.
//!
//! When the engine removes a pod the API server is deleting (its
//! containers stopped; the final status, with a terminal phase, was sent
//! first), the pod is deleted with grace 0 and a UID precondition
//! (`syncPod` → `canBeDeleted`). Failed requests are retried every 2 s;
//! after an API-server outage the pods' statuses catch up that way.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use nodelet_engine::pod_conditions::OWNED;
use nodelet_engine::{Engine, EngineEvent};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::view::{ApiPods, Key, key_of};
use crate::error::api_code;

/// Status writes in flight at once (the kubelet sends one at a time; a
/// few in parallel keep a burst of new pods from queueing behind each
/// other's round trips).
const IN_FLIGHT: usize = 8;
const RETRY: Duration = Duration::from_secs(2);

/// The part of an engine pod's status node mode reports.
pub fn reported_status(pod: &Pod) -> Value {
    let Some(st) = pod.status.as_ref() else {
        return json!({});
    };
    let mut v = serde_json::to_value(st).unwrap_or_else(|_| json!({}));
    if let Some(obj) = v.as_object_mut() {
        // Others' conditions are theirs; the server keeps qosClass,
        // nominatedNodeName, resize and the like.
        obj.retain(|k, _| {
            matches!(
                k.as_str(),
                "phase"
                    | "conditions"
                    | "hostIP"
                    | "hostIPs"
                    | "podIP"
                    | "podIPs"
                    | "startTime"
                    | "containerStatuses"
                    | "initContainerStatuses"
                    | "ephemeralContainerStatuses"
                    | "reason"
                    | "message"
                    | "observedGeneration"
            )
        });
        if let Some(conds) = obj.get_mut("conditions").and_then(|c| c.as_array_mut()) {
            conds.retain(|c| c["type"].as_str().is_some_and(|t| OWNED.contains(&t)));
            // Conditions merge by type in a strategic merge patch: a reason
            // or message a condition no longer has must be deleted
            // explicitly (null), or a Ready=True keeps the reason of its
            // False days — the kubelet's two-way patch does the same.
            for c in conds.iter_mut() {
                if let Some(c) = c.as_object_mut() {
                    for k in ["reason", "message"] {
                        c.entry(k).or_insert(Value::Null);
                    }
                }
            }
        }
    }
    v
}

/// Whether the server's status already shows everything in `reported`.
fn already_there(server: &Value, reported: &Value) -> bool {
    let Some(fields) = reported.as_object() else {
        return true;
    };
    fields.iter().all(|(k, v)| match k.as_str() {
        "conditions" => v.as_array().into_iter().flatten().all(|c| {
            server["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| same_condition(s, c))
        }),
        _ => &server[k] == v,
    })
}

/// A condition as the server shows it equals ours; a field we send as null
/// (to delete it) is one the server lacks.
fn same_condition(server: &Value, ours: &Value) -> bool {
    let (Some(s), Some(o)) = (server.as_object(), ours.as_object()) else {
        return server == ours;
    };
    let ours_set = o.iter().filter(|(_, v)| !v.is_null());
    let server_set = s.iter().filter(|(_, v)| !v.is_null());
    ours_set.clone().count() == server_set.clone().count()
        && ours_set.into_iter().all(|(k, v)| s.get(k) == Some(v))
}

fn is_terminal(phase: &str) -> bool {
    phase == "Failed" || phase == "Succeeded"
}

/// Whether a status of ours is sent: when the server lacks it, and never
/// taking a pod back from a terminal phase (`ended`: the server's, or one
/// our own paths wrote that the watch does not show yet) — the kubelet's
/// status manager refuses that transition as well.
fn may_send(needed: bool, ours_terminal: bool, ended: bool) -> bool {
    needed && (ours_terminal || !ended)
}

/// PATCHes `pods/status` with a uid precondition.
pub async fn patch_status(
    api: &Api<Pod>,
    name: &str,
    uid: &str,
    status: &Value,
) -> Result<(), kube::Error> {
    let mut status = status.clone();
    // IP lists merge by `ip` in a strategic merge patch: an IP that
    // changed would be added next to the old one, so they are replaced.
    for list in ["hostIPs", "podIPs"] {
        if let Some(items) = status.get_mut(list).and_then(|v| v.as_array_mut()) {
            items.insert(0, json!({"$patch": "replace"}));
        }
    }
    let body = json!({"metadata": {"uid": uid}, "status": status});
    api.patch_status(name, &PatchParams::default(), &Patch::Strategic(&body))
        .await
        .map(|_| ())
}

/// Deletes the pod object for good: grace 0, only if it is still `uid`.
pub async fn final_delete(api: &Api<Pod>, name: &str, uid: &str) -> Result<(), kube::Error> {
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &dp).await {
        Ok(_) => Ok(()),
        // Gone already, or another pod by now: nothing of ours to delete.
        Err(e) if matches!(api_code(&e), Some(404) | Some(409)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// What one pod needs from the reporter.
#[derive(Default)]
struct PodState {
    /// Latest engine pod.
    latest: Option<Pod>,
    /// The engine removed it (uid of the engine's pod).
    removed: Option<String>,
}

pub struct StatusReporter {
    pub client: kube::Client,
    pub engine: Arc<Engine>,
    pub view: ApiPods,
    /// Mirror pods that appeared in the API server (new uid): their static
    /// pod's status is reported on them.
    pub mirror_seen: mpsc::UnboundedReceiver<Key>,
}

/// The result of one pod's round.
struct Outcome {
    key: Key,
    /// The status that is now on the server (by API uid), when one was sent.
    sent: Option<(String, Value)>,
    /// Whether to try again later.
    retry: bool,
    /// The round handled the engine's removal of the pod (it was spawned
    /// after `PodDeleted`), so the pod needs nothing more.
    removal: bool,
}

/// Whether a finished round lets the reporter forget the pod. Only a round
/// that handled the removal does: a status round still in flight when
/// `PodDeleted` arrives must not take the pending final delete with it (the
/// API object would then stay, deleting, until someone else removed it).
fn forget_after(round_handled_removal: bool, round_retries: bool, now_removed: bool) -> bool {
    round_handled_removal && !round_retries && now_removed
}

impl StatusReporter {
    pub async fn run(mut self, stop: CancellationToken) {
        let mut events = self.engine.subscribe();
        let mut pods: HashMap<Key, PodState> = HashMap::new();
        let mut sent: HashMap<String, Value> = HashMap::new();
        let mut dirty: VecDeque<Key> = VecDeque::new();
        let mut queued: HashSet<Key> = HashSet::new();
        let mut inflight: HashSet<Key> = HashSet::new();
        let mut again: HashSet<Key> = HashSet::new();
        let mut retry: HashSet<Key> = HashSet::new();
        let mut tasks: JoinSet<Outcome> = JoinSet::new();
        let mut retry_tick = tokio::time::interval(RETRY);
        retry_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Pods adopted at start-up are reported once too.
        for p in self.engine.list_pods() {
            let key = key_of(&p);
            pods.entry(key.clone()).or_default().latest = Some(p);
            mark(&mut dirty, &mut queued, key);
        }
        loop {
            while inflight.len() < IN_FLIGHT {
                let Some(key) = dirty.pop_front() else { break };
                queued.remove(&key);
                if inflight.contains(&key) {
                    again.insert(key);
                    continue;
                }
                let Some(state) = pods.get(&key) else {
                    continue;
                };
                let job = self.job(&key, state, &sent);
                inflight.insert(key);
                tasks.spawn(job);
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                ev = events.recv() => match ev {
                    Ok(EngineEvent::PodUpdated(p)) => {
                        let key = key_of(&p);
                        let st = pods.entry(key.clone()).or_default();
                        st.latest = Some(*p);
                        st.removed = None;
                        mark(&mut dirty, &mut queued, key);
                    }
                    Ok(EngineEvent::PodDeleted { namespace, name, uid }) => {
                        let key = (namespace, name);
                        pods.entry(key.clone()).or_default().removed = Some(uid);
                        mark(&mut dirty, &mut queued, key);
                    }
                    Ok(EngineEvent::Event(_)) => {}
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "status reporter lagged; re-reading every pod");
                        let live: HashMap<Key, Pod> =
                            self.engine.list_pods().into_iter().map(|p| (key_of(&p), p)).collect();
                        for (key, st) in pods.iter_mut() {
                            if !live.contains_key(key) && st.removed.is_none() {
                                st.removed = st.latest.as_ref().and_then(|p| p.metadata.uid.clone());
                            }
                        }
                        for (key, p) in live {
                            let st = pods.entry(key).or_default();
                            st.latest = Some(p);
                            st.removed = None;
                        }
                        for key in pods.keys().cloned().collect::<Vec<_>>() {
                            mark(&mut dirty, &mut queued, key);
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    let Ok(out) = done else { continue };
                    inflight.remove(&out.key);
                    if let Some((uid, status)) = out.sent {
                        sent.insert(uid, status);
                    }
                    let now_removed = pods.get(&out.key).is_some_and(|s| s.removed.is_some());
                    if out.retry {
                        retry.insert(out.key.clone());
                    } else if forget_after(out.removal, out.retry, now_removed)
                        && let Some(st) = pods.remove(&out.key)
                        && let Some(uid) = st.removed
                    {
                        {
                            sent.remove(&uid);
                            if let Some(api) = self.view.get(&out.key)
                                && api.uid != uid
                            {
                                // A static pod's mirror.
                                sent.remove(&api.uid);
                            }
                        }
                    }
                    if again.remove(&out.key) {
                        mark(&mut dirty, &mut queued, out.key);
                    }
                }
                Some(key) = self.mirror_seen.recv() => {
                    if pods.contains_key(&key) {
                        mark(&mut dirty, &mut queued, key);
                    }
                }
                _ = retry_tick.tick() => {
                    for key in retry.drain() {
                        mark(&mut dirty, &mut queued, key);
                    }
                }
            }
        }
    }

    /// The work for one pod: send its latest status if the server does not
    /// have it; delete it for good when the engine removed it and the
    /// server is deleting it.
    fn job(
        &self,
        key: &Key,
        state: &PodState,
        sent: &HashMap<String, Value>,
    ) -> impl std::future::Future<Output = Outcome> + Send + 'static {
        let key = key.clone();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &key.0);
        let view = self.view.clone();
        let server = self.view.get(&key);
        let synced = self.view.synced();
        let latest = state.latest.clone();
        let removed = state.removed.clone();
        let engine_uid = latest
            .as_ref()
            .and_then(|p| p.metadata.uid.clone())
            .or_else(|| removed.clone())
            .unwrap_or_default();
        let is_static = latest
            .as_ref()
            .is_some_and(nodelet_engine::status::is_static);
        let reported = latest.as_ref().map(reported_status);
        let previously = server.as_ref().and_then(|s| sent.get(&s.uid).cloned());
        async move {
            let mut out = Outcome {
                key: key.clone(),
                sent: None,
                retry: false,
                removal: removed.is_some(),
            };
            let Some(server) = server else {
                // Not (or no longer) in the API server: nothing to report;
                // unless the pod watch has not listed yet.
                out.retry = !synced;
                return out;
            };
            // A regular pod's API object has the engine's uid; a static
            // pod's is its mirror, with a uid of its own.
            if server.uid != engine_uid && !is_static {
                return out;
            }
            if let Some(status) = reported {
                let have = previously.or_else(|| {
                    server
                        .status
                        .as_ref()
                        .and_then(|s| serde_json::to_value(s).ok())
                });
                let needed = have.as_ref().is_none_or(|h| !already_there(h, &status));
                let server_terminal = server
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .is_some_and(is_terminal);
                let ours_terminal = status
                    .get("phase")
                    .and_then(|p| p.as_str())
                    .is_some_and(is_terminal);
                // An orphan's finalization may be writing Failed right now,
                // unseen by the watch yet: decide under the pod's writer lock.
                let _writer = view.status_writer(&server.uid).await;
                let ended_here = view.ended(&server.uid);
                if may_send(needed, ours_terminal, server_terminal || ended_here) {
                    match patch_status(&api, &key.1, &server.uid, &status).await {
                        Ok(()) => {
                            if ours_terminal {
                                view.mark_ended(&server.uid);
                            }
                            out.sent = Some((server.uid.clone(), status));
                        }
                        Err(e) if matches!(api_code(&e), Some(404) | Some(409)) => return out,
                        Err(e) => {
                            tracing::debug!(pod = %key.1, error = %e, "patching pod status");
                            out.retry = true;
                            return out;
                        }
                    }
                }
            }
            if removed.is_some()
                && server.deleting
                && !is_static
                && let Err(e) = final_delete(&api, &key.1, &server.uid).await
            {
                tracing::debug!(pod = %key.1, error = %e, "deleting the terminated pod");
                out.retry = true;
            }
            out
        }
    }
}

fn mark(dirty: &mut VecDeque<Key>, queued: &mut HashSet<Key>, key: Key) {
    if queued.insert(key.clone()) {
        dirty.push_back(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kubelet_owned_conditions_and_fields_are_reported() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "uid": "u"},
            "status": {
                "phase": "Running",
                "qosClass": "BestEffort",
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "example.com/gate", "status": "True"}
                ],
                "podIP": "10.0.0.2"
            }
        }))
        .unwrap();
        let r = reported_status(&pod);
        assert_eq!(r["phase"], "Running");
        assert!(r.get("qosClass").is_none());
        assert_eq!(r["conditions"].as_array().unwrap().len(), 1);
        assert_eq!(r["conditions"][0]["type"], "Ready");
    }

    #[test]
    fn a_status_the_server_shows_is_not_sent_again() {
        let server = json!({
            "phase": "Running",
            "qosClass": "BestEffort",
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "x", "status": "True"}]
        });
        let same = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
        assert!(already_there(&server, &same));
        let changed =
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]});
        assert!(!already_there(&server, &changed));
        assert!(!already_there(&server, &json!({"phase": "Succeeded"})));
    }

    #[test]
    fn a_condition_that_lost_its_reason_deletes_it_on_the_server() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "uid": "u"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        let r = reported_status(&pod);
        assert_eq!(r["conditions"][0]["reason"], Value::Null);
        assert!(
            r["conditions"][0]
                .as_object()
                .unwrap()
                .contains_key("reason")
        );
        // The server still has the old reason: the patch is needed.
        let stale = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "ContainersNotReady"}]});
        assert!(!already_there(&stale, &r));
        // Once deleted there, it is not sent again.
        let clean = json!({"conditions": [{"type": "Ready", "status": "True"}]});
        assert!(already_there(&clean, &r));
    }

    #[test]
    fn only_the_round_that_handled_the_removal_forgets_the_pod() {
        // handled removal, retries, removed now
        assert!(forget_after(true, false, true));
        assert!(
            !forget_after(false, false, true),
            "a status round that finished after PodDeleted leaves the final delete to come"
        );
        assert!(
            !forget_after(true, true, true),
            "a failed delete is retried"
        );
        assert!(
            !forget_after(true, false, false),
            "a pod created again under the name stays"
        );
    }

    #[test]
    fn a_terminal_phase_is_never_taken_back() {
        // needed, ours terminal, already ended
        assert!(may_send(true, false, false));
        assert!(!may_send(true, false, true), "Pending over Failed");
        assert!(
            may_send(true, true, true),
            "a terminal status may refine one"
        );
        assert!(!may_send(false, true, false));
    }

    /// An orphan's finalization and a status decision race: the decision
    /// waits for the pod's writer lock and then sees the pod ended, although
    /// the watch (the view's status) still shows it Pending.
    #[tokio::test]
    async fn a_status_decided_during_an_orphan_finalization_sees_it_ended() {
        let view = ApiPods::default();
        let orphan = view.status_writer("u1").await;
        view.mark_ended("u1");
        let v = view.clone();
        let decision = tokio::spawn(async move {
            let _w = v.status_writer("u1").await;
            may_send(true, false, v.ended("u1"))
        });
        tokio::task::yield_now().await;
        assert!(
            !decision.is_finished(),
            "the decision waits for the writer lock"
        );
        drop(orphan);
        assert!(!decision.await.unwrap());
        // Another pod is not held up by it, and forgetting the pod forgets it.
        let _other = view.status_writer("u2").await;
        assert!(!view.ended("u2"));
        view.remove(&("ns".into(), "p".into()), "u1");
        assert!(!view.ended("u1"));
    }
}
