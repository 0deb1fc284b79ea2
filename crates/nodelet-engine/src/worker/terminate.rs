//! Terminating a deleted pod: every live container is killed in parallel
//! with the pod's grace (preStops start together), sidecars after the
//! regular containers in reverse order; then the pod disappears from the
//! store and its containers, sandbox and records are released in the
//! background (see [`crate::teardown`]).

use std::sync::Arc;

use futures::future::join_all;
use nodelet_spec::grace;

use super::Worker;
use super::kill::{KillFrom, kill_container};
use super::ordering::TermOrdering;
use super::state::{SlotKind, SlotPhase, TermInfo};
use crate::broadcast::EngineEvent;
use crate::teardown::Job;

impl Worker {
    pub(crate) async fn terminate(&mut self) {
        let mut shrunk = self.shared.grace_shrunk.subscribe();
        shrunk.mark_unchanged();
        loop {
            let (pod_grace, alive) = {
                let rec = self.shared.lock();
                let (pod_grace, _) =
                    grace::kubelet_grace(None, rec.deletion_grace, None, rec.spec_grace());
                let alive: Vec<usize> = (0..rec.slots.len())
                    .filter(|&i| rec.slots[i].is_alive() && rec.slots[i].current.is_some())
                    .collect();
                (pod_grace, alive)
            };
            let mut grace_secs = grace::kill_grace(Some(pod_grace), None, None);
            // After an agent restart, what is left of the grace since the
            // deletion recorded in the store (the kubelet starts over).
            let used = std::mem::take(&mut self.shared.lock().deletion_grace_used);
            if used > 0 {
                grace_secs = grace_secs.saturating_sub(used).max(0);
            }
            // A shorter grace from a second delete restarts the kill, as the
            // kubelet cancels its in-flight termination and starts again
            // (preStop may be delivered again: at least once).
            let finished = tokio::select! {
                () = self.kill_slots(&alive, grace_secs, KillFrom::Deletion) => true,
                _ = shrunk.changed() => false,
            };
            if finished {
                break;
            }
        }
        self.end_unobserved().await;
        // The final status shows a terminal phase, as the kubelet's
        // (node mode deletes the pod from the API server only then).
        self.shared.lock().terminated = true;
        self.shared.publish();
        self.cleanup().await;
    }

    /// A pod whose regular containers all finished for good (restart policy
    /// Never/OnFailure) completes: its sidecars are stopped, in reverse
    /// order, with the spec's grace, and not restarted.
    pub(crate) async fn stop_sidecars_of_completed_pod(&mut self) {
        let (alive, grace_secs) = {
            let rec = self.shared.lock();
            let regular: Vec<_> = rec
                .slots
                .iter()
                .filter(|s| s.kind == SlotKind::Regular)
                .collect();
            let done = !regular.is_empty()
                && regular
                    .iter()
                    .all(|s| matches!(s.phase, SlotPhase::Done { .. }));
            if !done {
                return;
            }
            // Debug containers end with the pod, as sidecars do.
            let alive: Vec<usize> = (0..rec.slots.len())
                .filter(|&i| {
                    matches!(rec.slots[i].kind, SlotKind::Sidecar | SlotKind::Ephemeral)
                        && rec.slots[i].is_alive()
                })
                .collect();
            (
                alive,
                grace::kill_grace(rec.deletion_grace, None, rec.spec_grace()),
            )
        };
        self.completed = true;
        if alive.is_empty() {
            return;
        }
        self.kill_slots(&alive, grace_secs, KillFrom::Start("sidecarStop"))
            .await;
    }

    /// Kills the containers of `slots` in parallel with `grace_secs` each,
    /// sidecars ordered after the others, and records how they ended.
    pub(crate) async fn kill_slots(&mut self, slots: &[usize], grace_secs: i64, from: KillFrom) {
        let shared = self.shared.clone();
        let (regular, sidecars) = {
            let rec = shared.lock();
            let names = |sidecar: bool| -> Vec<String> {
                slots
                    .iter()
                    .filter(|&&i| (rec.slots[i].kind == SlotKind::Sidecar) == sidecar)
                    .map(|&i| rec.slots[i].spec.name.clone())
                    .collect()
            };
            (names(false), names(true))
        };
        let ordering = Arc::new(TermOrdering::new(
            shared.ctx.clock.clone(),
            &regular,
            &sidecars,
        ));
        let kills = slots.iter().map(|&i| {
            let name = shared.lock().slots[i].spec.name.clone();
            let exit = kill_container(
                shared.clone(),
                i,
                grace_secs,
                format!("Stopping container {name}"),
                Some(ordering.clone()),
                from.clone(),
            );
            async move { (i, exit.await) }
        });
        let exits = join_all(kills).await;
        let mut rec = shared.lock();
        for (i, exit) in exits {
            let Some(slot) = rec.slots.get_mut(i) else {
                continue;
            };
            let id = slot
                .current
                .as_ref()
                .map(|c| c.id.clone())
                .unwrap_or_default();
            let term = match (exit, &slot.phase) {
                (Some(e), _) => Some(TermInfo::from_exit(&e, &id)),
                (None, SlotPhase::Exited { term, .. }) => term.clone(),
                (None, _) => None,
            };
            if let Some(term) = term {
                slot.phase = SlotPhase::Done { term: term.clone() };
                let name = slot.spec.name.clone();
                let now = shared.ctx.clock.now();
                rec.mark_exit(&name, &id, Some(&term), now);
            }
        }
    }

    /// A container whose exit the kill could not observe (its wait failed)
    /// is removed (killed) now, so a terminal status and "gone" always mean
    /// "stopped"; it ends `ContainerStatusUnknown`, exit code 137, as the
    /// kubelet's `TerminatePod` reports a container it cannot account for,
    /// never shown running beside a terminal phase. An exit its waiter
    /// records meanwhile is the truer one and is kept.
    async fn end_unobserved(&mut self) {
        let shared = self.shared.clone();
        let ctx = shared.ctx.clone();
        let unobserved: Vec<(usize, String)> = {
            let rec = shared.lock();
            (0..rec.slots.len())
                .filter(|&i| rec.slots[i].is_alive())
                .filter_map(|i| Some((i, rec.slots[i].current.as_ref()?.id.clone())))
                .collect()
        };
        for (_, id) in &unobserved {
            if let Err(e) = ctx.runtime.remove_container(id).await {
                tracing::warn!(container = %id, error = %e, "could not remove container");
            }
        }
        let now = ctx.clock.now();
        let mut rec = shared.lock();
        for (i, id) in unobserved {
            let Some(slot) = rec.slots.get_mut(i) else {
                continue;
            };
            // Its waiter may have recorded the real exit meanwhile.
            let same = slot.current.as_ref().is_some_and(|c| c.id == id);
            let Some(started_at) = slot.phase.live_start().filter(|_| same) else {
                continue;
            };
            let term = TermInfo::unknown_at_termination(&id, started_at, now);
            slot.phase = SlotPhase::Done { term: term.clone() };
            let name = slot.spec.name.clone();
            rec.mark_exit(&name, &id, Some(&term), now);
        }
    }

    /// The pod leaves the store (and the API) now that its containers
    /// stopped and their exits are recorded; containers, sandbox and records
    /// are released by the engine's background teardown (see
    /// [`crate::teardown`]).
    async fn cleanup(&mut self) {
        let shared = self.shared.clone();
        let ctx = shared.ctx.clone();
        let (ids, sandbox, key, uid) = {
            let rec = shared.lock();
            (
                rec.created_ids.clone(),
                rec.sandbox.as_ref().map(|s| s.id.clone()),
                rec.key.clone(),
                rec.uid.clone(),
            )
        };
        // The timeline outlives the pod (expiring like events): its last
        // marks go in the same transaction that removes the pod.
        let timeline = {
            let mut rec = shared.lock();
            let now = ctx.clock.now();
            rec.mark(nodelet_timeline::Mark::new(
                nodelet_timeline::MarkKind::PodGone,
                now,
            ));
            rec.timeline_dirty = false;
            serde_json::to_value(&rec.timeline).ok()
        };
        shared.mark_removed();
        crate::failpoints::point("teardown-between-containers");
        if let Err(e) = crate::store_io::durable(|| {
            ctx.store.batch(|b| {
                if let Some(t) = &timeline {
                    b.put_object(nodelet_timeline::model::KIND, &key.namespace, &key.name, t);
                }
                b.delete_object("Pod", &key.namespace, &key.name);
            })
        }) {
            tracing::warn!(pod = %key, error = %e, "could not delete pod from the store");
            ctx.storage.failed(&ctx, &e);
        }
        ctx.teardown.enqueue(Job {
            pod: shared.pod_desc(),
            containers: ids,
            sandboxes: sandbox.into_iter().collect(),
            volumes_of: Some(uid.clone()),
        });
        ctx.recorder.forget_pod(&uid);
        ctx.allocations.release(&uid);
        let _ = ctx.tx.send(EngineEvent::PodDeleted {
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            uid,
        });
        ctx.removals.send_modify(|n| *n += 1);
    }
}
